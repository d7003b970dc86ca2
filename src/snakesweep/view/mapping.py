"""Mapping: a sweep's N-D Dataset → rerun entities (``layout``) and the blueprint of views
that lays them out (``blueprint``); ``recording`` sends them.

It works on ``results/sweep.nc`` or on any slice of it. The mapping
follows bencher's ``RerunResult`` (see the seed 000), one result variable at a time:

* the **clock**: a dimension ``over_time`` becomes the ``log_tick`` timeline, else a
  dimension ``step`` (curves logged during a run) becomes the ``step`` timeline; no
  wall-clock timeline is logged;
* a dimension ``repeat`` is reduced to its mean, shown with the standard deviation over
  the repeats as its spread (``mean ± std`` lines, or a ``std`` entity beside bars and
  tensors);
* **categorical** dimensions (text or boolean coordinates: config groups, names) become
  entity-path branches, ``/loss/model=mlp/…``: all of them when numeric dimensions remain;
  when none does, all but the last, whose values become the bars of a ``BarChart``;
* over ``step``, a view whose other dimensions have at most ``dimensions.MAX_LINES``
  combinations is one curve per combination (``damping=0.1, dt=0.01``), so trajectories
  can be seen and compared; past that, the rules below apply at each step;
* the remaining **numeric** dimensions: 0 → ``Scalars``; 1 → a line over that dimension;
  2 → a ``Tensor`` (heatmap); 3 → a ``Tensor`` (volume); more → the outermost is peeled
  into branches and the rest mapped again;
* the blueprint mirrors the entity tree: one grid per variable and per branch, with a
  typed view (time series, bar chart, tensor) at each leaf.

Where it differs from bencher, and why:

* rerun plots every time series against the one timeline selected in the time panel.
  Without a clock, a line over a numeric dimension is a series on a timeline named after
  that dimension (its integer values, or the positions of other values). With a clock,
  a scalar result over one numeric dimension is drawn as bars at its coordinate values
  (bencher: a 1-D tensor). A result over ``step`` and a few dozen combinations of other
  values is one curve per combination in one view (bencher: a tensor or bars per tick), so
  runs compare at a glance; ``pictures`` draws the same curves.
* Repetitions are bencher's ``repeat`` reduced the same way, but the spread is kept.
* Columns are sent whole (``send_columns``), never one ``log`` call per value; one
  traversal builds both the data and the blueprint, so they cannot disagree.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from snakesweep.view.dimensions import (
    BOOKKEEPING,
    MAX_LINES,
    REPEAT,
    NothingToShow,
    combinations,
    even_spacing,
    is_categorical,
    labels,
    numeric_variables,
    over_repeat,
)

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

__all__ = [
    "BOOKKEEPING",
    "CLOCKS",
    "REPEAT",
    "Bars",
    "Branch",
    "Leaf",
    "NothingToShow",
    "PlayState",
    "Series",
    "Tensor",
    "blueprint",
    "layout",
]

CLOCKS = {"over_time": "log_tick", "step": "step"}
"""Dimensions that become rerun timelines, by precedence, and the timeline each becomes."""
PlayState = Literal["following", "paused", "playing"]
"""Where the viewer's time cursor starts (``blueprint``): at the end, still, or playing."""

# Series colours when a spread is drawn (rerun picks its own otherwise); the spread's
# lines are the same colour, fainter.
_PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


@dataclass(frozen=True)
class Timeline:
    """A rerun sequence timeline: the dimension it runs along, the time of each row."""

    name: str
    dim: str
    times: np.ndarray


@dataclass(frozen=True)
class _Scope:
    """What every leaf of one variable shares: the clock, and one colour scale for tensors."""

    clock: str | None
    value_range: tuple[float, float] | None


@dataclass(frozen=True)
class Series:
    """Scalars: one row per time (or one static row), one column per named series."""

    path: str
    title: str
    values: np.ndarray  # (times, series) or (series,) when static
    names: list[str]
    timeline: Timeline | None
    colors: list[tuple[int, int, int, int]] | None = None
    widths: list[float] | None = None


@dataclass(frozen=True)
class Bars:
    """A bar chart: bars at positions (categories) or at coordinate values (abscissa)."""

    path: str
    title: str
    values: np.ndarray  # (times, bars) or (bars,)
    abscissa: np.ndarray | None
    timeline: Timeline | None


@dataclass(frozen=True)
class Tensor:
    """A 2-D (heatmap) or 3-D (volume) tensor, static or one per time."""

    path: str
    title: str
    values: np.ndarray  # (times, *dims) or dims
    dim_names: list[str]
    timeline: Timeline | None
    value_range: tuple[float, float] | None = None


Leaf = Series | Bars | Tensor


@dataclass
class Branch:
    """A node of the entity tree: a variable, or one value of a peeled dimension."""

    path: str
    title: str
    children: list[Branch | Leaf] = field(default_factory=list)

    def leaves(self) -> Iterator[Leaf]:
        for child in self.children:
            if isinstance(child, Branch):
                yield from child.leaves()
            else:
                yield child


