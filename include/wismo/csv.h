/*
 * CSV reading (RFC 4180, with the habits of real exports): a pull reader
 * over a buffer the caller holds, one record at a time, so that a caller
 * can pace itself (wismoctl import keeps a window of registrations in
 * flight). Pure: no I/O.
 *
 * What it accepts:
 *   - a UTF-8 byte order mark at the start (skipped);
 *   - records ending in LF, CRLF or a lone CR, the last one with or
 *     without an end;
 *   - quoted fields ("a, b", "say ""hi""") holding separators, quotes
 *     and line ends (kept as written, CRLF included);
 *   - blanks before an opening quote and after a closing one ( "a" ,b);
 *   - empty lines, which are skipped;
 *   - ',' as the separator, or ';' or a tab when the first line uses that
 *     instead (csv_new with sep 0 decides from the first line).
 *
 * What it refuses, record by record (the reader then goes on with the next
 * record, as a lenient reader would cut the input): a quote inside an
 * unquoted field, text after a closing quote, a NUL byte, a field longer
 * than CSV_MAX_FIELD bytes, more than CSV_MAX_FIELDS fields. A quoted
 * field still open at the end of the input is refused too; it swallowed
 * the rest of the input, so the reader ends there.
 */
#ifndef WISMO_CSV_H
#define WISMO_CSV_H

#include <stdbool.h>
#include <stddef.h>

#define CSV_MAX_FIELDS 64
#define CSV_MAX_FIELD  (64 * 1024) /* bytes */

struct csv;

/* One record. Everything is borrowed from the reader and valid until the
 * next csv_next or csv_free. */
struct csv_record {
    const char *const *field; /* n NUL-terminated fields */
    const size_t *len;        /* their lengths in bytes */
    size_t n;
    long line;     /* the line the record starts on (1-based) */
    long end_line; /* the line it ends on (> line: a quoted line end) */
};

enum csv_result {
    CSV_END = 0,    /* no more records */
    CSV_RECORD = 1, /* *rec holds the next record */
    CSV_BAD = -1,   /* the record starting on rec->line is refused; *why
                       says why (static text); rec->n is 0 */
};

/* A reader over buf[0..len) (borrowed: it must outlive the reader). sep:
 * ',', ';' or '\t', or 0 to take the one the first line uses most
 * (outside quotes; ',' when it uses none). */
struct csv *csv_new(const char *buf, size_t len, char sep);
void csv_free(struct csv *c); /* NULL-safe */

/* The separator in use. */
char csv_sep(const struct csv *c);

/* The next record; see enum csv_result. */
enum csv_result csv_next(struct csv *c, struct csv_record *rec,
                         const char **why);

/*
 * Maps a header record onto known column names: for each names[k],
 * col[k] is the index of the header's field with that name (blanks around
 * it ignored, ASCII case ignored), or -1 when the header lacks it. 0, or
 * WM_EINVAL with a message in why (an unknown or empty column name, one
 * named twice).
 */
int csv_header(const struct csv_record *hdr, const char *const *names,
               size_t n_names, int *col, char *why, size_t why_len);

#endif
