"""A sweep computed to its end, as ``snakesweep run`` and ``snakesweep.sweep`` both do it:
Snakemake (not started when it would have nothing to do), again for each round an
adaptive sweep asks for (how it went: ``snakemake.summary``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from snakesweep import store
from snakesweep.execute import batches
from snakesweep.planning.plan import Plan
from snakesweep.snakemake.driver import run_snakemake
from snakesweep.snakemake.summary import sweep_statuses
from snakesweep.snakemake.uptodate import nothing_to_do

__all__ = ["run_rounds"]


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
    display: bool = False,
) -> tuple[int, Plan, dict[str, store.Status]]:
    """Run Snakemake on ``invocation``, and again for each round an adaptive sweep asks for
    (``remake`` gives the grown plan; ``follow`` is told of it); Snakemake's exit status,
    the last plan and its runs' statuses.

    Snakemake is not started when it would have nothing to do (and no Snakemake option was
    given). ``output``: a file descriptor for Snakemake's own output (else this process's);
    ``here``: Snakemake runs in this process (``driver.run_snakemake``); ``display``: it
    shows the sweep's progress, not its job blocks.
    """
    if not extra and nothing_to_do(plan, results):
        batches.write_batches(results, plan.path or "", [], {})  # what a parse clears
        print(
            "snakesweep: nothing to be done: every run is done, merged and in the report",
            file=sys.stderr,
        )
        code = 0
    else:
        code = run_snakemake(
            invocation, cores, extra, command, plan, results, output, here, display
        )
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
        code = run_snakemake(
            invocation, cores, extra, command, plan, results, output, here, display
        )
        statuses = sweep_statuses(plan, results)
    return code, plan, statuses
