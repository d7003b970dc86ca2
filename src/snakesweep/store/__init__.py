"""The results directory: every path in it, the run directories, their checksums, statuses
and locks."""
