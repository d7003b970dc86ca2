"""Locks: who computes into a results directory, and which process computes which run.

Both are advisory locks that the kernel drops however their holder ends (``kill -9``
included): none is ever stale, none is removed by hand, and Snakemake's ``--unlock``, which
removes Snakemake's own lock files, never touches them.

- The sweep lock, ``results/.snakesweep/run.lock`` (``flock``). Whatever starts work on a
  results directory holds it: ``snakesweep run`` and ``report`` for the whole command, and
  every Snakemake that parses the rules to compute (plain ``snakemake``, the stages of
  ``dvc repro``, Hydra's launcher, ``snakemake.driver.run_snakemake``). A Snakemake that
  ``snakesweep run`` starts inherits its open lock file (named by ``SNAKESWEEP_LOCK_FD``),
  so the lock is held while either of them lives: ``kill -9`` of ``snakesweep run`` alone
  leaves its Snakemake the holder. Another invocation waits for it, saying who holds it
  (``SNAKESWEEP_LOCK_WAIT`` seconds at most, when set; ``0`` refuses at once), then computes
  only what is still pending.
- The run lock, ``results/.snakesweep/locks/<run_id>.lock`` (a POSIX record lock, which a
  process the run forks does not inherit). The process that computes a run holds it: a
  pool worker, a process per run, a batch's process for each of its runs. A process that
  finds it held waits, and then takes the run as done when it is: a run another live
  process computes is never computed again alongside it, whatever started the two.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from snakesweep.errors import ConfigError, ResultsBusy
from snakesweep.store.layout import run_lock_file, sweep_lock_file

__all__ = [
    "FD_ENV",
    "POLL",
    "UNLOCKABLE",
    "WAIT_ENV",
    "SweepLock",
    "hand_over",
    "held_sweeps",
    "hold_sweep",
    "inherited_sweep",
    "run_lock",
    "say_waiting",
    "sweep_lock",
    "wait_setting",
]

FD_ENV = "SNAKESWEEP_LOCK_FD"
"""The descriptors of the sweep locks a Snakemake inherits from ``snakesweep run``."""
WAIT_ENV = "SNAKESWEEP_LOCK_WAIT"
"""Seconds an invocation waits for the sweep lock at most (unset: until it is free)."""
UNLOCKABLE = (
    errno.ENOLCK,
    errno.EOPNOTSUPP,
    errno.EINVAL,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
)
"""Why a run's lock may not be taken, the run going on without it."""
POLL = 0.1
"""Seconds between two tries at a lock while a bounded wait lasts."""

_HELD: dict[Path, SweepLock] = {}


class SweepLock:
    """The sweep lock of one results directory, held by this process."""

    def __init__(self, results: str, handle: IO[str], holder: str, waited: bool) -> None:
        self.results = results
        self.handle = handle
        self.holder = holder
        """Who holds it, as the lock file says (``"snakesweep run (pid 12 on host)"``)."""
        self.waited = waited
        """Whether another invocation held it when this one asked."""

    @property
    def fd(self) -> int:
        return self.handle.fileno()

    def note(self, holder: str | None = None) -> None:
        """Write who holds the lock (``holder``, else this one), for whoever waits for it."""
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write((self.holder if holder is None else holder) + "\n")
        self.handle.flush()

    def release(self) -> None:
        _HELD.pop(_key(self.results), None)
        if not self.handle.closed:
            self.note("")
            self.handle.close()


