"""The sweep a command names (``-cd``, ``-cn``, overrides, ``--from``, ``--results``): its
plan, checked before anything is cached or run, and its runs' statuses counted."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.core.entries import check_entry
from snakesweep.execute.experiment import load_experiment
from snakesweep.merge.sweep import unmerged_runs
from snakesweep.planning.plan import Plan
from snakesweep.provenance.code import CurrentCode

__all__ = [
    "check_options",
    "check_plan",
    "count_statuses",
    "describe_counts",
    "left_out",
    "plan_of",
    "sweep_statuses",
]


def plan_of(
    ns: argparse.Namespace, check: Callable[[Plan], None] | None = None, reading: bool = False
) -> Plan:
    """The plan of the command's sweep; ``check`` refuses it before a new one is cached
    (bad input leaves the results directory as it was). ``reading``: the command only reads
    the results, which may be on a read-only disk (the plan is then not cached)."""
    return make_plan(
        ns.config_dir,
        ns.config_name,
        ns.overrides,
        ns.results,
        from_run=ns.from_run,
        check=check,
        cache_optional=reading,
    )


def check_plan(plan: Plan, imports: bool = True) -> None:
    """Fail before any run starts when an entry point is malformed or cannot exist (with
    ``imports``: cannot be imported, as the runs would), or a ``snakesweep.code`` glob
    matches no file (``make_plan`` checked the options themselves)."""
    for spec in {plan.experiment_of(r) for r in plan.run_ids}:
        check_entry(spec, "snakesweep.experiment")  # says which name is wrong, importing none
        if imports:
            load_experiment(spec, must_call=False)  # one that cannot be called fails its runs
    CurrentCode(plan.options)  # the files each run's snakesweep.code names


def check_options(plan: Plan) -> None:
    """Refuse unusable snakesweep options and entry points that cannot exist (without
    importing the experiment's module)."""
    check_plan(plan, imports=False)


def sweep_statuses(plan: Plan, results: str) -> dict[str, store.Status]:
    """Each run's status, stale ones told apart by the current code fingerprints."""
    return store.run_statuses(results, plan.run_ids, CurrentCode(plan.options))


def left_out(plan: Plan, results: str, statuses: Mapping[str, str]) -> dict[str, str]:
    """The done runs the last merge left out of ``sweep.nc``, and why."""
    return {r: why for r, why in unmerged_runs(results, plan).items() if statuses.get(r) == "done"}


def count_statuses(statuses: Mapping[str, str]) -> dict[str, int]:
    """How many runs have each status (done, stale, corrupt, pending, failed)."""
    counts = {"done": 0, "stale": 0, "corrupt": 0, "pending": 0, "failed": 0}
    for s in statuses.values():
        counts[s] += 1
    return counts


def describe_counts(counts: dict[str, int]) -> str:
    """``counts`` in words; stale and corrupt only when there are some."""
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n or s not in ("stale", "corrupt"))
