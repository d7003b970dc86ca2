"""The layout of a picture: what a picture of one variable draws, from its dimensions, and
how big (``pictures`` draws it; nothing here draws or imports matplotlib).

The picture follows the roles of the variable's dimensions (``dimensions``), as the
recording does:

* ``repeat`` → the mean over the repeats, with a band (or error bars) of ± one standard
  deviation;
* a clock (``step``, else ``over_time``) is the x axis: curves over it; without one, the
  numeric dimension with the most values is (lines with markers, on a log axis when its
  values are positive, uneven and span a decade or more, as learning rates do);
* the other numeric dimensions: a line per combination of their values, when there are at
  most ``dimensions.MAX_LINES``; past that, a heatmap of the x axis × the largest of them
  (the others become panels), one colour scale for the whole variable, with its colour bar;
* categorical dimensions (text, booleans): a panel per value (per combination, in rows ×
  columns; the first ``MAX_PANELS``); when no other dimension tells lines apart, the last
  one does instead, a line per value (past ``MAX_COLOURS`` values, a heatmap row each);
* no numeric dimension: bars over the last categorical dimension, grouped by the one
  before it, with error bars over the repeats;
* random draws (``sample``; ``point`` for mixtures and adaptive rounds), without a clock: a
  point per draw at the value of the first numeric key drawn (a log axis when it spans a
  decade or more), coloured by the last categorical dimension;
* every axis is labelled with its dimension (and ``units`` where the coordinate's
  attributes say them); the title is the variable's name, its ``long_name`` and ``units``,
  and what was reduced; a legend (or colour bar) is shared by the panels, outside them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from snakesweep.core.domain_expansion import POINT, ROUND, SAMPLE
from snakesweep.view.dimensions import (
    MAX_LINES,
    REPEAT,
    combinations,
    even_spacing,
    is_categorical,
    labels,
)

# numpy is imported in the functions that use it: the report job and the CLI import the
# pictures, and a sweep without pictures needs none of it.
if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

__all__ = [
    "CLOCKS",
    "DRAWS",
    "MAX_COLOURS",
    "MAX_PANELS",
    "PANEL",
    "Axis",
    "Choice",
    "axis_of",
    "choose",
    "chosen",
    "dim_label",
    "facet_title",
    "figure_size",
    "hue_labels",
    "hue_scale",
    "pack_rows",
    "panel_grid",
    "panels",
    "picture_title",
    "value_label",
]

CLOCKS = ("step", "over_time")
"""The dimensions that are a curve's x axis whenever a variable has them, by precedence."""
DRAWS = (SAMPLE, POINT)
"""The dimensions of random draws (and of adaptive rounds, and of concatenations): a result
over one of them, without a clock, is drawn at the values of its first numeric key."""
MAX_PANELS = 24
"""The most panels one picture holds; past that, the first ones are drawn, and the title
says so."""
PANEL = (4.2, 3.0)
"""Inches per panel: width, height."""
MAX_COLOURS = 10
"""The most values of a categorical dimension told apart by colour (lines, groups of bars);
a numeric dimension with more values than that is coloured along a scale, with a colour bar
instead of a legend."""


@dataclass(frozen=True)
class Choice:
    """What a picture of one variable draws, from its dimensions (the repeats reduced)."""

    kind: Literal["lines", "bars", "heatmap", "points"]
    x: str | None
    """lines: the x axis; heatmap: the columns; bars: the bars (None: one bar); points: the
    drawn coordinate they lie at."""
    hue: tuple[str, ...]
    """lines: a line per combination of these; bars: a bar of each group per value;
    points: a colour per value."""
    y: str | None
    """heatmap: the rows; points: the dimension of the draws."""
    facets: tuple[str, ...]
    """A panel per combination of these."""


def _drawn(data: xr.DataArray, dim: str) -> str | None:
    """The first numeric key drawn along ``dim`` (a coordinate along it, not a dimension),
    known at every draw (a concatenation's keys, NaN where a part lacks them, are not)."""
    import numpy as np

    for name, coord in data.coords.items():
        if (
            name not in data.dims
            and name != ROUND
            and dim in coord.dims
            and coord.dtype.kind in "iuf"
            and coord.size >= 2
            and np.isfinite(coord.values.astype("f8")).all()
        ):
            return str(name)
    return None


def choose(data: xr.DataArray) -> Choice:
    """What the picture of ``data`` (its repeats reduced) draws: points at random draws,
    bars without a numeric dimension, else lines or a heatmap over its x axis."""
    dims = [str(d) for d in data.dims]
    categorical = [d for d in dims if is_categorical(data, d)]
    numeric = [d for d in dims if d not in categorical]
    clock = next((d for d in CLOCKS if d in numeric), None)
    draws = next((d for d in DRAWS if d in numeric), None)
    drawn = _drawn(data, draws) if clock is None and draws is not None else None
    if drawn is not None:  # random draws (or rounds): the results at the drawn values
        return _points(data, drawn, draws, categorical, numeric)
    if clock is None and not numeric:
        return _bars(data, categorical)
    x = clock or max(numeric, key=lambda d: data.sizes[d])  # the first of the largest
    return _lines(data, x, categorical, [d for d in numeric if d != x])


