"""Non-ASCII values in the config's domain: the same runs as on the command line.

A YAML list of words such as ``café`` or ``日本`` (Unicode identifiers, which Hydra's grammar
takes only in quotes) is planned, run and stored as given, with the run ids of the same
values given, quoted, on the command line. A value of Hydra's grammar with an unquoted
non-ASCII word is refused in one line whose advice, followed, gives those runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xarray as xr
import yaml
from harness import TRACEBACK, Tally, account, run

TEXTS = ["café", "日本", "naïve x", "🙂", "x"]

EXPERIMENT = """
import numpy as np


def main(cfg):
    return {"y": float(len(cfg.s)), "payload": np.arange(2.0)}
"""


def project(root: Path, domain: str | None) -> Path:
    (root / "conf").mkdir(parents=True)
    node = f"  domain:\n    s: {domain}\n" if domain is not None else ""
    (root / "conf" / "config.yaml").write_text(
        f"snakesweep:\n  experiment: textexp:main\n{node}s: a\n", encoding="utf-8"
    )
    (root / "textexp.py").write_text(EXPERIMENT)
    return root


def planned(root: Path, *overrides: str) -> dict[str, str]:
    """Value of ``s`` → run id, as ``snakesweep plan`` gives them."""
    out = run(root, "plan", "--format", "json", *overrides)
    assert out.returncode == 0, out.stderr
    return {p["params"]["s"]: p["run_id"] for p in json.loads(out.stdout)}


@pytest.mark.slow
def test_non_ascii_words_in_the_yaml_domain_are_the_command_lines_runs(tmp_path: Path) -> None:
    """The runs of ``domain: {s: [café, 日本, naïve x, 🙂, x]}`` are those of
    ``s='café','日本','naïve x','🙂',x``; ``sweep.nc`` and each ``config.yaml`` hold the
    values verbatim."""
    root = project(tmp_path / "yaml", json.dumps(TEXTS, ensure_ascii=False))
    command_line = project(tmp_path / "cli", None)
    ids = planned(root)
    assert ids == planned(command_line, "s='café','日本','naïve x','🙂',x")
    assert list(ids) == TEXTS

    out = run(root, "run", "--cores", "2")
    assert out.returncode == 0, out.stderr[-3000:]
    tally = account(
        Tally("non-ASCII values in the config's domain", injected=len(TEXTS)),
        root,
        set(ids.values()),
        [out.stdout, out.stderr],
    )
    assert tally.clean, tally
    ds = xr.load_dataset(root / "results" / "sweep.nc", engine="netcdf4")
    assert ds["s"].values.tolist() == TEXTS
    assert ds["run_id"].values.tolist() == [ids[t] for t in TEXTS]
    assert ds["y"].values.tolist() == [float(len(t)) for t in TEXTS]
    for text, run_id in ids.items():
        stored = root / "results" / "runs" / run_id / "config.yaml"
        assert yaml.safe_load(stored.read_text(encoding="utf-8"))["s"] == text


def test_an_unquoted_non_ascii_word_in_hydras_grammar_gets_advice_that_works(
    tmp_path: Path,
) -> None:
    """``s: "café,naïve x,x"`` is refused (exit 2, one line); either form the line advises
    plans the command line's runs, the values without quotes."""
    root = project(tmp_path / "bad", '"café,naïve x,x"')
    out = run(root, "plan")
    assert out.returncode == 2 and out.stdout == "" and out.stderr.count("\n") == 1, out
    assert TRACEBACK not in out.stderr and "snakesweep.domain: key 's'" in out.stderr
    quoted = """s: "'café','naïve x',x\""""
    listed = "s: [café, naïve x, x]"
    assert f"({quoted})" in out.stderr and f"({listed})" in out.stderr, out.stderr
    expected = planned(project(tmp_path / "cli", None), "s='café','naïve x',x")
    assert list(expected) == ["café", "naïve x", "x"]
    for i, advice in enumerate((quoted, listed)):
        fixed = project(tmp_path / f"fixed{i}", advice.removeprefix("s: "))
        assert planned(fixed) == expected
