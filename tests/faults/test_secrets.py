"""Secrets in the environment of a sweep are never written down, by snakesweep or its tools.

Fake tokens sit in the variables where real ones live (cloud keys, git hosts, model hubs,
experiment trackers, databases, one unusual name and one that starts like an allowed
name). An ordinary experiment runs under them through ``snakesweep run`` and through
``dvc repro`` (then ``dvc push``). No token is in any file the sweep, Snakemake or DVC
wrote (read as bytes, file names included, recordings decoded), nor in what they print;
while provenance does record the allow-listed variables, which the same search finds.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest

from conftest import snakesweep, tool, write
from snakesweep.provenance.environment import ENV_ALLOWED

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("tool_env")]

NAMES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "WANDB_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "AZURE_CLIENT_SECRET",
    "SLACK_TOKEN",
    "NPM_TOKEN",
    "MY_PROJECT_SECRET",
    "OMP_NUM_THREADS_SECRET",
    "SNAKESWEEP_TOKEN",
)
SECRETS = {name: f"fake-{name.lower().replace('_', '-')}-{uuid.uuid4().hex}" for name in NAMES}
DB_PASSWORD = f"fake-db-password-{uuid.uuid4().hex}"
SECRETS["DATABASE_URL"] = f"postgresql://admin:{DB_PASSWORD}@db.internal:5432/app"
SECRETS["GOOGLE_APPLICATION_CREDENTIALS"] = f"/nonexistent/fake-gcp-{uuid.uuid4().hex}.json"
TOKENS = {**SECRETS, "DATABASE_URL's password": DB_PASSWORD}

CANARY = f"canary-{uuid.uuid4().hex}"
ALLOWED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SLURM_JOB_PARTITION": CANARY}
"""Allow-listed variables, which provenance records: the canary shows the search finds a
value that is written down."""

EXPERIMENT = '''
import os
import sys

import numpy as np

SECRET_NAMES = NAMES_OF_SECRETS


def main(cfg, run):
    """An ordinary experiment: it talks, logs, keeps a blob and notes; it never prints the
    environment. It counts the secret variables it can see (so the test knows they reached
    it), and one point fails, as points do."""
    print(f"training with seed {cfg.seed}")
    print("a warning on stderr", file=sys.stderr)
    for step in range(3):
        run.log(step=step, loss=1.0 / (step + 1 + cfg.seed))
    run.blob("weights.npy", np.arange(3, dtype="float32").tobytes(), metadata={"n": 3})
    run.update_metadata(secret_variables_seen=sum(n in os.environ for n in SECRET_NAMES))
    if cfg.seed == cfg.fail_on:
        raise RuntimeError(f"seed {cfg.seed} diverged")
    return {"score": float(cfg.seed)}
'''.replace("NAMES_OF_SECRETS", repr(sorted(SECRETS)))


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The secrets and allowed variables in this process's environment, which every tool
    the test starts inherits; user caches in the test's tmp dir, to be searched too."""
    for name, value in {**SECRETS, **ALLOWED}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def project(root: Path, fail_on: int) -> Path:
    """A git repository with snakesweep init's sweep (seed 0…2) of the experiment."""
    root.mkdir()
    tool("git", "init", "-q", cwd=root)
    write(root / "secretexp.py", EXPERIMENT)
    out = snakesweep("init", "--experiment", "secretexp:main", cwd=root)
    assert out.returncode == 0, out.stderr
    config = root / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("seed: 0\n", f"seed: 0\nfail_on: {fail_on}\n"))
    return root


def commit(repo: Path, message: str) -> None:
    tool("git", "add", "-A", cwd=repo)
    tool("git", "commit", "-qm", message, cwd=repo)


def encodings(token: str) -> dict[str, bytes]:
    """The token as bytes, and base64-encoded at each of the three alignments."""
    found = {"bytes": token.encode()}
    for shift in range(3):
        core = base64.b64encode(b"\0" * shift + token.encode())[4 if shift else 0 :]
        found[f"base64+{shift}"] = core[:-4]  # the last group depends on what follows
    return found


