"""Report: the sweep in Snakemake's HTML report (``snakemake --report report.html``).

The ``sweep_report`` rule (``workflow/sweep.smk``) runs ``python -m snakesweep.view.report
RESULTS`` after the merge and writes ``RESULTS/report/``, every file of it flagged for
Snakemake's report:

* ``runs.html``: the run table (``runs.csv``), readable (``pages``);
* ``provenance.html``: what ``provenance.json`` says, summarised (``pages``);
* ``pictures/``: a picture of each numeric result variable, as the sweep's config sets
  ``snakesweep.pictures`` (``report_pictures``), with its caption;
* ``report.json``: the key the report was made for (see ``stamp``).

A picture that cannot be drawn is a placeholder saying why, and the sweep goes on: a report
is never what makes a sweep fail.

Freshness follows content, as for the merge (``snakesweep.merge.freshness``): the report's key is a
hash of the merge key, the pictures setting and ``FORMAT``; ``stamp`` dates
``.snakesweep/report.key``, the rule's one input that is not ``ancient``, so that Snakemake
writes the report again exactly when that key changes, whatever the files' times say.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.store import ReportPaths
from snakesweep.view.pages import provenance_page, table_page
from snakesweep.view.report_pictures import (
    CAPTIONS,
    FORMAT,
    MODES,
    PictureMode,
    Pictures,
    render_pictures,
)
from snakesweep.view.screenshots import RENDER_TIMEOUT, WINDOW

__all__ = [
    "CAPTIONS",
    "FORMAT",
    "PICTURES_ENV",
    "PictureMode",
    "main",
    "picture_labels",
    "recorded_key",
    "report_key",
    "stamp",
    "write_report",
]

PICTURES_ENV = "SNAKESWEEP_PICTURES"
"""How the Snakefile tells the report job how the sweep's config wants its pictures drawn
(a ``PictureMode``)."""


# -- paths and freshness ---------------------------------------------------------------------


def report_key(merge_key: str | None, pictures: PictureMode) -> str | None:
    """What the report is made from: the merged runs (their key), how its pictures are drawn,
    and what this code writes. None while the runs are not all done."""
    if merge_key is None:
        return None
    text = f"{merge_key}\0pictures={pictures}\0format={FORMAT}\0window={WINDOW}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def recorded_key(results: str | os.PathLike[str]) -> str | None:
    """The key ``report.json`` records, when every file of the report is there."""
    paths = ReportPaths(str(results))
    if not all(p.exists() for p in paths.outputs):
        return None
    try:
        key = json.loads(paths.index.read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return key if isinstance(key, str) else None


def stamp(results: str | os.PathLike[str], merge_key: str | None, pictures: PictureMode) -> bool:
    """Write and date ``report.key`` (``store.date_key``) so that Snakemake writes the
    report exactly when its key changes; returns whether the report is fresh."""
    paths = ReportPaths(str(results))
    key = report_key(merge_key, pictures)
    fresh = key is not None and recorded_key(results) == key
    return store.date_key(
        paths.key_file,
        key,
        fresh,
        [paths.table, paths.provenance, paths.index, paths.pictures / ".snakemake_timestamp"],
    )


# -- the report job --------------------------------------------------------------------------


def write_report(
    results: str | os.PathLike[str],
    pictures: PictureMode = "matplotlib",
    *,
    window: tuple[int, int] = WINDOW,
    timeout: float = RENDER_TIMEOUT,
    jobs: int = 1,
) -> Pictures:
    """Write ``RESULTS/report/`` from the merged files: the run table, the provenance
    summary, the pictures (or their placeholders), then ``report.json`` (its key), last."""
    results = str(results)
    paths = ReportPaths(results)
    paths.directory.mkdir(parents=True, exist_ok=True)
    with open(Path(results, store.RUNS_TABLE), newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    index = _read_json(Path(results, store.SWEEP_INDEX))
    store.write_atomic(paths.table, table_page(rows, columns, index))
    record = json.loads(Path(results, store.PROVENANCE).read_text(encoding="utf-8"))
    store.write_atomic(paths.provenance, provenance_page(record))
    made = render_pictures(
        Path(results, store.SWEEP),
        paths.pictures,
        window=window,
        timeout=timeout,
        pictures=pictures,
        jobs=jobs,
    )
    key = report_key((index or {}).get("key"), pictures)
    store.write_atomic(
        paths.index,
        json.dumps({"key": key, "format": FORMAT, "pictures": made.state}, indent=1) + "\n",
    )
    return made


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def picture_labels(results: str | os.PathLike[str], stem: str) -> dict[str, str]:
    """The report's labels of one picture (by its file's name), from ``pictures.json``."""
    record = _read_json(ReportPaths(str(results)).pictures / "pictures.json") or {}
    for p in record.get("pictures") or []:
        if Path(str(p.get("file", ""))).stem == stem:
            seconds = p.get("seconds")
            if seconds is not None:
                drawn = f"drawn by {p.get('drawn_by')} in {seconds:.2f} s"
                if p.get("reason"):
                    drawn += " (rerun could not)"
            else:
                drawn = "off" if record.get("state") == "off" else "not drawn"
            return {
                "variable": str(p.get("variable")),
                "over": " × ".join(map(str, p.get("dims") or [])) or "—",
                "picture": drawn,
            }
    return {"variable": stem, "over": "—", "picture": "?"}


def main(argv: list[str] | None = None) -> int:
    """``python -m snakesweep.view.report RESULTS [JOBS [LOG]]``: write ``RESULTS/report/``, its
    pictures as ``SNAKESWEEP_PICTURES`` says (a ``PictureMode``; default ``matplotlib``),
    ``JOBS`` at a time. What it has to say goes to stderr (which Snakemake shows) and to
    ``LOG``."""
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 3 or (len(args) >= 2 and not args[1].isdigit()):
        print("usage: python -m snakesweep.view.report RESULTS [JOBS [LOG]]", file=sys.stderr)
        return 2
    log = open(args[2], "w", encoding="utf-8") if len(args) == 3 else None

    def say(text: str) -> None:
        for stream in (sys.stderr, log):
            if stream is not None:
                print(f"snakesweep: {text}", file=stream, flush=True)

    try:
        mode = os.environ.get(PICTURES_ENV) or "matplotlib"
        if mode not in MODES:
            say(f"{PICTURES_ENV}={mode!r}: expected one of {', '.join(MODES)}")
            return 2
        try:
            made = write_report(
                args[0],
                mode,  # type: ignore[arg-type]
                jobs=int(args[1]) if len(args) >= 2 else 1,
            )
        except (OSError, ValueError, KeyError) as exc:
            say(f"cannot write the report from {args[0]}: {exc}")
            return 2
        for line in _outcome(made):
            say(f"report: {line}")
        return 0
    except BaseException:
        if log is not None:
            traceback.print_exc(file=log)
        raise
    finally:
        if log is not None:
            log.close()


def _outcome(made: Pictures) -> list[str]:
    """What the report job says of its pictures (nothing when they are off)."""
    drawn = [p for p in made.pictures if p.rendered]
    by: dict[str, int] = {}
    for p in drawn:
        by[str(p.drawn_by)] = by.get(str(p.drawn_by), 0) + 1
    how = " and ".join(f"{n} by {who}" for who, n in by.items())
    lines = []
    if made.fallback:
        lines.append(
            f"rerun's viewer could not draw the pictures; matplotlib drew them "
            f"instead: {made.fallback}"
        )
    if made.state == "rendered":
        drawing = sum(p.seconds or 0 for p in drawn)
        lines.append(
            f"{len(drawn)} picture(s) drawn ({how}) in {drawing:.2f} s "
            f"({made.seconds:.1f} s with reading the sweep)"
        )
    elif made.state == "failed":
        lines.append(
            f"{len(drawn)} of {len(made.pictures)} picture(s) drawn; the others are "
            f"placeholders: {made.reason}"
        )
    elif made.state == "nothing":
        lines.append(f"no pictures: {made.reason}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