def hold_sweep(
    results: str, holder: str, waiting: Callable[[str], None], wait: float | None = None
) -> SweepLock:
    """Take the sweep lock of ``results`` for this process, writing ``holder`` (what this
    process is, e.g. ``"snakesweep run"``) into it; hold it until ``release``.

    When another invocation holds it, ``waiting`` is told who, and this waits for it: until
    it is free, or ``wait`` seconds at most (``None``: ``SNAKESWEEP_LOCK_WAIT``, else no
    bound). Past that (``0``: at once), ``ResultsBusy`` names the holder.
    """
    if _key(results) in _HELD:  # this process holds it already (a second parse)
        return _HELD[_key(results)]
    wait = wait_setting() if wait is None else wait
    path = sweep_lock_file(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, waited = _acquire(path, fcntl.flock, results, waiting, wait)
    lock = SweepLock(results, handle, _described(holder), waited)
    lock.note()
    _HELD[_key(results)] = lock
    return lock


@contextmanager
def sweep_lock(results: str, holder: str, waiting: Callable[[str], None]) -> Iterator[SweepLock]:
    """``hold_sweep`` for the length of a ``with`` block."""
    ours = _key(results) not in _HELD
    lock = hold_sweep(results, holder, waiting)
    try:
        yield lock
    finally:
        if ours:
            lock.release()


def inherited_sweep(results: str, holder: str) -> SweepLock | None:
    """The sweep lock of ``results`` when this process inherited it from the process that
    started it (``hand_over``): then ``holder`` (what this process is) is added to who
    holds it. None otherwise."""
    if _key(results) in _HELD:  # taken over already (a second parse)
        return _HELD[_key(results)]
    path = sweep_lock_file(results)
    for text in os.environ.get(FD_ENV, "").split(","):
        if not text.isdigit():
            continue
        fd = int(text)
        try:
            if not _same(os.fstat(fd), path):
                continue
            handle = open(fd, "r+", encoding="utf-8", closefd=True)  # noqa: SIM115
        except OSError:
            continue
        # Ours already, so this succeeds; where the file system makes flock a POSIX lock
        # (NFS), the lock stays the starter's alone, and this process works under it.
        _try(fcntl.flock, handle)
        handle.seek(0)
        first = handle.read().split(" and its ", 1)[0].strip()
        lock = SweepLock(
            results,
            handle,
            f"{first} and its {_described(holder)}" if first else _described(holder),
            waited=False,
        )
        lock.note()
        _HELD[_key(results)] = lock
        return lock
    return None


def held_sweeps() -> list[SweepLock]:
    """The sweep locks this process holds."""
    return list(_HELD.values())


def hand_over(env: MutableMapping[str, str]) -> tuple[int, ...]:
    """Let a process started with ``env`` and these descriptors (``pass_fds``) hold the
    sweep locks this process holds, for as long as it lives (``inherited_sweep``)."""
    fds = tuple(lock.fd for lock in _HELD.values() if not lock.handle.closed)
    if fds:
        env[FD_ENV] = ",".join(map(str, fds))
    else:
        env.pop(FD_ENV, None)
    return fds


def wait_setting() -> float | None:
    """``SNAKESWEEP_LOCK_WAIT``: seconds, or None when unset (wait until the lock is free)."""
    text = os.environ.get(WAIT_ENV, "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ConfigError(
            WAIT_ENV,
            f"{text!r}: expected seconds to wait for a results "
            "directory in use (0 or more; unset: until it is free)",
        )
    return seconds


@contextmanager
def run_lock(
    results: str | os.PathLike[str], run_id: str, waiting: Callable[[str], None] | None = None
) -> Iterator[bool]:
    """Hold the lock of one run while this process computes it; yields whether another
    process held it first (this one then waited for it to end: ``waiting`` was told who).
    The lock file goes when it is released."""
    path = run_lock_file(results, run_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, waited = _acquire(
            path, fcntl.lockf, str(results), waiting or (lambda _: None), None
        )
    except OSError as exc:
        if exc.errno not in UNLOCKABLE:
            raise
        # a file system without locks, or a full or read-only disk (the run then says so
        # itself): the sweep lock still orders the invocations
        yield False
        return
    handle.seek(0)
    handle.truncate()  # what a killed holder wrote
    handle.write(_described("") + "\n")
    handle.flush()
    try:
        yield waited
    finally:
        path.unlink(missing_ok=True)  # while held: a waiter then finds it gone, and retries
        handle.close()


def _acquire(
    path: Path,
    lock: Callable[[int, int], object],
    results: str,
    waiting: Callable[[str], None],
    wait: float | None,
) -> tuple[IO[str], bool]:
    """Open ``path`` and lock it (``lock``: ``fcntl.flock`` or ``fcntl.lockf``), waiting as
    ``hold_sweep`` says; a file removed or replaced meanwhile is opened again."""
    waited = False
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - returned, or closed
        try:
            if not _try(lock, handle):
                holder = _holder(handle, "another process")
                if deadline is not None and time.monotonic() >= deadline:
                    raise ResultsBusy(results, holder, _refusal(wait, waited))
                if not waited:
                    waiting(holder)
                    waited = True
                if deadline is None:
                    lock(handle.fileno(), fcntl.LOCK_EX)
                else:
                    while not _try(lock, handle):
                        if time.monotonic() >= deadline:
                            raise ResultsBusy(
                                results, _holder(handle, holder), _refusal(wait, waited)
                            )
                        time.sleep(POLL)
            if _same(os.fstat(handle.fileno()), path):
                return handle, waited
        except BaseException:
            handle.close()
            raise
        handle.close()  # removed (a run lock released) or replaced: lock the file there now


def _try(lock: Callable[[int, int], object], handle: IO[str]) -> bool:
    try:
        lock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _refusal(wait: float | None, waited: bool) -> str:
    if waited:
        return (
            f"gave up after waiting {wait:g} s ({WAIT_ENV}); run again when it has "
            "ended, or unset it to wait until then"
        )
    return (
        f"not waiting for it ({WAIT_ENV}={wait:g}); run again when it has ended, or "
        "unset it to wait until then"
    )


def _holder(handle: IO[str], default: str) -> str:
    handle.seek(0)
    return handle.read().strip() or default


def _same(stat: os.stat_result, path: Path) -> bool:
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (stat.st_dev, stat.st_ino)


def _described(holder: str) -> str:
    where = f"pid {os.getpid()} on {socket.gethostname()}"
    return f"{holder} ({where})" if holder else where


def _key(results: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(results))


def say_waiting(results: str) -> Callable[[str], None]:
    """What an invocation says while another one holds ``results``."""

    def say(holder: str) -> None:
        print(
            f"snakesweep: {results}/ is in use by {holder}; waiting for it to finish, then "
            "computing what is still pending (Ctrl-C stops waiting)",
            file=sys.stderr,
            flush=True,
        )

    return say
