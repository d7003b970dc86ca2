"""The core of Hydra's ``hydra/launcher=snakesweep``: a batch of Hydra jobs → one Snakemake run.

``launch`` composes each job's config as Hydra's own launchers do (``load_sweep_config``;
``JobComposer`` gives the same config at the cost of a copy, and stands in for the config
loader the sweeper validates each batch with), gives it its run id (the content address
of the config the task sees, without the ``hydra`` node, with the task function's
reference as ``snakesweep.experiment``), writes a plan whose ``launch`` section names the
task function by reference, and runs Snakemake on snakesweep's rules (its greedy scheduler,
``snakemake.arguments.scheduling``): a job per few pending runs in the rules' warm pool,
in parallel per ``hydra.launcher.cores``, or a job per run on a cluster through an
executor plugin. Each job runs through Hydra's ``run_job`` in a
worker (``snakesweep.execute.hydra_task``). Then every job gets its ``JobReturn``, from the
run it resolved to, whether that run was computed now or before (``snakesweep.hydra.job``).

A job's output directory is Hydra's (``hydra.sweep.dir``/``hydra.sweep.subdir``); its run
directory (``results/runs/<run_id>/``) records that directory in ``meta.json["hydra"]``.
A job whose run was computed before gets its ``.hydra/`` files and a log that says where the
run is, and runs nothing.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import pickle
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hydra import version
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from omegaconf import DictConfig, OmegaConf
from packaging.version import Version

from snakesweep import store
from snakesweep.core.grid import (
    Coordinate,
    Dimension,
    coordinate_of,
    dimension_name,
    parse_override,
)
from snakesweep.core.options import SweepOptions
from snakesweep.errors import SnakesweepError
from snakesweep.execute.hydra_task import job_config_path
from snakesweep.hydra.errors import LaunchError
from snakesweep.hydra.job import Job, JobComposer, compose_jobs, job_return
from snakesweep.hydra.task import TaskRef, task_reference
from snakesweep.planning.plan import Plan, PlannedPoint, check_coordinates, write_plan
from snakesweep.provenance.code import CurrentCode
from snakesweep.snakemake import arguments
from snakesweep.snakemake.driver import run_snakemake, write_invocation
from snakesweep.snakemake.uptodate import nothing_to_do

__all__ = [
    "JOB_DIMENSION",
    "LaunchState",
    "Layout",
    "launch",
    "launch_plan",
    "layout",
]

log = logging.getLogger(__name__)

JOB_DIMENSION = "job"
"""The dimension of a sweep whose jobs do not form a grid (Optuna's, Nevergrad's): Hydra's
job number."""

Layout = tuple[tuple[Dimension, ...], list[tuple[int, ...]], dict[str, list[Coordinate | None]]]
"""The dimensions of the jobs' Dataset, each job's cell, and the labels along ``job``."""

_Keyed = dict[str, tuple[str, Coordinate]]
"""A job's swept keys → the text of its value and the value as a coordinate."""


@dataclass
class LaunchState:
    """What a launcher keeps between the batches of one multirun (sweepers that call
    ``launch`` batch by batch): every job so far, so ``sweep.nc`` holds all of them."""

    jobs: list[Job] = field(default_factory=list)


