"""Report: the sweep in Snakemake's HTML report (``snakemake --report report.html``).

The ``sweep_report`` rule (``workflow/sweep.smk``) runs ``python -m snakesweep.report
RESULTS`` after the merge and writes ``RESULTS/report/``, every file of it flagged for
Snakemake's report:

* ``runs.html``: the run table (``runs.csv``), readable;
* ``provenance.html``: what ``provenance.json`` says, summarised: commits, dirty or not,
  code fingerprints, experiment, Python and package versions, hosts, counts;
* ``pictures/``: a picture of each numeric result variable as the sweep's recording shows
  it, drawn by rerun's viewer, headless (``render_pictures``), when the sweep's config sets
  ``snakesweep.pictures: true``; with ``caption.rst``, the caption the report shows under
  them (written at render time: whether they were rendered, and if not, why and what to do)
  and ``pictures.json`` (the same, for programs);
* ``report.json``: the key the report was made for (see ``stamp``).

Rendering costs seconds per variable (rerun's viewer starts, loads the recording, draws ten
frames; on a software GPU, Mesa's llvmpipe from Debian's ``mesa-vulkan-drivers``). Where it
cannot draw (no GPU, a timeout, an error), the pictures are placeholders that say why, and
the sweep goes on: a report is never what makes a sweep fail.

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

from snakesweep import freshness, store
from snakesweep.errors import ConfigError, SnakesweepError

__all__ = ["PICTURE_SCALE", "RENDER_TIMEOUT", "WINDOW", "Picture", "Pictures", "RenderError",
           "ReportPaths", "build_report", "check_output", "main", "pictures_of",
           "pictures_setting", "render_dataset", "render_pictures", "render_recording",
           "stamp", "write_report"]

FORMAT = 1
"""The version of what ``write_report`` writes: a new one writes every report again."""
WINDOW = (1200, 750)
"""The viewer's window for one variable's picture, in logical points."""
PICTURE_SCALE = 2
"""Pixels per point of rerun's screenshots (it always draws them as on a high-dpi screen):
a picture is ``PICTURE_SCALE`` times the window, in pixels."""
RENDER_TIMEOUT = 120.0
"""Seconds one picture may take before the viewer is stopped (here: 2–5 s)."""
PICTURES_ENV = "SNAKESWEEP_PICTURES"
"""How the Snakefile tells the report job whether the sweep's config asks for pictures."""
REPORT_DIR = "report"
CAPTIONS = Path(__file__).with_name("workflow") / "report"
"""The captions that ship with the rules (reStructuredText, templated by Snakemake)."""
ADVICE = ("install a GPU driver, or a software GPU: on Debian or Ubuntu, `apt-get install "
          "mesa-vulkan-drivers`")
NOISE = ("XDG_RUNTIME_DIR", "Troubleshooting Rerun", "Report bugs", "stack backtrace",
         "note: run with", "re_perf_telemetry")
"""Lines of rerun's stderr that never say why it failed."""
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LOG_LINE = re.compile(r"^\S+Z\s+(ERROR|WARN)\s+\S+:\s*(.*)$")
_FRAME = re.compile(r"^\s*(\d+:|at )")


class RenderError(SnakesweepError, RuntimeError):
    """rerun's headless viewer drew no picture; the message says why."""


# -- options ---------------------------------------------------------------------------------

def pictures_of(options: Mapping[str, Any]) -> bool:
    """``snakesweep.pictures``: whether the report has pictures of the recording (default:
    false, since each costs seconds); ``ConfigError`` naming the key for anything but a
    boolean (or null, the default)."""
    value = options.get("pictures")
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError("snakesweep.pictures", f"expected true or false, got {value!r}")
    return value


def pictures_setting(run_options: Mapping[str, Mapping[str, Any]]) -> bool:
    """The sweep's pictures: on when any of its runs' configs turns them on."""
    seen: set[int] = set()
    on = False
    for options in run_options.values():
        if id(options) not in seen:  # runs of one plan share their options' object
            seen.add(id(options))
            on = pictures_of(options) or on
    return on


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


def report_key(merge_key: str | None, pictures: bool) -> str | None:
    """What the report is made from: the merged runs (their key), whether it has pictures,
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


def stamp(results: str | os.PathLike[str], merge_key: str | None, pictures: bool) -> bool:
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
    """One variable's picture: the file (a PNG, or an SVG placeholder when not rendered)."""

    variable: str
    file: str
    dims: list[str]
    seconds: float | None = None
    """How long rerun took to draw it; None when it was not rendered."""
    reason: str | None = None
    """Why it was not rendered."""

    @property
    def rendered(self) -> bool:
        return self.seconds is not None


