"""The sweep's progress display (snakesweep's Snakemake logger plugin): what a user reads on a
terminal, in CI's log, and from plain `snakemake`."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte
import pytest

from conftest import snakesweep, tool, write
from snakesweep.snakemake import display

FAILING = ["fail_on=2", "x=range(1,7)"]
"""Six runs, x=2 failing (the tiny experiment of conftest's `project`)."""


def failed_run(project: Path) -> str:
    [run_id] = [
        p.name
        for p in (project / "results" / "runs").iterdir()
        if "error" in p.joinpath("meta.json").read_text()
    ]
    return run_id


def on_a_terminal(command: list[str], cwd: Path, columns: int = 100) -> tuple[int, str, list[str]]:
    """Run ``command`` with a terminal (a pty) as its stdout and stderr: its exit status, what
    it wrote, and the screen a terminal shows at its end (replayed by pyte)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed: the command and its children are done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = process.wait(timeout=60)
    raw = b"".join(chunks).decode("utf-8", errors="replace")
    screen = pyte.Screen(columns, 500)
    pyte.Stream(screen).feed(raw)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return code, raw, lines


@pytest.mark.slow
def test_off_a_terminal_a_sweep_says_plain_lines_and_each_failure_with_its_point(
    project: Path,
) -> None:
    out = snakesweep("run", *FAILING, "--cores", "2", cwd=project)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert "\x1b" not in out.stderr, "no control codes in a log"
    assert lines[0] == "snakesweep: 6 runs: 6 to compute, 0 done before"
    run_id = failed_run(project)
    said = [line for line in lines if run_id in line]
    assert said == [
        f"snakesweep: run {run_id} failed (x=2): ValueError: x=2 is the failing point"
    ], "the failure once: the job leaves it to the display"
    assert re.fullmatch(r"snakesweep: \[6/6\] done [0-9a-f]{16} \(x=\d\).*", lines[-3])
    assert lines[-1] == (
        "snakesweep: 1 of 6 runs failed; `snakesweep status` lists them, "
        "`snakesweep run` again retries them"
    )
    assert not any(word in out.stderr for word in ("localrule", "jobid", "Job stats"))
    assert len(lines) <= 9, out.stderr
    [log] = (project / ".snakemake" / "log").glob("*.snakemake.log")
    assert "rule run_" in log.read_text(), "Snakemake's log file keeps its job blocks"


@pytest.mark.slow
def test_on_a_terminal_the_display_moves_then_leaves_the_failures_and_the_summary(
    project: Path,
) -> None:
    code, raw, screen = on_a_terminal(
        [sys.executable, "-m", "snakesweep", "run", *FAILING, "--cores", "2"], project, 160
    )
    assert code == 1
    assert "━" in raw and re.search(r"\d/6 runs", raw), "the bar and the counts were drawn"
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)  # the text, without its styles
    assert "6/6 runs · 5 done · 1 failed · 0 pending" in shown, "followed to the end"
    run_id = failed_run(project)
    stays = [
        f"snakesweep: run {run_id} failed (x=2): ValueError: x=2 is the failing point",
        "snakesweep: 1 of 6 runs failed; merged the rest into results/sweep.nc. See "
        "`snakesweep status` or results/runs/<run_id>/meta.json; run again to retry them.",
        "snakesweep: 1 of 6 runs failed; `snakesweep status` lists them, `snakesweep run` "
        "again retries them",
    ]
    assert [line for line in screen if line in stays] == stays, screen
    assert screen[-1] == stays[-1], "the display is gone at the end: the summary is last"


@pytest.mark.slow
def test_verbose_shows_snakemakes_own_output_instead(project: Path) -> None:
    out = snakesweep("run", "-v", "--cores", "2", cwd=project)
    assert out.returncode == 0, out.stderr
    assert "rule run_" in out.stderr and "Job stats" in out.stderr
    assert "to compute" not in out.stderr


@pytest.mark.slow
def test_plain_snakemake_with_the_repositorys_profile_shows_the_display_and_its_summary(
    repo_copy: Path,
) -> None:
    out = tool("snakemake", "--cores", "2", cwd=repo_copy)
    lines = out.stderr.splitlines()
    assert "snakesweep: 18 runs: 18 to compute, 0 done before" in lines
    assert "snakesweep: merging the runs into results/sweep.nc" in lines
    assert lines[-1] == (
        "snakesweep: 18 done, 0 pending, 0 failed; results in results/sweep.nc, "
        "`snakesweep view` shows them"
    )
    assert len(lines) <= 12, out.stderr
    dry = tool("snakemake", "--cores", "2", "-n", cwd=repo_copy)  # Snakemake's own, as ever
    assert "Nothing to be done" in dry.stdout + dry.stderr


def record(event: str, **fields: object) -> logging.LogRecord:
    """A log record as Snakemake makes one (its event and fields as attributes)."""
    made = logging.LogRecord("snakemake.logging", logging.INFO, "", 0, None, None, None)
    made.__dict__.update(event=event, **fields)
    return made


def test_off_a_terminal_lines_of_finished_runs_come_at_most_once_a_second(
    tmp_path: Path,
) -> None:
    from snakemake.settings.types import OutputSettings

    stream = io.StringIO()
    shown = display.SweepDisplay(OutputSettings(), stream=stream, argv=[])
    runs = [f"{i:016x}" for i in range(100)]
    try:
        shown.sweep(
            display.SweepRuns(
                str(tmp_path),
                dict.fromkeys(runs, "pending"),
                params={r: f"x={i}" for i, r in enumerate(runs)},
            )
        )
        for jobid, run_id in enumerate(runs):
            shown.handle(
                record(
                    "job_info",
                    jobid=jobid,
                    rule_name="run_experiment",
                    wildcards={"run_id": run_id},
                )
            )
            shown.handle(record("job_finished", job_id=jobid))
    finally:
        shown.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "snakesweep: 100 runs: 100 to compute, 0 done before"
    assert len(lines) <= 4, lines  # the first run's line, the last's, the summary
    assert lines[-2].startswith(f"snakesweep: [100/100] done {runs[-1]} (x=99) and ")
    assert lines[-1] == "snakesweep: 100 done"


def test_importing_the_plugin_imports_nothing_of_snakesweep() -> None:
    """Every `snakemake` imports every logger plugin installed: ours costs nothing there."""
    code = (
        "import sys, snakemake_logger_plugin_snakesweep as p; "
        "print(sorted(m for m in sys.modules if m.startswith('snakesweep')), p.LogHandler)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("[] ")


def test_the_plugin_is_found_by_snakemakes_registry(tmp_path: Path) -> None:
    write(tmp_path / "Snakefile", "rule all:\n    output: 'a.txt'\n    shell: 'touch {output}'\n")
    out = tool("snakemake", "--cores", "1", "--logger", "snakesweep", cwd=tmp_path)
    assert (tmp_path / "a.txt").exists()
    assert "Job stats" not in out.stderr  # not Snakemake's own output
    assert out.stderr.splitlines()[-1] == "snakesweep: 1 of 1 jobs done"
