"""``snakesweep init``: a working sweep (conf/, workflow/, dvc.yaml) beside a user's code.

Nothing that exists is overwritten: when any file to be written is already there, the
command names them and writes none.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

from snakesweep import store
from snakesweep.cli.command import no_extra
from snakesweep.errors import ConfigError, SnakesweepError
from snakesweep.snakemake.arguments import RERUN_TRIGGERS, SCHEDULER

__all__ = ["IGNORED", "STARTER", "Scaffold", "cmd_init", "init", "next_steps", "scaffold"]

_TEMPLATES = Path(__file__).parents[1] / "templates"

STARTER = "experiment:main"
"""The entry point of the starter experiment ``init`` writes when none is given."""

# The config keys and the domain of the starter experiment, and of a user's experiment:
_STARTER_KEYS = {"seed": "0", "lr": "0.1", "steps": "50"}
_STARTER_DOMAIN = {"lr": "0.01,0.1,0.5", "seed": "range(0,2)"}
_USER_KEYS = {"seed": "0"}
_USER_DOMAIN = {"seed": "range(0,3)"}


@dataclass(frozen=True)
class Scaffold:
    """The files ``init`` writes, by path relative to the repository, and their text."""

    files: dict[str, str]
    code: list[str]
    experiment: str


def cmd_init(ns: argparse.Namespace, extra: list[str]) -> int:
    """``snakesweep init``: write the scaffold here and say what to type next."""
    no_extra(extra, "init")
    root = Path.cwd()
    written = init(root, ns.experiment)
    print(f"snakesweep: wrote {', '.join(written.files)}; .gitignore ignores {IGNORED}")
    print(next_steps(root, written))
    return 0


def scaffold(root: Path, experiment: str | None = None) -> Scaffold:
    """The files of a new sweep in ``root`` running ``experiment`` (a starter if None)."""
    files: dict[str, str] = {}
    if experiment is None:
        experiment = STARTER
        keys, domain = _STARTER_KEYS, _STARTER_DOMAIN
        files["experiment.py"] = _read("experiment.py")
        code = ["experiment.py"]
    else:
        keys, domain = _USER_KEYS, _USER_DOMAIN
        code = _source_of(experiment, root)
    files["conf/config.yaml"] = Template(_read("config.yaml")).substitute(
        experiment=experiment,
        keys="".join(f"{k}: {v}\n" for k, v in keys.items()),
        params="\n".join(f"      {k}: {v}" for k, v in domain.items()),
    )
    files["workflow/Snakefile"] = _read("Snakefile")
    files["workflow/profiles/default/config.yaml"] = Template(_read("profile.yaml")).substitute(
        rerun_triggers=", ".join(RERUN_TRIGGERS), scheduler=SCHEDULER
    )
    files["workflow/plots/curves.json"] = _read("curves.json")
    files["dvc.yaml"] = Template(_read("dvc.yaml.in")).substitute(
        code="\n".join(f"      - {c}" for c in code) or "      # add your experiment's code"
    )
    files["results/.gitignore"] = _read("results.gitignore")
    return Scaffold(files=files, code=code, experiment=experiment)


IGNORED = "/.snakemake/"
"""What Snakemake keeps beside the Snakefile's working directory, for git to ignore."""


def init(root: Path, experiment: str | None = None) -> Scaffold:
    """Write the scaffold into ``root``; refuse, writing nothing, if any file exists. The
    one file that may exist is ``.gitignore``: it gets the line for Snakemake's own
    directory when it lacks it."""
    plan = scaffold(root, experiment)
    existing = [p for p in plan.files if (root / p).exists()]
    if existing:
        raise SnakesweepError(
            f"init writes nothing: {', '.join(existing)} already exist{'s' * (len(existing) == 1)}"
            " (move them aside, or add snakesweep to your own files by hand; see the README)"
        )
    written: list[Path] = []
    try:
        for rel in plan.files:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
        for rel, text in plan.files.items():
            store.write_atomic(root / rel, text)
            written.append(root / rel)
        _ignore(root / ".gitignore", IGNORED)
    except OSError as exc:
        for path in written:  # all or nothing
            path.unlink(missing_ok=True)
        raise SnakesweepError(f"init writes nothing: {exc}") from None
    return plan


