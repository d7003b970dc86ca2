"""What every command shares: Snakemake's arguments refused by a command that takes none,
and SIGTERM taken as Ctrl-C by a command that serves a viewer."""

from __future__ import annotations

from typing import Any

from snakesweep.errors import SnakesweepError

__all__ = ["interrupt", "no_extra"]


def no_extra(extra: list[str], command: str) -> None:
    """Refuse arguments after ``--`` for ``command``, which passes none to Snakemake."""
    if extra:
        raise SnakesweepError(
            f"`snakesweep {command}` takes no Snakemake arguments "
            f"(got {' '.join(extra)!r} after --)"
        )


def interrupt(signum: int, frame: Any) -> None:
    """A signal handler that stops the command as Ctrl-C does."""
    raise KeyboardInterrupt
