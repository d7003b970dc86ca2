"""Provenance: where every value came from. Git, code, environment, system and timing.

Capturing git through gitpython costs ~0.1 s (importing it), and listing every installed
distribution through ``importlib.metadata`` ~0.13 s. So a run pays for neither:

* **once per invocation**, when Snakemake starts executing jobs (its ``onstart``), the
  *session* is captured and written to ``results/.snakesweep/sessions/<id>.json`` (and the
  working tree's diff beside it): git state, command line, start time, Python, package
  versions, every installed distribution. Its path reaches the run jobs of that invocation
  alone through ``SNAKESWEEP_SESSION`` (a run without it, such as ``python -m
  snakesweep.execute`` by hand or ``snakemake --no-hooks``, captures its own); ``onsuccess``
  and ``onerror`` delete it. Run jobs use the interpreter Snakemake runs in
  (``SNAKESWEEP_PYTHON``), so its distributions are theirs;
* **once per process**: system facts (OS, CPU, cores, memory, host), and the bytes of
  each source file of the experiment, read when the process loads it (the pool's workers:
  when the pool warms up), so they are the code the runs of that process execute;
* **per run**: the allow-listed environment variables, whether the run is a debug run, and
  which files its code fingerprint covers.

``run_record`` puts these together into the ``provenance`` part of a run's ``meta.json``;
``sweep_record`` summarises the runs' records into ``results/provenance.json``.

What is never recorded: an environment variable not in ``ENV_ALLOWED``, or an absolute
path under the user's home. Paths are relative to the repository (or the working
directory outside one); command lines, error messages and tracebacks are rewritten the
same way, whichever spelling of the repository or home they use (through a symlink or not).

The **code fingerprint** of a run is a hash of the source files it ran: its entry point's
module, the project's modules (the repository's, installed libraries aside) loaded while
the experiment was imported or run, and those their sources import, directly or inside a
function (``ran_code``); and the files ``snakesweep.code`` globs name. A run records the
fingerprint and those files. At each parse, a done run's current fingerprint is the hash of
the files it recorded (and of those its globs name now) as they are now (``CurrentCode``);
a run whose recorded fingerprint differs, or that records none, is *stale*: ``snakesweep
status`` lists it and Snakemake computes it again. A new file stales nothing until a run
imports it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import platform
import re
import socket
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.core.options import Options
from snakesweep.errors import ConfigError, first_line

SESSION_ENV = "SNAKESWEEP_SESSION"
"""How the run jobs of one invocation find its session."""
SESSION_FORMAT = 2
LISTED = 200
"""How many dirty and untracked paths a run's record lists (the rest are counted)."""

ENV_ALLOWED = (
    "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS", "PYTHONHASHSEED", "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID", "SLURM_JOB_PARTITION", "SLURM_CPUS_PER_TASK", "SLURM_NODELIST",
)
"""The only environment variables provenance records (when set)."""

VERSIONS = ("snakesweep", "snakemake", "dvc", "hydra-core", "omegaconf", "xarray", "numpy",
            "netCDF4", "rerun-sdk")
"""Distributions whose versions every record names up front."""

OWN_PATHS = (".snakemake",)
"""Paths (relative to the working directory) that git state leaves out, besides the results
directory: what a sweep writes itself."""

DIRTY_IGNORED = ("dvc.lock",)
"""Paths (relative to the working directory) that are listed but never make a run a debug
run: DVC's record of the stages' outputs, which ``dvc repro`` changes itself."""

COMMAND_ENV = "SNAKESWEEP_COMMAND"
"""How ``snakesweep run`` tells the Snakemake it starts which command the user typed."""


