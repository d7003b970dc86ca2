"""`snakesweep run --view`: each run reaches the viewer's stream as it finishes, mapped as
``results/sweep.rrd`` maps it, with a progress entity; the final recording is the one made
without ``--view``, and a viewer that goes away never stops the sweep.

The viewer here is rerun's own gRPC server saving what it receives (``rerun --save``),
started by the test in its own process group and stopped by group; the experiment of the
last point waits until the earlier points are in that stream, so the sweep cannot finish
unless they arrived while it ran.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from conftest import snakesweep, write
from test_recording import Recording, read

GATED = '''
import os
import time

import numpy as np


def main(cfg):
    """The last point waits (up to a minute) for the test to open its gate; the point
    ``flaky`` fails its first attempt."""
    if cfg.x == cfg.flaky and not os.path.exists("attempted"):
        open("attempted", "w").close()
        raise ConnectionError("a transient error: the next attempt succeeds")
    if cfg.x == cfg.last:
        deadline = time.monotonic() + 60
        while not os.path.exists("gate"):
            if time.monotonic() > deadline:
                raise TimeoutError("the gate never opened: the earlier runs never reached "
                                   "the live view")
            time.sleep(0.05)
    return {"y": cfg.x * 10.0, "curve": np.arange(3) * cfg.x}
'''


def gated_project(root: Path, points: int = 4, flaky: int | None = None) -> Path:
    write(
        root / "conf" / "config.yaml",
        f"""
        snakesweep:
          experiment: gated:main
        x: 1
        last: {points}
        flaky: {flaky if flaky is not None else "null"}
        hydra:
          sweeper:
            params:
              x: range(1,{points + 1})
        """,
    )
    write(root / "gated.py", GATED)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def group(command: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[str]]:
    """A child in its own process group, stopped group and all when the block ends."""
    process = subprocess.Popen(command, start_new_session=True, text=True, **kwargs)
    try:
        yield process
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(10)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        wait_for(lambda: not _group_alive(process.pid), "the process group to end", 30)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@contextmanager
def saving_viewer(path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """rerun's gRPC server on 127.0.0.1 streaming what it receives to ``path``: its address
    and its process (the leader of its group)."""
    port = free_port()
    rerun = str(Path(sys.executable).with_name("rerun"))
    with group(
        [rerun, "--bind", "127.0.0.1", "--port", str(port), "--save", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as server:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "rerun --save exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "rerun --save never listened"
                time.sleep(0.1)
        yield f"rerun+http://127.0.0.1:{port}/proxy", server


def read_stream(path: Path) -> Recording:
    """What ``rerun --save`` wrote: a stream, without the footer a saved recording has."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "RRD file has no footer")
        return read(path)


def received(path: Path) -> Recording | None:
    """What the viewer has saved so far (None while it holds nothing readable)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        return read_stream(path)
    except Exception:  # a message half-written: read again later
        return None


def wait_for(predicate: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def y_values(rec: Recording | None) -> dict[int, float]:
    """The ``y`` each x shows in the stream so far."""
    if rec is None or "/y" not in rec.entities:
        return {}
    entity = rec["/y"]
    return {t: v[0] for t, v in zip(entity.times["x"], entity.rows["Scalars:scalars"], strict=True)}


def progress(rec: Recording | None) -> str:
    """The live view's progress text so far ('' before there is one)."""
    if rec is None or "/progress" not in rec.entities:
        return ""
    return str(rec["/progress"].static["TextDocument:text"][0])


def content(rec: Recording) -> dict[str, Any]:
    """A recording's data by entity, rows in time order: what a viewer draws."""
    out: dict[str, Any] = {}
    for path, entity in rec.entities.items():
        rows = {}
        for timeline, times in entity.times.items():
            order = np.argsort(times, kind="stable")
            rows[timeline] = [times[i] for i in order]
            for name, values in entity.rows.items():
                rows[name] = [values[i] for i in order]
        out[path] = (rows, entity.static)
    return out


