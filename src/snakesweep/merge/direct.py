"""The direct reader (``merge_runs``' default): the results' arrays assembled with numpy from
the runs' bytes, into what the reference reader (``reference``) builds.

The new and changed runs are read from their files (``layouts``); the runs merged before and
unchanged, from the ``sweep.nc`` that holds them (``reuse``). The arrays are assembled with
numpy, aligned as ``xr.align(join="outer")`` aligns them, and the Dataset is built once. What
depends on every run (the variables, their dtypes, their own coordinates, attributes) is
decided from all of them, as the reference decides it; what this reader leaves to the
reference it raises as ``Unsupported``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping
from typing import Any

from snakesweep import store
from snakesweep.errors import RunFileError, first_line
from snakesweep.merge import alignment
from snakesweep.merge import index as merge_index
from snakesweep.merge.layouts import Part, Reader
from snakesweep.merge.reference import Assembled, raise_unreadable
from snakesweep.merge.reuse import reused
from snakesweep.planning.plan import Plan

# numpy and xarray are imported in the functions that use them: the Snakefile and the CLI
# import the merge and need neither.

__all__ = ["Unsupported", "direct_variables"]


class Unsupported(Exception):
    """What the direct reader leaves to the reference reader, which merges it or raises
    what it raises: a result that is not numeric (the reference names it).

    Files it reads but not through a layout seen before are each read as a new layout
    (``layouts``): slower, never different.
    """


def direct_variables(
    plan: Plan,
    results: str | os.PathLike[str],
    statuses: Mapping[str, str],
    metas: Mapping[str, Mapping[str, Any] | None] | None,
) -> Assembled:
    """Each result's DataArray as ``reference.reference_variables`` makes it, the runs left
    out and each merged run's shape; the runs ``merge_index`` says ``sweep.nc`` holds as they
    are now are not read."""
    done = [r for r in plan.run_ids if statuses[r] == "done"]
    position = {r: i for i, r in enumerate(plan.run_ids)}
    cells = _cells(plan)
    parts = _previous_parts(plan, results, done, metas, cells, position) if done else []
    kept = {r for p in parts for r in p.runs}
    parts.extend(_read(results, [r for r in done if r not in kept], position))
    shape_of = {r: p.shape for p in parts for r in p.runs}
    order = [r for r in plan.run_ids if r in shape_of]
    unmerged = alignment.disagreeing(order, shape_of, alignment.taken(plan))
    while True:
        parts = _without(parts, unmerged, position)
        variables, coordinates, inexact = _assembled(plan, parts, cells)
        if not inexact:
            break
        unmerged.update(inexact)
    return Assembled(
        variables,
        coordinates,
        {r: unmerged[r] for r in order if r in unmerged},
        {r: p.shape for p in parts for r in p.runs},
    )


def _previous_parts(
    plan: Plan,
    results: str | os.PathLike[str],
    done: list[str],
    metas: Mapping[str, Mapping[str, Any] | None] | None,
    cells: Mapping[str, list[int]],
    position: Mapping[str, int],
) -> list[Part]:
    """The done runs ``sweep.nc`` holds as they are now, with their values from there
    (none without a merge index for this layout)."""
    previous = merge_index.previous(results, plan.layout_digest)
    if previous is None:
        return []
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
        return reused(plan, previous, shapes, cells, position)
    except Exception:  # noqa: BLE001 - sweep.nc is only a shortcut: read every run
        return []


def _read(
    results: str | os.PathLike[str], unread: list[str], position: Mapping[str, int]
) -> list[Part]:
    """The runs ``unread``, read from their result files; every unreadable one raised at
    once."""
    reader = Reader()
    errors: list[RunFileError] = []
    runs_dir = os.fspath(store.runs_dir(results))
    for run_id in unread:
        path = os.path.join(runs_dir, run_id, store.RESULT)  # not a Path: 10,000 of them
        try:
            reader.add(run_id, path)
        except Unsupported:
            raise
        except Exception as exc:  # noqa: BLE001 - as the reference reports them
            errors.append(RunFileError(run_id, str(path), first_line(exc)))
    raise_unreadable(errors)
    return reader.parts(position)


def _without(parts: list[Part], runs: Collection[str], position: Mapping[str, int]) -> list[Part]:
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
            out.append(
                Part(
                    part.shape,
                    members,
                    {n: v[rows] for n, v in part.values.items()},
                    position[members[0]],
                )
            )
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


def _assembled(
    plan: Plan, parts: list[Part], cells: Mapping[str, list[int]]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Each result and coordinate over the swept dims and its own, as the reference
    assembles it: names in the order runs first hold them, aligned as
    ``reference._labelled`` aligns them (padded along dims without labels), attributes and
    coordinates of the first run that holds them, the dtype of them all (float when a cell
    lacks the result); a coordinate equal in every run over its own dims only. And the runs
    holding integers their variable's type cannot hold exactly."""
    parts = sorted(parts, key=lambda p: p.first)
    sizes = alignment.padded_sizes([p.shape for p in parts])
    joined = alignment.joined_indexes([p.shape for p in parts])  # as runs first hold them
    names = dict.fromkeys(n for p in parts for n in p.shape.variables)
    kept = sum(len(p.runs) for p in parts)
    variables: dict[str, Any] = {}
    coordinates: dict[str, Any] = {}
    inexact: dict[str, str] = {}
    for name in names:
        having = [p for p in parts if name in p.shape.variables]
        coords, own_sizes, rows = _aligned(
            name, having[0].shape.variables[name].dims, having, sizes, joined
        )
        coordinate, merged, wrong = _result(
            plan, name, having, coords, own_sizes, rows, kept, cells
        )
        for run_id, why in wrong.items():
            inexact.setdefault(run_id, why)
        (coordinates if coordinate else variables)[name] = merged
    return variables, coordinates, inexact


