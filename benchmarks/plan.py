"""Planning 10,000 points (a config group x two value keys): cold, from the cache, and the
baseline of one Hydra compose() per point.

    python benchmarks/plan.py [--sample 100]

Cold and warm are timed in fresh processes (Hydra's import included in cold; warm is what
every Snakemake parse pays). compose() per point is timed on a sample and scaled to 10,000.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

CONFIG = """
defaults:
  - model: m0
  - _self_
snakesweep:
  experiment: trivial:main
optimizer:
  lr: 0.1
  momentum: 0.9
data:
  size: 100
  path: /data/${model.name}/${data.size}
seed: 0
"""

OVERRIDES = ["model=m0,m1,m2,m3", "optimizer.lr=range(1,51)", "seed=range(0,50)"]

TIMED = """
import json, sys, time
t = time.perf_counter()
from snakesweep.api.plans import make_plan
plan = make_plan("conf", "config", {overrides!r}, "results")
print(json.dumps([time.perf_counter() - t, len(plan.points), plan.structure()]))
"""

COMPOSE = """
import json, random, time
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
points = {points}
sample = random.Random(0).sample(points, {sample})
with initialize_config_dir(config_dir="{conf}", version_base="1.3"):
    compose("config", sample[0])
    t = time.perf_counter()
    for o in sample:
        OmegaConf.to_container(compose("config", o), resolve=True)
    print(json.dumps((time.perf_counter() - t) / len(sample)))
"""

POINTS = (
    '[[f"model=m{m}", f"optimizer.lr={lr}", f"seed={s}"] '
    "for m in range(4) for lr in range(1, 51) for s in range(50)]"
)
"""The same points as override lists, for the compose() baseline."""


def write_conf(root: Path, config: str) -> None:
    """A config tree: the primary config and a group `model` of four options."""
    (root / "conf" / "model").mkdir(parents=True)
    (root / "conf" / "config.yaml").write_text(textwrap.dedent(config))
    for i in range(4):
        (root / "conf" / "model" / f"m{i}.yaml").write_text(f"name: m{i}\nwidth: {8 * i}\n")


def run(code: str, cwd: Path) -> Any:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(
    root: Path, config: str, overrides: list[str], points: str, sample: int, cold_goal: float
) -> float:
    """Time a cold and a warm plan in fresh processes against one compose() per point
    (sampled); print them; return the cold time."""
    write_conf(root, config)
    start = time.perf_counter()
    cold, n, structure = run(TIMED.format(overrides=overrides), root)
    cold_process = time.perf_counter() - start
    warm, _, _ = run(TIMED.format(overrides=overrides), root)
    per_compose = run(COMPOSE.format(points=points, sample=sample, conf=root / "conf"), root)
    size = sum(f.stat().st_size for f in (root / "results").rglob("*.json"))
    baseline = per_compose * n
    print(f"plan of {n} points: {structure}")
    print(
        f"  compose() per point      {per_compose * 1000:8.1f} ms  "
        f"-> {baseline:6.0f} s for {n} (sampled {sample})"
    )
    print(
        f"  cold plan                {cold:8.2f} s   (whole process {cold_process:.2f} s; "
        f"goal <= {cold_goal:g} s)"
    )
    print(
        f"  warm plan (cache)        {warm:8.3f} s   (goal <= 0.5 s; plan files "
        f"{size / 1e6:.1f} MB)"
    )
    print(f"compose() per point / cold {baseline / cold:8.0f}x")
    print(f"compose() per point / warm {baseline / warm:8.0f}x")
    return float(cold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure(Path(tmp), CONFIG, OVERRIDES, POINTS, args.sample, cold_goal=3)


if __name__ == "__main__":
    main()
