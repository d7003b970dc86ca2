"""Hydra's launcher plugin: discovery, Hydra's own launcher suites, and real apps swept twice."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import xarray as xr
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite
from hydra.test_utils.test_utils import SweepTaskFunction
from omegaconf import OmegaConf

import launcher_tasks
from conftest import write


class ReferencedSweep(SweepTaskFunction):
    """Hydra's ``SweepTaskFunction``, but Hydra is handed the task function itself.

    Hydra's harness hands the launcher its own ``SweepTaskFunction`` object (which calls the
    task), and that object lives only in the test's process. snakesweep imports task
    functions by module and name in each job's process, so this runner passes the
    (module-level) task instead; everything else is Hydra's ``__enter__``, unchanged.
    """

    def __enter__(self) -> ReferencedSweep:
        from hydra._internal.hydra import Hydra
        from hydra._internal.utils import detect_task_name
        from hydra.core.global_hydra import GlobalHydra
        from hydra.test_utils.test_utils import validate_config_path

        overrides = list(self.overrides or [])
        assert self.temp_dir
        Path(self.temp_dir).mkdir(parents=True, exist_ok=True)
        overrides.append(f"hydra.sweep.dir={self.temp_dir}")
        try:
            validate_config_path(self.config_path)
            job_name = detect_task_name(self.calling_file, self.calling_module)
            hydra_ = Hydra.create_main_hydra_file_or_module(
                calling_file=self.calling_file,
                calling_module=self.calling_module,
                config_path=self.config_path,
                job_name=job_name,
            )
            self.returns = hydra_.multirun(
                config_name=self.config_name,
                task_function=self.task_function or launcher_tasks.return_100,
                overrides=overrides,
                with_log_configuration=self.configure_logging,
            )
        finally:
            GlobalHydra().clear()
        return self


@pytest.fixture
def hydra_sweep_runner() -> Any:
    """Hydra's fixture of the same name, building a ``ReferencedSweep``."""

    def runner(
        calling_file: str | None,
        calling_module: str | None,
        task_function: Any,
        config_path: str | None,
        config_name: str | None,
        overrides: list[str] | None,
        temp_dir: Path | None = None,
        configure_logging: bool = False,
    ) -> ReferencedSweep:
        sweep = ReferencedSweep()
        sweep.calling_file, sweep.calling_module = calling_file, calling_module
        sweep.task_function = task_function
        sweep.config_path, sweep.config_name = config_path, config_name
        sweep.overrides = overrides or []
        sweep.temp_dir = str(temp_dir)
        sweep.configure_logging = configure_logging
        return sweep

    return runner


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in the test's directory (the launcher's results/ and .snakemake/ go there), with
    Hydra's version_base unspecified as in a fresh process: Hydra's suite expects its 1.1
    defaults (a job changes into its output dir), and other tests of this process set it."""
    from hydra import version

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(version.VersionBase.instance(), "version_base", version._UNSPECIFIED_)
    return tmp_path


@pytest.mark.slow
@pytest.mark.usefixtures("in_tmp")
@pytest.mark.parametrize("launcher_name, overrides", [("snakesweep", ["hydra.launcher.cores=2"])])
class TestSnakesweepLauncher(LauncherTestSuite):
    """Hydra's own launcher suite, every case but one, as Hydra wrote them."""

    def get_task_function(self) -> Any:
        return launcher_tasks.return_100  # the suite's is a closure: not importable

    def test_sweep_with_custom_resolver(
        self, hydra_sweep_runner: Any, launcher_name: str, overrides: list[str], tmpdir: Path
    ) -> None:
        """Hydra's case defines its task as a closure inside the test and registers its
        resolver in the test's process only: a launcher that imports the task function in
        each job's own process can have neither. So: the closure is refused with one line
        before any job starts, and the same sweep with a task (and resolver) of a module
        returns the resolver's value."""

        def task_func(c: Any) -> Any:
            return c.x

        sweep = hydra_sweep_runner(
            calling_file=None,
            calling_module="hydra.test_utils.a_module",
            task_function=task_func,
            config_path="configs",
            config_name="custom_resolver",
            overrides=["hydra/launcher=" + launcher_name] + overrides,
            temp_dir=tmpdir,
        )
        with pytest.raises(
            Exception,
            match=r"task function .*task_func is defined inside "
            r"another function",
        ) as refused:
            with sweep:
                pass
        assert "\n" not in str(refused.value)

        config = Path(tmpdir, "conf", "custom_resolver.yaml")
        write(config, "x: ${launcher_tasks_suffix:}\n")
        sweep = hydra_sweep_runner(
            calling_file=None,
            calling_module="hydra.test_utils.a_module",
            task_function=launcher_tasks.return_x,
            config_path=str(config.parent),
            config_name="custom_resolver",
            overrides=["hydra/launcher=" + launcher_name] + overrides,
            temp_dir=tmpdir / "s",
        )
        with sweep:
            assert sweep.returns is not None
            assert [r.return_value for r in sweep.returns[0]] == ["foo"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [({}, ["-m", "hydra/launcher=snakesweep", "hydra.launcher.cores=1"])],
)
class TestSnakesweepLauncherIntegration(IntegrationTestSuite):
    """Hydra's own integration suite, unchanged: real apps started as scripts."""


