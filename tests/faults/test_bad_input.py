"""Bad input is refused before anything runs; a bad run fails alone, named, and the rest finish.

Part 1: each bad command (a Hydra grammar error, an unknown key or group, a wrong type, an
experiment that cannot be found, a bad option, an unknown or ambiguous run id, a broken
config file, an empty or doubly set domain, ...) meets a project whose sweep already ran,
so ``results/`` holds real runs. The real ``snakesweep`` command line must exit with status
2 and print exactly one line, ``snakesweep: ...``, naming the culprit, no traceback; no run
executes, no Snakemake starts, and not one byte under ``results/`` (hidden directories
included) changes. Very long and non-ASCII values, by contrast, are data: planned, run and
stored as given.

Part 2: a sweep where one or two points are bad (an experiment that is not callable, one
returning the wrong type, a result along a dimension named as a swept key, values that are
not numbers, a raising run) runs the other points to the end, records each bad run as
failed with its error and traceback in ``meta.json``, exits 1 with one summary line that
counts the failures, and shows the user no Python traceback. NaN and infinities are
values, not errors.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import TINY_EXPERIMENT, calls, made_once, snakesweep, write

TIMEOUT = 120
"""Every command gets one: a bad input that hangs (``--cores 0`` once did) fails the test."""

CONFIG = """
    defaults:
      - model: small
      - _self_
    snakesweep:
      experiment: tinyexp:main
    x: 1
    offset: 0
    name: plain
    fail_on: null
    sleep: 0
    hydra:
      sweeper:
        params:
          x: range(1,18)
    """
"""17 runs: two of them share a first hex digit, so a one-digit prefix is ambiguous."""

DOMAIN_CONFIG = """
    snakesweep:
      experiment: tinyexp:main
      domain:
        x: [1, 2]
    x: 1
    offset: 0
    name: plain
    fail_on: null
    sleep: 0
    """
"""A second primary config (``-cn dom``) with a ``snakesweep.domain`` and no sweeper params."""


def sh(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return snakesweep(*args, cwd=cwd, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a config group, whose 17-run sweep ran once, successfully: made once
    for these tests (each works on its own copy)."""

    def make(root: Path) -> None:
        write(root / "conf" / "config.yaml", CONFIG)
        write(root / "conf" / "dom.yaml", DOMAIN_CONFIG)
        write(root / "conf" / "model" / "small.yaml", "width: 4\n")
        write(root / "conf" / "model" / "big.yaml", "width: 8\n")
        write(root / "tinyexp.py", TINY_EXPERIMENT + "\nCONST = 3\n")
        out = sh("run", "--cores", "2", cwd=root)
        assert out.returncode == 0, out.stderr[-3000:]
        assert sorted(calls(root)) == sorted(f"{x} plain" for x in range(1, 18))
        assert len(run_ids(root)) == 17 and (root / ".snakemake").is_dir()

    return made_once(tmp_path_factory, "bad-input-ran", make)


def run_ids(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "results" / "runs").iterdir() if p.is_dir())


def ambiguous_prefix(ids: list[str]) -> str:
    """The longest prefix that two run ids share (one hex digit at least: 17 ids, 16 digits)."""
    best = ""
    for a, b in itertools.combinations(ids, 2):
        common = os.path.commonprefix([a, b])
        best = max(best, common, key=len)
    assert best, ids
    return best


def unknown_id(ids: list[str]) -> str:
    """A full run id that no run has, and no run starts with its first two digits."""
    prefix = next(f"{i:02x}" for i in range(256) if not any(r.startswith(f"{i:02x}") for r in ids))
    return prefix + "0" * 14


def fill(text: str, names: dict[str, str]) -> str:
    for name, value in names.items():
        text = text.replace(f"{{{name}}}", value)
    return text


