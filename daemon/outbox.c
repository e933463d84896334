/*
 * The notifier's Redis boundary (see wismo/outbox.h): scripts, commands,
 * and the translation between Redis replies or stored JSON and the typed
 * structs the rest of the notifier uses.
 */
#include "wismo/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "wismo/log.h"
#include "wismo/rconn.h"
#include "wismo/store.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

static const char *const outcome_names[OUTBOX_NOUTCOMES] = {
    "decided", "deferred", "sent", "retry", "dead", "suppressed"};

const char *outbox_outcome_name(enum outbox_outcome o)
{
    return (unsigned)o < OUTBOX_NOUTCOMES ? outcome_names[o] : "unknown";
}

/* --- Lua --- */

/* KEYS: 1 s:{id} 2 s:{id}:nst 3 s:{id}:notif 4 outbox 5 outbox:later
 *       6 notify:watch 7 optout
 * ARGV: 1 id 2 now_ms 3 now_iso 4 yyyymmdd 5 daily_cap 6 active reasons
 *       (comma list) 7 eta_ms|"" 8 slip_ms 9 next_check_ms|-1 10 ctx JSON
 *       11 prefix, then (channel, recipient, not_before_ms | "x:<why>")
 *       triples. Returns "reason|channel|outcome|why|key" strings, and
 *       "reason|-|episode||n" for each episode started. */
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
    "      out[#out + 1] = r .. '|' .. ch .. '|' .. rec.outcome .. '|' ..\n"
    "        (rec.why or '') .. '|' .. key\n"
    "    end\n"
    "    out[#out + 1] = r .. '|-|episode||' .. ep\n"
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

/* KEYS: 1 outbox:dead 2 outbox | ARGV: 1 start ("-", "(<entry>" or an
 * entry) 2 count 3 now_ms 4 "1": only the entry ARGV[1] itself. Puts each
 * dead letter back in the outbox (attempt 0, created now); one whose
 * message cannot be read stays. Returns {replayed, last entry seen or ""
 * when no more, kept}. */
static const char lua_replay_from[] =
    "local e\n"
    "if ARGV[4] == '1' then\n"
    "  e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])\n"
    "else\n"
    "  e = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT',\n"
    "    tonumber(ARGV[2]))\n"
    "end\n"
    "local done, kept = 0, 0\n"
    "for _, x in ipairs(e) do\n"
    "  local f, m = x[2], nil\n"
    "  for i = 1, #f, 2 do\n"
    "    if f[i] == 'm' then\n"
    "      local ok, v = pcall(cjson.decode, f[i + 1])\n"
    "      if ok and type(v) == 'table' then m = v end\n"
    "    end\n"
    "  end\n"
    "  if m then\n"
    "    m.attempt = 0; m.created_ms = tonumber(ARGV[3])\n"
    "    redis.call('XADD', KEYS[2], '*', 'm', cjson.encode(m))\n"
    "    redis.call('XDEL', KEYS[1], x[1])\n"
    "    done = done + 1\n"
    "  else\n"
    "    kept = kept + 1\n"
    "  end\n"
    "end\n"
    "local last = ''\n"
    "if ARGV[4] ~= '1' and #e == tonumber(ARGV[2]) then last = e[#e][1] end\n"
    "return {done, last, kept}\n";

#define GROUP "notify"

struct outbox {
    struct rconn *rc; /* borrowed */
    char *prefix;
    struct rconn_script *s_decide, *s_done, *s_move, *s_replay, *s_replay_from;
    int pending;
    outbox_idle_cb *idle;
    void *idle_arg;
    char *k_changes, *k_outbox, *k_later, *k_dead, *k_watch, *k_optout;
};

struct outbox *outbox_new(struct rconn *rc, const char *prefix,
                          outbox_idle_cb *idle, void *arg)
{
    struct outbox *o = wm_xcalloc(1, sizeof(*o));

    o->rc = rc;
    o->prefix = wm_xstrdup(prefix != NULL ? prefix : "wismo:");
    o->idle = idle;
    o->idle_arg = arg;
    o->s_decide = rconn_script_new(lua_decide);
    o->s_done = rconn_script_new(lua_done);
    o->s_move = rconn_script_new(lua_move);
    o->s_replay = rconn_script_new(lua_replay);
    o->s_replay_from = rconn_script_new(lua_replay_from);
    o->k_changes = store_key_dup(o->prefix, STORE_KEY_CHANGES, NULL);
    o->k_outbox = store_key_dup(o->prefix, STORE_KEY_OUTBOX, NULL);
    o->k_later = store_key_dup(o->prefix, STORE_KEY_OUTBOX_LATER, NULL);
    o->k_dead = store_key_dup(o->prefix, STORE_KEY_OUTBOX_DEAD, NULL);
    o->k_watch = store_key_dup(o->prefix, STORE_KEY_WATCH, NULL);
    o->k_optout = store_key_dup(o->prefix, STORE_KEY_OPTOUT, NULL);
    return o;
}

