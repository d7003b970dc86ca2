"""The per-job client: hands one run to the warm worker pool and waits for it.

Snakemake starts this once per run as ``python -S -I _client.py RUN_ID``, with the plan file
and the results directory in ``SNAKESWEEP_PLAN`` and ``SNAKESWEEP_RESULTS``.
It imports nothing but the standard library (no site-packages, no snakesweep), so a job
costs little more than a bare ``shell:`` job. With no pool to reach (a cluster node, a
pool not started), it replaces itself with the in-process fallback
``python -m snakesweep.execute``, which writes the same run directory.
"""

import os
import socket
import sys


def main() -> int:
    run_id = sys.argv[1]
    plan, results = os.environ["SNAKESWEEP_PLAN"], os.environ["SNAKESWEEP_RESULTS"]
    address = os.environ.get("SNAKESWEEP_POOL")
    if address:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
        else:
            with sock:
                sock.sendall("\0".join((plan, run_id, results)).encode() + b"\n")
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
            if not reply:
                print(f"snakesweep: run {run_id}: the worker running it died "
                      "(see its stderr.log in the run's draft directory)", file=sys.stderr)
                return 1
            code, _, line = reply.decode(errors="replace").partition("\0")
            if line:
                print(line, file=sys.stderr)
            return int(code)
    os.execv(sys.executable,
             [sys.executable, "-m", "snakesweep.execute", plan, run_id, results])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
