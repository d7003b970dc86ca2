"""The direct reader and the incremental merge: the same Dataset as ``xr.load_dataset`` per
run, and the same files as a full merge, reading only what changed."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import write
from snakesweep import store
from snakesweep.api.plans import make_plan
from snakesweep.execute.execution import execute_run
from snakesweep.merge import dataset, layouts
from snakesweep.merge import index as merge_index
from snakesweep.merge.dataset import merge_runs
from snakesweep.merge.sweep import write_sweep
from snakesweep.merge.table import run_table
from snakesweep.planning.plan import Plan
from snakesweep.provenance.record import sweep_record
from snakesweep.store import result_record

# Every kind of result the reference path merges: numbers of each dtype, curves with and
# without coordinates, own coordinates of other lengths in other runs (an outer join),
# a dtype that differs between runs, a result some runs lack, attributes on results and on
# coordinates, text labels, a 2-D result, logged steps. `bump.txt` changes a run's result.
RICH = """
from pathlib import Path

import numpy as np
import xarray as xr


def main(cfg, run):
    x = cfg.x
    bump = float(Path("bump.txt").read_text()) if Path("bump.txt").exists() else 0.0
    if cfg.fail_on is not None and x == cfg.fail_on or Path(f"fail{x}.txt").exists():
        raise ValueError("the failing point")
    for step in range(x + 1):
        run.log(step=step, loss=1.0 / (step + x) + bump)
        if step % 2 == 0:
            run.log(step=step, even=step)
    out = {
        "y": x * 10 + cfg.offset,
        "score": x / 3 + bump,
        "ok": x % 2 == 0,
        "half": np.float32(x / 2),
        "curve": np.arange(3) * x,
        "per_class": xr.DataArray(
            np.arange(2.0) + x, dims=["cls"],
            coords={"cls": ("cls", ["a", "b"], {"long_name": "class", "tag": cfg.tag})},
            attrs={"units": "m", "n": 2, "scale": [1.5, 2.5], "note": f"per {cfg.tag}"}),
        "hist": xr.DataArray(np.arange(x, dtype="int32"), dims=["bin"], attrs={"kind": "counts"},
                             coords={"bin": ("bin", (np.arange(x) + x) * 10, {"tag": cfg.tag})}),
        "grid": xr.DataArray(np.ones((2, x)) * x, dims=["row", "col"],
                             coords={"row": [0, 1], "col": np.arange(x)}),
        "flags": xr.DataArray(np.array([x > 1, x > 2]), dims=["flag"]),
    }
    if x >= 2:
        out["late"] = x * 1.5
    if x == 3:
        out["y"] = float(out["y"]) + 0.5
    return out
