/*
 * The poller's policy (see policy.h): pure arithmetic on explicit times
 * and on the caller's state. The only outside look-up is a zone's UTC
 * offset for quiet nights.
 */
#include "wismo/policy.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "wismo/wm.h"

#include "wismo/wmtime.h"

#define DAY_MS (86400 * 1000LL)

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Whether local minute m of the day falls in the night [s, e). */
static bool in_night(int m, int s, int e)
{
    return s < e ? (m >= s && m < e) : (m >= s || m < e);
}

/* due moved out of quiet nights in zone (NULL or unknown: none): a due
 * time at night waits the night interval from now, but no later than the
 * morning. */
static int64_t night_shift(const struct cfg *cfg, int64_t now, int64_t due,
                           const char *zone)
{
    int off;

    if (zone == NULL || cfg->night_start_min < 0 ||
        cfg->night_start_min == cfg->night_end_min ||
        wmtime_zone_offset(zone, due / 1000, &off) != 0)
        return due;

    int64_t local = due / 1000 + off;
    int minute = (int)(((local % 86400) + 86400) % 86400 / 60);
    int s = cfg->night_start_min, e = cfg->night_end_min;

    if (in_night(minute, s, e)) {
        int left = (e - minute + 1440) % 1440;
        int64_t morning = due + (int64_t)left * 60000;
        int64_t slow = now + cfg->night_interval_ms;

        due = slow > due ? (slow < morning ? slow : morning) : due;
    }
    return due;
}

int64_t policy_next_due(const struct cfg *cfg, enum model_status st,
                        int64_t now, const char *zone, double rnd)
{
    int64_t iv = cfg->interval_ms[st];

    if (iv <= 0)
        iv = cfg->interval_ms[MODEL_PENDING] > 0
                 ? cfg->interval_ms[MODEL_PENDING]
                 : 3600 * 1000;
    iv += (int64_t)((double)iv * cfg->jitter_pct / 100.0 * (2 * rnd - 1));
    return night_shift(cfg, now, now + (iv > 0 ? iv : 1), zone);
}

int64_t policy_push_silence(enum model_status st)
{
    static const int64_t h = 3600 * 1000LL;

    switch (st) {
    case MODEL_PENDING:
        return 72 * h; /* a label may wait days for its first scan */
    case MODEL_INFO_RECEIVED:
        return 48 * h;
    case MODEL_IN_TRANSIT:
        return 30 * h; /* hubs scan at least daily; a night and a day */
    case MODEL_OUT_FOR_DELIVERY:
        return 14 * h; /* delivered, or not, the same day */
    case MODEL_FAILED_ATTEMPT:
        return 30 * h; /* the next attempt, or the pickup point */
    case MODEL_AVAILABLE_FOR_PICKUP:
        return 7 * 24 * h; /* parcel shops hold a week or so */
    case MODEL_EXCEPTION:
        return 48 * h;
    default:
        return 72 * h; /* returning; terminal ones are not polled anyway */
    }
}

int64_t policy_push_due(const struct cfg *cfg, const struct cfg_carrier *cc,
                        enum model_status st, const struct policy_push *pp,
                        int64_t now, double rnd)
{
    int64_t from, silent, slow, renew;

    if (pp == NULL || !pp->live || cc == NULL || !cc->push ||
        cc->push_safety_poll_ms <= 0 || (pp->until > 0 && pp->until <= now))
        return policy_next_due(cfg, st, now, NULL, rnd);
    from = pp->last_push > 0 ? pp->last_push : pp->since > 0 ? pp->since : now;
    silent = from + policy_push_silence(st);
    if (silent <= now) /* silent for longer than normal: poll as usual */
        return policy_next_due(cfg, st, now, NULL, rnd);
    slow = now + cc->push_safety_poll_ms;
    /* A subscription that lapses: poll when it is due for renewal. */
    renew = policy_push_renew_at(pp);
    if (renew > now && renew < slow)
        slow = renew;
    return slow < silent ? slow : silent;
}

int64_t policy_feed_due(const struct cfg *cfg, const struct cfg_carrier *cc,
                        enum model_status st, bool feed_ok, int64_t now,
                        double rnd)
{
    int64_t slow, silent;

    if (!feed_ok || cc == NULL || cc->push_safety_poll_ms <= 0 ||
        model_status_is_terminal(st))
        return policy_next_due(cfg, st, now, NULL, rnd);
    slow = now + cc->push_safety_poll_ms;
    silent = now + policy_push_silence(st);
    return slow < silent ? slow : silent;
}

