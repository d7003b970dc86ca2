"""What `snakesweep history` costs, against doing the same by hand in the same run.

A git and DVC repository with K revisions, each with a sweep.nc of P points tracked by DVC
(`dvc add`, pushed to a local remote). Measured, each in a fresh process:

* `snakesweep history HEAD~K..HEAD`, the local cache warm;
* the same with the local cache deleted: every revision from the remote;
* by hand: per revision `git checkout REV` and `dvc checkout`, then `xr.load_dataset`, and
  at the end `xr.concat` along `over_time` and `to_netcdf` (no recording).

    python benchmarks/history.py [--revisions 10] [--points 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

BY_HAND = """
import subprocess, sys
import xarray as xr
revs = sys.argv[1:]
sweeps = []
for rev in revs:
    subprocess.run(["git", "checkout", "-q", rev], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "checkout", "-q"], check=True)
    sweeps.append(xr.load_dataset("results/sweep.nc"))
subprocess.run(["git", "checkout", "-q", "main"], check=True)
xr.concat(sweeps, dim="over_time", join="outer").to_netcdf("results/by_hand.nc")
"""


def sh(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def dvc(*args: str, cwd: Path) -> None:
    sh(sys.executable, "-m", "dvc", *args, cwd=cwd)


def sweep(k: int, points: int) -> xr.Dataset:
    """A sweep.nc as the merge writes it: 4 models × lr × 5 seeds, a 50-step curve each."""
    rng = np.random.default_rng(k)
    lrs = np.round(np.geomspace(1e-4, 1, max(points // 20, 1)), 6)
    shape = (4, len(lrs), 5)
    ids = np.array([f"{i:016x}" for i in range(int(np.prod(shape)))]).reshape(shape)
    return xr.Dataset(
        {
            "loss": (("model", "optimizer.lr", "seed", "step"), rng.random((*shape, 50))),
            "accuracy": (("model", "optimizer.lr", "seed"), rng.random(shape)),
            "run_id": (("model", "optimizer.lr", "seed"), ids),
            "status": (("model", "optimizer.lr", "seed"), np.full(shape, "done")),
        },
        coords={
            "model": ["linear", "mlp", "cnn", "rnn"],
            "optimizer.lr": lrs,
            "seed": np.arange(5),
            "step": np.arange(50),
        },
        attrs={"snakesweep_config_name": "config", "snakesweep_debug": 0},
    )


def timed(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=10)
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(
        {
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@b.invalid",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@b.invalid",
            "DVC_NO_ANALYTICS": "1",
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        root, remote = Path(tmp, "repo"), Path(tmp, "remote")
        (root / "results").mkdir(parents=True)
        sh("git", "init", "-q", "-b", "main", cwd=root)
        dvc("init", "-q", cwd=root)
        dvc("config", "core.analytics", "false", cwd=root)
        dvc("remote", "add", "-d", "store", str(remote), cwd=root)
        for k in range(args.revisions):
            sweep(k, args.points).to_netcdf(root / "results" / "sweep.nc", engine="netcdf4")
            dvc("add", "-q", "results/sweep.nc", cwd=root)
            sh("git", "add", "-A", cwd=root)
            sh("git", "commit", "-qm", f"sweep {k}", cwd=root)
            dvc("push", "-q", cwd=root)
        revs = subprocess.run(
            ["git", "rev-list", "--reverse", "HEAD"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        history = [sys.executable, "-m", "snakesweep", "history", f"--max-count={args.revisions}"]
        by_hand = [sys.executable, "-c", BY_HAND, *revs]
        warm, cold, manual = [], [], []
        for _ in range(args.repeats):
            manual.append(timed(by_hand, root))
            warm.append(timed(history, root))
            shutil.rmtree(root / ".dvc" / "cache")
            cold.append(timed(history, root))
            dvc("pull", "-q", "--all-commits", cwd=root)  # the cache back, for the next round
        check = xr.load_dataset(root / "results" / "history.nc")
        assert check.sizes["over_time"] == args.revisions, check.sizes
        cells = int(check["run_id"].isel(over_time=0).size)

    w, c, m = (statistics.median(t) for t in (warm, cold, manual))
    n = args.revisions
    print(f"{n} revisions of a {cells}-point sweep (a 50-step curve per point):")
    print(
        f"  snakesweep history, cache warm   {w:6.2f} s  ({w / n * 1e3:5.0f} ms per revision)"
        f"  {w / m:5.2f}x by hand"
    )
    print(
        f"  snakesweep history, from remote  {c:6.2f} s  ({c / n * 1e3:5.0f} ms per revision)"
        f"  {c / m:5.2f}x by hand"
    )
    print(f"  by hand: git checkout + dvc checkout per revision, concat   {m:6.2f} s")


if __name__ == "__main__":
    main()
