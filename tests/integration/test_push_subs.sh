#!/usr/bin/env bash
# Carrier push subscriptions end to end (issue 12 items 3, 4 and 7): wismod
# with its own redis-server and the fake carrier, push = on for UPS, DHL,
# USPS, FedEx and DPD, the fake pushing on its accelerated clock.
#   A (fake speed 3600): one shipment per carrier is registered, polled
#     once, subscribed (DHL through its validate / activate / ready
#     handshake; DPD through the account's push URL), and then reaches its
#     scripted end from pushes alone: zero polls in between (the fake's
#     request counts), schedules of two seconds notwithstanding. Final
#     shipments are unsubscribed (DHL, USPS, FedEx); an erased one too; a
#     number the carrier refuses to subscribe is polled as before.
#   B (fake speed 30240: 14 fake days are 40 s): a UPS subscription of
#     push_lifetime = 40s is renewed before it lapses, more than once.
#   test_push_subs.sh FAKECARRIER WISMOD
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD}
WISMOD=${2:?}
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

PATH_SECRET=subsPath-0123456789abcdef
UPS_SECRET=ups-cred-subs-1
DHL_SECRET=dhl-token-subs-1
USPS_SECRET=usps-secret-subs-0123456789abcdef0123
FEDEX_SECRET=fedex-token-subs-1

# start PHASE SPEED EXTRA-INI: redis, the fake and wismod of one phase, in
# $work/PHASE; sets FAKE_URL, API, WPID, LOG.
start() {
    local dir=$work/$1
    start_redis "$dir/redis"
    FAKE_NAME=$1/fake start_fake --speed "$2"
    WPORT=$(port)
    API=http://127.0.0.1:$WPORT
    cat >"$dir/w.ini" <<INI
[daemon]
data_dir = $dir/data
claim_interval = 50ms
[redis]
url = unix://$REDIS_SOCK
[http]
listen = 127.0.0.1:$WPORT
[tokens]
shop = shop-token
agent = agent-token
[web]
public_url = $API
[schedule]
jitter = 0
night =
pending = 2s
info_received = 2s
in_transit = 2s
out_for_delivery = 2s
available_for_pickup = 2s
failed_attempt = 2s
exception = 2s
returning = 2s
[carrier.ups]
base_url = $FAKE_URL/ups
client_id = c
client_secret = s
push = on
push_path = $PATH_SECRET
push_secret = $UPS_SECRET
$3
[carrier.dhl]
base_url = $FAKE_URL/dhl
api_key = k
push = on
push_path = $PATH_SECRET
push_secret = $DHL_SECRET
[carrier.usps]
base_url = $FAKE_URL/usps
client_id = c
client_secret = s
push = on
push_path = $PATH_SECRET
push_secret = $USPS_SECRET
[carrier.fedex]
base_url = $FAKE_URL/fedex
client_id = c
client_secret = s
push = on
push_path = $PATH_SECRET
push_secret = $FEDEX_SECRET
[carrier.dpd]
base_url = $FAKE_URL/dpd
username = u
password = p
push = on
push_path = $PATH_SECRET
INI
    LOG=$dir/wismod.log
    start_wismod "$dir/w.ini" "$LOG"
}
SHOP=(-H "Authorization: Bearer shop-token" -H "Content-Type: application/json")
# register CARRIER NUMBER SCENARIO: the id into $ID
register() {
    curl -sf -X PUT -d "{\"scenario\":\"$3\"}" "$FAKE_URL/_admin/scenario/$1/$2" >/dev/null
    ID=$(curl -sf "${SHOP[@]}" \
        -d "{\"tracking_number\":\"$2\",\"carrier\":\"$1\",\"order_id\":\"SUBS-$1-$2\",\"postcode\":\"1234AB\"}" \
        "$API/v1/shipments" | jq -r .id)
    [ -n "$ID" ] && [ "$ID" != null ] || { fail "registration of $1 $2"; exit 1; }
}
field() { rcli HGET "wismo:s:{$1}" "$2"; }
subscribed() { [ "$(field "$1" push_sub)" = live ]; }
polls_of() { curl -sf "$FAKE_URL/_admin/counts" | jq -r ".carriers.$1.numbers[\"$2\"] // 0"; }
sub_of() { # sub_of CARRIER NUMBER FIELD
    curl -sf "$FAKE_URL/_admin/push" |
        jq -r --arg c "$1" --arg n "$2" --arg f "$3" \
            '[.subscriptions[] | select(.carrier == $c and .tracking_number == $n)][0][$f] | tostring'
}
stop_phase() {
    stop_wismod "$LOG"
    for s in "$PATH_SECRET" "$UPS_SECRET" "$DHL_SECRET" "$USPS_SECRET" "$FEDEX_SECRET"; do
        if grep -qF "$s" "$LOG"; then fail "a secret is in the log"; fi
    done
    stop_fake
}

