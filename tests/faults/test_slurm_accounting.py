"""A SLURM without accounting (no slurmdbd, as tests/cluster/slurm-local.sh starts it): a
sweep whose Snakemake was given no status command ends, and says in one line that job
states come from squeue, and why (``snakesweep.slurm``).

It needs the SLURM of ``tests/test_slurm.py`` (the one running here, or one started as root
for this module); otherwise it skips and says why.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Tally, account, command, finished_counts, make_project

from snakesweep.snakemake.slurm import accounting_problem

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, as pytest does for it
from test_slurm import RUNS, SUBMITTED, slurm_partition  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("slurm")]  # as test_slurm.py

BOUND = 600
"""Seconds the sweep may take (6 SLURM jobs of ~5 s each) before it counts as hung."""


@pytest.fixture(scope="module")
def slurm() -> Iterator[str]:
    """The default partition of a SLURM that takes jobs and has no accounting (under the
    machine's SLURM lock, as ``tests/test_slurm.py`` holds it)."""
    with slurm_partition() as partition:
        if accounting_problem() is None:
            pytest.skip("this SLURM has accounting: sacct answers")
        yield partition


def test_a_sweep_on_a_slurm_without_accounting_ends_and_says_squeue_tells_job_states(
    slurm: str, tmp_path: Path
) -> None:
    root = make_project(tmp_path, RUNS)
    argv = command(
        "run",
        "--",
        "--executor",
        "slurm",
        "--jobs",
        str(RUNS),
        "--default-resources",
        f"slurm_partition={slurm}",
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks",
        "1",
    )
    proc = subprocess.Popen(
        argv,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    tally = Tally("SLURM without accounting, no status command given", injected=1)
    try:
        output, _ = proc.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        tally.hangs += 1
        subprocess.run(["scancel", *SUBMITTED.findall(output)], capture_output=True)
    ids = set(finished_counts(root))
    account(tally, root, ids, [output])
    told = [line for line in output.splitlines() if "SLURM's accounting does not answer" in line]

    assert tally.clean and proc.returncode == 0, (tally, output[-3000:])
    assert told == [
        "snakesweep: SLURM's accounting does not answer here (sacct: Slurm accounting storage "
        "is disabled), so job states come from squeue: --slurm-status-command squeue, as the "
        "profile profiles/slurm sets it (without it, Snakemake would wait forever for jobs "
        "that ended)"
    ], output[-3000:]
    assert len(ids) == RUNS and set(finished_counts(root).values()) == {1}
