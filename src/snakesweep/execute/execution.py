"""Execute: run one config in this process and write its run directory atomically.

The same function serves the warm worker pool and the in-process fallback
(``python -m snakesweep.execute PLAN RUN_ID``), so both write identical run directories.
"""

from __future__ import annotations

import errno
import inspect
import os
import select
import shutil
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from snakesweep import store
from snakesweep.core.configs import IGNORED_NODES
from snakesweep.core.options import DEFAULT_SEED_KEY, Options
from snakesweep.errors import ExperimentError, SnakesweepError, first_line
from snakesweep.execute import devices, isolation
from snakesweep.execute.experiment import RESERVED_NAMES, load_experiment, to_dataset
from snakesweep.execute.handle import STEP, Run
from snakesweep.execute.hydra_task import add_import_paths, import_task, run_task
from snakesweep.execute.output import captured_output
from snakesweep.planning.plan import Plan, load_plan
from snakesweep.provenance.code import CurrentCode
from snakesweep.provenance.places import Places
from snakesweep.provenance.record import failed_record, run_record
from snakesweep.store import locks, result_record

# numpy, xarray, netCDF4 and OmegaConf (~1 s to import together) are imported where a run
# needs them (or by warm_up, before a pool forks): importing this module stays light.

__all__ = [
    "DISPLAY_ENV",
    "Outcome",
    "execute_contained",
    "execute_run",
    "failure_line",
    "kill_tree",
    "main",
    "open_run",
    "outcome_of_process",
    "takes_run",
    "timeout_of",
    "warm_up",
    "with_logged",
    "write_result",
]

DISPLAY_ENV = "SNAKESWEEP_DISPLAY"
"""Set while a progress display says each run's end (``snakemake --logger snakesweep``):
the jobs then leave their runs' failure lines to it."""


@dataclass(frozen=True)
class Outcome:
    """What became of one run."""

    run_id: str
    status: store.Status
    message: str = ""
    recorded: bool = True
    """Whether ``meta.json`` holds it (False: nothing could be written; it stays pending)."""


def execute_run(plan: Plan, run_id: str, results: str | os.PathLike[str]) -> Outcome:
    """Run one config of ``plan`` into ``results/runs/<run_id>/``, holding the run's lock
    (``snakesweep.locks``): a run that another live process computes is waited for, and
    not computed again when that process finished it.

    The run's own errors are recorded, never raised.
    """
    if run_id not in plan.configs:
        raise ExperimentError(run_id, f"not a run of the plan {str(plan.path)!r}")
    with locks.run_lock(results, run_id, _waiting_for(run_id)) as waited:
        if waited and _done(results, plan, run_id):
            print(
                f"snakesweep: run {run_id} was finished by the process it waited for; "
                "not computed again",
                file=sys.stderr,
                flush=True,
            )
            return Outcome(run_id, "done")
        return _execute_held(plan, run_id, results)


def _done(results: str | os.PathLike[str], plan: Plan | None, run_id: str) -> bool:
    """Whether a run is done with the code it would run now (one computed with other code,
    stale, is no result of this attempt's: it is computed again, or its crash recorded)."""
    code = None
    if plan is not None and run_id in plan.options:
        code = CurrentCode({run_id: plan.options[run_id]})
    return store.run_statuses(results, [run_id], code)[run_id] == "done"


def _waiting_for(run_id: str) -> Callable[[str], None]:
    def say(holder: str) -> None:
        print(
            f"snakesweep: run {run_id} is being computed by another process ({holder}); "
            "waiting for it",
            file=sys.stderr,
            flush=True,
        )

    return say


