/*
 * logfmt lines on stderr, one write(2) each so lines never interleave.
 *
 * Floods are cut: warnings and errors are counted per call site (the
 * format string), and past LOG_BURST lines in LOG_WINDOW_MS a site's lines
 * are dropped until the window ends; then one line says how many were
 * suppressed. A Redis that refuses every write thus costs a few lines a
 * window, not tens of thousands.
 */
#include "wismo/log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wismo/wm.h"

#define LOG_BURST     20    /* lines per call site and window */
#define LOG_WINDOW_MS 10000 /* the window */
#define LOG_SITES     64    /* call sites tracked at once */

enum log_level log_min_level = LOG_INFO;
static int log_timestamps;

struct log_site {
    const char *fmt; /* the call site; NULL: a free slot */
    enum log_level lvl;
    int64_t start;    /* ms: the window began */
    unsigned lines;   /* written in this window */
    unsigned dropped; /* suppressed in this window */
    char msg[64];     /* the site's msg= text, for the summary */
};

static struct log_site log_sites[LOG_SITES];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

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

static int64_t log_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "time=2026-12-07T03:10:00.123Z level=<lvl> " into line. */
static int log_prefix(char *line, size_t size, enum log_level lvl, int64_t now)
{
    int n = 0;

    if (log_timestamps) {
        time_t secs = (time_t)(now / 1000);
        struct tm tm;
        char ts[32];

        gmtime_r(&secs, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line, size, "time=%s.%03dZ ", ts, (int)(now % 1000));
    }
    n +=
        snprintf(line + n, size - (size_t)n, "level=%s ", level_names[lvl & 3]);
    return n;
}

static void log_emit(char *line, int n, size_t size)
{
    if (n >= (int)size - 1)
        n = (int)size - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return; /* nowhere left to report it */
}

/* The msg= value of a format string, for the summary line. */
static void log_site_msg(struct log_site *s, const char *fmt)
{
    const char *m = strstr(fmt, "msg=");
    size_t n;

    s->msg[0] = '\0';
    if (m == NULL)
        return;
    m += 4;
    if (*m == '\\' || *m == '"') {
        m += *m == '\\' ? 2 : 1;
        n = strcspn(m, "\\\"");
    } else {
        n = strcspn(m, " ");
    }
    if (n >= sizeof(s->msg))
        n = sizeof(s->msg) - 1;
    memcpy(s->msg, m, n);
    s->msg[n] = '\0';
    for (char *p = s->msg; *p != '\0'; p++)
        if (*p == '%' || *p == '"')
            *p = '_'; /* a printf directive or quote left in the text */
}

/* Ends expired windows: one line per site that dropped lines. Called with
 * log_lock held. */
static void log_sites_flush(int64_t now, bool all)
{
    for (size_t i = 0; i < LOG_SITES; i++) {
        struct log_site *s = &log_sites[i];
        char line[256];
        int n;

        if (s->fmt == NULL || (!all && now - s->start < LOG_WINDOW_MS))
            continue;
        if (s->dropped > 0) {
            n = log_prefix(line, sizeof(line), s->lvl, now);
            n += snprintf(line + n, sizeof(line) - (size_t)n,
                          "msg=\"suppressed %u similar lines\" like=\"%s\" "
                          "window_ms=%d",
                          s->dropped, s->msg, LOG_WINDOW_MS);
            log_emit(line, n, sizeof(line));
        }
        s->fmt = NULL;
    }
}

/* True when this call site may write now; counts it either way. Called
 * with log_lock held. */
static bool log_site_allows(enum log_level lvl, const char *fmt, int64_t now)
{
    size_t h = ((uintptr_t)fmt >> 4) % LOG_SITES, free_slot = LOG_SITES;

    for (size_t k = 0; k < LOG_SITES; k++) {
        struct log_site *s = &log_sites[(h + k) % LOG_SITES];
        if (s->fmt == fmt) {
            if (s->lines < LOG_BURST) {
                s->lines++;
                return true;
            }
            s->dropped++;
            return false;
        }
        if (s->fmt == NULL && free_slot == LOG_SITES)
            free_slot = (h + k) % LOG_SITES;
    }
    if (free_slot < LOG_SITES) { /* else: too many sites; never drop */
        struct log_site *s = &log_sites[free_slot];
        s->fmt = fmt;
        s->lvl = lvl;
        s->start = now;
        s->lines = 1;
        s->dropped = 0;
        log_site_msg(s, fmt);
    }
    return true;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    char line[2048], msg[1536];
    int64_t now = log_now_ms();
    bool write_it = true;
    int n;
    va_list ap;

    pthread_mutex_lock(&log_lock);
    log_sites_flush(now, false);
    if (lvl >= LOG_WARN)
        write_it = log_site_allows(lvl, fmt, now);
    pthread_mutex_unlock(&log_lock);
    if (!write_it)
        return;
    n = log_prefix(line, sizeof(line), lvl, now);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Every value with a space, a quote or a control byte comes out
     * quoted and escaped, whatever the caller's format did. */
    n += (int)log_logfmt(msg, line + n, sizeof(line) - (size_t)n);
    log_emit(line, n, sizeof(line));
}

void log_flush(void)
{
    pthread_mutex_lock(&log_lock);
    log_sites_flush(log_now_ms(), true);
    pthread_mutex_unlock(&log_lock);
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
