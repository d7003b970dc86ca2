"""The layout of a results directory: every path and file name in it, in one place.

::

    results/runs/<run_id>/result.nc       the run's results (present only when it is done)
                          config.yaml     the resolved config
                          meta.json       status, start, end, duration, host, error, provenance
                          stdout.log      what the run printed
                          stderr.log
                          artifacts/      what the experiment stored (``run.blob``, ``run.dir``)
                          git.diff        the uncommitted changes it ran with
                          return.json     a Hydra task's return value
    results/sweep.nc, runs.csv, sweep.rrd, provenance.json, provenance.diff, sweep.json,
            metrics.json, plots/          the merged files (``MERGED``)
    results/report/, report.html          the report
    results/history.nc, history.rrd       ``snakesweep history``
    results/.snakesweep/                  snakesweep's own files, never results:
        drafts/<run_id>/<host>-<pid>/     runs being written
        plans/<key>.json                  cached plans
        checksums.json, merged.checksums.json, merged.json, metas.json   caches
        merge.key, code.key, report.key   the keys Snakemake's jobs take as inputs
        run.lock, locks/<run_id>.lock     the sweep lock and the run locks
        batches/, sessions/, launches/, invocations/, logs/, damaged/

Drafts live outside ``runs/`` so that whatever tracks ``runs/`` (DVC's ``run`` stage) sees
finished runs only. Nothing here reads or writes a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from snakesweep.errors import ResultsDirError

__all__ = [
    "ARTIFACTS",
    "BATCHES",
    "CHECKSUMS",
    "CODE_KEY",
    "CONFIG",
    "DAMAGED",
    "DRAFTS",
    "HISTORY",
    "HISTORY_RECORDING",
    "INVOCATIONS",
    "LAUNCHES",
    "CONFIGS",
    "FUNCTIONS",
    "LOGS",
    "MERGED",
    "MERGED_CHECKSUMS",
    "MERGE_INDEX",
    "MERGE_KEY",
    "MERGE_METAS",
    "META",
    "METRICS",
    "PLANS",
    "PLOTS",
    "PROVENANCE",
    "PROVENANCE_DIFF",
    "RECORDING",
    "REPORT_DIR",
    "REPORT_HTML",
    "REPORT_KEY",
    "RESULT",
    "RETURN",
    "RUNS",
    "RUNS_TABLE",
    "RUN_DIFF",
    "RUN_LOCKS",
    "SESSIONS",
    "SIZED",
    "STATE",
    "STDERR",
    "STDOUT",
    "SWEEP",
    "SWEEP_INDEX",
    "SWEEP_LOCK",
    "ReportPaths",
    "batch_file",
    "batch_marker",
    "batches_dir",
    "check_results",
    "code_key_file",
    "damaged_dir",
    "drafts_dir",
    "invocation_file",
    "launch_dir",
    "log_file",
    "merge_key_file",
    "plan_file",
    "result_path",
    "run_dir",
    "run_drafts",
    "run_lock_file",
    "config_dir",
    "function_file",
    "function_source",
    "results_of_plan",
    "runs_dir",
    "session_file",
    "sweep_lock_file",
]

PathLike = str | os.PathLike[str]

STATE = ".snakesweep"
"""snakesweep's own directory in ``results/``: drafts, caches, keys, locks; never results."""

# -- a run directory -------------------------------------------------------------------------

RUNS = "runs"
RESULT = "result.nc"
CONFIG = "config.yaml"
META = "meta.json"
STDOUT = "stdout.log"
STDERR = "stderr.log"
ARTIFACTS = "artifacts"
RUN_DIFF = "git.diff"
RETURN = "return.json"
"""A Hydra task's return value, as JSON."""

# -- the merged files, the report, the history -------------------------------------------------

SWEEP = "sweep.nc"
RUNS_TABLE = "runs.csv"
SWEEP_INDEX = "sweep.json"
RECORDING = "sweep.rrd"
PROVENANCE = "provenance.json"
PROVENANCE_DIFF = "provenance.diff"
METRICS = "metrics.json"
PLOTS = "plots"
SIZED = (SWEEP, RUNS_TABLE)
"""The merged files whose sizes and sha256 ``sweep.json`` records."""
MERGED = (*SIZED, RECORDING, PROVENANCE, PROVENANCE_DIFF, SWEEP_INDEX, METRICS)
"""Every merged file (``plots/`` aside: a directory)."""
REPORT_DIR = "report"
REPORT_HTML = "report.html"
"""The default of ``snakesweep report --output``."""
HISTORY = "history.nc"
HISTORY_RECORDING = "history.rrd"

# -- results/.snakesweep/ --------------------------------------------------------------------

DRAFTS = Path(STATE, "drafts")
PLANS = Path(STATE, "plans")
CHECKSUMS = Path(STATE, "checksums.json")
"""The verdicts of the runs' results (``checksums``)."""
MERGED_CHECKSUMS = Path(STATE, "merged.checksums.json")
"""The digests of the merged files, apart: a parse checks them without reading every run's."""
MERGE_INDEX = Path(STATE, "merged.json")
"""Which runs ``sweep.nc`` holds, and their shapes (``merge.index``)."""
MERGE_METAS = Path(STATE, "metas.json")
"""What a merge read of every run's ``meta.json`` (``merge.index``)."""
MERGE_KEY = Path(STATE, "merge.key")
CODE_KEY = Path(STATE, "code.key")
REPORT_KEY = Path(STATE, "report.key")
SWEEP_LOCK = Path(STATE, "run.lock")
RUN_LOCKS = Path(STATE, "locks")
BATCHES = Path(STATE, "batches")
SESSIONS = Path(STATE, "sessions")
LAUNCHES = Path(STATE, "launches")
INVOCATIONS = Path(STATE, "invocations")
LOGS = Path(STATE, "logs")
CONFIGS = Path(STATE, "configs")
"""Config directories ``snakesweep.sweep`` writes for a sweep with no config tree (a dict,
or its experiment's keyword defaults), one per config, named by its digest."""
FUNCTIONS = Path(STATE, "functions")
"""Experiments shipped by value (a notebook's or ``__main__``'s functions): each one's
pickle and its source, which is its code (``snakesweep.sweeps.experiments``)."""
DAMAGED = Path(STATE, "damaged")
"""Run directories ``snakesweep pull`` set aside."""


