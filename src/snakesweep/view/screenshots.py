"""Screenshots: a recording drawn by rerun's viewer, headless, into a PNG file.

The report draws its pictures this way when the sweep's config sets ``snakesweep.pictures:
rerun`` (``report_pictures``). rerun's screenshots cost seconds per picture (its viewer
starts, loads the recording, draws ten frames; on a software GPU, Mesa's llvmpipe from
Debian's ``mesa-vulkan-drivers``); where the viewer cannot draw (no GPU, a timeout, an
error), ``RenderError`` says why, in one line (``why_failed``).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snakesweep.errors import SnakesweepError
from snakesweep.provenance.places import Places
from snakesweep.view.recording import to_rerun
from snakesweep.view.viewer import RERUN, stop_group

__all__ = [
    "NOISE",
    "PICTURE_SCALE",
    "RENDER_TIMEOUT",
    "WINDOW",
    "RenderError",
    "png_size",
    "render_dataset",
    "render_recording",
    "why_failed",
]

WINDOW = (1200, 750)
"""The viewer's window for one variable's picture, in logical points."""
PICTURE_SCALE = 2
"""Pixels per point of rerun's screenshots (it always draws them as on a high-dpi screen):
a picture is ``PICTURE_SCALE`` times the window, in pixels."""
RENDER_TIMEOUT = 120.0
"""Seconds one picture may take before the viewer is stopped (here: 2–5 s)."""
NOISE = (
    "XDG_RUNTIME_DIR",
    "Troubleshooting Rerun",
    "Report bugs",
    "stack backtrace",
    "note: run with",
    "re_perf_telemetry",
)
"""Lines of rerun's stderr that never say why it failed."""
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LOG_LINE = re.compile(r"^\S+Z\s+(ERROR|WARN)\s+\S+:\s*(.*)$")
_FRAME = re.compile(r"^\s*(\d+:|at )")


class RenderError(SnakesweepError, RuntimeError):
    """rerun's headless viewer drew no picture; the message says why."""


def render_dataset(
    dataset: Any,
    png: str | os.PathLike[str],
    *,
    window: tuple[int, int] = WINDOW,
    timeout: float = RENDER_TIMEOUT,
) -> float:
    """Draw ``dataset``'s recording (``recording.to_rerun``, its time cursor at the end of
    its timeline) into ``png`` with rerun's headless viewer; returns the seconds rerun took.
    Raises ``RenderError`` when it draws nothing."""
    png = Path(png)
    rrd = png.with_name(f".{png.stem}.{os.getpid()}.rrd")
    try:
        to_rerun(dataset, rrd, play_state="following")
        return render_recording(rrd, png, window=window, timeout=timeout)
    finally:
        rrd.unlink(missing_ok=True)


def render_recording(
    rrd: str | os.PathLike[str],
    png: str | os.PathLike[str],
    *,
    window: tuple[int, int] = WINDOW,
    timeout: float = RENDER_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> float:
    """Draw the recording ``rrd`` as rerun's viewer lays it out (its blueprint) into ``png``:
    ``rerun RRD --headless --screenshot-to PNG --window-size WxH``, in its own process group
    (stopped, group and all, when done or past ``timeout``), its server on 127.0.0.1 and a
    free port. ``png`` is written aside and renamed into place. Returns the seconds it took;
    raises ``RenderError`` saying why when it draws nothing."""
    png = Path(png)
    tmp = png.with_name(f".{png.stem}.{os.getpid()}.tmp.png")  # rerun reads the format off it
    width, height = window
    command = [
        *RERUN,
        os.fspath(rrd),
        "--headless",
        "--screenshot-to",
        str(tmp),
        "--window-size",
        f"{width}x{height}",
        "--bind",
        "127.0.0.1",
        "--port",
        "auto",
    ]
    # RUST_LOG=error: no log line becomes a notification drawn over the picture
    child_env = {**(os.environ if env is None else env), "RUST_LOG": "error"}
    start = time.monotonic()
    try:
        with tempfile.TemporaryFile() as err:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=child_env,
                start_new_session=True,
            )
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                raise RenderError(
                    f"rerun's headless viewer drew nothing within {timeout:g} s (stopped)"
                ) from None
            finally:
                stop_group(process)  # and whatever it started
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        seconds = time.monotonic() - start
        if code != 0:
            raise RenderError(
                f"rerun's headless viewer exited with status {code}: {why_failed(stderr)}"
            )
        if png_size(tmp) is None:
            raise RenderError(
                "rerun's headless viewer wrote no picture"
                + (f": {why_failed(stderr)}" if why_failed(stderr) else "")
            )
        os.replace(tmp, png)
        return seconds
    finally:
        tmp.unlink(missing_ok=True)


def why_failed(stderr: str) -> str:
    """What rerun's stderr says of why it failed, in one line: its panic's message, else its
    last error, else its last line that is not boilerplate; paths made relative
    (``provenance.Places``)."""
    lines = [_ANSI.sub("", ln).rstrip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    found = ""
    for i, line in enumerate(lines):
        if "panicked at" in line:
            quoted = re.search(r"panicked at '(.*)'", line)
            if quoted:
                found = quoted.group(1)
            elif i + 1 < len(lines):  # newer Rust: the location, then the message
                found = lines[i + 1]
            break
    if not found:
        errors = [m.group(2) for m in map(_LOG_LINE.match, lines) if m and m.group(1) == "ERROR"]
        if errors:
            found = errors[-1]
    if not found:
        rest = [ln for ln in lines if not _FRAME.match(ln) and not any(n in ln for n in NOISE)]
        found = rest[-1] if rest else ""
    return Places.here().text(found.strip())


def png_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """A PNG file's width and height in pixels; None when it is not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