APP = """
import os

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> dict:
    with open(os.path.join(hydra.utils.get_original_cwd(), "calls.txt"), "a") as f:
        f.write(f"lr={cfg.lr} model={cfg.model.name}\\n")
    with open(os.path.join(cfg.out_dir, "note.txt"), "w") as f:
        f.write("written by the task into its Hydra output directory")
    if cfg.lr == cfg.fail_at:
        raise ValueError(f"lr {cfg.lr} diverged")
    return {"score": cfg.lr * cfg.model.width, "name": cfg.model.name}


if __name__ == "__main__":
    main()
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """An existing Hydra app whose config selects the launcher in its defaults list."""
    write(tmp_path / "my_app.py", APP)
    write(
        tmp_path / "conf" / "config.yaml",
        """
        defaults:
          - model: mlp
          - override hydra/launcher: snakesweep
          - _self_
        lr: 0.1
        fail_at: -1
        out_dir: ${hydra:runtime.output_dir}
        started: ${now:%H%M%S%f}
        hydra:
          launcher:
            cores: 2
        """,
    )
    write(tmp_path / "conf" / "model" / "mlp.yaml", "name: mlp\nwidth: 2\n")
    write(tmp_path / "conf" / "model" / "cnn.yaml", "name: cnn\nwidth: 3\n")
    return tmp_path


def sweep(
    app: Path, *overrides: str, sweep_dir: str = "multirun/first", script: str = "my_app.py"
) -> subprocess.CompletedProcess[str]:
    """``python my_app.py -m OVERRIDES``, as a user types it."""
    return subprocess.run(
        [sys.executable, script, "-m", f"hydra.sweep.dir={sweep_dir}", *overrides],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=300,
    )


def calls(app: Path) -> list[str]:
    path = app / "calls.txt"
    return sorted(path.read_text().splitlines()) if path.exists() else []


def test_hydra_discovers_the_launcher_and_its_commented_config() -> None:
    from hydra.core.config_store import ConfigStore

    from hydra_plugins.snakesweep_launcher import config

    found = {f"{p.__module__}.{p.__name__}" for p in Plugins.instance().discover(Launcher)}
    assert "hydra_plugins.snakesweep_launcher.snakesweep_launcher.SnakesweepLauncher" in found
    node = ConfigStore.instance().load("hydra/launcher/snakesweep.yaml").node
    assert node._target_ == (
        "hydra_plugins.snakesweep_launcher.snakesweep_launcher.SnakesweepLauncher"
    )
    assert set(node) == {"_target_", "cores", "results", "executor", "jobs", "snakemake_args"}
    lines = inspect.getsource(config.SnakesweepLauncherConf).splitlines()
    fields = {
        n.target.id: n.lineno
        for n in ast.parse(inspect.getsource(config.SnakesweepLauncherConf)).body[0].body  # type: ignore[attr-defined]
        if isinstance(n, ast.AnnAssign) and n.target.id != "_target_"
    }  # type: ignore[union-attr]
    for name, lineno in fields.items():
        assert lines[lineno - 2].strip().startswith("#"), f"field {name} has no comment"


def test_the_plugin_imports_none_of_snakesweep_until_it_launches() -> None:
    """Hydra imports every installed plugin at start-up: ours must cost it nothing more."""
    code = (
        "import sys\n"
        "from hydra.core.plugins import Plugins\n"
        "from hydra.plugins.launcher import Launcher\n"
        "assert any(p.__name__ == 'SnakesweepLauncher' "
        "for p in Plugins.instance().discover(Launcher))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('snakesweep', 'snakemake', 'xarray', 'netCDF4', 'rerun')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_an_app_swept_twice_computes_nothing_the_second_time(app: Path) -> None:
    first = sweep(app, "lr=0.1,0.2", "model=mlp,cnn")
    assert first.returncode == 0, first.stderr
    assert calls(app) == [
        "lr=0.1 model=cnn",
        "lr=0.1 model=mlp",
        "lr=0.2 model=cnn",
        "lr=0.2 model=mlp",
    ]
    with xr.open_dataset(app / "results" / "sweep.nc") as ds:
        assert dict(ds.sizes) == {"lr": 2, "model": 2}
        assert ds["lr"].values.tolist() == [0.1, 0.2]
        assert ds["model"].values.tolist() == ["mlp", "cnn"]
        assert ds["score"].values.ravel().tolist() == pytest.approx([0.2, 0.3, 0.4, 0.6])
        assert set(ds["status"].values.ravel()) == {"done"}
        run_ids = ds["run_id"].values.ravel().tolist()
    assert len((app / "results" / "runs.csv").read_text().splitlines()) == 5
    for num in range(4):  # Hydra's output conventions, with the task's own file
        job = app / "multirun" / "first" / str(num)
        assert (job / "note.txt").exists()
        assert (job / ".hydra" / "config.yaml").exists()
        assert (job / "my_app.log").exists()
    meta = json.loads((app / "results" / "runs" / run_ids[0] / "meta.json").read_text())
    assert meta["hydra"] == {"output_dir": "multirun/first/0", "job_name": "my_app", "job_num": 0}
    assert meta["provenance"]["code"]["files"] == ["my_app.py"]  # the script, imported by name
    assert json.loads((app / "results" / "runs" / run_ids[0] / "return.json").read_text()) == {
        "score": 0.2,
        "name": "mlp",
    }

    second = sweep(app, "lr=0.1,0.2", "model=mlp,cnn", sweep_dir="multirun/second")
    assert second.returncode == 0, second.stderr
    assert len(calls(app)) == 4  # nothing computed again, though ${now:} and output dirs moved
    assert "4 jobs, 4 runs: 0 computed, 4 done before" in second.stdout + second.stderr
    job = app / "multirun" / "second" / "3"
    assert OmegaConf.load(job / ".hydra" / "overrides.yaml") == ["lr=0.2", "model=cnn"]
    assert (
        f"computed earlier: its results are in results/runs/{run_ids[3]}"
        in (job / "my_app.log").read_text()
    )


@pytest.mark.slow
def test_job_returns_carry_the_return_value_computed_or_not(
    hydra_sweep_runner: Any, in_tmp: Path
) -> None:
    """What sweepers read: each JobReturn's value, equal whether its run was computed now."""

    def returns(temp_dir: Path, values: str) -> list[Any]:
        with hydra_sweep_runner(
            calling_file=None,
            calling_module="hydra.test_utils.a_module",
            task_function=launcher_tasks.count_and_add,
            config_path="configs",
            config_name="compose",
            temp_dir=temp_dir,
            overrides=["hydra/launcher=snakesweep", f"+a={values}"],
        ) as sweep:
            assert {r.status for r in sweep.returns[0]} == {JobStatus.COMPLETED}
            last = sweep.returns[0][-1]  # its run is shared with an earlier job
            assert OmegaConf.load(Path(last.working_dir, ".hydra", "overrides.yaml")) == [
                f"+a={values.split(',')[-1]}"
            ]
            for num, r in enumerate(sweep.returns[0]):  # as Hydra's run_job makes them
                assert r.cfg is not None and r.hydra_cfg is not None
                assert "hydra" not in r.cfg and r.cfg.a == int(values.split(",")[num])
                assert r.overrides == [f"+a={r.cfg.a}"]
                hydra_node = r.hydra_cfg.hydra
                assert (hydra_node.job.num, hydra_node.sweep.subdir) == (num, str(num))
                assert hydra_node.runtime.output_dir == r.working_dir  # Hydra 1.1: chdir
                assert OmegaConf.to_yaml(r.hydra_cfg) == Path(
                    r.working_dir, ".hydra", "hydra.yaml"
                ).read_text(encoding="utf-8")  # computed here or not
            return [r.return_value for r in sweep.returns[0]]

    expected = [{"total": 10 + a, "label": f"a{a}"} for a in (0, 1, 2, 1)]
    assert returns(in_tmp / "one", "0,1,2,1") == expected  # four jobs, three runs
    assert calls(in_tmp) == ["a=0", "a=1", "a=2"]
    assert returns(in_tmp / "two", "0,1,2") == expected[:3]  # computed before
    assert calls(in_tmp) == ["a=0", "a=1", "a=2"]

    # the same runs as `snakesweep run` with the task as its experiment
    configs = Path(inspect.getfile(LauncherTestSuite)).parent / "configs"
    plan = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakesweep",
            "plan",
            "-cd",
            str(configs),
            "-cn",
            "compose",
            "+a=0,1,2",
            "+snakesweep.experiment=launcher_tasks:count_and_add",
            "--format",
            "json",
        ],
        cwd=in_tmp,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(launcher_tasks.__file__).parent)},
    )
    assert [p["status"] for p in json.loads(plan.stdout)] == ["done"] * 3