def tree(root: Path) -> dict[str, str]:
    """Every path under root (hidden ones included) with the sha256 of its bytes."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = f"link {os.readlink(path)}"
        elif path.is_dir():
            out[rel + "/"] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def snakemake_logs(project: Path) -> list[str]:
    logs = project / ".snakemake" / "log"
    return sorted(p.name for p in logs.iterdir()) if logs.is_dir() else []


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    """After the command; ``{ambiguous}`` and ``{unknown}`` become run ids of the project."""
    culprit: tuple[str, ...]
    """Each must be in the error line."""
    commands: tuple[str, ...] = ("plan", "run", "status")
    setup: Callable[[Path], object] | None = None


def _conf(text: str, name: str = "config.yaml") -> Callable[[Path], object]:
    def setup(root: Path) -> None:
        (root / "conf" / name).write_text(text, encoding="utf-8")

    return setup


def _edited(old: str, new: str) -> Callable[[Path], object]:
    import textwrap

    base = textwrap.dedent(CONFIG).lstrip()
    assert old in base
    return _conf(base.replace(old, new, 1))


def _domain(part: str) -> Callable[[Path], object]:
    import textwrap

    base = textwrap.dedent(DOMAIN_CONFIG).lstrip()
    return _conf(base.replace("  domain:\n    x: [1, 2]\n", f"  domain:{part}"), "dom.yaml")


LONG_KEY = "k" * 5000
ANY = ("plan", "run", "status")
RUN = ("run",)

CASES = [
    # Hydra's grammar
    Case("grammar-unclosed-list", ("x=[1,2",), ("override 'x=[1,2'",)),
    Case("grammar-empty-element", ("x=1,,2",), ("override 'x=1,,2'",)),
    Case("grammar-no-key", ("=3",), ("override '=3'", "no key")),
    Case("grammar-double-equals", ("x==1",), ("override 'x==1'",)),
    Case("grammar-unclosed-dict", ("x={a:1",), ("override 'x={a:1'",)),
    Case("grammar-non-ascii-key", ("größe=1",), ("override 'größe=1'",)),
    Case("grammar-non-ascii-unquoted-value", ("name=größe",), ("override 'name=größe'", "quoted")),
    Case("grammar-long-unknown-key", (f"{LONG_KEY}=1",), (f"override '{'k' * 200}",)),
    # keys, groups and types of the tree
    Case("unknown-key", ("nokey=1",), ("Could not override 'nokey'", "+nokey=1")),
    Case("unknown-key-swept", ("nokey=1,2",), ("'nokey'",)),
    Case("unknown-key-deleted", ("~nokey",), ("'~nokey'", "'nokey' does not exist")),
    Case("unknown-group-option", ("model=nosuch",), ("model/nosuch", "big small")),
    Case("unknown-group-options-swept", ("model=small,nosuch",), ("model/nosuch",)),
    Case(
        "unknown-group-in-defaults",
        (),
        ("nogroup/a",),
        setup=_edited("  - model: small\n", "  - nogroup: a\n"),
    ),
    Case(
        "unknown-option-in-defaults",
        (),
        ("model/nosuch",),
        setup=_edited("  - model: small\n", "  - model: nosuch\n"),
    ),
    Case("append-existing-key", ("+x=1",), ("override '+x=1'", "already at 'x'")),
    Case("append-existing-group", ("+model=big",), ("Multiple values for model",)),
    Case(
        "options-node-set-to-a-number",
        ("snakesweep=3",),
        ("override 'snakesweep=3'", "mapping", "not 3"),
    ),
    Case(
        "options-node-set-to-a-list",
        ("snakesweep=[1]",),
        ("override 'snakesweep=[1]'", "Cannot merge"),
    ),
    Case(
        "typed-hydra-node",
        ("hydra.job.chdir=notabool",),
        ("override 'hydra.job.chdir=notabool'", "not a valid bool"),
    ),
    Case(
        "typed-option",
        ("+snakesweep.debug=yes",),
        ("snakesweep.debug: expected true, false or null, got 'yes'",),
    ),
    Case(
        "option-misspelt",
        (),
        ("unknown option snakesweep.timeuot; did you mean timeout?",),
        setup=_edited("  experiment: tinyexp:main\n", "  experiment: tinyexp:main\n  timeuot: 5\n"),
    ),
    Case(
        "option-misspelt-on-command-line",
        ("+snakesweep.timeuot=5",),
        ("unknown option snakesweep.timeuot; did you mean timeout?",),
    ),
    Case("hydra-internals-swept", ("hydra.run.dir=a,b",), ("hydra.run.dir=a,b",)),
    Case(
        "hydra-internals-swept-in-conf",
        (),
        ("hydra.job.name=a,b", "Hydra's own config"),
        setup=_edited(
            "      x: range(1,18)\n", "      x: range(1,18)\n      hydra.job.name: a,b\n"
        ),
    ),
    Case("random-draw-on-command-line", ("x=interval(0,1)",), ("override 'x=interval(0,1)'",)),
    # the experiment
    Case(
        "experiment-module-missing",
        ("snakesweep.experiment=nosuch:main",),
        ("snakesweep.experiment", "'nosuch:main'"),
    ),
    Case(
        "experiment-spec-malformed",
        ("snakesweep.experiment=tinyexp",),
        ("snakesweep.experiment", "'tinyexp'", "package.module:function"),
    ),
    Case(
        "experiment-module-misspelt",
        ("snakesweep.experiment=tinyexpp:main",),
        ("snakesweep.experiment", "no module named 'tinyexpp'", "did you mean tinyexp?"),
    ),
    Case(
        "experiment-attribute-missing",
        ("snakesweep.experiment=tinyexp:nosuch",),
        ("snakesweep.experiment", "module 'tinyexp' (tinyexp.py) defines no 'nosuch'"),
    ),
    Case(
        "experiment-attribute-misspelt",
        ("snakesweep.experiment=tinyexp:mian",),
        ("snakesweep.experiment", "defines no 'mian' (did you mean main?)"),
    ),
    # config files
    Case("config-dir-missing", ("-cd", "nope"), ("config directory 'nope'", "does not exist")),
    Case(
        "config-dir-is-a-file",
        ("-cd", "conf/config.yaml"),
        ("config directory 'conf/config.yaml'", "not a directory"),
    ),
    Case("config-name-missing", ("-cn", "nope"), ("config name 'nope'",)),
    Case(
        "config-yaml-syntax",
        (),
        ("conf/config.yaml", "line "),
        setup=_conf("defaults:\n  - model: small\nx: [1, 2\nname: plain\n"),
    ),
    Case("config-not-a-mapping", (), ("must be a DictConfig",), setup=_conf("- a\n- list\n")),
    Case(
        "config-without-experiment", (), ("snakesweep.experiment", "not set"), setup=_conf("x: 1\n")
    ),
    Case(
        "interpolation-missing-in-conf",
        (),
        ("'name'", "'nope'"),
        setup=_edited("name: plain\n", "name: ${nope}\n"),
    ),
    Case("interpolation-missing-on-command-line", ("name=${nope}",), ("'name'", "'nope'")),
    Case(
        "env-interpolation-unset",
        (),
        ("'name'", "SNAKESWEEP_TEST_UNSET_VARIABLE"),
        setup=_edited("name: plain\n", "name: ${oc.env:SNAKESWEEP_TEST_UNSET_VARIABLE}\n"),
    ),
    # empty domains, and a key set twice
    Case("domain-empty-choice", ("x=choice()",), ("override 'x=choice()'", "empty choice")),
    Case("domain-empty-range", ("x=range(0)",), ("override 'x=range(0)'", "no values")),
    Case(
        "domain-empty-glob",
        ("model=glob(nomatch*)",),
        ("override 'model=glob(nomatch*)'", "no values"),
    ),
    Case(
        "domain-empty-mapping",
        ("-cn", "dom"),
        ("snakesweep.domain", "is empty"),
        setup=_domain(" {}\n"),
    ),
    Case(
        "domain-empty-list",
        ("-cn", "dom"),
        ("snakesweep.domain: key 'x'", "no values"),
        setup=_domain("\n    x: []\n"),
    ),
    Case(
        "domain-zip-unequal",
        ("-cn", "dom"),
        ("zip: lengths differ: x has 3, offset has 2",),
        setup=_domain("\n    zip:\n      x: [1, 2, 3]\n      offset: [1, 2]\n"),
    ),
    Case(
        "domain-unknown-operator",
        ("-cn", "dom"),
        ("'blend' is not an operator",),
        setup=_domain("\n    blend: [{x: [1]}]\n"),
    ),
    Case(
        "domain-key-also-on-command-line",
        ("-cn", "dom", "x=5"),
        ("override 'x=5'", "also in snakesweep.domain"),
    ),
    Case(
        "domain-key-also-swept-on-command-line",
        ("-cn", "dom", "x=5,6"),
        ("override 'x=5,6'", "also in snakesweep.domain"),
    ),
    # options
    Case(
        "results-is-a-file",
        ("--results", "conf/config.yaml"),
        ("'conf/config.yaml'", "not a directory"),
    ),
    Case("unknown-option", ("--nope",), ("'--nope'",)),
    Case("bad-format", ("--format", "yaml"), ("--format", "'yaml'"), ("plan", "status")),
    Case(
        "snakemake-args-after-double-dash", ("--", "--dry-run"), ("--dry-run",), ("plan", "status")
    ),
    Case("cores-zero", ("--cores", "0"), ("--cores", "'0'"), RUN),
    Case("cores-negative", ("--cores", "-1"), ("--cores", "'-1'"), RUN),
    Case("cores-text", ("--cores", "abc"), ("--cores", "'abc'"), RUN),
    # run ids
    Case("from-ambiguous-prefix", ("--from", "{ambiguous}"), ("run '{ambiguous}' is ambiguous",)),
    Case("from-unknown-id", ("--from", "{unknown}"), ("'{unknown}'",)),
    Case("from-empty-id", ("--from", ""), ("run ''",)),
    Case("show-unknown-id", ("{unknown}",), ("'{unknown}'",), ("show",)),
    Case("show-ambiguous-prefix", ("{ambiguous}",), ("run '{ambiguous}' is ambiguous",), ("show",)),
    Case("runs-where-without-equals", ("--where", "nokey"), ("--where 'nokey'",), ("runs",)),
    Case("runs-where-not-a-number", ("--where", "x=abc"), ("--where 'x=abc'",), ("runs",)),
    Case("runs-where-unknown-column", ("--where", "nokey=1"), ("'nokey'",), ("runs",)),
    Case("runs-bad-status", ("--status", "nosuch"), ("--status", "'nosuch'"), ("runs",)),
]

PARAMS = [
    pytest.param(command, case, id=f"{command}:{case.id}")
    for case in CASES
    for command in case.commands
]


def test_enough_cases() -> None:
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("command, case", PARAMS)
def test_bad_input_is_refused_before_any_run(
    ran: Path, tmp_path: Path, command: str, case: Case
) -> None:
    project = tmp_path / "project"
    shutil.copytree(ran, project, symlinks=True)  # results/ and .snakemake/ with it
    ids = run_ids(project)
    names = {"ambiguous": ambiguous_prefix(ids), "unknown": unknown_id(ids)}
    if case.setup is not None:
        case.setup(project)
    before, executed, logs = tree(project / "results"), calls(project), snakemake_logs(project)
    args = [fill(a, names) for a in case.args]

    out = sh(command, *args, cwd=project)  # relative paths, cwd the copy: its own caches

    said = f"exit {out.returncode}\nstdout: {out.stdout[-2000:]}\nstderr: {out.stderr[-2000:]}"
    assert "Traceback" not in out.stdout + out.stderr, said
    assert out.returncode == 2, said
    assert out.stdout == "", said
    assert out.stderr.endswith("\n") and out.stderr.count("\n") == 1, said
    assert "\r" not in out.stderr, said
    line = out.stderr.rstrip("\n")
    assert line.startswith("snakesweep: ") and line[len("snakesweep: ") :].strip(), said
    for culprit in case.culprit:
        assert fill(culprit, names) in line, said
    assert calls(project) == executed, "a run executed"
    assert snakemake_logs(project) == logs, "Snakemake started"
    assert tree(project / "results") == before, "results/ changed"


# -- values are data -------------------------------------------------------------------------

LONG_VALUE = "v" * 10_000
TEXTS = ["größe", "😀 🐍", "日本語 漢字", LONG_VALUE]


@pytest.mark.slow
def test_long_and_non_ascii_values_are_data(project: Path) -> None:
    """Quoted non-ASCII text and a 10,000-character value are planned, run and stored as
    given (Hydra's grammar takes non-ASCII only in quoted values: see the case above)."""
    sweep = ["x=1", "name=" + ",".join(f"'{t}'" for t in TEXTS)]
    plan = sh("plan", *sweep, cwd=project)
    assert plan.returncode == 0, plan.stderr
    for text in TEXTS:
        assert text in plan.stdout
    points = json.loads(sh("plan", "--format", "json", *sweep, cwd=project).stdout)
    assert [p["params"]["name"] for p in points] == TEXTS

    done = sh("run", "--cores", "2", *sweep, cwd=project)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(calls(project)) == sorted(f"1 {t}" for t in TEXTS)
    for point in points:
        stored = project / "results" / "runs" / point["run_id"] / "config.yaml"
        config = yaml.safe_load(stored.read_text(encoding="utf-8"))
        assert config["name"] == point["params"]["name"]
    ds = xr.open_dataset(project / "results" / "sweep.nc")
    assert sorted(ds["name"].values.tolist()) == sorted(TEXTS)


def test_runs_where_status_is_a_filter(ran: Path, tmp_path: Path) -> None:
    """``--where status=done`` is a filter like any other column (it once crashed)."""
    project = tmp_path / "project"
    shutil.copytree(ran, project, symlinks=True)
    out = sh("runs", "--where", "status=done", "--format", "json", cwd=project)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert len(json.loads(out.stdout)) == 17


# -- bad runs ----------------------------------------------------------------------------------

BAD_EXPERIMENT = '''
import numpy as np
import xarray as xr

CONST = 3


def main(cfg):
    """One way of going wrong per value of ``kind``; ``ok*`` and ``nonfinite`` are fine."""
    kind = cfg.kind
    with open("calls.txt", "a") as f:
        f.write(f"{kind} {cfg.snakesweep.experiment}\\n")
    if kind == "string":
        return "not a mapping"
    if kind == "list":
        return [1.0, 2.0]
    if kind == "clash":
        return {"y": 1.0, "curve": xr.DataArray(np.arange(3.0), dims="kind")}
    if kind == "object":
        return {"y": object()}
    if kind == "complex":
        return {"y": 1 + 2j}
    if kind == "dictstr":
        return {"y": {"a": "text"}}
    if kind == "raise":
        raise RuntimeError(f"the experiment broke at kind={kind}")
    if kind == "nonfinite":
        return {"y": float("nan"), "z": float("inf"), "w": -np.inf}
    return {"y": 1.0, "z": 2.0, "w": 3.0}
'''


@pytest.fixture
def bad_project(tmp_path: Path) -> Path:
    write(
        tmp_path / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: badexp:main
        kind: ok1
        """,
    )
    write(tmp_path / "badexp.py", BAD_EXPERIMENT)
    return tmp_path


BAD_RUNS = [
    pytest.param(
        ["snakesweep.experiment=badexp:main,badexp:CONST", "kind=ok1,ok2"],
        {"CONST": ("'badexp:CONST'", "callable")},
        id="not-callable",
    ),
    pytest.param(
        ["kind=ok1,ok2,string,list"],
        {
            "kind=string": ("returned str", "expected an xarray.Dataset"),
            "kind=list": ("returned list", "expected an xarray.Dataset"),
        },
        id="wrong-return-type",
    ),
    pytest.param(
        ["kind=ok1,ok2,ok3,clash"],
        {"kind=clash": ("'kind'", "swept key")},
        id="dimension-named-as-a-swept-key",
    ),
    pytest.param(
        ["kind=ok1,ok2,object,complex"],
        {"kind=object": ("'y' as object",), "kind=complex": ("'y' as complex",)},
        id="unserialisable-values",
    ),
    pytest.param(
        ["kind=ok1,ok2,ok3,dictstr"], {"kind=dictstr": ("'y' as dict",)}, id="dict-of-text"
    ),
    pytest.param(
        ["kind=ok1,ok2,ok3,ok4,raise"],
        {"kind=raise": ("RuntimeError", "the experiment broke at kind=raise")},
        id="raises",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("sweep, bad", BAD_RUNS)
def test_bad_runs_fail_alone_with_their_error(
    bad_project: Path, sweep: list[str], bad: dict[str, tuple[str, ...]]
) -> None:
    out = sh("run", "--cores", "2", *sweep, cwd=bad_project)
    said = f"exit {out.returncode}\nstdout: {out.stdout[-3000:]}\nstderr: {out.stderr[-3000:]}"
    assert "Traceback (most recent call last)" not in out.stdout + out.stderr, said
    assert out.returncode == 1, said

    runs = bad_project / "results" / "runs"
    metas = {d.name: json.loads((d / "meta.json").read_text()) for d in runs.iterdir()}
    failed = []
    for run_id, meta in metas.items():
        where = " ".join(meta["overrides"])
        marks = [m for m in bad if m in where]
        if not marks:
            assert meta["status"] == "done", (where, meta.get("error"))
            assert (runs / run_id / "result.nc").is_file()
            continue
        failed.append(run_id)
        error = meta.get("error") or {}
        assert meta["status"] == "failed", (where, meta)
        assert not (runs / run_id / "result.nc").exists()
        assert error.get("type") and error.get("traceback"), (where, error)
        text = f"{error['type']}: {error.get('message', '')}"
        for expected in bad[marks[0]]:
            assert expected in text, (where, text)
    total = len(metas)
    assert 4 <= total <= 6 and 1 <= len(failed) <= 2, sorted(metas)
    assert out.stderr.splitlines()[-1] == (
        f"snakesweep: {len(failed)} of {total} runs failed; `snakesweep status` lists them, "
        "`snakesweep run` again retries them"
    ), said

    status = sh("status", *sweep, cwd=bad_project)
    assert status.returncode == 0, status.stderr
    assert (
        f"{total} runs: {total - len(failed)} done, 0 pending, {len(failed)} failed"
        in status.stdout
    )
    assert all(run_id in status.stdout for run_id in failed)
    assert "Traceback" not in status.stdout + status.stderr


@pytest.mark.slow
def test_nan_and_infinities_are_values(bad_project: Path) -> None:
    out = sh("run", "--cores", "2", "kind=ok1,nonfinite", cwd=bad_project)
    assert out.returncode == 0, out.stderr[-3000:]
    ds = xr.open_dataset(bad_project / "results" / "sweep.nc")
    point = ds.sel(kind="nonfinite")
    assert str(point["status"].values) == "done"
    assert np.isnan(point["y"].values)
    assert point["z"].values == np.inf and point["w"].values == -np.inf
    assert ds.sel(kind="ok1")["y"].values == 1.0
