"""The plan cache: a warm re-parse composes nothing and imports no Hydra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from snakesweep.api.plans import make_plan
from snakesweep.errors import OverrideError
from snakesweep.planning import composition, make
from snakesweep.planning import plan as plan_module
from snakesweep.planning.plan import load_plan


def test_warm_cache_does_not_compose(
    conf_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second make_plan reads the cache; composing again would raise here."""
    cold = make_plan(conf_tree, "config", ["a=1,2"], tmp_path / "results")

    def no_compose(*args: object, **kwargs: object) -> None:
        raise AssertionError("composed again")

    monkeypatch.setattr(make, "compose_plan", no_compose)
    warm = make_plan(conf_tree, "config", ["a=1,2"], tmp_path / "results")
    assert warm == cold and warm.path == cold.path
    assert [p.params for p in warm.points] == [p.params for p in cold.points]


def test_cache_key_follows_config_files_and_overrides(conf_tree: Path, tmp_path: Path) -> None:
    """Editing any config file, or changing an override, makes a new plan."""
    results = tmp_path / "results"
    first = make_plan(conf_tree, "config", [], results)
    assert make_plan(conf_tree, "config", ["a=3"], results).path != first.path
    model = conf_tree / "model" / "mlp.yaml"
    model.write_text(model.read_text().replace("width: 16", "width: 32"))
    edited = make_plan(conf_tree, "config", [], results)
    assert edited.path != first.path
    assert edited.run_ids != first.run_ids


def test_warm_plan_in_a_fresh_process_imports_no_hydra(conf_tree: Path, tmp_path: Path) -> None:
    """What Snakemake does on every parse: load the cached plan without Hydra or xarray."""
    make_plan(conf_tree, "config", ["a=1,2"], tmp_path / "results")
    code = (
        "import sys; from snakesweep.api.plans import make_plan; "
        f"p = make_plan({str(conf_tree)!r}, 'config', ['a=1,2'], "
        f"{str(tmp_path / 'results')!r}); "
        "print(len(p.points), 'hydra' in sys.modules, 'xarray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["4", "False", "False"]


def test_plan_file_round_trips(conf_tree: Path, tmp_path: Path) -> None:
    """A plan written to disk reads back equal, dimensions and coordinates included."""
    plan = make_plan(
        conf_tree, "config", ["model=mlp,cnn", "optimizer.lr=0.1,0.2"], tmp_path / "results"
    )
    assert plan.path is not None
    again = load_plan(plan.path)
    assert again == plan
    assert [(d.name, d.values) for d in again.dims] == [
        ("seed", (0, 1)),
        ("model", ("mlp", "cnn")),
        ("optimizer.lr", (0.1, 0.2)),
    ]
    assert json.loads(plan.path.read_text())["format"] == plan_module.PLAN_FORMAT


def test_equal_configs_share_one_run(conf_tree: Path, tmp_path: Path) -> None:
    """Two points that resolve to the same config are one run (content addressing)."""
    plan = make_plan(conf_tree, "config", ["a=1,1.0"], tmp_path / "results")
    assert len(plan.points) == 4 and len(plan.run_ids) == 2


def domain_tree(conf_tree: Path, domain: str) -> None:
    config = conf_tree / "config.yaml"
    config.write_text(
        config.read_text().replace(
            "  experiment: tinyexp:main\n", f"  experiment: tinyexp:main\n  domain: {domain}\n"
        )
    )


def test_a_large_domain_is_composed_on_every_core_as_on_one(
    conf_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forked workers give the very points and configs one process gives."""
    domain_tree(conf_tree, "{model: 'mlp,cnn', optimizer.lr: 'range(0,30)', a: [1, 2]}")
    one = make.compose_plan(conf_tree, "config", ["seed=0,1"])
    monkeypatch.setattr(composition, "PARALLEL_POINTS", 10)
    monkeypatch.setattr(composition.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert composition._workers(240) == 3
    forked = make.compose_plan(conf_tree, "config", ["seed=0,1"])
    assert forked == one and len(forked.points) == 240
    assert all("domain" not in c["snakesweep"] for c in forked.configs.values())


def test_a_worker_that_fails_raises_the_points_own_error(
    conf_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad point in a worker's part is named as if composed here, and no worker is left."""
    monkeypatch.setattr(composition, "PARALLEL_POINTS", 10)
    monkeypatch.setattr(composition.os, "sched_getaffinity", lambda pid: {0, 1})
    for first in (True, False):  # the bad point in this process's part, then in a worker's
        parts = ["{nokey: [1]}", "{a: 'range(0,40)'}"]
        domain_tree(conf_tree, f"{{concat: [{', '.join(parts if first else parts[::-1])}]}}")
        with pytest.raises(OverrideError, match="override 'nokey=1'"):
            make.compose_plan(conf_tree, "config", [])
        with pytest.raises(ChildProcessError):
            composition.os.waitpid(-1, composition.os.WNOHANG)
        config = conf_tree / "config.yaml"
        config.write_text(
            "".join(
                line
                for line in config.read_text().splitlines(True)
                if not line.startswith("  domain:")
            )
        )
