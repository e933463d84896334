#!/usr/bin/env bash
# Erasure leaves nothing behind (issue 13 item 6). wismod with its own
# redis-server, the fake carrier and an SMTP sink: shipments get events,
# change-stream entries, notification records, outbox messages, daily caps
# and an opt-out. Then DELETE /v1/shipments/{id} and POST
# /v1/customers/erase; after each, every key name and every value of the
# whole keyspace (strings, hashes, sets, sorted sets, lists and every
# stream entry) is searched for the erased values. Another customer's
# data stays.
#   test_erase.sh FAKECARRIER WISMOD WISMOCTL TEMPLATES
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD WISMOCTL TEMPLATES}
WISMOD=${2:?}
CTL=${3:?}
TEMPLATES=${4:?}
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

start_redis
start_fake --speed 1
start_sinks
cat >"$work/w.ini" <<INI
[daemon]
data_dir = $work/data
claim_interval = 50ms
[redis]
url = unix://$REDIS_SOCK
[http]
listen = 127.0.0.1:0
[tokens]
shop = shop-token
agent = agent-token
[web]
default_country = NL
[notify]
templates = $TEMPLATES
quiet_hours =
tick = 1s
[smtp]
url = smtp://127.0.0.1:$SP
from = Shop <noreply@shop.example>
[sms]
provider = twilio
base_url = http://127.0.0.1:$HP/sms
account = AC1
token = tok
from = +3197010000000
[schedule]
exception = 1s
in_transit = 1s
pending = 1s
jitter = 0
night =
[carrier.dhl]
base_url = $FAKE_URL/dhl
api_key = test-key
rate = 0
INI
start_wismod "$work/w.ini"
SHOP=(-H "Authorization: Bearer shop-token" -H "Content-Type: application/json")
AGENT=(-H "Authorization: Bearer agent-token")

# register NUMBER ORDER EMAIL PHONE: a customs hold (notified at once);
# the id into $ID
register() {
    curl -sf -X PUT -d '{"scenario":"exception","elapsed":108000}' \
        "$FAKE_URL/_admin/scenario/dhl/$1" >/dev/null
    ID=$(curl -sf "${SHOP[@]}" -d "{\"tracking_number\":\"$1\",\"carrier\":\"dhl\",\"order_id\":\"$2\",\"postcode\":\"1234AB\",\"email\":\"$3\",\"phone\":\"$4\",\"locale\":\"nl\"}" \
        "$API/v1/shipments" | jq -r .id)
    [ -n "$ID" ] && [ "$ID" != null ] || { fail "registration of $1"; exit 1; }
}
# Jan: two shipments; Piet: one (must stay).
register 4827150201 ERASE-ORD-1 Jan.Erase@Example.com 0611223344
A=$ID
register 4827150202 ERASE-ORD-2 jan.erase@example.com +31611223344
B=$ID
register 4827150203 KEEP-ORD-3 piet.keep@example.com +31655667788
C=$ID
"$CTL" -c "$work/w.ini" opt-out sms +31611223344 >/dev/null
"$CTL" -c "$work/w.ini" opt-out sms +31655667788 >/dev/null
notified() { [ "$(rcli LLEN "wismo:s:{$1}:notif")" -ge 1 ]; }
for id in "$A" "$B" "$C"; do
    wait_for 60 notified "$id" || fail "no notification records for $id"
done
mails() { [ "$(ls "$work/sink/mail" 2>/dev/null | wc -l)" -ge 3 ]; }
wait_for 60 mails || fail "fewer than 3 e-mails sent"
[ -n "$(rcli --scan --pattern 'wismo:notify:cap:email:jan.erase@example.com:*')" ] &&
    ok "before: Jan has a daily-cap key" || fail "no cap key for Jan to erase"
