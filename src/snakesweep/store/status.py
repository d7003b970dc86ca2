"""Run statuses: the one place that says whether a run is done, stale, corrupt, failed or
pending.

Whether a run is ``stale`` depends on the code it would run now, which only the caller
knows (``provenance.CurrentCode``, made from the plan's options): it passes it as ``code``,
a function of the run and the files its ``meta.json`` records, so the store never reads
an experiment's sources. A caller that passes none never sees ``stale``: a run computed
with other code is ``done`` to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Literal

from snakesweep.store.checksums import Checksums
from snakesweep.store.layout import RESULT, runs_dir
from snakesweep.store.runs import read_meta

__all__ = ["FAILED", "CodeNow", "Status", "run_statuses"]

Status = Literal["done", "stale", "failed", "pending", "corrupt"]
"""A run is ``done`` when it has its result, ``stale`` when that result was computed with
other code than the current (see ``provenance``), ``corrupt`` when its result is not the
file it recorded at completion (changed, truncated, or its ``meta.json`` gone), ``failed``
when it recorded an error, and ``pending`` otherwise."""

FAILED = ("failed", "timeout")
"""The ``meta.json`` statuses of a run that ended without a result."""

CodeNow = Callable[[str, tuple[str, ...]], str]
"""The current code fingerprint of a run, given its id and the files its ``meta.json``
records (``provenance.CurrentCode``): called for the done runs only, once per run."""


def run_statuses(
    results: str | os.PathLike[str], run_ids: Iterable[str], code: CodeNow | None = None
) -> dict[str, Status]:
    """The status of each run (see ``Status``).

    A result counts as done only when it is the file its ``meta.json`` recorded at
    completion (``checksums``, which hashes a file once per change of it). With ``code``,
    a done run is stale when its ``meta.json`` records another code fingerprint than
    ``code`` gives for the files it records, or records none; without, it stays done.
    """
    root = runs_dir(results)
    try:
        with os.scandir(root) as entries:
            present = {e.name for e in entries if e.is_dir() and not e.name.startswith(".")}
    except FileNotFoundError:
        present = set()
    checksums = Checksums(results)
    out: dict[str, Status] = {}
    where = str(root)
    for run_id in run_ids:
        if run_id not in present:
            out[run_id] = "pending"
            continue
        try:
            st = os.stat(f"{where}/{run_id}/{RESULT}")
        except OSError:
            meta = read_meta(results, run_id)
            out[run_id] = "failed" if meta and meta.get("status") in FAILED else "pending"
            continue
        whole, fingerprint, files = checksums.run(run_id, st)
        if not whole:
            out[run_id] = "corrupt"
        elif code is not None and (files is None or fingerprint != code(run_id, files)):
            out[run_id] = "stale"
        else:
            out[run_id] = "done"
    checksums.save()
    return out
