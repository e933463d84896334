/*
 * Scenario templates, timeline construction and the expected normalised
 * result (see scenario.h). Offsets are in fake minutes from the shipment's
 * start; each event gets a stable jitter from the number's hash so that
 * times look real and differ between numbers.
 */
#include "scenario.h"

#include <stdlib.h>
#include <string.h>

#include "fc.h"

extern const struct fc_carrier fc_carrier_dhl, fc_carrier_postnl,
    fc_carrier_dpd, fc_carrier_ups, fc_carrier_fedex, fc_carrier_usps,
    fc_carrier_canadapost, fc_carrier_gls, fc_carrier_bpost;

const struct fc_carrier *const fc_carriers[FC_NCARRIERS] = {
    [FC_DHL] = &fc_carrier_dhl,
    [FC_POSTNL] = &fc_carrier_postnl,
    [FC_DPD] = &fc_carrier_dpd,
    [FC_UPS] = &fc_carrier_ups,
    [FC_FEDEX] = &fc_carrier_fedex,
    [FC_USPS] = &fc_carrier_usps,
    [FC_CANADAPOST] = &fc_carrier_canadapost,
    [FC_GLS] = &fc_carrier_gls,
    [FC_BPOST] = &fc_carrier_bpost,
};

const struct fc_carrier *fc_carrier_find(const char *name)
{
    for (size_t i = 0; i < FC_NCARRIERS; i++)
        if (strcmp(fc_carriers[i]->name, name) == 0)
            return fc_carriers[i];
    return NULL;
}

static const char *const fc_status_names[] = {
    [FC_ST_INHERIT] = "in_transit", /* only ever seen unresolved */
    [FC_ST_PENDING] = "pending",
    [FC_ST_INFO_RECEIVED] = "info_received",
    [FC_ST_IN_TRANSIT] = "in_transit",
    [FC_ST_OUT_FOR_DELIVERY] = "out_for_delivery",
    [FC_ST_AVAILABLE_FOR_PICKUP] = "available_for_pickup",
    [FC_ST_DELIVERED] = "delivered",
    [FC_ST_FAILED_ATTEMPT] = "failed_attempt",
    [FC_ST_EXCEPTION] = "exception",
    [FC_ST_RETURNING] = "returning",
    [FC_ST_RETURNED] = "returned",
};

const char *fc_status_name(enum fc_status st)
{
    return fc_status_names[st];
}

static const char *const fc_scenario_names[FC_SC_COUNT] = {
    [FC_SC_ON_TIME] = "on_time",
    [FC_SC_DELAYED] = "delayed",
    [FC_SC_STALLED] = "stalled",
    [FC_SC_EXCEPTION] = "exception",
    [FC_SC_FAILED_ATTEMPT] = "failed_attempt",
    [FC_SC_RETURN_TO_SENDER] = "return_to_sender",
    [FC_SC_NOT_FOUND] = "not_found",
};

const char *fc_scenario_name(enum fc_scenario sc)
{
    return fc_scenario_names[sc];
}

int fc_scenario_find(const char *name)
{
    for (int i = 0; i < FC_SC_COUNT; i++)
        if (strcmp(fc_scenario_names[i], name) == 0)
            return i;
    return -1;
}

/* --- templates ----------------------------------------------------------- */

#define FC_H(h) ((h)*60)

enum {
    FC_T_OPTIONAL = 1 << 0,  /* dropped for half of the numbers */
    FC_T_MOVES_ETA = 1 << 1, /* the ETA is later from this event on */
    FC_T_ALT = 1 << 2,       /* customs hold or address problem */
};

struct fc_tpl_step {
    enum fc_step step;
    int minutes; /* from the start */
    enum fc_where where;
    unsigned flags;
};

struct fc_tpl {
    const struct fc_tpl_step *steps;
    size_t n;
    int eta_hours; /* planned delivery: the date of start + this */
};

static const struct fc_tpl_step fc_on_time[] = {
    {FC_S_INFO, -15, FC_AT_ORIGIN, 0},
    {FC_S_PICKUP, FC_H(5), FC_AT_ORIGIN, 0},
    {FC_S_DEPART, FC_H(14), FC_AT_HUB, 0},
    {FC_S_ARRIVE, FC_H(30), FC_AT_DEST, FC_T_OPTIONAL},
    {FC_S_OFD, FC_H(54), FC_AT_DEST, 0},
    {FC_S_DELIVERED, FC_H(60), FC_AT_DEST, 0},
};

