"""Live view: a sweep's runs in rerun's viewer as they finish (``snakesweep run --view``,
``snakesweep.sweep(..., view=...)``).

A thread of the invocation watches ``results/runs/``, where a run appears whole when it
is committed (``store.RunDraft.commit`` renames its directory into place). Whenever the set
of run directories changes, it merges the runs so far in memory (``merge.dataset.merge_runs``;
nothing is written) and sends to the viewer what changed in the recording's own mapping of
them (``mapping.layout``), so the N-D picture fills in while the sweep runs:

* a row of a time series is sent once, when every run it shows is done (its repeats
  included) with the current code, so it is sent with the value it has in the final
  recording and never twice; rows of failed runs (which ``--retries`` or a later run may
  compute yet) are sent at the end, as the final recording holds them;
* bars, tensors and static values are sent again whole when they change (rerun shows the
  latest);
* ``/progress`` says how many runs are done, failed and pending, with an ETA from the pace
  so far and the mean run duration.

The stream goes to a viewer over gRPC: the native viewer (``--view``), the web viewer on
127.0.0.1 (``--view web``), or one already running (``--view rerun+http://…/proxy``). It is
never part of the sweep: an error of the stream or a closed viewer stops only the view,
and ``results/sweep.rrd`` is written by the merge exactly as without ``--view``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snakesweep import store
from snakesweep.errors import SnakesweepError
from snakesweep.merge.dataset import merge_runs
from snakesweep.merge.index import RunMetas
from snakesweep.planning.plan import Plan
from snakesweep.provenance.code import CurrentCode
from snakesweep.view import mapping, recording, viewer

# numpy and rerun are imported in the functions that use them: every command imports this
# module (the parser reads ``--view`` with ``target``), whether or not it shows a sweep.

__all__ = [
    "ENDED",
    "ENDED_AT_END",
    "FLUSH_TIMEOUT",
    "NICE",
    "POLL",
    "PROGRESS",
    "LiveView",
    "Progress",
    "Target",
    "ViewError",
    "live_view",
    "target",
]

PROGRESS = "/progress"
"""The entity of the progress text (not in ``sweep.rrd``)."""
POLL = 0.05
"""Seconds between two looks at ``results/runs/``."""
NICE = 10
"""The watching thread's niceness: it yields the cores to the runs."""
FLUSH_TIMEOUT = 5.0
"""Seconds an update waits for the viewer to take what it sent (a stalled viewer never
holds up the sweep)."""


class ViewError(SnakesweepError, ValueError):
    """``--view`` names no viewer snakesweep can start or reach."""


@dataclass
class Progress:
    """Counts of the sweep's runs and what the pace so far says of the rest."""

    done: int
    failed: int
    pending: int
    eta: float | None
    mean_duration: float | None

    def text(self) -> str:
        """One markdown paragraph for the ``/progress`` entity."""
        total = self.done + self.failed + self.pending
        parts = [
            f"**{self.done} of {total} runs done**",
            f"{self.failed} failed",
            f"{self.pending} pending",
        ]
        if self.pending and self.eta is not None:
            parts.append(f"ETA {_duration(self.eta)}")
        elif not self.pending:
            parts.append("finished")
        if self.mean_duration is not None:
            parts.append(f"a run takes {_duration(self.mean_duration)} on average")
        return " · ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class _Sent:
    """What the stream holds already, per leaf: rows of series, values of the rest."""

    rows: dict[str, Any] = field(default_factory=dict)  # path → bool array of rows sent
    values: dict[str, Any] = field(default_factory=dict)  # path → last values sent
    shape: tuple[tuple[str, str], ...] | None = None  # the tree the blueprint was sent for


