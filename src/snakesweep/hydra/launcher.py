"""The core of Hydra's ``hydra/launcher=snakesweep``: a batch of Hydra jobs → one Snakemake run.

``launch`` composes each job's config as Hydra's own launchers do (``load_sweep_config``),
gives it its run id (the content address of the config the task sees, without the
``hydra`` node, with the task function's reference as ``snakesweep.experiment``), writes
a plan whose ``launch`` section names the task function by reference, and runs Snakemake
on snakesweep's rules: one job per pending run, in parallel per ``hydra.launcher.cores``
or on a cluster through an executor plugin. Each job runs through Hydra's ``run_job`` in a
worker (``snakesweep.hydra_job``). Then every job gets its ``JobReturn``, from the run it
resolved to, whether that run was computed now or before.

A job's output directory is Hydra's (``hydra.sweep.dir``/``hydra.sweep.subdir``); its run
directory (``results/runs/<run_id>/``) records that directory in ``meta.json["hydra"]``.
A job whose run was computed before gets its ``.hydra/`` files and a log that says where the
run is, and runs nothing.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import re
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hydra import version
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from snakesweep.core.configs import run_id_of
from snakesweep.core.grid import Coordinate, Dimension
from snakesweep.core.options import SweepOptions
from snakesweep.errors import SnakesweepError, first_line
from snakesweep.planning.plan import Plan, PlannedPoint, check_coordinates, write_plan
from snakesweep.provenance import record as provenance
from snakesweep.store import runs as store

log = logging.getLogger(__name__)

JOB_DIMENSION = "job"
"""The dimension of a sweep whose jobs do not form a grid (Optuna's, Nevergrad's): Hydra's
job number."""


class LaunchError(SnakesweepError, CompactHydraException):
    """A launch that cannot go on; Hydra prints its message as one line."""


class TaskReferenceError(LaunchError, TypeError):
    """A task function that cannot be imported by module and name in another process."""

    def __init__(self, task: Any, reason: str) -> None:
        self.task = task
        super().__init__(f"snakesweep launcher: the task function {_describe(task)} {reason}")


class TaskFailed(LaunchError, RuntimeError):
    """A job whose task raised; carries the run id and the error its run recorded."""

    def __init__(self, run_id: str, error: Mapping[str, Any], where: Path) -> None:
        self.run_id = run_id
        self.error = dict(error)
        self.type = str(error.get("type", "Error"))
        trace = str(error.get("traceback") or "").rstrip()
        super().__init__(f"run {run_id} failed: {self.type}: "
                         f"{first_line(str(error.get('message', '')))}"
                         + (f"\n{trace}" if trace else "")
                         + f"\n(its meta.json, stdout.log and stderr.log are in {where})")


@dataclass(frozen=True)
class TaskRef:
    """A task function by reference: what a fresh process imports to get it again."""

    spec: str
    """``module:qualname``, as ``snakesweep.experiment`` spells an entry point."""
    unwrap: int = 0
    """``__wrapped__`` layers between the module's attribute and the task (``@hydra.main``)."""
    sys_path: tuple[str, ...] = ()
    """Directories to import it from (a script's own directory)."""
    main: bool = False
    """Whether it lives in the app's ``__main__`` (whose classes the configs may hold)."""


@dataclass
class Job:
    """One Hydra job of a launch: its number, overrides, composed config and run."""

    num: int
    overrides: list[str]
    config: DictConfig
    run_id: str
    identity: dict[str, Any]
    output_dir: str = ""
    """Its output directory (absolute), as Hydra's ``run_job`` makes it."""


@dataclass
class LaunchState:
    """What a launcher keeps between the batches of one multirun (sweepers that call
    ``launch`` batch by batch): every job so far, so ``sweep.nc`` holds all of them."""

    jobs: list[Job] = field(default_factory=list)


