"""The warm worker pool: processes that keep the experiment imported for a whole sweep.

Python start-up plus heavy imports (numpy, xarray, the experiment's own) cost about half a
second per run; a bare Snakemake ``shell:`` job costs ~25 ms. So a sweep started on the
local executor starts this pool once (the Snakefile's ``onstart``): a master process listens
on 127.0.0.1, imports what the runs need, and forks one worker per core. Each Snakemake job
is a few lines of bash (``_client.sh``) that send the run id with the pool's random token
and wait for the reply; a worker runs the config with ``execute_run`` exactly as the
in-process fallback does, and gives the next run the process as it found it (the working
directory, environment, random state, logging, …: see ``snakesweep.isolation``); a worker
whose run changed what cannot be put back (a thread left running, a module reloaded) is
replaced. (Forking a process per run instead costs ~10 ms here.)

A worker tells the master which run it starts (handing it a copy of the job's connection)
and ends; it tells the job ``taken`` before it runs it. When a worker dies in a run (a
signal, ``os._exit``, a crash in native code, ``snakesweep.timeout``) the master records
that run as failed and replies to the job itself, saying what was recorded; then it starts
another worker. A job the pool did not take (it was stopping) runs in a fresh Python
instead. The master stops when its standard input closes: Snakemake ended, or whoever
started the pool did, however it ended.
"""

from __future__ import annotations

import importlib
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from snakesweep import store
from snakesweep.core.options import Options
from snakesweep.execute import batches, devices, isolation
from snakesweep.execute.execution import (
    Outcome,
    execute_run,
    failure_line,
    kill_tree,
    outcome_of_process,
    timeout_of,
    warm_up,
)
from snakesweep.planning.plan import Plan, load_plan

__all__ = ["CLIENT", "ENV", "NOT_HERE", "PROGRAMS", "REQUESTS", "Pool", "main", "start_pool"]

ENV = "SNAKESWEEP_POOL"
CLIENT = Path(__file__).parents[1] / "_client.sh"

REQUESTS = {"run": 3, "batch": 1, "merge": 4, "report": 5}
"""What a job asks of the pool (``_client.sh``), and how many fields follow: ``run PLAN
RUN_ID RESULTS``, ``batch BATCH_FILE``, ``merge CWD PLAN RESULTS LOG``, ``report CWD RESULTS
THREADS LOG PICTURES``."""
PROGRAMS = {"merge": "snakesweep.merge.sweep", "report": "snakesweep.view.report"}
"""The jobs a worker runs as their ``python -m`` would (the module's ``main``), named, not
imported: they sit above this layer, and run here only as the programs they are."""
NOT_HERE = 100
"""A reply's code when the job should do the rest itself, in a fresh process."""


