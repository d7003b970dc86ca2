"""Merging runs: one Dataset over the swept keys, gaps as NaN, bad files all reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.execute.execution import execute_run
from snakesweep.merge.dataset import merge_runs
from snakesweep.merge.sweep import write_sweep
from snakesweep.store import result_record


@pytest.fixture
def two_key_plan(project: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(project)
    return make_plan("conf", "config", ["x=1,2,3", "offset=0,100", "fail_on=3"], "results")


def test_dimensions_coordinates_and_gaps(two_key_plan) -> None:  # type: ignore[no-untyped-def]
    """Swept keys in domain order; failed and pending cells are NaN with their status."""
    plan = two_key_plan
    for p in plan.points:
        if p.params != {"x": 2, "offset": 100}:
            execute_run(plan, p.run_id, "results")
    ds = merge_runs(plan, "results")
    assert ds["y"].dims == ("x", "offset")
    assert list(ds["x"].values) == [1, 2, 3] and list(ds["offset"].values) == [0, 100]
    assert ds["y"].sel(x=1, offset=100).item() == 110
    assert ds["status"].sel(x=2, offset=100).item() == "pending"
    assert ds["status"].sel(x=3, offset=0).item() == "failed"
    assert np.isnan(ds["y"].sel(x=3, offset=0).item())
    assert ds["curve"].dims == ("x", "offset", "curve_dim_0")
    run_id = ds["run_id"].sel(x=1, offset=0).item()
    assert store.read_meta("results", run_id)["overrides"] == ["x=1", "offset=0", "fail_on=3"]


def test_run_table_has_one_row_per_run(two_key_plan) -> None:  # type: ignore[no-untyped-def]
    """runs.csv: run_id, status, duration, debug, commit, swept values, scalar results."""
    plan = two_key_plan
    for run_id in plan.run_ids:
        execute_run(plan, run_id, "results")
    _, table_path, table = write_sweep(plan, "results")
    assert list(table.columns) == [
        "run_id",
        "status",
        "duration",
        "debug",
        "commit",
        "x",
        "offset",
        "y",
    ]
    assert len(table) == 6 and table_path.read_text().count("\n") == 7
    assert sorted(table["status"]) == ["done"] * 4 + ["failed"] * 2


def test_a_corrupt_result_is_never_read(two_key_plan) -> None:  # type: ignore[no-untyped-def]
    """A result that is not the file its meta.json recorded is left out of the merge."""
    plan = two_key_plan
    for run_id in plan.run_ids:
        execute_run(plan, run_id, "results")
    done = [r for r in plan.run_ids if store.run_statuses("results", [r])[r] == "done"]
    path = store.result_path("results", done[0])
    path.write_bytes(b"\0" * path.stat().st_size)  # same size, other bytes
    ds = merge_runs(plan, "results")
    index = plan.point_of(done[0]).index
    assert str(ds["status"].values[index]) == "corrupt"
    assert np.isnan(ds["y"].values[index])
    assert sorted(map(str, ds["status"].values.ravel())).count("done") == len(done) - 1


def test_unreadable_result_files_are_reported_together(two_key_plan) -> None:  # type: ignore[no-untyped-def]
    """Every result.nc that checks out but cannot be read is named in one error."""
    plan = two_key_plan
    for run_id in plan.run_ids:
        execute_run(plan, run_id, "results")
    broken = [r for r in plan.run_ids if store.run_statuses("results", [r])[r] == "done"][:2]
    for run_id in broken:  # as a broken writer would leave them: recorded as they are
        store.result_path("results", run_id).write_bytes(b"not netcdf")
        meta_path = store.run_dir("results", run_id) / store.META
        meta = json.loads(meta_path.read_text())
        meta.update(result_record(store.result_path("results", run_id)))
        meta_path.write_text(json.dumps(meta, indent=2))
    with pytest.raises(ExceptionGroup) as info:
        merge_runs(plan, "results")
    assert sorted(e.run_id for e in info.value.exceptions) == sorted(broken)
