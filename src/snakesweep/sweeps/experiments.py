"""The experiment ``snakesweep.sweep`` is given, as its runs will find it.

A ``"module:function"`` string, or a function its module can give again (``import
module``, then ``module.function``), is shipped **by reference**: the runs import it, and
its code fingerprint is its module's, as for ``snakesweep run``. A function defined in a
notebook cell or in ``__main__`` is shipped **by value**: pickled with cloudpickle into the
results (``store.function_file``) as ``__main__:<name>``, beside its source
(``store.function_source``), which is its code: editing the cell makes its runs stale, as
editing a module does. The run id depends on the config only (``snakesweep.experiment``
included, as always).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.core.entries import BY_VALUE, check_entry
from snakesweep.errors import ConfigError, first_line
from snakesweep.provenance.code import IMPORTS_LINE

__all__ = ["SHIPPED_LIMIT", "Experiment", "experiment_of"]

SHIPPED_LIMIT = 8 << 20
"""The most bytes a function shipped by value may pickle to: what it closes over travels
to every worker (and every cluster job)."""


@dataclass(frozen=True)
class Experiment:
    """What ``snakesweep.experiment`` names, and, shipped by value, what to write."""

    spec: str
    pickled: bytes | None = None
    source: str | None = None

    @property
    def by_value(self) -> bool:
        return self.pickled is not None

    def ship(self, results: str | Path) -> None:
        """Write a by-value experiment's pickle and source into ``results``, each aside and
        renamed into place, and only when they changed (a finished sweep stays as it is)."""
        if self.pickled is None or self.source is None:
            return
        name = self.spec.partition(":")[2]
        source = store.function_source(results, name)
        pickle = store.function_file(results, name)
        source.parent.mkdir(parents=True, exist_ok=True)
        if _read(pickle) != self.pickled:
            store.replace_with(pickle, lambda tmp: tmp.write_bytes(self.pickled or b""))
        if _read(source) != self.source.encode():
            store.write_atomic(source, self.source)


def experiment_of(experiment: str | Callable[..., Any]) -> Experiment:
    """The experiment ``snakesweep.sweep`` is given: a ``"module:function"`` string, or a
    function (by reference when importable, else by value); ``ConfigError`` naming it when
    it cannot be shipped."""
    if isinstance(experiment, str):
        check_entry(experiment, "experiment")
        return Experiment(experiment)
    if not callable(experiment):
        raise ConfigError(
            "experiment",
            f"expected a function or 'package.module:function', got {type(experiment).__name__}",
        )
    module = getattr(experiment, "__module__", None)
    qualname = getattr(experiment, "__qualname__", "")
    if module and module != BY_VALUE and _imported_again(module, qualname) is experiment:
        return Experiment(f"{module}:{qualname}")
    return _by_value(experiment)


def _imported_again(module: str, qualname: str) -> Any:
    """What ``module``'s ``qualname`` is once imported, as a run's process would import it
    (from the working directory or the paths of a fresh interpreter), or None."""
    if "<locals>" in qualname:
        return None
    try:
        found: Any = importlib.import_module(module)
    except Exception:  # noqa: BLE001 - not importable here: shipped by value
        return None
    if not _on_workers_path(found):
        return None  # next to a script, or on a path added here (sys.path.append)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def _on_workers_path(module: types.ModuleType) -> bool:
    """Whether a run's process finds ``module`` where this one did: under the working
    directory or a directory on a fresh interpreter's ``sys.path`` (this one's may have
    more: a script's own directory, a notebook's ``sys.path.append``)."""
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return True  # built in, or a namespace package: nowhere else to look
    depth = module.__name__.count(".") + (Path(file).name == "__init__.py")
    root = Path(file).resolve().parents[depth]
    return root == Path.cwd().resolve() or root in _fresh_path()


@functools.cache
def _fresh_path() -> frozenset[Path]:
    """The directories of a fresh interpreter's ``sys.path`` (as a run's process has it)."""
    out = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        entries = json.loads(out.stdout)
    except ValueError:
        return frozenset()
    return frozenset(Path(e).resolve() for e in entries if e)


def _by_value(fn: Callable[..., Any]) -> Experiment:
    """``fn`` pickled (cloudpickle) with its source, or ``ConfigError`` saying why not."""
    import cloudpickle

    name = getattr(fn, "__name__", "")
    if not name.isidentifier():
        raise ConfigError(
            "experiment",
            f"{name or fn!r} has no name: define the experiment with `def` (its runs "
            "find it by name)",
        )
    try:
        pickled = cloudpickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001 - it closes over what cannot travel
        raise ConfigError(
            "experiment",
            f"{name!r} cannot be shipped to the workers by value: {type(exc).__name__}: "
            f"{first_line(exc)}; create what it needs inside the function, or define it "
            "in a module (shipped by reference)",
        ) from None
    if len(pickled) > SHIPPED_LIMIT:
        raise ConfigError("experiment", _too_large(fn, name, len(pickled)))
    return Experiment(f"{BY_VALUE}:{name}", pickled, _source_of(fn, pickled))


def _too_large(fn: Callable[..., Any], name: str, size: int) -> str:
    """Why ``fn`` is refused: what it pickles to, and the largest object it closes over."""
    import cloudpickle

    sizes = {}
    for label, value in _captured(fn):
        try:
            sizes[label] = (len(cloudpickle.dumps(value)), type(value).__name__)
        except Exception:  # noqa: BLE001, S112 - one that cannot be measured is not named
            continue
    largest = max(sizes.items(), key=lambda item: item[1][0], default=None)
    culprit = (
        f", {_mb(largest[1][0])} of it {largest[0]!r} ({largest[1][1]}), which it closes over"
        if largest is not None
        else ""
    )
    return (
        f"{name!r} would be shipped to every worker by value as {_mb(size)}{culprit} "
        f"(at most {_mb(SHIPPED_LIMIT)}): load large data inside the function (from a file "
        "the config names), or define the function in a module"
    )


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def _captured(fn: Callable[..., Any], with_modules: bool = False) -> Iterator[tuple[str, Any]]:
    """The values ``fn`` closes over and the globals its code reads (modules too, with
    ``with_modules``)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return
    for var, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or (), strict=False):
        try:
            yield var, cell.cell_contents
        except ValueError:  # an empty cell
            continue
    names = getattr(fn, "__globals__", {})
    for var in sorted(_global_names(code)):
        if var in names and (with_modules or not isinstance(names[var], types.ModuleType)):
            yield var, names[var]


