"""The expansion of a domain into its points, and the layout of the sweep's Dataset.

Beside the tree, ``snakesweep.samples`` (draws per combination of the discrete part, when
there is anything random), ``snakesweep.seed`` (the root of all randomness, see ``draws``),
``snakesweep.repeats`` and ``snakesweep.seed_key`` (each point R times, repetition r with
the seed r derives, written to that key).

Each factor of the top product is a dimension (a key's own; a zip's, named after its first
key, its other keys coordinates along it; a concat's, named ``point``); everything random
is one more dimension, ``sample`` (``point`` when a mix is among it), with the drawn keys
as coordinates along every dimension; repeats are a ``repeat`` dimension with the seed as
its coordinate.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snakesweep.core import draws
from snakesweep.core.domain_tree import (
    DomainError,
    Key,
    Node,
    Op,
    Value,
    draws_of,
    is_random,
    keys_of,
)
from snakesweep.core.grid import Coordinate, Dimension, dimension_name
from snakesweep.core.options import Options
from snakesweep.errors import ConfigError

__all__ = [
    "POINT",
    "REPEAT",
    "ROUND",
    "SAMPLE",
    "SETTINGS",
    "DomainPoint",
    "Entry",
    "Expansion",
    "Settings",
    "describe",
    "expand",
    "settings_of",
]

REPEAT = "repeat"
ROUND = "round"
POINT = "point"
SAMPLE = "sample"


# -- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What a domain's expansion takes besides its tree (the ``snakesweep.*`` options)."""

    samples: int | None = None
    seed: int = 0
    repeats: int | None = None
    seed_key: str = "seed"

    def to_yaml(self) -> dict[str, Any]:
        default = Settings()
        return {k: v for k, v in self.__dict__.items() if v != getattr(default, k)}


SETTINGS = ("samples", "seed", "repeats", "seed_key")


def settings_of(options: Options | Mapping[str, Any], base: Settings | None = None) -> Settings:
    """The ``snakesweep.*`` settings of a config's options (or of a Domain's arguments, read
    as those options are) over ``base``; ``DomainError`` naming a bad one."""
    if not isinstance(options, Options):
        try:
            options = Options.parse(options)
        except ConfigError as exc:
            raise DomainError(exc.culprit, exc.reason) from None
    found = dict((base or Settings()).__dict__)
    found.update((n, getattr(options, n)) for n in SETTINGS if getattr(options, n) is not None)
    return Settings(**found)


# -- expansion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainPoint:
    """One point: its cell in the layout, the overrides that make it, its labels, its values."""

    index: tuple[int, ...]
    overrides: tuple[str, ...]
    params: dict[str, Coordinate]
    """Its label along every dimension and coordinate of the layout."""
    entry: dict[str, Value] = field(repr=False)
    seed: tuple[str, int] | None = field(default=None, repr=False)

    @property
    def values(self) -> dict[str, Any]:
        """Key → value, as ``list(domain)`` gives it."""
        values = {k: v.value for k, v in self.entry.items()}
        if self.seed is not None:
            values[self.seed[0]] = self.seed[1]
        return values


@dataclass(frozen=True)
class Expansion:
    """The points of a domain and the layout of its Dataset."""

    dims: tuple[Dimension, ...]
    coords: dict[str, tuple[str, ...]]
    """Coordinates that are not a dimension's own labels → the dimensions they lie along."""
    points: list[DomainPoint]
    synthetic: frozenset[str] = frozenset()
    """Dimensions that are positions (``point``, ``sample``), not keys."""

    def __len__(self) -> int:
        return len(self.points)

    def structure(self) -> str:
        """The layout in one line: ``model: 2 × optimizer.lr: 3 (+ optimizer.momentum) = 6``."""
        return describe(self.dims, self.coords, len(self.points))


