"""The run table, ``runs.csv``: one row per run, readable without xarray."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from snakesweep import store
from snakesweep.planning.plan import Plan

# pandas is imported where it is used: the Snakefile and the CLI import the merge and need
# none of it.

__all__ = ["run_table"]


def run_table(
    plan: Plan,
    results: str | os.PathLike[str],
    dataset: Any,
    metas: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> Any:
    """One row per run: run_id, status, duration, debug, commit, swept values, scalar results."""
    import pandas as pd

    swept = len(plan.dims)
    status = dataset["status"].values
    labels = [
        (name, coord.values)
        for name, coord in dataset.coords.items()  # along the
        if name not in dataset.dims and coord.dims == dataset["run_id"].dims
    ]  # swept
    scalars = [
        (n, v.values)
        for n, v in dataset.data_vars.items()
        if n not in ("run_id", "status") and v.ndim == swept
    ]
    rows = []
    for run_id in plan.run_ids:
        point = plan.point_of(run_id)
        index = point.index
        meta = (metas[run_id] if metas is not None else store.read_meta(results, run_id)) or {}
        record = meta.get("provenance") or {}
        row: dict[str, Any] = {
            "run_id": run_id,
            "status": str(status[index]),
            "duration": meta.get("duration"),
            "debug": record.get("debug"),
            "commit": (record.get("git") or {}).get("commit"),
        }
        row.update(point.params)
        for name, values in labels:
            row[name] = values[index].item()
        for name, values in scalars:
            row[name] = values[index]
        rows.append(row)
    return pd.DataFrame(rows)
