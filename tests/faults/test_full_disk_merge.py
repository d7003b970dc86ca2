"""A disk that fills up while the runs are merged: every write is bounded, the user is told
in one line, and the merged files stay whole and as they were."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    TRACEBACK,
    Tally,
    account,
    asides,
    bounded,
    make_project,
    mount_tmpfs,
    small_disk_at,
)

MERGED = (
    "sweep.nc",
    "runs.csv",
    "sweep.rrd",
    "sweep.json",
    "metrics.json",
    "provenance.json",
    "provenance.diff",
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/results`` on a tmpfs of 3600 kB; unmounted at the end."""
    with small_disk_at(tmp_path / "results", "3600k") as where:
        yield where


def _digests(results: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((results / name).read_bytes()).hexdigest()
        for name in MERGED
        if (results / name).exists()
    }


def _dead_pid() -> int:
    """The pid of a process that has ended."""
    probe = subprocess.Popen(["true"])
    probe.wait()
    return probe.pid


@pytest.mark.slow
def test_a_merge_that_does_not_fit_says_so_and_keeps_the_merged_files_whole(
    tmp_path: Path, small_disk: Path
) -> None:
    """The merge of 12 runs of 100 kB each does not fit beside the merge of 4: it ends
    within its bound, says "no space left on device (results/…)" in one line, leaves the
    previous merged files as they were (sweep.json describing them) and nothing aside;
    with space, the next run merges everything, and clears what a killed merge left."""
    from snakesweep.merge import freshness

    root = make_project(tmp_path, 4, floats=12_500)
    tally = Tally("disk full while merging (3600 kB tmpfs)")
    first = bounded(root, "run", "--cores", "2", tally=tally)
    assert first.returncode == 0, first.stderr
    before = _digests(small_disk)
    assert set(before) == set(MERGED)

    full = bounded(root, "run", "--cores", "2", "x=range(0,12)", tally=tally)
    shown = full.stdout + full.stderr
    assert tally.hangs == 0, tally.notes
    assert full.returncode != 0
    assert TRACEBACK not in shown
    said = [
        line
        for line in full.stderr.splitlines()
        if "no space left on device (results/" in line.lower()
    ]
    assert said, full.stderr[-3000:]
    assert any("free some space" in line for line in said), said
    assert asides(small_disk) == []
    assert _digests(small_disk) == before, "the previous merged files changed"
    assert freshness.recorded_key(small_disk) is not None, (
        "sweep.json does not describe the merged files"
    )
    tally.injected += 1

    dead = _dead_pid()  # what a merge killed mid-write leaves; the next merge clears it
    (small_disk / f".sweep.nc.{dead}.tmp").write_bytes(b"half")
    (small_disk / f".plots.{dead}.tmp").mkdir()
    assert mount_tmpfs(small_disk, "64m", remount=True).returncode == 0
    again = bounded(root, "run", "--cores", "2", "x=range(0,12)", tally=tally)
    assert again.returncode == 0, again.stderr
    assert asides(small_disk) == []

    import xarray as xr

    with xr.open_dataset(small_disk / "sweep.nc") as ds:
        assert [str(s) for s in ds["status"].values] == ["done"] * 12
        tally.wrong += int((ds["y"].values != ds["x"].values * 2).sum())
    plan = json.loads(bounded(root, "plan", "--format", "json", "x=range(0,12)").stdout)
    account(
        tally, root, {p["run_id"] for p in plan}, [first.stderr, shown, again.stdout, again.stderr]
    )
    assert tally.clean, tally
