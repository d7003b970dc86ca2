"""The runs → one sweep: ``sweep.nc``, ``runs.csv``, the summaries DVC shows."""
