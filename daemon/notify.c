/*
 * Proactive notifications (see wismo/notify.h): rules, episodes in Redis,
 * the outbox producer (one Lua script per decision) and its consumer
 * (read, render, send through a channel, XACK + XDEL, retry or
 * dead-letter in one script).
 */
#include "wismo/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "wismo/carrier.h"
#include "wismo/channels.h"
#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/norm.h"
#include "wismo/ntmpl.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

static const char *const reason_names[NOTIFY_REASON_COUNT] = {
    "exception",        "failed_attempt",
    "returning",        "available_for_pickup",
    "eta_late",         "eta_slip",
    "promise_missed",   "stalled",
    "out_for_delivery", "delivered"};
static const char *const channel_names[NOTIFY_CHANNELS] = {"email", "sms",
                                                           "webhook"};
static const char *const outcome_names[NOTIFY_OUTCOMES] = {
    "decided", "deferred", "sent", "retry", "dead", "suppressed"};

const char *notify_reason_name(enum notify_reason r)
{
    return (unsigned)r < NOTIFY_REASON_COUNT ? reason_names[r] : "unknown";
}
const char *notify_channel_name(enum notify_channel c)
{
    return (unsigned)c < NOTIFY_CHANNELS ? channel_names[c] : "unknown";
}
const char *notify_outcome_name(enum notify_outcome o)
{
    return (unsigned)o < NOTIFY_OUTCOMES ? outcome_names[o] : "unknown";
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- rules --- */

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v != NULL ? v : "";
}

static int64_t iso_ms(const char *s, const char *zone)
{
    int64_t t;

    if (s == NULL || s[0] == '\0' ||
        wmtime_parse_iso(s, zone != NULL ? zone : "UTC", &t) != 0)
        return -1;
    return t * 1000;
}

int64_t notify_business_ms(int64_t a, int64_t b, const char *zone)
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

void notify_eval(const json_t *ship, const struct notify_rules *r,
                 const char *zone, int64_t now, struct notify_eval_out *out)
{
    const char *st = jstr(ship, "status");
    bool terminal = strcmp(st, "delivered") == 0 ||
                    strcmp(st, "returned") == 0 || strcmp(st, "expired") == 0;
    int64_t next = -1;

    memset(out, 0, sizeof(*out));
    out->eta_ms = iso_ms(jstr(ship, "estimated_delivery"), "UTC");
    out->promised_ms = iso_ms(jstr(ship, "promised_delivery"),
                              zone != NULL ? zone : "Europe/Amsterdam");
    if (strcmp(st, "exception") == 0)
        out->active |= 1u << NOTIFY_EXCEPTION;
    if (strcmp(st, "failed_attempt") == 0)
        out->active |= 1u << NOTIFY_FAILED_ATTEMPT;
    if (strcmp(st, "returning") == 0)
        out->active |= 1u << NOTIFY_RETURNING;
    if (strcmp(st, "available_for_pickup") == 0)
        out->active |= 1u << NOTIFY_AVAILABLE_FOR_PICKUP;
    if (strcmp(st, "out_for_delivery") == 0)
        out->active |= r->positive & (1u << NOTIFY_OUT_FOR_DELIVERY);
    if (strcmp(st, "delivered") == 0)
        out->active |= r->positive & (1u << NOTIFY_DELIVERED);
    if (!terminal) {
        if (out->eta_ms >= 0 && out->promised_ms >= 0 &&
            out->eta_ms > out->promised_ms)
            out->active |= 1u << NOTIFY_ETA_LATE;
        if (out->promised_ms >= 0) {
            if (now > out->promised_ms)
                out->active |= 1u << NOTIFY_PROMISE_MISSED;
            else
                next = out->promised_ms + 1000;
        }
        if (strcmp(st, "in_transit") == 0 && r->stall_after_ms > 0) {
            int64_t last = iso_ms(jstr(ship, "last_event_at"), "UTC");
            int64_t el;

            if (last < 0)
                last = iso_ms(jstr(ship, "updated_at"), "UTC");
            if (last >= 0) {
                el = r->business_days ? notify_business_ms(last, now, zone)
                                      : now - last;
                if (el >= r->stall_after_ms) {
                    out->active |= 1u << NOTIFY_STALLED;
                } else {
                    int64_t t = now + (r->stall_after_ms - el) + 1000;
                    if (next < 0 || t < next)
                        next = t;
                }
            }
        }
    } else {
        out->eta_ms = -1; /* no slip once it is over */
    }
    out->next_check_ms = next;
}

const char *notify_zone(const char *locale, const char *postcode)
{
    static const struct {
        const char *lang, *cc;
    } langs[] = {{"nl", "NL"}, {"de", "DE"}, {"fr", "FR"}, {"es", "ES"},
                 {"it", "IT"}, {"pl", "PL"}, {"da", "DK"}, {"sv", "SE"}};
    char lang[4] = "", cc[3] = "", pc[16];
    const char *z = NULL;
    size_t n = 0, digits = 0, letters = 0;

    if (locale != NULL) {
        size_t l = strcspn(locale, "-_");
        if (l == 2) {
            lang[0] = (char)(locale[0] | 0x20);
            lang[1] = (char)(locale[1] | 0x20);
            lang[2] = '\0';
        }
        if (locale[l] != '\0' && strlen(locale + l + 1) == 2) {
            cc[0] = (char)(locale[l + 1] & ~0x20);
            cc[1] = (char)(locale[l + 2] & ~0x20);
            cc[2] = '\0';
            z = norm_zone_country(cc);
        }
    }
    if (z != NULL)
        return z;
    if (postcode != NULL) {
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
            z = norm_zone_country("NL");
        else if (n == 6 && digits == 3 && letters == 3 && pc[0] >= 'A' &&
                 pc[1] <= '9')
            z = norm_zone_region("CA", norm_ca_postcode_province(pc));
        else if (n == 5 && digits == 5 && strcmp(lang, "de") == 0)
            z = norm_zone_country("DE");
        else if (n == 5 && digits == 5 && strcmp(lang, "fr") == 0)
            z = norm_zone_country("FR");
        else if (n == 4 && digits == 4 &&
                 (strcmp(lang, "nl") == 0 || strcmp(lang, "fr") == 0))
            z = norm_zone_country("BE");
    }
    for (size_t i = 0; z == NULL && i < WM_ARRAY_LEN(langs); i++)
        if (strcmp(lang, langs[i].lang) == 0)
            z = norm_zone_country(langs[i].cc);
    return z != NULL ? z : "Europe/Amsterdam";
}

int64_t notify_quiet_until(const char *quiet, const char *zone, int64_t now)
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

/* --- the notifier's state --- */

struct ncarrier {
    char *name;
    int64_t stall, slip; /* -1: global */
};

struct nconf {
    int64_t stall, slip, tick;
    char *quiet;
    int cap;
    unsigned positive;
    char *smtp_url, *smtp_from, *smtp_user, *smtp_pass;
    char *sms_provider, *sms_base, *sms_account, *sms_token, *sms_from;
    char *webhook_url, *webhook_secret;
    char *shop;
    struct ncarrier *car;
    size_t ncar;
};

struct nsend;

struct notify {
    uv_loop_t *loop;
    struct store *st;
    struct rconn *rc;  /* shared, borrowed */
    struct rconn *brc; /* blocking reader, owned, or NULL */
    struct fetch_engine *fe;
    bool own_fe;
    struct notify_opts o;
    char *redis_url, *templates_dir, *consumer, *shop_opt;
    char *prefix;
    struct nconf c;
    struct ntmpl *tm;
    struct rconn_script *s_decide, *s_done, *s_move, *s_replay;
    uv_timer_t tick, poll, claim, move, deadline;
    int handles; /* open handles */
    bool started, stopping, reading, groups_ok, groups_busy, hard_stop;
    bool closing;
    int redis_pending;
    int inflight, smtp_jobs;
    struct nsend *sends;
    int webhook_fails;
    uint64_t rnd; /* xorshift state for jitter */
    bool webhook_disabled;
    struct notify_stats stats;
    notify_stopped_cb *stop_cb;
    void *stop_arg;
    char k_changes[128], k_outbox[128], k_later[128], k_dead[128], k_watch[128],
        k_optout[128];
};

