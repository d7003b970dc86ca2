"""Sweeps started from Python: ``snakesweep.sweep(...)`` and ``Sweep``, as a script or a
notebook calls them, on the engine and store of ``snakesweep run``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import xarray as xr

from conftest import calls, snakesweep, write
from snakesweep import Domain, Sweep
from snakesweep.errors import ConfigError, SnakesweepError
from snakesweep.execute.execution import keyword_parameters
from snakesweep.sweeps.configs import defaults_of
from snakesweep.sweeps.experiments import experiment_of

SCRIPT = """
import sys
import snakesweep

def train(lr=0.1, width=8, seed=0):
    with open("calls.txt", "a") as f:
        f.write(f"{{lr}} {{seed}}\\n")
    return {{"loss": {body}}}

if __name__ == "__main__":
    res = snakesweep.sweep(train, {{"lr": [0.1, 0.2], "seed": "range(3)"}}, cores=2)
    print("RESULT", res.dataset["loss"].round(6).values.tolist())
"""


def run_script(root: Path, text: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python script.py`` in ``root``: its functions live in ``__main__``."""
    write(root / "script.py", text)
    return subprocess.run(
        [sys.executable, "script.py"], cwd=root, capture_output=True, text=True, timeout=timeout
    )


def started(root: Path) -> subprocess.Popen[str]:
    """``python script.py`` in ``root``, in a process group of its own: a Ctrl-C (and a
    Jupyter kernel's interrupt) signals the whole group."""
    return subprocess.Popen(
        [sys.executable, "script.py"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def ended(process: subprocess.Popen[str], seconds: float) -> tuple[str, str]:
    """Its stdout and stderr once it ends; it fails the test if it has not ended in time."""
    try:
        return process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"the script did not end within {seconds} s") from None


def git_project(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    write(root / ".gitignore", "results/\ncalls.txt\n.snakemake/\n")
    return root


def metas(root: Path) -> list[dict]:
    """The runs' meta.json files (of the runs committed so far)."""
    found = []
    for directory in (root / "results" / "runs").iterdir():
        try:
            found.append(json.loads((directory / "meta.json").read_text()))
        except FileNotFoundError:
            continue  # replaced just now (a retry)
    return found


# -- a function of __main__, shipped by value ---------------------------------------------------


@pytest.mark.slow
def test_a_function_of_main_is_shipped_by_value_and_a_second_call_computes_nothing(
    tmp_path: Path,
) -> None:
    root = git_project(tmp_path)
    first = run_script(root, SCRIPT.format(body="lr * width + seed"))
    assert first.returncode == 0, first.stderr
    assert "RESULT [[0.8, 1.8, 2.8], [1.6, 2.6, 3.6]]" in first.stdout
    assert len(calls(root)) == 6
    [meta, *_] = metas(root)
    experiment = meta["provenance"]["experiment"]
    assert experiment["entry_point"] == "__main__:train"
    assert experiment["shipped"] == "by value"
    assert meta["provenance"]["code"]["files"] == ["results/.snakesweep/functions/train.py"]
    again = run_script(root, SCRIPT.format(body="lr * width + seed"))
    assert again.returncode == 0, again.stderr
    assert "nothing to be done" in again.stderr
    assert len(calls(root)) == 6  # nothing computed twice
    [config] = (root / "results" / ".snakesweep" / "configs").iterdir()
    cli = snakesweep("status", "-cd", str(config), "lr=0.1,0.2", "seed=range(3)", cwd=root)
    assert cli.returncode == 0, cli.stderr
    assert "6 runs: 6 done" in cli.stdout  # the command line finds the function's runs


@pytest.mark.slow
def test_what_the_function_reads_is_its_code_values_helpers_and_modules(tmp_path: Path) -> None:
    root = git_project(tmp_path)
    script = """
        import mylib
        import snakesweep

        SCALE = {scale}

        def scaled(x):
            return x * SCALE

        def train(x=0):
            with open("calls.txt", "a") as f:
                f.write(f"{{x}}\\n")
            return {{"y": mylib.shift(scaled(x))}}

        if __name__ == "__main__":
            res = snakesweep.sweep(train, ["x=1,2"], cores=2)
            print("Y", res.dataset["y"].values.tolist())
        """
    write(root / "mylib.py", "def shift(v):\n    return v + 100\n")
    assert "Y [103, 106]" in run_script(root, script.format(scale=3)).stdout
    assert "Y [105, 110]" in run_script(root, script.format(scale=5)).stdout  # a value
    write(root / "mylib.py", "def shift(v):\n    return v + 200\n")
    assert "Y [205, 210]" in run_script(root, script.format(scale=5)).stdout  # a module
    out = run_script(root, script.format(scale=5).replace("x * SCALE", "SCALE * x"))
    assert "Y [205, 210]" in out.stdout  # a helper's source
    assert len(calls(root)) == 8  # each change recomputed both runs, nothing else did
    [meta, *_] = metas(root)
    assert "mylib.py" in meta["provenance"]["code"]["files"]


@pytest.mark.slow
def test_editing_the_function_makes_its_runs_stale_as_editing_a_module_does(
    tmp_path: Path,
) -> None:
    root = git_project(tmp_path)
    assert run_script(root, SCRIPT.format(body="lr * width + seed")).returncode == 0
    ids = sorted(m["run_id"] for m in metas(root))
    edited = SCRIPT.format(body="lr * width - seed").replace(
        "res = snakesweep.sweep(",
        "print('STATUS', snakesweep.Sweep(train, {'lr': [0.1, 0.2], 'seed': 'range(3)'})"
        ".status())\n    res = snakesweep.sweep(",
    )
    out = run_script(root, edited)
    assert out.returncode == 0, out.stderr
    assert "STATUS {'done': 0, 'stale': 6, 'corrupt': 0, 'pending': 0, 'failed': 0}" in out.stdout
    assert "RESULT [[0.8, -0.2, -1.2], [1.6, 0.6, -0.4]]" in out.stdout
    assert sorted(m["run_id"] for m in metas(root)) == ids  # the config names the run
    assert len(calls(root)) == 12


@pytest.mark.slow
def test_the_command_line_and_python_share_run_ids_and_results(project: Path) -> None:
    git_project(project)
    out = snakesweep("run", "--cores", "2", cwd=project)
    assert out.returncode == 0, out.stderr
    assert len(calls(project)) == 3
    script = run_script(
        project,
        """
        import snakesweep
        s = snakesweep.Sweep("tinyexp:main")  # the config's sweep, as the command line's
        print("PLAN", sorted(s.plan().status))
        res = s.run(cores=2)
        print("IDS", sorted(res.dataset["run_id"].values.tolist()))
        """,
    )
    assert script.returncode == 0, script.stderr
    assert "PLAN ['done', 'done', 'done']" in script.stdout
    assert "nothing to be done" in script.stderr  # the same plan, the same merge
    assert len(calls(project)) == 3
    with xr.open_dataset(project / "results" / "sweep.nc") as ds:
        assert f"IDS {sorted(ds['run_id'].values.tolist())}" in script.stdout


@pytest.mark.slow
def test_snakemake_runs_in_the_callers_interpreter_and_leaves_it_as_it_was(
    tmp_path: Path,
) -> None:
    root = git_project(tmp_path)
    out = run_script(
        root,
        """
        import fcntl, os, signal, sys
        import snakesweep
        from snakesweep.snakemake.recovery import WORKDIR_LOCK

        def f(x=0):
            return {"y": x}

        def state():
            handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
            return dict(os.environ), handlers, list(sys.path), list(sys.argv)

        before = state()
        snakesweep.sweep(f, ["x=1,2"], cores=2)
        print("SAME", state() == before)
        with open(WORKDIR_LOCK) as lock:  # no Snakemake of ours is alive here any more
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = snakesweep.sweep(f, ["x=1,2,3"], cores=2)
        print("SAME", state() == before, res.dataset["y"].values.tolist())
        print("HERE", "snakemake.api" in sys.modules)
        import gc
        from snakemake.workflow import Workflow
        gc.collect()
        print("KEPT", sum(type(o) is Workflow for o in gc.get_objects()))  # none: all let go
        """,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "SAME True",
        "SAME True [1, 2, 3]",
        "HERE True",
        "KEPT 0",
    ]
    assert len(metas(root)) == 3


# -- the domain, the config -------------------------------------------------------------------


def test_a_domain_given_as_domain_mapping_text_or_overrides_is_one_sweep(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project / "conf" / "config.yaml", "snakesweep:\n  experiment: tinyexp:main\nx: 1\n")
    monkeypatch.chdir(project)
    forms = [
        Domain(x=[1, 2, 3]),
        {"x": [1, 2, 3]},
        "domain:\n  x: [1, 2, 3]\n",
        ["x=1,2,3"],
    ]
    plans = [Sweep("tinyexp:main", form).plan() for form in forms]
    for plan in plans:
        assert plan["x"].tolist() == [1, 2, 3]
        assert plan["run_id"].tolist() == plans[0]["run_id"].tolist()
        assert set(plan["status"]) == {"pending"}


def test_a_python_domain_replaces_the_configs_domain_and_its_settings(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        project / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: tinyexp:main
          domain:
            x: [1, 2, 3, 4]
            offset: [0, 1]
          repeats: 3
        x: 1
        offset: 0
        """,
    )
    monkeypatch.chdir(project)
    s = Sweep(None, Domain(x=[5, 6]))
    assert len(s) == 2
    assert s.plan()["x"].tolist() == [5, 6]
    assert "2 runs" in repr(s) and "tinyexp:main" in repr(s)
    assert len(Sweep()) == 24  # the config's own domain, repeats included


def test_without_a_config_directory_the_keyword_defaults_are_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    def train(lr: float = 0.1, layers: int = 2, run: object = None) -> dict:
        return {"loss": lr * layers}

    s = Sweep(train, {"lr": [0.1, 0.01]})
    plan = s.plan()
    assert plan["lr"].tolist() == [0.1, 0.01]
    [config] = (tmp_path / "results" / ".snakesweep" / "configs").glob("*/config.yaml")
    assert config.read_text() == "lr: 0.1\nlayers: 2\nsnakesweep:\n  experiment: __main__:train\n"
    given = Sweep(train, {"lr": [0.1, 0.01]}, config={"lr": 0.1, "layers": 2})
    assert given.plan()["run_id"].tolist() == plan["run_id"].tolist()
    write(tmp_path / "conf" / "config.yaml", "snakesweep:\n  experiment: other:main\nlr: 1\n")
    beside = Sweep(train, {"lr": [0.1, 0.01]}, config_dir=None)  # conf/ is another sweep's
    assert beside.plan()["run_id"].tolist() == plan["run_id"].tolist()


def test_bad_arguments_get_one_line_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    def needs_config(cfg):  # type: ignore[no-untyped-def]
        return {}

    cases = [
        (lambda: Sweep(needs_config), "config directory 'conf': does not exist"),
        (lambda: Sweep(lambda lr=1: {}, config={"lr": 1}), "has no name: define"),
        (lambda: Sweep("nomodule:f", config={"a": 1}), "nomodule"),
        (lambda: Sweep(needs_config, 42, config={"a": 1}), "domain: expected a snakesweep"),
        (lambda: Sweep(needs_config, config={"a": object()}), "config key 'a'"),
        (lambda: Sweep(needs_config, config={"a": 1}, overrides=[1]), "overrides: expected"),
        (lambda: Sweep(needs_config, config={"a": 1}, results=None), "results: expected"),
        (lambda: Sweep(needs_config, config={"a": 1}).run(retries=-1), "retries: -1"),
        (lambda: Sweep(needs_config, config={"a": 1}).run(cores=0), "cores: 0 is not"),
        (lambda: Sweep(needs_config, config={"a": 1}).run(batch="x"), "batch: 'x'"),
        (lambda: Sweep(needs_config, config={"a": 1}).run(executor="a b"), "executor: 'a b'"),
        (lambda: Sweep(needs_config, config={"a": 1}).run(view="nope"), "view 'nope': expected"),
    ]
    for call, says in cases:
        with pytest.raises(SnakesweepError) as caught:
            call()
        assert says in str(caught.value), str(caught.value)
        assert "\n" not in str(caught.value)
    assert not (tmp_path / "results" / "runs").exists()


def test_a_closure_over_a_large_object_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    table = bytes(12 << 20)

    def train(i: int = 0) -> dict:
        return {"n": len(table) + i}

    with pytest.raises(ConfigError) as caught:
        Sweep(train, {"i": [0, 1]})
    message = str(caught.value)
    assert "'train' would be shipped to every worker by value as 12.0 MB" in message
    assert "12.0 MB of it 'table' (bytes), which it closes over" in message
    assert not (tmp_path / "results").exists()


def test_a_function_only_this_process_can_import_is_shipped_by_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "scripts" / "nextdoor.py", "def train(lr=0.1):\n    return {'y': lr}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "scripts"))  # as `python scripts/s.py` has it
    import nextdoor  # type: ignore[import-not-found]

    assert experiment_of(nextdoor.train).spec == "__main__:train"
    assert experiment_of(xr.open_dataset).spec == "xarray.backends.api:open_dataset"


def test_an_experiment_whose_parameters_have_defaults_takes_the_config_as_keywords() -> None:
    def handle_first(run, lr=0.1):  # type: ignore[no-untyped-def]
        return {}

    def config_first(cfg, run=None):  # type: ignore[no-untyped-def]
        return {}

    assert keyword_parameters(handle_first) == {"run", "lr"}
    assert keyword_parameters(lambda lr=0.1, **more: {}) == {"lr", "**"}
    assert keyword_parameters(config_first) is None

    def hydra_style(cfg=None):  # type: ignore[no-untyped-def]
        return {}

    assert keyword_parameters(hydra_style, {"x": 1, "snakesweep": {}}) is None  # as before
    assert keyword_parameters(handle_first, {"lr": 0.1, "snakesweep": {}}) == {"run", "lr"}
    assert defaults_of(handle_first) == {"lr": 0.1}
    assert defaults_of(config_first) is None


# -- interrupt ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_interrupt_stops_the_sweep_and_keeps_the_finished_runs(tmp_path: Path) -> None:
    root = git_project(tmp_path)
    write(
        root / "script.py",
        """
        import time
        import snakesweep

        def slow(i=0):
            time.sleep(1.5)
            with open("calls.txt", "a") as f:
                f.write(f"{i}\\n")
            return {"v": i}

        if __name__ == "__main__":
            snakesweep.sweep(slow, {"i": "range(10)"}, cores=2)
        """,
    )
    process = started(root)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        runs = root / "results" / "runs"
        if runs.is_dir() and sum(m["status"] == "done" for m in metas(root)) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()[1]
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
    _, err = ended(process, 60)
    assert process.returncode != 0
    assert "snakesweep: stopped (" in err and "KeyboardInterrupt" in err
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # nothing of the group is left running
        os.killpg(process.pid, 0)
    finished = {m["run_id"] for m in metas(root) if m["status"] == "done"}
    assert len(finished) >= 2
    drafts = root / "results" / ".snakesweep" / "drafts"
    assert not any(drafts.rglob("result.nc")) if drafts.exists() else True
    done_before = len(calls(root))
    again = run_script(root, (root / "script.py").read_text())
    assert again.returncode == 0, again.stderr
    assert len(calls(root)) == done_before + 10 - len(finished)  # only the rest computed
    with xr.open_dataset(root / "results" / "sweep.nc") as ds:
        assert sorted(ds["v"].values.tolist()) == list(range(10))


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.6, 1.0, 1.4])
def test_a_ctrl_c_while_snakemake_starts_leaves_the_interpreter_able_to_sweep_again(
    tmp_path: Path, delay: float
) -> None:
    """Snakemake imports much for the first time as it starts: an interrupt then waits for
    its jobs to start, or a module (or its plugin registries) would stay broken."""
    root = git_project(tmp_path)
    write(
        root / "script.py",
        """
        import sys, time
        import snakesweep

        def slow(i=0):
            time.sleep(1)
            return {"v": i}

        print("READY", flush=True)
        time.sleep(0.3)
        try:
            snakesweep.sweep(slow, {"i": "range(4)"}, cores=2)
            print("FIRST finished", flush=True)
        except KeyboardInterrupt:
            print("FIRST interrupted", flush=True)
        res = snakesweep.sweep(slow, {"i": "range(4)"}, cores=2)
        print("SECOND", res.dataset["v"].values.tolist(), flush=True)
        """,
    )
    process = started(root)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "READY"
    time.sleep(delay)  # the first call is planning, importing Snakemake or parsing its rules
    os.killpg(process.pid, signal.SIGINT)
    out, err = ended(process, 120)
    assert process.returncode == 0, err
    assert out.splitlines() == ["FIRST interrupted", "SECOND [0, 1, 2, 3]"], err


# -- a failure ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_failed_runs_are_named_with_their_params_and_first_line(tmp_path: Path) -> None:
    root = git_project(tmp_path)
    out = run_script(
        root,
        textwrap.dedent(
            """
            import snakesweep

            def picky(x=0):
                if x == 2:
                    raise ValueError("two is not allowed\\nsecond line")
                return {"y": x}

            if __name__ == "__main__":
                res = snakesweep.sweep(picky, ["x=1,2,3"], cores=2)
                print("REPR", repr(res))
            """
        ),
    )
    assert out.returncode == 0, out.stderr
    [said] = [line for line in out.stderr.splitlines() if "(x=2) failed:" in line]
    assert said.startswith("snakesweep: run ")
    assert said.endswith(" (x=2) failed: ValueError: two is not allowed")
    assert "1 of 3 runs failed; Sweep(...).plan() lists them" in out.stderr
    assert "REPR <Results 'results': 3 runs (2 done, 1 failed)>" in out.stdout
    none = run_script(root, (root / "script.py").read_text().replace("x == 2", "x > 0"))
    assert none.returncode == 1
    assert none.stderr.rstrip().splitlines()[-1] == (
        "snakesweep.errors.SweepError: 3 of 3 runs failed; "
        "Sweep(...).plan() lists them, and calling sweep() again retries them"
    )
