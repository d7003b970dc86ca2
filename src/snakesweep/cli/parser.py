"""The ``snakesweep`` command line: one subcommand per command, with its help, its options
and the function that runs it (``ns.command``)."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import NoReturn, TypeAlias

from snakesweep import __version__
from snakesweep.api.live import Target, ViewError, target
from snakesweep.cli.completion import (
    DIRECTORIES,
    FILES,
    OVERRIDES,
    RUN_IDS,
    complete,
    print_script,
)
from snakesweep.cli.dvc import cmd_history, cmd_pull
from snakesweep.cli.init import cmd_init
from snakesweep.cli.run import cmd_report, cmd_run
from snakesweep.cli.runs import cmd_runs, cmd_show
from snakesweep.cli.status import cmd_plan, cmd_status
from snakesweep.cli.view import cmd_view
from snakesweep.snakemake import arguments

__all__ = ["build_parser"]

_Command = Callable[[argparse.Namespace, list[str]], int]
"""What runs a command: its parsed arguments and those after ``--`` → its exit status."""

_Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


class _Parser(argparse.ArgumentParser):
    """argparse with bad usage told in one line (exit status 2), as every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"snakesweep: {message} (see `{self.prog} --help`)\n")


_EXAMPLES = """\
examples (in a copy of this repository, whose conf/ sweeps model and optimizer.lr):
  snakesweep plan                                the points of the sweep and their run ids
  snakesweep run --cores 2                       run the pending points, 2 at a time
  snakesweep run 'data.noise=0.1,0.4' --cores 2  the same sweep, also over data.noise
  snakesweep status                              count done, pending and failed runs
  snakesweep show 28cb                           one run, by a unique prefix of its id
  snakesweep init --experiment mypkg.train:main  a new sweep of mypkg/train.py's main(cfg)
  eval "$(snakesweep completion bash)"           tab completion (in ~/.bashrc)

`snakesweep COMMAND --help` tells more of each command.
"""


class _Examples(argparse.RawDescriptionHelpFormatter):
    """The epilog's examples as written; each command's help on the line of its name."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):  # argparse leaves out their indent
            widest = max(len(name) for name in action.choices) + self._current_indent + 2
            self._action_max_length = max(self._action_max_length, widest)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``snakesweep``'s arguments (those before ``--``)."""
    parser = _Parser(
        prog="snakesweep",
        description="Run a Hydra-defined sweep through Snakemake: one run per resolved config.",
        epilog=_EXAMPLES,
        formatter_class=_Examples,
    )
    parser.add_argument("--version", action="version", version=f"snakesweep {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for add in (
        _add_plan,
        _add_run,
        _add_report,
        _add_status,
        _add_view,
        _add_init,
        _add_pull,
        _add_history,
        _add_show,
        _add_runs,
    ):
        add(sub)
    _add_completion(sub, parser)
    return parser


def _sweep_command(
    sub: _Subparsers, name: str, help: str, command: _Command, description: str | None = None
) -> argparse.ArgumentParser:
    """A command of a sweep: Hydra's arguments (overrides, ``-cd``, ``-cn``), ``--results``,
    ``--from``; ``help`` is its line in ``snakesweep --help``."""
    p = sub.add_parser(name, help=help, description=description or help)
    complete(
        p.add_argument(
            "overrides",
            nargs="*",
            metavar="OVERRIDE",
            help="Hydra overrides, e.g. 'optimizer.lr=1e-3,1e-2' model=mlp,cnn",
        ),
        OVERRIDES,
    )
    complete(
        p.add_argument(
            "-cd",
            "--config-dir",
            default="conf",
            help="directory of the Hydra config tree (default: conf)",
        ),
        DIRECTORIES,
    )
    p.add_argument(
        "-cn", "--config-name", default="config", help="primary config name (default: config)"
    )
    _results_option(p, "where runs, sweep.nc and runs.csv go")
    complete(
        p.add_argument(
            "--from",
            dest="from_run",
            metavar="RUN_ID",
            help="start every point from this earlier run's resolved config (a "
            "unique prefix is enough). Precedence: the config tree < that run's "
            "config < the domain (hydra.sweeper.params) and these overrides",
        ),
        RUN_IDS,
    )
    p.set_defaults(command=command)
    return p


