#!/bin/sh
# statsd_e2e.sh — a real vigild on loopback receives statsd / DogStatsD over
# UDP and TCP; after a flush the stored series, read back with
# `tsq --data-dir` while vigild runs, and its /metrics hold exactly the
# expected values. Then: SIGTERM flushes the last interval, and kill -9 loses
# at most the unflushed interval. Datagrams and TCP writes are sent with
# `statsd_load send`.
VIGILD="${VIGIL_BIN:?}/vigild"
TSQ="$VIGIL_BIN/tsq"
SEND="$VIGIL_BIN/bench/statsd_load"
TMP=$(mktemp -d /tmp/statsd_e2e.XXXXXX)
PID=
stop() { # stop SIGNAL: signals vigild (timeout's child) and waits for timeout
    [ -n "$PID" ] || return 0
    kill "-$1" "$(ps -o pid= --ppid "$PID" | tr -d ' ')" 2>/dev/null
    i=0
    while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$PID" 2>/dev/null
    wait "$PID"
    STATUS=$?
    PID=
}
trap 'stop KILL; rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP
. "$(dirname "$0")/lib/common.sh"
D=$TMP/data

# start FLUSH_INTERVAL: vigild on free random ports (retried), data in $D.
start() {
    printf 'statsd:\n  flush_interval: %s\n' "$1" > "$TMP/vigil.yml"
    for try in 1 2 3 4 5; do
        P=$(awk -v s="$$$try" 'BEGIN { srand(s); print 20000 + int(rand() * 39999) }')
        SP=$P HP=$((P + 1))
        timeout 120 "$VIGILD" --config "$TMP/vigil.yml" --data-dir "$D" \
            --statsd-listen "127.0.0.1:$SP" --http-listen "127.0.0.1:$HP" \
            >> "$TMP/vigild.log" 2>&1 &
        PID=$!
        i=0
        while [ $i -lt 100 ] && kill -0 "$PID" 2>/dev/null; do
            curl -sf "http://127.0.0.1:$HP/-/ready" > /dev/null 2>&1 && return 0
            sleep 0.1
            i=$((i + 1))
        done
        stop KILL
    done
    echo "vigild did not start:"; tail -n 20 "$TMP/vigild.log"
    return 1
}
udp() { "$SEND" send udp "127.0.0.1:$SP" "$@" || bad "sending $*"; }
tcp() { "$SEND" send tcp "127.0.0.1:$SP" "$@" || bad "sending over TCP $*"; }

