"""Run ids: a documented canonical form, pinned golden ids, and composition equal to compose()."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from snakesweep.core.configs import Composer, canonical_json, resolve_config, run_id_of
from snakesweep.errors import ConfigError

GOLDEN = [
    ({"a": 1, "b": {"c": [1, 2.5, "x"]}, "d": None, "e": True}, "a5ec465ff3200882"),
    (
        {"model": {"name": "mlp", "hidden": 16}, "optimizer": {"lr": 0.001}, "seed": 3},
        "80ccc4675316957c",
    ),
    (
        {"text": "héllo ✓", "big": 12345678901234567890, "neg": -0.0, "tiny": 1e-300},
        "071095a1c81bcaad",
    ),
]


def shuffled(obj: Any, rng: random.Random) -> Any:
    if isinstance(obj, dict):
        items = list(obj.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    return obj


@pytest.mark.parametrize("config, run_id", GOLDEN)
def test_golden_run_ids(config: dict[str, Any], run_id: str) -> None:
    """Pinned ids never change: results stored under them stay found."""
    assert run_id_of(config) == run_id
    rng = random.Random(0)
    for _ in range(5):
        assert run_id_of(shuffled(config, rng)) == run_id


def test_golden_run_ids_in_a_fresh_process() -> None:
    """Another interpreter (another hash seed) gives the same ids."""
    code = (
        "import json, sys; from snakesweep.core.configs import run_id_of; "
        "print(json.dumps([run_id_of(c) for c in json.load(sys.stdin)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([c for c, _ in GOLDEN]),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert json.loads(out.stdout) == [r for _, r in GOLDEN]


def test_equal_values_give_equal_ids() -> None:
    """1 and 1.0, numpy scalars and Python numbers, tuples and lists are the same config."""
    base = run_id_of({"lr": 1, "n": 3, "xs": [1, 2], "on": True})
    assert run_id_of({"lr": 1.0, "n": np.int64(3), "xs": (1.0, 2), "on": np.bool_(True)}) == base
    assert run_id_of({"lr": 1, "n": 3, "xs": np.array([1, 2]), "on": True}) == base


def test_different_values_give_different_ids() -> None:
    """Booleans are not numbers, None is not 0, strings are not numbers."""
    ids = {run_id_of({"v": v}) for v in (1, True, None, 0, "1", 1.5, [1], {"a": 1})}
    assert len(ids) == 8


def test_hydra_and_snakesweep_nodes_are_not_identity() -> None:
    """Hydra's node and snakesweep's options leave the run id alone; the experiment does not."""
    plain = run_id_of({"a": 1})
    assert run_id_of({"a": 1, "hydra": {"run": {"dir": "x"}}}) == plain
    assert run_id_of({"a": 1, "snakesweep": {"results": "elsewhere"}}) == plain
    with_f = run_id_of({"a": 1, "snakesweep": {"experiment": "m:f", "results": "x"}})
    assert with_f != plain
    assert with_f == run_id_of({"a": 1, "snakesweep": {"experiment": "m:f"}})
    assert with_f != run_id_of({"a": 1, "snakesweep": {"experiment": "m:g"}})


def test_interpolations_are_resolved() -> None:
    """A config with ${...} has the id of the config with the values written out."""
    cfg = OmegaConf.create({"lr": 0.1, "copy": "${lr}", "name": "run-${lr}"})
    assert run_id_of(cfg) == run_id_of({"lr": 0.1, "copy": 0.1, "name": "run-0.1"})


def test_canonical_form_is_compact_sorted_ascii() -> None:
    """The documented text: sorted keys, no spaces, ASCII escapes, NaN as a string."""
    text = canonical_json({"b": float("nan"), "a": "é", "c": 2.0, "d": 0.1})
    assert text == '{"a":"\\u00e9","b":"NaN","c":2,"d":0.1}'


def test_missing_value_is_named() -> None:
    """A ??? left in the config is an error naming its key."""
    with pytest.raises(ConfigError, match="optimizer.lr"):
        run_id_of(OmegaConf.create({"optimizer": {"lr": "???"}}))


GRID = [
    [m, d, f"optimizer.lr={lr}", *extra]
    for m in ("model=mlp", "model=cnn")
    for d in ("db=sqlite", "db=postgres")
    for lr in (0.1, 0.2)
    for extra in ([], ["+extra=5", "a=2"], ["~b", "optimizer={lr:3,name:adam}"])
]


def test_fast_composition_equals_compose_per_point(conf_tree: Path) -> None:
    """One compose() per group choice plus value overrides equals compose() for every point."""
    with Composer(conf_tree, "config") as composer:
        ours = [resolve_config(composer.compose_point(o)) for o in GRID]
        assert len(composer._bases) == 4  # one compose() per (model, db) choice
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_tree), version_base="1.3"):
        theirs = [OmegaConf.to_container(compose("config", o), resolve=True) for o in GRID]
    assert ours == theirs
    # equal configs share a run id (optimizer={...} makes optimizer.lr moot), others do not
    assert len({run_id_of(c) for c in ours}) == len({canonical_json(c) for c in ours}) == 20


INTERPOLATING = """
defaults:
  - model: mlp
  - _self_
