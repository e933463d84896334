/*
 * The notifier's rules: pure decisions, no I/O, no clock (every function
 * takes "now"), no JSON. Which reasons are active for a shipment, when to
 * look at it again, the recipient's time zone, quiet hours, business time,
 * which channels a message goes to and when, and how long a failed send
 * waits before the next attempt.
 *
 * Reasons (exact strings, DESIGN.md): exception failed_attempt returning
 * available_for_pickup eta_late eta_slip promise_missed stalled
 * out_for_delivery delivered. eta_slip needs the ETA the episode started
 * from, which lives in Redis: the outbox decides it (nrules only passes
 * the threshold and the current ETA).
 */
#ifndef WISMO_NRULES_H
#define WISMO_NRULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wismo/cfg.h"

enum nrules_reason {
    NRULES_EXCEPTION,
    NRULES_FAILED_ATTEMPT,
    NRULES_RETURNING,
    NRULES_AVAILABLE_FOR_PICKUP,
    NRULES_ETA_LATE,
    NRULES_ETA_SLIP,
    NRULES_PROMISE_MISSED,
    NRULES_STALLED,
    NRULES_OUT_FOR_DELIVERY,
    NRULES_DELIVERED,
    NRULES_NREASONS
};

enum nrules_channel {
    NRULES_EMAIL,
    NRULES_SMS,
    NRULES_WEBHOOK,
    NRULES_NCHANNELS
};

/* Names: static strings, "unknown" out of range. */
const char *nrules_reason_name(enum nrules_reason r);
const char *nrules_channel_name(enum nrules_channel c);
/* Name to value: 0, or WM_EINVAL for an unknown name. */
int nrules_reason_parse(const char *s, enum nrules_reason *out);
int nrules_channel_parse(const char *s, enum nrules_channel *out);

/* A [notify.<carrier>] override; -1: the global value. */
struct nrules_carrier {
    char *name; /* owned */
    int64_t stall_after_ms, eta_slip_ms;
};

/* The notifier's settings from [notify] (a copy: cfg is not kept). */
struct nrules_conf {
    int64_t stall_after_ms;     /* 0: rule off */
    int64_t eta_slip_ms;        /* 0: rule off */
    unsigned positive;          /* 1u << NRULES_OUT_FOR_DELIVERY | ... */
    bool business_days;         /* stalled counts Monday-Friday time only */
    bool email_quiet;           /* e-mail also waits for quiet hours */
    char *quiet;                /* "HH:MM-HH:MM" or NULL; owned */
    int daily_cap;              /* per recipient, channel and day; 0: none */
    struct nrules_carrier *car; /* owned, ncar entries */
    size_t ncar;
};

/* Copies what the rules need from cfg (conf is cleared first). */
void nrules_conf_load(struct nrules_conf *c, const struct cfg *cfg);
void nrules_conf_clear(struct nrules_conf *c);
/* The stall and slip thresholds for carrier (overrides applied). */
void nrules_thresholds(const struct nrules_conf *c, const char *carrier,
                       int64_t *stall_after_ms, int64_t *eta_slip_ms);

/* What the rules read of a shipment; strings borrowed, "" or NULL when
 * absent. Times are ISO-8601 (promised_delivery may be a date). */
struct nrules_ship {
    const char *carrier, *status;
    const char *estimated_delivery, *promised_delivery;
    const char *last_event_at, *updated_at;
    const char *locale, *postcode;
    const char *email, *phone;
    const char *notify; /* "email,sms", "" (every channel), "none" */
    const char *zone;   /* the recipient's zone; NULL: nrules_zone() */
};

struct nrules_verdict {
    unsigned active;       /* 1u << reason; eta_slip is decided in Redis */
    const char *zone;      /* the recipient's zone (static string) */
    int64_t eta_ms;        /* carrier ETA, -1 when none (or terminal) */
    int64_t promised_ms;   /* -1 when none or unparsable */
    int64_t eta_slip_ms;   /* the slip threshold for this carrier */
    int64_t next_check_ms; /* when a time-based rule may change; -1 never */
};

/* Evaluates s at now_ms. Terminal shipments (delivered, returned,
 * expired) are never late. */
void nrules_eval(const struct nrules_conf *c, const struct nrules_ship *s,
                 int64_t now_ms, struct nrules_verdict *out);

/* Where a message of a new episode goes. */
struct nrules_target {
    enum nrules_channel channel;
    const char *to;        /* borrowed from the shipment; "" for webhook */
    int64_t not_before_ms; /* quiet hours; <= now: at once */
    const char *why;       /* non-NULL: suppressed (static string) */
};

struct nrules_targets {
    struct nrules_target t[NRULES_NCHANNELS];
    size_t n;
    const char *none_why; /* n == 0: "opt_out" or "no_recipient" */
};

/* ready: 1u << channel for each configured channel. */
void nrules_targets(const struct nrules_conf *c, const struct nrules_ship *s,
                    unsigned ready, const char *zone, int64_t now_ms,
                    struct nrules_targets *out);

/* The recipient's zone: locale region ("nl-BE"), else the postcode's form
 * with the locale's language, else Europe/Amsterdam. Static string. */
const char *nrules_zone(const char *locale, const char *postcode);

/* Quiet hours "HH:MM-HH:MM" (may wrap midnight) in zone: the instant they
 * end when now_ms is inside them, else now_ms. Empty/NULL: now_ms. */
int64_t nrules_quiet_until(const char *quiet, const char *zone, int64_t now_ms);

/* Monday-Friday milliseconds between a and b (a <= b) in zone. */
int64_t nrules_business_ms(int64_t a_ms, int64_t b_ms, const char *zone);

/* Retry policy for a failed send. attempt: attempts made before this one;
 * rnd: any random number (jitter to 50-100 % of the step). */
struct nrules_retry {
    long min_ms, max_ms, window_ms;
};
/* The delay before the next attempt, or -1 when created_ms + window is
 * passed by then (give up: dead letter). */
int64_t nrules_retry_delay(const struct nrules_retry *p, long attempt,
                           int64_t created_ms, int64_t now_ms, uint64_t rnd);

#endif
