# snakesweep's per-job client, sourced by the run_experiment rule: `snakesweep_run RUN_ID`.
#
# With a warm worker pool (SNAKESWEEP_POOL=PORT:TOKEN), it hands the run over 127.0.0.1
# and waits for the reply: pure bash, so a job starts no process of its own. The pool says
# `taken` when a worker takes the run, then `CODE<TAB>LINE` when it ends: from the worker,
# or, if the worker died in it, from the pool's master, saying what it recorded.
# With no pool to reach (a cluster node, a pool not started), or a pool that did not take
# the run (it was stopping), it runs the config in a fresh Python instead:
# `python -m snakesweep.execute`, which writes the same run directory.
# The plan file and results directory come from SNAKESWEEP_PLAN and SNAKESWEEP_RESULTS.
snakesweep_run() {
    local run_id=$1 reply=
    if [ -n "${SNAKESWEEP_POOL:-}" ] \
        && { exec 3<>"/dev/tcp/127.0.0.1/${SNAKESWEEP_POOL%%:*}"; } 2>/dev/null; then
        if { printf '%s\t%s\t%s\t%s\n' "${SNAKESWEEP_POOL#*:}" "$SNAKESWEEP_PLAN" "$run_id" \
                "$SNAKESWEEP_RESULTS" >&3; } 2>/dev/null \
            && IFS= read -r reply <&3; then
            if [ "$reply" = taken ] && ! IFS= read -r reply <&3; then
                exec 3>&-  # the worker and the pool's master are gone: nobody recorded it
                echo "snakesweep: run $run_id was cut short: the worker pool stopped before" \
                    'it ended and nothing was recorded; `snakesweep run` computes it' >&2
                return 1
            fi
            exec 3>&-
            if [ -n "${reply#*$'\t'}" ]; then
                printf '%s\n' "${reply#*$'\t'}" >&2
            fi
            return "${reply%%$'\t'*}"
        fi
        exec 3>&-  # not taken: the pool is stopping
    fi
    exec "$SNAKESWEEP_PYTHON" -m snakesweep.execute "$SNAKESWEEP_PLAN" "$run_id" \
        "$SNAKESWEEP_RESULTS"
}
