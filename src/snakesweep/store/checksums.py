"""Checksums: whether a run's result is the file its ``meta.json`` recorded at completion.

A run commits its ``result.nc`` with its sha256 and size in ``meta.json``
(``result_sha256``, ``result_bytes``, written before anything an experiment records). A
result that is not that file (truncated, overwritten, its ``meta.json`` gone) is
``corrupt``: never merged, computed again.

Hashing every result at every Snakefile parse would cost a read of the whole sweep, so a
verdict is kept per run, keyed by the ``os.stat`` of its result and of its ``meta.json``
(size, modification time, inode, change time: what a write, a truncation or a copy
changes), in ``results/.snakesweep/checksums.json``. It is only ever a cache: deleting it
costs one hashing of everything. Whole files (``sweep.nc``, ``runs.csv``) are hashed the
same way. The code fingerprint a run's ``meta.json`` records, and the files it covers, are
kept with the verdict: the list of files by its digest, in one table (``CODE_FILES``) that
the runs of a sweep share.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from snakesweep.store.files import write_atomic
from snakesweep.store.layout import CHECKSUMS, META, RESULT, run_dir, runs_dir

__all__ = ["CODE_FILES", "Checksums", "file_sha256", "result_record", "why_corrupt"]

# By pattern rather than by parsing: a parse is ~10x slower. The checksum keys come first
# and together (``execute.execution``); in a string value the quotes would be escaped.
_RECORDED = re.compile(rb'"result_sha256": "([0-9a-f]{64})",\s*"result_bytes": (\d+)')
_DONE = re.compile(rb'^\{\s*"run_id": "[0-9a-f]+",\s*"status": "done"')
_CODE = re.compile(rb'"code": \{\s*"fingerprint": "([0-9a-f]+)",\s*"files": (\[[^\]]*\])')
CODE_FILES = "code_files"
"""The cache's table of the recorded lists of code files, by digest (many runs share one)."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def result_record(path: Path) -> dict[str, Any]:
    """What ``meta.json`` records of a finished result (its first keys after the status)."""
    return {"result_sha256": file_sha256(path), "result_bytes": path.stat().st_size}


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


