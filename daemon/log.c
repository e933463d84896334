/* logfmt lines on stderr, one write(2) each so lines never interleave. */
#include "wismo/log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wismo/wm.h"
#include "wismo/wmtime.h"

enum log_level log_min_level = LOG_INFO;
static int log_timestamps;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_parse_level(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return WM_EINVAL;
}

void log_set_timestamps(int on)
{
    log_timestamps = on;
}

/* "key=" starts at s: 1..64 of [A-Za-z0-9_.-] and '='. Its length with
 * the '=', or 0. */
static size_t key_at(const char *s)
{
    size_t n = 0;

    while (n < 64 && (isalnum((unsigned char)s[n]) || s[n] == '_' ||
                      s[n] == '.' || s[n] == '-'))
        n++;
    return n > 0 && s[n] == '=' ? n + 1 : 0;
}

/* Where the value starting at v ends: at the " key=" that follows it. */
static const char *value_end(const char *v)
{
    const char *p = v;

    for (; *p != '\0'; p++)
        if (*p == ' ' && key_at(p + 1) > 0)
            return p;
    return p;
}

size_t log_logfmt(const char *msg, char *out, size_t size)
{
    size_t o = 0;
    const char *p = msg;

    if (size == 0)
        return 0;
#define PUT(ch)                                                                \
    do {                                                                       \
        if (o + 1 < size)                                                      \
            out[o++] = (ch);                                                   \
    } while (0)
    while (*p != '\0') {
        size_t k = key_at(p);
        const char *v, *end, *next;
        bool quote = false;

        if (k == 0) { /* free text (or a stray space): as it is */
            PUT(*p == '\n' ? ' ' : *p);
            p++;
            continue;
        }
        for (size_t i = 0; i < k; i++)
            PUT(p[i]);
        v = p + k;
        end = next = value_end(v);
        /* already "quoted" by the caller: take what is inside */
        if (end - v >= 2 && v[0] == '"' && end[-1] == '"') {
            v++;
            end--;
            quote = true;
        }
        for (const char *c = v; c < end && !quote; c++)
            quote = (unsigned char)*c <= ' ' || *c == '"' || *c == '\\' ||
                    *c == 0x7f;
        quote = quote || v == end;
        if (quote)
            PUT('"');
        for (const char *c = v; c < end; c++) {
            if (quote && (*c == '"' || *c == '\\')) {
                PUT('\\');
                PUT(*c);
            } else if (*c == '\n') {
                PUT('\\');
                PUT('n');
            } else if ((unsigned char)*c < ' ' || *c == 0x7f) {
                PUT(' ');
            } else {
                PUT(*c);
            }
        }
        if (quote)
            PUT('"');
        p = next;
    }
#undef PUT
    out[o] = '\0';
    return o;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    char line[2048], msg[1536];
    int n = 0;
    va_list ap;

    if (log_timestamps) {
        char ts[WMTIME_BUFSZ];
        wmtime_format((int64_t)time(NULL), ts);
        n = snprintf(line, sizeof(line), "ts=%s ", ts);
    }
    n += snprintf(line + n, sizeof(line) - (size_t)n, "level=%s ",
                  level_names[lvl & 3]);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Every value with a space, a quote or a control byte comes out
     * quoted and escaped, whatever the caller's format did. */
    n += (int)log_logfmt(msg, line + n, sizeof(line) - (size_t)n);
    if (n >= (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return; /* nowhere left to report it */
}

const char *log_quote(const char *s, char *buf, unsigned size)
{
    unsigned o = 0;
    int bare = s != NULL && s[0] != '\0';

    if (s == NULL)
        s = "";
    for (const char *p = s; *p && bare; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\')
            bare = 0;
    if (bare) {
        snprintf(buf, size, "%s", s);
        return buf;
    }
    if (size < 3) {
        buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (const char *p = s; *p && o + 4 < size; p++) {
        if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = *p;
        } else if (*p == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if ((unsigned char)*p < ' ') {
            buf[o++] = ' ';
        } else {
            buf[o++] = *p;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
