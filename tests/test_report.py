"""The sweep in Snakemake's report: `snakemake --report report.html` and `snakesweep report`.

The slow tests run the real Snakemake, matplotlib and rerun's real headless viewer. The
default pictures (matplotlib's) need no GPU: they are tested where none can draw. rerun's
(``snakesweep.pictures: rerun``) need a GPU, or a software one: Debian's mesa-vulkan-drivers
(llvmpipe). Where no Vulkan driver is installed, the ``gpu`` fixture installs that package
with apt as root, or skips the tests that need one, saying why. Rendering that cannot work
is made real, not mocked: a Vulkan loader pointed at no driver, and wgpu held to Vulkan.
"""

from __future__ import annotations

import base64
import csv
import glob
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import APT_LOCK_WAIT, machine_lock, snakesweep, tool, write
from snakesweep import store
from snakesweep.core.options import Options, SweepOptions
from snakesweep.errors import ConfigError
from snakesweep.snakemake.workflow import RULES, SNAKEFILE
from snakesweep.view import pages, report, report_pictures, screenshots

NO_GPU = {
    "VK_ICD_FILENAMES": "/nonexistent",
    "VK_DRIVER_FILES": "/nonexistent",
    "WGPU_BACKEND": "vulkan",
}
"""A Vulkan loader with no driver, and wgpu without its GL fallback: nothing can draw."""
ICD_DIRS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")
CAPTIONS = {
    "runs": "The run table of the sweep, from results/runs.csv: one row per run",
    "provenance": "Where the results came from, summarised from results/provenance.json",
    "matplotlib": "a result variable of the sweep, drawn by matplotlib",
    "rerun": "a result variable of the sweep, as its rerun recording lays it out",
    "fallback": "but rerun's viewer could not draw 2 of 2 pictures: matplotlib",
    "failed": "pictures could be drawn; the others are placeholders",
    "off": "Pictures are off: the sweep's config sets snakesweep.pictures: false.",
    "sweep": "This is Snakemake's report of a snakesweep sweep",
}
"""What each caption says, as text (without its markup)."""


# -- what the report job writes, without Snakemake -------------------------------------------


def test_pictures_are_matplotlib_by_default_rerun_or_off_on_request() -> None:
    assert Options.parse({}).pictures == "matplotlib"
    assert Options.parse({"pictures": None}).pictures == "matplotlib"
    assert Options.parse({"pictures": True}).pictures == "matplotlib"
    assert Options.parse({"pictures": "rerun"}).pictures == "rerun"
    assert Options.parse({"pictures": False}).pictures == "off"
    for bad in ("yes", 1, [True], "matplotlib"):
        with pytest.raises(
            ConfigError,
            match=r"^snakesweep\.pictures: expected true, false "
            r"or rerun, got ",
        ):
            Options.parse({"pictures": bad})
    on, off, rerun = {"pictures": True}, {"pictures": False}, {"pictures": "rerun"}
    assert SweepOptions.parse({"a": off, "b": on}).pictures == "matplotlib"  # any run asks
    assert SweepOptions.parse({"a": on, "b": rerun}).pictures == "rerun"
    assert SweepOptions.parse({"a": off, "b": off}).pictures == "off"
    assert SweepOptions.parse({}).pictures == "matplotlib"


def test_why_rerun_failed_is_its_panic_else_its_last_error_else_its_last_line() -> None:
    panic = (
        "\x1b[2m2026-12-01T20:24:28Z\x1b[0m \x1b[33m WARN\x1b[0m egui_wgpu: Software\n"
        "error: XDG_RUNTIME_DIR is invalid or not set in the environment.\n\n"
        "thread 'main' panicked at 'Failed to create render state: No graphics adapter'\n"
        "egui_kittest-0.37.0/src/wgpu.rs:77\nstack backtrace:\n   6: core::panicking\n"
        "             at libc_start_call_main.h:58:16\n\n"
        "Troubleshooting Rerun: https://www.rerun.io/docs\nReport bugs: https://github.com\n"
    )
    assert screenshots.why_failed(panic) == "Failed to create render state: No graphics adapter"
    newer = "thread 'main' panicked at src/main.rs:3:5:\nno adapter\nnote: run with ...\n"
    assert screenshots.why_failed(newer) == "no adapter"
    logged = (
        "2026-12-01T20:24:31.266359Z ERROR re_renderer::error_tracker: first\n"
        "\x1b[2m2026-12-01T20:24:32Z\x1b[0m \x1b[31mERROR\x1b[0m re_viewer: Failed to load\n"
        "Report bugs: https://github.com/rerun-io/rerun/issues\n"
    )
    assert screenshots.why_failed(logged) == "Failed to load"
    assert screenshots.why_failed("error: XDG_RUNTIME_DIR is invalid\nKilled\n") == "Killed"
    assert screenshots.why_failed("") == ""


