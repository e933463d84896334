#!/usr/bin/env bash
# One registration path, end to end (issue 8 item 1, issue 13 items 7 and 9):
# wismoctl add, wismoctl add - and POST /v1/shipments normalise alike, and
# everything that looks a shipment up again (the public lookup, agent
# search, wismoctl show/refresh, opt-outs) normalises the same way.
# Loopback only: a private redis-server, the fake carrier and wismod.
#   test_registration.sh FAKECARRIER WISMOD WISMOCTL
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD WISMOCTL}
WISMOD=${2:?}
CTL=${3:?}
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

UP_WITHIN=10 start_redis
UP_WITHIN=10 start_fake
TOKENS="[tokens]
shop = shop-token
agent = agent-token"
write_config "$work/w.ini" "$TOKENS"
UP_WITHIN=20 start_wismod "$work/w.ini"
SHOP=(-H "Authorization: Bearer shop-token")
AGENT=(-H "Authorization: Bearer agent-token")
J=(-H "Content-Type: application/json")

# status PATH [curl args...]: the HTTP status; the body in $work/body.
status() {
    local path=$1
    shift
    curl -s -o "$work/body" -w '%{http_code}' "$@" "$API$path"
}
ctl() { "$CTL" -c "$work/w.ini" "$@"; }

# --- wismoctl add normalises as the API does (issue 8's new-user case) ---
ctl add --carrier postnl --number 3SWISM4829100001 --order ws-1001 \
    --postcode "1234 ab" --email " Jan@Example.NL " --phone "06 1234 5678" \
    >"$work/add.out" 2>"$work/add.err" || fail "wismoctl add: $(cat "$work/add.err")"
ID1=$(jq -r .id "$work/add.out")
expect "wismoctl add, lookup with 1234AB: 200" \
    "$(status "/v1/track/ws-1001?postcode=1234AB")" 200
expect "wismoctl add, lookup with '1234 ab': 200" \
    "$(status "/v1/track/ws-1001?postcode=1234%20ab")" 200
expect "the lookup's order id is case-insensitive" \
    "$(status "/v1/track/WS-1001?email=JAN@example.nl")" 200
expect "a wrong postcode still answers 404" \
    "$(status "/v1/track/ws-1001?postcode=9999ZZ")" 404
status "/v1/shipments/$ID1" "${AGENT[@]}" >/dev/null
expect "wismoctl add stores the normalised fields" \
    "$(jq -r '[.carrier, .order_id, .postcode, .email, .phone] | join(" ")' "$work/body")" \
    "postnl ws-1001 1234AB jan@example.nl +31612345678"
for bad in "--carrier acme --number 3SWISM4829100002" \
    "--carrier dhl --number 48271500 --phone +0612345678" \
    "--carrier dhl --number 48271500 --email nobody" \
    "--carrier dhl --number abc"; do
    # shellcheck disable=SC2086
    rc=0
    ctl add $bad >/dev/null 2>"$work/bad.err" || rc=$?
    [ "$rc" -eq 64 ] && grep -q 'wismoctl add: ' "$work/bad.err" ||
        fail "wismoctl add $bad: exit $rc: $(cat "$work/bad.err")"
done
ok "wismoctl add refuses what the API refuses (exit 64, the reason)"

# --- the API: carrier names in any case, national phone numbers ---
expect "POST with carrier PostNL and phone 0612345678: 201" \
    "$(status /v1/shipments "${SHOP[@]}" "${J[@]}" -d '{"tracking_number":"3SWISM4829100003","carrier":"PostNL","order_id":"WS-2002","phone":"0612345678","email":"Piet@Example.NL","locale":"NL"}')" 201
ID2=$(jq -r .id "$work/body")
expect "stored as postnl with an E.164 phone" \
    "$(jq -r '[.carrier, .phone, .email, .locale] | join(" ")' "$work/body")" \
    "postnl +31612345678 piet@example.nl nl"