# stored QUERY: `series value` per line from tsq's CSV at the current time
# (the series in CSV quotes when it has labels).
stored() { timeout 20 "$TSQ" --data-dir "$D" -o csv "$1" 2>&1 | sed '1d; s/,[^,]*,\([^,]*\)$/ \1/'; }
# expect_stored NAME QUERY EXPECTED: polls (flushes are 1 s apart) up to 10 s.
expect_stored() {
    i=0
    while [ "$(stored "$2")" != "$3" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    got=$(stored "$2")
    if [ "$got" = "$3" ]; then ok; else
        bad "$1"; printf '  want: %s\n  got:  %s\n' "$3" "$got"; fi
}
self_metric() { # self_metric SERIES: its value in /metrics
    curl -sf "http://127.0.0.1:$HP/metrics" | awk -v s="$1" '$1 == s {print $2}'
}

start 1s || { echo "$pass passed, 1 failed"; exit 1; }

# ---- values after a flush ------------------------------------------------
udp 'e2e.hits:1|c|@0.1' 'e2e.hits:2|c'
udp 'e2e.temp:10|g\ne2e.temp:+5|g\ne2e.temp:-3|g'
udp 'e2e.lat:125|ms\ne2e.lat:250|ms' 'e2e.lat:500|ms'
udp 'e2e.users:alice|s\ne2e.users:bob|s\ne2e.users:alice|s\ne2e.users:carol|s'
udp 'e2e.posted:1|c|#service:blog,region:eu' 'e2e.posted:1|c|#region:eu,service:blog'
udp 'e2e.mix:1|c\ne2e.bad:1|c|@bar\ne2e.mix:2|c'
tcp 'e2e.tcp:4|c\ne2e.tc' 'p:5|c\n'

expect_stored "counter with @0.1 and a plain increment" 'e2e_hits_total' 'e2e_hits_total 12'
expect_stored "gauge set, +5, -3" 'e2e_temp' 'e2e_temp 12'
expect_stored "timer count" 'e2e_lat_count' 'e2e_lat_count 3'
expect_stored "timer sum in seconds" 'e2e_lat_sum' 'e2e_lat_sum 0.875'
expect_stored "timer buckets (le is inclusive)" 'e2e_lat_bucket' \
'"e2e_lat_bucket{le=""+Inf""}" 3
"e2e_lat_bucket{le=""0.005""}" 0
"e2e_lat_bucket{le=""0.01""}" 0
"e2e_lat_bucket{le=""0.025""}" 0
"e2e_lat_bucket{le=""0.05""}" 0
"e2e_lat_bucket{le=""0.1""}" 0
"e2e_lat_bucket{le=""0.25""}" 2
"e2e_lat_bucket{le=""0.5""}" 3
"e2e_lat_bucket{le=""1""}" 3
"e2e_lat_bucket{le=""10""}" 3
"e2e_lat_bucket{le=""2.5""}" 3
"e2e_lat_bucket{le=""5""}" 3'
# The sketch's median is within its 1 % relative error of 0.25 s.
got=$(stored 'e2e_lat{quantile="0.5"}')
case $got in
'"e2e_lat{quantile=""0.5""}" '*)
    echo "$got" | awk '{exit !($2 >= 0.2475 && $2 <= 0.2525)}' && ok || bad "timer median: $got" ;;
*) bad "timer median: $got" ;;
esac
# A set's unique count covers one interval: 3 once, then 0 at later flushes.
got=$(stored 'e2e_users[5m]' | awk '{print $2}' | sort -u | tr '\n' ' ')
n3=$(stored 'e2e_users[5m]' | grep -c ' 3$')
case "$n3:$got" in 1:"0 3 " | 1:"3 ") ok ;; *) bad "set unique counts: $got" ;; esac
expect_stored "DogStatsD tags as labels, in any order" 'e2e_posted_total' \
    '"e2e_posted_total{region=""eu"", service=""blog""}" 2'
expect_stored "a bad line rejected, the rest of its datagram counted" 'e2e_mix_total' 'e2e_mix_total 3'
expect_stored "nothing stored for the bad line" 'e2e_bad_total' ''
expect_stored "TCP line split across two writes" 'e2e_tcp_total' 'e2e_tcp_total 9'

v=$(self_metric 'vigil_statsd_lines_rejected_total{reason="bad_sample_rate"}')
[ "$v" = 1 ] && ok || bad "rejected bad_sample_rate in /metrics: '$v'"

# ---- SIGTERM flushes the last interval -------------------------------------
stop TERM
[ "$STATUS" = 0 ] && ok || bad "vigild exit status $STATUS after SIGTERM"
start 1h || exit 1
udp 'e2e.final:7|c'
i=0
until [ "$(self_metric vigil_statsd_metrics_accepted_total)" = 1 ] || [ $i -ge 50 ]; do
    sleep 0.1; i=$((i + 1)); done
stop TERM
[ "$STATUS" = 0 ] && ok || bad "vigild exit status $STATUS after SIGTERM"
expect_stored "SIGTERM flushed the unflushed interval" 'e2e_final_total' 'e2e_final_total 7'

# ---- kill -9 loses at most the unflushed interval --------------------------
start 1s || exit 1
udp 'e2e.k9:5|c'
expect_stored "flushed before kill -9" 'e2e_k9_total' 'e2e_k9_total 5'
udp 'e2e.k9:1|c'
stop KILL
start 1s || exit 1
got=$(stored e2e_k9_total)
case $got in
'e2e_k9_total 5' | 'e2e_k9_total 6') ok ;;
*) bad "after kill -9 and restart: $got" ;;
esac
expect_stored "earlier intervals survive kill -9" 'e2e_hits_total' 'e2e_hits_total 12'
stop TERM

finish
