/*
 * The Redis store (key layout in store.h). Four Lua scripts carry every
 * multi-key write: register, claim, merge and release. Each public call
 * packs its arguments, sends one EVALSHA through rconn and unpacks the
 * reply in a small per-call context freed after its callback.
 */
#include "wismo/store.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/num.h"
#include "wismo/registration.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define STREAM_MAXLEN "1000000"

/* KEYS: idx:num due idx:created notify:watch | ARGV: carrier number new_id
 * now_ms now_iso prefix, then field/value pairs to set when not empty.
 * Returns {id, created}. */
static const char lua_add[] = STORE_LUA_KEYS
    "local k = ARGV[1] .. ':' .. ARGV[2]\n"
    "local id = redis.call('HGET', KEYS[1], k)\n"
    "local created = 0\n"
    "if not id then\n"
    "  id = ARGV[3]; created = 1\n"
    "  redis.call('HSET', KEYS[1], k, id)\n"
    "end\n"
    "local sk = k_ship(ARGV[6], id)\n"
    "if created == 1 then\n"
    "  redis.call('HSET', sk, 'id', id, 'carrier', ARGV[1],\n"
    "    'tracking_number', ARGV[2], 'status', 'pending', 'substatus', '',\n"
    "    'estimated_delivery', '', 'delivered_at', '', 'created_at', ARGV[5],\n"
    "    'created_ms', ARGV[4], 'updated_at', ARGV[5], 'polls', 0,\n"
    "    'event_count', 0)\n"
    "  redis.call('ZADD', KEYS[2], ARGV[4], id)\n"
    "  redis.call('SADD', k_idx(ARGV[6], 'trk', ARGV[2]), id)\n"
    "  redis.call('ZADD', KEYS[3], ARGV[4], id)\n"
    /* The notifier's time-based rules (promise missed) also watch a
     * shipment the carrier never answers for. */
    "  redis.call('ZADD', KEYS[4], 'NX', ARGV[4], id)\n"
    "end\n"
    "local old_order = redis.call('HGET', sk, 'order_id')\n"
    "local indexed = {order_id = 'order', email = 'email', phone = 'phone',\n"
    "  postcode = 'postcode'}\n"
    /* Order ids are indexed in upper case (registration_order_key). */
    "local function ixval(ix, v)\n"
    "  if ix == 'order' then return string.upper(v) end\n"
    "  return v\n"
    "end\n"
    "for i = 7, #ARGV, 2 do\n"
    "  if ARGV[i + 1] ~= '' then\n"
    "    local ix = indexed[ARGV[i]]\n"
    "    if ix then\n"
    "      local old = redis.call('HGET', sk, ARGV[i])\n"
    "      if old and old ~= ARGV[i + 1] then\n"
    "        redis.call('SREM', k_idx(ARGV[6], ix, ixval(ix, old)), id)\n"
    "      end\n"
    "      redis.call('SADD', k_idx(ARGV[6], ix, ixval(ix, ARGV[i + 1])), id)\n"
    "    end\n"
    "    redis.call('HSET', sk, ARGV[i], ARGV[i + 1])\n"
    "  end\n"
    "end\n"
    "if created == 0 then redis.call('HSET', sk, 'updated_at', ARGV[5]) end\n"
    /* The order's rendered answer (and a former order's) is stale now. */
    "lookup_drop(ARGV[6], old_order)\n"
    "local new_order = redis.call('HGET', sk, 'order_id')\n"
    "if new_order ~= old_order then lookup_drop(ARGV[6], new_order) end\n"
    "return {id, created}\n";

/* KEYS: due lease lease:owner | ARGV: now_ms lease_ms max owner prefix.
 * Expired leases (a dead process) go back to the due set first. Returns a
 * flat list id, carrier, tracking_number, status, digest, push_sub,
 * push_since_ms, push_until_ms, push_retry_ms, push_ms, last_event_ms,
 * news_ms, poll_ms (else created_ms): CLAIM_FIELDS each. */
static const char lua_claim[] = STORE_LUA_KEYS
    "local now = tonumber(ARGV[1])\n"
    "local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now,\n"
    "  'LIMIT', 0, 1000)\n"
    "for _, id in ipairs(dead) do\n"
    "  redis.call('ZREM', KEYS[2], id)\n"
    "  redis.call('HDEL', KEYS[3], id)\n"
    "  redis.call('ZADD', KEYS[1], 'NX', now, id)\n"
    "end\n"
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,\n"
    "  'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "  local f = redis.call('HMGET', k_ship(ARGV[5], id),\n"
    "    'carrier', 'tracking_number', 'status', 'digest', 'push_sub',\n"
    "    'push_since_ms', 'push_until_ms', 'push_retry_ms', 'push_ms',\n"
    "    'last_event_ms', 'news_ms', 'poll_ms', 'created_ms')\n"
    "  if f[1] and f[2] then\n"
    "    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), id)\n"
    "    redis.call('HSET', KEYS[3], id, ARGV[4])\n"
    "    out[#out + 1] = id\n"
    "    out[#out + 1] = f[1]\n"
    "    out[#out + 1] = f[2]\n"
    "    out[#out + 1] = f[3] or 'pending'\n"
    "    out[#out + 1] = f[4] or ''\n"
    "    for i = 5, 11 do out[#out + 1] = f[i] or '' end\n"
    "    out[#out + 1] = f[12] or f[13] or ''\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: s:{id} s:{id}:ev due lease lease:owner changes s:{id}:evseq
 *       idx:final idx:pii
 * ARGV: 1 id 2 owner ("" for a push) 3 now_ms 4 now_iso 5 ok|same|error
 *       6 error 7 status
 *       8 substatus 9 eta 10 delivered_at 11 newest_event_ms
 *       12 next_due_ms 13 expire_after_ms 14 not_found_expire_ms
 *       15 newest_event_iso 16 digest 17 prefix 18 news_ms ("": no
 *       news), then event key/json pairs in the carrier's order (oldest
 *       first; ties as the carrier told them).
 * A new event gets the next sequence number in s:{id}:evseq, which orders
 * events of the same second when they are read. A change drops the
 * order's rendered lookup answer.
 * "same": the answer's digest equals the one stored with the last full
 * merge, so no events are sent and only the poll is recorded.
 * A push (owner ""): no lease is checked, taken or dropped; the answer
 * holds only the pushed events, so the status, substatus and delivery
 * time move only with an event at least as new as the newest stored (a
 * late or repeated push never regresses it), an empty ETA keeps the
 * stored one, and the schedule moves to next_due_ms (the safety net) only
 * when events were added and no poll holds the lease.
 * poll_ms (a poll's time) and news_ms (when the newest scan most likely
 * happened, on wismo's clock: a push's time, or as the poller tells) time
 * the next polls (policy_likely_due).
 * A shipment that turns final (delivered, returned, expired) enters
 * idx:final and idx:pii with the time it did; one that turns open again
 * leaves them (retention erases from them, never by scanning).
 * Returns {verdict, added, changed, status}. */
static const char lua_merge[] = STORE_LUA_KEYS
    "local id, owner, now = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "local push = owner == ''\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
    "  redis.call('ZREM', KEYS[4], id)\n"
    "  redis.call('HDEL', KEYS[5], id)\n"
    "  redis.call('ZREM', KEYS[3], id)\n"
    "  return {'gone', 0, 0, ''}\n"
    "end\n"
    "if not push and redis.call('HGET', KEYS[5], id) ~= owner then\n"
    "  return {'stale', 0, 0, ''}\n"
    "end\n"
    "local f = redis.call('HMGET', KEYS[1], 'status', 'substatus',\n"
    "  'estimated_delivery', 'delivered_at', 'last_event_ms', 'created_ms',\n"
    "  'not_found_ms', 'carrier', 'tracking_number', 'order_id',\n"
    "  'push_renew_ms')\n"
    "local old = f[1] or 'pending'\n"
    "local status, sub, eta, dlv = old, f[2] or '', f[3] or '', f[4] or ''\n"
    "local last_ev = tonumber(f[5]) or 0\n"
    "local added = 0\n"
    "if push then\n"
    "  redis.call('HSET', KEYS[1], 'push_ms', ARGV[3], 'push_at', ARGV[4])\n"
    "else\n"
    "  redis.call('HINCRBY', KEYS[1], 'polls', 1)\n"
    "  redis.call('HSET', KEYS[1], 'last_poll_at', ARGV[4], 'poll_ms',\n"
    "    ARGV[3])\n"
    "  if ARGV[18] ~= '' then redis.call('HSET', KEYS[1], 'news_ms', ARGV[18]) "
    "end\n"
    "end\n"
    "if ARGV[5] == 'same' then\n"
    "  redis.call('HDEL', KEYS[1], 'last_error', 'not_found_ms',\n"
    "    'not_found_since')\n"
    "elseif ARGV[5] == 'ok' then\n"
    /* A push is not a full answer: the next poll merges in full. */
    "  if push then redis.call('HDEL', KEYS[1], 'digest')\n"
    "  else redis.call('HSET', KEYS[1], 'digest', ARGV[16]) end\n"
    "  for i = 19, #ARGV, 2 do\n"
    "    if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then\n"
    "      added = added + 1\n"
    "      redis.call('HSET', KEYS[7], ARGV[i],\n"
    "        redis.call('HINCRBY', KEYS[1], 'event_seq', 1))\n"
    "    end\n"
    "  end\n"
    "  local newest = tonumber(ARGV[11])\n"
    "  if not push then\n"
    "    status, sub, eta, dlv = ARGV[7], ARGV[8], ARGV[9], ARGV[10]\n"
    "  elseif newest >= last_ev then\n"
    "    status, sub = ARGV[7], ARGV[8]\n"
    "    if ARGV[9] ~= '' then eta = ARGV[9] end\n"
    "    if ARGV[10] ~= '' then dlv = ARGV[10]\n"
    "    elseif status ~= 'delivered' then dlv = '' end\n"
    "    if status == 'delivered' or status == 'returned' then eta = '' end\n"
    "  end\n"
    "  if newest > last_ev then\n"
    "    last_ev = newest\n"
    "    redis.call('HSET', KEYS[1], 'last_event_ms', ARGV[11],\n"
    "      'last_event_at', ARGV[15])\n"
    "    if push then redis.call('HSET', KEYS[1], 'news_ms', ARGV[3]) end\n"
    "  end\n"
    "  redis.call('HDEL', KEYS[1], 'last_error', 'not_found_ms',\n"
    "    'not_found_since')\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], 'last_error',\n"
    "    cjson.encode({error = ARGV[6], at = ARGV[4]}))\n"
    "  if ARGV[6] == 'not_found' then\n"
    "    local nf = tonumber(f[7])\n"
    "    if not nf then\n"
    "      nf = now\n"
    "      redis.call('HSET', KEYS[1], 'not_found_ms', ARGV[3],\n"
    "        'not_found_since', ARGV[4])\n"
    "    end\n"
    "    if tonumber(ARGV[14]) > 0 and now - nf >= tonumber(ARGV[14]) then\n"
    "      status = 'expired'; sub = ''\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local terminal = status == 'delivered' or status == 'returned' or\n"
    "  status == 'expired'\n"
    "if not terminal and tonumber(ARGV[13]) > 0 then\n"
    "  local news = math.max(last_ev, tonumber(f[6]) or now)\n"
    "  if now - news >= tonumber(ARGV[13]) then\n"
    "    status = 'expired'; sub = ''; terminal = true\n"
    "  end\n"
    "end\n"
    "local changed = status ~= old or eta ~= (f[3] or '') or\n"
    "  dlv ~= (f[4] or '') or added > 0\n"
    "if changed then\n"
    "  redis.call('HSET', KEYS[1], 'status', status, 'substatus', sub,\n"
    "    'estimated_delivery', eta, 'delivered_at', dlv, 'updated_at',\n"
    "    ARGV[4], 'event_count', redis.call('HLEN', KEYS[2]))\n"
    "  redis.call('XADD', KEYS[6], 'MAXLEN', '~', '" STREAM_MAXLEN "', '*',\n"
    "    'id', id, 'carrier', f[8] or '', 'tracking_number', f[9] or '',\n"
    "    'order_id', f[10] or '', 'status', status, 'previous_status', old,\n"
    "    'substatus', sub, 'estimated_delivery', eta, 'delivered_at', dlv,\n"
    "    'events_added', added, 'at', ARGV[4],\n"
    "    'source', push and 'push' or 'poll')\n"
    "  lookup_drop(ARGV[17], f[10])\n"
    "end\n"
    /* When it became final, for retention; NX: the first time counts. */
    "if terminal then\n"
    "  redis.call('ZADD', KEYS[8], 'NX', now, id)\n"
    "  redis.call('ZADD', KEYS[9], 'NX', now, id)\n"
    "else\n"
    "  redis.call('ZREM', KEYS[8], id)\n"
    "  redis.call('ZREM', KEYS[9], id)\n"
    "end\n"
    "if terminal then\n"
    "  redis.call('ZREM', KEYS[3], id)\n"
    "elseif not push then\n"
    /* The change feed named it while this poll ran: poll again now. */
    "  local due = ARGV[12]\n"
    "  if redis.call('HDEL', KEYS[1], 'feed_ms') == 1 then due = ARGV[3] end\n"
    "  redis.call('ZADD', KEYS[3], due, id)\n"
    "elseif added > 0 and not redis.call('ZSCORE', KEYS[4], id) then\n"
    /* ... but no later than the subscription's renewal poll. */
    "  local due, ren = tonumber(ARGV[12]), tonumber(f[11])\n"
    "  if ren and ren > now and ren < due then due = ren end\n"
    "  redis.call('ZADD', KEYS[3], due, id)\n"
    "end\n"
    "if not push then\n"
    "  redis.call('ZREM', KEYS[4], id)\n"
    "  redis.call('HDEL', KEYS[5], id)\n"
    "end\n"
    "return {'ok', added, changed and 1 or 0, status}\n";

