"""A swept value is data: shell text, quotes, braces and path segments in it do nothing.

Values made to break out of a shell command (``$(…)``, backticks, ``;``, ``|``, ``&&``,
quotes, newlines), out of Snakemake's format strings (``{wildcards.run_id}``,
``{output}``) or out of the results directory (``../``, absolute paths) are swept through
the real ``snakesweep run``: on the command line, as quoted Hydra strings, and in the YAML
of ``snakesweep.domain``. Every run is done, the experiment sees each value exactly,
config.yaml, sweep.nc and runs.csv hold it exactly, no command ran, and nothing but the
results directory and Snakemake's own ``.snakemake/`` changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sys
import uuid
from pathlib import Path

import pytest
import xarray as xr
import yaml

from conftest import snakesweep, write

UID = uuid.uuid4().hex[:12]
"""In every file name a payload would create: found anywhere, it was created by one."""


def touch(n: int) -> str:
    """A command creating PWNED<n>_<UID> here (wherever it runs) and in /tmp."""
    return f"touch PWNED{n}_{UID} /tmp/PWNED{n}_{UID}"


SHELL_VALUES = [
    f"$(touch PWNED_{UID} /tmp/PWNED_{UID})",
    f"`{touch(2)}`",
    f"; {touch(3)}",
    f"| {touch(4)}",
    f"&& {touch(5)} && echo",
    f'it\'s \'; {touch(6)}; echo \' and "; {touch(7)}; echo " and "$({touch(8)})"',
]
"""Swept on the command line: six runs."""

DATA_VALUES = [
    f"line one\n{touch(9)}\nline three\r\n",
    "{wildcards.run_id} {output} {input} {log:q} {params} {{doubled}} {rule}",
    "../" * 6 + f"escape_{UID}",  # from results/runs/<id>/artifacts/: the test's tmp dir
    f"/tmp/abs_escape_{UID}",
    "=SUM(1,2) %s %(name)s %d {0} \\t \\n",
    "C:\\new\\table\\ \\' ends in a backslash\\",
]
"""Swept in conf/config.yaml's snakesweep.domain: six runs."""

LABEL = f"  not swept: '$({touch(10)})' \"`{touch(11)}`\" ; {touch(12)}  "
KEY = f"$({touch(13)})"

EXPERIMENT = '''
import json


def main(cfg, run):
    """Ordinary: it keeps what it was given as an artifact, and returns a number."""
    extra = {k: v for k, v in cfg.extra.items()}
    run.blob("seen.json", json.dumps({"name": cfg.name, "label": cfg.label, "extra": extra}))
    return {"y": float(len(cfg.name))}
'''


def hydra_quoted(value: str) -> str:
    """``value`` as a single-quoted string of Hydra's override grammar: a quote is escaped,
    and so are the backslashes before a quote or at the end (Hydra's docs, "Quoted values").
    """
    text = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    text = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, text)
    return f"'{text}'"


def test_the_quoting_is_hydras() -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for value in [*SHELL_VALUES, *DATA_VALUES, LABEL]:
        assert parser.parse_override(f"name={hydra_quoted(value)}").value() == value


def make_project(root: Path, domain: list[str] | None = None) -> Path:
    """A project two levels below ``root``: ``../`` from it or its results stays in root."""
    project = root / "outer" / "project"
    options: dict[str, object] = {"experiment": "injexp:main"}
    if domain is not None:
        options["domain"] = {"name": domain}
    config = {
        "snakesweep": options,
        "name": "plain",
        "label": LABEL,
        "extra": {KEY: "a key is data too", "plain": 1},
    }
    write(project / "conf" / "config.yaml", yaml.safe_dump(config, allow_unicode=True))
    write(project / "injexp.py", EXPERIMENT)
    sys.modules.pop("injexp", None)
    return project


IGNORED = ("results", ".snakemake")


def snapshot(root: Path, project: Path) -> dict[str, str]:
    """Every path under root with its content's hash, but the project's results/,
    .snakemake/ and every __pycache__/."""
    skipped = {project / name for name in IGNORED}
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and here / d not in skipped]
        for name in dirnames + filenames:
            path = here / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = f"symlink to {os.readlink(path)}"
            elif path.is_dir():
                found[rel] = "directory"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def created_by_a_payload(root: Path) -> list[str]:
    """Paths whose name holds UID, under root, in /tmp, in the working directory, in the
    directory that holds every test's tmp dir."""
    places = [
        *root.rglob(f"*{UID}*"),
        *Path("/tmp").glob(f"*{UID}*"),
        *Path.cwd().glob(f"*{UID}*"),
        *root.parent.glob(f"*{UID}*"),
    ]
    return sorted({str(p) for p in places})