static const struct fc_tpl_step fc_delayed[] = {
    {FC_S_INFO, -15, FC_AT_ORIGIN, 0},
    {FC_S_PICKUP, FC_H(5), FC_AT_ORIGIN, 0},
    {FC_S_DEPART, FC_H(14), FC_AT_HUB, 0},
    {FC_S_DELAY, FC_H(26), FC_AT_HUB, FC_T_MOVES_ETA},
    {FC_S_ARRIVE, FC_H(52), FC_AT_DEST, 0},
    {FC_S_OFD, FC_H(76), FC_AT_DEST, 0},
    {FC_S_DELIVERED, FC_H(82), FC_AT_DEST, 0},
};

static const struct fc_tpl_step fc_stalled[] = {
    {FC_S_INFO, -15, FC_AT_ORIGIN, 0},
    {FC_S_PICKUP, FC_H(5), FC_AT_ORIGIN, 0},
    {FC_S_DEPART, FC_H(14), FC_AT_HUB, 0},
};

static const struct fc_tpl_step fc_exception[] = {
    {FC_S_INFO, -15, FC_AT_ORIGIN, 0},
    {FC_S_PICKUP, FC_H(5), FC_AT_ORIGIN, 0},
    {FC_S_DEPART, FC_H(14), FC_AT_HUB, 0},
    {FC_S_CUSTOMS, FC_H(28), FC_AT_DEST, FC_T_MOVES_ETA | FC_T_ALT},
    {FC_S_RELEASED, FC_H(46), FC_AT_DEST, 0},
    {FC_S_OFD, FC_H(66), FC_AT_DEST, 0},
    {FC_S_DELIVERED, FC_H(72), FC_AT_DEST, 0},
};

static const struct fc_tpl_step fc_failed_attempt[] = {
    {FC_S_INFO, -15, FC_AT_ORIGIN, 0},
    {FC_S_PICKUP, FC_H(5), FC_AT_ORIGIN, 0},
    {FC_S_DEPART, FC_H(14), FC_AT_HUB, 0},
    {FC_S_ARRIVE, FC_H(28), FC_AT_DEST, 0},
    {FC_S_OFD, FC_H(34), FC_AT_DEST, 0},
    {FC_S_ATTEMPT, FC_H(41), FC_AT_DEST, 0},
    {FC_S_READY, FC_H(48), FC_AT_DEST, 0},
    {FC_S_COLLECTED, FC_H(70), FC_AT_DEST, 0},
};

static const struct fc_tpl_step fc_return[] = {
    {FC_S_INFO, -15, FC_AT_ORIGIN, 0},
    {FC_S_PICKUP, FC_H(5), FC_AT_ORIGIN, 0},
    {FC_S_DEPART, FC_H(14), FC_AT_HUB, 0},
    {FC_S_ARRIVE, FC_H(28), FC_AT_DEST, 0},
    {FC_S_OFD, FC_H(34), FC_AT_DEST, 0},
    {FC_S_RETURNING, FC_H(40), FC_AT_DEST, 0},
    {FC_S_RETURN_TRANSIT, FC_H(52), FC_AT_HUB, 0},
    {FC_S_RETURNED, FC_H(70), FC_AT_ORIGIN, 0},
};

static const struct fc_tpl fc_tpls[FC_SC_COUNT] = {
    [FC_SC_ON_TIME] = {fc_on_time, FC_ARRAY_LEN(fc_on_time), 62},
    [FC_SC_DELAYED] = {fc_delayed, FC_ARRAY_LEN(fc_delayed), 62},
    [FC_SC_STALLED] = {fc_stalled, FC_ARRAY_LEN(fc_stalled), 62},
    [FC_SC_EXCEPTION] = {fc_exception, FC_ARRAY_LEN(fc_exception), 62},
    [FC_SC_FAILED_ATTEMPT] = {fc_failed_attempt,
                              FC_ARRAY_LEN(fc_failed_attempt), 40},
    [FC_SC_RETURN_TO_SENDER] = {fc_return, FC_ARRAY_LEN(fc_return), 40},
    [FC_SC_NOT_FOUND] = {NULL, 0, 0},
};

/* --- construction -------------------------------------------------------- */

static uint64_t fc_number_hash(const struct fc_carrier *c, const char *number)
{
    uint64_t h = fc_hash(FC_HASH_INIT, c->name, strlen(c->name));

    h = fc_hash(h, ":", 1);
    return fc_mix(fc_hash(h, number, strlen(number)));
}

enum fc_scenario fc_scenario_default(const struct fc_carrier *c,
                                     const char *number)
{
    /* Weights in percent, in enum order. */
    static const int weights[FC_SC_COUNT] = {34, 14, 10, 12, 12, 10, 8};
    int r = (int)((fc_number_hash(c, number) >> 8) % 100);

    for (int i = 0; i < FC_SC_COUNT; i++) {
        if (r < weights[i])
            return (enum fc_scenario)i;
        r -= weights[i];
    }
    return FC_SC_ON_TIME;
}

