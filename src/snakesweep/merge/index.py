"""What the merged files already hold, so that a merge reads only what changed.

Two caches beside the checksums (``results/.snakesweep/``), each only ever a cache:
deleting one costs one reading of every run, never a wrong merge.

``merged.json``, the merge index: which runs ``sweep.nc`` holds, and what their results
hold besides their values (their *shapes*)::

    {"format": 1,
     "layout": "<plan.layout_digest>",          # the layout sweep.nc was merged for
     "sweep": {"bytes": 123, "sha256": "…"},     # sweep.nc as that merge wrote it
     "shapes": {"<key>": <RunShape>},            # variables, dims, dtypes, attrs, coords
     "runs": {"<run_id>": ["<result_sha256>", "<key>"], …}}   # the done runs merged

It is written by ``sweep.write_sweep`` after ``sweep.json``. The next merge takes a done
run's values from that ``sweep.nc`` instead of its ``result.nc`` when the index is for the
same layout, ``sweep.nc`` is still the file it records (and the one ``sweep.json``
records), and the run's ``meta.json`` records the same ``result_sha256``; every other
done run is read. What the Dataset's shape depends on (the order of the variables, their
dtypes, the union of their own coordinates, their attributes) is decided again from the
shapes of all the done runs, exactly as a full merge decides it.

``metas.json``: what a merge reads of every run's ``meta.json`` (its times, duration and
result checksum, and the few provenance fields ``runs.csv`` and ``provenance.json`` count;
see ``slim``), keyed by the ``os.stat`` of that file as ``checksums`` keys its verdicts, so
a merge parses only the ``meta.json`` files that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.store import (
    MERGE_INDEX,
    MERGE_METAS,
    MERGED_CHECKSUMS,
    SWEEP,
    SWEEP_INDEX,
    Checksums,
)

__all__ = ["FORMAT", "Previous", "RunMetas", "RunShape", "VarShape", "previous", "save", "slim"]
FORMAT = 1


@dataclass(frozen=True)
class VarShape:
    """One variable of a run's result, but its values: its own dims, shape, dtype, attrs;
    ``coordinate``: a coordinate that is no dimension's (``w`` along ``t``), merged as
    the results are, but a coordinate of ``sweep.nc``."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: Any
    attrs: dict[str, Any]
    coordinate: bool = False


@dataclass(eq=False)
class RunShape:
    """What a run's result holds besides its variables' values: its data variables (in the
    file's order), then the coordinates that are no dimension's, and the coordinate
    variables of its dimensions (values included)."""

    variables: dict[str, VarShape]
    coords: dict[str, Any]
    """dim → ``xarray.Variable`` (values, attrs, encoding), as ``xr.load_dataset`` reads it."""
    _indexes: dict[str, Any] = field(default_factory=dict, repr=False)

    def index(self, dim: str) -> Any:
        """The ``xarray.indexes.PandasIndex`` of a coordinate, as alignment builds it."""
        found = self._indexes.get(dim)
        if found is None:
            from xarray.indexes import PandasIndex

            found = self._indexes[dim] = PandasIndex.from_variables(
                {dim: self.coords[dim]}, options={}
            )
        return found

    @cached_property
    def encoded(self) -> Any:
        """The shape as JSON values, or None when something in it has no exact JSON form."""
        try:
            return {
                "vars": [
                    [
                        n,
                        list(v.dims),
                        list(v.shape),
                        _dtype(v.dtype),
                        _pairs(v.attrs),
                        *([1] if v.coordinate else []),
                    ]
                    for n, v in self.variables.items()
                ],
                "coords": [
                    [d, _value(c.values), _pairs(c.attrs), _pairs(c.encoding)]
                    for d, c in self.coords.items()
                ],
            }
        except _NoJson:
            return None

    @cached_property
    def key(self) -> str | None:
        """A digest of everything in the shape (None when it has no exact JSON form)."""
        if self.encoded is None:
            return None
        text = json.dumps(self.encoded, separators=(",", ":"), sort_keys=False)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @classmethod
    def of(cls, ds: Any) -> RunShape:
        """What a run's result (as ``xr.load_dataset`` reads it) holds besides its values."""
        index = [str(k) for k, c in ds.coords.items() if c.dims == (k,)]
        variables = {
            str(n): VarShape(tuple(map(str, v.dims)), v.shape, v.dtype, dict(v.attrs))
            for n, v in ds.data_vars.items()
        }
        variables.update(
            {
                str(n): VarShape(
                    tuple(map(str, c.dims)), c.shape, c.dtype, dict(c.attrs), coordinate=True
                )
                for n, c in ds.coords.items()
                if str(n) not in index
            }
        )
        return cls(variables, {d: _without_source(ds.variables[d]) for d in index})

    @classmethod
    def decode(cls, data: Any) -> RunShape:
        import xarray as xr

        variables = {
            n: VarShape(tuple(dims), tuple(shape), _undtype(dt), _unpairs(attrs), bool(coordinate))
            for n, dims, shape, dt, attrs, *coordinate in data["vars"]
        }
        coords = {}
        for dim, values, attrs, encoding in data["coords"]:
            coords[dim] = xr.IndexVariable(
                dim, _unvalue(values), attrs=_unpairs(attrs), encoding=_unpairs(encoding)
            )
        return cls(variables, coords)