void outbox_free(struct outbox *o)
{
    if (o == NULL)
        return;
    rconn_script_free(o->s_decide);
    rconn_script_free(o->s_done);
    rconn_script_free(o->s_move);
    rconn_script_free(o->s_replay);
    rconn_script_free(o->s_replay_from);
    free(o->prefix);
    free(o->k_changes);
    free(o->k_outbox);
    free(o->k_later);
    free(o->k_dead);
    free(o->k_watch);
    free(o->k_optout);
    free(o);
}

int outbox_pending(const struct outbox *o)
{
    return o->pending;
}

/* --- Redis calls, counted so that a stop can wait for them --- */

struct ocall {
    struct outbox *o;
    rconn_reply_cb *cb; /* NULL: the reply is ignored */
    void *arg;
};

static void ocall_done(void *arg, int err, redisReply *r)
{
    struct ocall *c = arg;
    struct outbox *o = c->o;

    if (c->cb != NULL)
        c->cb(c->arg, err, r);
    free(c);
    if (--o->pending == 0 && o->idle != NULL)
        o->idle(o->idle_arg);
}

static struct ocall *ocall_new(struct outbox *o, rconn_reply_cb *cb, void *arg)
{
    struct ocall *c = wm_xmalloc(sizeof(*c));

    c->o = o;
    c->cb = cb;
    c->arg = arg;
    o->pending++;
    return c;
}

static int ocall_failed(struct ocall *c, int rv)
{
    if (rv != 0) {
        c->o->pending--;
        free(c);
    }
    return rv;
}

static int ocmd(struct outbox *o, struct rconn *rc, rconn_reply_cb *cb,
                void *arg, int argc, const char **argv)
{
    struct ocall *c = ocall_new(o, cb, arg);

    return ocall_failed(c, rconn_command(rc, ocall_done, c, argc, argv, NULL));
}

static int oeval(struct outbox *o, struct rconn_script *s, rconn_reply_cb *cb,
                 void *arg, int nkeys, int nargs, const char **argv)
{
    struct ocall *c = ocall_new(o, cb, arg);

    return ocall_failed(
        c, rconn_eval(o->rc, s, ocall_done, c, nkeys, nargs, argv, NULL));
}

/* A caller's callback and argument, for replies translated here. */
struct otask {
    struct outbox *o;
    union {
        outbox_status_cb *status;
        outbox_batch_cb *batch;
        outbox_decided_cb *decided;
        outbox_ids_cb *ids;
        outbox_count_cb *count;
        outbox_dead_cb *dead;
        outbox_replayed_cb *replayed;
    } cb;
    void *arg;
};

static struct otask *otask_new(struct outbox *o, void *arg)
{
    struct otask *t = wm_xcalloc(1, sizeof(*t));

    t->o = o;
    t->arg = arg;
    return t;
}

/* The reply's error as a code (logged once here). */
static int reply_err(int err, const redisReply *r, const char *what)
{
    if (err != 0)
        return err;
    if (r->type == REDIS_REPLY_ERROR) {
        if (strstr(r->str, "NOGROUP") != NULL)
            return WM_ENOTFOUND;
        log_warn("msg=\"notify: %s failed: %s\"", what, r->str);
        return WM_EPROTO;
    }
    return 0;
}

/* --- consumer groups --- */

static void on_group(void *arg, int err, redisReply *r)
{
    struct otask *t = arg;

    if (err == 0 && r->type == REDIS_REPLY_ERROR &&
        strstr(r->str, "BUSYGROUP") == NULL) {
        log_warn("msg=\"notify: XGROUP CREATE failed: %s\"", r->str);
        err = WM_EPROTO;
    }
    if (t != NULL) /* the second reply (outbox) decides */
        t->cb.status(t->arg, err);
    free(t);
}

