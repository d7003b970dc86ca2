"""The domain: what a sweep ranges over, as a tree of keys and operators.

Written in the config under ``snakesweep.domain`` (or built in Python with ``Domain``):

- a mapping of keys to values is the product over its keys, in the listed order (the last
  key varies fastest, as in Hydra's BasicSweeper);
- values are a YAML list, or a string that Hydra's own parser reads as a sweep
  (``"range(0,5)"``, ``"1,2,3"``, ``"choice(a,b)"``, group names) or as a random draw
  (``"interval(0,1)"``, ``"tag(log, interval(1e-4, 1e-1))"``, ``"int(interval(1, 100))"``);
- ``product: [part, ...]``, ``zip: {key: values, ...}`` or ``zip: [part, ...]``
  (element-wise, equal lengths), ``concat: [part, ...]`` (one after another) and
  ``mix: [{weight: w, domain: part}, ...]`` (draws from the parts, in proportion to the
  weights).

Beside it, ``snakesweep.samples`` (draws per combination of the discrete part, when there
is anything random), ``snakesweep.seed`` (the root of all randomness, see ``draws``),
``snakesweep.repeats`` and ``snakesweep.seed_key`` (each point R times, repetition r with
the seed r derives, written to that key).

The expansion is also the layout of the sweep's Dataset: each factor of the top product is
a dimension (a key's own; a zip's, named after its first key, its other keys coordinates
along it; a concat's, named ``point``); everything random is one more dimension,
``sample`` (``point`` when a mix is among it), with the drawn keys as coordinates along
every dimension; repeats are a ``repeat`` dimension with the seed as its coordinate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snakesweep.core import draws
from snakesweep.core.draws import Draw
from snakesweep.core.grid import (
    Coordinate,
    Dimension,
    coordinate_of,
    dimension_name,
    parse_override,
    quote_non_ascii,
    render_value,
)
from snakesweep.core.options import Options
from snakesweep.errors import ConfigError, OverrideError

__all__ = ["Domain", "DomainError", "DomainPoint", "Expansion", "OPERATORS", "Settings"]

OPERATORS = ("product", "zip", "concat", "mix")
REPEAT = "repeat"
ROUND = "round"
POINT = "point"
SAMPLE = "sample"


class DomainError(ConfigError):
    """A domain that cannot be expanded; names the key, operator or option at fault."""

    def __init__(self, culprit: str, reason: str) -> None:
        super().__init__(culprit if culprit.startswith("snakesweep.") else
                         f"snakesweep.domain: {culprit}", reason)


# -- the tree ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Value:
    text: str
    """The override that sets it: ``key=value`` in Hydra's grammar."""
    coordinate: Coordinate
    value: Any


@dataclass(frozen=True)
class _Key:
    key: str
    """As written (``optimizer.lr``, ``+extra``)."""
    source: Any = field(compare=False)
    """As written, for ``to_yaml``."""
    values: tuple[_Value, ...] = ()
    draw: Draw | None = None

    @property
    def name(self) -> str:
        return dimension_name(self.key)


@dataclass(frozen=True)
class _Op:
    kind: str
    parts: tuple[Node, ...]
    weights: tuple[float, ...] = ()


Node = _Key | _Op


def _leaves(node: Node) -> Iterator[_Key]:
    """Every key node of a tree, in order."""
    if isinstance(node, _Key):
        yield node
    else:
        for part in node.parts:
            yield from _leaves(part)


def _keys_of(node: Node) -> list[str]:
    """Every key a node sets, in order, once each."""
    return list(dict.fromkeys(k.name for k in _leaves(node)))


def _draws_of(node: Node) -> list[_Key]:
    return [k for k in _leaves(node) if k.draw is not None]


def _has_mix(node: Node) -> bool:
    return isinstance(node, _Op) and (node.kind == "mix" or any(_has_mix(p) for p in node.parts))


def _is_random(node: Node) -> bool:
    return bool(_draws_of(node)) or _has_mix(node)


