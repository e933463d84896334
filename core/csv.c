/*
 * CSV reader (csv.h): a byte-at-a-time state machine over a borrowed
 * buffer. A record's fields are copied into one growing buffer, each
 * NUL-terminated, and handed out as pointers into it until the next call.
 * A refused record is read on to its end with the lenient rules (a stray
 * quote is text), so the reader resumes where a lenient reader would.
 */
#include "wismo/csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/wm.h"

enum state {
    S_START,  /* at the start of a field */
    S_PLAIN,  /* in an unquoted field */
    S_QUOTED, /* in a quoted field */
    S_QUOTE,  /* a quote inside a quoted field: "" or the end */
    S_AFTER,  /* after the closing quote, blanks only */
};

struct csv {
    const char *buf; /* borrowed */
    size_t len, pos;
    char sep;
    long line; /* of buf[pos] */
    /* the record being read */
    char *data; /* fields, each NUL-terminated; owned */
    size_t data_len, data_cap;
    size_t *off; /* where each field starts in data; owned */
    size_t *flen;
    size_t off_cap;
    const char **ptr; /* handed out; owned */
    size_t ptr_cap;
    size_t n;
    size_t field_start; /* data offset of the current field */
};

static char detect_sep(const char *buf, size_t len)
{
    static const char seps[] = {',', ';', '\t'};
    size_t count[3] = {0, 0, 0}, best = 0;
    bool quoted = false;

    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];

        if (ch == '"')
            quoted = !quoted;
        else if (!quoted && (ch == '\n' || ch == '\r'))
            break;
        else if (!quoted)
            for (size_t k = 0; k < 3; k++)
                count[k] += ch == seps[k];
    }
    for (size_t k = 1; k < 3; k++)
        if (count[k] > count[best])
            best = k;
    return count[best] > 0 ? seps[best] : ',';
}

struct csv *csv_new(const char *buf, size_t len, char sep)
{
    struct csv *c = wm_xcalloc(1, sizeof(*c));

    c->buf = buf;
    c->len = len;
    c->line = 1;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        c->pos = 3;
    c->sep = sep != 0 ? sep : detect_sep(buf + c->pos, len - c->pos);
    return c;
}

void csv_free(struct csv *c)
{
    if (c == NULL)
        return;
    free(c->data);
    free(c->off);
    free(c->flen);
    free(c->ptr);
    free(c);
}

char csv_sep(const struct csv *c)
{
    return c->sep;
}

static void put(struct csv *c, char ch)
{
    if (c->data_len + 1 >= c->data_cap) {
        c->data_cap = c->data_cap ? c->data_cap * 2 : 1024;
        c->data = wm_xrealloc(c->data, c->data_cap);
    }
    c->data[c->data_len++] = ch;
}

/* Ends the current field; false when the record has too many. */
static bool end_field(struct csv *c)
{
    put(c, '\0');
    if (c->n == CSV_MAX_FIELDS)
        return false;
    if (c->n == c->off_cap) {
        c->off_cap = c->off_cap ? c->off_cap * 2 : 16;
        c->off = wm_xrealloc(c->off, c->off_cap * sizeof(*c->off));
        c->flen = wm_xrealloc(c->flen, c->off_cap * sizeof(*c->flen));
    }
    c->off[c->n] = c->field_start;
    c->flen[c->n] = c->data_len - 1 - c->field_start;
    c->n++;
    c->field_start = c->data_len;
    return true;
}

/* Drops blanks at the end of the current field (those before a quote). */
static void drop_blanks(struct csv *c)
{
    c->data_len = c->field_start;
}

static bool only_blanks(const struct csv *c)
{
    for (size_t i = c->field_start; i < c->data_len; i++)
        if (c->data[i] != ' ' && c->data[i] != '\t')
            return false;
    return true;
}

static bool blank(char ch, char sep)
{
    return (ch == ' ' || ch == '\t') && ch != sep;
}

