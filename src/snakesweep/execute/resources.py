"""Resources: ``snakesweep.resources`` as the Snakemake resources of each run's job.

``snakesweep.resources: {mem_mb: 4000, runtime: 30, slurm_partition: gpu, gpus: 1}`` gives
every run's job those resources, which the executor turns into its request (Snakemake's
SLURM plugin: ``--mem``, ``--time``, ``--partition``, ``--gpus``…). A config group or an
override may change them per run. Runs whose resources differ (``runtime`` aside) never
share a batch, whose job asks for their values and for the sum of their ``runtime``s (they
run one after another).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from snakesweep.errors import ConfigError

__all__ = ["SUMMED", "batch_value", "group_of", "per_job", "resource_names", "resources_of"]

SUMMED = ("runtime",)
"""Resources a batch asks for the sum of, over its runs."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TEXT = re.compile(r"[A-Za-z0-9_.,:=+@%/-]*\Z")
"""Text a resource may hold: executors put some resources on a shell command line
unquoted (the SLURM plugin's ``sbatch`` call: ``slurm_extra``, the partition…), so no
space, quote, ``$``, ``;`` or backtick ever comes from a config."""


def resources_of(options: Mapping[str, Any]) -> dict[str, int | float | str]:
    """A run's ``snakesweep.resources`` (checked: names, and numbers or text as values)."""
    value = options.get("resources")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("snakesweep.resources", f"expected a mapping of Snakemake resources "
                          f"(such as {{mem_mb: 4000, runtime: 30}}), got {value!r}")
    out: dict[str, int | float | str] = {}
    for name, v in value.items():
        if not isinstance(name, str) or not _NAME.match(name) or name.startswith("_"):
            raise ConfigError(f"snakesweep.resources.{name}", "not a Snakemake resource name")
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ConfigError(f"snakesweep.resources.{name}", f"expected a number or text, "
                              f"got {v!r}")
        if name in SUMMED and isinstance(v, str):
            raise ConfigError(f"snakesweep.resources.{name}", f"expected a number (minutes), "
                              f"got {v!r}")
        if isinstance(v, str) and not _TEXT.match(v):
            raise ConfigError(f"snakesweep.resources.{name}", f"{v!r} holds characters a "
                              "resource may not (only letters, digits and _ . , : = + @ % / -:"
                              " executors put resources on a shell command line)")
        out[name] = v
    return out


def resource_names(run_options: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The resource names of a sweep's runs, which every run must set (Snakemake gives a
    rule's resources by name, to every job of it)."""
    names: dict[str, None] = {}
    per_run = {r: resources_of(o) for r, o in run_options.items()}
    for given in per_run.values():
        names.update(dict.fromkeys(given))
    for run_id, given in per_run.items():
        missing = [n for n in names if n not in given]
        if missing:
            raise ConfigError(f"snakesweep.resources.{missing[0]}",
                              f"set for some runs but not for run {run_id}: give every run "
                              "a value (for example in the primary config)")
    return list(names)


def group_of(options: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """What runs of one batch must share: their resources but the summed ones."""
    return tuple(sorted((k, v) for k, v in resources_of(options).items() if k not in SUMMED))


def batch_value(name: str, runs: Iterable[Mapping[str, Any]]) -> int | float | str:
    """A batch's value of one resource, from its runs' options: the sum of the summed ones
    (whole minutes), else the value its runs share (see ``group_of``)."""
    values = [resources_of(o)[name] for o in runs]
    if name in SUMMED:
        return math.ceil(sum(values))  # type: ignore[arg-type]
    return values[0]


def per_job(names: Iterable[str],
            value: Callable[[str, Any], int | float | str]) -> dict[str, Callable[[Any], Any]]:
    """Snakemake resources ``{name: function of the job's wildcards}``."""
    def of(name: str) -> Callable[[Any], Any]:
        return lambda wildcards: value(name, wildcards)
    return {name: of(name) for name in names}