/* --- polling where news is likely --- */

/* The bucket of gap ms: floor(log(gap / min) / log(ratio)), clamped. */
static size_t gap_bucket(int64_t gap_ms)
{
    double b;

    if (gap_ms <= POLICY_GAP_MIN_MS)
        return 0;
    b = log((double)gap_ms / POLICY_GAP_MIN_MS) / log(POLICY_GAP_RATIO);
    return b >= POLICY_GAP_BUCKETS - 1 ? POLICY_GAP_BUCKETS - 1 : (size_t)b;
}

/* The upper edge of bucket i (ms). */
static int64_t gap_edge(size_t i)
{
    return (int64_t)ceil(POLICY_GAP_MIN_MS *
                         pow(POLICY_GAP_RATIO, (double)(i + 1)));
}

void policy_gaps_add(struct policy_gaps *g, int64_t gap_ms)
{
    if (gap_ms <= 0)
        return;
    g->n[gap_bucket(gap_ms)]++;
    g->total++;
}

int64_t policy_gaps_quantile(const struct policy_gaps *g, double q)
{
    uint64_t want, seen = 0;

    if (g == NULL || g->total < POLICY_GAP_MIN_SAMPLES || !(q > 0) || q > 1)
        return -1;
    want = (uint64_t)ceil(q * (double)g->total);
    for (size_t i = 0; i < POLICY_GAP_BUCKETS; i++) {
        seen += g->n[i];
        if (seen >= want)
            return gap_edge(i);
    }
    return gap_edge(POLICY_GAP_BUCKETS - 1);
}

/* The status' interval (pending's for one without; an hour at least). */
static int64_t base_interval(const struct cfg *cfg, enum model_status st)
{
    int64_t iv = cfg->interval_ms[st];

    if (iv <= 0)
        iv = cfg->interval_ms[MODEL_PENDING];
    return iv > 0 ? iv : 3600 * 1000;
}

int64_t policy_quiet_interval(const struct cfg *cfg, enum model_status st,
                              int64_t silence_ms, double rnd)
{
    int64_t iv = base_interval(cfg, st);
    int64_t grown = silence_ms > 0 ? silence_ms / 2 : 0;

    if (grown < iv)
        grown = iv;
    if (grown > iv * POLICY_QUIET_CAP)
        grown = iv * POLICY_QUIET_CAP;
    grown += (int64_t)((double)grown * cfg->jitter_pct / 100.0 * (2 * rnd - 1));
    return grown > 0 ? grown : 1;
}

struct policy_gaps *policy_history_gaps(struct policy_history *h,
                                        enum model_status st, const char *code,
                                        bool add)
{
    struct policy_history_slot *free_slot = NULL, *shared = NULL;
    char key[POLICY_CODE_MAX];

    snprintf(key, sizeof(key), "%s", code != NULL ? code : "");
    for (size_t i = 0; i < POLICY_HISTORY_SLOTS; i++) {
        struct policy_history_slot *s = &h->slot[i];

        if (!s->used) {
            if (free_slot == NULL)
                free_slot = s;
            continue;
        }
        if (s->st != st)
            continue;
        if (strcmp(s->code, key) == 0)
            return &s->g;
        if (s->code[0] == '\0')
            shared = s;
    }
    if (!add)
        return shared != NULL ? &shared->g : NULL;
    if (free_slot == NULL)
        return shared != NULL
                   ? &shared->g
                   : NULL; /* full: the status' shared slot, if it has one */
    free_slot->used = true;
    free_slot->st = st;
    memcpy(free_slot->code, key, sizeof(key));
    return &free_slot->g;
}

int64_t policy_news_at(int64_t prev_poll, int64_t now)
{
    if (prev_poll <= 0 || prev_poll >= now)
        return now;
    return prev_poll + (now - prev_poll) / 2;
}

/* The history's next likely time of a scan after last_event: last_event
 * plus the first of its quantiles not yet passed at now; -1 with too
 * little history or every quantile passed, and then *silence says how long
 * ago the history expected news at the latest. */
