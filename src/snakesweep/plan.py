"""The plan: the set of runs for one invocation, cached on disk.

Snakemake parses the Snakefile again and again (and once per job on a cluster), so a plan
is stored under ``<results>/.snakesweep/plans/`` keyed by everything it depends on: the
files of the config directory, the primary config's name, the overrides, and the versions
of snakesweep, Hydra and OmegaConf. Loading a cached plan imports neither Hydra nor
xarray and composes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.domain import Coordinate, Dimension
from snakesweep.errors import ConfigError

PLAN_FORMAT = 1


@dataclass(frozen=True)
class PlannedPoint:
    """A point of the domain and the run it resolves to."""

    run_id: str
    index: tuple[int, ...]
    overrides: tuple[str, ...]
    params: dict[str, Coordinate]


@dataclass(frozen=True)
class Plan:
    """Every point of one sweep, its run id, and each run's resolved config."""

    config_dir: str
    config_name: str
    overrides: tuple[str, ...]
    dims: tuple[Dimension, ...]
    points: tuple[PlannedPoint, ...]
    configs: dict[str, dict[str, Any]]
    launch: dict[str, Any] | None = None
    """Set when Hydra's launcher made the plan (see ``snakesweep.hydra_job``): the task
    function's import paths, the directory of the jobs' Hydra configs, and the runs this
    launch executes (``batch``; the others are only merged)."""
    path: Path | None = field(default=None, compare=False)

    @property
    def run_ids(self) -> list[str]:
        """Each run once, in domain order (points with equal configs share a run)."""
        return list(self._first_points)

    def point_of(self, run_id: str) -> PlannedPoint:
        """The first point that resolves to this run."""
        return self._first_points[run_id]

    @cached_property
    def _first_points(self) -> dict[str, PlannedPoint]:
        first: dict[str, PlannedPoint] = {}
        for p in self.points:
            first.setdefault(p.run_id, p)
        return first

    def experiment_of(self, run_id: str) -> str:
        """The ``snakesweep.experiment`` entry point of one run."""
        node = self.configs[run_id].get("snakesweep") or {}
        spec = node.get("experiment") if isinstance(node, dict) else None
        if not spec:
            raise ConfigError(
                "snakesweep.experiment",
                f"not set in config {self.config_name!r}: name the experiment as "
                "'package.module:function'",
            )
        return str(spec)

    @cached_property
    def layout_digest(self) -> str:
        """A hash of what the merged Dataset's shape depends on besides the run files.

        The dimensions and their coordinates, which run fills each cell, the config name and
        the overrides. Equal for equal sweeps, whatever the files' times: the merge's
        freshness follows it (and the run files' content addresses), never file times.
        """
        layout = [self.config_name, list(self.overrides),
                  [[d.name, list(d.values)] for d in self.dims],
                  [[p.run_id, list(p.index)] for p in self.points]]
        return hashlib.sha256(json.dumps(layout, separators=(",", ":")).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "config_dir": self.config_dir,
            "config_name": self.config_name,
            "overrides": list(self.overrides),
            "dims": [[d.name, list(d.values), list(d.overrides)] for d in self.dims],
            "points": [[p.run_id, list(p.index), list(p.overrides)] for p in self.points],
            "configs": self.configs,
            **({"launch": self.launch} if self.launch is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | None = None) -> Plan:
        dims = tuple(Dimension(name=n, values=tuple(v), overrides=tuple(o))
                     for n, v, o in data["dims"])
        points = tuple(
            PlannedPoint(run_id=r, index=tuple(i), overrides=tuple(o),
                         params={d.name: d.values[k] for d, k in zip(dims, i, strict=True)})
            for r, i, o in data["points"]
        )
        return cls(config_dir=data["config_dir"], config_name=data["config_name"],
                   overrides=tuple(data["overrides"]), dims=dims, points=points,
                   configs=data["configs"], launch=data.get("launch"), path=path)


def make_plan(
    config_dir: str | os.PathLike[str],
    config_name: str,
    overrides: Sequence[str] = (),
    results: str | os.PathLike[str] = "results",
    *,
    use_cache: bool = True,
    from_run: str | None = None,
) -> Plan:
    """The plan for a sweep, from the cache under ``results`` when nothing it depends on changed.

    ``from_run``: a run id (or a unique prefix) of ``results`` whose resolved config the
    points start from (``--from``; see ``snakesweep.loaded``).
    """
    config_dir, results = store.local_path(config_dir), store.local_path(results)
    loaded = None
    key_overrides = list(overrides)
    if from_run:
        from snakesweep.loaded import load_run

        loaded = load_run(results, from_run)
        key_overrides = [f"--from={loaded.run_id}:{loaded.digest}", *overrides]
    path = plan_path(config_dir, config_name, key_overrides, results)
    if use_cache and path.is_file():
        return load_plan(path)
    plan = compose_plan(config_dir, config_name, overrides, loaded=loaded)
    if use_cache:
        write_plan(plan, path)
    return Plan(**{**plan.__dict__, "path": path})


def compose_plan(
    config_dir: str | os.PathLike[str], config_name: str, overrides: Sequence[str] = (),
    *, loaded: Any = None,
) -> Plan:
    """Expand the domain and compose every point (no cache), from a ``loaded`` run's config
    when given."""
    from omegaconf import OmegaConf

    from snakesweep.configs import Composer, run_id_of
    from snakesweep.domain import expand_domain

    with Composer(config_dir, config_name) as composer:
        master = composer.compose_master(overrides)
        params = OmegaConf.select(master, "hydra.sweeper.params", default=None)
        params = OmegaConf.to_container(params) if params is not None else None
        base = _loaded_base(loaded, params, overrides, composer.config_loader, master)
        domain = expand_domain(overrides, params, composer.config_loader,  # type: ignore[arg-type]
                               base=base)
        points: list[PlannedPoint] = []
        configs: dict[str, dict[str, Any]] = {}
        progress = _Progress(len(domain))
        for point in domain.points():
            resolved = composer.resolve_point(point.overrides, domain.hydra_overrides)
            run_id = run_id_of(resolved)
            configs.setdefault(run_id, resolved)
            points.append(PlannedPoint(run_id, point.index, point.overrides, point.params))
            progress.step()
        progress.done()
    return Plan(config_dir=str(config_dir), config_name=config_name,
                overrides=tuple(overrides), dims=domain.dims, points=tuple(points),
                configs=configs)


def _loaded_base(loaded: Any, params: Any, overrides: Sequence[str], config_loader: Any,
                 master: Any) -> list[str]:
    """A loaded run's group choices and config as overrides (see ``snakesweep.loaded``)."""
    if loaded is None:
        return []
    from omegaconf import OmegaConf

    from snakesweep import _plain
    from snakesweep.domain import parse_override, sweeper_params_overrides
    from snakesweep.loaded import loaded_overrides

    def is_group(ov: Any) -> bool:
        return bool(config_loader.repository.group_exists(ov.key_or_group))

    set_keys, set_groups = [], set()
    for text in [*sweeper_params_overrides(params), *overrides]:
        ov = parse_override(text, config_loader)
        if not ov.is_hydra_override():
            set_keys.append(ov.key_or_group.lstrip("+~"))
            if is_group(ov):
                set_groups.add(ov.key_or_group)
    choices = []
    for text in loaded.overrides:
        ov = parse_override(text, config_loader)
        if not ov.is_hydra_override() and is_group(ov) and ov.key_or_group not in set_groups:
            choices.append(text)
    tree = OmegaConf.to_container(master, resolve=False)
    interpolated = [".".join(p) for p, v in _plain.walk_strings(tree)
                    if _plain.is_interpolation(v) and p[:1] != ("hydra",)]
    return choices + loaded_overrides(loaded.config, [*set_keys, *interpolated])


def plan_key(
    config_dir: str | os.PathLike[str], config_name: str, overrides: Sequence[str]
) -> str:
    """A hash of everything a plan depends on.

    The files of the config directory and of ``file://`` directories the primary config
    adds to Hydra's search path, the environment variables ``${oc.env:…}`` reads, the
    config name, the overrides, and the versions of snakesweep, Hydra and OmegaConf.
    (``pkg://`` search paths and custom resolvers are not followed.)
    """
    h = hashlib.sha256()
    versions = [f"{d}={version(d)}" for d in ("snakesweep", "hydra-core", "omegaconf")]
    h.update(json.dumps([PLAN_FORMAT, versions, config_name, list(overrides)]).encode())
    root = Path(config_dir)
    if not root.is_dir():
        raise ConfigError(f"config directory {str(config_dir)!r}",
                          "does not exist (give it with -cd/--config-dir)")
    roots = [root, *_search_path_dirs(root, config_name)]
    for top in roots:
        for path in _config_files(top):
            text = path.read_bytes()
            h.update(path.relative_to(top).as_posix().encode() + b"\0" + text + b"\0")
            for name in _ENV_REFERENCE.findall(text):  # ${oc.env:NAME} resolves per process
                h.update(name + b"=" + os.environb.get(name, b"\0") + b"\0")
    return h.hexdigest()[:16]


_ENV_REFERENCE = re.compile(rb"\$\{\s*(?:oc\.env|env)\s*:\s*([A-Za-z_][A-Za-z0-9_]*)")


def _config_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath, n) for n in sorted(filenames) if not n.startswith("."))
    return files


