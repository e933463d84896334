/* logfmt lines on stderr, one write(2) each so lines never interleave. */
#include "wismo/log.h"

#include <stdarg.h>
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

void log_write(enum log_level lvl, const char *fmt, ...)
{
    char line[2048];
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
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
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
