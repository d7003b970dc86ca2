# The merge of every run into the sweep's files, and the whole sweep (included by sweep.smk).


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
