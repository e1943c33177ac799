#!/usr/bin/env python3
"""formats_back.py: synfin's JSON Lines or SQLite output back to its CSV.

    formats_back.py jsonl FILE.jsonl HEADER_CSV > back.csv
    formats_back.py sqlite FILE.sqlite HEADER_CSV > back.csv
    formats_back.py check LIST

LIST has a line per run, NAME<tab>CSV<tab>JSONL<tab>SQLITE: each of the
two read back must be the CSV byte for byte (one process for them all:
python3's start is most of a small run's cost). Prints what differs and
"N compared, N differ"; exit 1 when any does.

HEADER_CSV is the CSV output of the same run: its header gives the columns,
and its timestamps' decimals (6 or 9) how to write SQLite's REAL values.
Checks on the way, failing with exit 1 and a message:
  - JSONL: every line parses with a strict JSON parser (no NaN/Infinity, no
    duplicate member), is an object whose members are CSV columns in the
    CSV's order, numbers are JSON numbers, anomalies an array of strings;
  - SQLite: the connections table has the CSV's columns in order, each value
    of its declared type (INTEGER, REAL, TEXT) or NULL, and
    PRAGMA integrity_check says ok.
A REAL holds a nanosecond timestamp only to about 0.2 us (a double): with 9
decimals, a REAL within 1 us of the CSV's field is written as the CSV's
text (else as SQLite's value, so that the comparison fails).
"""
import json
import sqlite3
import sys

INT, REAL, TEXT, LIST = "INTEGER", "REAL", "TEXT", "LIST"


class Bad(Exception):
    pass


def fail(msg):
    raise Bad(msg)


def no_constant(name):
    fail("not strict JSON: %s" % name)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        fail("duplicate member in %r" % keys)
    return pairs


def precision_of(csv_lines):
    if len(csv_lines) < 2:
        return 6
    first_ts = csv_lines[1].split(",")[1]
    return len(first_ts.split(".")[1])


def jsonl_back(path, columns):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.endswith("\n"):
                fail("%s:%d: no line end" % (path, n))
            # Strict: Python's json rejects control characters in strings;
            # NaN and Infinity are refused here; numbers kept as their text.
            pairs = json.loads(line, parse_constant=no_constant,
                               parse_float=lambda s: ("num", s),
                               parse_int=lambda s: ("num", s),
                               object_pairs_hook=no_duplicates)
            if not isinstance(pairs, list):
                fail("%s:%d: not an object" % (path, n))
            obj = dict(pairs)
            names = [k for k, _ in pairs]
            order = [c for c in columns if c in obj]
            if names != order:
                fail("%s:%d: members %r not CSV columns in order" % (path, n, names))
            fields = []
            for c in columns:
                v = obj.get(c)
                if v is None:
                    fields.append("")
                elif isinstance(v, tuple):
                    fields.append(v[1])
                elif isinstance(v, list):
                    if c != "anomalies" or not all(isinstance(x, str) for x in v) or not v:
                        fail("%s:%d: %s: unexpected array %r" % (path, n, c, v))
                    fields.append(";".join(v))
                elif isinstance(v, str):
                    if v == "":
                        fail("%s:%d: %s: an empty string (should be left out)" % (path, n, c))
                    fields.append(v)
                else:
                    fail("%s:%d: %s: unexpected value %r" % (path, n, c, v))
            out.append(",".join(fields))
    return out


def real_text(v, precision, csv_field):
    text = "%.*f" % (precision, v)
    if precision == 9 and csv_field and abs(float(csv_field) - v) <= 1e-6:
        return csv_field
    return text


def sqlite_back(path, columns, precision, csv_rows):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    ok = db.execute("PRAGMA integrity_check").fetchone()[0]
    if ok != "ok":
        fail("%s: integrity_check: %s" % (path, ok))
    info = db.execute("PRAGMA table_info(connections)").fetchall()
    names = [r[1] for r in info]
    if names != columns:
        fail("%s: columns %r are not the CSV's %r" % (path, names, columns))
    types = [r[2] for r in info]
    want = {"INTEGER": int, "REAL": float, "TEXT": str}
    out = []
    for i, row in enumerate(db.execute("SELECT * FROM connections ORDER BY rowid")):
        csv_fields = csv_rows[i].split(",") if i < len(csv_rows) else [""] * len(columns)
        fields = []
        for c, t, v, cf in zip(columns, types, row, csv_fields):
            if v is None:
                fields.append("")
                continue
            if not isinstance(v, want[t]):
                fail("%s: %s: %r is not %s" % (path, c, v, t))
            fields.append(real_text(v, precision, cf) if t == "REAL" else str(v))
        out.append(",".join(fields))
    db.close()
    return out


def back(kind, path, csv_path):
    """The CSV text of path (kind jsonl or sqlite), as csv_path's."""
    with open(csv_path, encoding="utf-8") as f:
        csv_lines = f.read().splitlines()
    if not csv_lines:
        fail("%s: no header" % csv_path)
    columns = csv_lines[0].split(",")
    if kind == "jsonl":
        rows = jsonl_back(path, columns)
    else:
        rows = sqlite_back(path, columns, precision_of(csv_lines), csv_lines[1:])
    return "".join(line + "\n" for line in [csv_lines[0]] + rows)


def check(list_path):
    compared = differ = 0
    with open(list_path, encoding="utf-8") as f:
        runs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for name, csv_path, jsonl_path, db_path in runs:
        with open(csv_path, encoding="utf-8") as f:
            csv_text = f.read()
        for kind, path in (("jsonl", jsonl_path), ("sqlite", db_path)):
            compared += 1
            try:
                text = back(kind, path, csv_path)
            except (Bad, ValueError, sqlite3.Error, OSError) as e:
                text = "error: %s" % e
            if text != csv_text:
                differ += 1
                got, want = text.splitlines(), csv_text.splitlines()
                at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                          min(len(got), len(want)))
                print("FAIL %s: %s read back differs at line %d:\n  got  %s\n  want %s" %
                      (name, kind, at + 1, got[at] if at < len(got) else "(end)",
                       want[at] if at < len(want) else "(end)"))
    print("%d compared, %d differ" % (compared, differ))
    return 1 if differ else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2]))
    if len(sys.argv) != 4 or sys.argv[1] not in ("jsonl", "sqlite"):
        sys.exit("usage: formats_back.py jsonl|sqlite FILE CSV | check LIST")
    try:
        sys.stdout.write(back(sys.argv[1], sys.argv[2], sys.argv[3]))
    except Bad as e:
        sys.exit("formats_back.py: %s" % e)


if __name__ == "__main__":
    main()
