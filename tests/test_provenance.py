"""Provenance: git state, debug sweeps, code fingerprints and stale runs, no secrets, no home.

Every test runs the real ``snakesweep``/``snakemake`` on a real git repository in a
temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from conftest import calls, snakesweep, tool, write
from snakesweep.core.options import Options
from snakesweep.errors import ConfigError
from snakesweep.provenance.code import CurrentCode, named_files, ran_code
from snakesweep.provenance.environment import ENV_ALLOWED, environment
from snakesweep.provenance.git import is_debug, relevant_dirt
from snakesweep.provenance.places import Places
from snakesweep.provenance.record import sweep_record
from snakesweep.snakemake.workflow import SNAKEFILE

pytestmark = pytest.mark.usefixtures("tool_env")


def git_project(project: Path) -> Path:
    """The ``project`` fixture as a committed git repository."""
    write(project / ".gitignore", "calls.txt\nsleeping.txt\n")
    tool("git", "init", "-q", "-b", "main", cwd=project)
    commit(project, "a sweep")
    return project


def commit(repo: Path, message: str) -> str:
    tool("git", "add", "-A", cwd=repo)
    tool("git", "commit", "-qm", message, cwd=repo)
    return tool("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()


def run(project: Path, *args: str, env: dict[str, str] | None = None) -> None:
    out = snakesweep("run", "--cores", "2", *args, cwd=project, env=env)
    assert out.returncode == 0, out.stderr


def metas(project: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    return {
        p.parent.name: json.loads(p.read_text())
        for p in (project / "results" / "runs").glob("*/meta.json")
    }


def status(project: Path, *args: str) -> dict:  # type: ignore[type-arg]
    out = snakesweep("status", "--format", "json", *args, cwd=project)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_runs_that_come_before_a_slow_session_is_captured_wait_for_it(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The session is captured while Snakemake starts; with a git slower than that start,
    the first runs wait for it rather than capture their own: one session, before them."""
    git_project(project)
    slow = tmp_path_factory.mktemp("slow-git")
    real = shutil.which("git")
    write(
        slow / "git",
        f"""
        #!/bin/bash
        case " $* " in *" status "*|*" diff "*) sleep 3;; esac
        exec {real} "$@"
        """,
    )
    (slow / "git").chmod(0o755)
    run(project, env={"PATH": f"{slow}:{os.environ['PATH']}"})
    records = metas(project)
    assert len({m["provenance"]["sweep"]["start"] for m in records.values()}) == 1
    assert all(m["provenance"]["sweep"]["start"] <= m["start"] for m in records.values())
    assert not list((project / "results" / ".snakesweep" / "sessions").iterdir())


