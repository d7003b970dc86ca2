"""The exceptions snakesweep raises: one base, each also the builtin it resembles.

Every exception carries the object that caused it (an override, a key, a run id, a
path) and its message quotes that culprit, so the CLI can print one line and stop.
"""

from __future__ import annotations

import errno

__all__ = [
    "ConfigError",
    "ExperimentError",
    "first_line",
    "NoSpaceError",
    "OverrideError",
    "ResultsBusy",
    "ResultsDirError",
    "ResultsError",
    "RunFileError",
    "SnakesweepError",
    "SweepError",
]


class SnakesweepError(Exception):
    """Base of every error snakesweep raises on purpose."""


class OverrideError(SnakesweepError, ValueError):
    """An override that Hydra's grammar or BasicSweeper rejects."""

    def __init__(self, override: str, reason: str) -> None:
        self.override = override
        self.reason = reason
        super().__init__(f"override {override!r}: {reason}")


class ConfigError(SnakesweepError, ValueError):
    """A config that cannot be composed or resolved; names the key or file at fault."""

    def __init__(self, culprit: str, reason: str) -> None:
        self.culprit = culprit
        self.reason = reason
        super().__init__(f"{culprit}: {reason}")


class ExperimentError(SnakesweepError, RuntimeError):
    """An experiment that cannot be imported, or returned something unusable."""

    def __init__(self, run_id: str, reason: str) -> None:
        self.run_id = run_id
        self.reason = reason
        super().__init__(f"run {run_id}: {reason}")


class RunFileError(SnakesweepError, OSError):
    """A run directory whose files cannot be read back."""

    def __init__(self, run_id: str, path: str, reason: str) -> None:
        self.run_id = run_id
        self.path = path
        self.reason = reason
        super().__init__(f"run {run_id}: {path}: {reason}")


class SweepError(SnakesweepError, RuntimeError):
    """A sweep started from Python that ended with nothing merged to return (Snakemake
    failed before the merge); the message is the line ``snakesweep run`` would print."""


class ResultsBusy(SnakesweepError, BlockingIOError):
    """A results directory another live invocation computes into, given up on after
    waiting (or at once, when no wait is allowed); names who holds it."""

    def __init__(self, results: str, holder: str, reason: str) -> None:
        self.results = results
        self.holder = holder
        self.reason = reason
        super().__init__(f"{results}/ is in use by {holder}: {reason}")


class ResultsError(SnakesweepError, LookupError):
    """A results directory, run id or filter key that is not there; names it."""


class ResultsDirError(SnakesweepError, NotADirectoryError):
    """A results directory that cannot be one: a file, or a symbolic link to nothing."""

    def __init__(self, given: str, reason: str) -> None:
        self.given = given
        self.reason = reason
        super().__init__(f"{given}: {reason}")

    def __str__(self) -> str:
        return f"{self.given} {self.reason}"


class NoSpaceError(SnakesweepError, OSError):
    """A write that failed for want of space (or of inodes) on the disk that holds ``path``;
    ``advice`` says what to do (free space, then run again, by default)."""

    def __init__(
        self,
        path: str,
        free: int | None = None,
        advice: str = "free some space on that disk, then run again",
    ) -> None:
        self.path = path
        self.free = free
        self.advice = advice
        left = "" if free is None else f"; {_size(free)} free"
        self.message = f"no space left on device ({path}{left}): {advice}"
        super().__init__(self.message)
        self.errno = errno.ENOSPC
        self.strerror = "No space left on device"

    def __str__(self) -> str:
        return self.message


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} bytes"


def first_line(exc: BaseException | str) -> str:
    """An exception's message on one line: Hydra's and OmegaConf's run to several.

    Their hints ("To append to your config use +x=1", available options) are kept;
    OmegaConf's trailer (full_key, object_type) and Hydra's search path are not.
    """
    skip = (
        "full_key:",
        "object_type",
        "reference_type",
        "Config search path",
        "provider=",
        "Set the environment variable HYDRA_FULL_ERROR",
        "See https://hydra.cc",
        "^",
    )
    lines = [ln.strip() for ln in str(exc).splitlines()]
    kept = [ln for ln in lines if ln and not ln.startswith(skip)]
    text = " ".join(kept) if kept else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
