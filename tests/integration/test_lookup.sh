#!/usr/bin/env bash
# The public lookup's defences end to end, loopback only: the per-client
# rate limit (no shared counters, IPv6 per /64), trusted proxies, the
# timing of a 404, the bounded answer cache, and order ids that need
# percent-encoding. Linux routes all of 127.0.0.0/8 to the loopback, so
# each section is its own client (curl --interface 127.0.x.y) and owns its
# shipments; 127.0.0.1 plays the shop's reverse proxy.
#   test_lookup.sh FAKECARRIER WISMOD
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD}
WISMOD=${2:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/wismo-lookup-test.XXXXXX")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../contrib/fakerun.sh
. "$here/../../contrib/fakerun.sh"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
checks=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { checks=$((checks + 1)); echo "ok: $*"; }
expect() { # expect WHAT GOT WANT
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}
wait_for() { # wait_for SECONDS COMMAND...
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

mkdir -p "$work/redis"
REDIS_SOCK=$work/redis/redis.sock
redis-server --port 0 --unixsocket "$REDIS_SOCK" --dir "$work/redis" \
    --save '' >/dev/null 2>&1 &
pids+=($!)
wait_for 30 eval 'rcli ping >/dev/null 2>&1' || { echo "redis did not start" >&2; exit 1; }
"$FAKE" --listen 127.0.0.1:0 --speed 1 >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
wait_for 30 test -s "$work/fake.out" || { echo "fakecarrier did not start" >&2; exit 1; }
FAKE_URL="http://$(head -n1 "$work/fake.out" | sed 's/^listening on //')"
write_config "$work/w.ini" "[http]
listen = 127.0.0.1:0
lookup_failures = 10
lookup_window = 60s
trusted_proxies = 127.0.0.1/32, ::1/128
[tokens]
shop = shop-token
agent = agent-token"
"$WISMOD" -c "$work/w.ini" 2>"$work/wismod.log" &
WPID=$!
pids+=("$WPID")
wait_for 60 grep -q 'msg=ready' "$work/wismod.log" || true
PORT=$(sed -n 's/.*msg=ready.* port=\([0-9]*\).*/\1/p' "$work/wismod.log")
[ -n "$PORT" ] || { echo "wismod did not start" >&2; cat "$work/wismod.log" >&2; exit 1; }
API=http://127.0.0.1:$PORT
SHOP=(-H "Authorization: Bearer shop-token" -H "Content-Type: application/json")

# register ORDER POSTCODE NUMBER: a ups shipment the fake carrier keeps
# in transit; its id in $ID.
register() {
    curl -sf -X PUT -d '{"scenario":"stalled","elapsed":1000000}' \
        "$FAKE_URL/_admin/scenario/ups/$3" >/dev/null
    ID=$(curl -sf "${SHOP[@]}" -d "$(jq -nc --arg o "$1" --arg p "$2" --arg n "$3" \
        '{tracking_number: $n, carrier: "ups", order_id: $o, postcode: $p}')" \
        "$API/v1/shipments" | jq -r .id)
    [ -n "$ID" ] || fail "register $1"
}
# look FROM PATH [curl args]: the status of a lookup sent from FROM.
look() {
    local from=$1 path=$2
    shift 2
    curl -s -o "$work/body" -w '%{http_code}' --interface "$from" "$@" "$API$path"
}

# --- the rate limit counts every client apart (issue 13, item 14) ---
# 127.0.199.37 and 127.0.161.45 shared a slot of the old 4,096-slot table:
# alternating, each reset the other's count and neither was ever limited.
for i in $(seq 10); do
    look 127.0.199.37 "/v1/track/N1-$i?postcode=1234AB" >/dev/null
    look 127.0.161.45 "/v1/track/N2-$i?postcode=1234AB" >/dev/null
done
expect "alternating neighbours: the first is limited" "$(look 127.0.199.37 '/v1/track/N1-x?postcode=1234AB')" 429
expect "alternating neighbours: the second is limited" "$(look 127.0.161.45 '/v1/track/N2-x?postcode=1234AB')" 429
expect "a third client is not" "$(look 127.0.2.1 '/v1/track/N3-x?postcode=1234AB')" 404

# --- trusted proxies (issue 13, item 3) ---
register P-1 1234AB "$(number ups 1)"
xff() { echo "X-Forwarded-For: $1"; }
for i in $(seq 10); do
    look 127.0.0.1 "/v1/track/P-1?postcode=0000XX" -H "$(xff 203.0.113.5)" >/dev/null
done
expect "behind the proxy, a shopper with 10 failures is limited" \
    "$(look 127.0.0.1 '/v1/track/P-1?postcode=1234AB' -H "$(xff 203.0.113.5)")" 429
expect "... even if it puts another address in front" \
    "$(look 127.0.0.1 '/v1/track/P-1?postcode=1234AB' -H "$(xff '198.51.100.1, 203.0.113.5')")" 429
expect "another shopper behind the same proxy is answered" \
    "$(look 127.0.0.1 '/v1/track/P-1?postcode=1234AB' -H "$(xff 203.0.113.6)")" 200
expect "... and its wrong postcode is a plain 404" \
    "$(look 127.0.0.1 '/v1/track/P-1?postcode=9999ZZ' -H "$(xff 203.0.113.6)")" 404
expect "the proxy's own lookups (no header) are answered" \
    "$(look 127.0.0.1 '/v1/track/P-1?postcode=1234AB')" 200
expect "a header split over two lines is one list (rightmost wins)" \
    "$(look 127.0.0.1 '/v1/track/P-1?postcode=1234AB' -H "$(xff 203.0.113.6)" -H "$(xff 203.0.113.5)")" 429
# Nobody else's header is believed: a client that names a fresh address on
# every guess is still one client.
for i in $(seq 10); do
    look 127.0.3.3 "/v1/track/P-1?postcode=0000XX" -H "$(xff "192.0.2.$i")" >/dev/null
done
expect "an untrusted client's X-Forwarded-For is ignored" \
    "$(look 127.0.3.3 '/v1/track/P-1?postcode=1234AB' -H "$(xff 192.0.2.99)")" 429
# IPv6 clients count per /64.
for i in $(seq 10); do
    look 127.0.0.1 "/v1/track/P-1?postcode=0000XX" -H "$(xff "2001:db8:1:2::$i")" >/dev/null
done
expect "an IPv6 /64 is one client" \
    "$(look 127.0.0.1 '/v1/track/P-1?postcode=1234AB' -H "$(xff 2001:db8:1:2:ffff::9)")" 429
expect "the next /64 is another" \
    "$(look 127.0.0.1 '/v1/track/P-1?postcode=1234AB' -H "$(xff 2001:db8:1:3::1)")" 200

kill -TERM "$WPID"
rc=0
wait "$WPID" || rc=$?
expect "wismod exits 0 on SIGTERM" "$rc" 0
if grep -Eq 'Sanitizer|runtime error' "$work/wismod.log"; then
    fail "sanitizer report"
    grep -E -A15 'Sanitizer|runtime error' "$work/wismod.log" | head -30 >&2
fi
echo "lookup: $checks passed, $failures failed"
[ "$failures" -eq 0 ]
