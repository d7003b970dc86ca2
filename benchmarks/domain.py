"""Planning a 100,000-point domain (a config group × a zip of two keys × a key × repeats):
cold, from the cache, and the baselines measured in the same run.

    python benchmarks/domain.py [--sample 100]

Cold and warm are timed in fresh processes (Hydra's import included in cold; warm is what
every Snakemake parse pays). Baselines: the domain's expansion alone, and one Hydra
compose() per point, timed on a sample and scaled to 100,000.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from plan import run, write_conf  # benchmarks/plan.py: the same tree, the same timing

CONFIG = """
defaults:
  - model: m0
  - _self_
snakesweep:
  experiment: trivial:main
  domain:
    product:
      - model: "m0,m1,m2,m3"
      - zip:
          optimizer.lr: "range(1,51)"
          optimizer.momentum: "range(101,151)"
      - data.size: "range(0,50)"
  repeats: 10
optimizer:
  lr: 0.1
  momentum: 0.9
data:
  size: 100
  path: /data/${model.name}/${data.size}
seed: 0
"""

TIMED = """
import json, time
t = time.perf_counter()
from snakesweep.plan import make_plan
plan = make_plan("conf", "config", [], "results")
print(json.dumps([time.perf_counter() - t, len(plan.points), plan.structure()]))
"""

EXPAND = """
import json, time, yaml
from snakesweep.domain import Domain
options = yaml.safe_load(open("conf/config.yaml"))["snakesweep"]
t = time.perf_counter()
n = len(Domain.from_yaml(options["domain"], repeats=options["repeats"]).expand().points)
print(json.dumps([time.perf_counter() - t, n]))
"""

COMPOSE = """
import json, random, time
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
points = [[f"model=m{{m}}", f"optimizer.lr={{lr}}", f"data.size={{s}}", f"++seed={{r}}"]
          for m in range(4) for lr in range(1, 51) for s in range(50) for r in range(10)]
sample = random.Random(0).sample(points, {sample})
with initialize_config_dir(config_dir="{conf}", version_base="1.3"):
    compose("config", sample[0])
    t = time.perf_counter()
    for o in sample:
        OmegaConf.to_container(compose("config", o), resolve=True)
    print(json.dumps((time.perf_counter() - t) / len(sample)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_conf(root, CONFIG)
        start = time.perf_counter()
        cold, n, structure = run(TIMED, root)  # type: ignore[misc]
        cold_process = time.perf_counter() - start
        warm, _, _ = run(TIMED, root)  # type: ignore[misc]
        expand, _ = run(EXPAND, root)  # type: ignore[misc]
        per_compose = run(COMPOSE.format(sample=args.sample, conf=root / "conf"), root)
        size = sum(f.stat().st_size for f in (root / "results").rglob("*.json"))
    baseline = per_compose * n  # type: ignore[operator]
    print(f"plan of {n} points: {structure}")
    print(f"  expansion alone          {expand:8.2f} s")
    print(f"  compose() per point      {per_compose * 1000:8.1f} ms  "  # type: ignore[operator]
          f"-> {baseline:6.0f} s for {n} (sampled {args.sample})")
    print(f"  cold plan                {cold:8.2f} s   (whole process {cold_process:.2f} s; "
          "goal <= 5 s)")
    print(f"  warm plan (cache)        {warm:8.3f} s   (goal <= 0.5 s; plan file "
          f"{size / 1e6:.1f} MB)")
    print(f"compose() per point / cold {baseline / cold:8.0f}x")
    print(f"compose() per point / warm {baseline / warm:8.0f}x")
    print(f"cold plan / expansion alone {cold / expand:7.1f}x")


if __name__ == "__main__":
    main()
