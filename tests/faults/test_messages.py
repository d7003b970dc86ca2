"""Messages that point somewhere: what a command says after a fault names what is there
(a run, a file, a key), says what to do, and is the same everywhere it is said."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from harness import (
    TRACEBACK,
    Tally,
    account,
    bounded,
    command,
    counted_done,
    make_project,
    meta_of,
    mount_tmpfs,
    processes_in,
    run,
    run_dirs,
    side,
)


def _holders(where: Path) -> list[str]:
    """Processes with a file (or their working directory) under ``where``."""
    where = where.resolve()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            links = [
                os.readlink(f"/proc/{entry}/cwd"),
                *(os.readlink(f"/proc/{entry}/fd/{fd}") for fd in fds),
            ]
        except OSError:
            continue
        if any(link.startswith(f"{where}/") or link == str(where) for link in links):
            found.append(entry)
    return found


@pytest.mark.slow
def test_killing_the_pools_parent_names_each_run_cut_short_as_recorded(tmp_path: Path) -> None:
    """kill -9 of `snakesweep run` alone (the pool's parent; its Snakemake goes on): each run
    the pool's workers had is named with what its meta.json records, runs the pool no
    longer takes are computed in processes of their own, nothing says "Broken pipe"; the
    next run completes the sweep, computing nothing twice."""
    root = make_project(tmp_path / "p", 10, sleep=1.5).resolve()
    log = tmp_path / "first.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command("run", "--cores", "2"),
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while len(side(root, "started.txt")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(side(root, "started.txt")) >= 3, log.read_text()[-3000:]
        proc.kill()  # the pool's parent, alone
        proc.wait()
        deadline = time.monotonic() + 180  # its Snakemake goes on, then ends
        while processes_in(root) and time.monotonic() < deadline:
            time.sleep(0.2)
        hung = processes_in(root)
        for pid in hung:
            os.kill(pid, signal.SIGKILL)
    shown = log.read_text()
    tally = Tally(
        "kill -9 of snakesweep run alone (the pool's parent)", injected=1, hangs=int(bool(hung))
    )
    assert "Broken pipe" not in shown and "Errno 32" not in shown, shown[-3000:]
    # the progress display's failure lines: run id, params, the first line of its error
    said = re.findall(r"snakesweep: run ([0-9a-f]{16}) failed \((.*?)\): (.*)", shown)
    for run_id, _params, message in said:
        meta = meta_of(root / "results" / "runs" / run_id)
        assert meta is not None, f"run {run_id}: no meta.json"
        first = meta["error"]["message"].splitlines()[0]
        assert message == f"{meta['error']['type']}: {first}", (message, meta["error"])
    assert "ended before replying" not in shown
    for line in shown.splitlines():
        if line.startswith("snakesweep: ") and "failed" in line:
            assert re.search(r"run [0-9a-f]{16}|of \d+ runs failed", line), line

    again = bounded(root, "run", "--cores", "2", tally=tally)
    assert again.returncode == 0, again.stderr
    everything = counted_done(root)
    assert len(everything) == 10
    account(tally, root, everything, [shown, again.stdout, again.stderr])
    assert tally.clean, tally


@pytest.mark.slow
def test_a_run_directory_removed_mid_sweep_leaves_the_others_merged(tmp_path: Path) -> None:
    """A finished run's directory removed while the sweep runs: the other runs are merged
    (the removed one pending in sweep.nc), one line names it and says what to do; the
    next run computes it."""
    import xarray as xr

    root = make_project(tmp_path, 2, sleep=1.0)
    first = run(root, "run", "--cores", "2")
    assert first.returncode == 0, first.stderr
    removed = run_dirs(root)[0]
    tally = Tally("a finished run's directory removed mid-sweep", injected=1)
    proc = subprocess.Popen(
        command("run", "--cores", "2", "x=range(0,8)"),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(run_dirs(root)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    subprocess.run(["rm", "-rf", str(removed)], check=True)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        tally.hangs += 1
    assert TRACEBACK not in out + err
    with xr.open_dataset(root / "results" / "sweep.nc", engine="netcdf4") as ds:
        status = dict(zip(ds["run_id"].values.tolist(), ds["status"].values.tolist(), strict=True))
        tally.wrong += int(
            (
                ds["y"].values[ds["status"].values == "done"]
                != ds["x"].values[ds["status"].values == "done"] * 2
            ).sum()
        )
    assert status[removed.name] == "pending"
    assert sorted(status.values()).count("done") == 7
    named = [
        line
        for line in err.splitlines()
        if removed.name in line and line.startswith("snakesweep: ") and "run again" in line
    ]
    assert named, err[-3000:]

    again = bounded(root, "run", "--cores", "2", "x=range(0,8)", tally=tally)
    assert again.returncode == 0, again.stderr
    account(
        tally,
        root,
        counted_done(root),
        [out, err, again.stdout, again.stderr],
        damaged=frozenset({removed.name}),
    )
    assert len(counted_done(root)) == 8
    assert tally.clean, tally


def test_a_dangling_results_link_is_named_in_one_line(tmp_path: Path) -> None:
    """`results` a symbolic link to nothing: plan, status and run say so, exit 2."""
    root = make_project(tmp_path, 2)
    (root / "results").symlink_to(tmp_path / "unmounted" / "results")
    for args in (("plan",), ("status",), ("run", "--cores", "1")):
        out = run(root, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.splitlines() == [
            f"snakesweep: --results 'results' is a symbolic link to "
            f"'{tmp_path / 'unmounted' / 'results'}', which does not exist: create that "
            "directory, or remove the link"
        ], out.stderr
    assert not (tmp_path / "unmounted").exists()


@pytest.mark.slow
def test_status_of_a_new_domain_on_a_read_only_results_directory(tmp_path: Path) -> None:
    """A results directory on a read-only disk: `status` and `plan` of a domain never
    planned there still answer (the plan is not cached)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    root = make_project(tmp_path, 2)
    results = root / "results"
    results.mkdir()
    if mount_tmpfs(results, "16m").returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        assert run(root, "run", "--cores", "2").returncode == 0
        assert subprocess.run(["mount", "-o", "remount,ro", str(results)]).returncode == 0
        status = run(root, "status", "x=range(0,3)")
        assert status.returncode == 0, status.stderr
        assert status.stdout.splitlines()[0] == "3 runs: 2 done, 1 pending, 0 failed"
        plan = run(root, "plan", "x=range(0,3)")
        assert plan.returncode == 0, plan.stderr
        refused = run(root, "run", "--cores", "1", "x=range(0,3)")
        assert refused.returncode == 2
        assert len(refused.stderr.splitlines()) == 1, refused.stderr
        assert refused.stderr.startswith(
            "snakesweep: [Errno 30] Read-only file system: 'results/.snakesweep/plans/"
        )
        assert ".tmp" not in refused.stderr
    finally:
        subprocess.run(["umount", "-l", str(results)], capture_output=True)


LEAVING = '''
import subprocess
from pathlib import Path


def main(cfg, run):
    """Starts a process that outlives the run, its output in the run's directory."""
    with open(run.dir / "background.log", "w") as log:
        child = subprocess.Popen(["sleep", "120"], stdout=log, start_new_session=True)
    with open(Path(cfg.where) / "children.txt", "a") as f:
        f.write(f"{child.pid}\\n")
    return {"y": float(cfg.x)}
'''


@pytest.mark.slow
@pytest.mark.parametrize("pool", [True, False], ids=["warm pool", "process per run"])
def test_when_snakesweep_run_returns_every_process_it_started_has_ended(
    tmp_path: Path, pool: bool
) -> None:
    """Runs that leave processes running (holding files under results/): when the command
    returns they are gone, named on the way out, and nothing holds results/ open."""
    root = tmp_path / "p"
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "config.yaml").write_text(
        textwrap.dedent(f"""
        snakesweep:
          experiment: leaving:main
        x: 0
        where: {root}
        hydra:
          sweeper:
            params:
              x: 1,2
        """)
    )
    (root / "leaving.py").write_text(LEAVING)
    out = run(root, "run", "--cores", "2", env={} if pool else {"SNAKESWEEP_NO_POOL": "1"})
    holding = _holders(root / "results")
    left = [int(p) for p in (root / "children.txt").read_text().split()]
    alive = [
        p
        for p in left
        if os.path.exists(f"/proc/{p}")
        and open(f"/proc/{p}/stat").read().split(")")[1].split()[0] != "Z"
    ]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert out.returncode == 0, out.stderr
    assert len(left) == 2
    assert alive == [] and holding == [], (alive, holding)
    assert "snakesweep: ended 2 process(es) the runs left running: " in out.stderr
    assert TRACEBACK not in out.stderr


@pytest.mark.slow
def test_status_says_which_keys_changed_and_how_many_runs_sit_unused(tmp_path: Path) -> None:
    """A default edited in the config makes every run new: `status` says which keys
    changed (before → now) and how many runs in results/runs this sweep no longer uses."""
    root = make_project(tmp_path, 3)
    assert run(root, "run", "--cores", "2").returncode == 0
    config = root / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("floats: 1\n", "floats: 2\n"))
    status = run(root, "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == "3 runs: 0 done, 3 pending, 0 failed"
    assert lines[1] == (
        "pending: the config changed since the runs in results/runs were "
        "computed (floats: 1 → 2): 3 pending run(s) are runs there with "
        "these values, under new run ids"
    )
    assert lines[2] == (
        "unused: 3 run(s) in results/runs are no run of this sweep (other configs); they are kept"
    )