def _result(
    plan: Plan,
    name: str,
    having: list[Part],
    coords: dict[str, Any],
    own_sizes: list[int],
    rows: list[Any],
    kept: int,
    cells: Mapping[str, list[int]],
) -> tuple[bool, Any, dict[str, str]]:
    """One result (or coordinate: True) as a DataArray, from the aligned ``rows`` of the
    parts ``having`` it; and the runs holding integers its type cannot hold exactly."""
    import numpy as np
    import xarray as xr

    first = having[0].shape.variables[name]
    dtype = np.result_type(*(r.dtype for r in rows))
    if dtype.kind not in "biufc" and not first.coordinate:
        raise Unsupported(name)
    count = sum(len(p.runs) for p in having)
    if first.coordinate and count == kept and all(_all_equal(r, rows[0][0]) for r in rows):
        return (
            True,
            xr.DataArray(
                rows[0][0].astype(dtype), dims=first.dims, coords=coords, attrs=first.attrs
            ),
            {},
        )
    final, fill = (dtype, None) if count == len(cells) else alignment.missing(dtype)
    shape = tuple(len(d.values) for d in plan.dims)
    data = _filled(shape, own_sizes, final, fill, having, rows, cells)
    return (
        first.coordinate,
        xr.DataArray(
            data,
            dims=[d.name for d in plan.dims] + list(first.dims),
            coords=coords,
            attrs=first.attrs,
        ),
        _inexact(name, having, final),
    )


def _inexact(name: str, having: list[Part], final: Any) -> dict[str, str]:
    """The runs of ``having`` whose ``name`` holds integers ``final`` cannot hold exactly."""
    out: dict[str, str] = {}
    for part in having:
        if alignment.inexact(part.values[name], final) is None:
            continue
        for run_id, row in zip(part.runs, part.values[name], strict=True):
            value = alignment.inexact(row, final)
            if value is not None:
                out.setdefault(run_id, alignment.inexact_reason(name, value, final))
    return out


def _filled(
    shape: tuple[int, ...],
    own_sizes: list[int],
    final: Any,
    fill: Any,
    having: list[Part],
    rows: list[Any],
    cells: Mapping[str, list[int]],
) -> Any:
    """One result over the swept dims (``shape``) and its own: each part's rows in their
    runs' cells, ``fill`` (None: every cell is some run's) in the others."""
    import numpy as np

    ncells = int(np.prod(shape, dtype=np.int64))
    data = (
        np.full((ncells, *own_sizes), fill, dtype=final)
        if fill is not None
        else np.empty((ncells, *own_sizes), dtype=final)
    )
    for part, values in zip(having, rows, strict=True):
        where = [cells[r] for r in part.runs]
        if all(len(c) == 1 for c in where):
            data[[c[0] for c in where]] = values
        else:
            data[np.concatenate(where)] = np.repeat(values, [len(c) for c in where], axis=0)
    return data.reshape(shape + tuple(own_sizes))


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


def _aligned(
    name: str,
    own: tuple[str, ...],
    having: list[Part],
    padded: Mapping[str, int],
    joined: Mapping[str, Any],
) -> tuple[dict[str, Any], list[int], list[Any]]:
    """One result's own coordinates, sizes and each part's rows after ``xr.align`` to the
    union of every run's labels (``joined``; ``reference._labelled``), each padded first
    along its dims without labels to their ``padded`` sizes.

    A run whose labels are the union's is not moved; the coordinate is the first run's,
    when it is not moved, else the union, with the first run's attributes; a run
    missing labels gets NaN (its dtype promoted as alignment promotes it; "" for text, NaT
    for times). ``alignment.disagreeing`` has left out the runs this cannot place.
    """
    import numpy as np

    coords, sizes, moves = _moves(name, own, having, padded, joined)
    return (
        coords,
        sizes,
        [
            _moved(np.asarray(part.values[name]), move)
            for part, move in zip(having, moves, strict=True)
        ],
    )


def _moves(
    name: str,
    own: tuple[str, ...],
    having: list[Part],
    padded: Mapping[str, int],
    joined: Mapping[str, Any],
) -> tuple[dict[str, Any], list[int], list[list[Any]]]:
    """``_aligned``'s coordinates and sizes, and for each part and own dim where each
    position takes its value from (-1: none; None: it is not moved)."""
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
            coord.encoding = alignment.encoding_of(having[0].shape.coords[dim], coord.dtype)
        for k, index in enumerate(indexes):
            if not index.equals(target):
                moves[k][axis] = index.reindex_like(target)[dim]
    return coords, sizes, moves


def _moved(values: Any, move: list[Any]) -> Any:
    """One part's rows moved along each own dim as ``move`` says (``_moves``)."""
    import numpy as np

    fill: Any = np.nan
    if any(m is not None and (m < 0).any() for m in move):
        dtype, fill = alignment.missing(values.dtype)
        if math.prod(values.shape[1:]) == 0:  # nothing to place: all of it is fill,
            return np.full(  # of the fill's own type, as xarray makes it
                (
                    len(values),
                    *(
                        s if m is None else len(m)
                        for s, m in zip(values.shape[1:], move, strict=True)
                    ),
                ),
                fill,
            )
        values = values.astype(dtype)
    for axis, m in enumerate(move):
        if m is None:
            continue
        missing = m < 0
        values = np.take(values, np.where(missing, 0, m), axis=axis + 1)
        if missing.any():
            values[(slice(None),) * (axis + 1) + (missing,)] = fill
    return values