@pytest.mark.slow
def test_a_failing_point_fails_the_multirun_as_hydra_does_and_is_retried(app: Path) -> None:
    failed = sweep(app, "lr=0.1,0.5", "fail_at=0.5")
    assert failed.returncode == 1
    assert "Error executing job with overrides: ['lr=0.5', 'fail_at=0.5']" in failed.stderr
    assert "ValueError: lr 0.5 diverged" in failed.stderr
    assert 'my_app.py", line' in failed.stderr  # the task's own traceback
    with xr.open_dataset(app / "results" / "sweep.nc") as ds:  # the others are merged
        assert ds["status"].values.tolist() == ["done", "failed"]
        bad = str(ds["run_id"].values[1])
    meta = json.loads((app / "results" / "runs" / bad / "meta.json").read_text())
    assert meta["error"]["type"] == "ValueError"
    assert calls(app) == ["lr=0.1 model=mlp", "lr=0.5 model=mlp"]

    again = sweep(app, "lr=0.1,0.5", "fail_at=0.5", sweep_dir="multirun/again")
    assert again.returncode == 1
    assert calls(app) == ["lr=0.1 model=mlp", "lr=0.5 model=mlp", "lr=0.5 model=mlp"]


@pytest.mark.parametrize(
    "source, reason",
    [
        (
            APP.replace(
                "@hydra.main(",
                "def logged(fn):\n    def inner(cfg):\n"
                "        return fn(cfg)\n    return inner\n\n\n@hydra.main(",
            ).replace("def main(cfg: DictConfig)", "@logged\ndef main(cfg: DictConfig)"),
            "the task function __main__.logged.<locals>.inner is defined inside another function",
        ),
        (
            APP.replace('if __name__ == "__main__":\n    main()', "main()"),
            "lives in my_app.py, which has no `if __name__",
        ),
    ],
    ids=["closure", "no-main-guard"],
)
def test_a_task_that_cannot_be_imported_by_reference_gets_one_line(
    app: Path, source: str, reason: str
) -> None:
    write(app / "my_app.py", source)
    out = sweep(app, "lr=0.1,0.2")
    assert out.returncode == 1
    lines = [
        ln for ln in out.stderr.splitlines() if ln.strip() and "HYDRA_FULL_ERROR" not in ln
    ]  # Hydra's own hint, after any error
    assert len(lines) == 1 and reason in lines[0], out.stderr
    assert not (app / "results" / "runs").exists()


