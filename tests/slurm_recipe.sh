#!/bin/sh
# slurm_recipe.sh SYNFIN SOURCE_DIR TRACEGEN: the Slurm recipe of README
# "Splitting the work: shards" (scripts/slurm-shards.sh: a job array of 4
# shards, then the merge job) on a single-node Slurm this script starts
# for itself: munged, slurmctld and slurmd (slurm-wlm and munge from
# Debian) with their own key, socket, ports, state and logs in a temporary
# directory, stopped at the end. The merged rows (conn_id aside) and census
# must be one run's, byte for byte once sorted.
#
# Skipped (exit 77), with the reason, where a Slurm cannot start: not root
# (slurmd runs jobs as their users), slurm-wlm or munge missing
# (scripts/bootstrap.sh --slurm installs them), or a daemon that does not
# come up (its log is shown).
set -eu
synfin=$1
src=$2
tracegen=$3

skip() {
    echo "skipped: $*"
    exit 77
}

[ "$(id -u)" -eq 0 ] || skip "a single-node Slurm needs root (slurmd starts the jobs)"
for c in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$c" >/dev/null 2>&1 ||
        skip "$c not found: install slurm-wlm and munge (scripts/bootstrap.sh --slurm)"
done

tmp=$(mktemp -d /tmp/synfin-slurm-XXXXXX)
chmod 755 "$tmp"
stop() {
    for d in slurmd slurmctld munged; do
        [ -s "$tmp/$d.pid" ] && kill "$(cat "$tmp/$d.pid")" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$tmp"
}
trap stop EXIT

# munge: a key of our own, on a socket of our own.
dd if=/dev/urandom of="$tmp/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$tmp/munge.key"
munged -f --socket="$tmp/munge.sock" --key-file="$tmp/munge.key" --log-file="$tmp/munged.log" \
    --pid-file="$tmp/munged.pid" --seed-file="$tmp/munged.seed" ||
    skip "munged does not start: $(tail -3 "$tmp/munged.log" 2>/dev/null)"

# A minimal slurm.conf: this host as controller and only node, ports from
# our pid (two tests at once do not meet), no accounting, no cgroups.
port=$((20000 + ($$ % 10000) * 2))
host=$(hostname)
mkdir "$tmp/state" "$tmp/spool"
cat >"$tmp/slurm.conf" <<EOF
ClusterName=synfintest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$tmp/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=synfin Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -f "$SLURM_CONF" || skip "slurmctld does not start: $(tail -3 "$tmp/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" || skip "slurmd does not start: $(tail -3 "$tmp/slurmd.log" 2>/dev/null)"
i=0
until sinfo -h -o %t 2>/dev/null | grep -q '^idle'; do
    i=$((i + 1))
    [ $i -lt 40 ] || skip "the node did not come up in 20 s: $(tail -3 "$tmp/slurmd.log" 2>/dev/null)"
    sleep 0.5
done

# The recipe.
"$tracegen" -o "$tmp/trace.pcap" --seed 11 --duration 3 --rate 800 >/dev/null 2>&1
set -- "$tmp/trace.pcap" "$src/samples/busy_server.pcap"
"$synfin" -q -o "$tmp/whole.csv" --census "$tmp/whole-census.csv" --census-hosts 65536 "$@"

jobs=$(SYNFIN=$synfin sh "$src/scripts/slurm-shards.sh" -n 4 -o "$tmp/out" -c -- -q "$@")
merge=$(echo "$jobs" | tail -1)
i=0
while squeue -h -j "$merge" 2>/dev/null | grep -q .; do
    i=$((i + 1))
    if [ $i -ge 240 ]; then
        echo "FAIL: the merge job $merge did not end in 120 s"
        squeue
        exit 1
    fi
    sleep 0.5
done
if ! grep -q "4 shards merged" "$tmp/out/merge.log" 2>/dev/null; then
    echo "FAIL: the merge job did not merge:"
    cat "$tmp/out/merge.log" "$tmp"/out/shard-*.log 2>/dev/null
    exit 1
fi
cut -d, -f2- "$tmp/out/rows.csv" | sort >"$tmp/merged.sorted"
cut -d, -f2- "$tmp/whole.csv" | sort >"$tmp/whole.sorted"
if ! cmp -s "$tmp/merged.sorted" "$tmp/whole.sorted"; then
    echo "FAIL: the merged rows are not the whole run's"
    diff "$tmp/merged.sorted" "$tmp/whole.sorted" | head -20
    exit 1
fi
sort "$tmp/out/census.csv" >"$tmp/merged-census.sorted"
sort "$tmp/whole-census.csv" >"$tmp/whole-census.sorted"
if ! cmp -s "$tmp/merged-census.sorted" "$tmp/whole-census.sorted"; then
    echo "FAIL: the merged census is not the whole run's"
    diff "$tmp/merged-census.sorted" "$tmp/whole-census.sorted" | head -20
    exit 1
fi
echo "ok Slurm job array of 4 shards and the merge job: $(($(wc -l <"$tmp/out/rows.csv") - 1)) rows"
