"""The grid: Hydra overrides → the ordered points of a plain sweep.

Overrides are parsed with Hydra's own ``OverridesParser`` and expanded exactly as Hydra's
``BasicSweeper`` expands them: the config's ``hydra.sweeper.params`` first, then the
command line; a command-line override of a key already in the params replaces its values
but keeps its place; the points are the Cartesian product in that order, the last key
varying fastest. Every swept key becomes a dimension named verbatim (``optimizer.lr``,
``model``; a leading ``+``/``++`` is not part of the name).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from snakesweep.errors import OverrideError, first_line

if TYPE_CHECKING:
    from hydra.core.override_parser.types import Override

# Hydra (~0.2 s to import) is imported where an override is parsed: a plan read from its
# file, and a run's process, need none of it.

__all__ = [
    "NON_ASCII",
    "Coordinate",
    "Dimension",
    "Grid",
    "Point",
    "coordinate_of",
    "dimension_name",
    "expand_domain",
    "parse_override",
    "quote_non_ascii",
    "render_value",
    "sweeper_params_overrides",
    "unfit_labels",
]

Coordinate = str | int | float | bool


@dataclass(frozen=True)
class Dimension:
    """One swept key: its name, the values it takes in order, and their override strings."""

    name: str
    values: tuple[Coordinate, ...]
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Point:
    """One combination of the domain: the overrides a job gets, and the swept values."""

    index: tuple[int, ...]
    overrides: tuple[str, ...]
    params: dict[str, Coordinate]


@dataclass(frozen=True)
class Grid:
    """The ordered product of every key's choices (swept or fixed)."""

    choices: tuple[tuple[str, ...], ...]
    """Per key, in BasicSweeper's order: the override strings it may contribute."""
    dims: tuple[Dimension, ...]
    """The swept keys, in the same order."""
    swept: tuple[bool, ...]
    """Per key in ``choices``: whether it is a dimension."""
    hydra_overrides: tuple[str, ...]
    """Overrides of Hydra's own node (``hydra.*``): used to compose, never part of a point."""

    def __len__(self) -> int:
        n = 1
        for c in self.choices:
            n *= len(c)
        return n

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(d.values) for d in self.dims)

    def points(self) -> Iterator[Point]:
        """Yield the points in BasicSweeper's order (last key fastest)."""
        ranges = [range(len(c)) for c in self.choices]
        for combo in itertools.product(*ranges):
            overrides = tuple(c[i] for c, i in zip(self.choices, combo, strict=True))
            index = tuple(i for i, s in zip(combo, self.swept, strict=True) if s)
            params = {d.name: d.values[i] for d, i in zip(self.dims, index, strict=True)}
            yield Point(index=index, overrides=overrides, params=params)


def sweeper_params_overrides(params: Mapping[str, Any] | None) -> list[str]:
    """Turn a config's ``hydra.sweeper.params`` into override strings, as BasicSweeper does."""
    return [f"{k}={v}" for k, v in (params or {}).items()]