static void nconf_clear(struct nconf *c)
{
    free(c->quiet);
    free(c->smtp_url);
    free(c->smtp_from);
    free(c->smtp_user);
    free(c->smtp_pass);
    free(c->sms_provider);
    free(c->sms_base);
    free(c->sms_account);
    free(c->sms_token);
    free(c->sms_from);
    free(c->webhook_url);
    free(c->webhook_secret);
    free(c->shop);
    for (size_t i = 0; i < c->ncar; i++)
        free(c->car[i].name);
    free(c->car);
    memset(c, 0, sizeof(*c));
}

static char *dup_set(const char *s)
{
    return s != NULL && s[0] != '\0' ? wm_xstrdup(s) : NULL;
}

static void nconf_load(struct nconf *c, const struct cfg *cfg, const char *shop)
{
    nconf_clear(c);
    c->stall = cfg->stall_after_ms;
    c->slip = cfg->eta_slip_ms;
    c->tick = cfg->notify_tick_ms > 0 ? cfg->notify_tick_ms : 60000;
    c->quiet = dup_set(cfg->quiet_hours);
    c->cap = cfg->daily_cap;
    for (int r = 0; r < NOTIFY_REASON_COUNT; r++)
        if (cfg->positive != NULL && strstr(cfg->positive, reason_names[r]))
            c->positive |= 1u << r;
    c->positive &= (1u << NOTIFY_OUT_FOR_DELIVERY) | (1u << NOTIFY_DELIVERED);
    c->smtp_url = dup_set(cfg->smtp_url);
    c->smtp_from = dup_set(cfg->smtp_from);
    c->smtp_user = dup_set(cfg->smtp_username);
    c->smtp_pass = dup_set(cfg->smtp_password);
    c->sms_provider = dup_set(cfg->sms_provider);
    c->sms_base = dup_set(cfg->sms_base_url);
    c->sms_account = dup_set(cfg->sms_account);
    c->sms_token = dup_set(cfg->sms_token);
    c->sms_from = dup_set(cfg->sms_from);
    c->webhook_url = dup_set(cfg->webhook_url);
    c->webhook_secret = dup_set(cfg->webhook_secret);
    if (shop != NULL)
        c->shop = wm_xstrdup(shop);
    else if (c->smtp_from != NULL)
        c->shop = chan_mail_name(c->smtp_from);
    if (c->shop == NULL)
        c->shop = wm_xstrdup("");
    c->car = wm_xcalloc(cfg->n_carriers + 1, sizeof(*c->car));
    for (size_t i = 0; i < cfg->n_carriers; i++) {
        c->car[i].name = wm_xstrdup(cfg->carriers[i].name);
        c->car[i].stall = cfg->carriers[i].stall_after_ms;
        c->car[i].slip = cfg->carriers[i].eta_slip_ms;
    }
    c->ncar = cfg->n_carriers;
}

static void rules_for(const struct notify *n, const char *carrier,
                      struct notify_rules *r)
{
    r->stall_after_ms = n->c.stall;
    r->eta_slip_ms = n->c.slip;
    r->positive = n->c.positive;
    r->business_days = n->o.business_days;
    for (size_t i = 0; i < n->c.ncar; i++)
        if (strcmp(n->c.car[i].name, carrier) == 0) {
            if (n->c.car[i].stall >= 0)
                r->stall_after_ms = n->c.car[i].stall;
            if (n->c.car[i].slip >= 0)
                r->eta_slip_ms = n->c.car[i].slip;
        }
}

/* --- Lua --- */

/* KEYS: 1 s:{id} 2 s:{id}:nst 3 s:{id}:notif 4 outbox 5 outbox:later
 *       6 notify:watch 7 optout
 * ARGV: 1 id 2 now_ms 3 now_iso 4 yyyymmdd 5 daily_cap 6 active reasons
 *       (comma list) 7 eta_ms|"" 8 slip_ms 9 next_check_ms|-1 10 ctx JSON
 *       11 prefix, then (channel, recipient, not_before_ms | "x:<why>")
 *       triples. Returns "reason|channel|outcome" strings. */
static const char lua_decide[] = STORE_LUA_KEYS
    "local id, now = ARGV[1], tonumber(ARGV[2])\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
    "  redis.call('ZREM', KEYS[6], id)\n"
    "  return {}\n"
    "end\n"
    "local active = {}\n"
    "for r in string.gmatch(ARGV[6], '[^,]+') do active[r] = true end\n"
    "local eta, slip = tonumber(ARGV[7]), tonumber(ARGV[8])\n"
    "if eta and slip > 0 then\n"
    "  local base = tonumber(redis.call('HGET', KEYS[2], 'eta_base'))\n"
    "  if not base then redis.call('HSET', KEYS[2], 'eta_base', eta)\n"
    "  elseif eta - base >= slip then active['eta_slip'] = true end\n"
    "end\n"
    "local reasons = {'exception', 'failed_attempt', 'returning',\n"
    "  'available_for_pickup', 'eta_late', 'eta_slip', 'promise_missed',\n"
    "  'stalled', 'out_for_delivery', 'delivered'}\n"
    "local out = {}\n"
    "for _, r in ipairs(reasons) do\n"
    "  local on = redis.call('HGET', KEYS[2], 'on:' .. r) == '1'\n"
    "  if active[r] and not on then\n"
    "    local ep = redis.call('HINCRBY', KEYS[2], 'ep:' .. r, 1)\n"
    "    redis.call('HSET', KEYS[2], 'on:' .. r, '1', 'since:' .. r,\n"
    "      ARGV[3])\n"
    "    if r == 'eta_slip' then redis.call('HSET', KEYS[2], 'eta_base',\n"
    "      eta) end\n"
    "    for i = 12, #ARGV - 2, 3 do\n"
    "      local ch, to, nb = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"
    "      local key = id .. ':' .. r .. ':' .. ep .. ':' .. ch\n"
    "      local rec = {at = ARGV[3], reason = r, episode = ep,\n"
    "        channel = ch, key = key}\n"
    "      if string.sub(nb, 1, 2) == 'x:' then\n"
    "        rec.outcome = 'suppressed'; rec.why = string.sub(nb, 3)\n"
    "      elseif ch ~= 'webhook' and redis.call('SISMEMBER',\n"
    "          KEYS[7], ch .. ':' .. to) == 1 then\n"
    "        rec.outcome = 'suppressed'; rec.why = 'opt_out'\n"
    "      else\n"
    "        local capped = false\n"
    "        if ch ~= 'webhook' and tonumber(ARGV[5]) > 0 then\n"
    "          local ck = k_cap(ARGV[11], ch, to, ARGV[4])\n"
    "          local c = redis.call('INCR', ck)\n"
    "          redis.call('EXPIRE', ck, 172800)\n"
    "          capped = c > tonumber(ARGV[5])\n"
    "        end\n"
    "        if capped then\n"
    "          rec.outcome = 'suppressed'; rec.why = 'daily_cap'\n"
    "        else\n"
    "          local m = cjson.encode({key = key, id = id, reason = r,\n"
    "            episode = ep, channel = ch, to = to, attempt = 0,\n"
    "            created_at = ARGV[3], created_ms = now, ctx = ARGV[10]})\n"
    "          if tonumber(nb) > now then\n"
    "            redis.call('ZADD', KEYS[5], tonumber(nb), m)\n"
    "            rec.outcome = 'deferred'; rec['until'] = tonumber(nb)\n"
    "          else\n"
    "            redis.call('XADD', KEYS[4], '*', 'm', m)\n"
    "            rec.outcome = 'decided'\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "      redis.call('LPUSH', KEYS[3], cjson.encode(rec))\n"
    "      out[#out + 1] = r .. '|' .. ch .. '|' .. rec.outcome\n"
    "    end\n"
    "    out[#out + 1] = r .. '|-|episode'\n"
    "  elseif not active[r] and on then\n"
    "    redis.call('HSET', KEYS[2], 'on:' .. r, '0')\n"
    "  end\n"
    "end\n"
    "redis.call('LTRIM', KEYS[3], 0, 199)\n"
    "redis.call('EXPIRE', KEYS[2], 7776000)\n"
    "if tonumber(ARGV[9]) >= 0 then\n"
    "  redis.call('ZADD', KEYS[6], tonumber(ARGV[9]), id)\n"
    "else\n"
    "  redis.call('ZREM', KEYS[6], id)\n"
    "end\n"
    "return out\n";

