"""The ``snakesweep:`` node of a config: every option, its default, type, range and meaning.

One frozen dataclass, ``Options``, is the schema: a field per option, whose metadata holds
how it is read (``parse``), what it takes (``values``), its default as a user writes it and
the text that documents it (``doc``; the table of options in ``docs/reference/options.md``
is printed from it by ``docs/options_table.py``). ``Options.parse(node)`` reads a config's
node once and refuses what cannot be used with one ``ConfigError`` naming the key
(``snakesweep.timeout: expected seconds …``); a key that is no option is refused with a
suggestion (``unknown option snakesweep.timeuot; did you mean timeout?``).

Options may differ per run (a point may set ``snakesweep.timeout``): ``SweepOptions`` holds
the parsed options of each run of a plan (each distinct node parsed once) and what the whole
sweep takes from them, checked once: its ``batch``, its ``pictures`` and the
``resource_names`` every run sets.

A key of the node takes part in a run's identity only as ``snakesweep.experiment`` does
(``configs.identity_of``); the others never change a run id.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from snakesweep.core import option_values as read
from snakesweep.core.option_values import (
    DEFAULT_MAX_ROUNDS,
    DEFAULT_SEED_KEY,
    NODE,
    PICTURE_MODES,
    SUMMED_RESOURCES,
    BatchSetting,
    Devices,
    PictureMode,
    batch_setting,
)
from snakesweep.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_ROUNDS",
    "DEFAULT_SEED_KEY",
    "NODE",
    "PICTURE_MODES",
    "SUMMED_RESOURCES",
    "BatchSetting",
    "Devices",
    "Options",
    "PictureMode",
    "SweepOptions",
    "UnknownOption",
    "batch_setting",
    "node_of",
]


class UnknownOption(ConfigError):
    """A key of the ``snakesweep`` node that is no option; suggests the closest one."""

    def __init__(self, key: str, known: Sequence[str]) -> None:
        close = difflib.get_close_matches(key, known, n=1)
        super().__init__(
            f"{NODE}.{key}",
            f"did you mean {close[0]}?" if close else f"the options are {', '.join(known)}",
        )

    def __str__(self) -> str:
        return f"unknown option {self.culprit}; {self.reason}"


def _option(
    default: Any,
    parse: Callable[[Any], Any],
    values: str,
    doc: str,
    *,
    shown: str | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A field of ``Options``: its default, how a value is read, what it takes (``values``)
    and what it does (``doc``); ``shown``: the default as the docs name it."""
    meta = {
        "parse": parse,
        "values": values,
        "doc": doc,
        "default": shown if shown is not None else _shown(default),
    }
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _shown(default: Any) -> str:
    if default is None:
        return "null"
    if isinstance(default, bool):
        return str(default).lower()
    return f"{default:g}" if isinstance(default, float) else str(default)


def _sweep_error(name: str, reason: str) -> ConfigError:
    return ConfigError(f"{NODE}.{name}", reason)


