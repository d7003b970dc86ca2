"""The errors of Hydra's ``hydra/launcher=snakesweep``: each one line in Hydra's output."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.errors import CompactHydraException

from snakesweep.errors import SnakesweepError, first_line

__all__ = ["LaunchError", "TaskFailed", "TaskReferenceError"]


class LaunchError(SnakesweepError, CompactHydraException):
    """A launch that cannot go on; Hydra prints its message as one line."""


class TaskReferenceError(LaunchError, TypeError):
    """A task function that cannot be imported by module and name in another process."""

    def __init__(self, task: Any, reason: str) -> None:
        self.task = task
        super().__init__(f"snakesweep launcher: the task function {_describe(task)} {reason}")


class TaskFailed(LaunchError, RuntimeError):
    """A job whose task raised; carries the run id and the error its run recorded."""

    def __init__(self, run_id: str, error: Mapping[str, Any], where: Path) -> None:
        self.run_id = run_id
        self.error = dict(error)
        self.type = str(error.get("type", "Error"))
        trace = str(error.get("traceback") or "").rstrip()
        super().__init__(
            f"run {run_id} failed: {self.type}: "
            f"{first_line(str(error.get('message', '')))}"
            + (f"\n{trace}" if trace else "")
            + f"\n(its meta.json, stdout.log and stderr.log are in {where})"
        )


def _describe(task: Any) -> str:
    """A task function as a message names it: ``module.qualname``."""
    name = getattr(task, "__qualname__", None) or type(task).__name__
    module = getattr(task, "__module__", None)
    return f"{module}.{name}" if module and name else repr(task)
