"""``python -m snakesweep.merge PLAN RESULTS``: the merge job (``merge_runs``)."""

import sys

from snakesweep.merge.sweep import main

sys.exit(main())
