"""The small files DVC shows: metrics.json and plots/<result>.csv."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from snakesweep.merge import summaries


def sweep(
    models: list[str],
    lrs: list[float],
    *,
    failed: tuple[int, int] | None = None,
) -> xr.Dataset:
    shape = (len(models), len(lrs))
    acc = np.arange(np.prod(shape), dtype=float).reshape(shape) / 10
    loss = np.ones(shape + (3,)) * np.arange(3)
    status = np.full(shape, "done", dtype=object)
    if failed:
        acc[failed] = np.nan
        loss[failed] = np.nan
        status[failed] = "failed"
    return xr.Dataset(
        {
            "accuracy": (("model", "optimizer.lr"), acc),
            "loss": (("model", "optimizer.lr", "step"), loss),
            "status": (("model", "optimizer.lr"), status.astype(str)),
            "run_id": (("model", "optimizer.lr"), np.full(shape, "0" * 16)),
        },
        coords={"model": models, "optimizer.lr": lrs, "step": [0, 1, 2]},
    )


def test_metrics_count_runs_and_summarise_scalar_results_over_done_points() -> None:
    metrics = summaries.summary_metrics(sweep(["a", "b"], [0.1, 1.0], failed=(1, 1)))
    assert metrics["runs"] == {"done": 3, "failed": 1, "pending": 0}
    assert metrics["results"]["accuracy"] == {"mean": pytest.approx(0.1), "min": 0.0, "max": 0.2}
    assert "loss" not in metrics["results"]  # a curve, not a scalar


def test_curves_are_long_form_with_one_label_per_point() -> None:
    ((name, frame),) = summaries.curves(sweep(["a", "b"], [0.1, 1.0], failed=(0, 0))).items()
    assert name == "loss" and list(frame.columns) == ["point", "step", "loss"]
    assert frame["point"].unique().tolist() == [
        "model=a optimizer.lr=1.0",
        "model=b optimizer.lr=0.1",
        "model=b optimizer.lr=1.0",
    ]
    assert len(frame) == 3 * 3  # the failed point has no curve


def test_curves_over_any_dimension_name_share_the_step_column_and_names_may_clash() -> None:
    ds = sweep(["a", "b"], [0.1, 1.0]).rename({"step": "epoch", "model": "point"})
    frame = summaries.curves(ds.rename({"loss": "step"}))["step"]
    assert list(frame.columns) == ["point", "step", "step_value"]
    assert frame["point"].iloc[0] == "point=a optimizer.lr=0.1"


def test_past_the_limit_curves_are_means_per_value_of_the_first_dimension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(summaries, "MAX_CURVES", 3)
    frame = summaries.curves(sweep(["a", "b"], [0.1, 1.0]))["loss"]
    assert frame["point"].unique().tolist() == ["model=a (mean)", "model=b (mean)"]


def test_summaries_are_the_same_bytes_for_the_same_runs(tmp_path: Path) -> None:
    ds = sweep(["a", "b"], [0.1, 1.0])
    first = [p.read_bytes() for p in summaries.write_summaries(ds, tmp_path)[:1]]
    first.append((tmp_path / "plots" / "loss.csv").read_bytes())
    summaries.write_summaries(ds, tmp_path)
    assert [
        (tmp_path / "metrics.json").read_bytes(),
        (tmp_path / "plots" / "loss.csv").read_bytes(),
    ] == first
    assert json.loads(first[0])["runs"]["done"] == 4
    assert len(pd.read_csv(tmp_path / "plots" / "loss.csv")) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "plots"]


def test_a_long_curve_keeps_every_kth_step_and_the_last() -> None:
    ds = xr.Dataset(
        {
            "loss": (("x", "step"), np.arange(2 * 2501, dtype=float).reshape(2, -1)),
            "status": (("x",), np.array(["done", "done"])),
            "run_id": (("x",), np.array(["0" * 16, "1" * 16])),
        },
        coords={"x": [1, 2], "step": np.arange(2501)},
    )
    frame = summaries.curves(ds)["loss"]
    steps = frame[frame.point == "x=1"]["step"].tolist()
    assert len(steps) <= summaries.MAX_STEPS + 1
    assert steps[:3] == [0, 3, 6] and steps[-1] == 2500
