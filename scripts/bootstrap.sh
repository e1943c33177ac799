#!/bin/sh
# Installs, with apt-get, only the build and test dependencies that are missing.
# Runs as root or through sudo; prints what it installs. Safe to run repeatedly.
# clang-tidy (scripts/tidy.sh) only with --tidy or in CI (CI set): it pulls in
# LLVM, which `make test` does not need. slurm-wlm and munge (the Slurm
# recipe's test, tests/slurm_recipe.sh) only with --slurm or in CI: a
# workload manager and its daemons, heavy for a test that skips without them.
set -eu

# package  -> a file that proves it is installed
need() {
    pkg=$1
    probe=$2
    if [ ! -e "$probe" ]; then
        missing="$missing $pkg"
    fi
}

missing=""
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
command -v cmake >/dev/null 2>&1 || missing="$missing cmake"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
need libpcap-dev /usr/include/pcap/pcap.h
need libcmocka-dev /usr/include/cmocka.h
need zlib1g-dev /usr/include/zlib.h
# capture/codecs.c: compressed captures besides gzip.
need libzstd-dev /usr/include/zstd.h
need liblzma-dev /usr/include/lzma.h
need libbz2-dev /usr/include/bzlib.h
need liblz4-dev /usr/include/lz4frame.h
need uthash-dev /usr/include/uthash.h
# report/plot.c draws the census with cairo (SVG and PNG).
need libcairo2-dev /usr/include/cairo/cairo.h
# report/community.c: community_id's SHA-1 and base64.
need nettle-dev /usr/include/nettle/sha1.h
# The conformance suite (conformance/): capture, namespaces, ss, the harness.
need tcpdump /usr/bin/tcpdump
need iproute2 /bin/ip
need python3 /usr/bin/python3
# The sharding recipes (tests/shard_recipes.sh): GNU parallel.
need parallel /usr/bin/parallel
# --format sqlite (report/row_sqlite.c); the formats' tests read the outputs
# back with the sqlite3 CLI and jq.
need libsqlite3-dev /usr/include/sqlite3.h
need sqlite3 /usr/bin/sqlite3
need jq /usr/bin/jq
# README "Output formats"' pandas and DuckDB examples (tests/formats.sh):
# pandas from Debian; DuckDB, which Debian does not package, through its
# Node.js API from the npm registry (tests/duckdb, below).
need python3-pandas /usr/lib/python3/dist-packages/pandas/__init__.py
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ "${1:-}" = "--tidy" ] || [ -n "${CI:-}" ]; then
    command -v clang-tidy >/dev/null 2>&1 || missing="$missing clang-tidy"
fi
if [ "${1:-}" = "--slurm" ] || [ -n "${CI:-}" ]; then
    need slurm-wlm /usr/sbin/slurmd
    need munge /usr/sbin/munged
fi

# DuckDB's Node.js API for the formats test, at the version
# tests/duckdb/package-lock.json pins.
duckdb_examples() {
    dir=$(cd "$(dirname "$0")/.." && pwd)/tests/duckdb
    if [ ! -d "$dir/node_modules/@duckdb/node-api" ] && command -v npm >/dev/null 2>&1; then
        echo "bootstrap: npm ci in tests/duckdb (DuckDB for the formats test)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
            echo "bootstrap: DuckDB not installed: the formats test will not run its examples" >&2
    fi
}

if [ -z "$missing" ]; then
    duckdb_examples
    exit 0
fi

echo "bootstrap: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "bootstrap: need root or sudo to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
duckdb_examples
echo "bootstrap: done"
