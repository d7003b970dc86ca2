"""The run handle: what an experiment sees while it runs (``def train(cfg, run)``).

``run.log(step=…, loss=…)`` keeps values in memory and appends them to the run's
working directory (``log.jsonl`` in its draft) at most every ``snakesweep.debounce``
seconds and at the end, so a run killed mid-way leaves its flushed steps readable and is
never counted as done. ``run.blob(name, data, metadata)`` and the files put in ``run.dir``
become ``artifacts/`` of the run directory; ``run.update_metadata(...)`` merges into the
``metadata`` object of ``meta.json``. Everything is written inside the draft, so it appears
with the run, and a failing run keeps what it logged next to its error.

It knows nothing of Snakemake (see DESIGN.md: run handle).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from snakesweep.errors import ExperimentError

# numpy and xarray (~1 s to import together) are imported where logged values are numpy's or
# become a Dataset: ``import snakesweep`` (an experiment's) imports this module.

__all__ = ["LOG", "STEP", "WORK", "Run", "jsonify", "read_log"]

LOG = "log.jsonl"
"""Logged steps in a run's draft: one line per flush, a JSON array of the steps it wrote
(objects of ``step`` and the values); a step written again (it grew) replaces its copy."""
WORK = "work"
"""``run.dir`` inside the draft: its files become artifacts."""
STEP = "step"
"""The dimension of logged values."""


class Run:
    """One run, as its experiment sees it: ``id``, ``config``, ``seed``, ``dir``, and
    ``log``, ``blob``, ``update_metadata``."""

    def __init__(
        self,
        run_id: str,
        config: Any,
        draft: Path,
        *,
        seed: int | None = None,
        debounce: float = 1.0,
    ) -> None:
        self.id = run_id
        self.config = config
        self.seed = seed
        self._draft = draft
        self.dir = draft / WORK
        self.dir.mkdir(parents=True, exist_ok=True)
        self._debounce = debounce
        self._rows: list[dict[str, Any]] = []  # every step logged, merged per step
        self._flushed = 0
        self._last_flush = time.monotonic()
        self._step: int | None = None
        self._blobs: dict[str, dict[str, Any]] = {}
        self.metadata: dict[str, Any] = {}

    def log(self, step: int | None = None, **values: Any) -> None:
        """Record numbers at a step (the next one when ``step`` is not given)."""
        if step is None:
            step = 0 if self._step is None else self._step + 1
        elif type(step) is not int:
            step = _step(step, self.id)
        if self._step is not None and step < self._step:
            raise ExperimentError(
                self.id,
                f"run.log(step={step}): steps must not decrease (the last was {self._step})",
            )
        for key, value in values.items():
            if type(value) is not float and (
                type(value) is not int or not -(2**63) <= value < 2**63
            ):
                values[key] = _number(value, self.id, key, step)
        if step == self._step:
            self._rows[-1].update(values)
        else:
            values[STEP] = step
            self._rows.append(values)
            self._step = step
        now = time.monotonic()
        if now - self._last_flush >= self._debounce:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Append the steps logged since the last flush to ``log.jsonl`` in the draft."""
        # the last row may still grow (another key at the same step): it is written again
        start = max(self._flushed - 1, 0) if self._flushed else 0
        rows = self._rows[start:]
        if rows:
            with open(self._draft / LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(rows, allow_nan=True, separators=(",", ":")) + "\n")
            self._flushed = len(self._rows)
        self._last_flush = time.monotonic() if now is None else now

    def blob(
        self,
        name: str,
        data: bytes | str | os.PathLike[str],
        metadata: Mapping[str, Any] | None = None,
    ) -> Path:
        """Store ``data`` (bytes, text, or the path of a file, copied) as ``artifacts/NAME``."""
        relative = _artifact_name(name, self.id)
        meta = jsonify(dict(metadata or {}), self.id, f"blob {name!r} metadata")
        target = self.dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        elif isinstance(data, os.PathLike):
            source = Path(data)
            if not source.is_file():
                raise ExperimentError(self.id, f"run.blob({name!r}): {str(source)!r} is not a file")
            shutil.copyfile(source, target)
        elif isinstance(data, str):
            target.write_text(data, encoding="utf-8")
        else:
            raise ExperimentError(
                self.id,
                f"run.blob({name!r}): data must be bytes, str or a path, got {type(data).__name__}",
            )
        self._blobs[relative.as_posix()] = meta
        return target

    def update_metadata(self, metadata: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Merge into ``meta.json["metadata"]``: later calls win per key, mappings merged."""
        update = jsonify({**(metadata or {}), **more}, self.id, "metadata")
        _merge(self.metadata, update)

    # -- what execute does with it -----------------------------------------------------

    def finish(self, artifacts: Path) -> dict[str, Any]:
        """Flush; move ``run.dir``'s files to ``artifacts``; what ``meta.json`` records."""
        self.flush()
        files = sorted(p for p in self.dir.rglob("*") if p.is_file())
        if files:
            artifacts.mkdir(parents=True, exist_ok=True)
            for path in files:
                target = artifacts / path.relative_to(self.dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        shutil.rmtree(self.dir, ignore_errors=True)
        listed: dict[str, Any] = {p.relative_to(self.dir).as_posix(): {} for p in files}
        listed.update({k: v for k, v in self._blobs.items() if k in listed})
        return {
            "artifacts": [{"name": k, "metadata": v} for k, v in sorted(listed.items())],
            "metadata": self.metadata,
        }

    def dataset(self) -> Any:
        """The logged values as variables over ``step`` (NaN where a key was not logged)."""
        return _logged_dataset(self._rows)


def _logged_dataset(rows: list[dict[str, Any]]) -> Any:
    """Rows of ``{step, key: value}`` as a Dataset over ``step``."""
    import numpy as np
    import xarray as xr

    if not rows:
        return xr.Dataset()
    steps = np.fromiter((r[STEP] for r in rows), dtype=np.int64, count=len(rows))
    keys = list(dict.fromkeys(k for r in rows for k in r if k != STEP))
    variables = {}
    for key in keys:
        if all(type(r.get(key)) is int for r in rows):  # logged at every step, all integers
            data = np.fromiter((r[key] for r in rows), dtype=np.int64, count=len(rows))
        else:
            data = np.fromiter(
                (r.get(key, math.nan) for r in rows), dtype=np.float64, count=len(rows)
            )
        variables[key] = xr.DataArray(data, dims=[STEP])
    return xr.Dataset(variables, coords={STEP: steps})


def read_log(draft: Path) -> list[dict[str, Any]]:
    """The steps a (possibly killed) run flushed: the last copy of each step wins."""
    rows: dict[int, dict[str, Any]] = {}
    try:
        with open(draft / LOG, encoding="utf-8") as f:
            for line in f:
                try:
                    flushed = json.loads(line)
                except ValueError:
                    break  # a line cut short by a kill
                rows.update((row[STEP], row) for row in flushed)
    except FileNotFoundError:
        return []
    return [rows[s] for s in sorted(rows)]


def jsonify(value: Any, run_id: str, where: str) -> Any:
    """``value`` as JSON data, after run-logger's rules: numpy values, NaN (and infinities)
    → null, paths → str."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN or infinity
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ExperimentError(run_id, f"{where}: key {k!r} is not a string")
            out[k] = jsonify(v, run_id, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [jsonify(v, run_id, where) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return jsonify(tolist(), run_id, where)
    raise ExperimentError(
        run_id,
        f"{where}: {type(value).__name__} is not JSON data "
        "(numbers, strings, lists, mappings, None, paths, numpy values)",
    )


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _step(step: Any, run_id: str) -> int:
    import numpy as np

    if isinstance(step, (np.integer,)) or (
        hasattr(step, "ndim") and step.ndim == 0 and np.asarray(step).dtype.kind in "iu"
    ):
        return int(step)
    raise ExperimentError(run_id, f"run.log(step={step!r}): a step is an integer")


def _number(value: Any, run_id: str, key: str, step: int) -> float | int:
    import numpy as np

    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = value.item() if isinstance(value, np.generic) else value
        if isinstance(number, int) and not -(2**63) <= number < 2**63:
            raise ExperimentError(
                run_id,
                f"run.log: {key!r} at step {step} is {number}, "
                "outside 64-bit integers: log it as a float",
            )
        return number
    raise ExperimentError(
        run_id,
        f"run.log: {key!r} at step {step} is {type(value).__name__}"
        f" {value!r:.60}: logged values are numbers",
    )


def _artifact_name(name: str, run_id: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if (
        not name
        or path.is_absolute()
        or ".." in path.parts
        or "\\" in name
        or name.endswith("/")
        or path.name in ("", ".")
    ):
        raise ExperimentError(
            run_id, f"run.blob({name!r}): a blob's name is a relative path without '..'"
        )
    return path
