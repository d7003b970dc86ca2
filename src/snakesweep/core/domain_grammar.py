"""The domain's grammar: ``snakesweep.domain`` as written in the config ↔ the tree.

- a mapping of keys to values is the product over its keys, in the listed order (the last
  key varies fastest, as in Hydra's BasicSweeper);
- values are a YAML list, or a string that Hydra's own parser reads as a sweep
  (``"range(0,5)"``, ``"1,2,3"``, ``"choice(a,b)"``, group names) or as a random draw
  (``"interval(0,1)"``, ``"tag(log, interval(1e-4, 1e-1))"``, ``"int(interval(1, 100))"``);
- ``product: [part, ...]``, ``zip: {key: values, ...}`` or ``zip: [part, ...]``
  (element-wise, equal lengths), ``concat: [part, ...]`` (one after another) and
  ``mix: [{weight: w, domain: part}, ...]`` (draws from the parts, in proportion to the
  weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakesweep.core.domain_tree import OPERATORS, DomainError, Key, Node, Value, combine, zipped
from snakesweep.core.draws import Draw
from snakesweep.core.grid import coordinate_of, parse_override, quote_non_ascii, render_value
from snakesweep.errors import OverrideError, first_line

__all__ = ["parse_domain", "parse_key", "to_yaml"]


# -- from YAML ---------------------------------------------------------------------------------


def parse_key(key: Any, source: Any, loader: Any = None) -> Key:
    """One key and its values, read as Hydra reads an override (``loader``, Hydra's config
    loader, for ``glob()`` over a config group)."""
    from hydra.errors import HydraException  # Hydra: loaded only when a domain is read

    if not isinstance(key, str) or not key.strip("+~"):
        raise DomainError(f"key {key!r}", "keys are config keys (strings such as 'optimizer.lr')")
    if isinstance(source, Mapping):
        raise DomainError(
            f"key {key!r}",
            f"takes a list or a string of Hydra's sweep grammar; "
            f"{key!r} is not an operator ({', '.join(OPERATORS)})",
        )
    if isinstance(source, str):
        text = f"{key}={source}"
        try:
            ov = parse_override(text, loader, advise=False)
        except OverrideError as exc:
            raise DomainError(
                f"key {key!r}", f"{source!r}: {exc.reason}{_non_ascii_advice(key, source)}"
            ) from None
        if ov.is_hydra_override():
            raise DomainError(f"key {key!r}", "Hydra's own config is not swept")
        if not ov.is_sweep_override():
            return Key(
                key,
                source,
                (
                    Value(
                        f"{key}={ov.get_value_element_as_str()}",
                        coordinate_of(ov.value(), source),
                        ov.value(),
                    ),
                ),
            )
        if ov.is_interval_sweep():
            try:
                return Key(key, source, draw=Draw.of(ov.value()))
            except ValueError as exc:
                raise DomainError(f"key {key!r}", f"{source!r}: {exc}") from None
        if getattr(ov._value, "shuffle", False):
            raise DomainError(
                f"key {key!r}",
                f"{source!r}: shuffle() gives a random order; "
                "list the values or draw them with interval()",
            )
        if loader is None and "glob" in type(ov._value).__name__.lower():
            raise DomainError(
                f"key {key!r}",
                f"{source!r}: glob() lists a config group's "
                "options, so it needs the config tree: write it in the "
                "config's snakesweep.domain",
            )
        try:
            values = tuple(
                Value(f"{key}={s}", coordinate_of(v, s), _plain_value(v))
                for v, s in zip(ov.sweep_iterator(), ov.sweep_string_iterator(), strict=True)
            )
        except HydraException as exc:
            raise DomainError(f"key {key!r}", f"{source!r}: {first_line(exc)}") from None
    else:
        listed = source if isinstance(source, (list, tuple)) else [source]
        texts = [_render(v, key) for v in listed]
        values = tuple(
            Value(f"{key}={t}", coordinate_of(v, t), v) for v, t in zip(listed, texts, strict=True)
        )
    if not values:
        raise DomainError(f"key {key!r}", "has no values")
    return Key(key, source, values)


def _plain_value(value: Any) -> Any:
    """A value of Hydra's sweep as plain data (a quoted string: its text)."""
    from hydra.core.override_parser.types import QuotedString  # Hydra: loaded only when needed

    return value.text if isinstance(value, QuotedString) else value


