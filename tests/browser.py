"""Headless Chromium driven over the Chrome DevTools Protocol (CDP), for tests of local pages.

``with chromium(tmp_path) as browser: page = browser.open(url); png = page.screenshot()``.

* Chromium runs in a session of its own with a fresh profile in ``tmp_path``; the block's
  end stops its whole process group (SIGTERM, then SIGKILL), also when the block fails.
* Nothing leaves the machine: host names other than 127.0.0.1 do not resolve, and every
  request of a page is held (CDP ``Fetch``) and let through only when it goes to
  127.0.0.1; ``page.requests`` lists the requests let through and those failed.
* WebGL is drawn in software (ANGLE on SwiftShader), so canvases draw without a GPU.
  Not ``--enable-unsafe-webgpu``: rerun's web viewer then picks WebGPU on SwiftShader,
  and drew nothing here within 25 s.
* A page runs only while this side reads its messages (paused requests wait for an
  answer): wait with ``page.idle`` or ``page.wait_until``, not ``time.sleep``.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import struct
import subprocess
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import websocket

from conftest import APT_LOCK_WAIT, machine_lock

CHROMIUM = Path("/usr/bin/chromium")
PACKAGES = ["chromium", "mesa-vulkan-drivers"]
"""What ``install_chromium`` installs with apt."""
LOCAL = "127.0.0.1"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--mute-audio",
    "--window-size=1280,800",
    f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOCAL}",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or did not answer a DevTools command."""


def install_chromium(timeout: float = 900.0) -> Path:
    """``CHROMIUM``, installed with apt (as root) when it is missing; raises ``BrowserError``
    saying why when it is not there and cannot be installed."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        raise BrowserError(f"{CHROMIUM} is missing, and installing it with apt needs root")
    with machine_lock("apt"):  # one apt at a time among parallel test workers
        return _install_chromium(timeout)


def _install_chromium(timeout: float) -> Path:
    if CHROMIUM.exists():  # another worker installed it while this one waited
        return CHROMIUM
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", *APT_LOCK_WAIT, "--no-install-recommends", *PACKAGES]

    def run(command: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return subprocess.CompletedProcess(command, -1, "", str(exc))

    out = run(install)
    if out.returncode != 0:  # no package lists yet, or stale ones
        run(["apt-get", "update", *APT_LOCK_WAIT])
        out = run(install)
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-5:])
        raise BrowserError(
            f"{CHROMIUM} is missing, and `{' '.join(install)}` failed ({out.returncode}): {tail}"
        )
    if not CHROMIUM.exists():
        raise BrowserError(f"{CHROMIUM} is missing, also after `{' '.join(install)}`")
    return CHROMIUM


@dataclass
class Requests:
    """A page's requests: those let through (to 127.0.0.1) and those failed (elsewhere)."""

    allowed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