@pytest.mark.slow
def test_batches_of_a_sweeper_all_land_in_one_dataset(app: Path) -> None:
    """A sweeper that launches batch by batch (here BasicSweeper's max_batch_size)."""
    out = sweep(app, "lr=0.1,0.2", "model=mlp,cnn", "hydra.sweeper.max_batch_size=3")
    assert out.returncode == 0, out.stderr
    assert "snakesweep is launching 3 jobs" in out.stdout + out.stderr
    assert "snakesweep is launching 1 job through" in out.stdout + out.stderr
    assert len(calls(app)) == 4
    with xr.open_dataset(app / "results" / "sweep.nc") as ds:
        assert dict(ds.sizes) == {"lr": 2, "model": 2}
        assert set(ds["status"].values.ravel()) == {"done"}


@pytest.mark.slow
def test_an_optuna_sweep_reads_every_batch_from_its_job_returns(tmp_path: Path) -> None:
    """Optuna's sweeper launches one batch of n_jobs trials at a time and minimises the
    numbers the JobReturns carry; its draws are no grid, so they lie along `job`."""
    if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None:
        pytest.skip("hydra-optuna-sweeper is not installed (pip install -e '.[test]')")
    write(
        tmp_path / "opt_app.py",
        """
        import hydra


        @hydra.main(version_base="1.3", config_path="conf", config_name="config")
        def main(cfg):
            return (cfg.x - 1) ** 2 + cfg.y ** 2


        if __name__ == "__main__":
            main()
        """,
    )
    write(
        tmp_path / "conf" / "config.yaml",
        """
        defaults:
          - override hydra/sweeper: optuna
          - override hydra/launcher: snakesweep
          - _self_
        x: 0.0
        y: 0
        hydra:
          sweeper:
            n_trials: 6
            n_jobs: 3
            direction: minimize
            sampler: {seed: 1}
            params: {x: "interval(-2, 2)", y: "range(-3, 3)"}
        """,
    )
    out = sweep(tmp_path, script="opt_app.py")
    assert out.returncode == 0, out.stderr
    assert (out.stdout + out.stderr).count("snakesweep is launching 3 jobs") == 2
    best = OmegaConf.load(tmp_path / "multirun" / "first" / "optimization_results.yaml")
    with xr.open_dataset(tmp_path / "results" / "sweep.nc") as ds:
        assert dict(ds.sizes) == {"job": 6}
        assert ds["job"].values.tolist() == list(range(6))
        expected = (ds["x"].values - 1) ** 2 + ds["y"].values ** 2  # labels along job
        assert ds["return_value"].values.tolist() == pytest.approx(expected.tolist())
        assert best.best_value == pytest.approx(float(ds["return_value"].min()))
    header = (tmp_path / "results" / "runs.csv").read_text().splitlines()[0].split(",")
    assert {"job", "x", "y", "return_value"} <= set(header)