/* KEYS: due lease lease:owner | ARGV: id owner due_ms. Only the owner of
 * the lease may hand it back. */
static const char lua_release[] =
    "if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[2] then\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  redis.call('HDEL', KEYS[3], ARGV[1])\n"
    "  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* Releases the live subscription of the shipment whose hash fields f
 * are carrier, push_sub, push_sub_id, tracking_number: the shared count
 * drops, and the last holder (or a subscription without an id) queues the
 * unsubscription on KEYS[unsub]. */
#define LUA_UNREF                                                              \
    "local function unref(p, unsub, c, state, sid, num)\n"                     \
    "  if state ~= 'live' then return end\n"                                   \
    "  if sid ~= '' then\n"                                                    \
    "    local k = k_pushref(p, c, sid)\n"                                     \
    "    if redis.call('DECR', k) > 0 then return end\n"                       \
    "    redis.call('DEL', k)\n"                                               \
    "  end\n"                                                                  \
    "  redis.call('RPUSH', unsub, c .. '\\n' .. sid .. '\\n' .. num)\n"        \
    "end\n"

/* KEYS: s:{id} due lease push:unsub | ARGV: prefix id state sub_id now
 * until retry due renew. Returns 1, or 0 when the shipment is gone. */
static const char lua_push_state[] = STORE_LUA_KEYS LUA_UNREF
    "local p, id = ARGV[1], ARGV[2]\n"
    "local f = redis.call('HMGET', KEYS[1], 'carrier', 'push_sub',\n"
    "  'push_sub_id', 'tracking_number', 'status')\n"
    "if not f[1] then return 0 end\n"
    "local old, oldid = f[2] or '', f[3] or ''\n"
    "local state, sid = ARGV[3], ARGV[4]\n"
    "if state == 'live' then\n"
    "  if old ~= 'live' or oldid ~= sid then\n"
    "    unref(p, KEYS[4], f[1], old, oldid, f[4])\n"
    "    if sid ~= '' then redis.call('INCR', k_pushref(p, f[1], sid)) end\n"
    "    redis.call('HSET', KEYS[1], 'push_since_ms', ARGV[5])\n"
    "  end\n"
    "  redis.call('HSET', KEYS[1], 'push_sub', 'live', 'push_sub_id', sid,\n"
    "    'push_until_ms', ARGV[6], 'push_renew_ms', ARGV[9])\n"
    "  redis.call('HDEL', KEYS[1], 'push_retry_ms')\n"
    "else\n"
    "  unref(p, KEYS[4], f[1], old, oldid, f[4])\n"
    "  redis.call('HSET', KEYS[1], 'push_sub', state, 'push_sub_id', '',\n"
    "    'push_retry_ms', ARGV[7])\n"
    "  redis.call('HDEL', KEYS[1], 'push_until_ms', 'push_since_ms',\n"
    "    'push_renew_ms')\n"
    "end\n"
    "local st = f[5] or 'pending'\n"
    "if tonumber(ARGV[8]) > 0 and st ~= 'delivered' and st ~= 'returned'\n"
    "    and st ~= 'expired' and not redis.call('ZSCORE', KEYS[3], id) then\n"
    "  redis.call('ZADD', KEYS[2], 'XX', ARGV[8], id)\n"
    "end\n"
    "return 1\n";

/* KEYS: s:{id} push:unsub | ARGV: prefix. The shipment is final. */
static const char lua_push_end[] = STORE_LUA_KEYS LUA_UNREF
    "local f = redis.call('HMGET', KEYS[1], 'carrier', 'push_sub',\n"
    "  'push_sub_id', 'tracking_number')\n"
    "if not f[1] or f[2] ~= 'live' then return 0 end\n"
    "unref(ARGV[1], KEYS[2], f[1], f[2], f[3] or '', f[4])\n"
    "redis.call('HSET', KEYS[1], 'push_sub', 'ended')\n"
    "return 1\n";

/* KEYS: push:unsub | ARGV: max. Takes the oldest max entries. */
static const char lua_push_unsubs[] =
    "local e = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)\n"
    "if #e > 0 then redis.call('LTRIM', KEYS[1], #e, -1) end\n"
    "return e\n";

/* KEYS: idx:num due feed lease | ARGV: prefix carrier now cursor number...
 * A shipment being polled right now gets feed_ms: its merge schedules it
 * at once (that poll may have asked before the change). Returns {found,
 * made due}. */
static const char lua_feed_news[] = STORE_LUA_KEYS
    "local found, due = 0, 0\n"
    "for i = 5, #ARGV do\n"
    "  local n = ARGV[i]\n"
    "  local id = redis.call('HGET', KEYS[1], ARGV[2] .. ':' .. n)\n"
    "  if not id then\n"
    "    id = redis.call('HGET', KEYS[1], ARGV[2] .. ':' .. string.upper(n))\n"
    "  end\n"
    "  if id then\n"
    "    found = found + 1\n"
    "    local at = redis.call('ZSCORE', KEYS[2], id)\n"
    "    if at then\n"
    "      if tonumber(at) > tonumber(ARGV[3]) then\n"
    "        redis.call('ZADD', KEYS[2], 'XX', ARGV[3], id)\n"
    "      end\n"
    "      due = due + 1\n"
    "    elseif redis.call('ZSCORE', KEYS[4], id) then\n"
    "      redis.call('HSET', k_ship(ARGV[1], id), 'feed_ms', ARGV[3])\n"
    "      due = due + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[3], 'cursor_ms', ARGV[4], 'ok_ms', ARGV[3])\n"
    "return {found, due}\n";

/* KEYS: idx:num due | ARGV: cursor pattern count now. One HSCAN step:
 * every match scheduled after now becomes due now. Returns {next, moved}. */
static const char lua_feed_fallback[] =
    "local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'MATCH', ARGV[2],\n"
    "  'COUNT', ARGV[3])\n"
    "local moved = 0\n"
    "for i = 2, #r[2], 2 do\n"
    "  local at = redis.call('ZSCORE', KEYS[2], r[2][i])\n"
    "  if at and tonumber(at) > tonumber(ARGV[4]) then\n"
    "    redis.call('ZADD', KEYS[2], 'XX', ARGV[4], r[2][i])\n"
    "    moved = moved + 1\n"
    "  end\n"
    "end\n"
    "return {r[1], moved}\n";

/* Forgets a recipient: the opt-out entry and the daily caps of the days
 * in ARGV from the third on (the notifier's caps live 48 h). */
#define LUA_FORGET                                                             \
    "local function forget(p, optout, ch, to)\n"                               \
    "  redis.call('SREM', optout, ch .. ':' .. to)\n"                          \
    "  for d = 3, #ARGV do redis.call('DEL', k_cap(p, ch, to, ARGV[d])) end\n" \
    "end\n"

/* KEYS: idx:num due lease lease:owner s:{id} s:{id}:ev s:{id}:notif
 * s:{id}:nst idx:created notify:watch s:{id}:evseq optout push:unsub
 * idx:final idx:pii | ARGV: prefix id days... Removes every key of the
 * shipment and its index entries. Returns 1, or 0 if absent.
 */
static const char lua_erase[] = STORE_LUA_KEYS LUA_FORGET LUA_UNREF
    "local p, id = ARGV[1], ARGV[2]\n"
    "local sk = KEYS[5]\n"
    "local f = redis.call('HMGET', sk, 'carrier', 'tracking_number',\n"
    "  'order_id', 'email', 'phone', 'postcode', 'push_sub', 'push_sub_id')\n"
    "if not f[1] then\n"
    "  redis.call('ZREM', KEYS[14], id)\n"
    "  redis.call('ZREM', KEYS[15], id)\n"
    "  return 0\n"
    "end\n"
    /* A carrier subscription goes too (nothing of the person is kept:
     * the number only, until the unsubscription is sent). */
    "unref(p, KEYS[13], f[1], f[7] or '', f[8] or '', f[2])\n"
    "redis.call('HDEL', KEYS[1], f[1] .. ':' .. f[2])\n"
    "redis.call('SREM', k_idx(p, 'trk', f[2]), id)\n"
    "local ix = {'order', 'email', 'phone', 'postcode'}\n"
    "local ch = {email = 'email', phone = 'sms'}\n"
    "if f[3] then f[3] = string.upper(f[3]) end\n"
    "for i = 1, 4 do\n"
    "  local v = f[i + 2]\n"
    "  if v and v ~= '' then\n"
    "    local k = k_idx(p, ix[i], v)\n"
    "    redis.call('SREM', k, id)\n"
    /* The last shipment of this address: forget the person too. */
    "    if ch[ix[i]] and redis.call('SCARD', k) == 0 then\n"
    "      forget(p, KEYS[12], ch[ix[i]], v)\n"
    "    end\n"
    "  end\n"
    "end\n"
    /* The order's rendered answer goes with its last shipment; else it is
     * rendered again without this one. */
    "lookup_drop(p, f[3])\n"
    "redis.call('DEL', KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[11])\n"
    "redis.call('ZREM', KEYS[9], id)\n"
    "redis.call('ZREM', KEYS[10], id)\n"
    "redis.call('ZREM', KEYS[14], id)\n"
    "redis.call('ZREM', KEYS[15], id)\n"
    "redis.call('ZREM', KEYS[2], id)\n"
    "redis.call('ZREM', KEYS[3], id)\n"
    "redis.call('HDEL', KEYS[4], id)\n"
    "return 1\n";

/* KEYS: idx:pii optout | ARGV: prefix, the number of days n, n days, then
 * shipment ids. Erases each shipment's contact data (email, phone,
 * postcode) and the index entries pointing at them; the last shipment of
 * an address takes the recipient's opt-out and daily caps along (as
 * erasure does); the id leaves idx:pii. Returns how many shipments had
 * contact data. */
static const char lua_pii[] = STORE_LUA_KEYS
    "local p, nd = ARGV[1], tonumber(ARGV[2])\n"
    "local function forget(ch, to)\n"
    "  redis.call('SREM', KEYS[2], ch .. ':' .. to)\n"
    "  for d = 3, 2 + nd do redis.call('DEL', k_cap(p, ch, to, ARGV[d])) end\n"
    "end\n"
    "local ix = {'email', 'phone', 'postcode'}\n"
    "local ch = {email = 'email', phone = 'sms'}\n"
    "local n = 0\n"
    "for i = 3 + nd, #ARGV do\n"
    "  local id = ARGV[i]\n"
    "  local sk = k_ship(p, id)\n"
    "  local f = redis.call('HMGET', sk, 'email', 'phone', 'postcode')\n"
    "  local had = false\n"
    "  for k = 1, 3 do\n"
    "    local v = f[k]\n"
    "    if v and v ~= '' then\n"
    "      had = true\n"
    "      local key = k_idx(p, ix[k], v)\n"
    "      redis.call('SREM', key, id)\n"
    "      if ch[ix[k]] and redis.call('SCARD', key) == 0 then\n"
    "        forget(ch[ix[k]], v)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if had then\n"
    "    redis.call('HDEL', sk, 'email', 'phone', 'postcode')\n"
    "    n = n + 1\n"
    "  end\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "end\n"
    "return n\n";

/* KEYS: idx:created idx:final idx:pii retention:backfill | ARGV: prefix
 * count. One ZSCAN step over the shipments: each final one enters
 * idx:final (and idx:pii with contact data) unless there already, as of
 * its last event (else its registration). Returns {done 0/1, added}. */
static const char lua_backfill[] = STORE_LUA_KEYS
    "local cur = redis.call('GET', KEYS[4])\n"
    "if cur == 'done' then return {1, 0} end\n"
    "local r = redis.call('ZSCAN', KEYS[1], cur or '0', 'COUNT', ARGV[2])\n"
    "local added = 0\n"
    "for i = 1, #r[2], 2 do\n"
    "  local id = r[2][i]\n"
    "  local f = redis.call('HMGET', k_ship(ARGV[1], id), 'status',\n"
    "    'last_event_ms', 'created_ms', 'email', 'phone', 'postcode')\n"
    "  if f[1] == 'delivered' or f[1] == 'returned' or f[1] == 'expired' then\n"
    "    local t = tonumber(f[2]) or tonumber(f[3]) or 0\n"
    "    added = added + redis.call('ZADD', KEYS[2], 'NX', t, id)\n"
    "    if (f[4] or '') ~= '' or (f[5] or '') ~= '' or (f[6] or '') ~= ''\n"
    "    then redis.call('ZADD', KEYS[3], 'NX', t, id) end\n"
    "  end\n"
    "end\n"
    "if r[1] == '0' then\n"
    "  redis.call('SET', KEYS[4], 'done')\n"
    "  return {1, added}\n"
    "end\n"
    "redis.call('SET', KEYS[4], r[1])\n"
    "return {0, added}\n";

/* KEYS: lookup:backfill | ARGV: prefix count. One SCAN step over the
 * order indexes: each order's shipment count goes into its lk: key (n),
 * which writes keep from then on. Returns 1 when the pass is done, else 0.
 * The prefix is matched literally (its glob characters escaped). */