[ "$(rcli XLEN wismo:changes)" -ge 3 ] && ok "before: change-stream entries" || fail "no change entries"
# Each order's public answer is rendered into Redis by a lookup (with the
# shipment ids, postcodes and e-mail addresses that verify it).
for o in ERASE-ORD-1 ERASE-ORD-2 KEEP-ORD-3; do
    curl -sf -o /dev/null "$API/v1/track/$o?postcode=1234AB" || fail "lookup of $o"
    [ "$(rcli HEXISTS "wismo:lk:$o" b0)" = 1 ] && ok "before: $o's answer is rendered in Redis" ||
        fail "no rendered answer for $o"
done

# Carrier statistics forget an erased shipment in the background (its
# contribution is taken off its day): wait for that before looking.
stats_forgot() { [ "$(rcli HEXISTS wismo:stats:c "$1")" = 0 ]; }
# dump: every key and every value of the keyspace, one item a line.
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
        *) echo "unknown type $t" ;;
        esac
    done >"$work/dump"
}
# traces WHAT VALUE...: fails for every value found anywhere (any case)
traces() {
    local what=$1 v
    shift
    for v in "$@"; do
        if grep -qiF -- "$v" "$work/dump"; then
            fail "$what: '$v' is still in Redis:"
            awk -v v="$(tr '[:upper:]' '[:lower:]' <<<"$v")" '
                /^key / {k = $0}
                index(tolower($0), v) {print k ": " $0}' "$work/dump" | head -5 >&2
        else
            ok "$what: no '$v' anywhere"
        fi
    done
}

# --- erase one shipment: Jan keeps another, so his address stays ---
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${SHOP[@]}" "$API/v1/shipments/$A")
[ "$code" = 204 ] && ok "DELETE /v1/shipments/{id}: 204" || fail "erase answered $code"
wait_for 30 stats_forgot "$A" || true
dump
traces "after DELETE" "$A" ERASE-ORD-1 4827150201
grep -qiF jan.erase@example.com "$work/dump" && ok "Jan's other shipment keeps his address" ||
    fail "Jan's second shipment lost its data"

# --- erase the customer by e-mail (any case) ---
r=$(curl -s -w ' %{http_code}' "${SHOP[@]}" -d '{"email":"JAN.Erase@example.com"}' "$API/v1/customers/erase")
[ "$r" = '{"erased":1} 200' ] && ok "POST /v1/customers/erase: one shipment erased" || fail "customer erase: $r"
wait_for 30 stats_forgot "$B" || true
dump
traces "after erase by customer" "$B" ERASE-ORD-2 4827150202 jan.erase@example.com 611223344
# Piet is untouched.
for v in "$C" KEEP-ORD-3 piet.keep@example.com +31655667788 "sms:+31655667788"; do
    grep -qF -- "$v" "$work/dump" || fail "Piet's '$v' was erased too"
done
ok "another customer's shipment, records and opt-out stay"
# by phone, national form: Piet's, and nothing of him is left either
r=$(curl -s -w ' %{http_code}' "${SHOP[@]}" -d '{"phone":"06 55667788"}' "$API/v1/customers/erase")
[ "$r" = '{"erased":1} 200' ] && ok "erase by phone (national form)" || fail "erase by phone: $r"
wait_for 30 stats_forgot "$C" || true
dump
traces "after erase by phone" "$C" KEEP-ORD-3 4827150203 655667788 piet.keep@example.com
# Wrong input and roles.
code=$(curl -s -o /dev/null -w '%{http_code}' "${SHOP[@]}" -d '{"email":"nope"}' "$API/v1/customers/erase")
[ "$code" = 400 ] && ok "a bad address: 400" || fail "bad address: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "${SHOP[@]}" -d '{}' "$API/v1/customers/erase")
[ "$code" = 400 ] && ok "no address: 400" || fail "no address: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "${AGENT[@]}" -d '{"email":"a@b.nl"}' "$API/v1/customers/erase")
[ "$code" = 403 ] && ok "an agent token: 403" || fail "agent: $code"
r=$(curl -s "${SHOP[@]}" -d '{"email":"nobody@example.com"}' "$API/v1/customers/erase")
[ "$r" = '{"erased":0}' ] && ok "nobody to erase: erased 0" || fail "nobody: $r"

stop_wismod
summary erase