class Pool:
    """A running pool, as seen from the process that started it."""

    def __init__(self, process: subprocess.Popen[bytes], address: str) -> None:
        self.process = process
        self.address = address
        """``PORT:TOKEN``, what the clients find in ``SNAKESWEEP_POOL``."""

    def stop(self) -> None:
        """Stop the workers (and any run still going)."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_pool(workers: int, plan_file: str | os.PathLike[str]) -> Pool | None:
    """Start a pool of ``workers`` processes for the runs of ``plan_file``; None if it failed."""
    token = secrets.token_hex(16)
    process = subprocess.Popen(
        [sys.executable, "-m", "snakesweep.execute.pool", str(workers), str(plan_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(token.encode() + b"\n")
    process.stdin.flush()
    port = process.stdout.readline().decode().strip()
    process.stdout.close()
    if not port.isdigit():
        process.kill()
        process.wait()
        return None
    return Pool(process, f"{port}:{token}")


def _serve(
    workers: int, plan_file: str, token: str, control: IO[bytes], announce: IO[bytes]
) -> None:
    """Listen on 127.0.0.1, warm up, fork ``workers`` and serve until ``control`` closes."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)  # clients wait in the backlog while we warm up
    announce.write(f"{listener.getsockname()[1]}\n".encode())
    announce.flush()
    os.dup2(2, 1)  # nobody reads our stdout any more: output between runs goes to stderr
    plan = _warm_up(plan_file)
    options = _device_options(plan_file)
    master = os.getpid()
    reports: dict[int, socket.socket] = {}  # worker pid -> the master's end of its reports
    current: dict[int, tuple[str, str]] = {}  # worker pid -> (results, run_id) it is running
    jobs: dict[int, socket.socket] = {}  # worker pid -> the connection of the job it runs
    deadlines: dict[int, tuple[float, float]] = {}  # worker pid -> (deadline, timeout)
    timed_out: dict[int, float] = {}  # worker pid -> the timeout it was stopped for
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            while len(reports) < workers:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                # a SIGTERM sent to a worker before it resets its handler would be taken by
                # the master's (copied by the fork) and lost: held back until it has
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
                pid = os.fork()
                if pid == 0:  # a worker: never returns into the master's code
                    code = 1
                    try:
                        signal.signal(signal.SIGTERM, signal.SIG_DFL)
                        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                        signal.signal(signal.SIGINT, _ignore)  # exec'd children get the default
                        ours.close()
                        for other in [*reports.values(), *jobs.values()]:
                            other.close()
                        if options is not None:  # this worker's device, for every run it takes
                            devices.hold_for_process(options)
                        _work(listener, master, token, theirs)
                        code = 0
                    finally:
                        os._exit(code)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                theirs.close()
                ours.setblocking(False)
                reports[pid] = ours
            fds = [control.fileno(), *(r.fileno() for r in reports.values())]
            now = time.monotonic()
            wait = min([0.5, *(max(0.0, d - now) for d, _ in deadlines.values())])
            ready, _, _ = select.select(fds, [], [], wait)
            if control.fileno() in ready and not os.read(control.fileno(), 4096):
                break
            for pid, sock in reports.items():  # all of them: a deadline is checked on news
                _read_reports(sock, pid, current, jobs, deadlines)
            now = time.monotonic()
            for pid, (deadline, timeout) in list(deadlines.items()):
                if now >= deadline and pid not in timed_out:  # snakesweep.timeout: stop it
                    timed_out[pid] = timeout
                    kill_tree(pid)
            while reports:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                sock = reports.pop(pid)
                _read_reports(sock, pid, current, jobs, deadlines)
                sock.close()
                deadlines.pop(pid, None)
                stopped_for = timed_out.pop(pid, None)
                if pid in current:
                    results, run_id = current.pop(pid)
                    _answer(
                        jobs.pop(pid, None),
                        results,
                        outcome_of_process(results, run_id, pid, status, stopped_for, plan),
                    )
    finally:
        _stop_workers(reports, current, jobs, plan)
        listener.close()


def _answer(job: socket.socket | None, results: str, outcome: Outcome) -> None:
    """Tell the job whose worker died in its run what was recorded (``failure_line``)."""
    if job is None:
        return
    with job:
        line = failure_line(outcome, results)
        _reply(job, 1 if line else 0, line)


def _stop_workers(
    reports: dict[int, socket.socket],
    current: dict[int, tuple[str, str]],
    jobs: dict[int, socket.socket],
    plan: Plan | None = None,
) -> None:
    """TERM every worker, KILL what is left after a few seconds; record runs cut short,
    and tell their jobs."""
    for pid in reports:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    waiting = dict(reports)
    while waiting:
        for pid in list(waiting):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                sock = waiting.pop(pid)
                _read_reports(sock, pid, current, jobs)
                sock.close()
                if pid in current:  # a run cut short is recorded as failed
                    results, run_id = current.pop(pid)
                    _answer(
                        jobs.pop(pid, None),
                        results,
                        outcome_of_process(results, run_id, pid, status, plan=plan),
                    )
        if waiting and time.monotonic() > deadline:
            for pid in waiting:
                _signal(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.02)
    for job in jobs.values():
        job.close()


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _ignore(*_: Any) -> None:
    """SIGINT in a worker: Snakemake stops the sweep; the run's own children die of it."""


