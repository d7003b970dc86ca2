"""The session: what is captured once per invocation.

Capturing git through gitpython costs ~0.1 s (importing it), and listing every installed
distribution through ``importlib.metadata`` ~0.13 s, so a run pays for neither: when
Snakemake starts executing jobs (its ``onstart``), the session is captured and written to
``results/.snakesweep/sessions/<id>.json`` (and the working tree's diff beside it): git
state, command line, start time, Python, package versions, every installed distribution.
Its path reaches the run jobs of that invocation alone through ``SNAKESWEEP_SESSION`` (a run
without it, such as ``python -m snakesweep.execute`` by hand or ``snakemake --no-hooks``,
captures its own); ``onsuccess`` and ``onerror`` delete it. Run jobs use the interpreter
Snakemake runs in (``SNAKESWEEP_PYTHON``), so its distributions are theirs.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.provenance.environment import distributions, versions
from snakesweep.provenance.git import OWN_PATHS, git_state
from snakesweep.provenance.places import Places

__all__ = [
    "COMMAND_ENV",
    "SESSION_ENV",
    "SESSION_FORMAT",
    "begin_session",
    "capture_session",
    "command_line",
    "end_reservation",
    "end_session",
    "read_session",
    "reserve_session",
    "session_path",
]

SESSION_ENV = "SNAKESWEEP_SESSION"
"""How the run jobs of one invocation find its session."""
SESSION_WAIT = 60.0
"""Seconds a run waits, at most, for a session being captured (``reserve_session``)."""
SESSION_FORMAT = 2

COMMAND_ENV = "SNAKESWEEP_COMMAND"
"""How ``snakesweep run`` tells the Snakemake it starts which command the user typed."""


def capture_session(
    results: str | os.PathLike[str], command: Sequence[str] | None = None
) -> tuple[dict[str, Any], str]:
    """The sweep-wide provenance of this invocation, and the working tree's diff."""
    start = datetime.now(UTC)  # before git, which may take a while: the runs come after
    git, diff, root = git_state(".", [results, *OWN_PATHS])
    places = Places.here(root)
    return {
        "format": SESSION_FORMAT,
        "start": start.isoformat(),
        "command": command_line(command, places),
        "git": git,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "versions": versions(),
        "distributions": distributions(),
    }, diff


def session_path(results: str | os.PathLike[str]) -> Path:
    """A new session's path under ``results/.snakesweep/sessions/`` (not written yet)."""
    return store.session_file(results, uuid.uuid4().hex[:16])


def begin_session(
    results: str | os.PathLike[str],
    path: Path | None = None,
    command: Sequence[str] | None = None,
) -> Path:
    """Capture this invocation's session and write it (and its diff) at ``path`` (default:
    a new ``session_path``); return its path, for ``SNAKESWEEP_SESSION``. ``command``: the
    command line to record (default: ``command_line``'s)."""
    session, diff = capture_session(results, command)
    path = path or session_path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    store.write_atomic(path.with_suffix(".diff"), diff)
    store.write_atomic(path, json.dumps(session, indent=1) + "\n")
    return path


def reserve_session(path: Path) -> None:
    """Say that the session at ``path`` is being captured: a run that needs it before it is
    written waits for it (``read_session``) instead of capturing its own. ``begin_session``'s
    caller calls ``end_reservation`` once it wrote the session, or failed to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _reservation(path).touch()


def end_reservation(path: Path) -> None:
    """The session at ``path`` is written, or will never be: runs stop waiting for it."""
    _reservation(path).unlink(missing_ok=True)


def _reservation(path: Path) -> Path:
    return path.with_suffix(".capturing")


def end_session(path: str | os.PathLike[str]) -> None:
    """Delete a session ``begin_session`` wrote (its runs have recorded it)."""
    for name in (Path(path), Path(path).with_suffix(".diff"), _reservation(Path(path))):
        name.unlink(missing_ok=True)


_SESSION_CACHE: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}


def read_session() -> tuple[dict[str, Any], Path] | None:
    """The session of the invocation this run belongs to (``SNAKESWEEP_SESSION``) and its
    path, or None when there is none; cached per process while the file is unchanged."""
    named = os.environ.get(SESSION_ENV)
    if not named:
        return None
    path = Path(named)
    deadline = time.monotonic() + SESSION_WAIT
    while True:  # a session still being captured is waited for, a while
        try:
            st = os.stat(path)
            break
        except OSError:
            if not _reservation(path).exists() or time.monotonic() > deadline:
                return None
            time.sleep(0.02)
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _SESSION_CACHE.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1], path
    try:
        session = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(session, dict) or session.get("format") != SESSION_FORMAT:
        return None
    _SESSION_CACHE[str(path)] = (stamp, session)
    return session, path


def command_line(command: Sequence[str] | None, places: Places) -> list[str]:
    """The command that started the sweep, paths made relative (``snakesweep run`` passes
    what the user typed through ``SNAKESWEEP_COMMAND``)."""
    if command is None:
        passed = os.environ.get(COMMAND_ENV)
        if passed:
            try:
                command = [str(a) for a in json.loads(passed)]
            except ValueError:
                command = None
    if command is None:
        orig = list(getattr(sys, "orig_argv", []))
        if "-m" in orig[1:-1]:  # python -m module …
            command = ["python", "-m", orig[orig.index("-m") + 1], *sys.argv[1:]]
        else:
            command = [Path(sys.argv[0]).name, *sys.argv[1:]]
    return [places.text(str(a)) for a in command]
