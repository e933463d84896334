/*
 * fakecarrier: small shared helpers (private to contrib/fakecarrier).
 * Allocation that aborts, a growable byte buffer with printf and XML
 * escaping, stable hashing, a seeded PRNG, percent and base64 decoding,
 * and time-zone conversion through the C library's own zoneinfo reader
 * (deliberately not wismo's wmtime, so that the fake checks it instead of
 * agreeing with it).
 */
#ifndef FAKECARRIER_FC_H
#define FAKECARRIER_FC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Logging: one line per event on stderr, key=value fields. */
extern int fc_verbose; /* 0 info, 1 debug */
void fc_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define fc_debug(...)                                                          \
    do {                                                                       \
        if (fc_verbose > 0)                                                    \
            fc_log("debug", __VA_ARGS__);                                      \
    } while (0)
#define fc_info(...)  fc_log("info", __VA_ARGS__)
#define fc_error(...) fc_log("error", __VA_ARGS__)

void *fc_xmalloc(size_t n);
void *fc_xcalloc(size_t n, size_t size);
void *fc_xrealloc(void *p, size_t n);
char *fc_xstrdup(const char *s);
char *fc_xstrndup(const char *s, size_t n);

/* A growable byte buffer, always NUL-terminated once anything was added. */
struct fc_buf {
    char *data; /* owned, or NULL while empty */
    size_t len;
    size_t cap;
};

void fc_buf_init(struct fc_buf *b);
void fc_buf_clear(struct fc_buf *b); /* frees, back to empty */
void fc_buf_reset(struct fc_buf *b); /* keeps the memory, len = 0 */
void fc_buf_add(struct fc_buf *b, const void *p, size_t n);
void fc_buf_puts(struct fc_buf *b, const char *s);
void fc_buf_printf(struct fc_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s with & < > " ' escaped for XML text and attributes (NULL: nothing). */
void fc_buf_xml(struct fc_buf *b, const char *s);
/* Takes the data out (caller frees); the buffer is empty afterwards. */
char *fc_buf_steal(struct fc_buf *b, size_t *len);

/* 64-bit FNV-1a over n bytes, continuing from h (start with FC_HASH_INIT). */
#define FC_HASH_INIT 0xcbf29ce484222325ULL
uint64_t fc_hash(uint64_t h, const void *p, size_t n);
/* A strong final mix (splitmix64) of a hash. */
uint64_t fc_mix(uint64_t x);

/* xorshift64* PRNG: deterministic for a given seed. */
struct fc_rng {
    uint64_t s;
};
void fc_rng_seed(struct fc_rng *r, uint64_t seed);
uint64_t fc_rng_next(struct fc_rng *r);
double fc_rng_unit(struct fc_rng *r); /* [0, 1) */

/* Decodes %XX (and '+' as space when plus) in place; false on a bad %
 * or an encoded NUL. */
bool fc_url_decode(char *s, bool plus);
/* Decodes base64 (new string, NUL-terminated), or NULL when malformed. */
char *fc_base64_decode(const char *s, size_t *len);
/* Case-insensitive prefix test. */
bool fc_prefix_ci(const char *s, const char *prefix);

/* --- time ---------------------------------------------------------------- */

/* A civil time with the UTC offset it was expressed in. */
struct fc_civil {
    int year, month, day; /* month 1-12 */
    int hour, min, sec;
    int gmtoff; /* seconds east of UTC */
    bool isdst;
    int wday;     /* 0 = Sunday */
    char abbr[8]; /* the zone's abbreviation then ("CET") */
};

/* The local civil time of t (Unix seconds) in an IANA zone ("UTC" ok). */
void fc_tz_local(const char *zone, int64_t t, struct fc_civil *c);
/* Local civil time in zone to Unix seconds (the earlier instant when the
 * time is repeated). Normalises out-of-range fields (day 32 and so on). */
int64_t fc_tz_utc(const char *zone, int year, int month, int day, int hour,
                  int min, int sec);
/* True when the zone's offset changes within hours of t: local times
 * written without an offset near t could be ambiguous. */
bool fc_tz_near_change(const char *zone, int64_t t, int hours);

#define FC_ISO_BUFSZ 40
/* "2026-11-18T08:02:00Z" */
void fc_fmt_utc(int64_t t, char buf[FC_ISO_BUFSZ]);
/* "2026-11-18T08:02:00+01:00" (colon false: "+0100"), in zone. */
void fc_fmt_offset(int64_t t, const char *zone, bool colon,
                   char buf[FC_ISO_BUFSZ]);
/* "2026-11-18T08:02:00" local in zone, no offset. */
void fc_fmt_local(int64_t t, const char *zone, char buf[FC_ISO_BUFSZ]);

#endif