static const char lua_lookup_backfill[] = STORE_LUA_KEYS
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur == 'done' then return 1 end\n"
    "local ix = k_idx(ARGV[1], 'order', '')\n"
    "local r = redis.call('SCAN', cur or '0', 'MATCH',\n"
    "  ix:gsub('[%*%?%[%]\\\\]', '\\\\%0') .. '*', 'COUNT', ARGV[2])\n"
    "for _, k in ipairs(r[2]) do\n"
    "  local n = redis.call('SCARD', k)\n"
    "  if n > 0 then\n"
    "    redis.call('HSET', k_lookup(ARGV[1], k:sub(#ix + 1)), 'n', n)\n"
    "  end\n"
    "end\n"
    "if r[1] == '0' then redis.call('SET', KEYS[1], 'done') return 1 end\n"
    "redis.call('SET', KEYS[1], r[1])\n"
    "return 0\n";

/* KEYS: optout | ARGV: prefix channel, then days, then (after "|") the
 * recipients. Forgets each recipient (erase by customer). */
static const char lua_forget[] = STORE_LUA_KEYS
    "local function k_days() local d = {} for i = 3, #ARGV do\n"
    "  if ARGV[i] == '|' then return d, i + 1 end d[#d + 1] = ARGV[i] end\n"
    "  return d, #ARGV + 1 end\n"
    "local days, first = k_days()\n"
    "for i = first, #ARGV do\n"
    "  redis.call('SREM', KEYS[1], ARGV[2] .. ':' .. ARGV[i])\n"
    "  for _, d in ipairs(days) do\n"
    "    redis.call('DEL', k_cap(ARGV[1], ARGV[2], ARGV[i], d))\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* KEYS: due, lease | ARGV: offset, count. A page of the open shipments:
 * those scheduled (due) and then those being polled (lease); terminal ones
 * are in neither. A shipment moving between the two while pages are read
 * may be seen twice or not at all: the reader takes ids, not counts. */
static const char lua_open[] =
    "local off, cnt = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "local out = {}\n"
    "if off < n then out = redis.call('ZRANGE', KEYS[1], off, off + cnt - 1) "
    "end\n"
    "if #out < cnt then\n"
    "  local from = off + #out - n\n"
    "  local more = redis.call('ZRANGE', KEYS[2], from, from + cnt - #out - "
    "1)\n"
    "  for _, id in ipairs(more) do out[#out + 1] = id end\n"
    "end\n"
    "return out\n";

/* KEYS: a stream (changes, outbox, outbox:dead) or the outbox:later zset |
 * ARGV: start ("-" / "(<entry>" for streams, a rank for the zset), count,
 * then shipment ids. Deletes the entries of those shipments (a change's
 * id field, a message's JSON id) among the next count entries. Returns
 * {next start or "" at the end, deleted}. */
static const char lua_scrub[] =
    "local want = {}\n"
    "for i = 3, #ARGV do want[ARGV[i]] = true end\n"
    "local function of(json)\n"
    "  local ok, m = pcall(cjson.decode, json)\n"
    "  return ok and type(m) == 'table' and m.id and want[m.id]\n"
    "end\n"
    "local n, del = tonumber(ARGV[2]), 0\n"
    "if redis.call('TYPE', KEYS[1]).ok == 'zset' then\n"
    "  local start = tonumber(ARGV[1]) or 0\n"
    "  local e = redis.call('ZRANGE', KEYS[1], start, start + n - 1)\n"
    "  for _, m in ipairs(e) do\n"
    "    if of(m) then redis.call('ZREM', KEYS[1], m); del = del + 1 end\n"
    "  end\n"
    "  if #e < n then return {'', del} end\n"
    "  return {tostring(start + n - del), del}\n"
    "end\n"
    "local e = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', n)\n"
    "for _, x in ipairs(e) do\n"
    "  local f = x[2]\n"
    "  for i = 1, #f, 2 do\n"
    "    if (f[i] == 'id' and want[f[i + 1]]) or (f[i] == 'm' and\n"
    "        of(f[i + 1])) then\n"
    "      redis.call('XDEL', KEYS[1], x[1]); del = del + 1; break\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #e < n then return {'', del} end\n"
    "return {'(' .. e[#e][1], del}\n";

/* KEYS: lk:<order> idx:order:<order> | ARGV: gen until verify b0 b1 b2 b3,
 * then the ids rendered. Writes the rendering only when no write came
 * since gen was read and the order still has exactly those shipments (an
 * erase or a registration between read and write leaves nothing stale).
 * Returns 1 when written, else 0. */
static const char lua_answer_put[] =
    "if (redis.call('HGET', KEYS[1], 'g') or '') ~= ARGV[1] then return 0 end\n"
    "if redis.call('SCARD', KEYS[2]) ~= #ARGV - 7 then return 0 end\n"
    "for i = 8, #ARGV do\n"
    "  if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 0 then return 0 end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'u', ARGV[2], 'v', ARGV[3], 'b0', ARGV[4],\n"
    "  'b1', ARGV[5], 'b2', ARGV[6], 'b3', ARGV[7])\n"
    "return 1\n";

struct store {
    struct rconn *rc; /* borrowed */
    char *prefix;
    struct rconn_script *add, *claim, *merge, *release, *erase, *forget, *scrub;
    struct rconn_script *pii, *backfill;
    struct rconn_script *push_state, *push_end, *push_unsubs, *open;
    int wait_replicas; /* a registration waits for so many replicas */
    int64_t wait_timeout_ms;
    struct rconn_script *answer_put;
    struct rconn_script *feed_news, *feed_fallback;
    struct rconn_script *lookup_backfill;
    bool lookup_counted; /* every order's lk: holds n: a lookup is an HMGET */
};

struct store *store_new(struct rconn *rc, const char *prefix)
{
    struct store *st = wm_xcalloc(1, sizeof(*st));

    st->rc = rc;
    st->prefix = wm_xstrdup(prefix);
    st->add = rconn_script_new(lua_add);
    st->claim = rconn_script_new(lua_claim);
    st->merge = rconn_script_new(lua_merge);
    st->release = rconn_script_new(lua_release);
    st->erase = rconn_script_new(lua_erase);
    st->forget = rconn_script_new(lua_forget);
    st->scrub = rconn_script_new(lua_scrub);
    st->pii = rconn_script_new(lua_pii);
    st->backfill = rconn_script_new(lua_backfill);
    st->push_state = rconn_script_new(lua_push_state);
    st->push_end = rconn_script_new(lua_push_end);
    st->push_unsubs = rconn_script_new(lua_push_unsubs);
    st->open = rconn_script_new(lua_open);
    st->answer_put = rconn_script_new(lua_answer_put);
    st->feed_news = rconn_script_new(lua_feed_news);
    st->feed_fallback = rconn_script_new(lua_feed_fallback);
    st->lookup_backfill = rconn_script_new(lua_lookup_backfill);
    return st;
}

void store_free(struct store *st)
{
    if (st == NULL)
        return;
    rconn_script_free(st->add);
    rconn_script_free(st->claim);
    rconn_script_free(st->merge);
    rconn_script_free(st->release);
    rconn_script_free(st->erase);
    rconn_script_free(st->push_state);
    rconn_script_free(st->push_end);
    rconn_script_free(st->push_unsubs);
    rconn_script_free(st->open);
    rconn_script_free(st->feed_news);
    rconn_script_free(st->feed_fallback);
    rconn_script_free(st->lookup_backfill);
    rconn_script_free(st->forget);
    rconn_script_free(st->scrub);
    rconn_script_free(st->pii);
    rconn_script_free(st->backfill);
    rconn_script_free(st->answer_put);
    free(st->prefix);
    free(st);
}

/* --- the key layout (store.h) --- */

static const char *const key_names[] = {
    [STORE_KEY_SHIP] = "",
    [STORE_KEY_EVENTS] = STORE_K_EVENTS,
    [STORE_KEY_NOTIF] = STORE_K_NOTIF,
    [STORE_KEY_NST] = STORE_K_NST,
    [STORE_KEY_EVSEQ] = STORE_K_EVSEQ,
    [STORE_KEY_IDX_NUM] = STORE_K_IDX_NUM,
    [STORE_KEY_IDX_CREATED] = STORE_K_IDX_CREATED,
    [STORE_KEY_DUE] = STORE_K_DUE,
    [STORE_KEY_LEASE] = STORE_K_LEASE,
    [STORE_KEY_LEASE_OWNER] = STORE_K_LEASE_OWNER,
    [STORE_KEY_CHANGES] = STORE_K_CHANGES,
    [STORE_KEY_OUTBOX] = STORE_K_OUTBOX,
    [STORE_KEY_OUTBOX_LATER] = STORE_K_OUTBOX_LATER,
    [STORE_KEY_OUTBOX_DEAD] = STORE_K_OUTBOX_DEAD,
    [STORE_KEY_WATCH] = STORE_K_WATCH,
    [STORE_KEY_OPTOUT] = STORE_K_OPTOUT,
    [STORE_KEY_STATS_CONTRIB] = STORE_K_STATS_CONTRIB,
    [STORE_KEY_PUSH_UNSUB] = STORE_K_PUSH_UNSUB,
    [STORE_KEY_IDX_FINAL] = STORE_K_IDX_FINAL,
    [STORE_KEY_IDX_PII] = STORE_K_IDX_PII,
    [STORE_KEY_RETENTION_BACKFILL] = STORE_K_RETENTION_BACKFILL,
    [STORE_KEY_LOOKUP_BACKFILL] = STORE_K_LOOKUP_BACKFILL,
};

/* snprintf(buf, size, "%s%s...", parts[0], parts[1], ...) (parts ends
 * with NULL) without the format parsing: a key is built for nearly every
 * command. The same result, truncation and returned length included. */
static int key_join(char *buf, size_t size, const char *const *parts)
{
    size_t len = 0, at = 0;

    for (size_t i = 0; parts[i] != NULL; i++) {
        size_t l = strlen(parts[i]);

        if (at + 1 < size) {
            size_t k = l < size - 1 - at ? l : size - 1 - at;
            memcpy(buf + at, parts[i], k);
            at += k;
        }
        len += l;
    }
    if (size > 0)
        buf[at] = '\0';
    return len > INT_MAX ? -1 : (int)len;
}

#define KEY_JOIN(buf, size, ...)                                               \
    key_join(buf, size, (const char *const[]){__VA_ARGS__, NULL})

int store_key(char *buf, size_t size, const char *prefix, enum store_key k,
              const char *id)
{
    const char *name = (size_t)k < WM_ARRAY_LEN(key_names) ? key_names[k] : "";

    if (k <= STORE_KEY_EVSEQ)
        return KEY_JOIN(buf, size, prefix, STORE_K_SHIP_OPEN,
                        id != NULL ? id : "", STORE_K_SHIP_CLOSE, name);
    return KEY_JOIN(buf, size, prefix, name);
}

int store_key_index(char *buf, size_t size, const char *prefix,
                    const char *field, const char *value)
{
    return KEY_JOIN(buf, size, prefix, STORE_K_IDX, field, ":", value);
}

int store_key_lookup(char *buf, size_t size, const char *prefix,
                     const char *order)
{
    return KEY_JOIN(buf, size, prefix, STORE_K_LOOKUP, order);
}

int store_key_cap(char *buf, size_t size, const char *prefix,
                  const char *channel, const char *to, const char *day)
{
    return KEY_JOIN(buf, size, prefix, STORE_K_CAP, channel, ":", to, ":", day);
}

int store_key_feed(char *buf, size_t size, const char *prefix,
                   const char *carrier, const char *customer)
{
    return KEY_JOIN(buf, size, prefix, STORE_K_FEED, carrier, ":", customer);
}

int store_key_stats_day(char *buf, size_t size, const char *prefix,
                        const char *day)
{
    return KEY_JOIN(buf, size, prefix, STORE_K_STATS_DAY, day);
}

char *store_key_dup(const char *prefix, enum store_key k, const char *id)
{
    int n = store_key(NULL, 0, prefix, k, id);
    char *key = wm_xmalloc((size_t)n + 1);

    store_key(key, (size_t)n + 1, prefix, k, id);
    return key;
}

void store_new_id(char buf[STORE_ID_LEN + 1])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    unsigned char rnd[STORE_ID_LEN];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, rnd, sizeof(rnd)) : -1;

    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof(rnd)) { /* no urandom: still unique enough */
        static unsigned long n;
        unsigned long x = (unsigned long)time(NULL) ^
                          (unsigned long)getpid() << 16 ^ ++n << 40;
        for (size_t i = 0; i < sizeof(rnd);
             i++, x = x * 6364136223846793005ul + 1)
            rnd[i] = (unsigned char)(x >> 33);
    }
    for (size_t i = 0; i < STORE_ID_LEN; i++)
        buf[i] = alphabet[rnd[i] & 31];
    buf[STORE_ID_LEN] = '\0';
}

void store_event_key(const struct model_event *e, char *buf, size_t size)
{
    char t[WMTIME_BUFSZ];

    wmtime_format(e->time, t);
    snprintf(buf, size, "%s|%s|%s|%s|%s", t, e->code ? e->code : "",
             e->location.city ? e->location.city : "",
             e->location.postcode ? e->location.postcode : "",
             e->location.country);
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= 0xff; /* field separator: "ab","c" differs from "a","bc" */
    h *= 0x100000001b3ull;
    return h;
}

static uint64_t fnv_i64(uint64_t h, int64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return fnv(h, buf);
}

