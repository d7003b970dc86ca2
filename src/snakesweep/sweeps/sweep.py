"""Sweeps started from Python: ``snakesweep.sweep(...)`` and ``Sweep``.

They run on the engine of ``snakesweep run``: the plan (``api.make_plan``, cached under
the results), then Snakemake on snakesweep's Snakefile with the warm worker pool (or a
cluster's executor), round after round (``snakemake.rounds``), under the results' lock;
and they return the merged ``Results``. A run started here and the same config from the
command line have one run id and one result. Snakemake runs in the caller's interpreter
through its Python entry point (``driver._call_here``: ~0.9 s less per call than a process
of its own, once imported), but where this thread runs an asyncio event loop, as a Jupyter
kernel's does: there Snakemake cannot run, and says to give it a process of its own.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snakesweep import store
from snakesweep.api.live import LiveView, live_view, target
from snakesweep.api.plans import make_plan
from snakesweep.api.results import Results, load
from snakesweep.core.domain import Domain
from snakesweep.errors import ConfigError, SweepError
from snakesweep.execute.experiment import check_experiment
from snakesweep.planning.plan import Plan
from snakesweep.provenance.code import CurrentCode
from snakesweep.provenance.places import Places
from snakesweep.snakemake import arguments, starting
from snakesweep.snakemake.driver import write_invocation
from snakesweep.snakemake.rounds import run_rounds
from snakesweep.snakemake.summary import (
    count_statuses,
    describe_counts,
    summary,
    sweep_statuses,
)
from snakesweep.store import locks
from snakesweep.sweeps.configs import (
    CONFIG_NAME,
    defaults_of,
    written_config,
    written_experiment,
)
from snakesweep.sweeps.experiments import Experiment, experiment_of
from snakesweep.sweeps.progress import Progress, in_notebook

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FAILURES_SHOWN", "LOG_KEPT", "Sweep", "sweep"]

PYTHON_NEXT = "Sweep(...).plan() lists them, and calling sweep() again retries them"
"""What to do about failed runs, said to a caller in Python."""

FAILURES_SHOWN = 5
"""Failed runs a call names, each with the first line of its error (the rest counted)."""

LOG_KEPT = 10 << 20
"""Bytes of Snakemake's log (appended to by each call with a bar) kept before it is
rotated (its previous part kept as ``snakemake.log.1``)."""

DomainLike = Domain | Mapping[str, Any] | Sequence[str] | str | None


def sweep(
    experiment: str | Callable[..., Any] | None,
    domain: DomainLike = None,
    *,
    config_dir: str | os.PathLike[str] | None = "conf",
    config_name: str = "config",
    overrides: Sequence[str] = (),
    results: str | os.PathLike[str] = "results",
    config: Mapping[str, Any] | None = None,
    cores: int | str | None = None,
    executor: str | None = None,
    batch: int | str | None = None,
    retries: int = 0,
    progress: bool | None = None,
    view: str | None = None,
    snakemake_args: Sequence[str] = (),
) -> Results:
    """Compute the runs of a sweep that are not done yet, merge them, and return the
    ``Results``; a second call with the same arguments computes nothing.

    ``experiment``: ``"package.module:function"``, a function (a notebook's or
    ``__main__``'s is shipped by value; see ``Sweep``), or None for the config's
    ``snakesweep.experiment``. ``domain``: a ``Domain``, a mapping in the domain grammar
    (``{"lr": [0.1, 0.01], "seed": "range(3)"}``), or Hydra sweep overrides
    (``["lr=0.1,0.01"]``);
    a Domain or mapping replaces the config's ``snakesweep.domain``. The config is the tree
    ``config_dir``/``config_name``, or, with ``config_dir=None`` (or no ``conf/``),
    ``config=`` or the experiment's keyword defaults. ``executor``: a Snakemake executor
    (``"slurm"``); ``batch``: runs per job (a number or ``"auto"``); ``retries``: attempts after a
    failure; ``progress``: a bar of the runs (default: in Jupyter; elsewhere Snakemake's
    own output, as ``snakesweep run`` shows it); ``view``: the runs in rerun's viewer as they
    finish (``"native"``, ``"web"`` or a running viewer's ``rerun+http://…/proxy``), as
    ``snakesweep run --view`` shows them; ``snakemake_args``: Snakemake's own
    options, as after ``--`` of ``snakesweep run`` (a ``--profile``, an executor's
    settings such as ``--slurm-partition``-style resources).
    """
    return Sweep(
        experiment,
        domain,
        config_dir=config_dir,
        config_name=config_name,
        overrides=overrides,
        results=results,
        config=config,
    ).run(
        cores=cores,
        executor=executor,
        batch=batch,
        retries=retries,
        progress=progress,
        view=view,
        snakemake_args=snakemake_args,
    )


class Sweep:
    """A sweep built step by step: ``plan()`` its points, run ids and statuses; ``run()``;
    ``status()``; ``results``; ``len()``, its runs.

    A function defined in a notebook cell or in ``__main__`` is shipped to the workers by
    value (cloudpickle, written under the results) and its source is its code: editing the
    cell makes its runs stale, as editing a module does. One that closes over more than
    ``sweeps.experiments.SHIPPED_LIMIT`` bytes is refused. An importable function is
    shipped by reference, as ``"module:function"``.
    """

    def __init__(
        self,
        experiment: str | Callable[..., Any] | None = None,
        domain: DomainLike = None,
        *,
        config_dir: str | os.PathLike[str] | None = "conf",
        config_name: str = "config",
        overrides: Sequence[str] = (),
        results: str | os.PathLike[str] = "results",
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if (
            not isinstance(overrides, Sequence)
            or isinstance(overrides, str)
            or not all(isinstance(o, str) for o in overrides)
        ):
            raise ConfigError(
                "overrides", f"expected a list of Hydra overrides (strings), got {overrides!r}"
            )
        if not isinstance(results, (str, os.PathLike)):
            raise ConfigError("results", f"expected a directory, got {results!r}")
        self.directory = str(results)
        with starting.held():  # a first import of Hydra, for the domain: never cut short
            self._take(experiment, domain, overrides, config_dir, config_name, config)

    def _take(
        self,
        experiment: str | Callable[..., Any] | None,
        domain: DomainLike,
        overrides: Sequence[str],
        config_dir: str | os.PathLike[str] | None,
        config_name: str,
        config: Mapping[str, Any] | None,
    ) -> None:
        """The experiment, the domain and the config tree, each checked (``ConfigError``)."""
        store.check_results(self.directory, "results")
        self.experiment: Experiment | None = (
            experiment_of(experiment) if experiment is not None else None
        )
        self._domain, swept = _domain_options(domain)
        self.overrides: tuple[str, ...] = (*overrides, *swept)
        self._given = experiment
        self.config_dir, self.config_name = self._config_tree(config_dir, config_name, config)

    # -- what it is
    def plan(self) -> pd.DataFrame:
        """The points: each one's params, run id and status, in domain order."""
        import pandas as pd

        plan = self._plan()
        statuses = self._statuses(plan)
        return pd.DataFrame(
            [{**p.params, "run_id": p.run_id, "status": statuses[p.run_id]} for p in plan.points]
        )

    def status(self) -> dict[str, int]:
        """How many runs are done, stale, corrupt, pending and failed."""
        return count_statuses(self._statuses(self._plan()))

    @property
    def results(self) -> Results:
        """The merged results as they are (``snakesweep.load``)."""
        return load(self.directory)

    def __len__(self) -> int:
        return len(self._plan().run_ids)

    def __repr__(self) -> str:
        plan = self._plan()
        counts = describe_counts(count_statuses(self._statuses(plan)))
        return (
            f"<Sweep {self._experiment_spec(plan)}: {len(plan.run_ids)} runs, "
            f"{plan.structure()}; {counts}; results in {self.directory}/>"
        )

    def _repr_html_(self) -> str:
        import html

        frame = self.plan()
        counts = describe_counts(count_statuses(dict(zip(frame.run_id, frame.status, strict=True))))
        return (
            f"<p><b>Sweep</b> {html.escape(self._experiment_spec(self._plan()))}: "
            f"{len(set(frame.run_id))} runs ({html.escape(counts)}); results in "
            f"<code>{html.escape(self.directory)}/</code></p>" + frame.head(10).to_html(index=False)
        )

    # -- running it
    def run(
        self,
        *,
        cores: int | str | None = None,
        executor: str | None = None,
        batch: int | str | None = None,
        retries: int = 0,
        progress: bool | None = None,
        view: str | None = None,
        snakemake_args: Sequence[str] = (),
    ) -> Results:
        """Compute the pending runs and merge them (see ``snakesweep.sweep``); the Results.

        Ctrl-C (a notebook's interrupt) stops Snakemake and its jobs; finished runs are
        kept, one cut short is recorded as failed (computed again by the next call), and
        ``KeyboardInterrupt`` is raised after. ``SweepError`` when no run is done (every
        one failed), or Snakemake failed with runs it never computed (a bad option of its
        own, an executor it lacks); failed runs alone are named, and ``Results`` counts them.
        """
        extra = _snakemake_arguments(executor, retries, snakemake_args)
        cores_text = str(cores if cores is not None else "all")
        if cores is not None:
            try:
                arguments.cores(cores)
            except ValueError:
                raise ConfigError("cores", f"{cores!r} is not a number of cores >= 1") from None
        if batch is not None and not (
            batch == "auto"
            or (isinstance(batch, int) and not isinstance(batch, bool) and batch > 0)
        ):
            raise ConfigError("batch", f"{batch!r}: expected a number of runs >= 1, or 'auto'")
        shown = in_notebook() if progress is None else progress
        where = target(view, name="view") if view is not None else None
        with (
            starting.held(),
            locks.sweep_lock(self.directory, "snakesweep.sweep", locks.say_waiting(self.directory)),
        ):
            if self.experiment is not None:
                self.experiment.ship(self.directory)  # what its runs load, and their code
            plan = self._plan()
            invocation = write_invocation(
                store.invocation_file(self.directory, f"python-{plan.path.stem}"),  # type: ignore[union-attr]
                {
                    "plan": str(plan.path),
                    "results": self.directory,
                    "batch": batch,
                    "pooled": arguments.runs_here(extra),
                },
            )
            with ExitStack() as shown_to:
                bar, output = shown_to.enter_context(
                    _progress(shown, plan, self.directory, sweep_statuses(plan, self.directory))
                )
                live = (
                    shown_to.enter_context(live_view(where, plan, self.directory))
                    if where is not None
                    else None
                )
                try:
                    code, plan, statuses = run_rounds(
                        plan,
                        self.directory,
                        invocation,
                        cores_text,
                        extra,
                        ["snakesweep.sweep", *_described(self)],
                        remake=self._plan,
                        follow=_both(bar, live),
                        output=output,
                        here=not _event_loop_running(),
                    )
                except KeyboardInterrupt:
                    counts = count_statuses(sweep_statuses(plan, self.directory))
                    print(
                        f"snakesweep: stopped ({describe_counts(counts)}); the finished runs "
                        "are kept: run the sweep again to compute the rest",
                        file=sys.stderr,
                    )
                    raise
                if live is not None:
                    live.end(serve=False)  # the recording stays: `snakesweep view` shows it
        _say_failures(plan, self.directory, statuses)
        code, line = summary(self.directory, plan, statuses, code, PYTHON_NEXT)
        print(line, file=sys.stderr)
        if code != 0 and (
            not Path(self.directory, store.SWEEP).is_file()
            or not any(s == "done" for s in statuses.values())
            or any(s not in ("done", "failed") for s in statuses.values())
        ):  # nothing to look at, or Snakemake stopped short: say so where the caller is
            raise SweepError(line.removeprefix("snakesweep: "))
        return load(self.directory)

    # -- the parts
    def _statuses(self, plan: Plan) -> dict[str, store.Status]:
        """Each run's status, a function shipped by value judged by its source as it is
        here, not as it was last shipped (reading writes nothing: a sweep may be running)."""
        sources = {}
        if self.experiment is not None and self.experiment.source is not None:
            name = self.experiment.spec.partition(":")[2]
            shipped = Places.here().path(store.function_source(self.directory, name))
            sources[shipped] = self.experiment.source.encode()
        return sweep_statuses(plan, self.directory, sources)

    def _plan(self) -> Plan:
        """The plan of this sweep (cached under the results), its experiment checked; an
        interrupt waits for it (``starting``: its first imports of Hydra)."""
        with starting.held():
            return self._made_plan()

    def _made_plan(self) -> Plan:
        return make_plan(
            self.config_dir,
            self.config_name,
            self._all_overrides(),
            self.directory,
            check=self._check,
            domain_options=self._domain,
        )

    def _all_overrides(self) -> list[str]:
        """The overrides, and the experiment's when the primary config names another (so a
        sweep the config already describes has the plan, and merge, of the command line's)."""
        spec = self.experiment.spec if self.experiment is not None else None
        if spec is None or spec == written_experiment(self.config_dir, self.config_name):
            return list(self.overrides)
        return [f"++snakesweep.experiment='{spec}'", *self.overrides]

    def _check(self, plan: Plan) -> None:
        """Refuse an experiment the runs could not load, before any is cached or run."""
        shipped = self.experiment.spec if self.experiment and self.experiment.by_value else None
        for spec in {plan.experiment_of(r) for r in plan.run_ids} - {shipped}:
            check_experiment(spec, self.directory)
        CurrentCode(plan.options)  # the files each run's snakesweep.code names

    def _experiment_spec(self, plan: Plan) -> str:
        if self.experiment is not None:
            return self.experiment.spec
        return plan.experiment_of(plan.run_ids[0]) if plan.run_ids else "(no runs)"

    def _config_tree(
        self,
        config_dir: str | os.PathLike[str] | None,
        config_name: str,
        config: Mapping[str, Any] | None,
    ) -> tuple[str, str]:
        """The config tree: ``config_dir``, or, with ``config_dir=None`` or no such
        directory as the default ``conf``, one written for ``config=`` or for the
        experiment's keyword defaults."""
        if config is not None:
            if config_dir not in (None, "conf") or config_name != "config":
                raise ConfigError("config", "give config= or config_dir=/config_name=, not both")
            if not isinstance(config, Mapping):
                raise ConfigError("config", f"expected a mapping, got {type(config).__name__}")
            return str(written_config(self.directory, config, self._spec())), CONFIG_NAME
        if config_dir is not None and Path(config_dir).is_dir():
            return str(config_dir), config_name
        defaults = (
            defaults_of(self._given)
            if self._given is not None and config_dir in (None, "conf")
            else None
        )
        if defaults is None:
            raise ConfigError(
                "config_dir=None"
                if config_dir is None
                else f"config directory {str(config_dir)!r}",
                ("gives no config" if config_dir is None else f"does not exist in {os.getcwd()!r}")
                + ": give config_dir=, a config={...}, or an experiment whose parameters all "
                "have defaults (they are the config)",
            )
        return str(written_config(self.directory, defaults, self._spec())), CONFIG_NAME

    def _spec(self) -> str | None:
        return self.experiment.spec if self.experiment is not None else None


def _both(*followers: Progress | LiveView | None) -> Callable[[Plan], None] | None:
    """What tells the bar and the live view of a round's plan (None: neither is shown)."""
    shown = [f for f in followers if f is not None]
    if not shown:
        return None

    def follow(plan: Plan) -> None:
        for f in shown:
            f.follow(plan)

    return follow


def _event_loop_running() -> bool:
    """Whether this thread runs an asyncio event loop (a Jupyter kernel's does), where
    Snakemake cannot run (it says so: "spawn a separate process"), so it gets its own."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _domain_options(domain: DomainLike) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """A Domain, a mapping or YAML text as ``snakesweep`` domain options; a list of Hydra
    sweep overrides as overrides."""
    if domain is None:
        return None, ()
    if isinstance(domain, Domain):
        return domain.to_dict(), ()
    if isinstance(domain, (Mapping, str)):
        return Domain.from_yaml(domain).to_dict(), ()
    if isinstance(domain, Sequence) and all(isinstance(o, str) for o in domain):
        return None, tuple(domain)
    raise ConfigError(
        "domain",
        f"expected a snakesweep.Domain, a mapping in the domain grammar or a list of Hydra "
        f"sweep overrides, got {type(domain).__name__}",
    )


def _snakemake_arguments(
    executor: str | None, retries: int, given: Sequence[str] = ()
) -> list[str]:
    """Snakemake's options for ``executor`` and ``retries``, then those ``given`` (never a
    config value)."""
    if isinstance(given, str) or not all(isinstance(a, str) for a in given):
        raise ConfigError("snakemake_args", f"expected a list of strings, got {given!r}")
    extra: list[str] = []
    if executor not in (None, "local"):
        if not isinstance(executor, str) or not executor.replace("-", "_").isidentifier():
            raise ConfigError("executor", f"{executor!r} is not the name of a Snakemake executor")
        extra += ["--executor", executor]
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError("retries", f"{retries!r}: expected a number of retries >= 0")
    if retries:
        extra += ["--retries", str(retries)]
    return [*extra, *given]


def _described(s: Sweep) -> list[str]:
    """The call, as the runs' provenance records the command that started them."""
    return [
        f"experiment={s.experiment.spec if s.experiment else None}",
        f"config_dir={s.config_dir}",
        f"config_name={s.config_name}",
        *s.overrides,
        *([f"domain={json.dumps(s._domain, sort_keys=True, default=repr)}"] if s._domain else []),
    ]


@contextmanager
def _progress(
    shown: bool, plan: Plan, results: str, statuses: Mapping[str, str]
) -> Iterator[tuple[Progress | None, int | None]]:
    """With a bar: the bar, and the log file Snakemake's own output goes to instead."""
    if not shown:
        yield None, None
        return
    log = store.log_file(results, "snakemake")
    log.parent.mkdir(parents=True, exist_ok=True)
    if log.is_file() and log.stat().st_size > LOG_KEPT:
        os.replace(log, log.with_suffix(".log.1"))  # the one before kept, no more
    bar = Progress(plan, results, statuses)
    try:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"# snakesweep.sweep, {datetime.now().astimezone().isoformat()}\n")
            f.flush()
            yield bar, f.fileno()
    finally:
        bar.close()
        print(f"snakesweep: Snakemake's log: {log}", file=sys.stderr)


def _say_failures(plan: Plan, results: str, statuses: Mapping[str, str]) -> None:
    """Name the failed runs (at most ``FAILURES_SHOWN``): run id, params, first line."""
    failed = [r for r in plan.run_ids if statuses.get(r) == "failed"]
    for run_id in failed[:FAILURES_SHOWN]:
        params = ", ".join(f"{k}={v}" for k, v in plan.point_of(run_id).params.items())
        print(
            f"snakesweep: run {run_id} ({params}) failed: {_error_of(results, run_id)}",
            file=sys.stderr,
        )
    if len(failed) > FAILURES_SHOWN:
        print(f"snakesweep: … and {len(failed) - FAILURES_SHOWN} more failed runs", file=sys.stderr)


def _error_of(results: str, run_id: str) -> str:
    try:
        meta = json.loads((store.run_dir(results, run_id) / store.META).read_text("utf-8"))
        error = meta["error"]
        lines = str(error["message"]).strip().splitlines()
        return f"{error['type']}: {lines[0] if lines else ''}"
    except (OSError, ValueError, KeyError, TypeError):
        return "(its meta.json gives no error)"
