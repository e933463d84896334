/*
 * The normalised model: status and error names, result building, the
 * per-shipment normalisation pass (sort, dedupe, inherit, derive) and the
 * canonical JSON writer.
 */
#include "wismo/model.h"

#include <stdlib.h>
#include <string.h>

#include "wismo/wm.h"
#include "wismo/wmtime.h"

static const char *const status_names[MODEL_STATUS_COUNT] = {
    [MODEL_PENDING] = "pending",
    [MODEL_INFO_RECEIVED] = "info_received",
    [MODEL_IN_TRANSIT] = "in_transit",
    [MODEL_OUT_FOR_DELIVERY] = "out_for_delivery",
    [MODEL_AVAILABLE_FOR_PICKUP] = "available_for_pickup",
    [MODEL_DELIVERED] = "delivered",
    [MODEL_FAILED_ATTEMPT] = "failed_attempt",
    [MODEL_EXCEPTION] = "exception",
    [MODEL_RETURNING] = "returning",
    [MODEL_RETURNED] = "returned",
    [MODEL_EXPIRED] = "expired",
};

static const char *const error_names[MODEL_ERROR_COUNT] = {
    [MODEL_ERR_NOT_FOUND] = "not_found",       [MODEL_ERR_INVALID] = "invalid",
    [MODEL_ERR_RATE_LIMITED] = "rate_limited", [MODEL_ERR_AUTH] = "auth",
    [MODEL_ERR_CARRIER] = "carrier_error",
};

const char *model_status_name(enum model_status st)
{
    return (unsigned)st < MODEL_STATUS_COUNT ? status_names[st] : "unknown";
}

int model_status_parse(const char *s, enum model_status *out)
{
    size_t len = strcspn(s, ".");

    for (int i = 0; i < MODEL_STATUS_COUNT; i++) {
        if (strlen(status_names[i]) == len &&
            memcmp(status_names[i], s, len) == 0) {
            *out = (enum model_status)i;
            return 0;
        }
    }
    return WM_EINVAL;
}

const char *model_error_name(enum model_error err)
{
    return (unsigned)err < MODEL_ERROR_COUNT ? error_names[err] : "unknown";
}

int model_error_parse(const char *s, enum model_error *out)
{
    for (int i = 0; i < MODEL_ERROR_COUNT; i++) {
        if (strcmp(error_names[i], s) == 0) {
            *out = (enum model_error)i;
            return 0;
        }
    }
    return WM_EINVAL;
}

bool model_status_is_terminal(enum model_status st)
{
    return st == MODEL_DELIVERED || st == MODEL_RETURNED || st == MODEL_EXPIRED;
}

void model_result_init(struct model_result *r)
{
    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
}

static void event_clear(struct model_event *e)
{
    free(e->substatus);
    free(e->code);
    free(e->description);
    free(e->location.city);
    free(e->location.postcode);
}

static void shipment_clear(struct model_shipment *s)
{
    for (size_t i = 0; i < s->n_events; i++)
        event_clear(&s->events[i]);
    free(s->events);
    free(s->tracking_number);
    free(s->substatus);
}

static void result_drop_all(struct model_result *r)
{
    for (size_t i = 0; i < r->n_shipments; i++)
        shipment_clear(&r->shipments[i]);
    for (size_t i = 0; i < r->n_errors; i++)
        free(r->errors[i].tracking_number);
    r->n_shipments = 0;
    r->n_errors = 0;
}

void model_result_clear(struct model_result *r)
{
    result_drop_all(r);
    free(r->shipments);
    free(r->errors);
    model_result_init(r);
}

struct model_shipment *model_result_add_shipment(struct model_result *r,
                                                 const char *carrier,
                                                 const char *number)
{
    struct model_shipment *s;

    wm_grow((void **)&r->shipments, &r->cap_shipments, r->n_shipments + 1,
            sizeof(*r->shipments));
    s = &r->shipments[r->n_shipments++];
    memset(s, 0, sizeof(*s));
    s->carrier = carrier;
    s->tracking_number = wm_xstrdup(number);
    s->status = MODEL_PENDING;
    s->estimated_delivery = MODEL_TIME_NONE;
    s->delivered_at = MODEL_TIME_NONE;
    return s;
}

void model_result_add_error(struct model_result *r, const char *number,
                            enum model_error err)
{
    struct model_error_entry *e;

    wm_grow((void **)&r->errors, &r->cap_errors, r->n_errors + 1,
            sizeof(*r->errors));
    e = &r->errors[r->n_errors++];
    e->tracking_number = wm_xstrdup(number);
    e->error = err;
}

void model_result_fail_all(struct model_result *r, const char *const *numbers,
                           size_t n, enum model_error err)
{
    result_drop_all(r);
    for (size_t i = 0; i < n; i++)
        model_result_add_error(r, numbers[i], err);
}

struct model_event *model_shipment_add_event(struct model_shipment *s)
{
    struct model_event *e;

    wm_grow((void **)&s->events, &s->cap_events, s->n_events + 1,
            sizeof(*s->events));
    e = &s->events[s->n_events++];
    memset(e, 0, sizeof(*e));
    e->time = MODEL_TIME_NONE;
    e->status = MODEL_IN_TRANSIT;
    return e;
}

