"""Hydra's ``hydra/launcher=snakesweep``: Hydra sweeps run through Snakemake by snakesweep."""
