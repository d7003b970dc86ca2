"""Run directories: writing one (``RunDraft``, renamed into place whole), reading its
``meta.json``, and the run directories that belong to no run of a sweep.

A run directory is written as a draft (``layout.run_drafts``) and renamed into place when
complete, so a process killed at any moment leaves nothing that reads as done.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snakesweep.core.configs import canonical_json, identity_of
from snakesweep.errors import ResultsError
from snakesweep.store.files import pid_alive
from snakesweep.store.layout import CONFIG, META, drafts_dir, run_dir, run_drafts, runs_dir

__all__ = ["ConfigChange", "RunDraft", "config_changes", "read_meta", "shown_value", "unused_runs"]


def read_meta(results: str | os.PathLike[str], run_id: str) -> dict[str, Any] | None:
    """A run's ``meta.json``, or None if it has none (or it cannot be read)."""
    try:
        with open(run_dir(results, run_id) / META, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def unused_runs(results: str | os.PathLike[str], run_ids: Iterable[str]) -> list[str]:
    """The run directories under ``results/runs`` that are no run of this sweep (runs of
    other configs: another sweep's, or this one's before its config changed)."""
    wanted = set(run_ids)
    try:
        with os.scandir(runs_dir(results)) as entries:
            return sorted(
                e.name
                for e in entries
                if e.is_dir() and not e.name.startswith(".") and e.name not in wanted
            )
    except OSError:
        return []


@dataclass(frozen=True)
class ConfigChange:
    """A key whose value differs between pending runs and the unused runs nearest them."""

    key: str
    before: Any
    now: Any
    runs: int
    """How many of the pending runs compared differ there."""


def config_changes(
    results: str | os.PathLike[str],
    configs: Mapping[str, Mapping[str, Any]],
    swept: Mapping[str, Mapping[str, Any]],
    unused: Sequence[str],
    most: int = 200,
) -> tuple[list[ConfigChange], int]:
    """Why runs are pending that look like runs already in ``results``: each pending run's
    config (``configs``; its swept values in ``swept``) is compared, as its run id sees it,
    with the config of the nearest ``unused`` run that has the same swept values. Returns
    the keys that differ (most frequent first) and how many pending runs found such a run.
    Reads at most ``most`` of each."""
    import yaml  # ~20 ms to import, for `snakesweep status` alone

    def flat(config: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}

        def walk(node: Any, prefix: str) -> None:
            if isinstance(node, Mapping) and node:
                for k, v in node.items():
                    walk(v, f"{prefix}.{k}" if prefix else str(k))
            else:
                out[prefix] = canonical_json(node)

        walk(identity_of(config), "")
        return out

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    old: list[tuple[dict[str, str], dict[str, Any]]] = []
    for run_id in unused[:most]:
        try:
            with open(run_dir(results, run_id) / CONFIG, encoding="utf-8") as f:
                config = yaml.load(f, Loader=loader)  # noqa: S506 - a safe loader
            if isinstance(config, dict):
                old.append((flat(config), config))
        except (OSError, yaml.YAMLError, TypeError, ValueError):
            continue
    counts: dict[str, int] = {}
    example: dict[str, tuple[Any, Any]] = {}
    matched = 0
    for run_id in list(configs)[:most]:
        new = flat(configs[run_id])
        values = {k: canonical_json(v) for k, v in swept[run_id].items() if k in new}
        best: tuple[int, list[str], dict[str, Any]] | None = None
        for keys, config in old:
            if any(keys.get(k) != v for k, v in values.items()):
                continue
            differ = sorted(k for k in keys.keys() | new.keys() if keys.get(k) != new.get(k))
            if best is None or len(differ) < best[0]:
                best = (len(differ), differ, config)
        if best is None:
            continue
        matched += 1
        for key in best[1]:
            counts[key] = counts.get(key, 0) + 1
            example.setdefault(key, (_at(best[2], key), _at(configs[run_id], key)))
    changes = [
        ConfigChange(k, *example[k], n)
        for k, n in sorted(counts.items(), key=lambda kn: (-kn[1], kn[0]))
    ]
    return changes, matched


_ABSENT = object()


def _at(config: Mapping[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def shown_value(value: Any) -> str:
    """A config value as ``status`` shows it (``(unset)`` for a key a config lacks)."""
    return "(unset)" if value is _ABSENT else json.dumps(value, default=str)


class RunDraft:
    """A run directory being written aside; ``commit`` renames it into place.

    Drafts live in ``layout.run_drafts``, ``<host>-<pid>/`` in it: one per writing process,
    so two writers never touch each other's draft, and a draft whose process is gone (on this
    host) is removed by the next attempt at the same run.
    """

    def __init__(
        self, results: str | os.PathLike[str], run_id: str, pid: int | None = None
    ) -> None:
        self.results = Path(results).absolute()
        self.run_id = run_id
        self.path = run_drafts(self.results, run_id) / f"{_HOST}-{pid or os.getpid()}"

    @classmethod
    def begin(cls, results: str | os.PathLike[str], run_id: str) -> RunDraft:
        """Start a new draft of ``run_id`` for this process."""
        draft = cls(results, run_id)
        draft.path.parent.mkdir(parents=True, exist_ok=True)
        for other in draft.path.parent.iterdir():
            host, _, pid = other.name.rpartition("-")
            if other != draft.path and host == _HOST and pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(other, ignore_errors=True)
        shutil.rmtree(draft.path, ignore_errors=True)
        draft.path.mkdir()
        return draft

    def commit(self, meta: dict[str, Any]) -> Path:
        """Write ``meta.json`` and rename the draft into place, keeping earlier errors."""
        final = run_dir(self.results, self.run_id)
        earlier = read_meta(self.results, self.run_id)
        if earlier:
            meta["earlier_attempts"] = earlier.pop("earlier_attempts", []) + [
                {k: earlier[k] for k in ("status", "start", "end", "host", "error") if k in earlier}
            ]
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / META, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, default=str)
        old = None
        if final.exists() and any(final.iterdir()):
            old = self.path.with_name(f"replaced-{self.path.name}")
            os.rename(final, old)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.path, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        try:
            self.path.parent.rmdir()
        except OSError:
            pass  # another writer's draft is still there
        return final

    def discard(self) -> None:
        """Remove the draft (another attempt finished the run)."""
        shutil.rmtree(self.path, ignore_errors=True)


_HOST = socket.gethostname().replace("-", "_")


def resolve_run_id(results: str | os.PathLike[str], prefix: str, *, drafts: bool = False) -> str:
    """The run id of ``results`` that ``prefix`` starts (among the runs with a directory,
    and, with ``drafts``, the runs being written); one line naming the candidates when none
    or several do."""
    names: set[str] = set()
    places = [runs_dir(results)] + ([drafts_dir(results)] if drafts else [])
    for where in places:
        try:
            with os.scandir(where) as entries:
                names.update(e.name for e in entries if e.is_dir())
        except FileNotFoundError:
            pass
    if prefix in names:
        return prefix
    matches = sorted(n for n in names if n.startswith(prefix)) if prefix else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ResultsError(
            f"run {prefix!r}: no run of {str(results)!r} starts so (`snakesweep runs` lists them)"
        )
    shown = ", ".join(matches[:5]) + (f" and {len(matches) - 5} more" if len(matches) > 5 else "")
    raise ResultsError(f"run {prefix!r} is ambiguous: {shown}; give more of its id")
