"""What a report picture costs: matplotlib's (the default) against rerun's headless
screenshot, measured in the same run on the shipped example's results.

The example sweep of ``conf/`` runs once in a temporary copy (or ``--results DIR`` names a
merged sweep). Then, ``--repeats`` times, interleaved so that a busy machine weighs on both
alike:

* per result variable, matplotlib's picture as the report draws it
  (``snakesweep.pictures.write_picture``, in this process, matplotlib imported beforehand)
  and rerun's (``snakesweep.view.screenshots.render_dataset``: the variable's recording, drawn by
  ``rerun --headless --screenshot-to``);
* the whole report job, ``python -m snakesweep.view.report RESULTS``, in a fresh process, with
  ``SNAKESWEEP_PICTURES`` set to ``matplotlib``, ``rerun`` and ``off``.

rerun needs a GPU, or a software one (Debian: ``apt-get install mesa-vulkan-drivers``);
where it cannot draw, its side is skipped and the reason printed.

    python benchmarks/pictures.py [--repeats 5] [--results DIR] [--cores 2]
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

REPO = Path(__file__).resolve().parents[1]


def sweep(root: Path, cores: str) -> Path:
    """The example sweep's results, computed in ``root``."""
    for part in ("conf", "workflow"):
        shutil.copytree(REPO / part, root / part)
    subprocess.run(
        [sys.executable, "-m", "snakesweep", "run", "--cores", cores, "snakesweep.pictures=false"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return root / "results"


def report_job(results: Path, mode: str) -> float:
    """Seconds ``python -m snakesweep.view.report RESULTS`` takes with pictures ``mode``."""
    env = {**os.environ, "SNAKESWEEP_PICTURES": mode}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakesweep.view.report", str(results)],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, help="a merged sweep (default: the example's)")
    parser.add_argument("--cores", default="2")
    ns = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="snakesweep-pictures-") as tmp:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp, ".config"))  # rerun's analytics: off
        subprocess.run(
            [sys.executable, "-m", "rerun", "analytics", "disable"], check=True, capture_output=True
        )
        if ns.results is None:
            print("running the example sweep ...", flush=True)
            results = sweep(Path(tmp), ns.cores)
        else:
            results = Path(tmp, "results")
            shutil.copytree(ns.results, results)
        measure(results, Path(tmp, "out"), ns.repeats)


def measure(results: Path, out: Path, repeats: int) -> None:
    import xarray as xr

    from snakesweep.view.dimensions import numeric_variables
    from snakesweep.view.screenshots import RenderError, render_dataset

    out.mkdir()
    start = time.perf_counter()
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401

    from snakesweep.view.pictures import write_picture

    imported = time.perf_counter() - start
    dataset = xr.load_dataset(results / "sweep.nc", engine="netcdf4")
    names = numeric_variables(dataset)[0]
    keep = [v for v in ("run_id", "status") if v in dataset.data_vars]
    times: dict[str, dict[str, list[float]]] = {n: {"matplotlib": [], "rerun": []} for n in names}
    jobs: dict[str, list[float]] = {"matplotlib": [], "rerun": [], "off": []}
    rerun_fails: str | None = None
    for _ in range(repeats):
        for name in names:
            start = time.perf_counter()
            write_picture(dataset, name, out / f"{name}.png")
            times[name]["matplotlib"].append(time.perf_counter() - start)
            if rerun_fails is None:
                try:
                    times[name]["rerun"].append(
                        render_dataset(dataset[[name, *keep]], out / f"{name}.rerun.png")
                    )
                except RenderError as exc:
                    rerun_fails = str(exc)
        for mode in jobs:
            if mode != "rerun" or rerun_fails is None:
                jobs[mode].append(report_job(results, mode))

    print(
        f"\n{len(names)} result variables of {results / 'sweep.nc'}, median of {repeats} "
        f"(matplotlib's import, once a process: {imported:.2f} s)"
    )
    if rerun_fails:
        print(f"rerun's viewer cannot draw here, so its side is skipped: {rerun_fails}")
    print(f"{'picture':<28} {'matplotlib':>11} {'rerun':>9} {'rerun/matplotlib':>17}")
    for name in names:
        print(row(name, times[name]["matplotlib"], times[name]["rerun"]))
    print(row("report job (all pictures)", jobs["matplotlib"], jobs["rerun"]))
    print(f"report job, pictures off: {statistics.median(jobs['off']):.2f} s")


def row(label: str, matplotlib: list[float], rerun: list[float]) -> str:
    ours = statistics.median(matplotlib)
    if not rerun:
        return f"{label:<28} {ours:>10.3f}s {'—':>9} {'—':>17}"
    theirs = statistics.median(rerun)
    return f"{label:<28} {ours:>10.3f}s {theirs:>8.2f}s {theirs / ours:>16.1f}×"


if __name__ == "__main__":
    main()