def _render(value: Any, key: str) -> str:
    """A YAML value as a value of Hydra's override grammar, checked by parsing it back.

    An ASCII name (``mlp``, ``adam_w``) stays unquoted, as a group option is written on
    the command line; other strings are quoted (Hydra's grammar takes non-ASCII text, such
    as ``café``, only in quotes; the value is the text without them).
    """
    if (
        isinstance(value, str)
        and value.isascii()
        and value.isidentifier()
        and value.lower() not in ("true", "false", "null", "nan", "inf")
    ):
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
        advice = (
            ""
            if culprit is None
            else (
                f"; Hydra's grammar takes no non-ASCII text in a mapping's keys: rename {culprit!r}"
            )
        )
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
        return (
            "; Hydra's grammar takes non-ASCII text only in quoted values, never in keys; "
            "or list the values in YAML, which needs no quotes"
        )
    listed = ", ".join(part.strip() for part in source.split(","))
    return (
        f"; Hydra's grammar takes non-ASCII text only in quoted values ({key}: "
        f'"{quoted}"), never in keys; or list the values in YAML ({key}: [{listed}])'
    )


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


def parse_domain(node: Any, where: str = "snakesweep.domain", loader: Any = None) -> Node:
    """A domain node of the config's grammar."""
    if isinstance(node, Mapping):
        if len(node) == 1:
            ((op, body),) = node.items()
            if op in OPERATORS:
                return _parse_op(str(op), body, f"{where}.{op}", loader)
            if _looks_like_parts(body):
                raise DomainError(
                    f"{where}.{op}",
                    f"{op!r} is not an operator (known: "
                    f"{', '.join(OPERATORS)}); to sweep a key over mappings, "
                    "write its values in Hydra's grammar",
                )
        if not node:
            raise DomainError(where, "is empty: give keys and their values")
        return combine("product", [parse_key(k, v, loader) for k, v in node.items()])
    raise DomainError(
        where,
        f"expected a mapping of keys to values or one of "
        f"{', '.join(OPERATORS)}, got {type(node).__name__} {node!r}",
    )


def _looks_like_parts(body: Any) -> bool:
    """Whether a key's values read as domain parts (mappings of keys to lists or operators),
    the sign of a misspelt operator rather than a key swept over mappings."""
    return (
        isinstance(body, (list, tuple))
        and bool(body)
        and all(
            isinstance(p, Mapping)
            and p
            and all(isinstance(v, (list, tuple, Mapping)) or k in OPERATORS for k, v in p.items())
            for p in body
        )
    )


def _parse_op(op: str, body: Any, where: str, loader: Any) -> Node:
    """The node of one operator (``op: body``) at ``where``."""
    if op == "zip" and isinstance(body, Mapping) and body:
        return zipped([parse_key(k, v, loader) for k, v in body.items()])
    if op == "mix":
        if not isinstance(body, (list, tuple)) or not body:
            raise DomainError(where, "takes a list of {weight: w, domain: part}")
        weights, parts = [], []
        for i, item in enumerate(body):
            if not isinstance(item, Mapping) or set(item) != {"weight", "domain"}:
                raise DomainError(
                    f"{where}[{i}]", f"expected {{weight: w, domain: part}}, got {item!r}"
                )
            weights.append(item["weight"])
            parts.append(parse_domain(item["domain"], f"{where}[{i}].domain", loader))
        return combine("mix", parts, weights)
    if not isinstance(body, (list, tuple)) or not body:
        raise DomainError(
            where,
            "takes a list of parts"
            + (" (or, for zip, a mapping of keys to values)" if op == "zip" else ""),
        )
    parts = [parse_domain(p, f"{where}[{i}]", loader) for i, p in enumerate(body)]
    return zipped(parts) if op == "zip" else combine(op, parts)


# -- to YAML -----------------------------------------------------------------------------------


def to_yaml(node: Node) -> Any:
    """A node as the config's grammar writes it (what ``parse_domain`` reads back)."""
    if isinstance(node, Key):
        return {node.key: _source(node)}
    if node.kind == "mix":
        return {
            "mix": [
                {"weight": w, "domain": to_yaml(p)}
                for w, p in zip(node.weights, node.parts, strict=True)
            ]
        }
    if node.kind in ("product", "zip") and all(isinstance(p, Key) for p in node.parts):
        keyed = {p.key: _source(p) for p in node.parts if isinstance(p, Key)}
        return keyed if node.kind == "product" else {"zip": keyed}
    parts: list[Any] = []
    for part in node.parts:  # a product's consecutive keys as one mapping
        if (
            node.kind == "product"
            and isinstance(part, Key)
            and parts
            and isinstance(parts[-1], dict)
            and not set(parts[-1]) & set(OPERATORS)
        ):
            parts[-1][part.key] = _source(part)
        else:
            parts.append(to_yaml(part))
    return {node.kind: parts}


def _source(key: Key) -> Any:
    """A key's values as written (a tuple as a YAML list)."""
    source = key.source
    return list(source) if isinstance(source, tuple) else source
