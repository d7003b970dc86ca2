"""The environment and the machine: the allow-listed environment variables (``ENV_ALLOWED``,
never any other), the versions of the packages a sweep depends on, every installed
distribution, and the system (OS, CPU, cores, memory, host).
"""

from __future__ import annotations

import os
import platform
import socket
from typing import Any

__all__ = ["ENV_ALLOWED", "VERSIONS", "distributions", "environment", "system", "versions"]

ENV_ALLOWED = (
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "PYTHONHASHSEED",
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_JOB_PARTITION",
    "SLURM_CPUS_PER_TASK",
    "SLURM_NODELIST",
)
"""The only environment variables provenance records (when set)."""

VERSIONS = (
    "snakesweep",
    "snakemake",
    "dvc",
    "hydra-core",
    "omegaconf",
    "xarray",
    "numpy",
    "netCDF4",
    "rerun-sdk",
)
"""Distributions whose versions every record names up front."""


def environment() -> dict[str, str]:
    """The allow-listed environment variables that are set; never any other."""
    return {k: os.environ[k] for k in ENV_ALLOWED if k in os.environ}


def versions() -> dict[str, str | None]:
    """The versions of the packages a sweep depends on (None: not installed)."""
    # deferred: importing importlib.metadata costs tens of ms, paid by sessions alone
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in VERSIONS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def distributions() -> dict[str, str]:
    """Every installed distribution and its version, by name."""
    from importlib.metadata import distributions as dists  # deferred: as in versions

    found: dict[str, str] = {}
    for dist in dists():
        name, version = _name_and_version(dist)
        if name and name not in found:  # the first on sys.path is the one imported
            found[name] = version
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def _name_and_version(dist: Any) -> tuple[str | None, str]:
    """A distribution's name and version from its metadata's first lines (the headers), not
    through ``dist.metadata``, whose e-mail parser reads the whole description: a fifth of
    the time, for every distribution installed."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in text.splitlines():
        if not line:
            break  # the end of the headers
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
        if name and version:
            break
    if name is None or version is None:  # an unusual layout: the parser's reading
        return dist.metadata["Name"], dist.version
    return name, version


_SYSTEM: dict[str, Any] = {}


def system() -> dict[str, Any]:
    """This machine and interpreter: Python, OS, CPU model, cores, memory, host (cached)."""
    if not _SYSTEM:
        try:
            usable: int | None = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            usable = os.cpu_count()
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            memory = None
        _SYSTEM.update(
            {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "os": platform.platform(),
                "machine": platform.machine(),
                "cpu": _cpu_model(),
                "cores": os.cpu_count(),
                "cores_usable": usable,
                "memory_bytes": memory,
                "host": socket.gethostname(),
            }
        )
    return dict(_SYSTEM)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "Model", "cpu model")):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