def describe(dims: Sequence[Dimension], coords: Mapping[str, Sequence[str]], points: int) -> str:
    """One line naming each dimension, its size and the coordinates along it."""
    parts = []
    for d in dims:
        along = [k for k, on in coords.items() if on and on[-1] == d.name]
        parts.append(f"{d.name}: {len(d.values)}" + (f" ({', '.join(along)})" if along else ""))
    return f"{' × '.join(parts) or 'one point'} = {points} points"


Entry = dict[str, Value]


@dataclass
class _Factor:
    name: str
    labels: list[Coordinate]
    keys: list[str]
    """Keys that are coordinates along it (besides its own labels)."""
    entries: list[Entry]


class _Expander:
    """Draws and flattens the nodes of one domain, each random node from its own stream."""

    def __init__(self, settings: Settings, round_: int = 0) -> None:
        self.settings = settings
        self.round = round_
        self._streams: dict[str, Any] = {}

    def rng(self, path: str) -> Any:
        if path not in self._streams:
            self._streams[path] = draws.stream(self.settings.seed, path, self.round)
        return self._streams[path]

    @property
    def samples(self) -> int:
        if self.settings.samples is None:
            raise AssertionError("checked by Domain.expand")
        return self.settings.samples

    # every point of a node, in order (what a zip pairs and a concat chains)
    def flatten(self, node: Node, path: str) -> list[Entry]:
        if isinstance(node, Key):
            if node.draw is None:
                return [{node.name: v} for v in node.values]
            return self.draw(node, path, self.samples)
        if node.kind == "product":
            factors, randoms = self.factors(node, path)
            return [e for _, e in self.cells(factors, randoms, path)]
        if node.kind == "zip":
            flats = [self.flatten(p, _child(path, node, i)) for i, p in enumerate(node.parts)]
            lengths = {len(f) for f in flats}
            if len(lengths) > 1:
                sizes = ", ".join(
                    f"{'+'.join(keys_of(p))} has {len(f)}"
                    for p, f in zip(node.parts, flats, strict=True)
                )
                raise DomainError("zip", f"lengths differ: {sizes}")
            return [_merge(es) for es in zip(*flats, strict=True)]
        if node.kind == "concat":
            return [
                e for i, p in enumerate(node.parts) for e in self.flatten(p, _child(path, node, i))
            ]
        return self.draw(node, path, self.samples)

    # n random points of a node (what a mix or a product's random part draws)
    def draw(self, node: Node, path: str, n: int) -> list[Entry]:
        if isinstance(node, Key):
            rng = self.rng(f"{path}:{node.name}")
            if node.draw is None:
                picks = rng.integers(0, len(node.values), n)
                return [{node.name: node.values[i]} for i in picks]
            values = node.draw.sample(rng, n)
            return [{node.name: Value(f"{node.key}={v!r}", v, v)} for v in values]
        if node.kind == "product":
            columns = [self.draw(p, _child(path, node, i), n) for i, p in enumerate(node.parts)]
            return [_merge(es) for es in zip(*columns, strict=True)]
        if node.kind == "mix":
            import numpy as np  # heavy: only a mix needs it

            weights = np.array(node.weights) / sum(node.weights)
            picks = self.rng(f"{path}|mix").choice(len(node.parts), size=n, p=weights)
            drawn = {
                int(i): iter(
                    self.draw(node.parts[i], _child(path, node, int(i)), int((picks == i).sum()))
                )
                for i in np.unique(picks)
            }
            return [next(drawn[int(i)]) for i in picks]
        flat = self.flatten(node, path)
        return [flat[i] for i in self.rng(f"{path}|pick").integers(0, len(flat), n)]

    def factors(self, node: Node, path: str) -> tuple[list[_Factor], list[tuple[Node, str]]]:
        """A product's discrete factors (each a dimension) and its random parts."""
        parts = node.parts if isinstance(node, Op) and node.kind == "product" else (node,)
        paths = (
            [_child(path, node, i) for i in range(len(parts))]
            if isinstance(node, Op) and node.kind == "product"
            else [path]
        )
        factors: list[_Factor] = []
        randoms: list[tuple[Node, str]] = []
        for part, where in zip(parts, paths, strict=True):
            if isinstance(part, Key) and part.draw is None:
                factors.append(
                    _Factor(
                        part.name,
                        [v.coordinate for v in part.values],
                        [],
                        [{part.name: v} for v in part.values],
                    )
                )
            elif (
                isinstance(part, Key)
                or part.kind == "mix"
                or (part.kind == "product" and is_random(part))
            ):
                randoms.append((part, where))
            else:
                entries = self.flatten(part, where)
                keys = keys_of(part)
                if part.kind == "zip" and all(keys[0] in e for e in entries):
                    first = keys[0]  # a zip of keys: along its first key
                    factors.append(
                        _Factor(first, [e[first].coordinate for e in entries], keys[1:], entries)
                    )
                else:  # a concat, or a zip whose first part is one
                    factors.append(_Factor(POINT, list(range(len(entries))), keys, entries))
        return factors, randoms

    def cells(
        self, factors: list[_Factor], randoms: list[tuple[Node, str]], path: str
    ) -> Iterator[tuple[tuple[int, ...], Entry]]:
        """Each cell of the discrete factors and, per cell, its own random draws."""
        ranges = [range(len(f.entries)) for f in factors]
        if not randoms:
            for combo in itertools.product(*ranges):
                yield combo, _merge(f.entries[i] for f, i in zip(factors, combo, strict=True))
            return
        n = self.samples
        cells = list(itertools.product(*ranges))
        columns = [self.draw(node, where, len(cells) * n) for node, where in randoms]
        k = 0
        for combo in cells:
            base = _merge(f.entries[i] for f, i in zip(factors, combo, strict=True))
            for s in range(n):
                yield (*combo, s), _merge([base, *(c[k] for c in columns)])
                k += 1


