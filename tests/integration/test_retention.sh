#!/usr/bin/env bash
# Retention (issue 10 item 6): [retention] pii_after erases the contact
# data of shipments final for that long, erase_after the whole shipment
# with every key, index entry and stream entry; open shipments stay;
# shipments final before idx:final existed are found by a one-time pass.
# wismod with its own redis-server and the fake carrier; durations in
# seconds, every wait a condition with a generous bound.
#   test_retention.sh FAKECARRIER WISMOD WISMOCTL
# ONLY_BATCH=1 runs the last part alone (5000 shipments in batches).
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD WISMOCTL}
WISMOD=${2:?}
CTL=${3:?}
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
# Every wait here is bounded by the wall clock.
wait_for() { wait_secs "$@"; }

start_redis
start_fake --speed 1

config() { # config RETENTION-LINES
    cat >"$work/w.ini" <<INI
[daemon]
data_dir = $work/data
claim_interval = 50ms
log_level = info
[redis]
url = unix://$REDIS_SOCK
[http]
listen = 127.0.0.1:0
[tokens]
shop = shop-token
agent = agent-token
[web]
default_country = NL
[schedule]
pending = 1s
in_transit = 1s
jitter = 0
night =
[retention]
$1
[carrier.dhl]
base_url = $FAKE_URL/dhl
api_key = test-key
rate = 0
INI
}

if [ -z "${ONLY_BATCH:-}" ]; then
# --- wismod -t on the [retention] keys ---
say "configuration"
rc=0
printf '[retention]\nerase_after = 30d\npii_after = 30d\n' >"$work/bad.ini"
"$WISMOD" -t -c "$work/bad.ini" >/dev/null 2>"$work/bad.err" || rc=$?
[ "$rc" -eq 78 ] && grep -q 'bad.ini:3: \[retention\] pii_after must be shorter than erase_after' "$work/bad.err" &&
    ok "pii_after >= erase_after refused: $(cat "$work/bad.err")" || fail "bad retention: exit $rc: $(cat "$work/bad.err")"
rc=0
printf '[retention]\nerase_after = soon\n' >"$work/bad2.ini"
"$WISMOD" -t -c "$work/bad2.ini" >/dev/null 2>"$work/bad2.err" || rc=$?
[ "$rc" -eq 78 ] && grep -q 'bad2.ini:2: erase_after: bad duration' "$work/bad2.err" &&
    ok "a bad duration refused" || fail "bad duration: exit $rc: $(cat "$work/bad2.err")"

# --- pii_after only: contact data of the delivered shipment goes ---
config "erase_after =
pii_after = 1s"
start_wismod "$work/w.ini"
SHOP=(-H "Authorization: Bearer shop-token" -H "Content-Type: application/json")

# register NUMBER ORDER EMAIL PHONE POSTCODE SCENARIO ELAPSED: the id in $ID
register() {
    curl -sf -X PUT -d "{\"scenario\":\"$6\",\"elapsed\":$7}" \
        "$FAKE_URL/_admin/scenario/dhl/$1" >/dev/null
    ID=$(curl -sf "${SHOP[@]}" -d "{\"tracking_number\":\"$1\",\"carrier\":\"dhl\",\"order_id\":\"$2\",\"email\":\"$3\",\"phone\":\"$4\",\"postcode\":\"$5\"}" \
        "$API/v1/shipments" | jq -r .id)
    [ -n "$ID" ] && [ "$ID" != null ] || { fail "registration of $1"; exit 1; }
}
say "pii_after"
# D: delivered at its first poll; O: in transit (open) for good.
register 4827160001 RET-DONE-1 done.customer@example.com 0612121212 1111AA on_time 230000
D=$ID
register 4827160002 RET-OPEN-2 open.customer@example.com 0634343434 2222BB stalled 72000
O=$ID
status_is() { [ "$(rcli HGET "wismo:s:{$1}" status)" = "$2" ]; }
wait_for 60 status_is "$D" delivered && ok "D delivered" || fail "D: $(rcli HGET "wismo:s:{$D}" status)"
wait_for 60 status_is "$O" in_transit && ok "O in transit" || fail "O: $(rcli HGET "wismo:s:{$O}" status)"
[ -n "$(rcli ZSCORE wismo:idx:final "$D")" ] && [ -z "$(rcli ZSCORE wismo:idx:final "$O")" ] &&
    ok "idx:final holds the delivered shipment only" || fail "idx:final: $(rcli ZRANGE wismo:idx:final 0 -1 WITHSCORES | tr '\n' ' ')"
no_contact() { [ "$(rcli HMGET "wismo:s:{$1}" email phone postcode | tr -d '\n')" = "" ]; }
wait_for 60 no_contact "$D" && ok "D's e-mail, phone and postcode erased" ||
    fail "D still holds: $(rcli HMGET "wismo:s:{$D}" email phone postcode | tr '\n' ' ')"
[ "$(rcli EXISTS wismo:idx:email:done.customer@example.com wismo:idx:phone:+31612121212 wismo:idx:postcode:1111AA)" = 0 ] &&
    ok "and the indexes pointing at them" || fail "indexes left: $(rcli --scan --pattern 'wismo:idx:*' | tr '\n' ' ')"
[ "$(rcli HGET "wismo:s:{$D}" order_id)" = RET-DONE-1 ] && [ "$(rcli HLEN "wismo:s:{$D}:ev")" -gt 0 ] &&
    ok "the shipment itself stays (order id, events)" || fail "D's shipment damaged"
[ "$(rcli HGET "wismo:s:{$O}" email)" = open.customer@example.com ] &&
    [ "$(rcli SISMEMBER wismo:idx:postcode:2222BB "$O")" = 1 ] &&
    ok "the open shipment keeps its contact data" || fail "O lost contact data"
