"""The report's pages: ``runs.html``, the run table (``runs.csv``), readable, and
``provenance.html``, what ``provenance.json`` says, summarised: commits, dirty or not, code
fingerprints, experiment, Python and package versions, hosts, counts."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["provenance_page", "table_page"]

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
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


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


def table_page(
    rows: Sequence[Mapping[str, str]],
    columns: Sequence[str],
    index: Mapping[str, Any] | None = None,
) -> str:
    """The run table as an HTML page: one row per run, as ``runs.csv`` holds it."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.get("status", "")] = counts.get(row.get("status", ""), 0) + 1
    said = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    sweep = ""
    if index:
        sweep = f" of sweep <code>{html.escape(str(index.get('config_name', '')))}</code>"
        if index.get("overrides"):
            sweep += " with " + " ".join(
                f"<code>{html.escape(str(o))}</code>" for o in index["overrides"]
            )
        if index.get("dims"):
            sweep += " over " + " × ".join(
                f"<code>{html.escape(str(d))}</code> ({len(v)})" for d, v in index["dims"].items()
            )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            text, number = _cell(row.get(c, "") or "")
            cells.append(
                f'<td class="n">{html.escape(text)}</td>'
                if number
                else f"<td>{html.escape(text)}</td>"
            )
        status = html.escape(row.get("status", ""))
        body.append(f'<tr class="{status}">{"".join(cells)}</tr>')
    return _page(
        "runs",
        f"<p>{len(rows)} runs{sweep}: {html.escape(said)}.</p>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>",
    )


def provenance_page(record: Mapping[str, Any]) -> str:
    """``provenance.json`` summarised as an HTML page."""
    sweep = record.get("sweep") or {}
    runs = record.get("runs") or {}
    parts = [
        f"<p>{_esc(sweep.get('runs'))} runs; the newest: "
        f"<code>{_esc(record.get('newest_run'))}</code>.</p>",
        _sweep_section(record, sweep),
        _counted("Runs by commit", runs.get("by_commit") or {}),
        *_git_section(record.get("git") or {}),
        _counted("Runs by code fingerprint", runs.get("by_code") or {}),
        _code_section(record),
        _counted("Runs by host", runs.get("by_host") or {}),
        _system_section(record.get("system") or {}),
        *_packages_sections(record),
    ]
    return _page("provenance", "\n".join(parts))


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _rows(pairs: Iterable[tuple[str, Any]]) -> str:
    """A table of a header and a value (HTML already) per row."""
    return (
        "<table>\n"
        + "\n".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
        + "\n</table>"
    )


def _counted(title: str, counts: Mapping[str, int]) -> str:
    """A section of how many runs have each value."""
    return (
        f"<h2>{_esc(title)}</h2>\n<table>\n<tr><th>value</th><th>runs</th></tr>\n"
        + "\n".join(
            f"<tr><td><code>{_esc('(none)' if k == 'None' else k)}</code></td>"
            f'<td class="n">{n}</td></tr>'
            for k, n in counts.items()
        )
        + "\n</table>"
    )


def _sweep_section(record: Mapping[str, Any], sweep: Mapping[str, Any]) -> str:
    debug = sweep.get("debug_runs") or []
    return "<h2>Sweep</h2>\n" + _rows(
        [
            ("start", _esc(sweep.get("start"))),
            ("end", _esc(sweep.get("end"))),
            ("duration", f"{_esc(sweep.get('duration'))} s"),
            ("compute", f"{_esc(sweep.get('compute_seconds'))} s (the runs' durations summed)"),
            (
                "debug runs",
                f'<span class="dirty">{len(debug)}</span> (computed from a working '
                "tree with uncommitted changes)"
                if debug
                else "none",
            ),
            ("without provenance", _esc(len(sweep.get("without_provenance") or []))),
            ("command", f"<code>{_esc(' '.join(record.get('command') or []))}</code>"),
        ]
    )


def _git_section(git: Mapping[str, Any]) -> list[str]:
    """The newest run's commit, branch and working tree; why there is none; or nothing."""
    if git.get("repository"):
        dirty = [*(git.get("dirty_paths") or []), *(git.get("untracked") or [])]
        return [
            "<h2>Git (the newest run)</h2>\n"
            + _rows(
                [
                    ("commit", f"<code>{_esc(git.get('commit'))}</code>"),
                    ("branch", _esc(git.get("branch") or "(detached HEAD)")),
                    (
                        "working tree",
                        '<span class="dirty">dirty</span>: '
                        + _esc(", ".join(dirty[:20]))
                        + (" …" if len(dirty) > 20 else "")
                        if git.get("dirty")
                        else "clean",
                    ),
                ]
            )
        ]
    if git:
        return ["<h2>Git</h2>\n<p>" + _esc(git.get("reason") or "no repository") + "</p>"]
    return []


def _code_section(record: Mapping[str, Any]) -> str:
    code = record.get("code") or {}
    experiment = record.get("experiment") or {}
    return "<h2>Code (the newest run)</h2>\n" + _rows(
        [
            ("experiment", f"<code>{_esc(experiment.get('entry_point'))}</code>"),
            ("fingerprint", f"<code>{_esc(code.get('fingerprint'))}</code>"),
            ("files", "<br>".join(f"<code>{_esc(f)}</code>" for f in code.get("files") or [])),
        ]
    )


def _system_section(system: Mapping[str, Any]) -> str:
    memory = system.get("memory_bytes")
    return "<h2>System (the newest run)</h2>\n" + _rows(
        [
            ("python", _esc(f"{system.get('python')} ({system.get('implementation')})")),
            ("os", _esc(system.get("os"))),
            ("cpu", _esc(system.get("cpu"))),
            ("cores", _esc(f"{system.get('cores_usable')} usable of {system.get('cores')}")),
            ("memory", _esc(f"{memory / 2**30:.1f} GiB" if memory else None)),
            ("host", _esc(system.get("host"))),
        ]
    )


def _packages_sections(record: Mapping[str, Any]) -> list[str]:
    """Versions; the allow-listed environment and the installed distributions, if any."""
    versions = record.get("versions") or {}
    parts = [
        "<h2>Versions</h2>\n"
        + _rows((k, _esc(v if v is not None else "not installed")) for k, v in versions.items())
    ]
    environment = record.get("environment") or {}
    if environment:
        parts.append(
            "<h2>Environment (allow-listed)</h2>\n"
            + _rows((k, f"<code>{_esc(v)}</code>") for k, v in environment.items())
        )
    distributions = record.get("distributions") or {}
    if distributions:
        parts.append(
            f"<details><summary>{len(distributions)} installed distributions"
            "</summary>\n" + _rows((k, _esc(v)) for k, v in distributions.items()) + "\n</details>"
        )
    return parts
