# snakesweep's rules: one job per pending run (or per batch of them), then one merge of every run,
# then the files of the sweep's report (`snakemake --report results/report.html`).
# Wiring only; what these names do lives in snakesweep.rules and is tested there.
from snakesweep.snakemake.workflow import (
    BATCH_COMMAND,
    BATCH_ID_PATTERN,
    MERGE_COMMAND,
    REPORT_COMMAND,
    RUN_COMMAND,
    RUN_ID_PATTERN,
    SweepWorkflow,
)

SWEEP = SweepWorkflow.from_config(config, workflow)


# The merge and the report read every run's files: done where Snakemake runs, never a cluster job.
localrules:
    merge_runs,
    sweep_report,


# What `snakemake --report results/report.html` says of the sweep above its results.
report: SWEEP.caption("sweep")


wildcard_constraints:
    run_id=RUN_ID_PATTERN,
    batch_id=BATCH_ID_PATTERN,


# The whole sweep; a Snakefile that includes these rules makes it its default target.
rule sweep:
    input:
        SWEEP.sweep_file,
        SWEEP.table_file,
        SWEEP.recording_file,
        SWEEP.provenance_file,
        SWEEP.provenance_diff,
        SWEEP.metrics_file,
        SWEEP.index_file,
        SWEEP.report_files,


# Every run, not merged (the `run` stage of dvc.yaml).
rule runs:
    input:
        SWEEP.run_results,


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
# snakesweep.batches.MAX_JOBS pending runs); the marker says every run of it is done.
rule run_batch:
    input:
        batch=SWEEP.batch_file_pattern,
    output:
        temp(SWEEP.batch_marker_pattern),
    resources:
        **SWEEP.batch_resources,
    shell:
        BATCH_COMMAND


# Reruns when a run job runs, or when the key of the layout and the runs differs from the
# one sweep.json records (merge.key is then dated newer); the runs' file times never decide
# (their results are ancient inputs, but for stale runs, which it must follow).
# It also writes results/plots/ (not declared: Snakemake would put a marker file in it).
# Its outputs are `update`d, never deleted first: the merge reads sweep.nc (only the runs that
# changed are read again), and a merge that fails leaves the previous merged files in place.
rule merge_runs:
    input:
        runs=SWEEP.merge_inputs,
        key=SWEEP.merge_key_file,
    output:
        sweep=update(SWEEP.sweep_file),
        table=update(SWEEP.table_file),
        recording=update(SWEEP.recording_file),
        provenance=update(SWEEP.provenance_file),
        diff=update(SWEEP.provenance_diff),
        metrics=update(SWEEP.metrics_file),
        index=update(SWEEP.index_file),
    log:
        SWEEP.merge_log,
    shell:
        MERGE_COMMAND


# The sweep in Snakemake's report: the run table, the provenance summary and a picture of each
# result variable, drawn as the config's snakesweep.pictures says (true, the default: by
# matplotlib; rerun: by rerun's viewer, headless, matplotlib where it cannot; false: none).
# Reruns when the report's key (the merge key, the pictures setting) differs from the one
# report.json records, never for file times: report.key is then dated newer, and the merged
# files are plain inputs, so that the report follows a merge that runs; while the report is
# fresh they are ancient. The job writes its log itself and says the same on stderr.
rule sweep_report:
    input:
        sweep=SWEEP.report_source(SWEEP.sweep_file),
        table=SWEEP.report_source(SWEEP.table_file),
        provenance=SWEEP.report_source(SWEEP.provenance_file),
        index=SWEEP.report_source(SWEEP.index_file),
        key=SWEEP.report_key_file,
    output:
        table=report(SWEEP.report_table, caption=SWEEP.caption("runs"), category="Runs"),
        provenance=report(
            SWEEP.report_provenance, caption=SWEEP.caption("provenance"), category="Provenance"
        ),
        pictures=report(
            directory(SWEEP.report_pictures),
            patterns=["{variable}.png", "{variable}.svg"],
            caption=SWEEP.pictures_caption,
            category="Pictures",
            labels=SWEEP.picture_labels,
        ),
        index=SWEEP.report_index,
    log:
        SWEEP.report_log,
    threads: SWEEP.report_threads
    shell:
        REPORT_COMMAND


onstart:
    SWEEP.start(workflow)


onsuccess:
    SWEEP.finish(failed=False)


onerror:
    SWEEP.finish(failed=True)
