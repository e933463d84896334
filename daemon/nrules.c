/*
 * The notifier's rules (see wismo/nrules.h): pure functions of a shipment,
 * the settings and "now".
 */
#include "wismo/nrules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/registration.h" /* the one E.164 rule */
#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

static const char *const reason_names[NRULES_NREASONS] = {
    "exception",        "failed_attempt",
    "returning",        "available_for_pickup",
    "eta_late",         "eta_slip",
    "promise_missed",   "stalled",
    "out_for_delivery", "delivered"};
static const char *const channel_names[NRULES_NCHANNELS] = {"email", "sms",
                                                            "webhook"};

const char *nrules_reason_name(enum nrules_reason r)
{
    return (unsigned)r < NRULES_NREASONS ? reason_names[r] : "unknown";
}

const char *nrules_channel_name(enum nrules_channel c)
{
    return (unsigned)c < NRULES_NCHANNELS ? channel_names[c] : "unknown";
}

int nrules_reason_parse(const char *s, enum nrules_reason *out)
{
    for (int r = 0; s != NULL && r < NRULES_NREASONS; r++)
        if (strcmp(s, reason_names[r]) == 0) {
            *out = (enum nrules_reason)r;
            return 0;
        }
    return WM_EINVAL;
}

int nrules_channel_parse(const char *s, enum nrules_channel *out)
{
    for (int c = 0; s != NULL && c < NRULES_NCHANNELS; c++)
        if (strcmp(s, channel_names[c]) == 0) {
            *out = (enum nrules_channel)c;
            return 0;
        }
    return WM_EINVAL;
}

/* --- settings --- */

void nrules_conf_clear(struct nrules_conf *c)
{
    free(c->quiet);
    for (size_t i = 0; i < c->ncar; i++)
        free(c->car[i].name);
    free(c->car);
    memset(c, 0, sizeof(*c));
}

void nrules_conf_load(struct nrules_conf *c, const struct cfg *cfg)
{
    nrules_conf_clear(c);
    c->stall_after_ms = cfg->stall_after_ms;
    c->eta_slip_ms = cfg->eta_slip_ms;
    if (cfg->quiet_hours != NULL && cfg->quiet_hours[0] != '\0')
        c->quiet = wm_xstrdup(cfg->quiet_hours);
    c->daily_cap = cfg->daily_cap;
    for (int r = 0; r < NRULES_NREASONS; r++)
        if (cfg->positive != NULL && strstr(cfg->positive, reason_names[r]))
            c->positive |= 1u << r;
    c->positive &= (1u << NRULES_OUT_FOR_DELIVERY) | (1u << NRULES_DELIVERED);
    c->car = wm_xcalloc(cfg->n_carriers + 1, sizeof(*c->car));
    for (size_t i = 0; i < cfg->n_carriers; i++) {
        c->car[i].name = wm_xstrdup(cfg->carriers[i].name);
        c->car[i].stall_after_ms = cfg->carriers[i].stall_after_ms;
        c->car[i].eta_slip_ms = cfg->carriers[i].eta_slip_ms;
    }
    c->ncar = cfg->n_carriers;
}

void nrules_thresholds(const struct nrules_conf *c, const char *carrier,
                       int64_t *stall, int64_t *slip)
{
    *stall = c->stall_after_ms;
    *slip = c->eta_slip_ms;
    for (size_t i = 0; carrier != NULL && i < c->ncar; i++)
        if (strcmp(c->car[i].name, carrier) == 0) {
            if (c->car[i].stall_after_ms >= 0)
                *stall = c->car[i].stall_after_ms;
            if (c->car[i].eta_slip_ms >= 0)
                *slip = c->car[i].eta_slip_ms;
        }
}

/* --- evaluation --- */

static const char *str(const char *s)
{
    return s != NULL ? s : "";
}

static bool is(const char *status, const char *want)
{
    return strcmp(str(status), want) == 0;
}

static int64_t iso_ms(const char *s, const char *zone)
{
    int64_t t;

    if (s == NULL || s[0] == '\0' || wmtime_parse_iso(s, zone, &t) != 0)
        return -1;
    return t * 1000;
}

int64_t nrules_business_ms(int64_t a, int64_t b, const char *zone)
{
    int off = 0;
    int64_t la, lb, total = 0;
    const int64_t day = 86400000;

    if (b <= a)
        return 0;
    if (zone != NULL)
        wmtime_zone_offset(zone, a / 1000, &off);
    la = a + (int64_t)off * 1000;
    lb = b + (int64_t)off * 1000;
    if (lb - la > 400 * day)
        return (lb - la) / 7 * 5;
    while (la < lb) {
        int64_t d = la >= 0 ? la / day : (la - day + 1) / day;
        int64_t end = (d + 1) * day;
        int wd = (int)(((d % 7) + 7 + 4) % 7); /* 0 Sunday */

        if (end > lb)
            end = lb;
        if (wd != 0 && wd != 6)
            total += end - la;
        la = end;
    }
    return total;
}