def _ignore(gitignore: Path, line: str) -> None:
    """Add ``line`` to a ``.gitignore`` (made if missing) unless it is there already."""
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if line in text.splitlines():
        return
    store.write_atomic(
        gitignore, text + ("\n" if text and not text.endswith("\n") else "") + line + "\n"
    )


def next_steps(root: Path, plan: Scaffold) -> str:
    """What to type next, in the order to type it. The sweep's files are committed before
    it runs, so that its runs are final rather than debug runs (see ``snakesweep status``);
    following every line ends with a clean ``git status``."""
    git_top = _upward(root, ".git")
    dvc_top = _upward(root, ".dvc") or root
    dvc_config = os.path.relpath(dvc_top / ".dvc" / "config", root)
    code = " ".join(c for c in plan.code if "/" not in c)
    lines = ["next:"]
    if git_top is None:
        lines.append("  git init                  # DVC needs a git repository")
    if _upward(root, ".dvc") is None:
        subdir = git_top is not None and git_top != root.resolve()
        lines.append(
            "  dvc init --subdir         # once: DVC in this part of the git repository"
            if subdir
            else "  dvc init                  # once: this repository has no .dvc/ yet"
        )
    lines += [
        f"  git add .gitignore conf workflow dvc.yaml results/.gitignore {code}",
        f"  git commit -m 'A sweep of {plan.experiment}'   # runs of committed code are final",
        "  snakemake --cores all     # run the sweep: results/sweep.nc, results/runs.csv",
        "  snakemake --report results/report.html   # its report: runs, pictures, provenance",
        "  dvc repro                 # the same through DVC; dvc.lock records every run",
        "  git add dvc.lock results/metrics.json && git commit -m 'Runs of the sweep'",
        f"  dvc remote add -d store URL && git commit {dvc_config} -m 'The DVC remote' "
        "&& dvc push   # share the runs with every clone",
    ]
    return "\n".join(line.rstrip() for line in lines)


def _upward(start: Path, name: str) -> Path | None:
    """The nearest of ``start`` and its parents that holds ``name``."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / name).exists():
            return folder
    return None


def _read(name: str) -> str:
    """The text of one of the templates."""
    return (_TEMPLATES / name).read_text(encoding="utf-8")


def _source_of(experiment: str, root: Path) -> list[str]:
    """The code ``experiment`` lives in, relative to ``root``: its top-level package or module.

    Code outside ``root`` (an installed package) is not listed; DVC tracks files in the
    repository only.
    """
    module, sep, function = experiment.partition(":")
    if not sep or not module or not function:
        raise ConfigError("--experiment", f"{experiment!r} is not 'package.module:function'")
    top = module.split(".")[0]
    sys.path.insert(0, str(root))
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as exc:
        raise ConfigError("--experiment", f"cannot find module {top!r}: {exc}") from None
    finally:
        sys.path.remove(str(root))
    if spec is None:
        raise ConfigError(
            "--experiment",
            f"cannot find module {top!r} from {str(root)!r} (run init where your code is, "
            "or leave --experiment out for a starter experiment.py)",
        )
    if spec.origin is None or spec.origin == "namespace":  # a package without __init__.py
        locations = list(spec.submodule_search_locations or [])
        if not locations:
            return []
        source = Path(locations[0]).resolve()
    else:
        origin = Path(spec.origin).resolve()
        source = origin.parent if origin.name == "__init__.py" else origin
    try:
        return [source.relative_to(root.resolve()).as_posix()]
    except ValueError:
        return []
