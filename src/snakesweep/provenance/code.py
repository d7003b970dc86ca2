"""The code fingerprint: which source files a run ran, and their hash.

The **code fingerprint** of a run is a hash of the source files it ran: its entry point's
module, the project's modules (the repository's, installed libraries aside) loaded while
the experiment was imported or run, and those their sources import, directly or inside a
function (``ran_code``); and the files ``snakesweep.code`` globs name. The bytes of each
file are read once per process, when the process loads it (the pool's workers: when the
pool warms up), so they are the code the runs of that process execute. A run records the
fingerprint and those files. At each parse, a done run's current fingerprint is the hash of
the files it recorded (and of those its globs name now) as they are now (``CurrentCode``);
a run whose recorded fingerprint differs, or that records none, is *stale*: ``snakesweep
status`` lists it and Snakemake computes it again. A new file stales nothing until a run
imports it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.core.entries import BY_VALUE
from snakesweep.core.options import Options
from snakesweep.errors import ConfigError, first_line
from snakesweep.provenance.places import Places

__all__ = [
    "IMPORTS_LINE",
    "SOURCE_KEPT",
    "Code",
    "CurrentCode",
    "files_of",
    "fingerprint_of",
    "fingerprint_sources",
    "mark_imports",
    "named_files",
    "note_loaded",
    "ran_code",
]


@dataclass(frozen=True)
class Code:
    """The source files a run was computed with, and their hash."""

    fingerprint: str
    files: tuple[str, ...]
    """Relative to the repository root, sorted."""
    entry_file: str | None


IMPORTS_LINE = "# snakesweep: imports "
"""The first line of a function's source shipped by value (``store.function_source``) when
it reads modules: their names, after it. The project's among them, and what they import,
are part of its code, as a module's imports are."""

SOURCE_KEPT = 1 << 20
"""Files up to this size are kept as this process first read them (see ``note_loaded``)."""

_BEFORE: frozenset[str] | None = None
"""The modules this process had loaded before it first imported an experiment."""
_SEEN: set[str] = set()
"""Those, and the modules loaded since that ``note_loaded`` has counted."""
_LOADED_BY: dict[str, set[str]] = {}
"""The modules first loaded while an experiment was imported or run, by its module."""
_SOURCES: dict[str, bytes] = {}
"""Each file this process read for a fingerprint, by path, as it first read it."""
_VERDICTS: dict[Places, dict[str, tuple[str, Path] | None]] = {}
"""Per project, each module file seen: when it is the project's own, its recorded name and
its absolute path."""
_IMPORTS: dict[tuple[str, str], frozenset[str]] = {}
"""The modules each project module's source names in an import, by module and file."""
_INSTALLED = ("site-packages", "dist-packages")


def mark_imports() -> None:
    """Note the modules loaded now, the first time a process calls it (just before it first
    imports an experiment): the project's modules loaded later may be an experiment's code.
    Forked processes (the pool's workers, a batch's runs) inherit the note."""
    global _BEFORE
    if _BEFORE is None:
        _BEFORE = frozenset(sys.modules)
        _SEEN.update(_BEFORE)


def note_loaded(entry: str, places: Places | None = None) -> None:
    """Count the modules loaded since the last call as loaded by the experiment whose module
    is ``entry`` (called after it is imported and after each of its runs), and read those of
    the project now: a run records its code as it was loaded, not as an edit made while the
    sweep runs leaves it."""
    places = places or Places.here()
    modules = dict(sys.modules)  # one copy: a thread may import meanwhile
    new = modules.keys() - _SEEN
    _SEEN.update(new)
    _LOADED_BY.setdefault(entry, set()).update(new)
    known = _VERDICTS.setdefault(places, {})
    for name in new:
        found = _module_file_of(modules[name], places, known)
        if found is not None:
            _source(found[1])