int outbox_groups(struct outbox *o, outbox_status_cb *cb, void *arg)
{
    const char *a[] = {"XGROUP", "CREATE", o->k_changes,
                       GROUP,    "$",      "MKSTREAM"};
    const char *b[] = {"XGROUP", "CREATE", o->k_outbox, GROUP, "0", "MKSTREAM"};
    struct otask *t = otask_new(o, arg);
    int rv;

    t->cb.status = cb;
    ocmd(o, o->rc, on_group, NULL, 6, a);
    rv = ocmd(o, o->rc, on_group, t, 6, b);
    if (rv != 0)
        free(t);
    return rv;
}

/* --- messages: the JSON kept in Redis <-> struct outbox_msg --- */

static const struct {
    const char *name;
    size_t off;
} ctx_fields[] = {
#define F(x)                                                                   \
    {                                                                          \
#x, offsetof(struct outbox_ctx, x)                                     \
    }
    F(shipment_id),       F(order_id),     F(carrier),   F(tracking_number),
    F(tracking_url),      F(status),       F(substatus), F(estimated_delivery),
    F(promised_delivery), F(delivered_at), F(locale),    F(zone),
    F(pickup_point),
#undef F
};

static char **ctx_field(struct outbox_ctx *c, size_t i)
{
    return (char **)(void *)((char *)c + ctx_fields[i].off);
}

static const char *ctx_value(const struct outbox_ctx *c, size_t i)
{
    const char *v =
        *(char *const *)(const void *)((const char *)c + ctx_fields[i].off);
    return v != NULL ? v : "";
}

void outbox_ctx_clear(struct outbox_ctx *c)
{
    for (size_t i = 0; i < WM_ARRAY_LEN(ctx_fields); i++)
        free(*ctx_field(c, i));
    memset(c, 0, sizeof(*c));
}

void outbox_msg_free(struct outbox_msg *m)
{
    if (m == NULL)
        return;
    free(m->entry);
    free(m->key);
    free(m->id);
    free(m->to);
    free(m->created_at);
    outbox_ctx_clear(&m->ctx);
    free(m);
}

/* The snapshot as the JSON text stored in messages (owned). */
static char *ctx_dump(const struct outbox_ctx *c)
{
    json_t *o = json_object();
    char *s;

    for (size_t i = 0; i < WM_ARRAY_LEN(ctx_fields); i++)
        json_object_set_new(o, ctx_fields[i].name,
                            json_string(ctx_value(c, i)));
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s != NULL ? s : wm_xstrdup("{}");
}

static char *jdup(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return wm_xstrdup(v != NULL ? v : "");
}

/* A JSON number (cjson may write an integer as a real). */
static long long jnum(const json_t *o, const char *k)
{
    return (long long)json_number_value(json_object_get(o, k));
}

static void ctx_load(struct outbox_ctx *c, const char *text)
{
    json_t *o = json_loads(text != NULL ? text : "", 0, NULL);

    for (size_t i = 0; i < WM_ARRAY_LEN(ctx_fields); i++)
        *ctx_field(c, i) = jdup(o, ctx_fields[i].name);
    json_decref(o);
}

/* Parses a stored message; NULL when it is not one. */
static struct outbox_msg *msg_parse(const char *entry, const char *text)
{
    json_t *o = json_loads(text, 0, NULL);
    struct outbox_msg *m = NULL;
    enum nrules_reason r;
    enum nrules_channel ch;

    if (o == NULL ||
        nrules_reason_parse(json_string_value(json_object_get(o, "reason")),
                            &r) != 0 ||
        nrules_channel_parse(json_string_value(json_object_get(o, "channel")),
                             &ch) != 0)
        goto out;
    m = wm_xcalloc(1, sizeof(*m));
    m->entry = wm_xstrdup(entry);
    m->key = jdup(o, "key");
    m->id = jdup(o, "id");
    m->reason = r;
    m->channel = ch;
    m->episode = jnum(o, "episode");
    m->to = jdup(o, "to");
    m->attempt = (long)jnum(o, "attempt");
    m->created_at = jdup(o, "created_at");
    m->created_ms = (int64_t)jnum(o, "created_ms");
    ctx_load(&m->ctx, json_string_value(json_object_get(o, "ctx")));
out:
    json_decref(o);
    return m;
}

