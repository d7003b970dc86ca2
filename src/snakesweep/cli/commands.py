"""``snakesweep plan|run|report|status|view|init|pull|history|show|runs``: thin commands.

Sweep arguments come first, in Hydra's shape (``-cd``, ``-cn``, overrides); arguments after
``--`` go to Snakemake unchanged. Bad input prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from snakesweep import __version__, store
from snakesweep.api.plans import make_plan
from snakesweep.errors import SnakesweepError, first_line
from snakesweep.planning.plan import Plan
from snakesweep.snakemake import arguments
from snakesweep.store import locks


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snakesweep`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    snakemake_args: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, snakemake_args = args[:cut], args[cut + 1:]
    parser = _parser()
    ns, rest = parser.parse_known_args(args)
    ns.argv = list(sys.argv[1:] if argv is None else argv)
    for name in ("config_dir", "results"):  # inside the working directory: kept relative
        if isinstance(getattr(ns, name, None), str):
            setattr(ns, name, store.local_path(getattr(ns, name)))
    results = getattr(ns, "results", None)
    if isinstance(results, str):
        try:
            store.check_results(results)
        except SnakesweepError as exc:
            print(f"snakesweep: {exc}", file=sys.stderr)
            return 2
    for arg in rest:  # overrides after an option (`--cores 2 seed=1,2`) keep their order
        if not hasattr(ns, "overrides"):
            parser.error(f"unrecognized argument {arg!r}")
        if arg.startswith("-"):
            parser.error(f"unrecognized argument {arg!r} (Snakemake's arguments go after --)")
        ns.overrides.append(arg)
    try:
        status = int(ns.command(ns, snakemake_args))
        sys.stdout.flush()  # inside the try: a reader gone shows here, not at the exit
        return status
    except SnakesweepError as exc:
        print(f"snakesweep: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `snakesweep runs | head`: the reader has what it wanted
        _quiet_stdout()
        return 128 + signal.SIGPIPE
    except ExceptionGroup as group:
        print(f"snakesweep: {group.message}: " + "; ".join(str(e) for e in group.exceptions),
              file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"snakesweep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("snakesweep: interrupted; finished runs are kept, run again to go on",
              file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a closed pipe
    prints nothing (Python's advice for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _Parser(argparse.ArgumentParser):
    """argparse with bad usage told in one line (exit status 2), as every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"snakesweep: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="snakesweep",
        description="Run a Hydra-defined sweep through Snakemake: one run per resolved config.",
    )
    parser.add_argument("--version", action="version", version=f"snakesweep {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def sweep_command(name: str, help: str, fn: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("overrides", nargs="*", metavar="OVERRIDE",
                       help="Hydra overrides, e.g. 'optimizer.lr=1e-3,1e-2' model=mlp,cnn")
        p.add_argument("-cd", "--config-dir", default="conf",
                       help="directory of the Hydra config tree (default: conf)")
        p.add_argument("-cn", "--config-name", default="config",
                       help="primary config name (default: config)")
        _results_option(p, "where runs, sweep.nc and runs.csv go")
        p.add_argument("--from", dest="from_run", metavar="RUN_ID",
                       help="start every point from this earlier run's resolved config (a "
                       "unique prefix is enough). Precedence: the config tree < that run's "
                       "config < the domain (hydra.sweeper.params) and these overrides")
        p.set_defaults(command=fn)
        return p

    p = sweep_command("plan", "Show the points of the sweep and their run ids; run nothing.",
                      cmd_plan)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p = sweep_command("run", "Run the pending points through Snakemake, then merge all runs. "
                      "Arguments after -- go to Snakemake.", cmd_run)
    p.add_argument("--cores", default="all", type=_cores,
                   help="cores for Snakemake's local executor (default: all)")
    p.add_argument("--retries", type=_retries, default=0, metavar="N",
                   help="attempts Snakemake makes again at a failed run within this "
                   "invocation, for transient errors (Snakemake's --retries; default: 0)")
    p.add_argument("--batch", type=_batch, default=None, metavar="K|auto",
                   help="K pending runs per Snakemake job, computed one after another in "
                   "one process; auto: one wave of jobs over --jobs (default: the config's "
                   "snakesweep.batch, else one run per job)")
    p.add_argument("--view", nargs="?", const="native", default=None, type=_view,
                   metavar="web|URL", help="show the runs in rerun's viewer as they finish: "
                   "a native window, `--view web` the web viewer on 127.0.0.1 (address "
                   "printed; served until Ctrl-C after the sweep), or a running viewer's "
                   "rerun+http://HOST:PORT/proxy")
    p = sweep_command("report", "Run the pending points and merge, as run does, then write "
                      "Snakemake's HTML report of the sweep: the run table, a picture of each "
                      "result (snakesweep.pictures), the provenance. Arguments after "
                      "-- go to Snakemake's run.", cmd_report)
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="the report: a .html file, or a .zip (default: RESULTS/report.html, "
                   "which git ignores)")
    p.add_argument("--cores", default="all", type=_cores,
                   help="cores for Snakemake's local executor (default: all)")
    p = sweep_command("status", "Count done, pending and failed runs; list the failed ones.",
                      cmd_status)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p = sub.add_parser("view", help="Open the sweep's recording (results/sweep.rrd) in the "
                       "rerun viewer; --web serves it to a browser on 127.0.0.1.",
                       description="Open a recording in rerun's viewer, laid out by the "
                       "blueprint stored in it. Without a display, use --web.")
    p.add_argument("recording", nargs="?", metavar="RECORDING",
                   help="a .rrd file (default: RESULTS/sweep.rrd)")
    _results_option(p, "the results directory of the sweep")
    p.add_argument("--web", action="store_true",
                   help="serve the web viewer on 127.0.0.1 and print its address")
    p.add_argument("--port", type=int, default=0,
                   help="the web viewer's port (default: a free one)")
    p.set_defaults(command=cmd_view)
    p = sub.add_parser("init", help="Add conf/, workflow/ and dvc.yaml for a new sweep here.",
                       description="Add a working sweep beside your code: conf/ (with a "
                       "hydra.sweeper.params domain), workflow/Snakefile and dvc.yaml. "
                       "Refuses to overwrite files that exist.")
    p.add_argument("--experiment", metavar="MODULE:FUNCTION",
                   help="your experiment's entry point (default: write a starter experiment.py)")
    p.set_defaults(command=cmd_init)
    p = sub.add_parser("pull", help="dvc pull, then every run the DVC cache holds whole; "
                       "names the runs it cannot restore. Arguments after -- go to dvc pull.",
                       description="Run `dvc pull`; then check every run of results/runs "
                       "against the hashes in dvc.lock, put the whole ones in place, set "
                       "damaged ones aside and name the runs that will be computed again.")
    _results_option(p, "the results directory dvc.yaml tracks")
    p.set_defaults(command=cmd_pull)
    p = sub.add_parser("history", help="Stack the sweep of each git revision of a range, read "
                       "through DVC, along over_time: RESULTS/history.nc and history.rrd.",
                       description="Read results/sweep.nc as each commit of a git revision "
                       "range recorded it (through DVC: from the cache or the remote) and "
                       "stack them along a dimension over_time, with commit and commit_time "
                       "coordinates, into RESULTS/history.nc and a recording whose log_tick "
                       "timeline steps through the revisions.")
    p.add_argument("revisions", nargs="?", metavar="REVISIONS",
                   help="a git revision range, e.g. HEAD~5..HEAD, followed along first parents "
                   "(default: the last 10 commits)")
    p.add_argument("-n", "--max-count", type=int, metavar="N",
                   help="only the newest N commits of the range")
    _results_option(p, "the results directory dvc.yaml tracks")
    p.set_defaults(command=cmd_history)
    p = sub.add_parser("show", help="One run: status, config, times, metadata, artifacts, "
                       "the last logged step, its error.",
                       description="Show one run of RESULTS: its status, resolved config, "
                       "times, metadata, artifacts, last logged step and error; a run still "
                       "going (or killed) shows the steps it flushed. A unique prefix of a "
                       "run id is enough.")
    p.add_argument("run_id", metavar="RUN_ID", help="a run id, or a unique prefix of one")
    _results_option(p, "the results directory")
    p.set_defaults(command=cmd_show)
    p = sub.add_parser("runs", help="The run table, filtered: --where KEY=VALUE, --status.",
                       description="List the runs of RESULTS (runs.csv): one row per run with "
                       "its status, swept values and scalar results. --where KEY=VALUE keeps "
                       "the runs whose column equals VALUE (given twice for one key: either "
                       "value); --status keeps one status.")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="keep runs whose KEY (a swept key, a result, status) equals VALUE")
    p.add_argument("--status", choices=("done", "failed", "pending", "corrupt"))
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _results_option(p, "the results directory")
    p.set_defaults(command=cmd_runs)
    return parser


