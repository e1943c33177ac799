#!/bin/sh
# Runs synfin under valgrind memcheck on all samples read as one stream (every
# reader and link type), once with the defaults and once with small timers
# and --max-flows so expiry and eviction run too: no invalid access, no leak.
set -u
synfin=$1
samples=$2
status=0
run() {
    if ! valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all \
        --show-leak-kinds=all "$synfin" -q "$@" -o /dev/null 2>/tmp/memcheck.$$; then
        echo "memcheck: synfin $*:"
        cat /tmp/memcheck.$$
        status=1
    fi
}
run --summary "$samples"/*.pcap "$samples"/*.pcapng
run --summary --msl 1 --idle-timeout 0.5 --max-flows 5 "$samples"/*.pcap "$samples"/*.pcapng
rm -f /tmp/memcheck.$$
[ $status -eq 0 ] && echo "memcheck: every sample clean"
exit $status