def _module_file_of(
    module: Any, places: Places, known: dict[str, tuple[str, Path] | None]
) -> tuple[str, Path] | None:
    """The file of a loaded module when it is the project's own (see ``_project_file``)."""
    file = getattr(module, "__file__", None)
    return _project_file(file, places, known) if isinstance(file, str) else None  # built-in


def _project_file(
    file: str | os.PathLike[str],
    places: Places,
    known: dict[str, tuple[str, Path] | None] | None = None,
) -> tuple[str, Path] | None:
    """The recorded name and absolute path of ``file`` when it is the project's own: in the
    repository (as spelt, a link to a file elsewhere included), and neither an installed
    library (in any site-packages, or under an interpreter's prefix inside the repository:
    a virtual environment) nor Python's bytecode cache. Decided once per file (``known``:
    the decisions so far in ``places``)."""
    known = _VERDICTS.setdefault(places, {}) if known is None else known
    key = os.fspath(file)
    if key not in known:
        known[key] = _judge_file(key, places)
    return known[key]


def _judge_file(file: str | os.PathLike[str], places: Places) -> tuple[str, Path] | None:
    spelt = os.path.abspath(file)
    roots = tuple(f"{base}{os.sep}" for base in places.roots())
    if not spelt.startswith(roots) or any(part in spelt for part in _INSTALLED):
        return None  # most modules, told apart cheaply: an experiment imports hundreds
    path, real = Path(spelt), Path(os.path.realpath(file))
    name = places.path(path)
    if (
        name.startswith(("/", "~/"))
        or _is_bytecode(path)
        or any(part in _INSTALLED for part in real.parts)
    ):
        return None
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        inside = Path(os.path.realpath(prefix))
        if inside.is_relative_to(places.root) and real.is_relative_to(inside):
            return None
    return (name, path) if path.is_file() else None


def _source(path: Path) -> bytes | None:
    """A file's bytes as this process first read them (a file over ``SOURCE_KEPT`` bytes: as
    they are now); None when it cannot be read."""
    key = str(path)
    if key in _SOURCES:
        return _SOURCES[key]
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) <= SOURCE_KEPT:
        _SOURCES[key] = data
    return data


def _code_modules(
    entry: str, places: Places, roots: Sequence[str] | None = None
) -> dict[str, tuple[str, Path]]:
    """The project's loaded modules that the experiment whose module is ``entry`` ran, each
    with its file's recorded name and path: that module (or, given, the modules ``roots``
    names), those loaded while it was imported or run, what their sources import, and so on,
    with the packages holding each; snakesweep's own only within ``entry``'s package."""
    modules = dict(sys.modules)
    package = entry.rpartition(".")[0]
    todo = [*([entry] if roots is None else roots), *_LOADED_BY.get(entry, ())]
    seen: set[str] = set()
    found: dict[str, tuple[str, Path]] = {}
    known = _VERDICTS.setdefault(places, {})
    while todo:
        name = todo.pop()
        if name in seen or name not in modules:
            continue
        seen.add(name)
        own = name == "snakesweep" or name.startswith("snakesweep.")
        if own and not (package and (name == package or name.startswith(f"{package}."))):
            continue
        file = _module_file_of(modules[name], places, known)
        if file is None:
            continue
        found[name] = file
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += _imports_of(name, file[1])
    return found


def _imports_of(name: str, path: Path) -> frozenset[str]:
    """The modules the source of module ``name`` names in an import statement anywhere in
    it (inside a function too), and each ``from``'s names as possible submodules."""
    key = (name, str(path))
    if key in _IMPORTS:
        return _IMPORTS[key]
    source = _source(path) if path.suffix == ".py" else None
    try:
        with warnings.catch_warnings():  # its import said them already, if anything
            warnings.simplefilter("ignore")
            tree = ast.parse(source or b"")
    except (SyntaxError, ValueError):
        tree = ast.parse(b"")
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package)
                except (ImportError, ValueError):
                    continue  # beyond the top-level package
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    _IMPORTS[key] = frozenset(out)
    return _IMPORTS[key]