def layout(dataset: xr.Dataset) -> Branch:
    """The entity tree of ``dataset``: a branch per variable, a leaf per view.

    Raises ``NothingToShow`` when no variable is numeric.
    """
    clock = next((d for d in CLOCKS if d in dataset.dims), None)
    root = Branch("/", str(dataset.attrs.get("snakesweep_config_name", "sweep")))
    names, skipped = numeric_variables(dataset)
    for name in names:
        data, spread = over_repeat(dataset[name])
        scope = _Scope(clock, _value_range(data))
        branch = _map(data, spread, "/" + _part(name), name, scope)
        root.children.append(
            branch if isinstance(branch, Branch) else Branch(branch.path, name, [branch])
        )
    if not root.children:
        raise NothingToShow(skipped)
    return root


def _map(
    data: xr.DataArray, spread: xr.DataArray | None, path: str, title: str, scope: _Scope
) -> Branch | Leaf:
    """Peel categorical dimensions, then numeric ones beyond three, into branches; over
    ``step``, a few dozen curves or fewer are one view."""
    clock = scope.clock
    free = [str(d) for d in data.dims if d != clock]
    categorical = [d for d in free if is_categorical(data, d)]
    numeric = [d for d in free if d not in categorical]
    if categorical and (numeric or len(categorical) > 1):
        return _peel(data, spread, path, title, scope, categorical[0])
    timeline = _timeline(data, clock)
    if clock == "step" and timeline is not None and free and combinations(data, free) <= MAX_LINES:
        return _series(
            data, spread, path, f"{title} over step, by {' × '.join(free)}", timeline, free
        )
    if len(numeric) > 3:
        return _peel(data, spread, path, title, scope, numeric[0])
    return _leaf(data, spread, path, title, scope, timeline, categorical, numeric)


def _leaf(
    data: xr.DataArray,
    spread: xr.DataArray | None,
    path: str,
    title: str,
    scope: _Scope,
    timeline: Timeline | None,
    categorical: Sequence[str],
    numeric: Sequence[str],
) -> Branch | Leaf:
    """One view of what remains besides the clock: one categorical dimension (bars), or
    none and up to three numeric ones (scalars, a line or bars, a tensor)."""
    if categorical:
        return _bars(data, spread, path, title, timeline, categorical[0], abscissa=False)
    if not numeric:
        return _series(data, spread, path, title, timeline, [])
    if len(numeric) == 1:
        dim = numeric[0]
        if scope.clock is None:
            line = _timeline(data, dim)
            at_values = dim in data.coords and data[dim].dtype.kind in "iu"
            where = "" if at_values else _positions(data, dim)
            return _series(data, spread, path, f"{title} over {dim}{where}", line, [])
        return _bars(data, spread, path, title, timeline, dim, abscissa=True)
    return _tensor(data, spread, path, title, timeline, list(numeric), scope.value_range)


def _peel(
    data: xr.DataArray, spread: xr.DataArray | None, path: str, title: str, scope: _Scope, dim: str
) -> Branch:
    branch = Branch(path, title)
    for i, value in enumerate(labels(data, dim)):
        part = f"{dim}={value}"
        child_spread = spread.isel({dim: i}) if spread is not None else None
        branch.children.append(
            _map(
                data.isel({dim: i}),
                child_spread,
                f"{path}/{_part(part)}",
                f"{title}, {part}",
                scope,
            )
        )
    return branch


def _series(
    data: xr.DataArray,
    spread: xr.DataArray | None,
    path: str,
    title: str,
    timeline: Timeline | None,
    by: Sequence[str],
) -> Series:
    """A series per combination of values of ``by`` (or one), with ``mean ± std`` lines when
    spread is known."""
    import numpy as np

    order = ([timeline.dim] if timeline is not None else []) + list(by)
    values = np.asarray(data.transpose(*order).values)
    if timeline is not None:
        values = values.reshape(len(timeline.times), -1)
    else:
        values = values.reshape(-1)
    names = (
        [
            ", ".join(f"{d}={v}" for d, v in zip(by, combo, strict=True))
            for combo in itertools.product(*(labels(data, d) for d in by))
        ]
        if by
        else [title]
    )
    if spread is None:
        return Series(path, title, values, names, timeline)
    std = spread.transpose(*order).values.reshape(values.shape)
    colors = [_PALETTE[i % len(_PALETTE)] for i in range(len(names))]
    return Series(
        path,
        f"{title} (mean ± std over {REPEAT})",
        np.concatenate([values, values - std, values + std], axis=-1),
        names + [f"{n} − std" for n in names] + [f"{n} + std" for n in names],
        timeline,
        colors=[(*c, 255) for c in colors] + [(*c, 90) for c in colors] * 2,
        widths=[2.0] * len(names) + [1.0] * (2 * len(names)),
    )