/* The status reasons (positive ones only when configured). */
static unsigned status_reasons(const char *st, unsigned positive)
{
    static const struct {
        const char *status;
        enum nrules_reason reason;
    } map[] = {{"exception", NRULES_EXCEPTION},
               {"failed_attempt", NRULES_FAILED_ATTEMPT},
               {"returning", NRULES_RETURNING},
               {"available_for_pickup", NRULES_AVAILABLE_FOR_PICKUP},
               {"out_for_delivery", NRULES_OUT_FOR_DELIVERY},
               {"delivered", NRULES_DELIVERED}};
    const unsigned pos =
        (1u << NRULES_OUT_FOR_DELIVERY) | (1u << NRULES_DELIVERED);

    for (size_t i = 0; i < WM_ARRAY_LEN(map); i++)
        if (is(st, map[i].status)) {
            unsigned bit = 1u << map[i].reason;
            return (bit & pos) != 0 ? (bit & positive) : bit;
        }
    return 0;
}

static void earliest(int64_t *next, int64_t t)
{
    if (*next < 0 || t < *next)
        *next = t;
}

/* stalled: in transit, the newest carrier event older than stall_after. */
static void eval_stalled(const struct nrules_conf *c,
                         const struct nrules_ship *s, int64_t stall,
                         int64_t now, struct nrules_verdict *out)
{
    int64_t last = iso_ms(s->last_event_at, "UTC"), el;

    if (!is(s->status, "in_transit") || stall <= 0)
        return;
    if (last < 0)
        last = iso_ms(s->updated_at, "UTC");
    if (last < 0)
        return;
    el = c->business_days ? nrules_business_ms(last, now, out->zone)
                          : now - last;
    if (el >= stall)
        out->active |= 1u << NRULES_STALLED;
    else
        earliest(&out->next_check_ms, now + (stall - el) + 1000);
}

void nrules_eval(const struct nrules_conf *c, const struct nrules_ship *s,
                 int64_t now, struct nrules_verdict *out)
{
    bool terminal = is(s->status, "delivered") || is(s->status, "returned") ||
                    is(s->status, "expired");
    int64_t stall;

    memset(out, 0, sizeof(*out));
    out->next_check_ms = -1;
    out->zone = s->zone != NULL ? s->zone : nrules_zone(s->locale, s->postcode);
    nrules_thresholds(c, s->carrier, &stall, &out->eta_slip_ms);
    out->eta_ms = iso_ms(s->estimated_delivery, "UTC");
    out->promised_ms = iso_ms(s->promised_delivery, out->zone);
    out->active = status_reasons(s->status, c->positive);
    if (terminal) {
        out->eta_ms = -1; /* no slip once it is over */
        return;
    }
    if (out->eta_ms >= 0 && out->promised_ms >= 0 &&
        out->eta_ms > out->promised_ms)
        out->active |= 1u << NRULES_ETA_LATE;
    if (out->promised_ms >= 0 && now > out->promised_ms)
        out->active |= 1u << NRULES_PROMISE_MISSED;
    else if (out->promised_ms >= 0)
        out->next_check_ms = out->promised_ms + 1000;
    eval_stalled(c, s, stall, now, out);
}

/* The shipment's channels ("email,sms"); empty: every channel with
 * contact data; "none": the shipment opted out. */
static bool wanted(const struct nrules_ship *s, enum nrules_channel ch)
{
    const char *n = s->notify;

    return n == NULL || n[0] == '\0' || strstr(n, channel_names[ch]) != NULL;
}

static void add_target(struct nrules_targets *o, enum nrules_channel ch,
                       const char *to, int64_t not_before, const char *why)
{
    struct nrules_target *t = &o->t[o->n++];

    t->channel = ch;
    t->to = to;
    t->not_before_ms = not_before;
    t->why = why;
}

void nrules_targets(const struct nrules_conf *c, const struct nrules_ship *s,
                    unsigned ready, const char *zone, int64_t now,
                    struct nrules_targets *out)
{
    int64_t q = nrules_quiet_until(c->quiet, zone, now);
    const char *email = str(s->email), *phone = str(s->phone);

    memset(out, 0, sizeof(*out));
    if (email[0] != '\0' && wanted(s, NRULES_EMAIL) &&
        (ready & (1u << NRULES_EMAIL)))
        add_target(out, NRULES_EMAIL, email, c->email_quiet ? q : now, NULL);
    if (phone[0] != '\0' && wanted(s, NRULES_SMS) &&
        (ready & (1u << NRULES_SMS)))
        add_target(out, NRULES_SMS, phone, q,
                   registration_e164_valid(phone) ? NULL : "invalid_phone");
    if ((ready & (1u << NRULES_WEBHOOK)) && wanted(s, NRULES_WEBHOOK))
        add_target(out, NRULES_WEBHOOK, "", now, NULL);
    if (out->n == 0) /* notify "none": registered with notify [] */
        out->none_why = is(s->notify, "none") ? "opt_out" : "no_recipient";
}