/* The message as stored, with attempt (owned). */
static char *msg_dump(const struct outbox_msg *m, long attempt)
{
    char *ctx = ctx_dump(&m->ctx), *s;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:s, s:I, s:s}", "key", m->key,
        "id", m->id, "reason", nrules_reason_name(m->reason), "episode",
        (json_int_t)m->episode, "channel", nrules_channel_name(m->channel),
        "to", m->to, "attempt", (json_int_t)attempt, "created_at",
        m->created_at, "created_ms", (json_int_t)m->created_ms, "ctx", ctx);

    free(ctx);
    s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s != NULL ? s : wm_xstrdup("{}");
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

static void batch_clear(struct outbox_batch *b)
{
    for (size_t i = 0; i < b->nchanges; i++) {
        free(b->changes[i].entry);
        free(b->changes[i].id);
    }
    for (size_t i = 0; i < b->nmsgs; i++)
        outbox_msg_free(b->msgs[i]);
    free(b->changes);
    free(b->msgs);
    memset(b, 0, sizeof(*b));
}

void outbox_ack_change(struct outbox *o, const char *entry)
{
    const char *argv[] = {"XACK", o->k_changes, GROUP, entry};

    if (entry != NULL)
        ocmd(o, o->rc, NULL, NULL, 4, argv);
}

/* A message we cannot read: straight to the dead letters. */
static void dead_letter_raw(struct outbox *o, const char *entry,
                            const char *text)
{
    const char *argv[] = {o->k_outbox, o->k_later, o->k_dead, o->k_later,
                          o->k_later,  GROUP,      entry,     "dead",
                          text,        "0",        "",        "bad_message"};

    log_warn("msg=\"notify: unreadable outbox message, dead-lettered\" "
             "entry=%s",
             entry);
    oeval(o, o->s_done, NULL, NULL, 5, 7, argv);
}

static void take_msg(struct outbox *o, struct outbox_batch *b,
                     const char *entry, const char *text)
{
    const char *ack[] = {"XACK", o->k_outbox, GROUP, entry};
    size_t cap = b->nmsgs;
    struct outbox_msg *m;

    if (text == NULL) { /* a deleted entry: drop it */
        ocmd(o, o->rc, NULL, NULL, 4, ack);
        return;
    }
    if ((m = msg_parse(entry, text)) == NULL) {
        dead_letter_raw(o, entry, text);
        return;
    }
    wm_grow((void **)&b->msgs, &cap, b->nmsgs + 1, sizeof(struct outbox_msg *));
    b->msgs[b->nmsgs++] = m;
}

static void take_change(struct outbox *o, struct outbox_batch *b,
                        const char *entry, const char *id)
{
    size_t cap = b->nchanges;

    if (id == NULL) {
        outbox_ack_change(o, entry);
        return;
    }
    wm_grow((void **)&b->changes, &cap, b->nchanges + 1, sizeof(*b->changes));
    b->changes[b->nchanges].entry = wm_xstrdup(entry);
    b->changes[b->nchanges].id = wm_xstrdup(id);
    b->nchanges++;
}

/* entries: the array of [id, [field, value...]] */
static void take_entries(struct outbox *o, struct outbox_batch *b,
                         const redisReply *entries, bool outbox)
{
    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        const char *id;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        id = e->element[0]->str;
        b->entries++;
        if (outbox)
            take_msg(o, b, id, field(e->element[1], "m"));
        else
            take_change(o, b, id, field(e->element[1], "id"));
    }
}

static void on_read(void *arg, int err, redisReply *r)
{
    struct otask *t = arg;
    struct outbox *o = t->o;
    struct outbox_batch b = {0};

    err = reply_err(err, r, "read");
    if (err == 0 && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *s = r->element[i];

            if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 ||
                s->element[0]->type != REDIS_REPLY_STRING)
                continue;
            take_entries(o, &b, s->element[1],
                         strcmp(s->element[0]->str, o->k_outbox) == 0);
        }
    }
    t->cb.batch(t->arg, err, &b);
    batch_clear(&b);
    free(t);
}