def _results_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--results", default="results", help=f"{what} (default: results)")


def _cores(text: str) -> str:
    """``--cores``: a positive number or ``all`` (``snakemake.arguments.cores``)."""
    try:
        arguments.cores(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _retries(text: str) -> int:
    """``--retries``: a number of retries, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of retries (0 or more)")
    return int(text)


def _view(text: str) -> Any:
    """``--view``: native, web, or a viewer's gRPC address."""
    from snakesweep.cli.live import ViewError, target

    try:
        return target(text)
    except ViewError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (overrides go before --view)") from None


def _batch(text: str) -> int | str:
    """``--batch``: a number of runs per job (1 or more), or ``auto``."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of runs per job "
                                         "(1 or more) or auto")
    return int(text)


def cmd_runs(ns: argparse.Namespace, extra: list[str]) -> int:
    from snakesweep.api.results import jsonable_rows, load

    _no_extra(extra, "runs")
    everything = load(ns.results)
    criteria: dict[str, list[Any]] = {}
    for item in ns.where:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SnakesweepError(f"--where {item!r}: expected KEY=VALUE")
        column = everything.runs.get(key)
        criteria.setdefault(key, []).append(
            _typed(text, column.dtype.kind if column is not None else "O", item))
    statuses = [*criteria.pop("status", []), *([ns.status] if ns.status else [])]
    results = everything.filter(**criteria)
    if statuses:
        results = results.filter(status=statuses)
    table = results.runs
    if ns.format == "json":
        print(json.dumps(jsonable_rows(table), indent=1))
    elif ns.format == "csv":
        print(table.to_csv(index=False), end="")
    else:
        _print_table(list(table.columns),
                     [["" if _missing(v) else str(v) for v in row]
                      for row in table.itertuples(index=False)])
        print(f"{len(table)} of {len(everything)} runs")
    return 0


def _typed(text: str, kind: str, item: str) -> Any:
    """A --where value as the column holds it: a number for a numeric column, true/false
    (any case) for a boolean one, else the text."""
    if kind in "iuf":
        try:
            return float(text)
        except ValueError:
            raise SnakesweepError(f"--where {item!r}: the column holds numbers, and "
                                  f"{text!r} is none") from None
    if kind == "b":
        if text.lower() not in ("true", "false"):
            raise SnakesweepError(f"--where {item!r}: the column holds true/false")
        return text.lower() == "true"
    return text


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def cmd_show(ns: argparse.Namespace, extra: list[str]) -> int:
    from snakesweep.api.results import resolve_run_id
    from snakesweep.execute.handle import read_log

    _no_extra(extra, "show")
    run_id = resolve_run_id(ns.results, ns.run_id, drafts=True)
    directory = store.run_dir(ns.results, run_id)
    drafts = sorted(store.run_drafts(ns.results, run_id).glob("*"),
                    key=lambda p: p.stat().st_mtime)
    status = store.run_statuses(ns.results, [run_id], _run_code(ns.results, run_id))[run_id]
    meta = store.read_meta(ns.results, run_id) or {}
    committed = directory / store.META  # (Snakemake makes the run's directory early)
    newer = bool(drafts) and (not committed.is_file()
                              or drafts[-1].stat().st_mtime > committed.stat().st_mtime)
    where = drafts[-1] if newer else directory  # an attempt going on (or killed) wins
    print(f"run {run_id}: {status}" + (f" (an attempt not finished: its draft is {where})"
                                       if newer else ""))
    times = [f"{label} {meta[key]}" for key, label in (("start", "started"), ("end", "ended"))
             if meta.get(key)]
    if meta.get("duration") is not None:
        times.append(f"{meta['duration']} s")
    if meta.get("host"):
        times.append(f"on {meta['host']}")
    if times:
        print(f"  {', '.join(times)}")
    config = where / store.CONFIG
    if config.is_file():
        print(f"  config ({config}):")
        for line in config.read_text(encoding="utf-8").splitlines():
            print(f"    {line}")
    if meta.get("metadata"):
        print(f"  metadata: {json.dumps(meta['metadata'], sort_keys=True)}")
    for artifact in meta.get("artifacts") or []:
        extra_meta = artifact.get("metadata")
        print(f"  artifact {directory / 'artifacts' / artifact['name']}"
              + (f" {json.dumps(extra_meta, sort_keys=True)}" if extra_meta else ""))
    rows = read_log(where)
    if rows:
        last = rows[-1]
        values = ", ".join(f"{k}={v}" for k, v in last.items() if k != "step")
        print(f"  last logged step: {last['step']} ({values}); {len(rows)} steps logged")
    error = meta.get("error")
    if error:
        print(f"  error: {error.get('type')}: {first_line(str(error.get('message', '')))}")
        print(f"  traceback and output: {directory / store.META}, "
              f"{directory / store.STDERR}")
    return 0


def _run_code(results: str, run_id: str) -> store.CodeNow | None:
    """The code a run would run now, as its own config's options name it (``show`` has no
    plan); None when its config cannot be read or its options are unusable."""
    import yaml

    from snakesweep.core.options import Options, node_of
    from snakesweep.provenance.code import CurrentCode

    try:
        text = (store.run_dir(results, run_id) / store.CONFIG).read_text(encoding="utf-8")
        config = yaml.safe_load(text)
        node = node_of(config if isinstance(config, dict) else {})
        return CurrentCode({run_id: Options.parse(node)})
    except (OSError, yaml.YAMLError, SnakesweepError):
        return None


def cmd_history(ns: argparse.Namespace, extra: list[str]) -> int:
    from snakesweep.dvc.history import write_history

    _no_extra(extra, "history")
    history = write_history(ns.revisions, ns.results, max_count=ns.max_count,
                            progress=lambda line: print(f"snakesweep: {line}", file=sys.stderr,
                                                        flush=True))
    skipped = f" ({len(history.skipped)} left out, see above)" if history.skipped else ""
    print(f"snakesweep: {len(history.loaded)} revision(s){skipped} stacked along over_time "
          f"in {history.path}; `snakesweep view {history.recording}` steps through them",
          file=sys.stderr)
    return 0


def cmd_pull(ns: argparse.Namespace, extra: list[str]) -> int:
    from snakesweep.dvc.pull import describe, pull

    report = pull(ns.results, extra)
    for line in describe(report, ns.results):
        print(line, file=sys.stderr)
    return 1 if report.lost else 0


def cmd_view(ns: argparse.Namespace, extra: list[str]) -> int:
    from snakesweep.view.viewer import open_native, serve_web

    _no_extra(extra, "view")
    path = Path(ns.recording) if ns.recording else Path(ns.results, store.RECORDING)
    signal.signal(signal.SIGTERM, _interrupt)  # stops the viewer as Ctrl-C does
    try:
        if not ns.web:
            return open_native(path)
        with serve_web(path, ns.port) as viewer:
            print(f"snakesweep: serving {path} at {viewer.url}", flush=True)
            print("snakesweep: open that address in a browser; Ctrl-C stops the server",
                  file=sys.stderr, flush=True)
            return viewer.process.wait()
    except KeyboardInterrupt:  # the viewer's process group is stopped on the way out
        return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_init(ns: argparse.Namespace, extra: list[str]) -> int:
    from snakesweep.cli.init import IGNORED, init, next_steps

    _no_extra(extra, "init")
    root = Path.cwd()
    written = init(root, ns.experiment)
    print(f"snakesweep: wrote {', '.join(written.files)}; .gitignore ignores {IGNORED}")
    print(next_steps(root, written))
    return 0


def _plan(ns: argparse.Namespace, check: Callable[[Plan], None] | None = None,
          reading: bool = False) -> Plan:
    """The plan of the command's sweep; ``check`` refuses it before a new one is cached
    (bad input leaves the results directory as it was). ``reading``: the command only reads
    the results, which may be on a read-only disk (the plan is then not cached)."""
    return make_plan(ns.config_dir, ns.config_name, ns.overrides, ns.results,
                     from_run=ns.from_run, check=check, cache_optional=reading)


def _check_options(plan: Plan) -> None:
    """Refuse unusable snakesweep options and entry points that cannot exist (without
    importing the experiment's module)."""
    _check_plan(plan, imports=False)


def _statuses(plan: Plan, results: str) -> dict[str, store.Status]:
    """Each run's status, stale ones told apart by the current code fingerprints."""
    from snakesweep.provenance.code import CurrentCode

    return store.run_statuses(results, plan.run_ids, CurrentCode(plan.options))


def cmd_plan(ns: argparse.Namespace, extra: list[str]) -> int:
    _no_extra(extra, "plan")
    plan = _plan(ns, _check_options, reading=True)
    statuses = _statuses(plan, ns.results)
    if ns.format == "json":
        print(json.dumps([{"run_id": p.run_id, "overrides": list(p.overrides),
                           "params": p.params, "status": statuses[p.run_id]}
                          for p in plan.points], indent=1))
        return 0
    print(f"domain: {plan.structure()}")
    keys = plan.keys
    header = ["run_id", "status", *keys]
    rows = [[p.run_id, statuses[p.run_id], *_labels(p.params, keys)] for p in plan.points]
    _print_table(header, rows)
    counts = _counts(statuses)
    print(f"{len(plan.points)} points, {len(plan.run_ids)} runs: {_describe(counts)}")
    return 0


def cmd_status(ns: argparse.Namespace, extra: list[str]) -> int:
    from snakesweep.provenance.code import CurrentCode, fingerprint_of

    _no_extra(extra, "status")
    plan = _plan(ns, _check_options, reading=True)
    code = CurrentCode(plan.options)
    statuses = store.run_statuses(ns.results, plan.run_ids, code)
    metas = {r: store.read_meta(ns.results, r) or {} for r in plan.run_ids
             if statuses[r] != "pending"}
    failed = [r for r in plan.run_ids if statuses[r] == "failed"]
    stale = [r for r in plan.run_ids if statuses[r] == "stale"]
    corrupt = [r for r in plan.run_ids if statuses[r] == "corrupt"]
    debug = [r for r, m in metas.items() if statuses[r] in ("done", "stale")
             and (m.get("provenance") or {}).get("debug")]
    errors = {r: metas[r].get("error", {}) for r in failed}
    counts = _counts(statuses)
    unmerged = _unmerged(plan, ns.results, statuses)
    unused = store.unused_runs(ns.results, plan.run_ids)
    pending = [r for r in plan.run_ids if statuses[r] == "pending"]
    changes, matched = store.config_changes(
        ns.results, {r: plan.configs[r] for r in pending},
        {r: plan.point_of(r).params for r in pending}, unused) if pending and unused \
        else ([], 0)
    if ns.format == "json":
        print(json.dumps({"counts": counts, "unused": len(unused), "changed": [
            {"key": c.key, "before": store.shown_value(c.before),
             "now": store.shown_value(c.now), "runs": c.runs} for c in changes],
            "failed": [
            {"run_id": r, "params": plan.point_of(r).params,
             "error": {k: errors[r].get(k) for k in ("type", "message")}} for r in failed],
            "stale": [{"run_id": r, "params": plan.point_of(r).params,
                       "computed_with": fingerprint_of(metas[r]),
                       "current": code.of(r, metas[r])} for r in stale],
            "corrupt": [{"run_id": r, "params": plan.point_of(r).params,
                         "why": store.why_corrupt(ns.results, r)} for r in corrupt],
            "unmerged": [{"run_id": r, "params": plan.point_of(r).params, "why": why}
                         for r, why in unmerged.items()],
            "debug": debug}, indent=1))
        return 0
    if debug:
        print(f"DEBUG SWEEP: {len(debug)} of {len(plan.run_ids)} runs were computed from a "
              "working tree with uncommitted changes (snakesweep.debug, "
              "snakesweep.git_dirty_ignore)")
    print(f"{len(plan.run_ids)} runs: {_describe(counts)}"
          + (f" ({len(unmerged)} done but not in {ns.results}/sweep.nc)" if unmerged else ""))
    if changes:
        shown = ", ".join(f"{c.key}: {store.shown_value(c.before)} → "
                          f"{store.shown_value(c.now)}" for c in changes[:5])
        print(f"pending: the config changed since the runs in {ns.results}/runs were "
              f"computed ({shown}{', …' if len(changes) > 5 else ''}): {matched} pending "
              "run(s) are runs there with these values, under new run ids")
    if unused:
        print(f"unused: {len(unused)} run(s) in {ns.results}/runs are no run of this sweep "
              "(other configs); they are kept")
    if unmerged:
        print(f"not in {ns.results}/sweep.nc (done, but their results do not fit with the "
              "other runs'; their status there is unmerged):")
        _print_table(["run_id", "why", *plan.keys], [
            [r, why, *_labels(plan.point_of(r).params, plan.keys)]
            for r, why in unmerged.items()])
        print("change what the experiment returns for them (then `snakesweep run -- "
              "--forcerun run_experiment`), or read their results from "
              f"{ns.results}/runs/<run_id>/result.nc")
    if stale:
        print("stale (computed with other code than the current):")
        _print_table(["run_id", "code then", "code now", *plan.keys], [
            [r, str(fingerprint_of(metas[r]) or "unrecorded"), code.of(r, metas[r]) or "-",
             *_labels(plan.point_of(r).params, plan.keys)] for r in stale])
        print("`snakesweep run` (or `snakemake --cores N`) computes them again")
    if corrupt:
        print("corrupt (the result is not the file recorded when the run finished; it is "
              "never merged):")
        _print_table(["run_id", "why", *plan.keys], [
            [r, store.why_corrupt(ns.results, r), *_labels(plan.point_of(r).params, plan.keys)]
            for r in corrupt])
        print("`snakesweep run` (or `snakemake --cores N`) computes them again")
    if debug:
        print(f"debug runs' diffs: {ns.results}/runs/<run_id>/git.diff; to make them final "
              "runs, commit, then `snakesweep run -- --forcerun run_experiment`")
    if failed:
        print("failed:")
        _print_table(["run_id", "error", *plan.keys], [
            [r, f"{errors[r].get('type', '?')}: {first_line(errors[r].get('message', ''))}",
             *_labels(plan.point_of(r).params, plan.keys)] for r in failed])
        print(f"details: {ns.results}/runs/<run_id>/meta.json and stderr.log")
    return 0


def _invocation(ns: argparse.Namespace, plan: Plan, batch: int | str | None) -> Path:
    """The Snakemake config file of this command's sweep (``rules.write_invocation``)."""
    from snakesweep.snakemake.driver import write_invocation

    return write_invocation(
        store.invocation_file(ns.results, plan.path.stem if plan.path else "invocation"),
        {"config_dir": ns.config_dir, "config_name": ns.config_name,
         "overrides": list(ns.overrides), "results": ns.results, "from_run": ns.from_run,
         "batch": batch})


def cmd_run(ns: argparse.Namespace, extra: list[str]) -> int:
    plan = _plan(ns, _check_plan)
    invocation = _invocation(ns, plan, ns.batch)
    extra = [*(["--retries", str(ns.retries)] if ns.retries else []), *extra]
    if ns.view is not None:
        return _run_viewed(ns, plan, invocation, extra)
    with locks.sweep_lock(ns.results, "snakesweep run", locks.say_waiting(ns.results)) as lock:
        if lock.waited:  # the other run may have changed what the plan depends on
            plan = _plan(ns, _check_plan)
        return _run_rounds(ns, plan, invocation, extra)


def _run_viewed(ns: argparse.Namespace, plan: Plan, invocation: Path, extra: list[str]) -> int:
    """``run --view``: the sweep with its live view; a web viewer is served after it (the
    results no longer locked) until Ctrl-C, unless a SIGTERM stopped the sweep."""
    from snakesweep.cli.live import live_view
    from snakesweep.snakemake.driver import TERMINATED

    previous = signal.signal(signal.SIGTERM, _interrupt)  # stops the viewer as Ctrl-C does
    try:
        with live_view(ns.view, plan, ns.results) as view:
            with locks.sweep_lock(ns.results, "snakesweep run",
                                  locks.say_waiting(ns.results)) as lock:
                if lock.waited:
                    plan = _plan(ns, _check_plan)
                    view.follow(plan)
                code = _run_rounds(ns, plan, invocation, extra, view)
            view.end(serve=not TERMINATED.is_set())
            return code
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_report(ns: argparse.Namespace, extra: list[str]) -> int:
    from snakesweep.snakemake.report import build_report, check_output

    ns.output = ns.output or os.path.join(ns.results, store.REPORT_HTML)
    check_output(ns.output)
    plan = _plan(ns, _check_plan)
    invocation = _invocation(ns, plan, None)
    with locks.sweep_lock(ns.results, "snakesweep report",
                          locks.say_waiting(ns.results)) as lock:
        if lock.waited:  # the other run may have changed what the plan depends on
            plan = _plan(ns, _check_plan)
        code = build_report(plan, invocation, ns.output, str(ns.cores), extra,
                            ["snakesweep", *ns.argv], ns.results)
    if code == 0:
        print(f"snakesweep: report written to {ns.output}{_dirties(ns.output, ns.results)}")
    return code


def _dirties(path: str, results: str) -> str:
    """What to do when writing ``path`` made the git tree dirty (the next sweep would be a
    debug sweep, see `snakesweep status`), or ''. A sweep's provenance never counts what is
    in its results directory."""
    import subprocess

    if Path(path).absolute().is_relative_to(Path(results).absolute()):
        return ""
    try:
        shown = subprocess.run(["git", "status", "--porcelain", "--", path], capture_output=True,
                               text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if not shown.strip():
        return ""
    return (f" (git sees it as a change: add {path!r} to .gitignore, or the next sweep is a "
            "debug sweep; the default, RESULTS/report.html, is ignored)")


def _run_rounds(ns: argparse.Namespace, plan: Plan, invocation: Path, extra: list[str],
                view: Any = None) -> int:
    """Run Snakemake, and again for each round an adaptive sweep asks for; the summary line.

    ``view`` (a ``live.LiveView``) is told of each round's plan."""
    from snakesweep.snakemake.driver import run_snakemake

    code = run_snakemake(invocation, str(ns.cores), extra, ["snakesweep", *ns.argv], plan,
                         ns.results, ns.batch)
    statuses = _statuses(plan, ns.results)
    while code == 0 and plan.rounds and not plan.rounds["complete"] and all(
            s == "done" for s in statuses.values()):  # an adaptive sweep's next round
        grown = _plan(ns, _check_plan)
        if len(grown.points) == len(plan.points):
            break
        plan = grown
        if view is not None:
            view.follow(plan)
        print(f"snakesweep: round {plan.rounds['count'] - 1}: {plan.structure()}",  # type: ignore[index]
              file=sys.stderr, flush=True)
        code = run_snakemake(invocation, str(ns.cores), extra, ["snakesweep", *ns.argv],
                             plan, ns.results, ns.batch)
        statuses = _statuses(plan, ns.results)
    counts = _counts(statuses)
    if counts["failed"]:
        print(f"snakesweep: {counts['failed']} of {len(statuses)} runs failed; "
              f"`snakesweep status` lists them, `snakesweep run` again retries them",
              file=sys.stderr)
        return 1
    unmerged = _unmerged(plan, ns.results, statuses) if code == 0 else {}
    if unmerged:
        print(f"snakesweep: {len(unmerged)} of {len(statuses)} runs are done but not in "
              f"{ns.results}/sweep.nc: their results do not fit with the other runs' "
              "(`snakesweep status` says why)", file=sys.stderr)
        return 1
    if code != 0:
        print(f"snakesweep: snakemake exited with status {code} ({_describe(counts)})",
              file=sys.stderr)
        return code
    where = (f"; results in {ns.results}/sweep.nc, `snakesweep view` shows them"
             if not counts["pending"] else "")
    print(f"snakesweep: {_describe(counts)}{where}", file=sys.stderr)
    return 0


def _check_plan(plan: Plan, imports: bool = True) -> None:
    """Fail before any run starts when an entry point is malformed or cannot exist (with
    ``imports``: cannot be imported, as the runs would), or a ``snakesweep.code`` glob
    matches no file (``make_plan`` checked the options themselves)."""
    from snakesweep.core.entries import check_entry
    from snakesweep.execute.experiment import load_experiment
    from snakesweep.provenance.code import CurrentCode

    for spec in {plan.experiment_of(r) for r in plan.run_ids}:
        check_entry(spec, "snakesweep.experiment")  # says which name is wrong, importing none
        if imports:
            load_experiment(spec, must_call=False)  # one that cannot be called fails its runs
    CurrentCode(plan.options)  # the files each run's snakesweep.code names


def _no_extra(extra: list[str], command: str) -> None:
    if extra:
        raise SnakesweepError(f"`snakesweep {command}` takes no Snakemake arguments "
                              f"(got {' '.join(extra)!r} after --)")


def _unmerged(plan: Plan, results: str, statuses: Mapping[str, str]) -> dict[str, str]:
    """The done runs the last merge left out of ``sweep.nc``, and why."""
    from snakesweep.merge.sweep import unmerged_runs

    return {r: why for r, why in unmerged_runs(results, plan).items()
            if statuses.get(r) == "done"}


def _counts(statuses: Mapping[str, str]) -> dict[str, int]:
    counts = {"done": 0, "stale": 0, "corrupt": 0, "pending": 0, "failed": 0}
    for s in statuses.values():
        counts[s] += 1
    return counts


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts.items()
                     if n or s not in ("stale", "corrupt"))


def _labels(params: Mapping[str, Any], keys: list[str]) -> list[str]:
    """A point's label under each key ("" where it has none: a concat's other parts)."""
    return [str(params[k]) if k in params else "" for k in keys]


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
