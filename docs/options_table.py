"""Print the table of the ``snakesweep:`` options, made from their schema.

The table is ``snakesweep.core.options.Options``: a row per field, with its default, the
values it takes and what it does, as the field's metadata says. The options reference page,
``docs/reference/options.md``, holds it between ``<!-- options:begin -->`` and
``<!-- options:end -->``; a test checks that it is the table printed here
(``tests/test_options.py``).

    python docs/options_table.py            # print the table
    python docs/options_table.py --write    # put it into the page, between the markers
    python docs/options_table.py --check    # exit 1 when the page holds another table
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from snakesweep.core.options import Options

__all__ = ["BEGIN", "END", "PAGE", "main", "page_table", "table", "with_table"]

PAGE = Path(__file__).resolve().parent / "reference" / "options.md"
BEGIN = "<!-- options:begin -->"
END = "<!-- options:end -->"


def table() -> str:
    """The Markdown table of every option, in the schema's order."""
    rows = ["| option | default | values | what |", "|---|---|---|---|"]
    for f in fields(Options):
        meta = f.metadata
        default = meta["default"]
        shown = default if default.startswith("(") else f"`{default}`"
        cells = [f"`{f.name}`", shown, meta["values"], meta["doc"]]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def _bounds(text: str) -> tuple[int, int]:
    """Where the table lies in ``text``: after the begin marker's line, up to the end
    marker; ``ValueError`` when the markers are missing or out of order."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise ValueError(f"the page has no {BEGIN} … {END} block")
    return text.index("\n", begin) + 1, end


def page_table(text: str) -> str:
    """The table a page holds between the markers."""
    start, stop = _bounds(text)
    return text[start:stop]


def with_table(text: str) -> str:
    """The page with the current table between the markers."""
    start, stop = _bounds(text)
    return text[:start] + table() + text[stop:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--write", action="store_true", help="write it into docs/reference/options.md"
    )
    what.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when docs/reference/options.md holds another table",
    )
    args = parser.parse_args(argv)
    if not (args.write or args.check):
        sys.stdout.write(table())
        return 0
    text = PAGE.read_text(encoding="utf-8")
    if args.check:
        if page_table(text) == table():
            return 0
        print(
            "docs/reference/options.md's table of options is not the schema's: run "
            "`python docs/options_table.py --write`",
            file=sys.stderr,
        )
        return 1
    PAGE.write_text(with_table(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