expect "a phone no country starts with 0: 400" \
    "$(status /v1/shipments "${SHOP[@]}" "${J[@]}" -d '{"tracking_number":"3SWISM4829100004","order_id":"X","phone":"+0612345678"}')" 400

# --- wismoctl add -: CRLF lines, tab-separated columns ---
printf 'dhl\t4827150001\tWS-3003\t9999 zz\tKlaas@Example.NL\t0687654321\r\n# a comment\r\ndhl 4827150002 WS-3004\r\nacme 1234567 WS-3005\r\nDHL 4827150003 -\r\n' |
    ctl add - >"$work/lines.out" 2>"$work/lines.err" && rc=0 || rc=$?
expect "add -: three created, one refused (exit 65)" \
    "$rc $(jq -c . "$work/lines.out")" '65 {"created":3,"existing":0,"failed":1}'
grep -q 'stdin:4: carrier: not a supported carrier' "$work/lines.err" &&
    ok "add - names the refused line and why" || fail "add - stderr: $(cat "$work/lines.err")"
expect "CRLF and tabs: the postcode column is found (lookup 200)" \
    "$(status "/v1/track/WS-3003?postcode=9999ZZ")" 200
ctl show WS-3004 >"$work/show.out" 2>"$work/show.err" || fail "show WS-3004: $(cat "$work/show.err")"
expect "CRLF: the last column carries no carriage return" \
    "$(jq -r .order_id "$work/show.out")" WS-3004

# --- wismoctl show / refresh take an order id, tracking number or id ---
expect "show by order id in another case" \
    "$(ctl show ws-3004 | jq -r .tracking_number)" 4827150002
expect "show by tracking number" "$(ctl show 3SWISM4829100003 | jq -r .id)" "$ID2"
expect "show by id" "$(ctl show "$ID1" | jq -r .order_id)" ws-1001
rc=0
ctl show WS-9999 >/dev/null 2>"$work/none.err" || rc=$?
expect "show of nothing: exit 1, no such shipment" \
    "$rc $(cat "$work/none.err")" "1 wismoctl: no such shipment"
ctl refresh ws-3004 >/dev/null 2>"$work/refresh.err" &&
    ok "refresh by order id" || fail "refresh ws-3004: $(cat "$work/refresh.err")"
rc=0
ctl refresh nothing-here >/dev/null 2>&1 || rc=$?
expect "refresh of nothing: exit 1" "$rc" 1

# --- agent search normalises q exactly as registration does ---
search() { # search Q -> sorted order ids found
    curl -s -G "${AGENT[@]}" --data-urlencode "q=$1" "$API/v1/shipments" |
        jq -r '[.shipments[].order_id] | sort | join(" ")'
}
expect "q=ws-2002 finds WS-2002" "$(search ws-2002)" WS-2002
expect "q=WS-1001 finds ws-1001" "$(search WS-1001)" ws-1001
expect "q=0612345678 finds +31612345678" "$(search 0612345678)" "WS-2002 ws-1001"
expect "q=+31 6 1234 5678 finds it too" "$(search '+31 6 1234 5678')" "WS-2002 ws-1001"
expect "q=JAN@EXAMPLE.NL finds jan@example.nl" "$(search ' JAN@EXAMPLE.NL')" ws-1001
expect "q=9999 zz finds 9999ZZ" "$(search '9999 zz')" WS-3003
expect "q=4827150003 finds a shipment without an order" \
    "$(curl -s -G "${AGENT[@]}" --data-urlencode q=4827150003 "$API/v1/shipments" | jq -r '.shipments | length')" 1
expect "carrier filter in any case" \
    "$(curl -s -G "${AGENT[@]}" --data-urlencode carrier=PostNL --data-urlencode q=0612345678 "$API/v1/shipments" | jq -r '.shipments | length')" 2

# --- the list view carries each shipment's notification records ---
for n in 1 2 3; do
    rcli LPUSH "wismo:s:{$ID2}:notif" "{\"reason\":\"stalled\",\"n\":$n}" >/dev/null
