"""The sweep on a real SLURM through Snakemake's executor plugin
(snakemake-executor-plugin-slurm): the same ``sweep.nc`` as a local run, with and without
batching, through ``snakesweep run -- --executor slurm`` and through plain
``snakemake --profile profiles/slurm``.

They need a SLURM that answers ``sinfo``: the one running here, or, as root, one that
``tests/cluster/slurm-local.sh`` installs (apt, ~15 s) and starts for this module, and stops
after it. Otherwise they skip and say why; with ``SNAKESWEEP_REQUIRE_SLURM=1`` (CI, as root)
that is a failure instead. A SLURM job costs ~5 s here, so the sweep is 6 runs of the fault
suite's tiny experiment (``tests/faults/harness.py``).

``benchmarks/slurm.py`` runs the same helpers on a 200-run sweep.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from conftest import machine_lock, real_slurm

sys.path.insert(0, str(Path(__file__).resolve().parent / "faults"))  # as pytest does for them
from harness import (  # noqa: E402 - the fault suite's tiny sweep and what it leaves
    command,
    completed_twice,
    finished_counts,
    make_project,
    meta_of,
    run_dirs,
)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "cluster" / "slurm-local.sh"
PROFILE = REPO / "profiles" / "slurm"
RUNS = 6
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+)")
USABLE = ("idle", "mix", "alloc", "comp")  # node states (sinfo %t) that take jobs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("slurm")]  # one worker: one SLURM


class SlurmUnavailable(Exception):
    """No SLURM answers here and none could be started; the message says why."""


def slurm_problem() -> str | None:
    """Why the SLURM here cannot take jobs, or None when ``sinfo`` shows a partition up
    with a node that takes jobs."""
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%P %a %t"], capture_output=True, text=True, timeout=20
        )
    except FileNotFoundError:
        return "sinfo is not installed"
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s"
    if out.returncode != 0:
        return f"sinfo exited {out.returncode}: {out.stderr.strip()}"
    for line in out.stdout.splitlines():
        _, avail, state = (line.split() + ["", "", ""])[:3]
        if avail == "up" and state.startswith(USABLE) and not state.endswith("*"):
            return None  # a trailing * is a node that does not respond
    return f"no partition is up with a node that takes jobs (sinfo: {out.stdout.strip()!r})"


def default_partition() -> str:
    """The partition sbatch uses when none is given (``sinfo`` marks it with ``*``)."""
    names = subprocess.run(
        ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=20, check=True
    ).stdout.split()
    return next((n.rstrip("*") for n in names if n.endswith("*")), names[0])


def _script(step: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), step], capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def local_slurm(say: Callable[[str], None] = lambda line: None) -> Iterator[str]:
    """A SLURM that takes jobs: the one running here, or (as root) one that
    ``slurm-local.sh`` installs when needed and starts, and stops at the end. Yields the
    default partition; raises ``SlurmUnavailable`` saying why there is none.

    The block holds a lock of the machine throughout: parallel test workers, or the test
    sessions of other checkouts, would otherwise start the one SLURM twice, or stop it while
    another still uses it."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        raise SlurmUnavailable(
            "snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')"
        )
    with machine_lock("slurm"):  # one user of the machine's SLURM at a time
        problem = slurm_problem()
        started = False
        if problem is not None:
            if os.geteuid() != 0:
                raise SlurmUnavailable(
                    f"no SLURM here ({problem}), and starting one with "
                    f"{SCRIPT.relative_to(REPO)} needs root"
                )
            installed = shutil.which("slurmctld") or Path("/usr/sbin/slurmctld").exists()
            for step in ([] if installed else ["install"]) + ["start"]:
                say(f"SLURM: {problem}; slurm-local.sh {step} …")
                try:
                    with machine_lock("apt") if step == "install" else nullcontext():
                        out = _script(step)
                except subprocess.TimeoutExpired:
                    out = subprocess.CompletedProcess([step], -1, "", "timed out")
                if out.returncode != 0:
                    if step == "start":
                        _script("stop", 120)  # whatever part of it did start
                    tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-8:])
                    raise SlurmUnavailable(
                        f"no SLURM here ({problem}), and "
                        f"slurm-local.sh {step} failed ({out.returncode}): "
                        f"{tail}"
                    )
            started = True
            problem = slurm_problem()
            if problem is not None:
                _script("stop", 120)
                raise SlurmUnavailable(f"slurm-local.sh started SLURM, but {problem}")
        try:
            yield default_partition()
        finally:
            if started:
                say("SLURM: slurm-local.sh stop")
                _script("stop", 120)


def slurm_args(partition: str, jobs: int = RUNS) -> list[str]:
    """Snakemake's arguments for this SLURM: what ``profiles/slurm/config.yaml`` says."""
    return [
        "--executor",
        "slurm",
        "--jobs",
        str(jobs),
        "--default-resources",
        f"slurm_partition={partition}",
        "runtime=10",
        "mem_mb=1000",
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
    ]