uint64_t store_shipment_digest(const struct model_shipment *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    h = fnv(h, model_status_name(s->status));
    h = fnv(h, s->substatus);
    h = fnv_i64(h, s->estimated_delivery);
    h = fnv_i64(h, s->delivered_at);
    for (size_t i = 0; i < s->n_events; i++) {
        const struct model_event *e = &s->events[i];
        h = fnv_i64(h, e->time);
        h = fnv(h, model_status_name(e->status));
        h = fnv(h, e->code);
        h = fnv(h, e->location.city);
        h = fnv(h, e->location.postcode);
        h = fnv(h, e->location.country);
    }
    return h | 1; /* never 0, which means "no digest stored" */
}

/* --- argument vectors --- */

struct args {
    const char **v;
    size_t *len;
    char **owned; /* strings to free after the call */
    size_t n, cap, n_owned, cap_owned;
};

static void args_add(struct args *a, const char *s)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->v = wm_xrealloc(a->v, a->cap * sizeof(*a->v));
        a->len = wm_xrealloc(a->len, a->cap * sizeof(*a->len));
    }
    a->v[a->n] = s ? s : "";
    a->len[a->n] = strlen(a->v[a->n]);
    a->n++;
}

/* Adds len bytes at s (borrowed, binary). */
static void args_addb(struct args *a, const char *s, size_t len)
{
    args_add(a, "");
    a->v[a->n - 1] = s;
    a->len[a->n - 1] = len;
}

/* Adds a string the args own. */
static void args_own(struct args *a, char *s)
{
    wm_grow((void **)&a->owned, &a->cap_owned, a->n_owned + 1,
            sizeof(*a->owned));
    a->owned[a->n_owned++] = s;
    args_add(a, s);
}

/* The store's key k (id: for a shipment's keys, else NULL). */
static void args_key(struct args *a, const struct store *st, enum store_key k,
                     const char *id)
{
    args_own(a, store_key_dup(st->prefix, k, id));
}

static void args_i64(struct args *a, int64_t v)
{
    char *s = wm_xmalloc(24);

    snprintf(s, 24, "%lld", (long long)v);
    args_own(a, s);
}

/* t in Unix seconds (model time) as ISO-8601 UTC; MODEL_TIME_NONE as "". */
static void args_time(struct args *a, int64_t t)
{
    char *s = wm_xmalloc(WMTIME_BUFSZ);

    if (t == MODEL_TIME_NONE)
        s[0] = '\0';
    else
        wmtime_format(t, s);
    args_own(a, s);
}

static void args_clear(struct args *a)
{
    for (size_t i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->v);
    free(a->len);
    memset(a, 0, sizeof(*a));
}

/* --- calls --- */

struct call {
    struct store *st;
    void *cb;
    void *arg;
};

static struct call *call_new(struct store *st, void *cb, void *arg)
{
    struct call *c = wm_xmalloc(sizeof(*c));

    c->st = st;
    c->cb = cb;
    c->arg = arg;
    return c;
}

/* Sends a's command (nkeys >= 0: EVALSHA of script with nkeys keys) with
 * a call context for cb, then releases a. On a send error the context is
 * freed here and cb is never called. */
static int call_send(struct store *st, struct rconn_script *script, int nkeys,
                     struct args *a, rconn_reply_cb *on_reply, void *cb,
                     void *arg)
{
    struct call *c = call_new(st, cb, arg);
    int rc = script != NULL
                 ? rconn_eval(st->rc, script, on_reply, c, nkeys,
                              (int)a->n - nkeys, a->v, a->len)
                 : rconn_command(st->rc, on_reply, c, (int)a->n, a->v, a->len);

    if (rc != 0)
        free(c);
    args_clear(a);
    return rc;
}

/* 0 when reply is usable, else the error to report. */
/* Whether Redis' error says it refuses writes: the append-only file or a
 * snapshot cannot be written (disk full: MISCONF), memory is full (OOM),
 * or too few replicas acknowledge (NOREPLICAS). A script's error carries
 * the command's. */
static bool refuses_writes(const char *e)
{
    static const char *const codes[] = {"MISCONF", "OOM", "NOREPLICAS"};

    for (size_t i = 0; i < WM_ARRAY_LEN(codes); i++) {
        size_t n = strlen(codes[i]);
        const char *p = strstr(e, codes[i]);

        if (p != NULL && (p == e || p[-1] == ' ' || p[-1] == '-') &&
            (p[n] == ' ' || p[n] == '\0'))
            return true;
    }
    return false;
}

/* Redis refusing writes fails every write until it recovers: one log line
 * per REFUSED_LOG_MS, with the count of those not logged. */
#define REFUSED_LOG_MS 10000
static int64_t refused_logged_ms;
static long refused_quiet;

static void log_refused(const char *what, const char *e)
{
    int64_t now = wm_now_ms();

    if (refused_logged_ms != 0 && now - refused_logged_ms < REFUSED_LOG_MS) {
        refused_quiet++;
        return;
    }
    log_error("msg=\"redis refuses writes\" op=%s error=\"%.200s\" "
              "suppressed=%ld",
              what, e, refused_quiet);
    refused_logged_ms = now;
    refused_quiet = 0;
}

/* 0 when reply is usable, else the error to report: WM_ENOSPC when Redis
 * refuses writes, WM_EPROTO for another error reply. */
static int reply_error(int err, redisReply *r, const char *what)
{
    if (r == NULL)
        return err != 0 ? err : WM_EIO;
    if (r->type == REDIS_REPLY_ERROR) {
        if (refuses_writes(r->str)) {
            log_refused(what, r->str);
            return WM_ENOSPC;
        }
        log_error("msg=\"redis script failed\" op=%s error=\"%.200s\"", what,
                  r->str);
        return WM_EPROTO;
    }
    return 0;
}

static const char *elem_str(redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    r = r->element[i];
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS
               ? r->str
               : NULL;
}

static long long elem_int(redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return -1;
    r = r->element[i];
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING) {
        int64_t v;
        return num_i64(r->str, INT64_MIN, INT64_MAX, &v) == 0 ? v : -1;
    }
    return -1;
}

/*
 * A registration is acknowledged only once Redis has written it to its
 * append-only file. Redis writes the file before it sends the reply, and
 * when that write fails (a full disk) it still answers OK and only then
 * refuses further writes. So after the script's reply, INFO persistence
 * tells whether the last write to the file failed: then the registration
 * is not acknowledged (WM_ENOSPC), though Redis keeps it in memory and
 * writes it once it can. Without an append-only file there is nothing to
 * check. One round trip (see README, "Durability").
 */
struct add_call {
    struct store *st;
    store_add_cb *cb;
    void *arg;
    char id[STORE_ID_LEN * 4];
    bool created;
};

/* Whether INFO persistence says the append-only file's last write failed. */
static bool aof_write_failed(const char *info)
{
    const char *on = strstr(info, "aof_enabled:");
    const char *st = strstr(info, "aof_last_write_status:");

    return on != NULL && on[12] == '1' && st != NULL &&
           strncmp(st + 22, "ok", 2) != 0;
}

static void add_done(struct add_call *c, int err)
{
    if (err == 0)
        c->cb(c->arg, 0, c->id, c->created);
    else
        c->cb(c->arg, err, NULL, false);
    free(c);
}

/* WAIT's answer: how many replicas have the registration. */
static void on_add_waited(void *arg, int err, redisReply *r)
{
    struct add_call *c = arg;

    err = reply_error(err, r, "add");
    if (err == 0 && r->type != REDIS_REPLY_INTEGER)
        err = WM_EPROTO;
    if (err == 0 && r->integer < c->st->wait_replicas) {
        log_warn("msg=\"registration not acknowledged by enough replicas\" "
                 "replicas=%lld wanted=%d",
                 (long long)r->integer, c->st->wait_replicas);
        err = WM_ETIMEDOUT;
    }
    add_done(c, err);
}

static void on_add_persisted(void *arg, int err, redisReply *r)
{
    struct add_call *c = arg;

    err = reply_error(err, r, "add");
    if (err == 0 && r->type != REDIS_REPLY_STRING)
        err = WM_EPROTO;
    if (err == 0 && aof_write_failed(r->str)) {
        log_refused("add", "the append-only file's last write failed");
        err = WM_ENOSPC;
    }
    if (err == 0 && c->st->wait_replicas > 0) {
        char n[16], ms[24];
        const char *argv[] = {"WAIT", n, ms};

        snprintf(n, sizeof(n), "%d", c->st->wait_replicas);
        snprintf(ms, sizeof(ms), "%lld", (long long)c->st->wait_timeout_ms);
        err = rconn_command(c->st->rc, on_add_waited, c, 3, argv, NULL);
        if (err == 0)
            return;
    }
    add_done(c, err);
}

static void on_add(void *arg, int err, redisReply *r)
{
    struct add_call *c = arg;
    const char *id, *argv[] = {"INFO", "persistence"};

    err = reply_error(err, r, "add");
    if (err == 0 &&
        ((id = elem_str(r, 0)) == NULL || strlen(id) >= sizeof(c->id)))
        err = WM_EPROTO;
    if (err == 0) {
        strcpy(c->id, id);
        c->created = elem_int(r, 1) == 1;
        err = rconn_command(c->st->rc, on_add_persisted, c, 2, argv, NULL);
        if (err == 0)
            return;
    }
    c->cb(c->arg, err, NULL, false);
    free(c);
}

struct store_add_in store_add_in_of(const struct registration *reg,
                                    const char *carrier)
{
    struct store_add_in in = {.carrier = carrier ? carrier : reg->carrier,
                              .tracking_number = reg->tracking_number,
                              .order_id = reg->order_id,
                              .postcode = reg->postcode,
                              .email = reg->email,
                              .phone = reg->phone,
                              .locale = reg->locale,
                              .promised_delivery = reg->promised_delivery,
                              .notify = reg->notify};

    return in;
}

void store_set_wait(struct store *st, int replicas, int64_t timeout_ms)
{
    st->wait_replicas = replicas > 0 ? replicas : 0;
    /* Below rconn's command timeout, which would drop the link. */
    st->wait_timeout_ms = timeout_ms <= 0     ? 1000
                          : timeout_ms > 4000 ? 4000
                                              : timeout_ms;
}

int store_add(struct store *st, const struct store_add_in *in, int64_t now_ms,
              store_add_cb *cb, void *arg)
{
    struct args a = {0};
    char id[STORE_ID_LEN + 1];

    if (in->carrier == NULL || in->tracking_number == NULL)
        return WM_EINVAL;
    store_new_id(id);
    args_key(&a, st, STORE_KEY_IDX_NUM, NULL);
    args_key(&a, st, STORE_KEY_DUE, NULL);
    args_key(&a, st, STORE_KEY_IDX_CREATED, NULL);
    args_key(&a, st, STORE_KEY_WATCH, NULL);
    args_add(&a, in->carrier);
    args_add(&a, in->tracking_number);
    args_add(&a, id);
    args_i64(&a, now_ms);
    args_time(&a, now_ms / 1000);
    args_add(&a, st->prefix);
    const char *fields[][2] = {{"order_id", in->order_id},
                               {"postcode", in->postcode},
                               {"email", in->email},
                               {"phone", in->phone},
                               {"locale", in->locale},
                               {"promised_delivery", in->promised_delivery},
                               {"notify", in->notify}};
    for (size_t i = 0; i < WM_ARRAY_LEN(fields); i++) {
        args_add(&a, fields[i][0]);
        args_add(&a, fields[i][1]);
    }
    {
        struct add_call *c = wm_xcalloc(1, sizeof(*c));
        int rc;

        c->st = st;
        c->cb = cb;
        c->arg = arg;
        rc =
            rconn_eval(st->rc, st->add, on_add, c, 4, (int)a.n - 4, a.v, a.len);
        if (rc != 0)
            free(c);
        args_clear(&a);
        return rc;
    }
}

#define CLAIM_FIELDS 13

/* Element i as a time in ms ("" or junk: 0). */
static int64_t elem_ms(redisReply *r, size_t i)
{
    const char *v = elem_str(r, i);
    int64_t ms;

    return v != NULL && num_i64(v, 0, INT64_MAX, &ms) == 0 ? ms : 0;
}

static void on_claim(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_claim_cb *cb = (store_claim_cb *)c->cb;
    struct store_claim *items = NULL;
    size_t n = 0;

    err = reply_error(err, r, "claim");
    if (err == 0 && r->type != REDIS_REPLY_ARRAY)
        err = WM_EPROTO;
    if (err == 0) {
        items = wm_xcalloc(r->elements / CLAIM_FIELDS + 1, sizeof(*items));
        for (size_t i = 0; i + CLAIM_FIELDS - 1 < r->elements;
             i += CLAIM_FIELDS) {
            const char *st = elem_str(r, i + 3);
            const char *dg = elem_str(r, i + 4);
            const char *ps = elem_str(r, i + 5);

            items[n].push_sub = ps != NULL ? ps : "";
            items[n].push_since_ms = elem_ms(r, i + 6);
            items[n].push_until_ms = elem_ms(r, i + 7);
            items[n].push_retry_ms = elem_ms(r, i + 8);
            items[n].push_ms = elem_ms(r, i + 9);
            items[n].last_event_ms = elem_ms(r, i + 10);
            items[n].news_ms = elem_ms(r, i + 11);
            items[n].poll_ms = elem_ms(r, i + 12);

            if (dg == NULL || num_hex64(dg, &items[n].digest) != 0)
                items[n].digest = 0;
            items[n].id = elem_str(r, i);
            items[n].carrier = elem_str(r, i + 1);
            items[n].tracking_number = elem_str(r, i + 2);
            if (st == NULL || model_status_parse(st, &items[n].status) != 0)
                items[n].status = MODEL_PENDING;
            if (items[n].id && items[n].carrier && items[n].tracking_number)
                n++;
        }
    }
    cb(c->arg, err, items, n);
    free(items);
    free(c);
}

