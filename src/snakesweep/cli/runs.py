"""``snakesweep runs`` and ``snakesweep show``: the run table of the results, filtered, and
one run in full (its status, config, times, records, last logged step, error)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.api.results import jsonable_rows, load, resolve_run_id
from snakesweep.cli.command import no_extra
from snakesweep.cli.table import print_table
from snakesweep.core.options import Options, node_of
from snakesweep.errors import SnakesweepError, first_line
from snakesweep.execute.handle import read_log
from snakesweep.provenance.code import CurrentCode

__all__ = ["cmd_runs", "cmd_show"]


def cmd_runs(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep runs``: the rows of ``runs.csv`` that ``--where`` and ``--status`` keep."""
    no_extra(extra, "runs")
    everything = load(ns.results)
    criteria = _criteria(ns.where, everything.runs)
    statuses = [*criteria.pop("status", []), *([ns.status] if ns.status else [])]
    results = everything.filter(**criteria)
    if statuses:
        results = results.filter(status=statuses)
    table = results.runs
    if ns.format == "json":
        print(json.dumps(jsonable_rows(table), indent=1))
    elif ns.format == "csv":
        print(table.to_csv(index=False), end="")
    else:
        print_table(
            list(table.columns),
            [["" if _missing(v) else str(v) for v in row] for row in table.itertuples(index=False)],
        )
        print(f"{len(table)} of {len(everything)} runs")
    return 0


def _criteria(where: list[str], runs: Any) -> dict[str, list[Any]]:
    """The values each ``--where KEY=VALUE`` key may have, typed as ``runs`` (the run
    table, a DataFrame) holds its column."""
    criteria: dict[str, list[Any]] = {}
    for item in where:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SnakesweepError(f"--where {item!r}: expected KEY=VALUE")
        column = runs.get(key)
        criteria.setdefault(key, []).append(
            _typed(text, column.dtype.kind if column is not None else "O", item)
        )
    return criteria


def _typed(text: str, kind: str, item: str) -> Any:
    """A --where value as the column holds it: a number for a numeric column, true/false
    (any case) for a boolean one, else the text."""
    if kind in "iuf":
        try:
            return float(text)
        except ValueError:
            raise SnakesweepError(
                f"--where {item!r}: the column holds numbers, and {text!r} is none"
            ) from None
    if kind == "b":
        if text.lower() not in ("true", "false"):
            raise SnakesweepError(f"--where {item!r}: the column holds true/false")
        return text.lower() == "true"
    return text


def _missing(value: Any) -> bool:
    """A cell the table leaves empty: None or NaN."""
    return value is None or (isinstance(value, float) and value != value)


def cmd_show(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep show RUN_ID``: one run, from its latest attempt when one is going on."""
    no_extra(extra, "show")
    run_id = resolve_run_id(ns.results, ns.run_id, drafts=True)
    directory = store.run_dir(ns.results, run_id)
    drafts = sorted(store.run_drafts(ns.results, run_id).glob("*"), key=lambda p: p.stat().st_mtime)
    status = store.run_statuses(ns.results, [run_id], _run_code(ns.results, run_id))[run_id]
    meta = store.read_meta(ns.results, run_id) or {}
    committed = directory / store.META  # (Snakemake makes the run's directory early)
    newer = bool(drafts) and (
        not committed.is_file() or drafts[-1].stat().st_mtime > committed.stat().st_mtime
    )
    where = drafts[-1] if newer else directory  # an attempt going on (or killed) wins
    print(
        f"run {run_id}: {status}"
        + (f" (an attempt not finished: its draft is {where})" if newer else "")
    )
    _say_times(meta)
    _say_config(where / store.CONFIG)
    _say_records(meta, directory)
    _say_last_step(where)
    _say_error(meta, directory)
    return 0


def _say_times(meta: dict[str, Any]) -> None:
    """When the run started and ended, how long it took and where."""
    times = [
        f"{label} {meta[key]}"
        for key, label in (("start", "started"), ("end", "ended"))
        if meta.get(key)
    ]
    if meta.get("duration") is not None:
        times.append(f"{meta['duration']} s")
    if meta.get("host"):
        times.append(f"on {meta['host']}")
    if times:
        print(f"  {', '.join(times)}")


def _say_config(config: Path) -> None:
    """The run's resolved config, indented, when it has one."""
    if config.is_file():
        print(f"  config ({config}):")
        for line in config.read_text(encoding="utf-8").splitlines():
            print(f"    {line}")


def _say_records(meta: dict[str, Any], directory: Path) -> None:
    """The metadata and the artifacts the run recorded."""
    if meta.get("metadata"):
        print(f"  metadata: {json.dumps(meta['metadata'], sort_keys=True)}")
    for artifact in meta.get("artifacts") or []:
        extra_meta = artifact.get("metadata")
        print(
            f"  artifact {directory / 'artifacts' / artifact['name']}"
            + (f" {json.dumps(extra_meta, sort_keys=True)}" if extra_meta else "")
        )


def _say_last_step(where: Path) -> None:
    """The last step the run (or its attempt going on) logged."""
    rows = read_log(where)
    if rows:
        last = rows[-1]
        values = ", ".join(f"{k}={v}" for k, v in last.items() if k != "step")
        print(f"  last logged step: {last['step']} ({values}); {len(rows)} steps logged")


def _say_error(meta: dict[str, Any], directory: Path) -> None:
    """The first line of the run's error, and where the rest is."""
    error = meta.get("error")
    if error:
        print(f"  error: {error.get('type')}: {first_line(str(error.get('message', '')))}")
        print(f"  traceback and output: {directory / store.META}, {directory / store.STDERR}")


def _run_code(results: str, run_id: str) -> store.CodeNow | None:
    """The code a run would run now, as its own config's options name it (``show`` has no
    plan); None when its config cannot be read or its options are unusable."""
    import yaml  # deferred: ~20 ms to import, for `snakesweep show` alone

    try:
        text = (store.run_dir(results, run_id) / store.CONFIG).read_text(encoding="utf-8")
        config = yaml.safe_load(text)
        node = node_of(config if isinstance(config, dict) else {})
        return CurrentCode({run_id: Options.parse(node)})
    except (OSError, yaml.YAMLError, SnakesweepError):
        return None
