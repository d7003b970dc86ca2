"""`snakesweep.load(...).filter(...).to_dataframe(wide=True)` on 10,000 runs, and a run with
100,000 logged steps written and merged.

    python benchmarks/results.py [--side 100] [--steps 100000] [--repeats 5]

- A results directory of SIDE x SIDE runs (two swept keys, three scalar results) as the
  merge writes it (sweep.nc, runs.csv; `load` reads nothing else), loaded, filtered on both
  keys and turned into the wide table, in a fresh process each time; against reading the
  same runs.csv with pandas and filtering it by hand, in the same way.
- One run of an experiment that logs STEPS steps of four values: `execute_run` (the
  experiment's own logging included; the sweep's provenance captured before, as the
  Snakefile's onstart does) and then the merge of that run into sweep.nc and its recording.
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

OURS = """
import time; t = time.perf_counter()
import snakesweep
res = snakesweep.load({root!r})
part = res.filter(status="done", a=list(range(0, 100, 2)), b=lambda v: v < 50)
wide = part.to_dataframe(wide=True)
assert len(wide) > 0
print(time.perf_counter() - t)
"""

BASE = """
import time; t = time.perf_counter()
import pandas as pd
table = pd.read_csv({root!r} + "/runs.csv")
wide = table[(table.status == "done") & table.a.isin(list(range(0, 100, 2))) & (table.b < 50)]
print(time.perf_counter() - t)
"""

EXPERIMENT = """
def train(cfg, run):
    for step in range(cfg.steps):
        run.log(step=step, loss=1.0 / (step + 1), acc=0.5, lr=0.01, grad=1.5)
    return {"final": 1.0}
"""


def synthetic(root: Path, side: int) -> None:
    import numpy as np
    import pandas as pd
    import xarray as xr

    a, b = np.arange(side), np.arange(side)
    ids = np.array([[f"{i * side + j:016x}" for j in b] for i in a])
    rng = np.random.default_rng(0)
    scores = {n: rng.random((side, side)) for n in ("score", "loss", "accuracy")}
    ds = xr.Dataset(
        {
            **{n: (("a", "b"), v) for n, v in scores.items()},
            "run_id": (("a", "b"), ids),
            "status": (("a", "b"), np.full((side, side), "done")),
        },
        coords={"a": a, "b": b},
    )
    root.mkdir(parents=True)
    ds.to_netcdf(root / "sweep.nc", engine="netcdf4")
    aa, bb = np.meshgrid(a, b, indexing="ij")
    pd.DataFrame(
        {
            "run_id": ids.ravel(),
            "status": "done",
            "duration": 0.01,
            "debug": False,
            "commit": "",
            "a": aa.ravel(),
            "b": bb.ravel(),
            **{n: v.ravel() for n, v in scores.items()},
        }
    ).to_csv(root / "runs.csv", index=False)


def fresh(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def logged_run(tmp: Path, steps: int) -> tuple[float, float]:
    sys.path.insert(0, str(tmp))
    (tmp / "logbench.py").write_text(textwrap.dedent(EXPERIMENT))
    (tmp / "conf").mkdir()
    (tmp / "conf" / "config.yaml").write_text(
        f"snakesweep:\n  experiment: logbench:train\nsteps: {steps}\n"
    )
    import os

    os.chdir(tmp)
    from snakesweep.api.plans import make_plan
    from snakesweep.execute.execution import execute_run
    from snakesweep.merge.sweep import write_sweep
    from snakesweep.provenance.session import SESSION_ENV, begin_session

    plan = make_plan("conf", "config", [], "results")
    # the invocation's provenance, once per sweep, as the Snakefile's onstart records it
    os.environ[SESSION_ENV] = str(begin_session("results"))
    start = time.perf_counter()
    outcome = execute_run(plan, plan.run_ids[0], "results")
    executed = time.perf_counter() - start
    assert outcome.status == "done", outcome
    start = time.perf_counter()
    write_sweep(plan, "results")
    return executed, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "results")
        synthetic(root, args.side)
        ours = [fresh(OURS.format(root=str(root))) for _ in range(args.repeats)]
        base = [fresh(BASE.format(root=str(root))) for _ in range(args.repeats)]
        o, b = statistics.median(ours), statistics.median(base)
        print(
            f"load + filter + to_dataframe(wide=True), {args.side**2:,} runs: {o:.2f} s "
            f"(imports included) vs pandas by hand {b:.2f} s ({o / b:.1f}x)"
        )
        logged = Path(tmp, "logged").resolve()
        logged.mkdir()
        executed, merged = logged_run(logged, args.steps)
        print(
            f"one run logging {args.steps:,} steps of 4 values: executed in {executed:.2f} s "
            f"(its {args.steps:,} run.log calls included), merged in {merged:.2f} s "
            f"({executed + merged:.2f} s)"
        )


if __name__ == "__main__":
    main()
