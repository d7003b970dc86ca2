"""The warm worker pool serves every job of a sweep on this machine: a run, a batch of runs,
the merge and the report, each asked for by the jobs' bash client (``_client.sh``); a job no
pool takes runs in a fresh Python. And ``snakesweep run`` gives Snakemake a job per few runs,
computed by the pool's workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import xarray as xr

from conftest import calls, snakesweep
from snakesweep import store
from snakesweep.execute import batches
from snakesweep.execute.pool import CLIENT, Pool, start_pool


def job(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A job's shell command as Snakemake runs it: bash, ``set -euo pipefail``, the client."""
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; . "$SNAKESWEEP_CLIENT"; {command}'],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def batch_of(project: Path, plan_file: Path, run_ids: list[str], members: list[str]) -> Path:
    """The file of one batch of ``members``, written as a parse writes it (relative path)."""
    (batch,) = batches.form_batches(members, len(members))
    statuses = store.run_statuses(project / "results", run_ids)
    batches.write_batches(project / "results", plan_file, [batch], statuses)
    return store.batch_file("results", batch.batch_id)


@pytest.fixture
def planned(project: Path) -> tuple[Path, list[str]]:
    """The project's plan of x = 0..3 (written by ``snakesweep plan``), and its run ids."""
    out = snakesweep("plan", "--format", "json", "x=range(0,4)", cwd=project)
    assert out.returncode == 0, out.stderr
    plans = (project / "results" / ".snakesweep" / "plans").glob("*.json")
    (plan_file,) = [p for p in plans if not p.name.endswith(".configs.json")]
    return plan_file, [p["run_id"] for p in json.loads(out.stdout)]


@pytest.fixture
def pool(project: Path, planned: tuple[Path, list[str]]) -> Iterator[Pool]:
    cwd = os.getcwd()
    os.chdir(project)  # the pool works where Snakemake does
    try:
        started = start_pool(2, planned[0])
    finally:
        os.chdir(cwd)
    assert started is not None
    yield started
    started.stop()


def test_the_pool_computes_a_run_a_batch_the_merge_and_the_report(
    project: Path, planned: tuple[Path, list[str]], pool: Pool
) -> None:
    plan_file, run_ids = planned
    env = {
        "SNAKESWEEP_CLIENT": str(CLIENT),
        "SNAKESWEEP_POOL": pool.address,
        "SNAKESWEEP_PLAN": str(plan_file),
        "SNAKESWEEP_RESULTS": "results",
        "SNAKESWEEP_PYTHON": "false",  # a job that fell back to a fresh Python would fail
    }
    one = job(f"snakesweep_run {run_ids[0]}", env, project)
    assert one.returncode == 0, one.stderr
    assert store.result_path(project / "results", run_ids[0]).is_file()

    path = batch_of(project, plan_file, run_ids, run_ids[1:])
    many = job(f"snakesweep_batch {path}", env, project)
    assert many.returncode == 0, many.stderr
    assert many.stderr == ""  # Snakemake's count of jobs is the progress: no line per run
    assert (project / path).with_suffix(".done").is_file()
    assert sorted(calls(project)) == ["0 plain", "1 plain", "2 plain", "3 plain"]

    merge = job("snakesweep_merge results/merge.log", env, project)
    assert merge.returncode == 0, merge.stderr
    assert "merged 4 runs (4 done" in (project / "results" / "merge.log").read_text()
    ds = xr.load_dataset(project / "results" / store.SWEEP, engine="netcdf4")
    assert ds["y"].values.tolist() == [0, 10, 20, 30]

    report = job("snakesweep_report 1 results/report.log", env, project)
    assert report.returncode == 0, report.stderr
    assert (project / "results" / "report" / "runs.html").is_file()
    assert "picture(s) drawn" in (project / "results" / "report.log").read_text()


