"""Exporting a 10,000-run sweep with a 100-step curve per run to a rerun recording.

    python benchmarks/recording.py [--repeats 3]

Two shapes of the same size, each timed with ``to_rerun`` (median of the repeats) against
the baseline of the same values logged one ``rr.log`` call per value (per run and step, on
the ``step`` timeline), timed once in the same run:

* grid:   model (4 names) x optimizer.lr (50) x seed (50): a heatmap per model and step;
* curves: model (100 names) x optimizer.lr (100): 100 curves per model on one view.

Both write a file. Each measurement runs in a fresh process, rerun's import excluded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MAKE = """
import numpy as np, xarray as xr
def sweep(shape):
    rng = np.random.default_rng(0)
    if shape == "grid":
        dims, coords = ("model", "optimizer.lr", "seed"), {
            "model": [f"m{i}" for i in range(4)], "optimizer.lr": np.linspace(0.01, 1, 50),
            "seed": np.arange(50)}
    else:
        dims, coords = ("model", "optimizer.lr"), {
            "model": [f"m{i}" for i in range(100)], "optimizer.lr": np.linspace(0.01, 1, 100)}
    sizes = tuple(len(coords[d]) for d in dims)
    loss = np.cumsum(rng.random(sizes + (100,)), axis=-1)
    return xr.Dataset({"loss": (dims + ("step",), loss),
                       "accuracy": (dims, rng.random(sizes))},
                      coords={**coords, "step": np.arange(100)})
"""

EXPORT = (
    MAKE
    + """
import json, sys, time
import rerun
from snakesweep.view.recording import to_rerun
ds = sweep(sys.argv[1])
t = time.perf_counter()
to_rerun(ds, sys.argv[2])
print(json.dumps(time.perf_counter() - t))
"""
)

PER_VALUE = (
    MAKE
    + """
import itertools, json, sys, time
import rerun as rr
ds = sweep(sys.argv[1])
swept = [d for d in ds.accuracy.dims]
t = time.perf_counter()
rec = rr.RecordingStream("baseline", send_properties=False)
rec.set_log_time_enabled(False)
rec.save(sys.argv[2])
loss, accuracy = ds.loss.values, ds.accuracy.values
for index in itertools.product(*(range(ds.sizes[d]) for d in swept)):
    path = "/".join(f"{d}={ds[d].values[i]}" for d, i in zip(swept, index))
    rec.reset_time()
    rec.log(f"/accuracy/{path}", rr.Scalars(float(accuracy[index])), static=True)
    for step, value in enumerate(loss[index].tolist()):
        rec.set_time("step", sequence=step)
        rec.log(f"/loss/{path}", rr.Scalars(value))
rec.flush()
rec.disconnect()
print(json.dumps(time.perf_counter() - t))
"""
)


def timed(script: str, shape: str, out: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-c", script, shape, str(out)], check=True, capture_output=True, text=True
    )
    return float(json.loads(result.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'shape':8} {'to_rerun (s)':>13} {'one log per value (s)':>22} {'ratio':>7} "
        f"{'file (MB)':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for shape in ("grid", "curves"):
            ours = statistics.median(
                timed(EXPORT, shape, Path(tmp, f"{shape}.rrd")) for _ in range(args.repeats)
            )
            base = timed(PER_VALUE, shape, Path(tmp, f"{shape}-baseline.rrd"))
            size = Path(tmp, f"{shape}.rrd").stat().st_size / 1e6
            print(
                f"{shape:8} {ours:13.2f} {base:22.1f} {ours / base:7.3f} {size:10.1f}", flush=True
            )


if __name__ == "__main__":
    main()
