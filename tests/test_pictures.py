"""Pictures of a sweep's results, drawn by matplotlib on small real Datasets.

Each case checks the figure's own artists: panels and their titles, axis labels and scales,
lines and their values, bands, bars, colour bars and legends.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from snakesweep.view.dimensions import MAX_LINES, NothingToShow
from snakesweep.view.picture_layout import MAX_PANELS
from snakesweep.view.pictures import (
    NotNumeric,
    draw_sweep,
    draw_variable,
    file_stems,
    write_picture,
    write_pictures,
)

RNG = np.random.default_rng(0)
LR = [0.01, 0.1, 1.0]


def panels(figure: Figure) -> list:
    """The figure's visible panels (not its colour bars)."""
    return [ax for ax in figure.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def colour_bars(figure: Figure) -> list:
    return [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]


def bands(ax) -> list:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def legend_of(figure: Figure) -> tuple[str, list[str]]:
    (legend,) = figure.legends
    return legend.get_title().get_text(), [t.get_text() for t in legend.get_texts()]


def ticks(ax, which: str = "x") -> list[str]:
    axis = ax.xaxis if which == "x" else ax.yaxis
    return [t.get_text() for t in axis.get_ticklabels()]


def test_curves_over_step_with_repeats_are_mean_lines_with_bands_a_panel_per_category() -> None:
    """The shipped example's shape: a panel per model, a line per lr, mean ± std bands."""
    loss = RNG.random((2, 3, 3, 20))
    ds = xr.Dataset(
        {
            "loss": (
                ("model", "optimizer.lr", "repeat", "step"),
                loss,
                {"long_name": "training cross-entropy"},
            )
        },
        coords={
            "model": ["linear", "mlp"],
            "optimizer.lr": [0.03, 0.3, 1.0],
            "repeat": [0, 1, 2],
            "seed": ("repeat", [7, 8, 9]),
            "step": np.arange(20),
        },
    )
    figure = draw_variable(ds, "loss")
    assert figure._suptitle.get_text() == (
        "loss: training cross-entropy (mean ± std over 3 repeats)"
    )
    axes = panels(figure)
    assert [ax.get_title() for ax in axes] == ["model=linear", "model=mlp"]
    for m, ax in enumerate(axes):
        assert ax.get_xlabel() == "step"
        assert len(ax.get_lines()) == 3 and len(bands(ax)) == 3
        for i, line in enumerate(ax.get_lines()):
            assert np.allclose(line.get_xdata(), np.arange(20))
            assert np.allclose(line.get_ydata(), loss[m, i].mean(axis=0))
        lower, upper = (
            loss[m, 0].mean(axis=0) - loss[m, 0].std(axis=0),
            loss[m, 0].mean(axis=0) + loss[m, 0].std(axis=0),
        )
        band = bands(ax)[0].get_paths()[0].vertices[:, 1]
        assert np.isclose(band.min(), lower.min()) and np.isclose(band.max(), upper.max())
    assert axes[0].get_ylabel() == "loss" and axes[1].get_ylabel() == ""  # outer only
    assert legend_of(figure) == ("optimizer.lr", ["0.03", "0.3", "1", "± std"])


def test_an_oscillator_is_a_curve_per_combination_a_panel_per_integrator() -> None:
    """x(damping: 3, integrator: 2, dt: 2, step): trajectories, not heatmaps at one step."""
    x = RNG.random((3, 2, 2, 200))
    ds = xr.Dataset(
        {"x": (("damping", "integrator", "dt", "step"), x, {"units": "m"})},
        coords={
            "damping": [0.1, 0.5, 2.0],
            "integrator": ["euler", "rk4"],
            "dt": [0.01, 0.05],
            "step": np.arange(200),
        },
    )
    figure = draw_variable(ds, "x")
    axes = panels(figure)
    assert [ax.get_title() for ax in axes] == ["integrator=euler", "integrator=rk4"]
    assert not colour_bars(figure)
    lines = axes[1].get_lines()
    assert len(lines) == 6
    assert np.allclose(lines[3].get_ydata(), x[1, 1, 1])  # damping=0.5, dt=0.05
    # a colour per damping, a dash per dt
    assert len({line.get_color() for line in lines}) == 3
    assert {line.get_linestyle() for line in lines} == {"-", "--"}
    assert axes[0].get_ylabel() == "x [m]"
    title, names = legend_of(figure)
    assert title == "damping, dt" and names[:2] == ["0.1, 0.01", "0.1, 0.05"]


def test_a_scalar_over_a_swept_number_is_lines_over_it_one_per_category() -> None:
    acc = RNG.random((2, 3))
    ds = xr.Dataset(
        {"accuracy": (("model", "lr"), acc)},
        coords={"model": ["linear", "mlp"], "lr": ("lr", LR, {"units": "1/s"})},
    )
    figure = draw_variable(ds, "accuracy")
    (ax,) = panels(figure)
    assert ax.get_xlabel() == "lr [1/s]" and ax.get_ylabel() == "accuracy"
    assert ax.get_xscale() == "log"  # positive, uneven, over two decades
    assert ticks(ax) == ["0.01", "0.1", "1"]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == acc.tolist()
    assert all(line.get_marker() == "o" for line in ax.get_lines())
    assert legend_of(figure) == ("model", ["linear", "mlp"])


def test_evenly_spaced_numbers_are_a_linear_axis() -> None:
    ds = xr.Dataset({"y": ("x", [1.0, 3.0, 2.0])}, coords={"x": [10, 20, 30]})
    (ax,) = panels(draw_variable(ds, "y"))
    assert ax.get_xscale() == "linear"
    assert list(ax.get_lines()[0].get_xdata()) == [10, 20, 30]
    assert not draw_variable(ds, "y").legends  # one line needs no legend


def test_two_numeric_dimensions_past_a_few_dozen_lines_are_a_heatmap_with_a_colour_bar() -> None:
    values = RNG.random((MAX_LINES + 5, MAX_LINES + 10))
    ds = xr.Dataset(
        {"loss": (("a", "b"), values)},
        coords={"a": np.arange(MAX_LINES + 5), "b": np.linspace(0, 1, MAX_LINES + 10)},
    )
    figure = draw_variable(ds, "loss")
    (ax,) = panels(figure)
    assert ax.get_xlabel() == "b" and ax.get_ylabel() == "a"  # the larger one across
    (mesh,) = ax.collections
    assert np.allclose(mesh.get_array().reshape(values.shape), values)
    (bar,) = colour_bars(figure)
    assert bar.get_ylabel() == "loss"
    assert not ax.get_lines()


def test_step_past_a_few_dozen_combinations_is_heatmaps_over_time_one_colour_scale() -> None:
    loss = RNG.random((8, 5, 30))  # 40 curves a panel would be too many
    ds = xr.Dataset(
        {"loss": (("a", "b", "step"), loss)},
        coords={"a": np.arange(8), "b": [0.1, 0.2, 0.3, 0.4, 0.5], "step": np.arange(30)},
    )
    figure = draw_variable(ds, "loss")
    axes = panels(figure)
    assert [ax.get_title() for ax in axes] == [f"b={b}" for b in (0.1, 0.2, 0.3, 0.4, 0.5)]
    assert len(colour_bars(figure)) == 1
    limits = {ax.collections[0].get_clim() for ax in axes}
    assert limits == {(loss.min(), loss.max())}
    assert axes[0].get_ylabel() == "a" and axes[-1].get_xlabel() == "step"


def test_categories_alone_are_grouped_bars_with_error_bars_over_repeats() -> None:
    score = RNG.random((2, 3, 4))
    ds = xr.Dataset(
        {"score": (("data", "model", "repeat"), score)},
        coords={
            "data": ["moons", "blobs"],
            "model": ["linear", "mlp", "cnn"],
            "repeat": np.arange(4),
        },
    )
    figure = draw_variable(ds, "score")
    (ax,) = panels(figure)
    assert ticks(ax) == ["linear", "mlp", "cnn"] and ax.get_xlabel() == "model"
    bars = [c for c in ax.containers if hasattr(c, "patches")]
    assert len(bars) == 2
    assert np.allclose([p.get_height() for p in bars[1].patches], score[1].mean(axis=1))
    errors = [c for c in ax.containers if c not in bars]
    assert len(errors) == 2  # error bars: ± std over the repeats
    assert legend_of(figure) == ("data", ["moons", "blobs"])


def test_random_draws_are_points_at_the_drawn_values() -> None:
    """A random search: the results at the learning rates drawn, a colour per model."""
    lr = 10 ** RNG.uniform(-4, -1, (2, 6))
    acc = RNG.random((2, 6, 3))
    ds = xr.Dataset(
        {"accuracy": (("model", "sample", "repeat"), acc)},
        coords={
            "model": ["linear", "mlp"],
            "sample": np.arange(6),
            "optimizer.lr": (("model", "sample"), lr),
            "width": (("model", "sample"), RNG.integers(1, 9, (2, 6))),
            "repeat": [0, 1, 2],
        },
    )
    figure = draw_variable(ds, "accuracy")
    (ax,) = panels(figure)
    assert ax.get_xlabel() == "optimizer.lr" and ax.get_xscale() == "log"
    (linear, mlp) = [c for c in ax.containers]  # error bars over the repeats
    assert np.allclose(mlp.lines[0].get_xdata(), lr[1])
    assert np.allclose(mlp.lines[0].get_ydata(), acc[1].mean(axis=1))
    assert legend_of(figure) == ("model", ["linear", "mlp"])
    # a concatenation's keys, NaN where a part lacks them, are not where points lie
    gaps = ds.assign_coords(
        {
            "optimizer.lr": ds["optimizer.lr"].where(ds.sample < 3),
            "width": ds["width"].astype("f8").where(ds.sample < 3),
        }
    )
    (ax,) = panels(draw_variable(gaps, "accuracy"))
    assert ax.get_xlabel() == "sample" and len(ax.get_lines()) == 2


def test_a_single_number_is_one_labelled_bar() -> None:
    figure = draw_variable(xr.Dataset({"y": 3.5}), "y")
    (ax,) = panels(figure)
    (bars,) = ax.containers
    assert [p.get_height() for p in bars.patches] == [3.5]
    assert [t.get_text() for t in ax.texts] == ["3.5"]


def test_many_categories_beside_a_number_are_heatmap_rows() -> None:
    acc = RNG.random((30, 4))
    ds = xr.Dataset(
        {"acc": (("task", "lr"), acc)},
        coords={"task": [f"t{i}" for i in range(30)], "lr": [1, 2, 3, 4]},
    )
    figure = draw_variable(ds, "acc")
    (ax,) = panels(figure)
    assert ax.get_ylabel() == "task" and ax.get_xlabel() == "lr"
    assert ticks(ax, "y")[:2] == ["t0", "t2"]  # thinned to be read
    assert len(colour_bars(figure)) == 1


def test_many_values_of_a_number_are_coloured_along_a_scale_with_a_colour_bar() -> None:
    wd = np.round(np.linspace(0.01, 0.2, 20), 3)
    ds = xr.Dataset(
        {"loss": (("wd", "step"), RNG.random((20, 10)))}, coords={"wd": wd, "step": np.arange(10)}
    )
    figure = draw_variable(ds, "loss")
    (ax,) = panels(figure)
    assert len(ax.get_lines()) == 20 and not figure.legends
    (bar,) = colour_bars(figure)
    assert bar.get_ylabel() == "wd" and ticks(bar, "y")[0] == "0.01"


def test_panels_past_the_most_a_picture_holds_are_cut_and_the_title_says_so() -> None:
    loss = RNG.random((30, 3, 10))
    ds = xr.Dataset(
        {"loss": (("task", "lr", "step"), loss)},
        coords={"task": [f"t{i}" for i in range(30)], "lr": LR, "step": np.arange(10)},
    )
    figure = draw_variable(ds, "loss")
    assert len(panels(figure)) == MAX_PANELS
    assert figure._suptitle.get_text() == f"loss (the first {MAX_PANELS} of 30 panels)"


def test_failed_runs_are_gaps_not_errors() -> None:
    y = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])
    ds = xr.Dataset({"y": (("model", "x"), y)}, coords={"model": ["a", "b"], "x": [1, 2, 3]})
    (ax,) = panels(draw_variable(ds, "y"))
    assert np.isnan(ax.get_lines()[1].get_ydata()).all()


