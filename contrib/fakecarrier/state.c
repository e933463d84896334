/*
 * Clock, shipment table, counters and tokens (see state.h).
 */
#include "state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <uv.h>

#include "fc.h"

/* --- clock --------------------------------------------------------------- */

void fc_clock_init(struct fc_clock *c, double speed)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    c->wall0_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    c->hr0 = uv_hrtime();
    c->speed = speed;
}

uint64_t fc_clock_real_ms(const struct fc_clock *c)
{
    return (uv_hrtime() - c->hr0) / 1000000u;
}

int64_t fc_clock_now_ms(const struct fc_clock *c)
{
    double elapsed = (double)(uv_hrtime() - c->hr0) / 1e6; /* ms */

    return c->wall0_ms + (int64_t)(elapsed * c->speed);
}

int64_t fc_clock_now(const struct fc_clock *c)
{
    int64_t ms = fc_clock_now_ms(c);

    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

/* --- shipments ----------------------------------------------------------- */

void fc_state_init(struct fc_state *st, size_t max, uint64_t secret)
{
    memset(st, 0, sizeof(*st));
    st->max = max;
    st->n_buckets = 1024;
    while (st->n_buckets < max && st->n_buckets < (1u << 20))
        st->n_buckets *= 2;
    st->buckets = fc_xcalloc(st->n_buckets, sizeof(struct fc_ship *));
    st->secret = secret;
}

void fc_state_clear(struct fc_state *st)
{
    struct fc_ship *s = st->oldest, *next;

    for (; s != NULL; s = next) {
        next = s->newer;
        free(s);
    }
    free(st->buckets);
    memset(st, 0, sizeof(*st));
}

static size_t fc_bucket(const struct fc_state *st, enum fc_carrier_id carrier,
                        const char *number)
{
    uint64_t h = fc_hash(FC_HASH_INIT, &carrier, sizeof(carrier));

    h = fc_hash(h, number, strlen(number));
    return (size_t)(fc_mix(h) & (st->n_buckets - 1));
}

static void fc_state_unlink(struct fc_state *st, struct fc_ship *s)
{
    struct fc_ship **pp = &st->buckets[fc_bucket(st, s->carrier, s->number)];

    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    if (s->older != NULL)
        s->older->newer = s->newer;
    else
        st->oldest = s->newer;
    if (s->newer != NULL)
        s->newer->older = s->older;
    else
        st->newest = s->older;
    st->n--;
}

struct fc_ship *fc_state_get(struct fc_state *st, enum fc_carrier_id carrier,
                             const char *number, bool create)
{
    size_t b = fc_bucket(st, carrier, number);
    struct fc_ship *s;

    for (s = st->buckets[b]; s != NULL; s = s->hnext)
        if (s->carrier == carrier && strcmp(s->number, number) == 0)
            return s;
    if (!create || strlen(number) > FC_NUMBER_MAX || number[0] == '\0')
        return NULL;
    if (st->n >= st->max && st->oldest != NULL) {
        struct fc_ship *old = st->oldest;

        fc_debug("event=forget carrier=%s number=%s",
                 fc_carriers[old->carrier]->name, old->number);
        fc_state_unlink(st, old);
        free(old);
    }
    s = fc_xcalloc(1, sizeof(*s));
    s->carrier = carrier;
    s->scenario = -1;
    snprintf(s->number, sizeof(s->number), "%s", number);
    s->hnext = st->buckets[b];
    st->buckets[b] = s;
    s->older = st->newest;
    if (st->newest != NULL)
        st->newest->newer = s;
    else
        st->oldest = s;
    st->newest = s;
    st->n++;
    return s;
}

enum fc_scenario fc_ship_scenario(const struct fc_ship *s)
{
    if (s->scenario >= 0)
        return (enum fc_scenario)s->scenario;
    return fc_scenario_default(fc_carriers[s->carrier], s->number);
}

void fc_ship_timeline(struct fc_ship *s, int64_t now, struct fc_timeline *tl)
{
    if (!s->started) {
        s->started = true;
        s->start = now;
    }
    fc_timeline_build(tl, fc_carriers[s->carrier], s->number,
                      fc_ship_scenario(s), s->start);
}

json_t *fc_state_counts(const struct fc_state *st)
{
    json_t *carriers = json_object(), *listed = json_object(),
           *numbers[FC_NCARRIERS];

    for (size_t i = 0; i < FC_NCARRIERS; i++)
        numbers[i] = json_object();
    for (const struct fc_ship *s = st->oldest; s != NULL; s = s->newer)
        if (s->requests > 0)
            json_object_set_new(numbers[s->carrier], s->number,
                                json_integer((json_int_t)s->requests));
    for (const struct fc_ship *s = st->oldest; s != NULL; s = s->newer)
        if (s->feed_listed > 0)
            json_object_set_new(listed, s->number,
                                json_integer((json_int_t)s->feed_listed));
    for (size_t i = 0; i < FC_NCARRIERS; i++)
        json_object_set_new(carriers, fc_carriers[i]->name,
                            json_pack("{s:I, s:o}", "requests",
                                      (json_int_t)st->requests[i], "numbers",
                                      numbers[i]));
    return json_pack("{s:I, s:o, s:{s:I, s:o}}", "total", (json_int_t)st->total,
                     "carriers", carriers, "feed", "postnl",
                     (json_int_t)st->feed_requests, "listed", listed);
}

void fc_state_reset_counts(struct fc_state *st)
{
    st->total = 0;
    st->feed_requests = 0;
    memset(st->requests, 0, sizeof(st->requests));
    for (struct fc_ship *s = st->oldest; s != NULL; s = s->newer) {
        s->requests = 0;
        s->feed_listed = 0;
    }
}

/* --- tokens -------------------------------------------------------------- */

static uint64_t fc_token_mac(const struct fc_state *st, const char *payload,
                             size_t len)
{
    uint64_t h = fc_hash(FC_HASH_INIT, &st->secret, sizeof(st->secret));

    h = fc_mix(fc_hash(h, payload, len));
    return fc_mix(h ^ st->secret);
}

void fc_token_issue(struct fc_state *st, enum fc_carrier_id carrier,
                    uint64_t now_ms, long ttl, char buf[FC_TOKEN_BUFSZ])
{
    uint64_t expires = now_ms + (uint64_t)(ttl > 0 ? ttl : 0) * 1000u;
    int n;

    n = snprintf(buf, FC_TOKEN_BUFSZ, "fc1.%s.%" PRIx64 ".%" PRIx64,
                 fc_carriers[carrier]->name, expires, ++st->token_serial);
    snprintf(buf + n, FC_TOKEN_BUFSZ - (size_t)n, ".%016" PRIx64,
             fc_token_mac(st, buf, (size_t)n));
}

enum fc_token_check fc_token_check(const struct fc_state *st,
                                   enum fc_carrier_id carrier,
                                   const char *token, uint64_t now_ms)
{
    const char *name = fc_carriers[carrier]->name, *mac, *p;
    size_t nlen = strlen(name);
    uint64_t expires;
    char want[20], *end;

    if (token == NULL || strncmp(token, "fc1.", 4) != 0 ||
        strncmp(token + 4, name, nlen) != 0 || token[4 + nlen] != '.')
        return FC_TOKEN_BAD;
    if ((mac = strrchr(token, '.')) == NULL || strlen(mac + 1) != 16)
        return FC_TOKEN_BAD;
    snprintf(want, sizeof(want), "%016" PRIx64,
             fc_token_mac(st, token, (size_t)(mac - token)));
    if (strcmp(want, mac + 1) != 0)
        return FC_TOKEN_BAD;
    p = token + 4 + nlen + 1;
    expires = strtoull(p, &end, 16);
    if (end == p || *end != '.')
        return FC_TOKEN_BAD;
    return now_ms < expires ? FC_TOKEN_OK : FC_TOKEN_EXPIRED;
}