class Page:
    """One tab, spoken to over its own DevTools websocket."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self._ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self._timeout = timeout
        self._sent = 0
        self._loaded = False
        self.requests = Requests()
        self.call("Fetch.enable", patterns=[{"urlPattern": "*"}])
        self.call("Page.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result, answering paused requests meanwhile."""
        ident = self._send(method, params)
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._handle(message)

    def idle(self, seconds: float) -> None:
        """Let the page run for ``seconds``, answering its paused requests."""
        self._read_until(lambda: False, seconds)

    def navigate(self, url: str, timeout: float = 60.0) -> None:
        """Load ``url``; returns once its load event has fired (before it has drawn)."""
        self._loaded = False
        result = self.call("Page.navigate", url=url)
        if "errorText" in result:
            raise BrowserError(f"navigating to {url}: {result['errorText']}")
        if not self._read_until(lambda: self._loaded, timeout):
            raise BrowserError(f"{url} did not load within {timeout:.0f} s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        """A PNG of what the page shows now."""
        result = self.call("Page.captureScreenshot", format="png", optimizeForSpeed=True)
        return base64.b64decode(result["data"])

    def wait_until(
        self,
        check: Callable[[bytes], bool],
        timeout: float = 90.0,
        every: float = 1.0,
        keep: Path | None = None,
    ) -> bytes:
        """Screenshots every ``every`` s until ``check`` passes on one, which is returned;
        ``TimeoutError`` after ``timeout`` s. ``keep`` holds the latest screenshot."""
        deadline = time.monotonic() + timeout
        while True:
            png = self.screenshot()
            if keep is not None:
                keep.write_bytes(png)
            if check(png):
                return png
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the page did not pass {check.__name__} within "
                    f"{timeout:.0f} s" + (f"; last screenshot: {keep}" if keep else "")
                )
            self.idle(every)

    def close(self) -> None:
        self._ws.close()

    def _send(self, method: str, params: dict[str, Any]) -> int:
        self._sent += 1
        self._ws.send(json.dumps({"id": self._sent, "method": method, "params": params}))
        return self._sent

    def _read_until(self, done: Callable[[], bool], seconds: float) -> bool:
        """Handle the page's events until ``done()`` or for ``seconds``; returns ``done()``."""
        deadline = time.monotonic() + seconds
        try:
            while not done() and (left := deadline - time.monotonic()) > 0:
                self._ws.settimeout(left)
                self._handle(json.loads(self._ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self._ws.settimeout(self._timeout)
        return done()

    def _handle(self, event: dict[str, Any]) -> None:
        """Note a load event; let a paused request through when it goes to 127.0.0.1, else
        fail it."""
        if event.get("method") == "Page.loadEventFired":
            self._loaded = True
        if event.get("method") != "Fetch.requestPaused":
            return
        url, ident = event["params"]["request"]["url"], event["params"]["requestId"]
        if urlsplit(url).hostname == LOCAL:
            self.requests.allowed.append(url)
            self._send("Fetch.continueRequest", {"requestId": ident})
        else:
            self.requests.blocked.append(url)
            self._send("Fetch.failRequest", {"requestId": ident, "errorReason": "BlockedByClient"})


@dataclass
class Browser:
    """A running Chromium: its process (the leader of its group) and its DevTools port."""

    process: subprocess.Popen[bytes]
    port: int
    pages: list[Page] = field(default_factory=list)

    def open(self, url: str) -> Page:
        """A new tab showing ``url``."""
        new_tab = urllib.request.Request(
            f"http://{LOCAL}:{self.port}/json/new?about:blank", method="PUT"
        )
        with urllib.request.urlopen(new_tab, timeout=30) as answer:
            target = json.load(answer)
        page = Page(target["webSocketDebuggerUrl"])
        self.pages.append(page)
        page.navigate(url)
        return page


@contextmanager
def chromium(
    tmp_path: Path, *flags: str, executable: Path = CHROMIUM, timeout: float = 30.0
) -> Iterator[Browser]:
    """Headless Chromium (``FLAGS`` and ``flags``) with a fresh profile in ``tmp_path``,
    stopped with its whole process group when the block ends."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with (tmp_path / "chromium.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(executable),
                *FLAGS,
                *flags,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        browser = Browser(process, 0)
        try:
            browser.port = _devtools_port(process, profile / "DevToolsActivePort", timeout)
            yield browser
        finally:
            for page in browser.pages:
                page.close()
            stop_group(process)


def _devtools_port(process: subprocess.Popen[bytes], path: Path, timeout: float) -> int:
    """The port Chromium listens on, from the file it writes in its profile once it does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrowserError(
                f"chromium exited with status {process.returncode}; "
                f"see {path.parent.parent / 'chromium.log'}"
            )
        if path.exists() and (text := path.read_text()).strip():
            return int(text.split()[0])
        time.sleep(0.1)
    raise BrowserError(f"chromium did not open its DevTools port within {timeout:.0f} s")


def stop_group(process: subprocess.Popen[bytes], wait: float = 10.0) -> None:
    """Stop ``process`` and all of its group: SIGTERM, then SIGKILL for what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while _group_alive(process.pid) and time.monotonic() < deadline:
            process.poll()  # reaps the leader once it exits
            time.sleep(0.05)
        if not _group_alive(process.pid):
            break
    process.poll()


def group_gone(pgid: int, within: float = 10.0) -> bool:
    """Whether no process of group ``pgid`` is left, waiting up to ``within`` s for that
    (a child whose parent exited first stays a zombie until init reaps it)."""
    deadline = time.monotonic() + within
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def pixels(png: bytes) -> np.ndarray:
    """An 8-bit RGB or RGBA PNG, not interlaced, as a (height, width, channels) array."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, header, data = 8, b"", bytearray()
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        chunk = png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            data += chunk
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(
            f"not an 8-bit RGB(A) PNG without interlacing (bit depth {depth}, "
            f"colour type {colour}, interlace {interlace})"
        )
    raw = np.frombuffer(zlib.decompress(bytes(data)), np.uint8).reshape(height, -1)
    rows = np.zeros((height + 1, width * channels), np.int64)  # row 0: the one above the top
    for y in range(height):
        line, up = raw[y, 1:].astype(np.int64), rows[y]
        match raw[y, 0]:  # the row's filter: None, Sub, Up, Average, Paeth
            case 0:
                rows[y + 1] = line
            case 1:
                rows[y + 1] = np.cumsum(line.reshape(width, channels), axis=0).reshape(-1)
            case 2:
                rows[y + 1] = line + up
            case kind:
                rows[y + 1] = _unfilter(int(kind), line.tolist(), up.tolist(), channels)
        rows[y + 1] &= 0xFF
    return rows[1:].astype(np.uint8).reshape(height, width, channels)


def _unfilter(kind: int, line: list[int], up: list[int], channels: int) -> list[int]:
    """One row under the Average (3) or Paeth (4) filter, undone byte by byte (slow)."""
    out = [0] * channels + [0] * len(line)  # ``channels`` zeros: the pixel left of the row
    above = [0] * channels + up
    for i, x in enumerate(line, start=channels):
        a, b, c = out[i - channels], above[i], above[i - channels]
        if kind == 3:
            out[i] = (x + (a + b) // 2) & 0xFF
        elif kind == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            out[i] = (x + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        else:
            raise ValueError(f"PNG filter type {kind} does not exist")
    return out[channels:]