# -- paths ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Places:
    """Where relative paths are relative to: the repository root, else the working directory.

    ``aliases`` are other spellings of the root or the home (through a symlink), each with
    the spelling it stands for.
    """

    root: Path
    home: Path | None
    aliases: tuple[tuple[str, str], ...] = ()

    @classmethod
    def here(cls, repo_root: Path | None = None) -> Places:
        """The places of this process: ``repo_root``, else the git repository holding the
        working directory, else the working directory; and ``$HOME`` (kept per process
        while the working directory and those variables stay the same)."""
        key = (os.getcwd(), str(repo_root), os.environ.get("HOME"), os.environ.get("PWD"))
        if key not in _PLACES:
            _PLACES[key] = cls._find(repo_root)
        return _PLACES[key]

    @classmethod
    def _find(cls, repo_root: Path | None) -> Places:
        literal = Path(os.path.abspath(repo_root or _git_root(Path.cwd()) or Path.cwd()))
        root = literal.resolve()
        spellings = {str(literal): str(root)}
        pwd = os.environ.get("PWD")
        if pwd and os.path.isabs(pwd):
            for spelt in (Path(pwd), *Path(pwd).parents):  # the shell's spelling of the root
                if spelt.resolve() == root:
                    spellings[str(spelt)] = str(root)
                    break
        home_env = os.environ.get("HOME")
        home = Path(home_env).resolve() if home_env and home_env != "/" else None
        if home is not None and home_env:
            spellings[os.path.abspath(home_env)] = str(home)
        aliases = tuple((a, r) for a, r in spellings.items() if a != r)
        return cls(root=root, home=home, aliases=aliases)

    def _spellings(self) -> list[tuple[str, str, str]]:
        """Each spelling of the root and the home, with what replaces it before a path and
        alone; the longest first (the root usually lies under the home)."""
        out = [(str(self.root), "", ".")]
        if self.home is not None:
            out.append((str(self.home), "~/", "~"))
        targets = {str(self.root): ("", "."),
                   **({str(self.home): ("~/", "~")} if self.home is not None else {})}
        out += [(a, *targets[r]) for a, r in self.aliases if r in targets]
        return sorted(out, key=lambda spelling: -len(spelling[0]))

    def path(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the root when inside it; under the home as ``~/…``."""
        p = Path(os.path.abspath(path))
        for base, prefix, itself in self._spellings():
            if p.is_relative_to(base):
                rel = p.relative_to(base).as_posix()
                return itself if rel == "." else prefix + rel
        return p.as_posix()

    def text(self, text: str) -> str:
        """``text`` with the root's and the home's absolute paths made relative."""
        for base, prefix, itself in self._spellings():
            text = re.sub(_START + re.escape(f"{base}{os.sep}"), prefix, text)
            text = re.sub(_START + re.escape(base) + _END, itself, text)
        return text


_PLACES: dict[tuple[str, str, str | None, str | None], Places] = {}

_START = r"(?<![\w.~/-])"
"""Where a path may start: not inside a longer one (``/x/repo`` in ``/y/x/repo``)."""
_END = r"(?![\w.-])"
"""Where a path may end: not inside a longer name (``/home/ann`` in ``/home/anna``)."""


def _git_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git`` (found without git)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


# -- git -----------------------------------------------------------------------------------

def git_state(where: str | os.PathLike[str] = ".",
              own: Sequence[str | os.PathLike[str]] = ()) -> tuple[dict[str, Any], str,
                                                                   Path | None]:
    """The git state of the repository holding ``where``, its diff, and its root.

    Paths under ``own`` (the sweep's own output: its results directory, ``.snakemake``) are
    left out of the dirty and untracked lists. Outside a repository, without git, or where
    git refuses to read it (say, "dubious ownership"), the state says so and the diff is
    empty.
    """
    try:
        import git
    except ImportError as exc:  # gitpython without a usable git executable
        return {"repository": False, "reason": f"git is not available: {first_line(exc)}"}, \
            "", None
    try:
        repo = git.Repo(where, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return {"repository": False, "reason": "not in a git repository"}, "", None
    try:
        return _read_state(repo, where, own)
    except (git.GitError, OSError, ValueError) as exc:
        reason = Places.here().text(first_line(str(getattr(exc, "stderr", "")) or exc))
        return {"repository": False, "reason": f"git cannot read the repository: {reason}"}, \
            "", None
    finally:
        repo.close()


def _read_state(repo: Any, where: str | os.PathLike[str],
                own: Sequence[str | os.PathLike[str]]) -> tuple[dict[str, Any], str, Path]:
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
    dirty, untracked = ([p for p in paths if not any(_matches(p, g) for g in skip)]
                        for paths in changes)
    diff = ""
    if dirty and commit is not None:
        diff = repo.git.diff("HEAD", "--no-color", "--no-ext-diff", "--binary")
        diff += "\n" if diff else ""
    state = {
        "repository": True, "commit": commit, "branch": branch, "detached": branch is None,
        "dirty": bool(dirty or untracked), "dirty_paths": dirty, "untracked": untracked,
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


# -- code ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Code:
    """The source files a run was computed with, and their hash."""

    fingerprint: str
    files: tuple[str, ...]
    """Relative to the repository root, sorted."""
    entry_file: str | None


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


def _module_file_of(module: Any, places: Places,
                    known: dict[str, tuple[str, Path] | None]) -> tuple[str, Path] | None:
    """The file of a loaded module when it is the project's own (see ``_project_file``)."""
    file = getattr(module, "__file__", None)
    return _project_file(file, places, known) if isinstance(file, str) else None  # built-in


def _project_file(file: str | os.PathLike[str], places: Places,
                  known: dict[str, tuple[str, Path] | None] | None = None
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
    roots = tuple(f"{base}{os.sep}" for base, prefix, _ in places._spellings() if not prefix)
    if not spelt.startswith(roots) or any(part in spelt for part in _INSTALLED):
        return None  # most modules, told apart cheaply: an experiment imports hundreds
    path, real = Path(spelt), Path(os.path.realpath(file))
    name = places.path(path)
    if (name.startswith(("/", "~/")) or _is_bytecode(path)
            or any(part in _INSTALLED for part in real.parts)):
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


def _code_modules(entry: str, places: Places) -> dict[str, tuple[str, Path]]:
    """The project's loaded modules that the experiment whose module is ``entry`` ran, each
    with its file's recorded name and path: that module, those loaded while it was imported
    or run, what their sources import, and so on, with the packages holding each;
    snakesweep's own only within ``entry``'s package."""
    modules = dict(sys.modules)
    package = entry.rpartition(".")[0]
    todo = [entry, *_LOADED_BY.get(entry, ())]
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
    import ast
    import warnings
    from importlib.util import resolve_name

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
                    base = resolve_name("." * node.level + base, package)
                except (ImportError, ValueError):
                    continue  # beyond the top-level package
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    _IMPORTS[key] = frozenset(out)
    return _IMPORTS[key]


def ran_code(options: Options, results: str | os.PathLike[str] | None = None,
             places: Places | None = None) -> Code:
    """The code a run with these ``snakesweep`` options ran in this process.

    The project's modules the experiment ran (see ``_code_modules``: its entry point's
    module, the modules loaded while it was imported or run, and what they import, directly
    or inside a function), and the files ``snakesweep.code`` globs name. A module counts
    when it lies in the repository, not in an installed library nor under ``results``. See
    ``fingerprint_sources``.
    """
    places = places or Places.here()
    module = (options.experiment or "").partition(":")[0]
    files: dict[str, Path] = {}
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
    return Code(fingerprint=fingerprint_sources(sources), files=tuple(sources),
                entry_file=places.path(entry) if entry else None)


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
            matched = [p for p in sorted(Path.cwd().glob(glob))
                       if p.is_file() and not _is_bytecode(p)]
        except (ValueError, NotImplementedError) as exc:
            raise ConfigError("snakesweep.code", f"{glob!r}: {first_line(exc)} (globs are "
                              "relative to the working directory)") from None
        if not matched:
            raise ConfigError("snakesweep.code", f"{glob!r} matches no file in "
                              f"{places.path(Path.cwd())!r}")
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
    import importlib.util

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
    """

    def __init__(self, run_options: Mapping[str, Options],
                 places: Places | None = None) -> None:
        self.places = places or Places.here()
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


# -- environment and system ----------------------------------------------------------------

def environment() -> dict[str, str]:
    """The allow-listed environment variables that are set; never any other."""
    return {k: os.environ[k] for k in ENV_ALLOWED if k in os.environ}


def versions() -> dict[str, str | None]:
    """The versions of the packages a sweep depends on (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in VERSIONS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def distributions() -> dict[str, str]:
    """Every installed distribution and its version, by name."""
    from importlib.metadata import distributions as dists

    found: dict[str, str] = {}
    for dist in dists():
        name = dist.metadata["Name"]
        if name and name not in found:  # the first on sys.path is the one imported
            found[name] = dist.version
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


_SYSTEM: dict[str, Any] = {}


def system() -> dict[str, Any]:
    """This machine and interpreter: Python, OS, CPU model, cores, memory, host (cached)."""
    if not _SYSTEM:
        try:
            usable: int | None = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            usable = os.cpu_count()
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            memory = None
        _SYSTEM.update({
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "os": platform.platform(),
            "machine": platform.machine(),
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "cores_usable": usable,
            "memory_bytes": memory,
            "host": socket.gethostname(),
        })
    return dict(_SYSTEM)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "Model", "cpu model")):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# -- the session: captured once per invocation ------------------------------------------------

def capture_session(results: str | os.PathLike[str],
                    command: Sequence[str] | None = None) -> tuple[dict[str, Any], str]:
    """The sweep-wide provenance of this invocation, and the working tree's diff."""
    git, diff, root = git_state(".", [results, *OWN_PATHS])
    places = Places.here(root)
    return {
        "format": SESSION_FORMAT,
        "start": datetime.now(UTC).isoformat(),
        "command": command_line(command, places),
        "git": git,
        "python": {"version": platform.python_version(),
                   "implementation": platform.python_implementation()},
        "versions": versions(),
        "distributions": distributions(),
    }, diff


def session_path(results: str | os.PathLike[str]) -> Path:
    """A new session's path under ``results/.snakesweep/sessions/`` (not written yet)."""
    return store.session_file(results, uuid.uuid4().hex[:16])


def begin_session(results: str | os.PathLike[str], path: Path | None = None) -> Path:
    """Capture this invocation's session and write it (and its diff) at ``path`` (default:
    a new ``session_path``); return its path, for ``SNAKESWEEP_SESSION``."""
    session, diff = capture_session(results)
    path = path or session_path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    store.write_atomic(path.with_suffix(".diff"), diff)
    store.write_atomic(path, json.dumps(session, indent=1) + "\n")
    return path


def end_session(path: str | os.PathLike[str]) -> None:
    """Delete a session ``begin_session`` wrote (its runs have recorded it)."""
    for name in (Path(path), Path(path).with_suffix(".diff")):
        name.unlink(missing_ok=True)


_SESSION_CACHE: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}


def read_session() -> tuple[dict[str, Any], Path] | None:
    """The session of the invocation this run belongs to (``SNAKESWEEP_SESSION``) and its
    path, or None when there is none; cached per process while the file is unchanged."""
    named = os.environ.get(SESSION_ENV)
    if not named:
        return None
    path = Path(named)
    try:
        st = os.stat(path)
    except OSError:
        return None
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


# -- records -------------------------------------------------------------------------------

def run_record(options: Options, results: str | os.PathLike[str],
               run_dir: Path) -> dict[str, Any]:
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
        "experiment": {"entry_point": options.experiment, "file": code.entry_file},
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
        "error": Places.here().text(f"{type(exc).__name__}: {first_line(exc)}")}
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
    return files if isinstance(files, list) and all(isinstance(f, str) for f in files) \
        else None