# -- the schema ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """A config's ``snakesweep`` options, read and checked (``Options.parse``)."""

    # what runs
    experiment: str | None = _option(
        None,
        read.entry("experiment", nullable=False),
        "`package.module:function`",
        "The function each run calls with its config; returns an `xr.Dataset` or a mapping "
        "of names to values. The one option that is part of a run's identity.",
        shown="(required)",
    )
    # the domain
    domain: Any = _option(
        None,
        read.domain,
        "the domain's grammar, or `package.module:function`",
        "What the sweep ranges over (see *The domain*), times the command line's swept keys; "
        "without it, the command line's and `hydra.sweeper.params`' grid.",
    )
    samples: int | None = _option(
        None,
        read.integer("samples", 1),
        "integer ≥ 1",
        "Draws per combination of the domain's discrete part, when it draws (`interval()`, "
        "`mix`): required then, refused otherwise.",
    )
    seed: int | None = _option(
        None,
        read.integer("seed", 0),
        "integer ≥ 0",
        "The root of the domain's randomness: its draws and the seeds of its repeats.",
        shown="0",
    )
    repeats: int | None = _option(
        None,
        read.integer("repeats", 1),
        "integer ≥ 1",
        "Each point this many times, each repetition with its own seed (at `seed_key`).",
    )
    seed_key: str | None = _option(
        None,
        read.seed_key,
        "a config key",
        "The config key a repetition's seed is written to (as `++key=…`); `run.seed` reads it.",
        shown=DEFAULT_SEED_KEY,
    )
    update: str | None = _option(
        None,
        read.entry("update", nullable=True),
        "`package.module:function`",
        "Adaptive rounds: `f(results, round)` returns the next round's `Domain`, or None to stop.",
    )
    max_rounds: int = _option(
        DEFAULT_MAX_ROUNDS,
        read.max_rounds,
        "integer ≥ 1",
        "The most rounds an adaptive sweep makes, round 0 included.",
    )
    # provenance
    code: tuple[str, ...] | None = _option(
        None,
        read.code,
        "list of file globs",
        "Files (relative to the working directory) whose change stales a run, besides the "
        "modules its experiment imports; each glob must match a file.",
    )
    git_dirty_ignore: tuple[str, ...] = _option(
        (),
        read.git_dirty_ignore,
        "list of globs",
        "Uncommitted changes (relative to the repository root; a folder matches what is in "
        "it) that do not make a run a debug run.",
        shown="[]",
    )
    debug: bool | None = _option(
        None,
        read.debug,
        "true, false or null",
        "Whether runs are debug runs; null: when the working tree has uncommitted changes.",
    )
    # the report
    pictures: PictureMode = _option(
        "matplotlib",
        read.pictures,
        "true, false or rerun",
        "The report's pictures: drawn by matplotlib (true), by rerun's viewer headless "
        "(rerun), or none (false).",
        shown="true",
    )
    # a run
    debounce: float = _option(
        1.0,
        read.debounce,
        "seconds ≥ 0",
        "How often a run's logged steps (`run.log`) are written to its draft, at most.",
    )
    timeout: float | None = _option(
        None,
        read.timeout,
        "seconds > 0, or null",
        "A run still running after this long is stopped and recorded as failed (`Timeout`).",
    )
    # jobs
    batch: BatchSetting = _option(
        None,
        batch_setting,
        "integer ≥ 1, auto or null",
        "Pending runs per Snakemake job, one after another (`snakesweep run --batch` wins); "
        "auto: one wave of jobs over `--jobs`; null: one run per job, but `snakesweep run` on "
        "this machine puts up to 16 in a job (at least 4 jobs a core). One value for the whole "
        "sweep.",
    )
    resources: dict[str, int | float | str] = _option(
        None,
        read.resources,
        "mapping of Snakemake resources",
        "The resources of each run's job (`mem_mb`, `runtime` in minutes, `slurm_partition`, "
        "`gpus`…): numbers, or text of letters, digits and `_ . , : = + @ % / -`. Every run "
        "names the same ones.",
        shown="{}",
        factory=dict,
    )
    devices: Devices = _option(
        None,
        read.devices,
        "list of device ids or groups (`[0, 1]`, `['0,1', '2,3']`), one id, auto or null",
        "The devices runs hold while they run, as `CUDA_VISIBLE_DEVICES`; auto: those this "
        "machine shows (`CUDA_VISIBLE_DEVICES`, else `nvidia-smi -L`).",
    )
    runs_per_device: int = _option(
        1,
        read.runs_per_device,
        "integer ≥ 1",
        "How many runs may use one device (an entry of `devices`) at once.",
    )

    @classmethod
    def parse(cls, node: Mapping[str, Any] | None) -> Options:
        """The options a config's ``snakesweep`` node gives (None: every default);
        ``ConfigError`` naming the first key that is unknown or unusable."""
        if not node:
            return cls()
        for key in node:
            if key not in _PARSERS:
                raise UnknownOption(str(key), cls.names())
        return cls(**{name: parse(node[name]) for name, parse in _PARSERS.items() if name in node})

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every option's name, in the schema's order."""
        return tuple(_PARSERS)


_PARSERS: dict[str, Callable[[Any], Any]] = {f.name: f.metadata["parse"] for f in fields(Options)}
"""How each option is read, in the schema's order."""


