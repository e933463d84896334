/*
 * num: whole numbers that come from outside (query strings, JSON text,
 * configuration, carrier payloads, Redis replies, command lines), parsed
 * with range checks in one place. Strict: an optional '-' (never '+'),
 * decimal digits only, no spaces, no overflow, the whole text. Nothing
 * from outside goes through strtol/atoi directly.
 */
#ifndef WISMO_NUM_H
#define WISMO_NUM_H

#include <stddef.h>
#include <stdint.h>

/* s[0, n) as a decimal integer within [min, max] into *out: 0, WM_EINVAL
 * (not a number) or WM_ETOOBIG (a number outside the range, overflow
 * included); *out is untouched on failure. */
int num_i64n(const char *s, size_t n, int64_t min, int64_t max, int64_t *out);
/* The same for a NUL-terminated s (NULL: WM_EINVAL). */
int num_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* An int within [min, max]. */
int num_int(const char *s, int min, int max, int *out);
/* 1 to 16 hex digits (either case) as an unsigned 64-bit number. */
int num_hex64(const char *s, uint64_t *out);

#endif
