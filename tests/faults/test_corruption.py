"""Corruption: a finished run's result.nc truncated or overwritten, or its meta.json gone, is
named corrupt (against the checksum recorded at completion), never merged, and computed
again, alone; a damaged sweep.nc is merged again."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from harness import (
    TRACEBACK,
    Tally,
    account,
    counted_done,
    finished_counts,
    make_project,
    run,
)

from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.execute.execution import execute_run, outcome_of_process


def damage(root: Path) -> dict[str, str]:
    """Damage three runs three ways; which run got which damage."""
    plan = json.loads(run(root, "plan", "--format", "json").stdout)
    ids = {p["params"]["x"]: p["run_id"] for p in plan}
    runs = root / "results" / "runs"
    truncated = runs / ids[1] / "result.nc"
    truncated.write_bytes(truncated.read_bytes()[:100])
    overwritten = runs / ids[2] / "result.nc"
    size = overwritten.stat().st_size
    overwritten.write_bytes(bytes(reversed(overwritten.read_bytes())))  # same size
    assert overwritten.stat().st_size == size
    (runs / ids[3] / "meta.json").unlink()
    return {
        ids[1]: "result.nc has 100 bytes",
        ids[2]: "sha256 differs",
        ids[3]: "meta.json is missing",
    }


@pytest.mark.slow
def test_damaged_runs_are_named_never_merged_and_computed_again_alone(tmp_path: Path) -> None:
    root = make_project(tmp_path, 5)
    assert run(root, "run", "--cores", "2").returncode == 0
    every = counted_done(root)
    damaged = damage(root)

    status = run(root, "status")
    assert status.returncode == 0
    assert "5 runs: 2 done, 3 corrupt, 0 pending, 0 failed" in status.stdout
    listed = status.stdout.split("corrupt (", 1)[1]
    for run_id, why in damaged.items():
        assert run_id in listed and why in listed
    counted_while_damaged = counted_done(root)
    assert counted_while_damaged == every - set(damaged)

    # The merge on its own (what `dvc repro`'s merge stage runs) never reads them.
    plan = next((root / "results" / ".snakesweep" / "plans").glob("*.configs.json"))
    merge = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakesweep.merge",
            str(plan).replace(".configs.json", ".json"),
            "results",
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert merge.returncode == 0, merge.stderr
    with xr.open_dataset(root / "results" / "sweep.nc", engine="netcdf4") as ds:
        status_of = dict(
            zip(ds["run_id"].values.tolist(), ds["status"].values.tolist(), strict=True)
        )
        y = dict(zip(ds["run_id"].values.tolist(), ds["y"].values.tolist(), strict=True))
    for run_id in damaged:
        assert status_of[run_id] == "corrupt" and np.isnan(y[run_id])

    before = finished_counts(root)
    out = run(root, "run", "--cores", "2")
    assert out.returncode == 0, out.stderr
    assert TRACEBACK not in out.stdout + out.stderr
    assert "3 run(s) whose result is not the file recorded at completion (corrupt)" in out.stderr
    computed = finished_counts(root) - before
    assert set(computed) == set(damaged) and set(computed.values()) == {1}
    tally = Tally(
        "corruption: result.nc cut or overwritten, meta.json gone",
        injected=3,
        incomplete_done=len(counted_while_damaged & set(damaged)),
    )
    account(
        tally,
        root,
        every,
        [status.stdout, status.stderr, out.stdout, out.stderr],
        damaged=frozenset(damaged),
    )
    assert tally.clean, tally
    with xr.open_dataset(root / "results" / "sweep.nc", engine="netcdf4") as ds:
        assert set(ds["status"].values.tolist()) == {"done"}
        assert sorted(ds["y"].values.tolist()) == [0.0, 2.0, 4.0, 6.0, 8.0]


@pytest.mark.slow
def test_a_damaged_sweep_nc_is_merged_again_without_computing_a_run(tmp_path: Path) -> None:
    root = make_project(tmp_path, 3)
    assert run(root, "run", "--cores", "2").returncode == 0
    sweep = root / "results" / "sweep.nc"
    good = sweep.read_bytes()
    sweep.write_bytes(good[:-64] + b"\0" * 64)  # same size, a damaged end
    before = finished_counts(root)

    out = run(root, "run", "--cores", "2")
    assert out.returncode == 0, out.stderr
    assert finished_counts(root) == before
    assert sweep.read_bytes() == good
    tally = account(
        Tally("corruption: sweep.nc overwritten", injected=1),
        root,
        set(finished_counts(root)),
        [out.stdout, out.stderr],
    )
    assert tally.clean, tally
    assert "snakesweep: merging the runs into results/sweep.nc" in out.stderr


def test_a_done_run_recorded_before_checksums_is_trusted_and_one_without_meta_is_not(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A meta.json written before results had checksums still counts its run done, so an
    upgrade computes nothing again; a result whose meta.json is gone does not."""
    monkeypatch.chdir(project)
    plan = make_plan("conf", "config", ["x=1,2"], "results")
    for run_id in plan.run_ids:
        execute_run(plan, run_id, "results")
    old, bare = plan.run_ids
    meta_path = store.run_dir("results", old) / store.META
    meta = json.loads(meta_path.read_text())
    del meta["result_sha256"], meta["result_bytes"]
    meta_path.write_text(json.dumps(meta, indent=2))
    (store.run_dir("results", bare) / store.META).unlink()
    assert store.run_statuses("results", plan.run_ids) == {old: "done", bare: "corrupt"}


def test_a_run_killed_after_writing_its_result_is_failed_not_corrupt(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed between writing result.nc in its draft and committing the run: its
    draft is committed as failed without that result, so nothing half-done looks done."""
    monkeypatch.chdir(project)
    plan = make_plan("conf", "config", ["x=1"], "results")
    (run_id,) = plan.run_ids
    draft = store.RunDraft(Path("results").absolute(), run_id, pid=999_999)
    draft.path.mkdir(parents=True)
    (draft.path / store.RESULT).write_bytes(b"a whole file, but no run recorded it")
    outcome = outcome_of_process("results", run_id, 999_999, signal.SIGKILL)
    assert outcome.status == "failed" and "signal SIGKILL" in outcome.message
    assert store.run_statuses("results", [run_id]) == {run_id: "failed"}
    assert not store.result_path("results", run_id).exists()