int store_claim_due(struct store *st, const char *owner, int64_t now_ms,
                    int64_t lease_ms, int max, store_claim_cb *cb, void *arg)
{
    struct args a = {0};

    args_key(&a, st, STORE_KEY_DUE, NULL);
    args_key(&a, st, STORE_KEY_LEASE, NULL);
    args_key(&a, st, STORE_KEY_LEASE_OWNER, NULL);
    args_i64(&a, now_ms);
    args_i64(&a, lease_ms);
    args_i64(&a, max);
    args_add(&a, owner);
    args_add(&a, st->prefix);
    return call_send(st, st->claim, 3, &a, on_claim, (void *)cb, arg);
}

static void on_merge(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_merge_cb *cb = (store_merge_cb *)c->cb;
    struct store_merge_out out = {0};
    const char *verdict, *status;

    err = reply_error(err, r, "merge");
    if (err == 0 && (verdict = elem_str(r, 0)) != NULL) {
        out.stale = strcmp(verdict, "stale") == 0;
        out.gone = strcmp(verdict, "gone") == 0;
        out.added = (int)elem_int(r, 1);
        out.changed = elem_int(r, 2) == 1;
        status = elem_str(r, 3);
        if (status == NULL || model_status_parse(status, &out.status) != 0)
            out.status = MODEL_PENDING;
    } else if (err == 0) {
        err = WM_EPROTO;
    }
    if (err != 0)
        rconn_note_failure(c->st->rc); /* a merge Redis did not take */
    cb(c->arg, err, &out);
    free(c);
}

int store_merge(struct store *st, const struct store_merge_in *in,
                store_merge_cb *cb, void *arg)
{
    struct args a = {0};
    const struct model_shipment *s = in->ship;
    int64_t newest = 0;
    int rc;

    if (in->push && s == NULL)
        return WM_EINVAL; /* a push merges events, never an error */
    args_key(&a, st, STORE_KEY_SHIP, in->id);
    args_key(&a, st, STORE_KEY_EVENTS, in->id);
    args_key(&a, st, STORE_KEY_DUE, NULL);
    args_key(&a, st, STORE_KEY_LEASE, NULL);
    args_key(&a, st, STORE_KEY_LEASE_OWNER, NULL);
    args_key(&a, st, STORE_KEY_CHANGES, NULL);
    args_key(&a, st, STORE_KEY_EVSEQ, in->id);
    args_key(&a, st, STORE_KEY_IDX_FINAL, NULL);
    args_key(&a, st, STORE_KEY_IDX_PII, NULL);
    args_add(&a, in->id);
    args_add(&a, in->push ? "" : in->owner);
    args_i64(&a, in->now_ms);
    args_time(&a, in->now_ms / 1000);
    args_add(&a, s == NULL                    ? "error"
                 : in->unchanged && !in->push ? "same"
                                              : "ok");
    args_add(&a, s ? "" : model_error_name((enum model_error)in->error));
    args_add(&a, s ? model_status_name(s->status) : "");
    args_add(&a, s && s->substatus ? s->substatus : "");
    args_time(&a, s ? s->estimated_delivery : MODEL_TIME_NONE);
    args_time(&a, s ? s->delivered_at : MODEL_TIME_NONE);
    if (s != NULL && s->n_events > 0)
        newest = s->events[s->n_events - 1].time;
    args_i64(&a, newest * 1000);
    args_i64(&a, in->next_due_ms);
    args_i64(&a, in->expire_after_ms);
    args_i64(&a, in->not_found_expire_ms);
    args_time(&a, newest ? newest : MODEL_TIME_NONE);
    {
        char *dg = wm_xmalloc(17);
        snprintf(dg, 17, "%016llx", (unsigned long long)in->digest);
        args_own(&a, dg);
    }
    args_add(&a, st->prefix);
    if (in->news_ms > 0)
        args_i64(&a, in->news_ms);
    else
        args_add(&a, "");
    for (size_t i = 0; s != NULL && !in->unchanged && i < s->n_events; i++) {
        json_t *j = NULL;
        char *key = wm_xmalloc(512), *text;
        struct model_shipment one = *s;

        store_event_key(&s->events[i], key, 512);
        args_own(&a, key);
        /* The event alone, in the canonical event shape. */
        one.events = &s->events[i];
        one.n_events = 1;
        j = model_shipment_to_json(&one);
        text = json_dumps(json_array_get(json_object_get(j, "events"), 0),
                          JSON_COMPACT);
        json_decref(j);
        args_own(&a, text ? text : wm_xstrdup("{}"));
    }
    rc = call_send(st, st->merge, 9, &a, on_merge, (void *)cb, arg);
    if (rc != 0)
        rconn_note_failure(st->rc);
    return rc;
}

static void on_done(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_done_cb *cb = (store_done_cb *)c->cb;

    cb(c->arg, reply_error(err, r, "command"));
    free(c);
}

int store_release(struct store *st, const char *id, const char *owner,
                  int64_t due_ms, store_done_cb *cb, void *arg)
{
    struct args a = {0};

    args_key(&a, st, STORE_KEY_DUE, NULL);
    args_key(&a, st, STORE_KEY_LEASE, NULL);
    args_key(&a, st, STORE_KEY_LEASE_OWNER, NULL);
    args_add(&a, id);
    args_add(&a, owner);
    args_i64(&a, due_ms);
    return call_send(st, st->release, 3, &a, on_done, (void *)cb, arg);
}

int store_poll_now(struct store *st, const char *id, int64_t now_ms,
                   store_done_cb *cb, void *arg)
{
    struct args a = {0};

    args_add(&a, "ZADD");
    args_key(&a, st, STORE_KEY_DUE, NULL);
    args_add(&a, "XX"); /* terminal or leased shipments are left alone */
    args_i64(&a, now_ms);
    args_add(&a, id);
    return call_send(st, NULL, 0, &a, on_done, (void *)cb, arg);
}

/* store_get: HGETALL the hash, then HVALS the events. */
struct ev_read;
struct get_call {
    struct store *st;
    store_get_cb *cb;
    void *arg;
    json_t *ship;
    char *id;
    struct ev_read *ev; /* the events read, owned */
    size_t n_ev;
};

/* An event read back: its JSON, and where it sorts. */
struct ev_read {
    json_t *e;        /* owned until appended to the answer */
    const char *time; /* borrowed from e */
    char *key;        /* its identity, owned */
    long long seq;    /* 0: stored before sequences were kept */
};

/* Time, then the carrier's order within the second, then the identity
 * (never equal: a total order, the same on every read). */
static int ev_read_cmp(const void *pa, const void *pb)
{
    const struct ev_read *a = pa, *b = pb;
    int c = strcmp(a->time, b->time);

    if (c != 0)
        return c;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return strcmp(a->key, b->key);
}

static void get_finish(struct get_call *g, int err)
{
    json_t *events = json_array();

    if (err == 0)
        qsort(g->ev, g->n_ev, sizeof(*g->ev), ev_read_cmp);
    for (size_t i = 0; i < g->n_ev; i++) {
        if (err == 0)
            json_array_append(events, g->ev[i].e);
        json_decref(g->ev[i].e);
        free(g->ev[i].key);
    }
    free(g->ev);
    json_object_set_new(g->ship, "events", events);
    g->cb(g->arg, err, err == 0 ? g->ship : NULL);
    json_decref(g->ship);
    free(g->id);
    free(g);
}

static void on_get_seqs(void *arg, int err, redisReply *r)
{
    struct get_call *g = arg;

    err = reply_error(err, r, "get");
    for (size_t i = 0;
         err == 0 && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
         i += 2)
        for (size_t j = 0; j < g->n_ev; j++)
            if (strcmp(g->ev[j].key, r->element[i]->str) == 0) {
                g->ev[j].seq = strtoll(r->element[i + 1]->str, NULL, 10);
                break;
            }
    get_finish(g, err);
}

/* The events (identity -> JSON); then their sequence numbers. */
static void on_get_events(void *arg, int err, redisReply *r)
{
    struct get_call *g = arg;
    struct args a = {0};

    err = reply_error(err, r, "get");
    if (err == 0 && r->type == REDIS_REPLY_ARRAY) {
        g->ev = wm_xcalloc(r->elements / 2 + 1, sizeof(*g->ev));
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            redisReply *k = r->element[i], *v = r->element[i + 1];
            json_t *e = json_loadb(v->str, v->len, 0, NULL);
            const char *t = json_string_value(json_object_get(e, "time"));

            if (e == NULL)
                continue;
            g->ev[g->n_ev].e = e;
            g->ev[g->n_ev].time = t != NULL ? t : "";
            g->ev[g->n_ev].key = wm_xstrdup(k->str);
            g->n_ev++;
        }
    }
    if (err != 0) {
        get_finish(g, err);
        return;
    }
    args_add(&a, "HGETALL");
    args_key(&a, g->st, STORE_KEY_EVSEQ, g->id);
    err = rconn_command(g->st->rc, on_get_seqs, g, (int)a.n, a.v, a.len);
    args_clear(&a);
    if (err != 0)
        get_finish(g, err);
}

static void on_get_hash(void *arg, int err, redisReply *r)
{
    struct get_call *g = arg;
    struct args a = {0};
    static const char *const times[] = {"estimated_delivery", "delivered_at",
                                        "substatus", "order_id",
                                        "last_event_at"};

    err = reply_error(err, r, "get");
    if (err == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements == 0))
        err = WM_ENOTFOUND;
    if (err != 0) {
        g->cb(g->arg, err, NULL);
        goto fail;
    }
    g->ship = json_object();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
        json_t *val;
        int64_t iv;

        if (strcmp(k, "created_ms") == 0 || strcmp(k, "last_event_ms") == 0 ||
            strcmp(k, "not_found_ms") == 0 || strcmp(k, "digest") == 0 ||
            strcmp(k, "event_seq") == 0)
            continue; /* internal */
        if (strcmp(k, "last_error") == 0)
            val = json_loads(v, 0, NULL);
        else if (strcmp(k, "polls") == 0 || strcmp(k, "event_count") == 0)
            val = num_i64(v, 0, INT64_MAX, &iv) == 0 ? json_integer(iv)
                                                     : json_null();
        else
            val = json_string(v);
        json_object_set_new(g->ship, k, val ? val : json_null());
    }
    for (size_t i = 0; i < WM_ARRAY_LEN(times); i++) {
        const char *v = json_string_value(json_object_get(g->ship, times[i]));
        if (v != NULL && v[0] == '\0')
            json_object_set_new(g->ship, times[i], json_null());
    }
    args_add(&a, "HGETALL");
    args_key(&a, g->st, STORE_KEY_EVENTS, g->id);
    err = rconn_command(g->st->rc, on_get_events, g, (int)a.n, a.v, a.len);
    args_clear(&a);
    if (err == 0)
        return;
    g->cb(g->arg, err, NULL);
    json_decref(g->ship);
fail:
    free(g->id);
    free(g);
}

int store_get(struct store *st, const char *id, store_get_cb *cb, void *arg)
{
    struct get_call *g = wm_xcalloc(1, sizeof(*g));
    struct args a = {0};
    int rc;

    g->st = st;
    g->cb = cb;
    g->arg = arg;
    g->id = wm_xstrdup(id);
    args_add(&a, "HGETALL");
    args_key(&a, st, STORE_KEY_SHIP, id);
    rc = rconn_command(st->rc, on_get_hash, g, (int)a.n, a.v, a.len);
    args_clear(&a);
    if (rc != 0) {
        free(g->id);
        free(g);
    }
    return rc;
}

/* Counts for stats and /metrics: one pipeline of plain read commands (no
 * script, so they still answer while Redis refuses writes). */
enum count_slot {
    C_DUE_NOW,   /* ZCOUNT due -inf now */
    C_SCHEDULED, /* ZCARD due */
    C_LEASED,    /* ZCARD lease */
    C_OUTBOX,    /* XLEN outbox: messages to send or in flight */
    C_LATER,     /* ZCARD outbox:later: deferred (quiet hours, retries) */
    C_DEAD,      /* XLEN outbox:dead */
    C_COUNT
};

struct counts_call;
typedef void counts_cb(struct counts_call *c);

struct counts_slot {
    struct counts_call *c;
};

struct counts_call {
    struct counts_slot slot[C_COUNT];
    long v[C_COUNT];
    int pending, err;
    counts_cb *done; /* then c is freed */
    struct store *st;
    void *cb;
    void *arg;
    struct metrics_buf *out;
};

static void on_count(void *arg, int err, redisReply *r)
{
    struct counts_slot *sl = arg;
    struct counts_call *c = sl->c;

    err = reply_error(err, r, "stats");
    if (err != 0)
        c->err = err;
    else if (r->type == REDIS_REPLY_INTEGER)
        c->v[sl - c->slot] = (long)r->integer;
    if (--c->pending == 0) {
        c->done(c);
        free(c);
    }
}

/* Sends the first n counts; 0 (done runs later, once) or the error of the
 * first command that could not be sent (nothing runs). */
