/*
 * row_sqlite.c: the rows in an SQLite database (--format sqlite), through
 * libsqlite3: a `connections` table with a typed column per CSV column
 * (report_columns: INTEGER, REAL, TEXT; an empty field is NULL), and, when
 * asked for, the census and the findings as tables of their own.
 *
 * The rows come as the CSV lines row.c formats (on any thread), and are
 * inserted here on the one thread that writes them, through one prepared
 * statement, in one transaction per batch of SQLOUT_BATCH rows: a run cut
 * short (a damaged input, a write error, a kill) leaves every committed
 * batch in a valid database, and the end commits the last one on every
 * path (sqlout_close). The indexes (the 4-tuple, first_ts) are made at the
 * end, over the whole table at once (a run killed before has none).
 *
 * The journal stays (a process that dies mid-batch leaves the database as
 * its last commit); synchronous is off: the file is an output that a run
 * makes again, not worth an fsync per batch (only an operating system
 * crash could damage it).
 */
#include "report.h"
#include "report_int.h"

#include <errno.h>
#include <sqlite3.h>
#include <unistd.h>

#define SQLOUT_BATCH 50000 /* rows per transaction */

struct sqlout {
    sqlite3 *db;
    sqlite3_stmt *ins; /* INSERT INTO connections VALUES (?, ...) */
    char *path;
    size_t ncol;
    const report_column *col;
    uint32_t batch; /* rows in the open transaction; 0: none open */
    int failed;     /* errno of the first failure */
};

/* A failure of SQLite's as an errno, said once on stderr. */
static int fail(sqlout *s, const char *what)
{
    int code = s->db ? sqlite3_errcode(s->db) : SQLITE_CANTOPEN;
    int err = code == SQLITE_FULL       ? ENOSPC
              : code == SQLITE_READONLY ? EROFS
              : code == SQLITE_NOMEM    ? ENOMEM
              : code == SQLITE_CANTOPEN ? EACCES
                                        : EIO;
    int sys = s->db ? sqlite3_system_errno(s->db) : 0;
    if (sys && code != SQLITE_NOMEM)
        err = sys; /* the system's own: EFBIG, ENOSPC, EACCES... */
    if (!s->failed)
        fprintf(stderr, "synfin: %s: sqlite: %s: %s\n", s->path, what,
                s->db ? sqlite3_errmsg(s->db) : "cannot open");
    if (!s->failed)
        s->failed = err;
    return s->failed;
}

static int exec(sqlout *s, const char *sql)
{
    if (s->failed)
        return s->failed;
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(s, sql);
}

static const char *sql_type(report_col_type t)
{
    return t == REPORT_COL_INT ? "INTEGER" : t == REPORT_COL_REAL ? "REAL" : "TEXT";
}

/* CREATE TABLE connections and its INSERT, from the columns' list. */
static int create_table(sqlout *s)
{
    sqlite3_str *create = sqlite3_str_new(s->db), *insert = sqlite3_str_new(s->db);
    sqlite3_str_appendall(create, "CREATE TABLE connections (");
    sqlite3_str_appendall(insert, "INSERT INTO connections VALUES (");
    for (size_t i = 0; i < s->ncol; i++) {
        sqlite3_str_appendf(create, "%s%s %s", i ? ", " : "", s->col[i].name,
                            sql_type(s->col[i].type));
        sqlite3_str_appendall(insert, i ? ", ?" : "?");
    }
    sqlite3_str_appendall(create, ")");
    sqlite3_str_appendall(insert, ")");
    char *c = sqlite3_str_finish(create), *in = sqlite3_str_finish(insert);
    int rc = c && in ? exec(s, c) : (errno = ENOMEM);
    if (!rc && sqlite3_prepare_v2(s->db, in, -1, &s->ins, NULL) != SQLITE_OK)
        rc = fail(s, "prepare");
    sqlite3_free(c);
    sqlite3_free(in);
    return rc;
}

sqlout *sqlout_open(const char *path)
{
    sqlout *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        fprintf(stderr, "synfin: out of memory\n");
        return NULL;
    }
    s->col = report_columns(&s->ncol);
    (void)unlink(path); /* replaced, as a CSV would be; a missing one is fine */
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK)
        fail(s, "open");
    if (!s->failed)
        exec(s, "PRAGMA synchronous = OFF");
    if (!s->failed)
        create_table(s);
    if (s->failed) {
        sqlite3_close(s->db);
        free(s->path);
        free(s);
        return NULL;
    }
    return s;
}

