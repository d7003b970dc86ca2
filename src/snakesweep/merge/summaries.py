"""Summaries: the sweep's Dataset → the small files DVC shows and compares.

* ``metrics.json``: ``runs``, how many are done, failed and pending, and ``results``: for
  every scalar result its mean, minimum and maximum over the done points
  (``dvc metrics show|diff``).
* ``plots/<result>.csv``: every result with exactly one dimension of its own (a curve, such
  as a loss over ``step``), in long form: ``point, step, <result>``. ``point`` names the
  swept values (``model=mlp optimizer.lr=0.3 seed=0``); ``step`` holds the coordinates of
  the curve's own dimension, whatever its name, so one plot definition (``x: step``) fits
  every curve. Past ``MAX_CURVES`` points the file holds the mean curve per value of the
  first swept dimension instead, and past ``MAX_STEPS`` steps every k-th step (and the
  last), so the plot stays readable and the file small (``dvc plots show|diff``).

Both are written deterministically: equal runs give equal bytes, so ``dvc.lock`` changes
only when a result did.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.store import METRICS, PLOTS

# numpy and pandas are imported in the functions that use them: the Snakefile and the CLI
# import the merge and need neither.

__all__ = [
    "MAX_CURVES",
    "MAX_STEPS",
    "curves",
    "stage_summaries",
    "summary_metrics",
    "write_summaries",
]
MAX_CURVES = 100
"""Sweeps with more points than this get one mean curve per value of the first dimension."""
MAX_STEPS = 1000
"""Curves longer than this keep every k-th step (and the last) in ``plots/``."""

_BOOKKEEPING = ("run_id", "status")


def summary_metrics(dataset: Any) -> dict[str, Any]:
    """Run counts and, per scalar result, its mean/min/max over the done points."""
    import numpy as np

    swept = tuple(dataset["status"].dims)
    status, counts = np.unique(dataset["status"].values, return_counts=True)
    found = dict(zip(status.tolist(), counts.tolist(), strict=True))
    summary: dict[str, Any] = {}
    runs = {s: int(found.get(s, 0)) for s in ("done", "failed", "pending")}
    if found.get("unmerged"):  # done, but left out of the merge (see ``alignment``)
        runs["unmerged"] = int(found["unmerged"])
    metrics: dict[str, Any] = {"runs": runs, "results": summary}
    for name, var in dataset.data_vars.items():
        if name in _BOOKKEEPING or var.dims != swept:
            continue
        values = var.values.astype("f8")
        values = values[np.isfinite(values)]
        if values.size:
            summary[str(name)] = {
                "mean": float(values.mean()),
                "min": float(values.min()),
                "max": float(values.max()),
            }
    return metrics


def curves(dataset: Any) -> dict[str, Any]:
    """Each result with one dimension of its own, as a long-form ``pandas.DataFrame``."""
    import pandas as pd

    swept = list(dataset["status"].dims)
    many = bool(swept) and dataset["status"].size > MAX_CURVES
    keys = swept[:1] if many else swept
    suffix = " (mean)" if many else ""
    out: dict[str, Any] = {}
    for name, var in dataset.data_vars.items():
        own = [d for d in var.dims if d not in swept]
        if name in _BOOKKEEPING or len(own) != 1:
            continue
        if many:
            var = var.mean(swept[1:], skipna=True)
        length = var.sizes[own[0]]
        if length > MAX_STEPS:
            import numpy as np

            every = -(-length // MAX_STEPS)
            var = var.isel({own[0]: np.unique(np.r_[np.arange(0, length, every), length - 1])})
        flat = var.to_series().dropna()
        index = flat.index.to_frame(index=False)
        points = (
            [
                " ".join(f"{k}={v}" for k, v in zip(keys, row, strict=True)) + suffix
                for row in index[keys].itertuples(index=False, name=None)
            ]
            if keys
            else "all"
        )
        column = str(name) if str(name) not in ("point", "step") else f"{name}_value"
        out[str(name)] = pd.DataFrame(
            {"point": points, "step": index[own[0]].to_numpy(), column: flat.to_numpy()}
        )
    return out


def _write_csv(frame: Any, path: Path) -> None:
    """``frame.to_csv(path, index=False, float_format="%.9g")``, twice as fast on long
    curves (pandas formats each float in Python too, with more steps)."""
    columns = []
    for name in frame.columns:
        values = frame[name].tolist()
        if frame[name].dtype.kind == "f":
            values = ["" if math.isnan(v) else format(v, ".9g") for v in values]
        columns.append(values)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([str(c) for c in frame.columns])
        writer.writerows(zip(*columns, strict=True))


def write_summaries(dataset: Any, results: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``metrics.json`` and ``plots/`` aside, then into place."""
    with store.Staging(results) as staged:
        stage_summaries(dataset, staged)
        staged.commit()
    return Path(results, METRICS), Path(results, PLOTS)


def stage_summaries(dataset: Any, staged: store.Staging) -> None:
    """Write ``metrics.json`` and ``plots/`` aside, to be renamed into place with the other
    files ``staged`` holds."""
    staged.text(METRICS, json.dumps(summary_metrics(dataset), indent=2) + "\n")
    frames = curves(dataset)

    def write_plots(directory: Path) -> None:
        for name, frame in frames.items():
            _write_csv(frame, directory / f"{name}.csv")

    staged.tree(PLOTS, write_plots)
