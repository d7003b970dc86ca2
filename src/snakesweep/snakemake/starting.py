"""Ctrl-C held back while a Snakemake run in this process (``snakesweep.sweep``) starts.

A first import interrupted half-way leaves a module, or Snakemake's plugin registries,
broken for the rest of the process's life; Snakemake imports much for the first time as it
reads its arguments, parses the Snakefile and builds its DAG. So ``driver._call_here``
holds an interrupt back from then until the jobs start (``release``, called by the
workflow's ``onstart``), or until Snakemake returns, whichever comes first.
"""

from __future__ import annotations

import threading

__all__ = ["hold", "holding", "note", "release"]

_HOLDING = threading.Event()
_NOTED = threading.Event()


def hold() -> None:
    """From now on, an interrupt is noted, not raised (``note``)."""
    _NOTED.clear()
    _HOLDING.set()


def holding() -> bool:
    return _HOLDING.is_set()


def note() -> None:
    """An interrupt came while held: ``release`` raises it."""
    _NOTED.set()


def release() -> None:
    """Interrupts are raised again; one noted meanwhile is raised now."""
    _HOLDING.clear()
    if _NOTED.is_set():
        _NOTED.clear()
        raise KeyboardInterrupt
