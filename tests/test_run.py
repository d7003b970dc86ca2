"""The run handle: what an experiment logs, stores and notes while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import snakesweep, write
from snakesweep.errors import ExperimentError
from snakesweep.execute.handle import Run, jsonify, read_log


@pytest.mark.slow
def test_logged_values_are_variables_over_step_exactly_as_logged(logging_project: Path) -> None:
    out = snakesweep("run", "--cores", "2", cwd=logging_project)
    assert out.returncode == 0, out.stderr
    with xr.open_dataset(logging_project / "results" / "sweep.nc") as ds:
        assert ds["loss"].dims == ("x", "step")
        assert ds["step"].values.tolist() == [0, 1, 2]
        assert ds["loss"].values[0].tolist()[:2] == [1.0, 0.5]
        assert np.isnan(ds["loss"].values[0, 2])  # x=1 logged two steps: padded
        assert ds["loss"].values[1].tolist() == [0.5, 1 / 3, 0.25]
        assert ds["accuracy"].values[1].tolist() == pytest.approx([0.0, 0.1, 0.2])
        assert np.isnan(ds["even"].values[1, 1]) and ds["even"].values[1, 2] == 2
        assert ds["score"].values.tolist() == [1.0, 2.0]
        run_id = str(ds["run_id"].values[1])
    run = logging_project / "results" / "runs" / run_id
    meta = json.loads((run / "meta.json").read_text())
    assert meta["metadata"] == {"converged": True, "notes": {"optimizer": "sgd", "lr": 0.1}}
    assert meta["artifacts"] == [
        {"name": "extra.csv", "metadata": {}},
        {"name": "notes/readme.txt", "metadata": {}},
        {"name": "weights.npy", "metadata": {"dtype": "float32", "shape": [4]}},
    ]
    assert np.frombuffer(
        (run / "artifacts" / "weights.npy").read_bytes(), dtype="float32"
    ).tolist() == [0, 2, 4, 6]
    assert (run / "artifacts" / "notes" / "readme.txt").read_text() == (f"run {run_id} with seed 7")
    assert not (run / "work").exists()


@pytest.mark.slow
def test_a_failing_run_keeps_what_it_logged_next_to_its_error(logging_project: Path) -> None:
    out = snakesweep("run", "fail=true", "x=2", "--cores", "1", cwd=logging_project)
    assert out.returncode == 1
    [run] = (logging_project / "results" / "runs").iterdir()
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["error"]["type"] == "RuntimeError"
    assert [r["step"] for r in read_log(run)] == [0, 1, 2]
    assert (run / "artifacts" / "weights.npy").exists()
    assert meta["metadata"]["notes"] == {"optimizer": "sgd", "lr": 0.1}


@pytest.mark.slow
def test_a_run_killed_mid_way_leaves_its_flushed_steps_and_is_not_done(tmp_path: Path) -> None:
    write(
        tmp_path / "conf" / "config.yaml",
        """
        snakesweep:
          experiment: slowexp:train
          debounce: 0
        x: 1
        """,
    )
    write(
        tmp_path / "slowexp.py",
        """
        import os
        import time


        def train(cfg, run):
            for step in range(1000):
                run.log(step=step, loss=1.0 / (step + 1))
                if step == 3:
                    open("logged.txt", "w").close()
                if not os.path.exists("hurry.txt"):
                    time.sleep(0.05)
            return None  # it only logs
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "snakesweep", "run", "--cores", "1"],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "logged.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    [draft] = (tmp_path / "results" / ".snakesweep" / "drafts").glob("*/*")
    steps = [r["step"] for r in read_log(draft)]
    assert steps[:4] == [0, 1, 2, 3] and steps == list(range(len(steps)))
    status = snakesweep("status", cwd=tmp_path)
    assert "0 done, 1 pending" in status.stdout
    shown = snakesweep("show", draft.parent.name, cwd=tmp_path)
    assert f"run {draft.parent.name}: pending (an attempt not finished: its draft is" in (
        shown.stdout
    )
    assert f"last logged step: {steps[-1]} " in shown.stdout

    (tmp_path / "hurry.txt").touch()
    again = snakesweep("run", "--cores", "1", cwd=tmp_path)  # recovers by itself
    assert again.returncode == 0, again.stderr
    [run] = (tmp_path / "results" / "runs").iterdir()
    assert [r["step"] for r in read_log(run)] == list(range(1000))


def test_a_result_both_returned_and_logged_is_an_error_naming_both(tmp_path: Path) -> None:
    from snakesweep.execute.execution import with_logged
    from snakesweep.execute.experiment import to_dataset

    run = Run("abc", None, tmp_path)
    run.log(loss=1.0)
    returned = to_dataset({"loss": 0.5, "score": 1.0}, "abc", "m:f")
    with pytest.raises(
        ExperimentError,
        match=r"run abc: 'm:f' returned 'loss' and also "
        r"logged it with run.log\(loss=...\)",
    ):
        with_logged(returned, run, "abc", "m:f", ())


def test_a_value_that_is_no_number_names_the_run_the_key_and_the_step(tmp_path: Path) -> None:
    run = Run("abc", None, tmp_path)
    run.log(loss=1.0)
    with pytest.raises(ExperimentError, match=r"run abc: run.log: 'loss' at step 1 is str"):
        run.log(loss="high")
    run.log(step=5, loss=0.5)
    with pytest.raises(ExperimentError, match=r"steps must not decrease \(the last was 5\)"):
        run.log(step=3, loss=1.0)
    with pytest.raises(ExperimentError, match=r"a step is an integer"):
        run.log(step=1.5, loss=1.0)


def test_blob_names_are_relative_without_dots_and_data_is_bytes_text_or_a_file(
    tmp_path: Path,
) -> None:
    run = Run("abc", None, tmp_path)
    for bad in ("../x", "/etc/passwd", ""):
        with pytest.raises(ExperimentError, match=r"a blob's name is a relative path"):
            run.blob(bad, b"x")
    source = write(tmp_path / "source.txt", "copied\n")
    run.blob("copy.txt", source)
    with pytest.raises(ExperimentError, match=r"data must be bytes, str or a path"):
        run.blob("n.bin", 3)  # type: ignore[arg-type]
    with pytest.raises(ExperimentError, match=r"blob 'm' metadata.when: object is not JSON"):
        run.blob("m", b"", metadata={"when": object()})
    recorded = run.finish(tmp_path / "artifacts")
    assert (tmp_path / "artifacts" / "copy.txt").read_text() == "copied\n"
    assert recorded["artifacts"] == [{"name": "copy.txt", "metadata": {}}]


def test_metadata_is_json_after_run_loggers_rules_and_merges(tmp_path: Path) -> None:
    assert jsonify(
        {
            "a": np.float64(1.5),
            "b": float("nan"),
            "c": Path("x/y"),
            "d": np.arange(3),
            "e": (1, np.int64(2)),
        },
        "r",
        "metadata",
    ) == {"a": 1.5, "b": None, "c": "x/y", "d": [0, 1, 2], "e": [1, 2]}
    run = Run("abc", None, tmp_path)
    run.update_metadata({"opt": {"name": "sgd", "lr": 1}, "done": False})
    run.update_metadata(opt={"lr": 2, "momentum": 0.9}, done=True)
    assert run.metadata == {"opt": {"name": "sgd", "lr": 2, "momentum": 0.9}, "done": True}
    with pytest.raises(ExperimentError, match=r"run abc: metadata.bad: set is not JSON"):
        run.update_metadata(bad={1})


def test_steps_are_flushed_at_most_every_debounce_seconds(tmp_path: Path) -> None:
    run = Run("abc", None, tmp_path, debounce=3600)
    for step in range(100):
        run.log(step=step, loss=float(step))
    assert read_log(tmp_path) == []  # nothing written within the debounce time
    run.flush()
    run.log(step=99, extra=1)  # the last step grows: written again, the last copy wins
    run.flush()
    rows = read_log(tmp_path)
    assert len(rows) == 100 and rows[-1] == {"step": 99, "loss": 99.0, "extra": 1}
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write('[{"step": 100, "lo')  # cut short by a kill
    assert len(read_log(tmp_path)) == 100


def test_who_gets_a_run_handle_and_what_a_logging_only_experiment_returns(tmp_path: Path) -> None:
    from snakesweep.execute.execution import takes_run, with_logged
    from snakesweep.execute.experiment import to_dataset

    def one(cfg): ...  # noqa: E704
    def verbose(cfg, verbose=False): ...  # noqa: E704
    def handle(cfg, run): ...  # noqa: E704
    def named(cfg, run=None): ...  # noqa: E704

    assert [takes_run(f) for f in (one, verbose, handle, named)] == [False, False, True, True]

    run = Run("abc", None, tmp_path)
    run.log(step=0, big=2**53 + 1, flag=np.array(True))
    ds = with_logged(to_dataset({}, "abc", "m:f"), run, "abc", "m:f", ("x",))
    assert ds["big"].values.tolist() == [2**53 + 1] and ds["flag"].values.tolist() == [1]
    with pytest.raises(ExperimentError, match=r"outside 64-bit integers"):
        run.log(step=1, big=2**64)
    run.log(step=1, x=1.0)
    with pytest.raises(ExperimentError, match=r"logs 'x', which is the name of a swept key"):
        with_logged(to_dataset({}, "abc", "m:f"), run, "abc", "m:f", ("x",))