def sweep_record(metas: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any]:
    """``results/provenance.json``: the newest run's provenance, and how the runs divide by
    commit, code, host and debug. Made from the runs' records alone (same runs, same bytes)."""
    recorded = {r: m for r, m in metas.items() if m and isinstance(m.get("provenance"), dict)
                and isinstance(m["provenance"].get("git"), dict)
                and isinstance(m["provenance"].get("code"), dict)}
    starts = [m["start"] for m in metas.values() if m and m.get("start")]
    ends = [m["end"] for m in metas.values() if m and m.get("end")]
    compute = sum(float(m.get("duration") or 0) for m in metas.values() if m)
    sweep: dict[str, Any] = {
        "runs": len(metas),
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "duration": _seconds_between(min(starts), max(ends)) if starts and ends else None,
        "compute_seconds": round(compute, 6),
        "debug": any(m["provenance"].get("debug") for m in recorded.values()),
        "debug_runs": sorted(r for r, m in recorded.items() if m["provenance"].get("debug")),
        "without_provenance": sorted(r for r, m in metas.items() if r not in recorded),
    }

    def count(get: Any) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in recorded.values():
            value = str(get(m))
            counts[value] = counts.get(value, 0) + 1
        return dict(sorted(counts.items()))

    runs = {
        "by_commit": count(lambda m: m["provenance"]["git"].get("commit")),
        "by_code": count(lambda m: m["provenance"]["code"]["fingerprint"]),
        "by_host": count(lambda m: m["provenance"]["system"].get("host")),
    }
    if not recorded:
        return {"sweep": sweep, "runs": runs}
    newest_id, newest = max(recorded.items(), key=lambda kv: (kv[1].get("end") or "", kv[0]))
    latest = newest["provenance"]
    return {"sweep": sweep, "runs": runs, "newest_run": newest_id,
            **{k: latest[k] for k in ("git", "code", "experiment", "system", "versions",
                                      "environment", "distributions") if k in latest},
            "command": latest.get("sweep", {}).get("command")}


def _seconds_between(start: str, end: str) -> float | None:
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start))
                     .total_seconds(), 6)
    except ValueError:
        return None
