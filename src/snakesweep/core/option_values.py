"""How each ``snakesweep:`` option's value is read and checked: one reader per option, each
raising ``ConfigError`` naming the option (``snakesweep.core.options`` puts them in its
schema)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from snakesweep.errors import ConfigError

__all__ = [
    "batch_setting",
    "BatchSetting",
    "code",
    "debounce",
    "debug",
    "DEFAULT_MAX_ROUNDS",
    "DEFAULT_SEED_KEY",
    "Devices",
    "devices",
    "domain",
    "entry",
    "git_dirty_ignore",
    "integer",
    "max_rounds",
    "NODE",
    "PICTURE_MODES",
    "PictureMode",
    "pictures",
    "resources",
    "runs_per_device",
    "seed_key",
    "SUMMED_RESOURCES",
    "timeout",
]

NODE = "snakesweep"
"""The config's node that holds the options."""
DEFAULT_MAX_ROUNDS = 10
DEFAULT_SEED_KEY = "seed"
PictureMode = Literal["matplotlib", "rerun", "off"]
"""How the report's pictures are drawn: by matplotlib (``snakesweep.pictures: true``, the
default), by rerun's viewer headless (``rerun``), or not at all (``false``)."""
PICTURE_MODES: tuple[PictureMode, ...] = ("matplotlib", "rerun", "off")
BatchSetting = int | Literal["auto"] | None
"""Runs per job: a number, ``auto`` (one wave of jobs), or None (one run per job)."""
Devices = tuple[str, ...] | Literal["auto"] | None
"""The devices' slots (ids, or ``"0,1"`` groups), ``auto``, or None (no devices)."""
SUMMED_RESOURCES = ("runtime",)
"""Resources a batch asks for the sum of, over its runs (numbers only)."""

_RESOURCE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESOURCE_TEXT = re.compile(r"[A-Za-z0-9_.,:=+@%/-]*\Z")
"""Text a resource may hold: executors put some resources on a shell command line
unquoted (the SLURM plugin's ``sbatch`` call: ``slurm_extra``, the partition…), so no
space, quote, ``$``, ``;`` or backtick ever comes from a config."""


# -- how each option is read ------------------------------------------------------------------


def _error(name: str, reason: str) -> ConfigError:
    return ConfigError(f"{NODE}.{name}", reason)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def entry(name: str, nullable: bool) -> Callable[[Any], str | None]:
    def parse(value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise _error(
            name,
            f"expected 'package.module:function'{' or null' if nullable else ''}, got {value!r}",
        )

    return parse


def domain(value: Any) -> Any:
    return value  # the domain's grammar checks it when the plan expands it


def integer(name: str, least: int) -> Callable[[Any], int | None]:
    """An integer >= ``least``, or None (unset): the messages of ``Domain``'s settings."""

    def parse(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise _error(name, f"expected an integer >= {least}, got {value!r}")
        return value

    return parse


def seed_key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip("+~"):
        raise _error("seed_key", f"expected a config key, got {value!r}")
    return value


def max_rounds(value: Any) -> int:
    parsed = integer("max_rounds", 1)(value)
    return DEFAULT_MAX_ROUNDS if parsed is None else parsed


def code(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    globs = [value] if isinstance(value, str) else value
    if (
        not isinstance(globs, (list, tuple))
        or not globs
        or not all(isinstance(g, str) for g in globs)
    ):
        raise _error("code", f"expected a list of file globs, got {value!r}")
    return tuple(globs)


def git_dirty_ignore(value: Any) -> tuple[str, ...]:
    globs = [value] if isinstance(value, str) and value else (value or [])
    if not isinstance(globs, (list, tuple)) or not all(isinstance(g, str) for g in globs):
        raise _error("git_dirty_ignore", f"expected a list of globs, got {value!r}")
    return tuple(globs)


def debug(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise _error("debug", f"expected true, false or null, got {value!r}")
    return value


def pictures(value: Any) -> PictureMode:
    if value is None or value is True:
        return "matplotlib"
    if value is False:
        return "off"
    if value == "rerun":
        return "rerun"
    raise _error("pictures", f"expected true, false or rerun, got {value!r}")


def debounce(value: Any) -> float:
    if not _is_number(value) or value < 0:
        raise _error("debounce", f"expected seconds (a number >= 0), got {value!r}")
    return float(value)


def timeout(value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or value <= 0:
        raise _error("timeout", f"expected seconds (a number > 0) or null, got {value!r}")
    return float(value)


def batch_setting(value: Any, culprit: str = f"{NODE}.batch") -> BatchSetting:
    """``snakesweep.batch`` (or ``--batch``, the ``culprit`` then): a number of runs per job,
    ``auto``, or None."""
    if value is None or value == "auto":
        return value
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            culprit, f"expected a number of runs per job (>= 1), auto or null, got {value!r}"
        )
    return value


def resources(value: Any) -> dict[str, int | float | str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _error(
            "resources",
            f"expected a mapping of Snakemake resources (such as "
            f"{{mem_mb: 4000, runtime: 30}}), got {value!r}",
        )
    out: dict[str, int | float | str] = {}
    for name, v in value.items():
        where = f"resources.{name}"
        if not isinstance(name, str) or not _RESOURCE_NAME.match(name) or name.startswith("_"):
            raise _error(where, "not a Snakemake resource name")
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise _error(where, f"expected a number or text, got {v!r}")
        if name in SUMMED_RESOURCES and isinstance(v, str):
            raise _error(where, f"expected a number (minutes), got {v!r}")
        if isinstance(v, str) and not _RESOURCE_TEXT.match(v):
            raise _error(
                where,
                f"{v!r} holds characters a resource may not (only letters, "
                "digits and _ . , : = + @ % / -: executors put resources on a shell "
                "command line)",
            )
        out[name] = v
    return out


def devices(value: Any) -> Devices:
    if value is None or value == "auto":
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, (list, tuple))
        or not value
        or any(
            isinstance(v, bool) or not isinstance(v, (int, str)) or str(v).strip() == ""
            for v in value
        )
    ):
        raise _error(
            "devices",
            f"expected a list of device ids (such as [0, 1] or "
            f"['0,1', '2,3']), one id, auto or null; got {value!r}",
        )
    return tuple(str(v).replace(" ", "") for v in value)


def runs_per_device(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _error("runs_per_device", f"expected a whole number >= 1, got {value!r}")
    return value
