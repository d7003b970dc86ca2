"""Sealed JSON files: a mapping whose last key, ``sha256``, is the digest of the rest of it.

Both files of a cached plan are sealed (``seal``) and checked when read (``unseal``): a file
cut short, changed after it was written, or paired with another plan's raises
``Unverified``, whose message says which.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["Unverified", "seal", "unseal"]


class Unverified(Exception):
    """A cached plan that is not the one written for its key: cut short, overwritten,
    edited, or paired with another plan's configs file. Its message says which."""


_SEAL = re.compile(rb',"sha256":"([0-9a-f]{64})"\}\Z')
_SEAL_LENGTH = len(b',"sha256":""}') + 64


def seal(data: Mapping[str, Any]) -> tuple[bytes, str]:
    """``data`` as JSON whose last key, ``sha256``, is the digest of the rest of it (the
    same JSON without that key); and that digest."""
    body = json.dumps(data, separators=(",", ":")).encode()  # C encoder; ASCII
    if not body.startswith(b"{") or body == b"{}":
        raise ValueError("only a non-empty mapping is sealed")
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + b',"sha256":"' + digest.encode() + b'"}', digest


def unseal(
    raw: bytes, what: str, expected: str | None = None, parse: bool = True
) -> tuple[dict[str, Any], str]:
    """The mapping ``seal`` wrote (``{}`` unless ``parse``) and its digest; raises
    ``Unverified`` when ``raw`` is not whole (``what`` names it), or, with ``expected``,
    is not the file of that digest."""
    found = _SEAL.search(raw, max(0, len(raw) - _SEAL_LENGTH))
    if found is None:
        raise Unverified(
            f"does not verify: its {what} is cut short or was not written by snakesweep"
        )
    digest = found.group(1).decode()
    h = hashlib.sha256(memoryview(raw)[: found.start()])  # no copy of a file of megabytes
    h.update(b"}")
    if h.hexdigest() != digest:
        raise Unverified(f"does not verify: its {what} was changed after it was written")
    if expected is not None and digest != expected:
        raise Unverified(f"does not verify: its {what} belongs to another plan")
    if not parse:
        return {}, digest
    try:
        data = json.loads(raw)
    except ValueError:
        raise Unverified(f"does not verify: its {what} is not JSON") from None
    if not isinstance(data, dict):
        raise Unverified(f"does not verify: its {what} is not a plan")
    data.pop("sha256", None)
    return data, digest