/* KEYS: 1 outbox 2 outbox:later 3 outbox:dead 4 s:{id} 5 s:{id}:notif
 * ARGV: 1 group 2 entry id 3 sent|retry|dead|none 4 message 5 due_ms
 *       6 record JSON 7 why */
static const char lua_done[] =
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "if ARGV[3] == 'retry' then\n"
    "  redis.call('ZADD', KEYS[2], tonumber(ARGV[5]), ARGV[4])\n"
    "elseif ARGV[3] == 'dead' then\n"
    "  redis.call('XADD', KEYS[3], '*', 'm', ARGV[4], 'why', ARGV[7])\n"
    "end\n"
    "if ARGV[6] ~= '' and redis.call('EXISTS', KEYS[4]) == 1 then\n"
    "  redis.call('LPUSH', KEYS[5], ARGV[6])\n"
    "  redis.call('LTRIM', KEYS[5], 0, 199)\n"
    "end\n"
    "return 1\n";

/* KEYS: 1 outbox:later 2 outbox | ARGV: now_ms max. Moves due messages
 * into the outbox; returns how many. */
static const char lua_move[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],\n"
    "  'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, m in ipairs(due) do\n"
    "  redis.call('XADD', KEYS[2], '*', 'm', m)\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "end\n"
    "return #due\n";

/* KEYS: 1 outbox:dead 2 outbox | ARGV: max now_ms */
static const char lua_replay[] =
    "local e = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT',\n"
    "  tonumber(ARGV[1]))\n"
    "for _, x in ipairs(e) do\n"
    "  local f = x[2]\n"
    "  for i = 1, #f, 2 do\n"
    "    if f[i] == 'm' then\n"
    "      local m = cjson.decode(f[i + 1])\n"
    "      m.attempt = 0; m.created_ms = tonumber(ARGV[2])\n"
    "      redis.call('XADD', KEYS[2], '*', 'm', cjson.encode(m))\n"
    "    end\n"
    "  end\n"
    "  redis.call('XDEL', KEYS[1], x[1])\n"
    "end\n"
    "return #e\n";

/* --- Redis calls, counted so that stop waits for them --- */

struct ncall {
    struct notify *n;
    rconn_reply_cb *cb;
    void *arg;
};

static void check_stop(struct notify *n);

static void ncall_done(void *arg, int err, redisReply *r)
{
    struct ncall *c = arg;
    struct notify *n = c->n;

    c->cb(c->arg, err, r);
    free(c);
    n->redis_pending--;
    check_stop(n);
}

static int ncmd(struct notify *n, struct rconn *rc, rconn_reply_cb *cb,
                void *arg, int argc, const char **argv, const size_t *len)
{
    struct ncall *c = wm_xmalloc(sizeof(*c));
    int rv;

    c->n = n;
    c->cb = cb;
    c->arg = arg;
    n->redis_pending++;
    rv = rconn_command(rc, ncall_done, c, argc, argv, len);
    if (rv != 0) {
        n->redis_pending--;
        free(c);
    }
    return rv;
}

static int neval(struct notify *n, struct rconn_script *s, rconn_reply_cb *cb,
                 void *arg, int nkeys, int nargs, const char **argv,
                 const size_t *len)
{
    struct ncall *c = wm_xmalloc(sizeof(*c));
    int rv;

    c->n = n;
    c->cb = cb;
    c->arg = arg;
    n->redis_pending++;
    rv = rconn_eval(n->rc, s, ncall_done, c, nkeys, nargs, argv, len);
    if (rv != 0) {
        n->redis_pending--;
        free(c);
    }
    return rv;
}

static void ignore_reply(void *arg, int err, redisReply *r)
{
    (void)arg;
    (void)err;
    (void)r;
}

/* --- evaluation: store_get, rules, decide script --- */

struct neval {
    struct notify *n;
    char *id;
    char *ack; /* change entry to XACK, or NULL */
};

static void neval_free(struct neval *e)
{
    free(e->id);
    free(e->ack);
    free(e);
}

static void ack_change(struct notify *n, const char *entry)
{
    const char *argv[] = {"XACK", n->k_changes, "notify", entry};

    if (entry != NULL)
        ncmd(n, n->rc, ignore_reply, NULL, 4, argv, NULL);
}

static void on_decided(void *arg, int err, redisReply *r)
{
    struct neval *e = arg;
    struct notify *n = e->n;

    if (err == 0 && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            char buf[96], *ch, *oc;

            snprintf(buf, sizeof(buf), "%s", r->element[i]->str);
            if ((ch = strchr(buf, '|')) == NULL ||
                (oc = strchr(ch + 1, '|')) == NULL)
                continue;
            *ch++ = '\0';
            *oc++ = '\0';
            if (strcmp(oc, "episode") == 0) {
                n->stats.episodes++;
                log_info("msg=\"notify: episode\" id=%s reason=%s", e->id, buf);
                continue;
            }
            for (int c = 0; c < NOTIFY_CHANNELS; c++)
                for (int o = 0; o < NOTIFY_OUTCOMES; o++)
                    if (strcmp(ch, channel_names[c]) == 0 &&
                        strcmp(oc, outcome_names[o]) == 0)
                        n->stats.by[c][o]++;
        }
        ack_change(n, e->ack);
    } else if (err == 0) {
        log_warn("msg=\"notify: decide failed\" id=%s err=%s", e->id,
                 r->type == REDIS_REPLY_ERROR ? r->str : "?");
    }
    neval_free(e);
}

/* The shipment's channels ("email,sms"); empty: every channel with
 * contact data; "none": the shipment opted out. */
static bool channel_wanted(const char *notify, const char *ch)
{
    return notify == NULL || notify[0] == '\0' || strstr(notify, ch) != NULL;
}

static void tracking_url(const char *carrier, const char *number, char *buf,
                         size_t size)
{
    const struct carrier *c = carrier_find(carrier);
    const char *fmt, *p;
    char *esc;

    buf[0] = '\0';
    if (c == NULL || c->tracking_url == NULL || number[0] == '\0')
        return;
    fmt = c->tracking_url;
    p = strstr(fmt, "%s");
    esc = httpreq_url_escape(number);
    if (p != NULL && esc != NULL)
        snprintf(buf, size, "%.*s%s%s", (int)(p - fmt), fmt, esc, p + 2);
    free(esc);
}

