# snakesweep's rules: one job per pending run (or per batch of them), then one merge of every run,
# then the files of the sweep's report (`snakemake --report results/report.html`).
# Wiring only: what these names do lives in snakesweep.snakemake.workflow and is tested there.
# A Snakefile includes this file (`from snakesweep.rules import RULES`, `include: RULES`) and
# makes `rules.sweep.input` its default target.
from snakemake.utils import validate

from snakesweep.snakemake.workflow import (
    BATCH_COMMAND,
    BATCH_ID_PATTERN,
    MERGE_COMMAND,
    REPORT_COMMAND,
    RUN_COMMAND,
    RUN_ID_PATTERN,
    SweepWorkflow,
)


# The options under config["snakesweep"]: known keys only, of their types; defaults filled in.
validate(config, "schemas/config.schema.yaml")


SWEEP = SweepWorkflow.from_config(config, workflow)


wildcard_constraints:
    run_id=RUN_ID_PATTERN,
    batch_id=BATCH_ID_PATTERN,


# The merge and the report read every run's files: done where Snakemake runs, never a cluster job.
localrules:
    merge_runs,
    sweep_report,


# The runs: run_experiment (one run per job), run_batch (K runs per job), runs (all of them).
include: "rules/run.smk"
# The merge of every run: merge_runs; and sweep, the whole sweep (a Snakefile's target).
include: "rules/merge.smk"
# The files of the sweep in Snakemake's report: sweep_report.
include: "rules/report.smk"


onstart:
    SWEEP.start(workflow)


onsuccess:
    SWEEP.finish(failed=False)


onerror:
    SWEEP.finish(failed=True)
