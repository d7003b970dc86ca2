"""Whether ``sweep.nc`` holds what the runs returned: each done run's every value (results and
coordinates) exactly, at each of its cells, where its labels or positions say; NaN (or "",
NaT) everywhere else in those cells and in the cells of runs that are not merged; and every
done run left out named, with why, in ``sweep.json``. Used by the fault suite (its "wrong
values merged" count) and by the property test of the merge."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from snakesweep import store


def misplaced(results: Path, sweeps_own: frozenset[str] = frozenset()) -> dict[str, str]:
    """Each run whose values ``sweep.nc`` does not hold faithfully, and what is wrong.
    ``sweeps_own``: coordinates of the domain (not of any run's results)."""
    index = json.loads((results / "sweep.json").read_text())
    named = index.get("unmerged", {})
    wrong: dict[str, str] = {}
    with xr.open_dataset(results / "sweep.nc", engine=store.ENGINE) as opened:
        ds = opened.load()
    swept = ds["run_id"].dims
    ids = ds["run_id"].values
    status = ds["status"].values
    statuses = store.run_statuses(results, sorted(set(ids.ravel().tolist())))
    names = [
        str(n)
        for n in (*ds.data_vars, *ds.coords)
        if n not in ("run_id", "status") and n not in ds.indexes and n not in sweeps_own
    ]
    for cell in np.ndindex(ids.shape):
        run_id, state = str(ids[cell]), str(status[cell])
        where = dict(zip(swept, cell, strict=True))
        if state == "done":
            found = _check_run(ds, where, results, run_id, names)
            if found:
                wrong.setdefault(run_id, found)
            continue
        if statuses[run_id] == "done" and not (state == "unmerged" and named.get(run_id)):
            wrong.setdefault(run_id, f"done, but {state!r} in sweep.nc and not named")
        for name in names:
            if set(swept) & set(ds[name].dims) and not _missing(_at(ds[name], where).values):
                wrong.setdefault(run_id, f"a {state} run, yet {name!r} holds values")
    return wrong


def _at(var: xr.DataArray, where: dict[str, int]) -> xr.DataArray:
    return var.isel({d: i for d, i in where.items() if d in var.dims})


def _check_run(
    ds: xr.Dataset, where: dict[str, int], results: Path, run_id: str, names: list[str]
) -> str | None:
    own = xr.load_dataset(store.result_path(results, run_id), engine=store.ENGINE)
    held = [str(n) for n in (*own.data_vars, *own.coords) if n not in own.indexes]
    for name in held:
        if name not in ds.variables:
            return f"{name!r} is not in sweep.nc"
        got, want = _at(ds[name], where), own[name]
        if got.dims != want.dims:
            return f"{name!r} is over {got.dims} in sweep.nc, {want.dims} in the run"
        for dim in want.dims:
            if dim in own.indexes:  # by label
                labels, there = own.indexes[dim], got.indexes.get(dim)
                if there is None or not labels.isin(there).all():
                    return f"{name!r}: labels along {dim!r} are not all in sweep.nc"
                if there.equals(labels):  # nothing aligned (labels may repeat)
                    continue
                rest = got.drop_sel({dim: labels})
                got = got.sel({dim: labels})
            else:  # by position
                rest = got.isel({dim: slice(want.sizes[dim], None)})
                got = got.isel({dim: slice(0, want.sizes[dim])})
            if not _missing(rest.values):
                return f"{name!r}: values beyond the run's own along {dim!r}"
        mismatch = _first_difference(want.values, got.values)
        if mismatch is not None:
            return f"{name!r}: the run holds {mismatch[0]!r}, sweep.nc {mismatch[1]!r}"
    for name in names:
        if (
            name not in held
            and set(where) & set(ds[name].dims)
            and not _missing(_at(ds[name], where).values)
        ):
            return f"{name!r} holds values at a cell whose run has none"
    return None


def _is_missing(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, complex):
        return math.isnan(value.real) or math.isnan(value.imag)
    if isinstance(value, (str, bytes)):
        return value in ("", b"")
    return value is None or (isinstance(value, np.datetime64) and np.isnat(value))


def _missing(values: Any) -> bool:
    array = np.asarray(values)
    if array.dtype.kind in "Mm":
        return bool(np.isnat(array).all())
    return all(_is_missing(v) for v in array.ravel().tolist())


def _first_difference(want: Any, got: Any) -> tuple[Any, Any] | None:
    """The first pair of values that differ (exactly: an integer and the float nearest it
    differ; NaN equals NaN), or None."""
    want, got = np.asarray(want), np.asarray(got)
    if want.shape != got.shape:
        return (want.shape, got.shape)
    if want.dtype.kind in "Mm" or got.dtype.kind in "Mm":
        same = (want == got) | (np.isnat(want) & np.isnat(got))
        return None if same.all() else (want[~same][0], got[~same][0])
    for a, b in zip(want.ravel().tolist(), got.ravel().tolist(), strict=True):
        if isinstance(a, bytes):
            a = a.decode()
        if isinstance(b, bytes):
            b = b.decode()
        if not (a == b or (_nan(a) and _nan(b))):
            return (a, b)
    return None


def _nan(value: Any) -> bool:
    return isinstance(value, (float, complex)) and _is_missing(value)
