"""What provenance costs: per run (the goal: under 50 ms), once per sweep, and at each parse.

In a temporary git repository with a one-file experiment:

* per run, warm: ``record.run_record`` in a process that has recorded a run before (a
  pool worker), against ``execute_run`` of the same trivial run measured in the same process;
* per run, cold: importing ``snakesweep.provenance`` and the first ``run_record`` in a fresh
  process that has imported ``snakesweep`` (cluster jobs without a pool);
* per run without a session (``python -m snakesweep.execute`` by hand): captures git itself;
* per sweep: ``begin_session`` (gitpython, every distribution), in a fresh process;
* per parse: the status of N done runs with their stale check, against without it.

    python benchmarks/provenance.py [--runs 2000] [--repeats 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.core.options import Options
from snakesweep.execute.execution import execute_run
from snakesweep.provenance.code import CurrentCode
from snakesweep.provenance.record import run_record
from snakesweep.provenance.session import SESSION_ENV, begin_session

OPTIONS = Options(experiment="trivial:main")

COLD = """
import sys, time
from pathlib import Path
import snakesweep  # a job's process imports the package anyway, provenance or not
t0 = time.perf_counter()
from snakesweep.core.options import Options
from snakesweep.provenance.record import run_record
run_record(Options(experiment="trivial:main"), "results", Path("scratch"))
print(time.perf_counter() - t0)
"""

SESSION = """
import time
t0 = time.perf_counter()
from snakesweep.provenance.session import begin_session
begin_session("results")
print(time.perf_counter() - t0)
"""


def sh(*args: str, cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def fresh(code: str, cwd: Path, repeats: int) -> float:
    """Median seconds a snippet reports in a fresh interpreter."""
    times = [float(sh(sys.executable, "-c", code, cwd=cwd)) for _ in range(repeats)]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "trivial.py").write_text("def main(cfg):\n    return {'y': cfg.x}\n")
        (root / "conf").mkdir()
        (root / "conf" / "config.yaml").write_text(
            textwrap.dedent("""
            snakesweep:
              experiment: trivial:main
            x: 0
            """)
        )
        (root / ".gitignore").write_text("results/\nscratch/\n")
        env = {
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@b.invalid",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@b.invalid",
        }
        os.environ.update(env)
        sh("git", "init", "-q", cwd=root)
        sh("git", "add", "-A", cwd=root)
        sh("git", "commit", "-qm", "bench", cwd=root)
        os.chdir(root)
        sys.path.insert(0, str(root))
        (root / "scratch").mkdir()

        session = fresh(SESSION, root, 5)
        session_file = begin_session("results")
        os.environ[SESSION_ENV] = str(session_file)  # as Snakemake's onstart does
        cold = fresh(COLD, root, 9)

        # warm: the same process, as a pool worker
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run_record(OPTIONS, "results", root / "scratch")
            times.append(time.perf_counter() - t0)
        warm = statistics.median(times)

        plan = make_plan("conf", "config", [f"x=range(0,{args.repeats})"], "results")
        run_times = []
        for run_id in plan.run_ids:
            t0 = time.perf_counter()
            execute_run(plan, run_id, "results")
            run_times.append(time.perf_counter() - t0)
        per_run = statistics.median(run_times)

        os.environ.pop(SESSION_ENV)
        t0 = time.perf_counter()
        run_record(OPTIONS, "results", root / "scratch")
        no_session = time.perf_counter() - t0
        os.environ[SESSION_ENV] = str(session_file)

        # parse: N done runs, statuses with and without the stale check
        big = make_plan("conf", "config", [f"x=range(0,{args.runs})"], "bigresults")
        first = next(Path("results/runs").glob("*/meta.json"))
        meta = json.loads(first.read_text())
        result = first.with_name(store.RESULT).read_bytes()  # the file its checksum names
        for run_id in big.run_ids:
            d = store.run_dir("bigresults", run_id)
            d.mkdir(parents=True)
            (d / store.RESULT).write_bytes(result)
            (d / store.META).write_text(json.dumps({**meta, "run_id": run_id}, indent=2))
        plain, checked = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            store.run_statuses("bigresults", big.run_ids)
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            statuses = store.run_statuses("bigresults", big.run_ids, CurrentCode(big.options))
            checked.append(time.perf_counter() - t0)
        assert set(statuses.values()) == {"done"}, set(statuses.values())
        size = len((store.run_dir("bigresults", big.run_ids[0]) / store.META).read_bytes())

    print(
        f"per run, warm (pool worker)   {warm * 1e3:7.2f} ms   "
        f"{warm / per_run:5.3f}x a trivial run's execute_run ({per_run * 1e3:.1f} ms); "
        f"goal < 50 ms"
    )
    print(f"per run, cold (fresh process) {cold * 1e3:7.2f} ms   goal < 50 ms")
    print(
        f"per run, no session           {no_session * 1e3:7.2f} ms   "
        "(captures git and distributions itself)"
    )
    print(f"per sweep, begin_session      {session * 1e3:7.2f} ms   once, at Snakemake's onstart")
    print(
        f"per parse, {args.runs} runs' status  {statistics.median(checked) * 1e3:7.1f} ms with "
        f"the stale check vs {statistics.median(plain) * 1e3:.1f} ms without: "
        f"{statistics.median(checked) / statistics.median(plain):.2f}x "
        f"(meta.json of {size} bytes)"
    )


if __name__ == "__main__":
    main()