def test_a_job_no_pool_takes_runs_in_a_fresh_python(
    project: Path, planned: tuple[Path, list[str]], pool: Pool
) -> None:
    plan_file, run_ids = planned
    pool.stop()  # the pool is gone; its address is what the job still has
    env = {
        "SNAKESWEEP_CLIENT": str(CLIENT),
        "SNAKESWEEP_POOL": pool.address,
        "SNAKESWEEP_PLAN": str(plan_file),
        "SNAKESWEEP_RESULTS": "results",
        "SNAKESWEEP_PYTHON": sys.executable,
    }
    assert job(f"snakesweep_run {run_ids[0]}", env, project).returncode == 0
    many = job(
        f"snakesweep_batch {batch_of(project, plan_file, run_ids, run_ids[1:])}", env, project
    )
    assert many.returncode == 0, many.stderr
    assert "3 of 3 runs ended (0 failed)" in many.stderr  # a fresh Python says each run's end
    assert sorted(calls(project)) == ["0 plain", "1 plain", "2 plain", "3 plain"]
    merge = job("snakesweep_merge results/merge.log", env, project)
    assert merge.returncode == 0, merge.stderr
    assert "merged 4 runs (4 done" in (project / "results" / "merge.log").read_text()
    refused = job(
        "snakesweep_merge results/merge.log", {**env, "SNAKESWEEP_PYTHON": "false"}, project
    )
    assert refused.returncode == 1  # the fallback is what ran: `false` fails


@pytest.mark.slow
def test_snakesweep_run_gives_snakemake_a_job_per_few_runs_computed_in_its_pool(
    project: Path,
) -> None:
    out = snakesweep("run", "--cores", "2", "x=range(0,40)", cwd=project)
    assert out.returncode == 0, out.stderr
    logs = "".join(p.read_text() for p in (project / ".snakemake" / "log").glob("*.log"))
    assert len(re.findall(r"^localrule run_batch:", logs, re.M)) == 8  # 5 runs a job: 4 a core
    assert not re.findall(r"^localrule run_experiment:", logs, re.M)
    assert len(calls(project)) == 40
    pids = {
        json.loads(p.read_text())["pid"]
        for p in (project / "results" / "runs").glob(f"*/{store.META}")
    }
    assert len(pids) <= 2  # the pool's two workers, not a process per job

    alone = snakesweep("run", "--cores", "2", "--batch", "1", "x=range(40,44)", cwd=project)
    assert alone.returncode == 0, alone.stderr  # --batch 1: a job per run, as before
    logs = "".join(p.read_text() for p in (project / ".snakemake" / "log").glob("*.log"))
    assert len(re.findall(r"^localrule run_experiment:", logs, re.M)) == 4


@pytest.mark.slow
def test_a_run_in_the_pool_finds_the_modules_a_fresh_process_would(tmp_path: Path) -> None:
    """The pool imports what runs need and nothing the merge or the report would like
    warm (a first run that sets MPLBACKEND before importing matplotlib gets that backend),
    and no rerun for runs that do not use it."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(
        "snakesweep:\n  experiment: plotexp:main\n  domain: {x: [1, 2, 3]}\nx: 0\n"
    )
    (tmp_path / "plotexp.py").write_text(
        "import os\nimport sys\n\n\n"
        "def main(cfg):\n"
        "    already = {m: float(m in sys.modules) for m in ('matplotlib', 'rerun')}\n"
        "    os.environ['MPLBACKEND'] = 'pdf'\n"
        "    import matplotlib.pyplot\n\n"
        "    pdf = float(matplotlib.get_backend() == 'pdf')\n"
        "    return {'pdf': pdf, 'had_matplotlib': already['matplotlib'],\n"
        "            'had_rerun': already['rerun']}\n"
    )
    out = snakesweep("run", "--cores", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    pids = {
        json.loads(p.read_text())["pid"]
        for p in (tmp_path / "results" / "runs").glob("*/meta.json")
    }
    assert len(pids) <= 2  # the pool's workers ran them
    with xr.open_dataset(tmp_path / "results" / "sweep.nc") as ds:
        assert ds["pdf"].values.tolist() == [1.0, 1.0, 1.0]
        assert ds["had_rerun"].values.tolist() == [0.0, 0.0, 0.0]
        # each worker's first run finds no matplotlib (a later one, what an earlier imported)
        assert ds["had_matplotlib"].values.tolist().count(0.0) >= len(pids)
