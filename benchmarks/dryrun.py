"""`snakemake -n` on a 10,000-run sweep: snakesweep's rules vs a bare Paramspace workflow.

    python benchmarks/dryrun.py [--repeats 3]

Both plan the same 10,000 jobs (4 models x 50 learning rates x 50 seeds). snakesweep's plan
is cached first, as after any earlier `snakesweep plan` or parse.
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

PARAMSPACE = """
import pandas as pd
from snakemake.utils import Paramspace

paramspace = Paramspace(pd.DataFrame(
    [{"model": f"m{m}", "lr": lr, "seed": s}
     for m in range(4) for lr in range(1, 51) for s in range(50)]))

rule all:
    input: expand("results/{params}/result.nc", params=paramspace.instance_patterns)

rule simulate:
    output: f"results/{paramspace.wildcard_pattern}/result.nc"
    params: simulation=paramspace.instance
    shell: "touch {output}"
"""

CONFIG = """
defaults:
  - model: m0
  - _self_
snakesweep:
  experiment: trivial:main
optimizer:
  lr: 0.1
seed: 0
"""

INVOCATION = """
snakesweep:
  overrides: ["model=m0,m1,m2,m3", "optimizer.lr=range(1,51)", "seed=range(0,50)"]
"""


def dry_run(cwd: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-q", "--cores", "1", *args],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    from snakesweep.snakemake.workflow import SNAKEFILE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        bare, ours = Path(a), Path(b)
        (bare / "Snakefile").write_text(textwrap.dedent(PARAMSPACE))
        (ours / "conf" / "model").mkdir(parents=True)
        (ours / "conf" / "config.yaml").write_text(textwrap.dedent(CONFIG))
        for i in range(4):
            (ours / "conf" / "model" / f"m{i}.yaml").write_text(f"name: m{i}\n")
        (ours / "invocation.yaml").write_text(textwrap.dedent(INVOCATION))
        snakesweep = ("--snakefile", SNAKEFILE, "--configfile", "invocation.yaml")
        dry_run(ours, *snakesweep)  # makes and caches the plan
        times_bare, times_ours = [], []
        for _ in range(args.repeats):
            times_bare.append(dry_run(bare))
            times_ours.append(dry_run(ours, *snakesweep))
    tb, to = statistics.median(times_bare), statistics.median(times_ours)
    print(f"snakemake -n on 10,000 runs (median of {args.repeats})")
    print(f"  Paramspace workflow      {tb:8.2f} s")
    print(f"  snakesweep               {to:8.2f} s")
    print(f"snakesweep / Paramspace    {to / tb:8.2f}x   (goal <= 1.3x)")


if __name__ == "__main__":
    main()
