"""Freshness: whether the merged files hold exactly the current runs, decided by content.

File times cannot decide it: after a clone and ``dvc pull`` every file is new and in no
particular order, and Snakemake has no ``.snakemake/`` metadata. So:

* a run is done when ``runs/<run_id>/result.nc`` exists under its content address;
* the **merge key** is a hash of the plan's ``layout_digest`` (dimensions, coordinates,
  which run fills which cell) and every run's ``meta.json`` (new whenever a run is
  computed again); it exists only when every run is done;
* the merge records its key in ``sweep.json``, with the sizes and sha256 of ``sweep.nc``
  and ``runs.csv`` it wrote, so a damaged one is merged again (DVC caches and checks out
  all of them together, ``sweep.rrd`` too; its hash is not recorded, since a recording's
  bytes differ from merge to merge and ``sweep.json`` must not);
* at every Snakefile parse, ``stamp`` writes the current key to
  ``.snakesweep/merge.key``, an input of the merge whose time it sets: older than any
  output when the recorded key matches, newer than every output (with new content, so
  Snakemake's input checksums see a change too) when it does not. Snakemake then reruns
  the merge for whichever of its outputs is asked for, and otherwise leaves it alone (the
  run results are ``ancient`` inputs).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.planning.plan import Plan
from snakesweep.store import MERGED, MERGED_CHECKSUMS, SIZED, SWEEP_INDEX, Checksums

__all__ = [
    "merge_key",
    "merged_files",
    "recorded_key",
    "remember_files",
    "stamp",
    "stamp_code",
    "staged_files",
]


def merge_key(
    plan: Plan, results: str | os.PathLike[str], statuses: Mapping[str, str] | None = None
) -> str | None:
    """The hash of the layout and of every run's ``meta.json``; None while a run is not done.

    Each ``meta.json`` enters by its sha256, hashed once per change of the file (kept with
    the run's verdict, see ``snakesweep.checksums``)."""
    if statuses is None:
        statuses = store.run_statuses(results, plan.run_ids)
    if any(statuses[r] != "done" for r in plan.run_ids):
        return None
    checksums = Checksums(results)
    h = hashlib.sha256(plan.layout_digest.encode())
    for run_id in plan.run_ids:
        h.update(f"\0{run_id}\0{checksums.meta_digest(run_id)}".encode())
    checksums.save()
    return h.hexdigest()[:32]


def merged_files(results: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The size and sha256 of the merged files that exist, to record beside the key (each
    file hashed once per change of it, see ``snakesweep.checksums``)."""
    checksums = Checksums(results, MERGED_CHECKSUMS)
    files = {}
    for name in SIZED:
        try:
            st = os.stat(Path(results, name))
        except OSError:
            continue
        files[name] = {"bytes": st.st_size, "sha256": checksums.digest(name, st)}
    checksums.save()
    return files


def staged_files(staged: Mapping[str, Path]) -> dict[str, dict[str, Any]]:
    """``merged_files`` of files written aside, before they are renamed into place
    (``staged``: the aside path of each of ``SIZED``)."""
    return {
        name: {"bytes": os.stat(staged[name]).st_size, "sha256": store.file_sha256(staged[name])}
        for name in SIZED
        if name in staged
    }


def remember_files(results: str | os.PathLike[str], files: Mapping[str, Mapping[str, Any]]) -> None:
    """Keep the digests of merged files just renamed into place (``staged_files``), so that
    nobody hashes them again (best effort: it is a cache)."""
    checksums = Checksums(results, MERGED_CHECKSUMS)
    for name, known in files.items():
        try:
            st = os.stat(Path(results, name))
        except OSError:
            continue
        if st.st_size == known["bytes"]:
            checksums.remember(name, st, known["sha256"])
    checksums.save()


def recorded_key(results: str | os.PathLike[str]) -> str | None:
    """The key ``sweep.json`` records, if the merged files beside it are the ones it wrote."""
    try:
        with open(Path(results, SWEEP_INDEX), encoding="utf-8") as f:
            index: Any = json.load(f)
        key, files = index["key"], index["files"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(key, str) or files != merged_files(results) or len(files) != len(SIZED):
        return None
    return key


def stamp(
    plan: Plan,
    results: str | os.PathLike[str],
    statuses: Mapping[str, str] | None = None,
    key: str | None = None,
) -> bool:
    """Write ``merge.key`` and date it so that Snakemake merges exactly when it must
    (``key``: the merge key, when the caller has it already).

    Returns whether the merged files are fresh.
    """
    if key is None:
        key = merge_key(plan, results, statuses)
    fresh = key is not None and recorded_key(results) == key
    return store.date_key(
        store.merge_key_file(results),
        key,
        fresh,
        [Path(results, n) for n in MERGED],
        plan.layout_digest,
    )


def stamp_code(results: str | os.PathLike[str], stale: Collection[str]) -> None:
    """Date ``code.key``, the run jobs' input, so that Snakemake computes the stale runs again.

    Every run but a stale one reads it as ``ancient``; for those, it is rewritten (new
    text, so Snakemake's recorded input checksum differs) and dated now, after their
    results. With nothing stale it is left alone.
    """
    path = store.code_key_file(results)
    if not stale and path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256("\0".join(sorted(stale)).encode()).hexdigest()[:16]
    store.write_atomic(path, f"stale {len(stale)} {digest} {time.time_ns()}\n")
