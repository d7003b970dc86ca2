"""Dimensions: what each dimension of a sweep's Dataset stands for, as its pictures read it.

The recording (``recording``, rerun) and the pictures (``pictures``, matplotlib) lay out a
result variable by the same roles of its dimensions:

* a **clock**: ``step`` (a curve a run logs) or ``over_time`` (the revisions of a history,
  see ``history``): the axis along which a result unfolds;
* the **repeats**: ``repeat`` (``snakesweep.repeats``, named by ``domain``), reduced to its
  mean, with the standard deviation over the repeats as its spread;
* **categorical** dimensions: text or boolean coordinates (config groups, names): a view
  (or a panel) per value, or the bars of a bar chart;
* **numeric** dimensions: the others (swept numbers, a run's own axes).

A view holds one line per combination of its numeric dimensions when there are at most
``MAX_LINES`` of them; past that, a heatmap shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from snakesweep.core.domain_expansion import REPEAT
from snakesweep.errors import SnakesweepError

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

__all__ = [
    "BOOKKEEPING",
    "MAX_LINES",
    "REPEAT",
    "NothingToShow",
    "combinations",
    "even_spacing",
    "is_categorical",
    "label",
    "labels",
    "numeric_variables",
    "over_repeat",
]

BOOKKEEPING = ("run_id", "status")
"""Variables of a sweep's Dataset that say where a cell came from, not what it holds."""
MAX_LINES = 30
"""The most lines one view holds (a few dozen); past that, a heatmap shows them."""


class NothingToShow(SnakesweepError, ValueError):
    """A Dataset without a numeric variable over its dimensions: a recording or a picture of
    it would show nothing."""

    def __init__(self, skipped: Sequence[str]) -> None:
        self.skipped = list(skipped)
        self.reason = (
            f"no numeric variable (not numeric: {', '.join(self.skipped)})"
            if self.skipped
            else "no result variables"
        )
        super().__init__(
            f"nothing to show: the Dataset has {self.reason}; a recording or a "
            "picture shows numeric results over the swept dimensions"
        )


def numeric_variables(dataset: xr.Dataset) -> tuple[list[str], list[str]]:
    """The result variables of ``dataset`` that can be pictured (numbers or booleans), and
    those that cannot (text, dates, objects); the bookkeeping is neither."""
    numeric: list[str] = []
    other: list[str] = []
    for name, var in dataset.data_vars.items():
        if name in BOOKKEEPING:
            continue
        (numeric if var.dtype.kind in "biuf" else other).append(str(name))
    return numeric, other


def over_repeat(data: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray | None]:
    """``data`` as floats, its ``repeat`` dimension (if any) reduced to the mean, and the
    standard deviation over the repeats (``ddof=0``, as ``results.over_repeats``), or None
    when it has no repeats."""
    data = data.astype("f8")
    if REPEAT not in data.dims:
        return data, None
    return data.mean(REPEAT, keep_attrs=True), data.std(REPEAT)


def is_categorical(data: xr.DataArray, dim: str) -> bool:
    """Whether ``dim`` has text or boolean coordinates (values to name, not to measure)."""
    return dim in data.coords and data[dim].dtype.kind in "OSUb"


def labels(data: xr.DataArray, dim: str) -> list[str]:
    """Each value of ``dim`` as text (its positions when it has no coordinate)."""
    if dim not in data.coords:
        return [str(i) for i in range(data.sizes[dim])]
    return [label(v) for v in data[dim].values.tolist()]


def label(value: Any) -> str:
    """A coordinate value as text: floats in their shortest form (``0.03``, ``1e-05``)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def even_spacing(data: xr.DataArray, dim: str) -> np.ndarray | None:
    """The coordinate values of ``dim`` when they are evenly spaced, increasing numbers."""
    import numpy as np

    if dim not in data.coords or data.sizes[dim] < 2 or data[dim].dtype.kind not in "iuf":
        return None
    x = data[dim].values.astype("f8")
    gaps = np.diff(x)
    if not np.all(np.isfinite(gaps)) or gaps[0] <= 0 or not np.allclose(gaps, gaps[0]):
        return None
    return x


def combinations(data: xr.DataArray, dims: Sequence[str]) -> int:
    """How many combinations of values ``dims`` have (1 for none)."""
    count = 1
    for dim in dims:
        count *= data.sizes[dim]
    return count
