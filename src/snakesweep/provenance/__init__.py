"""Provenance: where every value came from. Git, code, environment, system and timing.

Its modules, each importing only those before it: ``places`` (paths made relative),
``environment`` (the allow-listed variables, versions, the system), ``git`` (git state,
debug runs), ``code`` (the code fingerprint; ``CurrentCode``, which tells stale runs),
``session`` (what is captured once per invocation), ``record`` (``run_record``, a run's
``provenance`` in its ``meta.json``; ``sweep_record``, ``results/provenance.json``).

What is captured when:

* **once per invocation** (``session``): git state, command line, start time, Python,
  package versions, every installed distribution;
* **once per process**: system facts (OS, CPU, cores, memory, host), and the bytes of
  each source file of the experiment, read when the process loads it (the pool's workers:
  when the pool warms up), so they are the code the runs of that process execute;
* **per run**: the allow-listed environment variables, whether the run is a debug run, and
  which files its code fingerprint covers.

What is never recorded: an environment variable not in ``environment.ENV_ALLOWED``, or an
absolute path under the user's home. Paths are relative to the repository (or the working
directory outside one); command lines, error messages and tracebacks are rewritten the
same way, whichever spelling of the repository or home they use (through a symlink or not).
"""

__all__: list[str] = []