def _global_names(code: types.CodeType) -> set[str]:
    """The global names ``code`` and the code nested in it read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _source_of(fn: Callable[..., Any], pickled: bytes) -> str:
    """The code of a function shipped by value: its source, and that of the functions and
    classes of its ``__main__`` it reads (helpers in other cells), each once; a digest of
    each other value it reads there (a constant, a table); and the modules it reads, on a
    first line. Where no source can be read, the pickle's digest stands for it."""
    import cloudpickle

    parts: list[str] = []
    values: dict[str, str] = {}
    modules: set[str] = set()
    seen: set[int] = set()
    home = getattr(fn, "__module__", None)

    def add(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        try:
            parts.append(inspect.getsource(obj))
        except (OSError, TypeError):
            parts.append(f"# {getattr(obj, '__qualname__', obj)!s}: no source to be read\n")
        if not isinstance(obj, types.FunctionType):
            return
        for name, value in _captured(obj, with_modules=True):
            if isinstance(value, types.ModuleType):
                modules.add(value.__name__)
            elif isinstance(value, (types.FunctionType, type)):
                if getattr(value, "__module__", None) == home:
                    add(value)
                elif getattr(value, "__module__", None):
                    modules.add(value.__module__)
            elif name not in values:
                try:
                    values[name] = hashlib.sha256(cloudpickle.dumps(value)).hexdigest()[:16]
                except Exception:  # noqa: BLE001 - what cannot be pickled failed before
                    values[name] = "unpicklable"

    add(fn)
    head = f"{IMPORTS_LINE}{', '.join(sorted(modules))}\n" if modules else ""
    tail = "".join(f"# {name}: sha256 {digest}\n" for name, digest in sorted(values.items()))
    if any(p.endswith("no source to be read\n") for p in parts):
        tail += f"# pickle sha256: {hashlib.sha256(pickled).hexdigest()}\n"
    return head + "".join(parts) + tail


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
