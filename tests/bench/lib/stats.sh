# stats.sh — the measurements of the benchmark scripts, sourced with
#   . "$(dirname "$0")/lib/stats.sh"
# Each run's values are kept in $W/res (the script makes it).

# record KEY VALUE: one measurement of one run; median KEY: their median
# (n/a when nothing was recorded).
record() { echo "$2" >> "$W/res/$1"; }
median() {
    [ -s "$W/res/$1" ] || { echo n/a; return; }
    sort -g "$W/res/$1" | awk '{a[NR]=$1} END {
        m = NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.4g\n", m }'
}