"""


def rich_project(root: Path, module: str = "richexp") -> Path:
    sys.modules.pop(module, None)
    write(
        root / "conf" / "config.yaml",
        f"""
        snakesweep:
          experiment: {module}:main
        x: 1
        offset: 0
        fail_on: null
        tag: class
        opt:
          lr: 1
        """,
    )
    write(root / f"{module}.py", RICH)
    return root


@pytest.fixture
def rich(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = rich_project(tmp_path / "project")
    monkeypatch.chdir(root)
    yield root
    sys.modules.pop("richexp", None)


def plan_of(*overrides: str) -> Plan:
    return make_plan("conf", "config", list(overrides), "results")


def run_all(plan: Plan, skip: Collection[str] = ()) -> None:
    for run_id in plan.run_ids:
        if run_id not in skip:
            execute_run(plan, run_id, "results")


def typed(attrs: dict[str, object]) -> dict[str, object]:
    """Attributes as comparable values, their types included."""
    return {
        k: (type(v).__name__, getattr(v, "dtype", None), np.asarray(v).tolist())
        for k, v in attrs.items()
    }


def netcdf_bytes(ds: xr.Dataset, path: Path) -> bytes:
    ds.to_netcdf(path, engine=store.ENGINE)
    return path.read_bytes()


def assert_same_merge(plan: Plan, tmp_path: Path) -> xr.Dataset:
    """The direct reader (not its fallback) gives the reference Dataset, dtypes and bytes."""
    reference = merge_runs(plan, "results", reader="xarray")
    merged = dataset.merged(plan, "results")
    assert merged.shapes is not None, "the direct reader fell back to the reference"
    direct = merged.dataset
    xr.testing.assert_identical(direct, reference)
    for name, var in reference.variables.items():
        assert direct[name].dtype == var.dtype, name
        assert typed(direct[name].attrs) == typed(var.attrs), name
    assert netcdf_bytes(direct, tmp_path / "direct.nc") == netcdf_bytes(
        reference, tmp_path / "reference.nc"
    )
    return direct


def test_the_direct_reader_gives_the_reference_dataset(rich: Path, tmp_path: Path) -> None:
    plan = plan_of("x=1,2,3,4", "offset=0,100", "fail_on=4")
    pending = plan.run_ids[1]
    run_all(plan, skip={pending})
    ds = assert_same_merge(plan, tmp_path)
    # the cases are really there: an outer join, promotions, gaps, attributes, labels
    assert ds["hist"].dims == ("x", "offset", "bin")
    assert list(ds["bin"].values) == [10, 20, 30, 40, 50]
    assert ds["hist"].dtype == np.float64 and ds["y"].dtype == np.float64
    assert ds["half"].dtype == np.float32 and ds["flags"].dtype == np.float64
    assert ds["late"].sel(x=1).isnull().all() and ds["late"].sel(x=2, offset=100) == 3.0
    assert ds["per_class"].attrs["note"] == "per class"
    assert ds["cls"].attrs == {"long_name": "class", "tag": "class"}
    assert ds["hist"].attrs == {"kind": "counts"} and ds["bin"].attrs == {"tag": "class"}
    assert list(ds["cls"].values) == ["a", "b"] and ds["grid"].dims[-2:] == ("row", "col")
    assert ds["even"].sel(x=3, offset=0, step=1).isnull() and ds["loss"].sizes["step"] == 4
    assert str(ds["status"].sel(x=4, offset=0).item()) == "failed"
    assert str(ds["status"].values[plan.point_of(pending).index]) == "pending"


def test_logged_runs_merge_as_the_reference_merges_them(
    logging_project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The logging experiment of the other tests: steps of other lengths, keys logged at
    some steps only, failed runs."""
    monkeypatch.chdir(logging_project)
    sys.modules.pop("logexp", None)
    plan = plan_of("x=1,2,3", "fail=false,true")
    run_all(plan)
    ds = assert_same_merge(plan, tmp_path)
    assert ds.sizes["step"] == 4 and ds["loss"].sel(x=1, fail=False, step=3).isnull()
    assert list(ds["status"].sel(fail=True).values) == ["failed"] * 3
    sys.modules.pop("logexp", None)


def test_complete_results_keep_their_dtypes(rich: Path, tmp_path: Path) -> None:
    """With every run done and of one layout: ints stay ints, bools bools, coordinates keep
    their attributes (nothing is aligned)."""
    plan = plan_of("x=2", "offset=range(0,6)")
    run_all(plan)
    ds = assert_same_merge(plan, tmp_path)
    assert ds["y"].dtype == np.int64 and ds["ok"].dtype == bool and ds["flags"].dtype == bool
    assert ds["hist"].dtype == np.int32 and ds["curve"].dtype == np.int64


def test_results_of_every_run_are_read_from_their_bytes(rich: Path, tmp_path: Path) -> None:
    """Files of one layout are read as that layout: one parse, every value its own run's."""
    plan = plan_of("x=3", "offset=range(0,8)")
    run_all(plan)
    parsed = count_parses()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(layouts._Layout, "parse", classmethod(parsed))
        ds = merge_runs(plan, "results")
    assert len(parsed.paths) == 1
    assert sorted(ds["y"].values.ravel().tolist()) == [30.5 + o for o in range(8)]
    assert ds["y"].dtype == np.float64


def test_a_file_of_another_layout_is_read_as_one(rich: Path, tmp_path: Path) -> None:
    """Same size, other bytes outside the values (an attribute of the same length): not
    taken for the layout it resembles; the attributes are the first run's."""
    plan = plan_of("x=2", "tag=class,glass")
    run_all(plan)
    sizes = {store.result_path("results", r).stat().st_size for r in plan.run_ids}
    assert len(sizes) == 1
    parsed = count_parses()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(layouts._Layout, "parse", classmethod(parsed))
        merged = assert_same_merge(plan, tmp_path)
    assert len(parsed.paths) == 2
    assert merged["per_class"].attrs["note"] == "per class"
    assert merged["per_class"].sel(tag="glass").values.tolist() == [2.0, 3.0]
    other = plan_of("x=2", "tag=glass,class")
    assert assert_same_merge(other, tmp_path)["per_class"].attrs["note"] == "per glass"


def test_coordinates_keep_the_first_runs_attributes(rich: Path, tmp_path: Path) -> None:
    """Aligned (bin: other labels in each run) or not (cls), as the reference keeps them."""
    for order in ("glass,class", "class,glass"):
        plan = plan_of("x=2,3", f"tag={order}")
        run_all(plan, skip={r for r in plan.run_ids if store.result_path("results", r).exists()})
        ds = assert_same_merge(plan, tmp_path)
        first = order.split(",")[0]
        assert ds["bin"].attrs["tag"] == ds["cls"].attrs["tag"] == first
        assert ds["per_class"].attrs["note"] == f"per {first}"


