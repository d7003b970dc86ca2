"""The real snakemake runs tiny sweeps end to end through `snakesweep run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import calls, snakesweep

pytestmark = pytest.mark.slow


def load(project: Path, name: str = "sweep.nc") -> xr.Dataset:
    return xr.load_dataset(project / "results" / name, engine="netcdf4")


def test_sweep_runs_every_point_and_merges(project: Path) -> None:
    """One run directory per point, and one Dataset over the swept key."""
    out = snakesweep("run", "--cores", "2", cwd=project)
    assert out.returncode == 0, out.stderr
    ds = load(project)
    assert list(ds["x"].values) == [1, 2, 3]
    assert list(ds["y"].values) == [10, 20, 30]
    assert ds["curve"].dims == ("x", "curve_dim_0")
    assert list(ds["status"].values) == ["done"] * 3
    for run_id in ds["run_id"].values:
        run = project / "results" / "runs" / str(run_id)
        assert {p.name for p in run.iterdir()} >= {
            "result.nc",
            "config.yaml",
            "meta.json",
            "stdout.log",
            "stderr.log",
        }
        assert json.loads((run / "meta.json").read_text())["status"] == "done"
    table = (project / "results" / "runs.csv").read_text().splitlines()
    assert table[0] == "run_id,status,duration,debug,commit,x,y" and len(table) == 4
    assert sorted(calls(project)) == ["1 plain", "2 plain", "3 plain"]


def test_second_run_computes_nothing_and_new_values_only_new_points(project: Path) -> None:
    """Finished runs are never recomputed; growing the domain runs just the new points."""
    assert snakesweep("run", cwd=project).returncode == 0
    assert snakesweep("run", cwd=project).returncode == 0
    assert len(calls(project)) == 3
    out = snakesweep("run", "x=1,2,3,4", cwd=project)
    assert out.returncode == 0, out.stderr
    assert sorted(calls(project)) == ["1 plain", "2 plain", "3 plain", "4 plain"]
    assert list(load(project)["y"].values) == [10, 20, 30, 40]


def test_failing_point_does_not_stop_the_others(project: Path) -> None:
    """A raising point is recorded as failed, the rest finish and merge, a rerun retries it."""
    out = snakesweep("run", "--cores", "1", "fail_on=2", "x=1,2,3,4", cwd=project)
    assert out.returncode == 1
    assert "1 of 4 runs failed" in out.stderr.splitlines()[-1]
    ds = load(project)
    assert list(ds["status"].values) == ["done", "failed", "done", "done"]
    assert np.isnan(ds["y"].values[1]) and ds["y"].values[3] == 40
    failed = project / "results" / "runs" / str(ds["run_id"].values[1])
    error = json.loads((failed / "meta.json").read_text())["error"]
    assert error["type"] == "ValueError" and "x=2 is the failing point" in error["message"]
    assert "Traceback" in error["traceback"]

    status = snakesweep("status", "fail_on=2", "x=1,2,3,4", cwd=project)
    assert status.returncode == 0
    assert "3 done, 0 pending, 1 failed" in status.stdout
    assert str(ds["run_id"].values[1]) in status.stdout and "ValueError" in status.stdout

    again = snakesweep("run", "fail_on=2", "x=1,2,3,4", cwd=project)
    assert again.returncode == 1
    meta = json.loads((failed / "meta.json").read_text())
    assert meta["earlier_attempts"][0]["error"]["type"] == "ValueError"
    assert sorted(calls(project)) == ["1 plain", "3 plain", "4 plain"]


def test_killed_run_is_not_done_and_runs_again(project: Path) -> None:
    """SIGKILL to the whole sweep mid-run leaves nothing counted done; the next run finishes it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakesweep", "run", "--cores", "1", "x=7", "sleep=30"],
        cwd=project,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (project / "sleeping.txt").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    assert pool_processes(project), "the run is not running in a pool of this project"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15  # the pool notices that Snakemake is gone, and ends
    while pool_processes(project):
        assert time.monotonic() < deadline, pool_processes(project)
        time.sleep(0.2)
    status = snakesweep("status", "x=7", "sleep=30", "--format", "json", cwd=project)
    assert json.loads(status.stdout)["counts"] == {
        "done": 0,
        "stale": 0,
        "corrupt": 0,
        "pending": 1,
        "failed": 0,
    }
    assert not list((project / "results" / "runs").glob("*/result.nc"))
    out = snakesweep("run", "x=7", "sleep=0.1", cwd=project)
    assert out.returncode == 0, out.stderr
    assert calls(project) == ["7 plain"]