def task_reference(task: Any) -> TaskRef:
    """The reference by which a worker imports ``task``; ``TaskReferenceError`` if none works.

    A function defined at module level (``@hydra.main`` and other ``functools.wraps``
    decorators around it are unwrapped), in an importable module or in the script Python
    runs (imported from its directory by the file's name, as multiprocessing does).
    """
    module_name = getattr(task, "__module__", None)
    qualname = getattr(task, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        raise TaskReferenceError(task, "is not a function defined at module level: snakesweep "
                                 "runs each job in its own process and imports the task "
                                 "function there by module and name")
    if "<locals>" in qualname:
        raise TaskReferenceError(task, "is defined inside another function: snakesweep "
                                 "imports the task function by module and name in each job's "
                                 "process; define it at module level")
    if "<lambda>" in qualname:
        raise TaskReferenceError(task, "is a lambda, which has no name to import it by: "
                                 "define it with def at module level")
    module = sys.modules.get(module_name)
    sys_path: tuple[str, ...] = ()
    if module_name == "__main__":
        spec = getattr(module, "__spec__", None)
        file = getattr(module, "__file__", None)
        if spec is not None and spec.name and spec.name != "__main__":  # python -m pkg.app
            module_name = spec.name
        elif file:
            module_name = Path(file).stem
            if not module_name.isidentifier():
                raise TaskReferenceError(task, f"lives in {Path(file).name}, which cannot be "
                                         "imported by that name: rename the file to a valid "
                                         "Python module name")
            sys_path = (store.local_path(os.path.dirname(os.path.abspath(file))),)
        if file and not _has_main_guard(Path(file)):
            raise TaskReferenceError(task, f"lives in {Path(file).name}, which has no "
                                     "`if __name__ == \"__main__\":` guard: snakesweep "
                                     "imports the file in each job's process, so it must "
                                     "not start the app on import")
        if not file:
            raise TaskReferenceError(task, "lives in __main__ without a file (an interactive "
                                     "session or python -c): put it in a module or a script")
    else:
        sys_path = _import_root(module, module_name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    depth, candidate = 0, target
    while candidate is not task:
        candidate = getattr(candidate, "__wrapped__", None)
        if candidate is None:
            raise TaskReferenceError(task, f"is not what {module_name}:{qualname} names "
                                     "(a decorator without functools.wraps?): snakesweep "
                                     "imports the task function by module and name")
        depth += 1
    return TaskRef(f"{module_name}:{qualname}", depth, sys_path,
                   main=getattr(task, "__module__", None) == "__main__")


def _has_main_guard(path: Path) -> bool:
    """Whether a script runs its app only under ``if __name__ == "__main__":``."""
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return True  # cannot tell: the job's import will say
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [node.test.left, *node.test.comparators]
            if any(isinstance(n, ast.Name) and n.id == "__name__" for n in names) and any(
                    isinstance(n, ast.Constant) and n.value == "__main__" for n in names):
                return True
    return False


def _import_root(module: Any, module_name: str) -> tuple[str, ...]:
    """The directory a module was imported from, unless it is installed (under Python's
    prefix): a worker's ``sys.path`` lacks what this process added at run time."""
    file = getattr(module, "__file__", None)
    if not file:
        return ()
    root = Path(file).resolve().parents[module_name.count(".")]
    if Path(file).name == "__init__.py":
        root = root.parent
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    if any(root == p or p in root.parents for p in prefixes):
        return ()
    return (store.local_path(str(root)),)


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]],
           initial_job_idx: int) -> list[JobReturn]:
    """Run one batch of Hydra jobs through Snakemake; a ``JobReturn`` per job, in order."""
    from hydra.core.hydra_config import HydraConfig

    from snakesweep.snakemake.workflow import run_snakemake, write_invocation

    setup_globals()
    config, context = launcher.config, launcher.hydra_context
    assert config is not None and context is not None and launcher.task_function is not None
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    options = launcher.options
    task = task_reference(launcher.task_function)
    snakemake_args = _snakemake_args(options)
    results = store.local_path(str(options.get("results") or "results"))
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    log.info(f"snakesweep is launching {_count(len(job_overrides), 'job')} through Snakemake")
    log.info(f"Launching jobs, sweep output dir : {sweep_dir}")
    for idx, overrides in enumerate(job_overrides):
        log.info(f"\t#{initial_job_idx + idx} : {' '.join(filter_overrides(overrides))}")

    hydra_cfg = HydraConfig.instance().cfg
    try:
        jobs = [compose_job(context.config_loader, config, list(o), initial_job_idx + i, task)
                for i, o in enumerate(job_overrides)]
    finally:
        HydraConfig.instance().cfg = hydra_cfg  # as Hydra's run_job leaves it
    if launcher.state is None:
        launcher.state = LaunchState()
    state: LaunchState = launcher.state
    state.jobs.extend(jobs)
    first = _first_jobs(jobs)
    try:  # unusable snakesweep options fail here, before any job starts
        run_options = SweepOptions.from_configs({r: j.identity for r, j in first.items()})
        run_options.check()
        provenance.CurrentCode(run_options)
    except SnakesweepError as exc:
        raise LaunchError(f"snakesweep launcher: {exc}") from None
    started = datetime.now(UTC).isoformat()
    launch_dir = Path(results, ".snakesweep", "launches",
                      f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{initial_job_idx}")
    try:
        plan = launch_plan(state.jobs, jobs, task, launch_dir, config)
        for run_id, job in first.items():  # done ones too: `--forcerun` computes them again
            _write_pickle(launch_dir / f"{run_id}.pickle", job.config)
        write_plan(plan, launch_dir / "plan.json")
        invocation = write_invocation(launch_dir / "invocation.yaml",
                                      {"plan": str(launch_dir / "plan.json"), "results": results})
        code = run_snakemake(invocation, str(options.get("cores") or "all"), snakemake_args,
                             [Path(sys.executable).name, *sys.argv])
    finally:
        shutil.rmtree(launch_dir, ignore_errors=True)
    after = store.run_statuses(results, list(first))
    unfinished = sorted(r for r, s in after.items() if s not in ("done", "failed"))
    if unfinished or (code != 0 and "failed" not in after.values()):
        what = (f"{len(unfinished)} of {len(first)} runs did not finish (first: "
                f"{unfinished[0]})" if unfinished else "the merge of the runs did not finish")
        raise LaunchError(f"snakesweep launcher: snakemake exited with status {code} and {what}; "
                          "see Snakemake's messages above. Finished runs are kept: run the same "
                          "command again to go on")
    metas = {r: store.read_meta(results, r) or {} for r in first}
    computed = {r for r, j in first.items() if _computed_by(metas[r], j, started)}
    returns = [job_return(job, results, metas[job.run_id],
                          computed_here=job.run_id in computed and job is first[job.run_id])
               for job in jobs]
    failed = sum(r.status == JobStatus.FAILED for r in returns)
    log.info(f"snakesweep: {_count(len(jobs), 'job')}, {_count(len(first), 'run')}: "
             f"{len(computed)} computed, "
             f"{len(first) - len(computed)} done before"
             + (f", {failed} jobs failed" if failed else "") + f"; results in {results}/sweep.nc")
    return returns


def _computed_by(meta: Mapping[str, Any], job: Job, since: str) -> bool:
    """Whether this job computed its run in this launch (in its own output directory)."""
    record = meta.get("hydra") or {}
    return (record.get("output_dir") == store.local_path(job.output_dir)
            and str(meta.get("start") or meta.get("end") or "") >= since)


def compose_job(config_loader: Any, master: DictConfig, overrides: list[str], num: int,
                task: TaskRef) -> Job:
    """One job's config as Hydra's launchers compose it, and the run it resolves to."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf.errors import OmegaConfBaseException

    from snakesweep.execute.hydra_task import job_output_dir

    config = config_loader.load_sweep_config(master, overrides)
    with open_dict(config):
        config.hydra.job.id = f"{config.hydra.job.name}_{num}"
        config.hydra.job.num = num
    HydraConfig.instance().set_config(config)  # ${hydra:…} resolves against this job
    try:
        identity = identity_config(config, task)
        run_id = run_id_of(identity)
    except (OmegaConfBaseException, SnakesweepError) as exc:
        raise LaunchError(f"snakesweep launcher: job #{num} ({' '.join(overrides)}): its "
                          f"config cannot be resolved: {first_line(exc)}") from None
    return Job(num=num, overrides=overrides, config=config, run_id=run_id, identity=identity,
               output_dir=job_output_dir(config))


def identity_config(config: DictConfig, task: TaskRef) -> dict[str, Any]:
    """The resolved config of a job's run: the task's config without ``hydra``, plus
    ``snakesweep.experiment`` (the task's reference).

    Values that differ between invocations of the same run count by their interpolation
    text: the clock (``${now:…}``) and Hydra's per-invocation runtime (``${hydra:…}`` of
    ``runtime.output_dir``, ``runtime.cwd``, ``sweep.*``, ``run.*``, ``job.num``, ``job.id``).
    What follows from the job's overrides (``${hydra:runtime.choices.…}``, ``job.name``,
    ``job.override_dirname``, …) is resolved like any value.
    """
    task_cfg = OmegaConf.masked_copy(config, [str(k) for k in config if k != "hydra"])
    raw = OmegaConf.to_container(task_cfg, resolve=False, enum_to_str=True)
    pinned = _pin_runtime(raw)
    if pinned is not raw:
        task_cfg = OmegaConf.create(pinned)
    plain = _jsonable(OmegaConf.to_container(task_cfg, resolve=True, throw_on_missing=False,
                                             enum_to_str=True))
    assert isinstance(plain, dict)
    node = plain.get("snakesweep")
    plain["snakesweep"] = {**(node if isinstance(node, dict) else {}), "experiment": task.spec}
    return {str(k): v for k, v in plain.items()}


_VOLATILE = re.compile(r"(?<!\\)\$\{\s*(now\s*:|hydra\s*:\s*(?:runtime\.(?:output_dir|cwd)"
                       r"|sweep\.|run\.|job\.(?:num|id)\b))")


def _pin_runtime(node: Any) -> Any:
    """``node`` with every interpolation of a per-invocation value escaped (the same object
    when there is none)."""
    if isinstance(node, str):
        pinned = _VOLATILE.sub(lambda m: "\\" + m.group(0), node)
        return node if pinned == node else pinned
    if isinstance(node, dict):
        out = {k: _pin_runtime(v) for k, v in node.items()}
        return node if all(out[k] is node[k] for k in node) else out
    if isinstance(node, list):
        items = [_pin_runtime(v) for v in node]
        return node if all(a is b for a, b in zip(items, node, strict=True)) else items
    return node


def _jsonable(node: Any) -> Any:
    """A resolved config as JSON data: paths (a structured config's ``Path`` fields) as text."""
    from pathlib import PurePath

    if isinstance(node, dict):
        return {k: _jsonable(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_jsonable(v) for v in node]
    return str(node) if isinstance(node, PurePath) else node


def launch_plan(jobs: Sequence[Job], batch: Sequence[Job], task: TaskRef, launch_dir: Path,
                master: DictConfig) -> Plan:
    """The plan of every job of the multirun so far, computing the runs of ``batch``."""
    dims, indexes, labels = layout(jobs)
    points = tuple(PlannedPoint(run_id=j.run_id, index=i, overrides=tuple(j.overrides),
                                params={d.name: d.values[k] for d, k in zip(dims, i, strict=True)})
                   for j, i in zip(jobs, indexes, strict=True))
    configs: dict[str, dict[str, Any]] = {}
    for job in jobs:
        configs.setdefault(job.run_id, job.identity)
    source = next((str(s.path) for s in master.hydra.runtime.config_sources
                   if s.provider == "main" and s.path), "")
    plan = Plan(
        config_dir=source, config_name=str(master.hydra.job.config_name),
        overrides=tuple(str(o) for o in master.hydra.overrides.task),
        dims=dims, points=points, configs=configs,
        launch={"task": task.spec, "unwrap": task.unwrap, "sys_path": list(task.sys_path),
                "main": task.main, "jobs": str(launch_dir),
                "batch": sorted({j.run_id for j in batch}), "version_base": _version_base(),
                "labels": labels})
    check_coordinates(plan)
    return plan


def _version_base() -> str | None:
    """The app's ``version_base`` (it decides defaults such as ``hydra.job.chdir``)."""
    from packaging.version import Version

    base = version.getbase()
    return str(base) if isinstance(base, Version) else None


def layout(jobs: Sequence[Job]) -> tuple[tuple[Dimension, ...], list[tuple[int, ...]],
                                         dict[str, list[Coordinate | None]]]:
    """The dimensions of the jobs' Dataset, each job's cell, and the labels along ``job``.

    The keys whose override differs between jobs are the dimensions, values in the order
    they first appear, when the jobs are every combination of them once (a grid, as
    Hydra's BasicSweeper makes); otherwise one dimension ``job``, Hydra's job number, with
    each such key's value per job (None where a job does not set it) as a coordinate.
    """
    from snakesweep.core.grid import coordinate_of, dimension_name, parse_override

    parsed: list[dict[str, tuple[str, Coordinate]]] = []
    for job in jobs:
        keyed: dict[str, tuple[str, Coordinate]] = {}
        for text in job.overrides:
            ov = parse_override(text)
            if ov.is_hydra_override():
                continue
            value = ov.value()
            label = ov.get_value_element_as_str()
            keyed[dimension_name(ov.get_key_element())] = (
                label, coordinate_of(value, label) if not isinstance(value, (list, dict))
                else label)
        parsed.append(keyed)
    keys = list(dict.fromkeys(k for keyed in parsed for k in keyed))
    varying = [k for k in keys
               if len({keyed.get(k, (None,))[0] for keyed in parsed}) > 1]
    values: dict[str, dict[str, Coordinate]] = {k: {} for k in varying}
    for keyed in parsed:
        for k in varying:
            if k in keyed:
                values[k].setdefault(*keyed[k])
    combos = [tuple(keyed.get(k, (None,))[0] for k in varying) for keyed in parsed]
    size = 1
    for k in varying:
        size *= len(values[k])
    grid = (all(None not in c for c in combos) and len(set(combos)) == len(combos) == size)
    if not grid:
        nums = tuple(j.num for j in jobs)
        along: dict[str, list[Coordinate | None]] = {
            k: [keyed[k][1] if k in keyed else None for keyed in parsed] for k in varying
            if k != JOB_DIMENSION}
        return ((Dimension(JOB_DIMENSION, nums, tuple(f"job={n}" for n in nums)),),
                [(i,) for i in range(len(jobs))], along)
    dims = []
    for k in varying:
        labels = list(values[k])
        coords: list[Coordinate] = list(values[k].values())
        if len(set(map(repr, coords))) < len(coords):  # 1 and 1.0: label by the text
            coords = list(labels)
        dims.append(Dimension(k, tuple(coords), tuple(f"{k}={v}" for v in labels)))
    positions = [{label: i for i, label in enumerate(values[k])} for k in varying]
    return tuple(dims), [tuple(p[str(c)] for p, c in zip(positions, combo, strict=True))
                         for combo in combos], {}


def job_return(job: Job, results: str, meta: Mapping[str, Any], *,
               computed_here: bool) -> JobReturn:
    """The ``JobReturn`` of a job from its run; a job whose run was computed elsewhere or
    before gets its output directory's ``.hydra/`` files and a log saying so."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import _save_config

    from snakesweep.execute.hydra_task import stored_return

    config = copy.deepcopy(job.config)
    output_dir = job.output_dir
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = output_dir
    task_cfg = copy.deepcopy(config)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    # what run_job hands back: HydraConfig's copy of the hydra node, which keeps
    # interpolations into the task's config working
    current = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(config)
    hydra_cfg: DictConfig = copy.deepcopy(HydraConfig.instance().cfg)  # type: ignore[assignment]
    HydraConfig.instance().cfg = current
    name = str(config.hydra.job.name)
    chdir = config.hydra.job.chdir
    if chdir is None:  # as run_job decides it, by the app's version_base
        chdir = not version.base_at_least("1.2")
    ret = JobReturn(overrides=list(job.overrides), cfg=task_cfg, hydra_cfg=hydra_cfg,
                    working_dir=output_dir if chdir else os.getcwd(), task_name=name)
    run_dir = store.run_dir(results, job.run_id)
    if not computed_here:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        if config.hydra.output_subdir is not None:
            hydra_output = Path(output_dir, str(config.hydra.output_subdir))
            _save_config(task_cfg, "config.yaml", hydra_output)
            _save_config(hydra_cfg, "hydra.yaml", hydra_output)
            _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)
        with open(Path(output_dir, f"{name}.log"), "a", encoding="utf-8") as f:
            f.write(f"snakesweep: this job is run {job.run_id}, computed earlier: its results "
                    f"are in {run_dir}; nothing was computed here\n")
    if meta.get("status") in store.FAILED:
        ret.status = JobStatus.FAILED
        ret.return_value = TaskFailed(job.run_id, meta.get("error") or {}, run_dir)
    else:
        ret.status = JobStatus.COMPLETED
        ret.return_value = stored_return(results, job.run_id)
    return ret


def _first_jobs(jobs: Sequence[Job]) -> dict[str, Job]:
    first: dict[str, Job] = {}
    for job in jobs:
        first.setdefault(job.run_id, job)
    return first


def _write_pickle(path: Path, config: DictConfig) -> None:
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
        raise LaunchError("snakesweep launcher: hydra.launcher.snakemake_args: expected a list "
                          f"of arguments, e.g. ['--retries', '2'], got {extra!r}")
    moved = next((str(a) for a in extra if str(a).split("=")[0] in ("--directory", "-d")), None)
    if moved:
        raise LaunchError(f"snakesweep launcher: hydra.launcher.snakemake_args: {moved!r} is "
                          "not supported: the runs are found relative to where the app "
                          "started; start the app in that directory, or set "
                          "hydra.launcher.results")
    return args + [str(a) for a in extra]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _describe(task: Any) -> str:
    name = getattr(task, "__qualname__", None) or type(task).__name__
    module = getattr(task, "__module__", None)
    return f"{module}.{name}" if module and name else repr(task)
