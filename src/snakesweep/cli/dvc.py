"""``snakesweep pull`` and ``snakesweep history``: the sweep's runs and past results
through DVC."""

from __future__ import annotations

import argparse
import sys

from snakesweep.cli.command import no_extra
from snakesweep.dvc.history import write_history
from snakesweep.dvc.pull import describe, pull

__all__ = ["cmd_history", "cmd_pull"]


def cmd_pull(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep pull``: 1 when a run could not be restored (it is named)."""
    report = pull(ns.results, extra)
    for line in describe(report, ns.results):
        print(line, file=sys.stderr)
    return 1 if report.lost else 0


def cmd_history(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep history [REVISIONS]``: the sweep of each revision, stacked over time."""
    no_extra(extra, "history")
    history = write_history(
        ns.revisions,
        ns.results,
        max_count=ns.max_count,
        progress=lambda line: print(f"snakesweep: {line}", file=sys.stderr, flush=True),
    )
    skipped = f" ({len(history.skipped)} left out, see above)" if history.skipped else ""
    print(
        f"snakesweep: {len(history.loaded)} revision(s){skipped} stacked along over_time "
        f"in {history.path}; `snakesweep view {history.recording}` steps through them",
        file=sys.stderr,
    )
    return 0
