#!/bin/sh
# Runs synfin under valgrind memcheck on all samples read as one stream (every
# reader and link type), once with the defaults and once with small timers
# and --max-flows so expiry and eviction run too, then on the samples gzip-
# compressed, whole and cut short: no invalid access, no leak.
set -u
synfin=$1
samples=$2
supp=$(dirname "$0")/valgrind.supp # libraries' load-time allocations
status=0
run() {
    if ! valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all --suppressions="$supp" \
        --show-leak-kinds=all "$synfin" -q "$@" -o /dev/null 2>/tmp/memcheck.$$; then
        echo "memcheck: synfin $*:"
        cat /tmp/memcheck.$$
        status=1
    fi
}
run --summary "$samples"/*.pcap "$samples"/*.pcapng
run --summary --msl 1 --idle-timeout 0.5 --max-flows 5 "$samples"/*.pcap "$samples"/*.pcapng
# gzip (inflated on a thread of its own), whole and cut short
gzip -c "$samples"/busy_server.pcap >/tmp/memcheck.$$.gz
run --summary /tmp/memcheck.$$.gz
head -c 3000 /tmp/memcheck.$$.gz >/tmp/memcheck.$$.cut.gz
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all --suppressions="$supp" \
    --show-leak-kinds=all "$synfin" -q /tmp/memcheck.$$.cut.gz -o /dev/null 2>/tmp/memcheck.$$
if [ $? -eq 99 ] || [ -s /tmp/memcheck.$$ ]; then
    echo "memcheck: synfin on a cut gzip:"
    cat /tmp/memcheck.$$
    status=1
fi
rm -f /tmp/memcheck.$$ /tmp/memcheck.$$.gz /tmp/memcheck.$$.cut.gz
[ $status -eq 0 ] && echo "memcheck: every sample clean"
exit $status