metric() { curl -s "$API/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }
wait_for 30 metric_is wismo_retention_pii_erased_total 1 &&
    ok "wismo_retention_pii_erased_total 1" || fail "pii metric: $(metric wismo_retention_pii_erased_total)"
[ "$(metric wismo_retention_erased_total)" = 0 ] && ok "wismo_retention_erased_total 0 (off)" ||
    fail "erased metric: $(metric wismo_retention_erased_total)"

# --- erase_after (SIGHUP): the delivered shipment goes entirely ---
say "erase_after"
config "erase_after = 2s
pii_after = 1s"
kill -HUP "$WPID"
wait_for 30 grep -q 'msg="configuration reloaded"' "$work/wismod.log" || fail "no reload"
gone() { [ "$(rcli EXISTS "wismo:s:{$1}")" = 0 ]; }
wait_for 60 gone "$D" && ok "D erased" || fail "D still there: $(rcli HGETALL "wismo:s:{$D}" | tr '\n' ' ')"
wait_for 30 metric_is wismo_retention_erased_total 1 &&
    ok "wismo_retention_erased_total 1" || fail "erased metric: $(metric wismo_retention_erased_total)"
# Every key and value of the keyspace: nothing of D.
dump() {
    local k t
    rcli --scan --pattern '*' | while read -r k; do
        echo "key $k"
        t=$(rcli TYPE "$k")
        case $t in
        string) rcli GET "$k" ;;
        hash) rcli HGETALL "$k" ;;
        set) rcli SMEMBERS "$k" ;;
        zset) rcli ZRANGE "$k" 0 -1 ;;
        list) rcli LRANGE "$k" 0 -1 ;;
        stream) rcli XRANGE "$k" - + ;;
        esac
    done >"$work/dump"
}
dump
for v in "$D" 4827160001 RET-DONE-1 done.customer@example.com 612121212 1111AA; do
    grep -qiF -- "$v" "$work/dump" && fail "'$v' still in Redis: $(grep -iF -- "$v" "$work/dump" | head -3)" ||
        ok "no '$v' anywhere"
done
for v in "$O" 4827160002 RET-OPEN-2 open.customer@example.com +31634343434 2222BB; do
    grep -qF -- "$v" "$work/dump" || fail "the open shipment lost '$v'"
done
ok "the open shipment and its keys stay"
[ "$(rcli ZCARD wismo:idx:final)" = 0 ] && [ "$(rcli ZCARD wismo:idx:pii)" = 0 ] &&
    ok "idx:final and idx:pii empty" || fail "retention indexes: $(rcli ZRANGE wismo:idx:final 0 -1)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer agent-token" "$API/v1/shipments/$D")
[ "$code" = 404 ] && ok "GET of the erased shipment: 404" || fail "GET erased: $code"
stop_wismod
fi

# --- many: batches on the loop ---
[ -z "${ONLY_BATCH:-}" ] || config "erase_after = 2s"
say "batches"
rcli FLUSHALL >/dev/null
awk 'BEGIN { print "tracking_number,carrier,order_id,email";
    for (i = 0; i < 5000; i++) printf "RETB%08d,dhl,RETB-%d,b%d@example.com\n", i, i, i }' >"$work/bulk.csv"
"$CTL" -c "$work/w.ini" import "$work/bulk.csv" >"$work/bulk.out" 2>"$work/bulk.err" ||
    fail "bulk import: $(cat "$work/bulk.out" "$work/bulk.err")"
# Delivered long ago, stored by a version without idx:final (status set,
# off the schedule, in no retention index): the one-time pass finds them.
rcli EVAL "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    redis.call('HSET', 'wismo:s:{' .. id .. '}', 'status', 'delivered',
      'last_event_ms', '1000')
    redis.call('ZREM', KEYS[2], id)
  end" 2 wismo:idx:created wismo:due >/dev/null
config "erase_after = 2s
pii_after = 1s
batch = 100"
: >"$work/wismod2.log"
start=$(date +%s%N)
launch_wismod "$work/w.ini" "$work/wismod2.log"
none_left() { [ "$(rcli ZCARD wismo:idx:created)" = 0 ]; }
if wait_for 240 none_left; then
    ms=$((($(date +%s%N) - start) / 1000000))
    steps=$(grep -c 'msg="retention erased shipments"' "$work/wismod2.log" || true)
    avg=$(sed -n 's/.*msg="retention erased shipments" n=\([0-9]*\) ms=\([0-9]*\).*/\2/p' "$work/wismod2.log" |
        awk '{s += $1; if ($1 > m) m = $1} END {if (NR) printf "%.1f ms a batch of 100 (max %d ms)", s / NR, m}')
    ok "5000 final shipments erased in $ms ms (start-up included), $steps steps: $avg"
    grep -q 'msg="retention: earlier final shipments indexed" n=' "$work/wismod2.log" &&
        ok "found by the one-time pass: $(grep -o 'earlier final shipments indexed" n=[0-9]*' "$work/wismod2.log" | head -3 | tr '\n' ' ')" ||
        fail "no one-time pass in the log"
else
    fail "$(rcli ZCARD wismo:idx:created) shipments left"
fi
# What may stay: the one-time passes' markers and the shared streams
# (their entries of the erased shipments gone), nothing of a shipment.
left=$(rcli --scan | grep -vxE 'wismo:(retention:backfill|lookup:backfill|changes|outbox)' || true)
[ -z "$left" ] && ok "keyspace empty but for $(rcli --scan | sort | tr '\n' ' ')" ||
    fail "keys left: $(rcli DBSIZE): $(head -5 <<<"$left" | tr '\n' ' ')"
stop_wismod "$work/wismod2.log"
summary retention
