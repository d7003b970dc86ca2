"""Tracking: the run directories as DVC holds them, pulled one run at a time.

DVC tracks ``results/runs`` as one directory output, and checks a directory out only when
every file of it is in the cache: one missing or damaged object would leave a clone with
no runs at all, and the next ``dvc repro`` would compute them all again. ``pull`` runs
``dvc pull``; then it checks every run of the directory's manifest (``<md5>.dir`` in DVC's
cache) against its recorded hashes, puts each complete run in place, sets damaged ones
aside under ``.snakesweep/damaged/`` (nothing is deleted), and names the runs it could
not restore, which Snakemake then computes again, and only those.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.errors import SnakesweepError, first_line

__all__ = [
    "describe",
    "manifest_of",
    "pull",
    "PullReport",
    "restore_runs",
]


@dataclass
class PullReport:
    """What ``pull`` found, run by run."""

    restored: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    set_aside: dict[str, Path] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    damaged: dict[str, list[str]] = field(default_factory=dict)

    @property
    def lost(self) -> list[str]:
        """Runs that will be computed again."""
        return sorted({*self.missing, *self.damaged})


def pull(
    results: str | os.PathLike[str] = "results",
    dvc_args: list[str] | None = None,
) -> PullReport:
    """``dvc pull``, then every run the cache holds whole, checked against its hashes."""
    if not Path(".dvc").is_dir():
        raise SnakesweepError(
            "not the root of a DVC repository (no .dvc/ here): run "
            "`snakesweep pull` where dvc.yaml is, or `dvc init` first"
        )
    runs = store.runs_dir(results)
    pulled = _dvc("pull", *(dvc_args or []), check=False)
    if pulled.returncode != 0:
        _dvc("checkout", "--allow-missing", check=False)
    return restore_runs(runs, manifest_of(runs))


def manifest_of(runs: Path) -> dict[str, list[tuple[str, str]]]:
    """Per run id, its files and their md5 as ``dvc.lock`` records them."""
    oid = _locked_dir_hash(runs)
    if oid is None:
        raise SnakesweepError(
            f"dvc.lock records no output {runs.as_posix()!r}: run `dvc repro` "
            "(or `dvc commit`) first"
        )
    path = _cache_path(oid)
    reason = "it is not there"
    if _md5(path) != oid.removesuffix(".dir"):
        reason = _fetch_from_remote(oid, path)  # DVC skips a directory's list if a file failed
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        pairs = [(e["relpath"], e["md5"]) for e in entries]
    except (OSError, ValueError, TypeError, KeyError):
        raise SnakesweepError(
            f"the list of runs of {runs.as_posix()!r} ({oid}) is not in the DVC cache and the "
            f"default remote cannot give it ({reason}): push it from a machine that has it "
            "(`dvc push`)"
        ) from None
    manifest: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for relpath, md5 in pairs:
        run_id, _, rest = relpath.partition("/")
        manifest[run_id].append((rest, md5))
    return dict(manifest)


def restore_runs(runs: Path, manifest: dict[str, list[tuple[str, str]]]) -> PullReport:
    """Put every run of ``manifest`` in place whose files are whole; report the others.

    A run here that differs from ``dvc.lock`` is kept when it is a finished run computed
    here (its own ``meta.json``, status done, a result); otherwise it is set aside, never
    deleted, and restored from the cache.
    """
    report = PullReport()
    results = runs.parent
    for run_id, files in sorted(manifest.items()):
        final = runs / run_id
        if final.is_dir():
            if all(_md5(final / rel) == md5 for rel, md5 in files):
                report.present.append(run_id)
                continue
            if _computed_here(results, run_id, dict(files)):
                report.kept.append(run_id)
                continue
            report.set_aside[run_id] = _set_aside(final, results)
        missing = [rel for rel, md5 in files if not _cache_path(md5).is_file()]
        damaged = [
            rel for rel, md5 in files if rel not in missing and _md5(_cache_path(md5)) != md5
        ]
        if missing:
            report.missing[run_id] = missing
        elif damaged:
            report.damaged[run_id] = damaged
        else:
            draft = store.RunDraft.begin(results, run_id)
            for rel, md5 in files:
                (draft.path / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(_cache_path(md5), draft.path / rel)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(draft.path, final)
            _remove_empty(draft.path.parent)
            report.restored.append(run_id)
    return report


def _computed_here(results: Path, run_id: str, files: dict[str, str]) -> bool:
    meta = store.read_meta(results, run_id) or {}
    return (
        _md5(store.run_dir(results, run_id) / store.META) != files.get(store.META)
        and meta.get("status") == "done"
        and store.result_path(results, run_id).is_file()
    )


def _set_aside(final: Path, results: Path) -> Path:
    """Move a run directory under ``.snakesweep/damaged/`` beside any earlier copy."""
    parent = store.damaged_dir(results)
    parent.mkdir(parents=True, exist_ok=True)
    aside, n = parent / final.name, 0
    while aside.exists():
        n += 1
        aside = parent / f"{final.name}.{n}"
    os.rename(final, aside)
    return aside


def describe(report: PullReport, results: str) -> list[str]:
    """One line per fact a user acts on."""
    lines = [
        f"snakesweep: run {r} differs from dvc.lock and is kept: it was computed here "
        "(`dvc commit` records it)"
        for r in report.kept
    ]
    lines += [
        f"snakesweep: run {r} did not match dvc.lock: set aside in {path}"
        for r, path in report.set_aside.items()
    ]
    for kind, runs in (
        ("not in the DVC cache or remote", report.missing),
        ("damaged in the DVC cache", report.damaged),
    ):
        for run_id, files in runs.items():
            lines.append(
                f"snakesweep: run {run_id} is {kind} ({', '.join(files)}); "
                "it will be computed again"
            )
    done = len(report.present) + len(report.restored) + len(report.kept)
    lines.append(
        f"snakesweep: {done} runs in {results}/runs"
        + (
            f", {len(report.lost)} to compute again: run `dvc repro` or `snakemake --cores all`"
            if report.lost
            else ""
        )
    )
    return lines


def _remove_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _locked_dir_hash(runs: Path) -> str | None:
    import yaml

    try:
        lock = yaml.safe_load(Path("dvc.lock").read_text(encoding="utf-8")) or {}
    except OSError:
        return None
    except yaml.YAMLError as exc:
        raise SnakesweepError(f"dvc.lock cannot be read: {first_line(str(exc))}") from None
    target = runs.as_posix().rstrip("/")
    try:
        for stage in (lock.get("stages") or {}).values():
            for out in stage.get("outs") or []:
                if str(out.get("path", "")).rstrip("/") == target and out.get("md5"):
                    return str(out["md5"])
    except (AttributeError, TypeError):
        raise SnakesweepError(
            "dvc.lock is not what DVC writes (stages → outs → path, md5): restore it from git"
        ) from None
    return None


def _cache_path(md5: str) -> Path:
    return Path(_repo().cache.local.oid_to_path(md5))


def _fetch_from_remote(oid: str, path: Path) -> str:
    """Copy one object from the default remote into the cache if it is there whole; or why not."""
    tmp = store.aside(path)
    try:
        odb = _repo().cloud.get_remote_odb()
        path.parent.mkdir(parents=True, exist_ok=True)
        odb.fs.get_file(odb.oid_to_path(oid), str(tmp))
    except SnakesweepError:
        raise
    except Exception as exc:  # noqa: BLE001 - no remote, unreachable, not there: say which
        return first_line(exc) or type(exc).__name__
    if _md5(tmp) == oid.removesuffix(".dir"):
        os.replace(tmp, path)
        return "fetched"
    tmp.unlink(missing_ok=True)
    return "the remote's copy is damaged"


_REPO: list[Any] = []


def _repo() -> Any:
    if not _REPO:
        try:
            from dvc.repo import Repo
        except ImportError:
            raise SnakesweepError(
                "DVC is not installed (snakesweep requires it): pip install 'dvc>=3,<4'"
            ) from None
        try:
            _REPO.append(Repo())
        except Exception as exc:  # noqa: BLE001 - DVC's own NotDvcRepoError and kin
            raise SnakesweepError(f"not a DVC repository ({exc}): run `dvc init`") from None
    return _REPO[0]


def _md5(path: Path) -> str | None:
    h = hashlib.md5()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _dvc(*args: str, check: bool) -> subprocess.CompletedProcess[Any]:
    try:
        dvc = [
            shutil.which("dvc") or sys.executable,
            *([] if shutil.which("dvc") else ["-m", "dvc"]),
        ]
        done = subprocess.run([*dvc, *args], text=True, check=False)
    except OSError as exc:
        raise SnakesweepError(f"cannot run dvc: {exc}") from None
    if check and done.returncode != 0:
        raise SnakesweepError(f"`dvc {' '.join(args)}` failed (see its message above)")
    return done
