"""The rerun recording of a sweep, read back through rerun's own reader (rerun.chunk.RrdReader).

Each case checks entity paths, archetypes, timelines and values, and the blueprint's views.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from rerun.chunk import RrdReader

from snakesweep.view.recording import NothingToShow, to_rerun


@dataclass
class Entity:
    """Everything logged to one entity path: per component its rows, in time order."""

    static: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    times: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    @property
    def archetypes(self) -> set[str]:
        return {c.split(":")[0] for c in (*self.static, *self.rows)}


@dataclass
class Recording:
    entities: dict[str, Entity]
    views: dict[str, tuple[str, str]]  # origin → (view class, title)
    containers: list[str]  # container names
    timeline: str | None  # the time panel's timeline

    def __getitem__(self, path: str) -> Entity:
        return self.entities[path]


def read(path: Path) -> Recording:
    reader = RrdReader(path)
    entities: dict[str, Entity] = defaultdict(Entity)
    for chunk in reader.stream():
        batch = chunk.to_record_batch()
        columns = {
            f.name: batch.column(i).to_pylist()
            for i, f in enumerate(batch.schema)
            if f.metadata and f.metadata.get(b"rerun:kind") != b"control"
        }
        entity = entities[chunk.entity_path]
        timelines = chunk.timeline_names
        assert len(timelines) <= 1, f"{chunk.entity_path} is on several timelines: {timelines}"
        for name, values in columns.items():
            if name in timelines:
                entity.times[name].extend(values)
            elif chunk.is_static:
                entity.static[name] = values[0]
            else:
                entity.rows[name].extend(values)
    views: dict[str, tuple[str, str]] = {}
    containers: list[str] = []
    timeline = None
    for chunk in reader.stream(store=reader.blueprints()[0]):
        batch = chunk.to_record_batch()
        row = {f.name: batch.column(i).to_pylist()[-1] for i, f in enumerate(batch.schema)}
        if "ViewBlueprint:class_identifier" in row:
            views[row["ViewBlueprint:space_origin"][0]] = (
                row["ViewBlueprint:class_identifier"][0],
                row["ViewBlueprint:display_name"][0],
            )
        if "ContainerBlueprint:display_name" in row:
            containers.append(row["ContainerBlueprint:display_name"][0])
        if "TimePanelBlueprint:timeline" in row:
            timeline = row["TimePanelBlueprint:timeline"][0]
    return Recording(dict(entities), views, containers, timeline)


def record(ds: xr.Dataset, tmp_path: Path) -> Recording:
    path = to_rerun(ds, tmp_path / "sweep.rrd")
    assert path == tmp_path / "sweep.rrd"
    return read(path)


def tensor(cell: list[dict[str, Any]]) -> np.ndarray:
    """A TensorData cell (shape, names, buffer) as an array."""
    (value,) = cell
    return np.array(value["buffer"]).reshape(value["shape"])


RNG = np.random.default_rng(0)
LR = [0.01, 0.1, 1.0]


def test_scalars_only_are_static_scalars_shown_as_text(tmp_path: Path) -> None:
    rec = record(xr.Dataset({"accuracy": 0.75, "loss": 1.5}), tmp_path)
    assert set(rec.entities) == {"/accuracy", "/loss"}
    assert rec["/accuracy"].static["Scalars:scalars"] == [0.75]
    assert rec["/loss"].static["Scalars:scalars"] == [1.5]
    assert rec["/loss"].static["TextDocument:text"] == ["**loss**: 1.5"]
    assert not rec["/loss"].times and not rec["/loss"].rows
    assert rec.views == {
        "/accuracy": ("TextDocument", "accuracy"),
        "/loss": ("TextDocument", "loss"),
    }
    assert rec.timeline is None


def test_one_numeric_dimension_is_a_line_on_a_timeline_named_after_it(tmp_path: Path) -> None:
    ds = xr.Dataset({"accuracy": ("optimizer.lr", [0.5, 0.7, 0.6])}, coords={"optimizer.lr": LR})
    rec = record(ds, tmp_path)
    line = rec["/accuracy"]
    assert line.times == {"optimizer.lr": [0, 1, 2]}  # positions: the values are not integers
    assert line.rows["Scalars:scalars"] == [[0.5], [0.7], [0.6]]
    kind, title = rec.views["/accuracy"]
    assert kind == "TimeSeries"
    assert title == "accuracy over optimizer.lr (#0: 0.01, #1: 0.1, #2: 1)"
    assert rec.timeline == "optimizer.lr"


def test_integer_coordinates_are_the_times_of_a_line(tmp_path: Path) -> None:
    ds = xr.Dataset({"loss": ("batch", [3.0, 2.0, 1.5])}, coords={"batch": [16, 32, 64]})
    rec = record(ds, tmp_path)
    assert rec["/loss"].times == {"batch": [16, 32, 64]}
    assert rec.views["/loss"] == ("TimeSeries", "loss over batch")


def test_one_categorical_dimension_is_a_bar_chart(tmp_path: Path) -> None:
    ds = xr.Dataset(
        {"accuracy": ("model", [0.5, 0.9, 0.7])}, coords={"model": ["linear", "mlp", "cnn"]}
    )
    rec = record(ds, tmp_path)
    bars = rec["/accuracy"]
    assert bars.archetypes == {"BarChart"}
    assert tensor(bars.static["BarChart:values"]).tolist() == [0.5, 0.9, 0.7]
    assert rec.views["/accuracy"] == (
        "BarChart",
        "accuracy by model (#0: linear, #1: mlp, #2: cnn)",
    )


def test_categories_then_a_number_branch_the_entity_tree(tmp_path: Path) -> None:
    values = RNG.random((2, 3))
    ds = xr.Dataset(
        {"accuracy": (("model", "lr"), values)}, coords={"model": ["linear", "mlp"], "lr": LR}
    )
    rec = record(ds, tmp_path)
    assert set(rec.entities) == {r"/accuracy/model\=linear", r"/accuracy/model\=mlp"}
    for i, model in enumerate(["linear", "mlp"]):
        line = rec[rf"/accuracy/model\={model}"]
        assert line.times == {"lr": [0, 1, 2]}
        assert [r[0] for r in line.rows["Scalars:scalars"]] == values[i].tolist()
        assert rec.views[rf"/accuracy/model\={model}"][0] == "TimeSeries"
    assert "accuracy" in rec.containers


def test_categories_alone_are_peeled_until_one_is_left_for_the_bars(tmp_path: Path) -> None:
    values = RNG.random((2, 3))
    ds = xr.Dataset(
        {"accuracy": (("data", "model"), values)},
        coords={"data": ["moons", "blobs"], "model": ["a", "b", "c"]},
    )
    rec = record(ds, tmp_path)
    assert set(rec.entities) == {r"/accuracy/data\=moons", r"/accuracy/data\=blobs"}
    assert (
        tensor(rec[r"/accuracy/data\=blobs"].static["BarChart:values"]).tolist()
        == values[1].tolist()
    )


def test_two_numeric_dimensions_are_a_heatmap_tensor(tmp_path: Path) -> None:
    values = RNG.random((4, 5))
    ds = xr.Dataset(
        {"loss": (("x", "y"), values)}, coords={"x": np.arange(4), "y": np.linspace(0, 1, 5)}
    )
    rec = record(ds, tmp_path)
    cell = rec["/loss"].static["Tensor:data"]
    assert np.allclose(tensor(cell), values)
    assert cell[0]["names"] == ["x", "y"]
    assert rec["/loss"].static["Tensor:value_range"] == [[values.min(), values.max()]]
    assert rec.views["/loss"] == ("Tensor", "loss over x × y")


def test_three_numeric_dimensions_are_a_volume_tensor(tmp_path: Path) -> None:
    values = RNG.random((2, 3, 4))
    rec = record(xr.Dataset({"loss": (("a", "b", "c"), values)}), tmp_path)
    assert np.allclose(tensor(rec["/loss"].static["Tensor:data"]), values)


def test_four_numeric_dimensions_peel_the_outermost(tmp_path: Path) -> None:
    values = RNG.random((2, 3, 4, 5))
    ds = xr.Dataset({"loss": (("a", "b", "c", "d"), values)}, coords={"a": [10, 20]})
    rec = record(ds, tmp_path)
    assert set(rec.entities) == {r"/loss/a\=10", r"/loss/a\=20"}
    for i, a in enumerate([10, 20]):
        cell = rec[rf"/loss/a\={a}"].static["Tensor:data"]
        assert np.allclose(tensor(cell), values[i])
        assert cell[0]["names"] == ["b", "c", "d"]
        # one colour scale for the whole variable, so the two volumes compare
        assert rec[rf"/loss/a\={a}"].static["Tensor:value_range"] == [[values.min(), values.max()]]


def test_step_curves_are_series_on_the_step_timeline(tmp_path: Path) -> None:
    loss = RNG.random((2, 3, 20))
    accuracy = RNG.random((2, 3))
    ds = xr.Dataset(
        {"loss": (("model", "lr", "step"), loss), "accuracy": (("model", "lr"), accuracy)},
        coords={"model": ["linear", "mlp"], "lr": [0.1, 0.2, 0.3], "step": np.arange(20)},
    )
    rec = record(ds, tmp_path)
    curves = rec[r"/loss/model\=mlp"]
    assert curves.times == {"step": list(range(20))}
    assert np.allclose(curves.rows["Scalars:scalars"], loss[1].T)  # one series per lr
    assert curves.static["SeriesLines:names"] == ["lr=0.1", "lr=0.2", "lr=0.3"]
    assert rec.views[r"/loss/model\=mlp"] == ("TimeSeries", "loss, model=mlp over step, by lr")
    # a scalar result over lr cannot be a line while step is the timeline: bars at its values
    bars = rec[r"/accuracy/model\=mlp"]
    assert np.allclose(tensor(bars.static["BarChart:values"]), accuracy[1])
    assert np.allclose(tensor(bars.static["BarChart:abscissa"]), [0.06, 0.16, 0.26])
    assert np.allclose(bars.static["BarChart:widths"], [0.08] * 3)
    assert rec.timeline == "step"


def test_step_with_one_category_is_a_curve_per_category(tmp_path: Path) -> None:
    loss = RNG.random((2, 6))
    ds = xr.Dataset(
        {"loss": (("model", "step"), loss)},
        coords={"model": ["linear", "mlp"], "step": np.arange(6)},
    )
    rec = record(ds, tmp_path)
    assert set(rec.entities) == {"/loss"}
    assert np.allclose(rec["/loss"].rows["Scalars:scalars"], loss.T)
    assert rec["/loss"].static["SeriesLines:names"] == ["model=linear", "model=mlp"]
    assert rec.views["/loss"] == ("TimeSeries", "loss over step, by model")


def test_step_with_a_few_dozen_combinations_is_a_curve_per_combination(tmp_path: Path) -> None:
    """A damped oscillator's trajectories: a view per integrator, a curve per damping × dt."""
    x = RNG.random((3, 2, 2, 50))
    ds = xr.Dataset(
        {"x": (("damping", "integrator", "dt", "step"), x)},
        coords={
            "damping": [0.1, 0.5, 2.0],
            "integrator": ["euler", "rk4"],
            "dt": [0.01, 0.05],
            "step": np.arange(50),
        },
    )
    rec = record(ds, tmp_path)
    assert set(rec.entities) == {r"/x/integrator\=euler", r"/x/integrator\=rk4"}
    curves = rec[r"/x/integrator\=rk4"]
    assert curves.times == {"step": list(range(50))}
    assert curves.static["SeriesLines:names"] == [
        "damping=0.1, dt=0.01",
        "damping=0.1, dt=0.05",
        "damping=0.5, dt=0.01",
        "damping=0.5, dt=0.05",
        "damping=2, dt=0.01",
        "damping=2, dt=0.05",
    ]
    assert np.allclose(curves.rows["Scalars:scalars"], x[:, 1].reshape(6, 50).T)
    assert rec.views[r"/x/integrator\=rk4"] == (
        "TimeSeries",
        "x, integrator=rk4 over step, by damping × dt",
    )


