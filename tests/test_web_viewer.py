"""rerun's web viewer, in a real browser, draws a small sweep's recording served on 127.0.0.1.

``serve_web`` serves the recording of a result over a categorical dimension (a bar chart,
``loss`` by ``model``); headless Chromium, driven over the DevTools protocol
(``tests/browser.py``), opens it. Checked, on PNG screenshots taken until the chart has
drawn (~15 s here, 90 s at most): three bars of the chart's colour whose heights are in
the ratio of the losses; the same check fails on a blank page. Every request the page made
that was let through went to 127.0.0.1; the others (the viewer asks for web fonts, rerun's
telemetry and its latest version) are failed and printed. Afterwards no process of the
browser's or the server's group is left.

They need ``/usr/bin/chromium``: the one installed here, or, as root, one that apt installs
(``chromium mesa-vulkan-drivers``) for this module. Otherwise they skip and say why; with
``SNAKESWEEP_REQUIRE_BROWSER=1`` that is a failure instead.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import xarray as xr

from browser import BrowserError, chromium, group_gone, install_chromium, pixels
from snakesweep.view.recording import to_rerun
from snakesweep.view.viewer import serve_web

pytestmark = pytest.mark.slow

LOSS = np.array([3.0, 1.0, 2.0])
SWEEP = xr.Dataset({"loss": ("model", LOSS)}, coords={"model": ["mlp", "cnn", "rnn"]})
BAR = np.array([122, 190, 205])
"""The colour rerun gives the bars of ``/loss`` (rerun-sdk 0.41, WebGL on SwiftShader)."""


@pytest.fixture(scope="module")
def chromium_exe() -> Path:
    """Chromium's executable (see the module's docstring)."""
    try:
        return install_chromium()
    except BrowserError as exc:
        if os.environ.get("SNAKESWEEP_REQUIRE_BROWSER"):
            pytest.fail(f"SNAKESWEEP_REQUIRE_BROWSER is set, but {exc}")
        pytest.skip(str(exc))


def bar_heights(png: bytes) -> list[int]:
    """The bars of ``BAR``'s colour in a screenshot, left to right: the height in pixels of
    each run of at least 10 adjacent columns that hold more than 20 pixels of it."""
    rgb = pixels(png)[..., :3].astype(int)
    per_column = (np.abs(rgb - BAR) <= 12).all(axis=-1).sum(axis=0)
    heights: list[int] = []
    run: list[int] = []
    for count in [*per_column.tolist(), 0]:
        if count > 20:
            run.append(count)
        elif run:
            if len(run) >= 10:
                heights.append(int(np.median(run)))
            run = []
    return heights


def shows_the_losses(png: bytes) -> bool:
    """Whether a screenshot shows one bar per model, their heights in the ratio of LOSS."""
    heights = np.array(bar_heights(png), dtype=float)
    return len(heights) == len(LOSS) and np.allclose(
        heights / heights.max(), LOSS / LOSS.max(), atol=0.03
    )


def test_the_web_viewer_draws_the_bar_chart_of_a_sweep(chromium_exe: Path, tmp_path: Path) -> None:
    recording = to_rerun(SWEEP, tmp_path / "sweep.rrd")
    with serve_web(recording) as viewer, chromium(tmp_path, executable=chromium_exe) as browser:
        start = time.monotonic()
        page = browser.open(viewer.url)
        png = page.wait_until(shows_the_losses, timeout=90, keep=tmp_path / "viewer.png")
        print(f"drawn after {time.monotonic() - start:.1f} s: bars {bar_heights(png)} px")

        page.navigate("about:blank")
        (tmp_path / "blank.png").write_bytes(blank := page.screenshot())
        assert bar_heights(blank) == [] and not shows_the_losses(blank)

    print("blocked:", *page.requests.blocked, sep="\n  ")
    assert viewer.url in page.requests.allowed
    assert {urlsplit(url).hostname for url in page.requests.allowed} == {"127.0.0.1"}
    assert group_gone(browser.process.pid)
    assert group_gone(viewer.process.pid)


def test_the_browser_lets_requests_through_to_127_0_0_1_only(
    chromium_exe: Path, tmp_path: Path
) -> None:
    with chromium(tmp_path, executable=chromium_exe) as browser:
        local = f"http://127.0.0.1:{browser.port}/json/version"
        page = browser.open(local)
        fetch = "fetch({!r}).then(r => r.status, e => e.name)"
        assert page.evaluate(fetch.format(local)) == 200
        assert page.evaluate(fetch.format("https://example.com/")) == "TypeError"

    assert page.requests.allowed.count(local) == 2  # the page, and its fetch
    assert page.requests.blocked == ["https://example.com/"]
    assert group_gone(browser.process.pid)