# --- A: every pushing carrier, end to end ---------------------------------
start a 3600 ""
HOOK=$API/v1/carriers
curl -sf -X PUT -d "{\"url\":\"$HOOK/dpd/webhook/$PATH_SECRET\"}" \
    "$FAKE_URL/_admin/push/dpd" >/dev/null
curl -sf -X PUT -d "{\"url\":\"$HOOK/fedex/webhook/$PATH_SECRET\",\"secret\":\"$FEDEX_SECRET\"}" \
    "$FAKE_URL/_admin/push/fedex" >/dev/null
declare -A NUM=([ups]=1Z999AA10123456784 [dhl]=JVGL0555000333444 [usps]=9400111899223197428490
    [fedex]=794843185271 [dpd]=01234567890123)
declare -A ID
for c in ups dhl usps fedex dpd; do
    register "$c" "${NUM[$c]}" on_time
    ID[$c]=$ID
done
register ups 1ZREFUSED0001 on_time # not ^1Z[0-9A-Z]{16}$: UPS refuses it
REFUSED=$ID

# Expected end of each script, from the fake.
declare -A WANT_STATUS WANT_EVENTS
for c in ups dhl usps fedex dpd; do
    exp=$(curl -sf "$FAKE_URL/_admin/expected/$c/${NUM[$c]}")
    WANT_STATUS[$c]=$(jq -r '.shipments[0].status' <<<"$exp")
    WANT_EVENTS[$c]=$(jq -r '.events_total' <<<"$exp")
done
for c in ups dhl usps fedex; do
    wait_for 60 subscribed "${ID[$c]}" || fail "$c: not subscribed ($(field "${ID[$c]}" push_sub))"
done
ok "UPS, DHL, USPS and FedEx shipments subscribed"
active() { [ "$(sub_of dhl "${NUM[dhl]}" active)" = true ]; }
check "dhl: the validate / activate handshake completes" wait_for 60 active
ready() { grep -q 'msg="push notice" carrier=dhl scope="subscription.ready"' "$LOG" ||
    grep -q 'msg="push notice" carrier=dhl scope=subscription.ready' "$LOG"; }
check "dhl: subscription.ready arrives and is acknowledged" wait_for 60 ready

# Every shipment reaches the script's end from pushes alone.
at_end() { # at_end CARRIER
    local id=${ID[$1]}
    [ "$(field "$id" status)" = "${WANT_STATUS[$1]}" ] || return 1
    case $1 in
    dpd) return 0 ;; # its push codes differ from the polled ones
    *) [ "$(field "$id" event_count)" = "${WANT_EVENTS[$1]}" ] ;;
    esac
}
for c in ups dhl usps fedex dpd; do
    if wait_for 180 at_end "$c"; then
        ok "$c: reached ${WANT_STATUS[$c]} with ${WANT_EVENTS[$c]} events"
    else
        fail "$c: $(field "${ID[$c]}" status) with $(field "${ID[$c]}" event_count) events, want ${WANT_STATUS[$c]} with ${WANT_EVENTS[$c]}"
    fi
    check "$c: one poll (the first), none in between" test "$(polls_of "$c" "${NUM[$c]}")" = 1
    check "$c: wismod counted one poll" test "$(field "${ID[$c]}" polls)" = 1