def _bars(
    data: xr.DataArray,
    spread: xr.DataArray | None,
    path: str,
    title: str,
    timeline: Timeline | None,
    dim: str,
    abscissa: bool,
) -> Branch | Bars:
    """Bars over ``dim``: at its values when they are evenly spaced numbers, else at positions."""
    order = ([timeline.dim] if timeline is not None else []) + [dim]
    x = even_spacing(data, dim) if abscissa else None
    if x is not None:
        name = f"{title} over {dim}"
    else:
        name = f"{title} by {dim}{_positions(data, dim)}"
    bars = Bars(path, name, data.transpose(*order).values, x, timeline)
    if spread is None:
        return bars
    std = Bars(
        f"{path}/std", f"{name}: std over {REPEAT}", spread.transpose(*order).values, x, timeline
    )
    return Branch(path, title, [bars, std])


def _tensor(
    data: xr.DataArray,
    spread: xr.DataArray | None,
    path: str,
    title: str,
    timeline: Timeline | None,
    dims: list[str],
    value_range: tuple[float, float] | None,
) -> Branch | Tensor:
    """A heatmap or volume, coloured on the variable's whole range so views compare."""
    order = ([timeline.dim] if timeline is not None else []) + dims
    name = f"{title} over {' × '.join(dims)}"
    tensor = Tensor(path, name, data.transpose(*order).values, dims, timeline, value_range)
    if spread is None:
        return tensor
    std = Tensor(
        f"{path}/std", f"{name}: std over {REPEAT}", spread.transpose(*order).values, dims, timeline
    )
    return Branch(path, title, [tensor, std])


def _timeline(data: xr.DataArray, dim: str | None) -> Timeline | None:
    """The sequence timeline of ``dim``: its integer coordinates, else positions."""
    import numpy as np

    if dim is None or dim not in data.dims:
        return None
    coord = data[dim].values if dim in data.coords else None
    if coord is not None and coord.dtype.kind in "iu":
        times = coord.astype("i8")
    else:
        times = np.arange(data.sizes[dim], dtype="i8")
    return Timeline(CLOCKS.get(dim, dim), dim, times)


def _value_range(data: xr.DataArray) -> tuple[float, float] | None:
    import numpy as np

    finite = data.values[np.isfinite(data.values)]
    return (float(finite.min()), float(finite.max())) if finite.size else None


def _positions(data: xr.DataArray, dim: str) -> str:
    """What each position along ``dim`` stands for, for a title."""
    shown = [f"#{i}: {v}" for i, v in enumerate(labels(data, dim))]
    if len(shown) > 8:
        shown = [*shown[:4], "…", *shown[-3:]]
    return f" ({', '.join(shown)})"


def _part(text: str) -> str:
    import rerun as rr

    return str(rr.escape_entity_path_part(text))


def blueprint(root: Branch, header: str | None = None, play_state: PlayState | None = None) -> Any:
    """The rerun blueprint of an entity tree: grids mirror branches, typed views show leaves.

    Variables are stacked one per row; a static scalar is shown as text (a time series view
    draws nothing without a timeline). ``header``, an entity of markdown text, is shown in a
    short row above them (the live view's progress). ``play_state``: the time panel's
    (``"following"`` puts the time cursor at the end, as a picture of the results wants it;
    default: the viewer's own).
    """
    import rerun.blueprint as rrb

    def build(node: Branch | Leaf) -> Any:
        if isinstance(node, Branch):
            return rrb.Grid(*(build(c) for c in node.children), name=node.title)
        if isinstance(node, Series) and node.timeline is not None:
            return rrb.TimeSeriesView(
                origin=node.path, contents="$origin", name=node.title, axis_x=_whole(node.timeline)
            )
        view: Any = {Series: rrb.TextDocumentView, Bars: rrb.BarChartView, Tensor: rrb.TensorView}[
            type(node)
        ]
        return view(origin=node.path, contents="$origin", name=node.title)

    timelines = [leaf.timeline.name for leaf in root.leaves() if leaf.timeline is not None]
    rows = [build(child) for child in root.children]
    body = rrb.Vertical(*rows, name=root.title) if len(rows) > 1 else rows[0]
    if header is not None:
        body = rrb.Vertical(
            rrb.TextDocumentView(origin=header, name="progress"),
            body,
            row_shares=[1, 9],
            name=root.title,
        )
    return rrb.Blueprint(
        body,
        rrb.BlueprintPanel(state="collapsed"),
        rrb.SelectionPanel(state="collapsed"),
        rrb.TimePanel(timeline=timelines[0], state="collapsed", play_state=play_state)
        if timelines
        else rrb.TimePanel(state="hidden"),
        auto_views=False,
    )


def _whole(timeline: Timeline) -> Any:
    """An x axis that shows the whole timeline, not a window that follows the time cursor."""
    import rerun as rr
    import rerun.blueprint as rrb

    start, end = int(timeline.times.min()), int(timeline.times.max())
    return rrb.TimeAxis(
        view_range=rr.TimeRange(
            start=rr.TimeRangeBoundary.absolute(seq=start),
            end=rr.TimeRangeBoundary.absolute(seq=end),
        )
    )
