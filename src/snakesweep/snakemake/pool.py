"""The warm worker pool of one Snakemake invocation (``snakesweep.execute.pool``): started for
its local runs, by ``snakesweep run`` before Snakemake (``driver.prepared``) or by the rules'
``onstart``, and stopped when its jobs go elsewhere."""

from __future__ import annotations

import os
import signal

from snakesweep.execute import devices
from snakesweep.execute.pool import Pool, start_pool
from snakesweep.planning.plan import Plan

__all__ = ["POOL_PID_ENV", "POOL_PIPE_ENV", "local_pool", "stop_pool"]

POOL_PID_ENV = "SNAKESWEEP_POOL_PID"
POOL_PIPE_ENV = "SNAKESWEEP_POOL_PIPE"
"""The descriptor of the pool's control pipe, which the Snakemake of ``snakesweep run``
holds open: the pool stops when both have ended (``snakesweep.pool``)."""


def local_pool(pending: int, cores: int, plan: Plan) -> Pool | None:
    """A warm worker pool for the local runs, unless nothing is pending or
    ``SNAKESWEEP_NO_POOL`` asks for a process per run: a worker per core, at most one per
    device slot (``snakesweep.devices``)."""
    if pending == 0 or os.environ.get("SNAKESWEEP_NO_POOL"):
        return None
    slots = devices.capacity(plan.options.first())
    return start_pool(min(cores, pending, slots or cores), str(plan.path))


def stop_pool(pid: str) -> None:
    """Ask the pool whose master is ``pid`` to stop (it stops its workers)."""
    if pid.isdigit():
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass
