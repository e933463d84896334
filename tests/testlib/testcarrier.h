/*
 * Test support for the carrier adapter tests (tests/unit/test_carrier_*.c):
 * the adapter by name, fixture files, running parse_response on a body, and
 * the assertions every one of them makes. cmocka assertions: a failure ends
 * the test.
 */
#ifndef WISMO_TESTCARRIER_H
#define WISMO_TESTCARRIER_H

#include <stddef.h>
#include <stdint.h>

#include "wismo/carrier.h"
#include "wismo/model.h"

/* The compiled-in adapter name (fails the test when there is none). */
const struct carrier *testcarrier_find(const char *name);
/* tests/fixtures/carriers/<carrier>/<name> read whole, NUL-terminated
 * (free()); its length in *len when len is not NULL. */
char *testcarrier_fixture(const char *carrier, const char *name, size_t *len);
/* Runs c's parse_response on body[0..len) as the answer to numbers[0..n)
 * with HTTP status and Retry-After (or NULL); out is initialised first. */
int testcarrier_parse_len(const struct carrier *c, const char *body, size_t len,
                          long status, const char *retry_after,
                          const char *const *numbers, size_t n,
                          struct model_result *out);
/* The same for a NUL-terminated body (NULL: none). */
int testcarrier_parse(const struct carrier *c, const char *body, long status,
                      const char *retry_after, const char *const *numbers,
                      size_t n, struct model_result *out);
/* Runs c's push_auth on a request (method, query or NULL, body or NULL,
 * the push_auth_header's value or NULL, the configured secret or NULL),
 * then, when it passed, push_parse into out (initialised first). 1 when
 * authentication refused it, else push_parse's result. */
int testcarrier_push(const struct carrier *c, const char *method,
                     const char *query, const char *body,
                     const char *auth_value, const char *secret,
                     struct carrier_push *out);
/* The header value of req named name (case-insensitive), or fails. */
const char *testcarrier_header(const struct httpreq *req, const char *name);

/* t is a time and formats (ISO-8601 UTC) as want. */
void testcarrier_assert_time(int64_t t, const char *want);
/* r holds no shipment and exactly one error, err for number. */
void testcarrier_assert_one_error(const struct model_result *r,
                                  const char *number, enum model_error err);
/* A monotonic clock in seconds, for the tests that bound parse time. */
double testcarrier_now_s(void);

#endif
