#!/usr/bin/env bash
# PostNL's change feed end to end (issue 12 items 5 and 7; PUSH.md "PostNL:
# no push, but a change feed"): wismod with its own redis-server and the
# fake carrier at speed 3600 (a fake hour is a real second), the schedule
# scaled the same way (in_transit 3h -> 3s), [carrier.postnl]
# customer_number = 10452233 and customer_code = WISM, feed_interval 10m
# -> 167ms.
#   0. The fake's feed lists exactly the barcodes with a scripted event in
#      the window asked (checked against /_admin/expected), each once.
#   A. Covered parcels (3SWISM...) reach their scripted end with all their
#      events, polled once at registration and then exactly once per feed
#      answer that named them (so never while unchanged: a stalled parcel
#      is not polled after its last scan); a parcel of another customer
#      (3SOTHR...) with the same script is polled on the schedule, with far
#      more polls. The cursor lives in Redis.
#   B. The feed failing (HTTP 500): the covered parcels are polled on the
#      status' schedule again; once it answers again, they are not.
#   test_feed.sh FAKECARRIER WISMOD
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD}
WISMOD=${2:?}
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

start_redis
start_fake --speed 3600
WPORT=$(port)
API=http://127.0.0.1:$WPORT
LOG=$work/wismod.log

# --- 0: the fake's feed, against its own scripts --------------------------
FEED=$FAKE_URL/postnl/shipment/v2/status/10452233/updatedshipments
amsterdam() { # amsterdam UNIX_MS: yyyy-MM-ddTHH:mm:ss.fff, Amsterdam wall time
    TZ=Europe/Amsterdam date -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%S.$(printf %03d $(($1 % 1000)))
}
for n in 3SWISM1000001 3SWISM1000002 3SWISM1000003 3SOTHR1000004; do
    curl -sf -X PUT -d '{"scenario":"on_time","elapsed":36000}' \
        "$FAKE_URL/_admin/scenario/postnl/$n" >/dev/null
done
curl -sf -X PUT -d '{"scenario":"stalled","elapsed":100000}' \
    "$FAKE_URL/_admin/scenario/postnl/3SWISM1000002" >/dev/null
# Fake time = wall0 + (wall - wall0) * speed: a window of wall time W is
# the fake window F(W). Ask the wall window that maps onto the last 11
# fake hours (the on_time parcels' scans at 5 h and their label at -0.25 h
# are in it, 14 h is not yet); the stalled one saw its last scan 27 fake
# hours ago: not listed.
T=$(curl -sf "$FAKE_URL/_admin/time")
W0=$(date -d "$(jq -r .started <<<"$T")" +%s%3N)
NOW=$(jq -r .unix_ms <<<"$T")
to_wall() { echo $((W0 + ($1 - W0) / 3600)); } # fake ms -> wall ms
FROM_FAKE=$((NOW - 11 * 3600 * 1000))
ANS=$(curl -sf -H 'apikey: k' "$FEED?period=$(amsterdam "$(to_wall $FROM_FAKE)")&period=$(amsterdam "$(to_wall "$NOW")")")
GOT=$(jq -r '[.[].Barcode] | sort | join(" ")' <<<"$ANS")
# The expectation, from each script's event times.
WANT=""
FROM_S=$(((W0 + ($(to_wall $FROM_FAKE) - W0) * 3600) / 1000))
TO_S=$(((W0 + ($(to_wall "$NOW") - W0) * 3600) / 1000))
for n in 3SWISM1000001 3SWISM1000002 3SWISM1000003; do
    exp=$(curl -sf "$FAKE_URL/_admin/expected/postnl/$n")
    hit=$(jq --argjson f "$FROM_S" --argjson t "$TO_S" \
        '[.shipments[0].events[].time | fromdateiso8601 | select(. > $f and . <= $t)] | length' <<<"$exp")
    [ "$hit" -gt 0 ] && WANT="$WANT $n"
