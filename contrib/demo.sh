#!/usr/bin/env bash
# The demo: wismod on its embedded defaults (a private redis-server in a
# scratch data directory) polls ~200 shipments across all nine carriers,
# played by contrib/fakecarrier on an accelerated clock (a parcel's three
# days pass in about 15 seconds), until every shipment has reached the end
# of its script. Then a summary and where the data is.
#   contrib/demo.sh [BUILD-DIR]
set -euo pipefail

build=${1:-build-release}
here=$(cd "$(dirname "$0")/.." && pwd)
FAKE="$here/$build/contrib/fakecarrier/fakecarrier"
WISMOD="$here/$build/daemon/wismod"
CTL="$here/$build/daemon/wismoctl"
work=$(mktemp -d /tmp/wismo-demo.XXXXXX)
REDIS_SOCK=
# shellcheck source=fakerun.sh
. "$here/contrib/fakerun.sh"

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== normalising the carrier fixtures (wismoctl normalize)"
fx="$here/tests/fixtures/carriers"
for c in "${CARRIERS[@]}"; do
    n=0 ev=0
    while read -r key; do
        mapfile -t nums < <(jq -r --arg k "$key" '.[$k][]' "$fx/requests.json")
        args=()
        for x in "${nums[@]}"; do args+=(--number "$x"); done
        ev=$((ev + $("$CTL" normalize --carrier "$c" "${args[@]}" "$fx/$key" |
            jq '[.shipments[].events[]] | length')))
        n=$((n + 1))
    done < <(jq -r 'keys[]' "$fx/requests.json" | grep "^$c/")
    printf '   %-11s %d payloads, %d events\n' "$c" "$n" "$ev"
done

echo "== starting the fake carrier and wismod (embedded Redis in $work/data)"
"$FAKE" --listen 127.0.0.1:0 --speed 20000 >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
for _ in $(seq 100); do
    [ -s "$work/fake.out" ] && break
    sleep 0.05
done
FAKE_URL="http://$(head -n1 "$work/fake.out" | sed 's/^listening on //')"
write_config "$work/wismo.ini" "[tokens]
shop = demo-shop-token
agent = demo-agent-token"
"$WISMOD" -c "$work/wismo.ini" 2>"$work/wismod.log" &
WISMOD_PID=$!
pids+=("$WISMOD_PID")
REDIS_SOCK=$work/data/redis.sock
for _ in $(seq 100); do
    redis-cli -s "$REDIS_SOCK" ping >/dev/null 2>&1 && break
    sleep 0.1
done
register "$work/wismo.ini" 0 22
echo "   registered with wismoctl add: $(cat "$work/reg.out")"
API="http://127.0.0.1:$(sed -n 's/.*msg=ready.* port=\([0-9]*\).*/\1/p' "$work/wismod.log")"
curl -s -o /dev/null -H 'Authorization: Bearer demo-shop-token' -H 'Content-Type: application/json' \
    -d "{\"tracking_number\":\"$(number postnl 99)\",\"carrier\":\"postnl\",\"order_id\":\"DEMO-1\",\"postcode\":\"1234 AB\"}" \
    "$API/v1/shipments"
echo "$(number postnl 99)" | sed 's/^/postnl:/' >>"$KEYS_FILE"
echo "   and one through the API: POST $API/v1/shipments (order DEMO-1)"

# One line per carrier: statuses, carrier requests, events stored.
TABLE_LUA='local t = {}
local idx = redis.call("HGETALL", "wismo:idx:num")
for i = 1, #idx, 2 do
  local c = string.match(idx[i], "^[^:]+")
  local h = redis.call("HMGET", "wismo:s:{" .. idx[i + 1] .. "}", "status",
    "polls", "event_count")
  t[c] = t[c] or {n = 0, polls = 0, events = 0, st = {}}
  t[c].n = t[c].n + 1
  t[c].polls = t[c].polls + (tonumber(h[2]) or 0)
  t[c].events = t[c].events + (tonumber(h[3]) or 0)
  t[c].st[h[1]] = (t[c].st[h[1]] or 0) + 1
end
return cjson.encode(t)'
table() {
    rcli --raw EVAL "$TABLE_LUA" 0 | jq -r '
        to_entries | sort_by(.key)[] | .key as $c | .value |
        [$c, .n, .polls, .events,
         (.st | to_entries | sort_by(.key) | map("\(.key) \(.value)") | join(", "))] |
        @tsv' | awk -F'\t' '{printf "   %-11s %4s %6s %6s  %s\n", $1, $2, $3, $4, $5}'
}

echo "== polling (fake clock x20000); live table: carrier, shipments, polls, events, statuses"
start=$SECONDS
done_n=-1
dump_expected "$work/exp.json"
while [ $((SECONDS - start)) -lt 100 ]; do
    dump_store "$work/store.json"
    left=$(compare "$work/store.json" "$work/exp.json" 2>/dev/null)
    total=$(wc -l <"$KEYS_FILE")
    if [ -t 1 ]; then printf '\033[H\033[2J'; fi
    printf -- '-- %3ds  %d/%d shipments at the end of their script\n' \
        $((SECONDS - start)) $((total - left)) "$total"
    table
    [ "$left" -eq 0 ] && break
    sleep 1
    dump_expected "$work/exp.json"
done
echo
if [ "$left" -eq 0 ]; then
    echo "== done in $((SECONDS - start)) s: every shipment holds exactly its scripted events"
else
    echo "== stopped after $((SECONDS - start)) s with $left shipments still moving"
fi
id=$(rcli HGET wismo:idx:num "postnl:$(number postnl 3)")
echo "== one shipment (wismoctl -c $work/wismo.ini show $id):"
"$CTL" -c "$work/wismo.ini" show "$id" | head -30
echo "   ..."
echo "== the change stream: $(rcli XLEN wismo:changes) entries; the last three:"
rcli --raw EVAL 'local out = {}
for _, e in ipairs(redis.call("XREVRANGE", "wismo:changes", "+", "-", "COUNT", 3)) do
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  out[#out + 1] = e[1] .. "  " .. f.carrier .. " " .. f.tracking_number .. ": " ..
    f.previous_status .. " -> " .. f.status .. " (+" .. f.events_added .. " events)"
end
return out' 0 | sed 's/^/   /'
echo "== the shopper's view: curl '$API/v1/track/DEMO-1?postcode=1234ab&lang=nl'"
curl -s "$API/v1/track/DEMO-1?postcode=1234ab&lang=nl" |
    jq -c '.shipments[] | {carrier, tracking_number, status, status_text, estimated_delivery, events: (.events | length)}'
echo "== stopping wismod (SIGTERM)"
kill -TERM "$WISMOD_PID"
wait "$WISMOD_PID" && echo "   wismod exited 0"
tail -n 3 "$work/wismod.log" | sed 's/^/   /'
cat <<EOF2
== where the data is
   configuration      $work/wismo.ini
   Redis (AOF)        $work/data  (private redis-server, stopped with wismod)
   wismod log         $work/wismod.log
   restart it:        $WISMOD -c $work/wismo.ini
   then e.g.:         $CTL -c $work/wismo.ini stats
EOF2
