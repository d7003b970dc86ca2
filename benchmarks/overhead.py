"""Per-run overhead through `snakemake --cores 2`: snakesweep, a bare `shell:` job, a `script:` job.

Each workflow runs N1 and N2 trivial jobs in fresh directories, REPEATS times interleaved;
the per-run overhead is the slope (median T(N2) - median T(N1)) / (N2 - N1), so fixed costs
(Snakemake start-up, the worker pool's warm-up) drop out; the final merge, which grows with
the runs, stays in. The experiment imports xarray and returns one number; the script: job
imports xarray and writes the same NetCDF.

    python benchmarks/overhead.py [--n1 10] [--n2 210] [--script-n2 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BARE = """
rule all:
    input: expand("out/{i}.txt", i=range(config["count"]))

rule job:
    output: "out/{i}.txt"
    shell: "touch {output}"
"""

SCRIPT = """
rule all:
    input: expand("out/{i}.nc", i=range(config["count"]))

rule job:
    output: "out/{i}.nc"
    script: "write.py"
"""

WRITE = """
import xarray as xr
xr.Dataset({"y": int(snakemake.wildcards.i)}).to_netcdf(snakemake.output[0], engine="netcdf4")
"""

EXPERIMENT = """
import xarray as xr


def main(cfg):
    return {"y": cfg.x}
"""

CONFIG = """
snakesweep:
  experiment: trivial:main
x: 0
"""


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run_plain(snakefile: str, n: int, extra: dict[str, str] | None = None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "Snakefile").write_text(textwrap.dedent(snakefile))
        for name, text in (extra or {}).items():
            (root / name).write_text(text)
        return timed(
            [
                sys.executable,
                "-m",
                "snakemake",
                "--cores",
                "2",
                "--config",
                f"count={n}",
                "-q",
                "all",
            ],
            root,
        )


def run_snakesweep(n: int) -> float:
    from snakesweep.snakemake.workflow import SNAKEFILE

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "conf").mkdir()
        (root / "conf" / "config.yaml").write_text(CONFIG)
        (root / "trivial.py").write_text(EXPERIMENT)
        (root / "invocation.yaml").write_text(f"snakesweep:\n  overrides: ['x=range(0,{n})']\n")
        # the plan is made once before timing, as `snakesweep run` does
        subprocess.run(
            [sys.executable, "-m", "snakesweep", "plan", f"x=range(0,{n})"],
            cwd=root,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return timed(
            [
                sys.executable,
                "-m",
                "snakemake",
                "--snakefile",
                SNAKEFILE,
                "--configfile",
                "invocation.yaml",
                "--cores",
                "2",
                "-q",
            ],
            root,
        )


def slope(fn, n1: int, n2: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    small, large = [], []
    for _ in range(repeats):
        small.append(fn(n1))
        large.append(fn(n2))
    return (statistics.median(large) - statistics.median(small)) / (n2 - n1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n1", type=int, default=10)
    parser.add_argument("--n2", type=int, default=210)
    parser.add_argument("--script-n2", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    r = args.repeats
    bare = slope(lambda n: run_plain(BARE, n), args.n1, args.n2, r)
    ours = slope(run_snakesweep, args.n1, args.n2, r)
    script = slope(lambda n: run_plain(SCRIPT, n, {"write.py": WRITE}), args.n1, args.script_n2, r)
    print(
        f"per-run overhead through snakemake --cores 2 (slope between {args.n1} and {args.n2} runs)"
    )
    print(f"  bare shell: job          {bare * 1000:8.1f} ms")
    print(f"  snakesweep (warm pool)   {ours * 1000:8.1f} ms")
    print(f"  script: job (xarray)     {script * 1000:8.1f} ms")
    print(f"snakesweep / bare shell    {ours / bare:8.2f}x   (goal <= 1.5x)")
    print(f"script / snakesweep        {script / ours:8.1f}x   (goal >= 10x)")


if __name__ == "__main__":
    main()
