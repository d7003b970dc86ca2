"""``snakesweep``'s entry point: the arguments parsed (those after ``--`` go to Snakemake
unchanged), the command run, and its failures told in one line with their exit status
(2 for bad input, 130 for Ctrl-C, 128 + SIGPIPE for a reader gone)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from snakesweep import store
from snakesweep.cli import completion
from snakesweep.cli.parser import build_parser
from snakesweep.errors import SnakesweepError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snakesweep`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] == ["completion", "--keys"]:  # asked at each Tab: no parser built
        return completion.print_keys(args[2:])
    snakemake_args: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, snakemake_args = args[:cut], args[cut + 1 :]
    parser = build_parser()
    ns, rest = parser.parse_known_args(args)
    ns.argv = list(sys.argv[1:] if argv is None else argv)
    _keep_local(ns)
    if _results_refused(ns):
        return 2
    _add_overrides(ns, rest, parser)
    return _run(ns, snakemake_args)


def _keep_local(ns: argparse.Namespace) -> None:
    """The config and results directories inside the working directory: kept relative."""
    for name in ("config_dir", "results"):
        if isinstance(getattr(ns, name, None), str):
            setattr(ns, name, store.local_path(getattr(ns, name)))


def _results_refused(ns: argparse.Namespace) -> bool:
    """True (the reason said) when ``--results`` cannot be a results directory."""
    results = getattr(ns, "results", None)
    if isinstance(results, str):
        try:
            store.check_results(results)
        except SnakesweepError as exc:
            print(f"snakesweep: {exc}", file=sys.stderr)
            return True
    return False


def _add_overrides(
    ns: argparse.Namespace, rest: list[str], parser: argparse.ArgumentParser
) -> None:
    """Overrides after an option (``--cores 2 seed=1,2``) keep their order; anything else
    left over is bad usage (exit status 2)."""
    for arg in rest:
        if not hasattr(ns, "overrides"):
            parser.error(f"unrecognized argument {arg!r}")
        if arg.startswith("-"):
            parser.error(f"unrecognized argument {arg!r} (Snakemake's arguments go after --)")
        ns.overrides.append(arg)


def _run(ns: argparse.Namespace, snakemake_args: list[str]) -> int:
    """Run the command; its exit status, or that of the failure it stopped at."""
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
        print(
            f"snakesweep: {group.message}: " + "; ".join(str(e) for e in group.exceptions),
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(f"snakesweep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "snakesweep: interrupted; finished runs are kept, run again to go on", file=sys.stderr
        )
        return 130


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a closed pipe
    prints nothing (Python's advice for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
