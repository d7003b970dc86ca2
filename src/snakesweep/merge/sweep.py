"""Aggregate: run directories → one N-D Dataset (``sweep.nc``) and one run table (``runs.csv``).

It also writes the Dataset's rerun recording (``sweep.rrd``; see ``recording``) and the
summaries DVC shows (``metrics.json``, ``plots/``; see ``summaries``).

The Dataset's dimensions are the swept keys, named verbatim, with coordinates in domain
order. Each result is a data variable over those dimensions plus its own; ``run_id`` and
``status`` are variables over the swept dimensions, so every cell leads back to its run.
Cells of failed or pending runs are NaN (their ``status`` says which).

Reading is direct (``merge_runs``' default reader): the first ``result.nc`` of each HDF5
layout is read with ``xr.load_dataset``, so xarray decides what it holds (variables,
dims, dtypes, attributes, coordinates), and h5py tells where each variable's values lie
in the file; every further file whose bytes equal that one's outside those values is of
that layout, and its values are taken from its bytes. The arrays are assembled with
numpy, aligned as ``xr.align(join="outer")`` aligns them, and the Dataset is built once.
It is the Dataset the straightforward reader (``reader="xarray"``: ``xr.load_dataset``
per run, then ``_align``) builds; that one stays as the reference, and as the fallback
for what the direct reader leaves to it (see ``_Unsupported``).

Incremental: ``merge_index`` records which runs ``sweep.nc`` holds (run id, result
checksum, what the result holds besides its values). A merge takes the values of the
runs merged before and unchanged from that ``sweep.nc`` (read once), reads only the new
and changed runs, and decides everything else (variables, dtypes, own coordinates,
attributes) again from all of them, as a full merge does.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from snakesweep import store
from snakesweep.errors import NoSpaceError, RunFileError, SnakesweepError, first_line
from snakesweep.merge import alignment, freshness, summaries
from snakesweep.merge import index as merge_index
from snakesweep.merge.index import RunShape, VarShape
from snakesweep.planning.plan import Plan, load_plan
from snakesweep.provenance import record as provenance
from snakesweep.store import (
    MERGED,
    PLOTS,
    PROVENANCE,
    PROVENANCE_DIFF,
    RECORDING,
    RUNS_TABLE,
    SWEEP,
    SWEEP_INDEX,
)
from snakesweep.view import recording

ReaderName = Literal["direct", "xarray"]
"""How ``merge_runs`` reads the runs: directly, or with ``xr.load_dataset`` per run."""


def _load_datasets(results: str | os.PathLike[str], statuses: Mapping[str, str]
                   ) -> dict[str, Any]:
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
    _raise_unreadable(errors)
    return datasets


def _raise_unreadable(errors: list[RunFileError]) -> None:
    if errors:
        raise ExceptionGroup(f"{len(errors)} run result file(s) cannot be read", errors)


def merge_runs(plan: Plan, results: str | os.PathLike[str], reader: ReaderName = "direct",
               metas: Mapping[str, Mapping[str, Any] | None] | None = None) -> Any:
    """The sweep's Dataset, built from the run directories under ``results``.

    ``reader="xarray"`` reads every run with ``xr.load_dataset`` (the reference the direct
    reader is compared with); both give the same Dataset. ``metas``: each run's
    ``merge_index.slim`` meta, when the caller has read them already. A done run whose
    results cannot share the Dataset with the others' is left out, its status
    ``unmerged`` (see ``alignment``; ``unmerged_runs`` says why, once written).
    """
    return _merge(plan, results, reader, metas).dataset


UNMERGED = "unmerged"
"""The status, in ``sweep.nc`` and ``runs.csv``, of a done run the merge left out."""


@dataclass
class _Assembled:
    """The merged results: data variables and coordinates over the swept dims and their
    own, and the done runs left out, with why."""

    variables: dict[str, Any]
    coordinates: dict[str, Any]
    unmerged: dict[str, str]
    shapes: dict[str, RunShape] | None = None
    """Each merged run's shape, for the merge index (None: the reference reader merged)."""


@dataclass
class _Merged:
    dataset: Any
    shapes: dict[str, RunShape] | None
    """Each merged run's shape, for the merge index (None: the reference reader merged)."""
    unmerged: dict[str, str] = field(default_factory=dict)
    """The done runs left out of the Dataset, and why (in domain order)."""


def _merge(plan: Plan, results: str | os.PathLike[str], reader: ReaderName = "direct",
           metas: Mapping[str, Mapping[str, Any] | None] | None = None) -> _Merged:
    statuses = dict(store.run_statuses(results, plan.run_ids))
    if reader == "direct":
        try:
            assembled = _direct_variables(plan, results, statuses, metas)
        except _Unsupported:
            pass  # the reference reader merges it, or raises what it raises
        else:
            return _Merged(_dataset(plan, statuses, assembled), assembled.shapes,
                           assembled.unmerged)
    assembled = _reference_variables(plan, statuses, _load_datasets(results, statuses))
    return _Merged(_dataset(plan, statuses, assembled), None, assembled.unmerged)


def _taken(plan: Plan) -> set[str]:
    """The names a run's results may not use: those of the sweep's own variables."""
    return {*(d.name for d in plan.dims), *plan.coords,
            *((plan.launch or {}).get("labels") or {}), "run_id", "status"}


