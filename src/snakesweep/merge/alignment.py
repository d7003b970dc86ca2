"""Alignment: which done runs' results fit together in one Dataset, and how they are placed.

A merge puts every done run's results in its cells of ``sweep.nc``. What the runs hold
must agree for that: each name (a result, a coordinate that is no dimension's, a
dimension) must be the same kind of thing in every run that has it — a result over the
same dimensions, a dimension labelled in every run (by labels of one kind: numbers, text,
times) or in none. Where runs disagree, the form the most runs hold wins (the earliest
run in domain order breaks a tie) and the other runs are left out of the merge, each
with the reason (``disagreeing``). Also left out: a run whose result is not numbers,
whose names are those of the sweep's own (a swept key, a coordinate of the domain,
``run_id``, ``status``), whose labels repeat along a dimension other runs label
otherwise (it cannot be aligned), and one holding integers that its result's type in
``sweep.nc`` cannot hold exactly (``inexact``: a result becomes float where a cell lacks
it, where it is aligned or padded, or where runs hold it in types whose common type is
float; 2**64 - 1 has no float64).

Runs that agree are placed as ``xr.align(join="outer")`` places them: along a labelled
dimension by label (the union of the labels in every run, ``joined_indexes``; NaN where a
run lacks one); along a dimension without labels by position, each padded with NaN to the
longest (``padded_sizes``): positions 0..n-1 are its labels. A result some runs lack is NaN in
their cells. None of this reads a value but ``inexact``: it works on each run's
``merge_index.RunShape``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from snakesweep.merge.index import RunShape
from snakesweep.planning.plan import Plan

__all__ = [
    "Form",
    "disagreeing",
    "encoding_of",
    "forms",
    "inexact",
    "inexact_reason",
    "joined_indexes",
    "missing",
    "padded_sizes",
    "taken",
]

Form = tuple[Any, ...]
"""What a name is in one run: ``("result"|"coordinate", dims, kind)`` or
``("dimension", label kind or None)``, or both (a coordinate named like a dimension)."""


def _kind(dtype: Any, labels: bool = False) -> str:
    """The kind of values, as far as a merge tells them apart (``labels``: booleans are
    not numbers, as pandas unites labels)."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind == "b" and labels:
        return "booleans"
    if dtype.kind in "biufc":
        return "numbers"
    if dtype.kind in "USO":
        return "text"
    if dtype.kind in "Mm":
        return "times"
    return str(dtype)


def forms(shape: RunShape) -> dict[str, Form]:
    """Each name of a run's result, and what it is there."""
    out: dict[str, list[Any]] = {}
    for name, var in shape.variables.items():
        out.setdefault(name, []).append(
            ("coordinate" if var.coordinate else "result", var.dims, _kind(var.dtype))
        )
        for dim in var.dims:
            coord = shape.coords.get(dim)
            form = ("dimension", None if coord is None else _kind(coord.dtype, labels=True))
            if form not in out.setdefault(dim, []):
                out[dim].append(form)
    return {name: tuple(found) if len(found) > 1 else found[0] for name, found in out.items()}


def _said(form: Form, other: Form) -> str:
    """What ``form`` says, told apart from ``other`` (kinds only where they differ)."""
    if form and isinstance(form[0], tuple):
        return " and ".join(_said(f, other) for f in form)
    if form[0] == "dimension":
        return "a dimension " + (f"labelled by {form[1]}" if form[1] else "without labels")
    what, dims, kind = form
    kind = f" of {kind}" if len(other) != 3 or other[2] != kind else ""
    return (f"a {what} over {', '.join(map(repr, dims))}" if dims else f"a scalar {what}") + kind


def disagreeing(
    order: Sequence[str], shapes: Mapping[str, RunShape], taken: Collection[str]
) -> dict[str, str]:
    """The runs of ``order`` (domain order; each has a shape) whose results cannot share a
    Dataset with the others', and why (see the module's docstring). Runs of one shape
    (one object) are decided together: a sweep has few."""
    groups: dict[int, tuple[RunShape, list[str]]] = {}
    for run_id in order:
        groups.setdefault(id(shapes[run_id]), (shapes[run_id], []))[1].append(run_id)
    found = {k: forms(shape) for k, (shape, _) in groups.items()}
    reasons = _unfit(groups, found, taken)
    _outvoted(groups, found, reasons)
    _unalignable(groups, reasons)
    return {r: reasons[id(shapes[r])] for r in order if id(shapes[r]) in reasons}


def _unfit(
    groups: Mapping[int, tuple[RunShape, list[str]]],
    found: Mapping[int, Mapping[str, Form]],
    taken: Collection[str],
) -> dict[int, str]:
    """The groups whose results use a name of the sweep's own, or are not numbers; why."""
    reasons: dict[int, str] = {}
    for k, (shape, _) in groups.items():
        clash = [n for n in found[k] if n in taken]
        text = [
            n
            for n, v in shape.variables.items()
            if not v.coordinate and _kind(v.dtype) != "numbers"
        ]
        if clash:
            reasons[k] = (
                f"its result names {clash[0]!r}, which is a swept key, a "
                "coordinate of the domain or 'run_id'/'status'"
            )
        elif text:
            reasons[k] = f"its result {text[0]!r} is not numbers ({shape.variables[text[0]].dtype})"
    return reasons


