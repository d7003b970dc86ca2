"""Writing files aside and renaming them into place: a reader sees a file whole or not at
all, a process killed at any moment leaves nothing half-written, and a write that failed
for want of space says so (``NoSpaceError``)."""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from snakesweep.errors import NoSpaceError

__all__ = [
    "date_key",
    "ENGINE",
    "SPACE_MARGIN",
    "Staging",
    "aside",
    "clear_asides",
    "free_space",
    "local_path",
    "no_space",
    "out_of_space",
    "pid_alive",
    "replace_dir",
    "replace_with",
    "write_atomic",
]

ENGINE = "netcdf4"
"""xarray's NetCDF engine for every file snakesweep writes and reads (3x h5netcdf's speed)."""


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


def out_of_space(directory: str | os.PathLike[str], exc: BaseException, needed: int = 0) -> bool:
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


def _failed_write(tmp: Path, path: Path, exc: BaseException, needed: int) -> NoSpaceError | None:
    """Remove what a failed write of ``path`` left aside at ``tmp`` (a file or a
    directory); its ``NoSpaceError`` when the disk was full."""
    written = _size_of(tmp)
    _remove(tmp)
    if (
        isinstance(exc, OSError)
        and exc.filename is not None
        and os.fspath(exc.filename).startswith(os.fspath(tmp))
    ):
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
        with os.scandir(directory) as found:
            entries = list(found)
    except OSError:
        return 0
    for entry in entries:
        name, _, rest = entry.name[1:].rpartition(".")
        if not entry.name.startswith(".") or rest not in ("tmp", "old"):
            continue
        name, _, pid = name.rpartition(".")
        if name in wanted and pid.isdigit() and not pid_alive(int(pid)):
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


def pid_alive(pid: int) -> bool:
    """Whether the process ``pid`` (on this host) is alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def date_key(
    path: Path, key: str | None, fresh: bool, outputs: Collection[Path], salt: str = ""
) -> bool:
    """Write the key file ``path`` of a rule whose other inputs are ``ancient``, and date it
    so that Snakemake runs the rule exactly when its outputs are not ``fresh``: older than
    any output when they are (its text: ``key``), else newer than every one of ``outputs``
    (with new text each time: Snakemake skips an input whose checksum it recorded).
    Returns ``fresh``."""
    text = key if fresh and key else f"stale {key or 'incomplete'} {salt} {time.time_ns()}"
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    if fresh:
        os.utime(path, ns=(0, 0))
    else:
        newest = max((_mtime_ns(p) for p in outputs), default=0)
        when = max(time.time_ns(), newest + 1_000_000)
        os.utime(path, ns=(when, when))
    return fresh


def _mtime_ns(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
