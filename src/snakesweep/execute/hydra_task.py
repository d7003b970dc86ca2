"""One job of Hydra's launcher, run in this process: the worker's side of
``snakesweep.hydra.launcher``.

A plan that Hydra's launcher wrote has a ``launch`` section::

    {"task": "my_app:main",     # the task function by reference: module and qualified name
     "unwrap": 1,               # __wrapped__ layers between that attribute and the task
     "sys_path": ["."],         # put first on sys.path to import it (a script's directory)
     "main": true,              # the task's module is the app's __main__ (a script, -m)
     "jobs": "results/.snakesweep/launches/<id>",   # <run_id>.pickle: each job's config
     "batch": ["<run_id>", ...],                    # the runs this launch computes
     "version_base": "1.3",     # the app's version_base (null: unspecified)
     "labels": {"lr": [...]}}   # jobs that are no grid: each swept key's value per point

A job runs through Hydra's own ``run_job`` with the config Hydra composed for it (the
``hydra`` node included), so its output directory, ``.hydra/`` files, logging, working
directory and callbacks are Hydra's. The task function is imported by reference, never
unpickled; only its config (data) travels as a pickle, written by the launcher beside the
plan. The task's return value is stored as ``return.json`` in the run directory and its
numbers become the run's results.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.errors import ExperimentError
from snakesweep.execute.experiment import RESERVED_NAMES, load_experiment, to_dataset

__all__ = [
    "RETURN_VARIABLE",
    "add_import_paths",
    "import_task",
    "job_config_path",
    "job_output_dir",
    "job_record",
    "load_job_config",
    "plain_value",
    "result_dataset",
    "run_task",
]

RETURN_VARIABLE = "return_value"
"""The result variable a task's returned number becomes."""


def add_import_paths(launch: Mapping[str, Any]) -> None:
    """Put the directories the task is imported from first on ``sys.path``."""
    for entry in reversed(launch.get("sys_path") or []):
        path = os.path.abspath(entry)
        if path not in sys.path:
            sys.path.insert(0, path)


def import_task(launch: Mapping[str, Any]) -> Callable[..., Any]:
    """The task function, imported by module and name, unwrapped as the launcher found it."""
    add_import_paths(launch)
    task: Any = load_experiment(str(launch["task"]))
    for _ in range(int(launch.get("unwrap") or 0)):
        task = task.__wrapped__
    return task  # type: ignore[no-any-return]


def job_config_path(launch: Mapping[str, Any], run_id: str) -> Path:
    """Where the launcher wrote the Hydra config of the job that computes ``run_id``."""
    return Path(str(launch["jobs"]), f"{run_id}.pickle")


class _JobUnpickler(pickle.Unpickler):
    """Reads a job's config; the classes the app's ``__main__`` defined (structured configs,
    enums) are found in the module the task was imported as."""

    def __init__(self, file: Any, main_module: str | None) -> None:
        super().__init__(file)
        self.main_module = main_module

    def find_class(self, module: str, name: str) -> Any:
        if module == "__main__" and self.main_module:
            module = self.main_module
        return super().find_class(module, name)


def load_job_config(launch: Mapping[str, Any], run_id: str) -> Any:
    """The Hydra config of the job that computes ``run_id``: data the launcher wrote for
    this launch (never code: the task function itself is imported by reference)."""
    main = str(launch["task"]).partition(":")[0] if launch.get("main") else None
    with open(job_config_path(launch, run_id), "rb") as f:
        return _JobUnpickler(f, main).load()


