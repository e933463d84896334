#!/usr/bin/env bash
# Redis failover under load (issue 10 item 4), loopback only: a primary, a
# replica and three redis-sentinels; wismod finds the primary through the
# sentinels ([redis] sentinels, master) and acknowledges a registration
# only once the replica has it (wait_replicas = 1). Registrations, polls of
# the fake carrier and webhook notifications run while the primary is
# killed with SIGKILL; it is started again a little later, as systemd
# would, and the sentinels make it a replica of the new primary.
# Checked: wismod follows the new primary; every registration answered 201
# or 200 is on it; every shipment ends with exactly its scripted events and
# status (nothing lost, nothing doubled); a notification key is never sent
# with two different bodies and no shipment gets two delivered webhooks.
# Prints how long registrations were refused. Then a failover asked of the
# sentinels (the primary stays up, demoted): -READONLY makes wismod ask
# again.
#   test_failover.sh FAKECARRIER WISMOD
set -Eeuo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited $?" >&2' ERR

FAKE=${1:?usage: $0 FAKECARRIER WISMOD}
WISMOD=${2:?}
SPEED=20000
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

P1=$(port) P2=$(port) S1=$(port) S2=$(port) S3=$(port)
WPORT=$(port)

redis_start() { # redis_start NAME PORT ARGS...: sets PID_<NAME>
    mkdir -p "$work/$1"
    redis-server --port "$2" --bind 127.0.0.1 --dir "$work/$1" --save '' \
        --appendonly yes --appendfsync everysec "${@:3}" >"$work/$1/log" 2>&1 &
    pids+=($!)
    eval "PID_$1=$!"
    wait_for 30 redis-cli -p "$2" ping >/dev/null 2>&1 ||
        { echo "FAIL: redis $1 did not start" >&2; exit 1; }
}
redis_start a "$P1"
redis_start b "$P2" --replicaof 127.0.0.1 "$P1"
linked() { redis-cli -p "$P2" INFO replication | grep -q 'master_link_status:up'; }
wait_for 30 linked || { echo "FAIL: the replica never synced" >&2; exit 1; }
for s in "$S1" "$S2" "$S3"; do
    mkdir -p "$work/s$s"
    cat >"$work/s$s/sentinel.conf" <<CONF
port $s
bind 127.0.0.1
dir $work/s$s
sentinel monitor wismo 127.0.0.1 $P1 2
sentinel down-after-milliseconds wismo 1000
sentinel failover-timeout wismo 10000
sentinel parallel-syncs wismo 1
CONF
    redis-sentinel "$work/s$s/sentinel.conf" >"$work/s$s/log" 2>&1 &
    pids+=($!)
done
# master_field SENTINEL FIELD: a field of SENTINEL MASTER wismo.
master_field() {
    redis-cli -p "$1" SENTINEL MASTER wismo 2>/dev/null |
        awk -v f="$2" 'prev == f {print; exit} {prev = $0}'
}
sentinels_ready() {
    local s
    for s in "$S1" "$S2" "$S3"; do
        [ "$(master_field "$s" num-other-sentinels)" = 2 ] &&
            [ "$(master_field "$s" num-slaves)" = 1 ] || return 1
    done
}
wait_for 60 sentinels_ready || { echo "FAIL: the sentinels never saw each other" >&2; exit 1; }
ok "a primary, a replica and three sentinels"

start_sinks
start_fake --speed "$SPEED"
REDIS_SOCK=
write_config "$work/w.ini" "[redis]
sentinels = 127.0.0.1:$S1, 127.0.0.1:$S2,127.0.0.1:$S3
master = wismo
wait_replicas = 1
wait_timeout = 1s
[tokens]
shop = shop-token
[notify]
positive = delivered
quiet_hours =
[webhook]
url = http://127.0.0.1:$HP/hook
secret = failover-secret"
sed -i "s/^listen = 127.0.0.1:0$/listen = 127.0.0.1:$WPORT/" "$work/w.ini"
start_wismod "$work/w.ini"
grep -q "redis primary from the sentinels.* redis=127.0.0.1:$P1" "$work/wismod.log" &&
    ok "wismod asked the sentinels for the primary (:$P1)" || fail "no primary from the sentinels"

# The shop's registrations: each retried until answered 201/200 (it is
# idempotent), with the time of every answer, in the background.
KEYS_FILE=$work/keys.txt
: >"$KEYS_FILE"
for c in "${CARRIERS[@]}"; do
    for i in $(seq 500 529); do echo "$c $(number "$c" "$i")"; done
done >"$work/want.txt"
register_all() {
    local c n code deadline
    while read -r c n; do
        deadline=$((SECONDS + 120))
        while :; do
            code=$(curl -s -o "$work/reg.body" -w '%{http_code}' --max-time 10 \
                -H "Authorization: Bearer shop-token" -H "Content-Type: application/json" \
                -d "{\"tracking_number\":\"$n\",\"carrier\":\"$c\",\"order_id\":\"FO-$c-$n\"}" \
                "$API/v1/shipments" || true)
            echo "$(date +%s%N) $code" >>"$work/answers.txt"
            if [ "$code" = 201 ] || [ "$code" = 200 ]; then
                echo "$(jq -r .id "$work/reg.body") $c:$n" >>"$work/acked.txt"
                break
            fi
            [ $SECONDS -lt $deadline ] || { echo "gave up on $c $n: $code" >>"$work/gaveup.txt"; break; }
            sleep 0.1
        done
        sleep 0.02
    done <"$work/want.txt"
}
register_all &
REG=$!
pids+=("$REG")
wait_for 60 eval '[ "$(cat "$work/acked.txt" 2>/dev/null | wc -l)" -ge 80 ]' ||
    fail "registrations are slow: $(wc -l <"$work/acked.txt" 2>/dev/null)"