def test_the_run_table_page_has_every_run_and_readable_numbers() -> None:
    rows = [
        {"run_id": "ab12", "status": "done", "x": "1", "y": "0.30000000000000004", "name": "<b>"},
        {"run_id": "cd34", "status": "failed", "x": "2", "y": "", "name": "a&b"},
    ]
    page = pages.table_page(
        rows,
        ["run_id", "status", "x", "y", "name"],
        {"config_name": "config", "overrides": ["x=1,2"], "dims": {"x": [1, 2]}},
    )
    assert "<td>ab12</td>" in page and "<td>cd34</td>" in page
    assert '<td class="n">0.3</td>' in page and '<td class="n">1</td>' in page
    assert "<td>&lt;b&gt;</td>" in page and "<td>a&amp;b</td>" in page
    assert '<tr class="failed">' in page
    assert (
        "2 runs of sweep <code>config</code> with <code>x=1,2</code> over <code>x</code> "
        "(2): 1 done, 1 failed." in page
    )


def test_the_provenance_page_says_commit_dirt_code_versions_and_hosts() -> None:
    record = {
        "sweep": {
            "runs": 2,
            "start": "s",
            "end": "e",
            "duration": 1.5,
            "compute_seconds": 1,
            "debug": True,
            "debug_runs": ["ab12"],
            "without_provenance": [],
        },
        "runs": {"by_commit": {"c0ffee": 2}, "by_code": {"f1n9": 2}, "by_host": {"box": 2}},
        "newest_run": "ab12",
        "git": {
            "repository": True,
            "commit": "c0ffee",
            "branch": "main",
            "dirty": True,
            "dirty_paths": ["exp.py"],
            "untracked": ["new.py"],
        },
        "code": {"fingerprint": "f1n9", "files": ["exp.py"]},
        "experiment": {"entry_point": "exp:main"},
        "system": {"python": "3.11.7", "host": "box", "cores": 2, "cores_usable": 2},
        "versions": {"snakesweep": "0.1.0", "dvc": None},
        "distributions": {"numpy": "2.0"},
        "command": ["snakemake", "--cores", "2"],
    }
    page = pages.provenance_page(record)
    for text in (
        "<code>c0ffee</code>",
        '<span class="dirty">dirty</span>: exp.py, new.py',
        "<code>f1n9</code>",
        "<code>exp:main</code>",
        "<code>box</code>",
        "not installed",
        "1 installed distributions",
        "snakemake --cores 2",
        '<span class="dirty">1</span>',
    ):
        assert text in page, text
    assert "not in a git repository" in pages.provenance_page(
        {"git": {"repository": False, "reason": "not in a git repository"}}
    )


def test_pictures_off_are_one_placeholder_with_a_caption_saying_how_to_turn_them_on(
    tmp_path: Path,
) -> None:
    out = tmp_path / "pictures"
    out.mkdir()
    (out / "stale.png").write_bytes(b"old")  # whatever was there is replaced whole
    made = report_pictures.render_pictures(None, out, pictures="off")
    assert made.state == "off"
    assert sorted(p.name for p in out.iterdir()) == [
        "caption.rst",
        "pictures.json",
        "recording.svg",
    ]
    caption = (out / "caption.rst").read_text()
    assert "**off**" in caption and "pictures: true" in caption
    assert "``snakesweep.pictures=true``" in caption
    assert "The pictures: not drawn" in (out / "recording.svg").read_text()
    assert json.loads((out / "pictures.json").read_text())["state"] == "off"
    assert [p.name for p in tmp_path.iterdir()] == ["pictures"]  # nothing left aside


