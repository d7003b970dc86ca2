"""A batch job killed part-way: its finished runs stay done, its unfinished runs pending,
and the next invocation computes exactly those, once (the fault suite's rules, for batches)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from harness import Tally, account, command, completed_twice, counted_done, make_project, run, side

pytestmark = pytest.mark.slow


def test_a_batch_killed_part_way_keeps_its_finished_runs_and_computes_the_rest_once(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path / "p", runs=6, sleep=0.4)
    proc = subprocess.Popen(
        command("run", "--cores", "1", "--batch", "6"),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(side(root, "finished.txt")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    first, _ = proc.communicate()
    finished = {r for r, _ in side(root, "finished.txt")}
    assert 2 <= len(finished) < 6, first

    done = counted_done(root)
    assert finished <= done | {r for r, _ in side(root, "started.txt")}
    assert len(done) < 6  # the batch was cut short: some runs are not done

    again = run(root, "run", "--cores", "1", "--batch", "6")
    assert again.returncode == 0, again.stderr
    tally = account(
        Tally("kill -9 of a batch job part-way (6 runs, batch: 6)", injected=1),
        root,
        counted_done(root),
        [first, again.stdout, again.stderr],
    )
    assert len(counted_done(root)) == 6
    assert completed_twice(root) == []
    assert tally.clean, tally
    recomputed = [r for r, _ in side(root, "started.txt")]
    assert all(recomputed.count(r) == 1 for r in done), "a done run was computed again"
