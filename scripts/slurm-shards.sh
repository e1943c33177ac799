#!/bin/sh
# slurm-shards.sh: synfin over a capture archive on a Slurm cluster, one
# job-array task per shard, then a merge job (README "Splitting the work:
# shards").
#
#   slurm-shards.sh -n N -o DIR [-c] [-s SBATCH_OPTION]... -- [SYNFIN_OPTION]... INPUT...
#
#   -n N    shards (sbatch --array=0-N-1); each task runs
#           synfin --shard K/N -o DIR/rows.K.csv [SYNFIN_OPTION]... INPUT...
#   -o DIR  where the shards and the merged output go (created); DIR and
#           the inputs must be on a file system every node sees
#   -c      the census too: --census DIR/census.K.csv --census-hosts 65536,
#           merged into DIR/census.csv
#   -s OPT  passed to sbatch (repeatable): -s --partition=archive -s --mem=4G
#
# The merge job starts when every task has ended (afterany) and writes
# DIR/rows.csv (and DIR/census.csv) with merge-shards.sh. Each task leaves
# its exit status in DIR/status.K: the merge fails, saying which, when a
# shard did not end or ended with 2 or more; a shard that ended with 1
# (damaged input, or an output error: its log DIR/shard-K.log says which)
# is merged, and the merge job ends with 1. Prints the array's and the
# merge's job ids, one per line. SYNFIN names the binary (default: synfin
# on the nodes' PATH).
set -eu

here=$(cd "$(dirname "$0")" && pwd)

case ${1:-} in
task)
    # Inside the array: task mode (sbatch runs a copy of this script, so
    # SYNFIN_SCRIPTS says where the originals are).
    shift
    n=$1
    dir=$2
    census=$3
    shift 3
    k=$SLURM_ARRAY_TASK_ID
    set +e
    if [ "$census" = 1 ]; then
        "${SYNFIN:-synfin}" --shard "$k/$n" -o "$dir/rows.$k.csv" --census "$dir/census.$k.csv" \
            --census-hosts 65536 "$@"
    else
        "${SYNFIN:-synfin}" --shard "$k/$n" -o "$dir/rows.$k.csv" "$@"
    fi
    rc=$?
    echo "$rc" >"$dir/status.$k"
    exit "$rc"
    ;;
merge)
    shift
    n=$1
    dir=$2
    census=$3
    worst=0
    k=0
    rows=""
    cens=""
    while [ "$k" -lt "$n" ]; do
        rc=$(cat "$dir/status.$k" 2>/dev/null || echo missing)
        case $rc in
        0) ;;
        1)
            echo "slurm-shards: shard $k ended with 1 (damaged input or an output error): see $dir/shard-$k.log"
            worst=1
            ;;
        *)
            echo "slurm-shards: shard $k: exit status $rc: not merged (see $dir/shard-$k.log)" >&2
            exit 1
            ;;
        esac
        rows="$rows $dir/rows.$k.csv"
        cens="$cens $dir/census.$k.csv"
        k=$((k + 1))
    done
    # shellcheck disable=SC2086 # the file names are ours, without blanks
    sh "$SYNFIN_SCRIPTS/merge-shards.sh" rows $rows >"$dir/rows.csv"
    if [ "$census" = 1 ]; then
        # shellcheck disable=SC2086
        sh "$SYNFIN_SCRIPTS/merge-shards.sh" census $cens >"$dir/census.csv"
    fi
    echo "slurm-shards: $n shards merged into $dir/rows.csv"
    exit "$worst"
    ;;
esac

usage() {
    echo "usage: slurm-shards.sh -n N -o DIR [-c] [-s SBATCH_OPTION]... -- [SYNFIN_OPTION]... INPUT..." >&2
    exit 2
}

n=""
dir=""
census=0
sbatch_opts=""
while getopts n:o:cs: opt; do
    case $opt in
    n) n=$OPTARG ;;
    o) dir=$OPTARG ;;
    c) census=1 ;;
    s) sbatch_opts="$sbatch_opts $OPTARG" ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
case $n in '' | *[!0-9]* | 0) usage ;; esac
[ -n "$dir" ] && [ $# -gt 0 ] || usage
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rm -f "$dir"/status.*
export SYNFIN_SCRIPTS="$here"

# shellcheck disable=SC2086 # sbatch_opts: one word per option
array=$(sbatch --parsable $sbatch_opts --job-name=synfin-shard --array="0-$((n - 1))" \
    --output="$dir/shard-%a.log" "$here/slurm-shards.sh" task "$n" "$dir" "$census" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable $sbatch_opts --job-name=synfin-merge --dependency="afterany:$array" \
    --output="$dir/merge.log" "$here/slurm-shards.sh" merge "$n" "$dir" "$census")
echo "$array"
echo "${merge%%;*}"
