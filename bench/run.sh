#!/usr/bin/env bash
# run.sh: synfin's speed and memory benchmark (see BENCHMARKS.md).
#
# Builds Release into build-bench/ if needed, generates the trace with
# tracegen into bench/data/ if missing, then times on that one file, best of
# N runs: synfin -o /dev/null, the libpcap floor (pcapfloor), and argus,
# tcptrace, tshark when installed. Peak RSS comes from GNU time (Debian
# package `time`); without it the RSS columns say n/a. Prints markdown on
# standard output, progress on standard error; exits 0 only if every
# measured program ran and exited 0.
#
#   --duration S        trace seconds (default 45)      --rate R   connections/s (12250)
#   --packets-scale F   duration = 45 * F               --seed N   tracegen seed (1)
#   --runs N            best of N (default 3)           --msl S    passed to synfin
#   --idle-timeout S    passed to synfin
#   --linear            also a trace twice as long: time and peak should scale
#   --syn-flood N       also N spoofed SYNs, synfin with and without --max-flows
#   --max-flows N       the bound for --syn-flood (default 100000)
#   --gzip              also the main trace compressed (gzip -1): synfin against
#                       gzip -dc alone
#   --compressed        also the main trace in each compression synfin reads (gzip -1,
#                       zstd -3, xz -1, bzip2 -9, lz4 -1): synfin against the format's
#                       own decompressor alone (TOOL -dc > /dev/null); skips a format
#                       whose tool is missing
#   --long-lived        also a trace of long connections only (583 k alive, 20 M
#                       packets, 2 GB): the path of established segments
#   --profile           top functions of synfin per thread (perf; else callgrind on 5 s)
#   --no-peers          skip argus / tcptrace / tshark
#   --smoke             tiny trace and flood, 1 run, no peers: a few seconds, for CI
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$root/build-bench
data=$here/data
duration=45 rate=12250 seed=1 runs=3 msl='' idle='' linear=0 flood=0 max_flows=100000
profile=0 peers=1 smoke=0 long_lived=0 gz=0 compressed=0

die() { echo "run.sh: $*" >&2; exit 2; }
while (($#)); do
    case $1 in
    --duration) duration=${2:?}; shift ;;
    --packets-scale) duration=$(awk -v f="${2:?}" 'BEGIN { print 45 * f }'); shift ;;
    --rate) rate=${2:?}; shift ;;
    --seed) seed=${2:?}; shift ;;
    --runs) runs=${2:?}; shift ;;
    --msl) msl=${2:?}; shift ;;
    --idle-timeout) idle=${2:?}; shift ;;
    --linear) linear=1 ;;
    --syn-flood) flood=${2:?}; shift ;;
    --max-flows) max_flows=${2:?}; shift ;;
    --profile) profile=1 ;;
    --long-lived) long_lived=1 ;;
    --gzip) gz=1 ;;
    --compressed) compressed=1 ;;
    --no-peers) peers=0 ;;
    --smoke) smoke=1 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
    *) die "unknown option '$1' (try --help)" ;;
    esac
    shift
done
if ((smoke)); then
    duration=2 rate=2000 runs=1 peers=0 linear=0 flood=20000 max_flows=1000 profile=0 long_lived=0 gz=0
    compressed=0
