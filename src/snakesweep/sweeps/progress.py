"""A sweep's progress where the user is: a bar of its runs (done, failed, pending, the ETA
at this call's pace) that a thread updates as runs are committed under ``results/runs/``
(a run's directory appears whole, ``meta.json`` with it). In Jupyter, tqdm's widget when
ipywidgets is there, else its text bar; elsewhere, its text bar on stderr."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from snakesweep import store
from snakesweep.planning.plan import Plan

__all__ = ["POLL", "Progress", "in_notebook"]

POLL = 0.5
"""Seconds between two looks at the runs."""


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell)."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """The bar of one call's runs; ``close()`` ends it with the final counts."""

    def __init__(self, plan: Plan, results: str, statuses: Mapping[str, str]) -> None:
        self.results = results
        self._status: dict[str, str] = dict(statuses)
        self._seen: dict[str, float] = {}
        self._stream = None if in_notebook() else _terminal()
        self._bar = _bar(
            len(self._status), sum(s == "done" for s in self._status.values()), self._stream
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._show()
        self._thread = threading.Thread(target=self._follow, name="snakesweep-progress")
        self._thread.daemon = True  # never keeps a kernel or an interpreter alive
        self._thread.start()

    def follow(self, plan: Plan) -> None:
        """A round grew the plan: its new runs are pending."""
        with self._lock:
            for run_id in plan.run_ids:
                self._status.setdefault(run_id, "pending")
            self._bar.total = len(self._status)
            self._show()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._look()
        self._bar.close()
        if self._stream is not None and self._stream is not sys.stderr:
            self._stream.close()  # the descriptor ``_terminal`` made

    def _follow(self) -> None:
        while not self._stop.wait(POLL):
            self._look()

    def _look(self) -> None:
        with self._lock:
            before = sum(s == "done" for s in self._status.values())
            for run_id, status in self._status.items():
                if status == "done":
                    continue
                meta = store.run_dir(self.results, run_id) / store.META
                try:
                    changed = os.stat(meta).st_mtime_ns
                except OSError:
                    continue
                if self._seen.get(run_id) == changed:
                    continue
                self._seen[run_id] = changed
                self._status[run_id] = _status_of(meta)
            done = sum(s == "done" for s in self._status.values())
            self._show(refresh=done == before)
            if done != before:
                self._bar.update(done - before)

    def _show(self, refresh: bool = True) -> None:
        failed = sum(s == "failed" for s in self._status.values())
        pending = sum(s not in ("done", "failed") for s in self._status.values())
        self._bar.set_postfix_str(f"{failed} failed, {pending} pending", refresh=refresh)


def _status_of(meta: os.PathLike[str]) -> str:
    try:
        status = json.loads(open(meta, encoding="utf-8").read()).get("status")
    except (OSError, ValueError, AttributeError):
        return "pending"  # being replaced (a retry): looked at again when it changes
    return status if status in ("done", "failed") else "pending"


def _bar(total: int, done: int, stream: Any) -> Any:
    """tqdm's notebook widget in Jupyter with ipywidgets, else its text bar (on ``stream``,
    or a notebook's stderr)."""
    if stream is None:
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm

            return tqdm(total=total, initial=done, desc="sweep", unit="run")
        except ImportError:
            pass
    from tqdm import tqdm as text

    return text(
        total=total,
        initial=done,
        desc="sweep",
        unit="run",
        file=stream or sys.stderr,
        dynamic_ncols=True,
    )


def _terminal() -> Any:
    """Where the text bar goes: this process's stderr, through a descriptor of its own when
    it is descriptor 2 (which Snakemake's output is sent elsewhere through meanwhile)."""
    try:
        if sys.stderr.fileno() == 2:
            return os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8")
    except (AttributeError, OSError, ValueError):  # a notebook's stream, or none
        pass
    return sys.stderr
