#!/bin/bash
# formats.sh SYNFIN SOURCE_DIR TRACEGEN: --format csv|jsonl|sqlite (issue 15)
# end to end. Every sample, every capture of ../shared/corpus (when it is
# there), all samples read as one stream, and a generated trace of more
# than one SQLite batch, are written in the three formats: the exit codes
# are the same, and the JSON Lines and the SQLite database, read back to CSV
# (formats_back.py: a strict JSON parser, python3's sqlite3 module), are the
# CSV byte for byte. Then: the format chosen by -o's extension; a damaged
# input and a write error leave a database that PRAGMA integrity_check
# (the sqlite3 CLI) calls ok, with every row written before; --census and
# --findings as tables; live input; the usage errors; and README "Output
# formats"' examples with jq, the sqlite3 CLI, python3, pandas and DuckDB
# (pandas and DuckDB when installed: scripts/bootstrap.sh installs them).
# Exit 77 (skipped) without python3, sqlite3 or jq.
set -eu
synfin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$2
tracegen=$3
back="python3 $src/tests/formats_back.py"

for tool in python3 sqlite3 jq; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "skipped: $tool is not installed (scripts/bootstrap.sh installs it)"
        exit 77
    fi
done

tmp=$(mktemp -d /tmp/synfin-formats-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}

# The same inputs in the three formats: the same exit code, and the same
# rows (the outputs are listed for formats_back.py's check, run once at the
# end of a set). $1: a name for the messages; the rest: synfin's inputs.
: >"$tmp/list"
runs=0
same_rows() {
    name=$1
    shift
    runs=$((runs + 1))
    d=$tmp/run$runs
    mkdir "$d"
    set +e
    "$synfin" -q -o "$d/o.csv" "$@" 2>/dev/null
    rc_csv=$?
    "$synfin" -q -o "$d/o.jsonl" "$@" 2>/dev/null
    rc_json=$?
    "$synfin" -q --format sqlite -o "$d/o.out" "$@" 2>/dev/null
    rc_db=$?
    set -e
    last=$d
    if [ $rc_csv != $rc_json ] || [ $rc_csv != $rc_db ]; then
        bad "$name: exit codes csv $rc_csv, jsonl $rc_json, sqlite $rc_db"
    elif [ ! -e "$d/o.csv" ]; then
        if [ -e "$d/o.jsonl" ] || [ -e "$d/o.out" ]; then
            bad "$name: no CSV (exit $rc_csv), but a JSONL or SQLite file"
        else
            ok
        fi
    else
        printf '%s\t%s\t%s\t%s\n' "$name" "$d/o.csv" "$d/o.jsonl" "$d/o.out" >>"$tmp/list"
    fi
}

# Reads the outputs listed so far back to CSV and compares them.
compare_listed() {
    if python3 "$src/tests/formats_back.py" check "$tmp/list"; then ok; else bad "rows differ (above)"; fi
    : >"$tmp/list"
}

