/*
 * Scripted shipment timelines. A scenario is a list of abstract steps
 * (label created, picked up, out for delivery, ...) at fixed offsets from
 * the shipment's start; each carrier turns every step into one of its own
 * codes (struct fc_step_def, from the carrier README's mapping tables),
 * with the normalised status wismo must derive from it. The same tables
 * build the carrier's answer (carriers_*.c) and the expected normalised
 * result (fc_timeline_normalised), so the two can be compared.
 *
 * Everything is a pure function of (carrier, number, scenario, start):
 * nothing but the start time is stored per shipment.
 */
#ifndef FAKECARRIER_SCENARIO_H
#define FAKECARRIER_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"

enum fc_status {
    FC_ST_INHERIT, /* unknown carrier code: wismo keeps the previous status */
    FC_ST_PENDING,
    FC_ST_INFO_RECEIVED,
    FC_ST_IN_TRANSIT,
    FC_ST_OUT_FOR_DELIVERY,
    FC_ST_AVAILABLE_FOR_PICKUP,
    FC_ST_DELIVERED,
    FC_ST_FAILED_ATTEMPT,
    FC_ST_EXCEPTION,
    FC_ST_RETURNING,
    FC_ST_RETURNED,
};

const char *fc_status_name(enum fc_status st);

enum fc_step {
    FC_S_INFO,           /* label / data received */
    FC_S_PICKUP,         /* parcel accepted */
    FC_S_DEPART,         /* processed at / left the hub */
    FC_S_ARRIVE,         /* at the delivery depot */
    FC_S_DELAY,          /* delay notice (the ETA moves later) */
    FC_S_CUSTOMS,        /* customs hold */
    FC_S_ADDRESS,        /* address problem */
    FC_S_RELEASED,       /* moving again after the exception */
    FC_S_OFD,            /* out for delivery */
    FC_S_ATTEMPT,        /* delivery attempt failed */
    FC_S_READY,          /* waiting at a pickup point */
    FC_S_DELIVERED,      /* delivered to the recipient */
    FC_S_COLLECTED,      /* collected from the pickup point */
    FC_S_RETURNING,      /* on its way back */
    FC_S_RETURN_TRANSIT, /* a scan on the way back */
    FC_S_RETURNED,       /* back at the sender */
    FC_S_COUNT
};

enum fc_scenario {
    FC_SC_ON_TIME,
    FC_SC_DELAYED,
    FC_SC_STALLED,
    FC_SC_EXCEPTION,
    FC_SC_FAILED_ATTEMPT,
    FC_SC_RETURN_TO_SENDER,
    FC_SC_NOT_FOUND,
    FC_SC_COUNT
};

const char *fc_scenario_name(enum fc_scenario sc);
/* The scenario named name; -1 when unknown. */
int fc_scenario_find(const char *name);

enum fc_where { FC_AT_ORIGIN, FC_AT_HUB, FC_AT_DEST };

struct fc_place {
    const char *city;
    const char *postcode;
    const char *country; /* ISO alpha-2 */
    const char *region;  /* US state, Canadian province, or NULL */
    const char *zone;    /* IANA zone of the place */
};

/* One carrier code for one step. code NULL: the carrier has no code for
 * this step, which is then left out of its timelines. */
struct fc_step_def {
    const char *code;   /* the raw code wismo reports ("" reports null) */
    const char *code2;  /* second code: UPS statusCode, PostNL StatusCode,
                           GLS parcel status, FedEx derivedStatusCode */
    const char *code3;  /* third: UPS status type */
    const char *desc;   /* the description wismo reports */
    const char *extra;  /* FedEx exceptionDescription, DPD label */
    enum fc_status st;  /* what wismo maps the code to */
    enum fc_status cur; /* GLS: what the parcel status maps to */
};

enum fc_loc_style {
    FC_LOC_FULL,         /* city, postcode, country */
    FC_LOC_CITY_COUNTRY, /* postcode always null */
    FC_LOC_CITY,         /* city only (bpost) */
    FC_LOC_NONE,         /* all null (PostNL: depot codes only) */
};

enum fc_eta_kind {
    FC_ETA_NONE,   /* the carrier gives none */
    FC_ETA_WINDOW, /* 14:00-18:00 local: wismo takes the end */
    FC_ETA_DATE,   /* a bare date: wismo takes 23:59:59 local */
};

enum fc_carrier_id {
    FC_DHL,
    FC_POSTNL,
    FC_DPD,
    FC_UPS,
    FC_FEDEX,
    FC_USPS,
    FC_CANADAPOST,
    FC_GLS,
    FC_BPOST,
    FC_NCARRIERS
};