def node_of(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """A config's ``snakesweep`` node as it holds it, or an empty mapping."""
    node = config.get(NODE)
    return node if isinstance(node, Mapping) else {}


# -- a sweep's options ----------------------------------------------------------------------------


class SweepOptions(Mapping[str, Options]):
    """Each run's parsed options (runs of one node share one object) and what the whole
    sweep takes from them; ``check`` refuses a sweep whose runs disagree."""

    def __init__(self, runs: dict[str, Options]) -> None:
        self._runs = runs

    @classmethod
    def parse(cls, nodes: Mapping[str, Mapping[str, Any] | None]) -> SweepOptions:
        """Each run's options from its node (run id → node), each distinct node parsed
        once (runs of one plan share their node's object)."""
        parsed: dict[int, Options] = {}
        runs = {}
        for run_id, node in nodes.items():
            key = id(node) if node else 0  # runs without options share the defaults
            options = parsed.get(key)
            if options is None:
                options = parsed[key] = Options.parse(node)
            runs[run_id] = options
        return cls(runs)

    @classmethod
    def from_table(
        cls, run_ids: Sequence[str], nodes: Sequence[Mapping[str, Any]], option_of: Sequence[int]
    ) -> SweepOptions:
        """Each run's options from a table of distinct nodes and each run's index into it
        (as a plan file stores them), each node parsed once."""
        table = [Options.parse(node) for node in nodes]
        made = cls(dict(zip(run_ids, map(table.__getitem__, option_of), strict=True)))
        made.__dict__["_distinct"] = {
            id(table[i]): (run_ids[option_of.index(i)], table[i]) for i in sorted(set(option_of))
        }
        return made

    @classmethod
    def from_configs(cls, configs: Mapping[str, Mapping[str, Any]]) -> SweepOptions:
        """Each run's options from its resolved config (run id → config)."""
        return cls.parse({r: node_of(c) for r, c in configs.items()})

    def __getitem__(self, run_id: str) -> Options:
        return self._runs[run_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    def first(self) -> Options:
        """The first run's options (every default for a sweep of no run)."""
        return next(iter(self._runs.values()), Options())

    def distinct(self) -> dict[int, tuple[str, Options]]:
        """Each distinct options object once (by identity), with its first run."""
        return dict(self._distinct)

    @cached_property
    def _distinct(self) -> dict[int, tuple[str, Options]]:
        out: dict[int, tuple[str, Options]] = {}
        for run_id, options in self._runs.items():
            if id(options) not in out:
                out[id(options)] = (run_id, options)
        return out

    def check(self) -> None:
        """Refuse options the runs of one sweep must share but do not (``batch``, the
        names of ``resources``): ``ConfigError`` naming the key."""
        _ = self.batch, self.resource_names

    @cached_property
    def batch(self) -> BatchSetting:
        """The sweep's ``snakesweep.batch``: one value for every run."""
        values = {json.dumps(o.batch) for _, o in self._distinct.values()}
        if len(values) > 1:
            raise _sweep_error(
                "batch",
                f"runs of one sweep set different values "
                f"({', '.join(sorted(values))}): set it once, in the primary config "
                "or with --batch",
            )
        return json.loads(values.pop()) if values else None

    @cached_property
    def pictures(self) -> PictureMode:
        """The sweep's pictures: rerun's when any of its runs' configs asks for them, else
        matplotlib's when any has pictures on, else off (matplotlib's for no run)."""
        modes = {o.pictures for _, o in self._distinct.values()}
        return next((m for m in ("rerun", "matplotlib", "off") if m in modes), "matplotlib")

    @cached_property
    def resource_names(self) -> tuple[str, ...]:
        """The resource names of the sweep's runs, which every run must set (Snakemake
        gives a rule's resources by name, to every job of it)."""
        given = self._distinct.values()
        names = dict.fromkeys(n for _, o in given for n in o.resources)
        for run_id, options in given:
            missing = [n for n in names if n not in options.resources]
            if missing:
                raise _sweep_error(
                    f"resources.{missing[0]}",
                    f"set for some runs but not for run "
                    f"{run_id}: give every run a value (for example in the primary "
                    "config)",
                )
        return tuple(names)