def ran_code(
    options: Options, results: str | os.PathLike[str] | None = None, places: Places | None = None
) -> Code:
    """The code a run with these ``snakesweep`` options ran in this process.

    The project's modules the experiment ran (see ``_code_modules``: its entry point's
    module, the modules loaded while it was imported or run, and what they import, directly
    or inside a function), and the files ``snakesweep.code`` globs name. A module counts
    when it lies in the repository, not in an installed library nor under ``results``. See
    ``fingerprint_sources``. An experiment shipped by value into ``results`` (``__main__:f``)
    ran its source there (``store.function_source``), and those files.
    """
    places = places or Places.here()
    module, _, name = (options.experiment or "").partition(":")
    files: dict[str, Path] = {}
    shipped = store.function_source(results, name) if results is not None else None
    if module == BY_VALUE and shipped is not None and shipped.is_file():
        note_loaded(module, places)  # what unpickling it and its run loaded
        source = _source(shipped) or b""
        first = source.split(b"\n", 1)[0].decode("utf-8", "replace")
        read = (
            first.removeprefix(IMPORTS_LINE).split(", ") if first.startswith(IMPORTS_LINE) else []
        )
        files = dict(_code_modules(module, places, [m for m in read if m]).values())
        files[places.path(shipped)] = shipped  # shipped by value: its source is its code
        files.update(named_files(options, places))
        sources = {n: data for n in sorted(files) if (data := _source(files[n])) is not None}
        return Code(fingerprint_sources(sources), tuple(sources), places.path(shipped))
    if module:
        note_loaded(module, places)  # what the run loaded
        files = dict(_code_modules(module, places).values())
    entry = _entry_file(module) if module else None
    own = _project_file(entry, places) if entry is not None else None
    if own is not None:
        files[own[0]] = own[1]
    if results is not None:  # nothing a sweep writes
        outside = places.path(results).rstrip("/") + "/"
        files = {n: p for n, p in files.items() if not n.startswith(outside)}
    files.update(named_files(options, places))
    sources = {}
    for name in sorted(files):
        data = _source(files[name])
        if data is not None:
            sources[name] = data
    return Code(
        fingerprint=fingerprint_sources(sources),
        files=tuple(sources),
        entry_file=places.path(entry) if entry else None,
    )


def fingerprint_sources(sources: Mapping[str, bytes]) -> str:
    """The code fingerprint of files by name: a hash of each one's name, length and bytes,
    in the order of the names (relative to the repository root, so it is equal on every
    machine). Every record so far has this form: an earlier record's files hash as they did
    when it was written (but under a package's names where they differed, in a ``src/``
    layout)."""
    h = hashlib.sha256()
    for name in sorted(sources):
        data = sources[name]
        h.update(f"{name}\0{len(data)}\0".encode() + data)
    return h.hexdigest()[:16]


def named_files(options: Options, places: Places | None = None) -> dict[str, Path]:
    """The files ``snakesweep.code`` globs (relative to the working directory) name now,
    by their recorded name; ``ConfigError`` for a glob that matches none."""
    places = places or Places.here()
    named: dict[str, Path] = {}
    for glob in options.code or ():
        try:
            matched = [
                p for p in sorted(Path.cwd().glob(glob)) if p.is_file() and not _is_bytecode(p)
            ]
        except (ValueError, NotImplementedError) as exc:
            raise ConfigError(
                "snakesweep.code",
                f"{glob!r}: {first_line(exc)} (globs are relative to the working directory)",
            ) from None
        if not matched:
            raise ConfigError(
                "snakesweep.code", f"{glob!r} matches no file in {places.path(Path.cwd())!r}"
            )
        named.update((places.path(p), p) for p in matched)
    return named


def _is_bytecode(path: Path) -> bool:
    """Python's own caches, which change with the interpreter, not with the code."""
    return path.suffix in (".pyc", ".pyo") or "__pycache__" in path.parts