def _without_source(var: Any) -> Any:
    """A coordinate variable as read, but for the file it was read from (so runs of one
    shape are one shape; ``to_netcdf`` ignores it)."""
    out = var.copy(deep=False)
    out.encoding = {k: v for k, v in var.encoding.items() if k != "source"}
    return out


# Exact JSON forms of the values attributes and encodings hold (numpy scalars and arrays,
# strings, numbers, tuples, dtypes): each tagged with its type, so equal forms are equal
# values of equal types. Anything else raises _NoJson: that shape is not indexed.
class _NoJson(Exception):
    pass


def _dtype(dtype: Any) -> str:
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufcUSO":
        raise _NoJson(str(dtype))
    return dtype.str


def _undtype(text: str) -> Any:
    import numpy as np

    return np.dtype(text)


def _value(value: Any) -> Any:
    import numpy as np

    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, float):
        return ["f", value]
    if value is None:
        return ["n"]
    if isinstance(value, tuple):
        return ["t", [_value(v) for v in value]]
    if isinstance(value, list):
        return ["l", [_value(v) for v in value]]
    if isinstance(value, np.dtype):
        return ["d", _dtype(value)]
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return ["g", _dtype(value.dtype), value.item()]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufUO":
        items = value.ravel().tolist()
        if value.dtype.kind == "O" and not all(type(v) is str for v in items):
            raise _NoJson("an object array of other than strings")
        return ["a", _dtype(value.dtype), list(value.shape), items]
    raise _NoJson(type(value).__name__)


def _unvalue(form: list[Any]) -> Any:
    import numpy as np

    tag = form[0]
    if tag in "sbif":
        return form[1]
    if tag == "n":
        return None
    if tag == "t":
        return tuple(_unvalue(v) for v in form[1])
    if tag == "l":
        return [_unvalue(v) for v in form[1]]
    if tag == "d":
        return _undtype(form[1])
    if tag == "g":
        return _undtype(form[1]).type(form[2])
    if tag == "a":
        dtype = _undtype(form[1])
        if dtype.kind == "O":
            out = np.empty(len(form[3]), dtype=object)
            out[:] = form[3]
            return out.reshape(form[2])
        return np.array(form[3], dtype=dtype).reshape(form[2])
    raise ValueError(f"unknown form {tag!r}")


def _pairs(mapping: Mapping[str, Any]) -> list[Any]:
    return [[str(k), _value(v)] for k, v in mapping.items() if k != "source"]


def _unpairs(pairs: list[Any]) -> dict[str, Any]:
    return {k: _unvalue(v) for k, v in pairs}


@dataclass
class Previous:
    """A merge index that describes the ``sweep.nc`` beside it."""

    path: Path
    runs: dict[str, list[str]]
    shapes: dict[str, Any]
    _decoded: dict[str, RunShape] = field(default_factory=dict)

    def shape(self, run_id: str, sha256: str | None) -> RunShape | None:
        """The shape of ``run_id``'s result as merged, if the run merged is the one whose
        result now has ``sha256``; None otherwise (it must be read)."""
        entry = self.runs.get(run_id)
        if sha256 is None or not isinstance(entry, list) or len(entry) != 2 or entry[0] != sha256:
            return None
        key = entry[1]
        if key not in self._decoded:
            try:
                self._decoded[key] = RunShape.decode(self.shapes[key])
            except (KeyError, TypeError, ValueError, IndexError):
                return None
        return self._decoded[key]


