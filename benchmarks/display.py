"""The sweep's progress display (``snakemake --logger snakesweep``): what it prints and what
it costs, measured in the same run.

    python benchmarks/display.py [--runs 200] [--repeats 3]

1. Lines: the shipped example (this repository's ``conf/`` and ``workflow/``, 18 runs) with
   plain ``snakemake --cores 2``, from scratch: before (the repository's profile without
   its ``logger:`` line: Snakemake's own output) and after (the display); each off a
   terminal (stderr to a pipe: the lines counted) and on one (a pty: the lines left on the
   screen, replayed by pyte, and the bytes written).
2. Overhead: a sweep of ``--runs`` trivial runs with ``snakesweep run --cores 2``, from
   scratch, each in a project of its own: with the display off a terminal, with it on a
   terminal (a pty), and Snakemake's own output silenced (``-v -- --quiet all``: the
   baseline, no display at all). Ratios against the baseline (goal: ≤ 1.03).

Each time is the median of ``--repeats``, the variants interleaved. Times are wall times
of whole processes on this machine: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pyte

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = "def main(cfg):\n    return {'y': cfg.x * 10 + cfg.seed}\n"
CONFIG = (
    "snakesweep:\n  experiment: trivial:main\n  domain:\n    x: range(0,{points})\n"
    "    seed: range(0,{seeds})\nx: 0\nseed: 0\n"
)


def git_project(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("results/\n.snakemake/\n")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "b"],
        check=True,
    )
    return root


def shipped(root: Path, display: bool) -> Path:
    root.mkdir(parents=True)
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copytree(REPO / "workflow", root / "workflow")
    if not display:
        profile = root / "workflow" / "profiles" / "default" / "config.yaml"
        kept = [line for line in profile.read_text().splitlines() if not line.startswith("logger:")]
        profile.write_text("\n".join(kept) + "\n")
    return git_project(root)


def trivial(root: Path, runs: int) -> Path:
    root.mkdir(parents=True)
    (root / "trivial.py").write_text(EXPERIMENT)
    (root / "conf").mkdir()
    (root / "conf" / "config.yaml").write_text(CONFIG.format(points=runs // 10, seeds=10))
    return git_project(root)


def piped(command: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return took, out.stdout + out.stderr


def on_terminal(command: list[str], cwd: Path, columns: int = 120) -> tuple[float, str]:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = process.wait()
    took = time.perf_counter() - start
    raw = b"".join(chunks).decode("utf-8", errors="replace")
    if code != 0:
        sys.exit(f"{' '.join(command)} failed:\n{raw[-3000:]}")
    return took, raw


def screen_lines(raw: str, columns: int = 120) -> int:
    screen = pyte.Screen(columns, 5000)
    pyte.Stream(screen).feed(raw)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return len(lines)


def lines_of_the_shipped_example(base: Path) -> None:
    snakemake = [sys.executable, "-m", "snakemake", "--cores", "2"]
    print("shipped example, `snakemake --cores 2` from scratch (18 runs):")
    print(f"{'':28}{'off a terminal':>16}{'on a terminal':>16}{'bytes (terminal)':>18}")
    for name, display in (("Snakemake's output (before)", False), ("the display (after)", True)):
        _, text = piped(snakemake, shipped(base / f"piped-{display}", display))
        _, raw = on_terminal(snakemake, shipped(base / f"tty-{display}", display))
        print(
            f"{name:28}{len(text.splitlines()):>16}{screen_lines(raw):>16}{len(raw.encode()):>18}"
        )


def overhead(base: Path, runs: int, repeats: int) -> None:
    run = [sys.executable, "-m", "snakesweep", "run", "--cores", "2"]
    variants = {
        "quiet (baseline)": (piped, [*run, "-v", "--", "--quiet", "all"]),
        "display, off a terminal": (piped, run),
        "display, on a terminal": (on_terminal, run),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(repeats):
        for i, (name, (how, command)) in enumerate(variants.items()):
            project = trivial(base / f"sweep-{i}-{repeat}", runs)
            took, _ = how(command, project)
            times[name].append(took)
    baseline = statistics.median(times["quiet (baseline)"])
    print(f"\n{runs} trivial runs, `snakesweep run --cores 2` from scratch (median of {repeats}):")
    for name, taken in times.items():
        median = statistics.median(taken)
        print(f"  {name:26}{median:7.2f} s   ×{median / baseline:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="snakesweep-display-") as tmp:
        lines_of_the_shipped_example(Path(tmp))
        overhead(Path(tmp), args.runs, args.repeats)


if __name__ == "__main__":
    main()