done
# Final shipments are unsubscribed where the carrier has a call for it.
removed() { [ "$(sub_of "$1" "${NUM[$1]}" removed)" = true ]; }
for c in dhl usps fedex; do
    check "$c: unsubscribed once final" wait_for 60 removed "$c"
done
check "ups: subscription left to lapse (no call)" test "$(sub_of ups "${NUM[ups]}" removed)" = false
# A refused subscription: polled as before.
polled_again() { [ "$(polls_of ups 1ZREFUSED0001)" -ge 3 ]; }
check "ups: a refused number is polled as before" wait_for 60 polled_again
check "ups: ... and marked failed" test "$(field "$REFUSED" push_sub)" = failed
# An erased shipment is unsubscribed.
register usps 9400111899223197428491 stalled
ERASED=$ID
wait_for 60 subscribed "$ERASED" || fail "usps: the shipment to erase was not subscribed"
curl -sf -X DELETE -H "Authorization: Bearer shop-token" "$API/v1/shipments/$ERASED" >/dev/null
erased_removed() { [ "$(sub_of usps 9400111899223197428491 removed)" = true ]; }
check "usps: an erased shipment is unsubscribed (GET for the ETag, then DELETE)" \
    wait_for 60 erased_removed
curl -sf "$API/metrics" >"$work/metrics"
check "metrics: subscriptions counted" grep -q 'wismo_push_subscriptions_total{carrier="dhl",result="subscribed"} 1' "$work/metrics"
check "metrics: a refusal counted" grep -q 'wismo_push_subscriptions_total{carrier="ups",result="refused"} 1' "$work/metrics"
check "metrics: pushes accepted" grep -q 'wismo_push_total{carrier="usps",outcome="accepted"} [1-9]' "$work/metrics"
# Push-to-stored lag: the fake's send to wismod's answer (after the merge).
LAGS=$(curl -sf "$FAKE_URL/_admin/push" | jq -r '[.subscriptions[] | select(.pushes_ok > 0)] |
    group_by(.carrier)[] | "\(.[0].carrier)=mean \((map(.lag_ms_sum) | add) / (map(.pushes_ok) | add) | floor)ms max \(map(.lag_ms_max) | max)ms over \(map(.pushes_ok) | add) pushes"')
stop_phase

# --- B: UPS renews before its subscription lapses --------------------------
start b 30240 "push_lifetime = 40s"
register ups 1Z999AA10123456785 stalled
UPSB=$ID
wait_for 60 subscribed "$UPSB" || fail "ups: not subscribed ($(field "$UPSB" push_sub))"
UNTIL1=$(sub_of ups 1Z999AA10123456785 until)
renewed() { [ "$(sub_of ups 1Z999AA10123456785 subscribes)" -ge 2 ]; }
check "ups: resubscribed" wait_for 120 renewed
fake_now() { curl -sf "$FAKE_URL/_admin/time" | jq -r .unix; }
past_first() { [ "$(fake_now)" -gt "$((UNTIL1 + 3600))" ]; }
wait_for 120 past_first || fail "the fake clock did not pass the first subscription's end"
check "ups: resubscribed before day 14 (no lapse)" test "$(sub_of ups 1Z999AA10123456785 lapses)" = 0
check "ups: the new subscription ends later" test "$(sub_of ups 1Z999AA10123456785 until)" -gt "$UNTIL1"
stop_phase

echo "push-to-stored lag: $(tr '\n' ' ' <<<"$LAGS")"
summary "push subscriptions"
