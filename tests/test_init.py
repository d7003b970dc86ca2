"""`snakesweep init` adds a working sweep beside a user's code and never overwrites."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
import yaml

from conftest import snakesweep, tool, write

WRITTEN = {
    "experiment.py",
    "conf/config.yaml",
    "workflow/Snakefile",
    "workflow/profiles/default/config.yaml",
    "workflow/plots/curves.json",
    "dvc.yaml",
    "results/.gitignore",
    ".gitignore",
}


def files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }


@pytest.mark.slow
@pytest.mark.usefixtures("tool_env")
def test_init_in_a_git_repository_gives_a_sweep_that_snakemake_and_dvc_run(tmp_path: Path) -> None:
    tool("git", "init", "-q", cwd=tmp_path)
    write(tmp_path / "README.md", "my project\n")
    out = snakesweep("init", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert files(tmp_path) == WRITTEN | {"README.md"}
    steps = [s.split("  #")[0].strip() for s in out.stdout.splitlines()]
    assert steps[1] == "next:" and steps[2] == "dvc init"
    assert steps[3].startswith(
        "git add .gitignore conf workflow dvc.yaml results/.gitignore experiment.py"
    )
    assert steps[4].startswith("git commit") and steps[5] == "snakemake --cores all"
    assert (tmp_path / ".gitignore").read_text() == "/.snakemake/\n"

    tool("snakemake", "--cores", "2", cwd=tmp_path)
    ds = xr.load_dataset(tmp_path / "results" / "sweep.nc")
    assert dict(ds.sizes) == {"lr": 3, "seed": 2, "step": 50}
    assert (tmp_path / "results" / "plots" / "loss.csv").is_file()

    tool("dvc", "init", "-q", cwd=tmp_path)
    tool("dvc", "repro", cwd=tmp_path)
    again = tool("dvc", "repro", cwd=tmp_path)
    assert again.stdout.count("didn't change, skipping") == 2
    shown = tool("dvc", "plots", "show", "--json", cwd=tmp_path).stdout
    assert '"point": "lr=0.5 seed=1"' in shown


def test_init_adds_snakemakes_directory_to_an_existing_gitignore_once(tmp_path: Path) -> None:
    write(tmp_path / ".gitignore", "*.log")  # no newline at its end
    write(tmp_path / "sub" / ".gitignore", "/.snakemake/\n")
    assert snakesweep("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / ".gitignore").read_text() == "*.log\n/.snakemake/\n"
    assert snakesweep("init", cwd=tmp_path / "sub").returncode == 0
    assert (tmp_path / "sub" / ".gitignore").read_text() == "/.snakemake/\n"


def test_init_names_the_files_that_exist_and_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "dvc.yaml", "stages: {}\n")
    write(tmp_path / "conf" / "config.yaml", "mine: 1\n")
    out = snakesweep("init", cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith("snakesweep: init writes nothing: conf/config.yaml, dvc.yaml already")
    assert files(tmp_path) == {"dvc.yaml", "conf/config.yaml"}
    assert (tmp_path / "conf" / "config.yaml").read_text() == "mine: 1\n"


@pytest.mark.slow
def test_init_with_an_experiment_lists_its_module_as_code_dvc_depends_on(tmp_path: Path) -> None:
    write(tmp_path / "mymod.py", "def main(cfg):\n    return {'score': cfg.seed}\n")
    out = snakesweep("init", "--experiment", "mymod:main", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "experiment.py" not in files(tmp_path)
    stages = yaml.safe_load((tmp_path / "dvc.yaml").read_text())["stages"]
    assert "mymod.py" in stages["run"]["deps"]
    conf = yaml.safe_load((tmp_path / "conf" / "config.yaml").read_text())
    assert conf["snakesweep"]["experiment"] == "mymod:main"
    assert conf["hydra"]["sweeper"]["params"] == {"seed": "range(0,3)"}
    run = snakesweep("run", "--cores", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    ds = xr.load_dataset(tmp_path / "results" / "sweep.nc")
    assert list(ds["score"].values) == [0, 1, 2]


@pytest.mark.parametrize(
    ("experiment", "says"),
    [
        ("train", "--experiment: 'train' is not 'package.module:function'"),
        ("nowhere.train:main", "--experiment: cannot find module 'nowhere'"),
        ("nowhere.train:main", "(run init where your code is, or leave --experiment out for"),
    ],
)
def test_init_with_a_bad_experiment_says_which_in_one_line(
    tmp_path: Path, experiment: str, says: str
) -> None:
    out = snakesweep("init", "--experiment", experiment, cwd=tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()
    assert says in line and files(tmp_path) == set()


@pytest.mark.usefixtures("tool_env")
def test_init_in_a_part_of_a_git_repository_suggests_dvc_init_subdir(tmp_path: Path) -> None:
    tool("git", "init", "-q", cwd=tmp_path)
    write(tmp_path / "exps" / "train.py", "def main(cfg):\n    return {'score': 1}\n")
    out = snakesweep("init", "--experiment", "train:main", cwd=tmp_path / "exps")
    assert out.returncode == 0, out.stderr
    assert "dvc init --subdir" in out.stdout and "git init" not in out.stdout
    stages = yaml.safe_load((tmp_path / "exps" / "dvc.yaml").read_text())["stages"]
    assert "train.py" in stages["run"]["deps"]
    # at the top, `exps` is a namespace package (no __init__.py)
    top = snakesweep("init", "--experiment", "exps.train:main", cwd=tmp_path)
    assert top.returncode == 0, top.stderr
    assert "exps" in yaml.safe_load((tmp_path / "dvc.yaml").read_text())["stages"]["run"]["deps"]


def test_init_that_cannot_write_leaves_nothing_behind(tmp_path: Path) -> None:
    write(tmp_path / "workflow", "a file where init needs a directory\n")
    out = snakesweep("init", cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith("snakesweep: init writes nothing:")
    assert files(tmp_path) == {"workflow"}