class count_parses:  # noqa: N801 - used as a function
    """``_Layout.parse``, counting the files it parses."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.real = layouts._Layout.parse.__func__  # type: ignore[attr-defined]

    def __call__(self, cls, path, raw):  # type: ignore[no-untyped-def]
        self.paths.append(path)
        return self.real(cls, path, raw)


def rerecord(run_id: str) -> None:
    """Record a changed result.nc in its meta.json, as a run that wrote it would have."""
    meta_path = store.run_dir("results", run_id) / store.META
    meta = json.loads(meta_path.read_text())
    meta.update(result_record(store.result_path("results", run_id)))
    meta_path.write_text(json.dumps(meta, indent=2))


def test_a_coordinate_of_no_dimension_is_read_directly(rich: Path, tmp_path: Path) -> None:
    """A coordinate that is no dimension's, held by one run only: per run, as the reference
    places it (text, "" where a run lacks it)."""
    plan = plan_of("x=2", "offset=0,1")
    run_all(plan)
    run_id = plan.run_ids[0]
    path = store.result_path("results", run_id)
    ds = xr.load_dataset(path, engine=store.ENGINE).assign_coords(
        label=("cls", ["first", "second"])
    )
    ds.to_netcdf(tmp_path / "aux.nc", engine=store.ENGINE)
    shutil.copy(tmp_path / "aux.nc", path)
    rerecord(run_id)
    merged = assert_same_merge(plan, tmp_path)
    assert merged["label"].dims == ("offset", "cls")
    assert merged["label"].values.tolist() == [["first", "second"], ["", ""]]
    assert "label" in merged.coords and "label" in merged["per_class"].coords


def test_curves_of_other_lengths_without_coordinates_are_padded(rich: Path, tmp_path: Path) -> None:
    """Positions are their labels: the shorter curve gets NaN at its end, in both readers."""
    plan = plan_of("x=2", "offset=0,1")
    run_all(plan)
    run_id = plan.run_ids[0]
    path = store.result_path("results", run_id)
    ds = xr.load_dataset(path, engine=store.ENGINE)
    ds = ds.drop_vars("curve").assign(curve=("curve_dim_0", np.arange(5)))
    ds.to_netcdf(tmp_path / "long.nc", engine=store.ENGINE)
    shutil.copy(tmp_path / "long.nc", path)
    rerecord(run_id)
    merged = assert_same_merge(plan, tmp_path)
    assert merged["curve"].sel(offset=0).values.tolist() == [0, 1, 2, 3, 4]
    assert merged["curve"].sel(offset=1).values[:3].tolist() == [0, 2, 4]
    assert np.isnan(merged["curve"].sel(offset=1).values[3:]).all()


def test_unreadable_results_are_reported_as_the_reference_reports_them(rich: Path) -> None:
    plan = plan_of("x=2", "offset=0,1,2")
    run_all(plan)
    broken = plan.run_ids[1:]
    for run_id in broken:
        store.result_path("results", run_id).write_bytes(b"not netcdf")
        rerecord(run_id)
    errors = []
    for reader in ("xarray", "direct"):
        with pytest.raises(ExceptionGroup) as info:
            merge_runs(plan, "results", reader=reader)  # type: ignore[arg-type]
        errors.append([(e.run_id, str(e)) for e in info.value.exceptions])
    assert errors[0] == errors[1] and [r for r, _ in errors[0]] == broken


# --- incremental -----------------------------------------------------------------------


class Reads:
    """Which result files a merge reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs: list[str] = []
        real = layouts.Reader.add

        def add(reader, run_id, path):  # type: ignore[no-untyped-def]
            self.runs.append(run_id)
            return real(reader, run_id, path)

        monkeypatch.setattr(layouts.Reader, "add", add)

    def take(self) -> list[str]:
        out, self.runs = self.runs, []
        return out


MERGED = (
    "sweep.nc",
    "runs.csv",
    "metrics.json",
    "provenance.json",
    "provenance.diff",
    "sweep.json",
)


def merged_files() -> dict[str, bytes]:
    """The merged files' bytes (all but sweep.rrd, whose ids differ from merge to merge)."""
    out = {name: Path("results", name).read_bytes() for name in MERGED}
    out.update({f"plots/{p.name}": p.read_bytes() for p in Path("results", "plots").iterdir()})
    return out