static void on_got(void *arg, int err, json_t *ship)
{
    struct neval *e = arg;
    struct notify *n = e->n;
    struct notify_rules rules;
    struct notify_eval_out ev;
    const char *zone, *notify_ch, *argv[64];
    char nowiso[WMTIME_BUFSZ], day[16], cap[16],
        act[256] = "", eta[24], slip[24], next[24], now_s[24], nbs[3][24],
        url[512];
    char keys[3][160];
    json_t *ctx, *events, *last;
    char *ctxs;
    int64_t now = now_ms();
    int argc = 0;
    struct wmtime_civil cv;

    n->redis_pending--;
    if (err == WM_ENOTFOUND) {
        const char *zv[] = {"ZREM", n->k_watch, e->id};
        ncmd(n, n->rc, ignore_reply, NULL, 3, zv, NULL);
        ack_change(n, e->ack);
        goto out;
    }
    if (err != 0 || n->stopping)
        goto out; /* the change stays pending: XAUTOCLAIM retries it */
    n->stats.evaluations++;
    zone = notify_zone(jstr(ship, "locale"), jstr(ship, "postcode"));
    rules_for(n, jstr(ship, "carrier"), &rules);
    notify_eval(ship, &rules, zone, now, &ev);
    for (int r = 0; r < NOTIFY_REASON_COUNT; r++)
        if (ev.active & (1u << r)) {
            strcat(act, reason_names[r]);
            strcat(act, ",");
        }
    /* the snapshot messages are rendered from */
    tracking_url(jstr(ship, "carrier"), jstr(ship, "tracking_number"), url,
                 sizeof(url));
    ctx =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
                  "s:s, s:s}",
                  "shipment_id", e->id, "order_id", jstr(ship, "order_id"),
                  "carrier", jstr(ship, "carrier"), "tracking_number",
                  jstr(ship, "tracking_number"), "tracking_url", url, "status",
                  jstr(ship, "status"), "substatus", jstr(ship, "substatus"),
                  "estimated_delivery", jstr(ship, "estimated_delivery"),
                  "promised_delivery", jstr(ship, "promised_delivery"),
                  "delivered_at", jstr(ship, "delivered_at"), "locale",
                  jstr(ship, "locale"), "zone", zone);
    events = json_object_get(ship, "events");
    last = json_array_get(events, json_array_size(events) - 1);
    if (last != NULL) {
        json_t *loc = json_object_get(last, "location");
        const char *city = jstr(loc, "city");
        json_object_set_new(ctx, "pickup_point", json_string(city));
    }
    ctxs = json_dumps(ctx, JSON_COMPACT);
    json_decref(ctx);
    wmtime_format(now / 1000, nowiso);
    wmtime_to_civil(now / 1000, &cv);
    snprintf(day, sizeof(day), "%04d%02d%02d", cv.year, cv.month, cv.day);
    snprintf(cap, sizeof(cap), "%d", n->c.cap);
    snprintf(eta, sizeof(eta), "%lld", (long long)ev.eta_ms);
    snprintf(slip, sizeof(slip), "%lld", (long long)rules.eta_slip_ms);
    snprintf(next, sizeof(next), "%lld", (long long)ev.next_check_ms);
    snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
    store_key(keys[0], sizeof(keys[0]), n->prefix, STORE_KEY_SHIP, e->id);
    store_key(keys[1], sizeof(keys[1]), n->prefix, STORE_KEY_NST, e->id);
    store_key(keys[2], sizeof(keys[2]), n->prefix, STORE_KEY_NOTIF, e->id);
    argv[argc++] = keys[0];
    argv[argc++] = keys[1];
    argv[argc++] = keys[2];
    argv[argc++] = n->k_outbox;
    argv[argc++] = n->k_later;
    argv[argc++] = n->k_watch;
    argv[argc++] = n->k_optout;
    argv[argc++] = e->id;
    argv[argc++] = now_s;
    argv[argc++] = nowiso;
    argv[argc++] = day;
    argv[argc++] = cap;
    argv[argc++] = act;
    argv[argc++] = ev.eta_ms >= 0 ? eta : "";
    argv[argc++] = slip;
    argv[argc++] = next;
    argv[argc++] = ctxs;
    argv[argc++] = n->prefix;
    notify_ch = jstr(ship, "notify");
    {
        int64_t q = notify_quiet_until(n->c.quiet, zone, now);
        const char *email = jstr(ship, "email"), *phone = jstr(ship, "phone");
        int k = 0;

        snprintf(nbs[0], sizeof(nbs[0]), "%lld",
                 (long long)(n->o.email_quiet ? q : now));
        snprintf(nbs[1], sizeof(nbs[1]), "%lld", (long long)q);
        snprintf(nbs[2], sizeof(nbs[2]), "%lld", (long long)now);
        if (email[0] != '\0' && channel_wanted(notify_ch, "email") &&
            n->c.smtp_url != NULL) {
            argv[argc++] = "email";
            argv[argc++] = email;
            argv[argc++] = nbs[0];
            k++;
        }
        if (phone[0] != '\0' && channel_wanted(notify_ch, "sms") &&
            n->c.sms_provider != NULL) {
            argv[argc++] = "sms";
            argv[argc++] = phone;
            argv[argc++] = chan_e164_valid(phone) ? nbs[1] : "x:invalid_phone";
            k++;
        }
        if (n->c.webhook_url != NULL && channel_wanted(notify_ch, "webhook")) {
            argv[argc++] = "webhook";
            argv[argc++] = "";
            argv[argc++] = nbs[2];
            k++;
        }
        if (k == 0) {
            /* notify "none": the shop registered it with notify []. */
            bool opted = notify_ch != NULL && strcmp(notify_ch, "none") == 0;

            argv[argc++] = "none";
            argv[argc++] = "";
            argv[argc++] = opted ? "x:opt_out" : "x:no_recipient";
        }
    }
    if (neval(n, n->s_decide, on_decided, e, 7, argc - 7, argv, NULL) != 0)
        neval_free(e);
    free(ctxs);
    return;
out:
    neval_free(e);
}

static void eval_start(struct notify *n, const char *id, const char *ack)
{
    struct neval *e;

    if (n->stopping)
        return;
    e = wm_xcalloc(1, sizeof(*e));
    e->n = n;
    e->id = wm_xstrdup(id);
    e->ack = wm_xstrdup_or_null(ack);
    n->redis_pending++;
    if (store_get(n->st, id, on_got, e) != 0) {
        n->redis_pending--;
        neval_free(e);
    }
}

/* --- sending --- */

struct nsend {
    struct notify *n; /* NULL once abandoned at stop */
    struct nsend *next;
    char *entry; /* outbox stream id */
    char *msg;   /* the message JSON as read */
    json_t *m;   /* parsed */
    int channel;
    struct chan_smtp_job *job;
};

static void nsend_free(struct nsend *s)
{
    free(s->entry);
    free(s->msg);
    json_decref(s->m);
    free(s);
}

static void nsend_unlink(struct notify *n, struct nsend *s)
{
    for (struct nsend **p = &n->sends; *p != NULL; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            return;
        }
}

static void read_next(struct notify *n);

static uint64_t nrand(struct notify *n)
{
    n->rnd ^= n->rnd << 13;
    n->rnd ^= n->rnd >> 7;
    n->rnd ^= n->rnd << 17;
    return n->rnd;
}

static void on_done_written(void *arg, int err, redisReply *r)
{
    struct nsend *s = arg;
    struct notify *n = s->n;

    (void)r;
    if (err != 0)
        log_warn("msg=\"notify: outbox ack failed\" key=%s err=%s",
                 jstr(s->m, "key"), wm_strerror(err));
    nsend_unlink(n, s);
    n->inflight--;
    nsend_free(s);
    read_next(n);
    check_stop(n);
}

