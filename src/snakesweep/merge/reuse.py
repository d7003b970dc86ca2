"""The values of runs merged before and unchanged, taken back from the ``sweep.nc`` that
holds them (read once), so that a merge reads only the new and changed runs.

Which runs those are, and what their results hold besides their values, the merge index
says (``index.Previous``). A run whose values cannot be had back exactly from ``sweep.nc``
(a dtype narrowed past what it holds, labels it lacks) is left out, to be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakesweep import store
from snakesweep.merge import index as merge_index
from snakesweep.merge.index import RunShape, VarShape
from snakesweep.merge.layouts import Part
from snakesweep.planning.plan import Plan

# numpy and xarray are imported in the functions that use them: the Snakefile and the CLI
# import the merge and need neither.

__all__ = ["reused"]


def reused(
    plan: Plan,
    previous: merge_index.Previous,
    shapes: Mapping[str, RunShape],
    cells: Mapping[str, list[int]],
    position: Mapping[str, int],
) -> list[Part]:
    """The runs of ``shapes`` whose values ``sweep.nc`` holds, with those values as their
    results hold them (read once from ``sweep.nc``); a run whose values cannot be had back
    exactly from there (a dtype narrowed past what it holds, labels it lacks) is left out,
    to be read."""
    import numpy as np
    import xarray as xr

    swept = tuple(len(d.values) for d in plan.dims)
    with xr.open_dataset(previous.path, engine=store.ENGINE) as old:
        if old["run_id"].shape != swept or not shapes:
            return []
        runs = list(shapes)  # each of their cells must hold them, done
        where = [cells[r] for r in runs]
        flat = np.fromiter((c for w in where for c in w), dtype=np.intp)
        owner = np.repeat(np.arange(len(runs)), [len(w) for w in where])
        held = old["run_id"].values.reshape(-1)[flat] == np.array(runs, dtype=object)[owner]
        held &= old["status"].values.reshape(-1)[flat] == "done"
        lost = set(owner[~held].tolist())
        groups: dict[int, tuple[RunShape, list[str]]] = {}
        for k, run_id in enumerate(runs):
            if k not in lost:
                shape = shapes[run_id]
                groups.setdefault(id(shape), (shape, []))[1].append(run_id)
        arrays: dict[str, Any] = {}
        parts = []
        for shape, members in groups.values():
            rows = [cells[r][0] for r in members]
            values = {}
            for name, var in shape.variables.items():
                got = _held(old, arrays, name, var, shape, rows, len(swept))
                if got is None:
                    break
                values[name] = got
            else:
                parts.append(Part(shape, members, values, position[members[0]]))
    return parts


def _held(
    old: Any,
    arrays: dict[str, Any],
    name: str,
    var: VarShape,
    shape: RunShape,
    rows: list[int],
    swept: int,
) -> Any:
    """One result (or coordinate) of some runs, as their files hold it, from the merged
    ``old`` Dataset (None when it cannot be had back exactly)."""
    import numpy as np

    if name not in old.variables or var.dtype.kind not in "biufc":
        return None
    if name not in arrays:
        held = old.variables[name]
        if var.coordinate and held.dims == var.dims:  # one coordinate for every run
            arrays[name] = held.values[np.newaxis]
        elif held.dims[swept:] == var.dims and held.ndim == swept + len(var.dims):
            arrays[name] = held.values.reshape(-1, *held.shape[swept:])
        else:
            return None
    data = arrays[name]
    values = data[rows] if len(data) > 1 else np.repeat(data, len(rows), axis=0)
    for axis, dim in enumerate(var.dims):
        if dim in shape.coords:
            labels = old.indexes.get(dim)
            if labels is None or not labels.is_unique:
                return None
            take = labels.get_indexer(shape.coords[dim].values)
            if (take < 0).any():
                return None
            values = np.take(values, take, axis=axis + 1)
        elif dim in old.indexes or values.shape[axis + 1] < var.shape[axis]:
            return None
        elif values.shape[axis + 1] > var.shape[axis]:  # padded: the run's are the first
            values = values[(slice(None),) * (axis + 1) + (slice(0, var.shape[axis]),)]
    return _narrowed(values, var.dtype)


def _narrowed(values: Any, dtype: Any) -> Any:
    """``values`` as ``dtype`` if that gives back the values they were made from (None if not)."""
    import numpy as np

    if values.dtype == dtype:
        return values
    if values.dtype.kind == "c" and dtype.kind != "c":
        return None
    if values.dtype.kind == "f" and dtype.kind in "biu":
        if not np.isfinite(values).all() or (np.abs(values) >= 2.0**53).any():
            return None  # past 2**53 a float no longer tells which integer it was
    with np.errstate(all="ignore"):
        back = values.astype(dtype)
        again = back.astype(values.dtype)
    same = np.array_equal(again, values, equal_nan=values.dtype.kind in "fc")
    return back if same else None
