"""The Python files a plan is made with (a domain function, an update function).

A plan records each one's hash (``Plan.sources``): a cached plan whose files changed is
made again, every round decided anew.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from snakesweep.core.entries import import_entry

__all__ = ["import_source", "sources_changed"]


def import_source(spec: str, key: str, sources: dict[str, str]) -> Callable[..., Any]:
    """Import the ``pkg.module:function`` that the config's ``key`` names, recording its
    file's hash in ``sources`` (path → hash); ``ConfigError`` naming ``key`` if it cannot."""
    fn = import_entry(spec, key)
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    file = getattr(module, "__file__", None)
    if file:
        sources[file] = _file_hash(file)
    return fn


def sources_changed(sources: Mapping[str, str]) -> bool:
    """Whether a file of ``sources`` (path → hash, ``Plan.sources``) changed since."""
    return any(_file_hash(f) != h for f, h in sources.items())


def _file_hash(path: str) -> str:
    """The first 16 hex digits of a file's sha256; empty when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return ""