def test_a_sweep_is_one_figure_a_subfigure_per_variable_packed_in_rows() -> None:
    """The README's picture: the wide loss picture alone, the two accuracies side by side."""
    shape = (2, 3, 3)
    ds = xr.Dataset(
        {
            "loss": (("model", "lr", "repeat", "step"), RNG.random((*shape, 10))),
            "train_accuracy": (("model", "lr", "repeat"), RNG.random(shape)),
            "test_accuracy": (("model", "lr", "repeat"), RNG.random(shape)),
            "note": ("lr", ["a", "b", "c"]),
            "run_id": ("lr", ["a", "b", "c"]),
        },
        coords={"model": ["linear", "mlp"], "lr": LR, "repeat": [0, 1, 2], "step": np.arange(10)},
    )
    figure = draw_sweep(ds)
    rows = [
        [
            sub._suptitle.get_text().split(" (")[0]
            for sub in row.subfigs
            if sub._suptitle is not None
        ]
        for row in figure.subfigs
    ]
    assert rows == [["loss"], ["train_accuracy", "test_accuracy"]]
    assert len(panels(figure)) == 4  # two models, then an accuracy each
    with pytest.raises(NothingToShow, match="not numeric: note"):
        draw_sweep(ds[["note", "run_id"]])


def test_text_is_refused_naming_the_variable() -> None:
    ds = xr.Dataset({"note": ("x", ["a", "b"])})
    with pytest.raises(NotNumeric, match=r"^variable 'note' is not numeric"):
        draw_variable(ds, "note")


