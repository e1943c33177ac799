#!/bin/sh
# merge-shards.sh: the merge step of a sharded run (synfin --shard K/N,
# README "Splitting the work: shards").
#
#   merge-shards.sh rows   SHARD.csv...         > rows.csv
#   merge-shards.sh census SHARD-census.csv...  > census.csv
#
# rows: the shards' CSVs concatenated under one header (every file must
# have the same header; files written with --no-header are taken as they
# are). A connection is in exactly one shard: nothing is dropped or summed.
# Sort by conn_uid (or first_ts) for the order connections began; conn_id
# is numbered per shard.
#
# census: the --census files summed per (ts, host), every state column
# (each endpoint is in one shard's connections; each listener, LISTEN, is
# counted by one shard, its own). The shards' moments are the
# same (every shard runs on the whole capture's clock), so the files are
# merged moment by moment, in one pass, in memory for one moment only. Per
# moment: the `*` row, then the hosts in the order they first appear in the
# files, then `other` (the sum of the shards' `other` rows: which hosts
# have rows of their own is decided per shard, --census-hosts).
#
# Exit status: 0, or 1 with a message (headers differ, moments out of step,
# a file missing).
set -eu

usage() {
    echo "usage: merge-shards.sh rows FILE... | merge-shards.sh census FILE..." >&2
    exit 2
}

[ $# -ge 2 ] || usage
mode=$1
shift
for f in "$@"; do
    [ -r "$f" ] || {
        echo "merge-shards.sh: $f: cannot read" >&2
        exit 1
    }
done

case $mode in
rows)
    exec awk '
        FNR == 1 && /^conn_id,/ {
            if (header == "") { header = $0; print; next }
            if ($0 != header) { printf "merge-shards.sh: %s: another header\n", FILENAME > "/dev/stderr"; exit 1 }
            next
        }
        { print }
    ' "$@"
    ;;
census)
    exec awk -v nfiles=$# '
        function fail(msg) { printf "merge-shards.sh: %s\n", msg > "/dev/stderr"; bad = 1; exit 1 }
        # The next line of file i into line[i]; 0 at its end.
        function next_line(i,   r) {
            r = (getline line[i] < file[i])
            if (r < 0) fail(file[i] ": read error")
            return r > 0
        }
        function emit(   k, j, h, out) {
            for (k = 1; k <= nh; k++) {
                h = order[k]
                out = ts "," h
                for (j = 3; j <= ncol; j++) out = out "," sum[h, j] + 0
                print out
            }
            if (has_other) {
                out = ts ",other"
                for (j = 3; j <= ncol; j++) out = out "," sum["other", j] + 0
                print out
            }
        }
        BEGIN {
            FS = OFS = ","
            for (i = 1; i <= nfiles; i++) file[i] = ARGV[i]
            ARGC = 1
            for (i = 1; i <= nfiles; i++) {
                if (!next_line(i)) fail(file[i] ": empty")
                if (i == 1) { header = line[1]; print header }
                else if (line[i] != header) fail(file[i] ": another header")
                ncol = split(header, col, ",")
                live[i] = next_line(i)
            }
            for (;;) {
                ts = ""
                for (i = 1; i <= nfiles; i++) {
                    if (!live[i]) continue
                    split(line[i], f, ",")
                    if (f[2] != "*") fail(file[i] ": no * row at " f[1])
                    if (ts == "") ts = f[1]
                    else if (f[1] != ts) fail(file[i] ": moment " f[1] " where the others have " ts)
                }
                if (ts == "") break
                nh = 0; has_other = 0; delete sum; delete seen
                for (i = 1; i <= nfiles; i++) {
                    if (!live[i]) fail(file[i] ": ends before moment " ts)
                    while (live[i]) {
                        n = split(line[i], f, ",")
                        if (f[1] != ts) break
                        if (n != ncol) fail(file[i] ": a row of " n " columns at " ts)
                        h = f[2]
                        if (h == "other") has_other = 1
                        else if (!(h in seen)) { seen[h] = 1; order[++nh] = h }
                        for (j = 3; j <= ncol; j++) sum[h, j] += f[j]
                        live[i] = next_line(i)
                    }
                }
                emit()
            }
            exit 0
        }
    ' "$@"
    ;;
*)
    usage
    ;;
esac