def chosen(
    data: xr.DataArray, x: str | None = None, hue: str | None = None, col: str | None = None
) -> Choice:
    """``choose(data)``, or, with any of ``x``, ``hue`` and ``col`` given, lines over ``x``
    (``choose``'s x axis when not given), a line per value of ``hue``, a panel per value of
    ``col`` and of every other dimension. ``ValueError`` naming a dimension ``data`` lacks."""
    if x is None and hue is None and col is None:
        return choose(data)
    dims = [str(d) for d in data.dims]
    given = {role: d for role, d in (("x", x), ("hue", hue), ("col", col)) if d is not None}
    for role, dim in given.items():
        if dim not in dims:
            raise ValueError(
                f"{role}={dim!r} is not a dimension of this variable; "
                f"its dimensions: {', '.join(dims) or 'none'}"
            )
    if len(set(given.values())) < len(given):
        named = ", ".join(f"{role}={dim!r}" for role, dim in given.items())
        raise ValueError(f"x, hue and col name different dimensions, not {named}")
    if x is None:
        auto = choose(data).x
        rest = [d for d in dims if d not in (hue, col)]
        x = auto if auto in rest else max(rest, key=lambda d: data.sizes[d], default=None)
    if x is None:
        raise ValueError(f"nothing to draw along: every dimension is taken ({given})")
    facets = (*([col] if col else []), *(d for d in dims if d not in (x, hue, col)))
    return Choice("lines", x, (hue,) if hue else (), None, facets)


def _points(
    data: xr.DataArray, drawn: str, draws: str | None, categorical: list[str], numeric: list[str]
) -> Choice:
    """A point per draw (along ``draws``) at its value of ``drawn``, coloured by the last
    categorical dimension."""
    hue = tuple(d for d in categorical[-1:] if data.sizes[d] <= MAX_COLOURS)
    return Choice(
        "points",
        drawn,
        hue,
        draws,
        (*(d for d in categorical if d not in hue), *(d for d in numeric if d != draws)),
    )


def _bars(data: xr.DataArray, categorical: list[str]) -> Choice:
    """Bars over the last categorical dimension, grouped by the one before it (one bar
    without any)."""
    if not categorical:
        return Choice("bars", None, (), None, ())
    x = categorical[-1]
    hue = tuple(d for d in categorical[-2:-1] if data.sizes[d] <= MAX_COLOURS)
    return Choice("bars", x, hue, None, tuple(d for d in categorical if d != x and d not in hue))


def _lines(data: xr.DataArray, x: str, categorical: list[str], rest: list[str]) -> Choice:
    """Lines over ``x``, one per combination of the ``rest`` of the numeric dimensions (or
    per category), or a heatmap when they are too many to tell apart."""
    if rest and combinations(data, rest) > MAX_LINES:
        y = max(rest, key=lambda d: data.sizes[d])
        return Choice("heatmap", x, (), y, (*categorical, *(d for d in rest if d != y)))
    if not rest and categorical:  # a line per category, or a heatmap row per category
        last = categorical[-1]
        if data.sizes[last] <= MAX_COLOURS:
            return Choice("lines", x, (last,), None, tuple(categorical[:-1]))
        return Choice("heatmap", x, (), last, tuple(categorical[:-1]))
    return Choice("lines", x, tuple(rest), None, tuple(categorical))


@dataclass(frozen=True)
class Axis:
    """Where the values of a dimension lie along an axis of the picture."""

    dim: str
    centers: np.ndarray
    ticks: list[str] | None
    """Tick labels at the centers; None: matplotlib's own ticks."""
    log: bool = False

    @property
    def edges(self) -> np.ndarray:
        """The cells' boundaries around the centers (a heatmap's)."""
        import numpy as np

        c = np.log10(self.centers) if self.log else self.centers.astype("f8")
        if len(c) == 1:
            mid = np.array([c[0] - 0.5, c[0] + 0.5])
        else:
            inner = (c[1:] + c[:-1]) / 2
            mid = np.concatenate([[2 * c[0] - inner[0]], inner, [2 * c[-1] - inner[-1]]])
        return 10**mid if self.log else mid


