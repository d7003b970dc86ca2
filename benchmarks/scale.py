"""A 100,000-run sweep: its plan (cold and cached) and `snakemake -n` on it (time, peak memory),
against a bare Paramspace workflow's `snakemake -n` measured in the same run.

    python benchmarks/scale.py [--points 100000] [--baseline-points 50000]

Goals (issue 11): plan ≤ 10 s cold, ≤ 1 s cached; `snakemake -n` ≤ 20 s and ≤ 1 GB resident
(past snakesweep.batches.MAX_JOBS pending runs its jobs are batches, so the DAG stays small).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PARAMSPACE = """
import pandas as pd
from snakemake.utils import Paramspace

paramspace = Paramspace(pd.DataFrame(
    [{{"model": f"m{{m}}", "lr": lr, "seed": s}}
     for m in range(4) for lr in range(1, 51) for s in range({seeds})]))

rule all:
    input: expand("results/{{params}}/result.nc", params=paramspace.instance_patterns)

rule simulate:
    output: f"results/{{paramspace.wildcard_pattern}}/result.nc"
    params: simulation=paramspace.instance
    shell: "touch {{output}}"
"""

PLAN = """
import sys, time
from snakesweep.api.plans import make_plan
t = time.perf_counter()
plan = make_plan("conf", "config", sys.argv[1:], "results")
print(len(plan.run_ids), time.perf_counter() - t)
"""


def overrides(points: int) -> list[str]:
    return ["model=m0,m1,m2,m3", "optimizer.lr=range(1,51)", f"seed=range(0,{points // 200})"]


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB of the command (its own child-rusage), its stdout."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, "
        "stderr=subprocess.DEVNULL, text=True, check=True); "
        "print(time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); print(p.stdout)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout
    first, _, rest = out.partition("\n")
    seconds, mb = map(float, first.split())
    return seconds, mb, rest


def main() -> None:
    from dryrun import CONFIG  # the same config tree as the 10,000-run dry run

    from snakesweep.snakemake.workflow import SNAKEFILE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--baseline-points", type=int, default=50_000)
    args = parser.parse_args()
    assert resource  # the probe uses it in the child
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        bare, ours = Path(a), Path(b)
        (bare / "Snakefile").write_text(
            textwrap.dedent(PARAMSPACE.format(seeds=args.baseline_points // 200))
        )
        (ours / "conf" / "model").mkdir(parents=True)
        (ours / "conf" / "config.yaml").write_text(textwrap.dedent(CONFIG))
        for i in range(4):
            (ours / "conf" / "model" / f"m{i}.yaml").write_text(f"name: m{i}\n")
        (ours / "trivial.py").write_text("def main(cfg):\n    return {'y': 1.0}\n")
        ov = overrides(args.points)
        (ours / "invocation.yaml").write_text(f"snakesweep:\n  overrides: {ov!r}\n")
        env_cmd = [sys.executable, "-c", textwrap.dedent(PLAN), *ov]
        cold, cold_mb, out = timed(env_cmd, ours)
        cached, _, _ = timed(env_cmd, ours)
        runs = int(out.split()[0])
        snakesweep = [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "-q",
            "--cores",
            "2",
            "--snakefile",
            SNAKEFILE,
            "--configfile",
            "invocation.yaml",
        ]
        dry, dry_mb, _ = timed(snakesweep, ours)
        stats = subprocess.run(
            [c for c in snakesweep if c != "-q"], cwd=ours, capture_output=True, text=True
        ).stdout
        jobs = next(
            (line.split()[-1] for line in stats.splitlines() if line.startswith("total")), "?"
        )
        base, base_mb, _ = timed(
            [sys.executable, "-m", "snakemake", "-n", "-q", "--cores", "2"], bare
        )
    print(f"a sweep of {runs:,} runs ({os.cpu_count()} cores)")
    print(
        f"  plan, cold (whole process)          {cold:7.2f} s  {cold_mb:6.0f} MB   (goal <= 10 s)"
    )
    print(f"  plan, cached                        {cached:7.2f} s            (goal <= 1 s)")
    print(
        f"  snakemake -n, snakesweep's rules     {dry:7.2f} s  {dry_mb:6.0f} MB"
        f"   ({jobs} jobs; goal <= 20 s, <= 1 GB)"
    )
    print(
        f"  snakemake -n, Paramspace, {args.baseline_points:,} runs {base:7.2f} s  "
        f"{base_mb:6.0f} MB"
    )
    scale = args.points / args.baseline_points
    print(
        f"snakesweep ({args.points:,}) / Paramspace ({args.baseline_points:,}): "
        f"{dry / base:.2f}x time, {dry_mb / base_mb:.2f}x memory "
        f"(per run: {dry / base / scale:.3f}x)"
    )


if __name__ == "__main__":
    main()