class LiveView:
    """Sends a sweep's runs to a rerun stream as they finish (see the module docstring).

    ``update()`` sends what changed since the last one; ``start()`` runs updates in a
    thread whenever ``results/runs/`` changes, until ``stop()``, which sends a last one.
    """

    def __init__(self, plan: Plan, results: str | os.PathLike[str], stream: Any) -> None:
        self.plan = plan
        self.results = Path(results)
        self.stream = stream
        self.updates = 0
        self.busy = 0.0
        """Seconds spent in updates."""
        self.shown: dict[str, float] = {}
        """When each ended run was first in the stream (``time.time()`` after the flush)."""
        self.latencies: list[float] = []
        """Seconds from a run's commit to its being in the stream, for runs of this view."""
        self.error: BaseException | None = None
        self._sent = _Sent()
        self._metas = RunMetas(self.results)
        self._code: tuple[Plan, store.CodeNow] | None = None
        self._seen: dict[str, tuple[int, int]] | None = None
        self._started = time.monotonic()
        self._ended_at_start: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.server: viewer.LiveServer | None = None
        """The viewer this view started, if any."""

    def follow(self, plan: Plan) -> None:
        """Show ``plan`` from now on (an adaptive sweep's next round)."""
        self.plan = plan
        self._seen = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._watch, name="snakesweep live view", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop watching after one last update, so the view ends as the sweep did (none when
        the thread is still stuck in one: the sweep never waits for the view)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * FLUSH_TIMEOUT)
            if self._thread.is_alive():
                return
        if self.error is None:
            self._guarded(final=True)

    def close(self) -> None:
        """Stop watching (once), send the last update, hand the stream over; a stream that
        does not let go within ``FLUSH_TIMEOUT`` is left to the process's end."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        rec = self.stream
        done = threading.Event()

        def let_go() -> None:
            try:
                rec.flush(timeout_sec=FLUSH_TIMEOUT)
                rec.disconnect()
            except Exception:  # the viewer went away; the view has said so, or had ended
                pass
            done.set()

        threading.Thread(
            target=let_go, name="snakesweep live view: disconnect", daemon=True
        ).start()
        if not done.wait(2 * FLUSH_TIMEOUT):
            import rerun as rr

            rr.unregister_shutdown()  # a stalled viewer: exit without waiting for it

    def end(self, say: Any = print, serve: bool = True) -> None:
        """The sweep has ended: close the view, say what it did, and keep serving a web
        viewer this started until Ctrl-C (or SIGTERM) when ``serve``."""
        self.close()
        say(f"snakesweep: {self.summary()}", file=sys.stderr, flush=True)
        server = self.server
        if serve and server is not None and server.process is not None:
            say(
                f"snakesweep: the sweep has ended; the live view stays at {server.page} "
                "until Ctrl-C",
                flush=True,
            )
            server.wait()

    def _watch(self) -> None:
        try:  # on Linux, this thread only: the runs come first when the cores are busy
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        except (AttributeError, OSError):
            pass
        while not self._stop.is_set() and self.error is None:
            seen = _run_dirs(self.results)
            if seen != self._seen:
                self._seen = seen
                self._guarded()
            self._stop.wait(POLL)

    def _guarded(self, final: bool = False) -> None:
        try:
            self.update(final)
        except Exception as exc:  # the view is not the sweep: it stops, the sweep goes on
            self.error = exc
            print(
                f"snakesweep: the live view stopped ({type(exc).__name__}: {exc}); the "
                "sweep goes on, and results/sweep.rrd is written as usual",
                file=sys.stderr,
                flush=True,
            )

    def update(self, final: bool = False) -> None:
        """Merge the runs so far and send what changed in their mapping, then the progress;
        ``final``: the sweep has ended, failed runs will not be computed again."""
        began = time.perf_counter()
        self._update(final)
        self.busy += time.perf_counter() - began

    def _stale(self, plan: Plan) -> set[str]:
        """The done runs computed with other code than the plan's: computed again soon."""
        if self._code is None or self._code[0] is not plan:
            self._code = (plan, CurrentCode(plan.options))
        statuses = store.run_statuses(self.results, plan.run_ids, self._code[1])
        return {r for r, status in statuses.items() if status in ("stale", "corrupt")}

    def _update(self, final: bool) -> None:
        import numpy as np

        plan = self.plan  # follow() may swap it meanwhile
        metas = self._metas.read(plan.run_ids)  # each meta.json read once, then by stat
        dataset = _with_stale(merge_runs(plan, self.results, metas=metas), self._stale(plan))
        ended = ENDED_AT_END if final else ENDED
        status = dataset["status"].values
        progress = self._progress(status, metas)
        root: mapping.Branch | None
        settled: mapping.Branch | None
        try:
            root = mapping.layout(_settled_values(dataset, ended))
            settled = mapping.layout(_settled_mask(dataset, ended))
        except mapping.NothingToShow:  # no result yet, or none to show
            root = settled = None
        rec = self.stream
        if root is not None and settled is not None:
            shape = tuple((leaf.path, leaf.title) for leaf in root.leaves())
            if shape != self._sent.shape:
                rec.send_blueprint(mapping.blueprint(root, header=PROGRESS))
                self._sent = _Sent(shape=shape)
            for leaf, mask in zip(root.leaves(), settled.leaves(), strict=True):
                if isinstance(leaf, mapping.Series) and leaf.timeline is not None:
                    ready = np.isfinite(mask.values).all(axis=-1)
                    times = leaf.timeline.times
                    sent = self._sent.rows.setdefault(leaf.path, set())
                    new = ready & ~np.isin(times, list(sent))  # by time: the domain may grow
                    if new.any():
                        recording.send_rows(rec, leaf, new)
                        sent.update(times[new].tolist())
                else:
                    shown = (leaf.values, getattr(leaf, "value_range", None))
                    last = self._sent.values.get(leaf.path)
                    if (
                        last is None
                        or last[1] != shown[1]
                        or not np.array_equal(last[0], shown[0], equal_nan=True)
                    ):
                        recording.send(rec, leaf)
                        self._sent.values[leaf.path] = shown
        import rerun as rr

        rec.log(PROGRESS, rr.TextDocument(progress.text(), media_type="text/markdown"), static=True)
        rec.flush(timeout_sec=FLUSH_TIMEOUT)
        now = time.time()
        first = not self.updates
        done = set(dataset["run_id"].values[_ended(dataset, ENDED)].tolist())
        for run_id in dataset["run_id"].values[_ended(dataset, ended)].tolist():
            if run_id in self.shown:
                continue
            self.shown[run_id] = now
            if not first and run_id in done:  # done in this invocation: how soon it showed
                self.latencies.append(now - _ended_at(self.results, run_id, now))
        self.updates += 1

    def summary(self) -> str:
        """What the view did: runs shown, updates, how soon after ending a run was shown."""
        import numpy as np

        text = f"live view: {len(self.shown)} runs in {self.updates} updates ({self.busy:.1f} s)"
        if self.latencies:
            text += (
                f"; a run was in the stream {np.median(self.latencies):.2f} s after it "
                f"ended (median; max {max(self.latencies):.2f} s)"
            )
        return text

    def _progress(self, status: Any, metas: Mapping[str, Mapping[str, Any] | None]) -> Progress:
        import numpy as np

        values, counts = np.unique(status, return_counts=True)
        count = dict(zip(values.tolist(), counts.tolist(), strict=True))
        done, failed = count.get("done", 0), count.get("failed", 0)
        pending = int(status.size) - done - failed
        ended = done + failed
        if self._ended_at_start is None:
            self._ended_at_start = ended
        now = time.monotonic()
        here = ended - self._ended_at_start  # the pace of this invocation, not of earlier ones
        eta = (now - self._started) / here * pending if here else None
        durations = [
            m["duration"]
            for m in metas.values()
            if m and isinstance(m.get("duration"), int | float)
        ]
        mean = sum(durations) / len(durations) if durations else None
        return Progress(done, failed, pending, eta, mean)


