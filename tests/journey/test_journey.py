"""A user's path, as a user takes it: snakesweep built into a wheel and an sdist, the wheel
installed into a fresh virtual environment outside this repository, and a brand-new git
repository of the user's own where they type what `snakesweep init` tells them to.

Nothing here imports snakesweep from this repository: every command runs from the installed
wheel, through the virtual environment's own `snakesweep`, `snakemake`, `dvc` and `git`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, made_once, write

pytestmark = [pytest.mark.slow, pytest.mark.journey]

EXPERIMENT = '''
import os

import numpy as np


def fit(cfg):
    """A curve and a number per seed; each call is counted in $JOURNEY_CALLS."""
    with open(os.environ["JOURNEY_CALLS"], "a") as f:
        f.write(f"{cfg.seed}\\n")
    return {"score": float(cfg.seed) * 2.0, "curve": np.arange(5) * cfg.seed}
'''


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Installed:
    """A virtual environment with the wheel installed, and how to run commands in it."""

    venv: Path
    env: dict[str, str]
    calls: Path

    def run(
        self, command: str | list[str], cwd: Path, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """A command line as a user types it (a string goes through bash)."""
        args = ["bash", "-c", command] if isinstance(command, str) else command
        out = subprocess.run(
            args, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and out.returncode != 0:
            raise AssertionError(
                f"`{command}` in {cwd} exited {out.returncode}:\n"
                f"{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
            )
        return out

    def count_calls(self) -> int:
        return len(self.calls.read_text().split()) if self.calls.exists() else 0


@dataclass(frozen=True)
class Packaging:
    """The Python of a virtual environment with `build` and `twine`, kept apart: they need
    versions of `packaging` that would hold back Snakemake in the tests' environment; and
    the sdist and the wheel it built."""

    python: Path
    dist: Dist


@pytest.fixture(scope="module")
def packaging(tmp_path_factory: pytest.TempPathFactory) -> Packaging:
    """`python -m build` of this repository, as for a package index (made once a session,
    whichever worker asks first)."""

    def make(where: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True, timeout=300)
        subprocess.run(
            [
                str(where / "venv" / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "build",
                "twine",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
        subprocess.run(
            [
                str(where / "venv" / "bin" / "python"),
                "-m",
                "build",
                "--outdir",
                str(where / "dist"),
                str(REPO),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )

    where = made_once(tmp_path_factory, "journey-packaging", make)
    (wheel,) = (where / "dist").glob("snakesweep-*.whl")
    (sdist,) = (where / "dist").glob("snakesweep-*.tar.gz")
    return Packaging(python=where / "venv" / "bin" / "python", dist=Dist(wheel, sdist))


@pytest.fixture(scope="module")
def installed(packaging: Packaging, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel in a fresh virtual environment (not `-e`, nothing of this repository)."""

    def make(where: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True, timeout=300)
        subprocess.run(
            [
                str(where / "venv" / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                str(packaging.dist.wheel),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
        )

    home = made_once(tmp_path_factory, "journey-venv", make)
    venv = home / "venv"
    keep = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
        and not k.startswith(("SNAKESWEEP_", "PYTEST_"))
    }
    calls = tmp_path_factory.mktemp("journey") / "calls.txt"
    env = {
        **keep,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "GIT_AUTHOR_NAME": "A User",
        "GIT_COMMITTER_NAME": "A User",
        "GIT_AUTHOR_EMAIL": "user@snakesweep.invalid",
        "GIT_COMMITTER_EMAIL": "user@snakesweep.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(calls.parent / "dvc-site"),
        "JOURNEY_CALLS": str(calls),
    }
    return Installed(venv=venv, env=env, calls=calls)


def test_the_sdist_and_the_wheel_are_ready_for_a_package_index(packaging: Packaging) -> None:
    dist = packaging.dist
    checked = subprocess.run(
        [
            str(packaging.python),
            "-m",
            "twine",
            "check",
            "--strict",
            str(dist.wheel),
            str(dist.sdist),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2

    in_wheel = set(zipfile.ZipFile(dist.wheel).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "src/snakesweep", "src/hydra_plugins"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    package_files = {p.removeprefix("src/") for p in tracked}
    assert package_files, "git lists no package files"
    assert package_files - in_wheel == set(), "files the package reads are missing"
    assert "snakesweep/_client.sh" in in_wheel
    assert not any(name.startswith("tests/") for name in in_wheel)
    metadata = next(n for n in in_wheel if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(dist.wheel).read(metadata).decode()
    for field in (
        "Classifier: ",
        "Project-URL: ",
        "License-Expression: MIT",
        "License-File: LICENSE",
        "Requires-Dist: dvc",
        "Provides-Extra: slurm",
    ):
        assert field in text, field

    with tarfile.open(dist.sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in (
        "tests/conftest.py",
        "tests/faults/harness.py",
        "tests/journey/test_journey.py",
        "LICENSE",
        "CHANGELOG.md",
        "conf/config.yaml",
        "workflow/Snakefile",
    ):
        assert needed in in_sdist, needed


def test_a_user_installs_the_wheel_and_follows_init_to_a_shared_sweep(
    installed: Installed, tmp_path: Path
) -> None:
    repo = tmp_path / "myproject"
    repo.mkdir()
    installed.run("git init -q", cwd=repo)
    write(repo / "mymod.py", EXPERIMENT)

    version = installed.run("snakesweep --version", cwd=repo).stdout
    assert version.startswith("snakesweep ")
    where = installed.run(
        ["python", "-c", "import snakesweep; print(snakesweep.__file__)"], cwd=tmp_path
    ).stdout
    assert str(installed.venv) in where and str(REPO) not in where

    init = installed.run("snakesweep init --experiment mymod:fit", cwd=repo)
    lines = init.stdout.splitlines()
    steps = [line.split("  #")[0].strip() for line in lines[lines.index("next:") + 1 :]]
    assert steps[-1].startswith("dvc remote add -d store URL")
    remote = tmp_path / "remote"
    steps[-1] = steps[-1].replace("URL", str(remote))

    # Everything init printed, typed as it reads
    for step in steps:
        out = installed.run(step, cwd=repo)
        if step.startswith("snakemake --cores all"):
            assert installed.count_calls() == 3, "three seeds, each run once"
            # the progress display: the wheel's logger plugin, which init's profile names
            assert "snakesweep: 3 runs: 3 to compute, 0 done before" in out.stderr
            assert "localrule" not in out.stderr
            assert (repo / "results" / "sweep.nc").is_file()
            again = installed.run("snakemake --cores 2 -n", cwd=repo)
            assert "Nothing to be done" in again.stdout + again.stderr
        elif step.startswith("snakemake --report"):
            report = (repo / "results" / "report.html").read_text()
            run_ids = sorted(p.name for p in (repo / "results" / "runs").iterdir())
            assert len(run_ids) == 3 and all(r in report for r in run_ids)
        elif step == "dvc repro":
            assert (repo / "dvc.lock").is_file()
            again = installed.run("dvc repro", cwd=repo).stdout
            assert again.count("didn't change, skipping") == 2
        elif step.startswith("dvc remote add"):
            assert "pushed" in out.stdout + out.stderr
    assert installed.count_calls() == 3, "dvc repro computed nothing again"
    assert installed.run("git status --porcelain", cwd=repo).stdout == ""
    status = installed.run("snakesweep status", cwd=repo)
    assert "3 done" in status.stdout and "DEBUG SWEEP" not in status.stdout

    # A colleague's clone: dvc pull brings every run, and nothing is computed again
    clone = tmp_path / "colleague"
    installed.run(f"git clone -q {repo} {clone}", cwd=tmp_path)
    installed.run("dvc pull", cwd=clone)
    dry = installed.run("snakemake --cores 2 -n", cwd=clone)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    assert installed.run("dvc repro", cwd=clone).stdout.count("didn't change, skipping") == 2
    installed.run("snakemake --cores 2", cwd=clone)
    assert installed.count_calls() == 3
    assert installed.run("git status --porcelain", cwd=clone).stdout == ""

    # The colleague explores from Python: the same sweep (nothing computed), then a
    # function of their script's own, shipped to the workers by value
    write(
        clone / "explore.py",
        """
        import snakesweep

        print(snakesweep.sweep("mymod:fit", cores=2))

        def double(a=1):
            return {"b": a * 2}

        res = snakesweep.sweep(double, ["a=1,2"], config_dir=None, results="results/double")
        print(res.dataset["b"].values.tolist())
        """,
    )
    explored = installed.run(["python", "explore.py"], cwd=clone)
    assert explored.stdout.splitlines() == ["<Results 'results': 3 runs (3 done)>", "[2, 4]"]
    assert "nothing to be done" in explored.stderr
    assert installed.count_calls() == 3


def test_dvc_reads_the_pipeline_of_a_fresh_clone_of_this_repository(
    installed: Installed, tmp_path: Path
) -> None:
    clone = tmp_path / "snakesweep"
    installed.run(f"git clone -q {REPO} {clone}", cwd=tmp_path)
    status = installed.run("dvc status", cwd=clone)
    assert "invalid" not in status.stdout + status.stderr
    installed.run("dvc repro", cwd=clone, timeout=1200)
    assert (clone / "results" / "sweep.nc").is_file()
    again = installed.run("dvc repro", cwd=clone).stdout
    assert again.count("didn't change, skipping") == 2
    assert "up to date" in installed.run("dvc status", cwd=clone).stdout