def _execute_held(plan: Plan, run_id: str, results: str | os.PathLike[str]) -> Outcome:
    """``execute_run`` once this process holds the run's lock."""
    config = plan.configs[run_id]
    options = plan.options[run_id]
    draft = store.RunDraft.begin(Path(results).absolute(), run_id)
    try:
        with open(draft.path / store.CONFIG, "w", encoding="utf-8") as f:
            yaml.dump(
                config, f, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False
            )
    except OSError as exc:  # a full disk: nothing of this attempt is kept
        draft.discard()
        raise ExperimentError(
            run_id, f"could not start: {exc.strerror or exc} ({draft.path})"
        ) from None
    places = Places.here()
    start = datetime.now(UTC)
    t0 = time.perf_counter()
    error: dict[str, str] | None = None
    hydra: dict[str, Any] = {}
    handle: Run | None = None
    dims = (*(d.name for d in plan.dims), *((plan.launch or {}).get("labels") or {}), *plan.coords)

    def compute() -> None:  # in a copy of the context: context variables stay with the run
        nonlocal handle
        spec = plan.experiment_of(run_id)
        if plan.launch is not None:
            add_import_paths(plan.launch)
        if plan.launch is not None:  # a job of Hydra's launcher: Hydra's run_job runs it
            ds = run_task(plan.launch, run_id, draft.path, hydra, dims)
        else:
            fn = load_experiment(spec, results=results)
            keywords = keyword_parameters(fn, config)
            if keywords is not None:  # def f(lr=1e-3, width=32, run=None): the config's keys
                handle = (
                    open_run(run_id, config, options, draft.path) if "run" in keywords else None
                )
                returned = fn(**_keywords(config, keywords, run_id, spec, handle))
            elif takes_run(fn):
                handle = open_run(run_id, config, options, draft.path)
                returned = fn(_as_dictconfig(config), handle)
            else:
                returned = fn(_as_dictconfig(config))
            if handle is not None:
                ds = to_dataset({} if returned is None else returned, run_id, spec, dims)
                ds = with_logged(ds, handle, run_id, spec, dims)
            else:
                ds = to_dataset(returned, run_id, spec, dims)
        write_result(ds, draft.path / store.RESULT)

    with captured_output(draft.path), isolation.isolated_run():
        try:
            isolation.run_in_copied_context(compute)
        except BaseException as exc:  # a run's error is data (KeyboardInterrupt too)
            trace = places.text(traceback.format_exc())
            print(trace, end="", file=sys.stderr)
            (draft.path / store.RESULT).unlink(missing_ok=True)
            error = {
                "type": type(exc).__name__,
                "message": places.text(str(exc)),
                "summary": places.text(first_line(exc)),
                "traceback": trace,
            }
    duration = time.perf_counter() - t0
    recorded = handle.finish(draft.path / store.ARTIFACTS) if handle is not None else {}
    meta: dict[str, Any] = {
        "run_id": run_id,
        "status": "failed" if error else "done",
        **({} if error else result_record(draft.path / store.RESULT)),
        "start": start.isoformat(),
        "end": datetime.now(UTC).isoformat(),
        "duration": round(duration, 6),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "overrides": list(plan.point_of(run_id).overrides),
    }
    if hydra:
        meta["hydra"] = hydra
    if options.devices is not None:
        meta["devices"] = os.environ.get(devices.VISIBLE, "")
    meta.update(recorded)
    if error:
        summary = error.pop("summary")
        meta["error"] = error
    try:
        meta["provenance"] = run_record(options, results, draft.path)
    except Exception as exc:  # noqa: BLE001 - a run's result outlives a failed record of it
        meta["provenance"] = failed_record(options, exc)
    try:
        draft.commit(meta)
    except OSError as exc:  # a full disk: record the failure without the result, if it fits
        error, summary = _commit_unstored(draft, meta, exc)
    if error:
        return Outcome(run_id, "failed", f"{error['type']}: {summary}")
    return Outcome(run_id, "done")


