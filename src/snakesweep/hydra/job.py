"""One Hydra job of a launch: its config composed as Hydra's launchers compose it, the run
it resolves to (the run id of its config without ``hydra``), and the ``JobReturn`` Hydra
gets back from that run, computed now or before.

Hydra's ``load_sweep_config`` composes a job from scratch (tens of milliseconds: every
config file read again); ``JobComposer`` gives the same config at the cost of a copy, so
a sweep of many jobs is composed about once per combination of config-group choices.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import yaml
from hydra import version
from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.config_loader import ConfigLoader
from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.hydra_config import HydraConfig
from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.config_source import ConfigSource
from hydra.types import RunMode
from omegaconf import (
    AnyNode,
    DictConfig,
    ListConfig,
    OmegaConf,
    flag_override,
    open_dict,
    read_write,
)
from omegaconf._utils import OmegaConfDumper
from omegaconf.errors import OmegaConfBaseException

from snakesweep import store
from snakesweep.core.configs import run_id_of
from snakesweep.errors import SnakesweepError, first_line
from snakesweep.execute.hydra_task import job_output_dir
from snakesweep.hydra.errors import LaunchError, TaskFailed
from snakesweep.hydra.task import TaskRef

__all__ = [
    "Job",
    "JobComposer",
    "compose_job",
    "compose_jobs",
    "identity_config",
    "job_return",
    "stored_return",
    "to_yaml",
]


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
    hydra_base: Mapping[str, Any] | None = None
    """The ``hydra`` node of the base it was copied from, as plain data (``JobComposer``):
    the job's differs in ``PER_JOB`` alone; None when Hydra composed it."""


PER_JOB = (("job", "id"), ("job", "num"), ("job", "override_dirname"), ("overrides", "task"))
"""The fields of the ``hydra`` node in which the jobs copied from one base differ (with
``runtime.output_dir``, which ``job_return`` sets)."""


