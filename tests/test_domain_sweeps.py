"""Real sweeps of each shape of domain, through Snakemake: the Dataset mirrors the domain."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from tests.conftest import calls, snakesweep, write

from snakesweep.api.results import load, over_repeats
from snakesweep.core.draws import repeat_seeds

EXPERIMENT = '''
def main(cfg):
    """Appends its point to calls.txt, so tests can count executions."""
    with open("calls.txt", "a") as f:
        f.write(f"{cfg.a} {cfg.b} {cfg.seed}\\n")
    return {"y": float(cfg.a) + 10 * float(cfg.b) + cfg.seed % 7 + cfg.x,
            "width": cfg.model.width}
'''

BASE = """
defaults:
  - model: mlp
  - _self_
a: 0
b: 0
x: 0
seed: 0
"""


@pytest.fixture
def sweeps(tmp_path: Path) -> Iterator[Path]:
    """A project with one config per shape of domain."""
    for name in ("domexp", "domains_mod", "search_mod"):
        sys.modules.pop(name, None)
    write(tmp_path / "domexp.py", EXPERIMENT)
    write(tmp_path / "conf" / "model" / "mlp.yaml", "width: 16\n")
    write(tmp_path / "conf" / "model" / "cnn.yaml", "width: 8\n")
    shapes = {
        "grid": """
            snakesweep:
              experiment: domexp:main
              domain:
                product:
                  - model: [mlp, cnn]
                  - zip:
                      a: [1, 2, 3]
                      b: [0.5, 0.25, 0.125]
              repeats: 2
              seed: 4
            """,
        "chain": """
            snakesweep:
              experiment: domexp:main
              domain:
                concat:
                  - a: [1, 2]
                  - {b: "range(7,8)", model: [cnn]}
            """,
        "mixed": """
            snakesweep:
              experiment: domexp:main
              domain:
                mix:
                  - {weight: 1, domain: {a: [1, 2]}}
                  - {weight: 3, domain: {b: "interval(0, 1)"}}
              samples: 8
            """,
        "draws": """
            snakesweep:
              experiment: domexp:main
              domain:
                model: [mlp, cnn]
                b: "tag(log, interval(1e-3, 1e-1))"
                a: "int(interval(1, 9))"
              samples: 3
            """,
        "made": """
            snakesweep:
              experiment: domexp:main
              domain: "domains_mod:make"
            """,
        "adaptive": """
            snakesweep:
              experiment: domexp:main
              domain:
                a: "int(interval(1, 9))"
              samples: 2
              seed: 3
              update: "search_mod:refine"
              max_rounds: 3
            """,
        "globbed": """
            snakesweep:
              experiment: domexp:main
              domain:
                model: "glob(*)"
                a: [1, 2]
            """,
        "group_draw": """
            snakesweep:
              experiment: domexp:main
              domain:
                model: "interval(0, 1)"
              samples: 2
            """,
    }
    for name, text in shapes.items():
        write(
            tmp_path / "conf" / f"{name}.yaml",
            f"{BASE}{__import__('textwrap').dedent(text).lstrip()}",
        )
    write(
        tmp_path / "domains_mod.py",
        """
        from snakesweep import Domain

        def make():
            return (Domain({"a": [1, 2]}) @ Domain({"b": [3, 4]})).repeat(2)
        """,
    )
    write(
        tmp_path / "search_mod.py",
        """
        from snakesweep import Domain

        def refine(results, round):
            runs = results.runs
            with open("rounds.txt", "a") as f:
                f.write(f"{round} {len(runs)} {sorted(runs['status'])}\\n")
            best = runs.sort_values("y")["a"].iloc[-1]
            return Domain({"a": [int(best) + 10 * round]})
        """,
    )
    yield tmp_path
    for name in ("domexp", "domains_mod", "search_mod"):
        sys.modules.pop(name, None)


def run(root: Path, name: str, *overrides: str) -> xr.Dataset:
    done = snakesweep("run", "-cn", name, "--cores", "2", *overrides, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return xr.load_dataset(root / "results" / "sweep.nc")


@pytest.mark.slow
def test_product_zip_repeats_times_the_command_line(sweeps: Path) -> None:
    plan = snakesweep("plan", "-cn", "grid", "x=100,200", "+c=3", cwd=sweeps)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines()[0] == (
        "domain: model: 2 × a: 3 (b) × x: 2 × repeat: 2 (seed) = 24 points"
    )
    ds = run(sweeps, "grid", "x=100,200", "+c=3")
    assert dict(ds.sizes) == {"model": 2, "a": 3, "x": 2, "repeat": 2}
    assert ds["b"].dims == ("a",) and list(ds["b"].values) == [0.5, 0.25, 0.125]
    seeds = repeat_seeds(4, 2)
    assert ds["seed"].dims == ("repeat",) and list(ds["seed"].values) == seeds
    y = ds["y"].sel(model="cnn", a=2, x=200)
    assert list(y.values) == [2 + 2.5 + s % 7 + 200 for s in seeds]
    assert (ds["status"] == "done").all() and len(calls(sweeps)) == 24
    table = pd.read_csv(sweeps / "results" / "runs.csv")
    assert {"model", "a", "b", "x", "repeat", "seed", "y"} <= set(table.columns)
    assert sorted(table["seed"].unique()) == sorted(seeds)
    reduced = over_repeats(ds)
    assert dict(reduced.sizes) == {"model": 2, "a": 3, "x": 2}
    assert reduced["y_count"].min() == 2
    np.testing.assert_allclose(reduced["y_mean"].sel(model="cnn", a=2, x=200), np.mean(y.values))
    xr.testing.assert_allclose(load(sweeps / "results").over_repeats()["y_mean"], reduced["y_mean"])
    assert run(sweeps, "grid", "x=100,200", "+c=3").identical(ds)
    assert len(calls(sweeps)) == 24  # the same sweep again computes nothing


@pytest.mark.slow
def test_concat_lies_along_point_with_missing_keys_as_nan(sweeps: Path) -> None:
    ds = run(sweeps, "chain")
    assert dict(ds.sizes) == {"point": 3}
    np.testing.assert_array_equal(ds["a"].values, [1, 2, np.nan])
    np.testing.assert_array_equal(ds["b"].values, [np.nan, np.nan, 7])
    assert list(ds["model"].values) == ["", "", "cnn"]
    assert list(ds["y"].values) == [1, 2, 70] and list(ds["width"].values) == [16, 16, 8]


@pytest.mark.slow
def test_a_mix_draws_its_points_along_point(sweeps: Path) -> None:
    ds = run(sweeps, "mixed")
    assert dict(ds.sizes) == {"point": 8}
    from_a = ~np.isnan(ds["a"].values)
    assert (from_a != ~np.isnan(ds["b"].values)).all()  # each point from one part
    assert set(ds["a"].values[from_a]) <= {1, 2}
    b = ds["b"].values[~from_a]
    assert ((0 <= b) & (b < 1)).all() and len(set(b)) == len(b)
    again = snakesweep("plan", "-cn", "mixed", "--format", "json", cwd=sweeps)
    assert [p["status"] for p in json.loads(again.stdout)] == ["done"] * 8


@pytest.mark.slow
def test_random_draws_are_a_sample_dimension_per_grid_point(sweeps: Path) -> None:
    ds = run(sweeps, "draws")
    assert dict(ds.sizes) == {"model": 2, "sample": 3}
    assert ds["b"].dims == ("model", "sample") and ds["a"].dims == ("model", "sample")
    b, a = ds["b"].values, ds["a"].values
    assert ((1e-3 <= b) & (b < 1e-1)).all() and len(set(b.ravel())) == 6
    assert ((1 <= a) & (a <= 9)).all() and a.dtype.kind == "i"
    np.testing.assert_allclose(ds["y"].values, a + 10 * b)


@pytest.mark.slow
def test_a_config_may_name_a_python_domain(sweeps: Path) -> None:
    ds = run(sweeps, "made")
    assert dict(ds.sizes) == {"a": 2, "repeat": 2}
    assert list(ds["b"].values) == [3, 4]
    write(
        sweeps / "domains_mod.py",
        """
        from snakesweep import Domain

        def make():
            return Domain({"a": [1, 2, 5]}) @ Domain({"b": [3, 4, 6]})
        """,
    )
    sys.modules.pop("domains_mod", None)
    plan = snakesweep("plan", "-cn", "made", cwd=sweeps)
    assert plan.stdout.splitlines()[0] == "domain: a: 3 (b) = 3 points"  # the cache follows it


@pytest.mark.slow
def test_adaptive_rounds_end_to_end(sweeps: Path) -> None:
    """Round 0 draws two points; each later round is the best a so far plus 10 × round."""
    ds = run(sweeps, "adaptive")
    assert dict(ds.sizes) == {"point": 4}
    assert list(ds["round"].values) == [0, 0, 1, 2]
    a = [int(v) for v in ds["a"].values]
    assert all(1 <= v <= 9 for v in a[:2])
    assert a[2:] == [max(a[:2]) + 10, max(a[:2]) + 10 + 20]
    assert (ds["status"] == "done").all()
    rounds = (sweeps / "rounds.txt").read_text().splitlines()
    assert rounds == ["1 2 ['done', 'done']", "2 3 ['done', 'done', 'done']"]
    assert len(calls(sweeps)) == 4
    again = run(sweeps, "adaptive")  # finished: nothing computed, no round decided again
    assert again.identical(ds) and len(calls(sweeps)) == 4
    assert len((sweeps / "rounds.txt").read_text().splitlines()) == 2
    shutil.rmtree(sweeps / "results" / ".snakesweep" / "plans")
    replanned = snakesweep("plan", "-cn", "adaptive", cwd=sweeps)
    assert replanned.returncode == 0, replanned.stderr
    assert replanned.stdout.splitlines()[0] == (
        "domain: point: 4 (round, a) = 4 points in 3 round(s), complete"
    )
    assert replanned.stdout.splitlines()[-1] == "4 points, 4 runs: 4 done, 0 pending, 0 failed"
    assert len(calls(sweeps)) == 4


def test_glob_lists_a_config_groups_options(sweeps: Path) -> None:
    plan = snakesweep("plan", "-cn", "globbed", cwd=sweeps)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines()[0] == "domain: model: 2 × a: 2 = 4 points"


@pytest.mark.slow
def test_from_a_run_of_a_domain_sweep_is_the_same_sweep(sweeps: Path) -> None:
    """--from restores the loaded run's config, but not the keys the domain sets."""
    run(sweeps, "grid")
    first = pd.read_csv(sweeps / "results" / "runs.csv")["run_id"].iloc[-1]
    plan = snakesweep("plan", "-cn", "grid", "--from", first, "--format", "json", cwd=sweeps)
    assert plan.returncode == 0, plan.stderr
    points = json.loads(plan.stdout)
    assert len(points) == 12 and {p["status"] for p in points} == {"done"}


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("group_draw", [], "snakesweep.domain: key 'model': is a config group"),
        ("grid", ["a=5"], "override 'a=5': key 'a' is also in snakesweep.domain"),
        ("grid", ["snakesweep.repeats=-1"], "snakesweep.repeats: expected an integer >= 1, got -1"),
        ("chain", ["+snakesweep.samples=3"], "snakesweep.samples: the domain draws nothing"),
        (
            "made",
            ["snakesweep.domain=nowhere:make"],
            "snakesweep.domain: 'nowhere:make': cannot import 'nowhere'",
        ),
        (
            "made",
            ["snakesweep.domain=json:loads"],
            "snakesweep.domain: 'json:loads' raised TypeError",
        ),
        (
            "grid",
            ["snakesweep.domain.product.1.zip.b=[1]"],
            "zip: lengths differ: a has 3, b has 1",
        ),
    ],
)
def test_bad_domains_exit_2_with_one_line(
    sweeps: Path, name: str, args: list[str], message: str
) -> None:
    done = snakesweep("run", "-cn", name, *args, cwd=sweeps)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (sweeps / "results").exists()
