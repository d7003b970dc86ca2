"""The driver: how ``snakesweep run`` (and ``snakesweep report``, and Hydra's launcher)
starts Snakemake on snakesweep's Snakefile: the config file of the invocation, the session
and the worker pool started before Snakemake, Snakemake's options, signals passed on, and
the processes the runs left ended."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from snakesweep import store
from snakesweep.execute import descendants
from snakesweep.execute.pool import ENV
from snakesweep.planning.plan import Plan
from snakesweep.provenance.code import CurrentCode
from snakesweep.provenance.session import (
    COMMAND_ENV,
    SESSION_ENV,
    begin_session,
    end_reservation,
    end_session,
    reserve_session,
    session_path,
)
from snakesweep.snakemake import arguments, recovery, starting
from snakesweep.snakemake.pool import POOL_PID_ENV, POOL_PIPE_ENV, local_pool
from snakesweep.snakemake.workflow import SNAKEFILE
from snakesweep.store import locks

__all__ = ["TERMINATED", "prepared", "run_snakemake", "write_invocation"]


def write_invocation(path: Path, options: Mapping[str, Any]) -> Path:
    """Write the Snakemake config file that gives these rules their ``snakesweep`` options."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store.write_atomic(path, yaml.safe_dump({"snakesweep": dict(options)}))
    return path


@contextmanager
def prepared(
    plan: Plan,
    results: str,
    cores: str,
    extra: Sequence[str],
    command: Sequence[str],
) -> Iterator[dict[str, str]]:
    """The environment of one Snakemake invocation of ``snakesweep run``: its session and,
    when its runs go to the local executor (a job per run or per batch of them), the worker
    pool, both started before Snakemake so the pool warms up (imports, the experiment)
    while Snakemake starts. The session is captured (git, ~0.2 s) in a thread while
    Snakemake starts too: a run that needs it before it is written waits for it
    (``reserve_session``). Yields the environment; stops the
    pool and removes the session afterwards. Snakemake holds the pool's control pipe too
    (``POOL_PIPE_ENV``, ``_call``), so the pool serves it as long as it lives, even when
    ``snakesweep run`` alone is killed."""
    env = {**os.environ, COMMAND_ENV: json.dumps(list(command))}
    session = session_path(results)
    env[SESSION_ENV] = str(session)
    pool = None
    if arguments.runs_here(extra):
        statuses = store.run_statuses(results, plan.run_ids, CurrentCode(plan.options))
        pending = sum(s != "done" for s in statuses.values())
        with _env(env):  # what the pool's workers inherit
            pool = local_pool(pending, arguments.cores(cores), plan)
        if pool is not None:
            assert pool.process.stdin is not None
            env.update(
                {
                    ENV: pool.address,
                    POOL_PID_ENV: str(pool.process.pid),
                    POOL_PIPE_ENV: str(pool.process.stdin.fileno()),
                }
            )
    reserve_session(session)  # runs that come before it is written wait for it
    recorder = threading.Thread(
        target=_record_session, args=(results, session, command), name="snakesweep-session"
    )
    recorder.start()
    try:
        yield env
    finally:
        recorder.join()
        if pool is not None:
            pool.stop()
        end_session(session)


def _record_session(results: str, path: Path, command: Sequence[str]) -> None:
    try:
        begin_session(results, path, command)
    except Exception as exc:  # noqa: BLE001 - runs still record what they can themselves
        print(f"snakesweep: could not record the session's provenance: {exc}", file=sys.stderr)
    finally:
        end_reservation(path)


