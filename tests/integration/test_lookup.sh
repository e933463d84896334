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
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

start_redis
start_fake --speed 1
write_config "$work/w.ini" "[http]
listen = 127.0.0.1:0
lookup_failures = 10
lookup_window = 1h
trusted_proxies = 127.0.0.1/32, ::1/128
cache_ttl = 1h
cache_entries = 3
[tokens]
shop = shop-token
agent = agent-token"
start_wismod "$work/w.ini"
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

# --- the answer cache: filled only after verification, LRU-bounded
# (issue 11, item 2) ---
cache_count() { # cache_count hit|miss
    curl -s "$API/metrics" | sed -n "s/^wismo_lookup_cache_total{result=\"$1\"} //p"
}
# settled ID NUMBER: the shipment has merged its whole (stalled) script, so
# no later merge invalidates what the cache holds.
settled() {
    [ "$(curl -s -H 'Authorization: Bearer agent-token' "$API/v1/shipments/$1" |
        jq '.events | length')" = "$(curl -sf "$FAKE_URL/_admin/expected/ups/$2" | jq .events_total)" ]
}
for i in 1 2 3 4; do
    register "K-$i" 1234AB "$(number ups $((10 + i)))"
    wait_for 30 settled "$ID" "$(number ups $((10 + i)))" || fail "K-$i never settled"
done
# cached CLIENT ORDER: 1 when the correct lookup was a cache hit, else 0.
cached() {
    local h0 h1
    h0=$(cache_count hit)
    [ "$(look "$1" "/v1/track/$2?postcode=1234AB")" = 200 ] || fail "lookup $2: $(cat "$work/body")"
    h1=$(cache_count hit)
    echo $((h1 - h0))
}
expect "a wrong postcode: 404" "$(look 127.0.4.1 '/v1/track/K-1?postcode=0000XX')" 404
expect "... which cached nothing: the right one then reads the store" "$(cached 127.0.4.1 K-1)" 0
expect "the right one is cached" "$(cached 127.0.4.1 K-1)" 1
expect "a wrong postcode for a cached order: still 404" "$(look 127.0.4.1 '/v1/track/K-1?postcode=0000XX')" 404
cached 127.0.4.1 K-2 >/dev/null
cached 127.0.4.1 K-3 >/dev/null
expect "K-1 used again (3 entries: K-1, K-2, K-3)" "$(cached 127.0.4.1 K-1)" 1
expect "K-4 is read from the store" "$(cached 127.0.4.1 K-4)" 0
expect "... and evicted the least recently used, K-2" "$(cached 127.0.4.1 K-2)" 0
expect "K-1 stayed (recently used)" "$(cached 127.0.4.1 K-1)" 1
gauge() { curl -s "$API/metrics" | sed -n "s/^$1 //p"; }
expect "the cache holds 3 orders" "$(gauge wismo_lookup_cache_entries)" 3
b=$(gauge wismo_lookup_cache_bytes)
[ "${b:-0}" -gt 600 ] && [ "$b" -le 16777216 ] && ok "... in $b bytes, counted" ||
    fail "cache bytes: '$b'"

# --- every printable order id registers and is served (issue 13,
# item 17) ---
# The path segment is percent-decoded after routing, so an order id may
# hold '/', '%', spaces or any UTF-8; /v1/track/ takes the rest of the path
# whole, so an unescaped '/' works too.
i=0
while IFS= read -r order; do
    i=$((i + 1))
    register "$order" 1234AB "$(number ups $((30 + i)))"
    enc=$(jq -rn --arg o "$order" '$o | @uri')
    expect "order id '$order' (as /v1/track/$enc)" \
        "$(look 127.0.5.1 "/v1/track/$enc?postcode=1234AB"; echo " $(jq -r .order_id "$work/body")")" "200 $order"