@dataclass
class Sweep:
    """One finished invocation on a sweep's project, and what SLURM did for it."""

    root: Path
    returncode: int
    output: str
    seconds: float = 0.0
    log: str = ""
    """Snakemake's log file of this invocation (the progress display leaves it what it
    says of each job)."""

    @property
    def submitted(self) -> list[str]:
        """The SLURM job ids Snakemake submitted (run jobs and the merge), as it said."""
        return SUBMITTED.findall(self.log)

    @property
    def run_jobs(self) -> dict[str, str | None]:
        """Each run and the SLURM job it ran in (``SLURM_JOB_ID``, from its meta.json)."""
        out = {}
        for directory in run_dirs(self.root):
            meta = meta_of(directory) or {}
            environment = meta.get("provenance", {}).get("environment", {})
            out[directory.name] = environment.get("SLURM_JOB_ID")
        return out

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def invoke(root: Path, *argv: str, timeout: float = 900) -> Sweep:
    """Run ``argv`` in ``root`` to its end, in a session of its own: a timeout kills the
    whole group (``snakesweep run`` and the Snakemake under it)."""
    t0 = time.monotonic()
    started = time.time()
    proc = subprocess.Popen(
        argv,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise AssertionError(
            f"{' '.join(argv)} did not end within {timeout} s:\n"
            + "\n".join(output.splitlines()[-60:])
        ) from None
    logs = sorted((root / ".snakemake" / "log").glob("*.snakemake.log"), key=os.path.getmtime)
    log = logs[-1].read_text() if logs and os.path.getmtime(logs[-1]) >= started else ""
    return Sweep(root, proc.returncode, output, time.monotonic() - t0, log)


def sweep_on_slurm(
    root: Path, partition: str, *run_args: str, jobs: int = RUNS, timeout: float = 900
) -> Sweep:
    """``snakesweep run RUN_ARGS -- --executor slurm …`` in ``root``."""
    return invoke(
        root, *command("run", *run_args, "--", *slurm_args(partition, jobs)), timeout=timeout
    )


def load(root: Path) -> xr.Dataset:
    return xr.load_dataset(root / "results" / "sweep.nc", engine="netcdf4")


def runs_table(root: Path) -> pd.DataFrame:
    """runs.csv without the durations (the one column that is a measurement)."""
    return pd.read_csv(root / "results" / "runs.csv").drop(columns="duration")


def assert_same_sweep(sweep: Sweep, local: Sweep) -> None:
    """The cluster's sweep is the local one: sweep.nc identical (values, coordinates,
    attributes, provenance attributes included), runs.csv equal but for the durations, and
    every run computed exactly once."""
    assert sweep.returncode == 0, sweep.tail()
    with load(sweep.root) as ds, load(local.root) as expected:
        xr.testing.assert_identical(ds, expected)
        run_ids = sorted(str(r) for r in ds["run_id"].values)
    pd.testing.assert_frame_equal(runs_table(sweep.root), runs_table(local.root))
    assert sorted(finished_counts(sweep.root)) == run_ids
    assert set(finished_counts(sweep.root).values()) == {1}
    assert completed_twice(sweep.root) == []


def assert_ran_on_slurm(sweep: Sweep) -> Counter[str]:
    """Every run ran inside a SLURM job that this Snakemake submitted; the runs per job."""
    jobs = sweep.run_jobs
    assert len(jobs) == RUNS and all(jobs.values()), jobs
    assert set(jobs.values()) <= set(sweep.submitted), (jobs, sweep.submitted)
    return Counter(j for j in jobs.values() if j)


@contextmanager
def slurm_partition() -> Iterator[str]:
    """The default partition of a SLURM that takes jobs, for a ``with`` block (the test is
    skipped where none can be started, unless SNAKESWEEP_REQUIRE_SLURM is set)."""
    stack = ExitStack()
    stack.enter_context(real_slurm())  # conftest points SLURM_CONF elsewhere for other tests
    try:
        partition = stack.enter_context(local_slurm())
    except SlurmUnavailable as exc:
        stack.close()
        if os.environ.get("SNAKESWEEP_REQUIRE_SLURM"):
            pytest.fail(f"SNAKESWEEP_REQUIRE_SLURM is set, but {exc}")
        pytest.skip(str(exc))
    with stack:
        yield partition


@pytest.fixture(scope="module")
def slurm() -> Iterator[str]:
    """The default partition of a SLURM that takes jobs (see the module's docstring)."""
    with slurm_partition() as partition:
        yield partition


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """The sweep run locally, the reference every cluster run must equal."""
    root = make_project(tmp_path_factory.mktemp("local"), RUNS)
    sweep = invoke(root, *command("run", "--cores", "2"))
    assert sweep.returncode == 0, sweep.tail()
    assert not sweep.submitted
    return sweep


@pytest.fixture(scope="module")
def unbatched(slurm: str, tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """``snakesweep run -- --executor slurm …``: one SLURM job per run."""
    return sweep_on_slurm(make_project(tmp_path_factory.mktemp("unbatched"), RUNS), slurm)


def test_a_sweep_through_the_slurm_executor_equals_the_local_run(
    unbatched: Sweep, local: Sweep
) -> None:
    assert_same_sweep(unbatched, local)
    per_job = assert_ran_on_slurm(unbatched)
    assert len(per_job) == RUNS, per_job  # one cluster job per run
    assert len(unbatched.submitted) >= RUNS


def test_the_shipped_profile_runs_the_sweep_with_plain_snakemake(
    slurm: str, local: Sweep, tmp_path: Path
) -> None:
    """In a repository laid out as this one: ``snakemake --profile profiles/slurm``."""
    root = make_project(tmp_path, RUNS)
    shutil.copytree(REPO / "workflow", root / "workflow")  # its Snakefile, default profile
    shutil.copytree(PROFILE, root / "profiles" / "slurm")
    if slurm != "debug":  # a SLURM other than slurm-local.sh's
        config = root / "profiles" / "slurm" / "config.yaml"
        config.write_text(
            config.read_text().replace("slurm_partition: debug", f"slurm_partition: {slurm}")
        )
    sweep = invoke(root, sys.executable, "-m", "snakemake", "--profile", "profiles/slurm")
    assert_same_sweep(sweep, local)
    assert len(assert_ran_on_slurm(sweep)) == RUNS


@pytest.mark.parametrize("how", ["--batch 3", "snakesweep.batch: 3"])
def test_batches_of_three_runs_take_fewer_cluster_jobs_for_the_same_sweep(
    how: str, slurm: str, local: Sweep, unbatched: Sweep, tmp_path: Path
) -> None:
    """``snakesweep run --batch 3`` or ``snakesweep.batch: 3`` in the config: 3 pending runs
    per SLURM job, in one process; the same sweep.nc."""
    cli = how.startswith("--")
    root = make_project(tmp_path, RUNS, options="" if cli else "batch: 3")
    sweep = sweep_on_slurm(root, slurm, *(how.split() if cli else []))
    assert_same_sweep(sweep, local)
    per_job = assert_ran_on_slurm(sweep)
    assert sorted(per_job.values()) == [3, 3], per_job  # 6 runs: two jobs of three
    assert len(sweep.submitted) < len(unbatched.submitted), (sweep.submitted, unbatched.submitted)


def test_batch_auto_makes_one_wave_of_the_jobs_it_may_submit(
    slurm: str, local: Sweep, unbatched: Sweep, tmp_path: Path
) -> None:
    """``snakesweep.batch: auto`` with ``--jobs J``: K = ceil(6 / J) runs per cluster job.
    J is not this machine's core count (``snakesweep run`` passes ``--cores all``), so a K
    taken from the cores rather than from ``--jobs`` shows."""
    cores = {os.cpu_count(), len(os.sched_getaffinity(0))}
    jobs = next(j for j in (3, 2) if j not in cores)
    root = make_project(tmp_path, RUNS, options="batch: auto")
    sweep = sweep_on_slurm(root, slurm, jobs=jobs)
    assert_same_sweep(sweep, local)
    per_job = assert_ran_on_slurm(sweep)
    size = -(-RUNS // jobs)
    assert sorted(per_job.values()) == [size] * (RUNS // size), (jobs, per_job)
    assert len(sweep.submitted) < len(unbatched.submitted)


def test_a_sweep_from_python_ships_its_own_function_to_slurm_in_batches(
    slurm: str, local: Sweep, tmp_path: Path
) -> None:
    """``snakesweep.sweep(f, executor="slurm", batch=3)`` from a script whose ``f`` lives in
    its ``__main__``: pickled, loaded by each cluster job, two jobs of three runs, the
    local run's values."""
    root = make_project(tmp_path, RUNS)
    (root / "script.py").write_text(
        "import faultexp\nimport snakesweep\n\n\n"
        "def experiment(cfg, run):\n    return faultexp.main(cfg, run)\n\n\n"
        'if __name__ == "__main__":\n'
        '    snakesweep.sweep(experiment, executor="slurm", batch=3, '
        f"snakemake_args={slurm_args(slurm)[2:]!r})\n"
    )
    sweep = invoke(root, sys.executable, "script.py")
    assert sweep.returncode == 0, sweep.tail()
    per_job = assert_ran_on_slurm(sweep)
    assert sorted(per_job.values()) == [3, 3], per_job
    with load(sweep.root) as ds, load(local.root) as expected:
        assert ds.attrs["snakesweep_overrides"] == "++snakesweep.experiment='__main__:experiment'"
        xr.testing.assert_equal(ds.drop_vars("run_id"), expected.drop_vars("run_id"))
    shipped = {meta_of(d)["provenance"]["experiment"]["shipped"] for d in run_dirs(root)}
    assert shipped == {"by value"}
