"""Batches (``snakesweep.batch``, ``--batch``) and resources (``snakesweep.resources``): K runs
per Snakemake job with the same results as one run per job, and each job's resources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import xarray as xr

from conftest import calls, snakesweep, write
from snakesweep.core.options import Options, SweepOptions
from snakesweep.errors import ConfigError
from snakesweep.execute import batches, resources

SEVEN = ["x=range(1,8)"]


def jobs_of(project: Path, rule: str) -> int:
    """How many jobs of ``rule`` Snakemake ran, from its logs."""
    logs = sorted((project / ".snakemake" / "log").glob("*.snakemake.log"))
    return sum(len(re.findall(rf"^(?:local)?rule {rule}:", p.read_text(), re.M)) for p in logs)


def merged(project: Path) -> xr.Dataset:
    return xr.load_dataset(project / "results" / "sweep.nc", engine="netcdf4")


@pytest.mark.slow
def test_batches_give_the_sweep_of_one_run_per_job_with_fewer_jobs(
    project: Path, tmp_path: Path
) -> None:
    single = snakesweep("run", "--cores", "2", *SEVEN, cwd=project)
    assert single.returncode == 0, single.stderr
    reference = merged(project)
    assert jobs_of(project, "run_experiment") == 7

    other = tmp_path / "batched"
    other.mkdir()
    for name in ("conf", "tinyexp.py"):
        src = project / name
        (other / name).symlink_to(src, target_is_directory=src.is_dir())
    batched = snakesweep("run", "--cores", "2", "--batch", "3", *SEVEN, cwd=other)
    assert batched.returncode == 0, batched.stderr
    assert jobs_of(other, "run_batch") == 3  # 3 + 3 + 1
    assert jobs_of(other, "run_experiment") == 0
    assert sorted(calls(other)) == sorted(calls(project))
    xr.testing.assert_identical(merged(other), reference)
    assert not list((other / "results" / ".snakesweep" / "batches").glob("*.done"))


@pytest.mark.slow
def test_auto_makes_one_wave_of_jobs_and_a_second_run_has_nothing_to_do(project: Path) -> None:
    first = snakesweep("run", "--cores", "2", "--batch", "auto", *SEVEN, cwd=project)
    assert first.returncode == 0, first.stderr
    assert jobs_of(project, "run_batch") == 2  # 7 runs over 2 cores: 4 + 3
    again = snakesweep("run", "--cores", "2", "--batch", "auto", *SEVEN, cwd=project)
    assert again.returncode == 0, again.stderr
    assert len(calls(project)) == 7
    assert "snakesweep: nothing to be done" in again.stderr
    assert not list((project / "results" / ".snakesweep" / "batches").iterdir())


@pytest.mark.slow
def test_the_configs_batch_option_and_a_failing_run_in_a_batch(project: Path) -> None:
    result = snakesweep(
        "run", "--cores", "1", "+snakesweep.batch=4", "fail_on=2", *SEVEN, cwd=project
    )
    assert result.returncode == 1
    assert "1 of 7 runs failed" in result.stderr
    assert jobs_of(project, "run_batch") == 2
    assert len(calls(project)) == 6  # the batch went on after its failing run
    status = snakesweep("status", "fail_on=2", *SEVEN, cwd=project)
    assert "6 done, 0 pending, 1 failed" in status.stdout
    ds = merged(project)
    y = dict(zip(ds["x"].values.tolist(), ds["y"].values.tolist(), strict=True))
    assert str(y.pop(2)) == "nan"  # the failed run's cell
    assert y == {1: 10, 3: 30, 4: 40, 5: 50, 6: 60, 7: 70}


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["--batch", "0"], "--batch"),
        (["--batch", "many"], "--batch"),
        (["+snakesweep.batch=-1"], "snakesweep.batch"),
        (["+snakesweep.resources=4"], "snakesweep.resources"),
        (["+snakesweep.resources={mem_mb: [1]}"], "snakesweep.resources.mem_mb"),
        (["+snakesweep.resources={runtime: long}"], "snakesweep.resources.runtime"),
        (
            ["+snakesweep.resources={slurm_extra: '$(touch pwned)'}"],
            "snakesweep.resources.slurm_extra",
        ),
        (
            ["+snakesweep.resources={slurm_partition: 'a b'}"],
            "snakesweep.resources.slurm_partition",
        ),
    ],
)
def test_unusable_batch_and_resources_are_one_line_naming_them(
    project: Path, args: list[str], culprit: str
) -> None:
    result = snakesweep("run", *args, cwd=project)
    assert result.returncode == 2
    assert culprit in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert calls(project) == []
    assert not (project / "pwned").exists()


@pytest.mark.slow
def test_resources_reach_each_job_and_a_batch_asks_for_its_runs_total_runtime(
    project: Path,
) -> None:
    res = ["+snakesweep.resources={mem_mb: 300, runtime: 2, slurm_partition: debug}"]
    dry = snakesweep("run", *res, *SEVEN, "--", "-n", cwd=project)
    assert dry.returncode == 0, dry.stderr
    shown = re.findall(r"^\s*resources: (.*)$", dry.stdout, re.M)
    per_run = [line for line in shown if "runtime=2," in line]
    assert len(per_run) == 7
    assert all("mem_mb=300" in line and "slurm_partition=debug" in line for line in per_run)

    dry = snakesweep("run", "--batch", "3", *res, *SEVEN, "--", "-n", cwd=project)
    assert dry.returncode == 0, dry.stderr
    runtimes = sorted(int(m) for m in re.findall(r"runtime=(\d+)", dry.stdout))
    assert runtimes == [2, 6, 6]


@pytest.mark.slow
def test_runs_with_other_resources_go_to_other_batches(tmp_path: Path) -> None:
    write(
        tmp_path / "conf" / "config.yaml",
        """
        defaults:
          - _self_
          - size: small
        snakesweep:
          experiment: tinyexp:main
          resources: {mem_mb: 100, runtime: 1}
        x: 1
        hydra:
          sweeper:
            params:
              x: 1,2,3
              size: small,big
        """,
    )
    write(tmp_path / "conf" / "size" / "small.yaml", "scale: 1\n")
    write(
        tmp_path / "conf" / "size" / "big.yaml",
        """
        # @package _global_
        scale: 2
        snakesweep:
          resources: {mem_mb: 900}
        """,
    )
    write(tmp_path / "tinyexp.py", "def main(cfg):\n    return {'y': cfg.x * cfg.scale}\n")
    dry = snakesweep("run", "--batch", "6", "--", "-n", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    batch_lines = [
        line for line in re.findall(r"^\s*resources: (.*)$", dry.stdout, re.M) if "runtime=" in line
    ]
    assert sorted(re.search(r"mem_mb=(\d+)", line)[1] for line in batch_lines) == ["100", "900"]
    assert all("runtime=3" in line for line in batch_lines)


def test_batch_sizes() -> None:
    assert batches.batch_size(None, 500, 4) == 1
    assert batches.batch_size(3, 500, 4) == 3
    assert batches.batch_size("auto", 200, 50) == 4
    assert batches.batch_size("auto", 3, 50) == 1
    # past MAX_JOBS pending runs, jobs are batches whatever is set
    assert batches.batch_size(None, 100_000, 2) == 100_000 // batches.MAX_JOBS
    assert batches.batch_size(1, 100_000, 2) == 100_000 // batches.MAX_JOBS
    made = batches.form_batches([f"{i:016x}" for i in range(7)], 3)
    assert [len(b.run_ids) for b in made] == [3, 3, 1]
    assert len({b.batch_id for b in made}) == 3


def test_resources_every_run_must_name_the_same() -> None:
    with pytest.raises(ConfigError, match=r"snakesweep.resources.gpus.*run b"):
        SweepOptions.parse({"a": {"resources": {"gpus": 1}}, "b": {"resources": {}}}).check()
    five, half = (
        Options.parse({"resources": {"runtime": 5}}),
        Options.parse({"resources": {"runtime": 0.5}}),
    )
    assert resources.batch_value("runtime", [five] * 3) == 15
    assert resources.batch_value("runtime", [half] * 3) == 2
    assert resources.group_of(Options.parse({"resources": {"mem_mb": 1, "runtime": 3}})) == (
        ("mem_mb", 1),
    )
