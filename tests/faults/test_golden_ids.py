"""Run ids are pinned: the same config gives the same literal id in every process.

A run id names a directory of stored results, so it must never depend on the process that
computes it: not on Python's string-hash seed (``PYTHONHASHSEED``), not on the order keys
were written or inserted in, not on where the project lives. Each config below has its id
written out as a literal, computed once with ``snakesweep.configs.run_id_of`` (what the
product uses); every id is checked here, in fresh interpreters under several hash seeds,
and through the real ``snakesweep plan`` command line.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from conftest import snakesweep, write
from snakesweep.core.configs import Composer, run_id_of

HASH_SEEDS = ("0", "1", "12345", "random")

_DEEP: dict[str, Any] = {"leaf": [0.5, "end"]}
for _level in range(24):
    _DEEP = {f"level{_level}": _DEEP, "n": _level}

GOLDEN: list[tuple[str, Any, str]] = [
    ("flat ints", {"a": 1, "b": 2}, "43258cff783fe703"),
    ("integral floats are the integers", {"a": 1.0, "b": 2.0}, "43258cff783fe703"),
    ("keys in another order", {"b": 2, "a": 1}, "43258cff783fe703"),
    (
        "hydra and snakesweep's options are no part of a run",
        {
            "hydra": {"run": {"dir": "out"}},
            "b": 2,
            "a": 1,
            "snakesweep": {"repeats": 3, "debounce": 0.5},
        },
        "43258cff783fe703",
    ),
    (
        "an interpolation counts as its value",
        OmegaConf.create({"a": 1, "b": "${c}", "c": 2}),
        "efc55b7cd6ef9b27",
    ),
    (
        "numpy scalars count as the numbers they equal",
        {"a": np.int64(1), "b": np.float32(2.0)},
        "43258cff783fe703",
    ),
    (
        "the experiment is part of a run",
        {"a": 1, "b": 2, "snakesweep": {"experiment": "m:f"}},
        "e429c0081aca0269",
    ),
    (
        "another experiment is another run",
        {"a": 1, "b": 2, "snakesweep": {"experiment": "m:g"}},
        "1b9a10831bb91017",
    ),
    (
        "nested",
        {
            "model": {"name": "mlp", "layers": [64, 32], "act": {"kind": "relu", "slope": 0.0}},
            "seed": 3,
        },
        "9cd2fb5028b74285",
    ),
    (
        "nested, every level reordered, a tuple, -0.0 and 64.0",
        {
            "seed": 3,
            "model": {"act": {"slope": -0.0, "kind": "relu"}, "layers": (64.0, 32), "name": "mlp"},
        },
        "9cd2fb5028b74285",
    ),
    (
        "nested, a numpy array for the list",
        {
            "model": {
                "layers": np.array([64, 32]),
                "name": "mlp",
                "act": {"kind": "relu", "slope": np.float64(0)},
            },
            "seed": np.int32(3),
        },
        "9cd2fb5028b74285",
    ),
    (
        "list order is part of a run",
        {
            "model": {"name": "mlp", "layers": [32, 64], "act": {"kind": "relu", "slope": 0.0}},
            "seed": 3,
        },
        "aadfbdea557fbf29",
    ),
    ("booleans", {"flag": True, "other": False}, "97071956dc58b0d7"),
    ("true is not 1 and false is not 0", {"flag": 1, "other": 0}, "d5b52bf7f2784c92"),
    ("None", {"a": None}, "d091f9c83c091f79"),
    ("the text None is not None", {"a": "None"}, "ddcf47ee1b0d28e5"),
    ("the text null is not None", {"a": "null"}, "a5f2498de8e5ee71"),
    ("text that looks like numbers stays text", {"a": "1", "b": "2"}, "21f76dfbfe6dfe21"),
    ("unicode", {"text": "héllo wörld ✓ 🐍 日本語", "ключ": "значение"}, "781ab1d72fbab48c"),
    ("NFC é", {"text": "h\u00e9llo"}, "d50b6f6a9ad0e1cc"),
    ("NFD é is other text", {"text": "he\u0301llo"}, "f4bc00d24b5cdf3e"),
    (
        "keys with dots, spaces, nothing; text with escapes",
        {"a.b": 1, "": 2, "with space": 'x\ny\t"q"\\ \'\u0007', "$": "${not.resolved}"},
        "49f7ed0665704be5",
    ),
    ("empty containers", {"d": {}, "l": []}, "906acf646e0ddef4"),
    ("an empty dict is not an empty list", {"d": [], "l": {}}, "7b8ad3b90fc158cd"),
    ("the empty config", {}, "44136fa355b3678a"),
    (
        "large integers",
        {"big": 2**64 + 1, "neg": -(2**63), "huge": 10**30, "zero": 0},
        "9d16678cf317c00d",
    ),
    ("2**53 - 1 as a float is that integer", {"x": float(2**53 - 1)}, "e9b5e276a84ec2ef"),
    ("2**53 - 1", {"x": 2**53 - 1}, "e9b5e276a84ec2ef"),
    ("2**53 as a float stays a float", {"x": float(2**53)}, "78280c1fb5c44176"),
    ("2**53", {"x": 2**53}, "9799d751f6b78d19"),
    (
        "floats in shortest round-trip form",
        {
            "lr": 0.1,
            "eps": 1e-300,
            "denormal": 5e-324,
            "max": 1.7976931348623157e308,
            "sum": 0.1 + 0.2,
            "neg": -2.5,
        },
        "59cb1ddad8bf2fb4",
    ),
    ("NaN and infinities", {"a": math.nan, "b": math.inf, "c": -math.inf}, "1e1ed5b8eb528e2f"),
    (
        "numpy NaN and infinities",
        {"a": np.float64("nan"), "b": np.float32("inf"), "c": np.float16("-inf")},
        "1e1ed5b8eb528e2f",
    ),
    (
        "a list of everything",
        {"l": [1, "1", 1.5, None, True, [], {}, [[]], {"k": [None]}]},
        "8fbf92846bffd6c4",
    ),
    ("deep nesting", _DEEP, "8196956d00c877f6"),
]

WORDS = (
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
)
FROM_A_SET_ID = "e449822a5cb98d68"
"""The id of ``{word: len(word) for word in set(WORDS)}``: its keys are inserted in an
order that changes with the hash seed."""

CONF_TREE = {
    "config.yaml": """
        defaults:
          - model: mlp
          - db: sqlite
          - _self_
        snakesweep:
          experiment: tinyexp:main
        optimizer:
          lr: 0.1
          name: sgd
        seed: 0
        lr_copy: ${optimizer.lr}
        """,
    "model/mlp.yaml": "kind: mlp\nwidth: 16\ndepth: 2\n",
    "model/cnn.yaml": "kind: cnn\nwidth: 8\nkernel: 3\n",
    "db/sqlite.yaml": "driver: sqlite\nport: 0\n",
    "db/postgres.yaml": "driver: postgres\nport: 5432\n",
}
COMPOSED: list[tuple[tuple[str, ...], str]] = [
    ((), "536fb1e40229e9ae"),
    (("model=cnn",), "4b76379b60eb744f"),
    (("model=cnn", "db=postgres"), "edce69b51b05ff9d"),
    (("db=postgres", "model=cnn"), "edce69b51b05ff9d"),  # the order of overrides: same run
    (("model=cnn", "db=postgres", "optimizer.lr=0.01"), "6e4602d8ba850143"),
    (("optimizer.lr=0.1",), "536fb1e40229e9ae"),  # the default value: the default run
    (("optimizer.lr=1",), "cee5dbf333698e61"),
    (("optimizer.lr=1.0",), "cee5dbf333698e61"),  # 1 and 1.0: one run
    (("+extra='é;$(x)'",), "e3d0decc4033fca4"),
]

CHILD = textwrap.dedent("""
    import json, pickle, sys
    from snakesweep.core.configs import Composer, run_id_of

    configs, words, conf_dir, points = pickle.load(sys.stdin.buffer)
    ids = [run_id_of(c) for c in configs]
    from_set = run_id_of({w: len(w) for w in set(words)})
    with Composer(conf_dir, "config") as composer:
        composed = [run_id_of(composer.resolve_point(list(p))) for p in points]
    print(json.dumps({"ids": ids, "from_set": from_set, "composed": composed}))