@pytest.mark.slow
def test_snakemake_arguments_pass_through(app: Path) -> None:
    assert sweep(app, "lr=0.1,0.2").returncode == 0
    forced = sweep(
        app,
        "lr=0.1,0.2",
        "hydra.launcher.snakemake_args=[--forcerun,run_experiment]",
        sweep_dir="multirun/forced",
    )
    assert forced.returncode == 0, forced.stderr
    assert len(calls(app)) == 4  # Snakemake's --forcerun computed both runs again
    assert "2 jobs, 2 runs: 2 computed, 0 done before" in forced.stdout + forced.stderr

    broken = sweep(
        app,
        "lr=0.1,0.2",
        "hydra.launcher.snakemake_args=[--no-such-option]",
        sweep_dir="multirun/broken",
    )
    assert broken.returncode == 1  # every run is done, but Snakemake refused: said, not hidden
    assert "snakemake exited with status 2" in broken.stderr


STRUCTURED_APP = """
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf


class Optimizer(Enum):
    SGD = 1
    ADAM = 2


@dataclass
class Config:
    lr: float = 0.1
    optimizer: Optimizer = Optimizer.SGD
    data_dir: Path = Path("data")
    tag: str = r"lit \\${x} at ${now:%H%M%S%f}"


ConfigStore.instance().store(name="config", node=Config)


@hydra.main(version_base="1.3", config_name="config")
def main(cfg) -> dict:
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, Config) and isinstance(obj.optimizer, Optimizer), type(obj)
    with open(os.path.join(hydra.utils.get_original_cwd(), "calls.txt"), "a") as f:
        f.write(f"{obj.optimizer.name} lr={obj.lr} in {os.path.basename(os.getcwd())}\\n")
    return {"lr": obj.lr, "loss": obj.lr * obj.optimizer.value, "ragged": [1, [2, 3]]}


if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
def test_a_structured_config_of_the_script_with_hydra_in_its_output_dirs(tmp_path: Path) -> None:
    """Classes of the app's __main__ in the config, ${hydra:} in the sweep dir, chdir, a
    returned swept key and a ragged list, an escaped literal beside ${now:}."""
    write(tmp_path / "app.py", STRUCTURED_APP)
    args = [
        "lr=0.1,0.2",
        "optimizer=SGD,ADAM",
        "hydra/launcher=snakesweep",
        "hydra.job.chdir=True",
        "hydra.sweep.subdir=${hydra:job.name}_${hydra.job.num}",
    ]
    out = sweep(tmp_path, *args, script="app.py")
    assert out.returncode == 0, out.stderr
    assert calls(tmp_path) == [
        "ADAM lr=0.1 in app_1",
        "ADAM lr=0.2 in app_3",
        "SGD lr=0.1 in app_0",
        "SGD lr=0.2 in app_2",
    ]
    with xr.open_dataset(tmp_path / "results" / "sweep.nc") as ds:
        assert dict(ds.sizes) == {"lr": 2, "optimizer": 2}
        assert sorted(ds.data_vars) == ["loss", "run_id", "status"]  # lr is a dimension
        assert ds["loss"].values.ravel().tolist() == pytest.approx([0.1, 0.2, 0.2, 0.4])
        run_id = str(ds["run_id"].values[0, 0])
    run = tmp_path / "results" / "runs" / run_id
    assert json.loads((run / "return.json").read_text()) == {
        "lr": 0.1,
        "loss": 0.1,
        "ragged": [1, [2, 3]],
    }
    assert "data_dir: data" in (run / "config.yaml").read_text()
    again = sweep(tmp_path, *args, script="app.py", sweep_dir="multirun/again")
    assert again.returncode == 0, again.stderr
    assert len(calls(tmp_path)) == 4


def test_executor_and_jobs_become_snakemake_arguments() -> None:
    from snakesweep.hydra.errors import LaunchError
    from snakesweep.hydra.launcher import _snakemake_args

    assert _snakemake_args(
        {"executor": "slurm", "jobs": 50, "snakemake_args": OmegaConf.create(["--retries", 2])}
    ) == ["--executor", "slurm", "--jobs", "50", "--retries", "2"]
    assert _snakemake_args({"executor": None, "jobs": None, "snakemake_args": []}) == []
    with pytest.raises(LaunchError, match=r"snakemake_args: expected a list"):
        _snakemake_args({"snakemake_args": "--retries 2"})
    with pytest.raises(LaunchError, match=r"'--directory=elsewhere' is not supported"):
        _snakemake_args({"snakemake_args": ["--directory=elsewhere"]})


def test_only_per_invocation_values_count_by_their_text() -> None:
    from snakesweep.hydra.job import _pin_runtime

    assert _pin_runtime(
        {
            "a": "${now:%H}",
            "b": ["${hydra:runtime.output_dir}/x"],
            "c": "${hydra:runtime.choices.db}",
            "d": "${hydra:job.num}",
            "e": r"lit \${x} at ${now:%H}",
            "f": "${x}",
        }
    ) == {
        "a": r"\${now:%H}",
        "b": [r"\${hydra:runtime.output_dir}/x"],
        "c": "${hydra:runtime.choices.db}",
        "d": r"\${hydra:job.num}",
        "e": r"lit \${x} at \${now:%H}",
        "f": "${x}",
    }


def job(num: int, *overrides: str) -> Any:
    from snakesweep.hydra.job import Job

    return Job(
        num=num, overrides=list(overrides), config=OmegaConf.create(), run_id=f"{num}", identity={}
    )


def test_the_jobs_of_a_grid_become_its_dimensions() -> None:
    from snakesweep.hydra.launcher import layout

    jobs = [
        job(0, "db=mysql", "+a=1", "user=me"),
        job(1, "db=mysql", "+a=2", "user=me"),
        job(2, "db=pg", "+a=1", "user=me"),
        job(3, "db=pg", "+a=2", "user=me"),
    ]
    dims, cells, labels = layout(jobs)
    assert [(d.name, d.values) for d in dims] == [("db", ("mysql", "pg")), ("a", (1, 2))]
    assert cells == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert labels == {}


def test_jobs_that_are_no_grid_lie_along_the_job_number() -> None:
    from snakesweep.hydra.launcher import layout

    dims, cells, labels = layout(
        [job(4, "lr=0.1", "m=2"), job(5, "lr=0.3", "m=7"), job(6, "lr=0.5")]
    )
    assert [(d.name, d.values) for d in dims] == [("job", (4, 5, 6))]
    assert cells == [(0,), (1,), (2,)]
    assert labels == {"lr": [0.1, 0.3, 0.5], "m": [2, 7, None]}


@pytest.mark.parametrize(
    "overrides",
    [
        ["lr=0.2"],
        ["model=cnn", "lr=0.3"],
        ["lr=0.3", "model=cnn", "+extra.depth=4"],
        ["~fail_at", "model.width=7"],
        ["nested={a: 1}", "tags=[x,y]"],
        ["nested={a: 1, b: [1, 2]}"],  # not in the struct: refused alike
        ["model=cnn", "nope=1"],
        ["lr=${fail_at}"],
        ["hydra.job.chdir=true", "lr=0.5"],  # Hydra's own config: composed by Hydra
        [],
    ],
)
def test_the_job_composer_composes_as_hydra_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str]
) -> None:
    """A job's config from a copy of its config-group choices' base, with its value
    overrides applied, is the one Hydra's load_sweep_config composes: text and types; and
    the YAML of done jobs' .hydra files, written by libyaml, is OmegaConf's."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from snakesweep.hydra.job import Job, JobComposer, job_return, to_yaml

    write(
        tmp_path / "conf" / "config.yaml",
        """
        defaults:
          - model: mlp
          - _self_
        lr: 0.1
        fail_at: -1
        nested: {a: 0}
        tags: []
        out_dir: ${hydra:runtime.output_dir}
        texts: ["yes", "1", "1.5", "null", "é ✓ 日本", "a\\nb", ": x", "#c", "''", "~",
                "${lr}", "'quoted'", "${now:%H}",
                "a long line of text that goes on and on and on and on, past eighty columns"]
        hydra:
          job:
            config:
              override_dirname:
                exclude_keys: [model]
        """,
    )
    write(tmp_path / "conf" / "model" / "mlp.yaml", "name: mlp\nwidth: 2\n")
    write(tmp_path / "conf" / "model" / "cnn.yaml", "name: cnn\nwidth: 3\n")
    monkeypatch.chdir(tmp_path)
    with initialize_config_dir(str(tmp_path / "conf"), version_base="1.3", job_name="app"):
        hydra_ = GlobalHydra.instance().hydra
        assert hydra_ is not None
        master = hydra_.compose_config(
            "config",
            ["hydra.sweep.dir=m", "lr=0.1,0.2"],
            run_mode=RunMode.MULTIRUN,
            with_log_configuration=False,
        )
        loader = GlobalHydra.instance().config_loader()
        composer = JobComposer(loader)
        for _ in range(2):  # composed, then from the cached base
            try:
                hydras = loader.load_sweep_config(master, overrides)
            except Exception as exc:  # noqa: BLE001 - whatever Hydra raises, we raise
                with pytest.raises(type(exc), match=re.escape(str(exc))):
                    composer.load_sweep_config(master, overrides)
                return
            ours = composer.load_sweep_config(master, overrides)
            assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(hydras) == to_yaml(ours)
            assert OmegaConf.get_type(ours, "hydra") is OmegaConf.get_type(hydras, "hydra")
            assert OmegaConf.is_struct(ours) and OmegaConf.is_struct(hydras)
            # the validation's config goes to the first job that takes it; the same
            # overrides again (a batch's duplicate jobs) get configs of their own
            taken = [composer.take(master, overrides) for _ in range(3)]
            assert taken[0] is ours and len({id(c) for c in taken}) == 3
            # a done job's .hydra/hydra.yaml, from its base's node and its own fields
            job = Job(
                3, overrides, ours, "r", {}, str(tmp_path / "out"), composer.hydra_base(overrides)
            )
            returned = job_return(
                job, str(tmp_path / "results"), {"status": "failed"}, computed_here=False
            )
            assert (tmp_path / "out" / ".hydra" / "hydra.yaml").read_text(
                encoding="utf-8"
            ) == OmegaConf.to_yaml(returned.hydra_cfg)
        assert composer.repository is loader.repository  # the rest is the loader's