static int counts_send(struct store *st, struct counts_call *c, int n,
                       int64_t now_ms)
{
    static const struct {
        const char *cmd;
        enum store_key key;
    } q[C_COUNT] = {
        [C_DUE_NOW] = {"ZCOUNT", STORE_KEY_DUE},
        [C_SCHEDULED] = {"ZCARD", STORE_KEY_DUE},
        [C_LEASED] = {"ZCARD", STORE_KEY_LEASE},
        [C_OUTBOX] = {"XLEN", STORE_KEY_OUTBOX},
        [C_LATER] = {"ZCARD", STORE_KEY_OUTBOX_LATER},
        [C_DEAD] = {"XLEN", STORE_KEY_OUTBOX_DEAD},
    };
    int rc = 0;

    c->st = st;
    c->pending = 1; /* held until every command is sent */
    for (int i = 0; i < n && rc == 0; i++) {
        struct args a = {0};

        args_add(&a, q[i].cmd);
        args_key(&a, st, q[i].key, NULL);
        if (i == C_DUE_NOW) {
            args_add(&a, "-inf");
            args_i64(&a, now_ms);
        }
        c->slot[i].c = c;
        c->pending++;
        rc = rconn_command(st->rc, on_count, &c->slot[i], (int)a.n, a.v, a.len);
        args_clear(&a);
        if (rc != 0)
            c->pending--;
    }
    if (rc != 0 && c->pending == 1) { /* nothing sent */
        free(c);
        return rc;
    }
    if (rc != 0)
        c->err = rc;
    if (--c->pending == 0) { /* every reply came already (not with rconn) */
        c->done(c);
        free(c);
    }
    return 0;
}

static void stats_done(struct counts_call *c)
{
    ((store_stats_cb *)c->cb)(c->arg, c->err, c->v[C_DUE_NOW],
                              c->v[C_SCHEDULED], c->v[C_LEASED]);
}

int store_stats(struct store *st, int64_t now_ms, store_stats_cb *cb, void *arg)
{
    struct counts_call *c = wm_xcalloc(1, sizeof(*c));

    c->done = stats_done;
    c->cb = (void *)cb;
    c->arg = arg;
    return counts_send(st, c, C_LEASED + 1, now_ms);
}

/* store_metrics: the schedule's and the outbox's counts, then whether
 * Redis answered. */
static void metrics_gauge(struct metrics_buf *out, const char *name,
                          const char *help, long v)
{
    metrics_head(out, name, "gauge", help);
    metrics_printf(out, "%s %ld\n", name, v);
}

static void metrics_redis_up(struct metrics_buf *out, bool up)
{
    metrics_gauge(out, "wismo_redis_up", "Whether Redis is reachable.", up);
}

static void metrics_done(struct counts_call *c)
{
    struct metrics_buf *out = c->out;

    if (c->err == 0) {
        metrics_gauge(out, "wismo_due_backlog",
                      "Shipments due now, not claimed.", c->v[C_DUE_NOW]);
        metrics_gauge(out, "wismo_scheduled", "Shipments on the schedule.",
                      c->v[C_SCHEDULED]);
        metrics_gauge(out, "wismo_leased",
                      "Shipments being polled (all processes).",
                      c->v[C_LEASED]);
        metrics_head(out, "wismo_outbox_depth", "gauge",
                     "Notifications waiting in the outbox: ready (to send "
                     "or being sent) and deferred (quiet hours, retries).");
        metrics_printf(out,
                       "wismo_outbox_depth{state=\"ready\"} %ld\n"
                       "wismo_outbox_depth{state=\"deferred\"} %ld\n",
                       c->v[C_OUTBOX], c->v[C_LATER]);
        metrics_gauge(out, "wismo_dead_letters",
                      "Notifications given up on (outbox:dead), until "
                      "replayed.",
                      c->v[C_DEAD]);
    }
    metrics_redis_up(out, c->err == 0 && rconn_is_up(c->st->rc));
    ((store_done_cb *)c->cb)(c->arg, c->err);
}

int store_metrics(struct store *st, int64_t now_ms, struct metrics_buf *out,
                  store_done_cb *cb, void *arg)
{
    struct counts_call *c = wm_xcalloc(1, sizeof(*c));
    int rc;

    c->done = metrics_done;
    c->cb = (void *)cb;
    c->arg = arg;
    c->out = out;
    rc = counts_send(st, c, C_COUNT, now_ms);
    if (rc != 0)
        metrics_redis_up(out, false);
    return rc;
}

/* --- erase, index look-ups, listing --- */

/*
 * Erasure (right to be forgotten): one job erases shipments one by one
 * (lua_erase: every key and index entry; the person's opt-out and caps
 * with their last shipment), forgets the customer when erasing by
 * customer (lua_forget), then deletes the shipments' entries from the
 * change stream and the notification outbox (lua_scrub, in chunks).
 */
#define SCRUB_CHUNK 1000

enum erase_stage { E_FIND_EMAIL, E_FIND_PHONE, E_ERASE, E_FORGET, E_SCRUB };

struct erase_job {
    struct store *st;
    enum erase_stage stage;
    char **ids; /* owned */
    size_t n, cap, next;
    long erased;
    char *email, *phone; /* by customer: normalised, owned; else NULL */
    bool by_customer;
    int scrub_key; /* 0..3: changes, outbox, outbox:dead, outbox:later */
    char start[64];
    char days[4][16];
    store_done_cb *done_cb;    /* by shipment */
    store_erased_cb *count_cb; /* by customer */
    void *arg;
};

static void erase_step(struct erase_job *j);
static void on_ids(void *arg, int err, redisReply *r);

static void erase_finish(struct erase_job *j, int err)
{
    if (err != 0 && err != WM_ENOTFOUND)
        log_error("msg=\"erase incomplete; repeat it\" error=\"%s\"",
                  wm_strerror(err));
    /* By customer or a batch: a count (a batch of shipments all gone
     * meanwhile erased none, which is no error); else one shipment. */
    if (j->count_cb != NULL)
        j->count_cb(j->arg, !j->by_customer && err == WM_ENOTFOUND ? 0 : err,
                    j->erased, (const char *const *)j->ids, j->n);
    else
        j->done_cb(j->arg, err);
    for (size_t i = 0; i < j->n; i++)
        free(j->ids[i]);
    free(j->ids);
    free(j->email);
    free(j->phone);
    free(j);
}

static void erase_add_id(struct erase_job *j, const char *id)
{
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->ids[i], id) == 0)
            return;
    wm_grow((void **)&j->ids, &j->cap, j->n + 1, sizeof(*j->ids));
    j->ids[j->n++] = wm_xstrdup(id);
}

/* The days whose daily caps may still exist (48 h, UTC days, and one
 * ahead for a clock a little ahead). */
static void erase_days(struct erase_job *j)
{
    int64_t now = wm_now_ms() / 1000;

    for (int d = 0; d < 4; d++) {
        struct wmtime_civil cv;

        wmtime_to_civil(now + (1 - d) * 86400, &cv);
        snprintf(j->days[d], sizeof(j->days[d]), "%04d%02d%02d", cv.year,
                 cv.month, cv.day);
    }
}

static void on_erase_reply(void *arg, int err, redisReply *r)
{
    struct erase_job *j = arg;

    err = reply_error(err, r, "erase");
    if (err != 0) {
        erase_finish(j, err);
        return;
    }
    switch (j->stage) {
    case E_FIND_EMAIL:
    case E_FIND_PHONE:
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                erase_add_id(j, r->element[i]->str);
        j->stage = j->stage == E_FIND_EMAIL ? E_FIND_PHONE : E_ERASE;
        break;
    case E_ERASE:
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
            j->erased++;
        j->next++;
        if (j->next >= j->n)
            j->stage = j->by_customer ? E_FORGET : E_SCRUB;
        break;
    case E_FORGET:
        if (j->phone != NULL && j->email != NULL) {
            free(j->email); /* e-mail forgotten; now the phone */
            j->email = NULL;
            break;
        }
        j->stage = E_SCRUB;
        break;
    case E_SCRUB: {
        const char *next = elem_str(r, 0);

        if (next == NULL || next[0] == '\0') {
            j->scrub_key++;
            snprintf(j->start, sizeof(j->start), "%s",
                     j->scrub_key == 3 ? "0" : "-");
        } else {
            snprintf(j->start, sizeof(j->start), "%s", next);
        }
        break;
    }
    }
    erase_step(j);
}

/* Sends the job's next command, or finishes it. */
static void erase_step(struct erase_job *j)
{
    static const enum store_key scrubbed[] = {
        STORE_KEY_CHANGES, STORE_KEY_OUTBOX, STORE_KEY_OUTBOX_DEAD,
        STORE_KEY_OUTBOX_LATER};
    struct store *st = j->st;
    struct args a = {0};
    int rc;

    if (j->stage == E_FIND_EMAIL && j->email == NULL)
        j->stage = E_FIND_PHONE;
    if (j->stage == E_FIND_PHONE && j->phone == NULL)
        j->stage = E_ERASE;
    if (j->stage == E_ERASE && j->next >= j->n)
        j->stage = j->by_customer ? E_FORGET : E_SCRUB;
    if (j->stage == E_SCRUB && (j->erased == 0 || j->scrub_key >= 4)) {
        erase_finish(j, j->by_customer || j->erased > 0 ? 0 : WM_ENOTFOUND);
        return;
    }
    switch (j->stage) {
    case E_FIND_EMAIL:
    case E_FIND_PHONE: {
        bool email = j->stage == E_FIND_EMAIL;
        const char *v = email ? j->email : j->phone;
        const char *field = email ? "email" : "phone";
        char small[256];
        int n = store_key_index(small, sizeof(small), st->prefix, field, v);
        char *key;

        if (n >= 0 && (size_t)n < sizeof(small)) {
            key = wm_xstrdup(small);
        } else { /* a long value: the exact size, measured above */
            key = wm_xmalloc((size_t)n + 1);
            store_key_index(key, (size_t)n + 1, st->prefix, field, v);
        }
        args_add(&a, "SMEMBERS");
        args_own(&a, key);
        rc = rconn_command(st->rc, on_erase_reply, j, (int)a.n, a.v, a.len);
        break;
    }
    case E_ERASE: {
        const char *id = j->ids[j->next];

        args_key(&a, st, STORE_KEY_IDX_NUM, NULL);
        args_key(&a, st, STORE_KEY_DUE, NULL);
        args_key(&a, st, STORE_KEY_LEASE, NULL);
        args_key(&a, st, STORE_KEY_LEASE_OWNER, NULL);
        args_key(&a, st, STORE_KEY_SHIP, id);
        args_key(&a, st, STORE_KEY_EVENTS, id);
        args_key(&a, st, STORE_KEY_NOTIF, id);
        args_key(&a, st, STORE_KEY_NST, id);
        args_key(&a, st, STORE_KEY_IDX_CREATED, NULL);
        args_key(&a, st, STORE_KEY_WATCH, NULL);
        args_key(&a, st, STORE_KEY_EVSEQ, id);
        args_key(&a, st, STORE_KEY_OPTOUT, NULL);
        args_key(&a, st, STORE_KEY_PUSH_UNSUB, NULL);
        args_key(&a, st, STORE_KEY_IDX_FINAL, NULL);
        args_key(&a, st, STORE_KEY_IDX_PII, NULL);
        args_add(&a, st->prefix);
        args_add(&a, id);
        for (int d = 0; d < 4; d++)
            args_add(&a, j->days[d]);
        rc = rconn_eval(st->rc, st->erase, on_erase_reply, j, 15, (int)a.n - 15,
                        a.v, a.len);
        break;
    }
    case E_FORGET: {
        bool email = j->email != NULL;

        args_key(&a, st, STORE_KEY_OPTOUT, NULL);
        args_add(&a, st->prefix);
        args_add(&a, email ? "email" : "sms");
        for (int d = 0; d < 4; d++)
            args_add(&a, j->days[d]);
        args_add(&a, "|");
        args_add(&a, email ? j->email : j->phone);
        rc = rconn_eval(st->rc, st->forget, on_erase_reply, j, 1, (int)a.n - 1,
                        a.v, a.len);
        break;
    }
    default: /* E_SCRUB */
        args_key(&a, st, scrubbed[j->scrub_key], NULL);
        args_add(&a, j->start);
        args_i64(&a, SCRUB_CHUNK);
        for (size_t i = 0; i < j->n; i++)
            args_add(&a, j->ids[i]);
        rc = rconn_eval(st->rc, st->scrub, on_erase_reply, j, 1, (int)a.n - 1,
                        a.v, a.len);
        break;
    }
    args_clear(&a);
    if (rc != 0)
        erase_finish(j, rc);
}

static struct erase_job *erase_job_new(struct store *st, void *arg)
{
    struct erase_job *j = wm_xcalloc(1, sizeof(*j));

    j->st = st;
    j->arg = arg;
    snprintf(j->start, sizeof(j->start), "-");
    erase_days(j);
    return j;
}

int store_erase(struct store *st, const char *id, store_done_cb *cb, void *arg)
{
    struct erase_job *j;

    if (!rconn_is_up(st->rc))
        return WM_EIO;
    j = erase_job_new(st, arg);
    j->done_cb = cb;
    j->stage = E_ERASE;
    erase_add_id(j, id);
    erase_step(j);
    return 0;
}

int store_erase_customer(struct store *st, const char *email, const char *phone,
                         store_erased_cb *cb, void *arg)
{
    struct erase_job *j;

    if ((email == NULL || email[0] == '\0') &&
        (phone == NULL || phone[0] == '\0'))
        return WM_EINVAL;
    if (!rconn_is_up(st->rc))
        return WM_EIO;
    j = erase_job_new(st, arg);
    j->count_cb = cb;
    j->by_customer = true;
    j->email = email != NULL && email[0] ? wm_xstrdup(email) : NULL;
    j->phone = phone != NULL && phone[0] ? wm_xstrdup(phone) : NULL;
    j->stage = E_FIND_EMAIL;
    erase_step(j);
    return 0;
}

