"""MkDocs hook (``hooks:`` in mkdocs.yml): the command-line reference, made from the parser.

A page that holds the line ``<!-- cli-reference -->`` gets, in its place, every command of
``snakesweep.cli.parser.build_parser()``: its help, its usage and a table of its arguments,
so the reference cannot drift from the command. ``cli_reference()`` is that Markdown.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["MARKER", "cli_reference", "on_page_markdown"]

MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Put the command-line reference where a page asks for it."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())


def cli_reference() -> str:
    """Every command of ``snakesweep``, as Markdown: a section each, in the parser's order."""
    from snakesweep.cli.parser import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps usage to the terminal's width
    try:
        parser = build_parser()
        parts = [_section(parser, "snakesweep", parser.description or "", level=2)]
        for name, (sub, help) in _commands(parser).items():
            parts.append(_section(sub, f"snakesweep {name}", sub.description or help, level=2))
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "\n".join(parts)


def _commands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """The parser's subcommands: name → (its parser, its one-line help)."""
    commands: dict[str, tuple[argparse.ArgumentParser, str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                commands.setdefault(name, (sub, helps.get(name, "")))
    return commands


def _section(parser: argparse.ArgumentParser, title: str, text: str, level: int) -> str:
    """One command: a heading, what it does, its usage and its arguments."""
    usage = parser.format_usage().removeprefix("usage: ").strip()
    rows = [
        _row(action)
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction)
    ]
    lines = [f"{'#' * level} `{title}`", "", text, "", "```text", usage, "```", ""]
    if rows:
        lines += ["| argument | default | what |", "|---|---|---|", *rows, ""]
    return "\n".join(lines)


def _row(action: argparse.Action) -> str:
    """A table row: the argument's spelling, its default and its help."""
    if action.option_strings:
        metavar = "" if action.nargs == 0 else f" {action.metavar or action.dest.upper()}"
        names = ", ".join(f"`{o}{metavar}`" for o in action.option_strings)
    else:
        names = f"`{action.metavar or action.dest}`" + (" …" if action.nargs in ("*", "+") else "")
    choices = f" (one of {', '.join(map(str, action.choices))})" if action.choices else ""
    default = action.default
    shown = (
        ""
        if default in (None, [], False, argparse.SUPPRESS) or action.nargs == 0
        else f"`{default}`"
    )
    help = (action.help or "") % {"prog": "snakesweep", "default": default}
    return f"| {names} | {shown} | {_cell(help + choices)} |"


def _cell(text: str) -> str:
    """Text that fits in one cell of a Markdown table."""
    return " ".join(text.split()).replace("|", "\\|")
