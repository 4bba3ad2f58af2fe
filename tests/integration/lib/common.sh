# common.sh — what the integration suites share; each sources it with
#   . "$(dirname "$0")/lib/common.sh"
# It lives below tests/integration/ so that run-all.sh does not run it as a
# suite. Every suite ends with one line "N passed, N failed".

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # NAME CONDITION...
    name=$1; shift
    if "$@"; then ok; else bad "$name"; fi
}
# finish: "N passed, N failed" and exit, 0 only when nothing failed; after a
# failure, first the last 30 lines of $FINISH_LOG when the suite sets it.
finish() {
    [ $fail = 0 ] || [ -z "${FINISH_LOG:-}" ] || { echo "--- vigild log"; tail -30 "$FINISH_LOG"; }
    echo "$pass passed, $fail failed"; [ $fail = 0 ]; exit $?
}

# scratch NAME: TMP, a fresh directory below /tmp; at exit every process in
# PIDS is killed and TMP removed; a signal ends the suite (status 1).
scratch() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    PIDS=""
    trap 'for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
    trap 'exit 1' INT TERM HUP PIPE
}

# port: a random port in 20000-59999 (callers retry when it is taken).
port() { echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000)); }
# wait_for SECONDS COMMAND...: until COMMAND succeeds, bounded.
wait_for() {
    n=$(($1 * 10)); shift
    while [ $n -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1; n=$((n - 1))
    done
    return 1
}
eventually() { # SECONDS NAME COMMAND...
    s=$1; name=$2; shift 2
    if wait_for "$s" "$@"; then ok; else bad "$name"; fi
}

# start_vigild [CONFIG DATA_DIR]: $VIGILD with CONFIG ($TMP/vigil.yml) and
# DATA_DIR ($D) on fresh loopback ports, retried while a port is taken, its
# stderr appended to $TMP/vigild.log; ready, it joins PIDS. Sets VPID, HP
# (HTTP port), SP (statsd port).
start_vigild() {
    for try in 1 2 3 4 5; do
        HP=$(port); SP=$(port)
        "$VIGILD" --config "${1:-$TMP/vigil.yml}" --data-dir "${2:-$D}" --http-listen "127.0.0.1:$HP" \
            --statsd-listen "127.0.0.1:$SP" 2>>"$TMP/vigild.log" &
        VPID=$!
        if wait_for 10 curl -sf -m 1 "http://127.0.0.1:$HP/-/ready"; then
            PIDS="$PIDS $VPID"; return 0
        fi
        kill -9 $VPID 2>/dev/null; wait $VPID 2>/dev/null; VPID=""
        grep -q "address already in use" "$TMP/vigild.log" || break
    done
    return 1
}
