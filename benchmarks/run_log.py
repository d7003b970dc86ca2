"""`run.log` against appending the same dict to a list, and a 100,000-step run's results.

    python benchmarks/run_log.py [--calls 100000] [--repeats 5]

- per call, amortised over CALLS calls of `run.log(step=i, loss=…, acc=…, lr=…, grad=…)`
  (four scalars; flushes every second as in a run), against `rows.append({...})`;
- a run with CALLS logged steps: its Dataset built and written to NetCDF, then read back
  as the merge reads it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from snakesweep.execute.handle import Run


def logged(calls: int, directory: Path) -> float:
    run = Run("bench", None, directory)
    start = time.perf_counter()
    for i in range(calls):
        run.log(step=i, loss=0.5, acc=0.25, lr=0.01, grad=1.5)
    run.flush()
    return time.perf_counter() - start


def appended(calls: int) -> float:
    rows = []
    start = time.perf_counter()
    for i in range(calls):
        rows.append({"step": i, "loss": 0.5, "acc": 0.25, "lr": 0.01, "grad": 1.5})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ours, base = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            base.append(appended(args.calls))
            ours.append(logged(args.calls, Path(tmp, str(r))))
        o, b = statistics.median(ours), statistics.median(base)
        print(
            f"run.log, 4 scalars: {o / args.calls * 1e6:.2f} µs per call vs list.append "
            f"{b / args.calls * 1e6:.2f} µs ({o / b:.1f}x), median of {args.repeats}"
        )
        import xarray as xr

        run = Run("bench", None, Path(tmp, "big"))
        for i in range(args.calls):
            run.log(step=i, loss=0.5, acc=0.25, lr=0.01, grad=1.5)
        start = time.perf_counter()
        run.dataset().to_netcdf(Path(tmp, "result.nc"), engine="netcdf4")
        written = time.perf_counter() - start
        xr.load_dataset(Path(tmp, "result.nc"), engine="netcdf4")
        total = time.perf_counter() - start
        print(
            f"{args.calls:,} logged steps: written in {written:.2f} s, read back in "
            f"{total - written:.2f} s ({total:.2f} s)"
        )


if __name__ == "__main__":
    main()