/* Binds field f[0, len) of column i. */
static int bind_field(sqlout *s, int i, const char *f, size_t len)
{
    if (len == 0)
        return sqlite3_bind_null(s->ins, i + 1);
    switch (s->col[i].type) {
    case REPORT_COL_INT: {
        sqlite3_int64 v = 0;
        for (size_t k = 0; k < len; k++)
            v = v * 10 + (f[k] - '0');
        return sqlite3_bind_int64(s->ins, i + 1, v);
    }
    case REPORT_COL_REAL:
        return sqlite3_bind_double(s->ins, i + 1, strtod(f, NULL)); /* stops at ',' */
    default:
        return sqlite3_bind_text(s->ins, i + 1, f, (int)len, SQLITE_STATIC);
    }
}

/* Inserts one CSV line line[0, len) (no '\n'). */
static int insert_line(sqlout *s, const char *line, size_t len)
{
    size_t at = 0;
    for (size_t i = 0; i < s->ncol; i++) {
        const char *f = line + at;
        const char *end = at <= len ? memchr(f, ',', len - at) : NULL;
        size_t flen = at > len ? 0 : end ? (size_t)(end - f) : len - at;
        at += flen + 1;
        if (bind_field(s, (int)i, f, flen) != SQLITE_OK)
            return fail(s, "bind");
    }
    int rc = sqlite3_step(s->ins);
    sqlite3_reset(s->ins);
    return rc == SQLITE_DONE ? 0 : fail(s, "insert");
}

int sqlout_rows(sqlout *s, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (!s->failed && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (s->batch == 0 && exec(s, "BEGIN"))
            break;
        if (insert_line(s, p, l))
            break;
        if (++s->batch == SQLOUT_BATCH)
            sqlout_commit(s);
        p += l + 1;
    }
    return s->failed;
}

int sqlout_commit(sqlout *s)
{
    if (s->batch == 0 || s->failed)
        return s->failed;
    s->batch = 0;
    return exec(s, "COMMIT");
}

/* Runs sql (no parameters, no rows) even after a failure; 0 or SQLite's
 * code. */
