"""Randomness: Hydra's ``interval()`` sweeps as distributions, and every seed a sweep derives.

All of it comes from one root, ``snakesweep.seed``, through ``numpy.random.SeedSequence``,
so the same config gives the same draws and seeds on every machine and in every process:

- repetition ``r`` gets the seed ``SeedSequence(root, spawn_key=(r,)).generate_state(1)[0]``
  (what ``SeedSequence(root).spawn(R)[r]`` gives), the same for every point;
- each random key of a domain draws from its own stream,
  ``SeedSequence([root, crc32(path), round])``, ``path`` naming the key and its place
  among the parts of zips, concats and mixes: two keys never share draws, and adding a
  random key to a product leaves the others' draws as they were.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# numpy (~0.2 s to import) is imported where a value or a seed is drawn: a domain without
# draws or repetitions, and a run's process, need none of it.

__all__ = ["Draw", "repeat_seeds", "stream"]


@dataclass(frozen=True)
class Draw:
    """One key's distribution, read from Hydra's ``interval()`` as its Optuna and Nevergrad
    sweepers read it: uniform on [low, high); ``tag(log, …)`` log-uniform; ``int(…)``
    integers from low to high inclusive."""

    low: float
    high: float
    log: bool
    integer: bool

    @classmethod
    def of(cls, sweep: Any) -> Draw:
        """The draw of a parsed ``IntervalSweep``; ``ValueError`` when its bounds are unusable."""
        integer = isinstance(sweep.start, int) and isinstance(sweep.end, int)
        log = "log" in sweep.tags
        low, high = sweep.start, sweep.end
        if not high > low:
            raise ValueError(f"the interval's end ({high}) must be greater than its start ({low})")
        if log and low <= 0:
            raise ValueError(f"a log-uniform interval needs a start > 0, got {low}")
        return cls(low=low, high=high, log=log, integer=integer)

    def sample(self, rng: np.random.Generator, n: int) -> list[int | float]:
        """``n`` draws as Python numbers."""
        import numpy as np

        if self.integer:
            if self.log:
                x = np.exp(rng.uniform(math.log(self.low), math.log(self.high + 1), n))
                return [int(v) for v in np.minimum(np.floor(x), self.high)]
            return [int(v) for v in rng.integers(int(self.low), int(self.high) + 1, n)]
        if self.log:
            return [
                float(v) for v in np.exp(rng.uniform(math.log(self.low), math.log(self.high), n))
            ]
        return [float(v) for v in rng.uniform(self.low, self.high, n)]


def repeat_seeds(root: int, repeats: int) -> list[int]:
    """The seed of each repetition: the same for every point (common random numbers)."""
    from numpy.random import SeedSequence

    return [int(SeedSequence(root, spawn_key=(r,)).generate_state(1)[0]) for r in range(repeats)]


def stream(root: int, path: str, round_: int = 0) -> np.random.Generator:
    """The generator of one random node of a domain (see the module's docstring)."""
    import numpy as np

    return np.random.default_rng(np.random.SeedSequence([root, zlib.crc32(path.encode()), round_]))
