# The runs: a job per pending run, or per batch of K of them (included by sweep.smk).


# One run; its stdout/stderr, config and meta.json are in results/runs/<run_id>/.
# A run computed with other code (stale) has its code.key input dated newer than its result.
rule run_experiment:
    input:
        code=SWEEP.code_input,
    output:
        SWEEP.result_pattern,
    resources:
        **SWEEP.run_resources,
    shell:
        RUN_COMMAND


# K pending runs in one job, one after another (snakesweep.batch, --batch, or a sweep past
# snakesweep.execute.batches.MAX_JOBS pending runs); the marker says every run of it is done.
rule run_batch:
    input:
        batch=SWEEP.batch_file_pattern,
    output:
        temp(SWEEP.batch_marker_pattern),
    resources:
        **SWEEP.batch_resources,
    shell:
        BATCH_COMMAND


# Every run, not merged (the `run` stage of dvc.yaml).
rule runs:
    input:
        SWEEP.run_results,