def _outvoted(
    groups: Mapping[int, tuple[RunShape, list[str]]],
    found: Mapping[int, Mapping[str, Form]],
    reasons: dict[int, str],
) -> None:
    """Add to ``reasons`` the groups holding a name in another form than most runs do."""
    counts: dict[str, Counter[Form]] = {}
    for k, (_, runs) in groups.items():  # in the order of their first runs
        if k not in reasons:
            for name, form in found[k].items():
                counts.setdefault(name, Counter())[form] += len(runs)
    chosen = {n: c.most_common(1)[0][0] for n, c in counts.items()}  # ties: the first seen
    for k in groups:
        if k in reasons:
            continue
        for name, form in found[k].items():
            if form != chosen[name]:
                others = counts[name][chosen[name]]
                reasons[k] = (
                    f"{name!r} is {_said(form, chosen[name])} here, "
                    f"{_said(chosen[name], form)} in {others} other "
                    f"run{'s' if others > 1 else ''}"
                )
                break


def _unalignable(groups: Mapping[int, tuple[RunShape, list[str]]], reasons: dict[int, str]) -> None:
    """Add to ``reasons`` the groups whose labels repeat along a dimension other groups
    label otherwise."""
    kept = [k for k in groups if k not in reasons]
    for dim in dict.fromkeys(d for k in kept for d in groups[k][0].coords):
        having = [
            k
            for k in kept
            if dim in groups[k][0].coords
            and any(dim in v.dims for v in groups[k][0].variables.values())
        ]
        indexes = [groups[k][0].index(dim) for k in having]
        if all(i.equals(indexes[0]) for i in indexes[1:]):
            continue
        for k, index in zip(having, indexes, strict=True):
            if not index.index.is_unique:
                reasons[k] = (
                    f"its labels along {dim!r} repeat, and other runs label "
                    f"{dim!r} otherwise: it cannot be aligned with them"
                )


def taken(plan: Plan) -> set[str]:
    """The names a run's results may not use: those of the sweep's own variables."""
    return {
        *(d.name for d in plan.dims),
        *plan.coords,
        *((plan.launch or {}).get("labels") or {}),
        "run_id",
        "status",
    }


def padded_sizes(shapes: Sequence[RunShape]) -> dict[str, int]:
    """Each dimension without labels and its longest length in ``shapes``: every run's
    results along it are padded (NaN) to that length."""
    sizes: dict[str, int] = {}
    for shape in shapes:
        for var in shape.variables.values():
            for dim, n in zip(var.dims, var.shape, strict=True):
                if dim not in shape.coords:
                    sizes[dim] = max(sizes.get(dim, 0), n)
    return sizes


def joined_indexes(shapes: Sequence[RunShape]) -> dict[str, Any]:
    """Each labelled dimension of ``shapes`` (runs in domain order) and the union of its
    labels in them: ``xarray.indexes.PandasIndex.join`` of its distinct indexes in the
    order runs first hold them. Every result along it is aligned to that union, so all of
    them share one index."""
    found: dict[str, dict[Any, Any]] = {}
    seen: set[int] = set()
    for shape in shapes:
        if id(shape) in seen:
            continue
        seen.add(id(shape))
        used = {d for v in shape.variables.values() for d in v.dims}
        for dim in shape.coords:
            if dim in used:
                index = shape.index(dim)
                key = (str(index.index.dtype), tuple(index.index.tolist()))
                found.setdefault(dim, {}).setdefault(key, index)
    joined = {}
    for dim, distinct in found.items():
        indexes = iter(distinct.values())
        union = next(indexes)
        for index in indexes:
            if not union.equals(index):
                union = union.join(index, how="outer")
        joined[dim] = union
    return joined


def inexact(values: Any, dtype: Any) -> Any:
    """The first of ``values`` (one run's) that ``dtype`` cannot hold exactly, or None:
    only integers put in a float can be such (past 2**53 for a float64)."""
    import numpy as np

    values = np.asarray(values)
    dtype = np.dtype(dtype)
    if values.dtype.kind not in "iu" or dtype.kind not in "fc":
        return None
    digits = np.finfo(dtype).nmant + 1
    if values.dtype.itemsize * 8 - (values.dtype.kind == "i") <= digits:
        return None
    limit = 2**digits
    big = values > limit
    if values.dtype.kind == "i":
        big |= values < -limit
    for value in values[big].tolist():
        if int(np.real(dtype.type(value))) != value:
            return value
    return None


def inexact_reason(name: str, value: Any, dtype: Any) -> str:
    """Why a run holding ``value`` (``inexact``) in its ``name`` is left out."""
    return (
        f"its {name!r} holds {value}, which sweep.nc cannot hold exactly: {name!r} is "
        f"{dtype} there (a cell lacks it, it is padded or aligned, or runs hold it as "
        "other types)"
    )


def encoding_of(coord: Any, dtype: Any) -> dict[str, Any]:
    """A run's coordinate's encoding, for the union of every run's labels along its dim
    (of ``dtype``): all of it but the dtype it was stored as, when the union's differs
    (integer labels with a float among them: written as integers, 0.5 would be 0)."""
    return {k: v for k, v in coord.encoding.items() if k != "dtype" or coord.dtype == dtype}


def missing(dtype: Any) -> tuple[Any, Any]:
    """The dtype values of ``dtype`` take where some are missing, and what marks them: NaN
    for numbers (integers and booleans become floats, as alignment makes them), "" for
    text, NaT for times."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind in "USO":
        return dtype, ""
    if dtype.kind in "Mm":
        return dtype, np.array("NaT", dtype=dtype)[()]
    return np.result_type(dtype, np.nan), np.nan
