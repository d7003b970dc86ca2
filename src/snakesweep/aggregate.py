"""Aggregate: run directories → one N-D Dataset (``sweep.nc``) and one run table (``runs.csv``).

It also writes the Dataset's rerun recording (``sweep.rrd``; see ``recording``) and the
summaries DVC shows (``metrics.json``, ``plots/``; see ``summaries``).

The Dataset's dimensions are the swept keys, named verbatim, with coordinates in domain
order. Each result is a data variable over those dimensions plus its own; ``run_id`` and
``status`` are variables over the swept dimensions, so every cell leads back to its run.
Cells of failed or pending runs are NaN (their ``status`` says which).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from snakesweep import freshness, provenance, recording, store, summaries
from snakesweep.errors import RunFileError, SnakesweepError, first_line
from snakesweep.freshness import (
    PROVENANCE,
    PROVENANCE_DIFF,
    RECORDING,
    RUNS_TABLE,
    SWEEP,
    SWEEP_INDEX,
)
from snakesweep.plan import Plan, load_plan


def read_results(
    plan: Plan, results: str | os.PathLike[str]
) -> tuple[dict[str, str], dict[str, Any]]:
    """The status of every run and the Dataset of every done run.

    Unreadable result files are all reported at once, as one ``ExceptionGroup``.
    """
    import xarray as xr

    statuses = store.run_statuses(results, plan.run_ids)
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
    if errors:
        raise ExceptionGroup(f"{len(errors)} run result file(s) cannot be read", errors)
    return dict(statuses), datasets


def merge_runs(plan: Plan, results: str | os.PathLike[str]) -> Any:
    """The sweep's Dataset, built from the run directories under ``results``."""
    import numpy as np
    import xarray as xr

    statuses, datasets = read_results(plan, results)
    dims = [d.name for d in plan.dims]
    shape = tuple(len(d.values) for d in plan.dims)
    cells = [(p.index, p.run_id) for p in plan.points]

    names: dict[str, None] = {}
    for ds in datasets.values():
        names.update(dict.fromkeys(ds.data_vars))

    variables: dict[str, Any] = {}
    for name in names:
        arrays = {r: ds[name] for r, ds in datasets.items() if name in ds.data_vars}
        aligned = _align(list(arrays.values()))
        template = aligned[0]
        complete = all(r in arrays for _, r in cells)
        dtype = np.result_type(*(a.dtype for a in aligned))
        if dtype.kind not in "biufc":
            raise SnakesweepError(f"result {name!r} is not numeric ({dtype})")
        if not complete and dtype.kind not in "fc":
            dtype = np.dtype("f8")
        data = np.full(shape + template.shape, np.nan if dtype.kind in "fc" else 0, dtype=dtype)
        by_run = dict(zip(arrays, aligned, strict=True))
        for index, run_id in cells:
            if run_id in by_run:
                data[index] = by_run[run_id].values
        coords = {k: v for k, v in template.coords.items() if k not in dims}
        variables[name] = xr.DataArray(data, dims=dims + list(template.dims), coords=coords,
                                       attrs=template.attrs)

    run_ids = np.empty(shape, dtype=object)
    status = np.empty(shape, dtype=object)
    for index, run_id in cells:
        run_ids[index] = run_id
        status[index] = statuses[run_id]
    variables["run_id"] = xr.DataArray(run_ids.astype(str), dims=dims)
    variables["status"] = xr.DataArray(status.astype(str), dims=dims)
    coords = {d.name: (d.name, _coordinate_values(d.values)) for d in plan.dims}
    for key, values in ((plan.launch or {}).get("labels") or {}).items():  # along `job`
        coords[key] = (dims[0], _label_values([values[i] for (i,), _ in cells]))
    coords.update(_domain_coords(plan))
    # NetCDF forbids '/' in names: a nested config group `model/enc` becomes `model.enc`
    renames = {d: d.replace("/", ".") for d in (*dims, *coords) if "/" in d}
    ds = xr.Dataset(variables, coords=coords).rename(renames)
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


def run_table(plan: Plan, results: str | os.PathLike[str], dataset: Any,
              metas: Mapping[str, Mapping[str, Any] | None] | None = None) -> Any:
    """One row per run: run_id, status, duration, debug, commit, swept values, scalar results."""
    import pandas as pd

    swept = len(plan.dims)
    scalars = [n for n, v in dataset.data_vars.items()
               if n not in ("run_id", "status") and v.ndim == swept]
    rows = []
    for run_id in plan.run_ids:
        point = plan.point_of(run_id)
        meta = (metas[run_id] if metas is not None else store.read_meta(results, run_id)) or {}
        record = meta.get("provenance") or {}
        status = dataset["status"].values[point.index]
        row: dict[str, Any] = {"run_id": run_id, "status": str(status),
                               "duration": meta.get("duration"),
                               "debug": record.get("debug"),
                               "commit": (record.get("git") or {}).get("commit")}
        row.update(point.params)
        for name, coord in dataset.coords.items():  # labels along the swept dimensions
            if name not in dataset.dims and coord.dims == dataset["run_id"].dims:
                row[name] = coord.values[point.index].item()
        for name in scalars:
            row[name] = dataset[name].values[point.index]
        rows.append(row)
    return pd.DataFrame(rows)