const struct fc_place *fc_event_place(const struct fc_timeline *tl, size_t i)
{
    switch (tl->ev[i].where) {
    case FC_AT_ORIGIN:
        return tl->carrier->origin;
    case FC_AT_HUB:
        return tl->carrier->hub;
    case FC_AT_DEST:
        break;
    }
    return tl->carrier->dest;
}

const struct fc_step_def *fc_event_def(const struct fc_timeline *tl, size_t i)
{
    return &tl->carrier->steps[tl->ev[i].step];
}

static void fc_date_of(const char *zone, int64_t t, struct fc_date *d)
{
    struct fc_civil c;

    fc_tz_local(zone, t, &c);
    d->year = c.year;
    d->month = c.month;
    d->day = c.day;
}

/* Offset-less local times must not fall where wismo cannot tell which
 * instant they mean (DST changeover): move such events out of the way,
 * then keep the order. */
static void fc_avoid_changeovers(struct fc_timeline *tl)
{
    for (int round = 0; round < 8; round++) {
        bool moved = false;

        for (size_t i = 0; i < tl->n; i++) {
            const char *zone = fc_event_place(tl, i)->zone;

            if (fc_tz_near_change(zone, tl->ev[i].t, 2)) {
                tl->ev[i].t += i == 0 ? -4 * 3600 : 4 * 3600;
                moved = true;
            }
            if (i > 0 && tl->ev[i].t <= tl->ev[i - 1].t) {
                tl->ev[i].t = tl->ev[i - 1].t + 600;
                moved = true;
            }
        }
        if (!moved)
            return;
    }
}

void fc_timeline_build(struct fc_timeline *tl, const struct fc_carrier *c,
                       const char *number, enum fc_scenario sc, int64_t start)
{
    const struct fc_tpl *tpl = &fc_tpls[sc];
    uint64_t h = fc_number_hash(c, number);
    enum fc_status prev = FC_ST_IN_TRANSIT;
    bool moves[FC_MAX_EVENTS] = {false};
    int64_t t;

    memset(tl, 0, sizeof(*tl));
    tl->carrier = c;
    tl->scenario = sc;
    tl->start = start;
    for (size_t i = 0; i < tpl->n; i++) {
        const struct fc_tpl_step *s = &tpl->steps[i];
        enum fc_step step = s->step;
        uint64_t j = fc_mix(h + i + 1);

        if ((s->flags & FC_T_OPTIONAL) != 0 && (h & 1) != 0)
            continue;
        if ((s->flags & FC_T_ALT) != 0 && (h & 2) != 0)
            step = FC_S_ADDRESS;
        if (c->steps[step].code == NULL)
            continue; /* this carrier has no code for it */
        if (s->minutes < 0)
            t = start + (int64_t)s->minutes * 60 - (int64_t)(j % 1200);
        else
            t = start + (int64_t)s->minutes * 60 + (int64_t)(j % 2400) - 1200;
        tl->ev[tl->n].t = t;
        tl->ev[tl->n].step = step;
        tl->ev[tl->n].where = s->where;
        moves[tl->n] = (s->flags & FC_T_MOVES_ETA) != 0;
        tl->n++;
    }
    /* The first request already sees something: the label. */
    if (tl->n > 0 && tl->ev[0].t > start)
        tl->ev[0].t = start - 600 - (int64_t)(h % 1200);
    if (c->offsetless)
        fc_avoid_changeovers(tl);

    for (size_t i = 0; i < tl->n; i++) {
        const struct fc_step_def *d = fc_event_def(tl, i);

        tl->ev[i].st = d->st == FC_ST_INHERIT ? prev : d->st;
        prev = tl->ev[i].st;
        if (moves[i] && tl->eta_moves == 0)
            tl->eta_moves = tl->ev[i].t; /* final times only */
    }

    if (tpl->eta_hours > 0) {
        const char *zone = c->dest->zone;
        struct fc_date *d0 = &tl->eta[0];

        fc_date_of(zone, start + (int64_t)tpl->eta_hours * 3600, d0);
        fc_date_of(zone,
                   fc_tz_utc(zone, d0->year, d0->month, d0->day + 1, 12, 0, 0),
                   &tl->eta[1]);
    }
}

size_t fc_timeline_visible(const struct fc_timeline *tl, int64_t now)
{
    size_t k = 0;

    while (k < tl->n && tl->ev[k].t <= now)
        k++;
    return k;
}

int64_t fc_timeline_complete_at(const struct fc_timeline *tl)
{
    return tl->n > 0 ? tl->ev[tl->n - 1].t : tl->start;
}

bool fc_track_done(const struct fc_track *t)
{
    enum fc_step s;

    if (t->k == 0)
        return false;
    s = t->tl->ev[t->k - 1].step;
    return s == FC_S_DELIVERED || s == FC_S_COLLECTED || s == FC_S_RETURNED;
}

