"""The task function of a Hydra app by reference: what a job's fresh process imports to get
it again (module and qualified name, ``__wrapped__`` layers, the directory to import from)."""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.hydra.errors import TaskReferenceError

__all__ = ["TaskRef", "task_reference"]


@dataclass(frozen=True)
class TaskRef:
    """A task function by reference: what a fresh process imports to get it again."""

    spec: str
    """``module:qualname``, as ``snakesweep.experiment`` spells an entry point."""
    unwrap: int = 0
    """``__wrapped__`` layers between the module's attribute and the task (``@hydra.main``)."""
    sys_path: tuple[str, ...] = ()
    """Directories to import it from (a script's own directory)."""
    main: bool = False
    """Whether it lives in the app's ``__main__`` (whose classes the configs may hold)."""


def task_reference(task: Any) -> TaskRef:
    """The reference by which a worker imports ``task``; ``TaskReferenceError`` if none works.

    A function defined at module level (``@hydra.main`` and other ``functools.wraps``
    decorators around it are unwrapped), in an importable module or in the script Python
    runs (imported from its directory by the file's name, as multiprocessing does).
    """
    module_name = getattr(task, "__module__", None)
    qualname = getattr(task, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        raise TaskReferenceError(
            task,
            "is not a function defined at module level: snakesweep "
            "runs each job in its own process and imports the task "
            "function there by module and name",
        )
    if "<locals>" in qualname:
        raise TaskReferenceError(
            task,
            "is defined inside another function: snakesweep "
            "imports the task function by module and name in each job's "
            "process; define it at module level",
        )
    if "<lambda>" in qualname:
        raise TaskReferenceError(
            task,
            "is a lambda, which has no name to import it by: define it with def at module level",
        )
    module = sys.modules.get(module_name)
    sys_path: tuple[str, ...] = ()
    if module_name == "__main__":
        spec = getattr(module, "__spec__", None)
        file = getattr(module, "__file__", None)
        if spec is not None and spec.name and spec.name != "__main__":  # python -m pkg.app
            module_name = spec.name
        elif file:
            module_name = Path(file).stem
            if not module_name.isidentifier():
                raise TaskReferenceError(
                    task,
                    f"lives in {Path(file).name}, which cannot be "
                    "imported by that name: rename the file to a valid "
                    "Python module name",
                )
            sys_path = (store.local_path(os.path.dirname(os.path.abspath(file))),)
        if file and not _has_main_guard(Path(file)):
            raise TaskReferenceError(
                task,
                f"lives in {Path(file).name}, which has no "
                '`if __name__ == "__main__":` guard: snakesweep '
                "imports the file in each job's process, so it must "
                "not start the app on import",
            )
        if not file:
            raise TaskReferenceError(
                task,
                "lives in __main__ without a file (an interactive "
                "session or python -c): put it in a module or a script",
            )
    else:
        sys_path = _import_root(module, module_name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    depth, candidate = 0, target
    while candidate is not task:
        candidate = getattr(candidate, "__wrapped__", None)
        if candidate is None:
            raise TaskReferenceError(
                task,
                f"is not what {module_name}:{qualname} names "
                "(a decorator without functools.wraps?): snakesweep "
                "imports the task function by module and name",
            )
        depth += 1
    return TaskRef(
        f"{module_name}:{qualname}",
        depth,
        sys_path,
        main=getattr(task, "__module__", None) == "__main__",
    )


def _has_main_guard(path: Path) -> bool:
    """Whether a script runs its app only under ``if __name__ == "__main__":``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return True  # cannot tell: the job's import will say
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [node.test.left, *node.test.comparators]
            if any(isinstance(n, ast.Name) and n.id == "__name__" for n in names) and any(
                isinstance(n, ast.Constant) and n.value == "__main__" for n in names
            ):
                return True
    return False


def _import_root(module: Any, module_name: str) -> tuple[str, ...]:
    """The directory a module was imported from, unless it is installed (under Python's
    prefix): a worker's ``sys.path`` lacks what this process added at run time."""
    file = getattr(module, "__file__", None)
    if not file:
        return ()
    root = Path(file).resolve().parents[module_name.count(".")]
    if Path(file).name == "__init__.py":
        root = root.parent
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    if any(root == p or p in root.parents for p in prefixes):
        return ()
    return (store.local_path(str(root)),)