done <<'ORDERS'
X/1
X 1
100%
50%25
a+b
Bestelling ÄÖÜ-ß/€ 7
a/b/c
ORDERS
expect "an unescaped '/' in the order id" "$(look 127.0.5.1 '/v1/track/X/1?postcode=1234AB')" 200
expect "an escaped slash is not a path separator elsewhere" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer agent-token' "$API/v1/shipments/x%2Frefresh")" 404
expect "a bad escape in the order id: 400" "$(look 127.0.5.1 '/v1/track/X%2?postcode=1234AB')" 400
expect "%00 in the order id: 400" "$(look 127.0.5.1 '/v1/track/X%00?postcode=1234AB')" 400

# --- numbers from outside are range-checked (issue 13, item 12) ---
# cursor=99999999999999999999 overflowed a signed addition in the store
# (UBSan) and wismod exited.
AG=(-H "Authorization: Bearer agent-token")
for c in 99999999999999999999 9223372036854775758 9223372036854775807 -1 1e3 +5; do
    expect "list cursor $c: 400" \
        "$(curl -s -o /dev/null -w '%{http_code}' "${AG[@]}" "$API/v1/shipments?cursor=$c")" 400
done
for l in 0 201 99999999999999999999 -5 0x10; do
    expect "list limit $l: 400" \
        "$(curl -s -o /dev/null -w '%{http_code}' "${AG[@]}" "$API/v1/shipments?limit=$l")" 400
done
expect "wismod is still up" "$(curl -s -o /dev/null -w '%{http_code}' "$API/healthz")" 200

stop_wismod

# --- a 404 takes the same time whether the order exists or not (issue 13,
# item 15) ---
# Its own wismod (own key prefix) where every lookup reaches the store, so
# the existing order's shipments are fetched and compared each time, and
# where this client is never rate-limited. Unknown and wrong-postcode
# lookups alternate on one keep-alive connection; their medians must agree
# within a factor of 1.5 (an existing order with five shipments answered
# about twice as late as an unknown one before).
write_config "$work/t.ini" "[redis]
prefix = timing:
[http]
listen = 127.0.0.1:0
cache_ttl = 0s
lookup_failures = 1000000
[tokens]
shop = shop-token"
start_wismod "$work/t.ini" "$work/timing.log"
for i in 1 2 3 4 5; do register T-1 1234AB "$(number ups $((20 + i)))"; done
N=300
for i in $(seq $N); do
    printf 'url = "%s"\noutput = "/dev/null"\n' \
        "$API/v1/track/NOPE-$i?postcode=1234AB" "$API/v1/track/T-1?postcode=0000XX"
done >"$work/urls"
curl -s -K "$work/urls" -w '%{http_code} %{time_total}\n' >"$work/times"
expect "all $((2 * N)) answered 404" "$(awk '$1 == 404' "$work/times" | wc -l)" $((2 * N))
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
m_unknown=$(awk 'NR % 2 == 1 {print $2}' "$work/times" | median)
m_wrong=$(awk 'NR % 2 == 0 {print $2}' "$work/times" | median)
echo "404 medians over $N each: unknown order ${m_unknown}s, wrong postcode ${m_wrong}s"
awk -v a="$m_unknown" -v b="$m_wrong" 'BEGIN {
    r = (a > b) ? a / b : b / a; exit !(r <= 1.5) }' &&
    ok "the two 404s take the same time (medians ${m_unknown}s, ${m_wrong}s)" ||
    fail "a 404 tells whether the order exists: medians unknown ${m_unknown}s, wrong postcode ${m_wrong}s"
# --- the answer kept rendered in Redis: one round trip (issue 11) ---
# Same wismod (cache off, every lookup reaches the store). The first lookup
# of an order reads its shipments and renders the answer into P lk:<ORDER>;
# later ones read only that, and answer the same bytes. Registration,
# merge and erase drop it.
TSHOP=(-H "Authorization: Bearer shop-token" -H "Content-Type: application/json")
register R-1 1234AB "$(number ups 40)"
R1=$ID
reg2() { # reg2 JSON-EXTRA: registers ups 41 for order r-1 again, with extra fields
    curl -sf "${TSHOP[@]}" -d "$(jq -nc --arg n "$(number ups 41)" --argjson x "$1" \
        '{tracking_number: $n, carrier: "ups", order_id: "r-1", postcode: "5678CD"} + $x')" \
        "$API/v1/shipments" | jq -r .id
}
curl -sf -X PUT -d '{"scenario":"stalled","elapsed":1000000}' \
    "$FAKE_URL/_admin/scenario/ups/$(number ups 41)" >/dev/null