def _op(kind: str, parts: Sequence[Node], weights: Sequence[float] = ()) -> Node:
    """An operator node, nested products (and concats) flattened into one."""
    flat: list[Node] = []
    for part in parts:
        if kind in ("product", "concat") and isinstance(part, _Op) and part.kind == kind:
            flat.extend(part.parts)
        else:
            flat.append(part)
    if kind == "product":
        seen: dict[str, int] = {}
        for i, part in enumerate(flat):
            for key in _keys_of(part):
                if key in seen:
                    raise DomainError(f"key {key!r}", "is in two factors of a product; a key "
                                      "may vary along one dimension only")
                seen[key] = i
        if len(flat) == 1:
            return flat[0]
    if kind == "mix":
        _check_weights(weights)
    return _Op(kind, tuple(flat), tuple(float(w) for w in weights))


def _check_weights(weights: Sequence[float]) -> None:
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise DomainError("mix", f"weight of part {i + 1} is {w!r}, not a finite number")
        if w < 0:
            raise DomainError("mix", f"weight of part {i + 1} is negative ({w})")
    if not sum(weights) > 0:
        raise DomainError("mix", f"weights {list(weights)} sum to zero")


# -- from YAML ---------------------------------------------------------------------------------

def _key(key: Any, source: Any, loader: Any = None) -> _Key:
    """One key and its values, read as Hydra reads an override (``loader``, Hydra's config
    loader, for ``glob()`` over a config group)."""
    from hydra.errors import HydraException

    from snakesweep.errors import first_line

    if not isinstance(key, str) or not key.strip("+~"):
        raise DomainError(f"key {key!r}", "keys are config keys (strings such as 'optimizer.lr')")
    if isinstance(source, Mapping):
        raise DomainError(f"key {key!r}", f"takes a list or a string of Hydra's sweep grammar; "
                          f"{key!r} is not an operator ({', '.join(OPERATORS)})")
    if isinstance(source, str):
        text = f"{key}={source}"
        try:
            ov = parse_override(text, loader, advise=False)
        except OverrideError as exc:
            raise DomainError(f"key {key!r}", f"{source!r}: {exc.reason}"
                              f"{_non_ascii_advice(key, source)}") from None
        if ov.is_hydra_override():
            raise DomainError(f"key {key!r}", "Hydra's own config is not swept")
        if not ov.is_sweep_override():
            return _Key(key, source, (_Value(f"{key}={ov.get_value_element_as_str()}",
                                             coordinate_of(ov.value(), source), ov.value()),))
        if ov.is_interval_sweep():
            try:
                return _Key(key, source, draw=Draw.of(ov.value()))
            except ValueError as exc:
                raise DomainError(f"key {key!r}", f"{source!r}: {exc}") from None
        if getattr(ov._value, "shuffle", False):
            raise DomainError(f"key {key!r}", f"{source!r}: shuffle() gives a random order; "
                              "list the values or draw them with interval()")
        if loader is None and "glob" in type(ov._value).__name__.lower():
            raise DomainError(f"key {key!r}", f"{source!r}: glob() lists a config group's "
                              "options, so it needs the config tree: write it in the "
                              "config's snakesweep.domain")
        try:
            values = tuple(_Value(f"{key}={s}", coordinate_of(v, s), _plain_value(v))
                           for v, s in zip(ov.sweep_iterator(), ov.sweep_string_iterator(),
                                           strict=True))
        except HydraException as exc:
            raise DomainError(f"key {key!r}", f"{source!r}: {first_line(exc)}") from None
    else:
        listed = source if isinstance(source, (list, tuple)) else [source]
        texts = [_render(v, key) for v in listed]
        values = tuple(_Value(f"{key}={t}", coordinate_of(v, t), v)
                       for v, t in zip(listed, texts, strict=True))
    if not values:
        raise DomainError(f"key {key!r}", "has no values")
    return _Key(key, source, values)


def _plain_value(value: Any) -> Any:
    from hydra.core.override_parser.types import QuotedString

    return value.text if isinstance(value, QuotedString) else value


