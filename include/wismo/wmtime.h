/*
 * UTC time handling: civil dates, ISO-8601 parsing and formatting, and
 * conversion of a carrier's local time through a fixed offset or a named
 * IANA zone read from the system's TZif files (/usr/share/zoneinfo). Never
 * touches TZ or other process-wide state: zones are parsed once into a
 * private cache.
 */
#ifndef WISMO_WMTIME_H
#define WISMO_WMTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wmtime_civil {
    int year, month, day; /* month 1-12, day 1-31 */
    int hour, min, sec;   /* 0-23, 0-59, 0-60 */
};

#define WMTIME_BUFSZ 21 /* "2026-11-24T17:00:00Z" + NUL */

/* Seconds since the epoch of a civil time read as UTC. */
int64_t wmtime_from_civil(const struct wmtime_civil *c);
/* The civil UTC time of t. */
void wmtime_to_civil(int64_t t, struct wmtime_civil *c);
/* True when the fields form a real date and time. */
bool wmtime_civil_valid(const struct wmtime_civil *c);

/* Writes t as "YYYY-MM-DDTHH:MM:SSZ". */
void wmtime_format(int64_t t, char buf[WMTIME_BUFSZ]);

/* The UTC offset (seconds east) of zone at instant t. 0 or WM_ENOTFOUND. */
int wmtime_zone_offset(const char *zone, int64_t t, int *offset);

/*
 * Local civil time in zone to UTC. An ambiguous time (repeated hour) takes
 * the earlier instant; a time in a gap moves forward by the gap's size.
 * 0, WM_ENOTFOUND (no such zone) or WM_EINVAL (bad civil time).
 */
int wmtime_local_to_utc(const char *zone, const struct wmtime_civil *c,
                        int64_t *out);

/*
 * Parses an ISO-8601 date-time: "YYYY-MM-DD[T
 * ]HH:MM[:SS[.frac]][Z|±HH[:]MM|±HH]" or a bare date "YYYY-MM-DD" (23:59:59
 * local). Fractions are truncated. A value without offset is read in zone
 * (WM_EINVAL when zone is NULL). Leading and trailing white space is allowed.
 * Returns 0 or WM_EINVAL or WM_ENOTFOUND (unknown zone).
 */
int wmtime_parse_iso(const char *s, const char *zone, int64_t *out);

/* Parses a UTC offset "Z", "+01:00", "+0100", "-05" into seconds. */
int wmtime_parse_offset(const char *s, size_t len, int *offset);

/* Frees the zone cache (for leak checkers at exit). */
void wmtime_cleanup(void);

#endif