def _shape_of(ds: Any) -> RunShape:
    """What a run's result (as ``xr.load_dataset`` reads it) holds besides its values."""
    index = [str(k) for k, c in ds.coords.items() if c.dims == (k,)]
    variables = {str(n): VarShape(tuple(map(str, v.dims)), v.shape, v.dtype, dict(v.attrs))
                 for n, v in ds.data_vars.items()}
    variables.update({str(n): VarShape(tuple(map(str, c.dims)), c.shape, c.dtype,
                                       dict(c.attrs), coordinate=True)
                      for n, c in ds.coords.items() if str(n) not in index})
    return RunShape(variables, {d: _without_source(ds.variables[d]) for d in index})


def _reference_variables(plan: Plan, statuses: Mapping[str, str],
                         datasets: Mapping[str, Any]) -> _Assembled:
    """Each result over the swept dims and its own, from one Dataset per done run."""
    order = [r for r in plan.run_ids if r in datasets]
    shapes = {r: _shape_of(datasets[r]) for r in order}
    unmerged = alignment.disagreeing(order, shapes, _taken(plan))
    while True:
        kept = [r for r in order if r not in unmerged]
        variables, coordinates, inexact = _reference_arrays(plan, kept, shapes, datasets)
        if not inexact:
            break
        unmerged.update(inexact)
    return _Assembled(variables, coordinates, {r: unmerged[r] for r in order if r in unmerged})