def test_an_unreadable_dataset_is_a_placeholder_that_says_why(tmp_path: Path) -> None:
    (tmp_path / "sweep.nc").write_text("not netcdf")
    made = report_pictures.render_pictures(tmp_path / "sweep.nc", tmp_path / "pictures")
    assert made.state == "failed" and "cannot be read" in str(made.reason)
    caption = (tmp_path / "pictures" / "caption.rst").read_text()
    assert "**0 of 1\npictures could be drawn**" in caption
    assert "{% raw %}" in caption and "cannot be read" in caption
    assert "not drawn" in (tmp_path / "pictures" / "recording.svg").read_text()


def sweep_dataset() -> Any:
    """A merged sweep's Dataset, as the shipped example's: curves over step, repeats."""
    import numpy as np
    import xarray as xr

    rng = np.random.default_rng(0)
    shape = (2, 3, 3)
    return xr.Dataset(
        {
            "loss": (("model", "lr", "repeat", "step"), rng.random((*shape, 20))),
            "test_accuracy": (("model", "lr", "repeat"), rng.random(shape)),
            "run_id": (("model", "lr", "repeat"), np.full(shape, "0" * 16)),
            "status": (("model", "lr", "repeat"), np.full(shape, "done")),
        },
        coords={
            "model": ["linear", "mlp"],
            "lr": [0.03, 0.3, 1.0],
            "repeat": [0, 1, 2],
            "step": np.arange(20),
        },
    )


def test_default_pictures_are_drawn_by_matplotlib_in_process(tmp_path: Path) -> None:
    out = store.ReportPaths(str(tmp_path)).pictures
    made = report_pictures.render_pictures(sweep_dataset(), out)
    assert made.state == "rendered" and made.mode == "matplotlib" and made.fallback is None
    assert sorted(p.name for p in out.iterdir()) == [
        "caption.rst",
        "loss.png",
        "pictures.json",
        "test_accuracy.png",
    ]
    assert [(p.variable, p.drawn_by) for p in made.pictures] == [
        ("loss", "matplotlib"),
        ("test_accuracy", "matplotlib"),
    ]
    assert all(p.seconds is not None and p.reason is None for p in made.pictures)
    assert screenshots.png_size(out / "loss.png") is not None
    record = json.loads((out / "pictures.json").read_text())
    assert record["format"] == report_pictures.FORMAT and record["mode"] == "matplotlib"
    assert set(record["versions"]) == {"matplotlib"}
    caption = (out / "caption.rst").read_text()
    assert "drawn by matplotlib" in caption and "2 pictures took" in caption
    labels = report.picture_labels(tmp_path, "loss")
    assert labels["variable"] == "loss" and labels["over"] == "model × lr × repeat × step"
    assert labels["picture"].startswith("drawn by matplotlib in ")


def test_the_report_key_follows_the_merge_key_and_the_pictures_setting(tmp_path: Path) -> None:
    assert report.report_key(None, "matplotlib") is None
    keys = {report.report_key("k", mode) for mode in ("matplotlib", "rerun", "off")}
    assert len(keys) == 3
    assert report.report_key("k", "off") != report.report_key("j", "off")
    results = tmp_path / "results"
    paths = store.ReportPaths(str(results))
    assert report.stamp(results, "k", "off") is False  # nothing written yet
    assert paths.key_file.stat().st_mtime > 0
    for path in (paths.table, paths.provenance, paths.pictures / ".snakemake_timestamp"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    paths.index.write_text(json.dumps({"key": report.report_key("k", "off")}))
    assert report.stamp(results, "k", "off") is True
    assert paths.key_file.stat().st_mtime == 0  # older than any output: nothing to do
    assert report.stamp(results, "k", "matplotlib") is False  # pictures turned on
    assert paths.key_file.stat().st_mtime_ns > paths.index.stat().st_mtime_ns


# -- the real Snakemake and rerun ----------------------------------------------------------


def vulkan_drivers() -> list[str]:
    return sorted(f for d in ICD_DIRS for f in glob.glob(os.path.join(d, "*.json")))


@pytest.fixture(scope="session")
def gpu() -> None:
    """A Vulkan driver for rerun's headless viewer: installed already, or (as root, with
    apt) Debian's mesa-vulkan-drivers, a software GPU; else the test is skipped."""
    if vulkan_drivers():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            "no Vulkan driver for rerun's headless viewer, and installing "
            "mesa-vulkan-drivers needs root and apt-get"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [
        "apt-get",
        "install",
        "-y",
        "-q",
        *APT_LOCK_WAIT,
        "--no-install-recommends",
        "mesa-vulkan-drivers",
    ]
    with machine_lock("apt"):  # one apt at a time among parallel test workers
        if vulkan_drivers():  # another worker installed it while this one waited
            return
        out = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
        if out.returncode != 0:  # a fresh machine's package lists may be missing
            subprocess.run(
                ["apt-get", "update", "-q", *APT_LOCK_WAIT],
                capture_output=True,
                env=env,
                timeout=900,
            )
            out = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0 or not vulkan_drivers():
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-5:])
        pytest.skip(
            f"no Vulkan driver for rerun's headless viewer; apt-get install "
            f"mesa-vulkan-drivers failed ({out.returncode}): {tail}"
        )


