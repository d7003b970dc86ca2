"""Freshness follows content, never file times or Snakemake's metadata."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
import xarray as xr

from conftest import calls, snakesweep

pytestmark = pytest.mark.slow


def dry_run(project: Path, *overrides: str) -> str:
    out = snakesweep("run", *overrides, "--", "--dry-run", cwd=project)
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr


def test_new_file_times_and_no_metadata_leave_nothing_to_do(project: Path) -> None:
    """What a fresh clone after `dvc pull` looks like: shuffled times, no .snakemake/."""
    assert snakesweep("run", "--cores", "2", cwd=project).returncode == 0
    shutil.rmtree(project / ".snakemake")
    shutil.rmtree(project / "results" / ".snakesweep")
    files = [p for p in (project / "results").rglob("*") if p.is_file()]
    random.Random(7).shuffle(files)
    for i, path in enumerate(files):  # the merged files older than the runs they merge
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    assert "Nothing to be done" in dry_run(project)
    assert snakesweep("run", cwd=project).returncode == 0
    assert sorted(calls(project)) == ["1 plain", "2 plain", "3 plain"]


def test_a_smaller_domain_merges_again_whichever_merged_file_is_asked_for(project: Path) -> None:
    """No Snakemake metadata to see the change: the merge key alone decides."""
    assert snakesweep("run", "--cores", "2", cwd=project).returncode == 0
    shutil.rmtree(project / ".snakemake")
    out = snakesweep("run", "x=1,3", "--", "results/runs.csv", cwd=project)
    assert out.returncode == 0, out.stderr
    ds = xr.load_dataset(project / "results" / "sweep.nc")
    assert list(ds["x"].values) == [1, 3] and list(ds["y"].values) == [10, 30]
    assert len(calls(project)) == 3


def test_runs_computed_again_without_a_merge_are_merged_next_time(project: Path) -> None:
    assert snakesweep("run", "--cores", "2", cwd=project).returncode == 0
    exp = project / "tinyexp.py"
    exp.write_text(exp.read_text().replace("cfg.x * 10", "cfg.x * 100"))
    forced = snakesweep("run", "--", "runs", "--forcerun", "run_experiment", cwd=project)
    assert forced.returncode == 0, forced.stderr
    assert list(xr.load_dataset(project / "results" / "sweep.nc")["y"].values) == [10, 20, 30]
    assert snakesweep("run", cwd=project).returncode == 0
    assert list(xr.load_dataset(project / "results" / "sweep.nc")["y"].values) == [100, 200, 300]
    assert len(calls(project)) == 6


def test_a_run_whose_result_is_gone_is_computed_again_alone(project: Path) -> None:
    assert snakesweep("run", "--cores", "2", cwd=project).returncode == 0
    ds = xr.load_dataset(project / "results" / "sweep.nc")
    shutil.rmtree(project / "results" / "runs" / str(ds["run_id"].values[1]))
    assert dry_run(project).count("run_experiment:") == 1
    assert snakesweep("run", cwd=project).returncode == 0
    assert sorted(calls(project)) == ["1 plain", "2 plain", "2 plain", "3 plain"]


def test_a_finished_sweep_starts_no_snakemake_until_a_file_it_makes_is_missing_or_changed(
    project: Path,
) -> None:
    """``snakesweep run`` answers "nothing to be done" from the keys the rules use, at once;
    whatever would make Snakemake do something makes it start, and do just that."""
    assert snakesweep("run", "--cores", "2", "x=range(0,3)", cwd=project).returncode == 0
    logs = project / ".snakemake" / "log"
    started = len(list(logs.glob("*.snakemake.log")))

    again = snakesweep("run", "--cores", "2", "x=range(0,3)", cwd=project)
    assert again.returncode == 0, again.stderr
    assert "snakesweep: nothing to be done" in again.stderr
    assert "snakesweep: 3 done, 0 pending, 0 failed" in again.stderr
    assert len(list(logs.glob("*.snakemake.log"))) == started  # no Snakemake

    (project / "results" / "report" / "runs.html").unlink()
    report = snakesweep("run", "--cores", "2", "x=range(0,3)", cwd=project)
    assert report.returncode == 0, report.stderr
    assert "nothing to be done" not in report.stderr
    assert (project / "results" / "report" / "runs.html").is_file()

    with open(project / "results" / "runs.csv", "a") as table:
        table.write("damaged\n")
    merge = snakesweep("run", "--cores", "2", "x=range(0,3)", cwd=project)
    assert merge.returncode == 0, merge.stderr
    assert "damaged" not in (project / "results" / "runs.csv").read_text()

    code = project / "tinyexp.py"
    code.write_text(code.read_text() + "\n# edited\n")  # every run stale
    stale = snakesweep("run", "--cores", "2", "x=range(0,3)", cwd=project)
    assert stale.returncode == 0, stale.stderr
    assert len(calls(project)) == 6  # computed again, once each
    assert "nothing to be done" in snakesweep("run", "x=range(0,3)", cwd=project).stderr
