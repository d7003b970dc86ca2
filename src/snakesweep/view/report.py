"""Report: the sweep in Snakemake's HTML report (``snakemake --report report.html``).

The ``sweep_report`` rule (``workflow/sweep.smk``) runs ``python -m snakesweep.view.report
RESULTS`` after the merge and writes ``RESULTS/report/``, every file of it flagged for
Snakemake's report:

* ``runs.html``: the run table (``runs.csv``), readable;
* ``provenance.html``: what ``provenance.json`` says, summarised: commits, dirty or not,
  code fingerprints, experiment, Python and package versions, hosts, counts;
* ``pictures/``: a picture of each numeric result variable (``render_pictures``), as the
  sweep's config sets ``snakesweep.pictures``: ``true`` (the default) draws them with
  matplotlib (``snakesweep.pictures``: curves, bands, bars, heatmaps with colour bars; a
  fraction of a second each, in this process, on any machine); ``rerun`` has rerun's viewer
  draw each variable's recording, headless; ``false``: none. With ``caption.rst``, the
  caption the report shows under them (written when they are drawn: how, and where one
  could not be, why and what to do) and ``pictures.json`` (the same, for programs);
* ``report.json``: the key the report was made for (see ``stamp``).

rerun's screenshots cost seconds per variable (its viewer starts, loads the recording, draws
ten frames; on a software GPU, Mesa's llvmpipe from Debian's ``mesa-vulkan-drivers``). Where
it cannot draw (no GPU, a timeout, an error), matplotlib draws that picture instead, and the
caption and the report job's stderr (which Snakemake shows) say why. A picture that cannot be
drawn at all is a placeholder saying why, and the sweep goes on: a report is never what
makes a sweep fail.

Freshness follows content, as for the merge (``snakesweep.freshness``): the report's key is a
hash of the merge key, the pictures setting and ``FORMAT``; ``stamp`` dates
``.snakesweep/report.key``, the rule's one input that is not ``ancient``, so that Snakemake
writes the report again exactly when that key changes, whatever the files' times say.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from snakesweep.core.options import PICTURE_MODES, PictureMode
from snakesweep.errors import SnakesweepError
from snakesweep.merge import freshness
from snakesweep.store import runs as store

__all__ = ["MODES", "PICTURE_SCALE", "RENDER_TIMEOUT", "WINDOW", "Picture", "PictureMode",
           "Pictures", "RenderError", "ReportPaths", "build_report", "check_output", "main",
           "render_dataset", "render_pictures", "render_recording", "stamp", "write_report"]

FORMAT = 2
"""The version of what ``write_report`` writes: a new one writes every report again."""
WINDOW = (1200, 750)
"""The viewer's window for one variable's picture, in logical points."""
PICTURE_SCALE = 2
"""Pixels per point of rerun's screenshots (it always draws them as on a high-dpi screen):
a picture is ``PICTURE_SCALE`` times the window, in pixels."""
RENDER_TIMEOUT = 120.0
"""Seconds one picture may take before the viewer is stopped (here: 2–5 s)."""
PICTURES_ENV = "SNAKESWEEP_PICTURES"
"""How the Snakefile tells the report job how the sweep's config wants its pictures drawn
(a ``PictureMode``)."""
MODES: tuple[PictureMode, ...] = PICTURE_MODES
REPORT_DIR = "report"
CAPTIONS = Path(__file__).parents[1] / "workflow" / "report"
"""The captions that ship with the rules (reStructuredText, templated by Snakemake)."""
NOISE = ("XDG_RUNTIME_DIR", "Troubleshooting Rerun", "Report bugs", "stack backtrace",
         "note: run with", "re_perf_telemetry")
"""Lines of rerun's stderr that never say why it failed."""
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LOG_LINE = re.compile(r"^\S+Z\s+(ERROR|WARN)\s+\S+:\s*(.*)$")
_FRAME = re.compile(r"^\s*(\d+:|at )")


class RenderError(SnakesweepError, RuntimeError):
    """rerun's headless viewer drew no picture; the message says why."""


# -- paths and freshness ---------------------------------------------------------------------

