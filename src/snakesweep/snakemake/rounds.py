"""A sweep computed to its end, as ``snakesweep run`` and ``snakesweep.sweep`` both do it:
Snakemake (not started when it would have nothing to do), again for each round an
adaptive sweep asks for; then how it went, in counts and in one line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from snakesweep import store
from snakesweep.execute import batches
from snakesweep.merge.sweep import unmerged_runs
from snakesweep.planning.plan import Plan
from snakesweep.provenance.code import CurrentCode
from snakesweep.snakemake.driver import run_snakemake
from snakesweep.snakemake.uptodate import nothing_to_do

__all__ = [
    "CLI_NEXT",
    "count_statuses",
    "describe_counts",
    "left_out",
    "run_rounds",
    "summary",
    "sweep_statuses",
]


def run_rounds(
    plan: Plan,
    results: str,
    invocation: Path,
    cores: str,
    extra: Sequence[str],
    command: Sequence[str],
    remake: Callable[[], Plan],
    follow: Callable[[Plan], None] | None = None,
    output: int | None = None,
    here: bool = False,
) -> tuple[int, Plan, dict[str, store.Status]]:
    """Run Snakemake on ``invocation``, and again for each round an adaptive sweep asks for
    (``remake`` gives the grown plan; ``follow`` is told of it); Snakemake's exit status,
    the last plan and its runs' statuses.

    Snakemake is not started when it would have nothing to do (and no Snakemake option was
    given). ``output``: a file descriptor for Snakemake's own output (else this process's);
    ``here``: Snakemake runs in this process (``driver.run_snakemake``).
    """
    if not extra and nothing_to_do(plan, results):
        batches.write_batches(results, plan.path or "", [], {})  # what a parse clears
        print(
            "snakesweep: nothing to be done: every run is done, merged and in the report",
            file=sys.stderr,
        )
        code = 0
    else:
        code = run_snakemake(invocation, cores, extra, command, plan, results, output, here)
    statuses = sweep_statuses(plan, results)
    while (
        code == 0
        and plan.rounds
        and not plan.rounds["complete"]
        and all(s == "done" for s in statuses.values())
    ):  # an adaptive sweep's next round
        grown = remake()
        if len(grown.points) == len(plan.points):
            break
        plan = grown
        if follow is not None:
            follow(plan)
        print(
            f"snakesweep: round {plan.rounds['count'] - 1}: {plan.structure()}",  # type: ignore[index]
            file=sys.stderr,
            flush=True,
        )
        code = run_snakemake(invocation, cores, extra, command, plan, results, output, here)
        statuses = sweep_statuses(plan, results)
    return code, plan, statuses


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