def _render(value: Any, key: str) -> str:
    """A YAML value as a value of Hydra's override grammar, checked by parsing it back.

    An ASCII name (``mlp``, ``adam_w``) stays unquoted, as a group option is written on
    the command line; other strings are quoted (Hydra's grammar takes non-ASCII text, such
    as ``café``, only in quotes; the value is the text without them).
    """
    if isinstance(value, str) and value.isascii() and value.isidentifier() and \
            value.lower() not in ("true", "false", "null", "nan", "inf"):
        text = value
    else:
        try:
            text = render_value(value)
        except TypeError as exc:
            raise DomainError(f"key {key!r}", f"value {value!r}: {exc}") from None
    if isinstance(value, (bool, int, float)) or value is None:
        return text
    try:
        parsed = parse_override(f"{key}={text}", advise=False).value()
    except OverrideError as exc:
        culprit = _non_ascii_key(value)
        advice = "" if culprit is None else (
            f"; Hydra's grammar takes no non-ASCII text in a mapping's keys: rename {culprit!r}")
        raise DomainError(f"key {key!r}", f"value {value!r}: {exc.reason}{advice}") from None
    if parsed != value:
        raise DomainError(f"key {key!r}", f"value {value!r} cannot be written as an override")
    return text


def _non_ascii_advice(key: str, source: str) -> str:
    """For a value in Hydra's grammar with non-ASCII text that it refused: the same, as the
    domain takes it (``s: "café,x"`` → ``s: "'café',x"``, or a YAML list)."""
    if source.isascii():
        return ""
    quoted = quote_non_ascii(source)
    if quoted is None:
        return ("; Hydra's grammar takes non-ASCII text only in quoted values, never in keys; "
                "or list the values in YAML, which needs no quotes")
    listed = ", ".join(part.strip() for part in source.split(","))
    return (f"; Hydra's grammar takes non-ASCII text only in quoted values ({key}: "
            f"\"{quoted}\"), never in keys; or list the values in YAML ({key}: [{listed}])")


def _non_ascii_key(value: Any) -> str | None:
    """The first non-ASCII key of a mapping in ``value`` (Hydra's grammar cannot write it)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not str(k).isascii():
                return str(k)
            found = _non_ascii_key(v)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for v in value:
            found = _non_ascii_key(v)
            if found is not None:
                return found
    return None


def _parse(node: Any, where: str = "snakesweep.domain", loader: Any = None) -> Node:
    """A domain node of the config's grammar."""
    if isinstance(node, Mapping):
        if len(node) == 1:
            (op, body), = node.items()
            if op in OPERATORS:
                return _parse_op(str(op), body, f"{where}.{op}", loader)
            if _looks_like_parts(body):
                raise DomainError(f"{where}.{op}", f"{op!r} is not an operator (known: "
                                  f"{', '.join(OPERATORS)}); to sweep a key over mappings, "
                                  "write its values in Hydra's grammar")
        if not node:
            raise DomainError(where, "is empty: give keys and their values")
        return _op("product", [_key(k, v, loader) for k, v in node.items()])
    raise DomainError(where, f"expected a mapping of keys to values or one of "
                      f"{', '.join(OPERATORS)}, got {type(node).__name__} {node!r}")


def _looks_like_parts(body: Any) -> bool:
    """Whether a key's values read as domain parts (mappings of keys to lists or operators),
    the sign of a misspelt operator rather than a key swept over mappings."""
    return (isinstance(body, (list, tuple)) and bool(body) and all(
        isinstance(p, Mapping) and p and all(
            isinstance(v, (list, tuple, Mapping)) or k in OPERATORS for k, v in p.items())
        for p in body))


def _parse_op(op: str, body: Any, where: str, loader: Any) -> Node:
    if op == "zip" and isinstance(body, Mapping) and body:
        return _zip([_key(k, v, loader) for k, v in body.items()])
    if op == "mix":
        if not isinstance(body, (list, tuple)) or not body:
            raise DomainError(where, "takes a list of {weight: w, domain: part}")
        weights, parts = [], []
        for i, item in enumerate(body):
            if not isinstance(item, Mapping) or set(item) != {"weight", "domain"}:
                raise DomainError(f"{where}[{i}]", f"expected {{weight: w, domain: part}}, "
                                  f"got {item!r}")
            weights.append(item["weight"])
            parts.append(_parse(item["domain"], f"{where}[{i}].domain", loader))
        return _op("mix", parts, weights)
    if not isinstance(body, (list, tuple)) or not body:
        raise DomainError(where, "takes a list of parts" + (
            " (or, for zip, a mapping of keys to values)" if op == "zip" else ""))
    parts = [_parse(p, f"{where}[{i}]", loader) for i, p in enumerate(body)]
    return _zip(parts) if op == "zip" else _op(op, parts)


