"""Locks: whatever starts work on a results directory holds it, and a run another live process
computes is never computed alongside it, whatever Snakemake's ``--unlock`` removed.

The starters are `snakesweep run`, plain `snakemake`, `dvc repro` (whose stages run plain
snakemake), Hydra's launcher and the Python API (``rules.run_snakemake``,
``execute.execute_run``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    EXPERIMENT,
    TRACEBACK,
    Tally,
    account,
    command,
    counted_done,
    finished_counts,
    make_project,
    run,
    side,
)

from snakesweep.snakemake.workflow import SNAKEFILE
from snakesweep.store import locks


def wait_for(condition: object, seconds: float = 120) -> None:
    """Poll ``condition()`` until it is true; fail past ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s: {condition}")
        time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def reap(pgid: int, seconds: float = 300) -> None:
    """Wait until no process of the group is left; kill what is left past ``seconds``."""
    deadline = time.monotonic() + seconds
    while group_alive(pgid):
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            raise AssertionError(f"processes of group {pgid} still ran after {seconds} s")
        time.sleep(0.1)


def plan_ids(root: Path) -> list[str]:
    out = run(root, "plan", "--format", "json")
    assert out.returncode == 0, out.stderr
    return [p["run_id"] for p in json.loads(out.stdout)]


def snakemake(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Plain ``snakemake`` on the sweep of ``root`` (snakesweep's Snakefile, its defaults)."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", SNAKEFILE, "--cores", "2", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


GATED = EXPERIMENT.replace(
    "    time.sleep(cfg.sleep)\n",
    """    time.sleep(cfg.sleep)
    deadline = time.time() + 300
    while cfg.x == 0 and not os.path.exists("release") and time.time() < deadline:
        time.sleep(0.02)
""",
)
"""The fault suite's experiment, but its run x=0 goes on only once the file ``release`` exists."""


@pytest.mark.slow
def test_snakesweep_run_killed_alone_leaves_its_snakemake_the_holder_and_unlock_changes_nothing(
    tmp_path: Path,
) -> None:
    """kill -9 of `snakesweep run` only: its Snakemake goes on, holding results/. Snakemake's
    advice (`--unlock`) removes only Snakemake's lock files; a new invocation refuses (with
    no wait allowed) naming the holder, or waits for it, and no run is computed twice."""
    root = make_project(tmp_path / "p", 8, sleep=0.2)
    (root / "faultexp.py").write_text(GATED)  # the first sweep lasts until the test releases
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    with open(logs[0], "w") as out:
        first = subprocess.Popen(
            command("run", "--cores", "2"),
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: len(side(root, "finished.txt")) >= 2)
        os.kill(first.pid, signal.SIGKILL)  # the parent only: its Snakemake lives on
        first.wait()
        assert group_alive(first.pid), "the sweep's snakemake ended with its parent"

        invocation = next((root / "results" / ".snakesweep" / "invocations").glob("*.yaml"))
        unlock = snakemake(root, "--configfile", str(invocation), "--unlock")
        refused = run(root, "run", "--cores", "2", env={locks.WAIT_ENV: "0"})
        with open(logs[1], "w") as out:
            second = subprocess.Popen(
                command("run", "--cores", "2"), cwd=root, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for(lambda: "is in use by" in logs[1].read_text() or second.poll() is not None)
        (root / "release").touch()
        code = second.wait(timeout=600)
        reap(first.pid)
    finally:
        (root / "release").touch()
        if second is not None and second.poll() is None:
            second.kill()
        if group_alive(first.pid):
            os.killpg(first.pid, signal.SIGKILL)
    first_log, second_log = (p.read_text() for p in logs)

    assert unlock.returncode == 0, unlock.stderr
    assert "results/ is in use by snakesweep run" in unlock.stderr
    assert refused.returncode == 2, refused.stdout + refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "results/ is in use by snakesweep run (pid" in line
    assert "and its snakemake (pid" in line, line  # the holder alive, not the dead parent
    assert code == 0, second_log
    assert "results/ is in use by snakesweep run" in second_log
    ids = set(plan_ids(root))
    assert set(finished_counts(root)) == ids and set(finished_counts(root).values()) == {1}
    tally = account(
        Tally("kill -9 of snakesweep run alone, then snakemake --unlock", injected=1),
        root,
        ids,
        [first_log, unlock.stderr, refused.stderr, second_log],
    )
    assert tally.clean, tally


def dvc_project(root: Path, runs: int, sleep: float) -> Path:
    """The fault suite's sweep in a git and DVC repository laid out by `snakesweep init`."""
    root.mkdir(parents=True)
    (root / "faultexp.py").write_text(EXPERIMENT)
    for argv in (
        ["git", "init", "-q"],
        [sys.executable, "-m", "dvc", "init", "-q"],
        command("init", "--experiment", "faultexp:main"),
    ):
        subprocess.run(argv, cwd=root, check=True, capture_output=True, timeout=120)
    return make_project(root, runs, sleep=sleep)  # its conf/, over init's


@pytest.mark.slow
@pytest.mark.usefixtures("tool_env")
def test_snakesweep_run_and_dvc_repro_at_once_the_later_waits_and_nothing_runs_twice(
    tmp_path: Path,
) -> None:
    root = dvc_project(tmp_path / "p", 6, sleep=0.2)
    (root / "faultexp.py").write_text(GATED)  # the sweep lasts until the test releases it
    logs = [tmp_path / "run.log", tmp_path / "repro.log"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with open(logs[0], "w") as first_out, open(logs[1], "w") as second_out:
            processes.append(
                subprocess.Popen(
                    command("run", "--cores", "2"),
                    cwd=root,
                    stdout=first_out,
                    stderr=subprocess.STDOUT,
                )
            )
            wait_for(lambda: side(root, "started.txt"))
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dvc", "repro"],
                    cwd=root,
                    stdout=second_out,
                    stderr=subprocess.STDOUT,
                )
            )
            wait_for(
                lambda: (
                    "is in use by" in logs[1].read_text()
                    or any(p.poll() is not None for p in processes)
                )
            )
            (root / "release").touch()
            codes = [p.wait(timeout=600) for p in processes]
    finally:
        (root / "release").touch()
        for process in processes:
            if process.poll() is None:
                process.kill()
    first_log, second_log = (p.read_text() for p in logs)

    assert codes == [0, 0], first_log + second_log
    assert "results/ is in use by snakesweep run" in second_log
    ids = set(plan_ids(root))
    assert set(finished_counts(root)) == ids and set(finished_counts(root).values()) == {1}
    assert (root / "dvc.lock").is_file() and (root / "results" / "sweep.nc").is_file()
    tally = account(
        Tally("snakesweep run and dvc repro at once", injected=1),
        root,
        ids,
        [first_log, second_log],
    )
    assert tally.clean, tally


@pytest.mark.slow
@pytest.mark.parametrize("how", ["pool", "process per run", "batch"])
def test_a_run_another_live_process_computes_is_waited_for_not_computed_again(
    how: str, tmp_path: Path
) -> None:
    """A run computed by a process no invocation holds (`python -m snakesweep.execute`, a
    job of a killed Snakemake): the run's job waits for it and takes its result."""
    root = make_project(tmp_path / "p", 4)
    (root / "faultexp.py").write_text(GATED)
    ids = plan_ids(root)
    plan_file = next(
        p
        for p in (root / "results" / ".snakesweep" / "plans").glob("*.json")
        if not p.name.endswith(".configs.json")
    )
    other = subprocess.Popen(
        [sys.executable, "-m", "snakesweep.execute", str(plan_file), ids[0], "results"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = tmp_path / "run.log"
    args = ["--batch", "2"] if how == "batch" else []
    env = {**os.environ, **({"SNAKESWEEP_NO_POOL": "1"} if how == "process per run" else {})}
    sweep: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: any(r == ids[0] for r, _ in side(root, "started.txt")))
        with open(log, "w") as out:
            sweep = subprocess.Popen(
                command("run", "--cores", "2", *args),
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        waiting = f"run {ids[0]} is being computed by another process (pid "
        wait_for(
            lambda: (
                waiting in log.read_text()
                or sweep.poll() is not None
                or [r for r, _ in side(root, "started.txt")].count(ids[0]) > 1
            ),
            300,
        )
        (root / "release").touch()
        code = sweep.wait(timeout=300)
        other_output, _ = other.communicate(timeout=300)
    finally:
        (root / "release").touch()
        for process in (other, sweep):
            if process is not None and process.poll() is None:
                process.kill()
    text = log.read_text()
    assert other.returncode == 0, other_output
    assert code == 0, text
    assert waiting in text
    assert f"run {ids[0]} was finished by the process it waited for" in text
    assert set(finished_counts(root)) == set(ids) and set(finished_counts(root).values()) == {1}
    tally = account(
        Tally(f"a run computed by another live process ({how})", injected=1),
        root,
        set(ids),
        [text, other_output],
    )
    assert tally.clean, tally
    assert not list((root / "results" / ".snakesweep" / "locks").iterdir())


APP = """
import hydra


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg):
    with open("calls.txt", "a") as f:
        f.write(f"{cfg.x}\\n")
    return {"y": cfg.x}


if __name__ == "__main__":
    main()
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    """A project whose results directory this test's process holds, as a live sweep would."""
    root = make_project(tmp_path / "p", 2)
    (root / "app").mkdir()
    (root / "app" / "config.yaml").write_text(
        textwrap.dedent("""
        defaults:
          - override hydra/launcher: snakesweep
          - _self_
        x: 0
        hydra:
          launcher:
            cores: 1
        """)
    )
    (root / "my_app.py").write_text(APP.replace('config_path="conf"', 'config_path="app"'))
    lock = locks.hold_sweep(str(root / "results"), "a test", lambda _: None)
    try:
        yield root
    finally:
        lock.release()


API = (
    "import sys; from pathlib import Path; "
    "from snakesweep.snakemake.driver import run_snakemake, write_invocation; "
    "sys.exit(run_snakemake(write_invocation(Path('invocation.yaml'), "
    "{'results': 'results'}), '1', [], ['api']))"
)

STARTERS = {
    "snakesweep run": command("run", "--cores", "1"),
    "plain snakemake": [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        SNAKEFILE,
        "--cores",
        "1",
    ],
    "Hydra's launcher": [sys.executable, "my_app.py", "-m", "x=1,2"],
    "Python API": [sys.executable, "-c", API],
}


@pytest.mark.parametrize("starter", STARTERS)
def test_every_starter_refuses_a_results_directory_in_use_naming_its_holder(
    starter: str, held: Path
) -> None:
    """With no wait allowed (SNAKESWEEP_LOCK_WAIT=0), every way of starting the work stops
    at once with one line naming the holder's pid, and computes nothing."""
    out = subprocess.run(
        STARTERS[starter],
        cwd=held,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, locks.WAIT_ENV: "0"},
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert f"results/ is in use by a test (pid {os.getpid()} on" in text, text
    assert f"not waiting for it ({locks.WAIT_ENV}=0)" in text
    assert TRACEBACK not in text
    assert not (held / "results" / "runs").exists() and not (held / "calls.txt").exists()


def test_a_bounded_wait_says_who_it_waits_for_and_gives_up_in_one_line(held: Path) -> None:
    out = run(held, "run", "--cores", "1", env={locks.WAIT_ENV: "0.5"})
    assert out.returncode == 2, out.stderr
    waiting, refusal = out.stderr.strip().splitlines()
    assert waiting.startswith(f"snakesweep: results/ is in use by a test (pid {os.getpid()}")
    assert "waiting for it to finish" in waiting
    assert refusal.endswith(
        f"gave up after waiting 0.5 s ({locks.WAIT_ENV}); run again when "
        "it has ended, or unset it to wait until then"
    )
    assert not (held / "results" / "runs").exists()


def _interruptible() -> None:
    """In the child: SIGINT neither ignored nor blocked, as in a shell's foreground job (a test
    worker may have inherited either, and a child inherits both across exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.parametrize("starter", ["snakesweep run", "plain snakemake"])
def test_ctrl_c_of_a_waiting_starter_ends_it_in_one_line(starter: str, held: Path) -> None:
    """Ctrl-C while waiting for a results directory in use: one line, status 130, no
    traceback, nothing computed."""
    process = subprocess.Popen(
        STARTERS[starter],
        preexec_fn=_interruptible,  # as a terminal starts it, whatever this worker inherited
        cwd=held,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, locks.WAIT_ENV: "200"},
    )  # a bound
    try:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:  # ends when it ends: bounded by the wait below
            lines.append(line)
            if "is in use by a test" in line:
                break
        assert lines and "waiting for it to finish" in lines[-1], "".join(lines)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    assert TRACEBACK not in out + err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (held / "results" / "runs").exists()


def test_a_snakemake_that_computes_nothing_does_not_wait_and_one_that_touches_stops(
    held: Path,
) -> None:
    """A dry run and `--unlock` go on at once, saying who holds results/; `--touch` (which
    the parse takes for one that computes nothing) is stopped before it starts a job."""
    for args in (["-n"], ["--unlock"]):
        out = snakemake(held, *args, timeout=300)
        assert out.returncode == 0, out.stderr
        assert f"results/ is in use by a test (pid {os.getpid()}" in out.stderr
        assert "this snakemake computes nothing" in out.stderr
    touched = snakemake(held, "--touch", timeout=300)
    assert touched.returncode != 0, touched.stderr
    assert "this snakemake computes nothing: run it again when that one has ended" in touched.stderr
    assert TRACEBACK not in touched.stdout + touched.stderr
    assert not (held / "results" / "runs").exists()
    assert counted_done(held) == set()
