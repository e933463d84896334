#!/usr/bin/env bash
# Agent search and listing page through every shipment exactly once
# (issue 13 item 16): q=1234ab matching 151 shipments answers pages of 50
# with a cursor to the next, the pages never repeat, and limit=10&cursor=10
# is the second page, not the first again. Loopback only: its own
# redis-server, the fake carrier and wismod.
#   test_search.sh FAKECARRIER WISMOD
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD}
WISMOD=${2:?}
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

start_redis
start_fake --speed 1
write_config "$work/w.ini" "[http]
listen = 127.0.0.1:0
[tokens]
shop = shop-token
agent = agent-token"
start_wismod "$work/w.ini"
AGENT=(-H "Authorization: Bearer agent-token")

# 151 shipments with postcode 1234 AB, 9 with another one.
for i in $(seq 1 160); do
    pc="1234 AB"
    [ "$i" -gt 151 ] && pc="9999 ZZ"
    printf '{"tracking_number":"%s","carrier":"ups","order_id":"S-%d","postcode":"%s"}\n' \
        "$(number ups "$i")" "$i" "$pc"
done >"$work/reg.jsonl"
while read -r body; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer shop-token" \
        -H "Content-Type: application/json" -d "$body" "$API/v1/shipments")
    [ "$code" = 201 ] || fail "registration answered $code: $body"
done <"$work/reg.jsonl"

# pages URL: follows the cursor from URL; every page's ids, one line per
# page ("id id id"), into $work/pages.
pages() {
    local url=$1 cursor="" n=0 sep
    : >"$work/pages"
    while :; do
        sep='?'
        case $url in *\?*) sep='&' ;; esac
        curl -sf "${AGENT[@]}" "$API$url${cursor:+${sep}cursor=$cursor}" >"$work/page.json" ||
            { fail "GET $url cursor=$cursor failed"; return; }
        jq -r '[.shipments[].id] | join(" ")' "$work/page.json" >>"$work/pages"
        cursor=$(jq -r '.cursor // empty' "$work/page.json")
        n=$((n + 1))
        [ -n "$cursor" ] && [ "$n" -lt 100 ] || break
    done
}

pages "/v1/shipments?q=1234ab"
sizes=$(awk '{print NF}' "$work/pages" | paste -sd' ')
total=$(tr ' ' '\n' <"$work/pages" | grep -c . || true)
distinct=$(tr ' ' '\n' <"$work/pages" | grep . | sort -u | wc -l)
[ "$sizes" = "50 50 50 1" ] && ok "q=1234ab: pages of $sizes" || fail "q=1234ab pages: $sizes"
[ "$total" -eq 151 ] && [ "$distinct" -eq 151 ] &&
    ok "q=1234ab pages through all 151 matches once each" ||
    fail "q=1234ab: $total ids, $distinct distinct, want 151"
others=$(tr ' ' '\n' <"$work/pages" | grep . | while read -r id; do
    curl -sf "${AGENT[@]}" "$API/v1/shipments/$id" | jq -r .postcode
done | sort -u | paste -sd' ')
[ "$others" = "1234AB" ] && ok "every match has the postcode" || fail "postcodes seen: $others"
# The same walk again gives the same pages.
cp "$work/pages" "$work/pages.1"
pages "/v1/shipments?q=1234ab"
cmp -s "$work/pages" "$work/pages.1" && ok "the same search pages the same way twice" ||
    fail "a second walk gave other pages"

# limit=10: the second page is not the first again, for search and list.
for base in "/v1/shipments?q=1234ab&limit=10" "/v1/shipments?limit=10"; do
    p0=$(curl -sf "${AGENT[@]}" "$API$base" | jq -r '[.shipments[].id] | join(" ")')
    c0=$(curl -sf "${AGENT[@]}" "$API$base" | jq -r '.cursor')
    p1=$(curl -sf "${AGENT[@]}" "$API$base&cursor=10" | jq -r '[.shipments[].id] | join(" ")')
    both=$(printf '%s %s' "$p0" "$p1" | tr ' ' '\n' | grep . | sort -u | wc -l)
    [ "$c0" = 10 ] && [ "$both" -eq 20 ] && ok "$base: cursor 10, then 10 others" ||
        fail "$base: cursor '$c0', pages share $((20 - both)) ids"
done
pages "/v1/shipments?limit=10"
total=$(tr ' ' '\n' <"$work/pages" | grep -c . || true)
distinct=$(tr ' ' '\n' <"$work/pages" | grep . | sort -u | wc -l)
[ "$total" -eq 160 ] && [ "$distinct" -eq 160 ] && ok "the list pages through all 160 once each" ||
    fail "list: $total ids, $distinct distinct, want 160"
# A cursor past the end: an empty page, no cursor; an out-of-range one 400.
r=$(curl -sf "${AGENT[@]}" "$API/v1/shipments?q=1234ab&cursor=151" | jq -c '[(.shipments | length), .cursor]')
[ "$r" = "[0,null]" ] && ok "q cursor past the end: empty, no next" || fail "q cursor 151: $r"
r=$(curl -s -o /dev/null -w '%{http_code}' "${AGENT[@]}" "$API/v1/shipments?q=1234ab&cursor=99999999999999999999")
[ "$r" = 400 ] && ok "q cursor out of range: 400" || fail "q cursor out of range: $r"

stop_wismod
summary search