static void finish(struct nsend *s, enum chan_verdict v, const char *detail)
{
    struct notify *n = s->n;
    const char *what, *argv[12];
    char *newm = NULL, *rec = NULL, due[24], keys[2][160];
    const char *id = jstr(s->m, "id");
    json_int_t attempt = json_integer_value(json_object_get(s->m, "attempt"));
    int64_t created =
        (int64_t)json_integer_value(json_object_get(s->m, "created_ms"));
    int64_t now = now_ms(), delay = 0;
    enum notify_outcome oc;
    json_t *rj;
    char nowiso[WMTIME_BUFSZ];

    if (n->hard_stop) { /* handed back: stays pending for XAUTOCLAIM */
        nsend_unlink(n, s);
        n->inflight--;
        nsend_free(s);
        check_stop(n);
        return;
    }
    if (s->channel == NOTIFY_WEBHOOK) {
        if (v == CHAN_SENT) {
            n->webhook_fails = 0;
        } else if (++n->webhook_fails >= n->o.webhook_disable_after &&
                   !n->webhook_disabled && detail != NULL &&
                   strcmp(detail, "channel_disabled") != 0) {
            n->webhook_disabled = true;
            log_warn("msg=\"notify: webhook disabled until a reload\" "
                     "consecutive_failures=%d",
                     n->webhook_fails);
        }
    }
    if (v == CHAN_SENT) {
        what = "sent";
        oc = NOTIFY_SENT;
    } else if (v == CHAN_RETRY) {
        int64_t step = n->o.retry_min_ms;
        for (json_int_t i = 0; i < attempt && step < n->o.retry_max_ms; i++)
            step *= 2;
        if (step > n->o.retry_max_ms)
            step = n->o.retry_max_ms;
        delay = step / 2 + (int64_t)(nrand(n) % (uint64_t)(step / 2 + 1));
        if (now + delay - created > n->o.retry_window_ms) {
            what = "dead";
            oc = NOTIFY_DEAD;
            detail = "retry_window";
        } else {
            what = "retry";
            oc = NOTIFY_RETRIED;
        }
    } else {
        what = "dead";
        oc = NOTIFY_DEAD;
    }
    if (strcmp(what, "retry") == 0) {
        json_object_set_new(s->m, "attempt", json_integer(attempt + 1));
        newm = json_dumps(s->m, JSON_COMPACT);
    } else {
        newm = wm_xstrdup(s->msg);
    }
    wmtime_format(now / 1000, nowiso);
    rj = json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:I, s:s}", "at", nowiso,
                   "reason", jstr(s->m, "reason"), "episode",
                   json_object_get(s->m, "episode"), "channel",
                   channel_names[s->channel], "key", jstr(s->m, "key"),
                   "outcome", what, "attempt", (json_int_t)(attempt + 1), "why",
                   detail != NULL ? detail : "");
    rec = rj != NULL ? json_dumps(rj, JSON_COMPACT) : NULL;
    json_decref(rj);
    n->stats.by[s->channel][oc]++;
    if (oc == NOTIFY_DEAD)
        log_warn("msg=\"notify: dead\" key=%s channel=%s why=\"%s\"",
                 jstr(s->m, "key"), channel_names[s->channel],
                 detail != NULL ? detail : "");
    else
        log_debug("msg=\"notify: %s\" key=%s detail=\"%s\"", what,
                  jstr(s->m, "key"), detail != NULL ? detail : "");
    snprintf(due, sizeof(due), "%lld", (long long)(now + delay));
    store_key(keys[0], sizeof(keys[0]), n->prefix, STORE_KEY_SHIP, id);
    store_key(keys[1], sizeof(keys[1]), n->prefix, STORE_KEY_NOTIF, id);
    argv[0] = n->k_outbox;
    argv[1] = n->k_later;
    argv[2] = n->k_dead;
    argv[3] = keys[0];
    argv[4] = keys[1];
    argv[5] = "notify";
    argv[6] = s->entry;
    argv[7] = what;
    argv[8] = newm;
    argv[9] = due;
    argv[10] = rec != NULL ? rec : "";
    argv[11] = detail != NULL ? detail : "";
    if (neval(n, n->s_done, on_done_written, s, 5, 7, argv, NULL) != 0) {
        /* Redis is down: the entry stays pending and is claimed again */
        nsend_unlink(n, s);
        n->inflight--;
        nsend_free(s);
    }
    free(newm);
    free(rec);
}

static void on_http_done(void *arg, const struct fetch_result *res)
{
    struct nsend *s = arg;
    char detail[160];

    if (s->n == NULL) { /* abandoned at stop */
        nsend_free(s);
        return;
    }
    if (res->error == WM_ECANCELED && s->n->stopping)
        s->n->hard_stop = true;
    snprintf(detail, sizeof(detail), "http %ld%s%s", res->http_status,
             res->error != 0 ? " " : "", res->error != 0 ? res->errmsg : "");
    finish(s, chan_http_verdict(res->error, res->http_status), detail);
}

static void on_smtp_done(void *arg, enum chan_verdict v, const char *detail)
{
    struct nsend *s = arg;

    s->job = NULL;
    s->n->smtp_jobs--;
    finish(s, v, detail);
}

/* Template variables from a message's snapshot. */
static json_t *render_vars(struct notify *n, const json_t *ctx)
{
    const char *lang = jstr(ctx, "locale");
    const char *eta = jstr(ctx, "estimated_delivery");
    const struct carrier *c = carrier_find(jstr(ctx, "carrier"));
    json_t *v =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "shop", n->c.shop,
                  "order_id", jstr(ctx, "order_id"), "carrier",
                  c != NULL && c->display_name != NULL ? c->display_name
                                                       : jstr(ctx, "carrier"),
                  "tracking_number", jstr(ctx, "tracking_number"),
                  "tracking_url", jstr(ctx, "tracking_url"), "pickup_point",
                  jstr(ctx, "pickup_point"), "status", jstr(ctx, "status"));
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                         "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"};
    const char *keys[] = {"eta", "promised"};
    const char *vals[] = {eta, jstr(ctx, "promised_delivery")};

    for (int i = 0; i < 2; i++) {
        int64_t t = iso_ms(vals[i], jstr(ctx, "zone"));
        struct wmtime_civil cv;
        int off = 0;
        char buf[32];

        if (t < 0)
            continue;
        wmtime_zone_offset(jstr(ctx, "zone"), t / 1000, &off);
        wmtime_to_civil(t / 1000 + off, &cv);
        if (strncmp(lang, "nl", 2) == 0)
            snprintf(buf, sizeof(buf), "%02d-%02d-%04d", cv.day, cv.month,
                     cv.year);
        else if (strncmp(lang, "de", 2) == 0)
            snprintf(buf, sizeof(buf), "%02d.%02d.%04d", cv.day, cv.month,
                     cv.year);
        else if (strncmp(lang, "fr", 2) == 0)
            snprintf(buf, sizeof(buf), "%02d/%02d/%04d", cv.day, cv.month,
                     cv.year);
        else
            snprintf(buf, sizeof(buf), "%d %s %04d", cv.day,
                     months[(cv.month + 11) % 12], cv.year);
        json_object_set_new(v, keys[i], json_string(buf));
    }
    return v;
}