def _search_path_dirs(root: Path, config_name: str) -> list[Path]:
    """Directories the primary config adds with ``hydra.searchpath: [file://…]``."""
    import yaml

    primary = root / f"{config_name}.yaml"
    try:
        data = yaml.safe_load(primary.read_text(encoding="utf-8")) if primary.is_file() else None
    except (OSError, yaml.YAMLError):
        return []
    entries = ((data or {}).get("hydra") or {}).get("searchpath") or [] if isinstance(
        data, dict) else []
    dirs = []
    for entry in entries:
        if isinstance(entry, str) and entry.startswith("file://"):
            path = Path(entry[len("file://"):])
            dirs.append(path if path.is_absolute() else Path.cwd() / path)
    return [d for d in dirs if d.is_dir()]


def plan_path(
    config_dir: str | os.PathLike[str],
    config_name: str,
    overrides: Sequence[str],
    results: str | os.PathLike[str],
) -> Path:
    """Where the plan for these arguments is cached."""
    return Path(results, ".snakesweep", "plans",
                f"{plan_key(config_dir, config_name, overrides)}.json")


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a plan written by ``make_plan``."""
    with open(path, encoding="utf-8") as f:
        return Plan.from_json(json.load(f), Path(path))


def write_plan(plan: Plan, path: Path) -> None:
    """Write a plan aside and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.aside(path)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(plan.to_json(), separators=(",", ":")))  # C encoder: one string
    os.replace(tmp, path)


class _Progress:
    """Prints composition progress to stderr when a plan takes more than a moment."""

    def __init__(self, total: int) -> None:
        self.total, self.count = total, 0
        self.start = self.last = time.monotonic()

    def step(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last > 2.0:
            self.last = now
            print(f"snakesweep: composed {self.count}/{self.total} points",
                  file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.last != self.start:
            print(f"snakesweep: composed {self.total} points in "
                  f"{time.monotonic() - self.start:.1f} s", file=sys.stderr, flush=True)