def _read_reports(
    sock: socket.socket,
    pid: int,
    current: dict[int, tuple[str, str]],
    jobs: dict[int, socket.socket],
    deadlines: dict[int, tuple[float, float]] | None = None,
) -> None:
    """Follow a worker's ``start RESULTS RUN_ID TIMEOUT`` (with the job's connection) and
    ``end`` messages, as many as its socket holds now."""
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        except (BlockingIOError, ConnectionError):
            return
        if not data and not fds:
            return
        kind, _, rest = data.decode().rstrip("\n").partition("\t")
        if kind == "start":
            results, run_id, timeout = rest.split("\t")
            current[pid] = (results, run_id)
            if fds:
                if pid in jobs:
                    jobs.pop(pid).close()
                jobs[pid] = socket.socket(fileno=fds.pop(0))
            if timeout and deadlines is not None:
                deadlines[pid] = (time.monotonic() + float(timeout), float(timeout))
        else:
            current.pop(pid, None)
            if pid in jobs:
                jobs.pop(pid).close()
            if deadlines is not None:
                deadlines.pop(pid, None)
        for fd in fds:
            os.close(fd)


class _PoolGone(Exception):
    """The master is gone: a worker takes no run."""


def _work(listener: socket.socket, master: int, token: str, report: socket.socket) -> None:
    """A worker: take one request at a time from the socket until the master goes away, or
    until what it did leaves the process unfit for the next (then the master forks another).

    A run is taken (the job told ``taken``) only once the master knows of it and holds the
    job's connection, so that whatever becomes of this worker the job hears what became of
    its run; a job whose run was not taken runs it itself."""
    listener.settimeout(1.0)
    plans: dict[str, Plan] = {}
    conn: socket.socket | None = None
    # a process the experiment forks must not hold the job's connection or our pipes open
    os.register_at_fork(after_in_child=lambda: _close_quietly(conn, report, listener))
    threads = threading.active_count()

    def fit() -> bool:  # nothing left behind that cannot be put back
        return threading.active_count() <= threads and not isolation.unrestored()

    while os.getppid() == master:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            kind, fields = "request", list[str]()
            try:
                kind, fields = _read_request(conn, token)
                if kind in PROGRAMS:
                    _reply(conn, *_program(kind, fields))
                    return  # a merge or a report leaves its imports and threads: a fresh worker
                task = _Task(conn, report, plans)
                if kind == "batch":
                    code, line = _batch(task, fields[0], fit)
                else:
                    plan_file, run_id, results = fields
                    code, line = task.run(plan_file, run_id, results)
                _reply(conn, code, line)
            except _PoolGone:
                return
            except _JobGone:
                pass
            except Exception as exc:  # noqa: BLE001 - told to the job, which fails
                named = f"{kind} {fields[0]}: " if fields else ""
                _reply(conn, 2, f"snakesweep: {named}{exc}")
        conn = None
        if not fit():
            return  # a run left threads behind, or what cannot be put back: a fresh worker


class _Task:
    """One job's work in a worker: runs, each announced to the master (with the job's
    connection) before it starts, the job told ``taken`` before the first."""

    def __init__(self, conn: socket.socket, report: socket.socket, plans: dict[str, Plan]):
        self.conn, self.report, self.plans = conn, report, plans
        self.taken = False

    def plan(self, plan_file: str) -> Plan:
        if plan_file not in self.plans:
            self.plans[plan_file] = load_plan(plan_file)
        return self.plans[plan_file]

    def run(self, plan_file: str, run_id: str, results: str) -> tuple[int, str]:
        """Compute one run: its exit code and failure line (``_JobGone`` when the job is)."""
        plan = self.plan(plan_file)
        results = os.path.abspath(results)
        timeout = timeout_of(plan, run_id)
        try:
            socket.send_fds(
                self.report,
                [f"start\t{results}\t{run_id}\t{timeout or ''}\n".encode()],
                [self.conn.fileno()],
            )
        except OSError:
            raise _PoolGone from None  # the job runs it itself
        if not self.taken:
            try:
                self.conn.sendall(b"taken\n")
            except OSError:  # the job is gone (Snakemake was stopped): run nothing
                _report_end(self.report)
                raise _JobGone from None
            self.taken = True
        try:
            outcome = execute_run(plan, run_id, results)
        finally:
            _report_end(self.report)
        line = failure_line(outcome, results)
        return (1 if line else 0), line


class _JobGone(Exception):
    """The job that asked is gone: nothing more of its work is done."""


