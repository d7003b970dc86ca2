"""Pictures: a sweep's results drawn with matplotlib, to be read without a viewer.

``draw_variable(dataset, name)`` draws one numeric variable of a sweep's Dataset
(``sweep.nc``, or any slice of it) into a matplotlib ``Figure``; ``draw_sweep`` draws every
one into one figure (the README's picture); ``write_picture`` and ``write_pictures`` write
them as PNG files (the report's ``pictures/``). Only matplotlib's Agg canvas draws
(``Figure`` and ``FigureCanvasAgg``, never ``pyplot`` or ``matplotlib.use``): no display, no
GPU, and no global state of matplotlib changes, a notebook's backend included.

What a picture of a variable shows (curves, bands, bars, heatmaps, points; its axes, panels,
legend or colour bar, title and size) follows the roles of its dimensions, as the recording
does: ``picture_layout`` decides it, this module draws it.

A picture takes 0.1–0.4 s to draw and save here (``benchmarks/pictures.py``), once matplotlib
is imported (about 0.3 s, paid once per process).
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from snakesweep import store
from snakesweep.errors import SnakesweepError
from snakesweep.view import picture_layout as layout
from snakesweep.view.dimensions import (
    REPEAT,
    NothingToShow,
    combinations,
    is_categorical,
    labels,
    numeric_variables,
    over_repeat,
)
from snakesweep.view.picture_layout import Axis, Choice

# numpy, xarray and matplotlib are imported in the functions that use them: the report job
# and the CLI import this module, and a sweep without pictures needs none of them.
if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = [
    "DPI",
    "NotNumeric",
    "draw_sweep",
    "draw_variable",
    "file_stems",
    "write_picture",
    "write_pictures",
]

DPI = 150
"""Pixels per inch of the PNG files."""
_SEQUENTIAL = "viridis"
_QUALITATIVE = "tab10"
_STYLES = ("-", "--", ":", "-.")


class NotNumeric(SnakesweepError, ValueError):
    """A variable that is not numbers (or booleans): nothing to draw; names it."""

    def __init__(self, name: str, dtype: Any) -> None:
        self.name = name
        super().__init__(
            f"variable {name!r} is not numeric ({dtype}): a picture draws numbers or booleans"
        )


# -- axes ------------------------------------------------------------------------------


def _place(ax: Axes, axis: Axis, which: Literal["x", "y"]) -> None:
    """Scale, ticks and label of one axis of ``ax``."""
    from matplotlib.ticker import NullLocator

    target = ax.xaxis if which == "x" else ax.yaxis
    if axis.log:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    if axis.ticks is not None:
        every = math.ceil(len(axis.ticks) / (12 if which == "x" else 15))
        target.set_ticks(axis.centers[::every], axis.ticks[::every])
        target.set_minor_locator(NullLocator())
        if which == "x" and sum(len(t) + 2 for t in axis.ticks) > 48:
            for tick in target.get_ticklabels():
                tick.set(rotation=30, horizontalalignment="right")


# -- drawing -----------------------------------------------------------------------------


def draw_variable(
    dataset: xr.Dataset,
    name: str,
    *,
    figure: Figure | SubFigure | None = None,
    x: str | None = None,
    hue: str | None = None,
    col: str | None = None,
) -> Figure:
    """Draw the numeric variable ``name`` of ``dataset`` (a sweep's, or a slice of it) and
    return the figure: a new one on matplotlib's Agg canvas, or the one that holds
    ``figure`` (a figure or subfigure to draw into). ``x``, ``hue``, ``col``: lines over
    ``x``, one per value of ``hue``, a panel per value of ``col`` (``layout.chosen``),
    instead of what the dimensions' roles choose. Raises ``KeyError`` for a variable
    ``dataset`` lacks, ``NotNumeric`` for one that is not numbers, and ``ValueError`` for
    a dimension it lacks."""
    var = dataset[name]
    if var.dtype.kind not in "biuf":
        raise NotNumeric(name, var.dtype)
    if REPEAT in var.dims and REPEAT in (x, hue, col):
        raise ValueError(
            f"{REPEAT!r} is averaged over: the picture draws the mean ± std of the repeats "
            "(select one repeat to draw it alone)"
        )
    data, spread = over_repeat(var)
    choice = layout.chosen(data, x, hue, col)
    panels = list(layout.panels(data, choice.facets))
    shown = panels[: layout.MAX_PANELS]
    ncols, nrows = layout.panel_grid(data, choice.facets, len(shown))
    target = (
        figure if figure is not None else _figure(layout.figure_size(choice, data, ncols, nrows))
    )
    axes = target.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    used = [axes[i // ncols][i % ncols] for i in range(len(shown))]
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    title = layout.picture_title(var, name, choice, spread is not None, len(shown), len(panels))
    target.suptitle(title, fontsize="large")
    if choice.kind == "heatmap":
        _heatmaps(target, used, data, name, choice, shown)
    elif choice.kind == "bars":
        _bars(target, used, data, spread, name, choice, shown)
    elif choice.kind == "points":
        _points(target, used, data, spread, name, choice, shown)
    else:
        _lines(target, used, data, spread, name, choice, shown)
    _tidy(axes, len(shown), ncols)
    return target.figure  # type: ignore[return-value]


def draw_sweep(dataset: xr.Dataset, names: Sequence[str] | None = None) -> Figure:
    """Draw every numeric variable of ``dataset`` (or ``names``) into one figure, each in a
    subfigure as ``draw_variable`` draws it, packed in rows. Raises ``NothingToShow`` when
    there is none to draw."""
    if names is None:
        names, skipped = numeric_variables(dataset)
        if not names:
            raise NothingToShow(skipped)
    sizes = []
    for name in names:
        var = dataset[name]
        if var.dtype.kind not in "biuf":
            raise NotNumeric(name, var.dtype)
        data = over_repeat(var)[0]
        choice = layout.choose(data)
        count = min(len(list(layout.panels(data, choice.facets))), layout.MAX_PANELS)
        sizes.append(
            layout.figure_size(choice, data, *layout.panel_grid(data, choice.facets, count))
        )
    rows = layout.pack_rows([w for w, _ in sizes], max(max(w for w, _ in sizes), 12.0))
    width = max(sum(sizes[i][0] for i in row) for row in rows)
    heights = [max(sizes[i][1] for i in row) for row in rows]
    figure = _figure((width, sum(heights)))
    for row, place in zip(
        rows,
        figure.subfigures(len(rows), 1, height_ratios=heights, squeeze=False)[:, 0],
        strict=True,
    ):
        widths = [sizes[i][0] for i in row]
        margin = (width - sum(widths)) / 2 if sum(widths) < 0.8 * width else 0.0
        if margin:  # a short row keeps its pictures' widths, centred
            widths = [margin, *widths, margin]
        parts = place.subfigures(1, len(widths), width_ratios=widths, squeeze=False)[0]
        for i, part in zip(row, parts[1:-1] if margin else parts, strict=True):
            draw_variable(dataset, names[i], figure=part)
    return figure


def _figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _styles(data: xr.DataArray, hue: Sequence[str]) -> list[dict[str, Any]]:
    """Colour (and line style) of each combination of ``hue``: a sequential scale for a
    numeric dimension (its order reads off the colours), distinct colours for categories;
    with two dimensions and at most four values of the second, one colour per value of the
    first and one dash per value of the second."""
    from matplotlib import colormaps

    count = combinations(data, hue)
    if not hue:
        return [{"color": "C0"}]

    def colours(dim: str | None, n: int) -> list[Any]:
        if dim is not None and not is_categorical(data, dim) and n > 1:
            return [colormaps[_SEQUENTIAL](0.85 * i / (n - 1)) for i in range(n)]
        if n <= 10:
            return [colormaps[_QUALITATIVE](i) for i in range(n)]
        return [colormaps[_SEQUENTIAL](0.85 * i / (n - 1)) for i in range(n)]

    if len(hue) == 2 and data.sizes[hue[1]] <= len(_STYLES):
        first = colours(hue[0], data.sizes[hue[0]])
        return [
            {"color": first[i], "linestyle": _STYLES[j]}
            for i in range(data.sizes[hue[0]])
            for j in range(data.sizes[hue[1]])
        ]
    return [{"color": c} for c in colours(hue[0] if len(hue) == 1 else None, count)]


def _lines(
    target: Figure | SubFigure,
    used: list[Axes],
    data: xr.DataArray,
    spread: xr.DataArray | None,
    name: str,
    choice: Choice,
    panels: list[dict[str, int]],
) -> None:
    import numpy as np

    assert choice.x is not None
    axis = layout.axis_of(data, choice.x)
    styles = _styles(data, choice.hue)
    names = layout.hue_labels(data, choice.hue)
    marker = "o" if choice.x not in layout.CLOCKS or data.sizes[choice.x] <= 12 else None
    for ax, panel in zip(used, panels, strict=True):
        part = data.isel(panel)
        part_spread = spread.isel(panel) if spread is not None else None
        for k, combo in enumerate(layout.panels(part, choice.hue)):
            y = np.asarray(part.isel(combo).transpose(choice.x).values)
            ax.plot(
                axis.centers,
                y,
                marker=marker,
                markersize=4,
                linewidth=1.6,
                label=names[k] if choice.hue else name,
                **styles[k],
            )
            if part_spread is not None:
                s = np.asarray(part_spread.isel(combo).transpose(choice.x).values)
                ax.fill_between(
                    axis.centers, y - s, y + s, color=styles[k]["color"], alpha=0.18, linewidth=0
                )
        if choice.facets:
            ax.set_title(layout.facet_title(data, panel), fontsize="medium")
        ax.grid(True, alpha=0.3)
    _place(used[0], axis, "x")
    for ax in used:
        ax.set_xlabel(layout.dim_label(data, choice.x))
        ax.set_ylabel(layout.value_label(data, name))
    if layout.hue_scale(data, choice):
        _colour_scale(target, used, data, choice.hue[0], [s["color"] for s in styles])
    elif choice.hue:  # one line needs no legend: the title says what its band is
        _legend(target, used[0], ", ".join(choice.hue), spread is not None)


def _colour_scale(
    target: Figure | SubFigure, used: list[Axes], data: xr.DataArray, dim: str, colours: list[Any]
) -> None:
    """A colour bar of the lines' colours, one step per value of ``dim``."""
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    n = len(colours)
    scale = ScalarMappable(BoundaryNorm(np.arange(n + 1) - 0.5, n), ListedColormap(colours))
    bar = target.colorbar(scale, ax=used, label=layout.dim_label(data, dim), shrink=0.9, pad=0.02)
    every = math.ceil(n / 8)
    bar.set_ticks(list(range(0, n, every)), labels=labels(data, dim)[::every])
    bar.minorticks_off()


def _legend(target: Figure | SubFigure, ax: Axes, title: str, band: bool) -> None:
    """One legend for every panel, outside them, on the right."""
    from matplotlib.patches import Patch

    handles, names = ax.get_legend_handles_labels()
    if band:
        handles.append(Patch(color="0.5", alpha=0.3, linewidth=0))
        names.append("± std")
    rows = (
        max(1, int(target.get_figheight() / 0.26) - 2) if hasattr(target, "get_figheight") else 14
    )
    target.legend(
        handles,
        names,
        title=title,
        loc="outside right center",
        ncols=math.ceil(len(handles) / rows),
        fontsize="small",
        title_fontsize="small",
        frameon=False,
    )


def _points(
    target: Figure | SubFigure,
    used: list[Axes],
    data: xr.DataArray,
    spread: xr.DataArray | None,
    name: str,
    choice: Choice,
    panels: list[dict[str, int]],
) -> None:
    """The results at the drawn values of ``choice.x``: a point per draw, with error bars
    over the repeats."""
    import numpy as np
    import xarray as xr

    assert choice.x is not None
    at = xr.broadcast(data[choice.x], data)[0].transpose(*data.dims)
    styles = _styles(data, choice.hue)
    names = layout.hue_labels(data, choice.hue)
    for ax, panel in zip(used, panels, strict=True):
        part, where = data.isel(panel), at.isel(panel)
        part_spread = spread.isel(panel) if spread is not None else None
        for k, combo in enumerate(layout.panels(part, choice.hue)):
            x = np.asarray(where.isel(combo).values, dtype="f8").ravel()
            y = np.asarray(part.isel(combo).values).ravel()
            label = names[k] if choice.hue else name
            if part_spread is not None:
                error = np.asarray(part_spread.isel(combo).values).ravel()
                ax.errorbar(
                    x,
                    y,
                    yerr=error,
                    fmt="o",
                    markersize=4,
                    capsize=2,
                    color=styles[k]["color"],
                    label=label,
                )
            else:
                ax.scatter(x, y, s=18, color=styles[k]["color"], label=label)
        if choice.facets:
            ax.set_title(layout.facet_title(data, panel), fontsize="medium")
        ax.grid(True, alpha=0.3)
    values = np.asarray(at.values, dtype="f8")
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() / values.min() >= 10:
        used[0].set_xscale("log")
    for ax in used:
        ax.set_xlabel(layout.dim_label(data, choice.x))
        ax.set_ylabel(layout.value_label(data, name))
    if choice.hue:
        _legend(target, used[0], ", ".join(choice.hue), False)


def _bars(
    target: Figure | SubFigure,
    used: list[Axes],
    data: xr.DataArray,
    spread: xr.DataArray | None,
    name: str,
    choice: Choice,
    panels: list[dict[str, int]],
) -> None:
    import numpy as np

    n = data.sizes[choice.x] if choice.x is not None else 1
    ticks = labels(data, choice.x) if choice.x is not None else [name]
    groups = list(layout.panels(data, choice.hue))
    styles = _styles(data, choice.hue)
    names = layout.hue_labels(data, choice.hue)
    width = 0.8 / len(groups)
    for ax, panel in zip(used, panels, strict=True):
        part = data.isel(panel)
        part_spread = spread.isel(panel) if spread is not None else None
        for k, group in enumerate(groups):
            order = [choice.x] if choice.x is not None else []
            values = np.atleast_1d(part.isel(group).transpose(*order).values)
            error = (
                np.atleast_1d(part_spread.isel(group).transpose(*order).values)
                if part_spread is not None
                else None
            )
            offset = (k - (len(groups) - 1) / 2) * width
            bars = ax.bar(
                np.arange(n) + offset,
                values,
                width,
                yerr=error,
                capsize=3,
                color=styles[k]["color"],
                label=names[k] if choice.hue else name,
            )
            if error is None and n * len(groups) <= 12:
                ax.bar_label(bars, fmt="{:.3g}", padding=2, fontsize="small")
        if choice.facets:
            ax.set_title(layout.facet_title(data, panel), fontsize="medium")
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.margins(y=0.12)
    used[0].set_xticks(np.arange(n), ticks)
    used[0].set_xlim(-0.6, n - 0.4)
    for ax in used:
        if choice.x is not None:
            ax.set_xlabel(layout.dim_label(data, choice.x))
        ax.set_ylabel(layout.value_label(data, name))
    if choice.hue:
        _legend(target, used[0], ", ".join(choice.hue), False)


def _heatmaps(
    target: Figure | SubFigure,
    used: list[Axes],
    data: xr.DataArray,
    name: str,
    choice: Choice,
    panels: list[dict[str, int]],
) -> None:
    import numpy as np
    from matplotlib.colors import Normalize

    assert choice.x is not None and choice.y is not None
    x, y = layout.axis_of(data, choice.x, cells=True), layout.axis_of(data, choice.y, cells=True)
    finite = data.values[np.isfinite(data.values)]
    norm = Normalize(*(float(finite.min()), float(finite.max())) if finite.size else (0, 1))
    mesh = None
    for ax, panel in zip(used, panels, strict=True):
        values = np.asarray(data.isel(panel).transpose(choice.y, choice.x).values)
        mesh = ax.pcolormesh(
            x.edges,
            y.edges,
            np.ma.masked_invalid(values),
            cmap=_SEQUENTIAL,
            norm=norm,
            shading="flat",
        )
        if choice.facets:
            ax.set_title(layout.facet_title(data, panel), fontsize="medium")
    _place(used[0], x, "x")
    _place(used[0], y, "y")
    for ax in used:
        ax.set_xlabel(layout.dim_label(data, choice.x))
        ax.set_ylabel(layout.dim_label(data, choice.y))
    assert mesh is not None, "a picture has a panel"
    target.colorbar(mesh, ax=used, label=layout.value_label(data, name), shrink=0.9, pad=0.02)


def _tidy(axes: Any, count: int, ncols: int) -> None:
    """Tick labels and axis labels on the outer panels only: the bottom one of each column
    (which may be above an empty place) and the first column."""
    flat = list(axes.flat)
    for i, ax in enumerate(flat[:count]):
        bottom = i + ncols >= count
        ax.xaxis.set_tick_params(labelbottom=bottom)
        if not bottom:
            ax.set_xlabel("")
        if i % ncols:
            ax.set_ylabel("")


# -- files -------------------------------------------------------------------------------


def file_stems(names: Sequence[str], reserved: Sequence[str] = ()) -> dict[str, str]:
    """A file name (without its suffix) per variable: the name, where it is one, and none of
    ``reserved``."""
    out: dict[str, str] = {}
    for name in names:
        stem = re.sub(r"[^\w.=+-]", "_", name).lstrip(".") or "variable"
        while stem in out.values() or stem in reserved:
            stem += "_"
        out[name] = stem
    return out


def write_picture(
    dataset: xr.Dataset, name: str, path: str | os.PathLike[str], *, dpi: int = DPI
) -> Path:
    """Write ``draw_variable(dataset, name)`` as a PNG to ``path`` (written aside and renamed
    into place); return the path."""
    path = Path(path)
    figure = draw_variable(dataset, name)
    store.replace_with(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi))
    return path


def write_pictures(
    dataset: xr.Dataset, directory: str | os.PathLike[str], *, dpi: int = DPI
) -> dict[str, Path]:
    """Write a PNG of each numeric variable of ``dataset`` into ``directory``
    (``<variable>.png``, see ``file_stems``), replacing it whole: the directory is written
    aside and renamed into place. Returns the file of each variable. Raises
    ``NothingToShow`` when there is no numeric variable, and an ``ExceptionGroup`` of every
    variable that cannot be drawn (then ``directory`` is left as it was)."""
    names, skipped = numeric_variables(dataset)
    if not names:
        raise NothingToShow(skipped)
    out = Path(directory)
    work = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        files: dict[str, Path] = {}
        errors: list[Exception] = []
        for name, stem in file_stems(names).items():
            try:
                write_picture(dataset, name, work / f"{stem}.png", dpi=dpi)
            except Exception as exc:  # noqa: BLE001 - every variable's failure, at once
                exc.add_note(f"variable {name!r}")
                errors.append(exc)
            files[name] = out / f"{stem}.png"
        if errors:
            raise ExceptionGroup(
                f"{len(errors)} of {len(names)} variables could not be drawn", errors
            )
        store.replace_dir(out, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return files
