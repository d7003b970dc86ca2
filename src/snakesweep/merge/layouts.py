"""The direct reader's files: each run's ``result.nc`` read from its bytes, through the
HDF5 layouts seen so far.

The first ``result.nc`` of each layout is read with ``xr.load_dataset``, so xarray decides
what it holds (variables, dims, dtypes, attributes, coordinates), and h5py tells where each
variable's values lie in the file; every further file whose bytes equal that one's outside
those values is of that layout, and its values are taken from its bytes. Files it reads but
not through a layout seen before (other attributes, other lengths, compressed, chunked or
big-endian variables, strings) are each read with xarray and h5py, as a new layout: slower,
never different.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snakesweep import store
from snakesweep.merge.index import RunShape

# numpy, xarray and h5py are imported in the functions that use them: the Snakefile and the
# CLI import the merge and need none of them.

__all__ = ["Part", "Reader"]


@dataclass
class Part:
    """Runs of one shape, in domain order, with their values (one row per run)."""

    shape: RunShape
    runs: list[str]
    values: dict[str, Any]
    first: int
    """The domain position of the first run: the reference goes through runs in order."""


@dataclass
class _Span:
    """Where one variable's values lie in a file of a layout."""

    offset: int
    nbytes: int
    dtype: Any
    """As stored (int8 for a bool)."""
    shape: tuple[int, ...]
    boolean: bool

    def decode(self, raw: bytes, count: int = 1) -> Any:
        import numpy as np

        values = np.frombuffer(raw, dtype=self.dtype).reshape((count, *self.shape))
        return values != 0 if self.boolean else values


@dataclass(eq=False)
class _Layout:
    """One layout of result files: the shape of its first file, where its variables' values
    lie, and its bytes with those values zeroed (what another file of it equals)."""

    shape: RunShape
    size: int
    spans: list[_Span]
    masked: bytes
    slots: dict[str, int | None]
    """Data variable → its span, or None: its values are in no span, so they are the same in
    every file of this layout (``constants``)."""
    coord_slots: dict[str, int]
    constants: dict[str, Any]
    variants: dict[tuple[bytes, ...], RunShape] = field(default_factory=dict)

    def match(self, raw: bytes) -> tuple[RunShape, list[bytes]] | None:
        """The shape of a file of this layout and its values' bytes, or None if it is not one."""
        if len(raw) != self.size:
            return None
        work = bytearray(raw)
        pieces = []
        for span in self.spans:
            end = span.offset + span.nbytes
            pieces.append(raw[span.offset : end])
            work[span.offset : end] = bytes(span.nbytes)
        if work != self.masked:
            return None
        return self.variant(tuple(pieces[i] for i in self.coord_slots.values())), pieces

    def variant(self, coords: tuple[bytes, ...]) -> RunShape:
        """The shape of a file of this layout whose coordinates' bytes are ``coords``."""
        found = self.variants.get(coords)
        if found is None:
            import xarray as xr

            values = {
                d: self.spans[i].decode(raw)[0]
                for (d, i), raw in zip(self.coord_slots.items(), coords, strict=True)
            }
            found = self.variants[coords] = RunShape(
                self.shape.variables,
                {
                    d: xr.IndexVariable(
                        d, values[d], attrs=dict(c.attrs), encoding=dict(c.encoding)
                    )
                    if d in values
                    else c
                    for d, c in self.shape.coords.items()
                },
            )
        return found

    @classmethod
    def parse(cls, path: str, raw: bytes) -> tuple[_Layout, list[bytes]]:
        """The layout of one file (read with xarray and h5py), and its values' bytes."""
        import xarray as xr

        ds = xr.load_dataset(path, engine=store.ENGINE)
        shape = RunShape.of(ds)
        found = _spans(raw, ds)
        spans = [s for s in found.values() if s is not None]
        slot = {name: i for i, name in enumerate(n for n, s in found.items() if s is not None)}
        masked = bytearray(raw)
        for span in spans:
            masked[span.offset : span.offset + span.nbytes] = bytes(span.nbytes)
        layout = cls(
            shape,
            len(raw),
            spans,
            bytes(masked),
            {n: slot.get(n) for n in shape.variables},
            {d: slot[d] for d in shape.coords if d in slot},
            {n: ds.variables[n].values for n in shape.variables if n not in slot},
        )
        pieces = [raw[s.offset : s.offset + s.nbytes] for s in spans]
        layout.variants[tuple(pieces[i] for i in layout.coord_slots.values())] = shape
        return layout, pieces


_ENCODED = ("scale_factor", "add_offset", "missing_value", "_Unsigned", "units", "calendar")
_DIMENSION_ONLY = b"This is a netCDF dimension but not a netCDF variable"