""")


def conf_tree(root: Path) -> Path:
    for name, text in CONF_TREE.items():
        write(root / "conf" / name, text)
    return root / "conf"


def ids_in_a_fresh_interpreter(hash_seed: str, conf_dir: Path) -> dict[str, Any]:
    payload = pickle.dumps(
        ([c for _, c, _ in GOLDEN], WORDS, str(conf_dir), [p for p, _ in COMPOSED])
    )
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=payload,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        timeout=120,
        cwd=conf_dir.parent,
    )
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


@pytest.mark.parametrize("name, config, run_id", GOLDEN, ids=[n for n, _, _ in GOLDEN])
def test_a_pinned_config_has_its_pinned_id(name: str, config: Any, run_id: str) -> None:
    assert run_id_of(config) == run_id


SAME_RUN = [
    {
        "flat ints",
        "integral floats are the integers",
        "keys in another order",
        "hydra and snakesweep's options are no part of a run",
        "numpy scalars count as the numbers they equal",
    },
    {
        "nested",
        "nested, every level reordered, a tuple, -0.0 and 64.0",
        "nested, a numpy array for the list",
    },
    {"2**53 - 1 as a float is that integer", "2**53 - 1"},
    {"NaN and infinities", "numpy NaN and infinities"},
]
"""The pinned configs that are one run; every other pinned config is a run of its own."""


def test_equal_configs_share_an_id_and_every_other_config_has_its_own() -> None:
    by_id: dict[str, set[str]] = {}
    for name, _, run_id in GOLDEN:
        by_id.setdefault(run_id, set()).add(name)
    shared = [names for names in by_id.values() if len(names) > 1]
    assert sorted(map(sorted, shared)) == sorted(map(sorted, SAME_RUN))
    assert len(by_id) >= 20  # at least twenty distinct runs are pinned


def test_keys_inserted_in_hash_order_give_the_pinned_id() -> None:
    assert run_id_of({w: len(w) for w in set(WORDS)}) == FROM_A_SET_ID
    assert run_id_of({w: len(w) for w in sorted(WORDS, reverse=True)}) == FROM_A_SET_ID


def test_hydra_composed_points_have_their_pinned_ids(tmp_path: Path) -> None:
    with Composer(conf_tree(tmp_path), "config") as composer:
        got = [run_id_of(composer.resolve_point(list(p))) for p, _ in COMPOSED]
    assert got == [run_id for _, run_id in COMPOSED]
    assert len(set(got)) == 6  # nine points: reordered overrides, the default lr, 1 == 1.0


@pytest.mark.parametrize("hash_seed", HASH_SEEDS)
def test_every_pinned_id_is_the_same_under_another_hash_seed(
    tmp_path: Path, hash_seed: str
) -> None:
    got = ids_in_a_fresh_interpreter(hash_seed, conf_tree(tmp_path))
    assert dict(zip([n for n, _, _ in GOLDEN], got["ids"], strict=True)) == {
        n: run_id for n, _, run_id in GOLDEN
    }
    assert got["from_set"] == FROM_A_SET_ID
    assert got["composed"] == [run_id for _, run_id in COMPOSED]


def test_the_hash_seeds_used_do_reorder_a_set_of_text() -> None:
    """So the checks above do run under different string hashes."""
    orders = {
        subprocess.run(
            [sys.executable, "-c", f"print(list(set({WORDS!r})))"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in HASH_SEEDS[:3]
    }
    assert len(orders) > 1


PLANNED = {
    ("x=1", "name=a"): "fb31de9b2ace0e2b",
    ("x=1", "name=b"): "c30b4ad3def4b71b",
    ("x=2", "name=a"): "41de4286a26c1da8",
    ("x=2", "name=b"): "17fc3ef5ab659fc9",
    ("x=3", "name=a"): "a39c48b87a2d38e6",
    ("x=3", "name=b"): "eb6a879fe0f6a926",
}


def planned_ids(project: Path, hash_seed: str, results: str) -> dict[tuple[str, ...], str]:
    out = snakesweep(
        "plan",
        "--format",
        "json",
        "--results",
        results,
        "name=a,b",
        cwd=project,
        env={"PYTHONHASHSEED": hash_seed},
    )
    assert out.returncode == 0, out.stderr
    return {tuple(p["overrides"]): p["run_id"] for p in json.loads(out.stdout)}


def test_plan_gives_the_pinned_ids_under_two_hash_seeds(project: Path) -> None:
    assert planned_ids(project, "0", "results-0") == PLANNED
    assert planned_ids(project, "4242", "results-4242") == PLANNED  # a plan of its own


@pytest.mark.slow
def test_a_run_is_stored_under_its_pinned_id_and_its_config_gives_it_back(project: Path) -> None:
    out = snakesweep("run", "name=a,b", "--cores", "2", cwd=project, env={"PYTHONHASHSEED": "777"})
    assert out.returncode == 0, out.stderr
    runs = project / "results" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == sorted(PLANNED.values())
    for run_dir in runs.iterdir():
        stored = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        assert run_id_of(stored) == run_dir.name
    assert planned_ids(project, "31337", "results") == PLANNED  # done now, same ids
