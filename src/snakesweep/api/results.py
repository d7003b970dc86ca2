"""The Python face of a sweep's results: ``snakesweep.load("results")``.

``load`` reads ``sweep.nc`` (lazily) and ``runs.csv``, never every run directory, and keeps
no absolute path: it works on a results directory that DVC pulled onto another machine.
What one run holds (its config, meta, logs, artifacts, own Dataset) is read from its run
directory when asked for.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.errors import ResultsError
from snakesweep.store import RUNS_TABLE, SWEEP
from snakesweep.store.runs import resolve_run_id
from snakesweep.view.dimensions import NothingToShow, numeric_variables
from snakesweep.view.pictures import NotNumeric, draw_variable

__all__ = [
    "RUN_COLUMNS",
    "Results",
    "ResultsError",
    "jsonable_rows",
    "load",
    "over_repeats",
    "resolve_run_id",
]

RUN_COLUMNS = ("run_id", "status", "duration", "debug", "commit")
"""The columns of ``runs.csv`` that are not swept keys or results."""
HEAD = 10
"""Rows of the run table a notebook shows."""


def load(results: str | os.PathLike[str] = "results") -> Results:
    """The results of the sweep in ``results`` (its ``sweep.nc`` and ``runs.csv``)."""
    root = Path(results)
    for name in (SWEEP, RUNS_TABLE):
        if not (root / name).is_file():
            raise ResultsError(
                f"{str(root / name)!r} does not exist: run the sweep first "
                "(`snakesweep run`, `snakemake --cores N`) or `dvc pull`"
            )
    return Results(root)


class Results:
    """A sweep's runs, or a filtered part of them."""

    def __init__(self, root: Path, run_ids: Iterable[str] | None = None) -> None:
        self.root = root
        self._selected = None if run_ids is None else list(run_ids)

    # -- the whole ------------------------------------------------------------------------

    @cached_property
    def _table(self) -> Any:
        import pandas as pd

        return pd.read_csv(
            self.root / RUNS_TABLE,
            dtype={"run_id": str, "commit": str},
            keep_default_na=False,
            na_values=[""],
        )

    @cached_property
    def _sweep(self) -> Any:
        import xarray as xr

        return xr.open_dataset(self.root / SWEEP, engine=store.ENGINE)

    @property
    def run_ids(self) -> list[str]:
        """The runs these results hold, in the sweep's order."""
        ids = self._table["run_id"].tolist()
        if self._selected is None:
            return ids
        chosen = set(self._selected)
        return [r for r in ids if r in chosen]

    @property
    def runs(self) -> Any:
        """One row per run (``runs.csv``): run_id, status, duration, swept keys, results."""
        table = self._table
        if self._selected is not None:
            table = table[table["run_id"].isin(set(self._selected))]
        return table.reset_index(drop=True)

    @property
    def dataset(self) -> Any:
        """The sweep's Dataset (opened lazily). Filtered, it is selected along each swept
        dimension to the values its runs have, as ``.sel`` would (``filter(model="mlp")``
        leaves ``model`` one long); the cells of that selection that are no run of the
        filter's (a filter on a result, or on several keys' combinations, need not pick
        a whole grid) are masked: NaN, ``run_id`` included."""
        ds = self._sweep
        if self._selected is None:
            return ds
        import numpy as np

        keep = ds["run_id"].isin(list(self._selected))
        dims = keep.dims
        chosen = {
            dim: np.flatnonzero(keep.any(dim=[d for d in dims if d != dim]).values) for dim in dims
        }
        ds, keep = ds.isel(chosen).load(), keep.isel(chosen)  # read now, as `where` would:
        return ds if bool(keep.all()) else ds.where(keep)  # no view of a file left behind

    @property
    def keys(self) -> list[str]:
        """The swept keys (the Dataset's dimensions that are columns of the run table)."""
        return [d for d in self._sweep["run_id"].dims if d in self._table.columns]

    def __len__(self) -> int:
        return len(self.run_ids)

    def __repr__(self) -> str:
        return f"<Results {str(self.root)!r}: {self._size()}{self._counts()}>"

    def _repr_html_(self) -> str:
        """In a notebook: the counts by status, the Dataset's own view, the run table's
        first rows."""
        from html import escape

        runs = self.runs
        return (
            f"<div><p><b>Results</b> <code>{escape(str(self.root))}</code>: {self._size()}"
            f"{escape(self._counts())}</p>"
            f"{self.dataset._repr_html_()}"
            f"<details><summary>runs ({len(runs)}; the first {min(len(runs), HEAD)})"
            f"</summary>{runs.head(HEAD).to_html(index=False)}</details></div>"
        )

    def _size(self) -> str:
        return f"{len(self)} run{'' if len(self) == 1 else 's'}"

    def _counts(self) -> str:
        counts = self.runs["status"].value_counts()
        return f" ({', '.join(f'{n} {s}' for s, n in counts.items())})" if len(counts) else ""

    def plot(
        self,
        var: str | None = None,
        *,
        x: str | None = None,
        hue: str | None = None,
        col: str | None = None,
    ) -> Any:
        """A picture of the result ``var`` (default: the first numeric one) of these runs,
        as the report draws it (``snakesweep.view.pictures``): a matplotlib ``Figure``
        (Agg canvas; a notebook shows it). What the dimensions' roles choose, or lines over
        ``x``, one per value of ``hue``, a panel per value of ``col`` (and of any other
        dimension). ``ResultsError`` naming a variable or dimension it lacks."""
        ds = self.dataset
        names, skipped = numeric_variables(ds)
        if var is None:
            if not names:
                raise ResultsError(f"plot: {NothingToShow(skipped).reason}")
            var = names[0]
        if var not in ds.data_vars:
            raise ResultsError(
                f"plot: no variable {var!r} in {self.root / SWEEP}; numeric: "
                f"{', '.join(names) or 'none'}"
            )
        if not len(self) or 0 in ds[var].shape:
            raise ResultsError(f"plot: {var}: no run to draw ({self._size()} here{self._counts()})")
        try:
            figure = draw_variable(ds, var, x=x, hue=hue, col=col)
        except (NotNumeric, ValueError) as exc:
            raise ResultsError(f"plot: {var}: {exc}") from None
        _shown_by_ipython(figure)
        return figure

    def over_repeats(self) -> Any:
        """The Dataset with ``repeat`` reduced to mean, std and count (see ``over_repeats``)."""
        return over_repeats(self.dataset)

    # -- filtering -----------------------------------------------------------------------

    def filter(self, status: Any = None, **criteria: Any) -> Results:
        """The runs whose columns match: a scalar (equal), a list (one of), or a predicate.

        Keys are columns of the run table: ``status``, the swept keys (``model``,
        ``optimizer.lr``) and scalar results. Its ``dataset`` is selected along the swept
        dimensions (as ``.sel``), and masked only where its runs form no grid.
        """
        table = self.runs
        if status is not None:
            criteria = {"status": status, **criteria}
        mask = None
        for key, wanted in criteria.items():
            if key not in table.columns:
                known = ", ".join(c for c in table.columns if c not in RUN_COLUMNS[2:])
                raise ResultsError(
                    f"filter: no column {key!r} in {self.root / RUNS_TABLE}; known: {known}"
                )
            column = table[key]
            if callable(wanted):
                hit = column.map(lambda v, f=wanted: bool(f(v)))
            elif isinstance(wanted, (list, tuple, set, frozenset)):
                hit = column.isin(list(wanted))
            else:
                hit = column == wanted
            mask = hit if mask is None else mask & hit
        chosen = table if mask is None else table[mask]
        part = Results(self.root, chosen["run_id"].tolist())
        for shared in ("_table", "_sweep"):  # what is read already: one open file, not one
            if shared in self.__dict__:  #   per filtered part (netCDF's library crashed so)
                part.__dict__[shared] = self.__dict__[shared]
        return part

    # -- as tables -----------------------------------------------------------------------

    def to_dataframe(self, wide: bool = False) -> Any:
        """Long form: run_id, swept keys, variable, step, value (one row per value); or,
        ``wide``, one row per run with a column per scalar result."""
        if wide:
            return self.runs.drop(
                columns=[c for c in ("debug", "commit") if c in self._table.columns]
            )
        return self._long()

    def _long(self) -> Any:
        import numpy as np
        import pandas as pd

        ds = self._sweep
        keys = list(ds["run_id"].dims)
        ids = ds["run_id"].values.reshape(-1).astype(str)
        grids = np.meshgrid(
            *(ds[k].values if k in ds.coords else np.arange(ds.sizes[k]) for k in keys),
            indexing="ij",
        )
        labels = {k: g.reshape(-1) for k, g in zip(keys, grids, strict=True)}
        keep = (
            np.ones(len(ids), dtype=bool)
            if self._selected is None
            else np.isin(ids, list(self._selected))
        )
        frames = []
        for name, var in ds.data_vars.items():
            if name in ("run_id", "status"):
                continue
            own = [d for d in var.dims if d not in keys]
            data = var.transpose(*keys, *own).values.reshape(len(ids), -1).astype(float)
            if len(own) == 1 and own[0] in ds.coords:
                steps = ds[own[0]].values
            elif own:  # several own dimensions: their flattened position
                steps = np.arange(data.shape[1])
            else:
                steps = np.array([None])
            cell, position = np.nonzero(~np.isnan(data) & keep[:, None])
            frames.append(
                pd.DataFrame(
                    {
                        "run_id": ids[cell],
                        **{k: v[cell] for k, v in labels.items()},
                        "variable": name,
                        "step": steps[position],
                        "value": data[cell, position],
                    }
                )
            )
        columns = ["run_id", *keys, "variable", "step", "value"]
        if not frames:
            return pd.DataFrame(columns=columns)
        return pd.concat(frames, ignore_index=True)[columns]

    def artifacts(self, name: str | None = None) -> Any:
        """run_id, swept keys, name, path, metadata of each artifact (of ``name`` only)."""
        import pandas as pd

        runs = self.runs
        keys = self.keys
        rows = []
        for _, run in runs.iterrows():
            meta = store.read_meta(self.root, run["run_id"]) or {}  # pending: none yet
            for artifact in meta.get("artifacts") or []:
                if name is not None and artifact["name"] != name:
                    continue
                rows.append(
                    {
                        "run_id": run["run_id"],
                        **{k: run[k] for k in keys},
                        "name": artifact["name"],
                        "path": str(
                            store.run_dir(self.root, run["run_id"])
                            / store.ARTIFACTS
                            / artifact["name"]
                        ),
                        "metadata": artifact.get("metadata") or {},
                    }
                )
        return pd.DataFrame(rows, columns=["run_id", *keys, "name", "path", "metadata"])

    # -- one run -------------------------------------------------------------------------

    def resolve(self, run_id: str) -> str:
        """The run id a (unique) prefix names."""
        return resolve_run_id(self.root, run_id)

    def config(self, run_id: str) -> dict[str, Any]:
        """The resolved config of a run (its ``config.yaml``)."""
        import yaml

        path = store.run_dir(self.root, self.resolve(run_id)) / store.CONFIG
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}

    def meta(self, run_id: str) -> dict[str, Any]:
        """A run's ``meta.json``."""
        meta = store.read_meta(self.root, self.resolve(run_id))
        if meta is None:
            raise ResultsError(
                f"run {run_id}: no readable meta.json in {store.run_dir(self.root, run_id)}"
            )
        return meta

    def logs(self, run_id: str) -> dict[str, str]:
        """What a run printed: ``{"stdout": …, "stderr": …}``."""
        directory = store.run_dir(self.root, self.resolve(run_id))
        return {
            stream: _read(directory / name)
            for stream, name in (("stdout", store.STDOUT), ("stderr", store.STDERR))
        }

    def __getitem__(self, run_id: str) -> Any:
        """A run's own Dataset (its ``result.nc``)."""
        import xarray as xr

        full = self.resolve(run_id)
        status = store.run_statuses(self.root, [full])[full]
        if status == "corrupt":
            why = store.why_corrupt(self.root, full)
            raise ResultsError(
                f"run {full}'s result is corrupt ({why}): `snakesweep run` computes it again"
            )
        if status not in ("done", "stale"):
            raise ResultsError(f"run {full} has no result (status: {status})")
        return xr.load_dataset(store.result_path(self.root, full), engine=store.ENGINE)


