"""Sweeps started from Python and notebooks: ``snakesweep.sweep(...)`` and ``Sweep`` (the
Python face beside the CLI, over the same plan, engine and store)."""

__all__: list[str] = []
