"""SIGTERM to `snakesweep run` alone (a cluster's scheduler, `kill PID`) reaches its Snakemake,
which ends as it does on SIGTERM (once its running jobs end, with the pool still serving
them): nothing of the sweep is left running, and nothing is computed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from harness import command, counted_done, make_project, processes_in, run, side

pytestmark = pytest.mark.slow


def test_sigterm_to_snakesweep_run_stops_its_snakemake(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", runs=2, sleep=5).resolve()
    proc = subprocess.Popen(
        command("run", "--cores", "2"),
        cwd=root,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not side(root, "started.txt") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert side(root, "started.txt"), "no run started"
        proc.send_signal(signal.SIGTERM)  # to snakesweep alone, not its process group
        proc.communicate(timeout=60)
        deadline = time.monotonic() + 20
        while processes_in(root) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_in(root) == []
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
    # Snakemake ends on SIGTERM once its running jobs end: the runs went on and are kept
    assert len(counted_done(root)) == 2
    again = run(root, "run", "--cores", "2")
    assert again.returncode == 0, again.stderr
    assert len(counted_done(root)) == 2
    finished = [r for r, _ in side(root, "finished.txt")]
    assert sorted(finished) == sorted(set(finished)), "a run was computed twice"
