"""A damaged plan cache: checked before it is trusted, made again when it does not verify."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from harness import TRACEBACK, Tally, account, finished_counts, make_project, run


def _plan_files(root: Path) -> tuple[Path, Path]:
    plans = root / "results" / ".snakesweep" / "plans"
    header = next(p for p in plans.glob("*.json") if not p.name.endswith(".configs.json"))
    return header, header.with_name(f"{header.stem}.configs.json")


@pytest.mark.slow
def test_a_damaged_plan_cache_is_made_again_and_never_merges_a_run_at_another_cell(
    tmp_path: Path,
) -> None:
    """A plan file cut short, random bytes for its configs file, then two run ids swapped
    in a plan file that is still valid JSON: each command says the cache is made again,
    none shows a traceback, no run is computed again, and sweep.nc has every value at its
    own cell."""
    root = make_project(tmp_path, 4)
    first = run(root, "run", "--cores", "2")
    assert first.returncode == 0, first.stderr
    done = finished_counts(root)
    shown = [first.stdout, first.stderr]
    tally = Tally("plan cache cut short, overwritten, run ids swapped")

    header, configs = _plan_files(root)
    header.write_bytes(header.read_bytes()[: header.stat().st_size // 2])
    tally.injected += 1
    status = run(root, "status")
    shown += [status.stdout, status.stderr]
    assert status.returncode == 0, status.stderr
    assert "4 runs: 4 done" in status.stdout
    assert "making it again" in status.stderr

    header, configs = _plan_files(root)
    configs.write_bytes(os.urandom(configs.stat().st_size))
    tally.injected += 1
    plan = run(root, "plan")
    shown += [plan.stdout, plan.stderr]
    assert plan.returncode == 0, plan.stderr
    assert "making it again" in plan.stderr

    header, configs = _plan_files(root)
    data = json.loads(header.read_text())
    data["run_ids"][0], data["run_ids"][1] = data["run_ids"][1], data["run_ids"][0]
    header.write_text(json.dumps(data, separators=(",", ":")))  # valid JSON, as a plan is
    tally.injected += 1
    (root / "results" / "sweep.nc").unlink()  # so the merge runs
    again = run(root, "run", "--cores", "2")
    shown += [again.stdout, again.stderr]
    assert again.returncode == 0, again.stderr
    assert "making it again" in again.stderr

    import xarray as xr

    with xr.open_dataset(root / "results" / "sweep.nc", engine="netcdf4") as ds:
        tally.wrong += int((ds["y"].values != ds["x"].values * 2).sum())
        ids = dict(zip(ds["x"].values.tolist(), ds["run_id"].values.tolist(), strict=True))
    listed = json.loads(run(root, "plan", "--format", "json").stdout)
    assert {p["params"]["x"]: p["run_id"] for p in listed} == ids
    assert finished_counts(root) == done, "a run was computed again"
    assert all(TRACEBACK not in text for text in shown)
    account(tally, root, set(ids.values()), shown)
    assert tally.clean, tally