int outbox_read(struct outbox *o, struct rconn *rc, const char *consumer,
                int count, long block_ms, outbox_batch_cb *cb, void *arg)
{
    const char *argv[16];
    char cnt[16], blk[24];
    int argc = 0, rv;
    struct otask *t;

    if (count <= 0)
        return WM_EINVAL;
    snprintf(cnt, sizeof(cnt), "%d", count);
    snprintf(blk, sizeof(blk), "%ld", block_ms);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = GROUP;
    argv[argc++] = consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = cnt;
    if (block_ms > 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = blk;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = o->k_changes;
    argv[argc++] = o->k_outbox;
    argv[argc++] = ">";
    argv[argc++] = ">";
    t = otask_new(o, arg);
    t->cb.batch = cb;
    if ((rv = ocmd(o, rc, on_read, t, argc, argv)) != 0)
        free(t);
    return rv;
}

/* XAUTOCLAIM answers [next, entries, (deleted)]. */
static void on_claimed(void *arg, int err, redisReply *r, bool outbox)
{
    struct otask *t = arg;
    struct outbox_batch b = {0};

    err = reply_err(err, r, "claim");
    if (err == 0 && r->type == REDIS_REPLY_ARRAY && r->elements >= 2)
        take_entries(t->o, &b, r->element[1], outbox);
    t->cb.batch(t->arg, err, &b);
    batch_clear(&b);
    free(t);
}

static void on_claimed_msgs(void *arg, int err, redisReply *r)
{
    on_claimed(arg, err, r, true);
}

static void on_claimed_changes(void *arg, int err, redisReply *r)
{
    on_claimed(arg, err, r, false);
}

static int claim_one(struct outbox *o, const char *stream, const char *consumer,
                     const char *idle, const char *count, rconn_reply_cb *rcb,
                     outbox_batch_cb *cb, void *arg)
{
    const char *argv[] = {"XAUTOCLAIM", stream, GROUP,   consumer,
                          idle,         "0-0",  "COUNT", count};
    struct otask *t = otask_new(o, arg);
    int rv;

    t->cb.batch = cb;
    if ((rv = ocmd(o, o->rc, rcb, t, 8, argv)) != 0)
        free(t);
    return rv;
}

int outbox_claim(struct outbox *o, const char *consumer, long idle_ms,
                 int count, outbox_batch_cb *cb, void *arg)
{
    char idle[24], cnt[16];
    int rv = 0;

    snprintf(idle, sizeof(idle), "%ld", idle_ms);
    snprintf(cnt, sizeof(cnt), "%d", count);
    if (count > 0)
        rv = claim_one(o, o->k_outbox, consumer, idle, cnt, on_claimed_msgs, cb,
                       arg);
    if (rv == 0)
        rv = claim_one(o, o->k_changes, consumer, idle, "100",
                       on_claimed_changes, cb, arg);
    return rv;
}

/* --- decisions --- */

/* A growing argv whose strings are borrowed or owned. */
struct oargs {
    const char *v[48];
    char *own[48];
    int n, nown;
};

static void oa_add(struct oargs *a, const char *s)
{
    if (a->n < (int)WM_ARRAY_LEN(a->v))
        a->v[a->n++] = s;
}

static void oa_own(struct oargs *a, char *s)
{
    if (a->n >= (int)WM_ARRAY_LEN(a->v)) {
        free(s);
        return;
    }
    a->own[a->nown++] = s;
    a->v[a->n++] = s;
}

static void oa_i64(struct oargs *a, int64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    oa_own(a, wm_xstrdup(buf));
}

static void oa_clear(struct oargs *a)
{
    for (int i = 0; i < a->nown; i++)
        free(a->own[i]);
}

/* "exception,stalled," of the active reasons (owned). */
static char *active_list(unsigned active)
{
    char buf[256] = "";

    for (int r = 0; r < NRULES_NREASONS; r++)
        if (active & (1u << r)) {
            strcat(buf, nrules_reason_name((enum nrules_reason)r));
            strcat(buf, ",");
        }
    return wm_xstrdup(buf);
}

static void decide_args(struct outbox *o, const struct outbox_decision *d,
                        struct oargs *a)
{
    char iso[WMTIME_BUFSZ], day[16];
    struct wmtime_civil cv;

    wmtime_format(d->now_ms / 1000, iso);
    wmtime_to_civil(d->now_ms / 1000, &cv);
    snprintf(day, sizeof(day), "%04d%02d%02d", cv.year, cv.month, cv.day);
    oa_own(a, store_key_dup(o->prefix, STORE_KEY_SHIP, d->id));
    oa_own(a, store_key_dup(o->prefix, STORE_KEY_NST, d->id));
    oa_own(a, store_key_dup(o->prefix, STORE_KEY_NOTIF, d->id));
    oa_add(a, o->k_outbox);
    oa_add(a, o->k_later);
    oa_add(a, o->k_watch);
    oa_add(a, o->k_optout);
    oa_add(a, d->id);
    oa_i64(a, d->now_ms);
    oa_own(a, wm_xstrdup(iso));
    oa_own(a, wm_xstrdup(day));
    oa_i64(a, d->daily_cap);
    oa_own(a, active_list(d->active));
    if (d->eta_ms >= 0)
        oa_i64(a, d->eta_ms);
    else
        oa_add(a, "");
    oa_i64(a, d->eta_slip_ms);
    oa_i64(a, d->next_check_ms);
    oa_own(a, ctx_dump(d->ctx));
    oa_add(a, o->prefix);
}

static void target_args(const struct nrules_targets *ts, struct oargs *a)
{
    char why[48];

    for (size_t i = 0; i < ts->n; i++) {
        const struct nrules_target *t = &ts->t[i];

        oa_add(a, nrules_channel_name(t->channel));
        oa_add(a, t->to);
        if (t->why != NULL) {
            snprintf(why, sizeof(why), "x:%s", t->why);
            oa_own(a, wm_xstrdup(why));
        } else {
            oa_i64(a, t->not_before_ms);
        }
    }
    if (ts->n == 0) {
        snprintf(why, sizeof(why), "x:%s",
                 ts->none_why != NULL ? ts->none_why : "no_recipient");
        oa_add(a, "none");
        oa_add(a, "");
        oa_own(a, wm_xstrdup(why));
    }
}

/* "reason|channel|outcome|why|key" into item (pointing into line). */
static bool decided_parse(char *line, struct outbox_decided *it)
{
    char *f[5], *p = line;
    enum nrules_channel ch;

    for (int i = 0; i < 5; i++) {
        f[i] = p;
        if (i < 4 && (p = strchr(p, '|')) == NULL)
            return false;
        if (i < 4)
            *p++ = '\0';
    }
    memset(it, 0, sizeof(*it));
    if (nrules_reason_parse(f[0], &it->reason) != 0)
        return false;
    it->episode = strcmp(f[2], "episode") == 0;
    it->channel = nrules_channel_parse(f[1], &ch) == 0 ? (int)ch : -1;
    it->why = f[3][0] != '\0' ? f[3] : NULL;
    it->key = f[4];
    if (it->episode)
        return true;
    for (int o = 0; o < OUTBOX_NOUTCOMES; o++)
        if (strcmp(f[2], outcome_names[o]) == 0) {
            it->outcome = (enum outbox_outcome)o;
            return true;
        }
    return false;
}

static void on_decided(void *arg, int err, redisReply *r)
{
    struct otask *t = arg;
    struct outbox_decided items[64];
    size_t n = 0;

    err = reply_err(err, r, "decide");
    if (err == 0 && r->type != REDIS_REPLY_ARRAY)
        err = WM_EPROTO;
    for (size_t i = 0; err == 0 && i < r->elements && n < 64; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            decided_parse(r->element[i]->str, &items[n]))
            n++;
    t->cb.decided(t->arg, err, items, n);
    free(t);
}

int outbox_decide(struct outbox *o, const struct outbox_decision *d,
                  outbox_decided_cb *cb, void *arg)
{
    struct oargs a = {0};
    struct otask *t = otask_new(o, arg);
    int rv;

    t->cb.decided = cb;
    decide_args(o, d, &a);
    target_args(d->targets, &a);
    rv = oeval(o, o->s_decide, on_decided, t, 7, a.n - 7, a.v);
    if (rv != 0)
        free(t);
    oa_clear(&a);
    return rv;
}

void outbox_unwatch(struct outbox *o, const char *id)
{
    const char *argv[] = {"ZREM", o->k_watch, id};

    ocmd(o, o->rc, NULL, NULL, 3, argv);
}

/* --- a send's end --- */

/* s cut to at most max bytes at a UTF-8 character boundary, "…" (3
 * bytes, within max) marking the cut; a new JSON string. */
static json_t *bounded(const char *s, size_t max)
{
    size_t n = strlen(s);
    char *cut;
    json_t *j;

    if (n <= max)
        return json_string(s);
    n = max - 3;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* s[n] starts a character: cut before it */
    cut = wm_xmalloc(n + 4);
    memcpy(cut, s, n);
    memcpy(cut + n, "\xe2\x80\xa6", 4);
    j = json_string(cut);
    free(cut);
    return j;
}

static char *record(const struct outbox_msg *m, const struct outbox_result *r)
{
    char iso[WMTIME_BUFSZ], *s;
    json_t *o;

    wmtime_format(r->now_ms / 1000, iso);
    o = json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:s}", "at", iso, "reason",
        nrules_reason_name(m->reason), "episode", (json_int_t)m->episode,
        "channel", nrules_channel_name(m->channel), "key", m->key, "outcome",
        outbox_outcome_name(r->outcome), "attempt", (json_int_t)m->attempt + 1,
        "why", r->why != NULL ? r->why : "");
    /* json_string refuses invalid UTF-8 (NULL): the field is left out */
    if (o != NULL && r->subject != NULL)
        json_object_set_new(o, "subject",
                            bounded(r->subject, OUTBOX_SUBJECT_MAX));
    if (o != NULL && r->text != NULL)
        json_object_set_new(o, "text", bounded(r->text, OUTBOX_TEXT_MAX));
    s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s != NULL ? s : wm_xstrdup("");
}

