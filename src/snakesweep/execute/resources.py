"""Resources: ``snakesweep.resources`` as the Snakemake resources of each run's job.

``snakesweep.resources: {mem_mb: 4000, runtime: 30, slurm_partition: gpu, gpus: 1}`` gives
every run's job those resources, which the executor turns into its request (Snakemake's
SLURM plugin: ``--mem``, ``--time``, ``--partition``, ``--gpus``…). A config group or an
override may change them per run. Runs whose resources differ (``runtime`` aside) never
share a batch, whose job asks for their values and for the sum of their ``runtime``s (they
run one after another). The option is read and checked with the others
(``snakesweep.core.options``: names, numbers or text as values, the same names for every run).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from snakesweep.core.options import SUMMED_RESOURCES as SUMMED
from snakesweep.core.options import Options

__all__ = ["SUMMED", "batch_value", "group_of", "per_job"]


def group_of(options: Options) -> tuple[tuple[str, Any], ...]:
    """What runs of one batch must share: their resources but the summed ones."""
    return tuple(sorted((k, v) for k, v in options.resources.items() if k not in SUMMED))


def batch_value(name: str, runs: Iterable[Options]) -> int | float | str:
    """A batch's value of one resource, from its runs' options: the sum of the summed ones
    (whole minutes), else the value its runs share (see ``group_of``)."""
    values = [o.resources[name] for o in runs]
    if name in SUMMED:
        return math.ceil(sum(values))  # type: ignore[arg-type]
    return values[0]


def per_job(
    names: Iterable[str], value: Callable[[str, Any], int | float | str]
) -> dict[str, Callable[[Any], Any]]:
    """Snakemake resources ``{name: function of the job's wildcards}``."""

    def of(name: str) -> Callable[[Any], Any]:
        return lambda wildcards: value(name, wildcards)

    return {name: of(name) for name in names}