def sweep(project: Path, *overrides: str) -> None:
    out = snakesweep("run", *overrides, "--cores", "2", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def stored_exactly(project: Path, values: list[str]) -> None:
    """Each value is one done run; config.yaml, the experiment, sweep.nc and runs.csv hold
    it verbatim; the run id sweep.nc gives it is the run whose config holds it."""
    runs = project / "results" / "runs"
    by_value = {}
    for run_dir in runs.iterdir():
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        seen = json.loads((run_dir / "artifacts" / "seen.json").read_text(encoding="utf-8"))
        assert seen == {
            "name": config["name"],
            "label": LABEL,
            "extra": {KEY: "a key is data too", "plain": 1},
        }
        assert config["label"] == LABEL and config["extra"][KEY] == "a key is data too"
        meta = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
        assert meta["status"] == "done", meta
        by_value[config["name"]] = run_dir.name
    assert sorted(by_value) == sorted(values)

    ds = xr.load_dataset(project / "results" / "sweep.nc")
    assert sorted(ds["name"].values.tolist()) == sorted(values)
    for value in values:
        point = ds.sel(name=value)
        assert str(point["run_id"].values) == by_value[value]
        assert str(point["status"].values) == "done"
        assert float(point["y"].values) == len(value)

    with open(project / "results" / "runs.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert sorted(row["name"] for row in table) == sorted(values)
    assert {row["name"]: row["run_id"] for row in table} == by_value


def nothing_else_happened(tmp_path: Path, project: Path, before: dict[str, str]) -> None:
    assert created_by_a_payload(tmp_path) == []
    after = snapshot(tmp_path, project)
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}  # nothing new
    assert before.keys() <= after.keys()  # nothing deleted
    names = [p.name for p in (project / "results").rglob("*")]
    assert not [n for n in names if UID in n or "PWNED" in n or "escape" in n]


@pytest.mark.slow
def test_shell_text_swept_on_the_command_line_is_data(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    before = snapshot(tmp_path, project)
    sweep(project, "name=" + ",".join(hydra_quoted(v) for v in SHELL_VALUES))
    stored_exactly(project, SHELL_VALUES)
    nothing_else_happened(tmp_path, project, before)

    planned = snakesweep(
        "plan",
        "--format",
        "json",
        "name=" + ",".join(hydra_quoted(v) for v in SHELL_VALUES),
        cwd=project,
    )
    assert planned.returncode == 0, planned.stderr
    points = json.loads(planned.stdout)
    assert [p["params"]["name"] for p in points] == SHELL_VALUES
    assert {p["status"] for p in points} == {"done"}


@pytest.mark.slow
def test_shell_text_braces_and_paths_in_the_domain_yaml_are_data(tmp_path: Path) -> None:
    project = make_project(tmp_path, domain=DATA_VALUES)
    text = (project / "conf" / "config.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text)["snakesweep"]["domain"]["name"] == DATA_VALUES
    before = snapshot(tmp_path, project)
    sweep(project)
    stored_exactly(project, DATA_VALUES)
    nothing_else_happened(tmp_path, project, before)
    assert not Path(f"/tmp/abs_escape_{UID}").exists()


@pytest.mark.slow
def test_a_value_in_the_results_option_is_not_a_shell_command_either(tmp_path: Path) -> None:
    """The results directory is a path the rules pass to shell commands: a name with a
    space, quotes and ``$(…)`` in it is one directory, and nothing runs."""
    project = make_project(tmp_path)
    results = f"res $(touch PWNED14_{UID}) '\"; touch PWNED15_{UID} `touch PWNED16_{UID}`"
    before = snapshot(tmp_path, project)
    sweep(project, "--results", results, f"name={hydra_quoted(SHELL_VALUES[0])},'b'")
    assert (project / results / "sweep.nc").is_file()
    assert {p.name for p in project.iterdir()} - {"__pycache__"} == {
        ".snakemake",
        "conf",
        "injexp.py",
        results,
    }
    ds = xr.load_dataset(project / results / "sweep.nc")
    assert sorted(ds["name"].values.tolist()) == sorted([SHELL_VALUES[0], "b"])
    assert created_by_a_payload(tmp_path) == [str(project / results)]
    after = snapshot(tmp_path, project)
    changed = {k for k, v in after.items() if before.get(k) != v}
    outside = Path("outer", "project", results)
    assert all(Path(k) == outside or outside in Path(k).parents for k in changed), changed