static int exec_anyway(sqlout *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

/* Prepares sql, or fails. */
static sqlite3_stmt *prepare(sqlout *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (!s->failed && sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        fail(s, sql);
    return st;
}

/* The census's header: "ts,host,LISTEN,...": ts REAL, host TEXT, the
 * states INTEGER. The INSERT statement into *ins. */
static int census_table(sqlout *s, char *header, sqlite3_stmt **ins, int *ncol)
{
    sqlite3_str *create = sqlite3_str_new(s->db), *insert = sqlite3_str_new(s->db);
    sqlite3_str_appendall(create, "CREATE TABLE census (");
    sqlite3_str_appendall(insert, "INSERT INTO census VALUES (");
    *ncol = 0;
    for (char *save = NULL, *name = strtok_r(header, ",\n", &save); name;
         name = strtok_r(NULL, ",\n", &save), ++*ncol) {
        const char *type = *ncol == 0 ? "REAL" : *ncol == 1 ? "TEXT" : "INTEGER";
        sqlite3_str_appendf(create, "%s\"%w\" %s", *ncol ? ", " : "", name, type);
        sqlite3_str_appendall(insert, *ncol ? ", ?" : "?");
    }
    sqlite3_str_appendall(create, ")");
    sqlite3_str_appendall(insert, ")");
    char *c = sqlite3_str_finish(create), *in = sqlite3_str_finish(insert);
    if (!c || !in)
        fail(s, "out of memory");
    exec(s, c);
    *ins = prepare(s, in);
    sqlite3_free(c);
    sqlite3_free(in);
    return s->failed;
}

int sqlout_census(sqlout *s, FILE *csv)
{
    char *line = NULL;
    size_t cap = 0;
    sqlite3_stmt *ins = NULL;
    int ncol = 0;
    rewind(csv);
    if (getline(&line, &cap, csv) > 0 && !census_table(s, line, &ins, &ncol) && !exec(s, "BEGIN")) {
        while (!s->failed && getline(&line, &cap, csv) > 0) {
            char *save = NULL, *f = strtok_r(line, ",\n", &save);
            for (int i = 0; i < ncol && f; i++, f = strtok_r(NULL, ",\n", &save)) {
                if (i == 0)
                    sqlite3_bind_double(ins, 1, strtod(f, NULL));
                else if (i == 1)
                    sqlite3_bind_text(ins, 2, f, -1, SQLITE_TRANSIENT);
                else
                    sqlite3_bind_int64(ins, i + 1, strtoll(f, NULL, 10));
            }
            if (sqlite3_step(ins) != SQLITE_DONE)
                fail(s, "insert into census");
            sqlite3_reset(ins);
        }
        if (ferror(csv) && !s->failed)
            s->failed = errno ? errno : EIO;
        if (exec_anyway(s, "COMMIT") != SQLITE_OK)
            fail(s, "COMMIT");
        exec(s, "CREATE INDEX census_ts ON census (ts, host)");
    }
    sqlite3_finalize(ins);
    free(line);
    return s->failed;
}

/* One finding: "## N. Title" up to the next "\n## " (or the end). */
static void insert_finding(sqlout *s, sqlite3_stmt *ins, const char *sec, size_t len)
{
    int n = (int)strtol(sec + 3, NULL, 10);
    const char *title = strchr(sec, ' ');
    title = title ? strchr(title + 1, ' ') : NULL;
    const char *eol = memchr(sec, '\n', len);
    const char *v = strstr(sec, "**Verdict: ");
    const char *v_end = v ? strstr(v, "** ") : NULL;
    const char *sum = v_end ? strstr(v_end, "\xe2\x80\x94 ") : NULL; /* an em dash */
    const char *sum_end = sum ? strchr(sum, '\n') : NULL;
    sqlite3_bind_int(ins, 1, n);
    if (title && eol && title < eol)
        sqlite3_bind_text(ins, 2, title + 1, (int)(eol - title - 1), SQLITE_STATIC);
    if (v && v_end && v_end < sec + len)
        sqlite3_bind_text(ins, 3, v + 11, (int)(v_end - v - 11), SQLITE_STATIC);
    if (sum && sum_end && sum_end < sec + len)
        sqlite3_bind_text(ins, 4, sum + 4, (int)(sum_end - sum - 4), SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, sec, (int)len, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE)
        fail(s, "insert into findings");
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
}

int sqlout_findings(sqlout *s, const char *md, size_t len)
{
    exec(s, "CREATE TABLE findings (finding INTEGER PRIMARY KEY, title TEXT, verdict TEXT, "
            "summary TEXT, markdown TEXT)");
    sqlite3_stmt *ins = prepare(s, "INSERT INTO findings VALUES (?, ?, ?, ?, ?)");
    if (!exec(s, "BEGIN")) {
        const char *end = md + len, *sec = md;
        while (sec && (sec = strstr(sec, "## ")) != NULL && !s->failed) {
            const char *next = strstr(sec + 3, "\n## ");
            const char *stop = next ? next + 1 : end;
            while (stop > sec && stop[-1] == '\n')
                stop--;
            insert_finding(s, ins, sec, (size_t)(stop - sec));
            sec = next;
        }
        if (exec_anyway(s, "COMMIT") != SQLITE_OK)
            fail(s, "COMMIT");
    }
    sqlite3_finalize(ins);
    return s->failed;
}

static const char *const indexes[] = {
    "CREATE INDEX connections_tuple ON connections (client_ip, client_port, server_ip, "
    "server_port)",
    "CREATE INDEX connections_first_ts ON connections (first_ts)",
};

int sqlout_close(sqlout *s)
{
    if (!s)
        return 0;
    if (s->db && !sqlite3_get_autocommit(s->db)) {
        /* The last batch, on every path: after a failure too, what it holds
         * is kept when it can be, else dropped (the earlier batches stay). */
        s->batch = 0;
        if (exec_anyway(s, "COMMIT") != SQLITE_OK) {
            fail(s, "COMMIT");
            (void)exec_anyway(s, "ROLLBACK");
        }
    }
    sqlite3_finalize(s->ins);
    s->ins = NULL;
    /* The indexes after a failure too: a disk still full fails them again. */
    for (size_t i = 0; s->db && i < sizeof(indexes) / sizeof(indexes[0]); i++)
        if (exec_anyway(s, indexes[i]) != SQLITE_OK)
            fail(s, "CREATE INDEX");
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        fail(s, "close");
    int err = s->failed;
    free(s->path);
    free(s);
    return err;
}
