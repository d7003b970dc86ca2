# snakesweep's per-job client, sourced by the rules' jobs: `snakesweep_run RUN_ID`,
# `snakesweep_batch BATCH_FILE`, `snakesweep_merge LOG`, `snakesweep_report THREADS LOG`.
#
# With a warm worker pool (SNAKESWEEP_POOL=PORT:TOKEN), it hands the work over 127.0.0.1
# and waits for the reply: pure bash, so a job starts no process of its own. For a run or a
# batch the pool says `taken` when a worker takes it, then `CODE<TAB>LINE` when it ends:
# from the worker, or, if the worker died in it, from the pool's master, saying what it
# recorded. The merge and the report get `CODE<TAB>LINE` alone.
# With no pool to reach (a cluster node, a pool not started), or a pool that did not take
# the work (it was stopping; a worker that died in a merge or a report), it runs it in a
# fresh Python instead (`python -m snakesweep.execute`, `.execute.batches`, `.merge`,
# `.view.report`), which writes the same files.
# The plan file and results directory come from SNAKESWEEP_PLAN and SNAKESWEEP_RESULTS.

# _snakesweep_pool WHAT KIND FIELD...: the pool's answer (its code, its line on stderr);
# 100 when no pool took the work. (Jobs run under `set -e`: call it as `… || code=$?`.)
_snakesweep_pool() {
    local what=$1 kind=$2 reply= request
    shift
    [ -n "${SNAKESWEEP_POOL:-}" ] || return 100
    { exec 3<>"/dev/tcp/127.0.0.1/${SNAKESWEEP_POOL%%:*}"; } 2>/dev/null || return 100
    request=$(IFS=$'\t'; printf '%s' "${SNAKESWEEP_POOL#*:}"$'\t'"$*")
    if { printf '%s\n' "$request" >&3; } 2>/dev/null && IFS= read -r reply <&3; then
        if [ "$reply" = taken ] && ! IFS= read -r reply <&3; then
            exec 3>&-  # the worker and the pool's master are gone: nobody recorded it
            echo "snakesweep: $what was cut short: the worker pool stopped before" \
                'it ended and nothing was recorded; `snakesweep run` computes it' >&2
            return 1
        fi
        exec 3>&-
        # a run's or a batch's failure line: not when a progress display says it
        if [ -n "${reply#*$'\t'}" ] && { [ -z "${SNAKESWEEP_DISPLAY:-}" ] ||
            { [ "$kind" != run ] && [ "$kind" != batch ]; }; }; then
            printf '%s\n' "${reply#*$'\t'}" >&2
        fi
        return "${reply%%$'\t'*}"
    fi
    exec 3>&-  # not taken: the pool is stopping
    return 100
}

snakesweep_run() {
    local code=0
    _snakesweep_pool "run $1" run "$SNAKESWEEP_PLAN" "$1" "$SNAKESWEEP_RESULTS" || code=$?
    [ "$code" = 100 ] || return "$code"
    exec "$SNAKESWEEP_PYTHON" -m snakesweep.execute "$SNAKESWEEP_PLAN" "$1" \
        "$SNAKESWEEP_RESULTS"
}

snakesweep_batch() {
    local code=0
    _snakesweep_pool "batch $1" batch "$1" || code=$?
    [ "$code" = 100 ] || return "$code"
    exec "$SNAKESWEEP_PYTHON" -m snakesweep.execute.batches "$1"
}

snakesweep_merge() {
    local code=0
    _snakesweep_pool merge merge "$PWD" "$SNAKESWEEP_PLAN" "$SNAKESWEEP_RESULTS" "$1" || code=$?
    [ "$code" = 100 ] || return "$code"
    exec "$SNAKESWEEP_PYTHON" -m snakesweep.merge "$SNAKESWEEP_PLAN" "$SNAKESWEEP_RESULTS" \
        2> "$1"
}

snakesweep_report() {
    local code=0
    _snakesweep_pool report report "$PWD" "$SNAKESWEEP_RESULTS" "$1" "$2" \
        "${SNAKESWEEP_PICTURES:-}" || code=$?
    [ "$code" = 100 ] || return "$code"
    exec "$SNAKESWEEP_PYTHON" -m snakesweep.view.report "$SNAKESWEEP_RESULTS" "$1" "$2"
}
