"""kill -9: a 200-run sweep killed twenty times, whole process group, at seeded random moments.

After each kill a new `snakesweep run` goes on by itself (no --unlock, nothing deleted), and
in the end every run is done exactly once and sweep.nc is that of a sweep never killed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from harness import (
    Tally,
    account,
    finished_counts,
    kill_campaign,
    make_project,
    run,
    side,
)

from snakesweep.snakemake.workflow import SNAKEFILE

RUNS = 200
SLEEP = 0.1


def plan_ids(root: Path) -> set[str]:
    out = run(root, "plan", "--format", "json")
    assert out.returncode == 0, out.stderr
    return {p["run_id"] for p in json.loads(out.stdout)}


def merged(root: Path) -> xr.Dataset:
    with xr.open_dataset(root / "results" / "sweep.nc", engine="netcdf4") as ds:
        return ds.load().drop_attrs()


@pytest.mark.slow
def test_twenty_kills_lose_nothing_double_nothing_and_merge_as_if_never_killed(
    tmp_path: Path,
) -> None:
    calm = make_project(tmp_path / "calm", RUNS, sleep=SLEEP)
    t0 = time.time()
    out = run(calm, "run", "--cores", "2")
    assert out.returncode == 0, out.stderr
    first_start = side(calm, "started.txt")[0][1] - t0

    killed = make_project(tmp_path / "killed", RUNS, sleep=SLEEP)
    campaign = kill_campaign(killed, kills=20, seed=20261201, window=(3.0, 1.5))
    tally = campaign.tally
    tally.baseline = first_start

    ids = plan_ids(killed)
    assert len(ids) == RUNS
    account(tally, killed, ids, [])
    assert tally.injected == 20
    assert campaign.invocations == 21
    assert campaign.kills_during_runs >= 10, "most kills must land while runs are going"
    assert tally.notes == []  # the last invocation finished the sweep by itself
    assert tally.clean, tally  # nothing lost, twice, partial yet done, or traceback shown
    assert set(finished_counts(killed)) == ids
    assert not list((killed / "results" / ".snakesweep" / "drafts").glob("*/*")), (
        "a draft of a killed attempt outlived the sweep"
    )
    xr.testing.assert_identical(merged(killed), merged(calm))


@pytest.mark.slow
def test_plain_snakemake_killed_goes_on_without_unlock_or_rerun_incomplete(tmp_path: Path) -> None:
    """The rules clear a killed Snakemake's lock and the incomplete markers of the runs it
    committed when they are parsed, so plain `snakemake` needs no --unlock either."""
    root = make_project(tmp_path, 30, sleep=0.2)
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", SNAKEFILE, "--cores", "2"]
    proc = subprocess.Popen(
        snakemake,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(side(root, "finished.txt")) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert any((root / ".snakemake" / "locks").iterdir()), "the kill left no lock to clear"

    again = subprocess.run(snakemake, cwd=root, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    cleared = re.search(r"cleared what a killed run left \((\d+) Snakemake lock", again.stderr)
    assert cleared and int(cleared.group(1)) > 0, again.stderr
    finished = finished_counts(root)
    assert len(finished) == 30
    assert account(
        Tally("kill -9 of plain snakemake", injected=1),
        root,
        set(finished),
        [again.stdout, again.stderr],
    ).clean
