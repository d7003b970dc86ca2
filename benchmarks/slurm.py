"""SLURM: a 200-run sweep through ``snakesweep run -- --executor slurm``, with
``snakesweep.batch: auto`` against one cluster job per run: wall time and cluster jobs.

    python benchmarks/slurm.py [--runs 200] [--jobs 50] [--only unbatched|auto]

Needs a SLURM that takes jobs, as ``tests/test_slurm.py`` does (whose helpers it uses): the
one running here, or, as root, one ``tests/cluster/slurm-local.sh`` starts (and stops after);
otherwise it says why and exits 0. The experiment is the fault suite's tiny one (a number, a
curve; no sleep), so what it measures is what a job costs, not what a run computes. Both
halves submit with ``--jobs`` (default 50, as ``profiles/slurm``); ``auto`` then makes
ceil(runs / jobs) runs per job. Each half counts the SLURM jobs Snakemake submitted (the
runs' jobs and the merge's) and the distinct ``SLURM_JOB_ID`` its runs recorded; a local
``--cores 2`` run of the same sweep is the reference that both ``sweep.nc`` must equal.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=50, help="snakemake --jobs (default 50)")
    parser.add_argument(
        "--only", choices=("unbatched", "auto"), help="run only this half (and the local reference)"
    )
    ns = parser.parse_args()

    sys.path.insert(0, str(REPO / "tests"))
    import xarray as xr

    from test_slurm import (
        SlurmUnavailable,
        command,
        invoke,
        load,
        local_slurm,
        make_project,
        sweep_on_slurm,
    )

    modes = [m for m in ("unbatched", "auto") if ns.only in (None, m)]
    try:
        with (
            local_slurm(say=lambda line: print(line, flush=True)) as partition,
            tempfile.TemporaryDirectory(prefix="snakesweep-slurm-") as tmp,
        ):
            root = make_project(Path(tmp, "local"), ns.runs)
            local = invoke(root, *command("run", "--cores", "2"), timeout=3600)
            if local.returncode != 0:
                print(local.tail(), file=sys.stderr)
                return 1
            rows = {"local (--cores 2)": (local.seconds, 0, 0)}
            for mode in modes:
                root = make_project(
                    Path(tmp, mode), ns.runs, options="batch: auto" if mode == "auto" else ""
                )
                print(
                    f"{mode}: {ns.runs} runs through --executor slurm --jobs {ns.jobs} …",
                    flush=True,
                )
                sweep = sweep_on_slurm(root, partition, jobs=ns.jobs, timeout=7200)
                if sweep.returncode != 0:
                    print(sweep.tail(), file=sys.stderr)
                    return 1
                with load(root) as ds, load(local.root) as expected:
                    xr.testing.assert_identical(ds, expected)
                run_jobs = set(sweep.run_jobs.values())
                if None in run_jobs:
                    print(f"{mode}: a run recorded no SLURM job", file=sys.stderr)
                    return 1
                rows[mode] = (sweep.seconds, len(set(sweep.submitted)), len(run_jobs))
    except SlurmUnavailable as exc:
        print(f"benchmarks/slurm.py: skipped: {exc}")
        return 0

    print(
        f"\n{ns.runs} runs, --jobs {ns.jobs}, partition {partition!r}; sweep.nc identical "
        "to the local run's in every case"
    )
    print(
        f"| {'how':<20} | {'wall s':>7} | {'SLURM jobs':>10} | {'jobs of runs':>12} "
        f"| {'runs/job':>8} | {'s per job':>9} |"
    )
    print(f"|{'-' * 22}|{'-' * 9}|{'-' * 12}|{'-' * 14}|{'-' * 10}|{'-' * 11}|")
    for how, (seconds, submitted, of_runs) in rows.items():
        per = f"{ns.runs / of_runs:.1f}" if of_runs else "-"
        cost = f"{seconds / submitted:.2f}" if submitted else "-"
        print(
            f"| {how:<20} | {seconds:>7.1f} | {submitted or '-':>10} | {of_runs or '-':>12} "
            f"| {per:>8} | {cost:>9} |"
        )
    if "unbatched" in rows and "auto" in rows:
        (t1, j1, _), (t2, j2, _) = rows["unbatched"], rows["auto"]
        print(f"\nunbatched / auto: wall time {t1 / t2:.1f}x, cluster jobs {j1 / j2:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
