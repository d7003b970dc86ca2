"""Recording: a sweep's N-D Dataset → a rerun recording (``sweep.rrd``) whose blueprint lays it out.

``to_rerun(dataset, path)`` works on ``results/sweep.nc`` or on any slice of it; how the
Dataset's variables become entities and views is ``mapping``'s (``layout``, ``blueprint``).
This module sends them: columns are sent whole (``send_columns``), never one ``log`` call
per value, and the recording is encoded in memory and written aside, then renamed into place.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snakesweep import store
from snakesweep.view.mapping import (
    Bars,
    Leaf,
    NothingToShow,
    PlayState,
    Series,
    blueprint,
    layout,
)

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

__all__ = [
    "NothingToShow",
    "encode",
    "encode_note",
    "send",
    "send_rows",
    "to_rerun",
    "write_note",
]

APPLICATION_ID = "snakesweep"


def to_rerun(
    dataset: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    application_id: str = APPLICATION_ID,
    play_state: PlayState | None = None,
) -> Path:
    """Write ``dataset`` as a rerun recording with its blueprint to ``path``; return the path.

    The file is written aside and renamed into place, so it is whole or absent. Raises
    ``NothingToShow`` (and writes nothing) when no variable is numeric, ``NoSpaceError``
    when the disk is full. ``play_state``: see ``blueprint``.
    """
    data = encode(dataset, application_id=application_id, play_state=play_state)
    store.replace_with(Path(path), lambda tmp: tmp.write_bytes(data), len(data))
    return Path(path)


def encode(
    dataset: xr.Dataset,
    *,
    application_id: str = APPLICATION_ID,
    play_state: PlayState | None = None,
) -> bytes:
    """The bytes of ``dataset``'s recording with its blueprint (the ``.rrd`` that
    ``to_rerun`` writes). Raises ``NothingToShow`` when no variable is numeric."""
    root = layout(dataset)
    with _recording(application_id, blueprint(root, play_state=play_state)) as (rec, out):
        for leaf in root.leaves():
            send(rec, leaf)
    return out[0]


def write_note(
    path: str | os.PathLike[str], text: str, *, application_id: str = APPLICATION_ID
) -> Path:
    """Write a recording that holds one markdown note (for a sweep with nothing to plot)."""
    data = encode_note(text, application_id=application_id)
    store.replace_with(Path(path), lambda tmp: tmp.write_bytes(data), len(data))
    return Path(path)


def encode_note(text: str, *, application_id: str = APPLICATION_ID) -> bytes:
    """The bytes of a recording that holds one markdown note."""
    import rerun as rr
    import rerun.blueprint as rrb

    view = rrb.Blueprint(rrb.TextDocumentView(origin="/note", name="sweep"), auto_views=False)
    with _recording(application_id, view) as (rec, out):
        rec.log("/note", rr.TextDocument(text, media_type="text/markdown"), static=True)
    return out[0]


@contextmanager
def _recording(application_id: str, layout: Any) -> Iterator[tuple[Any, list[bytes]]]:
    """A recording stream encoded in memory with its default blueprint; yields it and a
    list that holds its bytes once the block is left.

    rerun's file sink is not used: on a full disk its writer thread ends and a flush waits
    for it for ever (SIGTERM cannot end that wait); the bytes are written by snakesweep,
    whose writes fail with an error."""
    import rerun as rr

    rec = rr.RecordingStream(application_id, send_properties=False)
    rec.set_log_time_enabled(False)  # the only timelines are the ones the mapping makes
    rec.set_log_tick_enabled(False)
    stream = rr.binary_stream(rec)
    out: list[bytes] = []
    try:
        rec.send_blueprint(layout, make_active=False, make_default=True)
        yield rec, out
        out.append(stream.read(flush=True) or b"")
    finally:
        rec.disconnect()


def send(rec: Any, leaf: Leaf) -> None:
    """Send one leaf: static, or along its timeline (scalars as one column, a row per time).

    rerun takes no batch of tensors in one column, so bars and tensors are logged one row
    per time. Every call is strict: rerun raises instead of dropping data with a warning.
    """
    import numpy as np
    import rerun as rr

    if isinstance(leaf, Series):
        rec.log(
            leaf.path,
            rr.SeriesLines(names=leaf.names, colors=leaf.colors, widths=leaf.widths),
            static=True,
            strict=True,
        )
        if leaf.timeline is None:
            rec.log(
                leaf.path,
                rr.Scalars(leaf.values),
                rr.TextDocument(_as_text(leaf), media_type="text/markdown"),
                static=True,
                strict=True,
            )
            return
        _send_scalars(rec, leaf, leaf.timeline.times, leaf.values)
        return
    if isinstance(leaf, Bars):
        widths = left = None
        if leaf.abscissa is not None:  # rerun starts a bar at its abscissa: centre it
            gap = leaf.abscissa[1] - leaf.abscissa[0]
            widths = np.full(len(leaf.abscissa), 0.8 * gap, dtype="f4")
            left = leaf.abscissa - 0.4 * gap
        rows: list[Any] = [
            rr.BarChart(v, abscissa=left, widths=widths)
            for v in (leaf.values if leaf.timeline is not None else [leaf.values])
        ]
    else:
        rows = [
            rr.Tensor(v, dim_names=leaf.dim_names, value_range=leaf.value_range)
            for v in (leaf.values if leaf.timeline is not None else [leaf.values])
        ]
    if leaf.timeline is None:
        rec.log(leaf.path, rows[0], static=True, strict=True)
        return
    for time, row in zip(leaf.timeline.times.tolist(), rows, strict=True):
        rec.set_time(leaf.timeline.name, sequence=time)
        rec.log(leaf.path, row, strict=True)
    rec.reset_time()


def send_rows(rec: Any, leaf: Series, which: np.ndarray) -> None:
    """Send the rows ``which`` (a boolean per time) of a series along its timeline, with
    its style."""
    import rerun as rr

    assert leaf.timeline is not None, "a static series has no rows"
    rec.log(
        leaf.path,
        rr.SeriesLines(names=leaf.names, colors=leaf.colors, widths=leaf.widths),
        static=True,
        strict=True,
    )
    _send_scalars(rec, leaf, leaf.timeline.times[which], leaf.values[which])


def _send_scalars(rec: Any, leaf: Series, times: np.ndarray, values: np.ndarray) -> None:
    import rerun as rr

    assert leaf.timeline is not None
    rows, width = values.shape
    rec.send_columns(
        leaf.path,
        indexes=[rr.TimeColumn(leaf.timeline.name, sequence=times)],
        columns=rr.Scalars.columns(scalars=values.reshape(-1)).partition([width] * rows),
        strict=True,
    )


def _as_text(leaf: Series) -> str:
    """A static scalar (with its spread) as one line of markdown."""
    value = leaf.values[0]
    if len(leaf.values) == 3:
        return f"**{leaf.title}**: {value:.6g} ± {leaf.values[2] - value:.3g}"
    return f"**{leaf.title}**: {value:.6g}"