def _batch(task: _Task, path: str, fit: Callable[[], bool]) -> tuple[int, str]:
    """A batch's runs one after another in this worker (``batches.compute_batch``). When a
    run leaves the process unfit for the next, the job is told ``NOT_HERE``: it runs the
    rest of the batch in a fresh process."""
    unfit: list[str] = []

    def execute(plan_file: str, run_id: str, results: str) -> str:
        if unfit:
            raise batches.BatchStopped(unfit[0])
        code, line = task.run(plan_file, run_id, results)
        if not fit():
            unfit.append(run_id)
        return line

    try:
        failed, total = batches.compute_batch(path, execute, progress=False)
    except batches.BatchStopped as stopped:
        return NOT_HERE, (
            f"snakesweep: run {stopped} changed what its process cannot put back: "
            "the rest of its batch runs in a fresh process"
        )
    if failed:
        return 1, (
            f"snakesweep: batch {Path(path).stem}: {len(failed)} of {total} runs failed; "
            f"the first: {failed[0].removeprefix('snakesweep: ')}"
        )
    return 0, ""


def _program(kind: str, fields: list[str]) -> tuple[int, str]:
    """The merge or the report, as ``python -m`` would run it in the job's shell (its working
    directory; the merge's stderr to its log), here where xarray and the rest are imported."""
    cwd, *args = fields
    os.chdir(cwd)
    if kind == "merge":
        plan_file, results, log = args
        argv = [plan_file, results]
        with open(log, "w", encoding="utf-8") as stream:
            os.dup2(stream.fileno(), 2)
    else:
        results, threads, log, pictures = args
        argv = [results, threads, log]
        os.environ["SNAKESWEEP_PICTURES"] = pictures
    try:
        code = importlib.import_module(PROGRAMS[kind]).main(argv)
    except Exception:  # noqa: BLE001 - as `python -m` says it, to the job's stderr or log
        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    return int(code or 0), ""


def _report_end(report: socket.socket) -> None:
    try:
        report.send(b"end\n")
    except OSError:
        pass  # the master is gone; the job still hears from this worker


def _close_quietly(*things: Any) -> None:
    for thing in things:
        try:
            if isinstance(thing, int):
                os.close(thing)
            elif thing is not None:
                thing.close()
        except OSError:
            pass


def _read_request(conn: socket.socket, token: str) -> tuple[str, list[str]]:
    conn.settimeout(10)
    request = b""
    while not request.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        request += chunk
    given, kind, *fields = request.decode().rstrip("\n").split("\t")
    if not secrets.compare_digest(given, token):
        raise PermissionError("the request did not carry the pool's token")
    if len(fields) != REQUESTS.get(kind):
        raise ValueError(f"not a request of the pool: {kind!r} with {len(fields)} fields")
    return kind, fields


def _reply(conn: socket.socket, code: int, line: str) -> None:
    try:
        conn.sendall(f"{code}\t{line}".replace("\n", " ").encode() + b"\n")
    except OSError:
        pass  # the job is gone (Snakemake was stopped)


def _warm_up(plan_file: str) -> Plan | None:
    """Import what every run needs, and the plan's experiment, before forking; the plan
    (None when it cannot be read)."""
    try:
        plan = load_plan(plan_file)
    except Exception:  # noqa: BLE001 - each run reports its own error
        return None
    warm_up(plan, store.results_of_plan(plan_file))
    return plan


def _device_options(plan_file: str) -> Options | None:
    """The plan's options (of its first run), when they give runs devices."""
    try:
        options = load_plan(plan_file).options.first()
    except Exception:  # noqa: BLE001 - the runs report what is wrong with the plan
        return None
    return options if options.devices is not None else None


def main() -> None:
    """``python -m snakesweep.execute.pool WORKERS PLAN``; the token comes on stdin's first line."""
    workers, plan_file = sys.argv[1:3]
    token = sys.stdin.buffer.readline().decode().strip()
    _serve(int(workers), plan_file, token, sys.stdin.buffer, sys.stdout.buffer)
    sys.stderr.flush()
    os._exit(0)  # the workers have ended: no interpreter teardown (xarray's and the rest's)


if __name__ == "__main__":
    main()
