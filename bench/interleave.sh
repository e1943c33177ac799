#!/usr/bin/env bash
# interleave.sh: compares synfin builds on a noisy machine. Runs each
# binary in turn (A, B, A, B, ...) for ROUNDS rounds with the same
# arguments, and prints per binary the median and the minimum of wall,
# user and system time (GNU time), and the runs' wall times.
#
#   bench/interleave.sh ROUNDS "SYNFIN ARGUMENTS" BINARY...
#
#   bench/interleave.sh 5 "-q -o /dev/null --census /tmp/c.csv bench/data/trace-d45-r12250-s1.pcap" \
#       /tmp/synfin-before build-bench/synfin
#
# Output goes to /dev/null; nothing is compared (bench/compare.sh does).
set -euo pipefail
(($# >= 3)) || { sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "interleave.sh: needs GNU time (Debian package time)" >&2; exit 2; }
rounds=$1
read -r -a args <<<"$2"
shift 2
t=$(mktemp)
trap 'rm -f "$t"' EXIT
declare -A W U S
for ((r = 0; r < rounds; r++)); do
    for b in "$@"; do
        /usr/bin/time -o "$t" -f "%e %U %S" "$b" "${args[@]}" >/dev/null 2>&1 || true
        read -r w u s <"$t"
        W[$b]+="$w " U[$b]+="$u " S[$b]+="$s "
    done
done
med() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
min() { tr ' ' '\n' <<<"$1" | grep . | sort -n | head -1; }
for b in "$@"; do
    printf '%s: wall %s (min %s) user %s (min %s) sys %s   runs: %s\n' "$b" \
        "$(med "${W[$b]}")" "$(min "${W[$b]}")" "$(med "${U[$b]}")" "$(min "${U[$b]}")" \
        "$(med "${S[$b]}")" "${W[$b]}"
done