def _spans(raw: bytes, ds: Any) -> dict[str, _Span | None]:
    """Where each variable's values lie in the file (None: not as plain bytes, decoded as
    they are stored, save a bool's int8, so they count as the layout's own bytes)."""
    import io

    import h5py

    spans: dict[str, _Span | None] = dict.fromkeys(map(str, ds.variables))
    try:
        h5 = h5py.File(io.BytesIO(raw), "r")
    except Exception:  # noqa: BLE001 - a file xarray reads: all of it is the layout's own
        return spans
    with h5:
        for name in spans:
            try:
                spans[name] = _span(h5, name, ds.variables[name], raw)
            except Exception:  # noqa: BLE001 - whatever h5py makes of it: the layout's own
                spans[name] = None
    return spans


def _span(h5: Any, name: str, var: Any, raw: bytes) -> _Span | None:
    """Where ``var``'s values lie in ``raw`` as ``var`` holds them, or None."""
    import numpy as np

    if _decoded(var.encoding):
        return None  # decoding changes the values: masked, scaled, times
    obj = _stored(h5, name, var)
    if obj is None:
        return None
    stored = obj.dtype
    boolean = var.dtype == bool and stored == np.int8 and var.encoding.get("dtype") == "bool"
    if not (boolean or stored == var.dtype) or stored.kind not in "biuf":
        return None
    nbytes = stored.itemsize * var.size
    offset = _contiguous(obj, nbytes, len(raw))
    if offset is None:
        return None
    span = _Span(offset, nbytes, stored, var.shape, boolean)
    decoded = span.decode(raw[offset : offset + nbytes])[0]
    if decoded.dtype != var.dtype or not np.array_equal(
        decoded, var.values, equal_nan=var.dtype.kind in "fc"
    ):
        return None
    return span


def _decoded(encoding: Mapping[str, Any]) -> bool:
    """Whether xarray changes the stored values as it reads them (masks, scales, times)."""
    import numpy as np

    fill = encoding.get("_FillValue")
    return any(k in encoding for k in _ENCODED) or (
        fill is not None and not (isinstance(fill, float | np.floating) and np.isnan(fill))
    )


def _stored(h5: Any, name: str, var: Any) -> Any:
    """The HDF5 dataset that holds ``var``'s values, of its shape; None for another, or for
    a dimension without a variable."""
    import h5py

    obj = h5.get(name)
    if not isinstance(obj, h5py.Dataset) or obj.shape != var.shape:
        return None
    dimension = obj.attrs.get("NAME")
    if isinstance(dimension, bytes) and dimension.startswith(_DIMENSION_ONLY):
        return None
    return obj


def _contiguous(obj: Any, nbytes: int, size: int) -> int | None:
    """Where the dataset ``obj`` lies in a file of ``size`` bytes when it is stored as
    ``nbytes`` plain contiguous bytes (no filter), else None."""
    import h5py

    plist = obj.id.get_create_plist()
    offset = obj.id.get_offset()
    if (
        plist.get_layout() != h5py.h5d.CONTIGUOUS
        or plist.get_nfilters()
        or offset is None
        or obj.id.get_storage_size() != nbytes
        or offset + nbytes > size
    ):
        return None
    return int(offset)


class Reader:
    """Reads result files through the layouts seen so far (a few kept per file size)."""

    KEPT = 4

    def __init__(self) -> None:
        self.layouts: dict[int, list[_Layout]] = {}
        self.groups: dict[
            tuple[int, int], tuple[_Layout, RunShape, list[str], list[list[bytes]]]
        ] = {}

    def add(self, run_id: str, path: str) -> None:
        """Read one run's file: through a layout seen before, else as a new one."""
        with open(path, "rb") as f:
            raw = f.read()
        known = self.layouts.setdefault(len(raw), [])
        for layout in known:
            found = layout.match(raw)
            if found is not None:
                self._keep(run_id, layout, *found)
                return
        layout, pieces = _Layout.parse(path, raw)
        known.insert(0, layout)
        del known[self.KEPT :]
        self._keep(
            run_id,
            layout,
            layout.variant(tuple(pieces[i] for i in layout.coord_slots.values())),
            pieces,
        )

    def _keep(self, run_id: str, layout: _Layout, shape: RunShape, pieces: list[bytes]) -> None:
        group = self.groups.get((id(layout), id(shape)))
        if group is None:
            group = self.groups[id(layout), id(shape)] = (
                layout,
                shape,
                [],
                [[] for _ in layout.spans],
            )
        group[2].append(run_id)
        for column, piece in zip(group[3], pieces, strict=True):
            column.append(piece)

    def parts(self, position: Mapping[str, int]) -> list[Part]:
        """The runs read, by shape, with their values (``position``: each run's in the
        domain)."""
        import numpy as np

        parts = []
        for layout, shape, runs, columns in self.groups.values():
            values = {}
            for name in shape.variables:
                slot = layout.slots[name]
                if slot is None:
                    constant = layout.constants[name]
                    values[name] = np.broadcast_to(constant, (len(runs), *constant.shape))
                else:
                    values[name] = layout.spans[slot].decode(b"".join(columns[slot]), len(runs))
            parts.append(Part(shape, runs, values, position[runs[0]]))
        return parts
