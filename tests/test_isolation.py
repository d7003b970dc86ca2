"""Runs are isolated and robust: what one experiment does never breaks another or the merge."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import snakesweep, write

ODD_EXPERIMENTS = '''
import logging
import os

import xarray as xr


def wanders(cfg):
    """Changes directory, as Hydra apps with hydra.job.chdir do."""
    os.makedirs(f"out{cfg.x}", exist_ok=True)
    os.chdir(f"out{cfg.x}")
    return {"y": float(cfg.x)}


def crashes(cfg):
    """Ends its process without a Python exception, like a segfault or the OOM killer."""
    if cfg.x == 2:
        os._exit(3)
    return {"y": cfg.x}


def exits_quietly(cfg):
    """Ends its process with status 0 before returning."""
    if cfg.x == 2:
        os._exit(0)
    return {"y": cfg.x}


def interrupts(cfg):
    """One run raises KeyboardInterrupt while the others are still working."""
    import time
    if cfg.x == 2:
        time.sleep(0.5)
        raise KeyboardInterrupt
    time.sleep(1.5)
    return {"y": cfg.x}


def closes_stdout(cfg):
    import sys
    print("about to close")
    if cfg.x == 1:
        sys.stdout.close()
    return {"y": cfg.x}


def leaves_a_thread(cfg):
    import threading
    import time

    def chatter():
        for _ in range(20):
            print(f"thread of run x={cfg.x}", flush=True)
            time.sleep(0.05)

    if cfg.x == 1:
        threading.Thread(target=chatter, daemon=True).start()
    time.sleep(0.2)
    return {"y": cfg.x}


def logs(cfg):
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("exp").info("run x=%s", cfg.x)
    return {"y": cfg.x}


def thirds(cfg):
    """An int for the first point, floats after: the merge must not truncate."""
    return {"y": 0 if cfg.x == 0 else cfg.x / 3}


def literal(cfg):
    return {"y": float(cfg.cmd == "echo ${HOME}")}


def text(cfg):
    return {"y": xr.DataArray("abc")}
'''


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    sys.modules.pop("oddexp", None)
    write(tmp_path / "oddexp.py", ODD_EXPERIMENTS)
    write(
        tmp_path / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: oddexp:wanders
        x: 0
        cmd: echo \\${HOME}
        """,
    )
    return tmp_path