def test_step_past_a_few_dozen_combinations_is_a_tensor_per_step(tmp_path: Path) -> None:
    loss = RNG.random((8, 5, 5))  # 40 curves would be too many for one view
    rec = record(
        xr.Dataset({"loss": (("x", "y", "step"), loss)}, coords={"step": [0, 10, 20, 30, 40]}),
        tmp_path,
    )
    frames = rec["/loss"]
    assert frames.times == {"step": [0, 10, 20, 30, 40]}
    assert [
        np.allclose(tensor(frame), loss[..., i])
        for i, frame in enumerate(frames.rows["Tensor:data"])
    ] == [True] * 5
    assert rec.views["/loss"] == ("Tensor", "loss over x × y")


def test_over_time_is_the_log_tick_timeline_and_wins_over_step(tmp_path: Path) -> None:
    values = RNG.random((4, 3))
    ds = xr.Dataset(
        {"accuracy": (("over_time", "model"), values)},
        coords={"over_time": np.arange(4), "model": ["a", "b", "c"]},
    )
    rec = record(ds, tmp_path)
    assert rec["/accuracy"].times == {"log_tick": [0, 1, 2, 3]}
    assert [tensor(v).tolist() for v in rec["/accuracy"].rows["BarChart:values"]] == values.tolist()
    assert rec.timeline == "log_tick"


