"""The reference reader: each done run's ``result.nc`` read with ``xr.load_dataset``, its
results aligned as ``xr.align(join="outer")`` aligns them.

It is the straightforward reader (``merge_runs(reader="xarray")``), kept as the reference the
direct reader (``direct``) is compared with, and as the fallback for what that one leaves to
it (``direct.Unsupported``). Both hand the Dataset's builder (``dataset``) an ``Assembled``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snakesweep import store
from snakesweep.errors import RunFileError, SnakesweepError, first_line
from snakesweep.merge import alignment
from snakesweep.merge.index import RunShape
from snakesweep.planning.plan import Plan

# numpy and xarray are imported in the functions that use them: the Snakefile and the CLI
# import the merge and need neither.

__all__ = ["Assembled", "load_datasets", "raise_unreadable", "reference_variables"]


@dataclass
class Assembled:
    """The merged results: data variables and coordinates over the swept dims and their
    own, and the done runs left out, with why."""

    variables: dict[str, Any]
    coordinates: dict[str, Any]
    unmerged: dict[str, str]
    shapes: dict[str, RunShape] | None = None
    """Each merged run's shape, for the merge index (None: the reference reader merged)."""


def raise_unreadable(errors: list[RunFileError]) -> None:
    """Raise every run file that cannot be read at once (an ``ExceptionGroup``), if any."""
    if errors:
        raise ExceptionGroup(f"{len(errors)} run result file(s) cannot be read", errors)


def load_datasets(results: str | os.PathLike[str], statuses: Mapping[str, str]) -> dict[str, Any]:
    """Each done run's ``result.nc``, read with ``xr.load_dataset``."""
    import xarray as xr

    datasets: dict[str, Any] = {}
    errors: list[RunFileError] = []
    for run_id, status in statuses.items():
        if status != "done":
            continue
        path = store.result_path(results, run_id)
        try:
            datasets[run_id] = xr.load_dataset(path, engine=store.ENGINE)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported below
            errors.append(RunFileError(run_id, str(path), first_line(exc)))
    raise_unreadable(errors)
    return datasets


def reference_variables(plan: Plan, datasets: Mapping[str, Any]) -> Assembled:
    """Each result over the swept dims and its own, from one Dataset per done run."""
    order = [r for r in plan.run_ids if r in datasets]
    shapes = {r: RunShape.of(datasets[r]) for r in order}
    unmerged = alignment.disagreeing(order, shapes, alignment.taken(plan))
    while True:
        kept = [r for r in order if r not in unmerged]
        variables, coordinates, inexact = _reference_arrays(plan, kept, shapes, datasets)
        if not inexact:
            break
        unmerged.update(inexact)
    return Assembled(variables, coordinates, {r: unmerged[r] for r in order if r in unmerged})


