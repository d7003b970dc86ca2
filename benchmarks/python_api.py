"""``snakesweep.sweep(...)`` against ``snakesweep run``, measured in the same run.

    python benchmarks/python_api.py [--runs 200] [--repeats 3]

1. The fixed cost of a call on a finished 18-run sweep (3 × 6 points, nothing to do):
   in a warm interpreter (a notebook's second call), in a fresh process (imports
   included), and ``snakesweep run`` on the same finished sweep (a fresh process, the
   baseline).
2. A sweep of ``--runs`` trivial runs, computed from scratch with ``cores=2``: from Python
   (a script calling ``snakesweep.sweep``, the function in a module of the project, so the
   two sweeps run the same code) and with ``snakesweep run``, each in a project of its
   own; the ratio Python / CLI (goal: within 10%).
3. A notebook's next sweep: in an interpreter that ran one sweep already, 9 new runs with
   Snakemake in the interpreter (what a script gets) and in a process of its own (what a
   Jupyter kernel gets, where an event loop runs), the second forced here.

Each figure is the median of ``--repeats``, the two interleaved. Times are wall times of
whole processes on this machine: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENT = """
def main(x=0, seed=0):
    return {"y": x * 10 + seed}
"""

CONFIG = "snakesweep:\n  experiment: trivial:main\nx: 0\nseed: 0\n"

CALL = """
import sys, time
t = time.perf_counter()
import snakesweep
res = snakesweep.sweep("trivial:main", ["x=range(0,{points})", "seed=range(0,{seeds})"], cores=2)
first = time.perf_counter() - t
t = time.perf_counter()
snakesweep.sweep("trivial:main", ["x=range(0,{points})", "seed=range(0,{seeds})"], cores=2)
print(first, time.perf_counter() - t, file=sys.stderr)
"""


def project(root: Path) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("results/\n.snakemake/\n")
    (root / "trivial.py").write_text(EXPERIMENT)
    (root / "conf").mkdir()
    (root / "conf" / "config.yaml").write_text(CONFIG)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "b"],
        check=True,
    )
    return root


def timed(root: Path, *argv: str) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {root}:\n{out.stderr[-3000:]}")
    return seconds, out.stderr


def python_sweep(root: Path, points: int, seeds: int) -> tuple[float, float, float]:
    """A script's two calls: the whole process, the first call, the second (warm) call."""
    (root / "call.py").write_text(CALL.format(points=points, seeds=seeds))
    seconds, err = timed(root, sys.executable, "call.py")
    first, second = map(float, err.strip().splitlines()[-1].split())
    return seconds, first, second


def cli_sweep(root: Path, points: int, seeds: int) -> float:
    return timed(
        root,
        sys.executable,
        "-m",
        "snakesweep",
        "run",
        "--cores",
        "2",
        f"x=range(0,{points})",
        f"seed=range(0,{seeds})",
    )[0]


NEXT = """
import sys, time
import snakesweep
import snakesweep.sweeps.sweep as api
if {own_process}:
    api._event_loop_running = lambda: True  # as in a Jupyter kernel: Snakemake's own process
snakesweep.sweep("trivial:main", ["x=range(0,3)", "seed=range(0,2)"], cores=2)
t = time.perf_counter()
snakesweep.sweep("trivial:main", ["x=range(10,13)", "seed=range(0,3)"], cores=2)
print(time.perf_counter() - t, file=sys.stderr)
"""

FRESH = """
import sys, time
t = time.perf_counter()
import snakesweep
snakesweep.sweep("trivial:main", ["x=range(0,6)", "seed=range(0,3)"], cores=2)
print(time.perf_counter() - t, file=sys.stderr)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seeds = 2
    points = args.runs // seeds
    fixed: dict[str, list[float]] = {"warm": [], "fresh": [], "cli again": []}
    whole: dict[str, list[float]] = {"python": [], "cli": []}
    following: dict[str, list[float]] = {"in the interpreter": [], "own process": []}
    with tempfile.TemporaryDirectory(prefix="snakesweep-python-api-") as tmp:
        for i in range(args.repeats):
            small = project(Path(tmp, f"small{i}"))
            _, _, warm = python_sweep(small, 6, 3)  # the 18-run sweep, then again, warm
            fixed["warm"].append(warm)
            (small / "fresh.py").write_text(FRESH)
            fixed["fresh"].append(float(timed(small, sys.executable, "fresh.py")[1].split()[-1]))
            fixed["cli again"].append(cli_sweep(small, 6, 3))
            order = ["python", "cli"] if i % 2 == 0 else ["cli", "python"]
            for how in order:
                root = project(Path(tmp, f"{how}{i}"))
                if how == "python":  # the process, but its second call
                    seconds, _, again = python_sweep(root, points, seeds)
                    whole["python"].append(seconds - again)
                else:
                    whole["cli"].append(cli_sweep(root, points, seeds))
            for how, own in (("in the interpreter", False), ("own process", True)):
                root = project(Path(tmp, f"next-{own}{i}"))
                (root / "next.py").write_text(NEXT.format(own_process=own))
                following[how].append(float(timed(root, sys.executable, "next.py")[1].split()[-1]))
            every = {**fixed, **whole, **following}
            print(
                f"repeat {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in every.items()),
                file=sys.stderr,
            )
    med = {k: statistics.median(v) for k, v in {**fixed, **whole, **following}.items()}
    ratio = med["python"] / med["cli"]
    print("finished 18-run sweep, nothing to do:")
    print(f"  snakesweep.sweep() again, same interpreter  {med['warm'] * 1000:8.0f} ms")
    print(f"  snakesweep.sweep() in a fresh process       {med['fresh'] * 1000:8.0f} ms")
    print(f"  `snakesweep run` (baseline)                 {med['cli again'] * 1000:8.0f} ms")
    print(f"{args.runs} trivial runs from scratch, cores=2:")
    print(f"  snakesweep.sweep()                          {med['python']:8.2f} s")
    print(f"  `snakesweep run` (baseline)                 {med['cli']:8.2f} s")
    print(f"  ratio                                       {ratio:8.3f}  (goal <= 1.10)")
    print("a next sweep of 9 new runs in an interpreter that ran one:")
    print(f"  Snakemake in the interpreter                {med['in the interpreter']:8.2f} s")
    print(f"  Snakemake in a process of its own           {med['own process']:8.2f} s")


if __name__ == "__main__":
    main()
