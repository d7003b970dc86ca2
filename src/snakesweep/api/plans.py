"""Plans whose adaptive rounds read the results: ``snakesweep.make_plan``.

The planning layer decides an adaptive sweep's next round from the Results of the rounds
before it, but merges nothing itself (it sits below the merge): it is given
``merged_results``, which merges exactly a plan's runs (unless that merge is already
there) and loads it. Planning without ``snakesweep.update`` imports no merge and no xarray.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.api.results import Results, load
from snakesweep.merge import freshness
from snakesweep.merge.sweep import write_sweep
from snakesweep.planning import make
from snakesweep.planning.plan import Plan

__all__ = ["make_plan", "merged_results"]


def make_plan(
    config_dir: str | os.PathLike[str],
    config_name: str,
    overrides: Sequence[str] = (),
    results: str | os.PathLike[str] = "results",
    *,
    use_cache: bool = True,
    from_run: str | None = None,
    check: Callable[[Plan], object] | None = None,
    cache_optional: bool = False,
    domain_options: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan for a sweep, from the cache under ``results`` when nothing it depends on changed.

    ``from_run``: a run id (or a unique prefix) of ``results`` whose resolved config the
    points start from (``--from``; see ``planning.from_run``). ``check`` is called with the
    plan, a new one before it is cached: what it raises leaves ``results`` as it was (bad
    input writes nothing). ``cache_optional``: a plan that cannot be cached (a read-only or
    full disk) is used as it is, for commands that only read ``results``. An adaptive
    sweep's next round is decided once its runs are done, from their merged Results.
    ``domain_options``: ``snakesweep`` domain options (``Domain.to_dict()``) that replace
    the config's.
    """
    return make.make_plan(
        config_dir,
        config_name,
        overrides,
        results,
        use_cache=use_cache,
        from_run=from_run,
        check=check,
        cache_optional=cache_optional,
        merged=merged_results,
        domain_options=domain_options,
    )


def merged_results(plan: Plan, results: str | os.PathLike[str]) -> Results:
    """The Results of exactly ``plan``'s runs in ``results``: their merge, written unless
    that merge is already there (``sweep.json`` holds its key), then loaded."""
    index = Path(results, store.SWEEP_INDEX)
    try:
        key = json.loads(index.read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError):
        key = None
    if key is None or key != freshness.merge_key(plan, results):
        write_sweep(plan, results)
    return load(results)