done
WANT=$(tr ' ' '\n' <<<"$WANT" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
check "fake feed: exactly the changed barcodes of the customer ($GOT)" test "$GOT" = "$WANT"
check "fake feed: the two on_time parcels, not the stalled one" test "$GOT" = "3SWISM1000001 3SWISM1000003"
check "fake feed: the status as of the window's end" \
    test "$(jq -r '.[0].Status.StatusCode + " " + .[0].CustomerCode' <<<"$ANS")" = "2 WISM"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: k' \
    "$FEED?period=$(amsterdam $((NOW / 3600)))&period=$(amsterdam $((NOW / 3600 + 1000)))")
check "fake feed: a window 48 h back or more is refused (400)" test "$code" = 400
WALL=$(date +%s%3N)
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: k' \
    "$FEED?period=$(amsterdam $((WALL - 3 * 3600 * 1000)))&period=$(amsterdam "$WALL")")
check "fake feed: a window over 2 h is refused (400)" test "$code" = 400
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: bad' \
    "$FEED?period=$(amsterdam $((WALL - 1000)))&period=$(amsterdam "$WALL")")
check "fake feed: a bad key is refused (401)" test "$code" = 401
check "fake feed: another customer's number lists nothing" test "$(curl -sf -H 'apikey: k' \
    "$FAKE_URL/postnl/shipment/v2/status/999/updatedshipments?period=$(amsterdam $((WALL - 1000)))&period=$(amsterdam "$WALL")")" = "[]"
curl -sf -X POST "$FAKE_URL/_admin/reset-counts" >/dev/null

# --- A: wismod with the feed -------------------------------------------------
cat >"$work/w.ini" <<INI
[daemon]
data_dir = $work/data
claim_interval = 50ms
[redis]
url = unix://$REDIS_SOCK
[http]
listen = 127.0.0.1:$WPORT
[tokens]
shop = shop-token
agent = agent-token
[schedule]
jitter = 0
night =
; polls counted against the feed's: the status' schedule, one interval
; apart (adaptive polling has its own tests)
adaptive = off
pending = 1000ms
info_received = 6s
in_transit = 3s
out_for_delivery = 333ms
available_for_pickup = 6s
failed_attempt = 2s
exception = 2s
returning = 6s
[carrier.postnl]
base_url = $FAKE_URL/postnl
api_key = k
customer_number = 10452233
customer_code = WISM
feed_interval = 167ms
; the safety net beyond the test's reach: every poll of a covered parcel
; is the feed's doing
push_safety_poll = 1h
INI
start_wismod "$work/w.ini"
SHOP=(-H "Authorization: Bearer shop-token" -H "Content-Type: application/json")
declare -A ID
register() { # register NUMBER SCENARIO
    curl -sf -X PUT -d "{\"scenario\":\"$2\"}" "$FAKE_URL/_admin/scenario/postnl/$1" >/dev/null
    ID[$1]=$(curl -sf "${SHOP[@]}" \
        -d "{\"tracking_number\":\"$1\",\"carrier\":\"postnl\",\"order_id\":\"FEED-$1\",\"postcode\":\"1234AB\"}" \
        "$API/v1/shipments" | jq -r .id)
    [ -n "${ID[$1]}" ] && [ "${ID[$1]}" != null ] || { fail "registration of $1"; exit 1; }
}
field() { rcli HGET "wismo:s:{$1}" "$2"; }
counts() { curl -sf "$FAKE_URL/_admin/counts"; }
polls_of() { counts | jq -r ".carriers.postnl.numbers[\"$1\"] // 0"; }
listed_of() { counts | jq -r ".feed.listed[\"$1\"] // 0"; }
COVERED="3SWISM2000001 3SWISM2000002 3SWISM2000003 3SWISM2000004 3SWISM2000005"
register 3SWISM2000001 on_time
register 3SWISM2000002 delayed
register 3SWISM2000003 failed_attempt
register 3SWISM2000004 return_to_sender
register 3SWISM2000005 exception
register 3SWISM2000006 stalled
register 3SOTHR2000007 on_time # another customer's parcel: not covered
declare -A WANT_STATUS WANT_EVENTS
for n in $COVERED 3SWISM2000006 3SOTHR2000007; do
    exp=$(curl -sf "$FAKE_URL/_admin/expected/postnl/$n")
    WANT_STATUS[$n]=$(jq -r '.shipments[0].status' <<<"$exp")
    WANT_EVENTS[$n]=$(jq -r '.events_total' <<<"$exp")
done
at_end() { [ "$(field "${ID[$1]}" status)" = "${WANT_STATUS[$1]}" ] &&
    [ "$(field "${ID[$1]}" event_count)" = "${WANT_EVENTS[$1]}" ]; }
# The longest script (delayed, 82 fake hours) ends within 90 s.
for n in $COVERED 3SOTHR2000007; do
    if wait_for 240 at_end "$n"; then
        ok "$n: reached ${WANT_STATUS[$n]} with ${WANT_EVENTS[$n]} events"
    else
        fail "$n: $(field "${ID[$n]}" status) with $(field "${ID[$n]}" event_count) events, want ${WANT_STATUS[$n]} with ${WANT_EVENTS[$n]}"
    fi
done
sleep 1 # a poll the last listing asked for has merged
for n in $COVERED; do
    p=$(polls_of "$n")
    l=$(listed_of "$n")
    check "$n: polled at registration and once per feed listing ($p polls, listed $l times)" \
        test "$p" = $((l + 1))
    check "$n: listed no more often than it has events ($l <= ${WANT_EVENTS[$n]})" \
        test "$l" -le "${WANT_EVENTS[$n]}"
done
# The stalled parcel: after its last scan (14 fake hours) nothing is listed
# and nothing is polled.
wait_for 30 test "$(field "${ID[3SWISM2000006]}" event_count)" = "${WANT_EVENTS[3SWISM2000006]}" ||
    fail "the stalled parcel's scans were not all stored"
P6=$(polls_of 3SWISM2000006)
check "stalled: polled once per listing" test "$P6" = $(($(listed_of 3SWISM2000006) + 1))
sleep 5 # five fake hours in transit: the schedule would poll it again
check "stalled: not polled while unchanged" test "$(polls_of 3SWISM2000006)" = "$P6"
POTHER=$(polls_of 3SOTHR2000007)
PCOV=$(polls_of 3SWISM2000001)
check "same script: far fewer polls with the feed ($PCOV against $POTHER)" \
    test $((PCOV * 3)) -le "$POTHER"
check "the cursor is in Redis" test -n "$(rcli HGET wismo:feed:postnl:10452233 cursor_ms)"
curl -sf "$API/metrics" >"$work/metrics"
check "metrics: feed calls" grep -q 'wismo_feed_calls_total{carrier="postnl",outcome="ok"} [1-9]' "$work/metrics"
check "metrics: feed up" grep -q 'wismo_feed_up{carrier="postnl"} 1' "$work/metrics"
FEEDS=$(counts | jq -r .feed.postnl)
echo "feed calls so far: $FEEDS; polls: covered on_time $PCOV, other customer's on_time $POTHER"

# --- B: the feed fails; the covered parcels are polled on the schedule -----
curl -sf -X PUT -d '["carrier=postnl,kind=500,on=feed"]' "$FAKE_URL/_admin/faults" >/dev/null
down() { grep -q 'msg="feed call failed' "$LOG"; }
check "feed failure logged" wait_for 30 down
fallen_back() { grep -q 'msg="feed down: the customer.s parcels are polled on the schedule"' "$LOG"; }
check "feed failure: the customer's parcels brought back to the schedule" wait_for 30 fallen_back
P6=$(polls_of 3SWISM2000006)
polled_again() { [ "$(polls_of 3SWISM2000006)" -ge $((P6 + 3)) ]; }
check "feed failure: the stalled parcel is polled on the in_transit schedule" wait_for 60 polled_again
out_has '^wismo_feed_up\{carrier="postnl"\} 0$' curl -sf "$API/metrics" &&
    ok "metrics: feed down" || fail "metrics: feed down"
curl -sf -X PUT -d '[]' "$FAKE_URL/_admin/faults" >/dev/null
up() { out_has '^wismo_feed_up\{carrier="postnl"\} 1$' curl -sf "$API/metrics"; }
check "feed back up" wait_for 30 up
# The poll scheduled while the feed was down goes when it is due (the
# schedule may have put it several intervals out); the merge after it
# schedules the safety net (push_safety_poll 1h). Wait for that, not for
# a guessed time.
ID6=$(rcli HGET wismo:idx:num postnl:3SWISM2000006)
safety_net() {
    local due
    due=$(rcli ZSCORE wismo:due "$ID6")
    [ -n "$due" ] && [ "${due%.*}" -gt $(($(date +%s%3N) + 600000)) ]
}
check "feed back: the stalled parcel waits for the safety net" wait_for 120 safety_net
P6=$(polls_of 3SWISM2000006)
sleep 7
check "feed back: the stalled parcel is not polled any more" test "$(polls_of 3SWISM2000006)" = "$P6"

stop_wismod
stop_fake
summary feed
