# The sweep in Snakemake's report, `snakemake --report results/report.html` (included by
# sweep.smk).


# What the report says of the sweep above its results.
report: SWEEP.caption("sweep")


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