void model_shipment_drop_last_event(struct model_shipment *s)
{
    if (s->n_events > 0)
        event_clear(&s->events[--s->n_events]);
}

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool event_same(const struct model_event *a, const struct model_event *b)
{
    return a->time == b->time && str_eq(a->code, b->code) &&
           str_eq(a->location.city, b->location.city) &&
           str_eq(a->location.postcode, b->location.postcode) &&
           strcmp(a->location.country, b->location.country) == 0;
}

/* Stable insertion sort by time: event lists are short and usually come
 * almost sorted, where insertion sort is linear. */
static void events_sort(struct model_event *ev, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct model_event tmp = ev[i];
        size_t j = i;

        while (j > 0 && ev[j - 1].time > tmp.time) {
            ev[j] = ev[j - 1];
            j--;
        }
        ev[j] = tmp;
    }
}

static void events_dedupe(struct model_shipment *s)
{
    size_t out = 0;

    for (size_t i = 0; i < s->n_events; i++) {
        bool dup = false;

        /* Equal times are adjacent after sorting: look back over them. */
        for (size_t j = out;
             j > 0 && s->events[j - 1].time == s->events[i].time; j--) {
            if (event_same(&s->events[j - 1], &s->events[i])) {
                dup = true;
                break;
            }
        }
        if (dup)
            event_clear(&s->events[i]);
        else
            s->events[out++] = s->events[i];
    }
    s->n_events = out;
}

void model_shipment_finish(struct model_shipment *s)
{
    events_sort(s->events, s->n_events);
    events_dedupe(s);
    for (size_t i = 0; i < s->n_events; i++) {
        struct model_event *e = &s->events[i];

        if (e->mapped)
            continue;
        e->status = i > 0 ? s->events[i - 1].status : MODEL_IN_TRANSIT;
        e->mapped = true;
        free(e->substatus);
        e->substatus = wm_xstrdup("unknown_code");
    }
    if (!s->status_explicit) {
        if (s->n_events > 0) {
            const struct model_event *last = &s->events[s->n_events - 1];

            s->status = last->status;
            free(s->substatus);
            s->substatus = wm_xstrdup_or_null(last->substatus);
        } else {
            s->status = MODEL_PENDING;
        }
    }
    if (s->status == MODEL_DELIVERED) {
        for (size_t i = s->n_events; i > 0; i--) {
            if (s->events[i - 1].status == MODEL_DELIVERED) {
                s->delivered_at = s->events[i - 1].time;
                break;
            }
        }
    } else {
        s->delivered_at = MODEL_TIME_NONE;
    }
    if (s->status == MODEL_DELIVERED || s->status == MODEL_RETURNED)
        s->estimated_delivery = MODEL_TIME_NONE;
}

static json_t *json_time(int64_t t)
{
    char buf[WMTIME_BUFSZ];

    if (t == MODEL_TIME_NONE)
        return json_null();
    wmtime_format(t, buf);
    return json_string(buf);
}

/* A string that may be NULL; jansson refuses invalid UTF-8, which becomes
 * null rather than a lost event. */
static json_t *json_str_or_null(const char *s)
{
    json_t *j = s != NULL ? json_string(s) : NULL;

    return j != NULL ? j : json_null();
}

static json_t *location_to_json(const struct model_location *l)
{
    json_t *o = json_object();

    json_object_set_new(o, "city", json_str_or_null(l->city));
    json_object_set_new(o, "postcode", json_str_or_null(l->postcode));
    json_object_set_new(o, "country",
                        l->country[0] != '\0' ? json_string(l->country)
                                              : json_null());
    return o;
}

static json_t *event_to_json(const struct model_event *e)
{
    json_t *o = json_object();

    json_object_set_new(o, "time", json_time(e->time));
    json_object_set_new(o, "status", json_string(model_status_name(e->status)));
    json_object_set_new(o, "code", json_str_or_null(e->code));
    json_object_set_new(o, "description", json_str_or_null(e->description));
    json_object_set_new(o, "location", location_to_json(&e->location));
    return o;
}

json_t *model_shipment_to_json(const struct model_shipment *s)
{
    json_t *o = json_object();
    json_t *events = json_array();

    json_object_set_new(o, "carrier", json_string(s->carrier));
    json_object_set_new(o, "tracking_number",
                        json_str_or_null(s->tracking_number));
    json_object_set_new(o, "status", json_string(model_status_name(s->status)));
    json_object_set_new(o, "estimated_delivery",
                        json_time(s->estimated_delivery));
    json_object_set_new(o, "delivered_at", json_time(s->delivered_at));
    for (size_t i = 0; i < s->n_events; i++)
        json_array_append_new(events, event_to_json(&s->events[i]));
    json_object_set_new(o, "events", events);
    return o;
}

json_t *model_result_to_json(const struct model_result *r)
{
    json_t *o = json_object();
    json_t *ships = json_array();

    for (size_t i = 0; i < r->n_shipments; i++)
        json_array_append_new(ships, model_shipment_to_json(&r->shipments[i]));
    json_object_set_new(o, "shipments", ships);
    if (r->n_errors > 0) {
        json_t *errs = json_array();

        for (size_t i = 0; i < r->n_errors; i++) {
            json_t *e = json_object();

            json_object_set_new(e, "tracking_number",
                                json_str_or_null(r->errors[i].tracking_number));
            json_object_set_new(
                e, "error", json_string(model_error_name(r->errors[i].error)));
            json_array_append_new(errs, e);
        }
        json_object_set_new(o, "errors", errs);
    }
    return o;
}