def _zip(parts: Sequence[Node]) -> Node:
    seen: list[str] = []
    for part in parts:
        for key in _keys_of(part):
            if key in seen:
                raise DomainError(f"key {key!r}", "is zipped with itself")
            seen.append(key)
    return _op("zip", parts)


# -- to YAML -----------------------------------------------------------------------------------

def _to_yaml(node: Node) -> Any:
    if isinstance(node, _Key):
        return {node.key: _source(node)}
    if node.kind == "mix":
        return {"mix": [{"weight": w, "domain": _to_yaml(p)}
                        for w, p in zip(node.weights, node.parts, strict=True)]}
    if node.kind in ("product", "zip") and all(isinstance(p, _Key) for p in node.parts):
        keyed = {p.key: _source(p) for p in node.parts if isinstance(p, _Key)}
        return keyed if node.kind == "product" else {"zip": keyed}
    parts: list[Any] = []
    for part in node.parts:  # a product's consecutive keys as one mapping
        if (node.kind == "product" and isinstance(part, _Key) and parts
                and isinstance(parts[-1], dict) and not set(parts[-1]) & set(OPERATORS)):
            parts[-1][part.key] = _source(part)
        else:
            parts.append(_to_yaml(part))
    return {node.kind: parts}


def _source(key: _Key) -> Any:
    source = key.source
    return list(source) if isinstance(source, tuple) else source


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
    entry: dict[str, _Value] = field(repr=False)
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


