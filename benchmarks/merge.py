"""Merging 10,000 small runs into sweep.nc: the direct reader against xarray per file, and
one new run joining that sweep.nc.

    python benchmarks/merge.py [--side 100] [--repeats 3] [--dir DIR]

A sweep of SIDE x SIDE points (two swept keys) is built in a temporary directory (or DIR,
kept and reused when it already holds one): each run's result.nc written by
``execute.write_result`` (three scalars of three dtypes, a curve without coordinates, a
logged-like curve over ``step``) and its meta.json as a run writes it (its checksum from
``checksums.result_record``, the provenance of one real run). Then, each in a fresh
process, the run checksums already verified (as the Snakefile parse before a merge
leaves them):

* cold, no merge index: ``merge_runs(reader="xarray")`` (xr.load_dataset per file, the
  baseline) and ``merge_runs()`` (the direct reader), runs/s and their ratio (imports and
  the plan's loading apart, run statuses included);
* one new run: the sweep merged with one run missing, that run written, then the whole
  ``python -m snakesweep.merge PLAN RESULTS`` timed (wall, imports included), and the
  same ``write_sweep`` timed part by part; against the full merge of the same sweep with
  no index (the direct reader cold) and with the xarray reader (measured above).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

EXPERIMENT = """
def main(cfg):
    return {"y": cfg.x}
"""

CONFIG = "snakesweep:\n  experiment: exp:main\nx: 0\noffset: 0\n"


def dataset(x: int, offset: int) -> Any:
    import numpy as np
    import xarray as xr

    return xr.Dataset(
        {
            "y": xr.DataArray(x * 10 + offset),
            "score": xr.DataArray(x / 7),
            "ok": xr.DataArray(x % 2 == 0),
            "curve": (("curve_dim_0",), np.arange(3) * x),
            "loss": (("step",), 1.0 / (np.arange(5) + 1 + x + offset)),
        },
        coords={"step": np.arange(5)},
    )


def write_run(job: tuple[str, str, int, int, list[str], dict[str, Any]]) -> None:
    """One run directory, as a finished run leaves it."""
    from snakesweep import store
    from snakesweep.execute.execution import write_result
    from snakesweep.store import result_record

    results, run_id, x, offset, overrides, template = job
    final = store.run_dir(results, run_id)
    draft = final.with_name(f".{run_id}.draft")
    shutil.rmtree(draft, ignore_errors=True)
    draft.mkdir(parents=True)
    write_result(dataset(x, offset), draft / store.RESULT)
    meta = {"run_id": run_id, "status": "done", **result_record(draft / store.RESULT)}
    meta.update({k: v for k, v in template.items() if k not in meta})
    meta["overrides"] = overrides
    with open(draft / store.META, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, default=str)
    os.rename(draft, final)


def build(
    root: Path, side: int
) -> tuple[str, list[tuple[str, str, int, int, list[str], dict[str, Any]]]]:
    """The project, its plan and every run; returns the plan's path and the runs' jobs."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "conf").mkdir(exist_ok=True)
    (root / "conf" / "config.yaml").write_text(CONFIG)
    (root / "exp.py").write_text(EXPERIMENT)
    os.chdir(root)
    sys.path.insert(0, str(root))
    from snakesweep import store
    from snakesweep.api.plans import make_plan
    from snakesweep.execute.execution import execute_run

    plan = make_plan("conf", "config", [f"x=range(0,{side})", f"offset=range(0,{side})"], "results")
    first = plan.run_ids[0]
    if not store.result_path("results", first).exists():
        execute_run(plan, first, "results")
    template = store.read_meta("results", first)
    assert template is not None
    jobs = [
        (
            "results",
            p.run_id,
            int(p.params["x"]),
            int(p.params["offset"]),  # type: ignore[call-overload]
            list(p.overrides),
            template,
        )
        for p in plan.points
    ]
    missing = [j for j in jobs if not store.result_path("results", j[1]).exists()]
    if missing:
        t = time.perf_counter()
        with Pool(os.cpu_count() or 1) as pool:
            pool.map(write_run, missing, chunksize=100)
        print(
            f"built {len(missing)} run directories in {time.perf_counter() - t:.0f} s", flush=True
        )
    return str(plan.path), jobs


MERGE = """
import sys, time
import numpy, pandas, xarray, netCDF4, h5py  # imports apart (see the one new run's figures)
from snakesweep.merge.dataset import merge_runs
from snakesweep.planning.plan import load_plan
from snakesweep import store
plan = load_plan({plan!r})
plan.points  # the plan loaded whole, apart too
store.run_statuses("results", plan.run_ids)  # as the parse before a merge leaves them
t = time.perf_counter()
ds = merge_runs(plan, "results", reader={reader!r})
print(time.perf_counter() - t)
"""

