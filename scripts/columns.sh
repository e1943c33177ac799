#!/bin/sh
# The CSV's columns have one description: the table in README.md's "The
# CSV" (column, meaning and values). This script reads it:
#   columns.sh names README.md          the column names, one a line, in order
#   columns.sh man README.md            synfin.1's COLUMNS section (roff)
#   columns.sh update README.md synfin.1    rewrites that section in place
#   columns.sh check README.md synfin.1 SYNFIN SAMPLE
#       fails unless the names are the header SYNFIN writes for SAMPLE and
#       the list its --help prints, and synfin.1's section is `man`'s.
# ctest runs `check` (test `columns`); `make man` runs `update`.
set -eu

# The table's rows: from "## The CSV" to the next heading.
rows() {
    awk '/^## The CSV/ { on = 1; next } on && /^#/ { exit } on && /^\| `/' "$1"
}

names() {
    rows "$1" | awk -F'|' '{
        cell = $2
        while (match(cell, /`[^`]*`/)) {
            print substr(cell, RSTART + 1, RLENGTH - 2)
            cell = substr(cell, RSTART + RLENGTH)
        }
    }'
}

# Markdown to roff: `code` bold, [text](link) as text, backslashes doubled,
# hyphens of names and options escaped.
man() {
    printf '.SH COLUMNS\n'
    printf 'One row per connection instance, in this order (README "The CSV" has\n'
    printf 'the rules behind them). An empty field is not applicable.\n'
    rows "$1" | awk -F'|' '
    function roff(s) {
        gsub(/\\/, "\\\\", s)
        while (match(s, /\[[^]]*\]\([^)]*\)/)) {
            t = substr(s, RSTART, RLENGTH)
            sub(/\]\(.*$/, "", t)
            s = substr(s, 1, RSTART - 1) substr(t, 2) substr(s, RSTART + RLENGTH)
        }
        out = ""
        while (match(s, /`[^`]*`/)) {
            code = substr(s, RSTART + 1, RLENGTH - 2)
            gsub(/-/, "\\-", code)
            out = out substr(s, 1, RSTART - 1) "\\fB" code "\\fR"
            s = substr(s, RSTART + RLENGTH)
        }
        return out s
    }
    {
        head = $2; text = $3
        for (i = 4; i < NF; i++) text = text "|" $i
        sub(/^ +/, "", head); sub(/ +$/, "", head)
        sub(/^ +/, "", text); sub(/ +$/, "", text)
        print ".TP"
        print roff(head)
        line = roff(text)
        if (line ~ /^[.\x27]/) line = "\\&" line
        print line
    }' | sed -e 's/…/.../g' -e 's/−/\\-/g' -e 's/×/\\(mu/g' -e 's/µ/\\(mc/g' \
        -e 's/≤/\\(<=/g' -e 's/≥/\\(>=/g' -e 's/→/\\(->/g' -e 's/—/\\(em/g' -e 's/–/\\(en/g'
}

update() {
    tmp=$(mktemp)
    SECT=$(man "$1") && export SECT
    awk '
        /^\.SH COLUMNS/ { skip = 1; print ENVIRON["SECT"]; next }
        skip && /^\.SH / { skip = 0 }
        !skip' "$2" > "$tmp"
    if ! grep -q '^\.SH COLUMNS' "$2"; then
        # First time: before EXIT STATUS.
        awk '/^\.SH EXIT STATUS/ { print ENVIRON["SECT"] } { print }' "$2" > "$tmp"
    fi
    cat "$tmp" > "$2"
    rm -f "$tmp"
}

check() {
    readme=$1 page=$2 bin=$3 sample=$4
    want=$(names "$readme")
    header=$("$bin" -q "$sample" | head -1 | tr ',' '\n')
    if [ "$want" != "$header" ]; then
        echo "columns: README's table and the CSV header differ:" >&2
        printf '%s\n' "$want" > /tmp/columns.want.$$
        printf '%s\n' "$header" | diff /tmp/columns.want.$$ - >&2 || true
        rm -f /tmp/columns.want.$$
        exit 1
    fi
    help=$("$bin" --help | awk '/^CSV columns/ { on = 1; next } on && /^$/ { exit } on' |
        tr -s ' ' '\n' | sed '/^$/d')
    if [ "$want" != "$help" ]; then
        echo "columns: README's table and the list in --help differ" >&2
        exit 1
    fi
    section=$(awk '/^\.SH COLUMNS/ { on = 1 } on && /^\.SH / && !/COLUMNS/ { exit } on' "$page")
    if [ "$section" != "$(man "$readme")" ]; then
        echo "columns: synfin.1's COLUMNS is not README's table: run 'make man'" >&2
        exit 1
    fi
    echo "columns: $(printf '%s\n' "$want" | wc -l) columns, README = header = --help = synfin.1"
}

cmd=${1:-}
shift || true
case $cmd in
names) names "$1" ;;
man) man "$1" ;;
update) update "$1" "$2" ;;
check) check "$@" ;;
*)
    echo "usage: columns.sh names|man README | update README PAGE | check README PAGE SYNFIN SAMPLE" >&2
    exit 2
    ;;
esac
