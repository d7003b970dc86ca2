"""DVC on a finished 1,000-run sweep: a no-op `dvc repro`, and the cost of tracking the runs.

    python benchmarks/dvc.py [--runs 1000] [--repeats 3]

1. `dvc repro` with nothing to do, against its baseline measured in the same run:
   `dvc status` on the same outputs plus a bare `snakemake -n` (a plain Snakefile whose
   1,000 outputs exist). Target: at most 1.5x.
2. Tracking the run directories: `dvc commit` of the `run` stage's outputs (after
   `dvc repro --no-commit`) and `dvc push` to a local remote, against `dvc add` of a copy
   of the same files and its `dvc push` to an empty remote.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BARE = """
rule all:
    input: expand("out/{i}/result.nc", i=range({runs}))

rule one:
    output: "out/{i}/result.nc"
    shell: "touch {output}"
"""


def run(cwd: Path, *args: str) -> float:
    command = list(args)
    if command[0] in ("dvc", "snakemake", "snakesweep"):
        command = [sys.executable, "-m", *command]
    start = time.perf_counter()
    subprocess.run(
        command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def median(cwd: Path, repeats: int, *args: str) -> float:
    return statistics.median(run(cwd, *args) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    ns = parser.parse_args()
    os.environ.update(
        DVC_NO_ANALYTICS="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp, "repo")
        repo.mkdir()
        (repo / "trivial.py").write_text("def main(cfg):\n    return {'y': cfg.x * 2.0}\n")
        run(repo, "git", "init", "-q")
        run(repo, "snakesweep", "init", "--experiment", "trivial:main")
        conf = repo / "conf" / "config.yaml"
        conf.write_text(
            conf.read_text()
            .replace("seed: 0\n", "seed: 0\nx: 0\n")
            .replace("seed: range(0,3)", f"x: range(0,{ns.runs})")
        )
        run(repo, "dvc", "init", "-q")
        print(f"computing {ns.runs} runs (dvc repro --no-commit) ...", flush=True)
        run(repo, "dvc", "repro", "--no-commit")

        commit = run(repo, "dvc", "commit", "-f")
        remote = Path(tmp, "remote")
        run(repo, "dvc", "remote", "add", "-d", "store", str(remote))
        push = run(repo, "dvc", "push")
        shutil.copytree(repo / "results" / "runs", repo / "copy")
        add = run(repo, "dvc", "add", "copy")
        shutil.rmtree(remote)
        push_added = run(repo, "dvc", "push", "copy.dvc")  # the same objects, a new remote

        bare = Path(tmp, "bare")
        (bare / "workflow").mkdir(parents=True)
        (bare / "workflow" / "Snakefile").write_text(
            textwrap.dedent(BARE).replace("{runs}", str(ns.runs))
        )
        run(bare, "snakemake", "--cores", "2", "-q")

        run(repo, "dvc", "repro")  # warm DVC's state: every hash known
        repro = median(repo, ns.repeats, "dvc", "repro")
        status = median(repo, ns.repeats, "dvc", "status")
        dry = median(bare, ns.repeats, "snakemake", "-n")

    print(f"\n{ns.runs} runs, median of {ns.repeats}")
    print(f"  dvc repro, nothing to do          {repro:7.2f} s")
    print(f"  dvc status + bare snakemake -n    {status + dry:7.2f} s  ({status:.2f} + {dry:.2f})")
    print(f"  ratio                             {repro / (status + dry):7.2f}x  (target <= 1.5x)")
    print(f"  dvc commit of the run directories {commit:7.2f} s")
    print(f"  dvc add of the same files         {add:7.2f} s   ratio {commit / add:.2f}x")
    print(f"  dvc push of the run directories   {push:7.2f} s")
    print(
        f"  dvc push of the added copy        {push_added:7.2f} s   ratio {push / push_added:.2f}x"
    )
    print(f"  tracking per run (commit + push)  {(commit + push) / ns.runs * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
