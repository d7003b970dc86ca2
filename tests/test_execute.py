"""Executing one run: result conversion, clear errors, atomic run directories."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.errors import ConfigError, ExperimentError
from snakesweep.execute.execution import execute_contained, execute_run, failure_line
from snakesweep.execute.experiment import load_experiment, to_dataset


def test_mapping_results_become_variables() -> None:
    """Numbers, numpy arrays and DataArrays become one Dataset."""
    ds = to_dataset(
        {"a": 1.5, "b": np.arange(3), "c": xr.DataArray([1, 2], dims="step")}, "r1", "m:f"
    )
    assert ds["a"].item() == 1.5
    assert ds["b"].dims == ("b_dim_0",)
    assert ds["c"].dims == ("step",)


@pytest.mark.parametrize(
    "result, words",
    [
        ([1, 2], "returned list"),
        ({"a": "text"}, "returned 'a' as str"),
        ({"seed": 1.0}, "name of a swept key"),
        ({"run_id": 1.0}, "name of a swept key or of 'run_id'"),
        (
            {
                "c": xr.DataArray(
                    [1.0, 2.0],
                    dims="t",
                    coords={"t": pd.date_range("2020-01-01", periods=2, tz="UTC")},
                )
            },
            "returned the coordinate 't' of times with a time zone",
        ),
    ],
)
def test_wrong_results_name_the_run_and_the_culprit(result: object, words: str) -> None:
    """A result of the wrong type or name gets one line with the run id."""
    with pytest.raises(ExperimentError) as info:
        to_dataset(result, "abc123", "pkg.mod:train", reserved=("seed",))
    assert info.value.run_id == "abc123"
    assert words in str(info.value) and "pkg.mod:train" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("no_colon", "not of the form"),
        ("surely_missing_module_xyz:main", "cannot import 'surely_missing_module_xyz'"),
        ("json:no_such_function", "has no 'no_such_function'"),
    ],
)
def test_bad_entry_points_are_named(spec: str, words: str) -> None:
    """An entry point that cannot be imported says which and why."""
    with pytest.raises(ConfigError) as info:
        load_experiment(spec)
    assert info.value.culprit == "snakesweep.experiment" and words in str(info.value)


def test_failed_run_records_its_error_and_is_not_done(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception in the experiment is data: type, message, traceback in meta.json."""
    monkeypatch.chdir(project)
    plan = make_plan("conf", "config", ["x=2", "fail_on=2"], "results")
    (run_id,) = plan.run_ids
    outcome = execute_run(plan, run_id, "results")
    assert outcome.status == "failed" and "x=2 is the failing point" in outcome.message
    meta = json.loads((store.run_dir("results", run_id) / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["error"]["type"] == "ValueError"
    assert "ValueError" in (store.run_dir("results", run_id) / "stderr.log").read_text()
    assert store.run_statuses("results", [run_id]) == {run_id: "failed"}


def test_run_output_is_captured_and_drafts_are_never_done(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Printed output lands in stdout.log; a draft directory left by a kill is not a run."""
    monkeypatch.chdir(project)
    (project / "tinyexp.py").write_text(
        (project / "tinyexp.py")
        .read_text()
        .replace(
            '    with open("calls.txt"', '    print("hello from", cfg.x)\n    with open("calls.txt"'
        )
    )
    plan = make_plan("conf", "config", ["x=4"], "results")
    (run_id,) = plan.run_ids
    draft = store.RunDraft.begin("results", run_id)
    (draft.path / store.RESULT).write_bytes(b"half a file")
    assert store.run_statuses("results", [run_id]) == {run_id: "pending"}
    assert execute_run(plan, run_id, "results").status == "done"
    assert (store.run_dir("results", run_id) / "stdout.log").read_text() == "hello from 4\n"
    assert xr.load_dataset(store.result_path("results", run_id))["y"].item() == 40


def test_missing_key_fails_the_run_with_one_line_naming_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An experiment reading a key the config lacks: the run fails, the line names run and key."""
    monkeypatch.chdir(project)
    (project / "tinyexp.py").write_text("def main(cfg):\n    return {'y': cfg.optimizer.lr}\n")
    plan = make_plan("conf", "config", ["x=9"], "results")
    (run_id,) = plan.run_ids
    outcome = execute_run(plan, run_id, "results")
    assert outcome.status == "failed" and "\n" not in outcome.message
    assert "ConfigAttributeError" in outcome.message and "'optimizer'" in outcome.message
    line = failure_line(outcome, "results")
    assert line.startswith(f"snakesweep: run {run_id} failed:") and "meta.json" in line


def test_a_stale_run_whose_new_attempt_crashes_is_failed_not_done(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run computed with other code (stale) is computed again; when that attempt's process
    dies before recording anything, the old result is no result of the current code: the
    run is failed, not taken as finished by another attempt."""
    monkeypatch.chdir(project)
    plan = make_plan("conf", "config", ["x=4"], "results")
    (run_id,) = plan.run_ids
    assert execute_run(plan, run_id, "results").status == "done"
    (project / "tinyexp.py").write_text("import os\n\n\ndef main(cfg):\n    os._exit(3)\n")
    sys.modules.pop("tinyexp", None)  # the run's process imports the new code
    outcome = execute_contained(plan, run_id, "results")
    assert outcome.status == "failed" and "exit status 3" in outcome.message
    assert store.run_statuses("results", [run_id]) == {run_id: "failed"}
