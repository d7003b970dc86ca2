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

__all__ = ["CONFIG_NAME", "defaults_of", "written_config", "written_experiment"]

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


def written_experiment(config_dir: str | Path, config_name: str) -> str | None:
    """``snakesweep.experiment`` as the primary config file writes it (not composed: one
    that a config group or its defaults set is not seen), or None."""
    import yaml  # deferred: as the rest of the config's reading

    try:
        node = yaml.safe_load(Path(config_dir, f"{config_name}.yaml").read_text("utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    options = node.get("snakesweep") if isinstance(node, dict) else None
    spec = options.get("experiment") if isinstance(options, dict) else None
    return spec if isinstance(spec, str) else None


def written_config(
    results: str | Path, config: Mapping[str, Any], experiment: str | None = None
) -> Path:
    """Write ``config`` (keys are strings; values numbers, strings, booleans, None, lists
    and mappings of them), with ``snakesweep.experiment`` when given, as the ``config.yaml``
    of a directory named by its digest under ``results``; that directory. ``ConfigError``
    names a key whose value a config cannot hold."""
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
    whole = dict(config)
    if experiment:
        options = whole.get("snakesweep")
        whole["snakesweep"] = {
            **(options if isinstance(options, Mapping) else {}),
            "experiment": experiment,
        }
    text = OmegaConf.to_yaml(OmegaConf.create(whole), sort_keys=False)
    directory = store.config_dir(results, hashlib.sha256(text.encode()).hexdigest()[:12])
    path = directory / f"{CONFIG_NAME}.yaml"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        directory.mkdir(parents=True, exist_ok=True)
        store.write_atomic(path, text)
    return directory
