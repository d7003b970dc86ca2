"""The records: a run's ``provenance`` in its ``meta.json`` (``run_record``, or
``failed_record`` when it could not be made), and ``results/provenance.json``, the sweep's,
summarised from the runs' records (``sweep_record``).

A run's record puts together its invocation's session (``session``), the code it ran
(``code``), whether it is a debug run (``git``), and the system and allow-listed
environment variables of its process (``environment``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.core.entries import BY_VALUE
from snakesweep.core.options import Options
from snakesweep.errors import first_line
from snakesweep.provenance.code import ran_code
from snakesweep.provenance.environment import environment, system
from snakesweep.provenance.git import dirty_ignore, is_debug
from snakesweep.provenance.places import Places
from snakesweep.provenance.session import capture_session, read_session

__all__ = ["LISTED", "failed_record", "run_record", "sweep_record"]

LISTED = 200
"""How many dirty and untracked paths a run's record lists (the rest are counted)."""

_NEWEST_KEPT = ("git", "code", "experiment", "system", "versions", "environment", "distributions")
"""The parts of the newest run's record that ``results/provenance.json`` repeats."""


def run_record(options: Options, results: str | os.PathLike[str], run_dir: Path) -> dict[str, Any]:
    """The ``provenance`` of one run's ``meta.json`` (a run with these ``snakesweep``
    options); writes the diff into ``run_dir``.

    Reads this invocation's session when there is one; else captures it now (slower,
    ~0.1 s: gitpython and every distribution).
    """
    found = read_session()
    diff: str | None = None
    if found is None:
        session, diff = capture_session(results)
    else:
        session = found[0]
    places = Places.here()
    code = ran_code(options, results, places)
    git = session["git"]
    debug = is_debug(options.debug, git, dirty_ignore(options, places))
    if git.get("dirty_paths") and diff is None and found is not None:
        try:
            diff = found[1].with_suffix(".diff").read_text(encoding="utf-8")
        except OSError:
            diff = ""
    if diff:
        (run_dir / store.RUN_DIFF).write_text(diff, encoding="utf-8")
    return {
        "debug": debug,
        "experiment": {
            "entry_point": options.experiment,
            "file": code.entry_file,
            "shipped": "by value"
            if (options.experiment or "").partition(":")[0] == BY_VALUE
            else "by reference",
        },
        "code": {"fingerprint": code.fingerprint, "files": list(code.files)},
        "git": {**_listed(git), "diff": store.RUN_DIFF if diff else None},
        "sweep": {"start": session["start"], "command": session["command"]},
        "system": system(),
        "versions": session["versions"],
        "environment": environment(),
        "distributions": session["distributions"],
    }


def failed_record(options: Options, exc: BaseException) -> dict[str, Any]:
    """The ``provenance`` of a run whose record could not be made: why, and the code it ran
    when that can be told (so the run is not taken for stale)."""
    record: dict[str, Any] = {
        "error": Places.here().text(f"{type(exc).__name__}: {first_line(exc)}")
    }
    try:
        code = ran_code(options)
    except Exception:  # noqa: BLE001 - without it, the run counts as stale
        return record
    record["code"] = {"fingerprint": code.fingerprint, "files": list(code.files)}
    return record


def _listed(git: Mapping[str, Any]) -> dict[str, Any]:
    """The git state with at most ``LISTED`` dirty and untracked paths each, the rest
    counted (``dirty_paths_more``, ``untracked_more``)."""
    out = dict(git)
    for key, more in (("dirty_paths", "dirty_paths_more"), ("untracked", "untracked_more")):
        paths = out.get(key)
        if isinstance(paths, list) and len(paths) > LISTED:
            out[key], out[more] = paths[:LISTED], len(paths) - LISTED
    return out


def sweep_record(metas: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any]:
    """``results/provenance.json``: the newest run's provenance, and how the runs divide by
    commit, code, host and debug. Made from the runs' records alone (same runs, same bytes)."""
    recorded = {r: m for r, m in metas.items() if m and _has_record(m)}
    record: dict[str, Any] = {
        "sweep": _sweep_summary(metas, recorded),
        "runs": _divisions(recorded),
    }
    return {**record, **_newest(recorded)} if recorded else record


def _has_record(meta: Mapping[str, Any]) -> bool:
    """Whether a run's ``meta.json`` holds a record with its git state and code (not a
    ``failed_record``)."""
    record = meta.get("provenance")
    return (
        isinstance(record, dict)
        and isinstance(record.get("git"), dict)
        and isinstance(record.get("code"), dict)
    )


def _sweep_summary(
    metas: Mapping[str, Mapping[str, Any] | None], recorded: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The ``sweep`` part: how many runs, when, how long, which are debug runs and which
    record no provenance."""
    debug_runs = sorted(r for r, m in recorded.items() if m["provenance"].get("debug"))
    return {
        "runs": len(metas),
        **_timing([m for m in metas.values() if m]),
        "debug": bool(debug_runs),
        "debug_runs": debug_runs,
        "without_provenance": sorted(r for r in metas if r not in recorded),
    }


def _timing(metas: list[Mapping[str, Any]]) -> dict[str, Any]:
    """When the runs started and ended, the time between, and the seconds they computed."""
    starts = [m["start"] for m in metas if m.get("start")]
    ends = [m["end"] for m in metas if m.get("end")]
    compute = sum(float(m.get("duration") or 0) for m in metas)
    return {
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "duration": _seconds_between(min(starts), max(ends)) if starts and ends else None,
        "compute_seconds": round(compute, 6),
    }


def _divisions(recorded: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """The ``runs`` part: how many runs each commit, code fingerprint and host has."""
    records = [m["provenance"] for m in recorded.values()]
    return {
        "by_commit": _count(r["git"].get("commit") for r in records),
        "by_code": _count(r["code"]["fingerprint"] for r in records),
        "by_host": _count(r["system"].get("host") for r in records),
    }


def _count(values: Iterable[Any]) -> dict[str, int]:
    """How many times each value occurs, by its text, sorted."""
    return dict(sorted(Counter(str(v) for v in values).items()))


def _newest(recorded: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The newest run (the last to end) and its record's sweep-wide parts."""
    newest_id, newest = max(recorded.items(), key=lambda kv: (kv[1].get("end") or "", kv[0]))
    latest = newest["provenance"]
    return {
        "newest_run": newest_id,
        **{k: latest[k] for k in _NEWEST_KEPT if k in latest},
        "command": latest.get("sweep", {}).get("command"),
    }


def _seconds_between(start: str, end: str) -> float | None:
    """The seconds from one ISO time to another (None: either is not one)."""
    try:
        return round(
            (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 6
        )
    except ValueError:
        return None
