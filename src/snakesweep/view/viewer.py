"""Viewer: show a recording in rerun's viewer, a native window or the web viewer on localhost.

The viewer is the ``rerun`` program that ships with rerun-sdk, started as a child in its
own process group (``python -m rerun`` execs a binary of its own), so stopping the group
stops everything it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from snakesweep.errors import SnakesweepError

__all__ = [
    "RERUN",
    "LiveServer",
    "ViewerError",
    "WebViewer",
    "check_recording",
    "live_server",
    "open_native",
    "serve_web",
    "stop_group",
]

RERUN = [sys.executable, "-m", "rerun"]
"""How the viewer is started: the ``rerun`` program of rerun-sdk, with this Python."""


class ViewerError(SnakesweepError, RuntimeError):
    """The viewer cannot be shown: no recording, no display, or the server did not start."""


@dataclass(frozen=True)
class WebViewer:
    """A running web viewer: the address to open and the child serving it."""

    url: str
    process: subprocess.Popen[bytes]
    grpc: str
    """The gRPC address SDKs stream to (``rerun+http://127.0.0.1:PORT/proxy``)."""


def check_recording(path: Path) -> None:
    """Fail with what to do when there is no recording to show."""
    if not path.is_file():
        raise ViewerError(
            f"no recording at {path}: run the sweep first (`snakesweep run` or "
            "`snakemake --cores all`), which writes it beside sweep.nc"
        )


def open_native(path: Path) -> int:
    """Open ``path`` in the native viewer window; returns its exit status when it is closed."""
    check_recording(path)
    _check_display("`snakesweep view --web` serves the viewer to a browser instead")
    with _child([*RERUN, str(path)]) as process:
        return process.wait()


def _check_display(instead: str) -> None:
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise ViewerError(
            "no display for the viewer window (neither DISPLAY nor "
            f"WAYLAND_DISPLAY is set); {instead}"
        )


@contextmanager
def serve_web(path: Path | None, port: int = 0, timeout: float = 30.0) -> Iterator[WebViewer]:
    """Serve ``path`` with the web viewer on 127.0.0.1 until the block ends; with no path,
    what SDKs stream to it (``WebViewer.grpc``).

    ``port`` 0 picks a free port. Yields once the page answers.
    """
    if path is not None:
        check_recording(path)
    web = port or _free_port()
    grpc = _free_port()
    command = [
        *RERUN,
        "--serve-web",
        *([str(path)] if path is not None else []),
        "--bind",
        "127.0.0.1",
        "--web-viewer-port",
        str(web),
        "--port",
        str(grpc),
    ]
    with tempfile.TemporaryFile() as log, _child(command, stderr=log) as process:
        _wait_listening(process, log, web, timeout)
        address = _proxy(grpc)
        yield WebViewer(f"http://127.0.0.1:{web}/?url=" + quote(address, safe=""), process, address)


def _proxy(port: int) -> str:
    return f"rerun+http://127.0.0.1:{port}/proxy"


@dataclass(frozen=True)
class LiveServer:
    """Where a live stream goes: its gRPC address, and the page to open (web viewer)."""

    grpc: str
    page: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def wait(self) -> None:
        """Until the server this started ends, or Ctrl-C (or SIGTERM) ends the wait."""
        if self.process is None:
            return
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            self.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def live_server(kind: str, url: str | None = None, timeout: float = 30.0) -> Iterator[LiveServer]:
    """A viewer for a live stream: ``web`` serves one on 127.0.0.1 until the block ends;
    ``native`` opens a window, left open after; ``url`` is a viewer already running."""
    if kind == "url":
        assert url is not None
        yield LiveServer(url)
    elif kind == "web":
        with serve_web(None, timeout=timeout) as web:
            yield LiveServer(web.grpc, web.url, web.process)
    else:
        _check_display("`--view web` serves the live view to a browser instead")
        port = _free_port()
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(
                [*RERUN, "--bind", "127.0.0.1", "--port", str(port), "--expect-data-soon"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
            try:
                _wait_listening(process, log, port, timeout)
            except BaseException:
                stop_group(process)
                raise
        yield LiveServer(_proxy(port))  # the window is the user's: closing it is theirs


@contextmanager
def _child(
    command: list[str],
    stderr: IO[bytes] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, stopped (group and all) when the block ends."""
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stderr=stderr, start_new_session=True
    )
    try:
        yield process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a child started in its own process group, and whatever it started: SIGTERM to
    the group, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue


def _wait_listening(
    process: subprocess.Popen[bytes], log: IO[bytes], port: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace")
            last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "")
            raise ViewerError(
                f"the rerun viewer exited with status {process.returncode}"
                + (f": {last.strip()}" if last else "")
                + f"; is port {port} free?"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ViewerError(
        f"the rerun web viewer did not answer on 127.0.0.1:{port} within {timeout:.0f} s"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
