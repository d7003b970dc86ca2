"""The sweep's progress where Snakemake's output goes: what ``snakesweep run`` and
``snakemake --logger snakesweep`` show instead of Snakemake's blocks of job lines.

On a terminal, one live display (``rich``): the runs done, failed, stale and pending, a bar,
the rate and the time left at this invocation's pace, the last failures' first lines, and
what the sweep is doing (computing, merging, the report); a failure also stays printed above
it. Elsewhere (CI, a pipe, a file): plain lines, one per run finished but at most one a
second (``PLAIN_INTERVAL``), every failure, no control codes. A run's failure names its run
id, its point's params and the first line of its error.

Snakemake's own output is not lost: its log file has it whole (``.snakemake/log/``), its
warnings and errors are shown here, and with ``--verbose``, ``--debug-dag`` or a dry run
this display steps aside and shows Snakemake's own output, as Snakemake's default handler
does. The rules tell the display of their sweep (``announce``) once they made its plan;
without one (another Snakefile) it counts Snakemake's jobs.

``snakemake_logger_plugin_snakesweep`` (the plugin Snakemake finds) is a shim over
``SweepDisplay``, so that importing it, which every ``snakemake`` does, costs nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snakesweep import store
from snakesweep.errors import first_line
from snakesweep.execute.execution import DISPLAY_ENV
from snakesweep.planning.plan import Plan
from snakesweep.provenance.session import COMMAND_ENV
from snakesweep.snakemake import arguments
from snakesweep.snakemake.summary import summary, sweep_statuses

__all__ = [
    "PLAIN_INTERVAL",
    "SweepDisplay",
    "SweepRuns",
    "announce",
    "params_text",
]

PLAIN_INTERVAL = 1.0
"""Seconds between two lines of runs finished, when the output is not a terminal (a line
names the last run and how many finished since the line before)."""

RUN_RULE = "run_experiment"
BATCH_RULE = "run_batch"
RUN_COMMANDS = ("snakesweep_run ", "snakesweep_batch ")
"""What the shell commands of run jobs hold (``RUN_COMMAND``, ``BATCH_COMMAND``): the
errors Snakemake says of those jobs are the failures this display said already."""
SAID_FAILED = (
    "Exiting because a job execution failed",
    "At least one job did not complete successfully",
)
"""What Snakemake says at its end after failed jobs: said already, when all were runs."""
SNAKEMAKE_NEXT = "`snakesweep status` lists them, `snakemake` again retries them"
"""What to do about failed runs, said to the user of plain ``snakemake``."""
SAID_AS_IS = ("Nothing to be done",)
"""Snakemake's messages (of its INFO ones, which it otherwise leaves to its log) that the
display passes on as they are."""
PHASES = {"merge_runs": "merging the runs", "sweep_report": "drawing the report's pictures"}

_active: SweepDisplay | None = None
"""The display of this process's Snakemake, when it is ours (``announce`` finds it)."""


@dataclass
class SweepRuns:
    """The sweep as the rules see it when Snakemake starts: its runs and their statuses,
    each run's params in words, and the runs of each batch job."""

    results: str
    statuses: dict[str, str]
    plan: Plan | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    batches: Mapping[str, Sequence[str]] = field(default_factory=dict)


def announce(runs: Callable[[], SweepRuns]) -> None:
    """Tell this process's sweep display, when Snakemake has one, of its sweep (made by
    ``runs`` only then)."""
    if _active is not None:
        _active.sweep(runs())


def params_text(params: Mapping[str, Any]) -> str:
    """A point's params in one line: ``model=mlp optimizer.lr=0.3 repeat=2``."""
    return " ".join(f"{k}={v}" for k, v in params.items())


