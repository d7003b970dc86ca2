"""Whether a sweep leaves Snakemake nothing to do, decided before starting it.

A ``snakesweep run`` of a sweep whose runs are all done with the current code, whose merged
files hold exactly those runs, and whose report was made from them would start Snakemake
(about a second of imports, the rules parsed, the DAG built) to be told "Nothing to be
done". This module answers the same question from the same keys the rules date their
inputs by (``merge.freshness``, ``view.report``), so ``snakesweep run`` can say so at once.
When in doubt it says no, and Snakemake decides.
"""

from __future__ import annotations

import os
from pathlib import Path

from snakesweep import store
from snakesweep.merge import freshness
from snakesweep.planning.plan import Plan
from snakesweep.provenance.code import CurrentCode
from snakesweep.view import report

__all__ = ["nothing_to_do"]


def nothing_to_do(plan: Plan, results: str | os.PathLike[str]) -> bool:
    """Whether every run of ``plan`` is done with the current code, and the merged files and
    the report are those of these runs, every one of them there: what Snakemake, run on the
    sweep's target, would find up to date."""
    statuses = store.run_statuses(results, plan.run_ids, CurrentCode(plan.options))
    if any(s != "done" for s in statuses.values()):
        return False
    if not all(Path(results, name).is_file() for name in store.MERGED):
        return False
    key = freshness.merge_key(plan, results, statuses)
    if key is None or freshness.recorded_key(results) != key:
        return False
    made = report.report_key(key, plan.options.pictures)
    return made is not None and report.recorded_key(results) == made