def _reference_arrays(
    plan: Plan, kept: list[str], shapes: Mapping[str, RunShape], datasets: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The variables and coordinates of the ``kept`` runs, placed by ``xr.align``; and the
    runs holding integers their variable's type cannot hold exactly."""
    import numpy as np

    dims = [d.name for d in plan.dims]
    sizes = alignment.padded_sizes([shapes[r] for r in kept])
    joined = alignment.joined_indexes([shapes[r] for r in kept])
    names = dict.fromkeys(n for r in kept for n in shapes[r].variables)
    variables: dict[str, Any] = {}
    coordinates: dict[str, Any] = {}
    inexact: dict[str, str] = {}
    for name in names:
        having = [r for r in kept if name in shapes[r].variables]
        coordinate = shapes[having[0]].variables[name].coordinate
        aligned = {r: _labelled(_positioned(datasets[r], name, sizes), joined) for r in having}
        arrays = list(aligned.values())
        dtype = np.result_type(*(a.dtype for a in arrays))
        if dtype.kind not in "biufc" and not coordinate:
            raise SnakesweepError(f"result {name!r} is not numeric ({dtype})")
        if (
            coordinate
            and len(having) == len(kept)
            and all(_equal(a.values, arrays[0].values) for a in arrays[1:])
        ):
            coordinates[name] = _shared(arrays[0], dtype, dims)
            continue
        merged, wrong = _over_cells(plan, name, aligned, dtype, datasets)
        for run_id, why in wrong.items():
            inexact.setdefault(run_id, why)
        (coordinates if coordinate else variables)[name] = merged
    return variables, coordinates, inexact


def _shared(template: Any, dtype: Any, dims: list[str]) -> Any:
    """A coordinate every run holds alike: over its own dims only."""
    import xarray as xr

    own = {k: v for k, v in template.coords.items() if k not in dims}
    return xr.DataArray(
        template.values.astype(dtype), dims=template.dims, coords=own, attrs=template.attrs
    )


def _over_cells(
    plan: Plan, name: str, aligned: Mapping[str, Any], dtype: Any, datasets: Mapping[str, Any]
) -> tuple[Any, dict[str, str]]:
    """One result (aligned, by run) over the swept dims and its own: NaN (or "", NaT) in
    the cells of runs that lack it; and the runs whose values its type cannot hold."""
    import numpy as np
    import xarray as xr

    dims = [d.name for d in plan.dims]
    shape = tuple(len(d.values) for d in plan.dims)
    cells = [(p.index, p.run_id) for p in plan.points]
    template = next(iter(aligned.values()))
    complete = all(r in aligned for _, r in cells)
    final, fill = (dtype, None) if complete else alignment.missing(dtype)
    inexact: dict[str, str] = {}
    for run_id in aligned:  # as the run holds them, before padding made them floats
        value = alignment.inexact(datasets[run_id].variables[name].values, final)
        if value is not None:
            inexact[run_id] = alignment.inexact_reason(name, value, final)
    data = (
        np.full(shape + template.shape, fill, dtype=final)
        if fill is not None
        else np.empty(shape + template.shape, dtype=final)
    )
    for index, run_id in cells:
        if run_id in aligned:
            data[index] = aligned[run_id].values
    own = {k: v for k, v in template.coords.items() if k not in dims}
    return xr.DataArray(
        data, dims=dims + list(template.dims), coords=own, attrs=template.attrs
    ), inexact


def _positioned(ds: Any, name: str, sizes: Mapping[str, int]) -> Any:
    """One variable of a run's Dataset with the coordinates of its own dims only, padded
    along each dim without labels to ``sizes`` (as NaN, "" or NaT: ``alignment.missing``)."""
    import numpy as np
    import xarray as xr

    var = ds.variables[name]
    array = xr.DataArray(
        var, coords={d: ds.variables[d] for d in var.dims if d in ds.indexes}, name=name
    )
    short = {d: sizes[d] for d in var.dims if d not in ds.indexes and array.sizes[d] < sizes[d]}
    if short:
        fill = alignment.missing(array.dtype)[1]
        array = (
            array.assign_coords({d: np.arange(array.sizes[d]) for d in short})
            .reindex({d: np.arange(n) for d, n in short.items()}, fill_value=fill)
            .drop_vars(list(short))
        )
    return array


def _labelled(array: Any, joined: Mapping[str, Any]) -> Any:
    """``array`` reindexed (as ``xr.align`` reindexes it) along each labelled dim whose
    labels are not the union of every run's, ``joined``; its coordinates keep their
    attributes."""
    moves = {
        d: joined[d]
        for d in array.dims
        if d in array.xindexes and not array.xindexes[d].equals(joined[d])
    }
    if not moves:
        return array
    out = array.reindex(
        {d: index.create_variables()[d] for d, index in moves.items()},
        fill_value=alignment.missing(array.dtype)[1],
    )
    for dim in moves:
        out[dim].attrs.update(array[dim].attrs)
        out[dim].encoding.update(alignment.encoding_of(array[dim].variable, out[dim].dtype))
    return out


def _equal(a: Any, b: Any) -> bool:
    """Whether two arrays hold the same values (NaN equal to NaN, NaT to NaT)."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fcmM" and b.dtype.kind in "fcmM":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))
