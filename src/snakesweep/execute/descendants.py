"""Descendants: every process a command started has ended when the command returns.

``snakesweep run`` starts Snakemake and the worker pool, and through them the runs; a run
may start processes of its own. A process whose parent ends is adopted by init and lives
on, holding files under ``results/`` open after the command returned (an unmount says
"target is busy"). Inside ``adopted()`` this process is their subreaper (Linux's
``PR_SET_CHILD_SUBREAPER``): the orphans among its descendants become its children, and
when the block ends those still there are asked to stop (SIGTERM), then killed (SIGKILL),
and reaped, all within a bounded time. Elsewhere ``adopted()`` does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GRACE", "adopted", "children"]

_PR_SET_CHILD_SUBREAPER = 36
GRACE = 3.0
"""Seconds a left-over process has to end after SIGTERM before it is killed."""


@contextmanager
def adopted(grace: float = GRACE) -> Iterator[list[str]]:
    """Adopt the orphans among this process's descendants while the block runs; end the
    ones left when it ends. Yields a list that then names them (``PID COMMAND``)."""
    ended: list[str] = []
    before = set(children())
    adopting = _set_subreaper(True)
    try:
        yield ended
    finally:
        if adopting:
            try:
                ended.extend(_end_orphans(before, grace))
            finally:
                _set_subreaper(False)


def children() -> list[int]:
    """The pids of this process's children (zombies included), from ``/proc``."""
    me = os.getpid()
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{task}/children", encoding="ascii") as f:
                found.extend(int(pid) for pid in f.read().split())
        return found
    except OSError:
        pass
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:  # a kernel without the children file: every process's parent
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == me:
                found.append(int(entry))
    return found


def _set_subreaper(on: bool) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _end_orphans(before: set[int], grace: float) -> list[str]:
    """Reap the children this process did not have ``before`` (orphans it adopted); TERM,
    then KILL, those still running. Returns the ones it had to end."""
    ended: dict[int, str] = {}
    killed = False
    deadline = time.monotonic() + grace
    while True:
        left = [pid for pid in children() if pid not in before and not _reaped(pid)]
        if not left:
            return list(ended.values())
        for pid in left:
            if pid not in ended:
                ended[pid] = f"{pid} {_command(pid)}"
                _signal(pid, signal.SIGTERM)
        if not killed and time.monotonic() > deadline:
            for pid in left:
                _signal(pid, signal.SIGKILL)
            killed = True
            deadline = time.monotonic() + grace
        elif killed and time.monotonic() > deadline:
            return list(ended.values())  # unkillable (in the kernel): nothing more to do
        time.sleep(0.02)


def _reaped(pid: int) -> bool:
    """Reap ``pid`` if it has ended; whether it has (or is not our child)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
    return text if len(text) <= 80 else text[:77] + "..."


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
