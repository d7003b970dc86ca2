"""snakesweep beside xyzpy and Hydra's launchers: the same sweeps, interleaved, ratios in one run.

Every tool computes the same function, `f(x, y, work)`: `work` seconds of CPU in a busy loop,
then a number and a 100-point curve (a numpy array), over the grid x = 0..N/2-1 × y = 1, 2,
on 2 cores. Each timing is one fresh process in a fresh directory (`git init`ed), its
start-up included, as a user runs it. The tools (columns):

- snakesweep: `python -m snakesweep run 'x=range(0,K)' 'y=1,2' --cores 2`, the experiment
  returning `{"value": …, "curve": …}`, merged into results/sweep.nc;
- the same with `--batch auto` (pending runs in batches, one wave of jobs);
- xyzpy: `Harvester(Runner(f, …), data_name="sweep.h5").harvest_combos(…, missing_only=True,
  num_workers=2)` in a script (2 loky processes; the results merged into sweep.h5, only the
  combos missing from it computed);
- Hydra's BasicLauncher: `python app.py -m 'x=range(0,K)' 'y=1,2'`, the jobs one after
  another in the app's process (2 cores or not);
- Hydra's joblib launcher: `hydra/launcher=joblib hydra.launcher.n_jobs=2`;
- snakesweep's Hydra launcher: `hydra/launcher=snakesweep hydra.launcher.cores=2`;
- Snakemake's floor: bare `snakemake --cores 2 --scheduler greedy` on a Snakefile of one
  `shell:` job per point that writes a line (no Python per job, no work, nothing merged):
  what any tool that keeps Snakemake as its engine pays at least. Not timed on W2.

Hydra's launchers return each job's result to the app; they store and merge nothing.

The figures (rows), medians of REPEATS, each with its ratio to the first tool (snakesweep):

- W1: N2 trivial points (work 0): the total; the per-run slope (T(N2) - T(N1)) / (N2 - N1);
  the fixed start-up T(N1) - slope × N1;
- W2: WORK_POINTS points of WORK s of CPU each (100 × 50 ms: 2.5 s on 2 cores, ideally);
- the finished N2-point sweep again (nothing to compute);
- 20 more points (x up to N2/2 + 9) for the finished N2-point sweep.

Hydra's Basic and joblib launchers keep no record of finished jobs: for the last two they
would recompute every point (row 1's cost), so they are not timed there.

Within each repeat the tools take turns on each workload, their order rotating from repeat
to repeat. The load average is printed at the start and the end: the figures depend on it.
xyzpy and hydra-joblib-launcher are benchmark-only dependencies: `pip install -e '.[bench]'`.

    python benchmarks/peers.py [--n1 40] [--n2 200] [--work-points 100] [--work 0.05]
                               [--repeats 3] [--only snakesweep,xyzpy,...] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TASK = """
import time

import numpy as np


def f(x, y, work):
    end = time.thread_time() + work
    while time.thread_time() < end:
        pass
    return float(x * y), np.sin(np.linspace(0.0, 1.0, 100) * x) * y


def main(cfg):
    value, curve = f(cfg.x, cfg.y, cfg.work)
    return {"value": value, "curve": curve}
"""

CONFIG = """
snakesweep:
  experiment: peer_task:main
x: 0
y: 1
work: 0.0
"""

APP = """
import hydra

from peer_task import f


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    value, curve = f(cfg.x, cfg.y, cfg.work)
    return {"value": value, "curve": curve}


if __name__ == "__main__":
    main()
"""

XYZ = """
import sys

import numpy as np
import xyzpy as xyz

from peer_task import f


def main():
    k, work = int(sys.argv[1]), float(sys.argv[2])
    runner = xyz.Runner(
        f,
        var_names=["value", "curve"],
        var_dims={"curve": ["t"]},
        var_coords={"t": np.arange(100)},
        constants={"work": work},
    )
    harvester = xyz.Harvester(runner, data_name="sweep.h5")
    harvester.harvest_combos(
        {"x": range(k), "y": [1, 2]}, missing_only=True, num_workers=2, verbosity=0
    )


if __name__ == "__main__":
    main()
"""

FLOOR = """
K = int(config["half"])


rule all:
    input:
        expand("floor/{x}_{y}.txt", x=range(K), y=(1, 2)),


rule point:
    output:
        "floor/{x}_{y}.txt",
    shell:
        "echo {wildcards.x} {wildcards.y} > {output}"