def _run_dirs(results: Path) -> dict[str, tuple[int, int]]:
    """Each run directory's inode and change time: a committed run replaces its directory."""
    out: dict[str, tuple[int, int]] = {}
    try:
        with os.scandir(store.runs_dir(results)) as entries:
            for entry in entries:
                if not entry.name.startswith("."):
                    st = entry.stat(follow_symlinks=False)
                    out[entry.name] = (st.st_ino, st.st_mtime_ns)
    except FileNotFoundError:
        pass
    return out


def _ended_at(results: Path, run_id: str, default: float) -> float:
    """When a run was committed: its ``meta.json`` is written just before."""
    try:
        return (store.run_dir(results, run_id) / store.META).stat().st_mtime
    except OSError:
        return default


ENDED = ("done",)
"""Statuses of a run whose values will not change while the sweep runs."""
ENDED_AT_END = ("done", "failed")
"""The same once the sweep has ended."""


def _with_stale(dataset: Any, stale: set[str]) -> Any:
    """``dataset`` with the status of ``stale`` runs said (the merge counts them done)."""
    import numpy as np

    if not stale:
        return dataset
    status = dataset["status"]
    marked = np.where(np.isin(dataset["run_id"].values, list(stale)), "stale", status.values)
    return dataset.assign(status=status.copy(data=marked))


