"""The merge, for results of random shapes: every value a run returned is in ``sweep.nc`` at
its cell, or the merge names the run and why not; both readers give one Dataset; a merge
that reads only what changed writes what a full merge writes; a merge that fails leaves the
merged files as they were.

Runs are random: results that are numbers or arrays of several dtypes (extreme integers,
NaN and infinities included), over dims of any length with or without labels (unique,
shared across runs or not, now and then repeated), coordinates that are no dimension's
(equal across runs or not), an array named like a dimension, variables some runs lack,
failed and pending runs. Their directories are written as a run writes them
(``execute.to_dataset``, ``execute.write_result``, ``store.RunDraft.commit``), and merged by
``sweep.write_sweep``, the merge job's code; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import write
from merge_check import misplaced
from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.errors import ExperimentError
from snakesweep.execute.execution import write_result
from snakesweep.execute.experiment import to_dataset
from snakesweep.merge import dataset
from snakesweep.merge.sweep import write_sweep
from snakesweep.planning.plan import Plan
from snakesweep.store import result_record

settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore", parent=settings.get_profile("ci"), max_examples=300, derandomize=False
)
settings.register_profile(
    "quick",
    parent=settings.get_profile("explore"),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
settings.load_profile(os.environ.get("SNAKESWEEP_HYPOTHESIS_PROFILE", "ci"))
"""``ci`` (the default): 30 examples, the same every time; ``explore``: 300 new ones;
``quick``: as many, failures not shrunk."""

RUNS = 4
"""Points of the sweep (``a=range(0, 4)``), each its own run."""
DIMS = ("t", "s")
DTYPES = ("int8", "int16", "int32", "int64", "uint64", "float32", "float64", "bool")
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
INTS = {
    "int64": st.sampled_from([0, 1, -1, 2**53 + 1, 2**62, -(2**63), 2**63 - 1])
    | st.integers(-10, 10),
    "uint64": st.sampled_from([0, 1, 2**53 + 1, 2**64 - 1]) | st.integers(0, 10),
}


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plan]:
    """The sweep's plan (its conf composed once); each example merges in a directory of its own."""
    root = tmp_path_factory.mktemp("properties")
    write(
        root / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: propexp:main
        a: 0
        """,
    )
    cwd = os.getcwd()
    os.chdir(root)
    try:
        yield make_plan("conf", "config", [f"a=range(0,{RUNS})"], "results")
    finally:
        os.chdir(cwd)


def values_of(dtype: str, shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """Values of ``dtype``: any (64-bit integers: extreme ones often, floats: NaN and
    infinities too)."""
    elements = {**INTS, "float64": FLOATS, "float32": st.floats(width=32)}.get(dtype)
    return hnp.arrays(np.dtype(dtype), shape, elements=elements)


@st.composite
def labels_of(draw: st.DrawFn, n: int, shared: list[Any]) -> Any:
    """Labels of a dim of length ``n``: the shared ones when they fit (runs agree), else
    numbers of their own, now and then repeated."""
    if len(shared) == n and draw(st.booleans()):
        return np.array(shared)
    if draw(st.integers(0, 9)) == 0 and n > 1:
        return np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    kind = draw(st.sampled_from(["int", "float", "text"]))
    if kind == "text":
        return np.array(
            draw(
                st.lists(
                    st.sampled_from(["a", "b", "c", "dd"]), min_size=n, max_size=n, unique=True
                )
            ),
            dtype=object,
        )
    if kind == "int":
        return np.array(
            draw(st.lists(st.integers(-3, 8), min_size=n, max_size=n, unique=True)), dtype="int64"
        )
    return np.array(
        draw(
            st.lists(
                st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.5, 3.0, -1.0]),
                min_size=n,
                max_size=n,
                unique=True,
            )
        )
    )


@st.composite
def run_result(draw: st.DrawFn, shared: dict[str, Any]) -> dict[str, Any]:
    """One run's return value: a mapping of names to numbers, arrays and DataArrays."""
    sizes = {d: draw(st.integers(0, 3)) for d in DIMS}
    labelled = {d: draw(st.booleans()) for d in DIMS}
    labels = {d: draw(labels_of(sizes[d], shared[d])) for d in DIMS if labelled[d]}
    out: dict[str, Any] = {}
    for name in ("v0", "v1", "v2"):
        if not draw(st.booleans()):
            continue  # a variable some runs lack
        dims = draw(st.sampled_from([(), ("t",), ("s",), ("t", "s")]))
        dtype = draw(st.sampled_from(DTYPES))
        shape = tuple(sizes[d] for d in dims)
        data = draw(values_of(dtype, shape))
        if not dims and draw(st.booleans()):
            out[name] = data.item()  # a plain number
            continue
        out[name] = xr.DataArray(
            data, dims=dims, coords={d: labels[d] for d in dims if d in labels}
        )
    used = {d for v in out.values() if isinstance(v, xr.DataArray) for d in v.dims}
    if "t" in used and draw(st.booleans()):  # a coordinate that is no dimension's, along t
        values = (
            shared["w"][: sizes["t"]]
            if len(shared["w"]) >= sizes["t"] and draw(st.booleans())
            else draw(st.lists(st.integers(-5, 5), min_size=sizes["t"], max_size=sizes["t"]))
        )
        array = np.array(values, dtype="int64")
        if draw(st.integers(0, 3)) == 0:  # text
            array = np.array([f"w{v}" for v in values], dtype=object)
        for name, v in out.items():
            if isinstance(v, xr.DataArray) and "t" in v.dims:
                out[name] = v.assign_coords(w=("t", array))
    if "s" in used and "s" not in labels and draw(st.booleans()):  # named like a dimension
        out["s"] = np.array(
            draw(
                st.lists(
                    st.sampled_from([0.0, 0.25, 0.5, 0.75]),
                    min_size=sizes["s"],
                    max_size=sizes["s"],
                    unique=True,
                )
            )
        )
    return out


@st.composite
def sweeps(draw: st.DrawFn) -> dict[str, Any]:
    """What each run did, twice (a first merge, then some runs computed again)."""
    shared = {"t": [0, 1, 2], "s": [0.5, 1.5, 2.5], "w": [3, 4, 5]}
    fates = st.sampled_from(["done", "done", "done", "failed", "pending"])
    first = [(draw(fates), draw(run_result(shared))) for _ in range(RUNS)]
    again = [draw(st.sampled_from(["same", "same", "new", "failed", "done"])) for _ in range(RUNS)]
    second = [draw(run_result(shared)) for _ in range(RUNS)]
    return {"first": first, "again": again, "second": second, "break": draw(st.booleans())}


def write_run(results: Path, run_id: str, fate: str, result: dict[str, Any]) -> None:
    """A run's directory, as ``execute.execute_run`` writes it: the result through
    ``to_dataset`` and ``write_result`` (a result it refuses: a failed run), then ``commit``."""
    if fate == "pending":
        return
    draft = store.RunDraft.begin(results.absolute(), run_id)
    meta: dict[str, Any] = {
        "run_id": run_id,
        "status": "failed",
        "start": "2026-01-01T00:00",
        "end": "2026-01-01T00:01",
        "duration": 1.0,
    }
    if fate == "done":
        try:
            write_result(to_dataset(result, run_id, "propexp:main"), draft.path / store.RESULT)
            meta.update(status="done", **result_record(draft.path / store.RESULT))
        except ExperimentError as exc:
            meta["error"] = {"type": "ExperimentError", "message": str(exc)}
    else:
        meta["error"] = {"type": "ValueError", "message": "a failing point"}
    draft.commit(meta)


MERGED = ("sweep.nc", "runs.csv", "metrics.json", "provenance.json", "sweep.json")


def merged_files(results: Path) -> dict[str, bytes]:
    return {name: (results / name).read_bytes() for name in MERGED}


def check_merge(plan: Plan, results: Path) -> None:
    """Every value at its cell or its run named; the readers agree; the direct one read it."""
    assert misplaced(results) == {}
    reference = dataset.merge_runs(plan, results, reader="xarray")
    direct = dataset.merged(plan, results)
    assert direct.shapes is not None
    xr.testing.assert_identical(direct.dataset, reference)
    for name, var in reference.variables.items():
        assert direct.dataset[name].dtype == var.dtype, name
    index = json.loads((results / "sweep.json").read_text())
    statuses = reference["status"].values.ravel().tolist()
    assert statuses.count("unmerged") == len(index.get("unmerged", {}))
    assert all(index["unmerged"].values()) if "unmerged" in index else True


@given(sweep=sweeps())
def test_every_value_is_merged_at_its_cell_or_its_run_is_named(
    plan: Plan, sweep: dict[str, Any]
) -> None:
    sys.modules.pop("propexp", None)
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp, "results")
        ids = plan.run_ids
        for run_id, (fate, result) in zip(ids, sweep["first"], strict=True):
            write_run(results, run_id, fate, result)
        write_sweep(plan, results)
        check_merge(plan, results)

        # some runs computed again (the merge index then reads only those)
        for k, run_id in enumerate(ids):
            how = sweep["again"][k]
            if how == "new" or (how == "done" and sweep["first"][k][0] != "done"):
                write_run(results, run_id, "done", sweep["second"][k])
            elif how == "failed":
                write_run(results, run_id, "failed", {})
        write_sweep(plan, results)
        check_merge(plan, results)
        incremental = merged_files(results)
        (results / store.MERGE_INDEX).unlink(missing_ok=True)
        (results / store.MERGE_METAS).unlink(missing_ok=True)
        write_sweep(plan, results)
        assert merged_files(results) == incremental

        # a merge that fails (a done run that cannot be read) changes no merged file
        done = [r for r in ids if store.run_statuses(results, [r])[r] == "done"]
        if sweep["break"] and done:
            before = {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()}
            path = store.result_path(results, done[0])
            path.write_bytes(b"not netcdf")
            meta_path = store.run_dir(results, done[0]) / store.META
            meta = json.loads(meta_path.read_text())
            meta.update(result_record(path))
            meta_path.write_text(json.dumps(meta))
            with pytest.raises(ExceptionGroup):
                write_sweep(plan, results)
            after = {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()}
            assert after == before
        shutil.rmtree(results)
