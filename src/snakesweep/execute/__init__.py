"""Running a plan's runs.

``execution`` runs one (``execute_run``; in a child process, ``execute_contained``; by hand,
``python -m snakesweep.execute``): its experiment (``experiment``) or a job of Hydra's
launcher (``hydra_task``), the run handle it gets (``handle``), its output (``output``), and
the process put back as it was after it (``isolation``). ``pool`` is the warm worker pool,
``batches`` computes K runs per job, ``devices`` and ``resources`` are what a run's job gets,
``descendants`` ends the processes a command leaves behind.
"""

__all__: list[str] = []
