"""The plan: every point of one sweep, the run it resolves to, each run's resolved config.

A plan lives in two files (``write_plan``): the plan file, all a Snakemake parse reads
(run ids, each run's options, the layout), and its configs file beside it, what runs read,
loaded when first needed. Each ends with the digest of the rest of it (``seal``), and the
plan file records its configs file's digest, so what is read is always what was written.
Where plans are cached and when a cached one is used: ``cache``; how one is made: ``make``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.core.domain_expansion import describe
from snakesweep.core.grid import Coordinate, Dimension, unfit_labels
from snakesweep.core.options import SweepOptions, node_of
from snakesweep.errors import ConfigError
from snakesweep.planning.seal import Unverified, seal, unseal

__all__ = [
    "PLAN_FORMAT",
    "Plan",
    "PlannedPoint",
    "check_coordinates",
    "configs_path",
    "load_plan",
    "write_plan",
]

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
    """Set when Hydra's launcher made the plan (see ``snakesweep.hydra.launcher``): the task
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
            return {
                r: table[i]
                for r, i in zip(self.stored["run_ids"], self.stored["option_of"], strict=True)
            }
        return {r: node_of(c) for r, c in self.configs.items()}

    @cached_property
    def options(self) -> SweepOptions:
        """Each run's ``snakesweep`` options, parsed once (``snakesweep.core.options``):
        ``ConfigError`` for an option that is unknown or unusable."""
        if self.stored is None:
            return SweepOptions.parse(self.run_options())
        return SweepOptions.from_table(
            self.stored["run_ids"], self.stored["options"], self.stored["option_of"]
        )

    @property
    def keys(self) -> list[str]:
        """The labels of every point: each dimension, then each coordinate."""
        return [
            *(d.name for d in self.dims),
            *(k for k in self.coords if k not in {d.name for d in self.dims}),
        ]

    def structure(self) -> str:
        """The layout in one line: each dimension, its size, the coordinates along it."""
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
        h = hashlib.sha256(
            json.dumps(
                [
                    self.config_name,
                    list(self.overrides),
                    [[d.name, list(d.values)] for d in self.dims],
                    {k: list(v) for k, v in self.coords.items()},
                ],
                separators=(",", ":"),
            ).encode()
        )
        keys = list(self.coords)
        h.update(
            "\n".join(
                f"{p.run_id}{p.index}{[p.params.get(k) for k in keys] if keys else ''}"
                for p in self.points
            ).encode()
        )
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
                text = texts[id(options_of_run)] = json.dumps(
                    options_of_run, sort_keys=True, default=str
                )
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
        side = {
            "layout": self.layout_digest,
            "points": [
                [
                    position[p.run_id],
                    p.index,
                    p.overrides,
                    *(
                        [{str(i): p.params[k] for i, k in enumerate(keys) if k in p.params}]
                        if keys
                        else []
                    ),
                ]
                for p in self.points
            ],
            "configs": [self.configs[r] for r in run_ids],
        }
        return header, side

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | None = None) -> Plan:
        """A plan from its plan file; its configs file (beside it) is read when first needed."""
        if data.get("format") != PLAN_FORMAT:
            raise ConfigError(
                f"plan {str(path)!r}",
                f"format {data.get('format')!r}, not "
                f"{PLAN_FORMAT}: made by another snakesweep; delete it",
            )
        dims = tuple(
            Dimension(name=n, values=tuple(v), overrides=tuple(o)) for n, v, o in data["dims"]
        )
        coords = {k: tuple(v) for k, v in data["coords"].items()}
        side = _Side(
            configs_path(path) if path is not None else None,
            data["layout"],
            data.get("configs_sha256"),
        )
        return cls(
            config_dir=data["config_dir"],
            config_name=data["config_name"],
            overrides=tuple(data["overrides"]),
            dims=dims,
            points=_Points(data["points"], dims, list(coords), data["run_ids"], side),
            configs=_Configs(data["run_ids"], side),
            launch=data.get("launch"),
            coords=coords,
            rounds=data.get("rounds"),
            sources=data.get("sources") or {},
            path=path,
            stored=data,
        )


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
                data, _ = unseal(self.path.read_bytes(), "its configs file", self.digest)
            except OSError as exc:
                raise ConfigError(where, f"cannot be read: {exc.strerror or exc}") from None
            except Unverified as exc:
                raise ConfigError(
                    where, f"{exc}: run the command again, it makes the plan again"
                ) from None
            if data.get("layout") != self.layout:  # the plan grew after its file was read
                raise ConfigError(
                    where,
                    "changed while it was read "
                    "(another snakesweep made it again): run the command again",
                )
            self._data = data
        return self._data


class _Points(Sequence[PlannedPoint]):
    """The points of a plan read from disk, built when first looked at."""

    def __init__(
        self,
        count: int,
        dims: tuple[Dimension, ...],
        keys: list[str],
        run_ids: list[str],
        side: _Side,
    ) -> None:
        self._count, self._dims, self._keys, self._run_ids, self._side = (
            count,
            dims,
            keys,
            run_ids,
            side,
        )
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


def check_coordinates(plan: Plan) -> None:
    """Refuse swept values that ``sweep.nc`` could not hold as its coordinates exactly
    (``grid.unfit_labels``): ``ConfigError`` naming the key and the value, before any run."""
    columns: dict[str, list[Any]] = {d.name: list(d.values) for d in plan.dims}
    columns.update({k: [p.params.get(k) for p in plan.points] for k in plan.coords})
    columns.update((plan.launch or {}).get("labels") or {})
    for key, values in columns.items():
        reason = unfit_labels(values)
        if reason is not None:
            raise ConfigError(
                f"swept key {key!r}",
                f"{reason}; sweep it as text (quoted: {key}='…'), or as smaller numbers",
            )


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a plan written by ``write_plan`` (its configs when first needed, each file
    checked against its digest); one that does not verify raises ``ConfigError``."""
    try:
        data, _ = unseal(Path(path).read_bytes(), "its plan file")
        return Plan.from_json(data, Path(path))
    except OSError as exc:
        raise ConfigError(f"plan {str(path)!r}", f"cannot be read: {exc.strerror or exc}") from None
    except Unverified as exc:
        raise ConfigError(
            f"plan {str(path)!r}", f"{exc}: run the command again, it makes the plan again"
        ) from None
    except (KeyError, TypeError, ValueError) as exc:  # a sealed file of an unknown shape
        raise ConfigError(f"plan {str(path)!r}", f"is not a plan ({exc!r}): delete it") from None


def write_plan(plan: Plan, path: Path) -> None:
    """Write a plan's configs file, then its plan file (which records the digest and the
    ``os.stat`` of the configs file, and the key of its name), each sealed (``seal``),
    aside and renamed into place (a plan file is there only with its configs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header, side = plan.to_json()
    data, digest = seal(side)
    store.replace_with(configs_path(path), lambda tmp: tmp.write_bytes(data), len(data))
    st = os.stat(configs_path(path))
    data, _ = seal(
        {
            **header,
            "key": path.stem,
            "configs_sha256": digest,
            "configs_stat": [st.st_size, st.st_mtime_ns, st.st_ino],
        }
    )
    store.replace_with(path, lambda tmp: tmp.write_bytes(data), len(data))
