"""Hydra: the ``hydra/launcher=snakesweep`` launcher's core."""
