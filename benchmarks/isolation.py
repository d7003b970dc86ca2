"""What the isolation of runs in a warm pool worker costs per run (``snakesweep.isolation``).

In a temporary git repository with a one-file experiment, in one process warmed up as a pool
worker is (``warm_up``, a provenance session):

* the restoring alone: ``isolated_run`` around nothing, the run's copy of the context and
  the pool's ``unrestored()`` check; once for a run that changes nothing, once for a run that
  changes what the fault tests change (environment, logging, warnings, signals, …);
* against the baseline measured in the same run: ``execute_run`` of a trivial run, with the
  isolation and with it replaced by nothing, interleaved.

    python benchmarks/isolation.py [--repeats 2000] [--runs 300]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

from snakesweep.api.plans import make_plan
from snakesweep.execute import execution as execute
from snakesweep.execute import isolation
from snakesweep.provenance.session import SESSION_ENV, begin_session


def sh(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def isolate(change: bool) -> float:
    """Seconds for one run's isolation (the run itself: nothing, or a few changes)."""

    def body() -> None:
        if change:
            os.environ["BENCH_CHANGE"] = "1"
            logging.getLogger("bench").setLevel(logging.DEBUG)
            logging.root.addHandler(logging.NullHandler())
            warnings.simplefilter("ignore", UserWarning)
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            os.umask(0o077)

    t0 = time.perf_counter()
    with isolation.isolated_run():
        isolation.run_in_copied_context(body)
    isolation.unrestored()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=300)
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
        (root / ".gitignore").write_text("results/\n")
        os.environ.update(
            {
                "GIT_AUTHOR_NAME": "b",
                "GIT_AUTHOR_EMAIL": "b@b.invalid",
                "GIT_COMMITTER_NAME": "b",
                "GIT_COMMITTER_EMAIL": "b@b.invalid",
            }
        )
        sh("git", "init", "-q", cwd=root)
        sh("git", "add", "-A", cwd=root)
        sh("git", "commit", "-qm", "bench", cwd=root)
        os.chdir(root)
        sys.path.insert(0, str(root))
        os.environ[SESSION_ENV] = str(begin_session("results"))

        plan = make_plan("conf", "config", [f"x=range(0,{2 * args.runs})"], "results")
        execute.warm_up(plan)  # as the pool's master does before forking its workers
        for _ in range(50):
            isolate(False)
        quiet = statistics.median(isolate(False) for _ in range(args.repeats))
        busy = statistics.median(isolate(True) for _ in range(args.repeats))

        with_it, without = [], []
        isolated, copied = isolation.isolated_run, isolation.run_in_copied_context
        for i, run_id in enumerate(plan.run_ids):
            off = i % 2 == 1
            if off:  # the same run with the isolation replaced by nothing
                isolation.isolated_run = contextlib.nullcontext  # type: ignore[assignment]
                isolation.run_in_copied_context = lambda fn: fn()
            t0 = time.perf_counter()
            execute.execute_run(plan, run_id, "results")
            (without if off else with_it).append(time.perf_counter() - t0)
            isolation.isolated_run, isolation.run_in_copied_context = isolated, copied
        assert not isolation.unrestored(), isolation.unrestored()

    on, off = statistics.median(with_it), statistics.median(without)
    paired = statistics.median(a - b for a, b in zip(with_it, without, strict=False))
    print(
        f"isolation per run, a run that changes nothing  {quiet * 1e6:7.0f} us   "
        f"{quiet / off:6.3f}x a trivial run's execute_run without it ({off * 1e3:.2f} ms)"
    )
    print(
        f"isolation per run, a run that changes 6 kinds  {busy * 1e6:7.0f} us   {busy / off:6.3f}x"
    )
    print(
        f"execute_run of a trivial run, with vs without  {on * 1e3:7.2f} ms vs "
        f"{off * 1e3:.2f} ms: {on / off:.3f}x (medians of {args.runs} runs each, "
        f"interleaved; median of the paired differences {paired * 1e3:+.2f} ms)"
    )


if __name__ == "__main__":
    main()
