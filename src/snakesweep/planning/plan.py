"""The plan: the set of runs for one invocation, cached on disk.

Snakemake parses the Snakefile again and again (and once per job on a cluster), so a plan
is stored under ``<results>/.snakesweep/plans/`` keyed by everything it depends on: the
files of the config directory, the primary config's name, the overrides, and the versions
of snakesweep, Hydra and OmegaConf. Loading a cached plan imports neither Hydra nor
xarray and composes nothing.

A cache is checked before it is trusted: each of its two files ends with the sha256 of
the rest of it (``_seal``), the plan file names the key it was made for and the digest of
its configs file, so a file cut short, overwritten, edited (two run ids swapped) or paired
with another plan's is made again (``make_plan``) or refused in one line (``load_plan``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pickle
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

from snakesweep.core.grid import Coordinate, Dimension, unfit_labels
from snakesweep.core.options import Options, SweepOptions, node_of
from snakesweep.errors import ConfigError, OverrideError
from snakesweep.store import runs as store

PLAN_FORMAT = 3


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
    points: Sequence[PlannedPoint]
    configs: Mapping[str, dict[str, Any]]
    launch: dict[str, Any] | None = None
    """Set when Hydra's launcher made the plan (see ``snakesweep.hydra_job``): the task
    function's import paths, the directory of the jobs' Hydra configs, and the runs this
    launch executes (``batch``; the others are only merged)."""
    coords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Keys that are coordinates along dimensions other than their own (a zip's second
    key, a concat's keys, the drawn keys, the seed): key → those dimensions."""
    rounds: dict[str, Any] | None = None
    """Adaptive sweeps (``snakesweep.update``): ``{"count": n, "complete": bool}``."""
    sources: dict[str, str] = field(default_factory=dict)
    """Python files the plan was made with (a domain function, an update function):
    path → hash; a cached plan whose files changed is made again."""
    path: Path | None = field(default=None, compare=False)
    stored: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """What a plan read from disk knows without its configs: run ids, options, layout."""

    @property
    def run_ids(self) -> list[str]:
        """Each run once, in domain order (points with equal configs share a run)."""
        if self.stored is not None:
            return list(self.stored["run_ids"])
        return list(self._first_points)

    def point_of(self, run_id: str) -> PlannedPoint:
        """The first point that resolves to this run."""
        return self._first_points[run_id]

    def run_options(self) -> dict[str, Mapping[str, Any]]:
        """Each run's ``snakesweep`` node as its config holds it (what the plan file stores),
        read without the configs; ``options`` holds them parsed."""
        if self.stored is not None:
            table = self.stored["options"]
            return {r: table[i] for r, i in zip(self.stored["run_ids"],
                                                  self.stored["option_of"], strict=True)}
        return {r: node_of(c) for r, c in self.configs.items()}

    @cached_property
    def options(self) -> SweepOptions:
        """Each run's ``snakesweep`` options, parsed once (``snakesweep.core.options``):
        ``ConfigError`` for an option that is unknown or unusable."""
        if self.stored is None:
            return SweepOptions.parse(self.run_options())
        return SweepOptions.from_table(self.stored["run_ids"], self.stored["options"],
                                       self.stored["option_of"])

    @property
    def keys(self) -> list[str]:
        """The labels of every point: each dimension, then each coordinate."""
        return [*(d.name for d in self.dims), *(k for k in self.coords
                                                if k not in {d.name for d in self.dims})]

    def structure(self) -> str:
        """The layout in one line: each dimension, its size, the coordinates along it."""
        from snakesweep.core.domain import describe

        line = describe(self.dims, self.coords, len(self.points))
        if self.rounds:
            state = "complete" if self.rounds["complete"] else "more to come"
            line += f" in {self.rounds['count']} round(s), {state}"
        return line

    @cached_property
    def _first_points(self) -> dict[str, PlannedPoint]:
        first: dict[str, PlannedPoint] = {}
        for p in self.points:
            first.setdefault(p.run_id, p)
        return first

    def experiment_of(self, run_id: str) -> str:
        """The ``snakesweep.experiment`` entry point of one run."""
        spec = self.options[run_id].experiment
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
        if self.stored is not None:
            return str(self.stored["layout"])
        h = hashlib.sha256(json.dumps([self.config_name, list(self.overrides),
                                       [[d.name, list(d.values)] for d in self.dims],
                                       {k: list(v) for k, v in self.coords.items()}],
                                      separators=(",", ":")).encode())
        keys = list(self.coords)
        h.update("\n".join(
            f"{p.run_id}{p.index}{[p.params.get(k) for k in keys] if keys else ''}"
            for p in self.points).encode())
        return h.hexdigest()[:16]

    def to_json(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The plan file (all a Snakemake parse reads) and its configs file (what runs read)."""
        run_ids = self.run_ids
        position = {r: i for i, r in enumerate(run_ids)}
        options: list[Mapping[str, Any]] = []
        option_index: dict[str, int] = {}
        option_of = []
        texts: dict[int, str] = {}  # runs of one base share their options' object
        for options_of_run in self.run_options().values():
            text = texts.get(id(options_of_run))
            if text is None:
                text = texts[id(options_of_run)] = json.dumps(options_of_run, sort_keys=True,
                                                              default=str)
            if text not in option_index:
                option_index[text] = len(options)
                options.append(options_of_run)
            option_of.append(option_index[text])
        keys = list(self.coords)
        header = {
            "format": PLAN_FORMAT,
            "config_dir": self.config_dir,
            "config_name": self.config_name,
            "overrides": list(self.overrides),
            "dims": [[d.name, list(d.values), list(d.overrides)] for d in self.dims],
            "coords": {k: list(v) for k, v in self.coords.items()},
            "layout": self.layout_digest,
            "run_ids": run_ids,
            "options": options,
            "option_of": option_of,
            "points": len(self.points),
            **({"launch": self.launch} if self.launch is not None else {}),
            **({"rounds": self.rounds} if self.rounds is not None else {}),
            **({"sources": self.sources} if self.sources else {}),
        }
        side = {"layout": self.layout_digest,
                "points": [[position[p.run_id], p.index, p.overrides,
                            *([{str(i): p.params[k] for i, k in enumerate(keys) if k in p.params}]
                              if keys else [])] for p in self.points],
                "configs": [self.configs[r] for r in run_ids]}
        return header, side

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | None = None) -> Plan:
        """A plan from its plan file; its configs file (beside it) is read when first needed."""
        if data.get("format") != PLAN_FORMAT:
            raise ConfigError(f"plan {str(path)!r}", f"format {data.get('format')!r}, not "
                              f"{PLAN_FORMAT}: made by another snakesweep; delete it")
        dims = tuple(Dimension(name=n, values=tuple(v), overrides=tuple(o))
                     for n, v, o in data["dims"])
        coords = {k: tuple(v) for k, v in data["coords"].items()}
        side = _Side(configs_path(path) if path is not None else None, data["layout"],
                     data.get("configs_sha256"))
        return cls(config_dir=data["config_dir"], config_name=data["config_name"],
                   overrides=tuple(data["overrides"]), dims=dims,
                   points=_Points(data["points"], dims, list(coords), data["run_ids"], side),
                   configs=_Configs(data["run_ids"], side), launch=data.get("launch"),
                   coords=coords, rounds=data.get("rounds"), sources=data.get("sources") or {},
                   path=path, stored=data)


def configs_path(path: str | os.PathLike[str]) -> Path:
    """The configs file beside a plan file."""
    path = Path(path)
    return path.with_name(f"{path.stem}.configs.json")


class _Side:
    """A plan's configs file, read once, when first needed, and checked against the digest
    its plan file records."""

    def __init__(self, path: Path | None, layout: str, digest: str | None = None) -> None:
        self.path = path
        self.layout = layout
        self.digest = digest
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            if self.path is None:
                raise ConfigError("plan", "has no configs file")
            where = f"plan {str(self.path)!r}"
            try:
                data, _ = _unseal(self.path.read_bytes(), "its configs file", self.digest)
            except OSError as exc:
                raise ConfigError(where, f"cannot be read: {exc.strerror or exc}") from None
            except Unverified as exc:
                raise ConfigError(where, f"{exc}: run the command again, it makes the plan "
                                  "again") from None
            if data.get("layout") != self.layout:  # the plan grew after its file was read
                raise ConfigError(where, "changed while it was read "
                                  "(another snakesweep made it again): run the command again")
            self._data = data
        return self._data


class _Points(Sequence[PlannedPoint]):
    """The points of a plan read from disk, built when first looked at."""

    def __init__(self, count: int, dims: tuple[Dimension, ...], keys: list[str],
                 run_ids: list[str], side: _Side) -> None:
        self._count, self._dims, self._keys, self._run_ids, self._side = (
            count, dims, keys, run_ids, side)
        self._points: list[PlannedPoint] | None = None

    def _built(self) -> list[PlannedPoint]:
        if self._points is None:
            names = [d.name for d in self._dims]
            values = [d.values for d in self._dims]
            keys = self._keys
            points = []
            for row in self._side.data["points"]:
                index = tuple(row[1])
                params = {n: v[i] for n, v, i in zip(names, values, index, strict=True)}
                if keys:
                    for k, v in row[3].items():
                        params[keys[int(k)]] = v
                points.append(PlannedPoint(self._run_ids[row[0]], index, tuple(row[2]), params))
            self._points = points
        return self._points

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: Any) -> Any:
        return self._built()[i]

    def __iter__(self) -> Iterator[PlannedPoint]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]


class _Configs(Mapping[str, dict[str, Any]]):
    """The resolved configs of a plan read from disk, read when first looked at."""

    def __init__(self, run_ids: list[str], side: _Side) -> None:
        self._run_ids, self._side = run_ids, side
        self._configs: dict[str, dict[str, Any]] | None = None

    def _built(self) -> dict[str, dict[str, Any]]:
        if self._configs is None:
            self._configs = dict(zip(self._run_ids, self._side.data["configs"], strict=True))
        return self._configs

    def __getitem__(self, run_id: str) -> dict[str, Any]:
        return self._built()[run_id]

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._built()

    def __iter__(self) -> Iterator[str]:
        return iter(self._run_ids)

    def __len__(self) -> int:
        return len(self._run_ids)


def make_plan(
    config_dir: str | os.PathLike[str],
    config_name: str,
    overrides: Sequence[str] = (),
    results: str | os.PathLike[str] = "results",
    *,
    use_cache: bool = True,
    from_run: str | None = None,
    check: Callable[[Plan], object] | None = None,
    cache_optional: bool = False,
) -> Plan:
    """The plan for a sweep, from the cache under ``results`` when nothing it depends on changed.

    ``from_run``: a run id (or a unique prefix) of ``results`` whose resolved config the
    points start from (``--from``; see ``snakesweep.loaded``). ``check`` is called with the
    plan, a new one before it is cached: what it raises leaves ``results`` as it was (bad
    input writes nothing). ``cache_optional``: a plan that cannot be cached (a read-only or
    full disk) is used as it is, for commands that only read ``results``.
    """
    config_dir, results = store.local_path(config_dir), store.local_path(results)
    loaded = None
    key_overrides = list(overrides)
    if from_run is not None:  # `--from ''` is a bad id, not no --from
        from snakesweep.planning.from_run import load_run

        loaded = load_run(results, from_run)
        key_overrides = [f"--from={loaded.run_id}:{loaded.digest}", *overrides]
    path = plan_path(config_dir, config_name, key_overrides, results)
    cached, current = _usable_cache(path, results) if use_cache else (None, False)
    plan = cached if cached is not None and current else dataclasses.replace(
        compose_plan(config_dir, config_name, overrides, loaded=loaded, results=results,
                     previous=cached), path=path)
    if plan is not cached:
        check_coordinates(plan)
    plan.options.check()  # each run's options, and those the runs must share
    if check is not None:
        check(plan)
    if use_cache and plan is not cached:
        try:
            write_plan(plan, path)
        except OSError:
            if not cache_optional:
                raise
    return plan


def check_coordinates(plan: Plan) -> None:
    """Refuse swept values that ``sweep.nc`` could not hold as its coordinates exactly
    (``grid.unfit_labels``): ``ConfigError`` naming the key and the value, before any run."""
    columns: dict[str, list[Any]] = {d.name: list(d.values) for d in plan.dims}
    columns.update({k: [p.params.get(k) for p in plan.points] for k in plan.coords})
    columns.update((plan.launch or {}).get("labels") or {})
    for key, values in columns.items():
        reason = unfit_labels(values)
        if reason is not None:
            raise ConfigError(f"swept key {key!r}", f"{reason}; sweep it as text (quoted: "
                              f"{key}='…'), or as smaller numbers")


def _usable_cache(path: Path, results: str) -> tuple[Plan | None, bool]:
    """The cached plan at ``path`` (None when there is none, it was made with other code,
    or it does not verify: see ``verified_plan``) and whether it is the current plan
    (False: an adaptive sweep's next round is due)."""
    if not (path.is_file() and configs_path(path).is_file()):
        return None, False
    try:
        cached = verified_plan(path)
    except Unverified as exc:
        print(f"snakesweep: the cached plan {str(path)!r} {exc}; making it again",
              file=sys.stderr, flush=True)
        return None, False
    if _sources_changed(cached):
        return None, False  # made with other code: every round is decided again
    if not cached.rounds or cached.rounds["complete"]:
        return cached, True
    from snakesweep.planning.rounds import round_due

    return cached, not round_due(cached, results)  # else the next round is made now


def compose_plan(
    config_dir: str | os.PathLike[str], config_name: str, overrides: Sequence[str] = (),
    *, loaded: Any = None, results: str | os.PathLike[str] | None = None,
    previous: Plan | None = None,
) -> Plan:
    """Expand the domain and compose every point (no cache), from a ``loaded`` run's config
    when given.

    The domain is ``snakesweep.domain`` (see ``snakesweep.domain``) times the command line's
    swept keys, or, without one, the grid of ``hydra.sweeper.params`` and the command line
    exactly as Hydra's BasicSweeper makes it. With ``snakesweep.update``, the rounds whose
    predecessors' runs are done in ``results`` follow (see ``snakesweep.rounds``), after
    those of ``previous`` (a cached plan of the same sweep) as they were decided.
    """
    from omegaconf import OmegaConf

    from snakesweep.core.configs import Composer
    from snakesweep.core.grid import expand_domain

    with Composer(config_dir, config_name) as composer:
        master = composer.compose_master(overrides)
        params = OmegaConf.select(master, "hydra.sweeper.params", default=None)
        params = OmegaConf.to_container(params) if params is not None else None
        node = OmegaConf.select(master, "snakesweep", default=None)
        if node is not None and not isinstance(node, type(master)):
            _not_options(node, overrides)
        options = Options.parse(OmegaConf.to_container(  # type: ignore[arg-type]
            node, resolve=True) if isinstance(node, type(master)) else None)
        sources: dict[str, str] = {}
        loader = composer.config_loader
        domain = _configured_domain(options, sources, loader)
        if domain is None:
            base = _loaded_base(loaded, params, overrides, loader, master)
            grid = expand_domain(overrides, params, loader,  # type: ignore[arg-type]
                                 base=base)
            compose = _Composition(composer, grid.hydra_overrides, len(grid))
            for point in grid.points():
                compose.add(point.overrides, point.index, point.params)
            compose.progress.done()
            return Plan(config_dir=str(config_dir), config_name=config_name,
                        overrides=tuple(overrides), dims=grid.dims,
                        points=tuple(compose.points), configs=compose.configs)
        grid = expand_domain(overrides, params, loader)  # type: ignore[arg-type]

        def prefix_of(d: Any) -> list[str]:
            """What every point of ``d`` starts with: the loaded run's config but the keys
            ``d`` sets, and the command line's fixed values."""
            keys = [k for k, _ in d.key_specs()]
            return [*_loaded_base(loaded, params, overrides, loader, master, keys),
                    *_check_grid(d, grid, loader, overrides)]

        from snakesweep.core.domain import with_grid

        prefix = prefix_of(domain)  # first: a key in both places is named as the override
        expansion = with_grid(domain, grid.dims).expand(prefix=prefix)
        adaptive = options.update is not None
        resume = adaptive and previous is not None and bool(previous.rounds)
        compose = _Composition(composer, grid.hydra_overrides, 0 if resume else len(expansion))
        compose.add_all([] if resume else expansion.points)
        plan = Plan(config_dir=str(config_dir), config_name=config_name,
                    overrides=tuple(overrides), dims=expansion.dims,
                    points=tuple(compose.points), configs=dict(compose.configs),
                    coords=expansion.coords, sources=sources)
        if adaptive:
            from snakesweep.planning.rounds import next_rounds

            plan = next_rounds(plan, expansion, options, compose, results, sources,
                               prefix_of=prefix_of, grid_dims=grid.dims,
                               previous=previous if resume else None)
        compose.progress.done()
        return plan


def _not_options(node: Any, overrides: Sequence[str]) -> None:
    """Refuse a ``snakesweep`` node that is not a mapping of options, naming what set it."""
    from omegaconf import OmegaConf

    value = OmegaConf.to_container(node) if OmegaConf.is_config(node) else node
    reason = (f"snakesweep's options are a mapping (experiment: 'package.module:function', "
              f"domain, ...), not {value!r}")
    setter = next((o for o in reversed(overrides)
                   if o.lstrip("+~").partition("=")[0].partition("@")[0] == "snakesweep"), None)
    if setter is not None:
        raise OverrideError(setter, reason)
    raise ConfigError("snakesweep", reason)


class _Composition:
    """Composes points into planned points and their configs.

    A large domain (``PARALLEL_POINTS`` or more) is composed on every core: forked workers
    compose contiguous parts of it from the composer's state and send back each point's
    run id and config (only from a process with one thread, where forking is safe).
    A point's config leaves out ``snakesweep.domain``: the whole domain is no part of one
    point, and would be copied into every run's files.
    """

    def __init__(self, composer: Any, hydra_overrides: Sequence[str], total: int = 0) -> None:
        self.composer = composer
        self.hydra_overrides = hydra_overrides
        self.points: list[PlannedPoint] = []
        self.configs: dict[str, dict[str, Any]] = {}
        self.progress = _Progress(total)
        self._stripped: dict[int, tuple[Any, Any]] = {}

    def add(self, overrides: Sequence[str], index: tuple[int, ...],
            params: dict[str, Coordinate]) -> PlannedPoint:
        run_id, resolved = self._resolve(overrides)
        self.progress.step()
        return self._keep(run_id, resolved, overrides, index, params)

    def add_all(self, points: Sequence[Any]) -> None:
        """Compose every point (``overrides``, ``index``, ``params``), in order."""
        workers = _workers(len(points))
        if workers == 1:
            for p in points:
                self.add(p.overrides, p.index, p.params)
            return
        size = -(-len(points) // workers)
        chunks = [points[i:i + size] for i in range(0, len(points), size)]
        children: list[tuple[int, int]] = []
        payloads: list[bytes] = []
        try:
            for chunk in chunks[1:]:
                children.append(self._fork(chunk))
            parts = [[self._step(self._resolve(p.overrides), len(chunks)) for p in chunks[0]]]
            for _, fd in children:
                with os.fdopen(fd, "rb", closefd=False) as f:
                    payloads.append(f.read())
        finally:  # also when this part failed or was interrupted: no worker is left behind
            for pid, fd in children:
                if len(payloads) < len(children):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.close(fd)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        for payload, chunk in zip(payloads, chunks[1:], strict=True):
            try:
                status, out = pickle.loads(payload)
            except Exception:  # noqa: BLE001 - a worker that died: compose its part here
                status, out = "error", None
            if status != "ok":  # compose it here: its error is raised as it is
                out = [self._resolve(p.overrides) for p in chunk]
            parts.append(out)
        for chunk, part in zip(chunks, parts, strict=True):
            for p, (run_id, resolved) in zip(chunk, part, strict=True):
                self._keep(run_id, resolved, p.overrides, p.index, p.params)

    def _fork(self, chunk: Sequence[Any]) -> tuple[int, int]:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: compose, send, leave without running any exit handler
            try:
                os.close(read)
                try:
                    payload = pickle.dumps(("ok", [self._resolve(p.overrides) for p in chunk]),
                                           protocol=pickle.HIGHEST_PROTOCOL)
                except BaseException:  # noqa: BLE001 - the parent composes this part again
                    payload = pickle.dumps(("error", None))
                with os.fdopen(write, "wb") as f:
                    f.write(payload)
            finally:
                os._exit(0)
        os.close(write)
        return pid, read

    def _step(self, item: Any, by: int) -> Any:
        self.progress.step(by)
        return item

    def _resolve(self, overrides: Sequence[str]) -> tuple[str, dict[str, Any]]:
        from snakesweep.core.configs import run_id_of

        resolved = self.composer.resolve_point(overrides, self.hydra_overrides)
        options = resolved.get("snakesweep")
        if isinstance(options, dict) and "domain" in options:
            kept = self._stripped.get(id(options))
            if kept is None:  # points of one base share the node: strip it once
                kept = self._stripped[id(options)] = (
                    options, {k: v for k, v in options.items() if k != "domain"})
            resolved = {**resolved, "snakesweep": kept[1]}
        return run_id_of(resolved), resolved

    def _keep(self, run_id: str, resolved: dict[str, Any], overrides: Sequence[str],
              index: tuple[int, ...], params: dict[str, Coordinate]) -> PlannedPoint:
        self.configs.setdefault(run_id, resolved)
        point = PlannedPoint(run_id, tuple(index), tuple(overrides), params)
        self.points.append(point)
        return point


PARALLEL_POINTS = 20_000


def _workers(points: int) -> int:
    """How many processes compose a domain of this many points."""
    import threading

    if points < PARALLEL_POINTS or not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def _configured_domain(options: Options, sources: dict[str, str],
                       loader: Any = None) -> Any:
    """``snakesweep.domain`` as a Domain, or None when the config has none."""
    from snakesweep.core.domain import DomainError, load_domain

    if options.domain is None:
        for name in ("samples", "repeats", "update"):
            if getattr(options, name) is not None:
                raise DomainError(f"snakesweep.{name}", "needs snakesweep.domain (the "
                                  "command line's and hydra.sweeper.params' grid takes none)")
        return None
    return load_domain(options.domain, options, lambda s, k: _import_source(s, k, sources),
                       loader)


def _import_source(spec: str, key: str, sources: dict[str, str]) -> Any:
    """Import a ``pkg.module:function`` the plan depends on, recording its file's hash."""
    from snakesweep.execute.execution import import_entry

    fn = import_entry(spec, key)
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    file = getattr(module, "__file__", None)
    if file:
        sources[file] = _file_hash(file)
    return fn


def _file_hash(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


def _sources_changed(plan: Plan) -> bool:
    """Whether a Python file the plan was made with (a domain or update function) changed."""
    return any(_file_hash(f) != h for f, h in plan.sources.items())


def _check_grid(domain: Any, grid: Any, config_loader: Any,
                overrides: Sequence[str] = ()) -> list[str]:
    """The command line's fixed values, once checked against the configured domain (a key
    in both is named by the command line's override, ``overrides``, when it is one)."""
    from snakesweep.core.domain import DomainError
    from snakesweep.core.grid import dimension_name

    names = {dimension_name(k) for k, _ in domain.key_specs()}
    names.update(domain.keys())
    for key, random in domain.key_specs():
        if random and config_loader.repository.group_exists(dimension_name(key)):
            raise DomainError(f"key {key!r}", "is a config group: a group's options are "
                              "listed (or given as Hydra's glob()), never drawn at random")
    fixed = []
    for choice, swept in zip(grid.choices, grid.swept, strict=True):
        text = choice[0]
        key = dimension_name(text.partition("=")[0])
        if key in names:
            from snakesweep.errors import OverrideError

            text = next((o for o in overrides
                         if dimension_name(o.partition("=")[0].lstrip("+~")) == key), text)
            raise OverrideError(text, f"key {key!r} is also in snakesweep.domain; set it "
                                "in one place")
        if not swept:
            fixed.append(text)
    return fixed


def _loaded_base(loaded: Any, params: Any, overrides: Sequence[str], config_loader: Any,
                 master: Any, domain_keys: Sequence[str] = ()) -> list[str]:
    """A loaded run's group choices and config as overrides (see ``snakesweep.loaded``)."""
    if loaded is None:
        return []
    from omegaconf import OmegaConf

    from snakesweep.core import plain_compose as _plain
    from snakesweep.core.grid import parse_override, sweeper_params_overrides
    from snakesweep.planning.from_run import loaded_overrides

    def is_group(ov: Any) -> bool:
        return bool(config_loader.repository.group_exists(ov.key_or_group))

    set_keys: list[str] = []
    set_groups: set[str] = set()
    for key in domain_keys:
        set_keys.append(key.lstrip("+~"))
        if config_loader.repository.group_exists(key.lstrip("+~")):
            set_groups.add(key.lstrip("+~"))
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
                          ("is a file, not a directory" if root.exists() else "does not exist")
                          + " (give it with -cd/--config-dir)")
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
    """Read a plan written by ``write_plan`` (its configs when first needed, each file
    checked against its digest); one that does not verify raises ``ConfigError``."""
    try:
        data, _ = _unseal(Path(path).read_bytes(), "its plan file")
        return Plan.from_json(data, Path(path))
    except OSError as exc:
        raise ConfigError(f"plan {str(path)!r}", f"cannot be read: {exc.strerror or exc}"
                          ) from None
    except Unverified as exc:
        raise ConfigError(f"plan {str(path)!r}", f"{exc}: run the command again, it makes "
                          "the plan again") from None
    except (KeyError, TypeError, ValueError) as exc:  # a sealed file of an unknown shape
        raise ConfigError(f"plan {str(path)!r}", f"is not a plan ({exc!r}): delete it"
                          ) from None


class Unverified(Exception):
    """A cached plan that is not the one written for its key: cut short, overwritten,
    edited, or paired with another plan's configs file. Its message says which."""


def verified_plan(path: Path) -> Plan:
    """The plan cached at ``path``, once both of its files check out: each against the
    digest it ends with, the plan file against the key of its name (what the plan was
    made from), the configs file against the digest the plan file records.

    The plan file is read and hashed (a few ms for 100,000 points). The configs file
    (eight times larger) is hashed here only when its ``os.stat`` (size, modification
    time, inode) is not the one the plan file records, as ``checksums`` does for results;
    it is hashed whenever it is read (``_Side``), so what is used is always checked."""
    try:
        data, _ = _unseal(path.read_bytes(), "plan file")
        if data.get("format") != PLAN_FORMAT:
            raise Unverified(f"was made by another snakesweep (format {data.get('format')!r})")
        if data.get("key") != path.stem:
            raise Unverified(f"was made for another sweep (key {data.get('key')!r})")
        side = configs_path(path)
        st = os.stat(side)
        if [st.st_size, st.st_mtime_ns, st.st_ino] != data.get("configs_stat"):
            _unseal(side.read_bytes(), "configs file", data.get("configs_sha256"),
                    parse=False)
        return Plan.from_json(data, path)
    except OSError as exc:
        raise Unverified(f"cannot be read ({exc.strerror or exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise Unverified(f"is not a plan ({exc!r})") from None


_SEAL = re.compile(rb',"sha256":"([0-9a-f]{64})"\}\Z')
_SEAL_LENGTH = len(b',"sha256":""}') + 64


def _seal(data: Mapping[str, Any]) -> tuple[bytes, str]:
    """``data`` as JSON whose last key, ``sha256``, is the digest of the rest of it (the
    same JSON without that key); and that digest."""
    body = json.dumps(data, separators=(",", ":")).encode()  # C encoder; ASCII
    if not body.startswith(b"{") or body == b"{}":
        raise ValueError("only a non-empty mapping is sealed")
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + b',"sha256":"' + digest.encode() + b'"}', digest


def _unseal(raw: bytes, what: str, expected: str | None = None, parse: bool = True
            ) -> tuple[dict[str, Any], str]:
    """The mapping ``_seal`` wrote (``{}`` unless ``parse``) and its digest; raises
    ``Unverified`` when ``raw`` is not whole (``what`` names it), or, with ``expected``,
    is not the file of that digest."""
    found = _SEAL.search(raw, max(0, len(raw) - _SEAL_LENGTH))
    if found is None:
        raise Unverified(f"does not verify: its {what} is cut short or was not written "
                         "by snakesweep")
    digest = found.group(1).decode()
    h = hashlib.sha256(memoryview(raw)[:found.start()])  # no copy of a file of megabytes
    h.update(b"}")
    if h.hexdigest() != digest:
        raise Unverified(f"does not verify: its {what} was changed after it was written")
    if expected is not None and digest != expected:
        raise Unverified(f"does not verify: its {what} belongs to another plan")
    if not parse:
        return {}, digest
    try:
        data = json.loads(raw)
    except ValueError:
        raise Unverified(f"does not verify: its {what} is not JSON") from None
    if not isinstance(data, dict):
        raise Unverified(f"does not verify: its {what} is not a plan")
    data.pop("sha256", None)
    return data, digest


def write_plan(plan: Plan, path: Path) -> None:
    """Write a plan's configs file, then its plan file (which records the digest and the
    ``os.stat`` of the configs file, and the key of its name), each sealed (``_seal``),
    aside and renamed into place (a plan file is there only with its configs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header, side = plan.to_json()
    data, digest = _seal(side)
    store.replace_with(configs_path(path), lambda tmp: tmp.write_bytes(data), len(data))
    st = os.stat(configs_path(path))
    data, _ = _seal({**header, "key": path.stem, "configs_sha256": digest,
                     "configs_stat": [st.st_size, st.st_mtime_ns, st.st_ino]})
    store.replace_with(path, lambda tmp: tmp.write_bytes(data), len(data))


class _Progress:
    """Prints composition progress to stderr when a plan takes more than a moment."""

    def __init__(self, total: int) -> None:
        self.total, self.count = total, 0
        self.start = self.last = time.monotonic()

    def step(self, by: int = 1) -> None:
        self.count += by
        now = time.monotonic()
        if now - self.last > 2.0:
            self.last = now
            print(f"snakesweep: composed {self.count}/{self.total} points",
                  file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.last != self.start:
            print(f"snakesweep: composed {self.total} points in "
                  f"{time.monotonic() - self.start:.1f} s", file=sys.stderr, flush=True)
