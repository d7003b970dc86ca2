"""Batches: K pending runs per Snakemake job, computed one after another in one process.

On a cluster each job costs a scheduler round trip (about 5 s on a single-node SLURM), and
a Snakemake DAG costs time per job: ``snakesweep.batch: K`` (or ``snakesweep run --batch K``)
groups the pending runs into jobs of K; ``auto`` makes one wave of jobs, K = pending runs
÷ ``--jobs`` (``--cores`` for local jobs). Past ``MAX_JOBS`` pending runs, jobs are batches
even when ``batch`` is not set, so a 100,000-run sweep's DAG stays small.

::

    results/.snakesweep/batches/<batch_id>.json   a batch: its plan, results, runs (and
                                                  what each was when the batch was formed)
    results/.snakesweep/batches/<batch_id>.done   its job's output, once every run is done

Batches are formed again at every parse from the runs then pending, and each run of a batch
is committed on its own (``snakesweep.execute``), so a batch job killed part-way leaves its
finished runs done and the others pending, for the next invocation's batches. Runs with
different ``snakesweep.resources`` (``runtime`` aside, which adds up) go to different batches.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from snakesweep import store
from snakesweep.core.options import Options
from snakesweep.errors import SnakesweepError
from snakesweep.execute import devices
from snakesweep.execute.execution import DISPLAY_ENV, execute_contained, failure_line, warm_up
from snakesweep.planning.plan import load_plan

__all__ = [
    "BATCH_ID_PATTERN",
    "MAX_JOBS",
    "POOLED_MAX",
    "POOLED_WAVES",
    "Batch",
    "BatchStopped",
    "batch_size",
    "compute_batch",
    "form_batches",
    "main",
    "run_batch",
    "write_batches",
]

MAX_JOBS = 2_000
"""Pending runs beyond which jobs are batches whatever ``batch`` says (at most this many)."""

POOLED_MAX = 16
"""Runs per job, at most, when ``snakesweep run`` batches on its own (``batch_size``)."""
POOLED_WAVES = 4
"""Jobs per parallel job, at least, when ``snakesweep run`` batches on its own."""

BATCH_ID_PATTERN = "[0-9a-f]{16}"
"""A batch id: 16 hex digits of SHA-256 over its runs' ids."""


@dataclass(frozen=True)
class Batch:
    """Runs computed by one job, in domain order."""

    batch_id: str
    run_ids: tuple[str, ...]


