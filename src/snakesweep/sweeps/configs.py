"""The config of a sweep that has no config tree: a plain ``config=`` dict, or its
experiment's keyword defaults (``def train(lr=1e-3, width=32)``), written as the
``config.yaml`` of a directory under the results that Hydra composes as it composes any
(``store.config_dir``): the same plans, run ids and provenance as a tree of one file."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.core.entries import import_entry
from snakesweep.errors import ConfigError, first_line

__all__ = ["CONFIG_NAME", "defaults_of", "written_config"]

CONFIG_NAME = "config"


def defaults_of(experiment: str | Callable[..., Any]) -> dict[str, Any] | None:
    """The config an experiment's keyword defaults make (but ``run``, the run handle), or
    None when it has a parameter without a default (it takes the config whole)."""
    fn = import_entry(experiment, "experiment") if isinstance(experiment, str) else experiment
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    config = {}
    for p in params:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.name == "run":
            continue
        if p.default is inspect.Parameter.empty or p.kind is p.POSITIONAL_ONLY:
            return None
        config[p.name] = p.default
    return config or None


def written_config(results: str | Path, config: Mapping[str, Any]) -> Path:
    """Write ``config`` (keys are strings; values numbers, strings, booleans, None, lists
    and mappings of them) as the ``config.yaml`` of a directory named by its digest under
    ``results``; that directory. ``ConfigError`` names a key whose value a config cannot
    hold."""
    from omegaconf import OmegaConf

    for key, value in config.items():
        try:
            OmegaConf.create({str(key): value})
        except Exception as exc:  # noqa: BLE001 - OmegaConf's own errors, in one line
            raise ConfigError(
                f"config key {key!r}",
                f"{type(value).__name__} {value!r} cannot be a config value "
                f"({first_line(exc)}): give numbers, strings, booleans, lists or mappings",
            ) from None
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigError(f"config key {key!r}", "config keys are names (identifiers)")
    text = OmegaConf.to_yaml(OmegaConf.create(dict(config)), sort_keys=False)
    directory = store.config_dir(results, hashlib.sha256(text.encode()).hexdigest()[:12])
    path = directory / f"{CONFIG_NAME}.yaml"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        directory.mkdir(parents=True, exist_ok=True)
        store.write_atomic(path, text)
    return directory
