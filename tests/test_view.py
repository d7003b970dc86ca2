"""Every sweep leaves results/sweep.rrd; `snakesweep view` shows it (web viewer: 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import snakesweep
from test_recording import read, tensor


@pytest.mark.slow
def test_a_sweep_leaves_a_recording_and_remakes_it_when_it_is_lost(project: Path) -> None:
    out = snakesweep("run", "--cores", "2", cwd=project)
    assert out.returncode == 0, out.stderr
    rec = read(project / "results" / "sweep.rrd")
    assert set(rec.entities) == {"/y", "/curve"}
    assert rec["/y"].times == {"x": [1, 2, 3]}
    assert rec["/y"].rows["Scalars:scalars"] == [[10.0], [20.0], [30.0]]
    assert tensor(rec["/curve"].static["Tensor:data"]).tolist() == [[0, 1, 2], [0, 2, 4], [0, 3, 6]]
    index = (project / "results" / "sweep.json").read_bytes()

    (project / "results" / "sweep.rrd").unlink()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "2",
            "--snakefile",
            _snakefile(),
            "results/sweep.rrd",
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "merge_runs" in out.stderr and "run_experiment" not in out.stderr
    assert set(read(project / "results" / "sweep.rrd").entities) == {"/y", "/curve"}
    assert (project / "results" / "sweep.json").read_bytes() == index  # DVC sees no change


def _snakefile() -> str:
    from snakesweep.snakemake.workflow import SNAKEFILE

    return SNAKEFILE


@pytest.mark.slow
def test_a_sweep_without_results_gets_a_recording_that_says_so(project: Path) -> None:
    (project / "tinyexp.py").write_text("def main(cfg):\n    return {}\n")
    out = snakesweep("run", "--cores", "1", cwd=project)
    assert out.returncode == 0, out.stderr
    rec = read(project / "results" / "sweep.rrd")
    assert rec["/note"].static["TextDocument:text"] == ["Nothing to show: no result variables."]


def test_view_web_serves_the_recording_on_localhost_until_stopped(tmp_path: Path) -> None:
    import numpy as np
    import xarray as xr

    from snakesweep.view.recording import to_rerun

    (tmp_path / "results").mkdir()
    to_rerun(xr.Dataset({"y": ("x", np.arange(3.0))}), tmp_path / "results" / "sweep.rrd")
    with subprocess.Popen(
        [sys.executable, "-m", "snakesweep", "view", "--web"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as server:
        try:
            assert server.stdout is not None and server.stderr is not None
            line = server.stdout.readline()
            assert line.startswith("snakesweep: serving results/sweep.rrd at http://127.0.0.1:"), (
                line + server.stderr.read()
            )
            url = line.split(" at ", 1)[1].strip()
            assert "rerun%2Bhttp%3A%2F%2F127.0.0.1%3A" in url  # the page loads from this server
            with urllib.request.urlopen(url, timeout=10) as page:
                assert page.status == 200
                assert "Rerun" in page.read().decode()
            server.send_signal(signal.SIGTERM)
            assert server.wait(30) == 0
            port = urlparse(url).port
            assert port is not None
            with pytest.raises(OSError):  # the viewer stopped with it
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
        finally:  # snakesweep stops the viewer's process group when it is terminated
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)


def test_view_without_a_recording_says_how_to_make_one(tmp_path: Path) -> None:
    out = snakesweep("view", "--web", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "snakesweep: no recording at results/sweep.rrd: run the sweep first (`snakesweep run` "
        "or `snakemake --cores all`), which writes it beside sweep.nc"
    ]


def test_view_without_a_display_points_to_the_web_viewer(tmp_path: Path) -> None:
    (tmp_path / "sweep.rrd").write_bytes(b"")
    out = snakesweep("view", "sweep.rrd", cwd=tmp_path, env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert out.returncode == 2
    assert len(out.stderr.splitlines()) == 1
    assert "snakesweep view --web" in out.stderr
