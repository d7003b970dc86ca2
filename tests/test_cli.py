"""The command line: plan and status read well; bad input is one line and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import COMMANDS, snakesweep, write
from snakesweep.api.plans import make_plan
from snakesweep.execute.execution import execute_run


def test_plan_json_lists_points_with_overrides_and_params(project: Path) -> None:
    """plan --format json: run_id, the job's overrides as BasicSweeper passes them, params."""
    out = snakesweep("plan", "--format", "json", "offset=5", "name=a,b", cwd=project)
    assert out.returncode == 0, out.stderr
    points = json.loads(out.stdout)
    assert [p["overrides"] for p in points] == [
        ["x=1", "offset=5", "name=a"],
        ["x=1", "offset=5", "name=b"],
        ["x=2", "offset=5", "name=a"],
        ["x=2", "offset=5", "name=b"],
        ["x=3", "offset=5", "name=a"],
        ["x=3", "offset=5", "name=b"],
    ]
    assert points[0]["params"] == {"x": 1, "name": "a"}
    assert len({p["run_id"] for p in points}) == 6
    assert all(len(p["run_id"]) == 16 for p in points)
    assert not (project / "results" / "runs").exists()


def test_show_tells_a_run_computed_with_other_code_stale(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``show`` tells a done run from one computed with other code, as ``status`` does."""
    monkeypatch.chdir(project)
    plan = make_plan("conf", "config", ["x=4"], "results")
    (run_id,) = plan.run_ids
    assert execute_run(plan, run_id, "results").status == "done"
    assert f"run {run_id}: done" in snakesweep("show", run_id, cwd=project).stdout
    with open(project / "tinyexp.py", "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    shown = snakesweep("show", run_id[:6], cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert f"run {run_id}: stale" in shown.stdout


def test_plan_table_and_status_before_running(project: Path) -> None:
    """The domain's structure, then every run id and its values; status counts them as
    pending."""
    table = snakesweep("plan", cwd=project)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0] == "domain: x: 3 = 3 points"
    assert lines[1].split() == ["run_id", "status", "x"]
    assert len(lines) == 6 and lines[-1] == "3 points, 3 runs: 0 done, 3 pending, 0 failed"
    status = snakesweep("status", cwd=project)
    assert status.stdout.splitlines() == ["3 runs: 0 done, 3 pending, 0 failed"]


@pytest.mark.parametrize(
    "args, culprit",
    [
        (["x=range("], "override 'x=range('"),
        (["nokey=1,2"], "Could not override 'nokey'"),
        (["ofset=2"], "Could not override 'ofset'. To append to your config use +ofset=2"),
        (["ofset=2"], "is not in struct; did you mean offset?\n"),  # a value
        (["ofset=1,2"], "+ofset=1; did you mean offset?\n"),  # a sweep: named by its point
        (["x=interval(0,1)"], "override 'x=interval(0,1)'"),
        (["-cn", "nothere"], "'nothere'"),
        (["-cd", "noconf"], "noconf"),
        (["snakesweep.experiment=nowhere_module:main"], "no module named 'nowhere_module'"),
        (["snakesweep.experiment=tinyexp:nope"], "module 'tinyexp' (tinyexp.py) defines no 'nope'"),
        (["snakesweep.experiment=tinyexp"], "not of the form 'package.module:function'"),
        (["+snakesweep.debug=yes"], "snakesweep.debug: expected true, false or null, got 'yes'"),
        (
            ["+snakesweep.git_dirty_ignore=3"],
            "snakesweep.git_dirty_ignore: expected a list of globs, got 3",
        ),
    ],
)
def test_bad_input_is_one_line_and_status_2(project: Path, args: list[str], culprit: str) -> None:
    """Errors name the culprit on one line, without a traceback, before anything runs."""
    out = snakesweep("run", *args, cwd=project)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and culprit in out.stderr
    assert out.stderr.startswith("snakesweep: ") and "Traceback" not in out.stderr
    assert not (project / "results" / "runs").exists()


@pytest.mark.parametrize(
    "override, said",
    [
        ("lr=0.5", "Key 'lr' is not in struct; did you mean optimizer.lr?"),  # its parent left out
        ("stps=3", "Key 'stps' is not in struct; did you mean optimizer.steps?"),
        ("optimizer.lrr=0.01,0.1", "+optimizer.lrr=0.01; did you mean optimizer.lr?"),  # a sweep
        ("model=mpl", "Available options in 'model': linear mlp; did you mean model=mlp?"),
        ("model=cnn", "Could not find 'model/cnn' Available options in 'model': linear mlp"),
        ("+model=mpl", "Available options in 'model': linear mlp; did you mean +model=mlp?"),
        (
            "snakesweep.timeuot=60",
            "Key 'timeuot' is not in struct; did you mean +snakesweep.timeout?",
        ),
        ("~optimizer.lrr", "'optimizer.lrr' does not exist; did you mean optimizer.lr?"),
    ],
)
def test_an_unknown_key_or_option_gets_the_closest_ones(
    repo_copy: Path, override: str, said: str
) -> None:
    """In the shipped example: a key the config lacks is answered with the closest dotted
    keys, a config group's missing option with the closest options, on one line (status 2)."""
    out = snakesweep("plan", override, cwd=repo_copy)
    assert out.returncode == 2
    assert out.stderr.startswith(f"snakesweep: override {override.split(',')[0]!r}: ")
    assert out.stderr.endswith(f"{said}\n") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr


def test_a_misspelt_domain_key_gets_the_closest_key(repo_copy: Path) -> None:
    """A key of ``snakesweep.domain`` the config lacks is named by its first point, with the
    closest key."""
    config = repo_copy / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("    optimizer.lr: [", "    optimizer.lrr: ["))
    out = snakesweep("plan", cwd=repo_copy)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("snakesweep: override 'optimizer.lrr=0.03': ")
    assert out.stderr.endswith("; did you mean optimizer.lr?\n") and out.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args, said",
    [
        (["plan", "-cn", "confg"], "no such primary config in {conf!r}; did you mean -cn config?"),
        (
            ["plan", "-cn", "zzz"],
            "no such primary config in {conf!r} (its configs: config; give one with -cn)",
        ),
        (
            ["plan", "-cd", "nowhere"],
            "config directory 'nowhere': does not exist (give it with "
            "-cd/--config-dir, or write one here with `snakesweep init`)",
        ),
        (
            ["show", "ffff"],
            "run 'ffff': no run of 'results' starts so (`snakesweep runs` lists them)",
        ),
    ],
)
def test_a_config_or_run_not_found_says_what_to_do(
    repo_copy: Path, args: list[str], said: str
) -> None:
    """A config name, config directory or run that is not there: the closest name, or what
    there is, or the command that makes or lists it; one line, exit status 2."""
    out = snakesweep(*args, cwd=repo_copy)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    conf = str((repo_copy / "conf").resolve())
    assert out.stderr.endswith(said.format(conf=conf) + "\n") and out.stderr.count("\n") == 1


