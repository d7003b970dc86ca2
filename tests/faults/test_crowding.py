"""Crowding: a results directory on a full disk, and two sweeps at once on one directory."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    TRACEBACK,
    Tally,
    account,
    command,
    counted_done,
    finished_counts,
    incomplete_counted_done,
    make_project,
    meta_of,
    mount_tmpfs,
    run,
    run_dirs,
    side,
    small_disk_at,
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/results`` on a tmpfs of 3 MB; unmounted at the end."""
    with small_disk_at(tmp_path / "results", "3m") as where:
        yield where


@pytest.mark.slow
def test_a_full_disk_keeps_what_fit_counts_nothing_partial_and_completes_once_freed(
    tmp_path: Path, small_disk: Path
) -> None:
    root = make_project(tmp_path, 24, floats=25_000)  # 24 runs of ~200 kB on 3 MB
    out = run(root, "run", "--cores", "2")

    assert out.returncode != 0
    assert TRACEBACK not in out.stdout + out.stderr
    done = counted_done(root)
    assert 0 < len(done) < 24
    assert incomplete_counted_done(root, done) == []
    recorded = [meta_of(d) for d in run_dirs(root) if d.name not in done]
    messages = [m["error"]["message"] for m in recorded if m and m.get("error")]
    assert all("No space left on device" in m for m in messages), messages
    assert "No space left on device" in out.stderr

    assert mount_tmpfs(small_disk, "64m", remount=True).returncode == 0
    first = finished_counts(root)
    again = run(root, "run", "--cores", "2")
    assert again.returncode == 0, again.stderr
    everything = counted_done(root)
    assert len(everything) == 24
    tally = account(
        Tally("disk full (3 MB tmpfs)", injected=24 - len(done)),
        root,
        everything,
        [out.stdout, out.stderr, again.stdout, again.stderr],
    )
    assert tally.clean, tally
    assert all(finished_counts(root)[r] == first[r] for r in done), "a done run ran again"
    assert (root / "results" / "sweep.nc").is_file()


@pytest.mark.slow
def test_two_overlapping_sweeps_at_once_the_later_waits_and_nothing_runs_twice(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path, 30, sleep=0.1)
    logs = [open(tmp_path / f"{name}.log", "w+") for name in ("first", "second")]  # noqa: SIM115
    first = subprocess.Popen(
        command("run", "--cores", "2"), cwd=root, stdout=logs[0], stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while not side(root, "started.txt") and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.Popen(
        command("run", "--cores", "2", "x=range(15,45)"),
        cwd=root,
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    codes = [first.wait(timeout=600), second.wait(timeout=600)]
    first_log, second_log = ((tmp_path / f"{n}.log").read_text() for n in ("first", "second"))
    for log in logs:
        log.close()

    assert codes == [0, 0], first_log + second_log
    assert "results/ is in use by snakesweep run" in second_log
    assert TRACEBACK not in first_log + second_log
    finished = finished_counts(root)
    assert len(finished) == 45 and set(finished.values()) == {1}
    plan = json.loads(run(root, "plan", "--format", "json", "x=range(0,45)").stdout)
    assert {p["status"] for p in plan} == {"done"}
    tally = account(
        Tally("two overlapping sweeps at once", injected=15),
        root,
        {p["run_id"] for p in plan},
        [first_log, second_log],
    )
    assert tally.clean, tally