int fc_track_eta(const struct fc_track *t)
{
    const struct fc_timeline *tl = t->tl;

    if (tl->carrier->eta == FC_ETA_NONE || t->k == 0 || fc_track_done(t))
        return -1;
    if (tl->eta_moves != 0 && tl->ev[t->k - 1].t >= tl->eta_moves)
        return 1;
    return 0;
}

int64_t fc_eta_from(const struct fc_timeline *tl, int which)
{
    const struct fc_date *d = &tl->eta[which];

    return fc_tz_utc(tl->carrier->dest->zone, d->year, d->month, d->day,
                     tl->carrier->eta == FC_ETA_DATE ? 0 : 14, 0, 0);
}

int64_t fc_eta_until(const struct fc_timeline *tl, int which)
{
    const struct fc_date *d = &tl->eta[which];

    if (tl->carrier->eta == FC_ETA_DATE)
        return fc_tz_utc(tl->carrier->dest->zone, d->year, d->month, d->day, 23,
                         59, 59);
    return fc_tz_utc(tl->carrier->dest->zone, d->year, d->month, d->day, 18, 0,
                     0);
}

int64_t fc_eta_expected(const struct fc_timeline *tl, int which)
{
    return fc_eta_until(tl, which);
}

/* --- the expected normalised result -------------------------------------- */

static json_t *fc_jstr(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *fc_jtime(int64_t t)
{
    char buf[FC_ISO_BUFSZ];

    fc_fmt_utc(t, buf);
    return json_string(buf);
}

static json_t *fc_expected_location(const struct fc_carrier *c,
                                    const struct fc_place *p)
{
    const char *city = NULL, *postcode = NULL, *country = NULL;

    switch (c->loc) {
    case FC_LOC_FULL:
        city = p->city;
        postcode = p->postcode;
        country = p->country;
        break;
    case FC_LOC_CITY_COUNTRY:
        city = p->city;
        country = p->country;
        break;
    case FC_LOC_CITY:
        city = p->city;
        break;
    case FC_LOC_NONE:
        break;
    }
    return json_pack("{s:o, s:o, s:o}", "city", fc_jstr(city), "postcode",
                     fc_jstr(postcode), "country", fc_jstr(country));
}

static json_t *fc_expected_description(const struct fc_carrier *c,
                                       const struct fc_step_def *d)
{
    json_t *s;
    char *joined;
    size_t len;

    if (!c->desc_join_extra || d->extra == NULL || d->extra[0] == '\0' ||
        strcmp(d->extra, d->desc) == 0)
        return fc_jstr(d->desc);
    len = strlen(d->desc) + strlen(d->extra) + 4;
    joined = fc_xmalloc(len);
    snprintf(joined, len, "%s - %s", d->desc, d->extra);
    s = json_string(joined);
    free(joined);
    return s;
}

json_t *fc_timeline_normalised(const struct fc_timeline *tl, const char *number,
                               size_t k)
{
    const struct fc_carrier *c = tl->carrier;
    struct fc_track view = {number, tl, k, 0};
    json_t *events, *ship;
    enum fc_status st;
    int64_t delivered = 0;
    int eta;

    if (tl->n == 0)
        return json_pack("{s:[], s:[{s:s, s:s}]}", "shipments", "errors",
                         "tracking_number", number, "error", "not_found");
    events = json_array();
    for (size_t i = 0; i < k; i++) {
        const struct fc_step_def *d = fc_event_def(tl, i);

        json_array_append_new(
            events,
            json_pack("{s:o, s:s, s:o, s:o, s:o}", "time",
                      fc_jtime(tl->ev[i].t), "status",
                      fc_status_name(tl->ev[i].st), "code", fc_jstr(d->code),
                      "description", fc_expected_description(c, d), "location",
                      fc_expected_location(c, fc_event_place(tl, i))));
        if (tl->ev[i].st == FC_ST_DELIVERED)
            delivered = tl->ev[i].t;
    }
    if (k == 0)
        st = FC_ST_PENDING;
    else if (c->explicit_cur)
        st = fc_event_def(tl, k - 1)->cur;
    else
        st = tl->ev[k - 1].st;
    eta = fc_track_eta(&view);
    ship = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:o}", "carrier", c->name, "tracking_number",
        number, "status", fc_status_name(st), "estimated_delivery",
        eta >= 0 && st != FC_ST_DELIVERED && st != FC_ST_RETURNED
            ? fc_jtime(fc_eta_expected(tl, eta))
            : json_null(),
        "delivered_at",
        st == FC_ST_DELIVERED && delivered != 0 ? fc_jtime(delivered)
                                                : json_null(),
        "events", events);
    return json_pack("{s:[o]}", "shipments", ship);
}