def test_pictures_are_pngs_in_a_directory_replaced_whole(tmp_path: Path) -> None:
    from PIL import Image

    ds = xr.Dataset(
        {
            "loss": (("lr", "step"), RNG.random((3, 10))),
            "a/b": ("lr", [1, 2, 3]),
            "status": ("lr", ["done"] * 3),
        },
        coords={"lr": LR, "step": np.arange(10)},
    )
    out = tmp_path / "pictures"
    out.mkdir()
    (out / "stale.png").write_bytes(b"old")
    files = write_pictures(ds, out)
    assert files == {"loss": out / "loss.png", "a/b": out / "a_b.png"}
    assert sorted(p.name for p in out.iterdir()) == ["a_b.png", "loss.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["pictures"]  # nothing left aside
    with Image.open(out / "loss.png") as image:
        assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 400
    with pytest.raises(NothingToShow):
        write_pictures(ds[["status"]], out)
    assert sorted(p.name for p in out.iterdir()) == ["a_b.png", "loss.png"]


def test_a_picture_is_written_aside_and_renamed(tmp_path: Path) -> None:
    ds = xr.Dataset({"y": ("x", [1.0, 2.0])}, coords={"x": [0, 1]})
    path = write_picture(ds, "y", tmp_path / "y.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError):
        write_picture(ds, "z", tmp_path / "z.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.png"]


def test_file_stems_are_names_made_safe_and_distinct() -> None:
    assert file_stems(["loss", "a/b", "a_b", ".hidden"], reserved=["loss"]) == {
        "loss": "loss_",
        "a/b": "a_b",
        "a_b": "a_b_",
        ".hidden": "hidden",
    }


def test_drawing_leaves_matplotlib_as_it_was(tmp_path: Path) -> None:
    """No pyplot, no backend chosen or switched: a notebook's matplotlib is left alone."""
    script = (
        "import matplotlib, sys, xarray as xr\n"
        "matplotlib.rcParams['lines.linewidth'] = 7.0\n"
        "from snakesweep.view.pictures import write_picture\n"
        "write_picture(xr.Dataset({'y': ('x', [1.0, 2.0])}), 'y', sys.argv[1])\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert matplotlib.rcParams._get_backend_or_none() is None\n"  # still undecided
        "assert matplotlib.rcParams['lines.linewidth'] == 7.0\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "y.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout == "ok\n", out.stderr
    assert (tmp_path / "y.png").is_file()
