"""The Python face of the results (``snakesweep.load``) and the ``show``/``runs`` commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import snakesweep
from conftest import snakesweep as cli
from conftest import write, write_logging_project
from snakesweep.api.results import ResultsError


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep of the logging experiment (x=1,2), made once for these tests."""
    root = write_logging_project(tmp_path_factory.mktemp("swept"))
    out = cli("run", "--cores", "2", cwd=root)
    assert out.returncode == 0, out.stderr
    return root


@pytest.mark.slow
def test_load_reads_the_dataset_and_the_run_table(swept: Path) -> None:
    res = snakesweep.load(swept / "results")
    assert len(res) == 2 and res.keys == ["x"]
    assert res.runs["x"].tolist() == [1, 2]
    assert res.runs["score"].tolist() == [1.0, 2.0]
    assert dict(res.dataset.sizes) == {"x": 2, "step": 3}
    assert repr(res) == f"<Results {str(swept / 'results')!r}: 2 runs (2 done)>"
    shown = res.filter(x=2)._repr_html_()  # what a notebook shows
    assert "1 run (1 done)</p>" in shown and "xr-wrap" in shown  # xarray's own view
    assert res.runs["run_id"][1] in shown and res.runs["run_id"][0] not in shown


@pytest.mark.slow
def test_filter_by_scalar_list_predicate_and_status(swept: Path) -> None:
    res = snakesweep.load(swept / "results")
    assert res.filter(x=2).runs["x"].tolist() == [2]
    assert res.filter(x=[1, 2], status="done").runs["x"].tolist() == [1, 2]
    assert res.filter(score=lambda s: s > 1.5).runs["x"].tolist() == [2]
    assert len(res.filter(status="failed")) == 0
    assert res.filter(x=2).dataset["score"].values.tolist() == [2.0]  # selected, as .sel
    with pytest.raises(ResultsError, match=r"filter: no column 'model' in .*known: .*x"):
        res.filter(model="mlp")


@pytest.mark.slow
def test_a_filter_selects_along_swept_dimensions_and_masks_what_is_no_grid(
    logging_project: Path,
) -> None:
    """As an xarray user expects: filtering on a swept key drops the other values of its
    dimension; cells that are no run of the filter's inside the selection are NaN."""
    out = cli("run", "x=1,2", "seed=7,8,9", "--cores", "2", cwd=logging_project)
    assert out.returncode == 0, out.stderr
    res = snakesweep.load(logging_project / "results")
    assert dict(res.dataset.sizes) == {"x": 2, "seed": 3, "step": 3}

    kept = res.filter(seed=[9, 7]).dataset
    assert dict(kept.sizes) == {"x": 2, "seed": 2, "step": 3}
    assert kept["seed"].values.tolist() == [7, 9]  # in the sweep's order
    assert kept["score"].values.tolist() == [[1.0, 1.0], [2.0, 2.0]]  # nothing masked
    assert kept.equals(res.dataset.sel(seed=[7, 9]))

    runs = res.runs.set_index(["x", "seed"])["run_id"]
    diagonal = res.filter(run_id=[runs[1, 7], runs[2, 8]]).dataset  # no grid: masked
    assert dict(diagonal.sizes) == {"x": 2, "seed": 2, "step": 3}
    assert diagonal["score"].values.tolist()[0][0] == 1.0
    assert diagonal["score"].values.tolist()[1][1] == 2.0
    assert all(v != v for v in (diagonal["score"][0, 1].item(), diagonal["score"][1, 0].item()))

    assert dict(res.filter(status="failed").dataset.sizes) == {"x": 0, "seed": 0, "step": 3}
    with pytest.raises(ResultsError, match=r"plot: loss: no run to draw \(0 runs here\)"):
        res.filter(status="failed").plot("loss", x="step")


