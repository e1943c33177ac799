#!/usr/bin/env bash
# compare.sh: is a change output-neutral? Runs two synfin builds on the same
# inputs with the same options and compares standard output, standard error
# and the exit status of every run, byte for byte.
#
#   bench/compare.sh [options] BASE [NEW]
#
# BASE and NEW are each a synfin binary or a git revision (built into a
# temporary folder, Release). NEW defaults to this work tree's build/synfin
# (built first). Inputs: every sample (samples/*.pcap), every capture of
# ../shared/corpus (when present), a gzip'd sample, several samples read as
# one stream, and a bench trace (bench/tracegen; --bench-duration S, default
# 3; --bench-duration 45 is the full benchmark trace). Option sets per input:
# defaults, --summary, --stats, short timers (--msl 0.5 --idle-timeout 2)
# with --summary, --max-flows 50 with --summary, and a BPF filter.
#
#   --quick               samples and a 1 s bench trace only (no corpus)
#   --bench-duration S    seconds of the bench trace (default 3)
#   --keep                keep the outputs (in the folder it prints)
#
# Prints one line per input set and a total; exits 0 when every run is
# identical, 1 when some differ (the first differences are shown), 2 on a
# usage or build error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
quick=0 keep=0 bench_duration=3
die() { echo "compare.sh: $*" >&2; exit 2; }
args=()
while (($#)); do
    case $1 in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --bench-duration) bench_duration=${2:?}; shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) args+=("$1") ;;
    esac
    shift
done
((${#args[@]} >= 1 && ${#args[@]} <= 2)) || die "usage: compare.sh [options] BASE [NEW] (try --help)"
((quick)) && bench_duration=1

tmp=$(mktemp -d)
if ((keep)); then
    echo "compare.sh: outputs kept in $tmp" >&2
else
    trap 'rm -rf "$tmp"' EXIT
fi

# binary_of SPEC NAME: prints a synfin binary for SPEC (a file or a revision).
binary_of() {
    local spec=$1 name=$2
    if [[ -f $spec && -x $spec ]]; then
        (cd "$(dirname "$spec")" && echo "$PWD/$(basename "$spec")")
        return
    fi
    local rev
    rev=$(git -C "$root" rev-parse --verify -q "$spec^{commit}") || die "'$spec' is neither a binary nor a git revision"
    local src=$tmp/src-$name
    mkdir -p "$src"
    git -C "$root" archive "$rev" | tar -x -C "$src"
    echo "compare.sh: building $spec ($rev) in $src" >&2
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null || die "cmake failed for $spec"
    cmake --build "$src/build" -j2 --target synfin >/dev/null || die "build failed for $spec"
    echo "$src/build/synfin"
}

base=$(binary_of "${args[0]}" base)
if ((${#args[@]} == 2)); then
    new=$(binary_of "${args[1]}" new)
else
    make -C "$root" build >/dev/null || die "make build failed"
    new=$root/build/synfin
fi
[[ -x $base && -x $new ]] || die "no binary to compare"

# The bench trace, made by the new tree's tracegen (any tracegen will do: both
# binaries read the same file).
tracegen=$(dirname "$new")/bench/tracegen
if [[ ! -x $tracegen ]]; then
    cmake --build "$root/build" --target tracegen >/dev/null 2>&1 || true
    tracegen=$root/build/bench/tracegen
fi
bench_trace=''
if [[ -x $tracegen ]]; then
    bench_trace=$tmp/bench.pcap
    "$tracegen" -o "$bench_trace" --seed 7 --duration "$bench_duration" --rate 12250 >/dev/null 2>&1 ||
        die "tracegen failed"
else
    echo "compare.sh: no tracegen: the bench trace is left out" >&2
fi

gzip -c "$root/samples/busy_server.pcap" >"$tmp/busy_server.pcap.gz"

option_sets=(
    ""
    "--summary"
    "--stats"
    "--msl 0.5 --idle-timeout 2 --summary"
    "--max-flows 50 --summary"
    "-f tcp\ port\ 80 --summary"
)

total=0 differ=0 shown=0 kept=0
# run_set LABEL INPUT...: every option set on one input set.
run_set() {
    local label=$1
    shift
    local n=0 d=0 opts
    for opts in "${option_sets[@]}"; do
        local -a o=()
        eval "o=($opts)"
        local ob=$tmp/b.out eb=$tmp/b.err on=$tmp/n.out en=$tmp/n.err sb=0 sn=0
        (cd "$root" && "$base" "${o[@]}" "$@" >"$ob" 2>"$eb") || sb=$?
        (cd "$root" && "$new" "${o[@]}" "$@" >"$on" 2>"$en") || sn=$?
        n=$((n + 1))
        if [[ $sb != "$sn" ]] || ! cmp -s "$ob" "$on" || ! cmp -s "$eb" "$en"; then
            d=$((d + 1))
            if ((shown < 5)); then
                shown=$((shown + 1))
                echo "DIFFERS: synfin $opts $* (exit $sb vs $sn)"
                diff "$ob" "$on" | head -5 || true
                diff "$eb" "$en" | head -5 || true
            fi
            if ((keep)); then
                kept=$((kept + 1)) # numbered across all sets: no file overwrites another
                printf 'synfin %s %s\n' "$opts" "$*" >"$tmp/$label.$kept.cmd"
                cp "$ob" "$tmp/$label.$kept.base.out"; cp "$on" "$tmp/$label.$kept.new.out"
                cp "$eb" "$tmp/$label.$kept.base.err"; cp "$en" "$tmp/$label.$kept.new.err"
            fi
        fi
    done
    total=$((total + n))
    differ=$((differ + d))
    return 0
}

# Group counters per label, printed as one line each.
report_group() { # LABEL RUNS-BEFORE DIFFERS-BEFORE
    printf '%-28s %6d runs, %d differ\n' "$1" $((total - $2)) $((differ - $3))
}

t0=$total d0=$differ
for f in "$root"/samples/*.pcap; do run_set sample "${f#"$root"/}"; done
report_group "samples" "$t0" "$d0"

t0=$total d0=$differ
run_set gz "$tmp/busy_server.pcap.gz"
run_set multi samples/close_client.pcap samples/close_server.pcap samples/busy_server.pcap
report_group "gzip, several files" "$t0" "$d0"

if [[ -n $bench_trace ]]; then
    t0=$total d0=$differ
    run_set bench "$bench_trace"
    report_group "bench trace (${bench_duration} s)" "$t0" "$d0"
fi

corpus=$root/../shared/corpus
if ((!quick)) && [[ -d $corpus ]]; then
    t0=$total d0=$differ
    while IFS= read -r -d '' f; do
        run_set corpus "$f"
    done < <(find "$corpus" -type f ! -name '*.md' -print0 | sort -z)
    report_group "corpus" "$t0" "$d0"
elif ((!quick)); then
    echo "compare.sh: $corpus is absent: the corpus is left out" >&2
fi

echo "total: $total runs, $differ differ"
((differ == 0))