"""

FILES = {
    "peer_task.py": TASK,
    "Snakefile": FLOOR,
    "conf/config.yaml": CONFIG,
    "app.py": APP,
    "xyz_sweep.py": XYZ,
}


@dataclass(frozen=True)
class Tool:
    name: str
    # the command for a sweep over x = 0..k-1, y = 1, 2 of `work` s a point; `label` names
    # the invocation (Hydra's sweep directory)
    command: Callable[[int, float, str], list[str]]
    resumes: bool  # keeps finished points: a re-run computes only what is missing
    pythonpath: str | None = None  # where its snakesweep comes from, when not installed
    works: bool = True  # computes f: timed on W2


def snakesweep_run(*options: str) -> Callable[[int, float, str], list[str]]:
    def command(k: int, work: float, label: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "snakesweep",
            "run",
            f"x=range(0,{k})",
            "y=1,2",
            f"work={work}",
            "--cores",
            "2",
            *options,
        ]

    return command


def hydra_app(*launcher: str) -> Callable[[int, float, str], list[str]]:
    def command(k: int, work: float, label: str) -> list[str]:
        return [
            sys.executable,
            "app.py",
            "-m",
            *launcher,
            f"x=range(0,{k})",
            "y=1,2",
            f"work={work}",
            f"hydra.sweep.dir=multirun/{label}",
        ]

    return command


def xyzpy_script(k: int, work: float, label: str) -> list[str]:
    return [sys.executable, "xyz_sweep.py", str(k), str(work)]


def snakemake_floor(k: int, work: float, label: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        "--scheduler",
        "greedy",
        "--config",
        f"half={k}",  # a one-letter key is refused by Snakemake
        "--quiet",  # last: it takes values
    ]


TOOLS = {
    "snakesweep": Tool("snakesweep", snakesweep_run(), True),
    "batch-auto": Tool("--batch auto", snakesweep_run("--batch", "auto"), True),
    "xyzpy": Tool("xyzpy", xyzpy_script, True),
    "hydra-basic": Tool("Hydra basic", hydra_app(), False),
    "hydra-joblib": Tool(
        "Hydra joblib", hydra_app("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"), False
    ),
    "hydra-snakesweep": Tool(
        "Hydra snakesweep",
        hydra_app("hydra/launcher=snakesweep", "hydra.launcher.cores=2"),
        True,
    ),
    "snakemake-floor": Tool("Snakemake floor", snakemake_floor, True, works=False),
    # not by default: snakesweep of another source tree (SNAKESWEEP_BEFORE=…/src), e.g. a
    # `git archive` of an earlier commit, beside the installed one in the same run
    "before": Tool("before", snakesweep_run(), True, os.environ.get("SNAKESWEEP_BEFORE")),
}
DEFAULT = [name for name in TOOLS if name != "before"]


def project(root: Path) -> Path:
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text.lstrip())
    subprocess.run(["git", "init", "-q", "."], cwd=root, check=True)
    return root


def timed(tool: Tool, root: Path, k: int, work: float, label: str, timeout: float) -> float:
    """Seconds the command took; NaN (told on stderr, left out of the medians) if it failed
    or was still running after `timeout` s (then it is killed, with its process group)."""
    command = tool.command(k, work, label)
    start = time.perf_counter()
    env = dict(os.environ)
    if tool.pythonpath:
        env["PYTHONPATH"] = tool.pythonpath
    process = subprocess.Popen(
        command,
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        err += f"\n(killed after {timeout:g} s)"
    seconds = time.perf_counter() - start
    if process.returncode:
        print(
            f"{tool.name} failed ({' '.join(command)}):", out[-1500:], err[-1500:], file=sys.stderr
        )
        return math.nan
    return seconds


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cores)"


def measure(tools: list[Tool], args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Seconds per tool and workload: 'n1', 'n2', 'again', 'more', 'work'."""
    times: dict[str, dict[str, list[float]]] = {t.name: {} for t in tools}

    def note(tool: Tool, what: str, seconds: float) -> None:
        times[tool.name].setdefault(what, []).append(seconds)
        print(f"  {tool.name:18s}{what:6s}{seconds:8.2f} s", file=sys.stderr, flush=True)

    for r in range(args.repeats):
        print(f"repeat {r + 1} of {args.repeats}, load {load()}", file=sys.stderr, flush=True)
        order = tools[r % len(tools) :] + tools[: r % len(tools)]
        for tool in order:
            with tempfile.TemporaryDirectory() as tmp:
                note(
                    tool,
                    "n1",
                    timed(tool, project(Path(tmp)), args.n1 // 2, 0.0, "n1", args.timeout),
                )
        for tool in order:
            with tempfile.TemporaryDirectory() as tmp:
                root = project(Path(tmp))
                note(tool, "n2", timed(tool, root, args.n2 // 2, 0.0, "n2", args.timeout))
                if tool.resumes:
                    note(tool, "again", timed(tool, root, args.n2 // 2, 0.0, "again", args.timeout))
                    note(
                        tool,
                        "more",
                        timed(tool, root, args.n2 // 2 + 10, 0.0, "more", args.timeout),
                    )
        for tool in order:
            if not tool.works:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                root = project(Path(tmp))
                note(
                    tool,
                    "work",
                    timed(tool, root, args.work_points // 2, args.work, "work", args.timeout),
                )
    return times


def median(times: list[float]) -> float:
    """The median of the timings that did not fail."""
    done = [t for t in times if not math.isnan(t)]
    return statistics.median(done) if done else math.nan


def figures(tool_times: dict[str, list[float]], n1: int, n2: int) -> dict[str, float | None]:
    """The rows' figures for one tool, in seconds; None where it was not timed, NaN where
    every attempt failed."""
    med = {what: median(ts) for what, ts in tool_times.items()}
    slope = (med["n2"] - med["n1"]) / (n2 - n1)
    return {
        "total": med["n2"],
        "slope": slope,
        "startup": med["n1"] - slope * n1,
        "work": med.get("work"),
        "again": med.get("again"),
        "more": med.get("more"),
    }


def table(
    tools: list[Tool], times: dict[str, dict[str, list[float]]], args: argparse.Namespace
) -> str:
    rows = [
        ("total", f"W1: {args.n2} trivial points", 1.0, "s"),
        ("slope", "W1: per-run slope", 1000.0, "ms"),
        ("startup", f"W1: start-up (at {args.n1})", 1.0, "s"),
        ("work", f"W2: {args.work_points} x {args.work * 1000:g} ms CPU", 1.0, "s"),
        ("again", f"finished {args.n2} again", 1.0, "s"),
        ("more", f"+20 points to {args.n2}", 1.0, "s"),
    ]
    results = {t.name: figures(times[t.name], args.n1, args.n2) for t in tools}
    base = results[tools[0].name]
    width = 20
    lines = [f"{'':30s}" + "".join(f"{t.name:>{width}s}" for t in tools)]
    for key, title, scale, unit in rows:
        cells = []
        for t in tools:
            value = results[t.name][key]
            if value is None:
                cells.append(f"{'recomputes all' if key != 'work' else 'not timed':>{width}s}")
                continue
            if math.isnan(value):
                cells.append(f"{'failed':>{width}s}")
                continue
            ref = base[key]
            ratio = f"{value / ref:6.2f}x" if ref and not math.isnan(ref) else "      -"
            cells.append(f"{value * scale:8.2f} {unit:2s} {ratio}".rjust(width))
        lines.append(f"{title:30s}" + "".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n1", type=int, default=40, help="points of W1's small sweep")
    parser.add_argument("--n2", type=int, default=200, help="points of W1's large sweep")
    parser.add_argument("--work-points", type=int, default=100, help="points of W2")
    parser.add_argument("--work", type=float, default=0.05, help="CPU seconds a W2 point")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--timeout", type=float, default=300, help="s before an invocation counts as failed"
    )
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comma-separated tools, the first the baseline (default: {','.join(DEFAULT)}; "
        "before: the snakesweep of SNAKESWEEP_BEFORE=…/src)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: --n2 100, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.n2, args.repeats = 100, 1
    if args.n1 % 2 or args.n2 % 2 or args.work_points % 2 or not 0 < args.n1 < args.n2:
        parser.error("the points (x × y = 1, 2) must be even, and 0 < --n1 < --n2")
    unknown = set(args.only.split(",")) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools {', '.join(sorted(unknown))}; known: {', '.join(TOOLS)}")
    tools = [TOOLS[name] for name in args.only.split(",")]

    print(f"load average at start: {load()}")
    start = time.perf_counter()
    times = measure(tools, args)
    print(
        f"median of {args.repeats}, each a fresh process in a fresh directory on 2 cores; "
        f"ratios to {tools[0].name}"
    )
    print(table(tools, times, args))
    if not all(t.resumes for t in tools):
        print(
            "recomputes all: the launcher keeps no record of finished jobs, the command costs "
            "as much as the first time (row 1)"
        )
    print(f"load average at end: {load()}; {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