def assert_as_full_merge(plan: Plan) -> None:
    """What the incremental merge wrote is what a merge of every run writes."""
    incremental = merged_files()
    Path("results", store.MERGE_INDEX).unlink()
    Path("results", store.MERGE_METAS).unlink()
    write_sweep(plan, "results")
    assert merged_files() == incremental
    with xr.open_dataset(Path("results", "sweep.nc"), engine=store.ENGINE) as ds:
        reference = merge_runs(plan, "results", reader="xarray")
        xr.testing.assert_identical(
            ds.drop_attrs(deep=False)[list(reference.data_vars)],
            reference.drop_attrs(deep=False)[list(reference.data_vars)],
        )


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


def test_one_new_run_is_the_only_one_read(rich: Path, reads: Reads) -> None:
    plan = plan_of("x=1,2,3", "offset=0,100")
    last = plan.run_ids[-1]
    run_all(plan, skip={last})
    write_sweep(plan, "results")
    assert len(reads.take()) == len(plan.run_ids) - 1
    execute_run(plan, last, "results")
    write_sweep(plan, "results")
    assert reads.take() == [last]
    assert_as_full_merge(plan)


def test_a_new_run_with_longer_curves_widens_what_was_merged(rich: Path, reads: Reads) -> None:
    """The new run logs more steps, has more bins: the union grows, the others' values are
    placed in it from sweep.nc (ints become floats; coordinates lose their attributes)."""
    plan = plan_of("x=1,2,3,4")
    last = plan.run_ids[-1]
    run_all(plan, skip={last})
    write_sweep(plan, "results")
    reads.take()
    execute_run(plan, last, "results")
    write_sweep(plan, "results")
    assert reads.take() == [last]
    with xr.open_dataset(Path("results", "sweep.nc"), engine=store.ENGINE) as ds:
        assert ds.sizes["step"] == 5 and list(ds["bin"].values) == [10, 20, 30, 40, 50, 60, 70]
    assert_as_full_merge(plan)


def test_runs_that_fill_several_cells(rich: Path, tmp_path: Path, reads: Reads) -> None:
    """Points with equal configs share a run: its values fill each of their cells."""
    plan = plan_of("x=1,2,3", "opt.lr=1,2", "opt={lr:3}")
    assert len(plan.run_ids) * 2 == len(plan.points)
    run_all(plan, skip={plan.run_ids[-1]})
    ds = assert_same_merge(plan, tmp_path)
    assert (ds["score"].sel({"opt.lr": 1}) == ds["score"].sel({"opt.lr": 2})).sum() == 2
    write_sweep(plan, "results")
    reads.take()
    execute_run(plan, plan.run_ids[-1], "results")
    write_sweep(plan, "results")
    assert reads.take() == [plan.run_ids[-1]]
    assert_as_full_merge(plan)


def test_a_changed_result_is_read_again(rich: Path, reads: Reads) -> None:
    plan = plan_of("x=1,2,3", "offset=0,100")
    run_all(plan)
    write_sweep(plan, "results")
    reads.take()
    changed = plan.run_ids[2]
    Path("bump.txt").write_text("0.25")
    execute_run(plan, changed, "results")
    write_sweep(plan, "results")
    assert reads.take() == [changed]
    with xr.open_dataset(Path("results", "sweep.nc"), engine=store.ENGINE) as ds:
        index = plan.point_of(changed).index
        assert ds["score"].values[index] == pytest.approx(2 / 3 + 0.25)
    assert_as_full_merge(plan)


def test_a_run_that_fails_and_then_succeeds(rich: Path, reads: Reads) -> None:
    """A done run computed again fails: its cells become NaN and the complete ints of every
    other run floats, read from sweep.nc; computed again once more it succeeds: they are
    ints again, exactly, still from sweep.nc."""
    plan = plan_of("x=1,2,3", "offset=0,100")
    run_all(plan)
    write_sweep(plan, "results")
    reads.take()
    victim = plan.run_ids[0]
    Path("fail1.txt").touch()
    assert execute_run(plan, victim, "results").status == "failed"
    write_sweep(plan, "results")
    assert reads.take() == []
    with xr.open_dataset(Path("results", "sweep.nc"), engine=store.ENGINE) as ds:
        assert ds["curve"].dtype == np.float64
        assert np.isnan(ds["curve"].values[plan.point_of(victim).index]).all()
    assert_as_full_merge(plan)
    reads.take()
    Path("fail1.txt").unlink()
    execute_run(plan, victim, "results")
    write_sweep(plan, "results")
    assert reads.take() == [victim]
    with xr.open_dataset(Path("results", "sweep.nc"), engine=store.ENGINE) as ds:
        assert ds["curve"].dtype == np.int64 and ds["ok"].dtype == bool
    assert_as_full_merge(plan)