static int64_t history_due(const struct policy_gaps *g, int64_t now,
                           int64_t last_event, int64_t *silence)
{
    /* A poll where the next scan had come for some of the parcels, then
     * for more and more of them, and on through the tail: each catches a
     * good part of what is left, and a cluster of gaps that is not the
     * largest gets a poll of its own. (bench_cost.sh weighed sets of
     * these: fewer polls leave the smaller clusters late.) */
    static const double qs[] = {0.1, 0.35, 0.65, 0.9, 0.97};

    for (size_t i = 0; i < WM_ARRAY_LEN(qs); i++) {
        int64_t q = policy_gaps_quantile(g, qs[i]);

        if (q < 0)
            return -1;
        if (last_event + q > now)
            return last_event + q;
        *silence = now - (last_event + q);
    }
    return -1;
}

int64_t policy_likely_due(const struct cfg *cfg, enum model_status st,
                          const struct policy_gaps *g, int64_t now,
                          int64_t last_event, int64_t eta, const char *zone,
                          double rnd)
{
    int64_t iv = base_interval(cfg, st), silence = 0, due = -1, soonest;

    if (model_status_is_terminal(st))
        return policy_next_due(cfg, st, now, zone, rnd);
    soonest = now + iv / 12;
    if (last_event > 0 && last_event <= now) {
        silence = now - last_event;
        due = history_due(g, now, last_event, &silence);
    }
    if (due < 0) /* no history, or overdue: quiet growth */
        due = now + policy_quiet_interval(cfg, st, silence, rnd);
    else if (due > now + iv * POLICY_HISTORY_CAP)
        due = now + iv * POLICY_HISTORY_CAP;
    if (st == MODEL_OUT_FOR_DELIVERY && eta > now && eta < due)
        due = eta;
    return night_shift(cfg, now, due > soonest ? due : soonest, zone);
}

int64_t policy_push_renew_at(const struct policy_push *pp)
{
    int64_t since;

    if (pp->until <= 0)
        return 0;
    since = pp->since > 0 && pp->since < pp->until ? pp->since : pp->until;
    return pp->until - (pp->until - since) / 4;
}

int64_t policy_error_due(const struct cfg *cfg, const struct policy_carrier *pc,
                         enum model_error err, enum model_status st,
                         int64_t now, double rnd)
{
    switch (err) {
    case MODEL_ERR_NOT_FOUND:
        return policy_next_due(cfg, st, now, NULL, rnd);
    case MODEL_ERR_RATE_LIMITED:
        return pc->blocked_until > now ? pc->blocked_until
                                       : now + cfg->retry_min_ms;
    case MODEL_ERR_INVALID:
        return now + cfg->retry_max_ms;
    default:
        return now + (pc->backoff_ms ? pc->backoff_ms : cfg->retry_min_ms);
    }
}

void policy_carrier_init(struct policy_carrier *pc,
                         const struct cfg_carrier *cc, int64_t now)
{
    pc->bucket = cc->rate < 1 ? 1 : cc->rate;
    pc->bucket_at = now;
}

int64_t policy_backoff_step(struct policy_carrier *pc, const struct cfg *cfg)
{
    int64_t b = pc->backoff_ms ? pc->backoff_ms * 2 : cfg->retry_min_ms;

    if (b > cfg->retry_max_ms)
        b = cfg->retry_max_ms;
    if (b < 1000)
        b = 1000;
    pc->backoff_ms = b;
    return b;
}

bool policy_circuit_open(const struct policy_carrier *pc,
                         const struct cfg_carrier *cc)
{
    return pc->failures >= cc->breaker_failures;
}

bool policy_failed(struct policy_carrier *pc, const struct cfg *cfg,
                   const struct cfg_carrier *cc, bool auth, int64_t now)
{
    int64_t b = policy_backoff_step(pc, cfg);

    pc->failures++;
    if (auth)
        pc->auth_failed = true;
    if (policy_circuit_open(pc, cc)) {
        pc->blocked_until = max64(pc->blocked_until, now + cc->breaker_open_ms);
        return true;
    }
    /* A short pause between retries; the shipments wait the full b. */
    pc->blocked_until = max64(pc->blocked_until, now + b / 8);
    return false;
}

bool policy_succeeded(struct policy_carrier *pc, const struct cfg_carrier *cc)
{
    bool was_open = policy_circuit_open(pc, cc);

    pc->failures = 0;
    pc->backoff_ms = 0;
    pc->auth_failed = false;
    return was_open;
}

