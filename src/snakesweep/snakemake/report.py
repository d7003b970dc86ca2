"""``snakesweep report``: Snakemake's HTML report of the sweep, made by Snakemake in two runs
of the driver (the sweep with its report's files, then ``snakemake --report``). What the
report holds is ``snakesweep.view.report``'s (the ``sweep_report`` rule's job)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from snakesweep.errors import SnakesweepError
from snakesweep.planning.plan import Plan
from snakesweep.snakemake.driver import run_snakemake

__all__ = ["build_report", "check_output"]


def check_output(output: str | os.PathLike[str]) -> None:
    """Refuse a report file Snakemake cannot write (``SnakesweepError`` naming it)."""
    if not str(output).endswith((".html", ".zip")):
        raise SnakesweepError(
            f"--output {str(output)!r}: Snakemake writes a report to a "
            ".html file (or a .zip of one with its files)"
        )


def build_report(
    plan: Plan,
    invocation: Path,
    output: str | os.PathLike[str],
    cores: str,
    extra: Sequence[str],
    command: Sequence[str],
    results: str,
) -> int:
    """``snakesweep report``: Snakemake builds the sweep's default target as ``snakesweep run``
    does (the pending runs, the merge, the report's files; ``extra``: Snakemake's arguments),
    then writes its report to ``output`` (``snakemake --report``) with the same Snakefile and
    config. Returns Snakemake's exit status."""
    check_output(output)
    code = run_snakemake(invocation, cores, extra, command, plan, results)
    if code != 0:
        print(
            f"snakesweep: snakemake exited with status {code}; no report written (its files "
            "are written once every run is done: `snakesweep status` says which is not)",
            file=sys.stderr,
        )
        return code
    return run_snakemake(invocation, cores, ["--report", os.fspath(output)], command)