def previous(results: str | os.PathLike[str], layout: str) -> Previous | None:
    """The merge index, if it is for ``layout`` and ``sweep.nc`` is still the file it
    records and ``sweep.json`` records (anything else: None, and the merge reads every run)."""
    try:
        with open(Path(results, MERGE_INDEX), encoding="utf-8") as f:
            index = json.load(f)
        with open(Path(results, SWEEP_INDEX), encoding="utf-8") as f:
            recorded = json.load(f)["files"][SWEEP]
        if index["format"] != FORMAT or index["layout"] != layout:
            return None
        sweep, runs, shapes = index["sweep"], index["runs"], index["shapes"]
        st = os.stat(Path(results, SWEEP))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not (isinstance(runs, dict) and isinstance(shapes, dict) and isinstance(sweep, dict)):
        return None
    if sweep.get("bytes") != st.st_size or recorded != sweep:
        return None
    checksums = Checksums(results, MERGED_CHECKSUMS)
    digest = checksums.digest(SWEEP, st)
    checksums.save()
    if digest != sweep.get("sha256"):
        return None
    return Previous(Path(results, SWEEP), runs, shapes)


def save(
    results: str | os.PathLike[str],
    layout: str,
    sweep: Mapping[str, Any] | None,
    merged: Mapping[str, tuple[str | None, RunShape]],
) -> None:
    """Record what the ``sweep.nc`` just written holds: ``sweep`` is its size and sha256 (as
    ``sweep.json`` records them), ``merged`` each done run's result checksum and shape.
    Runs without a checksum or whose shape has no exact JSON form are left out (read again
    next time). Without ``sweep``, the index is removed."""
    path = Path(results, MERGE_INDEX)
    if sweep is None:
        path.unlink(missing_ok=True)
        return
    shapes: dict[str, Any] = {}
    runs: dict[str, list[str]] = {}
    for run_id, (sha256, shape) in merged.items():
        key = shape.key
        if sha256 is None or key is None:
            continue
        shapes.setdefault(key, shape.encoded)
        runs[run_id] = [sha256, key]
    text = json.dumps(
        {"format": FORMAT, "layout": layout, "sweep": dict(sweep), "shapes": shapes, "runs": runs},
        separators=(",", ":"),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        store.write_atomic(path, text)
    except OSError:
        path.unlink(missing_ok=True)  # a full disk: read every run next time


def slim(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a run's ``meta.json`` a merge reads of every run: for ``runs.csv``
    (duration, debug, commit), ``provenance.sweep_record`` (start, end, duration; whether
    git and code were recorded; debug, commit, code fingerprint, host) and the merge index
    (``result_sha256``). Each kept in the structure it has, so both read it as they read
    the whole file (the newest run's whole record is read apart; see ``sweep.sweep_record``)."""
    out = {k: meta[k] for k in ("start", "end", "duration", "result_sha256") if k in meta}
    record = meta.get("provenance")
    if "provenance" in meta and not isinstance(record, dict):
        out["provenance"] = record
    elif isinstance(record, dict):
        kept: dict[str, Any] = {k: record[k] for k in ("debug",) if k in record}
        for part, key in (("git", "commit"), ("code", "fingerprint"), ("system", "host")):
            if part in record:
                value = record[part]
                kept[part] = (
                    ({key: value[key]} if key in value else {})
                    if isinstance(value, dict)
                    else value
                )
        out["provenance"] = kept
    return out


class RunMetas:
    """Every run's ``slim`` meta, from ``metas.json`` where its ``meta.json`` is unchanged."""

    def __init__(self, results: str | os.PathLike[str]) -> None:
        self.results = Path(results)
        self.path = self.results / MERGE_METAS
        self._changed = False
        try:
            known = json.loads(self.path.read_bytes())
            if not isinstance(known, dict) or known.get("format") != FORMAT:
                raise ValueError
            self._known: dict[str, list[Any]] = known["runs"]
        except (OSError, ValueError, KeyError, TypeError):
            self._known = {}

    def read(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """Each run's slim meta, or None when it has no readable ``meta.json``."""
        runs = os.fspath(store.runs_dir(self.results))
        out: dict[str, dict[str, Any] | None] = {}
        for run_id in run_ids:
            try:
                st = os.stat(os.path.join(runs, run_id, store.META))
            except OSError:
                out[run_id] = None
                continue
            key = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
            known = self._known.get(run_id)
            if isinstance(known, list) and len(known) == 5 and known[:4] == key:
                out[run_id] = known[4]
                continue
            meta = store.read_meta(self.results, run_id)
            out[run_id] = None if meta is None else slim(meta)
            if meta is not None:
                self._known[run_id] = [*key, out[run_id]]
                self._changed = True
        return out

    def save(self) -> None:
        """Write what was read (best effort: the cache is never needed)."""
        if not self._changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            store.write_atomic(
                self.path,
                json.dumps({"format": FORMAT, "runs": self._known}, separators=(",", ":")),
            )
        except OSError:
            pass
        self._changed = False
