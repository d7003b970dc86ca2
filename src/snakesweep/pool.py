"""The warm worker pool: one process that keeps the experiment imported for a whole sweep.

Python start-up plus heavy imports (numpy, xarray, the experiment's own) cost about half a
second per run; a bare Snakemake ``shell:`` job costs ~25 ms. So a sweep started on the
local executor starts this pool once (the Snakefile's ``onstart``): it listens on
127.0.0.1, imports what the runs need, and then forks one process per run, which starts
warm in a millisecond or two. Each Snakemake job is a few lines of bash (``_client.sh``)
that send the run id with the pool's random token and wait for the reply.

A forked run shares nothing with the next one (working directory, module globals, logging
handlers), and a run that kills its process (a signal, ``os._exit``, a crash in native code)
is recorded as failed by the pool. Snakemake decides how many runs go at once (``--cores``).
The pool stops when its standard input closes: Snakemake ended, however it ended.
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

ENV = "SNAKESWEEP_POOL"
CLIENT = Path(__file__).with_name("_client.sh")


class Pool:
    """A running pool, as seen from the process that started it."""

    def __init__(self, process: subprocess.Popen[bytes], address: str) -> None:
        self.process = process
        self.address = address
        """``PORT:TOKEN``, what the clients find in ``SNAKESWEEP_POOL``."""

    def stop(self) -> None:
        """Stop the pool (and any run still going)."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_pool(plan_file: str | os.PathLike[str]) -> Pool | None:
    """Start a pool for the runs of ``plan_file``; None if it could not listen."""
    token = secrets.token_hex(16)
    process = subprocess.Popen([sys.executable, "-m", "snakesweep.pool", str(plan_file)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
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


@dataclass
class _Running:
    conn: socket.socket
    run_id: str
    results: str


def serve(plan_file: str, token: str, control: IO[bytes], announce: IO[bytes]) -> None:
    """Listen on 127.0.0.1, warm up, and fork a process per run until ``control`` closes."""
    from snakesweep.execute import failure_line, outcome_of_process, run_in_child
    from snakesweep.plan import Plan, load_plan

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)  # clients wait in the backlog while we warm up
    announce.write(f"{listener.getsockname()[1]}\n".encode())
    announce.flush()
    _warm_up(plan_file)
    plans: dict[str, Plan] = {}
    running: dict[int, _Running] = {}
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            ready, _, _ = select.select([listener.fileno(), control.fileno()], [], [], 0.2)
            if control.fileno() in ready and not os.read(control.fileno(), 4096):
                break
            if listener.fileno() in ready:
                conn, _ = listener.accept()
                try:
                    plan_file_, run_id, results = _read_request(conn, token)
                    if plan_file_ not in plans:
                        plans[plan_file_] = load_plan(plan_file_)
                    plan = plans[plan_file_]
                except Exception as exc:  # noqa: BLE001 - told to the job, which fails
                    _reply(conn, 2, f"snakesweep: {exc}")
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    run_in_child(plan, run_id, results, partial(_reply_outcome, conn, results))
                running[pid] = _Running(conn, run_id, results)
            while running:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                job = running.pop(pid)
                if os.waitstatus_to_exitcode(status) != 0 and not stopping:
                    outcome = outcome_of_process(job.results, job.run_id, pid, status)
                    _reply(job.conn, 1, failure_line(outcome, job.results))
                job.conn.close()
    finally:
        for pid in running:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in running:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        listener.close()


def _read_request(conn: socket.socket, token: str) -> tuple[str, str, str]:
    conn.settimeout(10)
    request = b""
    while not request.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        request += chunk
    given, plan_file, run_id, results = request.decode().rstrip("\n").split("\t")
    if not secrets.compare_digest(given, token):
        raise PermissionError("the request did not carry the pool's token")
    return plan_file, run_id, results


def _reply_outcome(conn: socket.socket, results: str, outcome: Any) -> None:
    from snakesweep.execute import failure_line

    _reply(conn, 1 if outcome.status == "failed" else 0, failure_line(outcome, results))


def _reply(conn: socket.socket, code: int, line: str) -> None:
    try:
        conn.sendall(f"{code}\t{line}".replace("\n", " ").encode() + b"\n")
    except OSError:
        pass  # the job is gone (Snakemake was stopped)


def _warm_up(plan_file: str) -> None:
    """Import what every run needs, and the plan's experiment, before forking."""
    import netCDF4  # noqa: F401
    import numpy  # noqa: F401
    import omegaconf  # noqa: F401
    import xarray  # noqa: F401
    import yaml  # noqa: F401

    from snakesweep.errors import SnakesweepError
    from snakesweep.execute import load_experiment
    from snakesweep.plan import load_plan

    try:
        plan = load_plan(plan_file)
        for run_id in plan.run_ids[:1]:
            load_experiment(plan.experiment_of(run_id))
    except (OSError, SnakesweepError):
        pass  # each run reports its own error


def main() -> None:
    """``python -m snakesweep.pool PLAN``; the token comes on the first line of stdin."""
    token = sys.stdin.buffer.readline().decode().strip()
    serve(sys.argv[1], token, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