static void send_msg(struct notify *n, const char *entry, const char *msg)
{
    struct nsend *s;
    json_t *ctx = NULL, *vars = NULL;
    const char *ch, *key, *to;
    struct httpreq req;
    char *text = NULL, *subject = NULL;
    int rv;

    for (struct nsend *x = n->sends; x != NULL; x = x->next)
        if (strcmp(x->entry, entry) == 0)
            return; /* ours already (XAUTOCLAIM of a slow send) */
    s = wm_xcalloc(1, sizeof(*s));
    s->n = n;
    s->entry = wm_xstrdup(entry);
    s->msg = wm_xstrdup(msg);
    s->m = json_loads(msg, 0, NULL);
    s->next = n->sends;
    n->sends = s;
    n->inflight++;
    if (s->m == NULL) {
        s->m = json_object();
        s->channel = NOTIFY_WEBHOOK;
        finish(s, CHAN_PERMANENT, "bad_message");
        return;
    }
    ch = jstr(s->m, "channel");
    key = jstr(s->m, "key");
    to = jstr(s->m, "to");
    s->channel = strcmp(ch, "email") == 0 ? NOTIFY_EMAIL
                 : strcmp(ch, "sms") == 0 ? NOTIFY_SMS
                                          : NOTIFY_WEBHOOK;
    ctx = json_loads(jstr(s->m, "ctx"), 0, NULL);
    if (ctx == NULL)
        ctx = json_object();
    vars = render_vars(n, ctx);
    httpreq_init(&req);
    if (s->channel == NOTIFY_WEBHOOK) {
        json_t *b;
        char *body;
        const char *eta = jstr(ctx, "estimated_delivery"),
                   *prom = jstr(ctx, "promised_delivery");

        if (n->webhook_disabled || n->c.webhook_url == NULL) {
            finish(s, CHAN_PERMANENT,
                   n->webhook_disabled ? "channel_disabled"
                                       : "channel_unconfigured");
            goto out;
        }
        b = json_pack(
            "{s:s, s:s, s:O, s:s, s:s, s:s, s:s, s:s, s:o, s:o, "
            "s:s}",
            "id", key, "reason", jstr(s->m, "reason"), "episode",
            json_object_get(s->m, "episode"), "shipment_id", jstr(s->m, "id"),
            "order_id", jstr(ctx, "order_id"), "carrier", jstr(ctx, "carrier"),
            "tracking_number", jstr(ctx, "tracking_number"), "status",
            jstr(ctx, "status"), "estimated_delivery",
            eta[0] ? json_string(eta) : json_null(), "promised_delivery",
            prom[0] ? json_string(prom) : json_null(), "created_at",
            jstr(s->m, "created_at"));
        body = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(b);
        rv =
            chan_webhook_request(n->c.webhook_url, n->c.webhook_secret,
                                 (long long)(now_ms() / 1000), key, body, &req);
        free(body);
    } else if (s->channel == NOTIFY_SMS) {
        text = ntmpl_render(n->tm, jstr(s->m, "reason"), "sms",
                            jstr(ctx, "locale"), vars, NULL);
        rv = chan_sms_request(n->c.sms_provider, n->c.sms_base,
                              n->c.sms_account, n->c.sms_token, n->c.sms_from,
                              to, text, key, &req);
    } else {
        struct chan_mail mail;
        struct chan_smtp_opts so = {0};
        char *message, *from;

        if (n->c.smtp_url == NULL || n->c.smtp_from == NULL) {
            finish(s, CHAN_PERMANENT, "channel_unconfigured");
            goto out;
        }
        text = ntmpl_render(n->tm, jstr(s->m, "reason"), "email",
                            jstr(ctx, "locale"), vars, &subject);
        mail.from = n->c.smtp_from;
        mail.to = to;
        mail.subject = subject;
        mail.text = text;
        mail.idem_key = key;
        mail.now = now_ms() / 1000;
        message = chan_mail_format(&mail);
        so.url = n->c.smtp_url;
        so.username = n->c.smtp_user;
        so.password = n->c.smtp_pass;
        so.timeout_ms = n->o.send_timeout_ms;
        so.insecure = getenv("WISMO_SMTP_INSECURE") != NULL;
        from = chan_mail_addr(n->c.smtp_from);
        s->job =
            chan_smtp_send(n->loop, &so, from, to, message, on_smtp_done, s);
        free(from);
        free(message);
        if (s->job == NULL)
            finish(s, CHAN_PERMANENT, "invalid_recipient");
        else
            n->smtp_jobs++;
        goto out;
    }
    if (rv != 0) {
        finish(s, CHAN_PERMANENT,
               s->channel == NOTIFY_SMS ? "invalid_sms" : "bad_request");
        goto out;
    }
    req.timeout_ms = n->o.send_timeout_ms;
    if (fetch_submit(n->fe, &req, on_http_done, s) != 0)
        finish(s, CHAN_RETRY, "submit_failed");
out:
    httpreq_clear(&req);
    free(text);
    free(subject);
    json_decref(vars);
    json_decref(ctx);
}

/* --- reading the streams --- */

static const char *field(const redisReply *fields, const char *name)
{
    if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    return NULL;
}

/* entries: the array of [id, [field, value...]] */
static size_t take_entries(struct notify *n, const redisReply *entries,
                           bool outbox)
{
    size_t got = 0;

    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i], *f;
        const char *v;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        f = e->element[1];
        got++;
        if (outbox) {
            v = field(f, "m");
            if (v != NULL) {
                send_msg(n, e->element[0]->str, v);
            } else { /* a deleted entry: drop it */
                const char *a[] = {"XACK", n->k_outbox, "notify",
                                   e->element[0]->str};
                ncmd(n, n->rc, ignore_reply, NULL, 4, a, NULL);
            }
        } else {
            v = field(f, "id");
            if (v != NULL)
                eval_start(n, v, e->element[0]->str);
            else
                ack_change(n, e->element[0]->str);
        }
    }
    return got;
}

static void ensure_groups(struct notify *n);

static void on_read(void *arg, int err, redisReply *r)
{
    struct notify *n = arg;
    size_t got = 0;

    n->reading = false;
    if (n->stopping)
        return;
    if (err == 0 && r->type == REDIS_REPLY_ERROR) {
        if (strstr(r->str, "NOGROUP") != NULL) {
            n->groups_ok = false;
            ensure_groups(n);
        } else {
            log_warn("msg=\"notify: read failed: %s\"", r->str);
        }
        err = WM_EPROTO;
    }
    if (err == 0 && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *s = r->element[i];

            if (s->type != REDIS_REPLY_ARRAY || s->elements < 2)
                continue;
            got += take_entries(n, s->element[1],
                                strcmp(s->element[0]->str, n->k_outbox) == 0);
        }
    }
    if (err == 0 && (got > 0 || n->brc != NULL))
        read_next(n);
    else if (!uv_is_active((uv_handle_t *)&n->poll))
        uv_timer_start(&n->poll, (uv_timer_cb)read_next,
                       (uint64_t)(err != 0 ? 500 : n->o.poll_ms), 0);
}