def test_help_lists_each_command_on_one_line_then_examples() -> None:
    """``snakesweep --help``: one line per command (its longer text is in its own --help),
    then examples."""
    out = snakesweep("--help", cwd=Path.cwd(), env={"COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    start = lines.index("  COMMAND") + 1
    commands = lines[start : lines.index("", start)]
    assert [line.split()[0] for line in commands] == list(COMMANDS)
    assert all(len(line) <= 80 and line.rstrip().endswith(".") for line in commands)
    assert lines[-1] == "`snakesweep COMMAND --help` tells more of each command."
    long = snakesweep("report", "--help", cwd=Path.cwd()).stdout
    assert "Snakemake's HTML report of the sweep: the run table" in " ".join(long.split())


def _examples() -> list[str]:
    """The commands of ``snakesweep --help``'s examples."""
    from snakesweep.cli.parser import build_parser

    epilog = build_parser().epilog or ""
    return [line.split("  ")[1] for line in epilog.splitlines() if line.startswith("  ")]


@pytest.mark.slow
def test_the_help_examples_work_on_the_shipped_example(repo_copy: Path, tmp_path: Path) -> None:
    """Each example of ``snakesweep --help`` works, in order, in a copy of the repository
    (``init`` in a new project whose mypkg/train.py has a main)."""
    import shlex

    examples = _examples()
    assert examples[0] == "snakesweep plan" and len(examples) == 7
    for example in examples:
        words = shlex.split(example)
        if words[0] == "eval":
            out = snakesweep("completion", "bash", cwd=repo_copy)
        elif words[1] == "init":
            fresh = tmp_path / "fresh"
            write(fresh / "mypkg" / "train.py", "def main(cfg):\n    return {'y': 1.0}\n")
            out = snakesweep(*words[1:], cwd=fresh)
            assert snakesweep("plan", cwd=fresh).returncode == 0
        else:
            out = snakesweep(*words[1:], cwd=repo_copy)
        assert out.returncode == 0, f"{example}: {out.stderr}"
        if words[1] == "show":
            assert out.stdout.startswith(f"run {words[2]}")
    assert "36 done" in snakesweep("status", "data.noise=0.1,0.4", cwd=repo_copy).stdout


def test_snakemake_arguments_after_double_dash(project: Path) -> None:
    """Arguments after -- reach Snakemake: a dry run computes nothing."""
    out = snakesweep("run", "--", "--dry-run", cwd=project)
    assert out.returncode == 0, out.stderr
    assert "run_experiment" in out.stdout + out.stderr
    assert not (project / "results" / "runs").exists()


@pytest.mark.parametrize("args", [["view", "a.rrd", "b.rrd"], ["pull", "extra"], ["init", "extra"]])
def test_a_stray_argument_to_a_command_without_overrides_is_refused(
    project: Path, args: list[str]
) -> None:
    """Commands that take no overrides name the stray argument; argparse exits 2."""
    out = snakesweep(*args, cwd=project)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"snakesweep: unrecognized argument {args[-1]!r} (see `snakesweep --help`)"
    ]
    assert "Traceback" not in out.stderr


def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    out = snakesweep("--version", cwd=Path.cwd())
    assert out.returncode == 0 and out.stdout == f"snakesweep {version('snakesweep')}\n"


def test_a_closed_pipe_ends_quietly_as_git_log_does(project: Path) -> None:
    """`snakesweep runs | head -1`: the reader gone, no traceback, no error line, 128+SIGPIPE."""
    import signal
    import subprocess
    import sys

    assert snakesweep("run", "--cores", "2", cwd=project).returncode == 0
    with subprocess.Popen(
        [sys.executable, "-m", "snakesweep", "runs"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as reader_gone:
        assert reader_gone.stdout is not None and reader_gone.stderr is not None
        reader_gone.stdout.close()  # nobody reads: its first write meets a broken pipe
        err = reader_gone.stderr.read()
        assert reader_gone.wait(timeout=120) == 128 + signal.SIGPIPE
    assert err == b""


@pytest.mark.parametrize("args", [["--version"], ["plan"], ["status"]])
def test_version_plan_and_status_import_no_array_library(project: Path, args: list[str]) -> None:
    """Every command's module is imported up front, and none of them imports an array or
    viewer library until a command uses it: ``--version``, ``plan`` and ``status`` stay
    quick."""
    code = (
        "import sys\nfrom snakesweep.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nprint(sorted(m for m in ('xarray', 'numpy', "
        "'pandas', 'matplotlib', 'rerun') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[]"
