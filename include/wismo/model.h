/*
 * The normalised shipment model every carrier is translated into, and its
 * canonical JSON form (DESIGN.md "Canonical normalised JSON").
 *
 * Ownership: a model_result owns its shipments and errors; a shipment owns
 * its strings and events; an event owns its strings. Everything is released
 * by model_result_clear(). Times are Unix seconds (UTC); MODEL_TIME_NONE is
 * JSON null.
 */
#ifndef WISMO_MODEL_H
#define WISMO_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define MODEL_TIME_NONE INT64_MIN

enum model_status {
    MODEL_PENDING,
    MODEL_INFO_RECEIVED,
    MODEL_IN_TRANSIT,
    MODEL_OUT_FOR_DELIVERY,
    MODEL_AVAILABLE_FOR_PICKUP,
    MODEL_DELIVERED,
    MODEL_FAILED_ATTEMPT,
    MODEL_EXCEPTION,
    MODEL_RETURNING,
    MODEL_RETURNED,
    MODEL_EXPIRED,
    MODEL_STATUS_COUNT
};

enum model_error {
    MODEL_ERR_NOT_FOUND,
    MODEL_ERR_INVALID,
    MODEL_ERR_RATE_LIMITED,
    MODEL_ERR_AUTH,
    MODEL_ERR_CARRIER,
    MODEL_ERROR_COUNT
};

struct model_location {
    char *city;      /* owned, NULL when unknown */
    char *postcode;  /* owned, NULL when unknown */
    char country[3]; /* ISO 3166-1 alpha-2, "" when unknown */
};

struct model_event {
    int64_t time;             /* UTC seconds */
    enum model_status status; /* normalised; see mapped */
    bool mapped;              /* false: unknown code, inherits (rule 8) */
    char *substatus;          /* owned detail ("customs"), or NULL */
    char *code;               /* owned raw carrier code, or NULL */
    char *description;        /* owned normalised text, or NULL */
    struct model_location location;
};

struct model_shipment {
    const char *carrier;        /* static carrier name */
    char *tracking_number;      /* owned */
    enum model_status status;   /* valid when status_explicit or finished */
    bool status_explicit;       /* the carrier stated a current status */
    char *substatus;            /* owned detail, or NULL */
    int64_t estimated_delivery; /* UTC or MODEL_TIME_NONE */
    int64_t delivered_at;       /* UTC or MODEL_TIME_NONE */
    struct model_event *events; /* owned array */
    size_t n_events, cap_events;
};

struct model_error_entry {
    char *tracking_number; /* owned */
    enum model_error error;
};

struct model_result {
    struct model_shipment *shipments; /* owned array */
    size_t n_shipments, cap_shipments;
    struct model_error_entry *errors; /* owned array */
    size_t n_errors, cap_errors;
    int retry_after;   /* seconds the carrier asked us to wait, -1: none */
    char problem[160]; /* why a payload was refused, "" when it was not */
};

/* Status and error names: the exact strings of DESIGN.md. */
const char *model_status_name(enum model_status st);
/* Parses "in_transit" or "exception.customs" (detail ignored). */
int model_status_parse(const char *s, enum model_status *out);
const char *model_error_name(enum model_error err);
int model_error_parse(const char *s, enum model_error *out);
/* delivered and returned end polling; expired too. */
bool model_status_is_terminal(enum model_status st);

void model_result_init(struct model_result *r);
void model_result_clear(struct model_result *r);

/* Appends a shipment with status pending and no times; returns it (valid
 * until the next add). number is copied. */
struct model_shipment *model_result_add_shipment(struct model_result *r,
                                                 const char *carrier,
                                                 const char *number);
/* Appends an error for number (copied). */
void model_result_add_error(struct model_result *r, const char *number,
                            enum model_error err);
/* Whole-request failure: drops every shipment and error, then adds err for
 * each of numbers in order (rule 13). */
void model_result_fail_all(struct model_result *r, const char *const *numbers,
                           size_t n, enum model_error err);

/* Appends an empty event (time MODEL_TIME_NONE, unmapped); returns it,
 * valid until the next add. */
struct model_event *model_shipment_add_event(struct model_shipment *s);
/* Drops the event just added (e.g. it turned out to have no time). */
void model_shipment_drop_last_event(struct model_shipment *s);

/*
 * Normalises a shipment whose events were added in the carrier's
 * chronological order (adapters reverse newest-first lists while adding):
 * stable sort oldest first, drop duplicates (same time, code and location),
 * resolve unmapped events (rule 8), derive status when not explicit
 * (rule 9), delivered_at (rule 10), and null the ETA once delivered or
 * returned (rule 11).
 */
void model_shipment_finish(struct model_shipment *s);

/* The canonical JSON object of a result (new reference). Key order as in
 * the fixtures; "errors" only when not empty. */
json_t *model_result_to_json(const struct model_result *r);
/* One shipment in canonical form (new reference). */
json_t *model_shipment_to_json(const struct model_shipment *s);

#endif
