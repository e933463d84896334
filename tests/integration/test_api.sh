#!/usr/bin/env bash
# The HTTP API end to end, loopback only: a private redis-server, the fake
# carrier and wismod. Every documented route and status of
# contrib/openapi.json is exercised, and every answer seen must be
# documented (the document is walked at the end).
#
# Every section registers its own shipments (own order ids and tracking
# numbers) and pins what the fake carrier tells about them (its scenario,
# and how far into it the timeline already is), so no section depends on
# where another one's shipment has got to on the 20000x fake clock; every
# wait is a poll for a condition with a generous bound, never a sleep.
#   test_api.sh FAKECARRIER WISMOD WISMOCTL OPENAPI
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD WISMOCTL OPENAPI}
WISMOD=${2:?}
CTL=${3:?}
OPENAPI=${4:?}
SPEED=20000
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

# --- processes ---
# (Redis keeps an append-only file: it is restarted below.)
start_redis "$work/redis" --appendonly yes
start_fake --speed "$SPEED"
printf '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>\n' >"$work/logo.svg"
write_config "$work/w.ini" "[http]
listen = 127.0.0.1:0
cors = https://shop.example
lookup_failures = 10
lookup_window = 1h
header_timeout = 1s
max_body = 4K
max_streams = 1
[tokens]
shop = shop-token
agent = agent-token
admin = admin-token
[web]
logo = $work/logo.svg
frame_ancestors = https://shop.example"
UP_WITHIN=30 start_wismod "$work/w.ini"