class Checksums:
    """The verdicts and digests of one results directory, read and written as a cache."""

    def __init__(self, results: str | os.PathLike[str], cache: Path = CHECKSUMS) -> None:
        self.results = Path(results)
        self.path = self.results / cache
        self._runs = str(runs_dir(results))
        self._known: dict[str, Any] | None = None
        self._lists: dict[str, tuple[str, ...]] = {}
        self._changed = False

    def _cache(self) -> dict[str, Any]:
        if self._known is None:
            try:
                known = json.loads(self.path.read_bytes())
            except (OSError, ValueError):
                known = {}
            self._known = known if isinstance(known, dict) else {}
        return self._known

    def run(
        self, run_id: str, result: os.stat_result
    ) -> tuple[bool, str | None, tuple[str, ...] | None]:
        """Whether the result of ``run_id`` (whose ``os.stat`` is ``result``) is the file its
        ``meta.json`` recorded, and the code fingerprint and files that records (the same
        tuple for runs that record the same files).

        A ``meta.json`` of a done run from before checksums were recorded is trusted; one
        that is missing, unreadable or not ``done`` is not."""
        known = self._entry(run_id, result)
        if known is None:
            return False, None, None
        files = self._files(known[11])
        if files is None and known[11] is not None:  # the table lost it: read the run again
            del self._cache()[run_id]
            return self.run(run_id, result)
        return bool(known[8]), known[9], files

    def _files(self, digest: str | None) -> tuple[str, ...] | None:
        if digest is None:
            return None
        files = self._lists.get(digest)
        if files is None:
            table = self._cache().get(CODE_FILES)
            listed = table.get(digest) if isinstance(table, dict) else None
            if not isinstance(listed, list):
                return None
            files = self._lists[digest] = tuple(listed)
        return files

    def meta_digest(self, run_id: str) -> str | None:
        """The sha256 of a run's ``meta.json`` (None when it or the result is missing)."""
        try:
            result = os.stat(f"{self._runs}/{run_id}/{RESULT}")
        except OSError:
            return None
        known = self._entry(run_id, result)
        return None if known is None else str(known[10])

    def _entry(self, run_id: str, result: os.stat_result) -> list[Any] | None:
        """The cached verdict of a run (stats, whole, fingerprint, meta.json's sha256, the
        digest of its code files in ``CODE_FILES``), made again when either file changed."""
        meta_path = f"{self._runs}/{run_id}/{META}"
        try:
            meta = os.stat(meta_path)
        except OSError:
            return None
        key = [*_stat_key(result), *_stat_key(meta)]
        known = self._cache().get(run_id)
        if isinstance(known, list) and len(known) == 12 and known[:8] == key:
            return known
        try:
            with open(meta_path, "rb") as f:
                text = f.read()
        except OSError:
            return None
        fingerprint, files = _recorded_code(text)
        listed = None
        if files is not None:
            listed = hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16]
            table = self._cache().get(CODE_FILES)
            if not isinstance(table, dict):
                table = self._cache()[CODE_FILES] = {}
            table.setdefault(listed, files)
        recorded = _RECORDED.search(text)
        if recorded is None:
            whole = _DONE.match(text) is not None  # recorded before checksums were
        else:
            whole = (
                int(recorded.group(2)) == result.st_size
                and file_sha256(f"{self._runs}/{run_id}/{RESULT}") == recorded.group(1).decode()
            )
        entry = [*key, whole, fingerprint, hashlib.sha256(text).hexdigest(), listed]
        self._cache()[run_id] = entry
        self._changed = True
        return entry

    def digest(self, name: str, st: os.stat_result) -> str:
        """The sha256 of ``results/<name>``, whose ``os.stat`` is ``st``."""
        key = _stat_key(st)
        known = self._cache().get(name)
        if isinstance(known, list) and len(known) == 5 and known[:4] == key:
            return str(known[4])
        digest = file_sha256(self.results / name)
        self._cache()[name] = [*key, digest]
        self._changed = True
        return digest

    def remember(self, name: str, st: os.stat_result, digest: str) -> None:
        """Record that ``results/<name>``, whose ``os.stat`` is ``st``, has the sha256
        ``digest`` (known by whoever wrote it: it is not hashed again)."""
        self._cache()[name] = [*_stat_key(st), digest]
        self._changed = True

    def save(self) -> None:
        """Write what was hashed (best effort: the cache is never needed)."""
        if not self._changed or self._known is None:
            return
        table = self._known.get(CODE_FILES)
        if isinstance(table, dict):  # only the lists some run still records
            used = {e[11] for e in self._known.values() if isinstance(e, list) and len(e) == 12}
            self._known[CODE_FILES] = {d: f for d, f in table.items() if d in used}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(self._known, separators=(",", ":")))
        except OSError:
            pass  # a full or read-only disk: hash again next time
        self._changed = False


def _recorded_code(text: bytes) -> tuple[str | None, list[str] | None]:
    """The code fingerprint and files a ``meta.json`` records (by pattern; parsed when a
    name holds a ``]``)."""
    found = _CODE.search(text)
    if found is not None:
        try:
            files = json.loads(found.group(2))
        except ValueError:
            files = None
        if _names(files):
            return found.group(1).decode(), files
    if b'"fingerprint"' not in text:
        return None, None
    try:
        code = json.loads(text)["provenance"]["code"]
        fingerprint, files = code["fingerprint"], code["files"]
    except (ValueError, KeyError, TypeError):
        return None, None
    return (fingerprint, files) if isinstance(fingerprint, str) and _names(files) else (None, None)


def _names(files: Any) -> bool:
    return isinstance(files, list) and all(isinstance(f, str) for f in files)


def why_corrupt(results: str | os.PathLike[str], run_id: str) -> str:
    """Why a run's result does not check out, in a few words."""
    directory = run_dir(results, run_id)
    try:
        text = (directory / META).read_bytes()
    except OSError:
        return "meta.json is missing"
    recorded = _RECORDED.search(text)
    if recorded is None:
        return "meta.json records no checksum of a done run"
    size = (directory / RESULT).stat().st_size
    if size != int(recorded.group(2)):
        return f"result.nc has {size} bytes, {recorded.group(2).decode()} were recorded"
    return "result.nc is not the file recorded (sha256 differs)"