done
status "/v1/shipments/$ID2" "${AGENT[@]}" >/dev/null
one=$(jq -c .notifications "$work/body")
listed=$(curl -s -G "${AGENT[@]}" --data-urlencode q=WS-2002 "$API/v1/shipments" | jq -c '.shipments[0].notifications')
expect "GET one shows three records" "$(jq length <<<"$one")" 3
expect "the list view shows the same records" "$listed" "$one"
expect "a shipment without records lists []" \
    "$(curl -s -G "${AGENT[@]}" --data-urlencode q=WS-3004 "$API/v1/shipments" | jq -c '.shipments[0].notifications')" "[]"

# --- a number the carrier cannot be asked about is invalid, not auth ---
# (issue 13 item 19: GLS puts numbers comma-separated into its path.)
expect "GLS 'A,B,C,D' registers (201)" \
    "$(status /v1/shipments "${SHOP[@]}" "${J[@]}" -d '{"tracking_number":"A,B,C,D","carrier":"gls","order_id":"G-1"}')" 201
IDG=$(jq -r .id "$work/body")
expect "a good GLS number alongside (201)" \
    "$(status /v1/shipments "${SHOP[@]}" "${J[@]}" -d "{\"tracking_number\":\"$(number gls 7)\",\"carrier\":\"gls\",\"order_id\":\"G-2\"}")" 201
IDG2=$(jq -r .id "$work/body")
err=""
for _ in $(seq 300); do
    status "/v1/shipments/$IDG" "${AGENT[@]}" >/dev/null
    err=$(jq -r '.last_error.error // empty' "$work/body")
    [ -n "$err" ] && break
    sleep 0.1
done
expect "'A,B,C,D' is recorded as invalid" "$err" invalid
polls=0
for _ in $(seq 300); do
    status "/v1/shipments/$IDG2" "${AGENT[@]}" >/dev/null
    polls=$(jq -r '.polls // 0' "$work/body")
    [ "$polls" -ge 1 ] && break
    sleep 0.1
done
expect "the good number is polled, its error not auth" \
    "$([ "$polls" -ge 1 ] && echo polled) $(jq -r '.last_error.error // "none"' "$work/body")" "polled none"

# --- erasure removes the upper-case order index too ---
expect "DELETE WS-2002: 204" "$(status "/v1/shipments/$ID2" -X DELETE "${SHOP[@]}")" 204
expect "its order index is gone" "$(rcli EXISTS wismo:idx:order:WS-2002)" 0
expect "q=ws-2002 finds nothing now" "$(search ws-2002)" ""

# --- opt-outs and [web] default_country ---
ctl opt-out sms "06 1234 5678" >/dev/null
expect "opt-out of a national number stores the E.164 one" \
    "$(rcli SISMEMBER wismo:optout sms:+31612345678)" 1
ctl opt-out email " Jan@Example.NL" >/dev/null
expect "opt-out of an e-mail stores it trimmed, lower case" \
    "$(rcli SISMEMBER wismo:optout email:jan@example.nl)" 1
write_config "$work/be.ini" "$TOKENS
[web]
default_country = be"
"$CTL" -c "$work/be.ini" add --carrier dhl --number 4827150004 --order BE-1 \
    --phone "0470 12 34 56" >"$work/be.out"
expect "default_country = be: a national number gets +32" \
    "$("$CTL" -c "$work/be.ini" show BE-1 | jq -r .phone)" +32470123456
write_config "$work/zz.ini" "[web]
default_country = ZZ"
rc=0
"$CTL" -c "$work/zz.ini" show BE-1 >/dev/null 2>"$work/zz.err" || rc=$?
expect "an unknown default_country is a configuration error (78)" "$rc" 78
grep -q 'default_country' "$work/zz.err" || fail "zz: $(cat "$work/zz.err")"

stop_wismod
summary registration
