#!/bin/sh
# ctest entry: the quick conformance run against the kernel, judged against
# the known disagreements in expected.tsv. Exit 77 (skipped) with one line
# saying why when the machine cannot run it.
# usage: ctest.sh PATH/TO/synfin
here=$(dirname "$0")
if [ ! -x /usr/bin/python3 ]; then
    echo "conformance: SKIPPED: /usr/bin/python3 is missing (scripts/bootstrap.sh installs it)"
    exit 77
fi
exec /usr/bin/python3 "$here/run.py" --quick --synfin "$1" --expect "$here/expected.tsv"