static void on_status(void *arg, int err, redisReply *r)
{
    struct otask *t = arg;

    err = reply_err(err, r, "write");
    if (t->cb.status != NULL)
        t->cb.status(t->arg, err);
    free(t);
}

int outbox_done(struct outbox *o, const struct outbox_msg *m,
                const struct outbox_result *r, outbox_status_cb *cb, void *arg)
{
    struct oargs a = {0};
    struct otask *t = otask_new(o, arg);
    bool retry = r->outcome == OUTBOX_RETRY;
    int rv;

    t->cb.status = cb;
    oa_add(&a, o->k_outbox);
    oa_add(&a, o->k_later);
    oa_add(&a, o->k_dead);
    oa_own(&a, store_key_dup(o->prefix, STORE_KEY_SHIP, m->id));
    oa_own(&a, store_key_dup(o->prefix, STORE_KEY_NOTIF, m->id));
    oa_add(&a, GROUP);
    oa_add(&a, m->entry);
    oa_add(&a, outbox_outcome_name(r->outcome));
    oa_own(&a, msg_dump(m, retry ? m->attempt + 1 : m->attempt));
    oa_i64(&a, r->due_ms);
    oa_own(&a, record(m, r));
    oa_add(&a, r->why != NULL ? r->why : "");
    rv = oeval(o, o->s_done, on_status, t, 5, 7, a.v);
    if (rv != 0)
        free(t);
    oa_clear(&a);
    return rv;
}