R2=$(reg2 '{}')
# Both polled (the stalled script merges whole at the first poll; later
# polls change nothing), so nothing merges between the lookups below.
polled() { [ "$(rcli hget "timing:s:{$1}" polls)" -ge 1 ] 2>/dev/null; }
wait_for 30 polled "$R1" || fail "R-1's first shipment never polled"
wait_for 30 polled "$R2" || fail "R-1's second shipment never polled"
look1() { curl -s -D "$work/h$2" -o "$work/b$2" -w '%{http_code}' "$API$1"; }
expect "first lookup (reads the shipments)" "$(look1 '/v1/track/r-1?postcode=5678cd' 1)" 200
expect "... and rendered the answer in Redis" "$(rcli hexists timing:lk:R-1 b0)" 1
expect "... in every language" "$(rcli hexists timing:lk:R-1 b3)" 1
expect "... with both shipments in it" "$(jq '.shipments | length' "$work/b1")" 2
expect "second lookup (the rendered answer)" "$(look1 '/v1/track/r-1?postcode=5678cd' 2)" 200
expect "... the same bytes" "$(cmp -s "$work/b1" "$work/b2" && echo same)" same
expect "... the same ETag" "$(grep -i '^etag' "$work/h2")" "$(grep -i '^etag' "$work/h1")"
expect "the order id as asked" "$(jq -r .order_id "$work/b2")" r-1
expect "the other shipment's postcode verifies too" "$(look1 '/v1/track/R-1?postcode=1234AB' 3)" 200
expect "... with the order id as asked" "$(jq -r .order_id "$work/b3")" R-1
# One command (HMGET of the rendering and the order's shipment count) for
# a rendered order, a wrong postcode and an unknown order alike: none of
# them counts or reads the index, or reads a shipment. (The backfill that
# counts orders from before is done at once on an empty store.)
wait_for 30 grep -q 'msg="lookup backfill done"' "$work/timing.log" &&
    ok "the lookup backfill is done" || fail "the lookup backfill never finished"