class SweepDisplay:
    """What one Snakemake shows: it is given Snakemake's log records (``handle``, in the
    thread of Snakemake's queue listener) and the sweep (``sweep``, from the rules).
    ``settings``: Snakemake's output settings; ``stream``: where it writes (Snakemake's:
    stderr, or stdout with ``--stdout``); ``argv``: Snakemake's arguments (``sys.argv``)."""

    def __init__(
        self, settings: Any, stream: Any = None, argv: Sequence[str] | None = None
    ) -> None:
        global _active
        self.stream = stream if stream is not None else _stream(settings)
        quiet = {str(q).rsplit(".", 1)[-1].lower() for q in (settings.quiet or ())}
        self.quiet = bool(quiet & {"all", "progress"})
        self.nocolor = bool(settings.nocolor)
        self.driven = COMMAND_ENV in os.environ  # snakesweep says the summary itself
        self.runs: SweepRuns | None = None
        self.statuses: dict[str, str] = {}
        self.jobs: dict[int, tuple[str, dict[str, Any]]] = {}
        self.other_errors = False  # a job failed that is not a run (the merge, the report)
        self.phase = "starting Snakemake"
        self.job_counts = (0, 0)  # Snakemake's jobs done, of all (without a sweep)
        self.finished_here = 0
        self.started: float | None = None
        self._unsaid: list[str] = []  # runs finished since the last plain line
        self._said = 0.0
        self._lock = threading.RLock()
        self._closed = False
        self._live: Any = None
        self._console: Any = None
        self._passthrough = _snakemake_handler(settings, self.stream)
        self.steps_aside = bool(
            settings.verbose
            or settings.debug_dag
            or settings.dryrun
            or not arguments.computes(sys.argv[1:] if argv is None else argv)  # --report, …
        )
        self.terminal = _is_terminal(self.stream)
        _active = self

    # -- from the rules -------------------------------------------------------------
    def sweep(self, runs: SweepRuns) -> None:
        """The sweep this Snakemake computes: its display begins."""
        with self._lock:
            self.runs = runs
            # a run that failed before is computed again: pending until it ends
            self.statuses = {r: "pending" if s == "failed" else s for r, s in runs.statuses.items()}
            if self.steps_aside:
                return
            os.environ[DISPLAY_ENV] = "1"  # the jobs leave their failure lines to this
            if self.quiet:
                return
            counts = self.counts()
            todo = counts["to_do"]
            if self.terminal:
                self._start_live()
            else:
                stale = f" ({counts['stale']} stale)" if counts["stale"] else ""
                self._say(
                    f"snakesweep: {len(self.statuses)} runs: {todo} to compute{stale}, "
                    f"{counts['done']} done before"
                )

    # -- Snakemake's records ----------------------------------------------------------
    def handle(self, record: logging.LogRecord) -> None:
        """One of Snakemake's log records."""
        with self._lock:
            if self.steps_aside:
                self._pass(record)
                return
            event = str(getattr(record, "event", "") or "")
            if event == "job_info":
                self._job_info(record)
            elif event == "job_finished":
                self._job_finished(int(getattr(record, "job_id", -1)))
            elif event == "job_error":
                self._job_error(record)
            elif event == "progress":
                done, total = getattr(record, "done", 0), getattr(record, "total", 0)
                self.job_counts = (int(done), int(total))
                if self.runs is None:
                    self._jobs_done()
            elif event in ("error", "group_error") or (
                not event and (record.levelno >= logging.WARNING or _said(record, SAID_AS_IS))
            ):
                if not self._said_already(record):
                    self._pass(record)

    def _jobs_done(self) -> None:
        """Without a sweep (another Snakefile): Snakemake's jobs, counted."""
        if self.quiet:
            return
        if self.terminal:
            if self._live is None:
                self._start_live()
            return
        done, total = self.job_counts
        if time.monotonic() - self._said >= PLAIN_INTERVAL or done == total:
            self._say(f"snakesweep: {done} of {total} jobs done")

    def _said_already(self, record: logging.LogRecord) -> bool:
        """Whether Snakemake's error is about failed runs, which this display said."""
        if self.runs is None:
            return False
        text = record.getMessage()
        if any(command in text for command in RUN_COMMANDS):
            return True
        failed = any(s == "failed" for s in self.statuses.values())
        return failed and not self.other_errors and any(said in text for said in SAID_FAILED)

    def _job_info(self, record: logging.LogRecord) -> None:
        rule = str(getattr(record, "rule_name", ""))
        wildcards = dict(getattr(record, "wildcards", None) or {})
        self.jobs[int(getattr(record, "jobid", -1))] = (rule, wildcards)
        if self.started is None and rule in (RUN_RULE, BATCH_RULE):
            self.started = time.monotonic()
        if rule in PHASES:
            self._flush()
            self.phase = PHASES[rule]
            if not self.terminal and not self.quiet and rule == "merge_runs":
                self._say(f"snakesweep: {self.phase} into {self._results()}/sweep.nc")
        elif rule in (RUN_RULE, BATCH_RULE):
            self.phase = "computing runs"

    def _job_finished(self, jobid: int) -> None:
        rule, wildcards = self.jobs.pop(jobid, ("", {}))
        for run_id in self._runs_of(rule, wildcards):
            if self.statuses.get(run_id) != "done" and self._now_done(rule, run_id):
                self._finished(run_id, "done")

    def _job_error(self, record: logging.LogRecord) -> None:
        jobid = int(getattr(record, "jobid", -1))
        rule, wildcards = self.jobs.pop(jobid, (str(getattr(record, "rule_name", "")), {}))
        run_ids = self._runs_of(rule, wildcards)
        if not run_ids:
            self.other_errors = True
            self._pass(record)  # the merge's, the report's: Snakemake's block, with its log
            return
        for run_id in run_ids:
            status = self._status_of(run_id)
            if status == "done" and self.statuses.get(run_id) != "done":
                self._finished(run_id, "done")
            elif status != "done":
                self._finished(run_id, "failed")

    def _runs_of(self, rule: str, wildcards: Mapping[str, Any]) -> list[str]:
        if rule == RUN_RULE and "run_id" in wildcards:
            return [str(wildcards["run_id"])]
        if rule == BATCH_RULE and self.runs is not None:
            return list(self.runs.batches.get(str(wildcards.get("batch_id", "")), ()))
        return []

    def _now_done(self, rule: str, run_id: str) -> bool:
        """Whether a run of a job that finished is done: all of a run job's; of a batch's,
        those whose result is there (a batch's job finishes when all are)."""
        return rule == RUN_RULE or self._status_of(run_id) == "done"

    def _status_of(self, run_id: str) -> str:
        results = self._results()
        if store.result_path(results, run_id).exists():
            return "done"
        meta = store.read_meta(results, run_id)
        return "failed" if meta is not None and meta.get("error") else "pending"

    def _finished(self, run_id: str, status: str) -> None:
        self.statuses[run_id] = status
        self.finished_here += 1
        if self.quiet and status == "done":
            return
        if status == "failed":
            self._flush()
            self._say(self._failure_line(run_id))
            return
        if self.terminal:
            return
        self._unsaid.append(run_id)
        if time.monotonic() - self._said >= PLAIN_INTERVAL or not self.counts()["to_do"]:
            self._flush()

    def _failure_line(self, run_id: str) -> str:
        meta = store.read_meta(self._results(), run_id) or {}
        error = meta.get("error") or {}
        why = (
            f"{error.get('type', 'Error')}: {first_line(str(error.get('message', '')))}"
            if error
            else "it recorded no error (killed?); Snakemake's log has its job's output"
        )
        return f"snakesweep: run {run_id} failed ({self._params(run_id)}): {why}"

    def _flush(self) -> None:
        """Say the runs finished since the last plain line, in one line."""
        if not self._unsaid:
            return
        last = self._unsaid[-1]
        more = f" and {len(self._unsaid) - 1} more" if len(self._unsaid) > 1 else ""
        self._unsaid = []
        counts = self.counts()
        pace = self._pace()
        self._say(
            f"snakesweep: [{counts['done'] + counts['failed']}/{counts['total']}] done {last} "
            f"({self._params(last)}){more}{f'; {pace}' if pace else ''}"
        )

    # -- what it shows ----------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Runs done, failed (here), stale and pending, of all; ``to_do``: left to compute."""
        counts = {"done": 0, "failed": 0, "stale": 0, "pending": 0}
        for status in list(self.statuses.values()):  # rich's thread reads it too
            key = "stale" if status in ("stale", "corrupt") else status
            counts[key if key in counts else "pending"] += 1
        counts["total"] = len(self.statuses)
        counts["to_do"] = counts["stale"] + counts["pending"]
        return counts

    def _pace(self) -> str:
        """Runs a second and the time left, at this invocation's pace."""
        if self.started is None or not self.finished_here:
            return ""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.finished_here / elapsed
        left = self.counts()["to_do"] / rate
        return f"{rate:.3g} runs/s, {_duration(left)} left" if left else f"{rate:.3g} runs/s"

    def render(self) -> Any:
        """The live display as it is now (a ``rich`` renderable): the bar and the counts,
        then what the sweep is doing, its pace and the time left. Without the lock: rich's
        refresh thread calls it holding its own, which ``handle`` may wait for."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        if self.runs is None:
            done, total = self.job_counts
            counts = {"done": done, "failed": 0, "stale": 0, "pending": total - done}
            counts.update(total=total, to_do=total - done)
            unit = "jobs"
        else:
            counts, unit = self.counts(), "runs"
        finished = counts["done"] + counts["failed"]
        line = Table.grid(padding=(0, 1))
        line.add_row(
            Text("snakesweep", style="bold cyan"),
            ProgressBar(total=max(counts["total"], 1), completed=finished, width=24),
            Text.assemble(
                (f"{finished}/{counts['total']} {unit}", "bold"),
                f" · {counts['done']} done",
                *[(f" · {counts['failed']} failed", "red")] * bool(counts["failed"]),
                *[(f" · {counts['stale']} stale", "yellow")] * bool(counts["stale"]),
                f" · {counts['pending']} pending",
                no_wrap=True,
                overflow="ellipsis",
            ),
        )
        pace = self._pace()
        doing = Text(f"  {self.phase}{f' · {pace}' if pace else ''}", style="dim")
        return Group(line, doing)

    def close(self) -> None:
        """Snakemake ended: the display ends; under plain ``snakemake``, the sweep's summary."""
        global _active
        with self._lock:
            if self._closed:  # by Snakemake, then by logging's shutdown
                return
            self._closed = True
            self._flush()
            if self._live is not None:
                self._live.stop()
                self._live = None
            if _active is self:
                _active = None
                os.environ.pop(DISPLAY_ENV, None)
            if self.runs is not None and not self.driven and not self.steps_aside:
                self._say(self._summary())

    def _summary(self) -> str:
        """The line ``snakesweep run`` ends with, for this Snakemake's sweep."""
        assert self.runs is not None
        if self.runs.plan is None:
            return f"snakesweep: {_counted(self.counts())}"
        plan, results = self.runs.plan, self.runs.results
        code = 1 if any(s == "failed" for s in self.statuses.values()) else 0
        return summary(results, plan, sweep_statuses(plan, results), code, SNAKEMAKE_NEXT)[1]

    # -- output -----------------------------------------------------------------------
    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self._console = Console(
            file=self.stream, no_color=self.nocolor, force_terminal=True, soft_wrap=True
        )
        self._live = Live(
            get_renderable=self.render,
            console=self._console,
            refresh_per_second=4,
            transient=True,  # what stays: failures, Snakemake's errors, the summary
        )
        self._live.start()

    def _say(self, line: str) -> None:
        """A line that stays: above the live display, or plain."""
        self._said = time.monotonic()
        if self._console is not None:
            self._console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def _pass(self, record: logging.LogRecord) -> None:
        """One of Snakemake's records, as Snakemake's own handler shows it."""
        if not self._passthrough.filter(record):
            return
        if self._console is not None:
            text = self._passthrough.format(record)
            if text and text != "None":
                self._console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            self._passthrough.handle(record)

    def _params(self, run_id: str) -> str:
        return (self.runs.params.get(run_id, "") if self.runs is not None else "") or "no params"

    def _results(self) -> str:
        return self.runs.results if self.runs is not None else "results"


def _said(record: logging.LogRecord, beginnings: Sequence[str]) -> bool:
    return isinstance(record.msg, str) and record.msg.startswith(tuple(beginnings))


def _counted(counts: Mapping[str, int]) -> str:
    shown = ("done", "failed", "stale", "pending")
    return ", ".join(f"{counts[k]} {k}" for k in shown if counts[k])


def _stream(settings: Any) -> Any:
    return sys.stdout if getattr(settings, "stdout", False) else sys.stderr


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _snakemake_handler(settings: Any, stream: Any) -> logging.Handler:
    """Snakemake's own stream handler, as its ``LoggerManager`` makes it when no plugin
    writes to the stream: for what this display shows as Snakemake would."""
    from snakemake.logging import ColorizingTextHandler, DefaultFilter, DefaultFormatter

    quiet = settings.quiet or set()
    handler = ColorizingTextHandler(nocolor=settings.nocolor, stream=stream)
    handler.addFilter(
        DefaultFilter(
            quiet, settings.debug_dag, settings.verbose, settings.dryrun, settings.printshellcmds
        )
    )
    handler.setFormatter(DefaultFormatter(quiet, settings.show_failed_logs))
    return handler


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
