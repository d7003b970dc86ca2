"""Real git and DVC drive the shipped example sweep: repro, push, clone, pull, plots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import xarray as xr
import yaml

from conftest import REPO, made_once, tool, tool_environment

pytestmark = pytest.mark.usefixtures("tool_env")

CODE = sorted(
    {
        dep
        for stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].values()
        for dep in stage["deps"]
        if dep.startswith("src/")
    }
)
SHIPPED = (
    ".gitignore",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
    "conf",
    "workflow",
    "dvc.yaml",
    "results/.gitignore",
    *CODE,
)


def example_repo(path: Path) -> Path:
    """The repository's example sweep, as committed, in a new git repository."""
    for rel in SHIPPED:
        source, target = REPO / rel, path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    tool("git", "init", "-q", cwd=path)
    commit(path, "the example sweep")
    return path


def commit(repo: Path, message: str) -> None:
    tool("git", "add", "-A", cwd=repo)
    tool("git", "commit", "-qm", message, cwd=repo)


def run_metas(repo: Path) -> dict[str, bytes]:
    """Each run's meta.json, whose times change whenever a run is computed."""
    return {p.parent.name: p.read_bytes() for p in (repo / "results" / "runs").glob("*/meta.json")}


def set_repeats(repo: Path, repeats: int) -> None:
    """The example's repeats (seeds) per point: 3 as shipped."""
    conf = repo / "conf" / "config.yaml"
    text = conf.read_text()
    assert "  repeats: 3 " in text
    conf.write_text(text.replace("  repeats: 3 ", f"  repeats: {repeats} "))


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example sweep in a new git repository after ``dvc repro``, its 18 runs committed:
    made once for these tests (each works on its own copy, ``copy_of``)."""

    def make(where: Path) -> None:
        with tool_environment(where / "dvc-site"):
            repo = example_repo(where / "repo")
            tool("dvc", "repro", cwd=repo)
            commit(repo, "18 runs")

    return made_once(tmp_path_factory, "dvc-example", make) / "repo"


def copy_of(repo: Path, where: Path) -> Path:
    """A copy of a repository, its work tree, git and DVC (its cache) with it."""
    shutil.copytree(repo, where, symlinks=True)
    return where


def with_remote(repo: Path, remote: Path) -> None:
    tool("dvc", "remote", "add", "-d", "store", str(remote), cwd=repo)
    commit(repo, "a DVC remote")
    tool("dvc", "push", "-q", cwd=repo)


@pytest.mark.slow
def test_repro_tracks_runs_skips_when_nothing_changed_and_adds_only_new_points(
    swept: Path, tmp_path: Path
) -> None:
    repo = copy_of(swept, tmp_path / "repo")  # after its first `dvc repro`, committed
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"run", "merge"}
    runs_out = next(o for o in lock["stages"]["run"]["outs"] if o["path"] == "results/runs")
    assert runs_out["nfiles"] == 18 * 5  # result, config, meta, stdout, stderr per run
    assert {d["path"] for d in lock["stages"]["run"]["deps"]} == {
        "conf",
        "workflow/Snakefile",
        "src/snakesweep/examples/classifier.py",
    }
    assert {o["path"] for o in lock["stages"]["merge"]["outs"]} >= {
        "results/sweep.nc",
        "results/runs.csv",
        "results/plots",
        "results/metrics.json",
    }
    assert tool("git", "status", "--porcelain", cwd=repo).stdout == ""  # all committed
    first, metas = (repo / "dvc.lock").read_bytes(), run_metas(repo)
    merged = {
        n: (repo / "results" / n).read_bytes()
        for n in ("sweep.nc", "runs.csv", "sweep.json", "metrics.json")
    }

    again = tool("dvc", "repro", cwd=repo)
    assert "Stage 'run' didn't change, skipping" in again.stdout
    assert "Stage 'merge' didn't change, skipping" in again.stdout
    assert (repo / "dvc.lock").read_bytes() == first

    set_repeats(repo, 4)
    grown = tool("dvc", "repro", cwd=repo)
    assert "snakesweep: 24 runs: 6 to compute, 18 done before" in grown.stderr, grown.stderr
    after = run_metas(repo)
    assert len(after) == 24
    assert {r: after[r] for r in metas} == metas  # never deleted, never computed again
    assert tool("dvc", "status", cwd=repo).stdout.strip() == "Data and pipelines are up to date."

    params = tool("dvc", "params", "diff", "--json", cwd=repo).stdout
    repeats = json.loads(params)["conf/config.yaml"]["snakesweep.repeats"]
    assert repeats == {"old": 3, "new": 4, "diff": 1}
    metrics = json.loads(tool("dvc", "metrics", "diff", "--json", cwd=repo).stdout)
    assert metrics["results/metrics.json"]["runs.done"] == {"old": 18, "new": 24, "diff": 6}

    # Back to the 18-run revision in git only: sweep.nc and sweep.json still hold 24 runs
    # (both are DVC's), so asking for sweep.nc merges again, computing nothing.
    commit(repo, "24 runs")
    tool("git", "checkout", "-q", "HEAD~1", cwd=repo)
    tool("snakemake", "--cores", "2", "results/sweep.nc", cwd=repo)
    assert run_metas(repo) == after
    # the same runs merge into the same bytes, so dvc.lock sees no change
    assert {n: (repo / "results" / n).read_bytes() for n in merged} == merged


@pytest.mark.slow
def test_plots_and_metrics_are_files_dvc_renders_and_compares(swept: Path, tmp_path: Path) -> None:
    repo = copy_of(swept, tmp_path / "repo")  # after its first `dvc repro`, committed
    shown = json.loads(tool("dvc", "plots", "show", "--json", cwd=repo).stdout)
    assert "errors" not in shown
    curves = shown["data"]["results/plots/loss.csv"][0]["content"]
    assert curves["encoding"]["color"]["field"] == "point"
    values = curves["data"]["values"]
    assert len({v["point"] for v in values}) == 18 and len(values) == 18 * 60
    assert "model=mlp optimizer.lr=0.3 repeat=2" in {v["point"] for v in values}
    (scatter,) = [v for k, v in shown["data"].items() if k != "results/plots/loss.csv"]
    assert len(scatter[0]["content"]["data"]["values"]) == 18
    metrics = json.loads(tool("dvc", "metrics", "show", "--json", cwd=repo).stdout)
    summary = metrics[""]["data"]["results/metrics.json"]["data"]
    assert summary["runs"] == {"done": 18, "failed": 0, "pending": 0}
    accuracy = summary["results"]["test_accuracy"]
    assert 0.5 < accuracy["mean"] <= accuracy["max"] <= 1

    set_repeats(repo, 2)
    tool("dvc", "repro", cwd=repo)
    diff = json.loads(tool("dvc", "plots", "diff", "HEAD", "--json", cwd=repo).stdout)
    revs = {
        v["rev"] for v in diff["data"]["results/plots/loss.csv"][0]["content"]["data"]["values"]
    }
    assert revs == {"HEAD", "workspace"}


@pytest.mark.slow
def test_a_clone_pulls_the_runs_and_computes_nothing(swept: Path, tmp_path: Path) -> None:
    origin = copy_of(swept, tmp_path / "origin")  # after its first `dvc repro`, committed
    with_remote(origin, tmp_path / "remote")

    clone = tmp_path / "clone"
    tool("git", "clone", "-q", str(origin), str(clone), cwd=tmp_path)
    tool("dvc", "pull", "-q", cwd=clone)
    assert tool("dvc", "status", cwd=clone).stdout.strip() == "Data and pipelines are up to date."
    dry = tool("snakemake", "-n", cwd=clone)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    repro = tool("dvc", "repro", cwd=clone)
    assert repro.stdout.count("didn't change, skipping") == 2
    tool("snakemake", "--cores", "2", cwd=clone)
    assert run_metas(clone) == run_metas(origin)
    assert (clone / "results" / "sweep.nc").read_bytes() == (
        origin / "results" / "sweep.nc"
    ).read_bytes()


@pytest.mark.slow
def test_a_missing_or_damaged_run_is_named_and_computed_again_alone(
    swept: Path, tmp_path: Path
) -> None:
    origin = copy_of(swept, tmp_path / "origin")  # after its first `dvc repro`, committed
    remote = tmp_path / "remote"
    with_remote(origin, remote)
    gone, hurt = sorted(run_metas(origin))[:2]
    for run_id, name, damage in ((gone, "result.nc", None), (hurt, "meta.json", b"{}")):
        md5 = _md5(origin / "results" / "runs" / run_id / name)
        obj = remote / "files" / "md5" / md5[:2] / md5[2:]
        if damage is None:
            obj.unlink()
        else:
            obj.write_bytes(damage)

    clone = tmp_path / "clone"
    tool("git", "clone", "-q", str(origin), str(clone), cwd=tmp_path)
    pulled = tool("snakesweep", "pull", cwd=clone, check=False)
    assert pulled.returncode == 1, pulled.stderr
    lines = [ln for ln in pulled.stderr.splitlines() if ln.startswith("snakesweep:")]
    assert (
        f"snakesweep: run {gone} is not in the DVC cache or remote (result.nc); it will "
        "be computed again" in lines
    )
    assert (
        f"snakesweep: run {hurt} is damaged in the DVC cache (meta.json); it will be "
        "computed again" in lines
    )
    assert "16 runs in results/runs, 2 to compute again" in lines[-1]
    assert "Traceback" not in pulled.stderr

    dry = tool("snakemake", "-n", cwd=clone)
    assert (dry.stdout + dry.stderr).count("run_experiment:") == 2
    tool("snakemake", "--cores", "2", cwd=clone)
    fresh, old = run_metas(clone), run_metas(origin)
    assert {r for r in old if fresh[r] != old[r]} == {gone, hurt}
    merged = xr.load_dataset(clone / "results" / "sweep.nc")
    expected = xr.load_dataset(origin / "results" / "sweep.nc")
    xr.testing.assert_equal(
        merged[["test_accuracy", "loss", "run_id"]], expected[["test_accuracy", "loss", "run_id"]]
    )

    again = tool("snakesweep", "pull", cwd=clone, check=False)
    assert again.returncode == 0, again.stderr
    kept = "differs from dvc.lock and is kept: it was computed here (`dvc commit` records it)"
    assert again.stderr.count(kept) == 2
    assert run_metas(clone) == fresh


def test_pull_outside_a_dvc_repository_or_with_a_broken_lock_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    outside = tool("snakesweep", "pull", cwd=tmp_path, check=False)
    assert outside.returncode == 2
    assert outside.stderr.splitlines() == [
        "snakesweep: not the root of a DVC repository (no .dvc/ here): run `snakesweep pull` "
        "where dvc.yaml is, or `dvc init` first"
    ]
    tool("git", "init", "-q", cwd=tmp_path)
    tool("dvc", "init", "-q", cwd=tmp_path)
    (tmp_path / "dvc.lock").write_text("stages: [1, 2\n")
    broken = tool("snakesweep", "pull", cwd=tmp_path, check=False)
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert broken.stderr.splitlines()[-1].startswith("snakesweep: dvc.lock cannot be read:")


def _md5(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()