# call METHOD TEMPLATE PATH [curl args...]: prints the body to $work/body,
# the status to stdout, and records "METHOD TEMPLATE STATUS".
call() {
    local m=$1 tpl=$2 path=$3 code
    shift 3
    code=$(curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' \
        -X "$m" "$@" "$API$path")
    echo "$m $tpl $code" >>"$work/seen"
    echo "$code"
}
SHOP=(-H "Authorization: Bearer shop-token")
AGENT=(-H "Authorization: Bearer agent-token")
ADMIN=(-H "Authorization: Bearer admin-token")
J=(-H "Content-Type: application/json")

# scenario CARRIER NUMBER NAME [ELAPSED]: what the fake carrier will tell
# about NUMBER; ELAPSED fake seconds of the timeline have already passed
# (a large one: the whole script is visible at the first poll and never
# changes again).
scenario() {
    curl -sf -X PUT -d "{\"scenario\":\"$3\"${4:+,\"elapsed\":$4}}" \
        "$FAKE_URL/_admin/scenario/$1/$2" >/dev/null
}
# Shipments registered (201) so far, in all and per carrier: what the
# list must show.
registered=0
declare -A per_carrier=()
# register BODY: POST /v1/shipments as the shop; the body lands in
# $work/body, the status in $CODE, the new id in $ID (not in a subshell:
# it counts).
register() {
    local code c
    code=$(curl -s -o "$work/body" -w '%{http_code}' "${SHOP[@]}" "${J[@]}" \
        -d "$1" "$API/v1/shipments")
    ID=$(jq -r '.id // empty' "$work/body" 2>/dev/null || true)
    if [ "$code" = 201 ]; then
        registered=$((registered + 1))
        c=$(jq -r .carrier "$work/body")
        per_carrier[$c]=$((${per_carrier[$c]:-0} + 1))
    fi
    CODE=$code
}
# field ID JQ-FILTER: the shipment as an agent sees it, filtered.
field() { curl -s "${AGENT[@]}" "$API/v1/shipments/$1" | jq -r "$2"; }
polled() { [ "$(field "$1" '.polls // 0')" -ge "${2:-1}" ]; }
has_status() { [ "$(field "$1" .status)" = "$2" ]; }

# --- registration ---
body='{"tracking_number":"1Z4E96F70398760001","carrier":"ups","order_id":"A-1","postcode":"1234 ab","email":"Jan@Example.NL","phone":"+31612345678","locale":"nl","promised_delivery":"2030-01-01"}'
scenario ups 1Z4E96F70398760001 stalled
expect "POST creates (201)" "$(call POST /v1/shipments /v1/shipments "${SHOP[@]}" "${J[@]}" -d "$body")" 201
ID=$(jq -r .id "$work/body")
registered=$((registered + 1))
per_carrier[ups]=1
expect "the answer carries the id and canonical fields" \
    "$(jq -r '[.carrier, .tracking_number, .status, .order_id, (.events|type)] | join(" ")' "$work/body")" \
    "ups 1Z4E96F70398760001 pending A-1 array"
expect "the same registration answers 200 with the same id" \
    "$(call POST /v1/shipments /v1/shipments "${ADMIN[@]}" "${J[@]}" -d "$body")" 200
expect "same id" "$(jq -r .id "$work/body")" "$ID"
# At once, not at the next scheduled slot (the bound only keeps a loaded
# machine from failing the test; unloaded it takes a few milliseconds).
t0=$(date +%s%N)
wait_for 20 polled "$ID" && ok "a new shipment is polled at once ($((($(date +%s%N) - t0) / 1000000)) ms)" ||
    fail "a new shipment was not polled within 20 s"
expect "GET one (200)" "$(call GET '/v1/shipments/{id}' "/v1/shipments/$ID" "${AGENT[@]}")" 200
detected=$(call POST /v1/shipments /v1/shipments "${SHOP[@]}" "${J[@]}" \
    -d '{"tracking_number":"1Z5R89390357567127","order_id":"A-2","postcode":"9999ZZ"}')
expect "carrier detected when absent (201)" "$detected" 201
registered=$((registered + 1))
per_carrier[ups]=2
expect "detected as ups" "$(jq -r .carrier "$work/body")" ups
expect "ambiguous number: 422" "$(call POST /v1/shipments /v1/shipments "${SHOP[@]}" "${J[@]}" \
    -d '{"tracking_number":"05212345678901","order_id":"A-3"}')" 422
expect "candidates listed" "$(jq -c .candidates "$work/body")" '["dpd","dhl"]'
expect "unknown format: 422" "$(call POST /v1/shipments /v1/shipments "${SHOP[@]}" "${J[@]}" \
    -d '{"tracking_number":"not a number","order_id":"A-3"}')" 422
for bad in '{' '[]' '"x"' '{"tracking_number":5,"order_id":"A"}' '{"order_id":"A"}' \
    '{"tracking_number":"1Z5R89390357567127"}' '{"tracking_number":"1Z5R89390357567127","order_id":"A","bogus":1}' \
    '{"tracking_number":"abc","order_id":"A","carrier":"ups"}' '{"tracking_number":"1Z5R89390357567127","order_id":"A","carrier":"acme"}' \
    '{"tracking_number":"1Z5R89390357567127","order_id":"A","email":"no-at-sign"}' \
    '{"tracking_number":"1Z5R89390357567127","order_id":"A","phone":"0612"}' \
    '{"tracking_number":"1Z5R89390357567127","order_id":"A","notify":["pigeon"]}' \
    '{"tracking_number":"1Z5R89390357567127","order_id":"A","promised_delivery":"soon"}' \
    "$(printf '{"tracking_number":"1Z5R89390357567127","order_id":"A\\u0001"}')"; do
    code=$(call POST /v1/shipments /v1/shipments "${SHOP[@]}" "${J[@]}" -d "$bad")
    [ "$code" = 400 ] && [ "$(jq -r .error "$work/body")" = invalid ] || fail "bad body $bad: $code"
done
ok "bad JSON, wrong types, missing and unknown fields: 400 {error, message}"
big=$(head -c 6000 /dev/zero | tr '\0' 'x')
expect "oversized body: 413" "$(call POST /v1/shipments /v1/shipments "${SHOP[@]}" "${J[@]}" -d "{\"order_id\":\"$big\"}")" 413
expect "no token: 401" "$(call POST /v1/shipments /v1/shipments "${J[@]}" -d "$body")" 401
expect "unknown token: 401" "$(call POST /v1/shipments /v1/shipments -H 'Authorization: Bearer nope' "${J[@]}" -d "$body")" 401
expect "agent token on a shop route: 403" "$(call POST /v1/shipments /v1/shipments "${AGENT[@]}" "${J[@]}" -d "$body")" 403

# --- agent routes ---
scenario ups "$(number ups 101)" stalled 1000000
register "{\"tracking_number\":\"$(number ups 101)\",\"carrier\":\"ups\",\"order_id\":\"C-1\",\"postcode\":\"1234 ab\",\"email\":\"Jan@Example.NL\",\"phone\":\"+31612345678\"}"
expect "agent section's shipment (201)" "$CODE" 201
expect "GET one: 200" "$(call GET '/v1/shipments/{id}' "/v1/shipments/$ID" "${AGENT[@]}")" 200
expect "agents see contact data and notifications" \
    "$(jq -r '[.email, .phone, .postcode, (.notifications|type)] | join(" ")' "$work/body")" \
    "jan@example.nl +31612345678 1234AB array"
expect "shop token on an agent route: 403" "$(call GET '/v1/shipments/{id}' "/v1/shipments/$ID" "${SHOP[@]}")" 403
expect "no token: 401" "$(call GET '/v1/shipments/{id}' "/v1/shipments/$ID")" 401
expect "unknown id: 404" "$(call GET '/v1/shipments/{id}' /v1/shipments/nosuchid "${AGENT[@]}")" 404
# 60 more shipments for listing and search.
for i in $(seq 10 69); do
    printf '{"tracking_number":"%s","carrier":"dhl","order_id":"B-%d","email":"b%d@example.com"}\n' \
        "$(number dhl "$i")" "$i" "$i"
done >"$work/more"
while read -r line; do
    register "$line"
    [ "$CODE" = 201 ] || fail "register $line"
done <"$work/more"
scenario usps "$(number usps 1)" stalled 1000000
register "{\"tracking_number\":\"$(number usps 1)\",\"carrier\":\"usps\",\"order_id\":\"B-PHONE\",\"phone\":\"+31687654321\"}"
expect "a shipment to find by phone (201)" "$CODE" 201
PHONE_ID=$ID
# Pagination visits every shipment registered so far exactly once.
cursor=""
pages=0
: >"$work/listed"
while :; do
    expect_code=$(call GET /v1/shipments "/v1/shipments?limit=7${cursor:+&cursor=$cursor}" "${AGENT[@]}")
    [ "$expect_code" = 200 ] || { fail "list page: $expect_code"; break; }
    jq -r '.shipments[].id' "$work/body" >>"$work/listed"
    pages=$((pages + 1))
    cursor=$(jq -r '.cursor // empty' "$work/body")
    [ -n "$cursor" ] && [ $pages -lt 100 ] || break
done
expect "cursor pagination visits every shipment once ($pages pages)" \
    "$(wc -l <"$work/listed") $(sort -u "$work/listed" | wc -l)" "$registered $registered"
expect "filter carrier=ups" "$(call GET /v1/shipments '/v1/shipments?carrier=ups&limit=200' "${AGENT[@]}" >/dev/null; jq '.shipments | length' "$work/body")" "${per_carrier[ups]}"
expect "search by e-mail (q, any case)" "$(call GET /v1/shipments '/v1/shipments?q=B42@Example.com' "${AGENT[@]}" >/dev/null; jq -r '[.shipments[].order_id] | join(" ")' "$work/body")" B-42
expect "search by order id" "$(call GET /v1/shipments '/v1/shipments?q=B-17' "${AGENT[@]}" >/dev/null; jq -r '[.shipments[].order_id] | join(" ")' "$work/body")" B-17
expect "search by tracking number" "$(call GET /v1/shipments "/v1/shipments?q=$(number dhl 23)" "${AGENT[@]}" >/dev/null; jq -r '[.shipments[].order_id] | join(" ")' "$work/body")" B-23
expect "search by phone" "$(call GET /v1/shipments '/v1/shipments?q=%2B31687654321' "${AGENT[@]}" >/dev/null; jq -r '[.shipments[].id] | join(" ")' "$work/body")" "$PHONE_ID"
expect "bad status filter: 400" "$(call GET /v1/shipments '/v1/shipments?status=lost' "${AGENT[@]}")" 400
expect "list without token: 401" "$(call GET /v1/shipments /v1/shipments)" 401
expect "list with a shop token: 403" "$(call GET /v1/shipments /v1/shipments "${SHOP[@]}")" 403

# --- the web pages and the console's own calls ---
ORIGIN=(-H "Origin: $API")
expect "/track: the form (200)" "$(call GET /track /track)" 200
expect "/track: an HTML form with order_id and postcode" \
    "$(grep -c 'name="order_id"' "$work/body") $(grep -c 'name="postcode"' "$work/body")" "1 1"
expect "/track: the answer (200)" "$(call GET /track '/track?order_id=C-1&postcode=1234AB&lang=en')" 200
grep -q 'C-1' "$work/body" && ! grep -qi 'jan@example\|31612345678\|1234 *AB' "$work/body" &&
    ok "/track: the answer names the order, no contact data" || fail "/track answer: $(head -c 300 "$work/body")"
page_etag=$(sed -n 's/^ETag: \(.*\)\r$/\1/p' "$work/headers")
expect "/track: If-None-Match 304" "$(call GET /track '/track?order_id=C-1&postcode=1234AB&lang=en' -H "If-None-Match: $page_etag")" 304
expect "/track?embed=1: 200" "$(call GET /track '/track?order_id=C-1&email=jan@example.nl&embed=1')" 200
expect "embed: frame-ancestors from [web], no X-Frame-Options, no header" \
    "$(grep -ci '^content-security-policy:.*frame-ancestors https://shop.example' "$work/headers") $(grep -ci '^x-frame-options' "$work/headers" || true) $(grep -c '<header class="site"' "$work/body" || true)" "1 0 0"
call GET /track '/track?order_id=C-1&postcode=1234AB' >/dev/null
expect "not embedded: frame-ancestors 'none', X-Frame-Options DENY" \
    "$(grep -ci "^content-security-policy:.*frame-ancestors 'none'" "$work/headers") $(grep -ci '^x-frame-options: deny' "$work/headers")" "1 1"
expect "/track: neither postcode nor email (400)" "$(call GET /track '/track?order_id=C-1')" 400
expect "/track: wrong postcode (404)" "$(call GET /track '/track?order_id=C-1&postcode=0000XX')" 404
expect "/track/logo: the configured logo (200)" "$(call GET /track/logo /track/logo)" 200
expect "/assets/{name}: 200" "$(call GET '/assets/{name}' /assets/track.css)" 200
asset_etag=$(sed -n 's/^ETag: \(.*\)\r$/\1/p' "$work/headers")
expect "/assets/{name}: 304" "$(call GET '/assets/{name}' /assets/track.css -H "If-None-Match: $asset_etag")" 304
expect "/assets/{name}: 404" "$(call GET '/assets/{name}' /assets/nope.js)" 404
expect "/agent/: the sign-in form (200)" "$(call GET /agent/ '/agent/?lang=en')" 200
expect "/agent/: a password field" "$(grep -c 'type="password"' "$work/body")" 1
expect "sign-in, wrong token (401)" "$(call POST /agent/session /agent/session "${ORIGIN[@]}" "${J[@]}" -d '{"token":"nope"}')" 401
expect "sign-in from another origin (403)" "$(call POST /agent/session /agent/session -H 'Origin: https://evil.example' "${J[@]}" -d '{"token":"agent-token"}')" 403
expect "sign-in with the form (303)" "$(call POST /agent/session /agent/session "${ORIGIN[@]}" --data-urlencode token=agent-token)" 303
jar=$(sed -n 's/^Set-Cookie: \(wismo_session=[^;]*\);.*HttpOnly.*SameSite=Strict.*$/\1/p' "$work/headers")
[ -n "$jar" ] && ok "the session cookie is HttpOnly, SameSite=Strict" || fail "no session cookie: $(cat "$work/headers")"
expect "/agent/: the console with the cookie (200)" "$(call GET /agent/ /agent/ -H "Cookie: $jar")" 200
expect "the queue with the cookie (200)" "$(call GET /agent/queue /agent/queue -H "Cookie: $jar")" 200
expect "the queue: counts and items" "$(jq -r '(.counts|type) + " " + (.items|type)' "$work/body")" "object array"
expect "the queue without a session (401)" "$(call GET /agent/queue /agent/queue)" 401
expect "the queue with a shop token (403)" "$(call GET /agent/queue /agent/queue "${SHOP[@]}")" 403
expect "carrier stats (200)" "$(call GET /v1/stats/carriers '/v1/stats/carriers?from=2026-01-01&to=2026-12-31' "${AGENT[@]}")" 200
expect "carrier stats: rows" "$(jq -r '.from + " " + .to + " " + (.rows|type)' "$work/body")" "2026-01-01 2026-12-31 array"
expect "carrier stats with the cookie (200)" "$(call GET /v1/stats/carriers /v1/stats/carriers -H "Cookie: $jar")" 200
expect "carrier stats, bad dates (400)" "$(call GET /v1/stats/carriers '/v1/stats/carriers?from=2026-13-01' "${AGENT[@]}")" 400
expect "carrier stats without a token (401)" "$(call GET /v1/stats/carriers /v1/stats/carriers)" 401
expect "carrier stats with a shop token (403)" "$(call GET /v1/stats/carriers /v1/stats/carriers "${SHOP[@]}")" 403
# The live updates: an open stream ([http] max_streams = 1 here).
curl -sN -i --max-time 120 -H "Cookie: $jar" "$API/agent/events" >"$work/events" 2>/dev/null &
EVPID=$!
pids+=("$EVPID")
wait_for 30 grep -q '^event: ready' "$work/events" && head -n1 "$work/events" | grep -q '^HTTP/1.1 200' &&
    grep -qi '^content-type: text/event-stream' "$work/events" &&
    ok "the console's events: an open text/event-stream" || fail "events: $(head -c 300 "$work/events")"
echo "GET /agent/events 200" >>"$work/seen"
expect "a second stream over max_streams (503)" "$(call GET /agent/events /agent/events -H "Cookie: $jar")" 503
expect "over max_streams: Retry-After" "$(grep -c '^Retry-After: [0-9]' "$work/headers")" 1
kill "$EVPID" 2>/dev/null || true
wait "$EVPID" 2>/dev/null || true
expect "events without a session (401)" "$(call GET /agent/events /agent/events)" 401
expect "events with a shop token (403)" "$(call GET /agent/events /agent/events "${SHOP[@]}")" 403
expect "sign-out from another origin (403)" "$(call DELETE /agent/session /agent/session -H 'Origin: https://evil.example' -H "Cookie: $jar")" 403
expect "sign-out (204)" "$(call DELETE /agent/session /agent/session "${ORIGIN[@]}" -H "Cookie: $jar")" 204
expect "the old cookie is refused after sign-out" "$(call GET /agent/queue /agent/queue -H "Cookie: $jar")" 401
call POST /agent/session /agent/session "${ORIGIN[@]}" "${J[@]}" -d '{"token":"agent-token"}' >/dev/null
jar=$(sed -n 's/^Set-Cookie: \(wismo_session=[^;]*\);.*$/\1/p' "$work/headers")
expect "sign-out with the form from another origin (403)" "$(call POST /agent/session/end /agent/session/end -H 'Origin: https://evil.example' -H "Cookie: $jar")" 403
expect "sign-out with the form (303)" "$(call POST /agent/session/end /agent/session/end "${ORIGIN[@]}" -H "Cookie: $jar")" 303

# --- the public lookup ---
# Its own shipment, whose whole (stalled) script is visible at the first
# poll: once merged, its answer (and ETag) never changes again.
LNUM=$(number ups 201)
scenario ups "$LNUM" stalled 1000000
register "{\"tracking_number\":\"$LNUM\",\"carrier\":\"ups\",\"order_id\":\"L-1\",\"postcode\":\"1234 ab\",\"email\":\"Jan@Example.NL\"}"
expect "lookup section's shipment (201)" "$CODE" 201
LID=$ID
want_events=$(curl -sf "$FAKE_URL/_admin/expected/ups/$LNUM" | jq .events_total)
settled() { [ "$(field "$LID" '.events | length')" = "$want_events" ]; }
wait_for 30 settled || fail "the lookup shipment never got its $want_events events"
expect "lookup by postcode (spaces, case): 200" "$(call GET '/v1/track/{order_id}' '/v1/track/L-1?postcode=1234%20AB' -H 'Accept-Language: nl-NL,nl;q=0.9')" 200
expect "no contact data in the answer" "$(jq '[.shipments[] | has("email") or has("phone") or has("postcode") or has("notifications")] | any' "$work/body")" false
expect "status text in Dutch" "$(jq -r '.shipments[0].status_text' "$work/body")" Onderweg
curl -s -o /dev/null -D "$work/headers" -H 'Accept-Language: nl' "$API/v1/track/L-1?postcode=1234AB"
etag=$(sed -n 's/^ETag: \(.*\)\r$/\1/p' "$work/headers")
expect "If-None-Match: 304" "$(call GET '/v1/track/{order_id}' '/v1/track/L-1?postcode=1234AB' -H 'Accept-Language: nl' -H "If-None-Match: $etag")" 304
expect "?lang=de wins" "$(call GET '/v1/track/{order_id}' '/v1/track/L-1?email=JAN@example.nl&lang=de' >/dev/null; jq -r '.shipments[0].status_text' "$work/body")" Unterwegs
expect "CORS: an allowed origin is echoed" "$(call GET '/v1/track/{order_id}' '/v1/track/L-1?postcode=1234AB' -H 'Origin: https://shop.example' >/dev/null; grep -c '^Access-Control-Allow-Origin: https://shop.example' "$work/headers")" 1
expect "CORS: another origin is not" "$(call GET '/v1/track/{order_id}' '/v1/track/L-1?postcode=1234AB' -H 'Origin: https://evil.example' >/dev/null; grep -c '^Access-Control-Allow-Origin' "$work/headers" || true)" 0
expect "neither postcode nor email: 400" "$(call GET '/v1/track/{order_id}' /v1/track/L-1)" 400
code=$(call GET '/v1/track/{order_id}' '/v1/track/L-1?postcode=0000XX' -H 'X-Forwarded-For: 1.2.3.4')
cp "$work/body" "$work/wrong"
call GET '/v1/track/{order_id}' '/v1/track/NO-SUCH?postcode=1234AB' >/dev/null
expect "wrong postcode: 404" "$code" 404
expect "wrong postcode and no such order answer alike" "$(cmp -s "$work/wrong" "$work/body" && echo same)" same
# Enumeration: 1,000 guesses from one client (the two misses above count).
# The window is an hour here: a loaded machine may take over a minute for
# the loop, and a window ending inside it would hand out 10 more tries.
codes=$(for i in $(seq 1000); do
    curl -s -o /dev/null -w '%{http_code}\n' "$API/v1/track/G-$i?postcode=1234AB"
done | sort | uniq -c)
echo "GET /v1/track/{order_id} 429" >>"$work/seen"
n429=$(echo "$codes" | awk '$2 == 429 {print $1}')
n404=$(echo "$codes" | awk '$2 == 404 {print $1}')
[ "$((n404 + n429))" -eq 1000 ] && [ "$n404" -le 10 ] &&
    ok "1,000 guesses: at most 10 answered 404, the rest 429 ($n404, $n429)" ||
    fail "enumeration: $codes"
curl -s -D "$work/h429" -o /dev/null "$API/v1/track/L-1?postcode=1234AB"
expect "429 carries Retry-After" "$(grep -c '^Retry-After: [0-9]' "$work/h429")" 1
expect "the tracking page shares the limit: a 429 page" "$(call GET /track '/track?order_id=L-1&postcode=1234AB&lang=en')" 429
expect "the 429 page: HTML with Retry-After" "$(grep -c '^Retry-After: [0-9]' "$work/headers") $(grep -c '<html' "$work/body")" "1 1"
# Sign-in attempts: limited per client like the lookup (10 failures here).
for i in $(seq 1 12); do
    code=$(call POST /agent/session /agent/session "${ORIGIN[@]}" "${J[@]}" -d "{\"token\":\"wrong-$i\"}")
    [ "$code" = 429 ] && break
done
expect "sign-in: 429 after the failures" "$code" 429
expect "sign-in 429: Retry-After" "$(grep -c '^Retry-After: [0-9]' "$work/headers")" 1

# --- refresh ---
# A stalled shipment is never final: a refresh is always queued.
RNUM=$(number ups 301)
scenario ups "$RNUM" stalled
register "{\"tracking_number\":\"$RNUM\",\"carrier\":\"ups\",\"order_id\":\"R-1\"}"
expect "refresh section's shipment (201)" "$CODE" 201
RID=$ID
expect "refresh: 202" "$(call POST '/v1/shipments/{id}/refresh' "/v1/shipments/$RID/refresh" "${AGENT[@]}")" 202
expect "refresh unknown: 404" "$(call POST '/v1/shipments/{id}/refresh' /v1/shipments/nope/refresh "${AGENT[@]}")" 404
expect "refresh without token: 401" "$(call POST '/v1/shipments/{id}/refresh' "/v1/shipments/$RID/refresh")" 401
expect "refresh with a shop token: 403" "$(call POST '/v1/shipments/{id}/refresh' "/v1/shipments/$RID/refresh" "${SHOP[@]}")" 403
# A shipment whose script is over at its first poll: final, 409.
DNUM=$(number ups 302)
scenario ups "$DNUM" on_time 1000000
register "{\"tracking_number\":\"$DNUM\",\"carrier\":\"ups\",\"order_id\":\"R-2\"}"
expect "a shipment delivered at its first poll (201)" "$CODE" 201
DID=$ID
wait_for 30 has_status "$DID" delivered || fail "R-2 never reached delivered"
expect "refresh of a final shipment: 409" "$(call POST '/v1/shipments/{id}/refresh' "/v1/shipments/$DID/refresh" "${AGENT[@]}")" 409
# The needs-attention queue reads the open shipments only (R-2 is final):
# no more than were open before it was asked, fewer than all registered.
# Counted in one script: a shipment moving from lease to due between two
# ZCARDs would be counted in neither (a loaded run saw that).
open_before=$(rcli EVAL "return redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])" 2 wismo:due wismo:lease)
expect "the queue with the agent token (200)" "$(call GET /agent/queue /agent/queue "${AGENT[@]}")" 200
scanned=$(jq -r .scanned "$work/body")
expect "the queue scans open shipments only ($scanned of $(rcli ZCARD wismo:idx:created))" \
    "$([ "$scanned" -le "$open_before" ] && [ "$open_before" -lt "$(rcli ZCARD wismo:idx:created)" ] &&
        ! jq -e --arg id "$DID" '.items[] | select(.id == $id)' "$work/body" >/dev/null && echo yes)" yes
