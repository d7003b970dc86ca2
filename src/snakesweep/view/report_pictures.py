"""The report's pictures: ``RESULTS/report/pictures/``, a picture of each numeric result
variable, drawn as the sweep's config sets ``snakesweep.pictures`` (``render_pictures``).

``true`` (the default) draws them with matplotlib (``pictures``: curves, bands, bars,
heatmaps with colour bars; a fraction of a second each, in this process, on any machine);
``rerun`` has rerun's viewer draw each variable's recording, headless (``screenshots``);
``false``: none. Beside them, ``caption.rst``, the caption the report shows under them
(written when they are drawn: how, and where one could not be, why and what to do), and
``pictures.json`` (the same, for programs).

Where rerun cannot draw a picture (no GPU, a timeout, an error), matplotlib draws it
instead, and the caption and the report job's stderr (which Snakemake shows) say why. A
picture that cannot be drawn at all is a placeholder saying why, and the sweep goes on: a
report is never what makes a sweep fail.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import textwrap
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from string import Template
from typing import Any

from snakesweep import store
from snakesweep.core.options import PICTURE_MODES, PictureMode
from snakesweep.view.dimensions import BOOKKEEPING, MAX_LINES, numeric_variables
from snakesweep.view.pictures import file_stems, write_picture
from snakesweep.view.screenshots import (
    PICTURE_SCALE,
    RENDER_TIMEOUT,
    WINDOW,
    RenderError,
    render_dataset,
)

# xarray and matplotlib are imported in the functions that use them: the rules import the
# report, and a sweep without pictures needs neither.

__all__ = ["CAPTIONS", "FORMAT", "MODES", "Picture", "PictureMode", "Pictures", "render_pictures"]

FORMAT = 2
"""The version of what ``write_report`` writes: a new one writes every report again."""
MODES: tuple[PictureMode, ...] = PICTURE_MODES
CAPTIONS = Path(__file__).parents[1] / "workflow" / "report"
"""The captions that ship with the rules (reStructuredText, templated by Snakemake)."""


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


def render_pictures(
    source: Any,
    out_dir: str | os.PathLike[str],
    *,
    pictures: PictureMode = "matplotlib",
    window: tuple[int, int] = WINDOW,
    timeout: float = RENDER_TIMEOUT,
    jobs: int = 1,
) -> Pictures:
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
            made = Pictures(
                "off",
                "off",
                [_placeholder(work, "recording", [], "pictures are off")],
                window=window,
            )
        else:
            made = _draw(source, work, pictures, window, timeout, jobs)
        store.write_atomic(work / "pictures.json", json.dumps(made.record(), indent=1) + "\n")
        store.write_atomic(work / "caption.rst", _caption(made))
        store.replace_dir(out, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return made


def _draw(
    source: Any, work: Path, mode: PictureMode, window: tuple[int, int], timeout: float, jobs: int
) -> Pictures:
    """The pictures of ``source``'s numeric variables, drawn into ``work`` as ``mode`` says."""
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


def _draw_matplotlib(
    ds: Any, name: str, stem: str, work: Path, rerun_failed: str | None
) -> Picture:
    """One variable's picture drawn by matplotlib (``rerun_failed``: why rerun could not)."""
    dims = [str(d) for d in ds[name].dims]
    start = time.monotonic()
    try:
        write_picture(ds, name, work / f"{stem}.png")
    except Exception as exc:  # noqa: BLE001 - this variable only: say why, go on
        why = f"matplotlib could not draw it: {type(exc).__name__}: {exc}"
        if rerun_failed:
            why = f"{rerun_failed}; then {why}"
        return _placeholder(work, stem, dims, why, name)
    return Picture(
        name, f"{stem}.png", dims, round(time.monotonic() - start, 3), rerun_failed, "matplotlib"
    )


def _draw_rerun(
    ds: Any,
    names: Sequence[str],
    stems: Mapping[str, str],
    work: Path,
    window: tuple[int, int],
    timeout: float,
    jobs: int,
) -> dict[str, Picture | str]:
    """The pictures rerun's viewer draws, by variable, or why it could not draw one; the
    variables it was not tried on (since it could not draw the first) are left out."""
    keep = [v for v in BOOKKEEPING if v in ds.data_vars]

    def draw(name: str) -> Picture | str:
        try:
            seconds = render_dataset(
                ds[[name, *keep]], work / f"{stems[name]}.png", window=window, timeout=timeout
            )
        except RenderError as exc:
            return f"rerun's viewer could not draw {name}: {exc}"
        except Exception as exc:  # noqa: BLE001 - this variable only: say why, go on
            return f"the recording of {name} cannot be written: {exc}"
        return Picture(
            name,
            f"{stems[name]}.png",
            [str(d) for d in ds[name].dims],
            round(seconds, 3),
            None,
            "rerun",
        )

    first = draw(names[0])
    if not isinstance(first, Picture):  # rerun would fail again, slowly
        return {names[0]: first}
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return {names[0]: first, **dict(zip(names[1:], pool.map(draw, names[1:]), strict=True))}


def _dataset(source: Any) -> Any:
    """``source`` itself, or the Dataset of the ``sweep.nc`` it names."""
    if isinstance(source, (str, os.PathLike)):
        import xarray as xr

        return xr.load_dataset(source, engine=store.ENGINE)
    return source


def _placeholder(
    work: Path, stem: str, dims: list[str], reason: str, variable: str | None = None
) -> Picture:
    """An SVG that says the picture of ``variable`` (all, when None) was not drawn, and why."""
    title = f"{variable}: not drawn" if variable else "The pictures: not drawn"
    lines = [title, *_wrap(reason[:500], 84)[:6]]
    height = 40 + 26 * len(lines)
    bold = ' font-weight="bold"'
    texts = "\n".join(
        f'  <text x="24" y="{44 + 26 * i}" font-size="{20 if i == 0 else 15}"'
        f"{bold if i == 0 else ''}>{html.escape(line)}</text>"
        for i, line in enumerate(lines)
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="720" height="{height}" '
        f'viewBox="0 0 720 {height}" font-family="sans-serif">\n'
        f'  <rect x="1" y="1" width="718" height="{height - 2}" fill="#f6f6f6" '
        f'stroke="#999" stroke-dasharray="6 4"/>\n{texts}\n</svg>\n'
    )
    store.write_atomic(work / f"{stem}.svg", svg)
    return Picture(variable or "recording", f"{stem}.svg", dims, None, reason)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width) or [""]


def _caption(made: Pictures) -> str:
    """The caption of the pictures (reStructuredText that Snakemake renders with Jinja2, once
    per picture: ``snakemake.wildcards.variable`` is its file's name)."""
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
    name = {
        "rendered": "pictures",
        "failed": "pictures-failed",
        "off": "pictures-off",
        "nothing": "pictures-nothing",
    }[made.state]
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
