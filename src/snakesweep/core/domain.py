"""The domain: what a sweep ranges over, as a tree of keys and operators.

Written in the config under ``snakesweep.domain`` (its grammar: ``domain_grammar``) or built
in Python with ``Domain``; its tree is ``domain_tree``'s, and ``domain_expansion`` turns it
into the points and the layout of the sweep's Dataset.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import yaml

from snakesweep.core.domain_expansion import SETTINGS, Expansion, Settings, expand, settings_of
from snakesweep.core.domain_grammar import parse_domain, parse_key, to_yaml
from snakesweep.core.domain_tree import (
    DomainError,
    Key,
    Node,
    Op,
    Value,
    check_weights,
    combine,
    is_random,
    keys_of,
    leaves,
    zipped,
)
from snakesweep.core.grid import Dimension, dimension_name
from snakesweep.core.options import Options
from snakesweep.errors import SnakesweepError, first_line

__all__ = ["Domain", "call_entry", "load_domain", "with_grid"]

_DEFAULTS = Settings()


class Domain:
    """A sweep's domain in Python: ``Domain({"a": [1, 2]}) * Domain({"b": "3,4"})``.

    ``*`` product, ``@`` zip, ``+`` concat, ``w * d`` weighs ``d`` for a mixture
    (``0.3 * d1 + 0.7 * d2``; consecutive weighted terms of a sum form one mix).
    ``repeat(R)`` and ``sample(N, seed=…)`` set the expansion's settings; ``len`` and
    ``iter`` give its points (ordered dicts of key → value). ``Domain.from_yaml(node)``
    reads the config's grammar; ``to_dict()`` gives what goes under ``snakesweep:`` (the
    ``domain`` and its settings), ``to_yaml()`` the same as YAML text, and
    ``Domain.from_yaml`` reads either back: ``Domain.from_yaml(d.to_yaml()) == d``.
    """

    __slots__ = ("_node", "_settings", "_terms", "_weight")

    def __init__(self, keys: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        items = {**(keys or {}), **more}
        if not items:
            raise DomainError("Domain()", "is empty: give keys and their values")
        self._node: Node = combine("product", [parse_key(k, v) for k, v in items.items()])
        self._settings = Settings()
        self._terms: tuple[tuple[float | None, Node], ...] = ((None, self._node),)
        self._weight: float | None = None

    @classmethod
    def _of(
        cls,
        node: Node,
        settings: Settings = _DEFAULTS,
        terms: tuple[tuple[float | None, Node], ...] | None = None,
    ) -> Domain:
        d = cls.__new__(cls)
        d._node, d._settings, d._weight = node, settings, None
        d._terms = terms if terms is not None else _terms_of(node)
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
                raise DomainError(
                    f"snakesweep.Domain {op}",
                    "repeat() and sample() apply to the whole domain: call them after combining",
                )
        return other

    def __mul__(self, other: Any) -> Domain:
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return self._weighted(float(other))
        other = self._operand(other, "*")
        return Domain._of(combine("product", [self._node, other._node]))

    def __rmul__(self, other: Any) -> Domain:
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return self._weighted(float(other))
        return self._operand(other, "*").__mul__(self)

    def _weighted(self, weight: float) -> Domain:
        if not weight >= 0 or not math.isfinite(weight):
            check_weights([weight])
        d = Domain._of(self._node)
        d._weight = weight
        d._terms = ((weight, self._node),)
        return d

    def __matmul__(self, other: Any) -> Domain:
        other = self._operand(other, "@")
        return Domain._of(zipped([self._node, other._node]))

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
                groups.append(combine("mix", [n for _, n in mix], [w for w, _ in mix]))
                mix = []
            if node is not None:
                groups.append(node)
        node = groups[0] if len(groups) == 1 else combine("concat", groups)
        return Domain._of(node, terms=terms)

    # -- points
    def expand(self, prefix: Sequence[str] = (), round_: int = 0) -> Expansion:
        """The points and the Dataset layout (see ``domain_expansion``)."""
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
        keys = keys_of(self._node)
        if self._settings.repeats is not None:
            keys.append(dimension_name(self._settings.seed_key))
        return keys

    def key_specs(self) -> list[tuple[str, bool]]:
        """Each key as written (``+extra``) and whether it is drawn at random."""
        return [(k.key, k.draw is not None) for k in leaves(self._node)]

    @property
    def is_random(self) -> bool:
        """Whether it draws anything (an ``interval()`` key or a mix)."""
        return is_random(self._node)

    # -- YAML
    @classmethod
    def from_yaml(cls, domain: Any, **settings: Any) -> Domain:
        """A domain written in the config's grammar, with ``samples``, ``seed``,
        ``repeats`` and ``seed_key`` as ``snakesweep.*`` gives them. ``domain`` is a domain
        node, or what ``to_dict()`` gives (``{"domain": node, **settings}``, also under a
        ``snakesweep`` key), or either as YAML text (what ``to_yaml()`` gives); settings
        given here win over its own."""
        if isinstance(domain, str):
            from omegaconf._utils import get_yaml_loader  # YAML as a config file reads

            try:
                domain = yaml.load(domain, Loader=get_yaml_loader())  # noqa: S506 - safe
            except yaml.YAMLError as exc:
                raise DomainError("Domain.from_yaml", f"is not YAML: {first_line(exc)}") from None
        if isinstance(domain, Mapping) and set(domain) == {"snakesweep"}:
            node = domain["snakesweep"]  # a config's node, pasted whole: its other options
            if isinstance(node, Mapping) and "domain" in node:  # (experiment, …) are not ours
                domain = {k: v for k, v in node.items() if k == "domain" or k in SETTINGS}
        if _is_options(domain):
            if not isinstance(domain["domain"], Mapping):
                raise DomainError(
                    "snakesweep.domain",
                    f"expected a mapping of keys to values or an operator, got "
                    f"{domain['domain']!r} (a Python domain, 'module:function', is the "
                    "config's: Domain.from_yaml reads the grammar)",
                )
            settings = {**{k: v for k, v in domain.items() if k != "domain"}, **settings}
            domain = domain["domain"]
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise DomainError(
                "snakesweep",
                f"unknown domain setting(s) {sorted(unknown)}; known: {', '.join(SETTINGS)}",
            )
        return cls._of(parse_domain(domain), settings_of(settings))

    def to_dict(self) -> dict[str, Any]:
        """The ``snakesweep:`` options that give this domain: ``domain`` and its settings
        (those that are not the defaults)."""
        return {"domain": to_yaml(self._node), **self._settings.to_yaml()}

    def to_yaml(self) -> str:
        """``to_dict()`` as YAML text, to paste under ``snakesweep:`` (written as OmegaConf
        writes a config: a string that would read as a number is quoted)."""
        from omegaconf._utils import get_omega_conf_dumper

        return str(
            yaml.dump(
                self.to_dict(),
                Dumper=get_omega_conf_dumper(),
                default_flow_style=False,
                sort_keys=False,
                allow_unicode=True,
            )
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Domain):
            return NotImplemented
        return (self._node, self._settings) == (other._node, other._settings)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Domain.from_yaml({self.to_dict()!r})"


def _is_options(node: Any) -> bool:
    """Whether a mapping is ``snakesweep:`` options (``domain`` and settings; what else it
    holds is told as an unknown setting), not a domain node: a domain node's key takes a
    list or a string, never a mapping; ``domain`` beside settings alone is options too."""
    if not isinstance(node, Mapping) or "domain" not in node:
        return False
    others = set(node) - {"domain"}
    return isinstance(node["domain"], Mapping) or (bool(others) and others <= set(SETTINGS))


def _terms_of(node: Node) -> tuple[tuple[float | None, Node], ...]:
    """The terms of a sum that make ``node`` (a mix's weighted parts; a concatenation's
    parts, its mixes' weighted ones), so that ``+`` extends a domain read from YAML as it
    extends the expression that wrote it."""
    if isinstance(node, Op) and node.kind == "mix":
        return tuple(zip(node.weights, node.parts, strict=True))
    if isinstance(node, Op) and node.kind == "concat":
        terms: list[tuple[float | None, Node]] = []
        for part in node.parts:
            mixed = isinstance(part, Op) and part.kind == "mix"
            terms.extend(_terms_of(part) if mixed else [(None, part)])
        return tuple(terms)
    return ((None, node),)


def with_grid(domain: Domain, dims: Sequence[Dimension]) -> Domain:
    """The domain times the command line's swept keys (their BasicSweeper values), last."""
    if not dims:
        return domain
    keys = [
        Key(
            d.name,
            list(d.values),
            tuple(Value(o, v, v) for o, v in zip(d.overrides, d.values, strict=True)),
        )
        for d in dims
    ]
    return Domain._of(combine("product", [domain._node, *keys]), domain._settings)


def load_domain(
    spec: Any, options: Options, load: Callable[[str, str], Callable[..., Any]], loader: Any = None
) -> Domain:
    """``snakesweep.domain`` as a Domain: the grammar, or ``"pkg.module:function"`` naming a
    function of no arguments that returns one. The config's settings apply over the
    Domain's own. ``loader``: Hydra's config loader, for ``glob()`` over a config group."""
    if isinstance(spec, str):
        made = call_entry(load(spec, "snakesweep.domain"), spec, "snakesweep.domain")
        if not isinstance(made, Domain):
            raise DomainError(
                "snakesweep.domain",
                f"{spec!r} returned a {type(made).__name__}, not a snakesweep.Domain",
            )
        return Domain._of(made._node, settings_of(options, made._settings))
    return Domain._of(parse_domain(spec, loader=loader), settings_of(options))


def call_entry(fn: Callable[..., Any], spec: str, key: str, *args: Any) -> Any:
    """Call a function the config names; what it raises becomes one line naming ``key``."""
    try:
        return fn(*args)
    except SnakesweepError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code: say where, in one line
        raise DomainError(key, f"{spec!r} raised {type(exc).__name__}: {first_line(exc)}") from None
