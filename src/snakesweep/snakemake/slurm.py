"""SLURM: whether its accounting answers, and the executor plugin told to ask squeue when not.

Snakemake's SLURM executor plugin (snakemake-executor-plugin-slurm) learns that a job ended
from ``sacct`` by default. On a SLURM without accounting (no ``slurmdbd``:
``AccountingStorageType=accounting_storage/none``) sacct answers "Slurm accounting storage
is disabled" and nothing else; the plugin then takes every job for one still queued, and
Snakemake waits forever with nothing on the console, long after ``squeue`` emptied. So when
a sweep's jobs go to SLURM and the plugin would ask sacct, the Snakemake of the sweep asks
sacct once itself (``onstart``, see ``rules.SweepWorkflow.start``); when sacct answers
nothing, it sets the plugin's status command to squeue, as ``--slurm-status-command
squeue`` (or the repository's profile ``profiles/slurm``) does, and says so in one line.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

from snakesweep.errors import first_line

__all__ = [
    "accounting_problem",
    "ask_squeue_without_accounting",
    "FIRST_CHECK",
    "min_job_age",
    "PLUGIN",
    "PROBE",
]

PLUGIN = "slurm"
"""The name of the SLURM executor plugin, as ``--executor`` gives it."""
PROBE = ("sacct", "--noheader", "--allocations", "--format=JobIdRaw", "--starttime=now-1hours")
"""What asks sacct whether it answers: the jobs of the last hour (none is fine)."""
FIRST_CHECK = 40
"""The plugin's default ``--slurm-init-seconds-before-status-checks``."""


def accounting_problem(timeout: float = 30) -> str | None:
    """Why ``sacct`` cannot tell job states here (in its own words), or None when it
    answers (or is not installed: the plugin then asks squeue by itself)."""
    try:
        out = subprocess.run(PROBE, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        return f"it did not answer within {timeout:g} s"
    if out.returncode == 0:
        return None
    said = (out.stderr or out.stdout).strip()
    return first_line(said) if said else f"it exited with status {out.returncode}"


def min_job_age(timeout: float = 30) -> int | None:
    """SLURM's ``MinJobAge`` (seconds a finished job stays in squeue), or None if unknown."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "config"], capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"^MinJobAge\s*=\s*(\d+)\s*(sec|s)?\s*$", out.stdout, re.MULTILINE)
    return int(found.group(1)) if found else None


def ask_squeue_without_accounting(workflow: Any) -> str | None:
    """When ``workflow``'s jobs go to SLURM and its plugin would ask sacct, which answers
    nothing here: have it ask squeue. Returns the line that says what was done and why, or
    None when nothing was to be done."""
    plugin = getattr(workflow, "executor_plugin", None)
    settings = getattr(workflow, "executor_settings", None)
    if getattr(plugin, "name", None) != PLUGIN or settings is None:
        return None
    if getattr(settings, "status_command", None) != "sacct":
        return None  # squeue already, or a plugin that has no such setting
    problem = accounting_problem()
    if problem is None:
        return None
    settings.status_command = "squeue"
    line = (
        f"snakesweep: SLURM's accounting does not answer here (sacct: {problem}), so "
        "job states come from squeue: --slurm-status-command squeue, as the profile "
        "profiles/slurm sets it (without it, Snakemake would wait forever for jobs that "
        "ended)"
    )
    first = getattr(settings, "init_seconds_before_status_checks", None) or FIRST_CHECK
    age = min_job_age()
    if age is not None and age < 3 * first:  # the plugin then asks sacct after all
        line += (
            f"; but SLURM's MinJobAge ({age} s) is below 3 x "
            f"--slurm-init-seconds-before-status-checks ({first} s), and the plugin then "
            f"asks sacct anyway: give --slurm-init-seconds-before-status-checks "
            f"{max(1, age // 3 - 1)}"
        )
    return line