@dataclass(frozen=True)
class ReportPaths:
    """Where the report of the sweep in ``results`` lies."""

    results: str

    @property
    def directory(self) -> Path:
        return Path(self.results, REPORT_DIR)

    @property
    def table(self) -> Path:
        return self.directory / "runs.html"

    @property
    def provenance(self) -> Path:
        return self.directory / "provenance.html"

    @property
    def pictures(self) -> Path:
        return self.directory / "pictures"

    @property
    def index(self) -> Path:
        return self.directory / "report.json"

    @property
    def key_file(self) -> Path:
        return Path(self.results, ".snakesweep", "report.key")

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (self.table, self.provenance, self.pictures, self.index)


def report_key(merge_key: str | None, pictures: PictureMode) -> str | None:
    """What the report is made from: the merged runs (their key), how its pictures are drawn,
    and what this code writes. None while the runs are not all done."""
    if merge_key is None:
        return None
    text = f"{merge_key}\0pictures={pictures}\0format={FORMAT}\0window={WINDOW}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def recorded_key(results: str | os.PathLike[str]) -> str | None:
    """The key ``report.json`` records, when every file of the report is there."""
    paths = ReportPaths(str(results))
    if not all(p.exists() for p in paths.outputs):
        return None
    try:
        key = json.loads(paths.index.read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return key if isinstance(key, str) else None


def stamp(results: str | os.PathLike[str], merge_key: str | None,
          pictures: PictureMode) -> bool:
    """Write and date ``report.key`` (``freshness.date_key``) so that Snakemake writes the
    report exactly when its key changes; returns whether the report is fresh."""
    paths = ReportPaths(str(results))
    key = report_key(merge_key, pictures)
    fresh = key is not None and recorded_key(results) == key
    return freshness.date_key(paths.key_file, key, fresh,
                              [paths.table, paths.provenance, paths.index,
                               paths.pictures / ".snakemake_timestamp"])


# -- pictures --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Picture:
    """One variable's picture: the file (a PNG, or an SVG placeholder when not drawn)."""

    variable: str
    file: str
    dims: list[str]
    seconds: float | None = None
    """How long drawing it took; None when it was not drawn."""
    reason: str | None = None
    """Why it was not drawn; or, drawn by matplotlib instead, why rerun could not draw it."""
    drawn_by: str | None = None
    """``matplotlib`` or ``rerun``; None when it was not drawn."""

    @property
    def rendered(self) -> bool:
        return self.seconds is not None


@dataclass
class Pictures:
    """What ``render_pictures`` wrote: a picture per variable and what happened."""

    state: str
    """``rendered`` (every picture), ``failed`` (some or all not drawn), ``off``
    (``snakesweep.pictures`` is false) or ``nothing`` (no numeric result to picture)."""
    mode: PictureMode = "matplotlib"
    pictures: list[Picture] = field(default_factory=list)
    reason: str | None = None
    """Why a picture was not drawn (state ``failed``), or none was (``nothing``)."""
    fallback: str | None = None
    """With ``mode`` rerun: why rerun's viewer could not draw a picture that matplotlib then
    drew instead."""
    window: tuple[int, int] = WINDOW
    seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    """matplotlib's and rerun-sdk's, as they drew."""

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["window"] = list(self.window)
        return {"format": FORMAT, **out}


def render_pictures(source: Any, out_dir: str | os.PathLike[str], *,
                    pictures: PictureMode = "matplotlib", window: tuple[int, int] = WINDOW,
                    timeout: float = RENDER_TIMEOUT, jobs: int = 1) -> Pictures:
    """Draw one picture per numeric result variable of ``source`` (a Dataset, or the path of
    ``sweep.nc``) into ``out_dir``: ``<variable>.png``.

    ``pictures`` says how: ``matplotlib`` draws each in this process
    (``snakesweep.pictures.write_picture``); ``rerun`` has rerun's viewer draw the recording
    of each variable (with ``run_id`` and ``status``), headless, in a window of ``window``
    points (``PICTURE_SCALE`` times that in pixels): the first alone, then the others
    ``jobs`` at a time (a picture waits more than it computes: 3 take ~8 s one after
    another here, 5-7 s two or three at once). Where rerun cannot draw one, matplotlib draws
    it instead and ``fallback`` says why; when the first cannot be drawn (no GPU, a timeout,
    an error), rerun is not tried again. Never raises for a picture that cannot be drawn at
    all: it is an SVG placeholder (``<variable>.svg``) saying why. With ``off``, one
    placeholder says pictures are off. ``out_dir`` also gets ``caption.rst`` (the report's
    caption of the pictures) and ``pictures.json``; it is written aside and renamed into
    place, whole.
    """
    if pictures not in MODES:
        raise ValueError(f"pictures: expected one of {', '.join(MODES)}, got {pictures!r}")
    out = Path(out_dir)
    work = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        if pictures == "off":
            made = Pictures("off", "off", [_placeholder(work, "recording", [], "pictures are "
                                                        "off")], window=window)
        else:
            made = _draw(source, work, pictures, window, timeout, jobs)
        store.write_atomic(work / "pictures.json", json.dumps(made.record(), indent=1) + "\n")
        store.write_atomic(work / "caption.rst", _caption(made))
        store.replace_dir(out, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return made


def _draw(source: Any, work: Path, mode: PictureMode, window: tuple[int, int],
          timeout: float, jobs: int) -> Pictures:
    from importlib.metadata import version

    from snakesweep.view.dimensions import numeric_variables
    from snakesweep.view.pictures import file_stems

    made = Pictures("rendered", mode, window=window)
    start = time.monotonic()
    try:
        ds = _dataset(source)
    except Exception as exc:  # noqa: BLE001 - the report says why, the sweep goes on
        made.state, made.reason = "failed", f"the sweep's Dataset cannot be read: {exc}"
        made.pictures.append(_placeholder(work, "recording", [], made.reason))
        return made
    names = numeric_variables(ds)[0]
    if not names:
        made.state, made.reason = "nothing", "the sweep has no numeric result to picture"
        made.pictures.append(_placeholder(work, "recording", [], made.reason))
        return made
    stems = file_stems(names, reserved=("recording", "caption", "pictures"))
    drawn: dict[str, Picture | str] = {}
    if mode == "rerun":
        made.versions["rerun-sdk"] = version("rerun-sdk")
        drawn = _draw_rerun(ds, names, stems, work, window, timeout, jobs)
    import matplotlib.backends.backend_agg  # noqa: F401 - its import is not a picture's time
    import matplotlib.figure  # noqa: F401

    made.versions["matplotlib"] = version("matplotlib")
    for name in names:
        picture = drawn.get(name)
        if picture is None and mode == "rerun":
            picture = f"rerun's viewer was not tried, since it could not draw {names[0]}"
        if not isinstance(picture, Picture):  # rerun failed, or matplotlib's turn
            made.fallback = made.fallback or picture
            picture = _draw_matplotlib(ds, name, stems[name], work, picture)
        made.pictures.append(picture)
    failed = [p for p in made.pictures if not p.rendered]
    if failed:
        made.state, made.reason = "failed", f"{failed[0].variable}: {failed[0].reason}"
    if not any(p.drawn_by == "matplotlib" for p in made.pictures):
        del made.versions["matplotlib"]
    made.seconds = round(time.monotonic() - start, 3)
    return made


def _draw_matplotlib(ds: Any, name: str, stem: str, work: Path,
                     rerun_failed: str | None) -> Picture:
    """One variable's picture drawn by matplotlib (``rerun_failed``: why rerun could not)."""
    from snakesweep.view.pictures import write_picture

    dims = [str(d) for d in ds[name].dims]
    start = time.monotonic()
    try:
        write_picture(ds, name, work / f"{stem}.png")
    except Exception as exc:  # noqa: BLE001 - this variable only: say why, go on
        why = f"matplotlib could not draw it: {type(exc).__name__}: {exc}"
        if rerun_failed:
            why = f"{rerun_failed}; then {why}"
        return _placeholder(work, stem, dims, why, name)
    return Picture(name, f"{stem}.png", dims, round(time.monotonic() - start, 3),
                   rerun_failed, "matplotlib")


def _draw_rerun(ds: Any, names: Sequence[str], stems: Mapping[str, str], work: Path,
                window: tuple[int, int], timeout: float, jobs: int) -> dict[str, Picture | str]:
    """The pictures rerun's viewer draws, by variable, or why it could not draw one; the
    variables it was not tried on (since it could not draw the first) are left out."""
    from concurrent.futures import ThreadPoolExecutor

    from snakesweep.view.dimensions import BOOKKEEPING

    keep = [v for v in BOOKKEEPING if v in ds.data_vars]

    def draw(name: str) -> Picture | str:
        try:
            seconds = render_dataset(ds[[name, *keep]], work / f"{stems[name]}.png",
                                     window=window, timeout=timeout)
        except RenderError as exc:
            return f"rerun's viewer could not draw {name}: {exc}"
        except Exception as exc:  # noqa: BLE001 - this variable only: say why, go on
            return f"the recording of {name} cannot be written: {exc}"
        return Picture(name, f"{stems[name]}.png", [str(d) for d in ds[name].dims],
                       round(seconds, 3), None, "rerun")

    first = draw(names[0])
    if not isinstance(first, Picture):  # rerun would fail again, slowly
        return {names[0]: first}
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return {names[0]: first, **dict(zip(names[1:], pool.map(draw, names[1:]),
                                            strict=True))}


def _dataset(source: Any) -> Any:
    if isinstance(source, (str, os.PathLike)):
        import xarray as xr

        return xr.load_dataset(source, engine=store.ENGINE)
    return source


def render_dataset(dataset: Any, png: str | os.PathLike[str], *,
                   window: tuple[int, int] = WINDOW, timeout: float = RENDER_TIMEOUT) -> float:
    """Draw ``dataset``'s recording (``recording.to_rerun``, its time cursor at the end of
    its timeline) into ``png`` with rerun's headless viewer; returns the seconds rerun took.
    Raises ``RenderError`` when it draws nothing."""
    from snakesweep.view.recording import to_rerun

    png = Path(png)
    rrd = png.with_name(f".{png.stem}.{os.getpid()}.rrd")
    try:
        to_rerun(dataset, rrd, play_state="following")
        return render_recording(rrd, png, window=window, timeout=timeout)
    finally:
        rrd.unlink(missing_ok=True)


def render_recording(rrd: str | os.PathLike[str], png: str | os.PathLike[str], *,
                     window: tuple[int, int] = WINDOW, timeout: float = RENDER_TIMEOUT,
                     env: Mapping[str, str] | None = None) -> float:
    """Draw the recording ``rrd`` as rerun's viewer lays it out (its blueprint) into ``png``:
    ``rerun RRD --headless --screenshot-to PNG --window-size WxH``, in its own process group
    (stopped, group and all, when done or past ``timeout``), its server on 127.0.0.1 and a
    free port. ``png`` is written aside and renamed into place. Returns the seconds it took;
    raises ``RenderError`` saying why when it draws nothing."""
    from snakesweep.view.viewer import RERUN, _stop

    png = Path(png)
    tmp = png.with_name(f".{png.stem}.{os.getpid()}.tmp.png")  # rerun reads the format off it
    width, height = window
    command = [*RERUN, os.fspath(rrd), "--headless", "--screenshot-to", str(tmp),
               "--window-size", f"{width}x{height}", "--bind", "127.0.0.1", "--port", "auto"]
    # RUST_LOG=error: no log line becomes a notification drawn over the picture
    child_env = {**(os.environ if env is None else env), "RUST_LOG": "error"}
    start = time.monotonic()
    try:
        with tempfile.TemporaryFile() as err:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=err, env=child_env,
                                       start_new_session=True)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                raise RenderError(f"rerun's headless viewer drew nothing within {timeout:g} s "
                                  "(stopped)") from None
            finally:
                _stop(process)  # and whatever it started
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        seconds = time.monotonic() - start
        if code != 0:
            raise RenderError(f"rerun's headless viewer exited with status {code}: "
                              f"{why_failed(stderr)}")
        if png_size(tmp) is None:
            raise RenderError("rerun's headless viewer wrote no picture"
                              + (f": {why_failed(stderr)}" if why_failed(stderr) else ""))
        os.replace(tmp, png)
        return seconds
    finally:
        tmp.unlink(missing_ok=True)


def why_failed(stderr: str) -> str:
    """What rerun's stderr says of why it failed, in one line: its panic's message, else its
    last error, else its last line that is not boilerplate; paths made relative
    (``provenance.Places``)."""
    from snakesweep.provenance.record import Places

    lines = [_ANSI.sub("", ln).rstrip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    found = ""
    for i, line in enumerate(lines):
        if "panicked at" in line:
            quoted = re.search(r"panicked at '(.*)'", line)
            if quoted:
                found = quoted.group(1)
            elif i + 1 < len(lines):  # newer Rust: the location, then the message
                found = lines[i + 1]
            break
    if not found:
        errors = [m.group(2) for m in map(_LOG_LINE.match, lines) if m and m.group(1) == "ERROR"]
        if errors:
            found = errors[-1]
    if not found:
        rest = [ln for ln in lines if not _FRAME.match(ln) and not any(n in ln for n in NOISE)]
        found = rest[-1] if rest else ""
    return Places.here().text(found.strip())


def png_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """A PNG file's width and height in pixels; None when it is not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _placeholder(work: Path, stem: str, dims: list[str], reason: str,
                 variable: str | None = None) -> Picture:
    """An SVG that says the picture of ``variable`` (all, when None) was not drawn, and why."""
    title = f"{variable}: not drawn" if variable else "The pictures: not drawn"
    lines = [title, *_wrap(reason[:500], 84)[:6]]
    height = 40 + 26 * len(lines)
    bold = ' font-weight="bold"'
    texts = "\n".join(
        f'  <text x="24" y="{44 + 26 * i}" font-size="{20 if i == 0 else 15}"'
        f'{bold if i == 0 else ""}>{html.escape(line)}</text>'
        for i, line in enumerate(lines))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="720" height="{height}" '
           f'viewBox="0 0 720 {height}" font-family="sans-serif">\n'
           f'  <rect x="1" y="1" width="718" height="{height - 2}" fill="#f6f6f6" '
           f'stroke="#999" stroke-dasharray="6 4"/>\n{texts}\n</svg>\n')
    store.write_atomic(work / f"{stem}.svg", svg)
    return Picture(variable or "recording", f"{stem}.svg", dims, None, reason)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def _caption(made: Pictures) -> str:
    """The caption of the pictures (reStructuredText that Snakemake renders with Jinja2, once
    per picture: ``snakemake.wildcards.variable`` is its file's name)."""
    from snakesweep.view.dimensions import MAX_LINES

    width, height = made.window
    facts = {
        "window": f"{width}×{height}",
        "pixels": f"{width * PICTURE_SCALE}×{height * PICTURE_SCALE}",
        "rerun": made.versions.get("rerun-sdk", "?"),
        "matplotlib": made.versions.get("matplotlib", "?"),
        "seconds": f"{made.seconds:.1f}",
        "drawing": f"{sum(p.seconds or 0 for p in made.pictures):.2f}",
        "count": str(sum(p.rendered for p in made.pictures)),
        "total": str(len(made.pictures)),
        "fallback_count": str(sum(p.drawn_by == "matplotlib" for p in made.pictures)),
        "reason": _literal(made.reason or ""),
        "fallback": _literal(made.fallback or ""),
        "why": (made.reason or "").replace("{", "(").replace("}", ")"),
        "max_lines": str(MAX_LINES),
    }
    from string import Template

    name = {"rendered": "pictures", "failed": "pictures-failed", "off": "pictures-off",
            "nothing": "pictures-nothing"}[made.state]
    if made.state == "rendered" and made.fallback:
        name = "pictures-fallback"
    elif made.state == "rendered" and made.mode == "rerun":
        name = "pictures-rerun"
    template = Template((CAPTIONS / f"{name}.rst").read_text(encoding="utf-8"))
    return template.substitute(facts)


def _literal(text: str) -> str:
    """``text`` as an indented reStructuredText literal block that Jinja2 leaves alone."""
    text = text.replace("{%", "{ %").replace("%}", "% }")
    body = "\n".join(f"    {ln}" for ln in (text.splitlines() or [""]))
    return f"{{% raw %}}\n{body}\n{{% endraw %}}"


# -- the run table and the provenance summary -------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; position: sticky; top: 0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fde8e8; } tr.pending td { background: #fff6dd; }
code { font-size: 13px; } h2 { font-size: 16px; margin: 1em 0 0.3em; }
.dirty { color: #b00; font-weight: bold; }
"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _cell(text: str) -> tuple[str, bool]:
    """A CSV cell as shown: numbers to six significant digits; whether it is a number."""
    if text in ("", "nan", "NaN"):
        return ("" if text == "" else "NaN"), text != ""
    try:
        number = float(text)
    except ValueError:
        return text, False
    if re.fullmatch(r"[+-]?\d+", text):
        return text, True
    return f"{number:.6g}", True


def table_page(rows: Sequence[Mapping[str, str]], columns: Sequence[str],
               index: Mapping[str, Any] | None = None) -> str:
    """The run table as an HTML page: one row per run, as ``runs.csv`` holds it."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.get("status", "")] = counts.get(row.get("status", ""), 0) + 1
    said = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    sweep = ""
    if index:
        sweep = f" of sweep <code>{html.escape(str(index.get('config_name', '')))}</code>"
        if index.get("overrides"):
            sweep += " with " + " ".join(f"<code>{html.escape(str(o))}</code>"
                                         for o in index["overrides"])
        if index.get("dims"):
            sweep += " over " + " × ".join(
                f"<code>{html.escape(str(d))}</code> ({len(v)})" for d, v in index["dims"].items())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            text, number = _cell(row.get(c, "") or "")
            cells.append(f'<td class="n">{html.escape(text)}</td>' if number
                         else f"<td>{html.escape(text)}</td>")
        status = html.escape(row.get("status", ""))
        body.append(f'<tr class="{status}">{"".join(cells)}</tr>')
    return _page("runs", f"<p>{len(rows)} runs{sweep}: {html.escape(said)}.</p>\n"
                 f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
                 + "\n".join(body) + "\n</tbody>\n</table>")


def provenance_page(record: Mapping[str, Any]) -> str:
    """``provenance.json`` summarised as an HTML page."""
    def esc(value: Any) -> str:
        return html.escape("" if value is None else str(value))

    def rows(pairs: Iterable[tuple[str, Any]]) -> str:
        return "<table>\n" + "\n".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>"
                                       for k, v in pairs) + "\n</table>"

    def counted(title: str, counts: Mapping[str, int]) -> str:
        return (f"<h2>{esc(title)}</h2>\n<table>\n<tr><th>value</th><th>runs</th></tr>\n"
                + "\n".join(f'<tr><td><code>{esc("(none)" if k == "None" else k)}</code></td>'
                            f'<td class="n">{n}</td></tr>' for k, n in counts.items())
                + "\n</table>")

    sweep = record.get("sweep") or {}
    runs = record.get("runs") or {}
    git = record.get("git") or {}
    parts = [f"<p>{esc(sweep.get('runs'))} runs; the newest: "
             f"<code>{esc(record.get('newest_run'))}</code>.</p>"]
    debug = sweep.get("debug_runs") or []
    parts.append("<h2>Sweep</h2>\n" + rows([
        ("start", esc(sweep.get("start"))), ("end", esc(sweep.get("end"))),
        ("duration", f"{esc(sweep.get('duration'))} s"),
        ("compute", f"{esc(sweep.get('compute_seconds'))} s (the runs' durations summed)"),
        ("debug runs", f'<span class="dirty">{len(debug)}</span> (computed from a working '
         "tree with uncommitted changes)" if debug else "none"),
        ("without provenance", esc(len(sweep.get("without_provenance") or []))),
        ("command", f"<code>{esc(' '.join(record.get('command') or []))}</code>"),
    ]))
    parts.append(counted("Runs by commit", runs.get("by_commit") or {}))
    if git.get("repository"):
        dirty = [*(git.get("dirty_paths") or []), *(git.get("untracked") or [])]
        parts.append("<h2>Git (the newest run)</h2>\n" + rows([
            ("commit", f"<code>{esc(git.get('commit'))}</code>"),
            ("branch", esc(git.get("branch") or "(detached HEAD)")),
            ("working tree", '<span class="dirty">dirty</span>: ' + esc(", ".join(dirty[:20]))
             + (" …" if len(dirty) > 20 else "") if git.get("dirty") else "clean"),
        ]))
    elif git:
        parts.append("<h2>Git</h2>\n<p>" + esc(git.get("reason") or "no repository") + "</p>")
    parts.append(counted("Runs by code fingerprint", runs.get("by_code") or {}))
    code = record.get("code") or {}
    experiment = record.get("experiment") or {}
    parts.append("<h2>Code (the newest run)</h2>\n" + rows([
        ("experiment", f"<code>{esc(experiment.get('entry_point'))}</code>"),
        ("fingerprint", f"<code>{esc(code.get('fingerprint'))}</code>"),
        ("files", "<br>".join(f"<code>{esc(f)}</code>" for f in code.get("files") or [])),
    ]))
    parts.append(counted("Runs by host", runs.get("by_host") or {}))
    system = record.get("system") or {}
    memory = system.get("memory_bytes")
    parts.append("<h2>System (the newest run)</h2>\n" + rows([
        ("python", esc(f"{system.get('python')} ({system.get('implementation')})")),
        ("os", esc(system.get("os"))), ("cpu", esc(system.get("cpu"))),
        ("cores", esc(f"{system.get('cores_usable')} usable of {system.get('cores')}")),
        ("memory", esc(f"{memory / 2**30:.1f} GiB" if memory else None)),
        ("host", esc(system.get("host"))),
    ]))
    versions = record.get("versions") or {}
    parts.append("<h2>Versions</h2>\n" + rows(
        (k, esc(v if v is not None else "not installed")) for k, v in versions.items()))
    environment = record.get("environment") or {}
    if environment:
        parts.append("<h2>Environment (allow-listed)</h2>\n" + rows(
            (k, f"<code>{esc(v)}</code>") for k, v in environment.items()))
    distributions = record.get("distributions") or {}
    if distributions:
        parts.append(f"<details><summary>{len(distributions)} installed distributions"
                     "</summary>\n" + rows((k, esc(v)) for k, v in distributions.items())
                     + "\n</details>")
    return _page("provenance", "\n".join(parts))


# -- the report job --------------------------------------------------------------------------

def write_report(results: str | os.PathLike[str], pictures: PictureMode = "matplotlib", *,
                 window: tuple[int, int] = WINDOW, timeout: float = RENDER_TIMEOUT,
                 jobs: int = 1) -> Pictures:
    """Write ``RESULTS/report/`` from the merged files: the run table, the provenance
    summary, the pictures (or their placeholders), then ``report.json`` (its key), last."""
    results = str(results)
    paths = ReportPaths(results)
    paths.directory.mkdir(parents=True, exist_ok=True)
    with open(Path(results, freshness.RUNS_TABLE), newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    index = _read_json(Path(results, freshness.SWEEP_INDEX))
    store.write_atomic(paths.table, table_page(rows, columns, index))
    record = json.loads(Path(results, freshness.PROVENANCE).read_text(encoding="utf-8"))
    store.write_atomic(paths.provenance, provenance_page(record))
    made = render_pictures(Path(results, freshness.SWEEP), paths.pictures, window=window,
                           timeout=timeout, pictures=pictures, jobs=jobs)
    key = report_key((index or {}).get("key"), pictures)
    store.write_atomic(paths.index, json.dumps(
        {"key": key, "format": FORMAT, "pictures": made.state}, indent=1) + "\n")
    return made


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def picture_labels(results: str | os.PathLike[str], stem: str) -> dict[str, str]:
    """The report's labels of one picture (by its file's name), from ``pictures.json``."""
    record = _read_json(ReportPaths(str(results)).pictures / "pictures.json") or {}
    for p in record.get("pictures") or []:
        if Path(str(p.get("file", ""))).stem == stem:
            seconds = p.get("seconds")
            if seconds is not None:
                drawn = f"drawn by {p.get('drawn_by')} in {seconds:.2f} s"
                if p.get("reason"):
                    drawn += " (rerun could not)"
            else:
                drawn = "off" if record.get("state") == "off" else "not drawn"
            return {"variable": str(p.get("variable")),
                    "over": " × ".join(map(str, p.get("dims") or [])) or "—",
                    "picture": drawn}
    return {"variable": stem, "over": "—", "picture": "?"}


def check_output(output: str | os.PathLike[str]) -> None:
    """Refuse a report file Snakemake cannot write (``SnakesweepError`` naming it)."""
    if not str(output).endswith((".html", ".zip")):
        raise SnakesweepError(f"--output {str(output)!r}: Snakemake writes a report to a "
                              ".html file (or a .zip of one with its files)")


def build_report(plan: Any, invocation: Path, output: str | os.PathLike[str], cores: str,
                 extra: Sequence[str], command: Sequence[str], results: str) -> int:
    """``snakesweep report``: Snakemake builds the sweep's default target as ``snakesweep run``
    does (the pending runs, the merge, the report's files; ``extra``: Snakemake's arguments),
    then writes its report to ``output`` (``snakemake --report``) with the same Snakefile and
    config. Returns Snakemake's exit status."""
    from snakesweep.snakemake.workflow import run_snakemake

    check_output(output)
    code = run_snakemake(invocation, cores, extra, command, plan, results)
    if code != 0:
        print(f"snakesweep: snakemake exited with status {code}; no report written (its files "
              "are written once every run is done: `snakesweep status` says which is not)",
              file=sys.stderr)
        return code
    return run_snakemake(invocation, cores, ["--report", os.fspath(output)], command)


def main(argv: list[str] | None = None) -> int:
    """``python -m snakesweep.view.report RESULTS [JOBS [LOG]]``: write ``RESULTS/report/``, its
    pictures as ``SNAKESWEEP_PICTURES`` says (a ``PictureMode``; default ``matplotlib``),
    ``JOBS`` at a time. What it has to say goes to stderr (which Snakemake shows) and to
    ``LOG``."""
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 3 or (len(args) >= 2 and not args[1].isdigit()):
        print("usage: python -m snakesweep.view.report RESULTS [JOBS [LOG]]", file=sys.stderr)
        return 2
    log = open(args[2], "w", encoding="utf-8") if len(args) == 3 else None

    def say(text: str) -> None:
        for stream in (sys.stderr, log):
            if stream is not None:
                print(f"snakesweep: {text}", file=stream, flush=True)

    try:
        mode = os.environ.get(PICTURES_ENV) or "matplotlib"
        if mode not in MODES:
            say(f"{PICTURES_ENV}={mode!r}: expected one of {', '.join(MODES)}")
            return 2
        try:
            made = write_report(args[0], mode,  # type: ignore[arg-type]
                                jobs=int(args[1]) if len(args) >= 2 else 1)
        except (OSError, ValueError, KeyError) as exc:
            say(f"cannot write the report from {args[0]}: {exc}")
            return 2
        for line in _outcome(made):
            say(f"report: {line}")
        return 0
    except BaseException:
        if log is not None:
            import traceback

            traceback.print_exc(file=log)
        raise
    finally:
        if log is not None:
            log.close()


def _outcome(made: Pictures) -> list[str]:
    """What the report job says of its pictures (nothing when they are off)."""
    drawn = [p for p in made.pictures if p.rendered]
    by: dict[str, int] = {}
    for p in drawn:
        by[str(p.drawn_by)] = by.get(str(p.drawn_by), 0) + 1
    how = " and ".join(f"{n} by {who}" for who, n in by.items())
    lines = []
    if made.fallback:
        lines.append(f"rerun's viewer could not draw the pictures; matplotlib drew them "
                     f"instead: {made.fallback}")
    if made.state == "rendered":
        drawing = sum(p.seconds or 0 for p in drawn)
        lines.append(f"{len(drawn)} picture(s) drawn ({how}) in {drawing:.2f} s "
                     f"({made.seconds:.1f} s with reading the sweep)")
    elif made.state == "failed":
        lines.append(f"{len(drawn)} of {len(made.pictures)} picture(s) drawn; the others are "
                     f"placeholders: {made.reason}")
    elif made.state == "nothing":
        lines.append(f"no pictures: {made.reason}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
