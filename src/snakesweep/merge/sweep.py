"""The merged files of a sweep, written together: ``write_sweep``, the merge job's work
(``python -m snakesweep.merge PLAN RESULTS``, the rule ``merge_runs``).

The runs are merged into one Dataset (``dataset.merge_runs``) and written as ``sweep.nc``,
with the run table ``runs.csv`` (``table``), the Dataset's rerun recording ``sweep.rrd``
(``recording_bytes``; see ``view.recording``), the summaries DVC shows (``metrics.json``,
``plots/``; see ``summaries``), ``provenance.json`` and ``provenance.diff``, and last
``sweep.json`` (``sweep_index``): the merge key, what ``sweep.nc`` holds and the done runs
it leaves out. Then the merge index (``index``), so that the next merge reads only the runs
that changed (see ``direct``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.errors import NoSpaceError, SnakesweepError
from snakesweep.merge import freshness, summaries
from snakesweep.merge import index as merge_index
from snakesweep.merge.dataset import UNMERGED, merged
from snakesweep.merge.table import run_table
from snakesweep.planning.plan import Plan, load_plan
from snakesweep.provenance import record as provenance
from snakesweep.store import (
    MERGED,
    PLOTS,
    PROVENANCE,
    PROVENANCE_DIFF,
    RECORDING,
    RUNS_TABLE,
    SWEEP,
    SWEEP_INDEX,
)
from snakesweep.view import recording

__all__ = [
    "MERGE_ADVICE",
    "main",
    "provenance_attrs",
    "recording_bytes",
    "recording_name",
    "stage_provenance",
    "sweep_index",
    "sweep_record",
    "unmerged_lines",
    "unmerged_runs",
    "write_provenance",
    "write_recording",
    "write_sweep",
]


def write_sweep(plan: Plan, results: str | os.PathLike[str]) -> tuple[Path, Path, Any]:
    """Merge the runs; write ``sweep.nc``, ``runs.csv``, ``sweep.rrd`` and the summaries.

    Nothing is written before the merge has succeeded. Every file is written aside first
    and all are renamed into place together, ``sweep.json`` last, so a merge that fails (a
    full disk: ``NoSpaceError``) leaves the merged files as they were, and nothing aside.
    Done runs the merge leaves out (``alignment``) are named in ``sweep.json``
    (``unmerged_runs``), with why. ``sweep.nc``, ``runs.csv`` and the summaries are the same
    bytes for the same runs, so DVC sees a change only when something changed (a recording
    holds ids of its own, so ``sweep.rrd`` differs by bytes but not by content). Then the
    merge index (``merge_index``), so that the next merge reads only the runs that changed.
    """
    cache = merge_index.RunMetas(results)
    metas = cache.read(plan.run_ids)
    record = sweep_record(results, metas)
    made = merged(plan, results, metas=metas)
    Path(results).mkdir(parents=True, exist_ok=True)  # no run has been written yet
    ds = made.dataset.assign_attrs(provenance_attrs(record))
    table = run_table(plan, results, ds, metas)
    store.clear_asides(results, (*MERGED, PLOTS))
    try:
        with store.Staging(results) as staged:
            written = {
                SWEEP: staged.file(
                    SWEEP, lambda tmp: ds.to_netcdf(tmp, engine=store.ENGINE), int(ds.nbytes)
                ),
                RUNS_TABLE: staged.file(RUNS_TABLE, lambda tmp: table.to_csv(tmp, index=False)),
            }
            staged.data(RECORDING, recording_bytes(ds))
            summaries.stage_summaries(ds, staged)
            stage_provenance(record, results, staged)
            index = sweep_index(
                plan, results, table, freshness.staged_files(written), made.unmerged
            )
            staged.text(SWEEP_INDEX, json.dumps(index, indent=2) + "\n")
            staged.commit()
    except NoSpaceError as exc:
        raise NoSpaceError(exc.path, exc.free, MERGE_ADVICE) from exc.__cause__
    freshness.remember_files(results, index["files"])
    merge_index.save(
        results,
        plan.layout_digest,
        None if made.shapes is None else index["files"].get(SWEEP),
        {
            r: ((metas.get(r) or {}).get("result_sha256"), shape)
            for r, shape in (made.shapes or {}).items()
        },
    )
    cache.save()
    return Path(results, SWEEP), Path(results, RUNS_TABLE), table


MERGE_ADVICE = (
    "free some space on that disk, then run again to merge; the runs and the "
    "merged files are kept as they were"
)
"""What to do when a merge found the disk full."""


def sweep_record(
    results: str | os.PathLike[str], metas: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, Any]:
    """``provenance.sweep_record`` of the runs, from their ``merge_index.slim`` metas and
    the newest run's whole ``meta.json``, the only one it reads more of."""
    record = provenance.sweep_record(metas)
    newest = record.get("newest_run")
    whole = store.read_meta(results, newest) if newest else None
    if whole is None:
        return record
    return provenance.sweep_record({**metas, str(newest): whole})