def _reference_arrays(plan: Plan, kept: list[str], shapes: Mapping[str, RunShape],
                      datasets: Mapping[str, Any]
                      ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The variables and coordinates of the ``kept`` runs, placed by ``xr.align``; and the
    runs holding integers their variable's type cannot hold exactly."""
    import numpy as np
    import xarray as xr

    dims = [d.name for d in plan.dims]
    shape = tuple(len(d.values) for d in plan.dims)
    cells = [(p.index, p.run_id) for p in plan.points]
    sizes = alignment.padded_sizes([shapes[r] for r in kept])
    joined = alignment.joined_indexes([shapes[r] for r in kept])
    names = dict.fromkeys(n for r in kept for n in shapes[r].variables)
    variables: dict[str, Any] = {}
    coordinates: dict[str, Any] = {}
    inexact: dict[str, str] = {}
    for name in names:
        having = [r for r in kept if name in shapes[r].variables]
        arrays = {r: _positioned(datasets[r], name, sizes) for r in having}
        aligned = [_labelled(a, joined) for a in arrays.values()]
        template = aligned[0]
        dtype = np.result_type(*(a.dtype for a in aligned))
        if dtype.kind not in "biufc" and not shapes[having[0]].variables[name].coordinate:
            raise SnakesweepError(f"result {name!r} is not numeric ({dtype})")
        own = {k: v for k, v in template.coords.items() if k not in dims}
        attrs = template.attrs
        if shapes[having[0]].variables[name].coordinate and len(having) == len(kept) and all(
                _equal(a.values, template.values) for a in aligned[1:]):
            coordinates[name] = xr.DataArray(template.values.astype(dtype), dims=template.dims,
                                             coords=own, attrs=attrs)
            continue
        complete = all(r in arrays for _, r in cells)
        final, fill = (dtype, None) if complete else alignment.missing(dtype)
        for run_id in having:  # as the run holds them, before padding made them floats
            value = alignment.inexact(datasets[run_id].variables[name].values, final)
            if value is not None:
                inexact.setdefault(run_id, _inexact_reason(name, value, final))
        data = np.full(shape + template.shape, fill, dtype=final) if fill is not None \
            else np.empty(shape + template.shape, dtype=final)
        by_run = dict(zip(arrays, aligned, strict=True))
        for index, run_id in cells:
            if run_id in by_run:
                data[index] = by_run[run_id].values
        merged = xr.DataArray(data, dims=dims + list(template.dims), coords=own, attrs=attrs)
        (coordinates if shapes[having[0]].variables[name].coordinate else variables)[name] = \
            merged
    return variables, coordinates, inexact


def _positioned(ds: Any, name: str, sizes: Mapping[str, int]) -> Any:
    """One variable of a run's Dataset with the coordinates of its own dims only, padded
    along each dim without labels to ``sizes`` (as NaN, "" or NaT: ``alignment.missing``)."""
    import numpy as np
    import xarray as xr

    var = ds.variables[name]
    array = xr.DataArray(var, coords={d: ds.variables[d] for d in var.dims if d in ds.indexes},
                         name=name)
    short = {d: sizes[d] for d in var.dims if d not in ds.indexes and array.sizes[d] < sizes[d]}
    if short:
        fill = alignment.missing(array.dtype)[1]
        array = array.assign_coords({d: np.arange(array.sizes[d]) for d in short}).reindex(
            {d: np.arange(n) for d, n in short.items()}, fill_value=fill).drop_vars(list(short))
    return array


def _labelled(array: Any, joined: Mapping[str, Any]) -> Any:
    """``array`` reindexed (as ``xr.align`` reindexes it) along each labelled dim whose
    labels are not the union of every run's, ``joined``; its coordinates keep their
    attributes."""
    moves = {d: joined[d] for d in array.dims
             if d in array.xindexes and not array.xindexes[d].equals(joined[d])}
    if not moves:
        return array
    out = array.reindex({d: index.create_variables()[d] for d, index in moves.items()},
                        fill_value=alignment.missing(array.dtype)[1])
    for dim in moves:
        out[dim].attrs.update(array[dim].attrs)
        out[dim].encoding.update(_encoding_of(array[dim].variable, out[dim].dtype))
    return out


def _encoding_of(coord: Any, dtype: Any) -> dict[str, Any]:
    """A run's coordinate's encoding, for the union of every run's labels along its dim
    (of ``dtype``): all of it but the dtype it was stored as, when the union's differs
    (integer labels with a float among them: written as integers, 0.5 would be 0)."""
    return {k: v for k, v in coord.encoding.items() if k != "dtype" or coord.dtype == dtype}


def _equal(a: Any, b: Any) -> bool:
    """Whether two arrays hold the same values (NaN equal to NaN, NaT to NaT)."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fcmM" and b.dtype.kind in "fcmM":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _inexact_reason(name: str, value: Any, dtype: Any) -> str:
    return (f"its {name!r} holds {value}, which sweep.nc cannot hold exactly: {name!r} is "
            f"{dtype} there (a cell lacks it, it is padded or aligned, or runs hold it as "
            "other types)")


def _dataset(plan: Plan, statuses: Mapping[str, str], assembled: _Assembled) -> Any:
    """The Dataset of the results' variables and coordinates, with ``run_id``, ``status``
    (``unmerged`` for the runs left out) and the domain's coordinates."""
    import numpy as np
    import xarray as xr

    dims = [d.name for d in plan.dims]
    shape = tuple(len(d.values) for d in plan.dims)
    cells = [(p.index, p.run_id) for p in plan.points]
    run_ids = np.empty(shape, dtype=object)
    status = np.empty(shape, dtype=object)
    for index, run_id in cells:
        run_ids[index] = run_id
        status[index] = UNMERGED if run_id in assembled.unmerged else statuses[run_id]
    variables = dict(assembled.variables)
    variables["run_id"] = xr.DataArray(run_ids.astype(str), dims=dims)
    variables["status"] = xr.DataArray(status.astype(str), dims=dims)
    coords: dict[str, Any] = {d.name: (d.name, _coordinate_values(d.values)) for d in plan.dims}
    for key, values in ((plan.launch or {}).get("labels") or {}).items():  # along `job`
        coords[key] = (dims[0], _label_values([values[i] for (i,), _ in cells]))
    coords.update(_domain_coords(plan))
    # NetCDF forbids '/' in names: a nested config group `model/enc` becomes `model.enc`
    renames = {d: d.replace("/", ".") for d in (*dims, *coords) if "/" in d}
    # the results' coordinates are aligned with the results (outer join), then marked
    ds = xr.Dataset({**variables, **assembled.coordinates}, coords=coords).set_coords(
        list(assembled.coordinates)).rename(renames)
    for old, new in renames.items():
        ds[new].attrs["hydra_key"] = old
    return ds.assign_attrs(
        snakesweep_config_name=plan.config_name,
        snakesweep_overrides=" ".join(plan.overrides),
    )


class _Unsupported(Exception):
    """What the direct reader leaves to the reference reader, which merges it or raises
    what it raises: a result that is not numeric (the reference names it).

    Files it reads but not through a layout seen before (other attributes, other lengths,
    compressed, chunked or big-endian variables, strings) are each read with xarray and
    h5py, as a new layout: slower, never different.
    """


@dataclass
class _Part:
    """Runs of one shape, in domain order, with their values (one row per run)."""

    shape: RunShape
    runs: list[str]
    values: dict[str, Any]
    first: int
    """The domain position of the first run: the reference goes through runs in order."""


def _direct_variables(plan: Plan, results: str | os.PathLike[str], statuses: Mapping[str, str],
                      metas: Mapping[str, Mapping[str, Any] | None] | None) -> _Assembled:
    """Each result's DataArray as ``_reference_variables`` makes it, the runs left out and
    each merged run's shape; the runs ``merge_index`` says ``sweep.nc`` holds as they are
    now are not read."""
    done = [r for r in plan.run_ids if statuses[r] == "done"]
    position = {r: i for i, r in enumerate(plan.run_ids)}
    cells = _cells(plan)
    parts: list[_Part] = []
    unread = done
    previous = merge_index.previous(results, plan.layout_digest) if done else None
    if previous is not None:
        if metas is None:
            cache = merge_index.RunMetas(results)
            metas = cache.read(done)
            cache.save()
        shapes = {}
        for run_id in done:
            shape = previous.shape(run_id, (metas.get(run_id) or {}).get("result_sha256"))
            if shape is not None:
                shapes[run_id] = shape
        try:
            parts = _reused(plan, previous, shapes, cells, position)
        except Exception:  # noqa: BLE001 - sweep.nc is only a shortcut: read every run
            parts = []
        kept = {r for p in parts for r in p.runs}
        unread = [r for r in done if r not in kept]
    reader = _Reader()
    errors: list[RunFileError] = []
    runs_dir = os.fspath(store.runs_dir(results))
    for run_id in unread:
        path = os.path.join(runs_dir, run_id, store.RESULT)  # not a Path: 10,000 of them
        try:
            reader.add(run_id, path)
        except _Unsupported:
            raise
        except Exception as exc:  # noqa: BLE001 - as the reference reports them
            errors.append(RunFileError(run_id, str(path), first_line(exc)))
    _raise_unreadable(errors)
    parts.extend(reader.parts(position))
    shape_of = {r: p.shape for p in parts for r in p.runs}
    order = [r for r in plan.run_ids if r in shape_of]
    unmerged = alignment.disagreeing(order, shape_of, _taken(plan))
    while True:
        parts = _without(parts, unmerged, position)
        variables, coordinates, inexact = _assembled(plan, parts, cells)
        if not inexact:
            break
        unmerged.update(inexact)
    return _Assembled(variables, coordinates,
                      {r: unmerged[r] for r in order if r in unmerged},
                      {r: p.shape for p in parts for r in p.runs})


def _without(parts: list[_Part], runs: Collection[str], position: Mapping[str, int]
             ) -> list[_Part]:
    """``parts`` but ``runs``."""
    import numpy as np

    out = []
    for part in parts:
        keep = [r not in runs for r in part.runs]
        if all(keep):
            out.append(part)
        elif any(keep):
            rows = np.flatnonzero(keep)
            members = [part.runs[i] for i in rows]
            out.append(_Part(part.shape, members, {n: v[rows] for n, v in part.values.items()},
                             position[members[0]]))
    return out


def _cells(plan: Plan) -> dict[str, list[int]]:
    """The cells (flat positions in the swept dims) each run fills."""
    import numpy as np

    shape = tuple(len(d.values) for d in plan.dims)
    points = plan.points
    flat: list[int] = [0] * len(points)
    if shape:
        index = np.array([p.index for p in points], dtype=np.intp).reshape(len(points), -1)
        flat = np.asarray(np.ravel_multi_index(tuple(index.T), shape)).tolist()
    cells: dict[str, list[int]] = {}
    for p, cell in zip(points, flat, strict=True):
        cells.setdefault(p.run_id, []).append(cell)
    return cells


def _assembled(plan: Plan, parts: list[_Part], cells: Mapping[str, list[int]]
               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Each result and coordinate over the swept dims and its own, as the reference
    assembles it: names in the order runs first hold them, aligned as ``_labelled`` aligns
    them (padded along dims without labels), attributes and coordinates of the first run
    that holds them, the dtype of them all (float when a cell lacks the result); a
    coordinate equal in every run over its own dims only. And the runs holding integers
    their variable's type cannot hold exactly."""
    import numpy as np
    import xarray as xr

    dims = [d.name for d in plan.dims]
    shape = tuple(len(d.values) for d in plan.dims)
    ncells = int(np.prod(shape, dtype=np.int64))
    parts = sorted(parts, key=lambda p: p.first)
    sizes = alignment.padded_sizes([p.shape for p in parts])
    joined = alignment.joined_indexes([p.shape for p in parts])  # as runs first hold them
    names = dict.fromkeys(n for p in parts for n in p.shape.variables)
    runs = len(cells)
    kept = sum(len(p.runs) for p in parts)
    variables: dict[str, Any] = {}
    coordinates: dict[str, Any] = {}
    inexact: dict[str, str] = {}
    for name in names:
        having = [p for p in parts if name in p.shape.variables]
        first = having[0].shape.variables[name]
        coords, own_sizes, rows = _aligned(name, first.dims, having, sizes, joined)
        dtype = np.result_type(*(r.dtype for r in rows))
        if dtype.kind not in "biufc" and not first.coordinate:
            raise _Unsupported(name)
        count = sum(len(p.runs) for p in having)
        if first.coordinate and count == kept and all(
                _all_equal(r, rows[0][0]) for r in rows):
            coordinates[name] = xr.DataArray(rows[0][0].astype(dtype), dims=first.dims,
                                             coords=coords, attrs=first.attrs)
            continue
        final, fill = (dtype, None) if count == runs else alignment.missing(dtype)
        for part in having:
            if alignment.inexact(part.values[name], final) is None:
                continue
            for run_id, row in zip(part.runs, part.values[name], strict=True):
                value = alignment.inexact(row, final)
                if value is not None:
                    inexact.setdefault(run_id, _inexact_reason(name, value, final))
        data = np.full((ncells, *own_sizes), fill, dtype=final) if fill is not None \
            else np.empty((ncells, *own_sizes), dtype=final)
        for part, values in zip(having, rows, strict=True):
            where = [cells[r] for r in part.runs]
            if all(len(c) == 1 for c in where):
                data[[c[0] for c in where]] = values
            else:
                data[np.concatenate(where)] = np.repeat(values, [len(c) for c in where], axis=0)
        merged = xr.DataArray(data.reshape(shape + tuple(own_sizes)),
                              dims=dims + list(first.dims), coords=coords, attrs=first.attrs)
        (coordinates if first.coordinate else variables)[name] = merged
    return variables, coordinates, inexact


def _all_equal(rows: Any, row: Any) -> bool:
    """Whether every row of ``rows`` holds the values of ``row`` (NaN equal to NaN)."""
    import numpy as np

    rows, row = np.asarray(rows), np.asarray(row)
    if rows.shape[1:] != row.shape:
        return False
    with np.errstate(invalid="ignore"):
        same = rows == row
    if rows.dtype.kind in "fcmM" and row.dtype.kind in "fcmM":
        same |= np.isnan(rows) & np.isnan(row)
    return bool(np.all(same))


def _aligned(name: str, own: tuple[str, ...], having: list[_Part], padded: Mapping[str, int],
             joined: Mapping[str, Any]) -> tuple[dict[str, Any], list[int], list[Any]]:
    """One result's own coordinates, sizes and each part's rows after ``xr.align`` to the
    union of every run's labels (``joined``; ``_labelled``), each padded first along its
    dims without labels to their ``padded`` sizes.

    A run whose labels are the union's is not moved; the coordinate is the first run's,
    when it is not moved, else the union, with the first run's attributes; a run
    missing labels gets NaN (its dtype promoted as alignment promotes it; "" for text, NaT
    for times). ``alignment.disagreeing`` has left out the runs this cannot place.
    """
    import numpy as np

    coords: dict[str, Any] = {}
    sizes: list[int] = []
    moves: list[list[Any]] = [[None] * len(own) for _ in having]
    for axis, dim in enumerate(own):
        if dim not in having[0].shape.coords:  # by position: padded to the longest
            size = padded[dim]
            sizes.append(size)
            for k, part in enumerate(having):
                n = part.shape.variables[name].shape[axis]
                if n < size:
                    positions = np.arange(size)
                    moves[k][axis] = np.where(positions < n, positions, -1)
            continue
        target = joined[dim]
        indexes = [p.shape.index(dim) for p in having]
        sizes.append(len(target.index))
        if indexes[0].equals(target):  # the first run's array is not moved: its own labels
            coords[dim] = having[0].shape.coords[dim]
        else:
            coord = coords[dim] = target.create_variables()[dim]
            coord.attrs = dict(having[0].shape.coords[dim].attrs)  # each array its own
            coord.encoding = _encoding_of(having[0].shape.coords[dim], coord.dtype)
        for k, index in enumerate(indexes):
            if not index.equals(target):
                moves[k][axis] = index.reindex_like(target)[dim]
    rows = []
    for part, move in zip(having, moves, strict=True):
        values = np.asarray(part.values[name])
        fill: Any = np.nan
        if any(m is not None and (m < 0).any() for m in move):
            dtype, fill = alignment.missing(values.dtype)
            if math.prod(values.shape[1:]) == 0:  # nothing to place: all of it is fill,
                rows.append(np.full(  # of the fill's own type, as xarray makes it
                    (len(values), *(s if m is None else len(m)
                                    for s, m in zip(values.shape[1:], move, strict=True))),
                    fill))
                continue
            values = values.astype(dtype)
        for axis, m in enumerate(move):
            if m is None:
                continue
            missing = m < 0
            values = np.take(values, np.where(missing, 0, m), axis=axis + 1)
            if missing.any():
                values[(slice(None),) * (axis + 1) + (missing,)] = fill
        rows.append(values)
    return coords, sizes, rows


def _reused(plan: Plan, previous: merge_index.Previous, shapes: Mapping[str, RunShape],
            cells: Mapping[str, list[int]], position: Mapping[str, int]) -> list[_Part]:
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
                parts.append(_Part(shape, members, values, position[members[0]]))
    return parts


def _held(old: Any, arrays: dict[str, Any], name: str, var: VarShape, shape: RunShape,
          rows: list[int], swept: int) -> Any:
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
        if not np.isfinite(values).all() or (np.abs(values) >= 2.0 ** 53).any():
            return None  # past 2**53 a float no longer tells which integer it was
    with np.errstate(all="ignore"):
        back = values.astype(dtype)
        again = back.astype(values.dtype)
    same = np.array_equal(again, values, equal_nan=values.dtype.kind in "fc")
    return back if same else None


@dataclass
class _Span:
    """Where one variable's values lie in a file of a layout."""

    offset: int
    nbytes: int
    dtype: Any
    """As stored (int8 for a bool)."""
    shape: tuple[int, ...]
    boolean: bool

    def decode(self, raw: bytes, count: int = 1) -> Any:
        import numpy as np

        values = np.frombuffer(raw, dtype=self.dtype).reshape((count, *self.shape))
        return values != 0 if self.boolean else values


@dataclass(eq=False)
class _Layout:
    """One layout of result files: the shape of its first file, where its variables' values
    lie, and its bytes with those values zeroed (what another file of it equals)."""

    shape: RunShape
    size: int
    spans: list[_Span]
    masked: bytes
    slots: dict[str, int | None]
    """Data variable → its span, or None: its values are in no span, so they are the same in
    every file of this layout (``constants``)."""
    coord_slots: dict[str, int]
    constants: dict[str, Any]
    variants: dict[tuple[bytes, ...], RunShape] = field(default_factory=dict)

    def match(self, raw: bytes) -> tuple[RunShape, list[bytes]] | None:
        """The shape of a file of this layout and its values' bytes, or None if it is not one."""
        if len(raw) != self.size:
            return None
        work = bytearray(raw)
        pieces = []
        for span in self.spans:
            end = span.offset + span.nbytes
            pieces.append(raw[span.offset:end])
            work[span.offset:end] = bytes(span.nbytes)
        if work != self.masked:
            return None
        return self.variant(tuple(pieces[i] for i in self.coord_slots.values())), pieces

    def variant(self, coords: tuple[bytes, ...]) -> RunShape:
        """The shape of a file of this layout whose coordinates' bytes are ``coords``."""
        found = self.variants.get(coords)
        if found is None:
            import xarray as xr

            values = {d: self.spans[i].decode(raw)[0]
                      for (d, i), raw in zip(self.coord_slots.items(), coords, strict=True)}
            found = self.variants[coords] = RunShape(self.shape.variables, {
                d: xr.IndexVariable(d, values[d], attrs=dict(c.attrs), encoding=dict(c.encoding))
                if d in values else c for d, c in self.shape.coords.items()})
        return found

    @classmethod
    def parse(cls, path: str, raw: bytes) -> tuple[_Layout, list[bytes]]:
        """The layout of one file (read with xarray and h5py), and its values' bytes."""
        import xarray as xr

        ds = xr.load_dataset(path, engine=store.ENGINE)
        shape = _shape_of(ds)
        found = _spans(raw, ds)
        spans = [s for s in found.values() if s is not None]
        slot = {name: i for i, name in enumerate(n for n, s in found.items() if s is not None)}
        masked = bytearray(raw)
        for span in spans:
            masked[span.offset:span.offset + span.nbytes] = bytes(span.nbytes)
        layout = cls(shape, len(raw), spans, bytes(masked),
                     {n: slot.get(n) for n in shape.variables},
                     {d: slot[d] for d in shape.coords if d in slot},
                     {n: ds.variables[n].values for n in shape.variables if n not in slot})
        pieces = [raw[s.offset:s.offset + s.nbytes] for s in spans]
        layout.variants[tuple(pieces[i] for i in layout.coord_slots.values())] = shape
        return layout, pieces


def _without_source(var: Any) -> Any:
    """A coordinate variable as read, but for the file it was read from (so runs of one
    shape are one shape; ``to_netcdf`` ignores it)."""
    out = var.copy(deep=False)
    out.encoding = {k: v for k, v in var.encoding.items() if k != "source"}
    return out


_ENCODED = ("scale_factor", "add_offset", "missing_value", "_Unsigned", "units", "calendar")
_DIMENSION_ONLY = b"This is a netCDF dimension but not a netCDF variable"


def _spans(raw: bytes, ds: Any) -> dict[str, _Span | None]:
    """Where each variable's values lie in the file (None: not as plain bytes, decoded as
    they are stored, save a bool's int8, so they count as the layout's own bytes)."""
    import io

    import h5py

    spans: dict[str, _Span | None] = dict.fromkeys(map(str, ds.variables))
    try:
        h5 = h5py.File(io.BytesIO(raw), "r")
    except Exception:  # noqa: BLE001 - a file xarray reads: all of it is the layout's own
        return spans
    with h5:
        for name in spans:
            try:
                spans[name] = _span(h5, name, ds.variables[name], raw)
            except Exception:  # noqa: BLE001 - whatever h5py makes of it: the layout's own
                spans[name] = None
    return spans


def _span(h5: Any, name: str, var: Any, raw: bytes) -> _Span | None:
    import h5py
    import numpy as np

    encoding = var.encoding
    fill = encoding.get("_FillValue")
    if any(k in encoding for k in _ENCODED) or (
            fill is not None and not (isinstance(fill, float | np.floating) and np.isnan(fill))):
        return None  # decoding changes the values: masked, scaled, times
    obj = h5.get(name)
    dimension = obj.attrs.get("NAME") if isinstance(obj, h5py.Dataset) else None
    if not isinstance(obj, h5py.Dataset) or obj.shape != var.shape or (
            isinstance(dimension, bytes) and dimension.startswith(_DIMENSION_ONLY)):
        return None
    stored = obj.dtype
    boolean = var.dtype == bool and stored == np.int8 and encoding.get("dtype") == "bool"
    if not (boolean or stored == var.dtype) or stored.kind not in "biuf":
        return None
    plist = obj.id.get_create_plist()
    nbytes = stored.itemsize * var.size
    offset = obj.id.get_offset()
    if plist.get_layout() != h5py.h5d.CONTIGUOUS or plist.get_nfilters() or offset is None \
            or obj.id.get_storage_size() != nbytes or offset + nbytes > len(raw):
        return None
    span = _Span(offset, nbytes, stored, var.shape, boolean)
    decoded = span.decode(raw[offset:offset + nbytes])[0]
    if decoded.dtype != var.dtype or not np.array_equal(
            decoded, var.values, equal_nan=var.dtype.kind in "fc"):
        return None
    return span


class _Reader:
    """Reads result files through the layouts seen so far (a few kept per file size)."""

    KEPT = 4

    def __init__(self) -> None:
        self.layouts: dict[int, list[_Layout]] = {}
        self.groups: dict[tuple[int, int], tuple[_Layout, RunShape, list[str],
                                                 list[list[bytes]]]] = {}

    def add(self, run_id: str, path: str) -> None:
        with open(path, "rb") as f:
            raw = f.read()
        known = self.layouts.setdefault(len(raw), [])
        for layout in known:
            found = layout.match(raw)
            if found is not None:
                self._keep(run_id, layout, *found)
                return
        layout, pieces = _Layout.parse(path, raw)
        known.insert(0, layout)
        del known[self.KEPT:]
        self._keep(run_id, layout, layout.variant(
            tuple(pieces[i] for i in layout.coord_slots.values())), pieces)

    def _keep(self, run_id: str, layout: _Layout, shape: RunShape, pieces: list[bytes]) -> None:
        group = self.groups.get((id(layout), id(shape)))
        if group is None:
            group = self.groups[id(layout), id(shape)] = (layout, shape, [], [
                [] for _ in layout.spans])
        group[2].append(run_id)
        for column, piece in zip(group[3], pieces, strict=True):
            column.append(piece)

    def parts(self, position: Mapping[str, int]) -> list[_Part]:
        import numpy as np

        parts = []
        for layout, shape, runs, columns in self.groups.values():
            values = {}
            for name in shape.variables:
                slot = layout.slots[name]
                if slot is None:
                    constant = layout.constants[name]
                    values[name] = np.broadcast_to(constant, (len(runs), *constant.shape))
                else:
                    values[name] = layout.spans[slot].decode(b"".join(columns[slot]), len(runs))
            parts.append(_Part(shape, runs, values, position[runs[0]]))
        return parts


def _domain_coords(plan: Plan) -> dict[str, Any]:
    """The coordinates that lie along dimensions other than their own (``plan.coords``):
    each key's value at every cell of those dimensions, NaN or "" where a point lacks it."""
    import numpy as np

    out: dict[str, Any] = {}
    position = {d.name: i for i, d in enumerate(plan.dims)}
    for key, along in plan.coords.items():
        axes = [position[d] for d in along]
        shape = tuple(len(plan.dims[a].values) for a in axes)
        cells: dict[tuple[int, ...], Any] = {}
        for p in plan.points:
            cells.setdefault(tuple(p.index[a] for a in axes), p.params.get(key))
        flat = _label_values([cells.get(c) for c in np.ndindex(*shape)])
        out[key] = (tuple(along), flat.reshape(shape))
    return out


def run_table(plan: Plan, results: str | os.PathLike[str], dataset: Any,
              metas: Mapping[str, Mapping[str, Any] | None] | None = None) -> Any:
    """One row per run: run_id, status, duration, debug, commit, swept values, scalar results."""
    import pandas as pd

    swept = len(plan.dims)
    status = dataset["status"].values
    labels = [(name, coord.values) for name, coord in dataset.coords.items()  # along the
              if name not in dataset.dims and coord.dims == dataset["run_id"].dims]  # swept
    scalars = [(n, v.values) for n, v in dataset.data_vars.items()
               if n not in ("run_id", "status") and v.ndim == swept]
    rows = []
    for run_id in plan.run_ids:
        point = plan.point_of(run_id)
        index = point.index
        meta = (metas[run_id] if metas is not None else store.read_meta(results, run_id)) or {}
        record = meta.get("provenance") or {}
        row: dict[str, Any] = {"run_id": run_id, "status": str(status[index]),
                               "duration": meta.get("duration"),
                               "debug": record.get("debug"),
                               "commit": (record.get("git") or {}).get("commit")}
        row.update(point.params)
        for name, values in labels:
            row[name] = values[index].item()
        for name, values in scalars:
            row[name] = values[index]
        rows.append(row)
    return pd.DataFrame(rows)


def write_sweep(plan: Plan, results: str | os.PathLike[str]) -> tuple[Path, Path, Any]:
    """Merge the runs; write ``sweep.nc``, ``runs.csv``, ``sweep.rrd`` and the summaries.

    Nothing is written before the merge has succeeded. Every file is written aside first
    and all are renamed into place together, ``sweep.json`` last, so a merge that fails (a
    full disk: ``NoSpaceError``) leaves the merged files as they were, and nothing aside.
    Done runs the merge leaves out (``alignment``) are named in ``sweep.json``
    (``unmerged_runs``), with why. ``sweep.nc``, ``runs.csv`` and the summaries are the same
    bytes for the same runs, so DVC sees a change only when something changed (a recording
    holds ids of its own, so ``sweep.rrd`` differs by bytes but not by content). Then the
    merge index (``merge_index``), so that the next merge reads only the runs that changed.
    """
    cache = merge_index.RunMetas(results)
    metas = cache.read(plan.run_ids)
    record = sweep_record(results, metas)
    merged = _merge(plan, results, metas=metas)
    Path(results).mkdir(parents=True, exist_ok=True)  # no run has been written yet
    ds = merged.dataset.assign_attrs(provenance_attrs(record))
    table = run_table(plan, results, ds, metas)
    store.clear_asides(results, (*MERGED, PLOTS))
    try:
        with store.Staging(results) as staged:
            written = {
                SWEEP: staged.file(SWEEP, lambda tmp: ds.to_netcdf(tmp, engine=store.ENGINE),
                                   int(ds.nbytes)),
                RUNS_TABLE: staged.file(RUNS_TABLE, lambda tmp: table.to_csv(tmp, index=False)),
            }
            staged.data(RECORDING, recording_bytes(ds))
            summaries.stage_summaries(ds, staged)
            stage_provenance(record, results, staged)
            index = sweep_index(plan, results, table, freshness.staged_files(written),
                                merged.unmerged)
            staged.text(SWEEP_INDEX, json.dumps(index, indent=2) + "\n")
            staged.commit()
    except NoSpaceError as exc:
        raise NoSpaceError(exc.path, exc.free, MERGE_ADVICE) from exc.__cause__
    freshness.remember_files(results, index["files"])
    merge_index.save(results, plan.layout_digest,
                     None if merged.shapes is None else index["files"].get(SWEEP),
                     {r: ((metas.get(r) or {}).get("result_sha256"), shape)
                      for r, shape in (merged.shapes or {}).items()})
    cache.save()
    return Path(results, SWEEP), Path(results, RUNS_TABLE), table


MERGE_ADVICE = ("free some space on that disk, then run again to merge; the runs and the "
                "merged files are kept as they were")
"""What to do when a merge found the disk full."""


def sweep_record(results: str | os.PathLike[str],
                 metas: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any]:
    """``provenance.sweep_record`` of the runs, from their ``merge_index.slim`` metas and
    the newest run's whole ``meta.json``, the only one it reads more of."""
    record = provenance.sweep_record(metas)
    newest = record.get("newest_run")
    whole = store.read_meta(results, newest) if newest else None
    if whole is None:
        return record
    return provenance.sweep_record({**metas, str(newest): whole})


def provenance_attrs(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the Dataset's attributes say of its provenance (NetCDF attributes are flat)."""
    sweep = record["sweep"]
    return {
        "snakesweep_debug": int(bool(sweep["debug"])),
        "snakesweep_debug_runs": len(sweep["debug_runs"]),
        "snakesweep_git_commit": " ".join(sorted(record["runs"]["by_commit"])),
        "snakesweep_code": " ".join(sorted(record["runs"]["by_code"])),
    }


def write_provenance(record: Mapping[str, Any], results: str | os.PathLike[str]) -> None:
    """``provenance.json``, and beside it ``provenance.diff``: the newest run's working-tree
    diff (empty when its tree was clean)."""
    with store.Staging(results) as staged:
        stage_provenance(record, results, staged)
        staged.commit()


def stage_provenance(record: Mapping[str, Any], results: str | os.PathLike[str],
                     staged: store.Staging) -> None:
    """``write_provenance``'s files, written aside into ``staged``."""
    diff = ""
    newest = record.get("newest_run")
    name = (record.get("git") or {}).get("diff")
    if newest and name:
        try:
            diff = (store.run_dir(results, newest) / name).read_text(encoding="utf-8")
        except OSError:
            diff = ""
    staged.text(PROVENANCE_DIFF, diff)
    staged.text(PROVENANCE, json.dumps(record, indent=2) + "\n")


def write_recording(dataset: Any, path: Path) -> None:
    """Write the sweep's recording; a sweep with no numeric result gets a recording saying so."""
    data = recording_bytes(dataset)
    store.replace_with(path, lambda tmp: tmp.write_bytes(data), len(data))


def recording_bytes(dataset: Any) -> bytes:
    """The bytes of ``write_recording``'s file."""
    try:
        return recording.encode(dataset, application_id=recording_name(dataset))
    except recording.NothingToShow as exc:
        return recording.encode_note(f"Nothing to show: {exc.reason}.",
                                     application_id=recording_name(dataset))


def recording_name(dataset: Any) -> str:
    """The application id of a sweep's (or a history's) recording: the viewer keeps one
    layout per id."""
    kind = "history " if "snakesweep_history" in dataset.attrs else ""
    return f"snakesweep {kind}{dataset.attrs.get('snakesweep_config_name', 'sweep')}"


def sweep_index(plan: Plan, results: str | os.PathLike[str], table: Any,
                files: Mapping[str, Any] | None = None,
                unmerged: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What ``sweep.nc`` holds, readable without opening it: its merge key, layout, runs,
    and the done runs it leaves out (``unmerged``: run id → why), if any.

    ``files``: the sizes and sha256 of ``sweep.nc`` and ``runs.csv`` it records (see
    ``freshness``); by default, those of the files in ``results``.
    """
    statuses = {r: "done" if s == UNMERGED else s  # the key is of the runs, as they are
                for r, s in zip(table["run_id"], table["status"], strict=True)}
    counts = {s: int((table["status"] == s).sum()) for s in ("done", "failed", "pending")}
    index: dict[str, Any] = {
        "key": freshness.merge_key(plan, results, statuses),
        "files": dict(files) if files is not None else freshness.merged_files(results),
        "layout": plan.layout_digest,
        "config_name": plan.config_name,
        "overrides": list(plan.overrides),
        "dims": {d.name: list(d.values) for d in plan.dims},
        "points": len(plan.points),
        "runs": counts,
    }
    if unmerged:
        counts[UNMERGED] = len(unmerged)
        index[UNMERGED] = dict(unmerged)
    return index


def unmerged_runs(results: str | os.PathLike[str], plan: Plan | None = None) -> dict[str, str]:
    """The done runs the last merge left out of ``sweep.nc``, and why, as ``sweep.json``
    records them (of ``plan``'s layout, when given; {} when there is none)."""
    try:
        with open(Path(results, SWEEP_INDEX), encoding="utf-8") as f:
            index = json.load(f)
        found = index.get(UNMERGED) or {}
        if plan is not None and index.get("layout") != plan.layout_digest:
            return {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(r): str(why) for r, why in found.items()} if isinstance(found, dict) else {}


def _label_values(values: Sequence[Any]) -> Any:
    """A key's value per point as one array: numbers (NaN where unset) or text ("" where unset)."""
    import numpy as np

    given = [v for v in values if v is not None]
    if given and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given):
        return np.array([np.nan if v is None else v for v in values],
                        dtype=float if len(given) < len(values) else None)
    return np.array(["" if v is None else str(v) for v in values], dtype=str)


def _coordinate_values(values: Sequence[Any]) -> Any:
    """Coordinate labels as one NetCDF-friendly array: numbers stay numbers, mixed become text."""
    import numpy as np

    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values)
    return np.array([str(v) for v in values], dtype=str)


def main(argv: list[str] | None = None) -> int:
    """``python -m snakesweep.merge PLAN RESULTS``: write sweep.nc and runs.csv."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m snakesweep.merge PLAN RESULTS", file=sys.stderr)
        return 2
    try:
        sweep_path, _, table = write_sweep(load_plan(args[0]), args[1])
    except ExceptionGroup as group:
        print(f"snakesweep: {group.message}:", file=sys.stderr)
        for exc in group.exceptions:
            print(f"  {exc}", file=sys.stderr)
        print("snakesweep: move those run directories aside and run again to compute them "
              "again (in a DVC repository, `snakesweep pull` does both)", file=sys.stderr)
        return 2
    except SnakesweepError as exc:
        print(f"snakesweep: {exc}", file=sys.stderr)
        return 2
    counts = table["status"].value_counts().to_dict()
    unmerged = counts.get(UNMERGED, 0)
    print(f"snakesweep: merged {len(table)} runs ({counts.get('done', 0)} done, "
          f"{counts.get('failed', 0)} failed, {counts.get('pending', 0)} pending"
          f"{f', {unmerged} unmerged' if unmerged else ''}) into {sweep_path}",
          file=sys.stderr)
    for line in unmerged_lines(unmerged_runs(args[1]), sweep_path):
        print(line, file=sys.stderr)
    return 0


def unmerged_lines(unmerged: Mapping[str, str], sweep_path: str | os.PathLike[str],
                   most: int = 10) -> list[str]:
    """What a merge says of the done runs it left out: one line each (``most`` at most)."""
    lines = [f"snakesweep: run {r} is done but not in {sweep_path} (status {UNMERGED}): {why}"
             for r, why in list(unmerged.items())[:most]]
    if len(unmerged) > most:
        lines.append(f"snakesweep: and {len(unmerged) - most} more runs not in {sweep_path}; "
                     "`snakesweep status` lists them all")
    return lines


if __name__ == "__main__":
    sys.exit(main())