def test_repeats_are_a_mean_with_its_spread(tmp_path: Path) -> None:
    loss = RNG.random((2, 3, 10))
    accuracy = RNG.random((2, 3))
    ds = xr.Dataset(
        {"loss": (("lr", "repeat", "step"), loss), "accuracy": (("model", "repeat"), accuracy)},
        coords={"lr": [0.1, 0.2], "repeat": [0, 1, 2], "step": np.arange(10), "model": ["a", "b"]},
    )
    rec = record(ds, tmp_path)
    assert not any("repeat" in path for path in rec.entities)
    curves = rec["/loss"]
    mean, std = loss.mean(axis=1).T, loss.std(axis=1).T  # (step, lr)
    assert np.allclose(
        curves.rows["Scalars:scalars"], np.concatenate([mean, mean - std, mean + std], axis=1)
    )
    assert curves.static["SeriesLines:names"] == [
        "lr=0.1",
        "lr=0.2",
        "lr=0.1 − std",
        "lr=0.2 − std",
        "lr=0.1 + std",
        "lr=0.2 + std",
    ]
    assert np.allclose(tensor(rec["/accuracy"].static["BarChart:values"]), accuracy.mean(axis=1))
    assert np.allclose(tensor(rec["/accuracy/std"].static["BarChart:values"]), accuracy.std(axis=1))
    assert rec.views["/accuracy/std"][1].endswith("std over repeat")


