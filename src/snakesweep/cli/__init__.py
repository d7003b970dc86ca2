"""The ``snakesweep`` command: ``commands`` (the parser and what each command does) and
``init`` (``snakesweep init``)."""

from snakesweep.cli.commands import main

__all__ = ["main"]