# A carrier backing off: 429 with Retry-After, once its 429 was seen.
curl -sf -X POST -d '["carrier=fedex,kind=429,retry_after=120"]' "$FAKE_URL/_admin/faults" >/dev/null
register '{"tracking_number":"781205830077","carrier":"fedex","order_id":"F-1"}'
expect "a shipment of a carrier that answers 429 (201)" "$CODE" 201
FID=$ID
wait_for 30 eval '[ "$(field "$FID" ".last_error.error // empty")" = rate_limited ]' ||
    fail "the fedex 429 was never recorded"
expect "refresh while the carrier backs off: 429" "$(call POST '/v1/shipments/{id}/refresh' "/v1/shipments/$FID/refresh" "${AGENT[@]}")" 429
expect "with Retry-After" "$(grep -c '^Retry-After: [0-9]' "$work/headers")" 1
curl -sf -X POST -d '[]' "$FAKE_URL/_admin/faults" >/dev/null

# --- erase ---
ENUM=$(number ups 401)
register "{\"tracking_number\":\"$ENUM\",\"carrier\":\"ups\",\"order_id\":\"E-1\",\"postcode\":\"1234AB\"}"
expect "erase section's shipment (201)" "$CODE" 201
EID=$ID
expect "erase without token: 401" "$(call DELETE '/v1/shipments/{id}' "/v1/shipments/$EID")" 401
expect "erase with an agent token: 403" "$(call DELETE '/v1/shipments/{id}' "/v1/shipments/$EID" "${AGENT[@]}")" 403
expect "erase: 204" "$(call DELETE '/v1/shipments/{id}' "/v1/shipments/$EID" "${SHOP[@]}")" 204
expect "erased: 404" "$(call DELETE '/v1/shipments/{id}' "/v1/shipments/$EID" "${SHOP[@]}")" 404
register "{\"tracking_number\":\"1Z4E96F70398760901\",\"carrier\":\"ups\",\"order_id\":\"E-9\",\"email\":\"erase.me@example.com\"}"
expect "erase by customer: 200" "$(call POST /v1/customers/erase /v1/customers/erase "${SHOP[@]}" "${J[@]}" -d '{"email":"Erase.Me@example.com"}')" 200
expect "erase by customer: one shipment" "$(jq -c . "$work/body")" '{"erased":1}'
expect "erase by customer, bad address: 400" "$(call POST /v1/customers/erase /v1/customers/erase "${SHOP[@]}" "${J[@]}" -d '{"email":"nope"}')" 400
expect "erase by customer without token: 401" "$(call POST /v1/customers/erase /v1/customers/erase "${J[@]}" -d '{"email":"a@b.nl"}')" 401
expect "erase by customer with an agent token: 403" "$(call POST /v1/customers/erase /v1/customers/erase "${AGENT[@]}" "${J[@]}" -d '{"email":"a@b.nl"}')" 403
# 507 (Redis refuses writes) needs a full disk: test_diskfull answers it.
echo "POST /v1/shipments 507" >>"$work/seen"
expect "no key of it is left" "$(rcli --scan --pattern "*$EID*" | wc -l) $(rcli SISMEMBER wismo:idx:order:E-1 "$EID") $(rcli HEXISTS wismo:idx:num "ups:$ENUM")" "0 0 0"

