"""The Snakemake glue: what ``workflow/sweep.smk`` wires together, and nothing it decides.

A Snakefile includes the rules with::

    from snakesweep.rules import RULES
    include: RULES

They read their settings from Snakemake's config under the key ``snakesweep``, validated
against ``CONFIG_SCHEMA`` (``config_dir``, ``config_name``, ``overrides``, ``results``,
``from_run``, ``batch``; or ``plan``, a plan file that Hydra's launcher wrote), make the
plan (from its cache when nothing changed) and ask for one ``run_experiment`` job per run
whose ``results/runs/<run_id>/result.nc`` is missing (or one ``run_batch`` job per K of
them, see ``snakesweep.execute.batches``), then one ``merge_runs`` job, then one
``sweep_report`` job: the files of the sweep that ``snakemake --report results/report.html``
puts in Snakemake's report (``snakesweep.view.report``).

Freshness follows content, never file times, so a fresh clone after ``dvc pull`` (new
times, no ``.snakemake/`` metadata) has nothing to do: a run is done when its result file
exists under its content address, and the merge reruns when its key (layout and runs)
differs from the one the merged files record; see ``snakesweep.merge.freshness``.

Per-job values reach the job's shell through the environment (``SNAKESWEEP_*``), never
through the command line, and never a config value: the shell command is the same text
for every sweep, so Snakemake's code and params triggers never rerun finished runs when the
domain grows.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.core.configs import RUN_ID_PATTERN
from snakesweep.core.options import BatchSetting, PictureMode, batch_setting
from snakesweep.errors import SnakesweepError
from snakesweep.execute import batches, resources
from snakesweep.execute.batches import BATCH_ID_PATTERN, Batch
from snakesweep.execute.experiment import check_experiment
from snakesweep.execute.hydra_task import add_import_paths
from snakesweep.execute.pool import CLIENT, Pool
from snakesweep.merge import freshness
from snakesweep.planning.plan import Plan, load_plan
from snakesweep.provenance.code import Code, CurrentCode
from snakesweep.snakemake import arguments, display, recovery
from snakesweep.snakemake.lifecycle import SweepLifecycle
from snakesweep.store import locks
from snakesweep.view import report

__all__ = [
    "BATCH_COMMAND",
    "BATCH_ID_PATTERN",
    "CONFIG_SCHEMA",
    "MERGE_COMMAND",
    "REPORT_COMMAND",
    "RULES",
    "RUN_COMMAND",
    "RUN_ID_PATTERN",
    "SNAKEFILE",
    "SweepWorkflow",
]

RULES = str(Path(__file__).parents[1] / "workflow" / "sweep.smk")
SNAKEFILE = str(Path(__file__).parents[1] / "workflow" / "Snakefile")
CONFIG_SCHEMA = str(Path(__file__).parents[1] / "workflow" / "schemas" / "config.schema.yaml")
"""The JSON schema (in YAML) of Snakemake's config as these rules read it: the settings under
``snakesweep``, their types and defaults; ``sweep.smk`` validates the config against it."""

RUN_COMMAND = '. "$SNAKESWEEP_CLIENT"; snakesweep_run {wildcards.run_id}'
BATCH_COMMAND = '. "$SNAKESWEEP_CLIENT"; snakesweep_batch {input.batch:q}'
MERGE_COMMAND = '. "$SNAKESWEEP_CLIENT"; snakesweep_merge {log:q}'
REPORT_COMMAND = '. "$SNAKESWEEP_CLIENT"; snakesweep_report {threads} {log:q}'
"""The jobs: each hands its work to the warm worker pool when there is one (``_client.sh``),
or runs it in a fresh Python. The report job writes its log itself, and says the same on
stderr, which Snakemake shows (a picture rerun could not draw, and why)."""
REPORT_THREADS = 4
"""rerun's pictures drawn at once, at most (each is a viewer that mostly waits)."""


