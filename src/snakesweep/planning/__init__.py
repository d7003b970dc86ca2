"""The plan: every point of a sweep, composed, with its run id, cached between invocations.

Its modules, each importing only those before it: ``seal`` (files that carry their own
digest), ``plan`` (``Plan``, ``PlannedPoint`` and their two files), ``sources`` (the
Python files a plan is made with), ``composition`` (points → configs, on every core),
``rounds`` (adaptive sweeps, given the Results of a plan's runs), ``cache`` (where a plan
is cached, when a cached one is used), ``from_run`` (``--from``), ``make`` (``make_plan``).
Planning merges nothing: ``snakesweep.api.plans`` gives it the merge of a round's runs.
"""

__all__: list[str] = []
