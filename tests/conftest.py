"""Shared fixtures: small Hydra config trees and tiny experiments in temporary directories."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


LONGEST_FIRST = (
    "tests/test_slurm.py",
    "tests/faults/test_slurm_accounting.py",
    "tests/journey/",
)
"""The longest work, started first: the SLURM tests are one xdist group, run one after another
on one worker, and the journey builds and installs the wheel; started last, either would be
the suite's tail while the other workers idle."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))  # stable: else as found


@pytest.fixture(autouse=True, scope="session")
def _no_analytics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No tool the tests start sends usage data.

    rerun's viewer and CLI ignore ``RERUN_ANALYTICS``; they read a config file, which
    `rerun analytics disable` writes here, in a throw-away config home.
    """
    home = tmp_path_factory.mktemp("xdg")
    saved = dict(os.environ)
    os.environ.update(
        {
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "RERUN_ANALYTICS": "false",
            "DVC_NO_ANALYTICS": "1",
        }
    )
    subprocess.run(
        [str(Path(sys.executable).with_name("rerun")), "analytics", "disable"],
        check=True,
        capture_output=True,
    )
    settings = json.loads((home / "config" / "rerun" / "analytics.json").read_text())
    assert settings["analytics_enabled"] is False
    yield
    os.environ.clear()
    os.environ.update(saved)


SLURM_CONF = os.environ.get("SLURM_CONF")
"""The SLURM configuration the tests were started with (None: SLURM's own default)."""


@pytest.fixture(autouse=True, scope="session")
def _no_stopped_slurm() -> Iterator[None]:
    """No Snakemake the tests start waits for a SLURM that is not running.

    Snakemake's SLURM executor plugin (of the test extra) asks ``scontrol show config``
    whenever Snakemake starts; where SLURM is installed but its controller is not running
    (as after ``tests/test_slurm.py`` stopped the one it started), scontrol retries for ~9 s
    before it fails. With ``SLURM_CONF`` /dev/null it fails at once, and nothing but the
    SLURM tests uses SLURM; their fixture gives them back ``SLURM_CONF`` (``real_slurm``).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", os.devnull)
        yield


@contextmanager
def real_slurm() -> Iterator[None]:
    """``SLURM_CONF`` as the tests were started with, for the tests of a real SLURM."""
    with pytest.MonkeyPatch.context() as patch:
        if SLURM_CONF is None:
            patch.delenv("SLURM_CONF", raising=False)
        else:
            patch.setenv("SLURM_CONF", SLURM_CONF)
        yield


APT_LOCK_WAIT = ["-o", "DPkg::Lock::Timeout=600"]
"""apt-get options: wait (up to 10 min) for another apt or dpkg to finish, not fail at once."""


@contextmanager
def machine_lock(name: str, timeout: float = 3600) -> Iterator[None]:
    """Held by one process of this machine at a time (a file lock in the temporary
    directory): what parallel test workers (``pytest -n``), or test sessions of other
    checkouts, must not do at once, such as installing with apt or starting and stopping
    the one SLURM of the machine. Waits up to ``timeout`` s for it."""
    from filelock import FileLock  # installed with snakemake

    with FileLock(Path(tempfile.gettempdir()) / f"snakesweep-tests-{name}.lock", timeout=timeout):
        yield


COMMANDS = (
    "plan",
    "run",
    "report",
    "status",
    "view",
    "init",
    "pull",
    "history",
    "show",
    "runs",
    "completion",
)
"""``snakesweep``'s commands, in the order of its ``--help``."""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def conf_tree(tmp_path: Path) -> Path:
    """A config tree with two groups, nested keys, an interpolation and a sweep in the config."""
    conf = tmp_path / "conf"
    write(
        conf / "config.yaml",
        """
        defaults:
          - model: mlp
          - db: sqlite
          - _self_
        snakesweep:
          experiment: tinyexp:main
        optimizer:
          lr: 0.1
          momentum: 0.9
          name: sgd
        a: 1
        b: x
        flag: false
        name: plain
        seed: 0
        lr_copy: ${optimizer.lr}
        hydra:
          sweeper:
            params:
              seed: 0,1
        """,
    )
    write(conf / "model" / "mlp.yaml", "kind: mlp\nwidth: 16\ndepth: 2\n")
    write(conf / "model" / "cnn.yaml", "kind: cnn\nwidth: 8\nkernel: 3\n")
    write(conf / "model" / "rnn.yaml", "kind: rnn\nwidth: 4\ncell: gru\n")
    write(conf / "db" / "sqlite.yaml", "driver: sqlite\nport: 0\n")
    write(conf / "db" / "postgres.yaml", "driver: postgres\nport: 5432\n")
    return conf


TINY_EXPERIMENT = '''
import os
import time

import numpy as np


def main(cfg):
    """Appends its run to calls.txt when it finishes, so tests can count executions."""
    if cfg.get("sleep", 0):
        open("sleeping.txt", "w").close()
        time.sleep(cfg.sleep)
    if cfg.get("fail_on") is not None and cfg.x == cfg.fail_on:
        raise ValueError(f"x={cfg.x} is the failing point")
    with open("calls.txt", "a") as f:
        f.write(f"{cfg.x} {cfg.get('name', '')}\\n")
    return {"y": cfg.x * 10 + cfg.get("offset", 0),
            "curve": np.arange(3) * cfg.x}
'''


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A user's project: conf/ with a one-key domain, and the tiny experiment module."""
    sys.modules.pop("tinyexp", None)  # each project has its own tinyexp.py
    write(
        tmp_path / "conf" / "config.yaml",
        """
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
              x: 1,2,3
        """,
    )
    write(tmp_path / "tinyexp.py", TINY_EXPERIMENT)
    yield tmp_path
    sys.modules.pop("tinyexp", None)


def snakesweep(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real ``snakesweep`` command line in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "snakesweep", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def calls(project: Path) -> list[str]:
    path = project / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The repository's conf/ and workflow/, copied where a test may run them."""
    for part in ("conf", "workflow"):
        shutil.copytree(REPO / part, tmp_path / part)
    return tmp_path


def tool(
    *args: str, cwd: Path, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a real command line tool (git, dvc, snakemake) of this environment in ``cwd``."""
    command = list(args)
    if command[0] in ("dvc", "snakemake", "snakesweep"):
        command = [sys.executable, "-m", *command]
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
        )
    return out


@contextmanager
def tool_environment(site_cache: Path) -> Iterator[None]:
    """git and DVC without the user's settings: a fixed identity, no analytics, private
    state (DVC's site cache in ``site_cache``), while the block runs."""
    bin_dir = str(Path(sys.executable).parent)  # dvc.yaml's `snakemake …` runs through PATH
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        for key, value in {
            "GIT_AUTHOR_NAME": "snakesweep tests",
            "GIT_COMMITTER_NAME": "snakesweep tests",
            "GIT_AUTHOR_EMAIL": "tests@snakesweep.invalid",
            "GIT_COMMITTER_EMAIL": "tests@snakesweep.invalid",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(site_cache),
        }.items():
            patch.setenv(key, value)
        yield


@pytest.fixture
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """git and DVC without the user's settings (``tool_environment``), for one test."""
    with tool_environment(tmp_path_factory.mktemp("dvc-site")):
        yield


def made_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]
) -> Path:
    """``make(directory)`` run once in a test session, shared by its parallel workers
    (``pytest -n``), who would otherwise each make it: a fixture of a module whose tests
    run on several workers is made on each. The tests only read it (or copy it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's, above each worker's own
    from filelock import FileLock  # installed with snakemake

    where, made = root / f"made-{name}", root / f"made-{name}.done"
    with FileLock(root / f"made-{name}.lock"):
        if not made.exists():
            shutil.rmtree(where, ignore_errors=True)  # what a failed attempt left
            where.mkdir()
            make(where)
            made.touch()
    return where


LOGGING_EXPERIMENT = """
import numpy as np


def train(cfg, run):
    w = np.arange(4, dtype="float32") * cfg.x
    for step in range(cfg.x + 1):           # x=1: 2 steps, x=2: 3 steps
        run.log(step=step, loss=1.0 / (step + cfg.x), accuracy=np.float32(step / 10))
        if step % 2 == 0:
            run.log(step=step, even=step)   # a key at some steps only
    run.blob("weights.npy", w.tobytes(), metadata={"dtype": "float32", "shape": list(w.shape)})
    run.blob("notes/readme.txt", f"run {run.id} with seed {run.seed}")
    (run.dir / "extra.csv").write_text("a,b\\n1,2\\n")
    run.update_metadata(converged=True, notes={"optimizer": "sgd"})
    run.update_metadata(notes={"lr": 0.1}, converged=cfg.x > 1)
    if cfg.get("fail"):
        raise RuntimeError("failed after logging")
    return {"score": float(cfg.x)}
"""


def write_logging_project(root: Path) -> Path:
    """A project whose experiment logs, stores blobs and notes metadata; swept over x=1,2."""
    write(
        root / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: logexp:train
        x: 1
        seed: 7
        fail: false
        hydra:
          sweeper:
            params:
              x: 1,2
        """,
    )
    write(root / "logexp.py", LOGGING_EXPERIMENT)
    return root


@pytest.fixture
def logging_project(tmp_path: Path) -> Path:
    return write_logging_project(tmp_path)