def _commit_unstored(
    draft: store.RunDraft, meta: dict[str, Any], exc: OSError
) -> tuple[dict[str, str], str]:
    """Commit a run that could not be stored (its ``meta.json`` did not fit) as failed,
    without its result and artifacts, which free the space for the record. If even that
    does not fit, nothing is kept: the run stays pending, and ``ExperimentError`` says why."""
    summary = f"could not store the run: {exc.strerror or exc}"
    for name in (store.RESULT, store.ARTIFACTS, store.STDOUT, store.STDERR):
        target = draft.path / name
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
    error = {"type": type(exc).__name__, "message": summary, "traceback": ""}
    for key in ("result_sha256", "result_bytes", "artifacts"):
        meta.pop(key, None)
    meta.update(status="failed", error=error)
    try:
        draft.commit(meta)
    except OSError as again:
        draft.discard()
        raise ExperimentError(
            draft.run_id, f"could not be recorded: {again.strerror or again}; it stays pending"
        ) from None
    return error, summary


def write_result(ds: Any, path: Path) -> None:
    """Write a run's Dataset; a write that failed for want of space says so (netCDF's own
    error is a bare "NetCDF: HDF error")."""
    try:
        ds.to_netcdf(path, engine=store.ENGINE)
    except Exception as exc:
        path.unlink(missing_ok=True)
        if store.out_of_space(path.parent, exc, ds.nbytes):
            raise OSError(
                errno.ENOSPC,
                f"No space left on device for the result "
                f"({ds.nbytes} bytes) in {path.parent}: {first_line(exc)}",
            ) from exc
        raise