def provenance_attrs(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the Dataset's attributes say of its provenance (NetCDF attributes are flat)."""
    sweep = record["sweep"]
    return {
        "snakesweep_debug": int(bool(sweep["debug"])),
        "snakesweep_debug_runs": len(sweep["debug_runs"]),
        "snakesweep_git_commit": " ".join(sorted(record["runs"]["by_commit"])),
        "snakesweep_code": " ".join(sorted(record["runs"]["by_code"])),
    }


def write_provenance(record: Mapping[str, Any], results: str | os.PathLike[str]) -> None:
    """``provenance.json``, and beside it ``provenance.diff``: the newest run's working-tree
    diff (empty when its tree was clean)."""
    with store.Staging(results) as staged:
        stage_provenance(record, results, staged)
        staged.commit()


def stage_provenance(
    record: Mapping[str, Any], results: str | os.PathLike[str], staged: store.Staging
) -> None:
    """``write_provenance``'s files, written aside into ``staged``."""
    diff = ""
    newest = record.get("newest_run")
    name = (record.get("git") or {}).get("diff")
    if newest and name:
        try:
            diff = (store.run_dir(results, newest) / name).read_text(encoding="utf-8")
        except OSError:
            diff = ""
    staged.text(PROVENANCE_DIFF, diff)
    staged.text(PROVENANCE, json.dumps(record, indent=2) + "\n")


def write_recording(dataset: Any, path: Path) -> None:
    """Write the sweep's recording; a sweep with no numeric result gets a recording saying so."""
    data = recording_bytes(dataset)
    store.replace_with(path, lambda tmp: tmp.write_bytes(data), len(data))


def recording_bytes(dataset: Any) -> bytes:
    """The bytes of ``write_recording``'s file."""
    try:
        return recording.encode(dataset, application_id=recording_name(dataset))
    except recording.NothingToShow as exc:
        return recording.encode_note(
            f"Nothing to show: {exc.reason}.", application_id=recording_name(dataset)
        )


def recording_name(dataset: Any) -> str:
    """The application id of a sweep's (or a history's) recording: the viewer keeps one
    layout per id."""
    kind = "history " if "snakesweep_history" in dataset.attrs else ""
    return f"snakesweep {kind}{dataset.attrs.get('snakesweep_config_name', 'sweep')}"


def sweep_index(
    plan: Plan,
    results: str | os.PathLike[str],
    table: Any,
    files: Mapping[str, Any] | None = None,
    unmerged: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What ``sweep.nc`` holds, readable without opening it: its merge key, layout, runs,
    and the done runs it leaves out (``unmerged``: run id → why), if any.

    ``files``: the sizes and sha256 of ``sweep.nc`` and ``runs.csv`` it records (see
    ``freshness``); by default, those of the files in ``results``.
    """
    statuses = {
        r: "done" if s == UNMERGED else s  # the key is of the runs, as they are
        for r, s in zip(table["run_id"], table["status"], strict=True)
    }
    counts = {s: int((table["status"] == s).sum()) for s in ("done", "failed", "pending")}
    index: dict[str, Any] = {
        "key": freshness.merge_key(plan, results, statuses),
        "files": dict(files) if files is not None else freshness.merged_files(results),
        "layout": plan.layout_digest,
        "config_name": plan.config_name,
        "overrides": list(plan.overrides),
        "dims": {d.name: list(d.values) for d in plan.dims},
        "points": len(plan.points),
        "runs": counts,
    }
    if unmerged:
        counts[UNMERGED] = len(unmerged)
        index[UNMERGED] = dict(unmerged)
    return index


def unmerged_runs(results: str | os.PathLike[str], plan: Plan | None = None) -> dict[str, str]:
    """The done runs the last merge left out of ``sweep.nc``, and why, as ``sweep.json``
    records them (of ``plan``'s layout, when given; {} when there is none)."""
    try:
        with open(Path(results, SWEEP_INDEX), encoding="utf-8") as f:
            index = json.load(f)
        found = index.get(UNMERGED) or {}
        if plan is not None and index.get("layout") != plan.layout_digest:
            return {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(r): str(why) for r, why in found.items()} if isinstance(found, dict) else {}


def main(argv: list[str] | None = None) -> int:
    """``python -m snakesweep.merge PLAN RESULTS``: write sweep.nc and runs.csv."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m snakesweep.merge PLAN RESULTS", file=sys.stderr)
        return 2
    try:
        sweep_path, _, table = write_sweep(load_plan(args[0]), args[1])
    except ExceptionGroup as group:
        print(f"snakesweep: {group.message}:", file=sys.stderr)
        for exc in group.exceptions:
            print(f"  {exc}", file=sys.stderr)
        print(
            "snakesweep: move those run directories aside and run again to compute them "
            "again (in a DVC repository, `snakesweep pull` does both)",
            file=sys.stderr,
        )
        return 2
    except SnakesweepError as exc:
        print(f"snakesweep: {exc}", file=sys.stderr)
        return 2
    counts = table["status"].value_counts().to_dict()
    unmerged = counts.get(UNMERGED, 0)
    print(
        f"snakesweep: merged {len(table)} runs ({counts.get('done', 0)} done, "
        f"{counts.get('failed', 0)} failed, {counts.get('pending', 0)} pending"
        f"{f', {unmerged} unmerged' if unmerged else ''}) into {sweep_path}",
        file=sys.stderr,
    )
    for line in unmerged_lines(unmerged_runs(args[1]), sweep_path):
        print(line, file=sys.stderr)
    return 0


def unmerged_lines(
    unmerged: Mapping[str, str], sweep_path: str | os.PathLike[str], most: int = 10
) -> list[str]:
    """What a merge says of the done runs it left out: one line each (``most`` at most)."""
    lines = [
        f"snakesweep: run {r} is done but not in {sweep_path} (status {UNMERGED}): {why}"
        for r, why in list(unmerged.items())[:most]
    ]
    if len(unmerged) > most:
        lines.append(
            f"snakesweep: and {len(unmerged) - most} more runs not in {sweep_path}; "
            "`snakesweep status` lists them all"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