# --- push, health, metrics ---
expect "carrier push, push off: 404" "$(call POST '/v1/carriers/{carrier}/webhook/{push_path}' /v1/carriers/dhl/webhook/0123456789abcdef -d '{}')" 404
# Every other answer of the push receivers needs push = on and signed
# pushes: test_push answers them (200, 400, 401, 405, 413, DPD's GET) and
# test_push_subs the rest of the push life; 503 needs a store that fails
# mid-push.
for c in 200 400 401 405 413 503; do
    echo "POST /v1/carriers/{carrier}/webhook/{push_path} $c" >>"$work/seen"
done
echo "GET /v1/carriers/{carrier}/webhook/{push_path} 200" >>"$work/seen"
expect "healthz: 200" "$(call GET /healthz /healthz)" 200
expect "readyz: 200" "$(call GET /readyz /readyz)" 200
expect "metrics: 200" "$(call GET /metrics /metrics)" 200
for m in wismo_polls_total wismo_poll_duration_seconds_bucket wismo_due_backlog wismo_events_stored_total \
    wismo_http_requests_total wismo_http_request_duration_seconds_bucket wismo_redis_up \
    wismo_redis_connects_total wismo_redis_errors_total; do
    grep -q "^$m" "$work/body" || fail "metrics lack $m"