def batch_size(setting: int | str | None, pending: int, jobs: int, pooled: bool = False) -> int:
    """Runs per job: K as set; for ``auto``, one wave over ``jobs`` parallel jobs; when unset,
    1, or for jobs run in ``snakesweep run``'s warm pool (``pooled``) up to ``POOLED_MAX``
    with at least ``POOLED_WAVES`` jobs per parallel job (a run's Snakemake job costs more
    than a run: up to 16 runs share one, and a core idle at the end waits for at most
    one job); and never more than ``MAX_JOBS`` jobs."""
    if setting == "auto":
        size = math.ceil(pending / max(1, jobs))
    elif isinstance(setting, int):
        size = setting
    elif pooled:
        size = min(POOLED_MAX, pending // (POOLED_WAVES * max(1, jobs)))
    else:
        size = 1
    return max(1, size, math.ceil(pending / MAX_JOBS))


def form_batches(
    run_ids: Sequence[str], size: int, group_of: Callable[[str], Hashable] = lambda _: None
) -> list[Batch]:
    """Chunks of ``size`` runs, each of one group (runs with other resources go apart)."""
    groups: dict[Hashable, list[str]] = {}
    for run_id in run_ids:
        groups.setdefault(group_of(run_id), []).append(run_id)
    out = []
    for members in groups.values():
        for i in range(0, len(members), size):
            chunk = tuple(members[i : i + size])
            digest = hashlib.sha256("\n".join(chunk).encode()).hexdigest()[:16]
            out.append(Batch(digest, chunk))
    return out


def write_batches(
    results: str | os.PathLike[str],
    plan_file: str | os.PathLike[str],
    batches: Sequence[Batch],
    statuses: Mapping[str, str],
    owner: bool = True,
) -> None:
    """Write each batch's file. The ``owner`` (the one Snakemake of ours alive here) also
    removes the files of batches no longer formed and every marker left (a
    marker outlives its batch when the merge that consumes it never ran); another parse
    only adds the files it lacks, never touching what a running invocation uses."""
    where = store.batches_dir(results)
    if not batches and not (owner and where.is_dir()):
        return
    where.mkdir(parents=True, exist_ok=True)
    if owner:
        keep = {f"{b.batch_id}.json" for b in batches}
        with os.scandir(where) as entries:
            for entry in entries:
                if entry.name.endswith(".done") or (
                    entry.name.endswith(".json") and entry.name not in keep
                ):
                    Path(entry.path).unlink(missing_ok=True)
    for b in batches:
        text = json.dumps(
            {
                "plan": store.local_path(os.path.abspath(plan_file)),
                "results": store.local_path(os.path.abspath(results)),
                "runs": {r: statuses[r] for r in b.run_ids},
            },
            indent=1,
        )
        path = store.batch_file(results, b.batch_id)
        try:
            if not owner or path.read_text(encoding="utf-8") == text:
                continue
        except OSError:
            pass
        store.write_atomic(path, text)


class BatchStopped(SnakesweepError):
    """A batch's runs stop before its end (the process computing them is unfit for the
    rest); carries the run after which they stopped."""


def compute_batch(
    path: str | os.PathLike[str],
    execute: Callable[[str, str, str], str],
    progress: bool = True,
) -> tuple[list[str], int]:
    """Compute a batch's runs in sequence with ``execute(plan_file, run_id, results)`` (which
    returns the run's failure line, empty when it did not fail), skipping a run done since
    the batch was formed (by an earlier attempt of this job, or another invocation); write
    its marker when every run is done. The failure lines, and how many runs it has. With
    ``progress``, each run's end and failure is said on stderr."""
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    formed = os.stat(path).st_mtime_ns
    results, runs = spec["results"], list(spec["runs"])
    failed: list[str] = []
    for i, run_id in enumerate(runs, 1):
        if _done_since(results, run_id, formed):
            continue
        line = execute(spec["plan"], run_id, results)
        if line:
            failed.append(line)
        if progress:
            if line:
                print(line, file=sys.stderr, flush=True)
            print(
                f"snakesweep: batch {Path(path).stem}: {i} of {len(runs)} runs ended "
                f"({len(failed)} failed)",
                file=sys.stderr,
                flush=True,
            )
    if not failed:
        store.write_atomic(Path(path).with_suffix(".done"), "")
    return failed, len(runs)


def run_batch(path: str | os.PathLike[str]) -> int:
    """Compute a batch's runs here (``compute_batch``), each in its own forked process, as
    ``python -m snakesweep.execute`` does. 1 when a run failed."""
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    plan = load_plan(spec["plan"])
    runs = list(spec["runs"])  # run id -> its status when the batch was formed
    options = plan.options[runs[0]] if runs else Options()

    def execute(plan_file: str, run_id: str, results: str) -> str:
        return failure_line(execute_contained(plan, run_id, results), results)

    with devices.slot(options):  # CUDA_VISIBLE_DEVICES before the experiment is imported
        warm_up(plan, store.results_of_plan(spec["plan"]))
        failed, _ = compute_batch(path, execute, progress=not os.environ.get(DISPLAY_ENV))
    return 1 if failed else 0


def _done_since(results: str, run_id: str, formed: int) -> bool:
    """Whether a run is done with a ``meta.json`` written after its batch was formed."""
    try:
        written = os.stat(store.run_dir(results, run_id) / store.META).st_mtime_ns
    except OSError:
        return False
    return written > formed and store.run_statuses(results, [run_id])[run_id] == "done"


def main(argv: list[str] | None = None) -> int:
    """``python -m snakesweep.execute.batches BATCH_FILE``: compute one batch's runs."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m snakesweep.execute.batches BATCH_FILE", file=sys.stderr)
        return 2
    try:
        return run_batch(args[0])
    except (SnakesweepError, OSError, ValueError, KeyError) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        print(
            f"snakesweep: batch {args[0]}: {what} (run the sweep again: its batches are "
            "formed again from the runs still pending)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