def test_a_sweep_dataset_shows_results_not_its_bookkeeping(tmp_path: Path) -> None:
    ds = xr.Dataset(
        {
            "y": ("x", [10.0, 20.0]),
            "run_id": ("x", ["a" * 16, "b" * 16]),
            "status": ("x", ["done", "done"]),
        },
        coords={"x": [1, 2]},
    )
    rec = record(ds, tmp_path)
    assert set(rec.entities) == {"/y"}


def test_nothing_but_wall_clock_free_timelines(tmp_path: Path) -> None:
    ds = xr.Dataset(
        {"loss": (("lr", "step"), RNG.random((3, 5))), "acc": 0.5},
        coords={"lr": LR, "step": np.arange(5)},
    )
    rec = record(ds, tmp_path)
    assert {t for e in rec.entities.values() for t in e.times} == {"step"}


def test_a_dataset_with_nothing_to_show_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    ds = xr.Dataset({"run_id": ("x", ["a", "b"]), "note": ("x", ["fast", "slow"])})
    with pytest.raises(NothingToShow, match=r"not numeric: note"):
        to_rerun(ds, tmp_path / "sweep.rrd")
    assert list(tmp_path.iterdir()) == []


def test_a_filtered_slice_of_a_sweep_exports(tmp_path: Path) -> None:
    ds = xr.Dataset(
        {"accuracy": (("model", "lr"), RNG.random((2, 3)))},
        coords={"model": ["linear", "mlp"], "lr": LR},
    )
    rec = record(ds.sel(model="mlp").isel(lr=[0, 2]), tmp_path)
    assert rec["/accuracy"].rows["Scalars:scalars"] == [
        [ds.accuracy.values[1, 0]],
        [ds.accuracy.values[1, 2]],
    ]