@pytest.mark.slow
def test_runs_reach_the_live_view_while_the_sweep_runs(tmp_path: Path) -> None:
    project = gated_project(tmp_path / "live", flaky=2)  # x=2 fails once, then is retried
    stream = tmp_path / "stream.rrd"
    with (
        saving_viewer(stream) as (address, _),
        open(tmp_path / "err", "w+") as log,
        group(
            [
                sys.executable,
                "-m",
                "snakesweep",
                "run",
                "--cores",
                "2",
                "--retries",
                "1",
                "--view",
                address,
            ],
            cwd=project,
            stdout=log,
            stderr=log,
        ) as sweep,
    ):
        # the last point waits for the gate: these arrive while the sweep is still running
        wait_for(
            lambda: (
                y_values(received(stream)) == {1: 10.0, 2: 20.0, 3: 30.0}
                and progress(received(stream)).startswith(
                    "**3 of 4 runs done** · 0 failed · 1 pending · ETA "
                )
            ),
            "runs x=1..3 in the live view",
        )
        assert sweep.poll() is None
        (project / "gate").touch()
        assert sweep.wait(300) == 0, Path(log.name).read_text()
        assert "snakesweep: live view: 4 runs in " in Path(log.name).read_text()
    live = read_stream(stream)
    assert y_values(live) == {1: 10.0, 2: 20.0, 3: 30.0, 4: 40.0}
    assert len(live["/y"].times["x"]) == 4  # each row once, never a NaN first for the retry
    assert progress(live).startswith("**4 of 4 runs done** · 0 failed · 0 pending · finished")
    assert live.views["/progress"] == ("TextDocument", "progress")

    # the same sweep without --view: the same recording, and the stream showed just that
    plain = gated_project(tmp_path / "plain", flaky=2)
    (plain / "gate").touch()
    out = snakesweep("run", "--cores", "2", "--retries", "1", cwd=plain)
    assert out.returncode == 0, out.stderr
    final = read(project / "results" / "sweep.rrd")
    assert content(final) == content(read(plain / "results" / "sweep.rrd"))
    assert final.views == read(plain / "results" / "sweep.rrd").views
    assert {p: c for p, c in content(live).items() if p != "/progress"} == content(final)
    assert {p: v for p, v in live.views.items() if p != "/progress"} == final.views


@pytest.mark.slow
def test_a_sweep_from_python_streams_its_runs_to_the_live_view(tmp_path: Path) -> None:
    """``snakesweep.sweep(..., view=ADDRESS)``: as ``run --view``, and the call returns."""
    project = gated_project(tmp_path / "live")
    stream = tmp_path / "stream.rrd"
    with saving_viewer(stream) as (address, _), open(tmp_path / "err", "w+") as log:
        write(
            project / "script.py",
            f"""
            import snakesweep
            res = snakesweep.sweep(None, cores=2, view={address!r})
            print("RESULT", res.dataset["y"].values.tolist())
            """,
        )
        with group([sys.executable, "script.py"], cwd=project, stdout=log, stderr=log) as sweep:
            wait_for(
                lambda: y_values(received(stream)) == {1: 10.0, 2: 20.0, 3: 30.0},
                "runs x=1..3 in the live view",
            )
            assert sweep.poll() is None  # the last run waits for the gate: still running
            (project / "gate").touch()
            assert sweep.wait(300) == 0, Path(log.name).read_text()
        output = Path(log.name).read_text()
    assert "RESULT [10.0, 20.0, 30.0, 40.0]" in output
    assert "snakesweep: live view: 4 runs in " in output
    live = read_stream(stream)
    assert y_values(live) == {1: 10.0, 2: 20.0, 3: 30.0, 4: 40.0}
    assert progress(live).startswith("**4 of 4 runs done** · 0 failed · 0 pending · finished")