calls() { rcli info commandstats | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p"; }
expect "an order's shipments are counted in its lk: key" "$(rcli hget timing:lk:R-1 n)" 2
sm0=$(calls smembers) hg0=$(calls hgetall) sc0=$(calls scard) hm0=$(calls hmget)
look1 '/v1/track/r-1?postcode=5678cd' x >/dev/null
look1 '/v1/track/R-1?postcode=0000XX' x >/dev/null
look1 '/v1/track/NOPE-77?postcode=5678cd' x >/dev/null
expect "found, wrong postcode, unknown: no index count, members or shipment read" \
    "$(calls smembers) $(calls hgetall) $(calls scard)" "${sm0:-} ${hg0:-} ${sc0:-}"
expect "... an HMGET each" "$(( $(calls hmget) - ${hm0:-0} >= 3 ))" 1
expect "a wrong postcode with a rendered answer: 404" "$(look1 '/v1/track/R-1?postcode=9999ZZ' 4)" 404
expect "... the one not-found answer" "$(jq -r .error "$work/b4")" not_found
expect "another language reads its own rendering" \
    "$(curl -s -H 'Accept-Language: de' "$API/v1/track/R-1?postcode=1234AB" | jq -r '.shipments[0].status_text')" \
    "$(rcli hget timing:lk:R-1 b2 | jq -r '.[0].status_text')"
g0=$(rcli hget timing:lk:R-1 g)
expect "a registration drops the rendering" "$(reg2 '{"promised_delivery": "2031-01-02T10:00:00Z"}')" "$R2"
expect "... (a write bumped its generation)" "$(( $(rcli hget timing:lk:R-1 g) > ${g0:-0} ))" 1
rendered_new() { rcli hget timing:lk:R-1 b0 | grep -q 2031-01-02T10:00:00Z; }
wait_for 10 rendered_new && ok "... and wismod rendered it again at once, without a lookup" ||
    fail "the registration's change was not rendered"
look1 '/v1/track/R-1?postcode=1234AB' 5 >/dev/null
expect "... and the next lookup shows the change" \
    "$(jq -r '[.shipments[].promised_delivery] | map(select(. != null)) | .[0]' "$work/b5")" 2031-01-02T10:00:00Z
expect "... rendered again" "$(rcli hexists timing:lk:R-1 b0)" 1
expect "... valid until the promise is missed" "$(rcli hget timing:lk:R-1 u)" "$(( ($(date -u -d 2031-01-02T10:00:00Z +%s) + 1) * 1000 ))"
# A rendering past its time is not used: the promise is missed now.
rcli hset timing:lk:R-1 u 1000 >/dev/null
rcli hset timing:lk:R-1 b0 '[{"stale":true}]' >/dev/null
look1 '/v1/track/R-1?postcode=1234AB' 6 >/dev/null
expect "an out-of-date rendering is read again" "$(jq -r '.shipments[0].stale' "$work/b6")" null
expect "the erase of one shipment drops the rendering" \
    "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H 'Authorization: Bearer shop-token' "$API/v1/shipments/$R2") $(rcli hexists timing:lk:R-1 b0)" "204 0"
expect "... and the erased one is not in the next answer" \
    "$(look1 '/v1/track/R-1?postcode=1234AB' 7) $(jq '.shipments | length' "$work/b7")" "200 1"
expect "... nor its postcode" "$(look1 '/v1/track/R-1?postcode=5678CD' 8)" 404
expect "the erase of the last shipment deletes it" \
    "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H 'Authorization: Bearer shop-token' "$API/v1/shipments/$R1") $(rcli exists timing:lk:R-1)" "204 0"
expect "... and the order is gone" "$(look1 '/v1/track/R-1?postcode=1234AB' 9)" 404
expect "a lookup of an unknown order writes nothing" "$(rcli exists timing:lk:NOPE-1)" 0
register B-2 1234AB "$(number ups 50)"

stop_wismod "$work/timing.log"

# --- orders stored before lk: kept their count: the one-time backfill ---
# A missing lk: key must mean "no such order" for a lookup to be one
# command; a wismod started on older data counts every order first (and
# until then reads the index along).
rcli hdel timing:lk:T-1 n >/dev/null
rcli del timing:lk:B-2 timing:lookup:backfill >/dev/null
start_wismod "$work/t.ini" "$work/timing2.log"
wait_for 60 grep -q 'msg="lookup backfill done"' "$work/timing2.log" &&
    ok "a start on older data runs the lookup backfill" ||
    fail "the lookup backfill never finished"
expect "... counting each order's shipments" \
    "$(rcli hget timing:lk:T-1 n) $(rcli hget timing:lk:B-2 n) $(rcli get timing:lookup:backfill)" "5 1 done"
expect "... an order with no lk: key before is found" "$(look1 '/v1/track/B-2?postcode=1234AB' 10)" 200
expect "... an unknown one is not" "$(look1 '/v1/track/NOPE-78?postcode=1234AB' 11)" 404
# The link comes back to other data (a restored backup, counts missing):
# asked again, counted again.
rcli hdel timing:lk:T-1 n >/dev/null
rcli del timing:lk:B-2 timing:lookup:backfill >/dev/null
rcli client kill type normal >/dev/null
counted_twice() { [ "$(grep -c 'msg="lookup backfill done"' "$work/timing2.log")" -ge 2 ]; }
wait_for 60 counted_twice && ok "a reconnected link runs the lookup backfill again" ||
    fail "no lookup backfill after the link came back"
expect "... counting each order again" \
    "$(rcli hget timing:lk:T-1 n) $(rcli hget timing:lk:B-2 n) $(rcli get timing:lookup:backfill)" "5 1 done"
expect "... and the order is found" "$(look1 '/v1/track/B-2?postcode=1234AB' 12)" 200
stop_wismod "$work/timing2.log"
summary lookup
