"""The runs → one N-D Dataset: ``merge_runs``.

The Dataset's dimensions are the swept keys, named verbatim, with coordinates in domain
order. Each result is a data variable over those dimensions plus its own; ``run_id`` and
``status`` are variables over the swept dimensions, so every cell leads back to its run.
Cells of failed or pending runs are NaN (their ``status`` says which); a done run whose
results cannot share the Dataset with the others' is left out, its status ``unmerged``
(``alignment``).

The results are read directly (``direct``: from the runs' bytes, and from the ``sweep.nc``
merged before for the runs unchanged since), or by the reference reader (``reference``:
``xr.load_dataset`` per run), which the direct one is compared with and falls back on; both
give the same Dataset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from snakesweep import store
from snakesweep.merge.direct import Unsupported, direct_variables
from snakesweep.merge.index import RunShape
from snakesweep.merge.reference import Assembled, load_datasets, reference_variables
from snakesweep.planning.plan import Plan

# numpy and xarray are imported in the functions that use them: the Snakefile and the CLI
# import the merge and need neither.

__all__ = ["UNMERGED", "Merged", "ReaderName", "merge_runs", "merged"]

ReaderName = Literal["direct", "xarray"]
"""How ``merge_runs`` reads the runs: directly, or with ``xr.load_dataset`` per run."""
UNMERGED = "unmerged"
"""The status, in ``sweep.nc`` and ``runs.csv``, of a done run the merge left out."""


def merge_runs(
    plan: Plan,
    results: str | os.PathLike[str],
    reader: ReaderName = "direct",
    metas: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> Any:
    """The sweep's Dataset, built from the run directories under ``results``.

    ``reader="xarray"`` reads every run with ``xr.load_dataset`` (the reference the direct
    reader is compared with); both give the same Dataset. ``metas``: each run's
    ``merge_index.slim`` meta, when the caller has read them already. A done run whose
    results cannot share the Dataset with the others' is left out, its status
    ``unmerged`` (see ``alignment``; ``unmerged_runs`` says why, once written).
    """
    return merged(plan, results, reader, metas).dataset


@dataclass
class Merged:
    """What ``merged`` made of the runs: their Dataset, and what the merge index keeps."""

    dataset: Any
    shapes: dict[str, RunShape] | None
    """Each merged run's shape, for the merge index (None: the reference reader merged)."""
    unmerged: dict[str, str] = field(default_factory=dict)
    """The done runs left out of the Dataset, and why (in domain order)."""


def merged(
    plan: Plan,
    results: str | os.PathLike[str],
    reader: ReaderName = "direct",
    metas: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> Merged:
    """``merge_runs``' Dataset, with each merged run's shape and the runs left out."""
    statuses = dict(store.run_statuses(results, plan.run_ids))
    if reader == "direct":
        try:
            assembled = direct_variables(plan, results, statuses, metas)
        except Unsupported:
            pass  # the reference reader merges it, or raises what it raises
        else:
            return Merged(_dataset(plan, statuses, assembled), assembled.shapes, assembled.unmerged)
    assembled = reference_variables(plan, load_datasets(results, statuses))
    return Merged(_dataset(plan, statuses, assembled), None, assembled.unmerged)


def _dataset(plan: Plan, statuses: Mapping[str, str], assembled: Assembled) -> Any:
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
    ds = (
        xr.Dataset({**variables, **assembled.coordinates}, coords=coords)
        .set_coords(list(assembled.coordinates))
        .rename(renames)
    )
    for old, new in renames.items():
        ds[new].attrs["hydra_key"] = old
    return ds.assign_attrs(
        snakesweep_config_name=plan.config_name,
        snakesweep_overrides=" ".join(plan.overrides),
    )


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


def _label_values(values: Sequence[Any]) -> Any:
    """A key's value per point as one array: numbers (NaN where unset) or text ("" where unset)."""
    import numpy as np

    given = [v for v in values if v is not None]
    if given and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given):
        return np.array(
            [np.nan if v is None else v for v in values],
            dtype=float if len(given) < len(values) else None,
        )
    return np.array(["" if v is None else str(v) for v in values], dtype=str)


def _coordinate_values(values: Sequence[Any]) -> Any:
    """Coordinate labels as one NetCDF-friendly array: numbers stay numbers, mixed become text."""
    import numpy as np

    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values)
    return np.array([str(v) for v in values], dtype=str)