def _results_option(p: argparse.ArgumentParser, what: str) -> None:
    complete(
        p.add_argument("--results", default="results", help=f"{what} (default: results)"),
        DIRECTORIES,
    )


def _cores_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cores",
        default="all",
        type=_cores,
        help="cores for Snakemake's local executor (default: all)",
    )


def _add_plan(sub: _Subparsers) -> None:
    p = _sweep_command(
        sub,
        "plan",
        "Show the sweep's points and their run ids.",
        cmd_plan,
        "Show the points of the sweep and their run ids; run nothing.",
    )
    p.add_argument("--format", choices=("table", "json"), default="table")


def _add_run(sub: _Subparsers) -> None:
    p = _sweep_command(
        sub,
        "run",
        "Run the pending points through Snakemake; merge.",
        cmd_run,
        "Run the pending points through Snakemake, then merge all "
        "runs. Arguments after -- go to Snakemake.",
    )
    _cores_option(p)
    p.add_argument(
        "--retries",
        type=_retries,
        default=0,
        metavar="N",
        help="attempts Snakemake makes again at a failed run within this "
        "invocation, for transient errors (Snakemake's --retries; default: 0)",
    )
    p.add_argument(
        "--batch",
        type=_batch,
        default=None,
        metavar="K|auto",
        help="K pending runs per Snakemake job, computed one after another in "
        "one process; auto: one wave of jobs over --jobs (default: the config's "
        "snakesweep.batch, else one run per job)",
    )
    p.add_argument(
        "--view",
        nargs="?",
        const="native",
        default=None,
        type=_view,
        metavar="web|URL",
        help="show the runs in rerun's viewer as they finish: "
        "a native window, `--view web` the web viewer on 127.0.0.1 (address "
        "printed; served until Ctrl-C after the sweep), or a running viewer's "
        "rerun+http://HOST:PORT/proxy",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="Snakemake's own output (its blocks of job lines), not the sweep's progress "
        "display; Snakemake's log file has it either way (.snakemake/log/)",
    )


def _add_report(sub: _Subparsers) -> None:
    p = _sweep_command(
        sub,
        "report",
        "Run, merge, then write the sweep's HTML report.",
        cmd_report,
        "Run the pending points and merge, as run does, then "
        "write Snakemake's HTML report of the sweep: the run table, a picture "
        "of each result (snakesweep.pictures), the provenance. Arguments after "
        "-- go to Snakemake's run.",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="the report: a .html file, or a .zip (default: RESULTS/report.html, "
        "which git ignores)",
    )
    _cores_option(p)


def _add_status(sub: _Subparsers) -> None:
    p = _sweep_command(
        sub,
        "status",
        "Count done, pending and failed runs.",
        cmd_status,
        "Count done, pending and failed runs; list the failed ones.",
    )
    p.add_argument("--format", choices=("table", "json"), default="table")


def _add_view(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "view",
        help="Open the sweep's recording in rerun's viewer.",
        description="Open a recording (default: results/sweep.rrd) in rerun's viewer, laid "
        "out by the blueprint stored in it. Without a display, use --web: it serves the "
        "viewer to a browser on 127.0.0.1.",
    )
    complete(
        p.add_argument(
            "recording",
            nargs="?",
            metavar="RECORDING",
            help="a .rrd file (default: RESULTS/sweep.rrd)",
        ),
        FILES,
    )
    _results_option(p, "the results directory of the sweep")
    p.add_argument(
        "--web", action="store_true", help="serve the web viewer on 127.0.0.1 and print its address"
    )
    p.add_argument(
        "--port", type=int, default=0, help="the web viewer's port (default: a free one)"
    )
    p.set_defaults(command=cmd_view)