def _ended(dataset: Any, ended: tuple[str, ...]) -> Any:
    """Per point of the sweep: has its run ended with a status of ``ended``?"""
    import numpy as np

    return np.isin(dataset["status"], ended)


def _numeric(dataset: Any) -> list[str]:
    """The result variables the recording shows (``mapping.layout`` maps these)."""
    return [
        str(n)
        for n, v in dataset.data_vars.items()
        if n not in mapping.BOOKKEEPING and v.dtype.kind in "biuf"
    ]


def _settled_values(dataset: Any, ended: tuple[str, ...]) -> Any:
    """The Dataset with every point whose repeats have not all ended set to NaN, so a mean
    over ``repeat`` is shown only with its final value."""
    if mapping.REPEAT not in dataset.dims:
        return dataset
    whole = dataset["status"].copy(data=_ended(dataset, ended)).all(mapping.REPEAT)
    return dataset.assign({n: dataset[n].astype("f8").where(whole) for n in _numeric(dataset)})


def _settled_mask(dataset: Any, statuses: tuple[str, ...]) -> Any:
    """A Dataset shaped like ``dataset`` whose numbers are 1 where every run they show has
    ended and NaN elsewhere: its layout says which rows of each view are final."""
    import numpy as np

    status = dataset["status"]
    ended = _ended(dataset, statuses)
    if mapping.REPEAT in status.dims:
        axis = status.dims.index(mapping.REPEAT)
        ended = np.broadcast_to(ended.all(axis=axis, keepdims=True), ended.shape)
    mask = np.where(ended, 1.0, np.nan)
    numeric = {}
    for name in _numeric(dataset):
        var = dataset[name]
        if var.dims[: status.ndim] == status.dims:  # as the merge lays them out: swept first
            extra = (1,) * (var.ndim - status.ndim)
            numeric[name] = var.copy(
                data=np.broadcast_to(mask.reshape(mask.shape + extra), var.shape)
            )
        else:
            numeric[name] = status.copy(data=mask).broadcast_like(var).transpose(*var.dims)
    return dataset.assign(numeric)


# --- where the stream goes ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where ``--view`` sends the stream: a viewer it starts, or one at ``url``."""

    kind: str  # "native", "web" or "url"
    url: str | None = None


def target(text: str, name: str = "--view") -> Target:
    """``--view``'s value (or that of another option, ``name``): ``native`` (the default),
    ``web``, or a ``rerun+http://…/proxy`` URL."""
    if text in ("native", "web"):
        return Target(text)
    if text.startswith(("rerun://", "rerun+http://", "rerun+https://")) and text.rstrip(
        "/"
    ).endswith("/proxy"):
        return Target("url", text)
    raise ViewError(
        f"{name} {text!r}: expected native, web, or a viewer's gRPC address "
        "such as rerun+http://127.0.0.1:9876/proxy"
    )


@contextmanager
def live_view(
    where: Target, plan: Plan, results: str | os.PathLike[str], say: Any = print
) -> Iterator[LiveView]:
    """Start the viewer (unless it runs already) and stream the sweep to it while the block
    runs; ``end`` the view inside the block to say how it went and, for the web viewer,
    to keep serving it. Leaving the block stops what it started but a viewer's window."""
    import rerun as rr

    with viewer.live_server(where.kind, where.url) as server:
        if server.page:
            say(f"snakesweep: live view of {results}/ at {server.page}", flush=True)
        rec = rr.RecordingStream(_application_id(plan), send_properties=False)
        rec.set_log_time_enabled(False)
        rec.set_log_tick_enabled(False)
        rec.connect_grpc(server.grpc)
        view = LiveView(plan, results, rec)
        view.server = server
        view.start()
        try:
            yield view
        finally:
            view.close()


def _application_id(plan: Plan) -> str:
    """The application id of the sweep's recording, so the viewer keeps one layout for both."""
    return f"snakesweep {plan.config_name}"