def pool_processes(project: Path) -> list[str]:
    """Command lines of live snakesweep pool processes working in ``project``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
            cwd = os.readlink(cmdline.with_name("cwd"))
        except OSError:
            continue
        text = b" ".join(args).decode(errors="replace")
        if "snakesweep.execute.pool" in text and cwd == str(project):
            found.append(text)
    return found


def test_shell_text_in_a_value_is_data(project: Path) -> None:
    """A value like $(touch pwned) is stored in the config and executes nothing."""
    out = snakesweep("run", "name='$(touch pwned)'", "x=5", cwd=project)
    assert out.returncode == 0, out.stderr
    assert not list(project.rglob("pwned"))
    config = next((project / "results" / "runs").glob("*/config.yaml"))
    assert yaml.safe_load(config.read_text())["name"] == "$(touch pwned)"
    assert calls(project) == ["5 $(touch pwned)"]


def test_without_the_pool_runs_are_identical(project: Path) -> None:
    """The in-process fallback (used where no pool runs) writes the same results."""
    pooled = snakesweep("run", cwd=project, env={})
    assert pooled.returncode == 0
    first = load(project)
    (project / "results" / "sweep.nc").unlink()
    for result in (project / "results" / "runs").glob("*/result.nc"):
        result.unlink()
    fallback = snakesweep("run", cwd=project, env={"SNAKESWEEP_NO_POOL": "1"})
    assert fallback.returncode == 0, fallback.stderr
    xr.testing.assert_identical(load(project), first)


def test_results_dir_option(project: Path) -> None:
    """--results puts everything under another directory."""
    out = snakesweep("run", "--results", "elsewhere", "x=1", cwd=project)
    assert out.returncode == 0, out.stderr
    assert (project / "elsewhere" / "sweep.nc").is_file()
    assert not (project / "results").exists()


def test_plain_snakemake_started_in_the_wrong_directory_says_where_to_start(
    repo_copy: Path,
) -> None:
    """From workflow/ (where the Snakefile is), conf/ is not found: the message names
    Snakemake's own ways, not snakesweep's -cd."""
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n"],
        cwd=repo_copy / "workflow",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert "config directory 'conf' does not exist" in said
    assert "start snakemake from your project's top directory" in said
    assert "snakesweep={config_dir: DIR}" in said and "-cd" not in said


def test_plain_snakemake_names_a_misspelt_experiment_before_any_job(repo_copy: Path) -> None:
    misspelt = "snakesweep.experiment=snakesweep.examples.classifer:train"
    overrides = f'snakesweep={{overrides: ["{misspelt}"]}}'
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--config", overrides],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert "no module named 'snakesweep.examples.classifer'" in said
    assert "(did you mean snakesweep.examples.classifier?)" in said
    assert "run_experiment" not in said


def test_plain_snakemake_refuses_a_misspelt_option_and_a_wrong_type_before_any_job(
    repo_copy: Path,
) -> None:
    """The rules validate ``--config snakesweep={...}`` against their schema: Snakemake's own
    error names the key, and nothing is planned or run."""
    for options, said in (
        (
            "{resluts: elsewhere}",
            "Additional properties are not allowed ('resluts' was unexpected)",
        ),
        ("{overrides: seed=1}", "'seed=1' is not of type 'array'"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "snakemake", "-n", "--config", f"snakesweep={options}"],
            cwd=repo_copy,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode != 0
        text = out.stdout + out.stderr
        assert "Error validating config file" in text and said in text
        assert "run_experiment" not in text
        assert not (repo_copy / "results").exists() and not (repo_copy / "elsewhere").exists()


def test_repository_example_with_plain_snakemake(repo_copy: Path) -> None:
    """`snakemake --cores 2` in the repository runs the shipped example, then has nothing to do."""
    env = {**os.environ, "PYTHONPATH": ""}
    first = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    ds = xr.load_dataset(repo_copy / "results" / "sweep.nc", engine="netcdf4")
    assert dict(ds.sizes) == {"model": 2, "optimizer.lr": 3, "repeat": 3, "step": 60}
    assert ds["seed"].dims == ("repeat",)  # snakesweep.repeats: a seed per repetition
    assert (ds["status"] == "done").all()
    assert float(ds["test_accuracy"].mean()) > 0.7
    second = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert second.returncode == 0
    assert "Nothing to be done" in second.stdout + second.stderr