def results_of(html: str) -> dict[str, Any]:
    """The files in a Snakemake report, by path: name, caption, labels, mime type, bytes."""
    found = re.search(r"var results = (\{.*?\});\n", html, re.S)
    assert found, "no results in the report"
    out = json.loads(found.group(1))
    for entry in out.values():
        entry["bytes"] = base64.b64decode(entry["data_uri"].split(";base64,", 1)[1])
    return out


def description_of(html: str) -> str:
    found = re.search(r"var workflow_desc = (\".*?\");\n", html, re.S)
    assert found, "no description in the report"
    return text_of(json.loads(found.group(1)))


def text_of(markup: str) -> str:
    """HTML as the text it shows, its white space made single spaces."""
    from html import unescape

    return " ".join(unescape(re.sub(r"<[^>]+>", "", markup)).split())


def pictures_project(project: Path, pictures: bool | str = True) -> Path:
    """The ``project`` fixture with ``snakesweep.pictures`` set, a Snakefile that includes
    the rules, and a git commit."""
    value = pictures if isinstance(pictures, str) else str(pictures).lower()
    config = project / "conf" / "config.yaml"
    config.write_text(
        config.read_text().replace(
            "  experiment: tinyexp:main\n", f"  experiment: tinyexp:main\n  pictures: {value}\n"
        )
    )
    write(
        project / "Snakefile",
        f"""
        include: {RULES!r}


        rule all:
            default_target: True
            input:
                rules.sweep.input,
        """,
    )
    write(project / ".gitignore", "calls.txt\nsleeping.txt\n*.html\n")
    tool("git", "init", "-q", "-b", "main", cwd=project)
    tool("git", "add", "-A", cwd=project)
    tool("git", "commit", "-qm", "a sweep", cwd=project)
    return project


def run_ids(project: Path) -> list[str]:
    with open(project / "results" / "runs.csv", newline="") as f:
        return [row["run_id"] for row in csv.DictReader(f)]