@pytest.mark.slow
def test_filtered_parts_one_after_another_beside_the_whole_do_not_crash(tmp_path: Path) -> None:
    """Each filtered part opened the file for itself and kept a lazy view of it; with the
    whole sweep open beside them, netCDF's library crashed (SIGSEGV) a few parts on."""
    write(
        tmp_path / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: exp:main
          domain:
            a: [1, 2, 3]
            b: [x, y]
          repeats: 2
        a: 0
        b: x
        seed: 0
        """,
    )
    write(
        tmp_path / "exp.py",
        """
        import numpy


        def main(cfg, run):
            if cfg.a == 3 and cfg.b == "y":
                raise RuntimeError("boom")
            for s in range(3):
                run.log(step=s, loss=float(cfg.a) / (s + 1))
            return {"score": float(cfg.a) * 2, "maybe": float("nan") if cfg.b == "x" else 1.0,
                    "flag": cfg.b == "x", "curve": numpy.arange(5) * cfg.a}
        """,
    )
    swept = cli("run", "--cores", "2", cwd=tmp_path)
    assert swept.returncode == 1 and "2 of 12 runs failed" in swept.stderr  # a=3, b=y
    script = """
import snakesweep
r = snakesweep.load("results")
whole = r.dataset
for f in [dict(a=2), dict(a=[3, 1]), dict(b="y"), dict(status="done"),
          dict(score=lambda v: v > 4)]:
    part = r.filter(**f).dataset
    part.identical(whole)
    print(dict(part.sizes))
"""
    parts = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert parts.returncode == 0, parts.stderr
    assert (
        parts.stdout.splitlines()[-1]
        == "{'a': 1, 'b': 1, 'repeat': 2, 'curve_dim_0': 5, 'step': 3}"  # a=3, b=x
    )


@pytest.mark.slow
def test_plot_draws_as_the_report_does_or_along_the_dimensions_asked_for(swept: Path) -> None:
    res = snakesweep.load(swept / "results")

    def drawn(figure: Any) -> list[Any]:  # the panels with lines
        return [ax for ax in figure.axes if ax.get_visible() and ax.get_lines()]

    (curves,) = drawn(res.plot("loss"))  # as the report: curves over step, a line per x
    assert curves.get_xlabel() == "step" and len(curves.get_lines()) == 2
    panels = drawn(res.plot("loss", x="step", col="x"))
    assert len(panels) == 2 and [len(ax.get_lines()) for ax in panels] == [1, 1]
    (by_x,) = drawn(res.plot("loss", x="x", hue="step"))
    assert by_x.get_xlabel() == "x" and len(by_x.get_lines()) == 3
    (only,) = drawn(res.filter(x=2).plot("loss", x="step"))  # the filter's runs alone
    assert len(only.get_lines()) == 1
    assert type(res.plot()).__name__ == "Figure"  # the first numeric result
    with pytest.raises(ResultsError, match=r"plot: loss: col='seed' is not a dimension .*x, step"):
        res.plot("loss", col="seed")
    with pytest.raises(ResultsError, match=r"plot: no variable 'lost' in .*; numeric: .*loss"):
        res.plot("lost")


@pytest.mark.slow
def test_long_and_wide_dataframes(swept: Path) -> None:
    res = snakesweep.load(swept / "results")
    long = res.to_dataframe()
    assert list(long.columns) == ["run_id", "x", "variable", "step", "value"]
    loss = long[(long.variable == "loss") & (long.x == 2)]
    assert loss["step"].tolist() == [0, 1, 2]
    assert loss["value"].tolist() == pytest.approx([0.5, 1 / 3, 0.25])
    assert long[(long.variable == "loss") & (long.x == 1)]["step"].tolist() == [0, 1]
    assert long[long.variable == "score"]["value"].tolist() == [1.0, 2.0]
    wide = res.filter(x=1).to_dataframe(wide=True)
    assert len(wide) == 1 and wide["score"].tolist() == [1.0]
    assert {"run_id", "status", "x", "score"} <= set(wide.columns)


@pytest.mark.slow
def test_one_run_config_meta_logs_artifacts_and_its_dataset(swept: Path) -> None:
    res = snakesweep.load(swept / "results")
    run_id = res.runs["run_id"][1]
    assert res.config(run_id[:6])["x"] == 2
    assert res.meta(run_id)["metadata"]["converged"] is True
    assert set(res.logs(run_id)) == {"stdout", "stderr"}
    assert res[run_id]["loss"].values.tolist() == pytest.approx([0.5, 1 / 3, 0.25])
    table = res.artifacts("weights.npy")
    assert table["x"].tolist() == [1, 2]
    assert table["metadata"][0] == {"dtype": "float32", "shape": [4]}
    assert Path(table["path"][1]).is_file()


@pytest.mark.slow
def test_load_works_on_a_copied_results_directory(swept: Path, tmp_path: Path) -> None:
    shutil.copytree(swept / "results", tmp_path / "elsewhere")
    res = snakesweep.load(tmp_path / "elsewhere")
    assert res.filter(x=1).to_dataframe(wide=True)["score"].tolist() == [1.0]
    assert Path(res.artifacts()["path"][0]).is_relative_to(tmp_path)


@pytest.mark.slow
def test_show_tells_a_run_and_runs_lists_them(swept: Path) -> None:
    res = snakesweep.load(swept / "results")
    run_id = res.runs["run_id"][1]
    shown = cli("show", run_id[:5], cwd=swept)
    assert shown.returncode == 0, shown.stderr
    assert f"run {run_id}: done" in shown.stdout
    assert "last logged step: 2 (loss=0.25" in shown.stdout
    assert '"converged": true' in shown.stdout and "weights.npy" in shown.stdout
    listed = cli("runs", "--where", "x=2", "--format", "json", cwd=swept)
    assert [r["x"] for r in json.loads(listed.stdout)] == [2]
    table = cli("runs", "--status", "done", cwd=swept)
    assert "2 of 2 runs" in table.stdout
    bad = cli("runs", "--where", "model=mlp", cwd=swept)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    unknown = cli("show", "ffff", cwd=swept)
    assert unknown.returncode == 2
    assert "run 'ffff': no run of 'results' starts so" in unknown.stderr


@pytest.mark.slow
def test_from_a_run_its_config_beats_the_tree_and_the_domain_beats_it(project: Path) -> None:
    first = cli("run", "x=1", "offset=5", "name=first", "--cores", "1", cwd=project)
    assert first.returncode == 0, first.stderr
    [earlier] = [p.name for p in (project / "results" / "runs").iterdir()]
    config = (project / "conf" / "config.yaml").read_text()
    (project / "conf" / "config.yaml").write_text(
        config.replace("offset: 0", "offset: 1").replace("name: plain", "name: tree") + "extra: 1\n"
    )
    again = cli("run", "--from", earlier[:6], "name=cli", "--cores", "2", cwd=project)
    assert again.returncode == 0, again.stderr
    res = snakesweep.load(project / "results")
    assert res.runs["x"].tolist() == [1, 2, 3]  # the domain (x: 1,2,3) beats the loaded x=1
    assert res.runs["y"].tolist() == [15, 25, 35]  # the loaded offset=5 beats the tree's 1
    for run_id in res.run_ids:
        config = res.config(run_id)
        assert config["name"] == "cli" and config["extra"] == 1  # command line; tree only
    listed = cli("plan", "--from", earlier, "name=cli", "--format", "json", cwd=project)
    assert {p["status"] for p in json.loads(listed.stdout)} == {"done"}


def test_from_an_unknown_or_ambiguous_run_is_one_line(project: Path) -> None:
    for name in ("aa11", "aa22"):
        (project / "results" / "runs" / f"{name}{'0' * 12}").mkdir(parents=True)
    unknown = cli("plan", "--from", "ffff", cwd=project)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "snakesweep: run 'ffff': no run of 'results' starts so (`snakesweep runs` lists them)"
    )
    ambiguous = cli("plan", "--from", "aa", cwd=project)
    assert ambiguous.returncode == 2
    assert ambiguous.stderr.strip() == (
        "snakesweep: run 'aa' is ambiguous: aa11000000000000, aa22000000000000; give more of its id"
    )


def test_a_loaded_config_leaves_the_groups_the_command_line_selects() -> None:
    from snakesweep.planning.from_run import loaded_overrides

    loaded = {
        "model": {"kind": "mlp", "width": 16},
        "lr": 0.1,
        "tags": ["a", "b"],
        "empty": {},
        "note": "it's ${x}",
    }
    assert loaded_overrides(loaded, ["model"]) == [
        "++lr=0.1",
        "++tags=['a','b']",
        "++empty={}",
        "++note='it\\'s \\${x}'",
    ]


@pytest.mark.slow
def test_from_restores_its_groups_and_leaves_what_the_command_line_and_tree_set(
    project: Path,
) -> None:
    write(
        project / "conf" / "config.yaml",
        """
        defaults:
          - model: mlp
          - _self_
        snakesweep:
          experiment: tinyexp:main
        x: 1
        lr: 0.1
        b: ${lr}
        offset: 0
        fail_on: null
        sleep: 0
        """,
    )
    write(project / "conf" / "model" / "mlp.yaml", "kind: mlp\ndepth: 2\n")
    write(project / "conf" / "model" / "cnn.yaml", "kind: cnn\nkernel: 3\n")
    first = cli("run", "model=cnn", "lr=0.5", "+extra=1", "--cores", "1", cwd=project)
    assert first.returncode == 0, first.stderr
    [earlier] = [p.name for p in (project / "results" / "runs").iterdir()]
    again = cli("run", "--from", earlier, "lr=0.2", "+extra=2", "--cores", "1", cwd=project)
    assert again.returncode == 0, again.stderr
    res = snakesweep.load(project / "results")
    [new] = [r for r in res.run_ids if r != earlier]
    config = res.config(new)
    assert config["model"] == {"kind": "cnn", "kernel": 3}  # the loaded run's group choice
    assert (config["lr"], config["b"], config["extra"]) == (0.2, 0.2, 2)
