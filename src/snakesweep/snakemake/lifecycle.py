"""What Snakemake's ``onstart``, ``onsuccess`` and ``onerror`` do for a sweep: begin its
session's provenance and its worker pool, and at the end stop them and, after a failure,
merge the runs that finished and say what is left (``SweepWorkflow`` is made of this).
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from snakesweep import store
from snakesweep.execute.batches import Batch
from snakesweep.execute.pool import ENV, Pool
from snakesweep.merge import freshness
from snakesweep.merge import sweep as aggregate
from snakesweep.planning.plan import Plan
from snakesweep.provenance.session import SESSION_ENV, begin_session, end_session
from snakesweep.snakemake import arguments, slurm, starting
from snakesweep.snakemake.pool import POOL_PID_ENV, local_pool, stop_pool

__all__ = ["SweepLifecycle"]


class SweepLifecycle:
    """The start and the end of a Snakemake that computes a sweep: ``start`` (its
    ``onstart``) and ``finish`` (its ``onsuccess`` and ``onerror``, and its process's exit
    should it end by neither). A mixin of ``SweepWorkflow``, whose fields these are."""

    plan: Plan
    results: str
    pool: Pool | None
    pending: int
    batches: list[Batch]
    session: Path | None
    busy: str | None
    _finished: bool
    _lock: IO[str] | None

    @property
    def _sweep_file(self) -> str:
        return str(Path(self.results, store.SWEEP))

    def start(self, workflow: Any) -> None:
        """Snakemake's ``onstart``: record this invocation's provenance for its runs (through
        ``SNAKESWEEP_SESSION``, which the pool and the jobs inherit); start the worker pool.

        Under ``snakesweep run`` both exist already (``prepared``): only a pool meant for
        local jobs is dropped when the jobs run elsewhere. A Snakemake that
        does not hold the results directory (``busy``) stops here, naming who does; one
        whose jobs go to a SLURM without accounting has its plugin ask squeue
        (``snakesweep.slurm``). Should Snakemake end by an error no job had (a run's
        directory removed before the merge read it: Snakemake stops, calling neither
        ``onsuccess`` nor ``onerror``), ``finish`` still runs when its process exits, and
        merges what finished."""
        starting.release()  # in this process (snakesweep.sweep): Ctrl-C, held until now
        if self.busy is not None:
            from snakemake.exceptions import WorkflowError  # Snakemake's: ~0.1 s to import

            raise WorkflowError(
                f"snakesweep: {self.results}/ is in use by {self.busy}; "
                "this snakemake computes nothing: run it again when that one "
                "has ended (`snakesweep run` waits for it by itself)"
            )
        told = slurm.ask_squeue_without_accounting(workflow)
        if told:
            print(told, file=sys.stderr, flush=True)
        self._finished = False
        atexit.register(self._unfinished)
        if not workflow.local_exec and ENV in os.environ:  # not used: stop it
            os.environ.pop(ENV)
            stop_pool(os.environ.pop(POOL_PID_ENV, ""))
        if SESSION_ENV not in os.environ:
            try:
                self.session = begin_session(self.results)
                os.environ[SESSION_ENV] = str(self.session)
            except Exception as exc:  # noqa: BLE001 - runs still record what they can
                print(
                    f"snakesweep: could not record the session's provenance: {exc}", file=sys.stderr
                )
        if ENV not in os.environ and workflow.local_exec:
            self.pool = local_pool(self.pending, arguments.workflow_cores(workflow), self.plan)
            if self.pool is not None:
                os.environ[ENV] = self.pool.address

    def _unfinished(self) -> None:
        if not self._finished:
            self.finish(failed=True, apart=True)

    def finish(self, failed: bool, apart: bool = False) -> None:
        """Stop the pool; put back the merged files a failed merge job left whole (Snakemake
        removed them); after a failure, still merge what finished (``onsuccess``/``onerror``).
        ``apart``: merge in a process of its own (at this process's exit, when importing
        xarray and rerun anew is unsafe)."""
        if self.busy is not None:  # another invocation's results: not ours to merge
            return
        self._finished = True
        atexit.unregister(self._unfinished)  # a Snakemake run in-process: the process lives on
        if self._lock is not None:  # no longer a live Snakemake here (the results' lock,
            self._lock.close()  # held to the process's end, keeps the next one waiting)
            self._lock = None
        _cancel_timers()
        if self.pool is not None:
            self.pool.stop()
            os.environ.pop(ENV, None)
            self.pool = None
        if self.session is not None:
            end_session(self.session)
            os.environ.pop(SESSION_ENV, None)
            self.session = None
        if not failed:
            self.say_unmerged()
            return
        if not self._merge_finished(apart):
            return
        statuses = store.run_statuses(self.results, self.plan.run_ids)
        failed_runs = [r for r in self.plan.run_ids if statuses[r] == "failed"]
        pending = [r for r in self.plan.run_ids if statuses[r] != "done" and r not in failed_runs]
        if failed_runs:
            print(
                f"snakesweep: {len(failed_runs)} of {len(statuses)} runs failed; merged the "
                f"rest into {self._sweep_file}. See `snakesweep status` or "
                f"{self.results}/runs/<run_id>/meta.json; run again to retry them.",
                file=sys.stderr,
            )
        elif pending:
            print(
                f"snakesweep: merged the finished runs into {self._sweep_file}; "
                f"{len(pending)} of {len(statuses)} have no result in {self.results}/runs/ "
                f"(first: {pending[0]}); run again to compute them.",
                file=sys.stderr,
            )
        self.say_unmerged()

    def _merge_finished(self, apart: bool) -> bool:
        """After a failure, merge the runs that finished, unless the merge ran; whether it
        merged (else it said why not, or there was nothing to do)."""
        try:
            key = freshness.merge_key(self.plan, self.results)
            if key is not None and freshness.recorded_key(self.results) == key:
                return False  # the merge ran: what failed came after it
            if apart:
                merged = subprocess.run(
                    [sys.executable, "-m", "snakesweep.merge", str(self.plan.path), self.results],
                    check=False,
                )
                if merged.returncode != 0:
                    return False  # it said why
            else:
                aggregate.write_sweep(self.plan, self.results)
        except Exception as exc:  # noqa: BLE001 - the workflow already failed; say why this did too
            causes = (
                [f"snakesweep: {exc.message}: {cause}" for cause in exc.exceptions]
                if isinstance(exc, ExceptionGroup)
                else []
            )  # each run that cannot be read
            print(
                f"snakesweep: could not merge the finished runs"
                f"{'' if causes else f': {exc}'}; the merged files are the previous "
                "merge's",
                file=sys.stderr,
            )
            for line in causes:
                print(line, file=sys.stderr)
            return False
        return True

    def say_unmerged(self) -> None:
        """Name the done runs the merge left out of ``sweep.nc``, and why (its own log is
        in a file: what Snakemake, ``dvc repro`` or ``snakesweep run`` show is this)."""
        for line in aggregate.unmerged_lines(
            aggregate.unmerged_runs(self.results, self.plan), self._sweep_file
        ):
            print(line, file=sys.stderr)


def _cancel_timers() -> None:
    """Cancel the timers Snakemake's scheduler left: each of its rounds starts one (of its
    ``--max-jobs-per-timespan``, 1 s by default) to look again, and its process waits for
    every one before it exits. Once the jobs are over (``onsuccess``, ``onerror``) none has
    anything left to do, and the sweep would end up to a second later."""
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()