fi
note() { echo "run.sh: $*" >&2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# ---- build ------------------------------------------------------------------
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target synfin tracegen pcapfloor >&2
tools=$build/bench
synfin=$build/synfin
synfin_args=(-q)
[[ -n $msl ]] && synfin_args+=(--msl "$msl")
[[ -n $idle ]] && synfin_args+=(--idle-timeout "$idle")

# ---- traces -----------------------------------------------------------------
mkdir -p "$data"
trace() { # NAME TRACEGEN-ARGS... -> prints the path, generating it if missing
    local f=$data/$1.pcap
    shift
    if [[ ! -s $f ]]; then
        note "generating $f"
        "$tools/tracegen" -o "$f.tmp" --seed "$seed" "$@" >&2 && mv "$f.tmp" "$f"
    fi
    cat "$f" >/dev/null # into the page cache: every tool reads from memory
    echo "$f"
}

# ---- measuring ----------------------------------------------------------------
gnu_time=0
if /usr/bin/time -f %M true >/dev/null 2>&1; then
    gnu_time=1
else
    note "GNU time (/usr/bin/time, Debian package 'time') is missing: no peak RSS"
fi

# measure CMD...: sets WALL (best of $runs, s), RSS (max KB or n/a); the last
# run's output is in $tmp/out and $tmp/err. Returns 1 if a run failed.
measure() {
    WALL='' RSS=n/a
    local i w TIMEFORMAT=%R
    for ((i = 0; i < runs; i++)); do
        if ((gnu_time)); then
            if ! { time /usr/bin/time -f %M -o "$tmp/rss" "$@" >"$tmp/out" 2>"$tmp/err"; } 2>"$tmp/wall"; then
                note "failed: $* (exit status != 0)"; sed 's/^/  /' "$tmp/err" >&2; failed=1; return 1
            fi
            local m; m=$(tail -n 1 "$tmp/rss")
            [[ $RSS == n/a || $m -gt $RSS ]] && RSS=$m
        elif ! { time "$@" >"$tmp/out" 2>"$tmp/err"; } 2>"$tmp/wall"; then
            note "failed: $*"; sed 's/^/  /' "$tmp/err" >&2; failed=1; return 1
        fi
        w=$(tail -n 1 "$tmp/wall")
        if [[ -z $WALL ]] || awk -v a="$w" -v b="$WALL" 'BEGIN { exit !(a < b) }'; then WALL=$w; fi
    done
}
mb() { if [[ $1 == n/a ]]; then echo n/a; else awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; fi; }
rate_of() { awk -v p="$1" -v w="$2" 'BEGIN { printf "%.2f M", (w > 0 ? p / w / 1e6 : 0) }'; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
table() { # TITLE FIRST-COLUMN-NAME: a section heading and the table's header rows
    echo
    echo "### $1"
    echo
    row "$2" "wall s" packets/s "peak RSS MB" notes
    row --- ---: ---: ---: ---
}
# synfin --summary once (untimed): peak alive, evicted, and the classification.
summary() { # FILE EXTRA-ARGS... -> $tmp/summary, sets PEAK EVICTED
    "$synfin" "${synfin_args[@]}" --summary -o /dev/null "$@" 2>"$tmp/summary" || {
        note "synfin --summary failed on $1"; cat "$tmp/summary" >&2; failed=1; }
    cp "$tmp/summary" "$data/summary-$(basename "$1" .pcap)${msl:+-msl$msl}${idle:+-idle$idle}${2:+-${2#--}$3}.txt"
    PEAK=$(sed -n 's/.*peak \([0-9]*\) alive.*/\1/p' "$tmp/summary")
    EVICTED=$(sed -n 's/.*, \([0-9]*\) evicted$/\1/p' "$tmp/summary")
}
floor_packets() { sed -n 's/^\([0-9]*\) packets.*/\1/p' "$tmp/out"; }

# ---- main trace ----------------------------------------------------------------
name=trace-d$duration-r$rate-s$seed
main=$(trace "$name" --duration "$duration" --rate "$rate")
tiny=$(trace tiny --duration 0.05 --rate 200)
runs_save=$runs runs=1
measure "$synfin" "${synfin_args[@]}" -o /dev/null "$tiny" || true
base_rss=$RSS runs=$runs_save

echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; synfin ${synfin_args[*]}"
table "$(basename "$main") ($(du -m "$main" | cut -f1) MB), best of $runs" tool
measure "$tools/pcapfloor" "$main" || true
packets=$(floor_packets)
floor_wall=$WALL
row "floor (pcapfloor)" "$WALL" "$(rate_of "$packets" "$WALL")" "$(mb "$RSS")" "$packets packets"
measure "$synfin" "${synfin_args[@]}" -o /dev/null "$main" || true
syn_wall=$WALL syn_rss=$RSS
summary "$main"
per_conn=n/a
if [[ $syn_rss != n/a && $base_rss != n/a && ${PEAK:-0} -gt 0 ]]; then
    per_conn=$(awk -v r="$syn_rss" -v b="$base_rss" -v p="$PEAK" 'BEGIN { printf "%.0f", (r - b) * 1024 / p }')
fi
row "synfin" "$syn_wall" "$(rate_of "$packets" "$syn_wall")" "$(mb "$syn_rss")" \
    "peak $PEAK alive; $per_conn B/conn above the $(mb "$base_rss") MB baseline"
if ((peers)); then
    peer() { # LABEL CMD...
        local label=$1; shift
        if ! command -v "$1" >/dev/null; then row "$label" - - - "not installed"; return; fi
        local ours=$failed # a peer's failure is not ours
        if measure "$@"; then row "$label" "$WALL" "$(rate_of "$packets" "$WALL")" "$(mb "$RSS")" ""
        else row "$label" - - - "failed"; fi
        failed=$ours
    }
    peer "argus -r" argus -r "$main" -w /dev/null
    peer "tcptrace -n" tcptrace -n "$main"
    peer "tshark conv,tcp" tshark -q -z conv,tcp -r "$main"
fi
echo
echo "synfin / floor: $(awk -v s="$syn_wall" -v f="$floor_wall" 'BEGIN { printf "%.2f", s / f }')x (target <= 2x)"
echo "RSS per connection alive at the peak: $per_conn B (target <= 256 B + a constant)"

# ---- linear cost ------------------------------------------------------------------
if ((linear)); then
    d2=$(awk -v d="$duration" 'BEGIN { print 2 * d }')
    long=$(trace "trace-d$d2-r$rate-s$seed" --duration "$d2" --rate "$rate")
    measure "$tools/pcapfloor" "$long" || true
    packets2=$(floor_packets) floor2=$WALL
    measure "$synfin" "${synfin_args[@]}" -o /dev/null "$long" || true
    syn2=$WALL rss2=$RSS peak1=$PEAK
    summary "$long"
    echo
    echo "### linear cost: ${duration} s vs ${d2} s at $rate connections/s"
    echo
    echo "| duration s | packets | floor s | synfin s | synfin packets/s | peak alive | peak RSS MB |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    echo "| $duration | $packets | $floor_wall | $syn_wall | $(rate_of "$packets" "$syn_wall") | $peak1 | $(mb "$syn_rss") |"
    echo "| $d2 | $packets2 | $floor2 | $syn2 | $(rate_of "$packets2" "$syn2") | $PEAK | $(mb "$rss2") |"
    echo
    awk -v p1="$packets" -v p2="$packets2" -v t1="$syn_wall" -v t2="$syn2" -v a="$peak1" -v b="$PEAK" \
        'BEGIN { printf "packets x%.2f, synfin time x%.2f, peak alive x%.2f\n", p2 / p1, t2 / t1, b / a }'
fi

# ---- SYN flood ----------------------------------------------------------------------
if ((flood > 0)); then
    fl=$(trace "flood-$flood-d$duration" --rate 0 --syn-flood "$flood" --duration "$duration")
    table "SYN flood: $flood spoofed SYNs in $duration s, best of $runs" "synfin"
    for mf in 0 "$max_flows"; do
        measure "$synfin" "${synfin_args[@]}" --max-flows "$mf" -o /dev/null "$fl" || true
        summary "$fl" --max-flows "$mf"
        row "--max-flows $mf" "$WALL" "$(rate_of "$flood" "$WALL")" "$(mb "$RSS")" \
            "peak $PEAK alive, $EVICTED evicted"
    done
fi

# ---- gzip ----------------------------------------------------------------------------
if ((gz)); then
    zf=$data/$name.pcap.gz
    if [[ ! -s $zf ]]; then
        note "compressing $main"
        gzip -1 -c "$main" >"$zf.tmp" && mv "$zf.tmp" "$zf"
    fi
    cat "$zf" >/dev/null
    measure sh -c 'gzip -dc "$1" >/dev/null' sh "$zf" || true
    gz_wall=$WALL
    measure "$synfin" "${synfin_args[@]}" -o /dev/null "$zf" || true
    table "$(basename "$zf") ($(du -m "$zf" | cut -f1) MB, gzip -1), best of $runs" tool
    row "gzip -dc alone" "$gz_wall" "$(rate_of "$packets" "$gz_wall")" - "to /dev/null"
    row "synfin" "$WALL" "$(rate_of "$packets" "$WALL")" "$(mb "$RSS")" "inflating on a thread of its own"
fi

# ---- every compression -------------------------------------------------------------------
if ((compressed)); then
    table "$(basename "$main") in each compression, best of $runs" "tool (compressed size)"
    # EXT TOOL LEVEL: the compressed copy is made once, with the tool's threads where it has them
    for spec in "gz gzip -1" "zst zstd -3" "xz xz -1" "bz2 bzip2 -9" "lz4 lz4 -1"; do
        read -r ext tool level <<<"$spec"
        if ! command -v "$tool" >/dev/null; then
            note "$tool is missing: no .$ext line"
            continue
        fi
        cf=$data/$name.pcap.$ext
        if [[ ! -s $cf ]]; then
            note "compressing $main with $tool $level"
            threads=()
            [[ $tool == zstd || $tool == xz ]] && threads=(-T2)
            "$tool" "$level" "${threads[@]}" -c "$main" >"$cf.tmp" && mv "$cf.tmp" "$cf"
        fi
        cat "$cf" >/dev/null
        measure sh -c '"$1" -dc "$2" >/dev/null' sh "$tool" "$cf" || true
        tool_wall=$WALL
        measure "$synfin" "${synfin_args[@]}" -o /dev/null "$cf" || true
        row "$tool -dc alone ($(du -m "$cf" | cut -f1) MB, $tool $level)" "$tool_wall" \
            "$(rate_of "$packets" "$tool_wall")" - "to /dev/null"
        row "synfin on it" "$WALL" "$(rate_of "$packets" "$WALL")" "$(mb "$RSS")" \
            "$(awk -v s="$WALL" -v t="$tool_wall" 'BEGIN { printf "%.2f x the decompressor alone", s / t }')"
    done
fi

# ---- long-lived connections -----------------------------------------------------------
if ((long_lived)); then
    ll=$(trace "long-d10-r60000-s$seed" --duration 10 --rate 60000 \
        --mix client=0,server=0,crossed=0,rst-client=0,rst-server=0,refused=0,unanswered=0,reuse=0,long=100)
    measure "$tools/pcapfloor" "$ll" || true
    ll_packets=$(floor_packets) ll_floor=$WALL
    measure "$synfin" "${synfin_args[@]}" -o /dev/null "$ll" || true
    summary "$ll"
    table "long-lived connections only: $(basename "$ll") ($(du -m "$ll" | cut -f1) MB), best of $runs" tool
    row "floor (pcapfloor)" "$ll_floor" "$(rate_of "$ll_packets" "$ll_floor")" - "$ll_packets packets"
    row "synfin" "$WALL" "$(rate_of "$ll_packets" "$WALL")" "$(mb "$RSS")" "peak $PEAK alive"
    echo
    echo "synfin / floor: $(awk -v s="$WALL" -v f="$ll_floor" 'BEGIN { printf "%.2f", s / f }')x"
fi

# ---- profile ----------------------------------------------------------------------
if ((profile)); then
    prof=$root/build-prof
    [[ -f $prof/CMakeCache.txt ]] ||
        cmake -S "$root" -B "$prof" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g >&2
    cmake --build "$prof" -j2 --target synfin >&2
    echo
    if [[ ${PROFILER:-} == perf ]] || { [[ -z ${PROFILER:-} ]] && perf record -q -e cpu-clock -o /dev/null true >/dev/null 2>&1; }; then
        # cpu-clock works without hardware counters (VMs); by thread, since
        # reading and the flows replay run on two.
        echo "### profile: perf record -e cpu-clock, $(basename "$main"), by thread"
        echo
        perf record -q -e cpu-clock -F 4000 -o "$data/perf.data" "$prof/synfin" "${synfin_args[@]}" -o /dev/null "$main" 2>/dev/null
        echo '```'
        # sed, not grep -m or head: it reads to the end, so no SIGPIPE under pipefail
        perf report -i "$data/perf.data" --stdio --no-children -s pid 2>/dev/null | sed -n '/%/p'
        perf report -i "$data/perf.data" --stdio --no-children -s pid,sym 2>/dev/null | sed -n '/%/p' | sed -n '1,20p'
        echo '```'
    else
        small=$(trace "trace-d5-r$rate-s$seed" --duration 5 --rate "$rate")
        echo "### profile: callgrind (no hardware counters for perf), $(basename "$small")"
        echo
        valgrind --tool=callgrind --callgrind-out-file="$data/callgrind.out" \
            "$prof/synfin" "${synfin_args[@]}" -o /dev/null "$small" 2>"$tmp/cg.err" ||
            { cat "$tmp/cg.err" >&2; failed=1; }
        echo '```'
        callgrind_annotate --inclusive=no "$data/callgrind.out" 2>/dev/null |
            sed -n '/PROGRAM TOTALS/p; /Ir *file:function/,$p' | sed '/^-* *$/d; /Ir *file:function/d' | sed -n '1,11p'
        echo '```'
    fi
fi

if ((failed)); then note "something failed (see above)"; exit 1; fi
