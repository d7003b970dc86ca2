"""``snakesweep view``: a recording in rerun's viewer, a native window or the web viewer
served on 127.0.0.1 until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from snakesweep import store
from snakesweep.cli.command import interrupt, no_extra
from snakesweep.view.viewer import open_native, serve_web

__all__ = ["cmd_view"]


def cmd_view(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep view [RECORDING]``: the viewer's exit status (0 when stopped)."""
    no_extra(extra, "view")
    path = Path(ns.recording) if ns.recording else Path(ns.results, store.RECORDING)
    signal.signal(signal.SIGTERM, interrupt)  # stops the viewer as Ctrl-C does
    try:
        if not ns.web:
            return open_native(path)
        with serve_web(path, ns.port) as viewer:
            print(f"snakesweep: serving {path} at {viewer.url}", flush=True)
            print(
                "snakesweep: open that address in a browser; Ctrl-C stops the server",
                file=sys.stderr,
                flush=True,
            )
            return viewer.process.wait()
    except KeyboardInterrupt:  # the viewer's process group is stopped on the way out
        return 0