def _add_init(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "init",
        help="Add conf/, workflow/ and dvc.yaml for a new sweep here.",
        description="Add a working sweep beside your code: conf/ (with a "
        "hydra.sweeper.params domain), workflow/Snakefile and dvc.yaml. "
        "Refuses to overwrite files that exist.",
    )
    p.add_argument(
        "--experiment",
        metavar="MODULE:FUNCTION",
        help="your experiment's entry point (default: write a starter experiment.py)",
    )
    p.set_defaults(command=cmd_init)


def _add_pull(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "pull",
        help="dvc pull; restore the runs the DVC cache holds whole.",
        description="Run `dvc pull`; then check every run of results/runs "
        "against the hashes in dvc.lock, put the whole ones in place, set "
        "damaged ones aside and name the runs that will be computed again. "
        "Arguments after -- go to dvc pull.",
    )
    _results_option(p, "the results directory dvc.yaml tracks")
    p.set_defaults(command=cmd_pull)


def _add_history(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "history",
        help="Stack the sweep of each git revision along over_time.",
        description="Read results/sweep.nc as each commit of a git revision "
        "range recorded it (through DVC: from the cache or the remote) and "
        "stack them along a dimension over_time, with commit and commit_time "
        "coordinates, into RESULTS/history.nc and a recording whose log_tick "
        "timeline steps through the revisions. The revisions' sweeps are read through DVC.",
    )
    p.add_argument(
        "revisions",
        nargs="?",
        metavar="REVISIONS",
        help="a git revision range, e.g. HEAD~5..HEAD, followed along first parents "
        "(default: the last 10 commits)",
    )
    p.add_argument(
        "-n", "--max-count", type=int, metavar="N", help="only the newest N commits of the range"
    )
    _results_option(p, "the results directory dvc.yaml tracks")
    p.set_defaults(command=cmd_history)


def _add_show(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "show",
        help="Show one run: status, config, times, artifacts, error.",
        description="Show one run of RESULTS: its status, resolved config, "
        "times, metadata, artifacts, last logged step and error; a run still "
        "going (or killed) shows the steps it flushed. A unique prefix of a "
        "run id is enough.",
    )
    complete(
        p.add_argument("run_id", metavar="RUN_ID", help="a run id, or a unique prefix of one"),
        RUN_IDS,
    )
    _results_option(p, "the results directory")
    p.set_defaults(command=cmd_show)


def _add_runs(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "runs",
        help="List the runs, filtered by --where KEY=VALUE, --status.",
        description="List the runs of RESULTS (runs.csv): one row per run with "
        "its status, swept values and scalar results. --where KEY=VALUE keeps "
        "the runs whose column equals VALUE (given twice for one key: either "
        "value); --status keeps one status.",
    )
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep runs whose KEY (a swept key, a result, status) equals VALUE",
    )
    p.add_argument("--status", choices=("done", "failed", "pending", "corrupt"))
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _results_option(p, "the results directory")
    p.set_defaults(command=cmd_runs)


def _add_completion(sub: _Subparsers, parser: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "completion",
        help="Print a bash or zsh script that completes snakesweep.",
        description="Print a script that completes snakesweep's commands and options, the\n"
        "config's keys and group options in overrides (optimizer.lr=, model=mlp; read\n"
        "from -cd's directory, default conf/) and run ids (show, --from).",
        epilog="""\
install (bash; started once per shell):
  echo 'eval "$(snakesweep completion bash)"' >> ~/.bashrc
or, read at the first Tab only (bash-completion):
  snakesweep completion bash > ~/.local/share/bash-completion/completions/snakesweep
install (zsh; after compinit in ~/.zshrc):
  echo 'eval "$(snakesweep completion zsh)"' >> ~/.zshrc
or, into a directory of $fpath:
  snakesweep completion zsh > ~/.zfunc/_snakesweep
""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell of the script")
    p.set_defaults(command=functools.partial(print_script, parser))


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


def _view(text: str) -> Target:
    """``--view``: native, web, or a viewer's gRPC address."""
    try:
        return target(text)
    except ViewError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (overrides go before --view)") from None


def _batch(text: str) -> int | str:
    """``--batch``: a number of runs per job (1 or more), or ``auto``."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a number of runs per job (1 or more) or auto"
        )
    return int(text)
