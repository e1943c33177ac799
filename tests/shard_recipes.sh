#!/bin/sh
# shard_recipes.sh SYNFIN SOURCE_DIR TRACEGEN: the GNU parallel recipes of
# README "Splitting the work: shards", run as written there, against one
# run of the same inputs:
#   - locally, 4 shards;
#   - "across hosts" with -S, 4 shards on two hosts: the hosts are reached
#     through a stand-in for ssh that runs the command here (--ssh), so
#     parallel's remote path (its quoting, --wd) is what runs;
# then scripts/merge-shards.sh, and the merged rows (conn_id aside: it is
# numbered per shard) and census must be the whole run's, byte for byte
# once sorted. Exit 77 (skipped) without GNU parallel.
set -eu
synfin=$1
src=$2
tracegen=$3

if ! command -v parallel >/dev/null 2>&1; then
    echo "skipped: GNU parallel is not installed (scripts/bootstrap.sh installs it)"
    exit 77
fi

tmp=$(mktemp -d /tmp/synfin-recipes-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
merge="sh $src/scripts/merge-shards.sh"

# Inputs: a generated trace (many clients and servers, all kinds of
# endings) and a sample, read as one stream.
"$tracegen" -o "$tmp/trace.pcap" --seed 7 --duration 3 --rate 800 >/dev/null 2>&1
set -- "$tmp/trace.pcap" "$src/samples/busy_server.pcap"

"$synfin" -q -o "$tmp/whole.csv" --census "$tmp/whole-census.csv" --census-hosts 65536 "$@"
cut -d, -f2- "$tmp/whole.csv" | sort >"$tmp/whole.sorted"
sort "$tmp/whole-census.csv" >"$tmp/whole-census.sorted"

# Compares the merged output in directory $1 with the whole run.
check() {
    dir=$1
    what=$2
    $merge rows "$dir"/rows.*.csv >"$dir/rows.csv"
    $merge census "$dir"/census.*.csv >"$dir/census.csv"
    if [ "$(head -1 "$dir/rows.csv")" != "$(head -1 "$tmp/whole.csv")" ]; then
        echo "FAIL $what: the merged header differs"
        exit 1
    fi
    cut -d, -f2- "$dir/rows.csv" | sort >"$dir/rows.sorted"
    if ! cmp -s "$dir/rows.sorted" "$tmp/whole.sorted"; then
        echo "FAIL $what: the merged rows are not the whole run's"
        diff "$dir/rows.sorted" "$tmp/whole.sorted" | head -20
        exit 1
    fi
    sort "$dir/census.csv" >"$dir/census.sorted"
    if ! cmp -s "$dir/census.sorted" "$tmp/whole-census.sorted"; then
        echo "FAIL $what: the merged census is not the whole run's"
        diff "$dir/census.sorted" "$tmp/whole-census.sorted" | head -20
        exit 1
    fi
    echo "ok $what: $(($(wc -l <"$dir/rows.csv") - 1)) rows, $(($(wc -l <"$dir/census.csv") - 1)) census rows"
}

# Locally: the README's command, 4 shards.
mkdir "$tmp/local"
cd "$tmp/local"
parallel --will-cite "$synfin" -q --shard {}/4 -o rows.{}.csv --census census.{}.csv \
    --census-hosts 65536 "$@" ::: 0 1 2 3
check "$tmp/local" "GNU parallel, 4 shards"

# Across hosts: -S, two "hosts" of two job slots, the work directory
# shared (--wd), as on a cluster file system.
cat >"$tmp/ssh" <<'EOF'
#!/bin/sh
# A stand-in for ssh: drops the options and the host, runs the command here.
while [ $# -gt 0 ]; do
    case $1 in
    -l | -p | -o | -i | -F) shift 2 ;;
    -*) shift ;;
    *) break ;;
    esac
done
shift
[ "${1:-}" = "--" ] && shift
# sshd starts the command in a login environment: SHELL and HOME come
# from the password entry. parallel's remote worker execs $SHELL, so a
# caller without them (CI runs with a bare environment) must get them.
export SHELL="${SHELL:-/bin/sh}" HOME="${HOME:-/tmp}"
exec sh -c "$*"
EOF
chmod +x "$tmp/ssh"
mkdir "$tmp/hosts"
cd "$tmp/hosts"
parallel --will-cite --ssh "$tmp/ssh" -S 2/hostA,2/hostB --wd "$tmp/hosts" \
    "$synfin" -q --shard {}/4 -o rows.{}.csv --census census.{}.csv --census-hosts 65536 \
    "$@" ::: 0 1 2 3
check "$tmp/hosts" "GNU parallel -S, 4 shards on 2 hosts"
