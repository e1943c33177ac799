#!/usr/bin/env bash
# check-layout.sh: the shape the code keeps (issue 11), checked.
#
#   - no production C file over 700 lines;
#   - no production function over 80 lines (from the line of its opening
#     brace at column 0 to its closing one);
#   - modules include only headers of the modules they may depend on:
#       analyzer -> {report, capture} -> flows -> dissect
#     (capture does not need flows; ring is a header every threaded module
#     may use), so no include cycle between modules;
#   - no file of flows/ but conntab reads a field of conntab's struct.
#
# Production = every .c/.h under the module folders below. Prints each
# breach and exits 1 if there is any, else prints a one-line summary.
set -euo pipefail
cd "$(dirname "$0")/.."

modules=(dissect flows capture report ring analyzer)
declare -A allowed=(
    [dissect]="dissect"
    [flows]="flows dissect"
    [capture]="capture ring"
    [report]="report flows dissect"
    [ring]="ring"
    [analyzer]="analyzer report capture flows dissect ring"
)
max_file=700 max_fn=80
bad=0 files=0 fns=0

# Which module owns a header name (headers are included by bare name).
declare -A owner=()
for m in "${modules[@]}"; do
    [[ -d $m ]] || continue
    while IFS= read -r h; do owner[$(basename "$h")]=$m; done < <(find "$m" -name '*.h')
done

for m in "${modules[@]}"; do
    [[ -d $m ]] || continue
    while IFS= read -r f; do
        files=$((files + 1))
        n=$(wc -l <"$f")
        if ((n > max_file)) && [[ $f == *.c ]]; then
            echo "$f: $n lines (at most $max_file)"
            bad=1
        fi
        # Functions: a '{' alone at column 0 opens one, a '}' at column 0 ends it.
        while IFS=: read -r start len; do
            fns=$((fns + 1))
            if ((len > max_fn)); then
                echo "$f:$start: function of $len lines (at most $max_fn)"
                bad=1
            fi
        done < <(awk '/^\{$/ { s = NR } /^\}/ { if (s) { print s ":" NR - s + 1; s = 0 } }' "$f")
        # Includes.
        while IFS= read -r inc; do
            o=${owner[$inc]:-}
            [[ -z $o ]] && continue
            if [[ " ${allowed[$m]} " != *" $o "* ]]; then
                echo "$f: includes $inc of module $o ($m may use: ${allowed[$m]})"
                bad=1
            fi
        done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
    done < <(find "$m" -name '*.[ch]' | sort)
done
# conntab's struct is in its header for the inline accessors alone: no
# file of flows/ but conntab.c reads a field of it.
fields='pool|pool_mem|cold|elem_size|elem_shift|cold_size|align|key_len|pool_cap|pool_used|free_head|slots|mask|count'
if [[ -d flows ]]; then
    while IFS= read -r hit; do
        echo "$hit: a field of conntab outside conntab.c (use its accessors)"
        bad=1
    done < <(grep -nE "tab(->|\.)($fields)\b" flows/*.c flows/*.h | grep -v '^flows/conntab\.[ch]:' || true)
fi
if ((bad)); then
    exit 1
fi
echo "layout: $files files, $fns functions: none over $max_file / $max_fn lines, includes one-way"