enum csv_result csv_next(struct csv *c, struct csv_record *rec,
                         const char **why)
{
    enum state s = S_START;
    const char *bad = NULL;
    bool ended = false, any = false, eof_in_quote = false;

    memset(rec, 0, sizeof(*rec));
    *why = NULL;
    for (;;) { /* skip empty lines */
        if (c->pos >= c->len)
            return CSV_END;
        if (c->buf[c->pos] == '\n') {
            c->pos++;
            c->line++;
        } else if (c->buf[c->pos] == '\r') {
            c->pos++;
            if (c->pos < c->len && c->buf[c->pos] == '\n')
                c->pos++;
            c->line++;
        } else {
            break;
        }
    }
    c->data_len = 0;
    c->n = 0;
    c->field_start = 0;
    rec->line = c->line;
    while (!ended) {
        char ch;

        if (c->pos >= c->len) {
            if (s == S_QUOTED) {
                eof_in_quote = true;
                if (bad == NULL)
                    bad = "a quoted field is never closed (it runs to the end "
                          "of the file)";
            }
            if (any && !end_field(c) && bad == NULL)
                bad = "more than 64 columns";
            break;
        }
        ch = c->buf[c->pos++];
        any = true;
        if (ch == '\0' && bad == NULL)
            bad = "a NUL byte";
        if (c->data_len - c->field_start >= CSV_MAX_FIELD && bad == NULL)
            bad = "a field longer than 64 KiB";
        switch (s) {
        case S_START:
        case S_PLAIN:
            if (ch == '"' && (s == S_START || only_blanks(c))) {
                drop_blanks(c);
                s = S_QUOTED;
            } else if (ch == c->sep) {
                if (!end_field(c) && bad == NULL)
                    bad = "more than 64 columns";
                s = S_START;
            } else if (ch == '\n' || ch == '\r') {
                ended = true;
            } else {
                if (ch == '"' && bad == NULL)
                    bad = "a quote inside an unquoted field (quote the whole "
                          "field and double the quote: \"a \"\"b\"\"\")";
                put(c, ch);
                s = S_PLAIN;
            }
            break;
        case S_QUOTED:
            if (ch == '"')
                s = S_QUOTE;
            else
                put(c, ch);
            if (ch == '\n')
                c->line++;
            break;
        case S_QUOTE:
        case S_AFTER:
            if (ch == '"' && s == S_QUOTE) {
                put(c, '"');
                s = S_QUOTED;
            } else if (ch == c->sep) {
                if (!end_field(c) && bad == NULL)
                    bad = "more than 64 columns";
                s = S_START;
            } else if (ch == '\n' || ch == '\r') {
                ended = true;
            } else if (blank(ch, c->sep)) {
                s = S_AFTER;
            } else {
                if (bad == NULL)
                    bad = "text after a closing quote";
                put(c, ch);
                s = S_PLAIN;
            }
            break;
        }
        if (ended) {
            if (ch == '\r' && c->pos < c->len && c->buf[c->pos] == '\n')
                c->pos++;
            if (!end_field(c) && bad == NULL)
                bad = "more than 64 columns";
        }
    }
    rec->end_line = c->line;
    if (ended)
        c->line++;
    if (eof_in_quote)
        c->pos = c->len;
    if (bad != NULL) {
        *why = bad;
        return CSV_BAD;
    }
    if (c->n > c->ptr_cap) {
        c->ptr_cap = c->off_cap;
        c->ptr = wm_xrealloc(c->ptr, c->ptr_cap * sizeof(*c->ptr));
    }
    for (size_t i = 0; i < c->n; i++)
        c->ptr[i] = c->data + c->off[i];
    rec->field = c->ptr;
    rec->len = c->flen;
    rec->n = c->n;
    return CSV_RECORD;
}

/* name without blanks around it equals want, ASCII case ignored. */
static bool name_is(const char *name, size_t len, const char *want)
{
    size_t wl = strlen(want);

    while (len > 0 && (*name == ' ' || *name == '\t')) {
        name++;
        len--;
    }
    while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
        len--;
    if (len != wl)
        return false;
    for (size_t i = 0; i < len; i++) {
        char a = name[i], b = want[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

int csv_header(const struct csv_record *hdr, const char *const *names,
               size_t n_names, int *col, char *why, size_t why_len)
{
    for (size_t k = 0; k < n_names; k++)
        col[k] = -1;
    for (size_t i = 0; i < hdr->n; i++) {
        size_t k;

        for (k = 0; k < n_names; k++)
            if (name_is(hdr->field[i], hdr->len[i], names[k]))
                break;
        if (k == n_names) {
            size_t used;

            if (name_is(hdr->field[i], hdr->len[i], ""))
                used = (size_t)snprintf(
                    why, why_len, "column %zu has no name; known:", i + 1);
            else
                used = (size_t)snprintf(why, why_len,
                                        "unknown column '%.40s' (column %zu); "
                                        "known:",
                                        hdr->field[i], i + 1);
            for (k = 0; k < n_names && used < why_len; k++)
                used += (size_t)snprintf(why + used, why_len - used, "%s%s",
                                         k ? ", " : " ", names[k]);
            return WM_EINVAL;
        }
        if (col[k] >= 0) {
            snprintf(why, why_len,
                     "column '%s' appears twice (columns %d and "
                     "%zu)",
                     names[k], col[k] + 1, i + 1);
            return WM_EINVAL;
        }
        col[k] = (int)i;
    }
    return 0;
}
