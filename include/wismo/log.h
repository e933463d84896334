/*
 * Structured logging: one logfmt line per event on stderr
 * ("time=2026-12-07T03:10:00.123Z level=info msg=\"...\" carrier=ups ...";
 * time= is left out with [daemon] log_time = off, for journald, which adds
 * its own). The macros test the level before formatting anything. Warnings
 * and errors are rate-limited per call site (log.c says how). Never log API
 * keys, tokens, Authorization headers or customer addresses.
 */
#ifndef WISMO_LOG_H
#define WISMO_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_min_level;

/* Parses "debug", "info", "warn", "error". 0 or WM_EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
/* Starts every line with "time=<RFC 3339 UTC, milliseconds>" (off by
 * default; wismod turns it on unless [daemon] log_time = off). */
void log_set_timestamps(int on);
/* Writes the "suppressed N similar lines" summaries now (at exit, and
 * from a timer so a flood that stopped is still counted). */
void log_flush(void);

/* Writes one line: level=<lvl> then the formatted key=value text. */
void log_write(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#include <stddef.h>

/*
 * Rewrites a formatted message as well-formed logfmt into out (size bytes,
 * NUL-terminated; returns the length): each value runs from its "key=" to
 * the next " key=", and one holding a space, a quote, a backslash or a
 * control byte is quoted with \" \\ \n escaped ("error=I/O error" becomes
 * error="I/O error"); a value the caller already quoted is re-escaped
 * inside its quotes. log_write passes every line through it.
 */
size_t log_logfmt(const char *msg, char *out, size_t size);

/* Quotes s for a logfmt value into buf (always NUL-terminated): bare when
 * safe, else "..." with \" \\ \n escaped; long values are cut. */
const char *log_quote(const char *s, char *buf, unsigned size);

#define log_at(lvl, ...)                                                       \
    do {                                                                       \
        if ((lvl) >= log_min_level)                                            \
            log_write((lvl), __VA_ARGS__);                                     \
    } while (0)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
