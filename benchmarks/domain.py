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
from pathlib import Path

from plan import measure, run  # benchmarks/plan.py: the same tree, the same timing

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

EXPAND = """
import json, time, yaml
from snakesweep.core.domain import Domain
options = yaml.safe_load(open("conf/config.yaml"))["snakesweep"]
t = time.perf_counter()
n = len(Domain.from_yaml(options["domain"], repeats=options["repeats"]).expand().points)
print(json.dumps([time.perf_counter() - t, n]))
"""

POINTS = (
    '[[f"model=m{m}", f"optimizer.lr={lr}", f"data.size={s}", f"++seed={r}"] '
    "for m in range(4) for lr in range(1, 51) for s in range(50) for r in range(10)]"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cold = measure(root, CONFIG, [], POINTS, args.sample, cold_goal=5)
        expand, _ = run(EXPAND, root)
    print(f"  expansion alone          {expand:8.2f} s")
    print(f"cold plan / expansion alone {cold / expand:7.1f}x")


if __name__ == "__main__":
    main()