def decoded_recording(path: Path) -> bytes:
    """A rerun recording's contents as text (its chunks are compressed on disk)."""
    out = subprocess.run(
        [str(Path(sys.executable).with_name("rerun")), "rrd", "print", "-vvv", str(path)],
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def leaks(roots: Iterable[Path], tokens: dict[str, str]) -> list[str]:
    """Every file (and file name) under roots that holds one of the tokens."""
    found = []
    for root in roots:
        for path in [root, *root.rglob("*")]:
            for name, token in tokens.items():
                if token in str(path):
                    found.append(f"{path}: {name} in its name")
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            if path.suffix == ".rrd":
                data += decoded_recording(path)
            for name, token in tokens.items():
                for how, encoded in encodings(token).items():
                    if encoded in data:
                        found.append(f"{path}: {name} ({how})")
    return found


def printed(*outs: subprocess.CompletedProcess[str]) -> str:
    return "".join(o.stdout + o.stderr for o in outs)


def provenance_recorded(repo: Path, runs: int) -> None:
    """Provenance names the allowed variables, and only those; every run saw the secrets."""
    expected = {k: v for k, v in {**os.environ, **ALLOWED}.items() if k in ENV_ALLOWED}
    sweep = json.loads((repo / "results" / "provenance.json").read_text())
    assert sweep["environment"] == expected
    assert set(ALLOWED) <= set(sweep["environment"]) <= set(ENV_ALLOWED)
    assert sweep["git"]["commit"] and sweep["system"]["python"]
    metas = [json.loads(p.read_text()) for p in (repo / "results" / "runs").glob("*/meta.json")]
    assert len(metas) == runs
    for meta in metas:
        assert meta["provenance"]["environment"] == expected
        assert meta["metadata"]["secret_variables_seen"] == len(SECRETS)
    assert leaks([repo / "results"], {"canary": CANARY}), "the search finds nothing at all"


def searched(repo: Path, *more: Path) -> list[Path]:
    """Where the sweep and its tools write: all of the project but git's own objects
    (compressed), and the user caches, configs and data, and DVC's site cache."""
    parts = [p for p in repo.iterdir() if p.name != ".git"]
    homes = [
        Path(os.environ[v])
        for v in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "DVC_SITE_CACHE_DIR")
        if v in os.environ
    ]
    return [*parts, *[h for h in homes if h.exists()], *more]


def test_snakesweep_run_writes_no_secret(tmp_path: Path, secret_env: None) -> None:
    repo = project(tmp_path / "repo", fail_on=2)
    commit(repo, "a sweep")
    out = snakesweep("run", "--cores", "2", cwd=repo)
    assert out.returncode == 1, printed(out)  # seed 2 failed, as it should
    assert "snakesweep: 1 of 3 runs failed" in out.stderr, out.stderr
    status = snakesweep("status", cwd=repo)
    runs = snakesweep("runs", "--format", "json", cwd=repo)

    failed = [
        json.loads(p.read_text())
        for p in (repo / "results" / "runs").glob("*/meta.json")
        if json.loads(p.read_text())["status"] == "failed"
    ]
    assert len(failed) == 1 and "seed 2 diverged" in json.dumps(failed[0])
    stdout_logs = list((repo / "results" / "runs").glob("*/stdout.log"))
    assert any("training with seed" in p.read_text() for p in stdout_logs)
    provenance_recorded(repo, runs=3)
    for where in (repo / "results", repo / ".snakemake"):
        assert any(p.is_file() for p in where.rglob("*")), where
    assert leaks(searched(repo), TOKENS) == []
    assert [name for name, token in TOKENS.items() if token in printed(out, status, runs)] == []


def test_dvc_repro_and_push_write_no_secret(tmp_path: Path, secret_env: None) -> None:
    repo = project(tmp_path / "repo", fail_on=-1)
    tool("dvc", "init", "-q", cwd=repo)
    remote = tmp_path / "remote"
    tool("dvc", "remote", "add", "-d", "store", str(remote), cwd=repo)
    commit(repo, "a sweep, tracked by DVC")
    repro = tool("dvc", "repro", cwd=repo)
    push = tool("dvc", "push", cwd=repo)
    status = tool("dvc", "status", cwd=repo)
    assert status.stdout.strip() == "Data and pipelines are up to date."

    lock = (repo / "dvc.lock").read_text()
    assert "results/runs" in lock and "results/sweep.nc" in lock
    cache, tmp = repo / ".dvc" / "cache", repo / ".dvc" / "tmp"
    assert sum(p.is_file() for p in cache.rglob("*")) >= 3 * 5  # every run's files, cached
    assert tmp.is_dir() and remote.is_dir()
    provenance_recorded(repo, runs=3)
    assert leaks([cache], {"canary": CANARY}), "the cache holds the runs' provenance"
    assert leaks(searched(repo, cache, tmp, remote), TOKENS) == []
    assert [name for name, token in TOKENS.items() if token in printed(repro, push, status)] == []
