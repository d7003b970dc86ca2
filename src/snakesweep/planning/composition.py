"""Composing a domain's points into planned points and their configs, on every core when
the domain is large."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from snakesweep.core.configs import Composer, run_id_of
from snakesweep.core.grid import Coordinate
from snakesweep.planning.plan import PlannedPoint

__all__ = ["PARALLEL_POINTS", "Composition", "Progress"]


class Composition:
    """Composes points into planned points and their configs.

    A large domain (``PARALLEL_POINTS`` or more) is composed on every core: forked workers
    compose contiguous parts of it from the composer's state and send back each point's
    run id and config (only from a process with one thread, where forking is safe).
    A point's config leaves out ``snakesweep.domain``: the whole domain is no part of one
    point, and would be copied into every run's files.
    """

    def __init__(self, composer: Composer, hydra_overrides: Sequence[str], total: int = 0) -> None:
        self.composer = composer
        self.hydra_overrides = hydra_overrides
        self.points: list[PlannedPoint] = []
        self.configs: dict[str, dict[str, Any]] = {}
        self.progress = Progress(total)
        self._stripped: dict[int, tuple[Any, Any]] = {}

    def add(
        self, overrides: Sequence[str], index: tuple[int, ...], params: dict[str, Coordinate]
    ) -> PlannedPoint:
        """Compose one point, keep it (and its config, once per run) and return it."""
        run_id, resolved = self._resolve(overrides)
        self.progress.step()
        return self._keep(run_id, resolved, overrides, index, params)

    def add_all(self, points: Sequence[Any]) -> None:
        """Compose every point (``overrides``, ``index``, ``params``), in order."""
        workers = _workers(len(points))
        if workers == 1:
            for p in points:
                self.add(p.overrides, p.index, p.params)
            return
        size = -(-len(points) // workers)
        chunks = [points[i : i + size] for i in range(0, len(points), size)]
        children: list[tuple[int, int]] = []
        payloads: list[bytes] = []
        try:
            for chunk in chunks[1:]:
                children.append(self._fork(chunk))
            parts = [[self._step(self._resolve(p.overrides), len(chunks)) for p in chunks[0]]]
            for _, fd in children:
                with os.fdopen(fd, "rb", closefd=False) as f:
                    payloads.append(f.read())
        finally:  # also when this part failed or was interrupted: no worker is left behind
            for pid, fd in children:
                if len(payloads) < len(children):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.close(fd)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        for payload, chunk in zip(payloads, chunks[1:], strict=True):
            try:
                status, out = pickle.loads(payload)
            except Exception:  # noqa: BLE001 - a worker that died: compose its part here
                status, out = "error", None
            if status != "ok":  # compose it here: its error is raised as it is
                out = [self._resolve(p.overrides) for p in chunk]
            parts.append(out)
        for chunk, part in zip(chunks, parts, strict=True):
            for p, (run_id, resolved) in zip(chunk, part, strict=True):
                self._keep(run_id, resolved, p.overrides, p.index, p.params)

    def _fork(self, chunk: Sequence[Any]) -> tuple[int, int]:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: compose, send, leave without running any exit handler
            try:
                os.close(read)
                try:
                    payload = pickle.dumps(
                        ("ok", [self._resolve(p.overrides) for p in chunk]),
                        protocol=pickle.HIGHEST_PROTOCOL,
                    )
                except BaseException:  # noqa: BLE001 - the parent composes this part again
                    payload = pickle.dumps(("error", None))
                with os.fdopen(write, "wb") as f:
                    f.write(payload)
            finally:
                os._exit(0)
        os.close(write)
        return pid, read

    def _step(self, item: Any, by: int) -> Any:
        self.progress.step(by)
        return item

    def _resolve(self, overrides: Sequence[str]) -> tuple[str, dict[str, Any]]:
        resolved = self.composer.resolve_point(overrides, self.hydra_overrides)
        options = resolved.get("snakesweep")
        if isinstance(options, dict) and "domain" in options:
            kept = self._stripped.get(id(options))
            if kept is None:  # points of one base share the node: strip it once
                kept = self._stripped[id(options)] = (
                    options,
                    {k: v for k, v in options.items() if k != "domain"},
                )
            resolved = {**resolved, "snakesweep": kept[1]}
        return run_id_of(resolved), resolved

    def _keep(
        self,
        run_id: str,
        resolved: dict[str, Any],
        overrides: Sequence[str],
        index: tuple[int, ...],
        params: dict[str, Coordinate],
    ) -> PlannedPoint:
        self.configs.setdefault(run_id, resolved)
        point = PlannedPoint(run_id, tuple(index), tuple(overrides), params)
        self.points.append(point)
        return point


PARALLEL_POINTS = 20_000


def _workers(points: int) -> int:
    """How many processes compose a domain of this many points."""
    if points < PARALLEL_POINTS or not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), 8))


class Progress:
    """Prints composition progress to stderr when a plan takes more than a moment."""

    def __init__(self, total: int) -> None:
        self.total, self.count = total, 0
        self.start = self.last = time.monotonic()

    def step(self, by: int = 1) -> None:
        """Count ``by`` points composed; say how far every two seconds."""
        self.count += by
        now = time.monotonic()
        if now - self.last > 2.0:
            self.last = now
            print(
                f"snakesweep: composed {self.count}/{self.total} points",
                file=sys.stderr,
                flush=True,
            )

    def done(self) -> None:
        """Say how long it took, when progress was said."""
        if self.last != self.start:
            print(
                f"snakesweep: composed {self.total} points in "
                f"{time.monotonic() - self.start:.1f} s",
                file=sys.stderr,
                flush=True,
            )