@dataclass
class Pictures:
    """What ``render_pictures`` wrote: a picture per variable and what happened."""

    state: str
    """``rendered`` (every picture), ``failed`` (some or all not rendered), ``off``
    (``snakesweep.pictures`` is false) or ``nothing`` (no numeric result to picture)."""
    pictures: list[Picture] = field(default_factory=list)
    reason: str | None = None
    window: tuple[int, int] = WINDOW
    seconds: float = 0.0
    rerun: str | None = None

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["window"] = list(self.window)
        return {"format": FORMAT, **out}


def render_pictures(source: Any, out_dir: str | os.PathLike[str], *, window: tuple[int, int]
                    = WINDOW, timeout: float = RENDER_TIMEOUT, pictures: bool = True,
                    jobs: int = 1) -> Pictures:
    """Draw one picture per numeric result variable of ``source`` (a Dataset, or the path of
    ``sweep.nc``) into ``out_dir``: ``<variable>.png``, as rerun's viewer shows the
    recording of that variable (with ``run_id`` and ``status``), headless, in a window of
    ``window`` points (``PICTURE_SCALE`` times that in pixels).

    The first is drawn alone, then the others ``jobs`` at a time (a picture waits more than
    it computes: 3 take ~8 s one after another here, 5-7 s two or three at once). Never
    raises for a picture that cannot be drawn: it is an SVG placeholder (``<variable>.svg``)
    saying why; when the first cannot be drawn (no GPU, a timeout, an error), no other is
    tried. With ``pictures`` false, one placeholder says they are off. ``out_dir`` also gets
    ``caption.rst`` (the report's caption of the pictures) and ``pictures.json``; it is
    written aside and renamed into place, whole.
    """
    out = Path(out_dir)
    work = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        made = _draw(source, work, window, timeout, jobs) if pictures else Pictures(
            "off", [_placeholder(work, "recording", [], "pictures are off")], window=window)
        store.write_atomic(work / "pictures.json", json.dumps(made.record(), indent=1) + "\n")
        store.write_atomic(work / "caption.rst", _caption(made))
        store.replace_dir(out, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return made


def _draw(source: Any, work: Path, window: tuple[int, int], timeout: float,
          jobs: int) -> Pictures:
    from concurrent.futures import ThreadPoolExecutor
    from importlib.metadata import version

    from snakesweep.recording import BOOKKEEPING

    made = Pictures("rendered", window=window, rerun=version("rerun-sdk"))
    start = time.monotonic()
    try:
        ds = _dataset(source)
    except Exception as exc:  # noqa: BLE001 - the report says why, the sweep goes on
        made.state, made.reason = "failed", f"the sweep's Dataset cannot be read: {exc}"
        made.pictures.append(_placeholder(work, "recording", [], made.reason))
        return made
    keep = [v for v in BOOKKEEPING if v in ds.data_vars]
    names = [str(n) for n, v in ds.data_vars.items()
             if n not in BOOKKEEPING and v.dtype.kind in "biuf"]
    if not names:
        made.state, made.reason = "nothing", "the sweep has no numeric result to picture"
        made.pictures.append(_placeholder(work, "recording", [], made.reason))
        return made
    stems = _stems(names)

    def draw(name: str) -> Picture:
        dims = [str(d) for d in ds[name].dims]
        try:
            seconds = render_dataset(ds[[name, *keep]], work / f"{stems[name]}.png",
                                     window=window, timeout=timeout)
        except RenderError as exc:
            return _placeholder(work, stems[name], dims, str(exc), name)
        except Exception as exc:  # noqa: BLE001 - this variable only: say why, go on
            why = f"its recording cannot be written: {exc}"
            return _placeholder(work, stems[name], dims, why, name)
        return Picture(name, f"{stems[name]}.png", dims, round(seconds, 3))

    first = draw(names[0])
    if first.rendered:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            rest = list(pool.map(draw, names[1:]))
    else:  # rerun would fail again, slowly: say why once for all
        rest = [_placeholder(work, stems[n], [str(d) for d in ds[n].dims],
                             f"not tried, since {names[0]} could not be: {first.reason}", n)
                for n in names[1:]]
    made.pictures = [first, *rest]
    failed = [p for p in made.pictures if not p.rendered]
    if failed:
        made.state, made.reason = "failed", f"{failed[0].variable}: {failed[0].reason}"
    made.seconds = round(time.monotonic() - start, 3)
    return made


def _dataset(source: Any) -> Any:
    if isinstance(source, (str, os.PathLike)):
        import xarray as xr

        return xr.load_dataset(source, engine=store.ENGINE)
    return source


def _stems(names: Sequence[str]) -> dict[str, str]:
    """A file name (without suffix) per variable: the name, where it is one."""
    out: dict[str, str] = {}
    for name in names:
        stem = re.sub(r"[^\w.=+-]", "_", name).lstrip(".") or "variable"
        while stem in out.values() or stem in ("recording", "caption", "pictures"):
            stem += "_"
        out[name] = stem
    return out


def render_dataset(dataset: Any, png: str | os.PathLike[str], *,
                   window: tuple[int, int] = WINDOW, timeout: float = RENDER_TIMEOUT) -> float:
    """Draw ``dataset``'s recording (``recording.to_rerun``, its time cursor at the end of
    its timeline) into ``png`` with rerun's headless viewer; returns the seconds rerun took.
    Raises ``RenderError`` when it draws nothing."""
    from snakesweep.recording import to_rerun

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
    from snakesweep.viewer import RERUN, _stop

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
    from snakesweep.provenance import Places

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
    """An SVG that says the picture of ``variable`` (all, when None) was not rendered, and why."""
    title = f"{variable}: not rendered" if variable else "The recording: not rendered"
    lines = [title, *_wrap(reason[:500], 84)[:5]]
    if "pictures are off" not in reason:
        lines += _wrap(f"What to do: {ADVICE}.", 84)
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
    width, height = made.window
    facts = {
        "window": f"{width}×{height}",
        "pixels": f"{width * PICTURE_SCALE}×{height * PICTURE_SCALE}",
        "rerun": made.rerun or "?",
        "seconds": f"{made.seconds:.1f}",
        "count": str(sum(p.rendered for p in made.pictures)),
        "total": str(len(made.pictures)),
        "reason": _literal(made.reason or ""),
        "why": (made.reason or "").replace("{", "(").replace("}", ")"),
    }
    from string import Template

    name = {"rendered": "pictures", "failed": "pictures-failed", "off": "pictures-off",
            "nothing": "pictures-nothing"}[made.state]
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

def write_report(results: str | os.PathLike[str], pictures: bool, *,
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
            return {"variable": str(p.get("variable")),
                    "over": " × ".join(map(str, p.get("dims") or [])) or "—",
                    "picture": f"rendered in {seconds:.1f} s" if seconds is not None
                    else ("off" if record.get("state") == "off" else "not rendered")}
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
    from snakesweep.rules import run_snakemake

    check_output(output)
    code = run_snakemake(invocation, cores, extra, command, plan, results)
    if code != 0:
        print(f"snakesweep: snakemake exited with status {code}; no report written (its files "
              "are written once every run is done: `snakesweep status` says which is not)",
              file=sys.stderr)
        return code
    return run_snakemake(invocation, cores, ["--report", os.fspath(output)], command)


def main(argv: list[str] | None = None) -> int:
    """``python -m snakesweep.report RESULTS [JOBS]``: write ``RESULTS/report/`` (pictures
    when ``SNAKESWEEP_PICTURES`` is 1, ``JOBS`` at a time)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or (len(args) == 2 and not args[1].isdigit()):
        print("usage: python -m snakesweep.report RESULTS [JOBS]", file=sys.stderr)
        return 2
    pictures = os.environ.get(PICTURES_ENV) == "1"
    try:
        made = write_report(args[0], pictures, jobs=int(args[1]) if len(args) == 2 else 1)
    except (OSError, ValueError, KeyError) as exc:
        print(f"snakesweep: cannot write the report from {args[0]}: {exc}", file=sys.stderr)
        return 2
    drawn = [p for p in made.pictures if p.rendered]
    if made.state == "rendered":
        print(f"snakesweep: report: {len(drawn)} picture(s) in {made.seconds:.1f} s",
              file=sys.stderr)
    elif made.state == "failed":
        print(f"snakesweep: report: {len(drawn)} of {len(made.pictures)} picture(s) rendered; "
              f"the others are placeholders: {made.reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