def _child(path: str, parent: Op, i: int) -> str:
    """Where a part's streams are: a product's parts by their (unique) first key, so that
    adding a key leaves the others' streams alone; the parts of the others by position."""
    part = parent.parts[i]
    if parent.kind == "product":
        return path if isinstance(part, Key) else f"{path}/{part.kind}:{keys_of(part)[0]}"
    return f"{path}/{parent.kind}{i}"


def _merge(entries: Any) -> Entry:
    merged: Entry = {}
    for e in entries:
        merged.update(e)
    return merged


def expand(
    node: Node, settings: Settings, round_: int = 0, prefix: Sequence[str] = ()
) -> Expansion:
    """Every point of a domain tree and its layout (see the module's docstring).

    ``prefix``: overrides every point starts with (the command line's fixed values).
    """
    _check_settings(node, settings)
    ex = _Expander(settings, round_)
    factors, random_parts = ex.factors(node, "")
    dims, coords, synthetic = _discrete_layout(factors, keys_of(node))
    if random_parts:
        synthetic.add(_add_random_dimension(dims, coords, random_parts, ex.samples))
    elif settings.samples is not None and not is_random(node):
        raise DomainError(
            "snakesweep.samples",
            "the domain draws nothing (no interval() and no mix): leave samples out",
        )
    seeds = _add_repeats(dims, coords, settings)
    points = _points(
        ex.cells(factors, random_parts, ""), dims, settings.seed_key, tuple(prefix), seeds
    )
    return Expansion(tuple(dims), coords, points, frozenset(synthetic))


def _check_settings(node: Node, settings: Settings) -> None:
    """``DomainError`` for settings the tree contradicts: no samples for what it draws, a
    seed key or a key ``repeat`` that repeats would write over."""
    randoms = draws_of(node)
    if settings.samples is None and is_random(node):
        culprit = f"key {randoms[0].key!r}" if randoms else "mix"
        what = f"{randoms[0].source!r} draws random values" if randoms else "a mix draws its points"
        raise DomainError(
            culprit, f"{what}: set snakesweep.samples (draws per point of the rest of the domain)"
        )
    if settings.repeats is not None and dimension_name(settings.seed_key) in keys_of(node):
        raise DomainError(
            "snakesweep.seed_key",
            f"{settings.seed_key!r} is also a key of the domain: repeats write their seed to it",
        )
    if settings.repeats is not None and REPEAT in keys_of(node):
        raise DomainError(
            f"key {REPEAT!r}",
            "is also the dimension of repeats: rename the key or leave snakesweep.repeats out",
        )


