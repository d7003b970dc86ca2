"""``python -m snakesweep.merge PLAN RESULTS``: the merge job (the rule ``merge_runs``)."""

import sys

from snakesweep.merge.sweep import main

__all__: list[str] = []

sys.exit(main())