optimizer:
  lr: 0.1
  name: sgd
  flag: true
  nothing: null
seed: 0
copy: ${optimizer.lr}
chain: ${copy}
label: run-${optimizer.name}-${seed}-${optimizer.lr}
flags: ${optimizer.flag}/${optimizer.nothing}
whole: ${optimizer}
width_twice: ${model.width}${model.width}
listed: [1, "${seed}"]
decoded: ${oc.decode:'[1, 2]'}
escaped: \\${not.a.reference}
"""

POINTS = [
    [m, f"optimizer.lr={lr}", f"seed={s}", *extra]
    for m in ("model=mlp", "model=cnn")
    for lr in ("0.5", "1e-3", "2")
    for s in (0, 7)
    for extra in ([], ["optimizer.name=adam"], ["+new.key=3"], ["optimizer.flag=false"])
]


SIMPLE = "\n".join(
    line
    for line in INTERPOLATING.splitlines()
    if not line.startswith(("listed", "decoded", "escaped"))
)


@pytest.mark.parametrize("config", [SIMPLE, INTERPOLATING], ids=["simple", "with-resolvers"])
def test_plain_fast_path_equals_compose(config: str, conf_tree: Path) -> None:
    """Resolving on plain data gives compose()'s config, and falls back where it must."""
    (conf_tree / "config.yaml").write_text(config)
    with Composer(conf_tree, "config") as composer:
        ours = [composer.resolve_point(o) for o in POINTS]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_tree), version_base="1.3"):
        theirs = [OmegaConf.to_container(compose("config", o), resolve=True) for o in POINTS]
    assert ours == theirs


def test_plain_fast_path_is_taken_for_plain_configs(conf_tree: Path) -> None:
    """Simple references and scalar overrides never compose per point."""
    (conf_tree / "config.yaml").write_text(SIMPLE)
    with Composer(conf_tree, "config") as composer:
        calls = []
        composer.compose_point = lambda *a: calls.append(a)  # type: ignore[method-assign]
        for o in POINTS:
            composer.resolve_point(o)
        assert calls == []


def test_typed_structured_configs_take_the_exact_path(tmp_path: Path) -> None:
    """A dataclass schema coerces values; such configs are composed the exact way."""
    from dataclasses import dataclass

    from hydra.core.config_store import ConfigStore

    @dataclass
    class Schema:
        lr: float = 0.1
        steps: int = 3
        copy: float = "${steps}"  # type: ignore[assignment]

    ConfigStore.instance().store(name="typed_schema", node=Schema)
    (tmp_path / "config.yaml").write_text("defaults:\n  - typed_schema\n  - _self_\nsteps: 5\n")
    with Composer(tmp_path, "config") as composer:
        resolved = [composer.resolve_point([f"lr={v}"]) for v in (1, 2)]
    assert resolved == [{"lr": 1.0, "steps": 5, "copy": 5.0}, {"lr": 2.0, "steps": 5, "copy": 5.0}]
    assert isinstance(resolved[0]["lr"], float) and isinstance(resolved[0]["copy"], float)


def test_a_key_the_config_lacks_gets_the_closest_keys_at_its_first_missing_part() -> None:
    from omegaconf import OmegaConf

    from snakesweep.core.configs import did_you_mean

    cfg = OmegaConf.create({"optimizer": {"lr": 0.1, "steps": 60}, "n_points": 3, "seed": 0})
    assert did_you_mean(cfg, "n_point") == "; did you mean n_points?"
    assert did_you_mean(cfg, "optimizer.lrr") == "; did you mean optimizer.lr?"
    assert did_you_mean(cfg, "optimzer.lr") == "; did you mean optimizer.lr?"  # the rest kept
    assert did_you_mean(cfg, "seed.value") == ""  # seed is a value: nothing under it
    assert did_you_mean(cfg, "zzz") == ""
    assert did_you_mean(cfg, "lr") == "; did you mean optimizer.lr?"  # its parents left out
    assert did_you_mean(cfg, "step") == "; did you mean optimizer.steps?"
    assert did_you_mean(cfg, "optimizer.lr") == ""  # there
    options = OmegaConf.create({"snakesweep": {"experiment": "m:f"}})
    assert did_you_mean(options, "snakesweep.timeuot") == "; did you mean +snakesweep.timeout?"
    assert did_you_mean(options, "snakesweep.timeout") == ""  # an option: Hydra says add it (+)
