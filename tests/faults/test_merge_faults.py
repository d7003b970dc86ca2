"""Results of every shape, merged faithfully: coordinates that vary by run, an array named
like a dimension, curves of other lengths, runs whose results do not fit with the others',
integers past what a float or a coordinate holds; and a merge that fails keeps the merged
files it would have replaced.

Every value a run returned is in ``sweep.nc`` at its cell (``merge_check.misplaced``), or
the merge names the run and why not: on the console, in ``sweep.json``, as the status
``unmerged`` in ``sweep.nc`` and ``runs.csv``, and in ``snakesweep status``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from harness import TRACEBACK, Tally, counted_done, record, tree_digest

from conftest import snakesweep, write
from merge_check import misplaced
from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.execute.execution import execute_run
from snakesweep.planning.plan import Plan
from snakesweep.store import result_record

EXPERIMENT = '''
import numpy as np
import xarray as xr


def main(cfg):
    """Results of the shape ``cfg.case`` names; ``cfg.fail`` lists failing points."""
    a, case = cfg.a, cfg.case
    if a in cfg.fail:
        raise ValueError(f"a={a} is a failing point")
    out = {}
    if case in ("coords", "all"):  # w varies by run, u is the same in every run
        out["curve"] = xr.DataArray(np.arange(3) * a, dims="t", coords={
            "w": ("t", np.arange(3) * a), "u": ("t", [5, 6, 7])})
    if case in ("named", "all"):  # an array named like the dimension of another
        out["time"] = np.linspace(0, 1, 4)
        out["signal"] = xr.DataArray(np.arange(4.0) * a, dims="time")
    if case == "named-short":
        out["time"] = np.linspace(0, 1, 3)
        out["signal"] = xr.DataArray(np.arange(4.0) * a, dims="time")
    if case in ("ragged", "all"):  # 8 + a values, no coordinates; a=4: another layout
        out["y"] = float(a)
        out["ragged"] = np.arange(8 + a) * a if a != 4 else np.ones((2, 3))
    if case == "big":  # a uint64 no float holds
        out["y"] = a
        out["big"] = np.uint64(2**64 - 1) if a == 1 else np.uint64(a)
    return out
'''


@pytest.fixture
def shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project whose experiment returns results of the shape ``case`` names."""
    sys.modules.pop("shapesexp", None)
    write(
        tmp_path / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: shapesexp:main
        a: 0
        case: all
        fail: []
        """,
    )
    write(tmp_path / "shapesexp.py", EXPERIMENT)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("shapesexp", None)


def computed(*overrides: str) -> Plan:
    """The plan of ``overrides``, every run executed (as a run job executes it)."""
    plan = make_plan("conf", "config", list(overrides), "results")
    for run_id in plan.run_ids:
        execute_run(plan, run_id, "results")
    return plan


def merged(plan: Plan) -> subprocess.CompletedProcess[str]:
    """The merge job's command: ``python -m snakesweep.merge PLAN RESULTS``."""
    return subprocess.run(
        [sys.executable, "-m", "snakesweep.merge", str(plan.path), "results"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def sweep() -> xr.Dataset:
    return xr.load_dataset(Path("results", "sweep.nc"), engine=store.ENGINE)


def test_coordinates_that_vary_by_run_are_merged_per_run(shapes: Path) -> None:
    """w (along t) differs in each run: over (a, t), each run's own; u is the same in every
    run: one coordinate along t, as the runs have it."""
    plan = computed("a=1,2,3", "case=coords")
    out = merged(plan)
    assert out.returncode == 0, out.stderr
    ds = sweep()
    assert ds["w"].dims == ("a", "t") and "w" in ds.coords
    assert ds["w"].values.tolist() == [[0, 1, 2], [0, 2, 4], [0, 3, 6]]
    assert ds["u"].dims == ("t",) and ds["u"].values.tolist() == [5, 6, 7]
    assert set(ds["curve"].coords) >= {"w", "u"}
    assert misplaced(Path("results")) == {}


def test_an_array_named_like_a_dimension_is_its_coordinate(shapes: Path) -> None:
    """``{"time": t, "signal": xr.DataArray(s, dims="time")}``: t labels time, in the run's
    result and in sweep.nc; one of another length fails its run, saying so."""
    plan = computed("a=1,2", "case=named")
    out = merged(plan)
    assert out.returncode == 0, out.stderr
    ds = sweep()
    assert ds["time"].values.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert ds["signal"].sel(a=2, time=1.0).item() == 6.0
    assert misplaced(Path("results")) == {}
    short = make_plan("conf", "config", ["a=1", "case=named-short"], "results")
    outcome = execute_run(short, short.run_ids[0], "results")
    assert outcome.status == "failed"
    assert (
        "returned 'time' of shape (3,) beside results along a dimension 'time' of "
        "length 4" in outcome.message
    )


def test_curves_of_other_lengths_are_padded_and_runs_that_do_not_fit_are_named(
    shapes: Path,
) -> None:
    """Curves of 9, 10, 11 values (no coordinates) are padded with NaN; the run whose curve
    has other dimensions is left out: the merge says which and why, sweep.json, sweep.nc,
    runs.csv and `snakesweep status` say so, and everything else is merged."""
    plan = computed("a=1,2,3,4", "case=ragged")
    out = merged(plan)
    assert out.returncode == 0, out.stderr
    odd = plan.point_of(plan.run_ids[3]).run_id
    lines = [line for line in out.stderr.splitlines() if odd in line]
    assert len(lines) == 1 and "is done but not in results/sweep.nc" in lines[0]
    assert "'ragged' is a result over 'ragged_dim_0', 'ragged_dim_1' here" in lines[0]
    ds = sweep()
    assert ds.sizes["ragged_dim_0"] == 11
    assert ds["ragged"].sel(a=1).values[:9].tolist() == list(range(9))
    assert np.isnan(ds["ragged"].sel(a=1).values[9:]).all()
    assert ds["status"].values.tolist() == ["done", "done", "done", "unmerged"]
    assert np.isnan(ds["y"].sel(a=4).item())
    index = json.loads(Path("results", "sweep.json").read_text())
    assert list(index["unmerged"]) == [odd] and index["runs"]["unmerged"] == 1
    table = Path("results", "runs.csv").read_text().splitlines()
    assert any(row.startswith(f"{odd},unmerged,") for row in table)
    assert misplaced(Path("results")) == {}
    status = snakesweep("status", "a=1,2,3,4", "case=ragged", cwd=shapes)
    assert status.returncode == 0, status.stderr
    assert "(1 done but not in results/sweep.nc)" in status.stdout
    assert odd in status.stdout.split("not in results/sweep.nc (", 1)[1]


def test_integers_past_64_bits_are_refused_when_planned(shapes: Path) -> None:
    """A swept integer that no 64-bit coordinate holds: one line naming the key, exit 2,
    nothing computed, nothing written."""
    for command in ("plan", "run", "status"):
        out = snakesweep(command, "a=18446744073709551616,1", cwd=shapes)
        assert out.returncode == 2, out.stderr
        assert out.stderr.splitlines() == [
            "snakesweep: swept key 'a': 18446744073709551616 lies outside the 64-bit "
            "integers a coordinate of sweep.nc holds (-2**63 to 2**63-1); sweep it as text "
            "(quoted: a='…'), or as smaller numbers"
        ]
        assert TRACEBACK not in out.stdout + out.stderr
    assert not Path("results").exists()
    out = snakesweep("plan", "a=9007199254740993,0.5", cwd=shapes)
    assert out.returncode == 2 and "9007199254740993 has no exact float" in out.stderr


def test_an_integer_no_float_holds_is_never_merged_as_a_float(shapes: Path) -> None:
    """np.uint64(2**64 - 1) beside a failed cell: 'big' is float in sweep.nc (NaN there), so
    that run is left out and named, never stored as 1.8446744073709552e19."""
    plan = computed("a=1,2,3", "case=big", "fail=[3]")
    out = merged(plan)
    assert out.returncode == 0, out.stderr
    first = plan.run_ids[0]
    assert f"run {first} is done but not in results/sweep.nc" in out.stderr
    assert "'big' holds 18446744073709551615, which sweep.nc cannot hold exactly" in out.stderr
    ds = sweep()
    assert ds["status"].values.tolist() == ["unmerged", "done", "failed"]
    assert ds["big"].values[1] == 2 and np.isnan(ds["big"].values[[0, 2]]).all()
    assert misplaced(Path("results")) == {}


def unreadable(root: Path, run_id: str) -> None:
    """Replace a done run's result by bytes that are no NetCDF, recorded as its result (a
    broken writer): it checks out, and cannot be read."""
    path = store.result_path(root / "results", run_id)
    path.write_bytes(b"not netcdf")
    meta_path = store.run_dir(root / "results", run_id) / store.META
    meta = json.loads(meta_path.read_text())
    meta.update(result_record(path))
    meta_path.write_text(json.dumps(meta, indent=2))


def merged_digest(root: Path) -> dict[str, str]:
    return {
        k: v
        for k, v in tree_digest(root / "results").items()
        if "/" not in k and not k.startswith(".")
    }


@pytest.mark.slow
def test_a_sweep_of_every_shape_merges_every_value(tmp_path: Path) -> None:
    """`snakesweep run` of runs whose results vary in coordinates, names and lengths: every
    value in sweep.nc at its cell; the run that does not fit named, and the only one out."""
    root = tmp_path
    write(
        root / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: shapesexp:main
        a: 0
        case: all
        fail: []
        """,
    )
    write(root / "shapesexp.py", EXPERIMENT)
    tally = Tally(
        "results of every shape (coordinates by run, named like a dimension, "
        "ragged, a run that does not fit)"
    )
    out = snakesweep("run", "a=1,2,3,4", "--cores", "2", cwd=root)
    tally.injected = 4
    assert out.returncode == 1, out.stderr[-3000:]
    assert "1 of 4 runs are done but not in results/sweep.nc" in out.stderr
    wrong = misplaced(root / "results")
    tally.wrong += len(wrong)
    with xr.open_dataset(root / "results" / "sweep.nc", engine=store.ENGINE) as ds:
        assert ds["w"].dims == ("a", "t") and ds["u"].dims == ("t",)
        assert ds.sizes["ragged_dim_0"] == 11 and "time" in ds.indexes
        left_out = ds["run_id"].values[ds["status"].values == "unmerged"].tolist()
    assert len(left_out) == 1
    assert f"run {left_out[0]} is done but not in results/sweep.nc" in out.stderr
    with xr.open_dataset(root / "results" / "sweep.nc", engine=store.ENGINE) as ds:
        ids = set(ds["run_id"].values.tolist())
    tallied(tally, root, ids, [out.stdout, out.stderr])
    assert wrong == {} and tally.clean, tally


@pytest.mark.slow
def test_a_merge_that_fails_keeps_the_previous_merged_files(tmp_path: Path) -> None:
    """The merge job fails (a run's result reads as done but cannot be read): Snakemake
    deletes none of the merged files; they are the previous merge's, byte for byte, and the
    run is named."""
    root = tmp_path
    write(
        root / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: shapesexp:main
        a: 0
        case: coords
        fail: []
        """,
    )
    write(root / "shapesexp.py", EXPERIMENT)
    tally = Tally("a merge that cannot read a run (the merge job fails)")
    first = snakesweep("run", "a=1,2,3", "--cores", "2", cwd=root)
    assert first.returncode == 0, first.stderr[-3000:]
    before = merged_digest(root)
    assert {"sweep.nc", "runs.csv", "sweep.json", "sweep.rrd"} <= set(before)
    tally.wrong += len(misplaced(root / "results"))  # what is kept below, byte for byte
    plan = json.loads(snakesweep("plan", "a=1,2,3", "--format", "json", cwd=root).stdout)
    broken = plan[1]["run_id"]
    unreadable(root, broken)
    tally.injected = 1
    out = snakesweep("run", "a=1,2,3", "--cores", "2", cwd=root)
    assert out.returncode != 0
    assert f"run {broken}: " in out.stderr and "cannot be read" in out.stderr
    assert merged_digest(root) == before
    with xr.open_dataset(root / "results" / "sweep.nc", engine=store.ENGINE) as ds:
        assert ds["status"].values.tolist() == ["done"] * 3
    tallied(tally, root, {str(p["run_id"]) for p in plan}, [out.stdout, out.stderr])
    assert tally.clean, tally


def tallied(tally: Tally, root: Path, expected: set[str], outputs: list[str]) -> None:
    """Fill in and record the row: runs not counted done, tracebacks shown (each run of
    these sweeps is computed once: no run is computed twice)."""
    tally.lost += len(expected - counted_done(root))
    tally.tracebacks += sum(text.count(TRACEBACK) for text in outputs)
    record(tally)