def over_repeats(dataset: Any, dim: str = "repeat") -> Any:
    """Each numeric result of a sweep reduced over its repetitions.

    For a result ``loss``: ``loss_mean``, ``loss_std`` (the population standard deviation,
    ``ddof=0``, as xarray's ``std`` and the recording's spread) and ``loss_count`` (the
    repetitions that are not NaN: failed or pending runs do not count). The seed coordinate
    along ``dim`` goes, and so do ``run_id`` and ``status``.
    """
    import xarray as xr

    if dim not in dataset.dims:
        raise ResultsError(
            f"over_repeats: the Dataset has no dimension {dim!r} "
            f"(its dimensions: {', '.join(map(str, dataset.dims))}); "
            "set snakesweep.repeats"
        )
    out = {}
    for name, var in dataset.data_vars.items():
        if name in ("run_id", "status") or dim not in var.dims or var.dtype.kind not in "biuf":
            continue
        out[f"{name}_mean"] = var.mean(dim)
        out[f"{name}_std"] = var.std(dim)
        out[f"{name}_count"] = var.count(dim)
    return xr.Dataset(out).assign_attrs(dataset.attrs)  # reductions drop the seed


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def jsonable_rows(table: Any) -> list[Mapping[str, Any]]:
    """A DataFrame's rows as JSON-ready dicts (NaN → null, numpy → Python)."""
    return json.loads(table.to_json(orient="records"))


def _shown_by_ipython(figure: Any) -> None:
    """Let IPython (a notebook) show a Figure drawn without pyplot as a PNG, as its inline
    backend shows pyplot's: a display formatter for ``Figure``, registered once."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    if shell is None:
        return
    from IPython.core.pylabtools import print_figure

    png = shell.display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(type(figure))
    except KeyError:
        png.for_type(type(figure), lambda fig: print_figure(fig, "png", bbox_inches="tight"))
