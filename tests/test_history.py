"""History: the sweep of each git revision, read through DVC, stacked along ``over_time``.

The integration test commits three sweeps with real ``dvc repro`` and ``git commit``, pushes
them to a local remote, deletes the cache, and reads them back with ``snakesweep history``.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import snakesweep, tool, write
from snakesweep.cli.init import scaffold
from snakesweep.dvc.history import ABSENT, HistoryError, Revision, list_revisions, stack_history
from test_recording import read

pytestmark = pytest.mark.usefixtures("tool_env")

NAN = float("nan")


def dvc_project(project: Path) -> Path:
    """The ``project`` fixture with the workflow and dvc.yaml ``snakesweep init`` writes, in a
    new git and DVC repository (committed; no results yet)."""
    files = scaffold(project, "tinyexp:main").files
    for name in ("workflow/Snakefile", "dvc.yaml", "results/.gitignore"):
        write(project / name, files[name])
    write(project / ".gitignore", "calls.txt\nsleeping.txt\n")
    tool("git", "init", "-q", "-b", "main", cwd=project)
    tool("dvc", "init", "-q", cwd=project)
    return commit(project, "a sweep, not run yet")


def commit(repo: Path, message: str) -> Path:
    tool("git", "add", "-A", cwd=repo)
    tool("git", "commit", "-qm", message, cwd=repo)
    return repo


def head(repo: Path, rev: str = "HEAD") -> str:
    return tool("git", "rev-parse", rev, cwd=repo).stdout.strip()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def history(repo: Path, *args: str) -> tuple[xr.Dataset, list[str]]:
    out = snakesweep("history", *args, cwd=repo)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return xr.load_dataset(repo / "results" / "history.nc"), out.stderr.splitlines()


@pytest.mark.slow
def test_history_stacks_three_dvc_tracked_revisions_along_over_time(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    remotes = tmp_path_factory.mktemp("remotes")
    repo = dvc_project(project)
    tool("dvc", "remote", "add", "-d", "store", str(remotes / "old"), cwd=repo)
    commit(repo, "a DVC remote")
    conf, source = repo / "conf" / "config.yaml", repo / "tinyexp.py"

    def sweep_and_commit(message: str) -> str:
        tool("dvc", "repro", cwd=repo)
        commit(repo, message)
        tool("dvc", "push", "-q", cwd=repo)
        return head(repo)

    revisions = [sweep_and_commit("three points")]
    edit(source, "cfg.x * 10", "cfg.x * 20")
    revisions.append(sweep_and_commit("y doubled"))
    edit(conf, "x: 1,2,3", "x: 1,2,3,4")
    revisions.append(sweep_and_commit("four points"))
    # The remote moves; the revisions above name its old place, which is gone, and the
    # local cache is gone too: history reads them from where the current config says.
    (remotes / "old").rename(remotes / "new")
    tool("dvc", "remote", "modify", "store", "url", str(remotes / "new"), cwd=repo)
    edit(conf, "x: 1,2,3,4", "x: 1,2,3,4\n      offset: 0,5")
    sweep_and_commit("the remote moved, and offset is swept too")
    shutil.rmtree(repo / ".dvc" / "cache")

    ds, lines = history(repo, "HEAD~4..HEAD~1")
    assert ds.sizes["over_time"] == 3
    assert ds["over_time"].values.tolist() == [0, 1, 2]
    assert ds["commit"].values.tolist() == revisions
    times = [
        datetime.fromtimestamp(
            int(tool("git", "show", "-s", "--format=%ct", r, cwd=repo).stdout), UTC
        ).replace(tzinfo=None)
        for r in revisions
    ]
    assert ds["commit_time"].values.tolist() == [np.datetime64(t, "ns").item() for t in times]
    # edited, then `dvc repro`, then committed: those runs saw a dirty tree (gaitmap's rule)
    assert ds["debug"].values.tolist() == [False, True, True]
    assert ds["x"].values.tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(
        ds["y"].values, [[10, 20, 30, NAN], [20, 40, 60, NAN], [20, 40, 60, 80]]
    )
    assert ds["status"].values.tolist() == [
        ["done"] * 3 + [ABSENT],
        ["done"] * 3 + [ABSENT],
        ["done"] * 4,
    ]
    # same config, same run id: only the code changed between the first two revisions
    assert ds["run_id"].values[0, :3].tolist() == ds["run_id"].values[1, :3].tolist()
    assert ds["curve"].dims == ("over_time", "x", "curve_dim_0")
    assert ds.attrs["snakesweep_history"] == "HEAD~4..HEAD~1"
    assert len([ln for ln in lines if ln.startswith("snakesweep: [")]) == 3
    assert "3 revision(s) stacked along over_time in results/history.nc" in lines[-1]

    recording = read(repo / "results" / "history.rrd")
    assert recording.timeline == "log_tick"
    assert recording["/y"].times["log_tick"] == [0, 1, 2]
    assert recording["/y"].archetypes == {"BarChart"}

    # Every commit of the branch: the first two were not run, and the three sweeps over x
    # alone are left out beside the newest, which sweeps offset too.
    ds, lines = history(repo)
    assert ds["commit"].values.tolist() == [head(repo)]
    assert set(ds["run_id"].dims) == {"over_time", "x", "offset"}
    skipped = [ln for ln in lines if ": skipped: " in ln or ": left out: " in ln]
    assert len(skipped) == 5
    assert all(
        ln.endswith(
            "skipped: its dvc.lock records no results/sweep.nc (the sweep was not run there)"
        )
        for ln in skipped[:2]
    )
    assert all(
        ln.endswith("left out: its sweep is over (x), the newest over (x, offset)")
        for ln in skipped[2:]
    )
    assert tool("git", "status", "--porcelain", cwd=repo).stdout == ""  # history is not tracked

    # a default remote DVC cannot use stops the history in one line, before any revision
    tool("dvc", "remote", "add", "-d", "cloud", "s3://snakesweep-tests/none", cwd=repo)
    out = snakesweep("history", cwd=repo)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        "snakesweep: history: DVC cannot use its config or default remote: s3 is supported, "
        "but requires 'dvc-s3' to be installed"
    ]


def test_a_bad_range_or_one_without_results_gets_one_line_and_status_2(project: Path) -> None:
    repo = dvc_project(project)
    for args, line in [
        (
            ["no-such-rev"],
            "snakesweep: history: 'no-such-rev' is not a revision range git "
            "knows (fatal: bad revision 'no-such-rev')",
        ),
        (
            [],
            "snakesweep: history: none of the 1 revision(s) of 'HEAD' has a results/sweep.nc "
            "that DVC can give (`dvc repro`, then commit dvc.lock and `dvc push`)",
        ),
        (["--max-count", "0"], "snakesweep: history: --max-count 0: expected a positive number"),
    ]:
        out = snakesweep("history", *args, cwd=repo)
        assert out.returncode == 2, out.stderr
        assert out.stderr.splitlines()[-1] == line
        assert "Traceback" not in out.stderr
    assert not (repo / "results" / "history.nc").exists()

    shutil.rmtree(repo / ".dvc")
    out = snakesweep("history", cwd=repo)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("snakesweep: history: not the root of a DVC repository")


def sweep(x: list[object], y: list[float], **attrs: object) -> xr.Dataset:
    return xr.Dataset(
        {"y": ("x", y), "run_id": ("x", [f"r{v}" for v in x]), "status": ("x", ["done"] * len(x))},
        coords={"x": x},
        attrs=attrs,
    )


def revision(n: int) -> Revision:
    return Revision(
        commit=f"{n:040x}", time=datetime(2026, 1, n + 1, tzinfo=UTC), subject=f"commit {n}"
    )


def test_stacking_takes_the_union_of_values_in_the_newest_order_and_marks_absent_cells() -> None:
    old = sweep(["mlp", "linear"], [1.0, 2.0], snakesweep_debug=1)
    new = sweep(["cnn", "mlp"], [3.0, 4.0], snakesweep_debug=0).assign(z=("x", [5.0, 6.0]))
    ds = stack_history([(revision(0), old), (revision(1), new)])
    assert ds["x"].values.tolist() == ["cnn", "mlp", "linear"]
    np.testing.assert_array_equal(ds["y"].values, [[NAN, 1, 2], [3, 4, NAN]])
    np.testing.assert_array_equal(ds["z"].values, [[NAN, NAN, NAN], [5, 6, NAN]])
    assert ds["status"].values.tolist() == [[ABSENT, "done", "done"], ["done", "done", ABSENT]]
    assert ds["run_id"].values.tolist() == [["", "rmlp", "rlinear"], ["rcnn", "rmlp", ""]]
    assert ds["debug"].values.tolist() == [True, False]
    assert ds["commit_time"].values[1] == np.datetime64("2026-01-02T00:00:00", "ns")


def test_numeric_values_are_sorted_and_a_clashing_name_is_refused() -> None:
    ds = stack_history(
        [
            (revision(0), sweep([0.3, 0.03], [1.0, 2.0])),
            (revision(1), sweep([1.0, 0.3], [3.0, 4.0])),
        ]
    )
    assert ds["x"].values.tolist() == [0.03, 0.3, 1.0]
    with pytest.raises(HistoryError, match="named 'commit'"):
        stack_history([(revision(0), sweep([1], [1.0]).rename(y="commit"))])


def test_curves_of_other_lengths_and_values_of_other_kinds_keep_every_revision() -> None:
    """A curve that grew is NaN past the older end; keys whose values turned to text (the
    merge's rule for mixed values) are text in every revision, so none is dropped."""

    def curves(n: int) -> xr.Dataset:
        return sweep([1, 2], [1.0, 2.0]).assign(curve=(("x", "curve_dim_0"), np.ones((2, n))))

    ds = stack_history([(revision(0), curves(3)), (revision(1), curves(5))])
    assert ds.sizes["curve_dim_0"] == 5 and "curve_dim_0" not in ds.coords
    np.testing.assert_array_equal(ds["curve"].values[0, 0], [1, 1, 1, NAN, NAN])

    ds = stack_history(
        [
            (revision(0), sweep([1, 2], [1.0, 2.0])),
            (revision(1), sweep(["1", "2", "auto"], [3.0, 4.0, 5.0])),
        ]
    )
    assert ds["x"].values.tolist() == ["1", "2", "auto"]
    np.testing.assert_array_equal(ds["y"].values, [[1, 2, NAN], [3, 4, 5]])


def test_revisions_follow_first_parents_oldest_first(project: Path) -> None:
    """A merged branch's own commits are not states of the branch it was merged into."""

    def commit_file(name: str) -> str:
        write(project / name, name)
        commit(project, name)
        return head(project)

    tool("git", "init", "-q", "-b", "main", cwd=project)
    first = commit_file("a")
    tool("git", "checkout", "-q", "-b", "side", cwd=project)
    commit_file("side")
    tool("git", "checkout", "-q", "main", cwd=project)
    second = commit_file("b")
    tool("git", "merge", "-q", "--no-ff", "-m", "merge side", "side", cwd=project)
    merge = head(project)
    assert [r.commit for r in list_revisions(None, where=project)] == [first, second, merge]
    assert [r.commit for r in list_revisions("HEAD~1..HEAD", where=project)] == [merge]
    assert [r.subject for r in list_revisions(None, 2, where=project)] == ["b", "merge side"]


def test_a_history_keeps_no_attribute_of_one_revision_only() -> None:
    """Per-revision facts (commit, debug) are coordinates along over_time, not attributes."""
    ds = stack_history(
        [
            (
                revision(0),
                sweep(
                    [1],
                    [1.0],
                    snakesweep_config_name="config",
                    snakesweep_git_commit="abc",
                    snakesweep_debug=1,
                ),
            )
        ]
    )
    assert ds.attrs == {"snakesweep_config_name": "config"}
    assert ds["debug"].values.tolist() == [True]