@pytest.mark.slow
def test_a_clean_sweep_records_commit_system_versions_and_times(project: Path) -> None:
    git_project(project)
    head = tool("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    run(project)

    # the session `snakesweep run` captures while Snakemake starts is every run's
    assert len({meta["provenance"]["sweep"]["start"] for meta in metas(project).values()}) == 1
    for run_id, meta in metas(project).items():
        record = meta["provenance"]
        assert record["git"] == {
            "repository": True,
            "commit": head,
            "branch": "main",
            "detached": False,
            "dirty": False,
            "dirty_paths": [],
            "untracked": [],
            "directory": ".",
            "diff": None,
        }
        assert record["debug"] is False
        assert record["experiment"] == {
            "entry_point": "tinyexp:main",
            "file": "tinyexp.py",
            "shipped": "by reference",
        }
        assert record["code"]["files"] == ["tinyexp.py"]
        assert record["sweep"]["command"] == ["snakesweep", "run", "--cores", "2"]
        assert record["sweep"]["start"] <= meta["start"] <= meta["end"]
        assert not (project / "results" / "runs" / run_id / "git.diff").exists()

    sweep = json.loads((project / "results" / "provenance.json").read_text())
    assert sweep["git"]["commit"] == head and sweep["git"]["dirty"] is False
    assert sweep["runs"]["by_commit"] == {head: 3}
    assert sweep["sweep"]["runs"] == 3 and sweep["sweep"]["debug"] is False
    assert sweep["sweep"]["duration"] >= 0 and sweep["sweep"]["compute_seconds"] > 0
    assert set(sweep["system"]) >= {"python", "os", "cpu", "cores", "memory_bytes", "host"}
    assert sweep["system"]["cores"] == os.cpu_count()
    assert sweep["system"]["python"] == ".".join(map(str, sys.version_info[:3]))
    for name in ("snakemake", "dvc", "hydra-core", "xarray", "rerun-sdk"):
        assert sweep["versions"][name] and sweep["distributions"][name] == sweep["versions"][name]
    assert (project / "results" / "provenance.diff").read_text() == ""
    with xr.open_dataset(project / "results" / "sweep.nc") as ds:
        assert ds.attrs["snakesweep_debug"] == 0
        assert ds.attrs["snakesweep_git_commit"] == head


@pytest.mark.slow
def test_a_dirty_tree_makes_a_debug_sweep_with_its_diff_saved(project: Path) -> None:
    git_project(project)
    conf = project / "conf" / "config.yaml"
    conf.write_text(conf.read_text().replace("offset: 0", "offset: 5"))
    write(project / "notes.txt", "an idea\n")
    run(project)

    for run_id, meta in metas(project).items():
        record = meta["provenance"]
        assert record["debug"] is True
        assert record["git"]["dirty"] is True
        assert record["git"]["dirty_paths"] == ["conf/config.yaml"]
        assert record["git"]["untracked"] == ["notes.txt"]
        assert record["git"]["diff"] == "git.diff"
        diff = (project / "results" / "runs" / run_id / "git.diff").read_text()
        assert "-offset: 0\n+offset: 5" in diff
    assert "+offset: 5" in (project / "results" / "provenance.diff").read_text()
    with xr.open_dataset(project / "results" / "sweep.nc") as ds:
        assert ds.attrs["snakesweep_debug"] == 1 and ds.attrs["snakesweep_debug_runs"] == 3
    assert sorted(status(project)["debug"]) == sorted(metas(project))
    table = snakesweep("status", cwd=project).stdout
    assert table.startswith("DEBUG SWEEP: 3 of 3 runs")

    # what status says to do: commit, then compute every run again
    assert "commit, then `snakesweep run -- --forcerun run_experiment`" in table
    commit(project, "offset 5")
    run(project, "--", "--forcerun", "run_experiment")
    assert not any(m["provenance"]["debug"] for m in metas(project).values())
    assert not snakesweep("status", cwd=project).stdout.startswith("DEBUG")


@pytest.mark.slow
def test_dirty_paths_matching_git_dirty_ignore_do_not_make_a_debug_sweep(project: Path) -> None:
    conf = project / "conf" / "config.yaml"
    conf.write_text(
        conf.read_text().replace(
            "snakesweep:\n", "snakesweep:\n  git_dirty_ignore: ['docs', '*.md']\n"
        )
    )
    write(project / "docs" / "index.txt", "v1\n")
    git_project(project)
    write(project / "docs" / "index.txt", "v2\n")
    write(project / "NOTES.md", "todo\n")
    run(project)

    for meta in metas(project).values():
        assert meta["provenance"]["git"]["dirty"] is True
        assert meta["provenance"]["debug"] is False
    assert "DEBUG" not in snakesweep("status", cwd=project).stdout


@pytest.mark.slow
def test_snakesweep_debug_forces_it_either_way(project: Path) -> None:
    git_project(project)
    run(project, "+snakesweep.debug=true")
    forced = metas(project)
    assert len(forced) == 3 and all(m["provenance"]["debug"] for m in forced.values())
    write(project / "scratch.py", "x = 1\n")
    out = snakesweep("run", "--cores", "2", "+snakesweep.debug=false", "x=4", cwd=project)
    assert out.returncode == 0, out.stderr
    new = [m for r, m in metas(project).items() if r not in forced]
    assert len(new) == 1
    assert new[0]["provenance"]["git"]["untracked"] == ["scratch.py"]
    assert new[0]["provenance"]["debug"] is False


@pytest.mark.slow
def test_editing_the_experiment_stales_its_runs_and_snakemake_reruns_exactly_those(
    project: Path,
) -> None:
    write(project / "other.py", "def main(cfg):\n    return {'y': cfg.x * 100}\n")
    git_project(project)
    run(project, "snakesweep.experiment=tinyexp:main,other:main")
    assert len(calls(project)) == 3  # other.py does not write calls.txt
    before = metas(project)

    write(project / "helper.py", "UNRELATED = 1\n")
    (project / "README.md").write_text("unrelated\n")
    sweep = ["snakesweep.experiment=tinyexp:main,other:main"]
    assert status(project, *sweep)["stale"] == []

    source = project / "tinyexp.py"
    source.write_text(source.read_text().replace("cfg.x * 10", "cfg.x * 1000"))
    stale = status(project, *sweep)["stale"]
    assert len(stale) == 3
    assert {s["params"]["snakesweep.experiment"] for s in stale} == {"tinyexp:main"}
    assert {s["computed_with"] for s in stale} == {
        m["provenance"]["code"]["fingerprint"]
        for m in before.values()
        if m["provenance"]["experiment"]["entry_point"] == "tinyexp:main"
    }

    config = f"snakesweep={{overrides: {json.dumps(sweep)}}}"
    dry = tool("snakemake", "-n", "--snakefile", SNAKEFILE, "--config", config, cwd=project)
    assert "run_experiment        3" in dry.stdout + dry.stderr
    tool("snakemake", "--cores", "2", "--snakefile", SNAKEFILE, "--config", config, cwd=project)
    after = metas(project)
    recomputed = {r for r in after if after[r]["start"] != before[r]["start"]}
    assert recomputed == {s["run_id"] for s in stale}
    assert len(calls(project)) == 6
    assert status(project, *sweep)["stale"] == []
    with xr.open_dataset(project / "results" / "sweep.nc") as ds:
        assert sorted(ds["y"].sel({"snakesweep.experiment": "tinyexp:main"}).values.tolist()) == [
            1000,
            2000,
            3000,
        ]
    again = tool("snakemake", "-n", "--snakefile", SNAKEFILE, "--config", config, cwd=project)
    assert "Nothing to be done" in again.stdout + again.stderr


PACKAGE = {
    "mypkg/__init__.py": "",
    "mypkg/train.py": """
        import importlib

        from mypkg.util import scale


        def main(cfg):
            from mypkg.lazy import offset  # imported when a run calls main
            plugin = importlib.import_module("mypkg.dynamic")  # which no import statement names
            with open("calls.txt", "a") as f:
                f.write(f"{cfg.x}\\n")
            return {"y": scale(cfg.x) + offset() + plugin.SHIFT}
        """,
    "mypkg/util.py": "from mypkg.deep import FACTOR\n\n\ndef scale(x):\n    return FACTOR * x\n",
    "mypkg/deep.py": "FACTOR = 2\n",
    "mypkg/lazy.py": "def offset():\n    return 0\n",
    "mypkg/dynamic.py": "SHIFT = 0\n",
    "mypkg/unused.py": "NEVER = 'imported'\n",
}
RAN = [
    "mypkg/__init__.py",
    "mypkg/deep.py",
    "mypkg/dynamic.py",
    "mypkg/lazy.py",
    "mypkg/train.py",
    "mypkg/util.py",
]
"""The files of ``PACKAGE`` its runs run: all but ``unused.py``."""


def package_project(project: Path, experiment: str = "mypkg.train:main") -> Path:
    """The ``project`` fixture with ``PACKAGE`` beside ``tinyexp.py``, running ``experiment``."""
    for name, text in PACKAGE.items():
        write(project / name, text)
    conf = project / "conf" / "config.yaml"
    conf.write_text(conf.read_text().replace("tinyexp:main", experiment))
    return project


@pytest.mark.slow
def test_a_package_entry_point_is_fingerprinted_by_what_its_runs_import(project: Path) -> None:
    """Direct, transitive, in-function and importlib imports count; the package's other
    modules do not."""
    package_project(project)
    write(project / "scripts" / "plot.py", "print('unrelated')\n")
    git_project(project)
    run(project)
    record = next(iter(metas(project).values()))["provenance"]
    assert record["code"]["files"] == RAN
    assert record["experiment"]["file"] == "mypkg/train.py"

    (project / "scripts" / "plot.py").write_text("print('still unrelated')\n")
    (project / "mypkg" / "unused.py").write_text("NEVER = 'imported, still'\n")
    assert status(project)["counts"]["stale"] == 0
    for name in ("util", "deep", "lazy", "dynamic"):
        source = project / "mypkg" / f"{name}.py"
        text = source.read_text()
        source.write_text(text + "# edited\n")
        assert status(project)["counts"]["stale"] == 3, name
        source.write_text(text)
    assert status(project)["counts"]["done"] == 3  # the same bytes again: the same code

    (project / "mypkg" / "deep.py").write_text("FACTOR = 3\n")
    assert status(project)["counts"] == {
        "done": 0,
        "stale": 3,
        "corrupt": 0,
        "pending": 0,
        "failed": 0,
    }
    shutil.rmtree(project / ".snakemake")  # as after a clone and `dvc pull`: no metadata
    dry = tool("snakemake", "-n", "--snakefile", SNAKEFILE, cwd=project)
    assert "run_experiment        3" in dry.stdout + dry.stderr
    assert "merge_runs            1" in dry.stdout + dry.stderr
    tool("snakemake", "--cores", "2", "--snakefile", SNAKEFILE, cwd=project)
    assert len(calls(project)) == 6
    assert status(project)["counts"]["done"] == 3
    with xr.open_dataset(project / "results" / "sweep.nc") as ds:
        assert ds["y"].values.tolist() == [3, 6, 9]


@pytest.mark.slow
def test_new_files_beside_the_experiment_stale_no_run(project: Path) -> None:
    """Nor does the dirty-tree rule change: the new files make the runs computed next debug
    runs, and the done ones stay as they were."""
    package_project(project)
    sweep = ["snakesweep.experiment=tinyexp:main,mypkg.train:main"]
    git_project(project)
    run(project, *sweep)
    before = metas(project)
    assert not any(m["provenance"]["debug"] for m in before.values())

    write(project / "mypkg" / "newer.py", "NEW = 1\n")
    write(project / "mypkg" / "sub" / "__init__.py", "")
    write(project / "beside.py", "NEW = 1\n")  # beside the top-level tinyexp.py
    assert status(project, *sweep)["counts"] == {
        "done": 6,
        "stale": 0,
        "corrupt": 0,
        "pending": 0,
        "failed": 0,
    }
    config = f"snakesweep={{overrides: {json.dumps(sweep)}}}"
    dry = tool("snakemake", "-n", "--snakefile", SNAKEFILE, "--config", config, cwd=project)
    assert "Nothing to be done" in dry.stdout + dry.stderr

    run(project, "snakesweep.experiment=tinyexp:main,mypkg.train:main", "x=4")
    after = metas(project)
    assert {r: m["start"] for r, m in after.items() if r in before} == {
        r: m["start"] for r, m in before.items()
    }
    new = [m["provenance"] for r, m in after.items() if r not in before]
    assert len(new) == 2 and all(p["debug"] for p in new)
    assert sorted(p["code"]["files"] for p in new) == [RAN, ["tinyexp.py"]]


@pytest.mark.parametrize(
    "how, args, env, processes",
    [
        ("pool", [], {}, 1),
        ("a process per run", [], {"SNAKESWEEP_NO_POOL": "1"}, 6),
        ("a batch, in the pool", ["--batch", "6"], {}, 1),
        ("a batch, a process forked per run", ["--batch", "6"], {"SNAKESWEEP_NO_POOL": "1"}, 6),
    ],
)
@pytest.mark.slow
def test_every_way_of_running_records_the_same_files(
    project: Path, how: str, args: list[str], env: dict[str, str], processes: int
) -> None:
    """On one core: the pool's one worker runs both experiments, and records each one's own
    files."""
    package_project(project)
    git_project(project)
    out = snakesweep(
        "run",
        "--cores",
        "1",
        *args,
        "snakesweep.experiment=tinyexp:main,mypkg.train:main",
        cwd=project,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    files = {
        m["provenance"]["experiment"]["entry_point"]: m["provenance"]["code"]["files"]
        for m in metas(project).values()
    }
    assert files == {"tinyexp:main": ["tinyexp.py"], "mypkg.train:main": RAN}, how
    pids = {m["pid"] for m in metas(project).values()}
    assert len(pids) == processes, how


@pytest.mark.slow
def test_a_run_that_records_no_code_is_stale(project: Path) -> None:
    git_project(project)
    run(project)
    run_id, meta = next(iter(metas(project).items()))
    del meta["provenance"]["code"]  # as a run whose record failed before it knew its code
    (project / "results" / "runs" / run_id / "meta.json").write_text(json.dumps(meta, indent=2))
    stale = status(project)["stale"]
    assert [(s["run_id"], s["computed_with"], s["current"]) for s in stale] == [
        (run_id, None, None)
    ]
    cache = json.loads((project / "results" / ".snakesweep" / "checksums.json").read_text())
    assert list(cache["code_files"].values()) == [["tinyexp.py"]]  # the others' list, once


def test_an_earlier_record_of_a_whole_package_hashes_as_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run recorded with every file of its package (before the fingerprint followed its
    imports) is not stale after an upgrade; a recorded file gone changes the fingerprint."""
    (tmp_path / ".git").mkdir()
    write(tmp_path / "mypkg" / "__init__.py", "")
    write(tmp_path / "mypkg" / "train.py", 'def main(cfg):\n    return {"y": cfg.x}\n')
    write(tmp_path / "mypkg" / "unused.py", "UNUSED = 1\n")
    monkeypatch.chdir(tmp_path)
    files = ("mypkg/__init__.py", "mypkg/train.py", "mypkg/unused.py")
    options = {"r": Options(experiment="mypkg.train:main")}
    assert CurrentCode(options)("r", files) == "6c0dbf31a1062369"  # as recorded
    (tmp_path / "mypkg" / "unused.py").unlink()
    assert CurrentCode(options)("r", files) != "6c0dbf31a1062369"


@pytest.mark.slow
def test_code_globs_name_more_files_that_make_a_run(project: Path) -> None:
    """Besides the modules the experiment imports; a new file a glob names counts too."""
    conf = project / "conf" / "config.yaml"
    conf.write_text(
        conf.read_text().replace("snakesweep:\n", "snakesweep:\n  code: ['data/*.csv']\n")
    )
    write(project / "data" / "table.csv", "a,b\n1,2\n")
    git_project(project)
    run(project)
    assert next(iter(metas(project).values()))["provenance"]["code"]["files"] == [
        "data/table.csv",
        "tinyexp.py",
    ]
    (project / "data" / "table.csv").write_text("a,b\n1,3\n")
    assert status(project)["counts"]["stale"] == 3
    (project / "data" / "table.csv").write_text("a,b\n1,2\n")
    write(project / "data" / "more.csv", "c\n3\n")
    assert status(project)["counts"]["stale"] == 3
    (project / "data" / "more.csv").unlink()
    source = project / "tinyexp.py"
    source.write_text(source.read_text().replace("cfg.x * 10", "cfg.x * 1000"))
    assert status(project)["counts"]["stale"] == 3

    conf.write_text(conf.read_text().replace("data/*.csv", "nothing/*.csv"))
    out = snakesweep("status", cwd=project)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "snakesweep: snakesweep.code: 'nothing/*.csv' matches no file in '.'"
    )


@pytest.mark.slow
def test_outside_a_git_repository_everything_works_and_git_says_so(project: Path) -> None:
    run(project)
    for meta in metas(project).values():
        assert meta["provenance"]["git"] == {
            "repository": False,
            "reason": "not in a git repository",
            "diff": None,
        }
        assert meta["provenance"]["debug"] is False
    sweep = json.loads((project / "results" / "provenance.json").read_text())
    assert sweep["runs"]["by_commit"] == {"None": 3}


@pytest.mark.slow
def test_no_secret_and_no_home_path_reaches_any_file_the_sweep_wrote(tmp_path: Path) -> None:
    home = tmp_path / "home" / "someone"
    project = home / "work" / "proj"
    write(
        project / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: failing:main
        x: 1
        hydra:
          sweeper:
            params:
              x: 1,2
        """,
    )
    write(
        project / "failing.py",
        "def main(cfg):\n    if cfg.x == 2:\n"
        "        raise ValueError('the failing point')\n    return {'y': cfg.x}\n",
    )
    git_project(project)
    secret = "hunter2-0a1b2c3d-not-a-real-token"
    env = {
        "HOME": str(home),
        "API_TOKEN": secret,
        "AWS_SECRET_ACCESS_KEY": secret,
        "OMP_NUM_THREADS": "3",
    }
    out = snakesweep("run", "--cores", "2", cwd=project, env=env)
    assert out.returncode == 1, out.stderr  # the failing point

    written = [p for p in (project / "results").rglob("*") if p.is_file()]
    assert len(written) > 15
    for path in written:
        data = path.read_bytes()
        assert secret.encode() not in data, path
        assert str(home).encode() not in data, path
    for meta in metas(project).values():
        assert meta["provenance"]["environment"] == {"OMP_NUM_THREADS": "3"}
    failed = [m for m in metas(project).values() if m["status"] == "failed"]
    assert 'File "failing.py", line 3, in main' in failed[0]["error"]["traceback"]


def test_paths_and_text_are_made_relative_to_the_repository_and_home(tmp_path: Path) -> None:
    places = Places(root=tmp_path / "repo", home=tmp_path)
    assert places.path(tmp_path / "repo" / "src" / "a.py") == "src/a.py"
    assert places.path(tmp_path / "repo") == "."
    assert places.path(tmp_path / "venv" / "lib") == "~/venv/lib"
    assert places.path("/usr/lib/python3") == "/usr/lib/python3"
    text = f'File "{tmp_path}/repo/x.py", line 1\n  {tmp_path}/data {tmp_path}/repo2 {tmp_path}\n'
    assert places.text(text) == 'File "x.py", line 1\n  ~/data ~/repo2 ~\n'
    assert places.text(f"{tmp_path}x/a") == f"{tmp_path}x/a"  # another user's home


def test_ignore_globs_match_folders_and_paths() -> None:
    git = {"dirty_paths": ["docs/a/b.txt", "src/m.py"], "untracked": ["NOTES.md"]}
    assert relevant_dirt(git, ["docs", "*.md"]) == ["src/m.py"]
    assert relevant_dirt(git, ["docs/", "src/*", "NOTES.md"]) == []
    assert is_debug(None, {"repository": True, **git}, ["docs", "*.md"]) is True
    assert is_debug(False, {"repository": True, **git}, []) is False
    with pytest.raises(ConfigError, match="snakesweep.debug"):
        Options.parse({"debug": "yes"})  # read with the other options, before any run


def test_only_allow_listed_environment_variables_are_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("MY_PASSWORD", "secret")
    recorded = environment()
    assert recorded["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert set(recorded) <= set(ENV_ALLOWED)


def test_a_run_outside_a_session_captures_provenance_itself(project: Path) -> None:
    git_project(project)
    out = snakesweep("plan", cwd=project)
    assert out.returncode == 0, out.stderr
    plan = next(
        p
        for p in (project / "results" / ".snakesweep" / "plans").glob("*.json")
        if not p.name.endswith(".configs.json")
    )
    run_id = json.loads(plan.read_text())["run_ids"][0]
    done = subprocess.run(
        [sys.executable, "-m", "snakesweep.execute", str(plan), run_id, "results"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    record = metas(project)[run_id]["provenance"]
    assert record["git"]["commit"] == tool("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    assert record["sweep"]["command"] == [
        "python",
        "-m",
        "snakesweep.execute",
        plan.relative_to(project).as_posix(),
        run_id,
        "results",
    ]


@pytest.mark.slow
def test_each_invocation_records_its_own_session_and_leaves_none_behind(project: Path) -> None:
    """A run computed later by hand records the commit and code of its own time, not those
    of an earlier sweep; finished sweeps leave no session behind."""
    git_project(project)
    run(project)
    assert list((project / "results" / ".snakesweep" / "sessions").iterdir()) == []
    source = project / "tinyexp.py"
    source.write_text(source.read_text().replace("cfg.x * 10", "cfg.x * 1000"))
    later = commit(project, "y times 1000")
    assert status(project)["counts"]["stale"] == 3

    plan = next(
        p
        for p in (project / "results" / ".snakesweep" / "plans").glob("*.json")
        if not p.name.endswith(".configs.json")
    )
    run_id = json.loads(plan.read_text())["run_ids"][0]
    shutil.rmtree(project / "results" / "runs" / run_id)
    done = subprocess.run(
        [sys.executable, "-m", "snakesweep.execute", str(plan), run_id, "results"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    record = metas(project)[run_id]["provenance"]
    assert record["git"]["commit"] == later and record["git"]["dirty"] is False
    assert status(project)["counts"] == {
        "done": 1,
        "stale": 2,
        "corrupt": 0,
        "pending": 0,
        "failed": 0,
    }


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give .git another owner")
def test_a_repository_git_refuses_to_read_is_said_so_and_the_sweep_goes_on(project: Path) -> None:
    git_project(project)
    for path in [project / ".git", *(project / ".git").rglob("*")]:
        os.lchown(path, 12345, 12345)  # git: "detected dubious ownership"
    run(project)
    for meta in metas(project).values():
        git = meta["provenance"]["git"]
        assert git["repository"] is False
        assert git["reason"].startswith("git cannot read the repository: ")
        assert "dubious ownership" in git["reason"] and str(project) not in git["reason"]
    with xr.open_dataset(project / "results" / "sweep.nc") as ds:
        assert ds["y"].values.tolist() == [10, 20, 30]


def test_the_sweep_record_counts_a_run_whose_record_failed_as_without_provenance() -> None:
    good = {
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-01-01T00:00:01+00:00",
        "duration": 1.0,
        "provenance": {
            "git": {"commit": "abc"},
            "code": {"fingerprint": "f1"},
            "system": {"host": "h"},
            "debug": False,
        },
    }
    bad = {
        "start": "2026-01-01T00:00:02+00:00",
        "end": "2026-01-01T00:00:03+00:00",
        "duration": 1.0,
        "provenance": {"error": "GitCommandError: …"},
    }
    record = sweep_record({"a": good, "b": bad})
    assert record["sweep"]["without_provenance"] == ["b"]
    assert record["runs"]["by_commit"] == {"abc": 1} and record["newest_run"] == "a"


def test_paths_through_a_symlinked_home_are_made_relative_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "data" / "ann"
    (real / "proj" / ".git").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "ann").symlink_to(real)
    link = tmp_path / "home" / "ann"
    monkeypatch.setenv("HOME", str(link))
    monkeypatch.setenv("PWD", str(link / "proj"))
    monkeypatch.chdir(link / "proj")
    places = Places.here()
    assert places.root == real / "proj"
    text = f"{link}/proj/x.py {real}/proj/y.py {link}/venv {real}/data {tmp_path}/other"
    assert places.text(text) == f"x.py y.py ~/venv ~/data {tmp_path}/other"
    assert places.path(link / "proj" / "a" / "b.py") == "a/b.py"
    assert places.path(link / "notes") == "~/notes"


def test_recorded_paths_are_relative_to_the_repository_from_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / "exp" / "tinyexp.py", "def main(cfg):\n    return {}\n")
    write(tmp_path / "exp" / "pkg" / "__init__.py", "")
    write(tmp_path / "exp" / "pkg.py", "# shadowed by the package, as Python does\n")
    write(tmp_path / "exp" / "pkg" / "__pycache__" / "x.cpython-311.pyc", "bytes")
    monkeypatch.chdir(tmp_path / "exp")
    monkeypatch.syspath_prepend(str(tmp_path / "exp"))
    code = ran_code(Options(experiment="tinyexp:main"))
    assert code.entry_file == "exp/tinyexp.py" and code.files == ("exp/tinyexp.py",)
    assert ran_code(Options(experiment="pkg:main")).files == ("exp/pkg/__init__.py",)
    globbed = named_files(Options(code=("pkg/**/*",)))
    assert list(globbed) == ["exp/pkg/__init__.py"]  # no bytecode: it changes by itself


@pytest.mark.slow
def test_a_record_lists_at_most_200_untracked_paths_and_counts_the_rest(project: Path) -> None:
    git_project(project)
    for i in range(250):
        write(project / "scratch" / f"{i:03d}.txt", "x\n")
    run(project)
    git = next(iter(metas(project).values()))["provenance"]["git"]
    assert len(git["untracked"]) == 200 and git["untracked_more"] == 50
    assert git["untracked"][0] == "scratch/000.txt"