int store_erase_batch(struct store *st, const char *const *ids, size_t n,
                      store_erased_cb *cb, void *arg)
{
    struct erase_job *j;

    if (n == 0)
        return WM_EINVAL;
    if (!rconn_is_up(st->rc))
        return WM_EIO;
    j = erase_job_new(st, arg);
    j->count_cb = cb;
    j->stage = E_ERASE;
    for (size_t i = 0; i < n; i++)
        erase_add_id(j, ids[i]);
    erase_step(j);
    return 0;
}

/* store_erase_contact: the ids are echoed to the callback. */
struct pii_call {
    store_erased_cb *cb;
    void *arg;
    char **ids; /* owned */
    size_t n;
};

static void on_pii(void *arg, int err, redisReply *r)
{
    struct pii_call *c = arg;

    err = reply_error(err, r, "erase contact data");
    if (err == 0 && r->type != REDIS_REPLY_INTEGER)
        err = WM_EPROTO;
    c->cb(c->arg, err, err == 0 ? (long)r->integer : 0,
          (const char *const *)c->ids, c->n);
    for (size_t i = 0; i < c->n; i++)
        free(c->ids[i]);
    free(c->ids);
    free(c);
}

int store_erase_contact(struct store *st, const char *const *ids, size_t n,
                        store_erased_cb *cb, void *arg)
{
    struct args a = {0};
    struct erase_job days = {0}; /* only for its days */
    struct pii_call *c;
    int rc;

    if (n == 0)
        return WM_EINVAL;
    erase_days(&days);
    args_key(&a, st, STORE_KEY_IDX_PII, NULL);
    args_key(&a, st, STORE_KEY_OPTOUT, NULL);
    args_add(&a, st->prefix);
    args_add(&a, "4");
    for (int d = 0; d < 4; d++)
        args_add(&a, days.days[d]);
    c = wm_xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->arg = arg;
    c->ids = wm_xcalloc(n, sizeof(*c->ids));
    for (size_t i = 0; i < n; i++) {
        c->ids[c->n++] = wm_xstrdup(ids[i]);
        args_add(&a, ids[i]);
    }
    rc = rconn_eval(st->rc, st->pii, on_pii, c, 2, (int)a.n - 2, a.v, a.len);
    args_clear(&a);
    if (rc != 0) {
        for (size_t i = 0; i < c->n; i++)
            free(c->ids[i]);
        free(c->ids);
        free(c);
    }
    return rc;
}

static void on_backfill(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_backfill_cb *cb = (store_backfill_cb *)c->cb;
    long long done = 0, added = 0;

    err = reply_error(err, r, "retention backfill");
    if (err == 0 && (done = elem_int(r, 0)) < 0)
        err = WM_EPROTO;
    if (err == 0)
        added = elem_int(r, 1);
    cb(c->arg, err, done == 1, added > 0 ? (long)added : 0);
    free(c);
}

int store_retention_backfill(struct store *st, int count, store_backfill_cb *cb,
                             void *arg)
{
    struct args a = {0};

    if (count <= 0)
        return WM_EINVAL;
    args_key(&a, st, STORE_KEY_IDX_CREATED, NULL);
    args_key(&a, st, STORE_KEY_IDX_FINAL, NULL);
    args_key(&a, st, STORE_KEY_IDX_PII, NULL);
    args_key(&a, st, STORE_KEY_RETENTION_BACKFILL, NULL);
    args_add(&a, st->prefix);
    args_i64(&a, count);
    return call_send(st, st->backfill, 4, &a, on_backfill, (void *)cb, arg);
}

static void on_lookup_backfill(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_backfill_cb *cb = (store_backfill_cb *)c->cb;

    err = reply_error(err, r, "lookup backfill");
    if (err == 0 && r->type != REDIS_REPLY_INTEGER)
        err = WM_EPROTO;
    if (err == 0 && r->integer == 1)
        c->st->lookup_counted = true;
    cb(c->arg, err, err == 0 && r->integer == 1, 0);
    free(c);
}

int store_lookup_backfill(struct store *st, int count, store_backfill_cb *cb,
                          void *arg)
{
    struct args a = {0};

    if (count <= 0)
        return WM_EINVAL;
    args_key(&a, st, STORE_KEY_LOOKUP_BACKFILL, NULL);
    args_add(&a, st->prefix);
    args_i64(&a, count);
    return call_send(st, st->lookup_backfill, 1, &a, on_lookup_backfill,
                     (void *)cb, arg);
}

bool store_lookup_counted(const struct store *st)
{
    return st->lookup_counted;
}

void store_lookup_recount(struct store *st)
{
    st->lookup_counted = false;
}

int store_retention_due(struct store *st, enum store_key index,
                        int64_t before_ms, int max, store_ids_cb *cb, void *arg)
{
    struct args a = {0};

    if ((index != STORE_KEY_IDX_FINAL && index != STORE_KEY_IDX_PII) ||
        max <= 0)
        return WM_EINVAL;
    args_add(&a, "ZRANGEBYSCORE");
    args_key(&a, st, index, NULL);
    args_add(&a, "-inf");
    args_i64(&a, before_ms);
    args_add(&a, "LIMIT");
    args_add(&a, "0");
    args_i64(&a, max);
    return call_send(st, NULL, 0, &a, on_ids, (void *)cb, arg);
}

static void on_ids(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_ids_cb *cb = (store_ids_cb *)c->cb;
    const char **ids = NULL;
    size_t n = 0;

    err = reply_error(err, r, "ids");
    if (err == 0 && r->type == REDIS_REPLY_ARRAY) {
        ids = wm_xcalloc(r->elements + 1, sizeof(*ids));
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                ids[n++] = r->element[i]->str;
    } else if (err == 0) {
        err = WM_EPROTO;
    }
    cb(c->arg, err, NULL, ids, n);
    free(ids);
    free(c);
}

/* --- carrier subscriptions --- */

static void on_push_state(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_done_cb *cb = (store_done_cb *)c->cb;

    err = reply_error(err, r, "push state");
    if (err == 0 && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        err = WM_ENOTFOUND;
    cb(c->arg, err);
    free(c);
}

int store_push_state(struct store *st, const struct store_push_in *in,
                     store_done_cb *cb, void *arg)
{
    struct args a = {0};

    args_key(&a, st, STORE_KEY_SHIP, in->id);
    args_key(&a, st, STORE_KEY_DUE, NULL);
    args_key(&a, st, STORE_KEY_LEASE, NULL);
    args_key(&a, st, STORE_KEY_PUSH_UNSUB, NULL);
    args_add(&a, st->prefix);
    args_add(&a, in->id);
    args_add(&a, in->state);
    args_add(&a, in->sub_id != NULL ? in->sub_id : "");
    args_i64(&a, in->now_ms);
    args_i64(&a, in->until_ms);
    args_i64(&a, in->retry_ms);
    args_i64(&a, in->due_ms);
    args_i64(&a, in->renew_ms);
    return call_send(st, st->push_state, 4, &a, on_push_state, (void *)cb, arg);
}

int store_push_end(struct store *st, const char *id, store_done_cb *cb,
                   void *arg)
{
    struct args a = {0};

    args_key(&a, st, STORE_KEY_SHIP, id);
    args_key(&a, st, STORE_KEY_PUSH_UNSUB, NULL);
    args_add(&a, st->prefix);
    return call_send(st, st->push_end, 2, &a, on_done, (void *)cb, arg);
}

static void on_push_unsubs(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_unsubs_cb *cb = (store_unsubs_cb *)c->cb;
    struct store_unsub *u = NULL;
    char **copies = NULL;
    size_t n = 0;

    err = reply_error(err, r, "push unsubscriptions");
    if (err == 0 && r->type != REDIS_REPLY_ARRAY)
        err = WM_EPROTO;
    if (err == 0) {
        u = wm_xcalloc(r->elements + 1, sizeof(*u));
        copies = wm_xcalloc(r->elements + 1, sizeof(*copies));
        for (size_t i = 0; i < r->elements; i++) {
            const char *e = elem_str(r, i);
            char *a, *b, *nl;

            if (e == NULL)
                continue;
            copies[i] = a = wm_xstrdup(e);
            if ((nl = strchr(a, '\n')) == NULL)
                continue;
            *nl = '\0';
            b = nl + 1;
            if ((nl = strchr(b, '\n')) == NULL)
                continue;
            *nl = '\0';
            u[n].carrier = a;
            u[n].sub_id = b;
            u[n].number = nl + 1;
            n++;
        }
    }
    cb(c->arg, err, u, n);
    for (size_t i = 0; copies != NULL && i < r->elements; i++)
        free(copies[i]);
    free(copies);
    free(u);
    free(c);
}

int store_push_unsubs(struct store *st, int max, store_unsubs_cb *cb, void *arg)
{
    struct args a = {0};

    args_key(&a, st, STORE_KEY_PUSH_UNSUB, NULL);
    args_i64(&a, max);
    return call_send(st, st->push_unsubs, 1, &a, on_push_unsubs, (void *)cb,
                     arg);
}

static void on_lookup(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_lookup_cb *cb = (store_lookup_cb *)c->cb;
    const char *id = NULL;

    err = reply_error(err, r, "lookup");
    if (err == 0 && r->type == REDIS_REPLY_STRING)
        id = r->str;
    else if (err == 0 && r->type != REDIS_REPLY_NIL)
        err = WM_EPROTO;
    cb(c->arg, err, id);
    free(c);
}

int store_lookup(struct store *st, const char *carrier, const char *number,
                 store_lookup_cb *cb, void *arg)
{
    struct args a = {0};
    size_t len = strlen(carrier) + strlen(number) + 2;
    char *field = wm_xmalloc(len);

    snprintf(field, len, "%s:%s", carrier, number);
    args_add(&a, "HGET");
    args_key(&a, st, STORE_KEY_IDX_NUM, NULL);
    args_own(&a, field);
    return call_send(st, NULL, 0, &a, on_lookup, (void *)cb, arg);
}

int store_find(struct store *st, const char *field, const char *value,
               store_ids_cb *cb, void *arg)
{
    struct args a = {0};
    char small[256];
    int n = store_key_index(small, sizeof(small), st->prefix, field, value);
    char *key;

    if (n >= 0 && (size_t)n < sizeof(small)) {
        key = wm_xstrdup(small);
    } else { /* a long value: the exact size, measured above */
        key = wm_xmalloc((size_t)n + 1);
        store_key_index(key, (size_t)n + 1, st->prefix, field, value);
    }
    args_add(&a, "SMEMBERS");
    args_own(&a, key);
    return call_send(st, NULL, 0, &a, on_ids, (void *)cb, arg);
}

/* A listing: ids by registration time; the cursor is the next rank. */
struct list_call {
    store_ids_cb *cb;
    void *arg;
    int64_t offset, count;
};

static void on_list(void *arg, int err, redisReply *r)
{
    struct list_call *l = arg;
    const char **ids = NULL;
    char cursor[24];
    size_t n = 0;

    err = reply_error(err, r, "list");
    if (err == 0 && r->type == REDIS_REPLY_ARRAY) {
        ids = wm_xcalloc(r->elements + 1, sizeof(*ids));
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                ids[n++] = r->element[i]->str;
        /* A full page may have more behind it; a short one is the end. */
        snprintf(cursor, sizeof(cursor), "%lld",
                 r->elements == (size_t)l->count
                     ? (long long)(l->offset + l->count)
                     : 0LL);
    } else if (err == 0) {
        err = WM_EPROTO;
    }
    l->cb(l->arg, err, err == 0 ? cursor : NULL, ids, n);
    free(ids);
    free(l);
}

/* A list call for cursor and count, or NULL when the cursor is bad. */
static struct list_call *list_call_new(const char *cursor, int count,
                                       store_ids_cb *cb, void *arg)
{
    struct list_call *l = wm_xcalloc(1, sizeof(*l));

    l->cb = cb;
    l->arg = arg;
    l->count = count > 0 ? count : 1;
    l->offset = 0;
    /* offset + count - 1 must not overflow (a cursor of 2^63 - 50 did) */
    if (cursor != NULL &&
        num_i64(cursor, 0, INT64_MAX - l->count, &l->offset) != 0) {
        free(l);
        return NULL;
    }
    return l;
}

int store_list(struct store *st, const char *cursor, int count,
               store_ids_cb *cb, void *arg)
{
    struct args a = {0};
    struct list_call *l = list_call_new(cursor, count, cb, arg);
    int rc;

    if (l == NULL)
        return WM_EINVAL;
    args_add(&a, "ZRANGE");
    args_key(&a, st, STORE_KEY_IDX_CREATED, NULL);
    args_i64(&a, l->offset);
    args_i64(&a, l->offset + l->count - 1);
    rc = rconn_command(st->rc, on_list, l, (int)a.n, a.v, a.len);
    if (rc != 0)
        free(l);
    args_clear(&a);
    return rc;
}

int store_list_open(struct store *st, const char *cursor, int count,
                    store_ids_cb *cb, void *arg)
{
    struct args a = {0};
    struct list_call *l = list_call_new(cursor, count, cb, arg);
    int rc;

    if (l == NULL)
        return WM_EINVAL;
    args_key(&a, st, STORE_KEY_DUE, NULL);
    args_key(&a, st, STORE_KEY_LEASE, NULL);
    args_i64(&a, l->offset);
    args_i64(&a, l->count);
    rc = rconn_eval(st->rc, st->open, on_list, l, 2, (int)a.n - 2, a.v, a.len);
    if (rc != 0)
        free(l);
    args_clear(&a);
    return rc;
}

/* The notification records of a shipment (newest first in Redis). */
struct notif_call {
    store_json_cb *cb;
    void *arg;
};

static void on_notifs(void *arg, int err, redisReply *r)
{
    struct notif_call *c = arg;
    json_t *list = json_array();

    err = reply_error(err, r, "notifications");
    if (err == 0 && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = r->elements; i > 0; i--) { /* oldest first */
            redisReply *e = r->element[i - 1];
            json_t *j = e->type == REDIS_REPLY_STRING
                            ? json_loadb(e->str, e->len, 0, NULL)
                            : NULL;
            if (j != NULL)
                json_array_append_new(list, j);
        }
    }
    c->cb(c->arg, err, list);
    json_decref(list);
    free(c);
}