@contextmanager
def _env(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_snakemake(
    invocation: Path,
    cores: str,
    extra: Sequence[str],
    command: Sequence[str],
    plan: Plan | None = None,
    results: str = "results",
    output: int | None = None,
    here: bool = False,
    display: bool = False,
) -> int:
    """Run Snakemake on snakesweep's Snakefile with this invocation's options; its exit status.

    What a killed run left (Snakemake's locks and incomplete markers) is cleared when the
    rules are parsed (``snakesweep.recovery``). ``command`` (the user's command line)
    reaches the runs' provenance through the environment, never a shell. With ``plan``
    (the plan those options give, into ``results``), the session and the pool start before
    Snakemake does. When it returns, every process it started has ended: processes the
    runs left running are ended (``snakesweep.descendants``), and named. ``output``: the
    file descriptor that Snakemake's output, and the pool's, go to (default: this
    process's). ``here``: Snakemake runs in this process, through its Python entry point
    (``_call_here``), not as a process of its own. ``display``: Snakemake shows the sweep's
    progress (``--logger snakesweep``), not its job blocks.
    """
    arguments_ = [
        "--snakefile",
        SNAKEFILE,
        "--configfile",
        str(invocation),
        "--cores",
        cores,
        "--rerun-triggers",
        *arguments.RERUN_TRIGGERS,
        "--keep-going",
        "--rerun-incomplete",
        *arguments.scheduling(extra),
        *(arguments.display(extra) if display else []),
        *extra,
    ]
    snakemake = [sys.executable, "-m", "snakemake", *arguments_]
    starting.raise_if_came()  # an interrupt held while the sweep started: none is begun
    with descendants.adopted() as ended, _output_to(output):
        if plan is None:
            code = _call(snakemake, {**os.environ, COMMAND_ENV: json.dumps(list(command))})
        else:
            with prepared(plan, results, cores, extra, command) as env:
                code = _call_here(arguments_, env) if here else _call(snakemake, env)
                starting.raise_if_came()  # held while Snakemake, a process, took it too
    if ended:
        print(
            f"snakesweep: ended {len(ended)} process(es) the runs left running: "
            f"{'; '.join(ended[:3])}{'; …' if len(ended) > 3 else ''}",
            file=sys.stderr,
        )
    return code


@contextmanager
def _output_to(fd: int | None) -> Iterator[None]:
    """This process's output, and what it starts, written to ``fd`` for the block (the
    descriptors 1 and 2, and ``sys.stdout``/``sys.stderr``); as it was after."""
    if fd is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    streams = (sys.stdout, sys.stderr)
    writer = open(fd, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = sys.stderr = writer
    try:
        yield
    finally:
        writer.flush()
        sys.stdout, sys.stderr = streams
        for target, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, target)
            os.close(copy)


def _call_here(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Snakemake in this process, on the arguments of its command line: its own
    ``parse_args`` and ``args_to_api`` build the calls of its Python API (profiles,
    executors and their settings as the command line has them). Its exit status.

    While it runs, ``env`` is the environment and ``sys.argv`` Snakemake's; after it, the
    environment, ``sys.argv``, ``sys.path``, the SIGINT and SIGTERM handlers and the
    thread's asyncio event loop are as they were (Snakemake installs a SIGTERM handler and
    an event loop; it, and its import, add to the path), and no workdir lock of ours is held
    (``recovery.release_workdir_locks``: a dry run never finishes). Ctrl-C stops it as it
    stops Snakemake's own process (its jobs cancelled), and is raised here after, as
    ``KeyboardInterrupt``; until its jobs start, an interrupt waits (``starting``: a first
    import cut short would leave a module or its plugin registries broken in this process).
    A bad argument is said in argparse's one line, without its usage."""
    import asyncio

    saved = (dict(os.environ), sys.argv, list(sys.path))
    loops = getattr(asyncio.get_event_loop_policy(), "_local", None)  # the thread's loop
    loop = (getattr(loops, "_loop", None), getattr(loops, "_set_called", False))
    namespace: dict[str, Any] = {}  # the globals Snakefiles run in, and as imported
    pristine: dict[str, Any] = {}
    os.environ.update(env)
    sys.argv = ["snakemake", *argv]
    try:
        with starting.held():
            try:
                from snakemake.cli import args_to_api, parse_args  # ~1 s, the first time

                namespace = vars(sys.modules["snakemake.workflow"])
                pristine = dict(namespace)
                parser, args = _read_arguments(parse_args, argv)
                code = 0 if args_to_api(args, parser) else 1
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except KeyboardInterrupt:  # raised at the jobs' start (``starting.release``)
                code = 130
            except Exception as exc:  # noqa: BLE001 - as Snakemake's own main says it
                from snakemake.exceptions import print_exception

                print_exception(exc)
                code = 1
            if starting.terminated():
                TERMINATED.set()
            starting.raise_if_came()  # Snakemake took it, cancelled its jobs and returned
            if code == 130:
                raise KeyboardInterrupt
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        sys.argv = saved[1]
        sys.path[:] = saved[2]
        asyncio.set_event_loop(loop[0])
        if loops is not None and hasattr(loops, "_set_called"):
            loops._set_called = loop[1]  # as if Snakemake had never set one
        recovery.release_workdir_locks()
        if pristine:  # what the Snakefile defined goes, with what it holds
            namespace.clear()
            namespace.update(pristine)
        _forget_workflows()
    return code


def _forget_workflows() -> None:
    """Let the workflows Snakemake ran in this process go, with their DAGs and our
    ``SweepWorkflow``: the ``functools.lru_cache`` of its persistence's methods keys on them
    (through their rules). (The Snakefile runs in the globals of ``snakemake.workflow``,
    which ``_call_here`` puts back as imported: each next workflow's copy of them,
    ``vanilla_globals``, would hold the last one's ``rules`` and ``SWEEP``.)"""
    persistence = sys.modules.get("snakemake.persistence")
    for cls in vars(persistence).values() if persistence is not None else ():
        if isinstance(cls, type) and cls.__module__ == persistence.__name__:  # type: ignore[union-attr]
            for attribute in vars(cls).values():
                clear = getattr(attribute, "cache_clear", None)
                if callable(clear):
                    clear()


def _read_arguments(parse_args: Any, argv: Sequence[str]) -> Any:
    """Snakemake's ``parse_args(argv)``; what it says on stderr passed on, but for a bad
    argument only argparse's last line (``snakemake: error: …``), not its usage."""
    import io

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            parsed = parse_args(list(argv))
    except SystemExit:
        lines = [line for line in said.getvalue().splitlines() if line.strip()]
        print(lines[-1] if lines else "snakemake: bad arguments", file=sys.stderr)
        raise
    sys.stderr.write(said.getvalue())
    return parsed


TERMINATED = threading.Event()
"""Set when a SIGTERM was passed to a Snakemake of ``_call``: the sweep was stopped."""


def _call(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``command`` to its end, passing it a SIGTERM this process gets (so stopping
    ``snakesweep run`` stops its Snakemake, which stops its jobs, and the pool after it),
    and the sweep locks this process holds (``locks.hand_over``) and the pool's control
    pipe (``POOL_PIPE_ENV``), which it holds for as long as it lives."""
    env = dict(env)
    held = locks.hand_over(env)  # Snakemake holds them too, while it lives
    pipe = env.pop(POOL_PIPE_ENV, "")  # the descriptor, not its number, is what it needs
    process = subprocess.Popen(
        list(command),
        env=env,
        pass_fds=(*held, *([int(pipe)] if pipe.isdigit() else [])),
    )
    main = threading.current_thread() is threading.main_thread()

    def forward(signum: int, frame: Any) -> None:
        TERMINATED.set()
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward) if main else None
    try:
        return process.wait()
    except BaseException:  # Ctrl-C: Snakemake got it too; let it end before what it uses
        try:
            process.wait(timeout=30)
        except BaseException:
            process.kill()
            process.wait()
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        for lock in locks.held_sweeps():  # Snakemake wrote itself in: this one holds them
            lock.note()
