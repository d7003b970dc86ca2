"""Devices (``snakesweep.devices``, ``runs_per_device``), tested without a GPU: a fake device
list, every run records the ``CUDA_VISIBLE_DEVICES`` it saw, and runs that overlapped in
time never shared a device beyond ``runs_per_device``."""

from __future__ import annotations

import json
import os
from datetime import datetime
from itertools import combinations
from pathlib import Path

import pytest

from conftest import snakesweep, write
from snakesweep.core.options import Options
from snakesweep.execute import devices

EXPERIMENT = '''
import os
import time


def main(cfg):
    """Sleeps a little so runs overlap; returns the device it was given."""
    seen = os.environ.get("CUDA_VISIBLE_DEVICES")
    time.sleep(cfg.sleep)
    return {"device": int(seen) if seen not in (None, "") else -1}
'''


def make(root: Path, options: str, runs: int = 8) -> Path:
    write(
        root / "conf" / "config.yaml",
        f"""
        snakesweep:
          experiment: devexp:main
          {options}
        x: 0
        sleep: 0.4
        hydra:
          sweeper:
            params:
              x: range(0,{runs})
        """,
    )
    write(root / "devexp.py", EXPERIMENT)
    return root


def runs_of(root: Path) -> list[dict]:
    metas = [json.loads(p.read_text()) for p in (root / "results" / "runs").glob("*/meta.json")]
    for meta in metas:
        meta["span"] = (
            datetime.fromisoformat(meta["start"]).timestamp(),
            datetime.fromisoformat(meta["end"]).timestamp(),
        )
    return metas


def overlapping(a: dict, b: dict) -> bool:
    return a["span"][0] < b["span"][1] and b["span"][0] < a["span"][1]


def seen_devices(root: Path) -> dict[str, int]:
    import xarray as xr

    ds = xr.load_dataset(root / "results" / "sweep.nc", engine="netcdf4")
    return dict(zip(ds["run_id"].values.tolist(), ds["device"].values.tolist(), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "args", "env"),
    [
        ("warm pool", ["--cores", "2"], {}),
        ("a process per run", ["--cores", "2"], {"SNAKESWEEP_NO_POOL": "1"}),
        ("batches", ["--cores", "2", "--batch", "2"], {}),
    ],
)
def test_overlapping_runs_never_share_a_device(
    tmp_path: Path, how: str, args: list[str], env: dict[str, str]
) -> None:
    root = make(tmp_path / "p", "devices: [3, 5]")
    result = snakesweep("run", *args, cwd=root, env={"TMPDIR": str(tmp_path), **env})
    assert result.returncode == 0, result.stderr
    metas = runs_of(root)
    assert len(metas) == 8
    assert {m["devices"] for m in metas} <= {"3", "5"}
    seen = seen_devices(root)
    assert all(seen[m["run_id"]] == int(m["devices"]) for m in metas), how
    pairs = [(a, b) for a, b in combinations(metas, 2) if overlapping(a, b)]
    assert pairs, f"{how}: no two runs overlapped, so the test shows nothing"
    assert all(a["devices"] != b["devices"] for a, b in pairs), how


@pytest.mark.slow
def test_more_cores_than_devices_waits_for_a_device(tmp_path: Path) -> None:
    root = make(tmp_path / "p", "devices: [0]", runs=4)
    result = snakesweep(
        "run", "--cores", "2", cwd=root, env={"TMPDIR": str(tmp_path), "SNAKESWEEP_NO_POOL": "1"}
    )
    assert result.returncode == 0, result.stderr
    metas = runs_of(root)
    assert {m["devices"] for m in metas} == {"0"}
    assert not any(overlapping(a, b) for a, b in combinations(metas, 2))


@pytest.mark.slow
def test_runs_per_device_lets_that_many_share_one(tmp_path: Path) -> None:
    root = make(tmp_path / "p", "devices: [7]\n          runs_per_device: 2", runs=6)
    result = snakesweep("run", "--cores", "2", cwd=root, env={"TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    metas = runs_of(root)
    assert {m["devices"] for m in metas} == {"7"}
    assert any(overlapping(a, b) for a, b in combinations(metas, 2))
    for m in metas:  # never three at once
        at = m["span"][0]
        assert sum(o["span"][0] <= at < o["span"][1] for o in metas) <= 2


@pytest.mark.slow
def test_auto_takes_the_visible_devices_and_no_devices_records_nothing(tmp_path: Path) -> None:
    root = make(tmp_path / "auto", "devices: auto", runs=2)
    result = snakesweep(
        "run", "--cores", "1", cwd=root, env={"TMPDIR": str(tmp_path), "CUDA_VISIBLE_DEVICES": "4"}
    )
    assert result.returncode == 0, result.stderr
    assert {m["devices"] for m in runs_of(root)} == {"4"}

    plain = make(tmp_path / "plain", "", runs=2)
    result = snakesweep("run", "--cores", "1", cwd=plain)
    assert result.returncode == 0, result.stderr
    assert all("devices" not in m for m in runs_of(plain))


@pytest.mark.parametrize(
    ("options", "culprit"),
    [
        ("devices: [true]", "snakesweep.devices"),
        ("devices: {a: 1}", "snakesweep.devices"),
        ("devices: [0]\n          runs_per_device: 0", "snakesweep.runs_per_device"),
    ],
)
def test_unusable_devices_are_one_line_naming_the_key(
    tmp_path: Path, options: str, culprit: str
) -> None:
    root = make(tmp_path / "p", options, runs=2)
    result = snakesweep("run", cwd=root)
    assert result.returncode == 2
    assert culprit in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (root / "results" / "runs").exists()


def test_device_groups_and_slots_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert devices.devices_of(Options.parse({"devices": ["0,1", "2, 3"]})) == ["0,1", "2,3"]
    assert devices.capacity(Options.parse({"devices": [0, 1], "runs_per_device": 3})) == 6
    with devices.slot(Options.parse({"devices": ["0,1", "2,3"]})) as first:
        assert first == "0,1"
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
        with devices.slot(Options.parse({"devices": ["0,1", "2,3"]})) as nested:  # held
            assert nested == "0,1"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ or os.environ["CUDA_VISIBLE_DEVICES"] != "0,1"


def test_slots_are_locked_by_device_id_so_other_lists_never_share_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    first, device = devices._acquire(["1", "2"], 1)
    assert device == "1"
    second, other = devices._acquire(["0", "1"], 1)  # another sweep's list: 1 is taken
    assert other == "0"
    group, taken = devices._acquire(["1,2", "3"], 1)  # a group needs all its devices free
    assert taken == "3"
    for handle in (*first, *second, *group):
        handle.close()
    again, device = devices._acquire(["1,2"], 1)
    assert device == "1,2"
    for handle in again:
        handle.close()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # auto finds none: no limit
    assert devices.capacity(Options.parse({"devices": "auto"})) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert devices.capacity(Options.parse({"devices": "auto", "runs_per_device": 2})) == 4
