"""Entry points (``'package.module:function'``): whether one exists, told without running it.

``snakesweep plan`` and ``status`` refuse an experiment that cannot exist, as ``run`` does,
but without importing the experiment's module (which may take seconds: a deep-learning
framework, a dataset). The module is found as Python's import system finds it (its parent
packages are imported, the module itself is not) and its source is read for the name.
Where the source cannot tell (a compiled module, a module ``__getattr__``, a star import),
the entry point is taken as it is and ``run`` tells. ``import_entry`` imports one (the
experiment, a domain or an update function) when it is to be called.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from snakesweep.errors import ConfigError, first_line

__all__ = ["BY_VALUE", "check_entry", "import_entry"]

BY_VALUE = "__main__"
"""The module of experiments shipped by value: ``__main__:<name>`` is the function a
notebook or a script's ``__main__`` gave ``snakesweep.sweep``, pickled under the results
(``store.function_file``); its source there is its code."""


def _entry_form(spec: object, key: str) -> tuple[str, str]:
    """``'package.module:function'`` as (module, attribute), or ``ConfigError`` naming ``key``
    (imports nothing)."""
    module_name, sep, attr = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if not sep or not module_name or not attr:
        raise ConfigError(key, f"{spec!r} is not of the form 'package.module:function'")
    return module_name, attr


def check_entry(spec: object, key: str) -> None:
    """Refuse, with ``ConfigError`` naming ``key``, an entry point whose module cannot be
    found (from the working directory or the installed packages) or whose module's source
    defines no such name; suggest the closest names."""
    module_name, attr = _entry_form(spec, key)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = importlib.util.find_spec(module_name)
    except ImportError as exc:  # a parent package is missing, or its import failed
        found = None
        if not isinstance(exc, ModuleNotFoundError):
            raise ConfigError(
                key, f"{spec!r}: importing {module_name!r} failed: {first_line(exc)}"
            ) from None
    except Exception as exc:  # noqa: BLE001 - a parent package's own code failed at import
        raise ConfigError(
            key,
            f"{spec!r}: importing a package of {module_name!r} raised "
            f"{type(exc).__name__}: {first_line(exc)}",
        ) from None
    if found is None:
        missing = _first_missing(module_name)
        raise ConfigError(
            key,
            f"{spec!r}: no module named {missing!r} in "
            f"{os.getcwd()!r} or the installed packages" + _suggest(missing, _siblings(missing)),
        )
    origin = found.origin
    if not origin or not origin.endswith(".py") or not os.path.isfile(origin):
        return
    names = _top_level_names(Path(origin))
    first = attr.split(".")[0]
    if names is None or first in names:
        return
    raise ConfigError(
        key,
        f"{spec!r}: module {module_name!r} ({_shown(origin)}) defines no "
        f"{first!r}" + _suggest(first, sorted(names)),
    )


def _top_level_names(source: Path) -> set[str] | None:
    """The names a module's source binds at its top level; None when the source cannot say
    (it does not parse, defines ``__getattr__`` or star-imports)."""
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except (OSError, SyntaxError, ValueError):
        return None  # importing it will say what is wrong
    names: set[str] = set()
    for node in _top_level_statements(tree.body):
        bound = _names_bound_by(node)
        if bound is None:
            return None
        names.update(bound)
    return None if "__getattr__" in names else names


_BLOCKS = (ast.If, ast.Try, ast.With, ast.For, ast.While)
"""Statements whose bodies run at the top level of a module, as the module's own do."""


def _top_level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """A module's statements and those in its blocks (``if``, ``try``, ``with``, ``for``,
    ``while``), but none inside a function or a class."""
    todo = list(body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, _BLOCKS):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    todo.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def _names_bound_by(node: ast.stmt) -> set[str] | None:
    """The names one statement binds: a definition's, an import's, an assignment's targets,
    and any ``:=`` target in it; None for a star import (which binds what it cannot say)."""
    names = {n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr)}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(node.name)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if alias.name == "*":
                return None
            names.add(alias.asname or alias.name.split(".")[0])
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _first_missing(module_name: str) -> str:
    """The shortest prefix of a dotted module name that cannot be found."""
    parts = module_name.split(".")
    for n in range(1, len(parts)):
        prefix = ".".join(parts[:n])
        try:
            if importlib.util.find_spec(prefix) is None:
                return prefix
        except Exception:  # noqa: BLE001 - the prefix is what cannot be imported
            return prefix
    return module_name


def _siblings(module_name: str) -> list[str]:
    """The modules beside ``module_name``, by their whole names: in its parent package, or
    the top-level modules of the working directory when it has none."""
    parent, _, _ = module_name.rpartition(".")
    if parent:
        try:
            spec = importlib.util.find_spec(parent)
        except Exception:  # noqa: BLE001 - the parent itself is what is missing
            return []
        paths = list(spec.submodule_search_locations or []) if spec else []
    else:
        paths = [os.getcwd()]
    return sorted(f"{parent}.{m.name}" if parent else m.name for m in pkgutil.iter_modules(paths))


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _shown(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path


def import_entry(spec: str, key: str, must_call: bool = True) -> Callable[..., Any]:
    """Import the callable ``'package.module:function'`` that the config's ``key`` names
    (modules of the working directory first); ``ConfigError`` naming ``key`` if it cannot
    (with ``must_call=False``, an attribute that is not callable is returned as it is)."""
    module_name, attr = _entry_form(spec, key)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            key, f"{spec!r}: cannot import {module_name!r}: {first_line(exc)}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the module's own code failed at import
        raise ConfigError(
            key,
            f"{spec!r}: importing {module_name!r} raised {type(exc).__name__}: {first_line(exc)}",
        ) from None
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise ConfigError(key, f"{spec!r}: module {module_name!r} has no {attr!r}")
    if must_call and not callable(fn):
        raise ConfigError(key, f"{spec!r} is {type(fn).__name__}, not a function: name a callable")
    return fn  # type: ignore[no-any-return]
