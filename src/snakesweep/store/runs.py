"""The store: the layout of ``results/``, reading and writing run directories, run status.

::

    results/runs/<run_id>/result.nc     the run's results (present only when it is done)
                          config.yaml   the resolved config
                          meta.json     status, start, end, duration, host, error
                          stdout.log    what the run printed
                          stderr.log
    results/.snakesweep/drafts/<run_id>/…  runs being written; never read as results
    results/.snakesweep/plans/             cached plans

Drafts live outside ``runs/`` so that whatever tracks ``runs/`` (DVC's ``run`` stage) sees
finished runs only.

A run directory is written as a draft beside its final place and renamed into place
when complete, so a process killed at any moment leaves nothing that reads as done.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from snakesweep.errors import NoSpaceError, ResultsDirError, ResultsError

RESULT = "result.nc"
CONFIG = "config.yaml"
META = "meta.json"
STDOUT = "stdout.log"
STDERR = "stderr.log"

ENGINE = "netcdf4"
"""xarray's NetCDF engine for every file snakesweep writes and reads (3x h5netcdf's speed)."""

Status = Literal["done", "stale", "failed", "pending", "corrupt"]
"""A run is ``done`` when it has its result, ``stale`` when that result was computed with
other code than the current (see ``provenance``), ``corrupt`` when its result is not the
file it recorded at completion (changed, truncated, or its ``meta.json`` gone), ``failed``
when it recorded an error, and ``pending`` otherwise."""


def aside(path: Path) -> Path:
    """The name this process writes ``path`` under before renaming it into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` aside, then rename it to ``path``: readers see all of it or none."""
    replace_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def replace_with(path: Path, write: Callable[[Path], Any], needed: int = 0) -> None:
    """``write(aside)``, then rename the file it wrote to ``path``; nothing half-written is
    left, whatever ``write`` raises. A write that failed for want of space raises
    ``NoSpaceError`` (``needed``: the bytes it meant to write, when known)."""
    tmp = aside(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except Exception as exc:
        full = _failed_write(tmp, path, exc, needed)  # a full disk keeps no half-written file
        if full is not None:
            raise full from exc
        raise
    except BaseException:
        _remove(tmp)
        raise


SPACE_MARGIN = 1 << 20
"""Free bytes under which a disk counts as full when a write on it failed without saying
why (netCDF's "HDF error")."""


def free_space(directory: str | os.PathLike[str]) -> int:
    """The bytes this process may still write on the disk of ``directory`` (0 when it has
    no inode left)."""
    st = os.statvfs(directory)
    if st.f_files and not (st.f_ffree if os.geteuid() == 0 else st.f_favail):
        return 0
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail  # root may use the reserve
    return blocks * st.f_frsize


def out_of_space(directory: str | os.PathLike[str], exc: BaseException, needed: int = 0
                 ) -> bool:
    """Whether a write into ``directory`` that raised ``exc`` failed for want of space: its
    error says so (ENOSPC or EDQUOT, anywhere in its chain), or, for libraries that do not
    say why (netCDF: "HDF error"; rerun: "os error 28"), the disk has less free than the
    ``needed`` bytes and a margin (call it once what was written is removed)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(cause) or "os error 28" in str(cause):
            return True
        cause = cause.__cause__ or cause.__context__
    try:
        return free_space(directory) < needed + SPACE_MARGIN
    except OSError:
        return False


def no_space(path: Path, exc: BaseException, needed: int = 0) -> NoSpaceError | None:
    """The ``NoSpaceError`` of a write of ``path`` that raised ``exc`` (and whose partial
    file is removed), or None when space was not what it lacked."""
    if isinstance(exc, NoSpaceError):
        return exc
    directory = path.parent if path.parent.is_dir() else Path(".")
    if not out_of_space(directory, exc, needed):
        return None
    try:
        free: int | None = free_space(directory)
    except OSError:
        free = None
    return NoSpaceError(local_path(path), free)


def _failed_write(tmp: Path, path: Path, exc: BaseException, needed: int
                  ) -> NoSpaceError | None:
    """Remove what a failed write of ``path`` left aside at ``tmp`` (a file or a
    directory); its ``NoSpaceError`` when the disk was full."""
    written = _size_of(tmp)
    _remove(tmp)
    if isinstance(exc, OSError) and exc.filename is not None and \
            os.fspath(exc.filename).startswith(os.fspath(tmp)):
        exc.filename = os.fspath(path)  # name the file meant, not the one aside
    return no_space(path, exc, max(needed, written))


def _size_of(path: Path) -> int:
    try:
        if not path.is_dir():
            return path.stat().st_size
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    except OSError:
        return 0


def _remove(path: Path) -> None:
    """Remove a file or a directory, if it is there and can be removed."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only disk: nothing was written there either


class Staging:
    """Files and directories of one directory written aside, then renamed into place
    together (``commit``), in the order they were written: a failure before that (a full
    disk, a kill) leaves every one of them as it was, and nothing aside once the ``with``
    block is left. A write that failed for want of space raises ``NoSpaceError``.

    ::

        with Staging(results) as staged:
            staged.file("sweep.nc", lambda tmp: ds.to_netcdf(tmp))
            staged.text("sweep.json", text)
            staged.commit()
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._staged: list[tuple[Path, Path]] = []

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def file(self, name: str, write: Callable[[Path], Any], needed: int = 0) -> Path:
        """``write(aside)`` for ``directory/name``; returns the aside path."""
        path = self.directory / name
        tmp = aside(path)
        _remove(tmp)
        self._staged.append((tmp, path))
        self._write(tmp, path, lambda: write(tmp), needed)
        return tmp

    def text(self, name: str, text: str) -> Path:
        data = text.encode("utf-8")
        return self.file(name, lambda tmp: tmp.write_bytes(data), len(data))

    def data(self, name: str, data: bytes) -> Path:
        return self.file(name, lambda tmp: tmp.write_bytes(data), len(data))

    def tree(self, name: str, write: Callable[[Path], Any]) -> Path:
        """A directory: ``write(aside)`` fills a new empty one; it replaces the old whole."""
        path = self.directory / name
        tmp = aside(path)
        _remove(tmp)
        self._staged.append((tmp, path))

        def fill() -> None:
            tmp.mkdir()
            write(tmp)
        self._write(tmp, path, fill, 0)
        return tmp

    def _write(self, tmp: Path, path: Path, write: Callable[[], Any], needed: int) -> None:
        try:
            write()
        except Exception as exc:
            full = _failed_write(tmp, path, exc, needed)
            if full is not None:
                raise full from exc
            raise

    def commit(self) -> None:
        """Rename everything staged into place, in the order it was written."""
        staged, self._staged = self._staged, []
        try:
            while staged:
                tmp, path = staged[0]
                if tmp.is_dir():
                    replace_dir(path, tmp)
                else:
                    os.replace(tmp, path)
                staged.pop(0)
        finally:
            self._staged = staged

    def discard(self) -> None:
        """Remove what is staged and not committed."""
        for tmp, _ in self._staged:
            _remove(tmp)
        self._staged = []


def clear_asides(directory: str | os.PathLike[str], names: Iterable[str]) -> int:
    """Remove what writers of ``directory/<name>`` that are gone (on this host) left aside
    (``aside``, ``replace_dir``); returns how many. Others' are left alone."""
    wanted = set(names)
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        name, _, rest = entry.name[1:].rpartition(".")
        if not entry.name.startswith(".") or rest not in ("tmp", "old"):
            continue
        name, _, pid = name.rpartition(".")
        if name in wanted and pid.isdigit() and not _alive(int(pid)):
            _remove(Path(entry.path))
            removed += 1
    return removed


def replace_dir(path: Path, new: Path) -> None:
    """Put the directory ``new`` at ``path``, the old one (if any) moved aside and removed:
    readers see the old directory whole or the new one whole."""
    old = None
    if path.exists() or path.is_symlink():
        old = path.with_name(f".{path.name}.{os.getpid()}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(new, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def local_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the working directory when it lies inside it, else as given:
    what snakesweep keeps of a path the user gave, so no home directory is written down."""
    given = os.fspath(path)
    if not os.path.isabs(given):
        return given
    here = os.getcwd()
    inside = os.path.commonpath([here, os.path.abspath(given)]) == here
    return os.path.relpath(given, here) if inside else given


def check_results(results: str | os.PathLike[str], given: str = "--results") -> None:
    """Refuse a results directory that cannot be one, naming how it was ``given``: a file,
    or a symbolic link to nothing (``ResultsDirError``)."""
    path = Path(results)
    culprit = f"{given} {os.fspath(results)!r}"
    if path.is_symlink() and not path.exists():
        target = os.readlink(path)
        raise ResultsDirError(culprit, f"is a symbolic link to {target!r}, which does not "
                              "exist: create that directory, or remove the link")
    if path.exists() and not path.is_dir():
        raise ResultsDirError(culprit, "is a file, not a directory: give a directory for "
                              "the runs and the merged files")


def runs_dir(results: str | os.PathLike[str]) -> Path:
    return Path(results, "runs")


def run_dir(results: str | os.PathLike[str], run_id: str) -> Path:
    return Path(results, "runs", run_id)


def result_path(results: str | os.PathLike[str], run_id: str) -> Path:
    """The file whose presence means the run is done (Snakemake's output of the run job)."""
    return Path(results, "runs", run_id, RESULT)


def read_meta(results: str | os.PathLike[str], run_id: str) -> dict[str, Any] | None:
    """A run's ``meta.json``, or None if it has none (or it cannot be read)."""
    try:
        with open(run_dir(results, run_id) / META, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


CodeNow = Callable[[str, tuple[str, ...]], str]
"""The current code fingerprint of a run, given its id and the files its ``meta.json``
records (``provenance.CurrentCode``)."""


def run_statuses(results: str | os.PathLike[str], run_ids: Iterable[str],
                 code: CodeNow | None = None) -> dict[str, Status]:
    """The status of each run: done, corrupt, failed or pending (see ``Status``).

    A result counts as done only when it is the file its ``meta.json`` recorded at
    completion (``snakesweep.checksums``, which hashes a file once per change of it). With
    ``code``, a done run is stale when its ``meta.json`` records another code fingerprint
    than ``code`` gives for the files it records, or records none.
    """
    from snakesweep.store.checksums import Checksums

    root = runs_dir(results)
    try:
        with os.scandir(root) as entries:
            present = {e.name for e in entries if e.is_dir() and not e.name.startswith(".")}
    except FileNotFoundError:
        present = set()
    checksums = Checksums(results)
    out: dict[str, Status] = {}
    where = str(root)
    for run_id in run_ids:
        if run_id not in present:
            out[run_id] = "pending"
            continue
        try:
            st = os.stat(f"{where}/{run_id}/{RESULT}")
        except OSError:
            meta = read_meta(results, run_id)
            out[run_id] = ("failed" if meta and meta.get("status") in FAILED else "pending")
            continue
        whole, fingerprint, files = checksums.run(run_id, st)
        if not whole:
            out[run_id] = "corrupt"
        elif code is not None and (files is None or fingerprint != code(run_id, files)):
            out[run_id] = "stale"
        else:
            out[run_id] = "done"
    checksums.save()
    return out


def unused_runs(results: str | os.PathLike[str], run_ids: Iterable[str]) -> list[str]:
    """The run directories under ``results/runs`` that are no run of this sweep (runs of
    other configs: another sweep's, or this one's before its config changed)."""
    wanted = set(run_ids)
    try:
        with os.scandir(runs_dir(results)) as entries:
            return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith(".")
                          and e.name not in wanted)
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


def config_changes(results: str | os.PathLike[str], configs: Mapping[str, Mapping[str, Any]],
                   swept: Mapping[str, Mapping[str, Any]], unused: Sequence[str],
                   most: int = 200) -> tuple[list[ConfigChange], int]:
    """Why runs are pending that look like runs already in ``results``: each pending run's
    config (``configs``; its swept values in ``swept``) is compared, as its run id sees it,
    with the config of the nearest ``unused`` run that has the same swept values. Returns
    the keys that differ (most frequent first) and how many pending runs found such a run.
    Reads at most ``most`` of each."""
    import yaml

    from snakesweep.core.configs import canonical_json, identity_of

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
    changes = [ConfigChange(k, *example[k], n)
               for k, n in sorted(counts.items(), key=lambda kn: (-kn[1], kn[0]))]
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


FAILED = ("failed", "timeout")
"""The ``meta.json`` statuses of a run that ended without a result."""


class RunDraft:
    """A run directory being written aside; ``commit`` renames it into place.

    Drafts live in ``.snakesweep/drafts/<run_id>/<host>-<pid>/``: one per writing process, so two
    writers never touch each other's draft, and a draft whose process is gone (on this
    host) is removed by the next attempt at the same run.
    """

    def __init__(self, results: str | os.PathLike[str], run_id: str,
                 pid: int | None = None) -> None:
        self.results = Path(results).absolute()
        self.run_id = run_id
        self.path = _drafts(self.results, run_id) / f"{_HOST}-{pid or os.getpid()}"

    @classmethod
    def begin(cls, results: str | os.PathLike[str], run_id: str) -> RunDraft:
        """Start a new draft of ``run_id`` for this process."""
        draft = cls(results, run_id)
        draft.path.parent.mkdir(parents=True, exist_ok=True)
        for other in draft.path.parent.iterdir():
            host, _, pid = other.name.rpartition("-")
            if (other != draft.path and host == _HOST and pid.isdigit()
                    and not _alive(int(pid))):
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
                {k: earlier[k] for k in ("status", "start", "end", "host", "error")
                 if k in earlier}
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


def _drafts(results: Path, run_id: str) -> Path:
    return results / ".snakesweep" / "drafts" / run_id


_HOST = socket.gethostname().replace("-", "_")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def resolve_run_id(results: str | os.PathLike[str], prefix: str, *,
                   drafts: bool = False) -> str:
    """The run id of ``results`` that ``prefix`` starts (among the runs with a directory,
    and, with ``drafts``, the runs being written); one line naming the candidates when none
    or several do."""
    names: set[str] = set()
    places = [runs_dir(results)] + ([Path(results, ".snakesweep", "drafts")]
                                    if drafts else [])
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
        raise ResultsError(f"run {prefix!r}: no run of {str(results)!r} starts so")
    shown = ", ".join(matches[:5]) + (f" and {len(matches) - 5} more" if len(matches) > 5
                                      else "")
    raise ResultsError(f"run {prefix!r} is ambiguous: {shown}")