kill -KILL "$PID_a"
KILLED_AT=$(date +%s%N)
ok "primary killed with SIGKILL after $(wc -l <"$work/acked.txt") registrations"
sleep 3
redis_start a "$P1" # back as systemd would start it; the sentinels demote it
new_primary() {
    local p
    p=$(redis-cli -p "$S1" SENTINEL get-master-addr-by-name wismo | tail -n1)
    [ "$p" = "$P2" ]
}
wait_for 60 new_primary && ok "the sentinels promoted the replica (:$P2)" ||
    fail "no failover: $(redis-cli -p "$S1" SENTINEL get-master-addr-by-name wismo | tr '\n' ' ')"
wait "$REG" || true
[ ! -s "$work/gaveup.txt" ] && ok "every registration was answered 201/200 in the end" ||
    fail "registrations given up: $(head -3 "$work/gaveup.txt")"
grep -q "redis primary from the sentinels.* redis=127.0.0.1:$P2" "$work/wismod.log" &&
    ok "wismod followed the failover to :$P2" || fail "wismod never used the new primary"

rcli() { redis-cli -p "$P2" "$@"; }
cut -d' ' -f2 "$work/acked.txt" | sort -u >"$KEYS_FILE"
missing=0
while read -r id key; do
    [ "$(rcli EXISTS "wismo:s:{$id}")" = 1 ] || { missing=$((missing + 1)); echo "lost: $id $key" >&2; }
done <"$work/acked.txt"
[ "$missing" -eq 0 ] && ok "every acknowledged registration is on the new primary ($(wc -l <"$KEYS_FILE"))" ||
    fail "$missing acknowledged registrations lost"

# Every shipment ends exactly as scripted: events lost with the old primary
# came back at a later poll; none is doubled.
settled() {
    dump_store "$work/store.json"
    dump_expected "$work/exp.json"
    [ "$(compare "$work/store.json" "$work/exp.json" 2>/dev/null)" -eq 0 ]
}
if wait_for 180 settled; then
    ok "all $(wc -l <"$KEYS_FILE") shipments hold exactly their scripted events and final status"
else
    fail "$(compare "$work/store.json" "$work/exp.json") shipments differ from their script"
fi

# Notifications: every delivered shipment got its webhook; a key is never
# sent with two bodies; no shipment got two delivered webhooks.
delivered=$(jq '[.[] | select(.status == "delivered")] | length' "$work/store.json")
hooks_done() {
    [ "$(jq -s '[.[] | select(.path == "/hook" and .status < 300) |
        (.body | fromjson | select(.reason == "delivered") | .shipment_id)] | unique | length' \
        "$work/sink/http.jsonl" 2>/dev/null || echo 0)" -ge "$delivered" ]
}
wait_for 120 hooks_done && ok "a webhook for each of the $delivered delivered shipments" ||
    fail "webhooks for fewer than $delivered delivered shipments"
jq -s -e '[.[] | select(.path == "/hook") | {k: .headers["Wismo-Idempotency-Key"], b: .body}]
    | group_by(.k) | all(map(.b) | unique | length == 1)' "$work/sink/http.jsonl" >/dev/null &&
    ok "a notification key never carried two bodies" || fail "one key, two bodies"
jq -s -e '[.[] | select(.path == "/hook" and .status < 300) | .body | fromjson |
    select(.reason == "delivered") | .shipment_id]
    | group_by(.) | all(length == 1)' "$work/sink/http.jsonl" >/dev/null &&
    ok "no shipment got two delivered webhooks" || fail "a shipment got two delivered webhooks"

# How long registrations were refused around the kill.
awk -v k="$KILLED_AT" '
    $1 >= k && $2 != 201 && $2 != 200 && first == "" { first = $1 }
    first != "" && ($2 == 201 || $2 == 200) && back == "" { back = $1 }
    $2 != 201 && $2 != 200 { refused++ }
    END {
        if (first == "") print "registrations: none refused"
        else printf "registrations refused for %.1f s after the kill (%.1f s from the first refusal), %d refused answers\n",
            (back - k) / 1e9, (back - first) / 1e9, refused
    }' "$work/answers.txt"
grep -c 'redis link up' "$work/wismod.log" | sed 's/^/redis links up: /'

# A failover the sentinels are asked for (the primary stays up and is
# demoted): wismod's next write gets -READONLY, it asks again and goes on
# with the new primary; a registration then gets its 201.
redis-cli -p "$S1" SENTINEL FAILOVER wismo >/dev/null
back_to_a() {
    [ "$(redis-cli -p "$S1" SENTINEL get-master-addr-by-name wismo | tail -n1)" = "$P1" ]
}
wait_for 60 back_to_a || fail "the asked failover did not happen"
register_after() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        -H "Authorization: Bearer shop-token" -H "Content-Type: application/json" \
        -d "{\"tracking_number\":\"$(number ups 600)\",\"carrier\":\"ups\",\"order_id\":\"FO-AFTER\"}" \
        "$API/v1/shipments" || true)
    [ "$code" = 201 ] || [ "$code" = 200 ]
}
# The sentinels also close the demoted primary's client links, so wismod
# may see a lost link rather than -READONLY: either makes it ask again.
on_a_again() {
    [ "$(grep -c "redis primary from the sentinels.* redis=127.0.0.1:$P1" "$work/wismod.log")" -gt 2 ]
}
if wait_for 60 on_a_again && wait_for 60 register_after; then
    ok "an asked failover: wismod on :$P1 again ($(grep -c 'read-only now' "$work/wismod.log" || true) -READONLY replies seen), a registration answered 201"
else
    fail "wismod did not follow the asked failover"
fi

stop_wismod
kill -TERM "$FAKE_PID" 2>/dev/null || true
summary failover