def write_sweep(plan: Plan, results: str | os.PathLike[str]) -> tuple[Path, Path, Any]:
    """Merge the runs; write ``sweep.nc``, ``runs.csv``, ``sweep.rrd`` and the summaries.

    Each is written aside and renamed into place. ``sweep.nc``, ``runs.csv`` and the
    summaries are the same bytes for the same runs, so DVC sees a change only when
    something changed (a recording holds ids of its own, so ``sweep.rrd`` differs by bytes
    but not by content).
    """
    metas = {r: store.read_meta(results, r) for r in plan.run_ids}
    record = provenance.sweep_record(metas)
    ds = merge_runs(plan, results).assign_attrs(provenance_attrs(record))
    table = run_table(plan, results, ds, metas)
    sweep_path = Path(results, SWEEP)
    table_path = Path(results, RUNS_TABLE)
    store.replace_with(sweep_path, lambda tmp: ds.to_netcdf(tmp, engine=store.ENGINE))
    store.replace_with(table_path, lambda tmp: table.to_csv(tmp, index=False))
    write_recording(ds, Path(results, RECORDING))
    summaries.write_summaries(ds, results)
    write_provenance(record, results)
    store.write_atomic(Path(results, SWEEP_INDEX),
                       json.dumps(sweep_index(plan, results, table), indent=2) + "\n")
    return sweep_path, table_path, table


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
    diff = ""
    newest = record.get("newest_run")
    name = (record.get("git") or {}).get("diff")
    if newest and name:
        try:
            diff = (store.run_dir(results, newest) / name).read_text(encoding="utf-8")
        except OSError:
            diff = ""
    store.write_atomic(Path(results, PROVENANCE_DIFF), diff)
    store.write_atomic(Path(results, PROVENANCE), json.dumps(record, indent=2) + "\n")


def write_recording(dataset: Any, path: Path) -> None:
    """Write the sweep's recording; a sweep with no numeric result gets a recording saying so."""
    try:
        recording.to_rerun(dataset, path, application_id=recording_name(dataset))
    except recording.NothingToShow as exc:
        recording.write_note(path, f"Nothing to show: {exc.reason}.",
                             application_id=recording_name(dataset))


def recording_name(dataset: Any) -> str:
    """The application id of a sweep's (or a history's) recording: the viewer keeps one
    layout per id."""
    kind = "history " if "snakesweep_history" in dataset.attrs else ""
    return f"snakesweep {kind}{dataset.attrs.get('snakesweep_config_name', 'sweep')}"


def sweep_index(plan: Plan, results: str | os.PathLike[str], table: Any) -> dict[str, Any]:
    """What ``sweep.nc`` holds, readable without opening it: its merge key, layout, runs.

    Written after ``sweep.nc`` and ``runs.csv``, whose sizes it records (see ``freshness``).
    """
    statuses = dict(zip(table["run_id"], table["status"], strict=True))
    return {
        "key": freshness.merge_key(plan, results, statuses),
        "files": freshness.merged_files(results),
        "layout": plan.layout_digest,
        "config_name": plan.config_name,
        "overrides": list(plan.overrides),
        "dims": {d.name: list(d.values) for d in plan.dims},
        "points": len(plan.points),
        "runs": {s: int((table["status"] == s).sum()) for s in ("done", "failed", "pending")},
    }


def _align(arrays: Sequence[Any]) -> list[Any]:
    """Give every run's array of one result the same own coordinates (outer join)."""
    import xarray as xr

    first = arrays[0]
    if all(a.dims == first.dims and a.shape == first.shape
           and all(a.indexes[k].equals(first.indexes[k]) for k in first.indexes)
           for a in arrays[1:]):
        return list(arrays)
    return list(xr.align(*arrays, join="outer", fill_value=float("nan")))


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
    """``python -m snakesweep.aggregate PLAN RESULTS``: write sweep.nc and runs.csv."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m snakesweep.aggregate PLAN RESULTS", file=sys.stderr)
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
    print(f"snakesweep: merged {len(table)} runs ({counts.get('done', 0)} done, "
          f"{counts.get('failed', 0)} failed, {counts.get('pending', 0)} pending) "
          f"into {sweep_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