def test_a_merge_of_the_same_runs_reads_none(rich: Path, reads: Reads) -> None:
    plan = plan_of("x=1,2", "offset=0,100")
    run_all(plan)
    write_sweep(plan, "results")
    before = merged_files()
    reads.take()
    write_sweep(plan, "results")
    assert reads.take() == [] and merged_files() == before


def test_a_damaged_sweep_nc_means_a_full_merge(rich: Path, reads: Reads) -> None:
    plan = plan_of("x=1,2", "offset=0,100")
    run_all(plan)
    write_sweep(plan, "results")
    good = Path("results", "sweep.nc").read_bytes()
    reads.take()
    damaged = bytearray(good)
    for at in range(len(damaged) // 2, len(damaged)):
        damaged[at] = 0
    Path("results", "sweep.nc").write_bytes(bytes(damaged))
    write_sweep(plan, "results")
    assert sorted(reads.take()) == sorted(plan.run_ids)
    assert Path("results", "sweep.nc").read_bytes() == good


def test_an_index_of_another_layout_is_not_used(rich: Path, reads: Reads) -> None:
    small = plan_of("x=1,2", "offset=0,100")
    run_all(small)
    write_sweep(small, "results")
    reads.take()
    wider = plan_of("x=1,2", "offset=0,100,200")
    run_all(wider, skip=set(small.run_ids))
    write_sweep(wider, "results")
    assert sorted(reads.take()) == sorted(wider.run_ids)
    assert_as_full_merge(wider)


def test_a_sweep_json_that_records_another_sweep_nc_means_a_full_merge(
    rich: Path, reads: Reads
) -> None:
    plan = plan_of("x=1,2", "offset=0,100")
    run_all(plan)
    write_sweep(plan, "results")
    reads.take()
    index = json.loads(Path("results", "sweep.json").read_text())
    index["files"]["sweep.nc"]["sha256"] = "0" * 64
    Path("results", "sweep.json").write_text(json.dumps(index))
    assert merge_index.previous("results", plan.layout_digest) is None
    write_sweep(plan, "results")
    assert sorted(reads.take()) == sorted(plan.run_ids)


def test_shapes_are_recorded_exactly(rich: Path) -> None:
    """Every shape the index records reads back as the same shape (same key, same attrs)."""
    plan = plan_of("x=1,2,3", "offset=0")
    run_all(plan)
    merged = dataset.merged(plan, "results")
    assert merged.shapes is not None
    for shape in merged.shapes.values():
        assert shape.key is not None
        again = merge_index.RunShape.decode(json.loads(json.dumps(shape.encoded)))
        assert again.key == shape.key
        for name, var in shape.variables.items():
            got = again.variables[name]
            assert (got.dims, got.shape, got.dtype) == (var.dims, var.shape, var.dtype)
            assert typed(got.attrs) == typed(var.attrs)
        for dim, coord in shape.coords.items():
            assert again.coords[dim].identical(coord)
            assert again.coords[dim].encoding.keys() == coord.encoding.keys()


def test_cached_metas_give_the_same_tables_and_provenance(rich: Path) -> None:
    """runs.csv and provenance.json, made from metas.json, are those made from every
    run's whole meta.json."""
    plan = plan_of("x=1,2,3", "offset=0,100", "fail_on=2")
    run_all(plan, skip={plan.run_ids[0]})
    write_sweep(plan, "results")
    cached = json.loads(Path("results", store.MERGE_METAS).read_text())
    assert len(cached["runs"]) == len(plan.run_ids) - 1
    first = merged_files()
    write_sweep(plan, "results")  # from the cache
    assert merged_files() == first
    whole = {r: store.read_meta("results", r) for r in plan.run_ids}
    record = sweep_record(whole)
    assert record["newest_run"] and record["versions"] and record["system"]
    assert Path("results", "provenance.json").read_text() == json.dumps(record, indent=2) + "\n"
    table = run_table(plan, "results", merge_runs(plan, "results"), whole)
    assert Path("results", "runs.csv").read_text() == table.to_csv(index=False)
    assert sorted(table["status"]) == ["done"] * 3 + ["failed"] * 2 + ["pending"]
    for run_id in plan.run_ids[1:]:  # the cache keeps what the merge reads, not the file
        meta = whole[run_id]
        assert meta is not None
        assert cached["runs"][run_id][4] == merge_index.slim(meta)
        assert "versions" not in cached["runs"][run_id][4].get("provenance", {})
