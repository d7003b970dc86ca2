"""The live view's cost and delay: a 200-run sweep through `snakesweep run --cores 2`, with
`--view` and without, interleaved, in fresh directories.

The viewer is rerun's own gRPC server saving what it receives (`rerun --save`), started here
in its own process group. The delay is what `snakesweep run --view` reports at its end: for
each run of the invocation, the time from its commit (its `meta.json` written) to the flush
that put it in the stream. The overhead is the ratio of median wall times.

    python benchmarks/live.py [--runs 200] [--repeats 3] [--sleep 0.05]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENT = """
import time

import numpy as np


def main(cfg):
    time.sleep(cfg.sleep)
    return {"y": float(cfg.x) * cfg.lr, "curve": np.arange(5) * cfg.lr}
"""

SUMMARY = re.compile(
    r"live view: (\d+) runs in (\d+) updates \(([\d.]+) s\); "
    r"a run was in the stream ([\d.]+) s after it ended "
    r"\(median; max ([\d.]+) s\)"
)


def project(root: Path, runs: int, sleep: float) -> Path:
    """A sweep of ``runs`` points over two dimensions (x × lr), each sleeping ``sleep``."""
    root.mkdir(parents=True)
    (root / "conf").mkdir()
    lrs = 4
    (root / "conf" / "config.yaml").write_text(
        f"snakesweep:\n  experiment: liveexp:main\nx: 0\nlr: 0.1\nsleep: {sleep}\n"
        f"hydra:\n  sweeper:\n    params:\n      x: range(0,{runs // lrs})\n"
        f"      lr: {','.join(str(0.1 * (i + 1)) for i in range(lrs))}\n"
    )
    (root / "liveexp.py").write_text(EXPERIMENT)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sweep(root: Path, view: str | None) -> tuple[float, str]:
    """Wall time of one `snakesweep run --cores 2` (with ``--view view``) and its stderr."""
    command = [sys.executable, "-m", "snakesweep", "run", "--cores", "2"]
    command += ["--view", view] if view else []
    start = time.perf_counter()
    out = subprocess.run(command, cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"snakesweep run failed in {root}:\n{out.stderr[-3000:]}")
    return wall, out.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.05)
    args = parser.parse_args()
    os.environ["CI"] = "true"  # rerun's analytics off
    plain: list[float] = []
    viewed: list[float] = []
    medians: list[float] = []
    maxima: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            wall, _ = sweep(project(Path(tmp, f"plain{i}"), args.runs, args.sleep), None)
            plain.append(wall)
            port = free_port()
            server = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("rerun")),
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    str(Path(tmp, f"stream{i}.rrd")),
                ],
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                time.sleep(2)  # the server listens
                wall, err = sweep(
                    project(Path(tmp, f"view{i}"), args.runs, args.sleep),
                    f"rerun+http://127.0.0.1:{port}/proxy",
                )
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait()
            viewed.append(wall)
            found = SUMMARY.search(err)
            if not found:
                sys.exit("no live view summary in the output:\n" + err[-2000:])
            shown, updates, busy = int(found[1]), int(found[2]), float(found[3])
            medians.append(float(found[4]))
            maxima.append(float(found[5]))
            print(
                f"repeat {i + 1}: without --view {plain[-1]:.1f} s, with {wall:.1f} s; "
                f"{shown} runs shown in {updates} updates ({busy:.1f} s), delay median "
                f"{medians[-1]:.2f} s, max {maxima[-1]:.2f} s",
                flush=True,
            )
    base, live = statistics.median(plain), statistics.median(viewed)
    print(f"\n{args.runs} runs, --cores 2, {args.repeats} repeats interleaved")
    print(
        f"wall time: without --view {base:.1f} s, with --view {live:.1f} s (median): "
        f"{live / base:.3f}× ({(live / base - 1) * 100:+.1f}%; goal ≤ +10%)"
    )
    print(
        f"run ended → in the stream: median {statistics.median(medians):.2f} s "
        f"(goal ≤ 0.5 s), worst max {max(maxima):.2f} s"
    )


if __name__ == "__main__":
    main()
