/*
 * Helpers shared by the carrier renderers (carriers_json.c,
 * carriers_xml.c): answer bodies from jansson trees or buffers, the
 * Retry-After header, and the time formats carriers write.
 */
#ifndef FAKECARRIER_RENDER_H
#define FAKECARRIER_RENDER_H

#include <stdint.h>

#include <jansson.h>

#include "http.h"
#include "scenario.h"

/* Sets the answer to root's JSON text (root is consumed). */
void fc_render_json(struct fc_response *r, int status, const char *type,
                    json_t *root);
/* Adds Retry-After (seconds) when retry_after >= 0. */
void fc_render_retry(struct fc_response *r, int retry_after);

/* A JSON string, or null for NULL. */
json_t *fc_jstr_or_null(const char *s);
/* A string for t in zone: ISO with offset (colon or not). */
json_t *fc_jtime_offset(int64_t t, const char *zone, bool colon);

/* The time of event i of a track's timeline. */
static inline int64_t fc_track_time(const struct fc_track *t, size_t i)
{
    return t->tl->ev[i].t;
}

/* A request id: 8-4-4-4-12 hex from the PRNG-free counter and time. */
void fc_render_uuid(char buf[40]);

/* DPD LoginService getAuth's answer: token for delis_id, valid until
 * expires (Unix seconds, real time). */
void fc_dpd_login_answer(struct fc_response *r, const char *delis_id,
                         const char *token, int64_t expires);

#endif