PARTS = """
import json, sys, time
from collections import defaultdict
t0 = time.perf_counter()
import numpy, pandas, xarray, netCDF4, h5py, rerun
from snakesweep.merge import dataset, direct, freshness, layouts, summaries, sweep
from snakesweep.merge import index as merge_index
from snakesweep import store
from snakesweep.merge import summaries
from snakesweep.planning.plan import load_plan
spent = defaultdict(float)
t_imports = time.perf_counter() - t0

def timed(owner, name, label):
    real = getattr(owner, name)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            key = label(*args) if callable(label) else label
            if key:
                spent[key] += time.perf_counter() - t
    setattr(owner, name, wrapper)

for owner, name, label in [
        (merge_index.RunMetas, "read", "meta.json of every run (cache: metas.json)"),
        (sweep, "sweep_record", "provenance record"),
        (store, "run_statuses", "run statuses (checksum verdicts)"),
        (merge_index, "previous", "merge index: load and check sweep.nc"),
        (direct, "reused", "values of the merged runs from sweep.nc"),
        (layouts.Reader, "add", "reading new result files"),
        (direct, "_assembled", "assembling the arrays"),
        (dataset, "_dataset", "building the Dataset"),
        (sweep, "run_table", "run table"),
        (store.Staging, "file",
         lambda staged, name, *rest: name in ("sweep.nc", "runs.csv") and f"writing {{name}}"),
        (sweep, "recording_bytes", "encoding sweep.rrd"),
        (store.Staging, "data", lambda staged, name, *rest: f"writing {{name}}"),
        (summaries, "stage_summaries", "writing metrics.json and plots/"),
        (sweep, "stage_provenance", "writing provenance.json"),
        (freshness, "staged_files", "digests of sweep.nc and runs.csv"),
        (store.Staging, "commit", "renaming the merged files into place"),
        (freshness, "merge_key", "merge key (hashes every meta.json)"),
        (freshness, "merged_files", "digests of sweep.nc and runs.csv"),
        (merge_index, "save", "writing merged.json"),
        (merge_index.RunMetas, "save", "writing metas.json")]:
    timed(owner, name, label)
t = time.perf_counter()
plan = load_plan({plan!r})
plan.points
spent["loading the plan"] = time.perf_counter() - t
t = time.perf_counter()
sweep.write_sweep(plan, "results")
total = time.perf_counter() - t
print(json.dumps({{"imports": t_imports, "write_sweep": total, "parts": spent}}))
"""


def fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return (out.stdout.strip().splitlines() or [""])[-1]


def wall(*args: str) -> float:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return time.perf_counter() - t


def forget(results: Path) -> None:
    from snakesweep import store

    for cache in (store.MERGE_INDEX, store.MERGE_METAS):
        (results / cache).unlink(missing_ok=True)


def one_new_run(plan: str, results: Path, new: Any) -> tuple[float, dict[str, Any]]:
    """The sweep merged without ``new``, then ``new`` written and merged: the wall time of
    ``python -m snakesweep.merge`` and, again, the parts of ``write_sweep``."""
    parse = (
        "from snakesweep.store import runs as store; "
        "from snakesweep.planning.plan import load_plan; "
        f"store.run_statuses('results', load_plan({plan!r}).run_ids)"
    )
    out = []
    for timed in ("command", "parts"):
        shutil.rmtree(results / "runs" / new[1])
        fresh(PARTS.format(plan=plan))
        write_run(new)
        fresh(parse)  # what the Snakefile parse before the merge job checks
        out.append(
            wall("-m", "snakesweep.merge", plan, "results")
            if timed == "command"
            else json.loads(fresh(PARTS.format(plan=plan)))
        )
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=100)
    parser.add_argument(
        "--repeats", type=int, default=3, help="of the direct reader and of the new run (median)"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="build (or reuse) the sweep here instead of a temporary dir",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.dir or Path(tmp) / "sweep").absolute()
        plan, jobs = build(root, args.side)
        runs = len(jobs)
        results = root / "results"
        forget(results)
        fresh(MERGE.format(plan=plan, reader="direct"))  # checksum verdicts, page cache

        xarray_s = float(fresh(MERGE.format(plan=plan, reader="xarray")))
        direct = []
        for _ in range(args.repeats):
            forget(results)
            direct.append(float(fresh(MERGE.format(plan=plan, reader="direct"))))
        direct_s = statistics.median(direct)
        print(f"\ncold merge of {runs} runs (no merge index), run statuses included:")
        print(f"  xarray per file : {xarray_s:7.2f} s  {runs / xarray_s:8.0f} runs/s")
        print(
            f"  direct          : {direct_s:7.2f} s  {runs / direct_s:8.0f} runs/s"
            f"  ({xarray_s / direct_s:.0f}x; median of {args.repeats}: "
            f"{', '.join(f'{d:.2f}' for d in direct)} s)"
        )

        new = jobs[len(jobs) // 2]
        forget(results)
        full = json.loads(fresh(PARTS.format(plan=plan)))  # the merge without an index
        tries = [one_new_run(plan, results, new) for _ in range(args.repeats)]
        walls = [w for w, _ in tries]
        one = sorted((p for _, p in tries), key=lambda p: p["write_sweep"])[len(tries) // 2]
        print(f"\none new run joins the {runs}-run sweep.nc (medians of {args.repeats}):")
        print(
            f"  python -m snakesweep.merge, wall: {statistics.median(walls):.2f} s "
            f"({', '.join(f'{w:.2f}' for w in walls)}; goal: <= 1 s)"
        )
        print(
            f"  write_sweep: {one['write_sweep']:.2f} s, against {full['write_sweep']:.2f} s "
            f"for the merge without an index ({full['write_sweep'] / one['write_sweep']:.1f}x)"
            f" and {xarray_s:.0f} s for the xarray reader's merge alone "
            f"({xarray_s / one['write_sweep']:.0f}x)"
        )
        print(f"  imports (numpy, pandas, xarray, netCDF4, h5py, rerun): {one['imports']:.2f} s")
        print("  parts of write_sweep (one new run | no index):")
        for label in sorted(
            set(one["parts"]) | set(full["parts"]), key=lambda k: -one["parts"].get(k, 0)
        ):
            print(
                f"    {one['parts'].get(label, 0):6.3f} s | {full['parts'].get(label, 0):6.3f} s"
                f"  {label}"
            )


if __name__ == "__main__":
    main()
