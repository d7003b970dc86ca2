"""The warm worker pool: processes that keep the experiment imported for a whole sweep.

Python start-up plus heavy imports (numpy, xarray, the experiment's own) cost about half a
second per run; a bare Snakemake ``shell:`` job costs ~25 ms. So a sweep started on the
local executor starts this pool once (the Snakefile's ``onstart``): a master process listens
on 127.0.0.1, imports what the runs need, and forks one worker per core. Each Snakemake job
is a few lines of bash (``_client.sh``) that send the run id, with the pool's random token,
and wait; the worker runs the config with ``execute_run`` exactly as the in-process
fallback would.

The master stops when its standard input closes (Snakemake ended, however it ended), and
replaces a worker that dies.
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import socket
import subprocess
import sys
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
        """Stop the workers and remove the socket."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_pool(workers: int, plan_file: str | os.PathLike[str]) -> Pool | None:
    """Start a pool of ``workers`` processes; None if it could not listen."""
    token = secrets.token_hex(16)
    process = subprocess.Popen(
        [sys.executable, "-m", "snakesweep.pool", str(workers), str(plan_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
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


def serve(workers: int, plan_file: str, token: str, control: IO[bytes],
          announce: IO[bytes]) -> None:
    """Listen on 127.0.0.1, warm up, fork ``workers`` and serve until ``control`` closes."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)  # clients wait in the backlog while we warm up
    announce.write(f"{listener.getsockname()[1]}\n".encode())
    announce.flush()
    _warm_up(plan_file)
    master = os.getpid()
    children: set[int] = set()
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            while len(children) < workers:
                pid = os.fork()
                if pid == 0:
                    _work(listener, master, token)
                    os._exit(0)
                children.add(pid)
            ready, _, _ = select.select([control], [], [], 0.5)
            if ready and not os.read(control.fileno(), 4096):
                break
            while children:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                children.discard(pid)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        listener.close()


def _warm_up(plan_file: str) -> None:
    """Import what every run needs, and the plan's experiments, before forking."""
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
        for spec in {plan.experiment_of(r) for r in plan.run_ids[:1]}:
            load_experiment(spec)
    except (OSError, SnakesweepError):
        pass  # each run reports its own error


def _work(listener: socket.socket, master: int, token: str) -> None:
    """A worker: take one run at a time from the socket until the master goes away."""
    from snakesweep.execute import execute_run, failure_line
    from snakesweep.plan import Plan, load_plan

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener.settimeout(1.0)
    plans: dict[str, Plan] = {}
    while os.getppid() == master:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(None)
            request = b""
            while not request.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                request += chunk
            try:
                given, plan_file, run_id, results = request.decode().rstrip("\n").split("\t")
                if not secrets.compare_digest(given, token):
                    raise PermissionError("the request did not carry the pool's token")
                if plan_file not in plans:
                    plans[plan_file] = load_plan(plan_file)
                outcome = execute_run(plans[plan_file], run_id, results)
                line = failure_line(outcome, results)
                reply = f"{1 if line else 0}\t{line}"
            except Exception as exc:  # noqa: BLE001 - reported to the job, which fails
                reply = f"2\tsnakesweep: {exc}"
            conn.sendall(reply.replace("\n", " ").encode() + b"\n")


def main() -> None:
    """``python -m snakesweep.pool WORKERS PLAN``; the token comes on the first line of stdin."""
    workers, plan_file = sys.argv[1:3]
    token = sys.stdin.buffer.readline().decode().strip()
    serve(int(workers), plan_file, token, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
