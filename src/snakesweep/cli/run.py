"""``snakesweep run`` and ``snakesweep report``: the pending runs of the sweep through
Snakemake (again for each round an adaptive sweep asks for), under the results' lock."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from snakesweep import store
from snakesweep.api.live import LiveView, live_view
from snakesweep.cli.command import interrupt
from snakesweep.cli.sweep import check_plan, plan_of
from snakesweep.planning.plan import Plan
from snakesweep.snakemake import arguments
from snakesweep.snakemake.driver import TERMINATED, write_invocation
from snakesweep.snakemake.report import build_report, check_output
from snakesweep.snakemake.rounds import run_rounds
from snakesweep.snakemake.summary import summary
from snakesweep.store import locks

__all__ = ["cmd_report", "cmd_run"]


def cmd_run(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep run``: the pending runs through Snakemake, then the merge."""
    plan = plan_of(ns, check_plan)
    extra = [*(["--retries", str(ns.retries)] if ns.retries else []), *extra]
    invocation = _invocation(ns, plan, ns.batch, pooled=arguments.runs_here(extra))
    if ns.view is not None:
        return _run_viewed(ns, plan, invocation, extra)
    with locks.sweep_lock(ns.results, "snakesweep run", locks.say_waiting(ns.results)) as lock:
        if lock.waited:  # the other run may have changed what the plan depends on
            plan = plan_of(ns, check_plan)
        return _run_rounds(ns, plan, invocation, extra)


def cmd_report(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep report``: run and merge as ``run`` does, then Snakemake's HTML report."""
    ns.output = ns.output or os.path.join(ns.results, store.REPORT_HTML)
    check_output(ns.output)
    plan = plan_of(ns, check_plan)
    invocation = _invocation(ns, plan, None)
    with locks.sweep_lock(ns.results, "snakesweep report", locks.say_waiting(ns.results)) as lock:
        if lock.waited:  # the other run may have changed what the plan depends on
            plan = plan_of(ns, check_plan)
        code = build_report(
            plan, invocation, ns.output, str(ns.cores), extra, ["snakesweep", *ns.argv], ns.results
        )
    if code == 0:
        print(f"snakesweep: report written to {ns.output}{_dirties(ns.output, ns.results)}")
    return code


def _invocation(
    ns: argparse.Namespace, plan: Plan, batch: int | str | None, pooled: bool = False
) -> Path:
    """The Snakemake config file of this command's sweep (``snakemake.driver.write_invocation``);
    ``pooled``: its jobs run here, in the warm pool ``run`` starts."""
    return write_invocation(
        store.invocation_file(ns.results, plan.path.stem if plan.path else "invocation"),
        {
            "config_dir": ns.config_dir,
            "config_name": ns.config_name,
            "overrides": list(ns.overrides),
            "results": ns.results,
            "from_run": ns.from_run,
            "batch": batch,
            "pooled": pooled,
        },
    )


def _run_viewed(ns: argparse.Namespace, plan: Plan, invocation: Path, extra: list[str]) -> int:
    """``run --view``: the sweep with its live view; a web viewer is served after it (the
    results no longer locked) until Ctrl-C, unless a SIGTERM stopped the sweep."""
    previous = signal.signal(signal.SIGTERM, interrupt)  # stops the viewer as Ctrl-C does
    try:
        with live_view(ns.view, plan, ns.results) as view:
            with locks.sweep_lock(
                ns.results, "snakesweep run", locks.say_waiting(ns.results)
            ) as lock:
                if lock.waited:
                    plan = plan_of(ns, check_plan)
                    view.follow(plan)
                code = _run_rounds(ns, plan, invocation, extra, view)
            view.end(serve=not TERMINATED.is_set())
            return code
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_rounds(
    ns: argparse.Namespace,
    plan: Plan,
    invocation: Path,
    extra: list[str],
    view: LiveView | None = None,
) -> int:
    """The sweep to its end (``snakemake.rounds``), ``view`` told of each round's plan; the
    summary line, and the exit status."""
    code, plan, statuses = run_rounds(
        plan,
        ns.results,
        invocation,
        str(ns.cores),
        extra,
        ["snakesweep", *ns.argv],
        remake=lambda: plan_of(ns, check_plan),
        follow=view.follow if view is not None else None,
        display=not ns.verbose,
    )
    code, line = summary(ns.results, plan, statuses, code)
    print(line, file=sys.stderr)
    return code


def _dirties(path: str, results: str) -> str:
    """What to do when writing ``path`` made the git tree dirty (the next sweep would be a
    debug sweep, see `snakesweep status`), or ''. A sweep's provenance never counts what is
    in its results directory."""
    if Path(path).absolute().is_relative_to(Path(results).absolute()):
        return ""
    try:
        shown = subprocess.run(
            ["git", "status", "--porcelain", "--", path], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if not shown.strip():
        return ""
    return (
        f" (git sees it as a change: add {path!r} to .gitignore, or the next sweep is a "
        "debug sweep; the default, RESULTS/report.html, is ignored)"
    )