@dataclass
class SweepWorkflow(SweepLifecycle):
    """One sweep as the Snakefile sees it: its plan, its paths, its worker pool."""

    plan: Plan
    results: str
    pool: Pool | None = field(default=None, repr=False)
    pending: int = 0
    stale: frozenset[str] = frozenset()
    targets: list[str] = field(default_factory=list)
    """The runs Snakemake may compute and the merge reads: all, but for a plan of Hydra's
    launcher, whose earlier batches' unfinished runs are merged as they are."""
    code: dict[str, Code] = field(default_factory=dict, repr=False)
    batches: list[Batch] = field(default_factory=list, repr=False)
    """The jobs of K pending runs each, when jobs are batches (``snakesweep.batches``)."""
    resource_names: list[str] = field(default_factory=list)
    pictures: PictureMode = "matplotlib"
    """How the report's pictures are drawn (``snakesweep.pictures``)."""
    report_fresh: bool = False
    """Whether the report's files are the ones its key asks for (``report.stamp``)."""
    session: Path | None = None
    busy: str | None = None
    """Who holds the results directory, when another live invocation does and this parse
    did not wait for it (``snakemake -n``, ``--unlock``, …): then this Snakemake computes
    nothing (``start``)."""
    _sweep_lock: locks.SweepLock | None = field(default=None, repr=False)
    _lock: IO[str] | None = field(default=None, repr=False)
    _workflow: Any = field(default=None, repr=False)
    _finished: bool = field(default=True, repr=False)
    """Whether ``finish`` ran (or there is nothing to finish: the workflow did not start)."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any], workflow: Any = None) -> SweepWorkflow:
        """Read the ``snakesweep`` settings of Snakemake's config and make the plan; in the
        main Snakemake process (not a job's, on a cluster node), hold the results directory
        first, waiting for another live invocation (``snakesweep.locks``), and clear what a
        killed one left (``snakesweep.recovery``)."""
        from snakemake.exceptions import WorkflowError  # Snakemake's: ~0.1 s to import

        settings = config["snakesweep"]  # validated against CONFIG_SCHEMA, defaults filled in
        if not settings["plan"] and not Path(settings["config_dir"]).is_dir():
            raise WorkflowError(
                f"snakesweep: config directory {str(settings['config_dir'])!r} does not exist "
                f"in {os.getcwd()!r}: start snakemake from your project's top directory (the "
                "one holding conf/), or name it: --config 'snakesweep={config_dir: DIR}'"
            )
        main = workflow is None or not (workflow.remote_exec or workflow.subprocess_exec)
        results = str(settings["results"])
        try:
            store.check_results(settings["results"], "config['snakesweep']['results']")
            sweep_lock, busy = (
                recovery.hold_results(results, sys.argv[1:]) if main else (None, None)
            )
            if settings["plan"]:  # written by Hydra's launcher (snakesweep.launcher)
                plan = load_plan(settings["plan"])
                add_import_paths(plan.launch or {})
            else:
                plan = make_plan(
                    settings["config_dir"],
                    settings["config_name"],
                    list(settings["overrides"]),
                    settings["results"],
                    from_run=settings["from_run"],
                )
                _check_entries(plan, results)
            sweep = cls(
                plan=plan,
                results=results,
                pictures=plan.options.pictures,
                busy=busy,
                _sweep_lock=sweep_lock,
                _workflow=workflow,
            )
            sweep._lock = recovery.hold_workdir_lock() if main else None
            sweep.resource_names = list(plan.options.resource_names)
            # a job's own Snakemake (on a cluster node) computes the one job it is given
            statuses = sweep.check_merge() if main else {}
            if main:
                sweep.form_batches(
                    batch_setting(settings["batch"], "--batch"),
                    arguments.parallel_jobs(workflow),
                    statuses,
                    owner=sweep._lock is not None and busy is None,
                    pooled=bool(settings["pooled"]),
                )
                display.announce(lambda: sweep.runs_shown(statuses))
        except SnakesweepError as exc:
            raise WorkflowError(f"snakesweep: {exc}") from None
        if sweep._lock is not None and busy is None:  # no other Snakemake of ours is alive
            sweep.recover(statuses)
        os.environ.update(
            {
                "SNAKESWEEP_PYTHON": sys.executable,
                "SNAKESWEEP_CLIENT": str(CLIENT),
                "SNAKESWEEP_PLAN": str(plan.path),
                "SNAKESWEEP_RESULTS": sweep.results,
                report.PICTURES_ENV: sweep.pictures,
            }
        )
        return sweep

    def runs_shown(self, statuses: Mapping[str, store.Status]) -> display.SweepRuns:
        """The sweep as its progress display shows it (``snakesweep.display``)."""
        return display.SweepRuns(
            results=self.results,
            statuses={r: statuses[r] for r in self.targets},
            plan=self.plan,
            params={r: display.params_text(self.plan.point_of(r).params) for r in self.targets},
            batches={b.batch_id: b.run_ids for b in self.batches},
        )

    @property
    def result_pattern(self) -> str:
        return str(store.result_path(self.results, "{run_id}"))

    @property
    def run_results(self) -> list[str]:
        """Every run's result; with batches, the done runs' results and the batches."""
        if self.batches:
            return [*self.batch_markers, *self._done_results()]
        return [str(store.result_path(self.results, r)) for r in self.targets]

    @property
    def merge_inputs(self) -> list[Any]:
        """The merge's run results: ``ancient`` (their times never decide), but for the stale
        runs, which Snakemake computes again and the merge must then follow (it does not
        follow a job it reruns whose outputs exist and are all ``ancient`` inputs of it).
        With batches: the done runs' results, ``ancient``, and the batches' markers."""
        from snakemake.io import ancient  # Snakemake's: ~0.1 s to import

        if self.batches:
            return [*self.batch_markers, *map(ancient, self._done_results())]
        return [
            str(store.result_path(self.results, r))
            if r in self.stale
            else ancient(str(store.result_path(self.results, r)))
            for r in self.targets
        ]

    def _done_results(self) -> list[str]:
        batched = {r for b in self.batches for r in b.run_ids}
        return [str(store.result_path(self.results, r)) for r in self.targets if r not in batched]

    def form_batches(
        self,
        setting: BatchSetting,
        jobs: int,
        statuses: Mapping[str, store.Status],
        owner: bool = True,
        pooled: bool = False,
    ) -> None:
        """Make the pending runs into batches (and write their files) when jobs are batches:
        ``setting`` is ``--batch`` (else the sweep's ``snakesweep.batch``); ``jobs``, how many
        run at once; ``owner``, whether this parse may remove old batch files (see
        ``batches.write_batches``); ``pooled``, whether the jobs run here, in the warm pool of
        ``snakesweep run`` (then, with ``batch`` unset, small batches: ``batch_size``)."""
        options = self.plan.options
        if setting is None:
            setting = options.batch
        pending = [r for r in self.targets if statuses[r] != "done"]
        size = batches.batch_size(setting, len(pending), jobs, pooled)
        self.batches = (
            []
            if size == 1
            else batches.form_batches(pending, size, lambda r: resources.group_of(options[r]))
        )
        batches.write_batches(self.results, self.plan_file, self.batches, statuses, owner)

    @property
    def batch_markers(self) -> list[str]:
        return [str(store.batch_marker(self.results, b.batch_id)) for b in self.batches]

    @property
    def batch_file_pattern(self) -> str:
        return str(store.batch_file(self.results, "{batch_id}"))

    @property
    def batch_marker_pattern(self) -> str:
        return str(store.batch_marker(self.results, "{batch_id}"))

    @property
    def run_resources(self) -> dict[str, Any]:
        """``snakesweep.resources`` as the resources of a run's job."""
        options = self.plan.options
        return resources.per_job(
            self.resource_names, lambda name, wildcards: options[wildcards.run_id].resources[name]
        )

    @property
    def batch_resources(self) -> dict[str, Any]:
        """The resources of a batch's job: those its runs share (``runtime``:
        their sum)."""
        options = self.plan.options

        def value(name: str, wildcards: Any) -> Any:
            runs = self._batch_runs(wildcards.batch_id)
            return resources.batch_value(name, [options[r] for r in runs])

        return resources.per_job(self.resource_names, value)

    def _batch_runs(self, batch_id: str) -> list[str]:
        for b in self.batches:
            if b.batch_id == batch_id:
                return list(b.run_ids)
        path = store.batch_file(self.results, batch_id)  # a cluster job's own parse
        return list(json.loads(path.read_text(encoding="utf-8"))["runs"])

    @property
    def plan_file(self) -> str:
        return str(self.plan.path)

    @property
    def sweep_file(self) -> str:
        return str(Path(self.results, store.SWEEP))

    @property
    def table_file(self) -> str:
        return str(Path(self.results, store.RUNS_TABLE))

    @property
    def recording_file(self) -> str:
        return str(Path(self.results, store.RECORDING))

    @property
    def provenance_file(self) -> str:
        return str(Path(self.results, store.PROVENANCE))

    @property
    def provenance_diff(self) -> str:
        return str(Path(self.results, store.PROVENANCE_DIFF))

    @property
    def metrics_file(self) -> str:
        return str(Path(self.results, store.METRICS))

    @property
    def index_file(self) -> str:
        return str(Path(self.results, store.SWEEP_INDEX))

    @property
    def merge_key_file(self) -> str:
        """The merge's input whose time says whether the merged files are fresh."""
        return str(store.merge_key_file(self.results))

    @property
    def code_key_file(self) -> str:
        """The run jobs' input whose time says which runs were computed with other code."""
        return str(store.code_key_file(self.results))

    def code_input(self, wildcards: Any) -> Any:
        """A run job's input: the code key, dated newer than the result of a stale run and
        ``ancient`` for every other run, so Snakemake computes exactly the stale ones again."""
        from snakemake.io import ancient  # Snakemake's: ~0.1 s to import

        if wildcards.run_id in self.stale:
            return self.code_key_file
        return ancient(self.code_key_file)

    @property
    def merge_log(self) -> str:
        return str(store.log_file(self.results, "merge_runs"))

    @property
    def _report(self) -> store.ReportPaths:
        return store.ReportPaths(self.results)

    @property
    def report_table(self) -> str:
        return str(self._report.table)

    @property
    def report_provenance(self) -> str:
        return str(self._report.provenance)

    @property
    def report_pictures(self) -> str:
        return str(self._report.pictures)

    @property
    def report_index(self) -> str:
        return str(self._report.index)

    @property
    def report_files(self) -> list[str]:
        """What the sweep's report is made of, every one flagged for Snakemake's report but
        ``report.json``: the target that writes them (pictures or their placeholders)."""
        return [self.report_table, self.report_provenance, self.report_pictures, self.report_index]

    def report_source(self, path: str) -> Any:
        """A merged file as an input of the report job: ``ancient`` while the report is
        fresh (a merge that writes the same content again leaves it alone), else plain: a
        job downstream of one Snakemake reruns is judged by the files between them only,
        and never follows a job whose inputs from it are all ``ancient``."""
        from snakemake.io import ancient  # Snakemake's: ~0.1 s to import

        return ancient(path) if self.report_fresh else path

    @property
    def report_key_file(self) -> str:
        """The report job's input whose time says whether the report is fresh."""
        return str(self._report.key_file)

    @property
    def report_log(self) -> str:
        return str(store.log_file(self.results, "sweep_report"))

    @property
    def report_threads(self) -> int:
        """The report job's threads: rerun's pictures it draws at once (at most
        ``REPORT_THREADS``, and the cores Snakemake may use); matplotlib draws one at a
        time."""
        if self.pictures != "rerun":
            return 1
        return min(REPORT_THREADS, arguments.workflow_cores(self._workflow))

    def caption(self, name: str) -> str:
        """A caption that ships with the rules (``workflow/report/<name>.rst``)."""
        return str(report.CAPTIONS / f"{name}.rst")

    @property
    def pictures_caption(self) -> str:
        """The pictures' caption, which the report job writes beside them (it says whether
        they were rendered, and why not): absolute, which Snakemake keeps as it is, and read
        when the report is made."""
        return os.path.abspath(Path(self.report_pictures, "caption.rst"))

    def picture_labels(self, wildcards: Any) -> dict[str, str]:
        """The labels of one picture in the report (its variable, dimensions, rendering)."""
        return report.picture_labels(self.results, wildcards.variable)

    def check_merge(self) -> dict[str, store.Status]:
        """Count the pending runs, find the stale ones (computed with other code) and the
        corrupt ones, and date the code and merge keys so that Snakemake computes exactly
        those again and merges exactly when the content changed. Returns every status."""
        statuses = store.run_statuses(
            self.results, self.plan.run_ids, CurrentCode(self.plan.options)
        )
        batch = set((self.plan.launch or {}).get("batch") or statuses)
        self.targets = [r for r in self.plan.run_ids if r in batch or statuses[r] == "done"]
        self.pending = sum(statuses[r] != "done" for r in self.targets)
        self.stale = frozenset(r for r in self.targets if statuses[r] in ("stale", "corrupt"))
        corrupt = [r for r in self.targets if statuses[r] == "corrupt"]
        if corrupt:
            print(
                f"snakesweep: {len(corrupt)} run(s) whose result is not the file recorded "
                f"at completion (corrupt), computed again: {', '.join(corrupt[:5])}"
                + (", …" if len(corrupt) > 5 else ""),
                file=sys.stderr,
            )
        key = freshness.merge_key(self.plan, self.results, statuses)
        freshness.stamp(self.plan, self.results, statuses, key=key)
        self.report_fresh = report.stamp(self.results, key, self.pictures)
        freshness.stamp_code(self.results, self.stale)
        return statuses

    def recover(self, statuses: Mapping[str, store.Status]) -> None:
        """Clear what a killed Snakemake left: its locks, and the incomplete markers of the
        runs' results (see ``snakesweep.recovery``)."""
        locks = recovery.clear_stale_locks()
        markers = recovery.clear_run_markers(
            [str(store.result_path(self.results, r)) for r in statuses]
        )
        if locks or markers:
            print(
                f"snakesweep: cleared what a killed run left ({locks} Snakemake lock "
                f"file(s), {markers} incomplete marker(s) of finished runs)",
                file=sys.stderr,
            )


def _check_entries(plan: Plan, results: str) -> None:
    """Refuse, before any job, an experiment that cannot exist (importing none of them)."""
    for spec in {o.experiment for _, o in plan.options.distinct().values() if o.experiment}:
        check_experiment(spec, results, imports=False)
