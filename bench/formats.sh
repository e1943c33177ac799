#!/usr/bin/env bash
# formats.sh BASE NEW TRACE [ROUNDS]: the cost of --format (issue 15).
#
# Interleaved rounds (the machine is shared and noisy): in each, BASE and
# NEW write the CSV of TRACE (A, B: is CSV as fast as before?), then NEW
# writes it as JSON Lines and as SQLite. Every run writes a real file in a
# temporary directory beside the trace (removed after each run), timed by
# GNU time (Debian package `time`): wall, user and system seconds. Prints
# a Markdown table of the medians and minima, and each output's size, on
# standard output; progress on standard error.
set -euo pipefail
base=$1 new=$2 trace=$3 rounds=${4:-5}
[ -x /usr/bin/time ] || { echo "formats.sh: needs GNU time (/usr/bin/time)" >&2; exit 2; }
dir=$(mktemp -d "$(dirname "$trace")/formats-XXXXXX")
trap 'rm -rf "$dir"' EXIT

declare -A wall user sys size
# run NAME BIN FILE [OPTIONS...]: one timed run writing FILE.
run() {
    local name=$1 bin=$2 out=$3
    shift 3
    local e u s
    read -r e u s < <(/usr/bin/time -f "%e %U %S" "$bin" -q -o "$out" "$@" "$trace" 2>&1 >/dev/null | tail -1)
    wall[$name]+="$e " user[$name]+="$u " sys[$name]+="$s "
    size[$name]=$(stat -c %s "$out")
    rm -f "$out"
}

# Median and minimum of a list of numbers.
stats() {
    tr ' ' '\n' | grep -v '^$' | sort -n |
        awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                                 printf "%.2f %.2f\n", m, v[1] }'
}

for ((r = 1; r <= rounds; r++)); do
    echo "round $r of $rounds" >&2
    run "csv (base)" "$base" "$dir/base.csv"
    run "csv" "$new" "$dir/new.csv"
    run "jsonl" "$new" "$dir/new.jsonl"
    run "sqlite" "$new" "$dir/new.sqlite"
done

echo "| format | wall s median (min) | user s median (min) | sys s median (min) | output MB |"
echo "|---|---|---|---|---|"
for name in "csv (base)" csv jsonl sqlite; do
    read -r wm wn < <(echo "${wall[$name]}" | stats)
    read -r um un < <(echo "${user[$name]}" | stats)
    read -r sm sn < <(echo "${sys[$name]}" | stats)
    printf '| %s | %s (%s) | %s (%s) | %s (%s) | %.0f |\n' "$name" "$wm" "$wn" "$um" "$un" "$sm" "$sn" \
        "$(awk -v b="${size[$name]}" 'BEGIN { print b / 1e6 }')"
done
