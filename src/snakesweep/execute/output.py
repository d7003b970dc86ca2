"""A run's output: its process's standard output and error, written into its run directory
(``stdout.log``, ``stderr.log``) while it runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from snakesweep import store

__all__ = ["captured_output"]

_FD_STREAMS: list[Any] = []
"""The text streams over descriptors 1 and 2 that runs write to, opened at the first run."""


class captured_output:
    """Send this process's stdout and stderr (file descriptors 1 and 2) into the run directory.

    During a run ``sys.stdout``/``sys.stderr`` are text streams over descriptors 1 and 2 that
    live as long as the process: a logging handler one run sets up writes into whichever
    run is going when it writes, never into a closed file.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __enter__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        if not _FD_STREAMS:
            _FD_STREAMS.extend(
                open(fd, "w", buffering=1, closefd=False)  # noqa: SIM115
                for fd in (1, 2)
            )
        self.saved = (os.dup(1), os.dup(2))
        self.files = (
            open(self.directory / store.STDOUT, "wb"),
            open(self.directory / store.STDERR, "wb"),
        )
        os.dup2(self.files[0].fileno(), 1)
        os.dup2(self.files[1].fileno(), 2)
        self.streams = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = _FD_STREAMS

    def __exit__(self, *exc: Any) -> None:
        try:
            for stream in _FD_STREAMS:
                if not stream.closed:
                    stream.flush()
        except (OSError, ValueError):
            pass  # the run broke its own output; the restore below still happens
        finally:
            if any(s.closed for s in _FD_STREAMS):  # the run closed sys.stdout or stderr
                _FD_STREAMS.clear()
            sys.stdout, sys.stderr = self.streams
            os.dup2(self.saved[0], 1)
            os.dup2(self.saved[1], 2)
            for fd in self.saved:
                os.close(fd)
            for f in self.files:
                f.close()
