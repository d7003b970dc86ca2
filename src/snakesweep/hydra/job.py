"""One Hydra job of a launch: its config composed as Hydra's launchers compose it, the run
it resolves to (the run id of its config without ``hydra``), and the ``JobReturn`` Hydra
gets back from that run, computed now or before."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from hydra import version
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, _save_config
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from snakesweep import store
from snakesweep.core.configs import run_id_of
from snakesweep.errors import SnakesweepError, first_line
from snakesweep.execute.hydra_task import job_output_dir
from snakesweep.hydra.errors import LaunchError, TaskFailed
from snakesweep.hydra.task import TaskRef

__all__ = ["Job", "compose_job", "compose_jobs", "identity_config", "job_return", "stored_return"]


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


def compose_jobs(
    config_loader: Any,
    master: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    task: TaskRef,
) -> list[Job]:
    """The jobs of one batch, numbered from ``initial_job_idx``; ``HydraConfig`` left as
    Hydra's ``run_job`` leaves it."""
    hydra_cfg = HydraConfig.instance().cfg
    try:
        return [
            compose_job(config_loader, master, list(o), initial_job_idx + i, task)
            for i, o in enumerate(job_overrides)
        ]
    finally:
        HydraConfig.instance().cfg = hydra_cfg  # as Hydra's run_job leaves it


def compose_job(
    config_loader: Any, master: DictConfig, overrides: list[str], num: int, task: TaskRef
) -> Job:
    """One job's config as Hydra's launchers compose it, and the run it resolves to."""
    config = config_loader.load_sweep_config(master, overrides)
    with open_dict(config):
        config.hydra.job.id = f"{config.hydra.job.name}_{num}"
        config.hydra.job.num = num
    HydraConfig.instance().set_config(config)  # ${hydra:…} resolves against this job
    try:
        identity = identity_config(config, task)
        run_id = run_id_of(identity)
    except (OmegaConfBaseException, SnakesweepError) as exc:
        raise LaunchError(
            f"snakesweep launcher: job #{num} ({' '.join(overrides)}): its "
            f"config cannot be resolved: {first_line(exc)}"
        ) from None
    return Job(
        num=num,
        overrides=overrides,
        config=config,
        run_id=run_id,
        identity=identity,
        output_dir=job_output_dir(config),
    )


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
    plain = _jsonable(
        OmegaConf.to_container(task_cfg, resolve=True, throw_on_missing=False, enum_to_str=True)
    )
    assert isinstance(plain, dict)
    node = plain.get("snakesweep")
    plain["snakesweep"] = {**(node if isinstance(node, dict) else {}), "experiment": task.spec}
    return {str(k): v for k, v in plain.items()}


_VOLATILE = re.compile(
    r"(?<!\\)\$\{\s*(now\s*:|hydra\s*:\s*(?:runtime\.(?:output_dir|cwd)"
    r"|sweep\.|run\.|job\.(?:num|id)\b))"
)


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
    if isinstance(node, dict):
        return {k: _jsonable(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_jsonable(v) for v in node]
    return str(node) if isinstance(node, PurePath) else node


def job_return(
    job: Job, results: str, meta: Mapping[str, Any], *, computed_here: bool
) -> JobReturn:
    """The ``JobReturn`` of a job from its run; a job whose run was computed elsewhere or
    before gets its output directory's ``.hydra/`` files and a log saying so."""
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
    ret = JobReturn(
        overrides=list(job.overrides),
        cfg=task_cfg,
        hydra_cfg=hydra_cfg,
        working_dir=output_dir if chdir else os.getcwd(),
        task_name=name,
    )
    run_dir = store.run_dir(results, job.run_id)
    if not computed_here:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        if config.hydra.output_subdir is not None:
            hydra_output = Path(output_dir, str(config.hydra.output_subdir))
            _save_config(task_cfg, "config.yaml", hydra_output)
            _save_config(hydra_cfg, "hydra.yaml", hydra_output)
            _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)
        with open(Path(output_dir, f"{name}.log"), "a", encoding="utf-8") as f:
            f.write(
                f"snakesweep: this job is run {job.run_id}, computed earlier: its results "
                f"are in {run_dir}; nothing was computed here\n"
            )
    if meta.get("status") in store.FAILED:
        ret.status = JobStatus.FAILED
        ret.return_value = TaskFailed(job.run_id, meta.get("error") or {}, run_dir)
    else:
        ret.status = JobStatus.COMPLETED
        ret.return_value = stored_return(results, job.run_id)
    return ret


def stored_return(results: str | os.PathLike[str], run_id: str) -> Any:
    """A done run's return value: its ``return.json``; for a run computed by ``snakesweep
    run`` (no such file), the mapping of its scalar results."""
    path = store.run_dir(results, run_id) / store.RETURN
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    import xarray as xr  # heavy: only for a run that ``snakesweep run`` computed

    with xr.open_dataset(store.result_path(results, run_id), engine=store.ENGINE) as ds:
        return {name: var.item() for name, var in ds.data_vars.items() if var.ndim == 0}
