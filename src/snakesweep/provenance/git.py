"""The git state of the repository a sweep runs in (``git_state``), and whether its
changes make a run a debug run (``is_debug``).

Capturing it imports gitpython (~0.1 s), so a run does not: its invocation's session does,
once (``session``).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from snakesweep.core.options import Options
from snakesweep.errors import first_line
from snakesweep.provenance.places import Places

__all__ = ["DIRTY_IGNORED", "OWN_PATHS", "dirty_ignore", "git_state", "is_debug", "relevant_dirt"]

OWN_PATHS = (".snakemake",)
"""Paths (relative to the working directory) that git state leaves out, besides the results
directory: what a sweep writes itself."""

DIRTY_IGNORED = ("dvc.lock",)
"""Paths (relative to the working directory) that are listed but never make a run a debug
run: DVC's record of the stages' outputs, which ``dvc repro`` changes itself."""


def git_state(
    where: str | os.PathLike[str] = ".", own: Sequence[str | os.PathLike[str]] = ()
) -> tuple[dict[str, Any], str, Path | None]:
    """The git state of the repository holding ``where``, its diff, and its root.

    Paths under ``own`` (the sweep's own output: its results directory, ``.snakemake``) are
    left out of the dirty and untracked lists. Outside a repository, without git, or where
    git refuses to read it (say, "dubious ownership"), the state says so and the diff is
    empty.
    """
    try:
        import git  # deferred: gitpython takes ~0.1 s to import, paid by sessions alone
    except ImportError as exc:  # gitpython without a usable git executable
        return {"repository": False, "reason": f"git is not available: {first_line(exc)}"}, "", None
    try:
        repo = git.Repo(where, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return {"repository": False, "reason": "not in a git repository"}, "", None
    try:
        return _read_state(repo, where, own)
    except (git.GitError, OSError, ValueError) as exc:
        reason = Places.here().text(first_line(str(getattr(exc, "stderr", "")) or exc))
        return (
            {"repository": False, "reason": f"git cannot read the repository: {reason}"},
            "",
            None,
        )
    finally:
        repo.close()


def _read_state(
    repo: Any, where: str | os.PathLike[str], own: Sequence[str | os.PathLike[str]]
) -> tuple[dict[str, Any], str, Path]:
    """``git_state`` of an open repository."""
    root = Path(repo.working_tree_dir or where).resolve()
    # a plain command first: a git that refuses the repository says why here, where the
    # long-lived `cat-file` behind repo.head would only break its pipe
    changes = _status(repo)
    try:
        commit: str | None = repo.head.commit.hexsha
    except ValueError:
        commit = None  # a repository without commits yet
    try:
        branch: str | None = repo.active_branch.name
    except TypeError:
        branch = None  # detached HEAD
    places = Places.here(root)
    skip = [places.path(p) for p in own]
    dirty, untracked = (
        [p for p in paths if not any(_matches(p, g) for g in skip)] for paths in changes
    )
    diff = ""
    if dirty and commit is not None:
        diff = repo.git.diff("HEAD", "--no-color", "--no-ext-diff", "--binary")
        diff += "\n" if diff else ""
    state = {
        "repository": True,
        "commit": commit,
        "branch": branch,
        "detached": branch is None,
        "dirty": bool(dirty or untracked),
        "dirty_paths": dirty,
        "untracked": untracked,
        "directory": places.path(Path.cwd()),
    }
    return state, diff, root


def _status(repo: Any) -> tuple[list[str], list[str]]:
    """Changed tracked paths and untracked paths, relative to the repository root."""
    out = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all")
    fields = out.split("\0")
    dirty: list[str] = []
    untracked: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code == "??":
            untracked.append(path)
            continue
        dirty.append(path)
        if "R" in code or "C" in code:
            i += 1  # the original path of a rename or copy follows
    return sorted(dirty), sorted(untracked)


def relevant_dirt(git: Mapping[str, Any], ignore: Iterable[str]) -> list[str]:
    """The dirty and untracked paths that no ignore glob matches (a glob on a folder
    matches everything in it; ``*`` crosses ``/``)."""
    globs = [g.rstrip("/") for g in ignore]
    paths = [*git.get("dirty_paths", []), *git.get("untracked", [])]
    return [p for p in paths if not any(_matches(p, g) for g in globs)]


def _matches(path: str, glob: str) -> bool:
    parts = path.split("/")
    return any(fnmatch.fnmatchcase("/".join(parts[:n]), glob) for n in range(1, len(parts) + 1))


def is_debug(option: bool | None, git: Mapping[str, Any], ignore: Iterable[str]) -> bool:
    """gaitmap's rule: a debug run when ``snakesweep.debug`` says so, or, when it is unset,
    when the working tree has changes that ``ignore`` does not cover."""
    if option is not None:
        return option
    return bool(git.get("repository")) and bool(relevant_dirt(git, ignore))


def dirty_ignore(options: Options, places: Places) -> list[str]:
    """The ignore globs of a run: ``dvc.lock`` and ``snakesweep.git_dirty_ignore``
    (relative to the repository root)."""
    return [*(places.path(p) for p in DIRTY_IGNORED), *options.git_dirty_ignore]