static void read_next(struct notify *n)
{
    struct rconn *rc = n->brc != NULL ? n->brc : n->rc;
    const char *argv[16];
    char count[16];
    int argc = 0, free_slots = n->o.max_inflight - n->inflight;

    if (n->stopping || n->reading || !n->started)
        return;
    if (!n->groups_ok || !rconn_is_up(rc)) {
        if (!n->groups_ok)
            ensure_groups(n);
        if (!uv_is_active((uv_handle_t *)&n->poll))
            uv_timer_start(&n->poll, (uv_timer_cb)read_next, 200, 0);
        return;
    }
    /* Every send slot busy: read nothing. A blocking read of the changes
     * alone would hold the link for a second while sends finish; each
     * ack calls read_next again instead. */
    if (free_slots <= 0)
        return;
    snprintf(count, sizeof(count), "%d", free_slots);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = "notify";
    argv[argc++] = n->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (n->brc != NULL) {
        argv[argc++] = "BLOCK";
        argv[argc++] = "1000";
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = n->k_changes;
    if (free_slots > 0)
        argv[argc++] = n->k_outbox;
    argv[argc++] = ">";
    if (free_slots > 0)
        argv[argc++] = ">";
    n->reading = true;
    if (ncmd(n, rc, on_read, n, argc, argv, NULL) != 0) {
        n->reading = false;
        if (!uv_is_active((uv_handle_t *)&n->poll))
            uv_timer_start(&n->poll, (uv_timer_cb)read_next, 500, 0);
    }
}

static void on_group(void *arg, int err, redisReply *r)
{
    struct notify *n = arg;

    if (err == 0 &&
        (r->type != REDIS_REPLY_ERROR || strstr(r->str, "BUSYGROUP") != NULL)) {
        /* the second reply (outbox) decides */
        n->groups_ok = true;
    } else {
        n->groups_ok = false;
    }
}

static void on_group_first(void *arg, int err, redisReply *r)
{
    (void)arg;
    if (err != 0 ||
        (r->type == REDIS_REPLY_ERROR && strstr(r->str, "BUSYGROUP") == NULL))
        log_warn("msg=\"notify: XGROUP CREATE failed: %s\"",
                 err != 0 ? wm_strerror(err) : r->str);
}

static void on_group_done(void *arg, int err, redisReply *r)
{
    struct notify *n = arg;

    on_group(arg, err, r);
    n->groups_busy = false;
    if (n->groups_ok)
        read_next(n);
}

static void ensure_groups(struct notify *n)
{
    const char *a[] = {"XGROUP", "CREATE", n->k_changes,
                       "notify", "$",      "MKSTREAM"};
    const char *b[] = {"XGROUP", "CREATE", n->k_outbox,
                       "notify", "0",      "MKSTREAM"};

    if (n->groups_busy || n->stopping || !rconn_is_up(n->rc))
        return;
    n->groups_busy = true;
    ncmd(n, n->rc, on_group_first, n, 6, a, NULL);
    if (ncmd(n, n->rc, on_group_done, n, 6, b, NULL) != 0)
        n->groups_busy = false;
}

/* --- timers --- */

static void on_watch(void *arg, int err, redisReply *r)
{
    struct notify *n = arg;

    if (err != 0 || r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            eval_start(n, r->element[i]->str, NULL);
}

static void on_tick(uv_timer_t *t)
{
    struct notify *n = t->data;
    char now[24];
    const char *argv[] = {"ZRANGEBYSCORE", n->k_watch, "-inf", now,
                          "LIMIT",         "0",        "500"};

    snprintf(now, sizeof(now), "%lld", (long long)now_ms());
    if (rconn_is_up(n->rc))
        ncmd(n, n->rc, on_watch, n, 7, argv, NULL);
}

static void on_moved(void *arg, int err, redisReply *r)
{
    (void)arg;
    (void)err;
    (void)r;
}

static void on_move(uv_timer_t *t)
{
    struct notify *n = t->data;
    char now[24];
    const char *argv[] = {n->k_later, n->k_outbox, now, "200"};

    snprintf(now, sizeof(now), "%lld", (long long)now_ms());
    if (rconn_is_up(n->rc))
        neval(n, n->s_move, on_moved, n, 2, 2, argv, NULL);
}

static void on_claimed(void *arg, int err, redisReply *r)
{
    struct notify *n = arg;

    if (n->stopping || err != 0 || r->type != REDIS_REPLY_ARRAY ||
        r->elements < 2)
        return;
    take_entries(n, r->element[1], true);
}

static void on_claimed_changes(void *arg, int err, redisReply *r)
{
    struct notify *n = arg;

    if (n->stopping || err != 0 || r->type != REDIS_REPLY_ARRAY ||
        r->elements < 2)
        return;
    take_entries(n, r->element[1], false);
}

static void on_claim(uv_timer_t *t)
{
    struct notify *n = t->data;
    char idle[24], count[16];
    int free_slots = n->o.max_inflight - n->inflight;
    const char *a[] = {"XAUTOCLAIM", n->k_outbox, "notify", n->consumer,
                       idle,         "0-0",       "COUNT",  count};
    const char *b[] = {"XAUTOCLAIM", n->k_changes, "notify", n->consumer,
                       idle,         "0-0",        "COUNT",  "100"};

    if (!rconn_is_up(n->rc))
        return;
    if (!n->groups_ok) {
        ensure_groups(n);
        return;
    }
    snprintf(idle, sizeof(idle), "%ld", n->o.claim_idle_ms);
    snprintf(count, sizeof(count), "%d", free_slots);
    if (free_slots > 0)
        ncmd(n, n->rc, on_claimed, n, 8, a, NULL);
    ncmd(n, n->rc, on_claimed_changes, n, 8, b, NULL);
    read_next(n); /* in case the reader was waiting for free slots */
}

/* --- life cycle --- */

struct notify *notify_new(uv_loop_t *loop, const struct cfg *cfg,
                          struct store *st, struct rconn *rc,
                          struct fetch_engine *fe,
                          const struct notify_opts *opts)
{
    struct notify *n;
    const char *p, *dir;
    char host[128] = "host", cons[200];

    if (loop == NULL || cfg == NULL || st == NULL || rc == NULL)
        return NULL;
    n = wm_xcalloc(1, sizeof(*n));
    n->loop = loop;
    n->st = st;
    n->rc = rc;
    if (opts != NULL)
        n->o = *opts;
    n->redis_url = wm_xstrdup_or_null(n->o.redis_url);
    n->shop_opt = wm_xstrdup_or_null(n->o.shop);
    dir = n->o.templates_dir;
    if (dir == NULL)
        dir = getenv("WISMO_TEMPLATES_DIR");
    if (dir == NULL)
        dir = "/usr/share/wismo/templates";
    n->templates_dir = wm_xstrdup(dir);
    gethostname(host, sizeof(host) - 1);
    snprintf(cons, sizeof(cons), "%s:%ld", host, (long)getpid());
    n->consumer = wm_xstrdup(n->o.consumer != NULL ? n->o.consumer : cons);
    n->o.redis_url = n->o.templates_dir = n->o.consumer = n->o.shop = NULL;
    if (n->o.poll_ms <= 0)
        n->o.poll_ms = 200;
    if (n->o.claim_idle_ms <= 0)
        n->o.claim_idle_ms = 60000;
    if (n->o.retry_min_ms <= 0)
        n->o.retry_min_ms = 30000;
    if (n->o.retry_max_ms <= 0)
        n->o.retry_max_ms = 3600000;
    if (n->o.retry_window_ms <= 0)
        n->o.retry_window_ms = 24L * 3600000;
    if (n->o.webhook_disable_after <= 0)
        n->o.webhook_disable_after = 50;
    if (n->o.max_inflight <= 0)
        n->o.max_inflight = 32;
    if (n->o.send_timeout_ms <= 0)
        n->o.send_timeout_ms = 15000;
    p = cfg->redis_prefix != NULL ? cfg->redis_prefix : "wismo:";
    n->prefix = wm_xstrdup(p);
    store_key(n->k_changes, sizeof(n->k_changes), p, STORE_KEY_CHANGES, NULL);
    store_key(n->k_outbox, sizeof(n->k_outbox), p, STORE_KEY_OUTBOX, NULL);
    store_key(n->k_later, sizeof(n->k_later), p, STORE_KEY_OUTBOX_LATER, NULL);
    store_key(n->k_dead, sizeof(n->k_dead), p, STORE_KEY_OUTBOX_DEAD, NULL);
    store_key(n->k_watch, sizeof(n->k_watch), p, STORE_KEY_WATCH, NULL);
    store_key(n->k_optout, sizeof(n->k_optout), p, STORE_KEY_OPTOUT, NULL);
    nconf_load(&n->c, cfg, n->shop_opt);
    n->tm = ntmpl_load(n->templates_dir);
    if (ntmpl_count(n->tm) == 0)
        log_warn(
            "msg=\"notify: no templates in %s, built-in English texts only\"",
            n->templates_dir);
    n->s_decide = rconn_script_new(lua_decide);
    n->s_done = rconn_script_new(lua_done);
    n->s_move = rconn_script_new(lua_move);
    n->s_replay = rconn_script_new(lua_replay);
    if (fe == NULL) {
        struct fetch_opts fo = {0};
        fo.timeout_ms = n->o.send_timeout_ms;
        fe = fetch_engine_new(loop, &fo);
        n->own_fe = true;
    }
    n->fe = fe;
    uv_timer_init(loop, &n->tick);
    uv_timer_init(loop, &n->poll);
    uv_timer_init(loop, &n->claim);
    uv_timer_init(loop, &n->move);
    uv_timer_init(loop, &n->deadline);
    n->tick.data = n->poll.data = n->claim.data = n->move.data =
        n->deadline.data = n;
    n->handles = 5;
    n->rnd =
        (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    return n;
}

static void on_brc_state(void *arg, bool up)
{
    struct notify *n = arg;

    if (up)
        read_next(n);
}

int notify_start(struct notify *n)
{
    long claim_every = n->o.claim_idle_ms / 2;
    long move_every = n->o.poll_ms < 1000 ? n->o.poll_ms : 1000;

    n->started = true;
    if (n->redis_url != NULL) {
        struct rconn_opts ro = {0};
        ro.url = n->redis_url;
        ro.command_timeout_ms = 5000; /* > BLOCK 1000 */
        n->brc = rconn_new(n->loop, &ro, on_brc_state, n);
        if (n->brc == NULL)
            log_warn("msg=\"notify: bad reader URL, polling the shared link\"");
    }
    if (claim_every < 200)
        claim_every = 200;
    uv_timer_start(&n->tick, on_tick, 50, (uint64_t)n->c.tick);
    uv_timer_start(&n->claim, on_claim, 100, (uint64_t)claim_every);
    uv_timer_start(&n->move, on_move, (uint64_t)move_every,
                   (uint64_t)move_every);
    ensure_groups(n);
    log_info("msg=\"notify: started\" consumer=%s mode=%s templates=%zu",
             n->consumer, n->brc != NULL ? "block" : "poll",
             ntmpl_count(n->tm));
    return 0;
}

void notify_reload(struct notify *n, const struct cfg *cfg)
{
    nconf_load(&n->c, cfg, n->shop_opt);
    n->webhook_disabled = false;
    n->webhook_fails = 0;
    if (n->started)
        uv_timer_start(&n->tick, on_tick, (uint64_t)n->c.tick,
                       (uint64_t)n->c.tick);
}

static void on_closed(uv_handle_t *h)
{
    struct notify *n = h->data;

    if (--n->handles == 0 && n->stop_cb != NULL) {
        notify_stopped_cb *cb = n->stop_cb;
        n->stop_cb = NULL;
        cb(n->stop_arg);
    }
}

static void check_stop(struct notify *n)
{
    if (!n->stopping || n->closing || n->redis_pending > 0 || n->inflight > 0 ||
        n->smtp_jobs > 0)
        return;
    n->closing = true;
    if (n->own_fe) {
        fetch_engine_free(n->fe);
        n->fe = NULL;
    }
    uv_close((uv_handle_t *)&n->tick, on_closed);
    uv_close((uv_handle_t *)&n->poll, on_closed);
    uv_close((uv_handle_t *)&n->claim, on_closed);
    uv_close((uv_handle_t *)&n->move, on_closed);
    uv_close((uv_handle_t *)&n->deadline, on_closed);
}

static void on_deadline(uv_timer_t *t)
{
    struct notify *n = t->data;
    struct nsend *s, *next;

    /* hand back whatever is still in flight: the entries stay pending in
     * the outbox and another consumer (or our next start) claims them */
    n->hard_stop = true;
    log_info("msg=\"notify: stop deadline, handing back %d sends\"",
             n->inflight);
    for (s = n->sends; s != NULL; s = next) {
        next = s->next;
        if (s->job != NULL) {
            chan_smtp_abort(s->job); /* its callback hands it back */
        } else if (n->own_fe) {
            /* freed below: the callback cancels and hands back */
        } else {
            nsend_unlink(n, s);
            n->inflight--;
            s->n = NULL; /* the shared engine's callback frees it */
        }
    }
    if (n->own_fe) {
        struct fetch_engine *fe = n->fe;
        n->fe = NULL;
        n->own_fe = false;
        fetch_engine_free(fe);
    }
    check_stop(n);
}

void notify_stop(struct notify *n, notify_stopped_cb *cb, void *arg)
{
    n->stopping = true;
    n->stop_cb = cb;
    n->stop_arg = arg;
    uv_timer_stop(&n->tick);
    uv_timer_stop(&n->poll);
    uv_timer_stop(&n->claim);
    uv_timer_stop(&n->move);
    if (n->brc != NULL) {
        struct rconn *b = n->brc;
        n->brc = NULL;
        rconn_free(b); /* the blocked read fails with WM_ECANCELED */
    }
    uv_timer_start(&n->deadline, on_deadline, 2500, 0);
    check_stop(n);
}

void notify_free(struct notify *n)
{
    if (n == NULL)
        return;
    if (n->brc != NULL)
        rconn_free(n->brc);
    if (n->own_fe && n->fe != NULL)
        fetch_engine_free(n->fe);
    nconf_clear(&n->c);
    ntmpl_free(n->tm);
    rconn_script_free(n->s_decide);
    rconn_script_free(n->s_done);
    rconn_script_free(n->s_move);
    rconn_script_free(n->s_replay);
    free(n->redis_url);
    free(n->templates_dir);
    free(n->consumer);
    free(n->shop_opt);
    free(n->prefix);
    free(n);
}

void notify_stats(const struct notify *n, struct notify_stats *out)
{
    *out = n->stats;
    out->inflight = (uint64_t)n->inflight;
    out->webhook_disabled = n->webhook_disabled;
}

struct nreplay {
    notify_count_cb *cb;
    void *arg;
};

static void on_replayed(void *arg, int err, redisReply *r)
{
    struct nreplay *x = arg;

    if (err == 0 && r->type != REDIS_REPLY_INTEGER)
        err = WM_EPROTO;
    x->cb(x->arg, err, err == 0 ? (long)r->integer : 0);
    free(x);
}

int notify_replay_dead(struct notify *n, long max, notify_count_cb *cb,
                       void *arg)
{
    struct nreplay *x = wm_xmalloc(sizeof(*x));
    char mx[24], now[24];
    const char *argv[] = {n->k_dead, n->k_outbox, mx, now};
    int rv;

    x->cb = cb;
    x->arg = arg;
    snprintf(mx, sizeof(mx), "%ld", max);
    snprintf(now, sizeof(now), "%lld", (long long)now_ms());
    rv = neval(n, n->s_replay, on_replayed, x, 2, 2, argv, NULL);
    if (rv != 0)
        free(x);
    return rv;
}

/* --- /metrics --- */

void notify_metrics(const struct notify *n, struct metrics_buf *out)
{
    struct notify_stats ns;

    metrics_head(out, "wismo_notifications_total", "counter",
                 "Notifications, by channel and outcome.");
    if (n == NULL)
        return;
    notify_stats(n, &ns);
    for (int c = 0; c < NOTIFY_CHANNELS; c++)
        for (int o = 0; o < NOTIFY_OUTCOMES; o++)
            metrics_printf(
                out,
                "wismo_notifications_total{channel=\"%s\",outcome=\"%s\"} "
                "%llu\n",
                notify_channel_name((enum notify_channel)c),
                notify_outcome_name((enum notify_outcome)o),
                (unsigned long long)ns.by[c][o]);
}
