"""History: a sweep's results across git revisions, stacked along ``over_time``.

``snakesweep history HEAD~5..HEAD`` is bencher's ``over_time``, taken from git and DVC
rather than from a private cache:

* git (through gitpython) lists the commits of the revision range along first parents,
  oldest first, as ``git log --first-parent --reverse`` does: the branch's own states, not
  the commits a merge brought in;
* DVC (``dvc.api``) reads ``results/sweep.nc`` as each commit's ``dvc.lock`` recorded it:
  from the local cache, else from the remote. The remotes of the *current* DVC config
  are used, so a revision whose own config names a remote since moved, or none, is read
  too;
* the sweeps are stacked along a dimension ``over_time`` into ``results/history.nc``: its
  coordinate is the revision's position (0 is the oldest), with ``commit`` (the hash),
  ``commit_time`` (the committer date, UTC) and ``debug`` (the revision's sweep was a
  debug sweep; false for a sweep that does not say) along it.
  ``results/history.rrd`` is its recording, whose ``log_tick`` timeline steps through the
  revisions.

Sweeps change between revisions. A swept key's values are the union of the revisions'
(numbers sorted; other values in the newest revision's order, then older ones'; text for
all when the revisions disagree on the kind, as the merge does for mixed values); a cell
a revision did not have is NaN there, its ``status`` ``absent``; a result some revisions
lack is NaN in those, and so is a curve's tail where a revision's curve is shorter. A
revision whose sweep has other swept keys than the newest one's, or whose results DVC
cannot give, is left out and named with the reason.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.errors import SnakesweepError, first_line
from snakesweep.merge.sweep import write_recording
from snakesweep.store import HISTORY, HISTORY_RECORDING, SWEEP

__all__ = [
    "ABSENT",
    "COORDS",
    "DEFAULT_COUNT",
    "OVER_TIME",
    "History",
    "HistoryError",
    "Revision",
    "current_remotes",
    "list_revisions",
    "read_sweep",
    "stack_history",
    "swept_dims",
    "write_history",
]

OVER_TIME = "over_time"
COORDS = ("commit", "commit_time", "debug")
"""The coordinates along ``over_time``, besides its own."""
ABSENT = "absent"
"""The status of a cell that a revision's sweep did not have."""
DEFAULT_COUNT = 10
"""How many commits ``history`` reads when no range is given."""


class HistoryError(SnakesweepError, ValueError):
    """A history that cannot be made; carries its culprit (the revision range, a name that
    clashes, the results directory) and says why."""

    def __init__(self, culprit: str, reason: str) -> None:
        self.culprit = culprit
        self.reason = reason
        super().__init__(f"history: {reason}")


@dataclass(frozen=True)
class Revision:
    """One commit of the range."""

    commit: str
    time: datetime
    subject: str

    @property
    def short(self) -> str:
        return self.commit[:8]


@dataclass
class History:
    """What ``write_history`` read and wrote."""

    revisions: list[Revision]
    loaded: list[Revision] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # commit → why
    dataset: Any = None
    path: Path | None = None
    recording: Path | None = None


