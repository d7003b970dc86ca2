"""Hydra: the ``hydra/launcher=snakesweep`` launcher's core."""

__all__: list[str] = []
