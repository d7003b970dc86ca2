"""snakesweep: a Hydra-defined parameter sweep, scheduled by Snakemake, merged into one Dataset.

The parts, one module each: ``domain`` (what a sweep ranges over: ``Domain``), ``grid``
(Hydra's overrides → BasicSweeper's points), ``draws`` (random values and seeds),
``rounds`` (adaptive sweeps), ``configs`` (composition and
run ids), ``plan`` (the cached set of runs), ``execute`` and ``pool`` (running configs),
``store`` (run directories), ``locks`` (who computes into a results directory, and
which process computes which run), ``run`` (the handle an experiment logs to), ``results`` (the
Python face: ``load``), ``aggregate`` (→ ``sweep.nc`` and ``runs.csv``), ``freshness``
(when to merge again), ``summaries`` (what DVC shows), ``dimensions`` (the roles of a
Dataset's dimensions), ``recording`` (→ ``sweep.rrd``), ``pictures`` (→ PNGs, by matplotlib)
and ``viewer`` (rerun's viewer), ``entries`` (entry points), ``provenance`` (git, code,
environment), ``history`` (the sweep across git revisions), ``tracking`` (DVC),
``scaffold`` (``init``), ``rules`` (the Snakemake glue), ``slurm`` (a SLURM without
accounting) and ``cli``.
"""

from typing import TYPE_CHECKING, Any

from snakesweep.core.configs import canonical_json, run_id_of
from snakesweep.errors import (
    ConfigError,
    ExperimentError,
    OverrideError,
    RunFileError,
    SnakesweepError,
)
from snakesweep.planning.plan import Plan
from snakesweep.view.recording import NothingToShow, to_rerun

if TYPE_CHECKING:
    from snakesweep.api.plans import make_plan
    from snakesweep.api.results import Results, load, over_repeats
    from snakesweep.core.domain import Domain
    from snakesweep.execute.handle import Run

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Domain",
    "ExperimentError",
    "NothingToShow",
    "OverrideError",
    "Plan",
    "Results",
    "Run",
    "RunFileError",
    "SnakesweepError",
    "__version__",
    "canonical_json",
    "load",
    "make_plan",
    "over_repeats",
    "run_id_of",
    "to_rerun",
]


_LAZY = {
    "Results": "snakesweep.api.results",
    "load": "snakesweep.api.results",
    "over_repeats": "snakesweep.api.results",
    "Run": "snakesweep.execute.handle",
    "Domain": "snakesweep.core.domain",
    "make_plan": "snakesweep.api.plans",
}


def __getattr__(name: str) -> Any:
    """``load``, ``Results``, ``Run``, ``Domain``, ``over_repeats`` and ``make_plan``,
    imported when first asked for: a run's process imports ``snakesweep`` and should not pay
    for them (nor for the merge that ``make_plan``'s adaptive rounds read)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'snakesweep' has no attribute {name!r}")
