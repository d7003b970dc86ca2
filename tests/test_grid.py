"""The domain expands overrides into exactly the points, in exactly the order, of BasicSweeper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from snakesweep.core.grid import expand_domain
from snakesweep.errors import OverrideError
from snakesweep.planning.make import compose_plan

CASES = [
    ["a=1,2"],
    ["a=1,2", "b=x,y"],
    ["a=range(0,3)"],
    ["a=range(1,10,3)"],
    ["a=range(0,1,0.25)"],
    ["b=choice(x,y,z)"],
    ["a=sort(3,1,2)"],
    ["a=sort(3,1,2,reverse=true)"],
    ["name='a b','c,d'", "a=5"],
    ["optimizer.lr=1e-3,1e-2", "optimizer.momentum=0.5,0.9"],
    ["+extra=1,2"],
    ["++forced=x,y", "a=2"],
    ["model=mlp,cnn"],
    ["model=glob(*)"],
    ["model=glob(*,exclude=cnn)", "db=postgres"],
    ["model=cnn,mlp", "db=sqlite,postgres", "optimizer.lr=0.1,0.2"],
    ["seed=5,6,7"],
    ["b=q", "seed=3"],
    ["flag=true,false"],
    ["a=null,1"],
    ["a=[1,2],[3,4]"],
    ["optimizer={lr:1,name:adam},{lr:2,name:sgd}"],
]


def basic_sweeper_jobs(
    conf: Path, overrides: list[str], tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[list[str], dict[str, Any]]]:
    """What Hydra's own multirun (BasicSweeper + BasicLauncher) gives each job."""
    monkeypatch.chdir(tmp)
    jobs: list[tuple[list[str], dict[str, Any]]] = []

    def task(cfg: Any) -> None:
        jobs.append(
            (list(HydraConfig.get().overrides.task), OmegaConf.to_container(cfg, resolve=True))
        )

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        hydra.multirun(
            config_name="config",
            task_function=task,
            overrides=[*overrides, "hydra/job_logging=none", "hydra/hydra_logging=none"],
        )
    return jobs


@pytest.mark.parametrize("overrides", CASES, ids=[" ".join(c) for c in CASES])
def test_points_and_configs_match_basic_sweeper(
    overrides: list[str], conf_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same overrides per point, same order, same composed config as Hydra's multirun."""
    expected = basic_sweeper_jobs(conf_tree, overrides, tmp_path, monkeypatch)
    plan = compose_plan(conf_tree, "config", overrides)
    assert [list(p.overrides) for p in plan.points] == [o for o, _ in expected]
    assert [plan.configs[p.run_id] for p in plan.points] == [c for _, c in expected]


def test_command_line_replaces_config_params_in_place() -> None:
    """A key in both the config's params and the command line keeps its place, takes new values."""
    domain = expand_domain(["b=9", "a=7,8"], {"a": "1,2", "c": "x,y"})
    assert [d.name for d in domain.dims] == ["a", "c"]
    assert domain.dims[0].values == (7, 8)
    assert [p.overrides for p in domain.points()][0] == ("a=7", "c=x", "b=9")


def test_dimensions_are_named_verbatim_with_typed_coordinates() -> None:
    """Swept keys name the dimensions; values keep their types, quoted strings unquoted."""
    domain = expand_domain(["optimizer.lr=1e-3,1e-2", "+seed=range(0,2)", "name='a b',c"])
    assert [(d.name, d.values) for d in domain.dims] == [
        ("optimizer.lr", (0.001, 0.01)),
        ("seed", (0, 1)),
        ("name", ("a b", "c")),
    ]
    assert len(domain) == 8 and domain.shape == (2, 2, 2)


@pytest.mark.parametrize(
    "override, words",
    [
        ("a=range(", "no viable alternative"),
        ("a=interval(0,1)", "interval()"),
        ("a=shuffle(1,2)", "shuffle()"),
        ("hydra.job.name=a,b", "Hydra's own config"),
    ],
)
def test_rejected_override_is_named(override: str, words: str) -> None:
    """An override the grammar or the grid rejects raises OverrideError quoting it."""
    with pytest.raises(OverrideError) as info:
        expand_domain([override])
    assert info.value.override == override
    assert words in str(info.value)
    assert repr(override) in str(info.value)