/* --- zones and quiet hours --- */

/* "nl-BE": lang "nl", country "BE" (either may stay empty). */
static void split_locale(const char *locale, char lang[4], char cc[3])
{
    size_t l;

    lang[0] = cc[0] = '\0';
    if (locale == NULL)
        return;
    l = strcspn(locale, "-_");
    if (l == 2) {
        lang[0] = (char)(locale[0] | 0x20);
        lang[1] = (char)(locale[1] | 0x20);
        lang[2] = '\0';
    }
    if (locale[l] != '\0' && strlen(locale + l + 1) == 2) {
        cc[0] = (char)(locale[l + 1] & ~0x20);
        cc[1] = (char)(locale[l + 2] & ~0x20);
        cc[2] = '\0';
    }
}

/* The zone a postcode's form suggests, with the language's help. */
static const char *postcode_zone(const char *postcode, const char *lang)
{
    char pc[16];
    size_t n = 0, digits = 0, letters = 0;

    for (const char *p = postcode; *p != '\0' && n + 1 < sizeof(pc); p++)
        if (*p != ' ')
            pc[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    pc[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (pc[i] >= '0' && pc[i] <= '9')
            digits++;
        else if (pc[i] >= 'A' && pc[i] <= 'Z')
            letters++;
    }
    if (n == 6 && digits == 4 && letters == 2 && pc[4] >= 'A')
        return norm_zone_country("NL");
    if (n == 6 && digits == 3 && letters == 3 && pc[0] >= 'A' && pc[1] <= '9')
        return norm_zone_region("CA", norm_ca_postcode_province(pc));
    if (n == 5 && digits == 5 && strcmp(lang, "de") == 0)
        return norm_zone_country("DE");
    if (n == 5 && digits == 5 && strcmp(lang, "fr") == 0)
        return norm_zone_country("FR");
    if (n == 4 && digits == 4 &&
        (strcmp(lang, "nl") == 0 || strcmp(lang, "fr") == 0))
        return norm_zone_country("BE");
    return NULL;
}

const char *nrules_zone(const char *locale, const char *postcode)
{
    static const struct {
        const char *lang, *cc;
    } langs[] = {{"nl", "NL"}, {"de", "DE"}, {"fr", "FR"}, {"es", "ES"},
                 {"it", "IT"}, {"pl", "PL"}, {"da", "DK"}, {"sv", "SE"}};
    char lang[4], cc[3];
    const char *z = NULL;

    split_locale(locale, lang, cc);
    if (cc[0] != '\0')
        z = norm_zone_country(cc);
    if (z == NULL && postcode != NULL)
        z = postcode_zone(postcode, lang);
    for (size_t i = 0; z == NULL && i < WM_ARRAY_LEN(langs); i++)
        if (strcmp(lang, langs[i].lang) == 0)
            z = norm_zone_country(langs[i].cc);
    return z != NULL ? z : "Europe/Amsterdam";
}

int64_t nrules_quiet_until(const char *quiet, const char *zone, int64_t now)
{
    int sh, sm, eh, em, off = 0, mod, start, end;
    struct wmtime_civil c;
    int64_t t;
    bool inside;

    if (quiet == NULL || quiet[0] == '\0' ||
        sscanf(quiet, "%d:%d-%d:%d", &sh, &sm, &eh, &em) != 4)
        return now;
    start = sh * 60 + sm;
    end = eh * 60 + em;
    if (start == end)
        return now;
    if (wmtime_zone_offset(zone, now / 1000, &off) != 0)
        off = 0;
    wmtime_to_civil(now / 1000 + off, &c);
    mod = c.hour * 60 + c.min;
    inside =
        start < end ? (mod >= start && mod < end) : (mod >= start || mod < end);
    if (!inside)
        return now;
    if (start > end && mod >= start) /* ends tomorrow */
        wmtime_to_civil(now / 1000 + off + 86400, &c);
    c.hour = eh;
    c.min = em;
    c.sec = 0;
    if (wmtime_local_to_utc(zone, &c, &t) != 0)
        return now;
    return t * 1000 > now ? t * 1000 : now;
}

/* --- retries --- */

int64_t nrules_retry_delay(const struct nrules_retry *p, long attempt,
                           int64_t created_ms, int64_t now_ms, uint64_t rnd)
{
    int64_t step = p->min_ms, delay;

    for (long i = 0; i < attempt && step < p->max_ms; i++)
        step *= 2;
    if (step > p->max_ms)
        step = p->max_ms;
    delay = step / 2 + (int64_t)(rnd % (uint64_t)(step / 2 + 1));
    if (now_ms + delay - created_ms > p->window_ms)
        return -1;
    return delay;
}