Entry = dict[str, _Value]


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
        if isinstance(node, _Key):
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
                sizes = ", ".join(f"{'+'.join(_keys_of(p))} has {len(f)}"
                                  for p, f in zip(node.parts, flats, strict=True))
                raise DomainError("zip", f"lengths differ: {sizes}")
            return [_merge(es) for es in zip(*flats, strict=True)]
        if node.kind == "concat":
            return [e for i, p in enumerate(node.parts)
                    for e in self.flatten(p, _child(path, node, i))]
        return self.draw(node, path, self.samples)

    # n random points of a node (what a mix or a product's random part draws)
    def draw(self, node: Node, path: str, n: int) -> list[Entry]:
        if isinstance(node, _Key):
            rng = self.rng(f"{path}:{node.name}")
            if node.draw is None:
                picks = rng.integers(0, len(node.values), n)
                return [{node.name: node.values[i]} for i in picks]
            values = node.draw.sample(rng, n)
            return [{node.name: _Value(f"{node.key}={v!r}", v, v)} for v in values]
        if node.kind == "product":
            columns = [self.draw(p, _child(path, node, i), n) for i, p in enumerate(node.parts)]
            return [_merge(es) for es in zip(*columns, strict=True)]
        if node.kind == "mix":
            import numpy as np

            weights = np.array(node.weights) / sum(node.weights)
            picks = self.rng(f"{path}|mix").choice(len(node.parts), size=n, p=weights)
            drawn = {int(i): iter(self.draw(node.parts[i], _child(path, node, int(i)),
                                            int((picks == i).sum())))
                     for i in np.unique(picks)}
            return [next(drawn[int(i)]) for i in picks]
        flat = self.flatten(node, path)
        return [flat[i] for i in self.rng(f"{path}|pick").integers(0, len(flat), n)]

    def factors(self, node: Node, path: str) -> tuple[list[_Factor], list[tuple[Node, str]]]:
        """A product's discrete factors (each a dimension) and its random parts."""
        parts = node.parts if isinstance(node, _Op) and node.kind == "product" else (node,)
        paths = ([_child(path, node, i) for i in range(len(parts))]
                 if isinstance(node, _Op) and node.kind == "product" else [path])
        factors: list[_Factor] = []
        randoms: list[tuple[Node, str]] = []
        for part, where in zip(parts, paths, strict=True):
            if isinstance(part, _Key) and part.draw is None:
                factors.append(_Factor(part.name, [v.coordinate for v in part.values], [],
                                       [{part.name: v} for v in part.values]))
            elif isinstance(part, _Key) or part.kind == "mix" or (
                    part.kind == "product" and _is_random(part)):
                randoms.append((part, where))
            else:
                entries = self.flatten(part, where)
                keys = _keys_of(part)
                if part.kind == "zip" and all(keys[0] in e for e in entries):
                    first = keys[0]  # a zip of keys: along its first key
                    factors.append(_Factor(first, [e[first].coordinate for e in entries],
                                           keys[1:], entries))
                else:  # a concat, or a zip whose first part is one
                    factors.append(_Factor(POINT, list(range(len(entries))), keys, entries))
        return factors, randoms

    def cells(self, factors: list[_Factor], randoms: list[tuple[Node, str]], path: str
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


def _child(path: str, parent: _Op, i: int) -> str:
    """Where a part's streams are: a product's parts by their (unique) first key, so that
    adding a key leaves the others' streams alone; the parts of the others by position."""
    part = parent.parts[i]
    if parent.kind == "product":
        return path if isinstance(part, _Key) else f"{path}/{part.kind}:{_keys_of(part)[0]}"
    return f"{path}/{parent.kind}{i}"


def _merge(entries: Any) -> Entry:
    merged: Entry = {}
    for e in entries:
        merged.update(e)
    return merged


def expand(node: Node, settings: Settings, round_: int = 0,
           prefix: Sequence[str] = ()) -> Expansion:
    """Every point of a domain tree and its layout (see the module's docstring).

    ``prefix``: overrides every point starts with (the command line's fixed values).
    """
    randoms = _draws_of(node)
    if settings.samples is None and _is_random(node):
        culprit = f"key {randoms[0].key!r}" if randoms else "mix"
        what = (f"{randoms[0].source!r} draws random values" if randoms
                else "a mix draws its points")
        raise DomainError(culprit, f"{what}: set snakesweep.samples (draws per point of the "
                          "rest of the domain)")
    if settings.repeats is not None and dimension_name(settings.seed_key) in _keys_of(node):
        raise DomainError("snakesweep.seed_key", f"{settings.seed_key!r} is also a key of the "
                          "domain: repeats write their seed to it")
    if settings.repeats is not None and REPEAT in _keys_of(node):
        raise DomainError(f"key {REPEAT!r}", "is also the dimension of repeats: rename the key "
                          "or leave snakesweep.repeats out")
    ex = _Expander(settings, round_)
    factors, random_parts = ex.factors(node, "")
    names: list[str] = []
    for f in factors:  # a second `point` (two concats in one product) is `point_2`
        base, k = f.name, 2
        while f.name in names:
            f.name, k = f"{base}_{k}", k + 1
        names.append(f.name)
    synthetic = {f.name for f in factors if f.name.startswith(POINT) and f.name not in
                 _keys_of(node)}
    dims = [Dimension(f.name, tuple(f.labels), ()) for f in factors]
    coords: dict[str, tuple[str, ...]] = {}
    for f in factors:
        for key in f.keys:
            coords[key] = (f.name,)
    if random_parts:
        name = POINT if any(isinstance(p, _Op) for p, _ in random_parts) else SAMPLE
        while name in names:
            name += "_2"
        synthetic.add(name)
        dims.append(Dimension(name, tuple(range(ex.samples)), ()))
        along = tuple(d.name for d in dims)
        for part, _ in random_parts:
            for key in _keys_of(part):
                coords[key] = along
    elif settings.samples is not None and not _is_random(node):
        raise DomainError("snakesweep.samples", "the domain draws nothing (no interval() and "
                          "no mix): leave samples out")
    seeds: list[int | None] = [None]
    if settings.repeats is not None:
        seeds = list(draws.repeat_seeds(settings.seed, settings.repeats))
        dims.append(Dimension(REPEAT, tuple(range(settings.repeats)), ()))
        coords[dimension_name(settings.seed_key)] = (REPEAT,)
    points = []
    prefix = tuple(prefix)
    seed_key = settings.seed_key
    seed_name = dimension_name(seed_key)
    names_of = [d.name for d in dims]
    labels_of = [d.values for d in dims]
    seed_overrides = [f"++{seed_key.lstrip('+')}={seed}" for seed in seeds if seed is not None]
    for combo, entry in ex.cells(factors, random_parts, ""):
        overrides = prefix + tuple(v.text for v in entry.values())
        params = {k: v.coordinate for k, v in entry.items()}
        for name, labels, i in zip(names_of, labels_of, combo):  # noqa: B905 - no repeat
            params[name] = labels[i]
        if seeds[0] is None:
            points.append(DomainPoint(combo, overrides, params, entry))
            continue
        for r, seed in enumerate(seeds):
            assert seed is not None
            points.append(DomainPoint((*combo, r), (*overrides, seed_overrides[r]),
                                      {**params, REPEAT: r, seed_name: seed}, entry,
                                      (seed_name, seed)))
    return Expansion(tuple(dims), coords, points, frozenset(synthetic))


# -- the Python face -------------------------------------------------------------------------

class Domain:
    """A sweep's domain in Python: ``Domain({"a": [1, 2]}) * Domain({"b": "3,4"})``.

    ``*`` product, ``@`` zip, ``+`` concat, ``w * d`` weighs ``d`` for a mixture
    (``0.3 * d1 + 0.7 * d2``; consecutive weighted terms of a sum form one mix).
    ``repeat(R)`` and ``sample(N, seed=…)`` set the expansion's settings; ``len`` and
    ``iter`` give its points (ordered dicts of key → value). ``Domain.from_yaml(node)``
    reads the config's grammar; ``to_yaml()`` gives what goes under ``snakesweep:``, and
    ``Domain.from_yaml(**d.to_yaml())`` is ``d`` again.
    """

    __slots__ = ("_node", "_settings", "_terms", "_weight")

    def __init__(self, keys: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        items = {**(keys or {}), **more}
        if not items:
            raise DomainError("Domain()", "is empty: give keys and their values")
        self._node: Node = _op("product", [_key(k, v) for k, v in items.items()])
        self._settings = Settings()
        self._terms: tuple[tuple[float | None, Node], ...] = ((None, self._node),)
        self._weight: float | None = None

    @classmethod
    def _of(cls, node: Node, settings: Settings = Settings(),
            terms: tuple[tuple[float | None, Node], ...] | None = None) -> Domain:
        d = cls.__new__(cls)
        d._node, d._settings, d._weight = node, settings, None
        d._terms = terms if terms is not None else ((None, node),)
        return d

    # -- settings
    def repeat(self, repeats: int, seed_key: str | None = None) -> Domain:
        """Each point ``repeats`` times, repetition r with its derived seed at ``seed_key``."""
        options = {"repeats": repeats, **({"seed_key": seed_key} if seed_key else {})}
        return Domain._of(self._node, settings_of(options, self._settings), self._terms)

    def sample(self, samples: int, seed: int | None = None) -> Domain:
        """``samples`` draws per combination of the discrete part, from root ``seed``."""
        options = {"samples": samples, **({"seed": seed} if seed is not None else {})}
        return Domain._of(self._node, settings_of(options, self._settings), self._terms)

    @property
    def settings(self) -> Settings:
        return self._settings

    # -- operators
    def _operand(self, other: Any, op: str) -> Domain:
        if isinstance(other, Mapping):
            other = Domain(other)
        if not isinstance(other, Domain):
            raise TypeError(f"unsupported operand for {op}: Domain and {type(other).__name__}")
        for d in (self, other):
            if d._settings != Settings():
                raise DomainError(f"snakesweep.Domain {op}", "repeat() and sample() apply to "
                                  "the whole domain: call them after combining")
        return other

    def __mul__(self, other: Any) -> Domain:
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return self._weighted(float(other))
        other = self._operand(other, "*")
        return Domain._of(_op("product", [self._node, other._node]))

    def __rmul__(self, other: Any) -> Domain:
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return self._weighted(float(other))
        return self._operand(other, "*").__mul__(self)

    def _weighted(self, weight: float) -> Domain:
        if not weight >= 0 or not math.isfinite(weight):
            _check_weights([weight])
        d = Domain._of(self._node)
        d._weight = weight
        d._terms = ((weight, self._node),)
        return d

    def __matmul__(self, other: Any) -> Domain:
        other = self._operand(other, "@")
        return Domain._of(_zip([self._node, other._node]))

    def __add__(self, other: Any) -> Domain:
        other = self._operand(other, "+")
        terms = (*self._terms, *other._terms)
        groups: list[Node] = []
        mix: list[tuple[float, Node]] = []
        for weight, node in (*terms, (None, None)):
            if weight is not None:
                mix.append((weight, node))  # type: ignore[arg-type]
                continue
            if mix:
                groups.append(_op("mix", [n for _, n in mix], [w for w, _ in mix]))
                mix = []
            if node is not None:
                groups.append(node)
        node = groups[0] if len(groups) == 1 else _op("concat", groups)
        return Domain._of(node, terms=terms)

    # -- points
    def expand(self, prefix: Sequence[str] = (), round_: int = 0) -> Expansion:
        """The points and the Dataset layout (see the module's docstring)."""
        return expand(self._node, self._settings, round_, prefix)

    def __len__(self) -> int:
        return len(self.expand().points)

    def __radd__(self, other: Any) -> Domain:
        if other == 0:  # sum([d1, d2, ...])
            return self
        return self._operand(other, "+").__add__(self)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (dict(p.values) for p in self.expand().points)

    def keys(self) -> list[str]:
        """Every key the domain sets, in order (the seed key too, with repeats)."""
        keys = _keys_of(self._node)
        if self._settings.repeats is not None:
            keys.append(dimension_name(self._settings.seed_key))
        return keys

    def key_specs(self) -> list[tuple[str, bool]]:
        """Each key as written (``+extra``) and whether it is drawn at random."""
        return [(k.key, k.draw is not None) for k in _leaves(self._node)]

    @property
    def is_random(self) -> bool:
        """Whether it draws anything (an ``interval()`` key or a mix)."""
        return _is_random(self._node)

    # -- YAML
    @classmethod
    def from_yaml(cls, domain: Any, **settings: Any) -> Domain:
        """A domain written in the config's grammar, with ``samples``, ``seed``,
        ``repeats`` and ``seed_key`` as ``snakesweep.*`` gives them."""
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise DomainError("snakesweep", f"unknown domain setting(s) {sorted(unknown)}; "
                              f"known: {', '.join(SETTINGS)}")
        return cls._of(_parse(domain), settings_of(settings))

    def to_yaml(self) -> dict[str, Any]:
        """The ``snakesweep:`` options that give this domain: ``domain`` and its settings."""
        return {"domain": _to_yaml(self._node), **self._settings.to_yaml()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Domain):
            return NotImplemented
        return (self._node, self._settings) == (other._node, other._settings)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Domain.from_yaml(**{self.to_yaml()!r})"


def with_grid(domain: Domain, dims: Sequence[Dimension]) -> Domain:
    """The domain times the command line's swept keys (their BasicSweeper values), last."""
    if not dims:
        return domain
    keys = [_Key(d.name, list(d.values), tuple(
        _Value(o, v, v) for o, v in zip(d.overrides, d.values, strict=True))) for d in dims]
    return Domain._of(_op("product", [domain._node, *keys]), domain._settings)


def load_domain(spec: Any, options: Options,
                load: Callable[[str, str], Callable[..., Any]], loader: Any = None) -> Domain:
    """``snakesweep.domain`` as a Domain: the grammar, or ``"pkg.module:function"`` naming a
    function of no arguments that returns one. The config's settings apply over the
    Domain's own. ``loader``: Hydra's config loader, for ``glob()`` over a config group."""
    if isinstance(spec, str):
        made = call_entry(load(spec, "snakesweep.domain"), spec, "snakesweep.domain")
        if not isinstance(made, Domain):
            raise DomainError("snakesweep.domain", f"{spec!r} returned a "
                              f"{type(made).__name__}, not a snakesweep.Domain")
        return Domain._of(made._node, settings_of(options, made._settings))
    return Domain._of(_parse(spec, loader=loader), settings_of(options))


def call_entry(fn: Callable[..., Any], spec: str, key: str, *args: Any) -> Any:
    """Call a function the config names; what it raises becomes one line naming ``key``."""
    from snakesweep.errors import SnakesweepError, first_line

    try:
        return fn(*args)
    except SnakesweepError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code: say where, in one line
        raise DomainError(key, f"{spec!r} raised {type(exc).__name__}: "
                          f"{first_line(exc)}") from None
