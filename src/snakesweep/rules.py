"""The rules a Snakefile includes: ``from snakesweep.rules import RULES`` then ``include: RULES``
(what ``snakesweep init`` writes). Everything else of the glue is ``snakesweep.snakemake``."""

from snakesweep.snakemake.workflow import RULES

__all__ = ["RULES"]
