"""Snakemake's arguments: what an invocation's say (whether it computes runs, whether its
jobs run on this machine, how many cores and parallel jobs it has), and the rerun triggers
snakesweep gives it.

``--cores`` is read here, once (``cores``), for ``snakesweep run``'s command line, the pool
it starts before Snakemake, and the rules' view of the Snakemake that parses them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ELSEWHERE",
    "LOGGER",
    "QUIET",
    "QUIET_SHORT",
    "RERUN_TRIGGERS",
    "SCHEDULER",
    "computes",
    "display",
    "cores",
    "parallel_jobs",
    "runs_here",
    "scheduling",
    "workflow_cores",
]

RERUN_TRIGGERS = ("mtime", "params", "software-env", "code")
"""Snakemake's rerun triggers but ``input``, which ``snakesweep run`` gives it: the merge
follows its key (``merge.key``), and its set of inputs changes with batches (their markers,
then the runs' results) while its content does not. The one list of them: the profile
``snakesweep init`` writes is made from it, and a test checks the repository's profiles
(``workflow/profiles/default``, ``profiles/slurm``) against it."""

SCHEDULER = "greedy"
"""Snakemake's job scheduler for a sweep: its jobs are alike, so the default ILP scheduler
(a CBC solver started each round, over every ready job) buys nothing and cost 40-50% of the
wall time of a sweep of small runs. ``snakesweep run`` and the profiles give it; a
``--scheduler`` of the user's own wins."""

LOGGER = "snakesweep"
"""The progress display's name as a Snakemake logger plugin (``snakemake --logger
snakesweep``: the package ``snakemake_logger_plugin_snakesweep``)."""

QUIET = (
    "--dry-run",
    "--dryrun",
    "--unlock",
    "--list-rules",
    "--list",
    "--list-target-rules",
    "--lt",
    "--lint",
    "--print-compilation",
    "--dag",
    "--rulegraph",
    "--filegraph",
    "--d3dag",
    "--summary",
    "--detailed-summary",
    "--list-changes",
    "--lc",
    "--list-input-changes",
    "--li",
    "--list-params-changes",
    "--lp",
    "--list-untracked",
    "--lu",
    "--cleanup-metadata",
    "--cm",
    "--cleanup-shadow",
    "--containerize",
    "--generate-unit-tests",
    "--archive",
    "--export-cwl",
    "--list-conda-envs",
    "--conda-cleanup-envs",
    "--conda-create-envs-only",
    "--touch",
    "--report",
    "--version",
    "--help",
)
"""Snakemake options after which it computes no run (``--report`` but with
``--report-after-run``): such a Snakemake does not wait for the results directory."""
QUIET_SHORT = frozenset("nlSDth")
"""The same, as short options (``-n``, ``-np``)."""

ELSEWHERE = (
    "--executor",
    "-e",
    "--profile",
    "--workflow-profile",
    "--slurm",
    "--cluster",
    "--kubernetes",
    "-n",
    "--dry-run",
    "--dryrun",
    "--unlock",
    "--touch",
    "-t",
    "--list",
    "-l",
    "--summary",
    "-S",
)
"""Snakemake options after which ``snakesweep run`` starts no pool before Snakemake: its
jobs may run elsewhere, or none run. (A profile that sets an executor is caught later: the
``onstart`` of a workflow whose jobs are not local stops the pool.)"""


def scheduling(extra: Sequence[str]) -> list[str]:
    """``--scheduler greedy``, unless these arguments choose a scheduler themselves."""
    if any(a.split("=", 1)[0] == "--scheduler" for a in extra):
        return []
    return ["--scheduler", SCHEDULER]


def display(extra: Sequence[str]) -> list[str]:
    """``--logger=snakesweep`` (the sweep's progress display, ``snakesweep.display``), unless
    these arguments choose Snakemake's loggers themselves. With its ``=``: ``--logger``
    takes one or more values, and would take the targets after it as loggers too."""
    if any(a.split("=", 1)[0] == "--logger" for a in extra):
        return []
    return [f"--logger={LOGGER}"]


def computes(argv: Sequence[str]) -> bool:
    """Whether a Snakemake with these arguments may compute runs, as far as they tell."""
    names = {a.split("=", 1)[0] for a in argv}
    if "--report-after-run" in names:
        return True
    short = (set(a[1:]) for a in argv if len(a) > 1 and a[0] == "-" and a[1:].isalpha())
    return not (names & set(QUIET) or any(s & QUIET_SHORT for s in short))


def runs_here(extra: Sequence[str]) -> bool:
    """Whether the runs of a Snakemake with these arguments run on this machine, as far as
    its command line and environment tell."""
    if os.environ.get("SNAKEMAKE_PROFILE"):
        return False
    return not any(
        a.split("=", 1)[0] in ELSEWHERE or (a.startswith("-e") and not a.startswith("--"))
        for a in extra
    )


def cores(value: Any) -> int:
    """``--cores`` as a number of cores: ``all`` (the cores this process may use), a positive
    number (an int, its digits, or the ``Resource`` Snakemake 9.16 on keeps it as). Raises
    ``ValueError`` for anything else (Snakemake waits forever on 0)."""
    given = getattr(value, "value", value)
    if given == "all":
        return len(os.sched_getaffinity(0))
    number = int(given) if isinstance(given, str) and given.isdigit() else given
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"{given!r}: expected a positive number of cores or 'all'")
    return number


def workflow_cores(workflow: Any) -> int:
    """The ``--cores`` of the Snakemake running ``workflow`` (1 when it is not known)."""
    try:
        return cores(workflow.global_resources["_cores"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return 1


def parallel_jobs(workflow: Any) -> int:
    """How many jobs Snakemake runs at once: ``--jobs`` when given, else ``--cores``."""
    if workflow is None:
        return 1
    if workflow.nodes:  # --jobs (the executor is not known yet while the rules are parsed)
        return int(workflow.nodes)
    return workflow_cores(workflow)
