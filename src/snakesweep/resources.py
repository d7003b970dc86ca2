"""Resources: ``snakesweep.resources`` as the Snakemake resources of each run's job.

``snakesweep.resources: {mem_mb: 4000, runtime: 30, slurm_partition: gpu, gpus: 1}`` gives
every run's job those resources, which the executor turns into its request (Snakemake's
SLURM plugin: ``--mem``, ``--time``, ``--partition``, ``--gpus``…). A config group or an
override may change them per run. A batch's job asks for the most any of its runs asks for,
and for the sum of their ``runtime``s (they run one after another); runs whose other
resources differ never share a batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from snakesweep.errors import ConfigError

SUMMED = ("runtime",)
"""Resources a batch asks for the sum of, over its runs."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


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
    """A batch's value of one resource, from its runs' options."""
    values = [resources_of(o)[name] for o in runs]
    if name in SUMMED:
        return sum(values)  # type: ignore[arg-type]
    if all(isinstance(v, (int, float)) for v in values):
        return max(values)  # type: ignore[type-var]
    return values[0]  # the same for every run of a batch (see group_of)


def per_job(names: Iterable[str],
            value: Callable[[str, Any], int | float | str]) -> dict[str, Callable[[Any], Any]]:
    """Snakemake resources ``{name: function of the job's wildcards}``."""
    def of(name: str) -> Callable[[Any], Any]:
        return lambda wildcards: value(name, wildcards)
    return {name: of(name) for name in names}
