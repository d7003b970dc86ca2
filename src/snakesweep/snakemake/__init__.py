"""Snakemake: the rules' glue and the driver that starts it."""

__all__: list[str] = []
