"""snakesweep: a Hydra-defined parameter sweep, scheduled by Snakemake, merged into one Dataset.

A package per layer, each importing only those below it (``.importlinter``): ``cli`` and
``rules`` (the command, the rules a Snakefile includes); ``sweeps`` (sweeps started from
Python: ``sweep``, ``Sweep``); ``hydra`` (the launcher);
``snakemake`` and ``dvc`` (the rules' glue and driver; runs pulled one at a time, history);
``api`` (``load``, ``Results``, ``make_plan``); ``merge`` (the runs → ``sweep.nc``);
``view`` (the recording, pictures, the viewer, the report); ``execute`` (runs, the pool,
batches, devices); ``planning`` and ``provenance`` (the plan; git, code, environment);
``store`` (the results directory); ``core`` (the domain, composition, run ids, options);
``errors``.
"""

from typing import TYPE_CHECKING, Any

from snakesweep.core.configs import canonical_json, run_id_of
from snakesweep.errors import (
    ConfigError,
    ExperimentError,
    OverrideError,
    RunFileError,
    SnakesweepError,
    SweepError,
)
from snakesweep.planning.plan import Plan
from snakesweep.view.recording import NothingToShow, to_rerun

if TYPE_CHECKING:
    from snakesweep.api.plans import make_plan
    from snakesweep.api.results import Results, load, over_repeats
    from snakesweep.core.domain import Domain
    from snakesweep.execute.handle import Run
    from snakesweep.sweeps.sweep import Sweep, sweep

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
    "Sweep",
    "SweepError",
    "__version__",
    "canonical_json",
    "load",
    "make_plan",
    "over_repeats",
    "run_id_of",
    "sweep",
    "to_rerun",
]


_LAZY = {
    "Results": "snakesweep.api.results",
    "load": "snakesweep.api.results",
    "over_repeats": "snakesweep.api.results",
    "Run": "snakesweep.execute.handle",
    "Domain": "snakesweep.core.domain",
    "make_plan": "snakesweep.api.plans",
    "Sweep": "snakesweep.sweeps.sweep",
    "sweep": "snakesweep.sweeps.sweep",
}


def __getattr__(name: str) -> Any:
    """``load``, ``Results``, ``Run``, ``Domain``, ``over_repeats``, ``make_plan``,
    ``sweep`` and ``Sweep``,
    imported when first asked for: a run's process imports ``snakesweep`` and should not pay
    for them (nor for the merge that ``make_plan``'s adaptive rounds read)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'snakesweep' has no attribute {name!r}")
