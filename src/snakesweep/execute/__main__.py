"""``python -m snakesweep.execute PLAN RUN_ID RESULTS``: one run, in this process (a cluster
job, or a run started by hand)."""

import sys

from snakesweep.execute.execution import main

__all__: list[str] = []

sys.exit(main())
