"""The fault suite's harness: a sweep of a tiny experiment, faults injected into its real
`snakesweep run`, and what the results say afterwards. Used by the tests beside it and by
``benchmarks/faults.py``, so the table the benchmark prints counts what the tests check."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACEBACK = "Traceback (most recent call last)"

EXPERIMENT = '''
import os
import time

import numpy as np


def main(cfg, run):
    """Notes when it starts and when it finishes (run id, wall time) in side files."""
    with open("started.txt", "a") as f:
        f.write(f"{run.id} {time.time()}\\n")
    time.sleep(cfg.sleep)
    if cfg.x in cfg.fail:
        raise ValueError(f"x={cfg.x} is a failing point")
    if cfg.x in cfg.transient and not os.path.exists(f"attempted-{cfg.x}"):
        open(f"attempted-{cfg.x}", "w").close()
        raise ConnectionError(f"x={cfg.x}: the first attempt meets a transient error")
    if cfg.x in cfg.slow:
        time.sleep(600)
    payload = np.random.default_rng(cfg.x).random(cfg.floats)
    with open("finished.txt", "a") as f:
        f.write(f"{run.id} {time.time()}\\n")
    return {"y": float(cfg.x * 2), "curve": np.arange(3) * cfg.x, "payload": payload}
'''


def make_project(
    root: Path,
    runs: int,
    sleep: float = 0.0,
    floats: int = 1,
    fail: tuple[int, ...] = (),
    transient: tuple[int, ...] = (),
    slow: tuple[int, ...] = (),
    options: str = "",
) -> Path:
    """A project whose sweep is ``x=range(0, runs)`` of the experiment above; ``options``
    are more lines of the ``snakesweep`` node (``timeout: 2``)."""
    root.mkdir(parents=True, exist_ok=True)
    node = "".join(
        f"  {line}\n" for line in ["experiment: faultexp:main", *options.splitlines()] if line
    )
    (root / "conf").mkdir(exist_ok=True)
    (root / "conf" / "config.yaml").write_text(
        f"snakesweep:\n{node}x: 0\nsleep: {sleep}\nfloats: {floats}\nfail: {list(fail)}\n"
        f"transient: {list(transient)}\nslow: {list(slow)}\n"
        f"hydra:\n  sweeper:\n    params:\n      x: range(0,{runs})\n"
    )
    (root / "faultexp.py").write_text(EXPERIMENT)
    return root


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakesweep", *args]


def run(
    root: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``snakesweep ARGS`` in ``root``, to its end."""
    return subprocess.run(
        command(*args),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def bounded(
    root: Path,
    *args: str,
    timeout: float = 300,
    tally: Tally | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``snakesweep ARGS`` in ``root``, in a process group of its own that is killed whole
    past ``timeout`` seconds (a hang: counted in ``tally``, and returned with status -9)."""
    proc = subprocess.Popen(
        command(*args),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        if tally is not None:
            tally.hangs += 1
            tally.notes.append(f"`snakesweep {' '.join(args)}` hung past {timeout} s")
    _reap_group(proc.pid)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def mount_tmpfs(path: Path, size: str, remount: bool = False) -> subprocess.CompletedProcess[str]:
    """Mount a tmpfs of ``size`` (``3m``) at ``path``, or resize the one there (root only)."""
    options = f"remount,size={size}" if remount else f"size={size}"
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )


@contextmanager
def small_disk_at(where: Path, size: str) -> Iterator[Path]:
    """``where`` (made here) on a tmpfs of ``size`` for the ``with`` block, unmounted after
    it; the test is skipped where a tmpfs cannot be mounted (it needs root: CI runs as root)."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    where.mkdir()
    mounted = mount_tmpfs(where, size)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def processes_in(root: Path) -> list[int]:
    """Processes whose working directory is ``root`` (a sweep's Snakemake, pool, runs)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(root):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def asides(results: Path) -> list[str]:
    """What writers left aside under ``results``: files and directories written aside and
    not renamed into place (``.NAME.PID.tmp``, ``.NAME.PID.old``)."""
    found = [p for p in results.rglob(".*") if p.name.endswith((".tmp", ".old"))]
    return sorted(str(p.relative_to(results)) for p in found)


def side(root: Path, name: str) -> list[tuple[str, float]]:
    """The (run id, time) lines an experiment's side file holds."""
    path = root / name
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:  # a line cut by a kill is no entry
            out.append((parts[0], float(parts[1])))
    return out


def run_dirs(root: Path, results: str = "results") -> list[Path]:
    runs = root / results / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []


def meta_of(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def counted_done(root: Path, results: str = "results") -> set[str]:
    """The runs snakesweep counts done, by the status it gives them."""
    from snakesweep import store

    ids = [d.name for d in run_dirs(root, results)]
    statuses = store.run_statuses(root / results, ids)
    return {r for r, s in statuses.items() if s == "done"}


def incomplete_counted_done(root: Path, done: set[str], results: str = "results") -> list[str]:
    """Runs counted done whose directory is not a whole, finished run: a result that does not
    open, a meta.json that is not ``done``, or no config."""
    import xarray as xr

    bad = []
    for run_id in sorted(done):
        directory = root / results / "runs" / run_id
        meta = meta_of(directory)
        try:
            with xr.open_dataset(directory / "result.nc", engine="netcdf4") as ds:
                whole = "y" in ds and "payload" in ds
        except Exception:  # noqa: BLE001 - any unreadable result is what this counts
            whole = False
        if (
            not whole
            or not meta
            or meta.get("status") != "done"
            or not (directory / "config.yaml").is_file()
        ):
            bad.append(run_id)
    return bad


@dataclass
class Tally:
    """One fault class's row of the table."""

    fault: str
    injected: int = 0
    lost: int = 0
    twice: int = 0
    incomplete_done: int = 0
    tracebacks: int = 0
    wrong: int = 0
    """Values merged that are not what the run gives in a process of its own, and runs
    left out of sweep.nc unnamed."""
    hangs: int = 0
    """Commands that did not end within their bound (killed by the test)."""
    notes: list[str] = field(default_factory=list)
    recovery: list[float] = field(default_factory=list)
    """Seconds from each invocation after a kill to its first run started."""
    baseline: float | None = None
    """The same for an invocation on a fresh sweep."""

    @property
    def clean(self) -> bool:
        """Nothing lost, nothing twice, nothing partial counted done, no traceback shown,
        no wrong value merged, no hang."""
        return (
            self.lost
            == self.twice
            == self.incomplete_done
            == self.tracebacks
            == self.wrong
            == self.hangs
            == 0
        )


def account(
    tally: Tally,
    root: Path,
    expected: set[str],
    outputs: list[str],
    results: str = "results",
    damaged: frozenset[str] = frozenset(),
    recorded: bool = True,
) -> Tally:
    """Fill in a row: the ``expected`` runs not counted done (lost), runs computed again once
    done, runs counted done that are not whole, and the tracebacks in what the user saw.
    The ``damaged`` runs were damaged on purpose: computing them again is no double.
    Recorded for ``benchmarks/faults.py`` when ``SNAKESWEEP_FAULT_TABLE`` names a file
    (``recorded=False``: the row is not complete yet, ``record`` it later)."""
    done = counted_done(root, results)
    tally.lost += len(expected - done)
    tally.twice += len(set(completed_twice(root, results)) - damaged)
    tally.incomplete_done += len(incomplete_counted_done(root, done, results))
    tally.tracebacks += sum(text.count(TRACEBACK) for text in outputs)
    if recorded:
        record(tally)
    return tally


def record(tally: Tally) -> None:
    table = os.environ.get("SNAKESWEEP_FAULT_TABLE")
    if table:
        with open(table, "a", encoding="utf-8") as f:
            f.write(json.dumps(tally.__dict__) + "\n")


def completed_twice(root: Path, results: str = "results") -> list[str]:
    """Runs computed again after they were done: an earlier attempt recorded ``done``, or
    the experiment finished the run after the commit of its result."""
    finished = side(root, "finished.txt")
    twice = set()
    for directory in run_dirs(root, results):
        meta = meta_of(directory) or {}
        if any(a.get("status") == "done" for a in meta.get("earlier_attempts", [])):
            twice.add(directory.name)
        if meta.get("status") == "done":
            from datetime import datetime

            end = datetime.fromisoformat(meta["end"]).timestamp()
            if any(r == directory.name and t > end for r, t in finished):
                twice.add(directory.name)
    return sorted(twice)


@dataclass
class KillCampaign:
    tally: Tally
    invocations: int
    kills_during_runs: int


def kill_campaign(
    root: Path, kills: int, seed: int, window: tuple[float, float], cores: int = 2
) -> KillCampaign:
    """Start ``snakesweep run``; SIGKILL its whole process group at a seeded random moment;
    again, ``kills`` times; then let a last invocation finish. Checks the results after
    every kill. A moment is, at random, one within ``window[0]`` s of the start, or one
    within ``window[1]`` s after the invocation's first run started."""
    rng = random.Random(seed)
    tally = Tally("kill -9 (process group)")
    invocations = during = 0
    logs = root / "invocations"
    logs.mkdir(exist_ok=True)
    for i in range(kills + 1):
        started_count = len(side(root, "started.txt"))
        out = open(logs / f"{i}.log", "w")  # noqa: SIM115 - closed below
        t0 = time.time()
        proc = subprocess.Popen(
            command("run", "--cores", str(cores)),
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        invocations += 1
        last = i == kills
        try:
            if last:
                proc.wait(timeout=600)
            elif rng.random() < 0.3:  # while it starts up (plans, parses, starts the pool)
                proc.wait(timeout=rng.uniform(0.2, window[0]))
            else:  # while runs are going: a moment after the first one started
                while len(side(root, "started.txt")) == started_count and proc.poll() is None:
                    time.sleep(0.01)
                proc.wait(timeout=rng.uniform(0, window[1]))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            tally.injected += 1
        finally:
            out.close()
        _reap_group(proc.pid)
        new_starts = side(root, "started.txt")[started_count:]
        if new_starts:
            if i > 0:  # the time a kill costs: its next invocation's wait for a run
                tally.recovery.append(new_starts[0][1] - t0)
            during += not last
        text = (logs / f"{i}.log").read_text()
        tally.tracebacks += text.count(TRACEBACK)
        if last and proc.returncode != 0:
            tally.notes.append(f"the last invocation exited {proc.returncode}:\n{text[-3000:]}")
        tally.incomplete_done += len(incomplete_counted_done(root, counted_done(root)))
    return KillCampaign(tally, invocations, during)


def _reap_group(pgid: int) -> None:
    """Wait until no process of a killed group is left (the kernel needs a moment)."""
    for _ in range(200):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


def finished_counts(root: Path) -> Counter[str]:
    return Counter(r for r, _ in side(root, "finished.txt"))


def tree_digest(path: Path) -> dict[str, str]:
    """Every file under ``path`` (hidden ones too) and the sha256 of its bytes."""
    import hashlib

    out = {}
    for file in sorted(path.rglob("*")):
        if file.is_file():
            out[str(file.relative_to(path))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out