n=0
for f in "$src"/samples/*.pcap "$src"/samples/*.pcapng; do
    same_rows "$(basename "$f")" "$f"
    n=$((n + 1))
done
same_rows "all samples as one stream" "$src"/samples/*.pcap
corpus=$src/../shared/corpus
if [ -d "$corpus" ]; then
    while IFS= read -r f; do
        same_rows "corpus ${f#"$corpus"/}" "$f"
        n=$((n + 1))
    done < <(find "$corpus" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.gz' \) | sort)
fi
echo "inputs written in three formats: $n (+1 stream)"
compare_listed

# More rows than a batch (50,000), IPv6 and VLANs, capture-end rows formatted
# on two threads.
"$tracegen" -o "$tmp/trace.pcap" --seed 3 --duration 6 --rate 12250 >/dev/null 2>&1
same_rows "generated trace" "$tmp/trace.pcap"
trace_csv=$last/o.csv
rows=$(($(wc -l <"$trace_csv") - 1))
[ "$rows" -gt 50000 ] && ok || bad "the generated trace has $rows rows, not more than a batch"

# The format by -o FILE's extension; --format over it.
"$synfin" -q -o "$tmp/x.ndjson" "$src/samples/busy_server.pcap"
[ "$(head -c1 "$tmp/x.ndjson")" = "{" ] && ok || bad ".ndjson is not JSON Lines"
"$synfin" -q -o "$tmp/x.db" "$src/samples/busy_server.pcap"
[ "$(sqlite3 "$tmp/x.db" 'SELECT count(*) FROM connections')" = 60 ] && ok || bad ".db is not SQLite"
"$synfin" -q --format csv -o "$tmp/x.sqlite" "$src/samples/busy_server.pcap"
[ "$(head -c8 "$tmp/x.sqlite")" = "conn_id," ] && ok || bad "--format csv -o x.sqlite is not CSV"
"$synfin" -q --format jsonl "$src/samples/busy_server.pcap" | jq -e -s 'length == 60' >/dev/null &&
    ok || bad "--format jsonl to standard output"
# An existing database is replaced, as a CSV is.
"$synfin" -q -o "$tmp/x.db" "$src/samples/close_client.pcap"
[ "$(sqlite3 "$tmp/x.db" 'SELECT count(*) FROM connections')" = 1 ] && ok || bad "x.db not replaced"

# A damaged input (cut in the middle of a packet): exit 1, every row the
# CSV has (those before the damage, and the capture-end ones) in a valid
# database.
size=$(stat -c %s "$tmp/trace.pcap")
head -c $((size / 2 + 7)) "$tmp/trace.pcap" >"$tmp/cut.pcap"
same_rows "damaged trace" "$tmp/cut.pcap"
[ "$rc_db" = 1 ] && ok || bad "damaged input: exit $rc_db, not 1"
[ "$(sqlite3 "$last/o.out" 'PRAGMA integrity_check')" = ok ] && ok || bad "damaged: integrity_check"
[ "$(sqlite3 "$last/o.out" 'SELECT count(*) FROM connections')" = "$(($(wc -l <"$last/o.csv") - 1))" ] &&
    ok || bad "damaged: not every row in the database"
compare_listed

# A write error (the file size limit, SIGXFSZ ignored: writes fail with
# EFBIG): exit 1, a valid database holding the batches committed before,
# each row the CSV's.
set +e
(
    trap '' XFSZ
    ulimit -f 16000 # 8 MB: the first batch of 50,000 rows, not the second
    exec "$synfin" -q -o "$tmp/full.sqlite" "$tmp/trace.pcap"
) 2>"$tmp/full.err"
rc=$?
set -e
[ $rc = 1 ] && ok || bad "write error: exit $rc, not 1"
grep -q "write error" "$tmp/full.err" && ok || bad "write error: not said: $(cat "$tmp/full.err")"
cp "$trace_csv" "$tmp/full.csv"
[ "$(sqlite3 "$tmp/full.sqlite" 'PRAGMA integrity_check')" = ok ] && ok || bad "write error: integrity_check"
kept=$(sqlite3 "$tmp/full.sqlite" 'SELECT count(*) FROM connections')
if [ "$kept" -gt 0 ] && [ "$kept" -lt "$rows" ]; then ok; else bad "write error: $kept rows kept of $rows"; fi
head -$((kept + 1)) "$tmp/full.csv" >"$tmp/full-prefix.csv"
$back sqlite "$tmp/full.sqlite" "$tmp/full-prefix.csv" | cmp -s - "$tmp/full-prefix.csv" &&
    ok || bad "write error: the rows kept are not the CSV's first $kept"

# --census and --findings naming the database: tables in it, the same as
# their own files.
s=$src/samples/busy_server.pcap
"$synfin" -q -o "$tmp/c.csv" --census "$tmp/census.csv" --findings "$tmp/find.md" "$s"
"$synfin" -q -o "$tmp/c.sqlite" --census "$tmp/c.sqlite" --findings "$tmp/c.sqlite" "$s"
sqlite3 -csv -header "$tmp/c.sqlite" \
    "SELECT printf('%.6f', ts) AS ts, host, LISTEN, SYN_SENT, SYN_RCVD, ESTABLISHED, FIN_WAIT1,
            FIN_WAIT2, CLOSING, TIME_WAIT, CLOSE_WAIT, LAST_ACK FROM census ORDER BY rowid" |
    tr -d '\r' | cmp -s - "$tmp/census.csv" && ok || bad "the census table is not --census FILE's"
[ "$(sqlite3 "$tmp/c.sqlite" 'SELECT count(*) FROM findings')" = "$(grep -c '^## ' "$tmp/find.md")" ] &&
    ok || bad "findings table: not one row per finding"
sqlite3 "$tmp/c.sqlite" "SELECT '**Verdict: ' || verdict || '** — ' || summary FROM findings ORDER BY finding" |
    cmp -s - <(grep '^\*\*Verdict' "$tmp/find.md") && ok || bad "findings table: verdicts differ"
# The census in the database, the findings in a file of their own.
"$synfin" -q -o "$tmp/d.sqlite" --census "$tmp/d.sqlite" --findings "$tmp/d.md" "$s"
[ -s "$tmp/d.md" ] && [ "$(sqlite3 "$tmp/d.sqlite" "SELECT count(*) FROM sqlite_master WHERE name = 'findings'")" = 0 ] &&
    ok || bad "--findings FILE beside a database"

# Live input (a pipe): the rows committed as they are flushed.
cat "$s" | "$synfin" -q -o "$tmp/live.sqlite" - && ok || bad "live input into SQLite"
[ "$(sqlite3 "$tmp/live.sqlite" 'SELECT count(*) FROM connections')" = 60 ] && ok || bad "live: rows"

# Usage errors (exit 2, nothing written).
usage() {
    set +e
    "$synfin" "$@" "$s" >/dev/null 2>"$tmp/usage.err"
    rc=$?
    set -e
    [ $rc = 2 ] && ok || bad "synfin $*: exit $rc, not 2"
}
usage --format sqlite
usage --format sqlite -o -
usage --format xml
usage --stats -o "$tmp/stats.jsonl"
usage --stats --format sqlite -o "$tmp/stats.out"
usage -o "$tmp/u.csv" --census "$tmp/u.csv"
usage -o "$tmp/u.jsonl" --findings "$tmp/u.jsonl"
[ ! -e "$tmp/u.csv" ] && [ ! -e "$tmp/u.jsonl" ] && ok || bad "a usage error wrote a file"

# README "Output formats": its examples, as written there.
cd "$tmp"
synfin() { "$synfin" "$@"; }
synfin -q -o conns.csv "$s"
synfin -q -o conns.jsonl "$s"
synfin -q -o conns.sqlite --census conns.sqlite --findings conns.sqlite "$s"
[ "$(jq -r 'select(.time_wait_side == "server") | .server_ip' conns.jsonl | sort | uniq -c |
    awk '{print $1, $2}')" = "46 10.0.0.2" ] && ok || bad "README jq example 1"
[ "$(jq -c 'select(.anomalies // [] | index("rst_out_of_window")) | .conn_id' conns.jsonl | wc -l)" = \
    "$(grep -c rst_out_of_window conns.csv || true)" ] && ok || bad "README jq example 2"
[ "$(sqlite3 conns.sqlite "SELECT time_wait_side, count(*), avg(time_wait_s) FROM connections
                          WHERE time_wait_end_reason = 'expired' GROUP BY 1 ORDER BY 2 DESC" |
    head -1)" = "server|23|60.0" ] && ok || bad "README sqlite3 example 1"
[ "$(sqlite3 conns.sqlite "SELECT finding, verdict FROM findings WHERE verdict = 'applies'")" = "9|applies" ] &&
    ok || bad "README sqlite3 example 2"
sqlite3 conns.sqlite "SELECT datetime(ts, 'unixepoch'), TIME_WAIT FROM census
                      WHERE host = '*' ORDER BY TIME_WAIT DESC LIMIT 3" | grep -q '^2023-11-14 ' &&
    ok || bad "README sqlite3 example 3"
python3 - <<'PY' && ok || bad "README python3 example"
import json, sqlite3
rows = [json.loads(line) for line in open("conns.jsonl")]
db = sqlite3.connect("conns.sqlite")
n, = db.execute("SELECT count(*) FROM connections WHERE close_initiator = 'server'").fetchone()
assert n == sum(r["close_initiator"] == "server" for r in rows) == 51, n
PY
# pandas: Debian's python3-pandas is for /usr/bin/python3, which may not be
# the python3 first on PATH (a pyenv's).
py=""
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import pandas' 2>/dev/null; then
        py=$p
        break
    fi
done
if [ -n "$py" ]; then
    "$py" - <<'PY' && ok || bad "README pandas example"
import sqlite3
import pandas as pd
csv = pd.read_csv("conns.csv")
js = pd.read_json("conns.jsonl", lines=True)
db = pd.read_sql("SELECT * FROM connections", sqlite3.connect("conns.sqlite"))
assert len(csv) == len(js) == len(db) == 60
assert (csv.groupby("close_initiator").size() == db.groupby("close_initiator").size()).all()
assert csv["time_wait_s"].dtype == "float64" and (csv["time_wait_s"] > 9).sum() == 47
PY
else
    echo "pandas not installed (scripts/bootstrap.sh installs python3-pandas): its README example not run"
fi
# DuckDB: README's examples through DuckDB's Node.js API (tests/duckdb,
# installed by scripts/bootstrap.sh from the npm registry), each answer
# against the sqlite3 CLI's on the database. The third example, which needs
# DuckDB's sqlite extension (a download from extensions.duckdb.org), is not.
duck() { node "$src/tests/duckdb/query.mjs" "$@"; }
if command -v node >/dev/null 2>&1 && [ -d "$src/tests/duckdb/node_modules/@duckdb/node-api" ]; then
    [ "$(duck "SELECT close_initiator, count(*) FROM 'conns.csv' GROUP BY ALL" | sort)" = \
        "$(sqlite3 conns.sqlite 'SELECT close_initiator, count(*) FROM connections GROUP BY 1' | sort)" ] &&
        ok || bad "README DuckDB example 1"
    [ "$(duck "SELECT handshake, count(*) FROM read_json_auto('conns.jsonl') GROUP BY ALL" | sort)" = \
        "$(sqlite3 conns.sqlite 'SELECT handshake, count(*) FROM connections GROUP BY 1' | sort)" ] &&
        ok || bad "README DuckDB example 2"
    [ "$(duck "SELECT count(*) FROM 'conns.csv' WHERE time_wait_s > 9")" = \
        "$(sqlite3 conns.sqlite 'SELECT count(*) FROM connections WHERE time_wait_s > 9')" ] &&
        ok || bad "README DuckDB example 3 (the columns' types)"
else
    echo "DuckDB not installed (scripts/bootstrap.sh: node and tests/duckdb's npm packages): its README examples not run"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