def run_task(
    launch: Mapping[str, Any],
    run_id: str,
    run_dir: Path,
    record: dict[str, Any],
    reserved: tuple[str, ...] = (),
) -> Any:
    """Run the job of ``run_id`` with Hydra's ``run_job``; its results as a Dataset.

    Writes the return value to ``run_dir/return.json``; fills ``record`` (the run's
    ``meta.json["hydra"]``) with the job's output directory, name and number first, so a
    failed job records them too. The task's own exception is raised as it is.
    """
    from hydra._internal.callbacks import Callbacks  # Hydra: heavy, only a launcher's job
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import JobRuntime, JobStatus, run_job, setup_globals
    from hydra.types import HydraContext

    task = import_task(launch)
    config = load_job_config(launch, run_id)
    setup_globals()
    if launch.get("version_base"):  # the app's, as @hydra.main set it there
        from hydra.version import VersionBase  # Hydra: heavy, only a launcher's job
        from packaging.version import Version

        VersionBase.instance().setbase(Version(str(launch["version_base"])))
    JobRuntime.instance().set("name", str(config.hydra.job.name))
    # ${hydra:…} in the sweep dir resolves: set_config without its copy (run_job sets it)
    HydraConfig.instance().cfg = config
    record.update(job_record(config))
    ret = run_job(
        task_function=task,
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
        hydra_context=HydraContext(
            config_loader=None,  # type: ignore[arg-type]
            callbacks=Callbacks(config),
        ),
    )
    if ret.status == JobStatus.FAILED:
        raise ret._return_value
    value = plain_value(ret._return_value, run_id)
    (run_dir / store.RETURN).write_text(json.dumps(value), encoding="utf-8")
    return result_dataset(value, run_id, str(launch["task"]), reserved)


def job_record(config: Any) -> dict[str, Any]:
    """What ``meta.json`` keeps of a job's Hydra config: where it ran and as what."""
    return {
        "output_dir": store.local_path(job_output_dir(config)),
        "job_name": str(config.hydra.job.name),
        "job_num": int(config.hydra.job.num),
    }


def job_output_dir(config: Any) -> str:
    """A job's output directory, as Hydra's ``run_job`` makes it (absolute); with the job's
    config set in ``HydraConfig``, which ``${hydra:…}`` in it resolves against."""
    from omegaconf import OmegaConf  # OmegaConf: loaded by a Hydra job only

    return os.path.abspath(
        os.path.join(
            str(OmegaConf.select(config, "hydra.sweep.dir")),
            str(OmegaConf.select(config, "hydra.sweep.subdir")),
        )
    )


def plain_value(value: Any, run_id: str) -> Any:
    """A return value as JSON data: numbers, strings, lists, string-keyed mappings, None.

    numpy values and anything with ``tolist()`` become lists or numbers, OmegaConf
    containers plain ones; anything else raises ``ExperimentError`` naming its type.
    """
    from omegaconf import OmegaConf  # OmegaConf: loaded by a Hydra job only

    if value is None or isinstance(value, (bool, int, float, str)):
        return value  # NaN and infinities too: Python's json reads back what it writes
    if OmegaConf.is_config(value):
        return plain_value(OmegaConf.to_container(value, resolve=True), run_id)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ExperimentError(
                    run_id, f"the task returned a mapping with the key {k!r}: keys must be strings"
                )
            out[k] = plain_value(v, run_id)
        return out
    if isinstance(value, (list, tuple)):
        return [plain_value(v, run_id) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, torch tensors
    if callable(tolist):
        return plain_value(tolist(), run_id)
    raise ExperimentError(
        run_id,
        f"the task returned a {type(value).__name__}: snakesweep "
        "keeps a task's return value as JSON; return numbers, strings, "
        "lists, mappings, None or numpy values",
    )


def result_dataset(value: Any, run_id: str, spec: str, reserved: tuple[str, ...] = ()) -> Any:
    """The numbers of a return value as the run's results: a number becomes
    ``return_value``; a mapping gives its numeric entries (but those named as a dimension,
    ``run_id`` or ``status``); anything else no results."""
    import numpy as np  # heavy: loaded when a job returns
    import xarray as xr

    if isinstance(value, (bool, int, float)):
        return xr.Dataset({RETURN_VARIABLE: xr.DataArray(value)})
    if isinstance(value, Mapping):
        numeric: dict[str, Any] = {}
        for name, v in value.items():
            if name in (*RESERVED_NAMES, *reserved):
                continue  # a swept key or run_id/status: kept in return.json only
            if isinstance(v, (bool, int, float)):
                numeric[name] = v
            elif isinstance(v, list):
                try:
                    array = np.asarray(v)
                except ValueError:  # ragged
                    continue
                if array.dtype.kind in "biuf" and array.ndim:
                    numeric[name] = array
        return to_dataset(numeric, run_id, spec, reserved)
    return xr.Dataset()