int64_t policy_rate_limited(struct policy_carrier *pc, const struct cfg *cfg,
                            int retry_after, int64_t now)
{
    int64_t wait = retry_after > 0 ? (int64_t)retry_after * 1000
                                   : policy_backoff_step(pc, cfg);

    pc->blocked_until = max64(pc->blocked_until, now + wait);
    return wait;
}

void policy_reloaded(struct policy_carrier *pc, int64_t now)
{
    policy_token_drop(pc);
    if (pc->auth_failed && pc->blocked_until > now)
        pc->blocked_until = now;
}

enum policy_gate policy_gate(const struct policy_carrier *pc,
                             const struct cfg_carrier *cc, int64_t now)
{
    if (pc->blocked_until > now)
        return pc->blocked_until - now > POLICY_RELEASE_AFTER_MS
                   ? POLICY_RELEASE
                   : POLICY_HOLD;
    if (policy_circuit_open(pc, cc) && pc->probing)
        return POLICY_PROBING;
    return POLICY_GO;
}

bool policy_sent(struct policy_carrier *pc, const struct cfg_carrier *cc)
{
    if (!policy_circuit_open(pc, cc))
        return false;
    pc->probing = true;
    return true;
}

void policy_probe_done(struct policy_carrier *pc)
{
    pc->probing = false;
}

bool policy_bucket_take(struct policy_carrier *pc, const struct cfg_carrier *cc,
                        int64_t now)
{
    double rate = cc->rate;
    int64_t day = now / DAY_MS;

    if (day != pc->day) {
        pc->day = day;
        pc->day_count = 0;
    }
    if (cc->per_day > 0 && pc->day_count >= cc->per_day) {
        pc->blocked_until = (day + 1) * DAY_MS; /* the quota resets */
        return false;
    }
    if (rate > 0) {
        double burst = rate < 1 ? 1 : rate;

        if (now > pc->bucket_at)
            pc->bucket += (double)(now - pc->bucket_at) * rate / 1000.0;
        if (pc->bucket > burst)
            pc->bucket = burst;
        pc->bucket_at = now;
        if (pc->bucket < 1)
            return false;
        pc->bucket -= 1;
    }
    pc->day_count++;
    return true;
}

int64_t policy_bucket_ready_at(const struct policy_carrier *pc,
                               const struct cfg_carrier *cc, int64_t now)
{
    double have, need_ms;

    if (cc->rate <= 0)
        return now;
    have = pc->bucket;
    if (now > pc->bucket_at)
        have += (double)(now - pc->bucket_at) * cc->rate / 1000.0;
    if (have >= 1)
        return now;
    /* Round up: waking a millisecond early finds the bucket still short. */
    need_ms = (1 - have) * 1000.0 / cc->rate;
    return now + (int64_t)need_ms + 1;
}

enum policy_token policy_token_state(const struct policy_carrier *pc,
                                     int64_t now)
{
    if (pc->token_expiry == 0 || now >= pc->token_expiry)
        return POLICY_TOKEN_NONE;
    if (now >= pc->token_expiry - pc->token_margin)
        return POLICY_TOKEN_REFRESH;
    return POLICY_TOKEN_FRESH;
}

void policy_token_got(struct policy_carrier *pc, long expires_in, int64_t now)
{
    int64_t life = expires_in > 0 ? (int64_t)expires_in * 1000
                                  : POLICY_TOKEN_DEFAULT_LIFE_MS;

    pc->token_expiry = now + life;
    /* A minute early, or a fifth of a short lifetime early. */
    pc->token_margin =
        life / 5 < POLICY_TOKEN_MARGIN_MS ? life / 5 : POLICY_TOKEN_MARGIN_MS;
}

void policy_token_drop(struct policy_carrier *pc)
{
    pc->token_expiry = 0;
}

int64_t policy_token_refresh_at(const struct policy_carrier *pc)
{
    return pc->token_expiry == 0 ? 0 : pc->token_expiry - pc->token_margin;
}

int64_t policy_carrier_wake(const struct policy_carrier *pc,
                            const struct cfg_carrier *cc, bool waiting_event,
                            int64_t now)
{
    if (pc->blocked_until > now)
        return pc->blocked_until;
    if (waiting_event || (policy_circuit_open(pc, cc) && pc->probing))
        return INT64_MAX;
    return policy_bucket_ready_at(pc, cc, now);
}
