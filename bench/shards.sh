#!/usr/bin/env bash
# shards.sh: the speed-up of N shards (synfin --shard K/N) on one machine,
# and where reading becomes the bound (BENCHMARKS.md "Shards").
#
#   bench/shards.sh [--synfin BIN] [--trace FILE] [--runs N] [--shards "1 2 4"] [--census]
#
# Every shard reads and dissects the whole capture and replays its 1/N of
# the connections, so N shards cost N reads: the speed-up stops where one
# shard's time is its reading. Measured, best of --runs (default 3):
#   - one run of synfin (no --shard): the baseline;
#   - N shards at once (N processes, `wait`), for each N of --shards: wall
#     time, the speed-up over the baseline, and CPU time in all;
#   - the floor of a shard: `--stats` (read and dissect, no replay), and
#     --shard 0/64 (a shard that replays almost nothing): the wall time no
#     shard can go under, so the speed-up cannot pass baseline / floor
#     however many cores.
# Without --trace, the benchmark trace is made with tracegen (seed 1, 10 s,
# 12250 connections/s, as BENCHMARKS.md) into /tmp. Prints markdown.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
synfin=$root/build/synfin
trace='' runs=3 shards='1 2 4' census=0
while (($#)); do
    case $1 in
    --synfin) synfin=${2:?}; shift ;;
    --trace) trace=${2:?}; shift ;;
    --runs) runs=${2:?}; shift ;;
    --shards) shards=${2:?}; shift ;;
    --census) census=1 ;;
    *) echo "shards.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -x $synfin ]] || { echo "shards.sh: no synfin at $synfin (build first)" >&2; exit 2; }
if [[ -z $trace ]]; then
    trace=/tmp/synfin-shards-bench.pcap
    [[ -s $trace ]] || "$root/build/bench/tracegen" -o "$trace" --seed 1 --duration 10 --rate 12250 >&2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
extra=()
((census)) && extra=(--census-hosts 65536)

# Best wall time of `runs` runs of N shards at once (N = 0: one run
# without --shard), and the CPU time (user + sys, all processes) of that
# run: "WALL CPU". GNU time (Debian package `time`) measures both.
measure() {
    local n=$1 best='' best_cpu='' line wall cpu
    shift
    local cmd=("$synfin" -q -o /dev/null "$@" "$trace")
    if ((n > 0)); then
        local c_opt=''
        ((census)) && c_opt="--census $tmp/census.\$k.csv ${extra[*]}"
        cmd=(bash -c "for ((k = 0; k < $n; k++)); do '$synfin' -q --shard \$k/$n -o $tmp/rows.\$k.csv $c_opt '$trace' & done; wait")
    fi
    for ((r = 0; r < runs; r++)); do
        line=$(/usr/bin/time -f '%e %U %S' "${cmd[@]}" 2>&1 >/dev/null | tail -1)
        wall=$(awk '{ print $1 }' <<<"$line")
        cpu=$(awk '{ printf "%.2f", $2 + $3 }' <<<"$line")
        if [[ -z $best ]] || awk -v w="$wall" -v b="$best" 'BEGIN { exit !(w < b) }'; then
            best=$wall
            best_cpu=$cpu
        fi
    done
    echo "$best $best_cpu"
}

row() { # NAME "WALL CPU" BASE_WALL [bound]
    local w c
    read -r w c <<<"$2"
    echo "| $1 | $w | ${4:-}$(awk -v a="$3" -v b="$w" 'BEGIN { printf "%.2f", a / b }') | $c |"
}

base_opts=()
((census)) && base_opts=(--census "$tmp/whole-census.csv" "${extra[@]}")
echo "trace: $trace ($(du -h "$trace" | cut -f1)), $(nproc) cores, best of $runs"
echo
echo "| run | wall s | speed-up | CPU s |"
echo "|---|---|---|---|"
base=$(measure 0 "${base_opts[@]}")
row "one run" "$base" "${base% *}"
for n in $shards; do
    row "$n shards at once" "$(measure "$n")" "${base% *}"
done
row "floor: --stats (read and dissect only)" "$(measure 0 --stats)" "${base% *}" "bound "
row "floor: --shard 0/64 alone" "$(measure 0 --shard 0/64)" "${base% *}" "bound "
