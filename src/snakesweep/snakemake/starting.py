"""Ctrl-C held back while a sweep started from Python starts (``snakesweep.sweep``).

A first import interrupted half-way leaves a package (Hydra, say), or Snakemake's plugin
registries, broken for the rest of the process's life, and a sweep's start is made of first
imports: planning (Hydra, OmegaConf), Snakemake's own as it reads its arguments, parses the
Snakefile and builds its DAG. So within ``held()`` an interrupt (SIGINT, SIGTERM) is noted,
not raised, until the jobs start (``release``, called by the workflow's ``onstart`` when
Snakemake runs in this process) or a Snakemake is about to start or has returned
(``raise_if_came``), or the block ends: then it is raised, as ``KeyboardInterrupt``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["came", "held", "raise_if_came", "release", "terminated"]

_HOLDING = threading.Event()
_CAME = threading.Event()
_TERMINATED = threading.Event()
_DEPTH = [0]
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: Any) -> None:
    _CAME.set()
    if signum == signal.SIGTERM:
        _TERMINATED.set()
    if not _HOLDING.is_set():
        raise KeyboardInterrupt


@contextmanager
def held() -> Iterator[None]:
    """Interrupts noted, not raised, from now until ``release`` or the block's end (where
    one noted is raised); in the main thread (elsewhere no signal arrives). Blocks nest:
    the outermost one owns the handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outer = _DEPTH[0] == 0
    previous = {s: signal.getsignal(s) for s in SIGNALS} if outer else {}
    if outer:
        _CAME.clear()
        _TERMINATED.clear()
        _HOLDING.set()
        for s in SIGNALS:
            signal.signal(s, _interrupt)
    _DEPTH[0] += 1
    try:
        yield
    finally:
        _DEPTH[0] -= 1
        if outer:
            _HOLDING.clear()
            for s, handler in previous.items():
                signal.signal(s, handler)
            if _CAME.is_set():
                _CAME.clear()
                raise KeyboardInterrupt


def release() -> None:
    """Interrupts are raised again from now (the jobs have started); one noted is now."""
    _HOLDING.clear()
    raise_if_came()


def raise_if_came() -> None:
    """Raise the interrupt noted meanwhile, if any."""
    if _CAME.is_set():
        _CAME.clear()
        raise KeyboardInterrupt


def came() -> bool:
    """Whether an interrupt was noted and not raised yet."""
    return _CAME.is_set()


def terminated() -> bool:
    """Whether an interrupt of the current block was a SIGTERM."""
    return _TERMINATED.is_set()
