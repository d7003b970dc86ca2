"""``--from RUN_ID``: start a sweep from an earlier run's resolved config (run-logger's load_id).

Precedence, lowest first: the config tree < the loaded run's config < the sweep's domain
(``hydra.sweeper.params``) and the command-line overrides. The loaded config becomes
Hydra overrides (``++key=value``, one per leaf) placed before the domain's, so Hydra's own
override order gives that precedence; the leaves under a config group that the domain or
the command line selects are left out, so that group's own values come with it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from snakesweep import store
from snakesweep.errors import ConfigError


def loaded_config(results: str | os.PathLike[str], run_id: str) -> tuple[str, dict[str, Any]]:
    """The full run id a (unique) prefix names, and that run's resolved config."""
    import yaml

    from snakesweep.results import resolve_run_id

    full = resolve_run_id(results, run_id)
    path = store.run_dir(results, full) / store.CONFIG
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--from {run_id}", f"cannot read {str(path)!r}: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"--from {run_id}", f"{str(path)!r} holds no config")
    return full, config


def loaded_overrides(config: Mapping[str, Any], selected_groups: Iterable[str] = ()) -> list[str]:
    """A loaded config as ``++key=value`` overrides, one per leaf, in the config's order,
    leaving out the leaves under the ``selected_groups`` (``model``, ``model/enc``)."""
    skip = tuple(g.replace("/", ".") for g in selected_groups)
    out = []
    for path, value in _leaves(config, ()):
        key = ".".join(path)
        if any(key == g or key.startswith(g + ".") for g in skip):
            continue
        out.append(f"++{key}={render(value)}")
    return out


def _leaves(node: Mapping[str, Any], path: tuple[str, ...]) -> Iterable[tuple[tuple[str, ...],
                                                                          Any]]:
    for key, value in node.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, (*path, str(key)))
        else:
            yield (*path, str(key)), value


def render(value: Any) -> str:
    """A plain value in Hydra's override grammar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):  # backslashes are doubled only before a quote and at the end
        escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
        escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
        return "'" + escaped.replace("${", "\\${") + "'"
    if isinstance(value, Sequence):
        return "[" + ",".join(render(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{render(v)}" for k, v in value.items()) + "}"
    raise ConfigError("--from", f"cannot write {value!r} as an override")
