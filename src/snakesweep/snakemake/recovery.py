"""Recovery: what a killed Snakemake of ours left behind, cleared at the next parse.

A sweep killed with ``kill -9`` (or by a lost node, or the OOM killer) leaves Snakemake's
lock files in ``.snakemake/locks/`` and its incomplete markers in
``.snakemake/incomplete/`` for the jobs that were running. Left alone, the next
``snakemake`` refuses to start ("Directory cannot be locked", ``--unlock``) or computes
again a run whose result was committed just before the kill (``--rerun-incomplete``).

Neither is needed here: every Snakemake that parses these rules holds an advisory lock
(``.snakemake/snakesweep.lock``) for as long as it lives, and the kernel drops it however
the process ends. So a parse that gets that lock knows every Snakemake lock file it finds
is stale, and removes them. And a run's result appears only by the rename that commits it,
whole and with its checksum recorded (``snakesweep.checksums``), so an incomplete marker on
a run's result marks a job killed after its run was committed: the marker goes, and the run
stays done (a result that does not check out is computed again by snakesweep's own
check). The merge's markers are left to Snakemake, which merges again.

The results directory is held apart from that (``hold_results``): by one invocation that
computes at a time, across directories and machines (``snakesweep.store.locks``).
"""

from __future__ import annotations

import base64
import fcntl
import os
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import IO

from snakesweep.errors import ResultsBusy
from snakesweep.snakemake import arguments
from snakesweep.store import locks

__all__ = [
    "SNAKEMAKE",
    "WORKDIR_LOCK",
    "clear_run_markers",
    "clear_stale_locks",
    "hold_results",
    "hold_workdir_lock",
]

SNAKEMAKE = Path(".snakemake")
WORKDIR_LOCK = SNAKEMAKE / "snakesweep.lock"


def hold_workdir_lock() -> IO[str] | None:
    """Take the advisory lock that says a Snakemake of ours is alive in this directory;
    None if another one holds it."""
    WORKDIR_LOCK.parent.mkdir(exist_ok=True)
    handle = open(WORKDIR_LOCK, "a")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    _WORKDIR_LOCKS.append(handle)
    return handle


_WORKDIR_LOCKS: list[IO[str]] = []
"""The workdir locks this process took (``hold_workdir_lock``)."""


def release_workdir_locks() -> None:
    """Let go of the workdir locks this process holds: a Snakemake run in it has ended
    (``driver._call_here``), whether or not it finished (a dry run does not)."""
    while _WORKDIR_LOCKS:
        _WORKDIR_LOCKS.pop().close()


def hold_results(results: str, argv: Sequence[str]) -> tuple[locks.SweepLock | None, str | None]:
    """The sweep lock of ``results`` for this Snakemake (``snakesweep.locks``): inherited from
    ``snakesweep run``, or taken, after waiting for another live invocation when this one
    computes (``argv``: its arguments). One that computes nothing (a dry run, ``--unlock``,
    a summary) does not wait: it gets None and who holds the lock."""
    lock = locks.inherited_sweep(results, "snakemake")
    if lock is not None:
        return lock, None
    if arguments.computes(argv):
        try:
            return locks.hold_sweep(results, "snakemake", locks.say_waiting(results)), None
        except KeyboardInterrupt:  # Ctrl-C while waiting: nothing was started
            print(
                f"snakesweep: stopped waiting for {results}/; this snakemake computed nothing",
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(130) from None
    try:
        return locks.hold_sweep(results, "snakemake", locks.say_waiting(results), wait=0), None
    except ResultsBusy as exc:
        print(
            f"snakesweep: {results}/ is in use by {exc.holder}; this snakemake computes "
            "nothing (Snakemake's --unlock removes only Snakemake's lock files; a new "
            "`snakesweep run` or `snakemake` waits for it)",
            file=sys.stderr,
            flush=True,
        )
        return None, exc.holder


def clear_stale_locks() -> int:
    """Remove Snakemake's lock files; call only while holding the workdir lock. Returns
    how many there were."""
    lock_files = SNAKEMAKE / "locks"
    removed = 0
    try:
        with os.scandir(lock_files) as found:
            entries = list(found)
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.is_file():
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed


def clear_run_markers(results: Collection[str]) -> int:
    """Remove the incomplete markers of these output paths (the runs' results, which appear
    only whole); call only while holding the workdir lock. Returns how many went."""
    root = SNAKEMAKE / "incomplete"
    if not root.is_dir() or not results:
        return 0
    wanted = set(results)
    removed = 0
    for directory, _, files in os.walk(root):
        parts = [p.removeprefix("@") for p in Path(directory).relative_to(root).parts]
        for name in files:
            try:
                key = base64.urlsafe_b64decode("".join([*parts, name])).decode()
            except (ValueError, UnicodeDecodeError):
                continue  # not a marker (Snakemake's own migration file)
            if key in wanted:
                Path(directory, name).unlink(missing_ok=True)
                removed += 1
    return removed