/* --- the watch set, deferred messages, dead letters --- */

static void on_ids(void *arg, int err, redisReply *r)
{
    struct otask *t = arg;
    const char *ids[500];
    size_t n = 0;

    err = reply_err(err, r, "watch");
    if (err == 0 && r->type != REDIS_REPLY_ARRAY)
        err = WM_EPROTO;
    for (size_t i = 0; err == 0 && i < r->elements && n < 500; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            ids[n++] = r->element[i]->str;
    t->cb.ids(t->arg, err, ids, n);
    free(t);
}

int outbox_due(struct outbox *o, int64_t now_ms, int max, outbox_ids_cb *cb,
               void *arg)
{
    char now[24], mx[16];
    const char *argv[] = {"ZRANGEBYSCORE", o->k_watch, "-inf", now,
                          "LIMIT",         "0",        mx};
    struct otask *t = otask_new(o, arg);
    int rv;

    t->cb.ids = cb;
    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    snprintf(mx, sizeof(mx), "%d", max < 500 ? max : 500);
    if ((rv = ocmd(o, o->rc, on_ids, t, 7, argv)) != 0)
        free(t);
    return rv;
}

void outbox_move(struct outbox *o, int64_t now_ms, int max)
{
    char now[24], mx[16];
    const char *argv[] = {o->k_later, o->k_outbox, now, mx};

    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    snprintf(mx, sizeof(mx), "%d", max);
    oeval(o, o->s_move, NULL, NULL, 2, 2, argv);
}

static void on_count(void *arg, int err, redisReply *r)
{
    struct otask *t = arg;

    err = reply_err(err, r, "replay");
    if (err == 0 && r->type != REDIS_REPLY_INTEGER)
        err = WM_EPROTO;
    t->cb.count(t->arg, err, err == 0 ? (long)r->integer : 0);
    free(t);
}

int outbox_replay(struct outbox *o, long max, int64_t now_ms,
                  outbox_count_cb *cb, void *arg)
{
    char mx[24], now[24];
    const char *argv[] = {o->k_dead, o->k_outbox, mx, now};
    struct otask *t = otask_new(o, arg);
    int rv;

    t->cb.count = cb;
    snprintf(mx, sizeof(mx), "%ld", max);
    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    if ((rv = oeval(o, o->s_replay, on_count, t, 2, 2, argv)) != 0)
        free(t);
    return rv;
}

/* --- dead letters for the operator (wismoctl dead-letters, replay) --- */

static void on_dead(void *arg, int err, redisReply *r)
{
    struct otask *t = arg;
    struct outbox_dead *items = NULL;
    struct outbox_msg **msgs = NULL;
    size_t n = 0;

    err = reply_err(err, r, "dead letters");
    if (err == 0 && r->type != REDIS_REPLY_ARRAY)
        err = WM_EPROTO;
    if (err == 0) {
        items = wm_xcalloc(r->elements + 1, sizeof(*items));
        /* An array of pointers: sizeof a pointer is meant. */
        // NOLINTNEXTLINE(bugprone-sizeof-expression)
        msgs = wm_xcalloc(r->elements + 1, sizeof(*msgs));
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            const char *text;

            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            text = field(e->element[1], "m");
            items[n].entry = e->element[0]->str;
            items[n].why = field(e->element[1], "why");
            msgs[n] = text != NULL ? msg_parse(items[n].entry, text) : NULL;
            items[n].msg = msgs[n];
            n++;
        }
    }
    t->cb.dead(t->arg, err, items, n);
    for (size_t i = 0; i < n; i++)
        outbox_msg_free(msgs[i]);
    free(msgs);
    free(items);
    free(t);
}