@pytest.mark.slow
def test_a_viewer_that_goes_away_does_not_stop_the_sweep(tmp_path: Path) -> None:
    project = gated_project(tmp_path / "live")
    stream = tmp_path / "stream.rrd"
    (project / "gate").touch()
    out = snakesweep(
        "run", "--cores", "2", "--view", f"rerun+http://127.0.0.1:{free_port()}/proxy", cwd=project
    )
    assert out.returncode == 0, out.stderr  # nothing listens there: the sweep still runs

    project = gated_project(tmp_path / "closed")
    with (
        saving_viewer(stream) as (address, viewer),
        open(tmp_path / "err", "w+") as log,
        group(
            [sys.executable, "-m", "snakesweep", "run", "--cores", "2", "--view", address],
            cwd=project,
            stdout=log,
            stderr=log,
        ) as sweep,
    ):
        wait_for(lambda: len(y_values(received(stream))) == 3, "runs x=1..3 in the live view")
        os.killpg(viewer.pid, signal.SIGKILL)  # the viewer is closed mid-sweep
        viewer.wait(10)
        (project / "gate").touch()
        assert sweep.wait(300) == 0, Path(log.name).read_text()
        assert "snakesweep: live view: " in Path(log.name).read_text()
    ds = xr.load_dataset(project / "results" / "sweep.nc")
    assert ds["y"].values.tolist() == [10.0, 20.0, 30.0, 40.0]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_view_web_serves_the_live_view_on_localhost_until_interrupted(tmp_path: Path) -> None:
    project = gated_project(tmp_path / "web", points=2)
    (project / "gate").touch()
    with (
        open(tmp_path / "err", "w+") as log,
        group(
            [sys.executable, "-m", "snakesweep", "run", "--cores", "1", "--view", "web"],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=log,
        ) as sweep,
    ):
        assert sweep.stdout is not None
        line = sweep.stdout.readline()
        assert line.startswith("snakesweep: live view of results/ at http://127.0.0.1:"), line
        url = line.rsplit(" at ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and "Rerun" in page.read().decode()
        line = sweep.stdout.readline()
        assert (
            line == f"snakesweep: the sweep has ended; the live view stays at {url} until Ctrl-C\n"
        )
        with urllib.request.urlopen(url, timeout=10) as page:  # still served
            assert page.status == 200
        sweep.send_signal(signal.SIGTERM)
        assert sweep.wait(60) == 0, Path(log.name).read_text()
        err = Path(log.name).read_text()
        assert "snakesweep: live view: 2 runs in " in err and "live view stopped" not in err
    port = int(url.split(":")[2].split("/")[0])
    assert not _listening(port)  # the server went with it
    assert xr.load_dataset(project / "results" / "sweep.nc")["y"].values.tolist() == [10.0, 20.0]


@pytest.mark.parametrize(
    "args, culprit",
    [
        (["--view", "x=1,2"], "--view 'x=1,2': expected native, web, or a viewer's gRPC address"),
        (["--view", "http://127.0.0.1:9876"], "--view 'http://127.0.0.1:9876'"),
    ],
)
def test_a_bad_view_is_one_line_naming_it(project: Path, args: list[str], culprit: str) -> None:
    out = snakesweep("run", *args, cwd=project)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert culprit in out.stderr and "Traceback" not in out.stderr


def test_the_native_view_without_a_display_says_what_to_do(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run(
        [sys.executable, "-m", "snakesweep", "run", "--view"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "snakesweep: no display for the viewer window (neither DISPLAY nor WAYLAND_DISPLAY "
        "is set); `--view web` serves the live view to a browser instead"
    )
    assert not (project / "results" / "runs").exists()  # nothing ran


def test_a_mean_over_repeats_is_shown_only_when_every_repeat_has_ended() -> None:
    from snakesweep.api.live import ENDED, _settled_mask, _settled_values
    from snakesweep.view.mapping import layout

    ds = xr.Dataset(
        {
            "y": (("x", "repeat"), [[1.0, 3.0], [5.0, np.nan]]),
            "status": (("x", "repeat"), [["done", "done"], ["done", "pending"]]),
            "run_id": (("x", "repeat"), [["a", "b"], ["c", "d"]]),
        },
        coords={"x": [1, 2], "repeat": [0, 1]},
    )
    [shown] = layout(_settled_values(ds, ENDED)).leaves()
    [ready] = layout(_settled_mask(ds, ENDED)).leaves()
    assert np.isfinite(ready.values).all(axis=-1).tolist() == [True, False]
    assert shown.values[0].tolist() == [2.0, 1.0, 3.0]  # mean, mean − std, mean + std
    assert np.isnan(shown.values[1]).all()  # not 5.0: the mean of one repeat of two


def test_progress_says_counts_and_eta() -> None:
    from snakesweep.api.live import Progress

    assert Progress(3, 1, 6, 95.0, 2.5).text() == (
        "**3 of 10 runs done** · 1 failed · 6 pending · ETA 1 min 35 s · a run takes "
        "2.5 s on average"
    )
    assert Progress(10, 0, 0, None, 0.2).text() == (
        "**10 of 10 runs done** · 0 failed · 0 pending · finished · a run takes 0.2 s on average"
    )
