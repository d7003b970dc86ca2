"""The warm worker pool: processes that keep the experiment imported for a whole sweep.

Python start-up plus heavy imports (numpy, xarray, the experiment's own) cost about half a
second per run; a bare Snakemake ``shell:`` job costs ~30 ms. So a sweep started on the
local executor starts this pool once (the Snakefile's ``onstart``): a master process binds a
Unix socket, imports what the runs need, and forks one worker per core. Each Snakemake job
is a tiny client (``_client.py``) that sends its run id over the socket and waits; the
worker runs the config with ``execute_run`` exactly as the in-process fallback would.

The master stops when its standard input closes (Snakemake ended, however it ended), and
replaces a worker that dies.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

ENV = "SNAKESWEEP_POOL"
CLIENT = Path(__file__).with_name("_client.py")


class Pool:
    """A running pool, as seen from the process that started it."""

    def __init__(self, process: subprocess.Popen[bytes], address: str) -> None:
        self.process = process
        self.address = address

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
        Path(self.address).unlink(missing_ok=True)
        try:
            Path(self.address).parent.rmdir()
        except OSError:
            pass


def start_pool(workers: int, plan_file: str | os.PathLike[str], wait: float = 10.0) -> Pool:
    """Start a pool of ``workers`` processes and wait until its socket accepts connections."""
    address = os.path.join(tempfile.mkdtemp(prefix="snakesweep-"), "pool.sock")
    process = subprocess.Popen(
        [sys.executable, "-m", "snakesweep.pool", address, str(workers), str(plan_file)],
        stdin=subprocess.PIPE,
    )
    deadline = time.monotonic() + wait
    while not os.path.exists(address):
        if process.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return Pool(process, address)


def serve(address: str, workers: int, plan_file: str, control: IO[bytes]) -> None:
    """Bind ``address``, warm up, fork ``workers`` and serve until ``control`` closes."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address + ".tmp")
    listener.listen(512)
    os.rename(address + ".tmp", address)  # clients wait in the backlog while we warm up
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
                    _work(listener, master)
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
        Path(address).unlink(missing_ok=True)


def _warm_up(plan_file: str) -> None:
    """Import what every run needs, and the plan's experiments, before forking."""
    import h5netcdf  # noqa: F401
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


def _work(listener: socket.socket, master: int) -> None:
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
                plan_file, run_id, results = request.decode().rstrip("\n").split("\0")
                if plan_file not in plans:
                    plans[plan_file] = load_plan(plan_file)
                outcome = execute_run(plans[plan_file], run_id, results)
                line = failure_line(outcome, results)
                reply = f"{1 if line else 0}\0{line}"
            except Exception as exc:  # noqa: BLE001 - reported to the job, which fails
                reply = f"2\0snakesweep: {exc}"
            conn.sendall(reply.encode())


def main() -> None:
    address, workers, plan_file = sys.argv[1:4]
    serve(address, int(workers), plan_file, sys.stdin.buffer)


if __name__ == "__main__":
    main()