int outbox_dead_list(struct outbox *o, const char *start, int count,
                     outbox_dead_cb *cb, void *arg)
{
    char cnt[16];
    const char *argv[] = {"XRANGE", o->k_dead, start, "+", "COUNT", cnt};
    struct otask *t;
    int rv;

    if (count <= 0 || start == NULL)
        return WM_EINVAL;
    snprintf(cnt, sizeof(cnt), "%d", count);
    t = otask_new(o, arg);
    t->cb.dead = cb;
    if ((rv = ocmd(o, o->rc, on_dead, t, 6, argv)) != 0)
        free(t);
    return rv;
}

static void on_replayed(void *arg, int err, redisReply *r)
{
    struct otask *t = arg;
    long long n = 0, kept = 0;
    const char *next = NULL;

    err = reply_err(err, r, "replay");
    if (err == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
                     r->element[0]->type != REDIS_REPLY_INTEGER ||
                     r->element[1]->type != REDIS_REPLY_STRING ||
                     r->element[2]->type != REDIS_REPLY_INTEGER))
        err = WM_EPROTO;
    if (err == 0) {
        n = r->element[0]->integer;
        next = r->element[1]->str[0] != '\0' ? r->element[1]->str : NULL;
        kept = r->element[2]->integer;
    }
    t->cb.replayed(t->arg, err, (long)n, (long)kept, next);
    free(t);
}

int outbox_replay_from(struct outbox *o, const char *start, bool only,
                       int count, int64_t now_ms, outbox_replayed_cb *cb,
                       void *arg)
{
    char cnt[16], now[24];
    const char *argv[] = {o->k_dead, o->k_outbox, start,
                          cnt,       now,         only ? "1" : "0"};
    struct otask *t;
    int rv;

    if (count <= 0 || start == NULL)
        return WM_EINVAL;
    snprintf(cnt, sizeof(cnt), "%d", count);
    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    t = otask_new(o, arg);
    t->cb.replayed = cb;
    if ((rv = oeval(o, o->s_replay_from, on_replayed, t, 2, 4, argv)) != 0)
        free(t);
    return rv;
}