done
ok "metrics carry polls, latency, backlog, events, API requests, Redis"
# Every series the Grafana dashboard draws is one /metrics exposes.
dash=$(dirname "$OPENAPI")/grafana-dashboard.json
for m in $(jq -r '.panels[].targets[].expr' "$dash" | grep -o 'wismo_[a-z_]*' | sort -u); do
    base=${m%_bucket}
    grep -q "^# TYPE ${base%_total}\(_total\)\? \|^# TYPE $base " "$work/body" ||
        fail "the dashboard uses $m, which /metrics lacks"
done
ok "the Grafana dashboard uses only exposed metrics"
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
readyz_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/readyz")" = "$1" ]; }
wait_for 30 readyz_is 503 || true
expect "readyz without Redis: 503" "$(call GET /readyz /readyz)" 503
start_redis "$work/redis" --appendonly yes
wait_for 60 readyz_is 200 && ok "readyz: 200 again once Redis is back" ||
    fail "readyz never came back after Redis restarted"

# --- HTTP behaviour ---
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
timeout 30 cat <&3 >"$work/pipelined" || true
exec 3>&-
expect "pipelined requests answered in order" \
    "$(grep -ao 'HTTP/1.1 [0-9][0-9][0-9]' "$work/pipelined" | tr '\n' ' ')" "HTTP/1.1 200 HTTP/1.1 200 HTTP/1.1 404 "
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' >&3
t0=$(date +%s%N)
timeout 30 cat <&3 >/dev/null || true
t1=$(date +%s%N)
exec 3>&-
ms=$(((t1 - t0) / 1000000))
# header_timeout is 1 s; the idle timeout (60 s) would be the bug.
[ "$ms" -lt 10000 ] && ok "a slow-header client is cut off (after $ms ms)" || fail "slow header held $ms ms"

stop_wismod

# --- the document, walked ---
jq -r '.paths | to_entries[] | .key as $p | .value | to_entries[] |
    .key as $m | .value.responses | keys[] | "\($m|ascii_upcase) \($p) \(.)"' "$OPENAPI" |
    sort -u >"$work/documented"
sort -u "$work/seen" >"$work/seen.sorted"
missing=$(comm -23 "$work/documented" "$work/seen.sorted")
extra=$(comm -13 "$work/documented" "$work/seen.sorted")
[ -z "$missing" ] && ok "every documented route and status was answered ($(wc -l <"$work/documented"))" ||
    fail "documented but never seen: $(echo $missing)"
[ -z "$extra" ] && ok "every answer seen is documented" || fail "seen but not documented: $(echo $extra)"
summary api
