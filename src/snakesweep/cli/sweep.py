"""The sweep a command names (``-cd``, ``-cn``, overrides, ``--from``, ``--results``): its
plan, checked before anything is cached or run, and its runs' statuses counted."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.execute.experiment import check_experiment
from snakesweep.planning.plan import Plan
from snakesweep.provenance.code import CurrentCode

__all__ = [
    "check_options",
    "check_plan",
    "plan_of",
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
    results = store.results_of_plan(plan.path) if plan.path is not None else None
    for spec in {plan.experiment_of(r) for r in plan.run_ids}:
        check_experiment(spec, results, imports)  # one that cannot be called fails its runs
    CurrentCode(plan.options)  # the files each run's snakesweep.code names


def check_options(plan: Plan) -> None:
    """Refuse unusable snakesweep options and entry points that cannot exist (without
    importing the experiment's module)."""
    check_plan(plan, imports=False)