struct fc_timeline;
struct fc_track;

/* Whole-request failures a carrier can be asked to render. */
enum fc_fail {
    FC_FAIL_AUTH,      /* 401: missing, bad or expired credentials */
    FC_FAIL_RATE,      /* 429 with Retry-After */
    FC_FAIL_SERVER,    /* 500 */
    FC_FAIL_GARBAGE,   /* 200 with a body that cannot be parsed */
    FC_FAIL_INVALID,   /* 400: bad request (batch too big, no number) */
    FC_FAIL_NOT_FOUND, /* 404: no such path under the carrier */
};

struct fc_carrier {
    const char *name;
    enum fc_carrier_id id;
    size_t batch_max;
    enum fc_loc_style loc;
    enum fc_eta_kind eta;
    bool explicit_cur;    /* shipment status from step cur (GLS) */
    bool desc_join_extra; /* description = desc " - " extra (FedEx) */
    bool offsetless;      /* writes local times without offset */
    const struct fc_place *origin, *hub, *dest;
    const struct fc_step_def *steps; /* FC_S_COUNT entries */
    /* Renders the answer for n numbers (n <= batch_max). */
    void (*render)(const struct fc_track *t, size_t n,
                   struct fc_response *resp);
    /* Renders a whole-request failure; detail may be NULL. */
    void (*fail)(enum fc_fail f, const char *detail, int retry_after,
                 struct fc_response *resp);
};

extern const struct fc_carrier *const fc_carriers[FC_NCARRIERS];
const struct fc_carrier *fc_carrier_find(const char *name);

#define FC_MAX_EVENTS 12

struct fc_event {
    int64_t t; /* Unix seconds (fake clock) */
    enum fc_step step;
    enum fc_where where;
    enum fc_status st; /* resolved: FC_ST_INHERIT replaced */
};

struct fc_date {
    int year, month, day;
};

struct fc_timeline {
    const struct fc_carrier *carrier;
    enum fc_scenario scenario;
    int64_t start; /* fake time of the first request for the number */
    size_t n;
    struct fc_event ev[FC_MAX_EVENTS];
    struct fc_date eta[2]; /* planned delivery date, before / after */
    int64_t eta_moves;     /* time of the event that moves it, or 0 */
};

/* What one request shows of one number: its first k events. */
struct fc_track {
    const char *number;           /* borrowed */
    const struct fc_timeline *tl; /* borrowed */
    size_t k;                     /* visible events (0: not found) */
    int64_t now;                  /* fake time of the request */
};

/* The scenario a number follows unless set: a stable hash of both. */
enum fc_scenario fc_scenario_default(const struct fc_carrier *c,
                                     const char *number);
void fc_timeline_build(struct fc_timeline *tl, const struct fc_carrier *c,
                       const char *number, enum fc_scenario sc, int64_t start);
/* Events with t <= now. */
size_t fc_timeline_visible(const struct fc_timeline *tl, int64_t now);
/* The fake time at which every event is visible. */
int64_t fc_timeline_complete_at(const struct fc_timeline *tl);

/* The place of event i. */
const struct fc_place *fc_event_place(const struct fc_timeline *tl, size_t i);
const struct fc_step_def *fc_event_def(const struct fc_timeline *tl, size_t i);

/* The ETA shown with the first k events: 0 or 1 (index into tl->eta), or
 * -1 for none (the carrier has none, or the parcel has arrived). */
int fc_track_eta(const struct fc_track *t);
/* The ETA window of tl->eta[which], as Unix seconds. */
int64_t fc_eta_from(const struct fc_timeline *tl, int which);
int64_t fc_eta_until(const struct fc_timeline *tl, int which);
/* The instant wismo derives from the carrier's ETA field. */
int64_t fc_eta_expected(const struct fc_timeline *tl, int which);
/* True when the newest of the first k events ends the shipment's life. */
bool fc_track_done(const struct fc_track *t);

/* The canonical normalised result wismo must produce for the first k
 * events of tl (DESIGN.md "Canonical normalised JSON"): a new object with
 * "shipments" and, when not found, "errors". */
json_t *fc_timeline_normalised(const struct fc_timeline *tl, const char *number,
                               size_t k);

/* PostNL's change feed: the fake's one customer (the numbers its answers
 * carry), whose parcels are the barcodes "3S" FC_POSTNL_CUSTOMER_CODE ... */
#define FC_POSTNL_CUSTOMER_NUMBER "10452233"
#define FC_POSTNL_CUSTOMER_CODE   "WISM"
/* One updatedshipments entry for what t shows (t->k >= 1). */
json_t *fc_postnl_feed_entry(const struct fc_track *t);

#endif