def _discrete_layout(
    factors: list[_Factor], keys: list[str]
) -> tuple[list[Dimension], dict[str, tuple[str, ...]], set[str]]:
    """The dimensions of the discrete factors (each named once), the coordinates along them,
    and which of them are positions, not keys (``keys``: the domain's)."""
    names: list[str] = []
    for f in factors:  # a second `point` (two concats in one product) is `point_2`
        base, k = f.name, 2
        while f.name in names:
            f.name, k = f"{base}_{k}", k + 1
        names.append(f.name)
    synthetic = {f.name for f in factors if f.name.startswith(POINT) and f.name not in keys}
    dims = [Dimension(f.name, tuple(f.labels), ()) for f in factors]
    coords: dict[str, tuple[str, ...]] = {}
    for f in factors:
        for key in f.keys:
            coords[key] = (f.name,)
    return dims, coords, synthetic


def _add_random_dimension(
    dims: list[Dimension],
    coords: dict[str, tuple[str, ...]],
    random_parts: list[tuple[Node, str]],
    samples: int,
) -> str:
    """Append the dimension of the random draws (``sample``, or ``point`` with a mix) and
    put the drawn keys along every dimension; its name."""
    names = [d.name for d in dims]
    name = POINT if any(isinstance(p, Op) for p, _ in random_parts) else SAMPLE
    while name in names:
        name += "_2"
    dims.append(Dimension(name, tuple(range(samples)), ()))
    along = tuple(d.name for d in dims)
    for part, _ in random_parts:
        for key in keys_of(part):
            coords[key] = along
    return name


def _add_repeats(
    dims: list[Dimension], coords: dict[str, tuple[str, ...]], settings: Settings
) -> list[int | None]:
    """Append the ``repeat`` dimension, with the seed key along it; each repetition's seed
    (``[None]``: no repeats)."""
    if settings.repeats is None:
        return [None]
    seeds: list[int | None] = list(draws.repeat_seeds(settings.seed, settings.repeats))
    dims.append(Dimension(REPEAT, tuple(range(settings.repeats)), ()))
    coords[dimension_name(settings.seed_key)] = (REPEAT,)
    return seeds


def _points(
    cells: Iterator[tuple[tuple[int, ...], Entry]],
    dims: list[Dimension],
    seed_key: str,
    prefix: tuple[str, ...],
    seeds: list[int | None],
) -> list[DomainPoint]:
    """The point of each cell (each repetition of it, with ``seeds``), labelled along
    ``dims``."""
    points = []
    seed_name = dimension_name(seed_key)
    names_of = [d.name for d in dims]
    labels_of = [d.values for d in dims]
    seed_overrides = [f"++{seed_key.lstrip('+')}={seed}" for seed in seeds if seed is not None]
    for combo, entry in cells:
        overrides = prefix + tuple(v.text for v in entry.values())
        params = {k: v.coordinate for k, v in entry.items()}
        for name, labels, i in zip(names_of, labels_of, combo):  # noqa: B905 - no repeat
            params[name] = labels[i]
        if seeds[0] is None:
            points.append(DomainPoint(combo, overrides, params, entry))
            continue
        for r, seed in enumerate(seeds):
            assert seed is not None
            points.append(
                DomainPoint(
                    (*combo, r),
                    (*overrides, seed_overrides[r]),
                    {**params, REPEAT: r, seed_name: seed},
                    entry,
                    (seed_name, seed),
                )
            )
    return points
