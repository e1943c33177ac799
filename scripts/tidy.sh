#!/usr/bin/env bash
# clang-tidy (checks in .clang-tidy) over the production sources: every *.c
# of the top-level module folders that exist (dissect flows analyzer capture
# report), with the compile flags of a CMake build's compile_commands.json.
# Exits 1 on any finding (WarningsAsErrors), 0 when clean, and 0 with a
# message when clang-tidy is not installed (scripts/bootstrap.sh installs it;
# CI sets CI and then a missing clang-tidy is an error).
#
#   scripts/tidy.sh [FILE.c ...]      default: all production sources
#   BUILD=dir   the build directory to configure and read (default build-tidy)
#   JOBS=n      files checked in parallel (default: nproc)
#   CLANG_TIDY  the binary (default clang-tidy)
set -euo pipefail
cd "$(dirname "$0")/.."

MODULES=(dissect flows analyzer capture report)
BUILD=${BUILD:-build-tidy}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
CLANG_TIDY=${CLANG_TIDY:-clang-tidy}

if ! command -v "$CLANG_TIDY" >/dev/null 2>&1; then
    if [ -n "${CI:-}" ]; then
        echo "tidy: $CLANG_TIDY not found (CI: scripts/bootstrap.sh should have installed it)" >&2
        exit 1
    fi
    echo "tidy: $CLANG_TIDY not found, skipped (apt-get install clang-tidy)" >&2
    exit 0
fi

if [ $# -gt 0 ]; then
    files=("$@")
else
    files=()
    for m in "${MODULES[@]}"; do
        [ -d "$m" ] || continue
        for f in "$m"/*.c; do
            [ -e "$f" ] && files+=("$f")
        done
    done
fi
if [ ${#files[@]} -eq 0 ]; then
    echo "tidy: no sources found" >&2
    exit 1
fi

# A build tree of its own (configured only, never built) so that the flags
# are those of the default build type whatever the other trees were given.
cmake -S . -B "$BUILD" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DBUILD_TESTING=OFF >/dev/null
if [ ! -f "$BUILD/compile_commands.json" ]; then
    echo "tidy: $BUILD/compile_commands.json was not written" >&2
    exit 1
fi

echo "tidy: $("$CLANG_TIDY" --version | grep -m1 -o 'version [0-9.]*'), ${#files[@]} files, $JOBS at a time"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One clang-tidy per file, so that the files run in parallel, each into a
# log of its own so that their lines do not interleave. In the sh -c script
# $0 is clang-tidy, $1 the build, $2 the log folder, $3 the file (xargs).
status=0
# shellcheck disable=SC2016 # expanded by sh -c, not here
printf '%s\0' "${files[@]}" |
    xargs -0 -n1 -P"$JOBS" sh -c \
        '"$0" --quiet -p "$1" "$3" >"$2/$(echo "$3" | tr / _).log" 2>&1' \
        "$CLANG_TIDY" "$BUILD" "$tmp" || status=$?
# The findings (file:line:col: error: ... [check]) with their notes; the
# "N warnings generated" / "treated as errors" lines are left out.
cat "$tmp"/*.log | grep -v -E '^[0-9]+ (warning|error)s? (generated|treated as errors)\.?$' || true
if [ "$status" -ne 0 ]; then
    n=$(cat "$tmp"/*.log | grep -c -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' || true)
    echo "tidy: $n finding(s): fix them, or where one is wrong say why in a NOLINT or .clang-tidy" >&2
    exit 1
fi
echo "tidy: clean"