def launch(
    launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    """Run one batch of Hydra jobs through Snakemake; a ``JobReturn`` per job, in order."""
    setup_globals()
    config, context = launcher.config, launcher.hydra_context
    assert config is not None and context is not None and launcher.task_function is not None
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    options = launcher.options
    task = task_reference(launcher.task_function)
    snakemake_args = _snakemake_args(options)
    results = store.local_path(str(options.get("results") or "results"))
    _announce(config, job_overrides, initial_job_idx)
    composer = context.config_loader
    if not isinstance(composer, JobComposer):  # setup() puts one in; a sweeper may not
        composer = JobComposer(composer)
    with _gc_paused():
        jobs = compose_jobs(composer, config, job_overrides, initial_job_idx, task)
    if launcher.state is None:
        launcher.state = LaunchState()
    state: LaunchState = launcher.state
    state.jobs.extend(jobs)
    first = _first_jobs(jobs)
    _check_options(first)
    started = datetime.now(UTC).isoformat()
    launch_dir = store.launch_dir(
        results, f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{initial_job_idx}"
    )
    plan = launch_plan(state.jobs, jobs, task, launch_dir, config)
    code = _run_snakemake(plan, first, results, str(options.get("cores") or "all"), snakemake_args)
    _check_finished(results, first, code)
    with _gc_paused():
        return _job_returns(jobs, first, results, started)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: its collections walk every live object, and
    the configs of hundreds of jobs (thousands of objects each) stay alive while they are
    composed, which made collecting cost as much as composing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _announce(
    config: DictConfig, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> None:
    """Make the sweep's output directory and log the batch's jobs, as Hydra's launchers do."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    log.info(f"snakesweep is launching {_count(len(job_overrides), 'job')} through Snakemake")
    log.info(f"Launching jobs, sweep output dir : {sweep_dir}")
    for idx, overrides in enumerate(job_overrides):
        log.info(f"\t#{initial_job_idx + idx} : {' '.join(filter_overrides(overrides))}")


def _check_options(first: Mapping[str, Job]) -> None:
    """``LaunchError`` for unusable snakesweep options, before any job starts."""
    try:  # unusable snakesweep options fail here, before any job starts
        run_options = SweepOptions.from_configs({r: j.identity for r, j in first.items()})
        run_options.check()
        CurrentCode(run_options)
    except SnakesweepError as exc:
        raise LaunchError(f"snakesweep launcher: {exc}") from None


def _run_snakemake(
    plan: Plan, first: Mapping[str, Job], results: str, cores: str, snakemake_args: list[str]
) -> int:
    """Write the launch's plan and each run's job config beside it, run Snakemake on them
    (then remove them); Snakemake's exit status. No Snakemake when it would have nothing to
    do (every run done, merged and in the report) and no argument of its own was given."""
    assert plan.launch is not None
    chosen = [a for a in snakemake_args if a.startswith("-") and a not in ("--executor", "--jobs")]
    if not chosen and nothing_to_do(plan, results):
        return 0
    launch_dir = Path(str(plan.launch["jobs"]))
    try:
        for run_id, job in first.items():  # done ones too: `--forcerun` computes them again
            _write_pickle(job_config_path(plan.launch, run_id), job.config)
        write_plan(plan, launch_dir / "plan.json")
        invocation = write_invocation(
            launch_dir / "invocation.yaml",
            {
                "plan": str(launch_dir / "plan.json"),
                "results": results,
                "pooled": arguments.runs_here(snakemake_args),  # the rules' pool: batches
            },
        )
        # the greedy scheduler unless snakemake_args choose another (arguments.scheduling)
        return run_snakemake(
            invocation, cores, snakemake_args, [Path(sys.executable).name, *sys.argv]
        )
    finally:
        shutil.rmtree(launch_dir, ignore_errors=True)


def _check_finished(results: str, first: Mapping[str, Job], code: int) -> None:
    """``LaunchError`` unless every run finished (done or failed) and the merge did."""
    after = store.run_statuses(results, list(first))
    unfinished = sorted(r for r, s in after.items() if s not in ("done", "failed"))
    if unfinished or (code != 0 and "failed" not in after.values()):
        what = (
            f"{len(unfinished)} of {len(first)} runs did not finish (first: {unfinished[0]})"
            if unfinished
            else "the merge of the runs did not finish"
        )
        raise LaunchError(
            f"snakesweep launcher: snakemake exited with status {code} and {what}; "
            "see Snakemake's messages above. Finished runs are kept: run the same "
            "command again to go on"
        )


def _job_returns(
    jobs: Sequence[Job], first: Mapping[str, Job], results: str, started: str
) -> list[JobReturn]:
    """Each job's ``JobReturn`` from its run, and a line saying what was computed."""
    metas = {r: store.read_meta(results, r) or {} for r in first}
    computed = {r for r, j in first.items() if _computed_by(metas[r], j, started)}
    returns = [
        job_return(
            job,
            results,
            metas[job.run_id],
            computed_here=job.run_id in computed and job is first[job.run_id],
        )
        for job in jobs
    ]
    failed = sum(r.status == JobStatus.FAILED for r in returns)
    log.info(
        f"snakesweep: {_count(len(jobs), 'job')}, {_count(len(first), 'run')}: "
        f"{len(computed)} computed, "
        f"{len(first) - len(computed)} done before"
        + (f", {failed} jobs failed" if failed else "")
        + f"; results in {results}/sweep.nc"
    )
    return returns


def _computed_by(meta: Mapping[str, Any], job: Job, since: str) -> bool:
    """Whether this job computed its run in this launch (in its own output directory)."""
    record = meta.get("hydra") or {}
    return (
        record.get("output_dir") == store.local_path(job.output_dir)
        and str(meta.get("start") or meta.get("end") or "") >= since
    )


def launch_plan(
    jobs: Sequence[Job], batch: Sequence[Job], task: TaskRef, launch_dir: Path, master: DictConfig
) -> Plan:
    """The plan of every job of the multirun so far, computing the runs of ``batch``."""
    dims, indexes, labels = layout(jobs)
    points = tuple(
        PlannedPoint(
            run_id=j.run_id,
            index=i,
            overrides=tuple(j.overrides),
            params={d.name: d.values[k] for d, k in zip(dims, i, strict=True)},
        )
        for j, i in zip(jobs, indexes, strict=True)
    )
    configs: dict[str, dict[str, Any]] = {}
    for job in jobs:
        configs.setdefault(job.run_id, job.identity)
    source = next(
        (
            str(s.path)
            for s in master.hydra.runtime.config_sources
            if s.provider == "main" and s.path
        ),
        "",
    )
    plan = Plan(
        config_dir=source,
        config_name=str(master.hydra.job.config_name),
        overrides=tuple(str(o) for o in master.hydra.overrides.task),
        dims=dims,
        points=points,
        configs=configs,
        launch={
            "task": task.spec,
            "unwrap": task.unwrap,
            "sys_path": list(task.sys_path),
            "main": task.main,
            "jobs": str(launch_dir),
            "batch": sorted({j.run_id for j in batch}),
            "version_base": _version_base(),
            "labels": labels,
        },
    )
    check_coordinates(plan)
    return plan


def _version_base() -> str | None:
    """The app's ``version_base`` (it decides defaults such as ``hydra.job.chdir``)."""
    base = version.getbase()
    return str(base) if isinstance(base, Version) else None


def layout(jobs: Sequence[Job]) -> Layout:
    """The dimensions of the jobs' Dataset, each job's cell, and the labels along ``job``.

    The keys whose override differs between jobs are the dimensions, values in the order
    they first appear, when the jobs are every combination of them once (a grid, as
    Hydra's BasicSweeper makes); otherwise one dimension ``job``, Hydra's job number, with
    each such key's value per job (None where a job does not set it) as a coordinate.
    """
    known: dict[str, tuple[str, tuple[str, Coordinate]] | None] = {}  # by override text
    parsed = [_swept_values(job, known) for job in jobs]
    keys = list(dict.fromkeys(k for keyed in parsed for k in keyed))
    varying = [k for k in keys if len({keyed.get(k, (None,))[0] for keyed in parsed}) > 1]
    values = _values_in_order(parsed, varying)
    combos = [tuple(keyed.get(k, (None,))[0] for k in varying) for keyed in parsed]
    size = math.prod(len(values[k]) for k in varying)
    grid = all(None not in c for c in combos) and len(set(combos)) == len(combos) == size
    if not grid:
        return _job_layout(jobs, parsed, varying)
    return _grid_layout(varying, values, combos)


def _swept_values(job: Job, known: dict[str, tuple[str, tuple[str, Coordinate]] | None]) -> _Keyed:
    """A job's overrides of the task's config (not Hydra's own), by key; each override text
    parsed once (``known``: what each text gave)."""
    keyed: _Keyed = {}
    for text in job.overrides:
        if text not in known:
            known[text] = _swept_value(text)
        entry = known[text]
        if entry is not None:
            keyed[entry[0]] = entry[1]
    return keyed


def _swept_value(text: str) -> tuple[str, tuple[str, Coordinate]] | None:
    """An override's dimension, label and coordinate; None for Hydra's own config."""
    ov = parse_override(text)
    if ov.is_hydra_override():
        return None
    value = ov.value()
    label = ov.get_value_element_as_str()
    return dimension_name(ov.get_key_element()), (
        label,
        coordinate_of(value, label) if not isinstance(value, (list, dict)) else label,
    )


def _values_in_order(
    parsed: Sequence[_Keyed], varying: Sequence[str]
) -> dict[str, dict[str, Coordinate]]:
    """Each varying key's values (text → coordinate), in the order they first appear."""
    values: dict[str, dict[str, Coordinate]] = {k: {} for k in varying}
    for keyed in parsed:
        for k in varying:
            if k in keyed:
                values[k].setdefault(*keyed[k])
    return values


def _job_layout(jobs: Sequence[Job], parsed: Sequence[_Keyed], varying: Sequence[str]) -> Layout:
    """Jobs that are no grid: one dimension ``job``, each varying key's value along it."""
    nums = tuple(j.num for j in jobs)
    along: dict[str, list[Coordinate | None]] = {
        k: [keyed[k][1] if k in keyed else None for keyed in parsed]
        for k in varying
        if k != JOB_DIMENSION
    }
    return (
        (Dimension(JOB_DIMENSION, nums, tuple(f"job={n}" for n in nums)),),
        [(i,) for i in range(len(jobs))],
        along,
    )


def _grid_layout(
    varying: Sequence[str],
    values: Mapping[str, dict[str, Coordinate]],
    combos: Sequence[tuple[str | None, ...]],
) -> Layout:
    """Jobs that are a grid: a dimension per varying key, each job at its cell."""
    dims = []
    for k in varying:
        labels = list(values[k])
        coords: list[Coordinate] = list(values[k].values())
        if len(set(map(repr, coords))) < len(coords):  # 1 and 1.0: label by the text
            coords = list(labels)
        dims.append(Dimension(k, tuple(coords), tuple(f"{k}={v}" for v in labels)))
    positions = [{label: i for i, label in enumerate(values[k])} for k in varying]
    return (
        tuple(dims),
        [tuple(p[str(c)] for p, c in zip(positions, combo, strict=True)) for combo in combos],
        {},
    )


def _first_jobs(jobs: Sequence[Job]) -> dict[str, Job]:
    """Each run id → the first job that resolves to it (the one that computes it)."""
    first: dict[str, Job] = {}
    for job in jobs:
        first.setdefault(job.run_id, job)
    return first


def _write_pickle(path: Path, config: DictConfig) -> None:
    """A job's config, pickled, written aside then renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.aside(path)
    with open(tmp, "wb") as f:
        pickle.dump(config, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def _snakemake_args(options: Mapping[str, Any]) -> list[str]:
    """Snakemake's arguments from the launcher's config: executor, jobs, then the rest."""
    args: list[str] = []
    if options.get("executor"):
        args += ["--executor", str(options["executor"])]
    if options.get("jobs") is not None:
        args += ["--jobs", str(options["jobs"])]
    extra = options.get("snakemake_args") or []
    if OmegaConf.is_config(extra):
        extra = OmegaConf.to_container(extra, resolve=True)
    if not isinstance(extra, list) or not all(isinstance(a, (str, int, float)) for a in extra):
        raise LaunchError(
            "snakesweep launcher: hydra.launcher.snakemake_args: expected a list "
            f"of arguments, e.g. ['--retries', '2'], got {extra!r}"
        )
    moved = next((str(a) for a in extra if str(a).split("=")[0] in ("--directory", "-d")), None)
    if moved:
        raise LaunchError(
            f"snakesweep launcher: hydra.launcher.snakemake_args: {moved!r} is "
            "not supported: the runs are found relative to where the app "
            "started; start the app in that directory, or set "
            "hydra.launcher.results"
        )
    return args + [str(a) for a in extra]


def _count(n: int, noun: str) -> str:
    """``1 job``, ``2 jobs``."""
    return f"{n} {noun}{'s' * (n != 1)}"
