"""The domain's tree: key nodes (a key and its values, or its random draw) and operator
nodes (product, zip, concat, mix), as the grammar reads them and the expansion walks them."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from snakesweep.core.draws import Draw
from snakesweep.core.grid import Coordinate, dimension_name
from snakesweep.errors import ConfigError

__all__ = [
    "OPERATORS",
    "DomainError",
    "Key",
    "Node",
    "Op",
    "Value",
    "check_weights",
    "combine",
    "draws_of",
    "is_random",
    "keys_of",
    "leaves",
    "zipped",
]

OPERATORS = ("product", "zip", "concat", "mix")


class DomainError(ConfigError):
    """A domain that cannot be expanded; names the key, operator or option at fault."""

    def __init__(self, culprit: str, reason: str) -> None:
        super().__init__(
            culprit if culprit.startswith("snakesweep.") else f"snakesweep.domain: {culprit}",
            reason,
        )


@dataclass(frozen=True)
class Value:
    """One value of a key: its override, its label in the Dataset, the value itself."""

    text: str
    """The override that sets it: ``key=value`` in Hydra's grammar."""
    coordinate: Coordinate
    value: Any


@dataclass(frozen=True)
class Key:
    """A key node: a key and its values, or the random draw it takes them from."""

    key: str
    """As written (``optimizer.lr``, ``+extra``)."""
    source: Any = field(compare=False)
    """As written, for ``to_yaml``."""
    values: tuple[Value, ...] = ()
    draw: Draw | None = None

    @property
    def name(self) -> str:
        return dimension_name(self.key)


@dataclass(frozen=True)
class Op:
    """An operator node: ``kind`` (one of ``OPERATORS``) over its parts (weighed, for a mix)."""

    kind: str
    parts: tuple[Node, ...]
    weights: tuple[float, ...] = ()


Node = Key | Op


def leaves(node: Node) -> Iterator[Key]:
    """Every key node of a tree, in order."""
    if isinstance(node, Key):
        yield node
    else:
        for part in node.parts:
            yield from leaves(part)


def keys_of(node: Node) -> list[str]:
    """Every key a node sets, in order, once each."""
    return list(dict.fromkeys(k.name for k in leaves(node)))


def draws_of(node: Node) -> list[Key]:
    """Every key node that draws its values at random, in order."""
    return [k for k in leaves(node) if k.draw is not None]


def _has_mix(node: Node) -> bool:
    return isinstance(node, Op) and (node.kind == "mix" or any(_has_mix(p) for p in node.parts))


def is_random(node: Node) -> bool:
    """Whether a node draws anything (an ``interval()`` key or a mix)."""
    return bool(draws_of(node)) or _has_mix(node)


def combine(kind: str, parts: Sequence[Node], weights: Sequence[float] = ()) -> Node:
    """An operator node, nested products (and concats) flattened into one."""
    flat: list[Node] = []
    for part in parts:
        if kind in ("product", "concat") and isinstance(part, Op) and part.kind == kind:
            flat.extend(part.parts)
        else:
            flat.append(part)
    if kind == "product":
        seen: dict[str, int] = {}
        for i, part in enumerate(flat):
            for key in keys_of(part):
                if key in seen:
                    raise DomainError(
                        f"key {key!r}",
                        "is in two factors of a product; a key may vary along one dimension only",
                    )
                seen[key] = i
        if len(flat) == 1:
            return flat[0]
    if kind == "mix":
        check_weights(weights)
    return Op(kind, tuple(flat), tuple(float(w) for w in weights))


def check_weights(weights: Sequence[float]) -> None:
    """``DomainError`` unless a mix's weights are finite, not negative, and not all zero."""
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise DomainError("mix", f"weight of part {i + 1} is {w!r}, not a finite number")
        if w < 0:
            raise DomainError("mix", f"weight of part {i + 1} is negative ({w})")
    if not sum(weights) > 0:
        raise DomainError("mix", f"weights {list(weights)} sum to zero")


def zipped(parts: Sequence[Node]) -> Node:
    """A zip node of ``parts``; ``DomainError`` for a key that is zipped with itself."""
    seen: list[str] = []
    for part in parts:
        for key in keys_of(part):
            if key in seen:
                raise DomainError(f"key {key!r}", "is zipped with itself")
            seen.append(key)
    return combine("zip", parts)