int store_notifications(struct store *st, const char *id, store_json_cb *cb,
                        void *arg)
{
    struct args a = {0};
    struct notif_call *c = wm_xcalloc(1, sizeof(*c));
    int rc;

    c->cb = cb;
    c->arg = arg;
    args_add(&a, "LRANGE");
    args_key(&a, st, STORE_KEY_NOTIF, id);
    args_add(&a, "0");
    args_add(&a, "199");
    rc = rconn_command(st->rc, on_notifs, c, (int)a.n, a.v, a.len);
    if (rc != 0)
        free(c);
    args_clear(&a);
    return rc;
}

/* --- rendered lookup answers --- */

/* HMGET of the order's rendering and count; before the lookup backfill is
 * done, an SCARD of its index first (two commands, one round trip,
 * answered in that order on the one link). Freed when every reply came
 * (or the one sent). */
struct answer_call {
    store_answer_cb *cb;
    void *arg;
    int pending;       /* replies still to come */
    bool done;         /* cb called */
    bool counted;      /* n in the HMGET counts the shipments, no SCARD */
    bool hmget_unsent; /* only the SCARD went out: it reports the error */
    int err;           /* of the SCARD */
    long long count;   /* the order's shipments (SCARD) */
};

static void answer_call_unref(struct answer_call *c)
{
    if (--c->pending == 0)
        free(c);
}

static const char *reply_bytes(const redisReply *r, size_t *len)
{
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        *len = 0;
        return NULL;
    }
    *len = r->len;
    return r->str;
}

static void on_answer_count(void *arg, int err, redisReply *r)
{
    struct answer_call *c = arg;

    err = reply_error(err, r, "answer");
    if (err == 0 && r->type != REDIS_REPLY_INTEGER)
        err = WM_EPROTO;
    c->err = err;
    c->count = err == 0 ? r->integer : 0;
    if (c->hmget_unsent && !c->done) {
        c->done = true;
        c->cb(c->arg, err != 0 ? err : WM_EIO, NULL);
    }
    answer_call_unref(c);
}

static void on_answer(void *arg, int err, redisReply *r)
{
    struct answer_call *c = arg;
    struct store_answer ans = {.gen = ""};
    size_t n;
    const char *u, *cnt;
    int64_t until = 0, count = 0;

    err = reply_error(err, r, "answer");
    if (err == 0 && c->pending != 1)
        err = WM_EPROTO; /* the SCARD's reply has not come first */
    if (err == 0)
        err = c->err;
    if (err == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 5))
        err = WM_EPROTO;
    if (err == 0) {
        if (r->element[0]->type == REDIS_REPLY_STRING)
            ans.gen = r->element[0]->str;
        u = reply_bytes(r->element[1], &n);
        ans.verify = reply_bytes(r->element[2], &ans.verify_len);
        cnt = reply_bytes(r->element[3], &n);
        ans.body = reply_bytes(r->element[4], &ans.body_len);
        if (ans.body != NULL &&
            (u == NULL || ans.verify == NULL || ans.body_len < 2 ||
             num_i64(u, 0, INT64_MAX, &until) != 0))
            ans.body = NULL; /* not ours: rendered again */
        ans.until_ms = until;
        if (!c->counted)
            count = c->count;
        else if (cnt != NULL && num_i64(cnt, 0, INT64_MAX, &count) != 0)
            err = WM_EPROTO;
        ans.shipments = count > 0 ? (size_t)count : 0;
    }
    if (!c->done) {
        c->done = true;
        c->cb(c->arg, err, err == 0 ? &ans : NULL);
    }
    answer_call_unref(c);
}

/* The order's lk: key (index NULL) or its index key: in buf when it fits
 * (size bytes), else allocated (the caller frees what is not buf). NULL
 * when the key cannot be built. */
static char *order_key(char *buf, size_t size, const char *prefix,
                       const char *index, const char *order, size_t *len)
{
    int n = index == NULL ? store_key_lookup(buf, size, prefix, order)
                          : store_key_index(buf, size, prefix, index, order);
    char *key = buf;

    if (n < 0)
        return NULL;
    if ((size_t)n >= size) {
        key = wm_xmalloc((size_t)n + 1);
        if (index == NULL)
            store_key_lookup(key, (size_t)n + 1, prefix, order);
        else
            store_key_index(key, (size_t)n + 1, prefix, index, order);
    }
    *len = (size_t)n;
    return key;
}

int store_answer_get(struct store *st, const char *order, int lang,
                     store_answer_cb *cb, void *arg)
{
    static const char *const body_field[4] = {"b0", "b1", "b2", "b3"};
    char small[256], ismall[256], *key, *ikey = NULL;
    const char *v[7] = {"HMGET", NULL, "g", "u", "v", "n", NULL};
    size_t l[7] = {5, 0, 1, 1, 1, 1, 2};
    const char *cv[2] = {"SCARD", NULL};
    size_t cl[2] = {5, 0};
    struct answer_call *c;
    int rc = WM_EINVAL;

    if (lang < 0 || lang > 3)
        return WM_EINVAL;
    key = order_key(small, sizeof(small), st->prefix, NULL, order, &l[1]);
    if (key == NULL)
        goto out;
    if (!st->lookup_counted &&
        (ikey = order_key(ismall, sizeof(ismall), st->prefix, "order", order,
                          &cl[1])) == NULL)
        goto out;
    v[1] = key;
    v[6] = body_field[lang];
    cv[1] = ikey;
    c = wm_xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->arg = arg;
    c->counted = ikey == NULL;
    if (c->counted) {
        c->pending = 1;
        rc = rconn_command(st->rc, on_answer, c, 7, v, l);
        if (rc != 0)
            free(c);
        goto out;
    }
    c->pending = 1;
    rc = rconn_command(st->rc, on_answer_count, c, 2, cv, cl);
    if (rc != 0)
        free(c);
    else if (rconn_command(st->rc, on_answer, c, 7, v, l) == 0)
        c->pending = 2;
    else
        c->hmget_unsent = true; /* the SCARD's reply reports it */
out:
    if (key != small)
        free(key);
    if (ikey != NULL && ikey != ismall)
        free(ikey);
    return rc;
}

struct answer_put_call {
    store_done_cb *cb; /* may be NULL */
    void *arg;
};

static void on_answer_put(void *arg, int err, redisReply *r)
{
    struct answer_put_call *c = arg;

    err = reply_error(err, r, "answer put");
    if (c->cb != NULL)
        c->cb(c->arg, err);
    free(c);
}

int store_answer_put(struct store *st, const struct store_answer_in *in,
                     store_done_cb *cb, void *arg)
{
    struct args a = {0};
    struct answer_put_call *c;
    char small[256], ismall[256], *key, *ikey;
    size_t n;
    int rc;

    if (in->n_ids == 0)
        return WM_EINVAL;
    key = order_key(small, sizeof(small), st->prefix, NULL, in->order, &n);
    ikey =
        order_key(ismall, sizeof(ismall), st->prefix, "order", in->order, &n);
    if (key == NULL || ikey == NULL) {
        if (key != small)
            free(key);
        if (ikey != ismall)
            free(ikey);
        return WM_EINVAL;
    }
    args_own(&a, key != small ? key : wm_xstrdup(key));
    args_own(&a, ikey != ismall ? ikey : wm_xstrdup(ikey));
    args_add(&a, in->gen);
    args_i64(&a, in->until_ms);
    args_add(&a, in->verify);
    for (int i = 0; i < 4; i++)
        args_addb(&a, in->bodies[i], in->lens[i]);
    for (size_t i = 0; i < in->n_ids; i++)
        args_add(&a, in->ids[i]);
    c = wm_xmalloc(sizeof(*c));
    c->cb = cb;
    c->arg = arg;
    rc = rconn_eval(st->rc, st->answer_put, on_answer_put, c, 2, (int)a.n - 2,
                    a.v, a.len);
    if (rc != 0)
        free(c);
    args_clear(&a);
    return rc;
}

/* --- change feed --- */

static char *feed_key(const struct store *st, const char *carrier,
                      const char *customer)
{
    size_t len = strlen(st->prefix) + strlen(STORE_K_FEED) + strlen(carrier) +
                 strlen(customer) + 2;
    char *k = wm_xmalloc(len);

    store_key_feed(k, len, st->prefix, carrier, customer);
    return k;
}

static void on_feed_cursor(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_feed_cursor_cb *cb = (store_feed_cursor_cb *)c->cb;
    int64_t v = 0;

    err = reply_error(err, r, "feed cursor");
    if (err == 0 && r->type == REDIS_REPLY_STRING) {
        if (num_i64(r->str, 0, INT64_MAX, &v) != 0)
            err = WM_EPROTO;
    } else if (err == 0 && r->type != REDIS_REPLY_NIL) {
        err = WM_EPROTO;
    }
    cb(c->arg, err, v);
    free(c);
}

int store_feed_cursor(struct store *st, const char *carrier,
                      const char *customer, store_feed_cursor_cb *cb, void *arg)
{
    struct args a = {0};

    args_add(&a, "HGET");
    args_own(&a, feed_key(st, carrier, customer));
    args_add(&a, "cursor_ms");
    return call_send(st, NULL, 0, &a, on_feed_cursor, (void *)cb, arg);
}

static void on_feed_news(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_feed_news_cb *cb = (store_feed_news_cb *)c->cb;
    long long found = -1, due = -1;

    err = reply_error(err, r, "feed news");
    if (err == 0) {
        found = elem_int(r, 0);
        due = elem_int(r, 1);
        if (found < 0 || due < 0)
            err = WM_EPROTO;
    }
    cb(c->arg, err, err == 0 ? (long)found : 0, err == 0 ? (long)due : 0);
    free(c);
}

int store_feed_news(struct store *st, const char *carrier, const char *customer,
                    const char *const *numbers, size_t n, int64_t cursor_ms,
                    int64_t now_ms, store_feed_news_cb *cb, void *arg)
{
    struct args a = {0};

    args_key(&a, st, STORE_KEY_IDX_NUM, NULL);
    args_key(&a, st, STORE_KEY_DUE, NULL);
    args_own(&a, feed_key(st, carrier, customer));
    args_key(&a, st, STORE_KEY_LEASE, NULL);
    args_add(&a, st->prefix);
    args_add(&a, carrier);
    args_i64(&a, now_ms);
    args_i64(&a, cursor_ms);
    for (size_t i = 0; i < n; i++)
        args_add(&a, numbers[i]);
    return call_send(st, st->feed_news, 4, &a, on_feed_news, (void *)cb, arg);
}

static void on_feed_fallback(void *arg, int err, redisReply *r)
{
    struct call *c = arg;
    store_feed_scan_cb *cb = (store_feed_scan_cb *)c->cb;
    const char *next = NULL;
    long long moved = 0;

    err = reply_error(err, r, "feed fallback");
    if (err == 0) {
        next = elem_str(r, 0);
        moved = elem_int(r, 1);
        if (next == NULL || moved < 0)
            err = WM_EPROTO;
    }
    cb(c->arg, err, err == 0 ? next : NULL, err == 0 ? (long)moved : 0);
    free(c);
}

int store_feed_fallback(struct store *st, const char *carrier,
                        const char *number_prefix, const char *cursor,
                        int count, int64_t now_ms, store_feed_scan_cb *cb,
                        void *arg)
{
    struct args a = {0};
    size_t cl = strlen(carrier), pl = strlen(number_prefix), k = 0;
    char *pat = wm_xmalloc(cl * 2 + 1 + pl * 4 + 2);

    /* "carrier:" then each letter as [xX], then '*'; glob characters in
     * carrier or prefix are escaped. */
    for (size_t i = 0; i < cl; i++) {
        if (strchr("*?[]\\", carrier[i]) != NULL)
            pat[k++] = '\\';
        pat[k++] = carrier[i];
    }
    pat[k++] = ':';
    for (size_t i = 0; i < pl; i++) {
        unsigned char ch = (unsigned char)number_prefix[i];

        if (isalpha(ch)) {
            pat[k++] = '[';
            pat[k++] = (char)tolower(ch);
            pat[k++] = (char)toupper(ch);
            pat[k++] = ']';
        } else {
            if (strchr("*?[]\\", ch) != NULL)
                pat[k++] = '\\';
            pat[k++] = (char)ch;
        }
    }
    pat[k++] = '*';
    pat[k] = '\0';
    args_key(&a, st, STORE_KEY_IDX_NUM, NULL);
    args_key(&a, st, STORE_KEY_DUE, NULL);
    args_add(&a, cursor);
    args_own(&a, pat);
    args_i64(&a, count);
    args_i64(&a, now_ms);
    return call_send(st, st->feed_fallback, 2, &a, on_feed_fallback, (void *)cb,
                     arg);
}
