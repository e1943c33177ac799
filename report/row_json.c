/*
 * row_json.c: a row as JSON Lines (--format jsonl): one object per line,
 * the CSV's columns under their CSV names and in their order, converted
 * from the row's CSV text by the column's type (report_columns): numbers
 * as JSON numbers (the CSV's own digits), names and addresses as strings,
 * anomalies as an array of strings; an empty field (not applicable) is left
 * out. The CSV text holds no quote, backslash or control character
 * (README "The CSV"), but a string is escaped all the same.
 */
#include "report.h"
#include "report_int.h"

/* s[0, len) as a JSON string. */
static size_t put_string(char *out, size_t n, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    out[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch < 0x20) {
            out[n++] = '\\';
            out[n++] = 'u';
            out[n++] = '0';
            out[n++] = '0';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 0xf];
        } else {
            out[n++] = (char)ch;
        }
    }
    out[n++] = '"';
    return n;
}

/* "a;b" as ["a","b"]. */
static size_t put_list(char *out, size_t n, const char *s, size_t len)
{
    out[n++] = '[';
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ';')
            continue;
        if (start)
            out[n++] = ',';
        n = put_string(out, n, s + start, i - start);
        start = i + 1;
    }
    out[n++] = ']';
    return n;
}

size_t row_json(const char *csv, size_t len, char *out)
{
    size_t ncol, n = 0;
    const report_column *col = report_columns(&ncol);
    if (len && csv[len - 1] == '\n')
        len--;
    out[n++] = '{';
    size_t at = 0;
    for (size_t i = 0; i < ncol && at <= len; i++) {
        const char *f = csv + at;
        const char *end = memchr(f, ',', len - at);
        size_t flen = end ? (size_t)(end - f) : len - at;
        at += flen + 1;
        if (flen == 0)
            continue; /* not applicable */
        if (n > 1)
            out[n++] = ',';
        n = put_string(out, n, col[i].name, strlen(col[i].name));
        out[n++] = ':';
        switch (col[i].type) {
        case REPORT_COL_INT:
        case REPORT_COL_REAL:
            memcpy(out + n, f, flen);
            n += flen;
            break;
        case REPORT_COL_LIST:
            n = put_list(out, n, f, flen);
            break;
        case REPORT_COL_TEXT:
            n = put_string(out, n, f, flen);
            break;
        }
    }
    out[n++] = '}';
    out[n++] = '\n';
    return n;
}
