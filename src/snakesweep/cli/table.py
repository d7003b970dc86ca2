"""The commands' tables: columns padded to their widest cell, a point's labels as cells."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["labels", "print_table"]


def labels(params: Mapping[str, Any], keys: list[str]) -> list[str]:
    """A point's label under each key ("" where it has none: a concat's other parts)."""
    return [str(params[k]) if k in params else "" for k in keys]


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Print ``header`` and ``rows``, each column as wide as its widest cell."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
