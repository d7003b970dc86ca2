"""``--from RUN_ID``: start a sweep from an earlier run's resolved config (run-logger's load_id).

Precedence, lowest first: the config tree < the loaded run's config < the sweep's domain
(``hydra.sweeper.params``) and the command-line overrides. The loaded run's config-group
choices (from its ``meta.json``) and its config as Hydra overrides (``++key=value``, one
per leaf) are placed before the domain's, so Hydra's own override order gives that
precedence. Left out: what the domain or the command line sets (a key, or a group, whose
own values then come with it), values that the tree interpolates (``b: ${lr}`` follows a
new ``lr``), and snakesweep's own options but ``snakesweep.experiment``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from snakesweep import store
from snakesweep.core.configs import identity_of
from snakesweep.core.grid import render_value
from snakesweep.errors import ConfigError

__all__ = ["Loaded", "load_run", "loaded_overrides", "render"]


@dataclass(frozen=True)
class Loaded:
    """An earlier run to start from: its id, resolved config, and the overrides it had."""

    run_id: str
    config: dict[str, Any]
    overrides: tuple[str, ...]
    digest: str
    """A hash of its ``config.yaml``: what a plan made from it depends on."""


def load_run(results: str | os.PathLike[str], run_id: str) -> Loaded:
    """The run a (unique) prefix names, with its config and its overrides (``meta.json``)."""
    import yaml  # deferred: only --from reads a run's config.yaml

    full = store.resolve_run_id(results, run_id)
    path = store.run_dir(results, full) / store.CONFIG
    try:
        text = path.read_bytes()
        config = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--from {run_id}", f"cannot read {str(path)!r}: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"--from {run_id}", f"{str(path)!r} holds no config")
    meta = store.read_meta(results, full) or {}
    return Loaded(
        full,
        identity_of(config),
        tuple(str(o) for o in meta.get("overrides") or []),
        hashlib.sha256(text).hexdigest()[:16],
    )


def loaded_overrides(config: Mapping[str, Any], skip: Iterable[str] = ()) -> list[str]:
    """A loaded config as ``++key=value`` overrides, one per leaf, in the config's order,
    leaving out the leaves at or under the ``skip`` keys (``model``, ``model/enc``, ``lr``)."""
    skipped = tuple(g.replace("/", ".") for g in skip)
    out = []
    for path, value in _leaves(config, ()):
        key = ".".join(path)
        if any(key == g or key.startswith(g + ".") for g in skipped):
            continue
        out.append(f"++{key}={render(value)}")
    return out


def _leaves(
    node: Mapping[str, Any], path: tuple[str, ...]
) -> Iterable[tuple[tuple[str, ...], Any]]:
    for key, value in node.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, (*path, str(key)))
        else:
            yield (*path, str(key)), value


def render(value: Any) -> str:
    """A plain value in Hydra's override grammar, as text (``${`` escaped)."""
    try:
        return render_value(value, interpolate=False)
    except TypeError:
        raise ConfigError("--from", f"cannot write {value!r} as an override") from None
