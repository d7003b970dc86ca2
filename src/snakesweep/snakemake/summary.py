"""How a sweep went, in counts and in one line: what ``snakesweep run``, ``snakesweep.sweep``,
``snakesweep status`` and the progress display of plain ``snakemake`` say at the end."""

from __future__ import annotations

import os
from collections.abc import Mapping

from snakesweep import store
from snakesweep.merge.sweep import unmerged_runs
from snakesweep.planning.plan import Plan
from snakesweep.provenance.code import CurrentCode

__all__ = [
    "CLI_NEXT",
    "count_statuses",
    "describe_counts",
    "left_out",
    "summary",
    "sweep_statuses",
]


CLI_NEXT = "`snakesweep status` lists them, `snakesweep run` again retries them"
"""What to do about failed runs, said to the command line's user."""


def summary(
    results: str,
    plan: Plan,
    statuses: Mapping[str, store.Status],
    code: int,
    next_step: str = CLI_NEXT,
) -> tuple[int, str]:
    """How the sweep went, in one line, and the exit status that says it; ``next_step``:
    what to do about failed runs."""
    counts = count_statuses(statuses)
    if counts["failed"]:
        return 1, f"snakesweep: {counts['failed']} of {len(statuses)} runs failed; {next_step}"
    unmerged = left_out(plan, results, statuses) if code == 0 else {}
    if unmerged:
        return 1, (
            f"snakesweep: {len(unmerged)} of {len(statuses)} runs are done but not in "
            f"{results}/sweep.nc: their results do not fit with the other runs' "
            "(`snakesweep status` says why)"
        )
    if code != 0:
        return code, f"snakesweep: snakemake exited with status {code} ({describe_counts(counts)})"
    where = (
        f"; results in {results}/sweep.nc, `snakesweep view` shows them"
        if not counts["pending"]
        else ""
    )
    return 0, f"snakesweep: {describe_counts(counts)}{where}"


def sweep_statuses(
    plan: Plan, results: str | os.PathLike[str], sources: Mapping[str, bytes] | None = None
) -> dict[str, store.Status]:
    """Each run's status, stale ones told apart by the current code fingerprints (of files
    as they are, or as ``sources`` gives them, by recorded name)."""
    return store.run_statuses(results, plan.run_ids, CurrentCode(plan.options, sources=sources))


def left_out(plan: Plan, results: str, statuses: Mapping[str, str]) -> dict[str, str]:
    """The done runs the last merge left out of ``sweep.nc``, and why."""
    return {r: why for r, why in unmerged_runs(results, plan).items() if statuses.get(r) == "done"}


def count_statuses(statuses: Mapping[str, str]) -> dict[str, int]:
    """How many runs have each status (done, stale, corrupt, pending, failed)."""
    counts = {"done": 0, "stale": 0, "corrupt": 0, "pending": 0, "failed": 0}
    for s in statuses.values():
        counts[s] += 1
    return counts


def describe_counts(counts: Mapping[str, int]) -> str:
    """``counts`` in words; stale and corrupt only when there are some."""
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n or s not in ("stale", "corrupt"))