def check_report(html: str, project: Path) -> dict[str, Any]:
    """What every report of the sweep holds: its run table, its provenance summary and the
    captions; returns its pictures by variable."""
    files = results_of(html)
    assert CAPTIONS["sweep"] in description_of(html)
    table = files["results/report/runs.html"]
    assert CAPTIONS["runs"] in text_of(table["caption"])
    for run_id in run_ids(project):
        assert f"<td>{run_id}</td>" in table["bytes"].decode()
    provenance = files["results/report/provenance.html"]
    assert CAPTIONS["provenance"] in text_of(provenance["caption"])
    commit = tool("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    assert f"<code>{commit}</code>" in provenance["bytes"].decode()
    return {Path(p).stem: e for p, e in files.items() if p.startswith("results/report/pictures/")}


def check_picture(entry: dict[str, Any], variable: str, drawn_by: str, caption: str) -> None:
    """A real picture of ``variable`` drawn by ``drawn_by``: a PNG (of the window's size, at
    rerun's scale, for rerun's), not blank, captioned and labelled."""
    from PIL import Image

    assert entry["mime_type"] == "image/png"
    image = Image.open(io.BytesIO(entry["bytes"]))
    assert image.format == "PNG"
    if drawn_by == "rerun":
        assert image.size == (
            screenshots.WINDOW[0] * screenshots.PICTURE_SCALE,
            screenshots.WINDOW[1] * screenshots.PICTURE_SCALE,
        )
    else:
        assert image.size[0] >= 600 and image.size[1] >= 400
    colours = image.convert("RGB").getcolors(64)
    assert colours is None or len(colours) > 8, f"{variable}: a blank picture"
    assert text_of(entry["caption"]).startswith(f"{variable}, a result variable of the sweep")
    assert CAPTIONS[caption] in text_of(entry["caption"])
    assert entry["labels"]["variable"] == variable
    assert entry["labels"]["picture"].startswith(f"drawn by {drawn_by} in ")


@pytest.mark.slow
@pytest.mark.usefixtures("tool_env")
def test_the_report_shows_the_table_a_picture_per_variable_and_the_provenance(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default pictures are matplotlib's: drawn where no GPU is, in the report job."""
    for key, value in NO_GPU.items():
        monkeypatch.setenv(key, value)
    pictures_project(project)
    made = tool("snakemake", "--cores", "2", cwd=project)
    assert "snakesweep: report: 2 picture(s) drawn (2 by matplotlib) in " in made.stderr
    assert (project / "results" / "report" / "pictures" / "y.png").is_file()
    tool("snakemake", "--cores", "2", "--report", "report.html", cwd=project)
    pictures = check_report((project / "report.html").read_text(), project)
    assert sorted(pictures) == ["curve", "y"]
    for variable, entry in pictures.items():
        check_picture(entry, variable, "matplotlib", "matplotlib")
    assert pictures["curve"]["labels"]["over"] == "x × curve_dim_0"
    dry = tool("snakemake", "-n", cwd=project)
    assert "Nothing to be done" in dry.stdout + dry.stderr

    out = snakesweep("report", "--cores", "2", "--output", "again.html", cwd=project)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "snakesweep: report written to again.html"
    again = check_report((project / "again.html").read_text(), project)
    assert sorted(again) == ["curve", "y"]
    for variable, entry in again.items():
        check_picture(entry, variable, "matplotlib", "matplotlib")


@pytest.mark.slow
@pytest.mark.usefixtures("gpu", "tool_env")
def test_with_pictures_rerun_they_are_rerun_s_screenshots_of_the_recording(project: Path) -> None:
    pictures_project(project, "rerun")
    made = tool("snakemake", "--cores", "2", cwd=project)
    assert "snakesweep: report: 2 picture(s) drawn (2 by rerun) in " in made.stderr
    tool("snakemake", "--cores", "2", "--report", "report.html", cwd=project)
    pictures = check_report((project / "report.html").read_text(), project)
    assert sorted(pictures) == ["curve", "y"]
    for variable, entry in pictures.items():
        check_picture(entry, variable, "rerun", "rerun")


@pytest.mark.slow
@pytest.mark.usefixtures("tool_env")
def test_where_rerun_cannot_draw_matplotlib_does_and_caption_and_terminal_say_why(
    project: Path,
) -> None:
    pictures_project(project, "rerun")
    out = snakesweep("report", "--cores", "2", cwd=project, env=NO_GPU)
    assert out.returncode == 0, out.stderr
    assert json.loads((project / "results" / "sweep.json").read_text())["runs"]["done"] == 3
    # the terminal: the report job's stderr, which Snakemake shows
    said = [line for line in out.stderr.splitlines() if "snakesweep: report: " in line]
    assert said[0].startswith(
        "snakesweep: report: rerun's viewer could not draw the "
        "pictures; matplotlib drew them instead: rerun's viewer could "
        "not draw "
    ), said
    assert "No graphics adapter was found" in said[0]  # rerun's own words
    assert said[1].startswith("snakesweep: report: 2 picture(s) drawn (2 by matplotlib)")
    log = (project / "results" / ".snakesweep" / "logs" / "sweep_report.log").read_text()
    assert said[0] in log.splitlines()
    pictures = check_report((project / "results" / "report.html").read_text(), project)
    assert sorted(pictures) == ["curve", "y"]
    for variable, entry in pictures.items():
        check_picture(entry, variable, "matplotlib", "fallback")
        assert entry["labels"]["picture"].endswith(" s (rerun could not)")
        caption = text_of(entry["caption"])
        assert "No graphics adapter was found" in caption
        assert "apt-get install mesa-vulkan-drivers" in caption
        assert "snakemake --cores 1 --forcerun sweep_report" in caption


@pytest.mark.slow
@pytest.mark.usefixtures("tool_env")
def test_with_pictures_off_the_report_has_the_table_and_says_how_to_turn_them_on(
    project: Path,
) -> None:
    pictures_project(project, pictures=False)
    tool("snakemake", "--snakefile", SNAKEFILE, "--cores", "2", cwd=project)
    tool("snakemake", "--snakefile", SNAKEFILE, "--report", "report.html", cwd=project)
    pictures = check_report((project / "report.html").read_text(), project)
    assert list(pictures) == ["recording"]
    entry = pictures["recording"]
    assert entry["mime_type"] == "image/svg+xml" and entry["labels"]["picture"] == "off"
    caption = text_of(entry["caption"])
    assert CAPTIONS["off"] in caption and "override snakesweep.pictures=true" in caption
    assert not list((project / "results" / "report" / "pictures").glob("*.png"))

    # new runs: the merge runs again, and the report follows it
    grown = snakesweep("run", "--cores", "2", "x=1,2,3,4", cwd=project)
    assert grown.returncode == 0, grown.stderr
    page = (project / "results" / "report" / "runs.html").read_text()
    assert len(run_ids(project)) == 4 and all(f"<td>{r}</td>" in page for r in run_ids(project))
    dry = snakesweep("run", "x=1,2,3,4", "--", "-n", cwd=project)
    assert "Nothing to be done" in dry.stdout + dry.stderr


@pytest.mark.parametrize("command", ["run", "report"])
def test_a_bad_pictures_value_is_one_line_naming_the_key(project: Path, command: str) -> None:
    out = snakesweep(command, "+snakesweep.pictures=maybe", cwd=project)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "snakesweep: snakesweep.pictures: expected true, false or rerun, got 'maybe'"
    ]
    assert not (project / "results" / "runs").exists()


def test_a_report_is_a_html_or_zip_file(project: Path) -> None:
    out = snakesweep("report", "--output", "report.pdf", cwd=project)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "snakesweep: --output 'report.pdf': Snakemake writes a report to a .html file (or a "
        ".zip of one with its files)"
    ]