def list_revisions(
    revisions: str | None, max_count: int | None = None, where: str | os.PathLike[str] = "."
) -> list[Revision]:
    """The commits of ``revisions`` (a git revision range; None: ``HEAD``), oldest first.

    Commits are followed along first parents. ``max_count`` keeps the newest that many
    (default: 10 when no range is given).
    """
    import git  # gitpython: only a history needs it

    spec = revisions or "HEAD"
    if spec.startswith("-"):
        raise HistoryError(spec, f"{spec!r}: a revision range cannot start with '-'")
    if max_count is not None and max_count < 1:
        raise HistoryError(str(max_count), f"--max-count {max_count}: expected a positive number")
    if max_count is None and revisions is None:
        max_count = DEFAULT_COUNT
    try:
        repo = git.Repo(where, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise HistoryError(
            spec, "not in a git repository: a history is read from git revisions"
        ) from None
    with repo:
        args = [
            "--first-parent",
            "--reverse",
            *([f"--max-count={max_count}"] if max_count is not None else []),
            "--end-of-options",
            spec,
            "--",
        ]
        try:
            shas = repo.git.rev_list(*args).split()
        except git.GitCommandError as exc:
            stderr = str(exc.stderr).strip()
            if stderr.startswith("stderr: '") and stderr.endswith("'"):  # gitpython's quoting
                stderr = stderr[len("stderr: '") : -1].strip()
            reason = first_line(stderr.splitlines()[0] if stderr else f"status {exc.status}")
            raise HistoryError(
                spec, f"{spec!r} is not a revision range git knows ({reason})"
            ) from None
        out = []
        for sha in shas:
            commit = repo.commit(sha)
            out.append(
                Revision(
                    commit=sha,
                    time=commit.committed_datetime.astimezone(UTC),
                    subject=str(commit.summary),
                )
            )
    if not out:
        raise HistoryError(spec, f"{spec!r} has no commits (`git log {spec}` lists none)")
    return out


def current_remotes() -> dict[str, Any] | None:
    """The remotes of the DVC config in the working tree, as a ``dvc.api`` config.

    The default remote is opened once here, so that a remote DVC cannot use (its plugin,
    such as ``dvc-s3``, not installed) stops the history with one line, not every revision.
    """
    from dvc.exceptions import DvcException, NotDvcRepoError  # DVC: heavy, only here
    from dvc.repo import Repo

    try:
        with Repo(".") as repo:
            config = repo.config
            remotes = {name: dict(options) for name, options in config["remote"].items()}
            default = config["core"].get("remote")
            if default:
                repo.cloud.get_remote_odb(default)
    except NotDvcRepoError:
        raise HistoryError(
            ".",
            "not the root of a DVC repository (no .dvc/ here): run "
            "`snakesweep history` where dvc.yaml is",
        ) from None
    except (DvcException, ImportError, OSError, ValueError) as exc:
        raise HistoryError(
            ".", f"DVC cannot use its config or default remote: {first_line(exc)}"
        ) from None
    if not remotes:
        return None
    return {"remote": remotes, **({"core": {"remote": default}} if default else {})}


def read_sweep(revision: Revision, path: str, config: dict[str, Any] | None) -> Any:
    """``path`` (a ``sweep.nc``) as ``revision`` recorded it, read through DVC's file system
    (``dvc.api.DVCFileSystem``): from the cache, else the remote.

    Raises ``LookupError`` with the reason when DVC cannot give it.
    """
    import xarray as xr  # heavy: xarray and DVC, only a history needs them
    from dvc.api import DVCFileSystem
    from dvc.exceptions import DvcException

    try:
        fs = DVCFileSystem(repo=".", rev=revision.commit, config=config)
        info = fs.info(path)
    except FileNotFoundError:
        raise LookupError(
            f"no {path} at this revision (not a DVC output or a git-tracked file)"
        ) from None
    except (DvcException, OSError, ImportError) as exc:
        raise LookupError(f"DVC cannot read this revision: {first_line(exc)}") from None
    if (info.get("dvc_info") or {}).get("isdvc") and not info.get("md5"):
        raise LookupError(f"its dvc.lock records no {path} (the sweep was not run there)")
    with tempfile.TemporaryDirectory(prefix="snakesweep-history-") as tmp:
        local = Path(tmp, SWEEP)
        try:
            fs.get_file(path, str(local))
        except FileNotFoundError:
            remote = ((config or {}).get("core") or {}).get("remote")
            where = (
                f"remote {remote!r} did not give it (never pushed, or unreachable)"
                if remote
                else "there is no default remote"
            )
            raise LookupError(
                f"{path} (md5 {info.get('md5')}) is not in the DVC cache and "
                f"{where}: `dvc push` it from a machine that has it"
            ) from None
        except (DvcException, OSError, ImportError) as exc:
            raise LookupError(f"DVC cannot give {path}: {first_line(exc)}") from None
        try:
            return xr.load_dataset(local, engine=store.ENGINE)
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: say so, go on
            raise LookupError(f"{path} cannot be read: {first_line(exc)}") from None


def swept_dims(sweep: Any) -> tuple[str, ...]:
    """The swept keys of a sweep Dataset: the dimensions of its ``run_id``."""
    if "run_id" not in sweep.data_vars:
        raise LookupError("not a sweep: it has no run_id variable")
    return tuple(str(d) for d in sweep["run_id"].dims)


def stack_history(sweeps: Sequence[tuple[Revision, Any]]) -> Any:
    """Stack sweep Datasets (oldest first) along ``over_time``; see the module docstring."""
    if not sweeps:
        raise ValueError("no sweeps to stack")
    datasets = [ds for _, ds in sweeps]
    _check_names(datasets)
    bare = {str(d) for ds in datasets for d in ds.dims if d not in ds.indexes}
    datasets = _text_where_mixed(_with_positions(datasets))
    indexes = _union_indexes(datasets)
    fills, padded = _fills(datasets, indexes)
    stacked = _concat([_aligned(ds, indexes, fills, padded) for ds in datasets], fills)
    stacked = _with_revisions(stacked, [r for r, _ in sweeps], datasets)
    # of the attributes every revision agrees on (drop_conflicts), those of the whole sweep
    stacked.attrs = {
        k: v
        for k, v in stacked.attrs.items()
        if k in ("snakesweep_config_name", "snakesweep_overrides")
    }
    return stacked.drop_vars(sorted(bare))  # positions given above, not coordinates


def _check_names(datasets: Sequence[Any]) -> None:
    """``HistoryError`` for a sweep with a key or result named as the history's own."""
    for name in (OVER_TIME, *COORDS):
        for ds in datasets:
            if name in ds.variables or name in ds.dims:
                raise HistoryError(
                    name,
                    f"a sweep has a key or result named {name!r}, which "
                    "the history names its revisions by",
                )


def _with_positions(datasets: Sequence[Any]) -> list[Any]:
    """Each Dataset with its dimensions that have no coordinate labelled by position."""
    import numpy as np  # heavy: only a history needs it

    return [
        ds.assign_coords({d: np.arange(ds.sizes[d]) for d in ds.dims if d not in ds.indexes})
        for ds in datasets
    ]


def _text_where_mixed(datasets: list[Any]) -> list[Any]:
    """The Datasets with a dimension's labels as text where revisions disagree on their
    kind (the merge's rule for mixed values)."""
    for dim in {str(d) for ds in datasets for d in ds.indexes}:
        kinds = {_kind(ds.indexes[dim]) for ds in datasets if dim in ds.indexes}
        if len(kinds) > 1:
            datasets = [
                ds.assign_coords({dim: ds.indexes[dim].astype(str)}) if dim in ds.indexes else ds
                for ds in datasets
            ]
    return datasets


def _fills(
    datasets: Sequence[Any], indexes: Mapping[str, list[Any]]
) -> tuple[dict[str, Any], set[str]]:
    """What fills a cell a revision lacks, per variable (``absent`` for ``status``), and the
    results that some cell of some revision lacks (NaN there)."""
    import numpy as np  # heavy: only a history needs it

    fills: dict[str, Any] = {"run_id": "", "status": ABSENT}
    padded: set[str] = set()
    for ds in datasets:
        short = {str(d) for d in ds.indexes if ds.sizes[d] < len(indexes[str(d)])}
        for name, var in ds.data_vars.items():
            fills.setdefault(str(name), np.nan if var.dtype.kind in "biufc" else "")
            if short & {str(d) for d in var.dims}:
                padded.add(str(name))
    padded |= {n for n in fills if not all(n in ds.data_vars for ds in datasets)}
    return fills, padded


def _aligned(
    ds: Any, indexes: Mapping[str, list[Any]], fills: Mapping[str, Any], padded: set[str]
) -> Any:
    """One revision's Dataset on the union of the labels, its missing cells filled."""
    integral = {n for n in padded if n in ds.data_vars and ds[n].dtype.kind in "biu"}
    text = {str(n) for n, v in ds.data_vars.items() if v.dtype.kind in "SU"}
    ds = ds.assign(
        {n: ds[n].astype("f8") for n in integral}  # NaN needs a float
        | {n: ds[n].astype(object) for n in text}
    )  # "absent" needs room
    return ds.reindex({d: v for d, v in indexes.items() if d in ds.dims}, fill_value=fills)


def _concat(aligned: list[Any], fills: Mapping[str, Any]) -> Any:
    """The aligned Datasets stacked along ``over_time``, text as text again."""
    import xarray as xr  # heavy: only a history needs it

    stacked = xr.concat(
        aligned,
        dim=OVER_TIME,
        join="outer",
        fill_value=fills,
        data_vars="all",
        coords="different",
        compat="equals",
        combine_attrs="drop_conflicts",
    )
    return stacked.assign(
        {n: v.astype(str) for n, v in stacked.data_vars.items() if v.dtype.kind == "O"}
    )


def _with_revisions(stacked: Any, revisions: Sequence[Revision], datasets: Sequence[Any]) -> Any:
    """``stacked`` labelled along ``over_time``: position, commit, commit time, debug."""
    import numpy as np  # heavy: only a history needs it
    import pandas as pd  # heavy: only a history needs it

    stacked = stacked.assign_coords(
        {
            OVER_TIME: np.arange(len(revisions)),
            "commit": (OVER_TIME, np.array([r.commit for r in revisions])),
            "commit_time": (
                OVER_TIME,
                pd.DatetimeIndex([r.time.replace(tzinfo=None) for r in revisions]).as_unit("ns"),
            ),
            "debug": (
                OVER_TIME,
                np.array([bool(ds.attrs.get("snakesweep_debug")) for ds in datasets]),
            ),
        }
    )
    stacked["commit_time"].attrs["timezone"] = "UTC"
    return stacked


def _union_indexes(datasets: Sequence[Any]) -> dict[str, list[Any]]:
    """Per dimension, the values of every revision: numbers sorted, others in the newest
    revision's order, then the older ones' (newest first)."""
    order: dict[str, dict[Any, None]] = {}
    for ds in reversed(datasets):
        for dim in ds.indexes:
            order.setdefault(str(dim), {}).update(dict.fromkeys(ds.indexes[dim].tolist()))
    indexes = {dim: list(values) for dim, values in order.items()}
    for dim, values in indexes.items():
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            indexes[dim] = sorted(values)
    return indexes


def _kind(index: Any) -> str:
    """What a coordinate holds, as the merge tells it apart: booleans, numbers or text."""
    kind = index.dtype.kind
    return "boolean" if kind == "b" else "number" if kind in "iuf" else "text"


def write_history(
    revisions: str | None,
    results: str | os.PathLike[str] = "results",
    *,
    max_count: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> History:
    """Read the sweep of every revision of the range through DVC, stack them, write
    ``history.nc`` and ``history.rrd`` under ``results``; say how it goes on ``progress``."""
    say = progress or (lambda line: None)
    spec = revisions or "HEAD"
    history = History(revisions=list_revisions(revisions, max_count))
    config = current_remotes()
    path = _repo_relative(results, SWEEP)
    read: list[tuple[Revision, Any]] = []
    n = len(history.revisions)
    places = {
        r.commit: f"[{i}/{n}] {r.short} {r.time:%Y-%m-%d %H:%M} UTC"
        for i, r in enumerate(history.revisions, 1)
    }
    for revision in history.revisions:
        where = places[revision.commit]
        try:
            sweep = read_sweep(revision, path, config)
            swept_dims(sweep)
        except LookupError as exc:
            history.skipped[revision.commit] = str(exc)
            say(f"{where}: skipped: {exc}")
            continue
        read.append((revision, sweep))
        say(f"{where}: {int(sweep['run_id'].size)} cells, {revision.subject}")
    if not read:
        raise HistoryError(
            spec,
            f"none of the {n} revision(s) of {spec!r} has a {path} that "
            "DVC can give (`dvc repro`, then commit dvc.lock and `dvc push`)",
        )
    newest = set(swept_dims(read[-1][1]))
    for revision, sweep in read:
        dims = swept_dims(sweep)
        if set(dims) != newest:
            why = (
                f"its sweep is over ({', '.join(dims) or 'nothing'}), the newest over "
                f"({', '.join(swept_dims(read[-1][1]))})"
            )
            history.skipped[revision.commit] = why
            say(f"{places[revision.commit]}: left out: {why}")
    read = [(r, s) for r, s in read if r.commit not in history.skipped]
    history.loaded = [r for r, _ in read]
    dataset = stack_history(read).assign_attrs(snakesweep_history=spec)
    out = Path(results, HISTORY)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.aside(out)
    try:
        dataset.to_netcdf(tmp, engine=store.ENGINE)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    recording = Path(results, HISTORY_RECORDING)
    write_recording(dataset, recording)
    history.dataset, history.path, history.recording = dataset, out, recording
    return history


def _repo_relative(results: str | os.PathLike[str], name: str) -> str:
    """``results/name`` relative to the working directory (the DVC root), as DVC names it."""
    path = store.local_path(os.path.abspath(Path(results, name)))
    if os.path.isabs(path):
        raise HistoryError(
            str(results),
            f"--results {str(results)!r} is not inside this DVC "
            "repository, where `snakesweep history` runs",
        )
    return Path(path).as_posix()
