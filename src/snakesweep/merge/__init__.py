"""The runs → one sweep: ``sweep.nc``, ``runs.csv``, the summaries DVC shows.

``sweep`` writes the merged files (the merge job: ``python -m snakesweep.merge``);
``dataset`` merges the runs into one Dataset, read by ``direct`` (``layouts``: the result
files; ``reuse``: the runs merged before, from ``sweep.nc``) or by ``reference``, placed as
``alignment`` says; ``table`` is ``runs.csv``; ``index`` what the merged files hold already,
``freshness`` when to merge again, ``summaries`` what DVC shows."""

__all__: list[str] = []