def _entry_file(module: str) -> Path | None:
    """The file of an entry point's module: as loaded, else found without importing it."""
    file = getattr(sys.modules.get(module), "__file__", None)
    return Path(os.path.abspath(file)) if isinstance(file, str) else _module_file(module)


def _module_file(module: str) -> Path | None:
    """The source file of a module, found without importing it (or its package) if possible."""
    parts = module.split(".")
    for entry in [os.getcwd(), *sys.path]:
        base = Path(entry or ".", *parts)
        for candidate in (base / "__init__.py", base.with_name(parts[-1] + ".py")):
            if candidate.is_file():
                return Path(os.path.abspath(candidate))
    try:  # installed through an import hook (an editable install): ask the import system
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec else None
    return Path(os.path.abspath(origin)) if origin and origin.endswith(".py") else None


class CurrentCode:
    """The fingerprint each done run's code has now: the files its ``meta.json`` records,
    and those its ``snakesweep.code`` globs name now, hashed as they are (a file gone is
    left out, so the fingerprint differs), once per distinct list of files.

    Made from each run's parsed options (``Plan.options``); a ``snakesweep.code`` glob that
    matches no file raises ``ConfigError``. ``store.run_statuses`` calls it for the done runs.
    ``sources``: files, by recorded name, whose bytes are these rather than the file's (a
    function ``snakesweep.sweep`` has not shipped yet).
    """

    def __init__(
        self,
        run_options: Mapping[str, Options],
        places: Places | None = None,
        sources: Mapping[str, bytes] | None = None,
    ) -> None:
        self.places = places or Places.here()
        self._sources = dict(sources or {})
        self._named: dict[str, tuple[str, ...]] = {}
        by_globs: dict[tuple[str, ...] | None, tuple[str, ...]] = {}
        named: dict[int, tuple[str, ...]] = {}
        for run_id, options in run_options.items():
            if id(options) not in named:  # runs of one plan share their options' object
                if options.code not in by_globs:
                    by_globs[options.code] = tuple(sorted(named_files(options, self.places)))
                named[id(options)] = by_globs[options.code]
            self._named[run_id] = named[id(options)]
        self._known: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}

    def __call__(self, run_id: str, files: Sequence[str]) -> str:
        """The current fingerprint of ``run_id``, whose ``meta.json`` records ``files``."""
        key = (tuple(files), self._named.get(run_id, ()))
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = self._hash({*key[0], *key[1]})
        return known

    def of(self, run_id: str, meta: Mapping[str, Any] | None) -> str | None:
        """The current fingerprint of a run from its ``meta.json`` (None: it records no
        files)."""
        files = files_of(meta)
        return None if files is None else self(run_id, files)

    def _hash(self, names: Iterable[str]) -> str:
        sources = {}
        for name in names:
            if name in self._sources:
                sources[name] = self._sources[name]
                continue
            try:
                sources[name] = self._path(name).read_bytes()
            except OSError:
                continue  # gone: left out
        return fingerprint_sources(sources)

    def _path(self, name: str) -> Path:
        """Where a recorded file is now (``Places.path`` the other way round)."""
        if name.startswith("~/") and self.places.home is not None:
            return self.places.home / name[2:]
        return self.places.root / name  # an absolute name stays as it is


def fingerprint_of(meta: Mapping[str, Any] | None) -> str | None:
    """The code fingerprint a run's ``meta.json`` records."""
    try:
        return meta["provenance"]["code"]["fingerprint"]  # type: ignore[index,no-any-return]
    except (KeyError, TypeError):
        return None


def files_of(meta: Mapping[str, Any] | None) -> list[str] | None:
    """The files whose code fingerprint a run's ``meta.json`` records."""
    try:
        files = meta["provenance"]["code"]["files"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return files if isinstance(files, list) and all(isinstance(f, str) for f in files) else None