def sweep(project: Path, experiment: str, *overrides: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    out = snakesweep(
        "run",
        "--cores",
        "1",
        f"snakesweep.experiment=oddexp:{experiment}",
        *overrides,
        cwd=project,
        env=env,
    )
    ds = xr.load_dataset(project / "results" / "sweep.nc", engine="netcdf4")
    return out, ds


@pytest.mark.slow
def test_a_run_that_changes_directory_does_not_move_the_others(odd: Path) -> None:
    """Each run starts in the project directory, whatever the previous one did."""
    out, ds = sweep(odd, "wanders", "x=0,1,2,3")
    assert out.returncode == 0, out.stderr
    assert list(ds["y"].values) == [0, 1, 2, 3]
    assert sorted(p.name for p in odd.glob("out*")) == ["out0", "out1", "out2", "out3"]


@pytest.mark.slow
@pytest.mark.parametrize("env", [{}, {"SNAKESWEEP_NO_POOL": "1"}], ids=["pool", "fallback"])
def test_a_run_that_kills_its_process_is_recorded_as_failed(odd: Path, env: dict[str, str]) -> None:
    """os._exit in the experiment: that run is failed with the reason; the others are done."""
    out, ds = sweep(odd, "crashes", "x=1,2,3", env=env)
    assert out.returncode == 1
    assert list(ds["status"].values) == ["done", "failed", "done"]
    meta = json.loads(
        (odd / "results" / "runs" / str(ds["run_id"].values[1]) / "meta.json").read_text()
    )
    assert meta["error"]["type"] == "RunCrashed" and "exit status 3" in meta["error"]["message"]


@pytest.mark.slow
def test_a_run_that_exits_with_status_0_is_failed_not_pending(odd: Path) -> None:
    """os._exit(0) before returning records nothing by itself; the run is still failed."""
    out, ds = sweep(odd, "exits_quietly", "x=1,2,3")
    assert out.returncode == 1
    assert list(ds["status"].values) == ["done", "failed", "done"]


@pytest.mark.slow
def test_a_keyboard_interrupt_in_one_run_spares_the_others(odd: Path) -> None:
    """The runs beside it, in other workers, finish."""
    out = snakesweep(
        "run", "--cores", "3", "snakesweep.experiment=oddexp:interrupts", "x=1,2,3", cwd=odd
    )
    ds = xr.load_dataset(odd / "results" / "sweep.nc", engine="netcdf4")
    assert out.returncode == 1
    assert list(ds["status"].values) == ["done", "failed", "done"]


@pytest.mark.slow
def test_a_run_closing_stdout_does_not_spoil_the_next(odd: Path) -> None:
    """sys.stdout.close() in one run: the next runs in that worker still capture output."""
    out, ds = sweep(odd, "closes_stdout", "x=1,2,3")
    assert list(ds["status"].values)[1:] == ["done", "done"]
    for run_id in ds["run_id"].values[1:]:
        log = (odd / "results" / "runs" / str(run_id) / "stdout.log").read_text()
        assert log == "about to close\n"


@pytest.mark.slow
def test_a_thread_left_behind_never_writes_into_another_runs_log(odd: Path) -> None:
    """A worker whose run left a thread running is replaced before the next run."""
    out, ds = sweep(odd, "leaves_a_thread", "x=1,2,3")
    assert out.returncode == 0, out.stderr
    for run_id, x in zip(ds["run_id"].values, (1, 2, 3), strict=True):
        log = (odd / "results" / "runs" / str(run_id) / "stdout.log").read_text()
        assert all(line == "thread of run x=1" for line in log.splitlines())
        assert bool(log) == (x == 1)


@pytest.mark.slow
def test_logging_reaches_every_run_log(odd: Path) -> None:
    """Handlers set up by one run never write into a closed stream of another."""
    out, ds = sweep(odd, "logs", "x=1,2,3")
    assert out.returncode == 0, out.stderr
    for run_id, x in zip(ds["run_id"].values, (1, 2, 3), strict=True):
        log = (odd / "results" / "runs" / str(run_id) / "stderr.log").read_text()
        assert f"run x={x}" in log and "Logging error" not in log


@pytest.mark.slow
def test_merge_keeps_floats_when_the_first_run_returned_an_int(odd: Path) -> None:
    """The merged dtype is common to all runs, not taken from the first."""
    out, ds = sweep(odd, "thirds", "x=0,1,2")
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(ds["y"].values, [0, 1 / 3, 2 / 3])


@pytest.mark.slow
def test_a_literal_dollar_brace_stays_literal(odd: Path) -> None:
    """An escaped ${...} in the config reaches the experiment as text."""
    out, ds = sweep(odd, "literal", "x=1")
    assert out.returncode == 0, out.stderr
    assert ds["y"].item() == 1.0  # one value, no sweep: a 0-d result


@pytest.mark.slow
def test_a_text_result_fails_its_run_not_the_merge(odd: Path) -> None:
    """A non-numeric result is the run's error; the sweep still merges."""
    out, ds = sweep(odd, "text", "x=1")
    assert out.returncode == 1
    assert ds["status"].item() == "failed"
    meta = json.loads((odd / "results" / "runs" / ds["run_id"].item() / "meta.json").read_text())
    assert "must be numbers" in meta["error"]["message"]


def test_two_experiments_are_two_runs(odd: Path) -> None:
    """The entry point is part of a run's identity."""
    out = snakesweep(
        "plan", "--format", "json", "snakesweep.experiment=oddexp:thirds,oddexp:logs", cwd=odd
    )
    points = json.loads(out.stdout)
    assert len({p["run_id"] for p in points}) == 2


@pytest.mark.slow
def test_nested_config_group_sweeps_merge(tmp_path: Path) -> None:
    """A swept group `model/enc` becomes the dimension `model.enc` (NetCDF forbids '/')."""
    write(
        tmp_path / "conf" / "config.yaml",
        """
        defaults:
          - model/enc: a
          - _self_
        snakesweep:
          experiment: tinyexp:main
        x: 1
        """,
    )
    write(tmp_path / "conf" / "model" / "enc" / "a.yaml", "width: 1\n")
    write(tmp_path / "conf" / "model" / "enc" / "b.yaml", "width: 2\n")
    write(tmp_path / "tinyexp.py", "def main(cfg):\n    return {'y': cfg.model.enc.width}\n")
    out = snakesweep("run", "model/enc=a,b", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ds = xr.load_dataset(tmp_path / "results" / "sweep.nc", engine="netcdf4")
    assert ds["y"].dims == ("model.enc",) and ds["model.enc"].attrs["hydra_key"] == "model/enc"
    assert ds["y"].values.tolist() == [1, 2]


def test_yaml_syntax_error_is_one_line(tmp_path: Path) -> None:
    """A broken config file: one line, exit status 2."""
    write(tmp_path / "conf" / "config.yaml", "x: [1\n")
    out = snakesweep("plan", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr


def test_plan_cache_follows_environment_variables(odd: Path) -> None:
    """${oc.env:VAR} in the config: another value of VAR is another plan."""
    write(
        odd / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: oddexp:thirds
        x: 0
        root: ${oc.env:SNAKESWEEP_TEST_ROOT}
        """,
    )
    ids = [
        json.loads(
            snakesweep("plan", "--format", "json", cwd=odd, env={"SNAKESWEEP_TEST_ROOT": v}).stdout
        )[0]["run_id"]
        for v in ("/a", "/b")
    ]
    assert ids[0] != ids[1]


# -- a process's state, in this process ------------------------------------------------------


def _process_state() -> dict[str, object]:
    import gc
    import locale
    import logging
    import os
    import signal
    import warnings

    umask = os.umask(0o022)
    os.umask(umask)
    return {
        "environ": dict(os.environ),
        "umask": umask,
        "filters": list(warnings.filters),
        "root": (logging.root.level, list(logging.root.handlers)),
        "disable": logging.root.manager.disable,
        "signal": signal.getsignal(signal.SIGUSR2),
        "mask": signal.pthread_sigmask(signal.SIG_BLOCK, []),
        "alarm": signal.getitimer(signal.ITIMER_REAL),
        "locale": locale.setlocale(locale.LC_TIME),
        "gc": (gc.isenabled(), gc.get_threshold()),
        "argv": list(sys.argv),
        "path": list(sys.path),
        "meta_path": list(sys.meta_path),
        "limit": sys.getrecursionlimit(),
        "cwd": os.getcwd(),
        "errors": np.geterr(),
    }


def test_what_a_run_changes_in_its_process_is_put_back(tmp_path: Path) -> None:
    """Every kind that ``snakesweep.isolation`` restores is as it was after the run."""
    import gc
    import locale
    import logging
    import os
    import signal
    import warnings

    from snakesweep.execute import isolation

    before = _process_state()

    def run() -> None:
        os.environ["ISOLATION_TEST"] = "1"
        os.umask(0o077)
        warnings.simplefilter("ignore")
        logging.root.setLevel(logging.DEBUG)
        logging.root.addHandler(logging.NullHandler())
        logging.disable(logging.INFO)
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
        signal.setitimer(signal.ITIMER_REAL, 3600)
        locale.setlocale(locale.LC_TIME, "C.UTF-8" if before["locale"] == "C" else "C")
        gc.set_threshold(12345)
        sys.argv.append("--changed")
        sys.path.insert(0, "/changed")
        sys.meta_path.append(object())  # type: ignore[arg-type]
        sys.setrecursionlimit(4321)
        os.chdir(tmp_path)
        np.seterr(all="raise")

    with isolation.isolated_run():
        isolation.run_in_copied_context(run)
    assert _process_state() == before
    assert isolation.unrestored() == []


def test_a_module_reloaded_in_a_run_makes_the_process_unfit_for_another() -> None:
    """``importlib.reload``: named in ``unrestored()``; a module imported first is no harm."""
    import importlib
    import json

    from snakesweep.execute import isolation

    with isolation.isolated_run():
        import csv  # noqa: F401 - a module the run imports first
    assert isolation.unrestored() == []
    with isolation.isolated_run():
        importlib.reload(json)
    assert isolation.unrestored() == ["a module removed, replaced or reloaded: 'json'"]


def test_a_seed_set_at_import_starts_each_run_and_fresh_entropy_otherwise() -> None:
    """``np.random.seed`` in the experiment's import: each run starts in that state; none:
    each run draws from a state of its own."""
    import random

    from snakesweep.execute import isolation

    with isolation.seeding_at_import():
        np.random.seed(7)
    starts = []
    for _ in range(2):
        with isolation.isolated_run():
            starts.append((float(np.random.random()), random.random()))
    assert starts[0][0] == starts[1][0] == np.random.RandomState(7).random_sample()
    assert starts[0][1] != starts[1][1]
    with isolation.seeding_at_import():
        pass  # an import that seeds nothing
    draws = []
    for _ in range(3):
        with isolation.isolated_run():
            draws.append(float(np.random.random()))
    assert len(set(draws)) == 3