def runs_dir(results: PathLike) -> Path:
    return Path(results, RUNS)


def run_dir(results: PathLike, run_id: str) -> Path:
    return Path(results, RUNS, run_id)


def result_path(results: PathLike, run_id: str) -> Path:
    """The file whose presence means the run is done (Snakemake's output of the run job)."""
    return Path(results, RUNS, run_id, RESULT)


def drafts_dir(results: PathLike) -> Path:
    """Where runs are written before they are renamed into ``runs/``."""
    return Path(results, DRAFTS)


def run_drafts(results: PathLike, run_id: str) -> Path:
    """The drafts of one run: a directory per process writing it (``<host>-<pid>``)."""
    return Path(results, DRAFTS, run_id)


def plan_file(results: PathLike, key: str) -> Path:
    """Where the plan of the arguments whose hash is ``key`` is cached."""
    return Path(results, PLANS, f"{key}.json")


def merge_key_file(results: PathLike) -> Path:
    """The merge's input whose time says whether the merged files are fresh."""
    return Path(results, MERGE_KEY)


def code_key_file(results: PathLike) -> Path:
    """The run jobs' input whose time says which runs were computed with other code."""
    return Path(results, CODE_KEY)


def sweep_lock_file(results: PathLike) -> Path:
    return Path(results, SWEEP_LOCK)


def run_lock_file(results: PathLike, run_id: str) -> Path:
    return Path(results, RUN_LOCKS, f"{run_id}.lock")


def batches_dir(results: PathLike) -> Path:
    return Path(results, BATCHES)


def batch_file(results: PathLike, batch_id: str) -> Path:
    """The runs of one batch job (JSON)."""
    return Path(results, BATCHES, f"{batch_id}.json")


def batch_marker(results: PathLike, batch_id: str) -> Path:
    """The file whose presence says every run of a batch is done."""
    return Path(results, BATCHES, f"{batch_id}.done")


def session_file(results: PathLike, name: str) -> Path:
    """One invocation's session (its ``.diff`` beside it)."""
    return Path(results, SESSIONS, f"{name}.json")


def launch_dir(results: PathLike, name: str) -> Path:
    """What Hydra's launcher hands one Snakemake (its plan, the jobs' configs)."""
    return Path(results, LAUNCHES, name)


def invocation_file(results: PathLike, name: str) -> Path:
    """The Snakemake config file of one command's sweep."""
    return Path(results, INVOCATIONS, f"{name}.yaml")


def config_dir(results: PathLike, digest: str) -> Path:
    """A config directory ``snakesweep.sweep`` wrote (its ``config.yaml``)."""
    return Path(results, CONFIGS, digest)


def function_file(results: PathLike, name: str) -> Path:
    """The pickle (cloudpickle) of the experiment ``__main__:<name>``, shipped by value."""
    return Path(results, FUNCTIONS, f"{name}.pkl")


def function_source(results: PathLike, name: str) -> Path:
    """The source of the experiment ``__main__:<name>``: its code, as a module's file is."""
    return Path(results, FUNCTIONS, f"{name}.py")


def results_of_plan(plan_file: PathLike) -> Path | None:
    """The results directory whose plan cache holds ``plan_file``, or None (a plan of
    Hydra's launcher, or one elsewhere)."""
    path = Path(plan_file)
    return path.parents[2] if path.parent.parts[-2:] == PLANS.parts else None


def log_file(results: PathLike, rule: str) -> Path:
    """The log of one of the rules' jobs (the merge, the report)."""
    return Path(results, LOGS, f"{rule}.log")


def damaged_dir(results: PathLike) -> Path:
    return Path(results, DAMAGED)


@dataclass(frozen=True)
class ReportPaths:
    """Where the report of the sweep in ``results`` lies."""

    results: str

    @property
    def directory(self) -> Path:
        return Path(self.results, REPORT_DIR)

    @property
    def table(self) -> Path:
        return self.directory / "runs.html"

    @property
    def provenance(self) -> Path:
        return self.directory / "provenance.html"

    @property
    def pictures(self) -> Path:
        return self.directory / "pictures"

    @property
    def index(self) -> Path:
        return self.directory / "report.json"

    @property
    def key_file(self) -> Path:
        return Path(self.results, REPORT_KEY)

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (self.table, self.provenance, self.pictures, self.index)


def check_results(results: PathLike, given: str = "--results") -> None:
    """Refuse a results directory that cannot be one, naming how it was ``given``: a file,
    or a symbolic link to nothing (``ResultsDirError``)."""
    path = Path(results)
    culprit = f"{given} {os.fspath(results)!r}"
    if path.is_symlink() and not path.exists():
        target = os.readlink(path)
        raise ResultsDirError(
            culprit,
            f"is a symbolic link to {target!r}, which does not "
            "exist: create that directory, or remove the link",
        )
    if path.exists() and not path.is_dir():
        raise ResultsDirError(
            culprit,
            "is a file, not a directory: give a directory for the runs and the merged files",
        )