class JobComposer(ConfigLoader):
    """Composes jobs' configs as Hydra's ``load_sweep_config`` does, at the cost of a copy.

    Hydra composes once per combination of a job's config-group choices (a base, kept
    pickled); each job gets a copy of its base with its value overrides applied by Hydra's
    own override logic (after the master's Hydra overrides, as Hydra applies them), and
    the ``hydra`` node's per-job fields (``overrides.task``, ``job.override_dirname``) set
    as Hydra sets them. A job that overrides Hydra's own config, or sweeps, is composed by
    Hydra. A ``ConfigLoader``: all else is the wrapped loader's, so it can stand in for it.
    """

    def __init__(self, config_loader: ConfigLoader) -> None:
        self.config_loader = config_loader
        self._parser = OverridesParser.create()
        self._master: DictConfig | None = None
        self._bases: dict[tuple[str, ...], bytes] = {}
        self._kinds: dict[str, tuple[Override, str | None]] = {}
        self._composed: dict[tuple[str, ...], DictConfig] = {}
        """Configs composed since the last ``take``: the sweeper's validation of a batch
        composes every job of it just before the launch does."""
        self._hydra_bases: dict[tuple[str, ...], dict[str, Any]] = {}
        """Each base's ``hydra`` node as plain data, by its config-group choices."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.config_loader, name)

    def load_configuration(
        self,
        config_name: str | None,
        overrides: list[str],
        run_mode: RunMode,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> DictConfig:
        """The wrapped loader's."""
        return self.config_loader.load_configuration(
            config_name, overrides, run_mode, from_shell, validate_sweep_overrides
        )

    def get_search_path(self) -> ConfigSearchPath:
        """The wrapped loader's."""
        return self.config_loader.get_search_path()

    def get_sources(self) -> list[ConfigSource]:
        """The wrapped loader's."""
        return self.config_loader.get_sources()

    def list_groups(self, parent_name: str) -> list[str]:
        """The wrapped loader's."""
        return self.config_loader.list_groups(parent_name)

    def get_group_options(
        self,
        group_name: str,
        results_filter: ObjectType | None = ObjectType.CONFIG,
        config_name: str | None = None,
        overrides: list[str] | None = None,
    ) -> list[str]:
        """The wrapped loader's."""
        return self.config_loader.get_group_options(
            group_name, results_filter, config_name, overrides
        )

    def compute_defaults_list(
        self, config_name: str | None, overrides: list[str], run_mode: RunMode
    ) -> Any:
        """The wrapped loader's."""
        return self.config_loader.compute_defaults_list(config_name, overrides, run_mode)

    def load_sweep_config(
        self, master_config: DictConfig, sweep_overrides: list[str]
    ) -> DictConfig:
        """The config of the job with these overrides, as ``load_sweep_config`` returns it."""
        self._follow(master_config)
        config = self._compose(master_config, sweep_overrides)
        self._composed[tuple(sweep_overrides)] = config
        return config

    def _follow(self, master_config: DictConfig) -> None:
        """Forget what was composed for another master config."""
        if master_config is not self._master:
            self._master, self._bases, self._kinds = master_config, {}, {}
            self._composed, self._hydra_bases = {}, {}

    def take(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        """``load_sweep_config``'s config for the launch, which keeps it: the one composed
        for the sweeper's validation of the batch when there is one (nobody else holds it),
        else a new one."""
        self._follow(master_config)
        config = self._composed.pop(tuple(sweep_overrides), None)
        if config is not None:
            return config
        return self._compose(master_config, sweep_overrides)  # not kept: it is the launch's

    def hydra_base(self, sweep_overrides: list[str]) -> dict[str, Any] | None:
        """The ``hydra`` node, as plain data, of the base the job with these overrides was
        copied from; None when Hydra composed it."""
        group = self._group(sweep_overrides)
        if group is None or group not in self._bases:
            return None
        if group not in self._hydra_bases:
            base = pickle.loads(self._bases[group])
            plain = OmegaConf.to_container(base.hydra, resolve=False, enum_to_str=True)
            assert isinstance(plain, dict)
            self._hydra_bases[group] = {str(k): v for k, v in plain.items()}
        return self._hydra_bases[group]

    def _group(self, sweep_overrides: list[str]) -> tuple[str, ...] | None:
        """The config-group choices of a job's overrides; None when Hydra composes it."""
        parsed = [self._parse(text) for text in sweep_overrides]
        if any(kind is None for _, kind in parsed):
            return None
        return tuple(str(ov.input_line) for ov, kind in parsed if kind == "group")

    def forget(self) -> None:
        """Drop what ``take`` did not take (a batch's validation composes only its own)."""
        self._composed = {}

    def _compose(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        group = self._group(sweep_overrides)
        if group is None:
            return self.config_loader.load_sweep_config(master_config, list(sweep_overrides))
        parsed = [self._parse(text) for text in sweep_overrides]  # known: parsed once
        values = [ov for ov, kind in parsed if kind == "value"]
        base = self._bases.get(group)
        if base is None:
            composed = self.config_loader.load_sweep_config(master_config, list(group))
            base = self._bases[group] = pickle.dumps(composed, protocol=pickle.HIGHEST_PROTOCOL)
        config: DictConfig = pickle.loads(base)
        ConfigLoaderImpl._apply_overrides_to_config(values, config)
        hydra = config.hydra
        hydra.overrides.task = list(sweep_overrides)
        dirname = hydra.job.config.override_dirname
        hydra.job.override_dirname = get_overrides_dirname(
            overrides=[ov for ov, _ in parsed],
            kv_sep=dirname.kv_sep,
            item_sep=dirname.item_sep,
            exclude_keys=dirname.exclude_keys,
        )
        OmegaConf.copy_cache(from_config=master_config, to_config=config)
        return config

    def _parse(self, text: str) -> tuple[Override, str | None]:
        """An override, parsed once, and what Hydra does with it: a config-group choice
        (``group``), a value (``value``), or None: Hydra's own config, or a sweep."""
        known = self._kinds.get(text)
        if known is None:
            (ov,) = self._parser.parse_overrides([text])
            kind: str | None = "value"
            if ov.is_hydra_override() or ov.is_sweep_override():
                kind = None
            elif not isinstance(ov.value(), dict) and self.repository.group_exists(
                ov.key_or_group
            ):  # as Hydra's defaults list tells them apart
                kind = "group"
            known = self._kinds[text] = (ov, kind)
        return known


def compose_jobs(
    composer: JobComposer,
    master: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    task: TaskRef,
) -> list[Job]:
    """The jobs of one batch, numbered from ``initial_job_idx``; ``HydraConfig`` left as
    it was."""
    hydra_cfg = HydraConfig.instance().cfg
    try:
        return [
            compose_job(composer, master, list(o), initial_job_idx + i, task)
            for i, o in enumerate(job_overrides)
        ]
    finally:
        composer.forget()
        HydraConfig.instance().cfg = hydra_cfg


def compose_job(
    composer: JobComposer, master: DictConfig, overrides: list[str], num: int, task: TaskRef
) -> Job:
    """One job's config as Hydra's launchers compose it, and the run it resolves to."""
    config = composer.take(master, overrides)
    with open_dict(config):
        config.hydra.job.id = f"{config.hydra.job.name}_{num}"
        config.hydra.job.num = num
    # ${hydra:…} resolves against this job: HydraConfig.set_config without its copy
    OmegaConf.set_readonly(config.hydra, True)
    HydraConfig.instance().cfg = config  # type: ignore[assignment]
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
        hydra_base=composer.hydra_base(overrides),
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
    """The ``JobReturn`` of a job from its run, as Hydra's ``run_job`` makes it; a job whose
    run was computed elsewhere or before gets its output directory's ``.hydra/`` files and
    a log saying so. Takes ``job.config`` over (its ``hydra`` node becomes the return's)."""
    config = job.config
    output_dir = job.output_dir
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = output_dir
    task_cfg = _without_hydra(config)
    hydra_cfg = OmegaConf.create()  # what run_job hands back: the hydra node on its own
    with flag_override(hydra_cfg, "no_deepcopy_set_nodes", True):
        hydra_cfg["hydra"] = config._get_node("hydra")
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
            _save_configs(
                task_cfg, _hydra_plain(job), Path(output_dir, str(config.hydra.output_subdir))
            )
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


def _without_hydra(config: DictConfig) -> DictConfig:
    """A deep copy of a config but its ``hydra`` node (which is not copied)."""
    hydra = config._get_node("hydra")
    task_cfg = copy.deepcopy(config, memo={id(hydra): AnyNode(None)})
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    return task_cfg


def _hydra_plain(job: Job) -> dict[str, Any]:
    """``{"hydra": …}`` of a job, as plain data: its base's, with the fields in which jobs
    differ taken from its own node (converting the whole node costs ~1 ms a job)."""
    node = job.config.hydra
    if job.hydra_base is None:
        plain = OmegaConf.to_container(node, resolve=False, enum_to_str=True)
        assert isinstance(plain, dict)
        return {"hydra": plain}
    hydra = dict(job.hydra_base)
    for part, key in (*PER_JOB, ("runtime", "output_dir")):
        field = node[part]._get_node(key)
        value = (  # as to_container(resolve=False) gives it: interpolations as text
            OmegaConf.to_container(field, resolve=False)
            if isinstance(field, ListConfig)
            else field._value()
        )
        hydra[part] = {**hydra[part], key: value}
    return {"hydra": hydra}


def _save_configs(task_cfg: DictConfig, hydra: Mapping[str, Any], hydra_output: Path) -> None:
    """A job's ``.hydra/`` files as ``run_job`` writes them: ``config.yaml`` (the task's),
    ``hydra.yaml``, ``overrides.yaml``; ``hydra``: ``{"hydra": …}`` as plain data."""
    hydra_output.mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("config.yaml", OmegaConf.to_container(task_cfg, resolve=False, enum_to_str=True)),
        ("hydra.yaml", hydra),
        ("overrides.yaml", hydra["hydra"]["overrides"]["task"]),
    ):
        (hydra_output / name).write_text(_dump(data), encoding="utf-8")


class _CDumper(getattr(yaml, "CDumper", yaml.Dumper)):  # type: ignore[misc]
    """OmegaConf's YAML dumper on libyaml's emitter (Python's when PyYAML has no libyaml)."""


_CDumper.add_representer(str, OmegaConfDumper.str_representer)


def to_yaml(node: Any) -> str:
    """``OmegaConf.to_yaml(node)``, the same text, written by libyaml: the ``.hydra/``
    files of many jobs whose runs were done before cost a fraction of Hydra's time."""
    return _dump(OmegaConf.to_container(node, resolve=False, enum_to_str=True))


def _dump(container: Any) -> str:
    return str(
        yaml.dump(
            container,
            default_flow_style=False,
            allow_unicode=True,
            sort_keys=False,
            Dumper=_CDumper,
        )
    )


def stored_return(results: str | os.PathLike[str], run_id: str) -> Any:
    """A done run's return value: its ``return.json``; for a run computed by ``snakesweep
    run`` (no such file), the mapping of its scalar results."""
    path = store.run_dir(results, run_id) / store.RETURN
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    import xarray as xr  # heavy: only for a run that ``snakesweep run`` computed

    with xr.open_dataset(store.result_path(results, run_id), engine=store.ENGINE) as ds:
        return {name: var.item() for name, var in ds.data_vars.items() if var.ndim == 0}