def parse_override(text: str, config_loader: Any = None, *, advise: bool = True) -> Override:
    """Parse one override with Hydra's grammar; a rejected one raises ``OverrideError``
    (with ``advise``, saying where quotes go when it holds non-ASCII text)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create(config_loader=config_loader)
    try:
        override = parser.parse_overrides([text])[0]
    except HydraException as exc:
        raise OverrideError(
            text, first_line(exc) + (_non_ascii_advice(text) if advise else "")
        ) from None
    if not override.key_or_group:  # `=3`: Hydra's grammar lets it through to the defaults
        raise OverrideError(text, "no key: write key=value")
    return override


NON_ASCII = "Hydra's grammar takes non-ASCII text only in quoted values"


def _non_ascii_advice(text: str) -> str:
    """For a command-line override with non-ASCII text that Hydra's grammar refused: the
    override as it would be taken (``name=größe`` → ``name='größe'``); "" for ASCII text."""
    if text.isascii():
        return ""
    key, _, value = text.partition("=")
    if not key.isascii():
        return f"; {NON_ASCII}, never in keys"
    quoted = quote_non_ascii(value)
    if quoted:
        return f"; {NON_ASCII}: {key}={quoted}"
    return f"; {NON_ASCII} ({key}='größe'), never in keys (nor in a mapping value's keys)"


def quote_non_ascii(value: str) -> str | None:
    """An override's value with each comma-separated word that holds non-ASCII text quoted,
    as Hydra's grammar takes it (``café,x`` → ``'café',x``); None when it is more than a list
    of words (quotes, brackets, a function) or holds no such word."""
    if not value.strip() or value.isascii() or any(c in value for c in "'\"[]{}()\\$="):
        return None
    return ",".join(
        part if part.isascii() else render_value(part.strip()) for part in value.split(",")
    )


def expand_domain(
    overrides: Sequence[str],
    sweeper_params: Mapping[str, Any] | None = None,
    config_loader: Any = None,
    base: Sequence[str] = (),
) -> Grid:
    """Expand ``hydra.sweeper.params`` plus command-line ``overrides`` into a Grid.

    ``config_loader`` (Hydra's) is needed only for ``glob()`` over a config group. ``base``
    overrides (a loaded run's config, see ``snakesweep.planning.from_run``) come first in
    every point, so the domain and the command line override them.
    """
    texts = list(base) + sweeper_params_overrides(sweeper_params) + list(overrides)
    keyed, hydra_overrides = _keyed_choices(texts, config_loader)
    return Grid(
        choices=tuple(c for c, _, _ in keyed.values()),
        dims=_dimensions(keyed),
        swept=tuple(v is not None for _, v, _ in keyed.values()),
        hydra_overrides=tuple(hydra_overrides),
    )


_Keyed = dict[str, tuple[tuple[str, ...], tuple[Coordinate, ...] | None, str]]
"""Per key: the override strings it may contribute, its values when it is swept (None when
it is fixed), and the override text that set it."""


def _keyed_choices(texts: Sequence[str], config_loader: Any) -> tuple[_Keyed, list[str]]:
    """Each key's choices (a later override of a key replaces its choices but keeps its
    place, as BasicSweeper does), and the overrides of Hydra's own node."""
    keyed: _Keyed = {}
    hydra_overrides: list[str] = []
    for text in texts:
        ov = parse_override(text, config_loader)
        if ov.is_hydra_override():
            if ov.is_sweep_override():
                raise OverrideError(text, "sweeping over Hydra's own config is not supported")
            hydra_overrides.append(text)
            continue
        key = ov.get_key_element()
        if ov.is_sweep_override():
            keyed[key] = (*_swept_values(ov, key, text), text)
        else:
            keyed[key] = ((f"{key}={ov.get_value_element_as_str()}",), None, text)
    return keyed, hydra_overrides


def _swept_values(
    ov: Override, key: str, text: str
) -> tuple[tuple[str, ...], tuple[Coordinate, ...]]:
    """A sweep override's overrides (one per value) and its values, in its order; a sweep
    that is no grid's (``interval()``, ``shuffle()``, no values) raises ``OverrideError``."""
    from hydra.errors import HydraException

    if not ov.is_discrete_sweep():
        raise OverrideError(
            text,
            "interval() draws random values; a grid sweep needs a list, range() or glob() "
            "(draws belong in snakesweep.domain, with snakesweep.samples)",
        )
    if getattr(ov._value, "shuffle", False):
        raise OverrideError(
            text, "shuffle() gives a random order; list the values or use sort() instead"
        )
    try:
        strings = tuple(f"{key}={s}" for s in ov.sweep_string_iterator())
        values = tuple(
            coordinate_of(v, s)
            for v, s in zip(ov.sweep_iterator(), ov.sweep_string_iterator(), strict=True)
        )
    except HydraException as exc:
        raise OverrideError(text, first_line(exc)) from None
    if not strings:
        raise OverrideError(text, "the sweep has no values")
    return strings, values


def _dimensions(keyed: _Keyed) -> tuple[Dimension, ...]:
    """The swept keys as dimensions, in order; ``OverrideError`` when two keys give one
    dimension (``+lr`` and ``lr``)."""
    dims = tuple(
        Dimension(name=dimension_name(key), values=values, overrides=strings)
        for key, (strings, values, _) in keyed.items()
        if values is not None
    )
    names = [d.name for d in dims]
    for name in names:
        if names.count(name) > 1:
            culprits = [t for k, (_, v, t) in keyed.items() if v and dimension_name(k) == name]
            raise OverrideError(culprits[-1], f"key {name!r} is swept twice")
    return dims


def dimension_name(key: str) -> str:
    """The dimension a swept key becomes: the key without its ``+``/``++``/``~``."""
    return key.lstrip("+~")


def coordinate_of(value: Any, text: str) -> Coordinate:
    """A coordinate label for one swept value: the scalar itself, else its override text."""
    from hydra.core.override_parser.types import QuotedString

    if isinstance(value, QuotedString):
        return value.text
    if isinstance(value, (str, int, float, bool)):
        return value
    return text


def unfit_labels(values: Sequence[Coordinate | None]) -> str | None:
    """Why one key's values (None where a point lacks it) cannot all be coordinates of
    ``sweep.nc`` exactly, or None. Numbers are stored as numbers (text when they mix with
    text): integers as 64-bit integers, or as floats when a float is among them or a point
    lacks the key, so an integer past 2**63 (or, as a float, one past 2**53 that has no
    float of its own) would be stored as another value, or break the merge."""
    given = [v for v in values if v is not None]
    if not given or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given):
        return None
    ints = [v for v in given if isinstance(v, int)]
    for v in ints:
        if not -(2**63) <= v < 2**63:
            return (
                f"{v} lies outside the 64-bit integers a coordinate of sweep.nc holds "
                f"(-2**63 to 2**63-1)"
            )
    if len(given) < len(values) or len(ints) < len(given):
        for v in ints:
            if int(float(v)) != v:
                return (
                    f"{v} has no exact float, and the key's coordinate in sweep.nc is "
                    "float (some of its values are floats, or some points lack it)"
                )
    return None


def render_value(value: Any, *, interpolate: bool = True) -> str:
    """A plain value in Hydra's override grammar (``TypeError`` for anything else).

    Strings are quoted; a backslash is doubled only before a quote and at the end, as
    Hydra reads them. ``interpolate=False`` escapes ``${`` so that the text stays text.
    """
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
    if isinstance(value, str):
        escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
        escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
        return "'" + (escaped if interpolate else escaped.replace("${", "\\${")) + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(render_value(v, interpolate=interpolate) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "{"
            + ",".join(f"{k}:{render_value(v, interpolate=interpolate)}" for k, v in value.items())
            + "}"
        )
    raise TypeError(f"a {type(value).__name__} is not a config value")