def axis_of(data: xr.DataArray, dim: str, cells: bool = False) -> Axis:
    """The axis of ``dim``: its numbers where they read well (evenly spaced, or on a log
    scale), else positions labelled with its values. ``cells``: for a heatmap, whose cells
    must not be slivers."""
    import numpy as np

    n = data.sizes[dim]
    positions = np.arange(n, dtype="f8")
    if dim not in data.coords:
        return Axis(dim, positions, None)
    text = labels(data, dim)
    values = data[dim].values
    if values.dtype.kind not in "iuf" or not np.all(np.isfinite(values.astype("f8"))):
        return Axis(dim, positions, text)
    values = values.astype("f8")
    few = text if n <= 10 and sum(len(t) + 2 for t in text) <= 48 else None
    if n < 2 or even_spacing(data, dim) is not None:
        return Axis(dim, values, few)
    if np.all(values > 0) and values.max() / values.min() >= 10 and np.all(np.diff(values) > 0):
        return Axis(dim, values, few, log=True)
    if cells or np.any(np.diff(values) <= 0):
        return Axis(dim, positions, text)
    return Axis(dim, values, few)


def dim_label(data: xr.DataArray, dim: str) -> str:
    units = data[dim].attrs.get("units") if dim in data.coords else None
    return f"{dim} [{units}]" if units else dim


def value_label(data: xr.DataArray, name: str) -> str:
    units = data.attrs.get("units")
    return f"{name} [{units}]" if units else name


def pack_rows(widths: Sequence[float], width: float) -> list[list[int]]:
    """The pictures of each row, in order: rows no wider than ``width``, as few as may be,
    each as near their mean width as may be."""
    count = math.ceil(sum(widths) / width)
    while True:
        target = sum(widths) / count
        rows: list[list[int]] = [[]]
        for i, w in enumerate(widths):
            used = sum(widths[j] for j in rows[-1])
            if rows[-1] and (used + w > width or used + w - target > target - used):
                rows.append([])
            rows[-1].append(i)
        if len(rows) <= count:
            return rows
        count += 1


def panels(data: xr.DataArray, facets: Sequence[str]) -> Iterator[dict[str, int]]:
    for combo in itertools.product(*(range(data.sizes[d]) for d in facets)):
        yield dict(zip(facets, combo, strict=True))


def panel_grid(data: xr.DataArray, facets: Sequence[str], count: int) -> tuple[int, int]:
    """Columns and rows of ``count`` panels: a column per value of the last facet when
    there are two or more (a row per value of the others), else up to four a row, the rows
    as even as may be."""
    if len(facets) >= 2 and data.sizes[facets[-1]] <= 5:
        ncols = data.sizes[facets[-1]]
    else:
        ncols = math.ceil(count / math.ceil(count / 4)) if count else 1
    ncols = max(1, min(ncols, count))
    return ncols, max(1, math.ceil(count / ncols))


def figure_size(choice: Choice, data: xr.DataArray, ncols: int, nrows: int) -> tuple[float, float]:
    """The figure's size in inches: the panels, and room for a legend or a colour bar."""
    panel = PANEL[0]
    if choice.kind == "bars":  # bars as wide as they are many
        bars = (data.sizes[choice.x] if choice.x else 1) * combinations(data, choice.hue)
        panel = min(panel, 1.4 + 0.5 * bars)
    width, height = panel * ncols, PANEL[1] * nrows + 0.7
    if choice.kind == "heatmap" or hue_scale(data, choice):
        width += 0.9
    elif choice.hue:
        entries = combinations(data, choice.hue)
        columns = math.ceil(entries / max(1, int(height / 0.26) - 2))
        width += 0.4 + max(1.2, 0.09 * max(map(len, hue_labels(data, choice.hue)))) * columns
    return width, height


def hue_scale(data: xr.DataArray, choice: Choice) -> bool:
    """Whether the lines' colours follow a scale shown by a colour bar (one numeric
    dimension with more values than a legend tells apart) rather than a legend."""
    return (
        choice.kind == "lines"
        and len(choice.hue) == 1
        and not is_categorical(data, choice.hue[0])
        and data.sizes[choice.hue[0]] > MAX_COLOURS
    )


def picture_title(
    var: xr.DataArray, name: str, choice: Choice, spread: bool, shown: int, panels: int
) -> str:
    title = name
    long_name = var.attrs.get("long_name")
    if long_name and long_name != name:
        title += f": {long_name}"
    if var.attrs.get("units"):
        title += f" [{var.attrs['units']}]"
    notes = []
    if spread:
        what = "mean" if choice.kind == "heatmap" else "mean ± std"
        notes.append(f"{what} over {var.sizes[REPEAT]} repeats")
    if shown < panels:
        notes.append(f"the first {shown} of {panels} panels")
    return title + (f" ({'; '.join(notes)})" if notes else "")


def facet_title(data: xr.DataArray, panel: dict[str, int]) -> str:
    return ", ".join(f"{d}={labels(data, d)[i]}" for d, i in panel.items())


def hue_labels(data: xr.DataArray, hue: Sequence[str]) -> list[str]:
    return [", ".join(combo) for combo in itertools.product(*(labels(data, d) for d in hue))]