def keyword_parameters(
    fn: Callable[..., Any], config: Mapping[str, Any] | None = None
) -> frozenset[str] | None:
    """The parameters of an experiment called with the config's top-level keys as keywords
    (every parameter but ``run`` has a default, as in ``def train(lr=1e-3, width=32)``, and,
    given ``config``, one is named like a key of it: ``def main(cfg=None)`` still takes the
    config whole); one named ``run`` gets the run handle; ``**kwargs`` takes any key, named
    ``"**"``. None for one called with the config."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if not params or any(
        p.kind is p.VAR_POSITIONAL
        or (
            p.kind is not p.VAR_KEYWORD and p.default is inspect.Parameter.empty and p.name != "run"
        )
        or p.kind is p.POSITIONAL_ONLY
        for p in params
    ):
        return None
    names = frozenset("**" if p.kind is p.VAR_KEYWORD else p.name for p in params)
    if config is not None and not (names - {"run", "**"}) & set(config):
        return None
    return names


def _keywords(
    config: Mapping[str, Any],
    names: frozenset[str],
    run_id: str,
    spec: str,
    handle: Run | None,
) -> dict[str, Any]:
    """The keywords of a keyword experiment's call: the config's keys (but snakesweep's and
    Hydra's nodes), and ``run``."""
    given = {k: v for k, v in config.items() if k not in IGNORED_NODES}
    unknown = [k for k in given if k not in names and "**" not in names]
    if unknown:
        raise ExperimentError(
            run_id,
            f"{spec!r} takes no parameter {unknown[0]!r}, which the config sets: add it "
            "(with a default) to the function, or take the config whole (def f(cfg))",
        )
    return {**given, **({"run": handle} if "run" in names else {})}


def takes_run(fn: Callable[..., Any]) -> bool:
    """Whether an experiment takes a second parameter, the run handle: a positional one
    without a default, or one named ``run``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 and (
        positional[1].default is inspect.Parameter.empty or positional[1].name == "run"
    )


def open_run(run_id: str, config: Mapping[str, Any], options: Options, draft: Path) -> Run:
    """The run handle of one run, with its seed and debounce from its ``snakesweep`` options."""
    seed: Any = config
    for part in (options.seed_key or DEFAULT_SEED_KEY).split("."):
        seed = seed.get(part) if isinstance(seed, Mapping) else None
    return Run(
        run_id,
        _as_dictconfig(dict(config)),
        draft,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        debounce=options.debounce,
    )


def with_logged(ds: Any, handle: Run, run_id: str, spec: str, reserved: tuple[str, ...]) -> Any:
    """The returned results and the logged values in one Dataset; a name in both is an error."""
    import xarray as xr  # heavy: see the note above __all__

    logged = handle.dataset()
    clash = [n for n in logged.data_vars if n in (*RESERVED_NAMES, *reserved, STEP)]
    if clash:
        raise ExperimentError(
            run_id,
            f"run.log({clash[0]}=...) logs {clash[0]!r}, which is "
            "the name of a swept key, of 'run_id'/'status' or of 'step': "
            "rename it",
        )
    both = sorted(set(ds.data_vars) & set(logged.data_vars))
    if both:
        raise ExperimentError(
            run_id,
            f"{spec!r} returned {both[0]!r} and also logged it with "
            f"run.log({both[0]}=...): rename one of them",
        )
    if not logged.data_vars:
        return ds
    if STEP in ds.data_vars or (STEP in ds.dims and STEP not in ds.coords):
        raise ExperimentError(
            run_id,
            f"{spec!r} returned {STEP!r} as a result or a dimension "
            "without coordinates, and logged steps: name it otherwise",
        )
    try:
        return xr.merge([ds, logged], join="outer", compat="no_conflicts")
    except (ValueError, xr.MergeError) as exc:
        raise ExperimentError(
            run_id,
            f"{spec!r}: its returned results and its logged steps "
            f"do not fit together: {first_line(exc)}",
        ) from None


def _as_dictconfig(config: dict[str, Any]) -> Any:
    """The resolved config as a read-only DictConfig; a literal ``${`` stays literal."""
    from omegaconf import OmegaConf  # heavy: see the note above __all__

    cfg = OmegaConf.create(_escape_interpolations(config))
    OmegaConf.set_struct(cfg, True)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def _escape_interpolations(node: Any) -> Any:
    if isinstance(node, str):
        return node.replace("${", "\\${")
    if isinstance(node, dict):
        return {k: _escape_interpolations(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_escape_interpolations(v) for v in node]
    return node


def execute_contained(plan: Plan, run_id: str, results: str | os.PathLike[str]) -> Outcome:
    """``execute_run`` in a child process: a run that crashes it is still recorded as failed,
    and one that outlasts ``snakesweep.timeout`` is stopped and recorded as a timeout."""
    options = plan.options.get(run_id) or Options()
    timeout = options.timeout
    with devices.slot(options):  # the child inherits CUDA_VISIBLE_DEVICES
        pid = os.fork()
        if pid == 0:  # the run's own process
            _run_in_child(plan, run_id, results)
        timed_out = timeout is not None and not _ends_within(pid, timeout)
        if timed_out:
            kill_tree(pid)
        _, status = os.waitpid(pid, 0)
    return outcome_of_process(results, run_id, pid, status, timeout if timed_out else None, plan)


def warm_up(plan: Plan, results: str | os.PathLike[str] | None = None) -> None:
    """Import what every run needs, and the plan's experiment (one shipped by value into
    ``results``: loaded), so that the processes forked for its runs start warm; a failing
    import is left for each run to report."""
    import netCDF4  # noqa: F401
    import numpy  # noqa: F401
    import omegaconf  # noqa: F401
    import xarray  # noqa: F401

    try:
        if plan.launch is not None:
            add_import_paths(plan.launch)
        for run_id in plan.run_ids[:1]:  # the code the runs will run: read as imported now
            with isolation.seeding_at_import():  # a seed set at import is every run's
                if plan.launch is not None:  # a task of Hydra's launcher, and Hydra itself
                    import_task(plan.launch)
                else:
                    load_experiment(plan.experiment_of(run_id), results=results)
    except (Exception, SystemExit):  # noqa: BLE001 - each run reports its own error
        pass


def _ends_within(pid: int, seconds: float) -> bool:
    """Whether the child ``pid`` ends within ``seconds`` (it is not reaped)."""
    if hasattr(os, "pidfd_open"):  # Linux: sleep until it ends or the time is up
        handle = os.pidfd_open(pid)
        try:
            return bool(select.select([handle], [], [], seconds)[0])
        finally:
            os.close(handle)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.05)
    return False


def timeout_of(plan: Plan, run_id: str) -> float | None:
    """A run's ``snakesweep.timeout`` in seconds, or None."""
    options = plan.options.get(run_id)
    return None if options is None else options.timeout  # None: execute_run says what is wrong


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every process it started (found in /proc, before they are
    orphaned), so a stopped run leaves nothing of its own running."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    parent = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _run_in_child(plan: Plan, run_id: str, results: str | os.PathLike[str]) -> None:
    """The body of a forked run process: run and exit (never returns)."""
    code = 0
    try:
        execute_run(plan, run_id, results)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def outcome_of_process(
    results: str | os.PathLike[str],
    run_id: str,
    pid: int,
    status: int,
    timed_out: float | None = None,
    plan: Plan | None = None,
) -> Outcome:
    """What became of a run from the wait status of the process that ran it.

    A process that committed its run recorded its outcome; one that left its draft behind
    (a signal, ``os._exit``, a crash in native code) is recorded here as a failed run, its
    logs kept, unless another attempt has finished the run meanwhile. ``timed_out`` (the
    run's timeout) says it was stopped for taking longer: a failed run whose error is a
    ``Timeout`` (one status everywhere: ``meta.json``, ``status``, ``sweep.nc``). With the
    run's ``plan``, a result computed with other code (stale) is not taken as finished.
    """
    draft = store.RunDraft(results, run_id, pid)
    if not draft.path.exists():  # the process committed its run, done or failed
        meta = store.read_meta(results, run_id) or {}
        if meta.get("status") in store.FAILED:
            error = meta.get("error", {})
            return Outcome(
                run_id,
                "failed",
                f"{error.get('type')}: {first_line(str(error.get('message', '')))}",
            )
        return Outcome(run_id, "done")
    code = os.waitstatus_to_exitcode(status)
    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
    kind, state = "RunCrashed", "failed"
    message = f"the run's process ended with {how} before recording a result"
    if timed_out is not None:
        kind = "Timeout"
        message = f"the run took longer than snakesweep.timeout ({timed_out:g} s) and was stopped"
    if _done(results, plan, run_id):
        draft.discard()  # another attempt finished it meanwhile: keep that one
        return Outcome(run_id, "done")
    (draft.path / store.RESULT).unlink(missing_ok=True)  # written, but the run never ended
    try:
        draft.commit(
            {
                "run_id": run_id,
                "status": state,
                "end": datetime.now(UTC).isoformat(),
                "host": socket.gethostname(),
                "pid": pid,
                "error": {"type": kind, "message": message, "traceback": ""},
            }
        )
    except OSError as exc:  # a full disk: the run stays pending, its draft goes
        draft.discard()
        return Outcome(
            run_id,
            "failed",
            f"{kind}: {message} (and could not be recorded: "
            f"{exc.strerror or exc}; it stays pending)",
            recorded=False,
        )
    return Outcome(run_id, "failed", f"{kind}: {message}")


def main(argv: list[str] | None = None) -> int:
    """``python -m snakesweep.execute PLAN RUN_ID RESULTS``: one run, in this process."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m snakesweep.execute PLAN RUN_ID RESULTS", file=sys.stderr)
        return 2
    plan_file, run_id, results = args
    try:
        outcome = execute_contained(load_plan(plan_file), run_id, results)
    except SnakesweepError as exc:
        print(f"snakesweep: {exc}", file=sys.stderr)
        return 2
    line = failure_line(outcome, results)
    if line and not os.environ.get(DISPLAY_ENV):
        print(line, file=sys.stderr)
    return 1 if line else 0


def failure_line(outcome: Outcome, results: str | os.PathLike[str]) -> str:
    """The one line a failed run prints (empty for a done run)."""
    if outcome.status == "done":
        return ""
    where = store.run_dir(results, outcome.run_id) / store.META
    if not outcome.recorded:
        return f"snakesweep: run {outcome.run_id} failed: {outcome.message}"
    return f"snakesweep: run {outcome.run_id} failed: {outcome.message} (see {where})"


if __name__ == "__main__":
    sys.exit(main())