def test_the_rules_declare_what_the_report_job_writes() -> None:
    """The paths the Snakefile declares are the ones ``python -m snakesweep.view.report`` writes."""
    text = Path(RULES).read_text()
    assert "localrules:\n    merge_runs,\n    sweep_report," in text
    merge = (Path(RULES).parent / "rules" / "merge.smk").read_text()  # rule sweep is there
    assert "SWEEP.report_files," in merge.split("rule sweep:")[1].split("rule merge_runs:")[0]
    paths = store.ReportPaths("out")
    assert [str(p) for p in paths.outputs] == [
        "out/report/runs.html",
        "out/report/provenance.html",
        "out/report/pictures",
        "out/report/report.json",
    ]


@pytest.mark.slow
@pytest.mark.usefixtures("tool_env")
def test_the_report_goes_under_results_and_never_makes_the_next_sweep_a_debug_sweep(
    project: Path,
) -> None:
    write(project / ".gitignore", "calls.txt\nsleeping.txt\n/.snakemake/\n")
    tool("git", "init", "-q", "-b", "main", cwd=project)
    tool("git", "add", "-A", cwd=project)
    tool("git", "commit", "-qm", "a sweep", cwd=project)

    out = snakesweep("report", "--cores", "2", cwd=project)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "snakesweep: report written to results/report.html"
    check_report((project / "results" / "report.html").read_text(), project)
    grown = snakesweep("run", "--cores", "2", "x=1,2,3,4", cwd=project)
    assert grown.returncode == 0, grown.stderr
    status = snakesweep("status", "x=1,2,3,4", cwd=project).stdout
    assert "4 done" in status and "DEBUG SWEEP" not in status

    elsewhere = snakesweep("report", "--cores", "2", "-o", "mine.html", cwd=project)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert "git sees it as a change: add 'mine.html' to .gitignore" in elsewhere.stdout
