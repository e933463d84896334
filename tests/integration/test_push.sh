#!/usr/bin/env bash
# Carrier push receivers end to end (issue 12 items 2 and 8; PUSH.md):
# wismod with its own redis-server and the fake carrier, push = on for UPS,
# DHL, USPS, FedEx and DPD. One shipment per carrier is registered and
# polled once; then signed pushes go to
# /v1/carriers/{carrier}/webhook/{push_path}, each carrying a newer event:
# it is stored when the answer comes (the merge precedes the answer), with
# no poll in between (the fake carrier's request counts). A replay changes
# nothing; a late, older event is stored without moving the status back;
# forged, unsigned and wrongly signed pushes get 401 and change nothing; a
# wrong path is 404; a push for a number nobody registered is acknowledged
# and creates nothing; DPD's answer echoes pushid; an oversized body is 413;
# /metrics counts per carrier and outcome; no secret reaches the log.
#   test_push.sh FAKECARRIER WISMOD
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD}
WISMOD=${2:?}
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

start_redis
start_fake --speed 1

PATH_SECRET=pUsHpAtH-0123456789abcdef
UPS_SECRET=ups-credential-5e3c
DHL_SECRET=dhl-token-77aa
USPS_SECRET=usps-hmac-key-0123456789abcdef012345
FEDEX_SECRET=fedex-security-token-9f
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
admin = admin-token
[web]
public_url = http://127.0.0.1:9
[schedule]
jitter = 0
night =
[carrier.ups]
base_url = $FAKE_URL/ups
client_id = c
client_secret = s
push = on
push_path = $PATH_SECRET
push_secret = $UPS_SECRET
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
"$WISMOD" -t -c "$work/w.ini" >/dev/null 2>"$work/t.err" ||
    { cat "$work/t.err" >&2; exit 1; }
start_wismod "$work/w.ini"
SHOP=(-H "Authorization: Bearer shop-token" -H "Content-Type: application/json")
AGENT=(-H "Authorization: Bearer agent-token")

# -t refuses push without what it needs.
bad_ini() { # bad_ini SED-EXPRESSION EXPECTED-MESSAGE
    sed "$1" "$work/w.ini" >"$work/bad.ini"
    ! "$WISMOD" -t -c "$work/bad.ini" >/dev/null 2>"$work/bad.err" &&
        grep -q "$2" "$work/bad.err"
}
check "-t: push_secret required" bad_ini "/^push_secret = $UPS_SECRET/d" "push_secret is missing"
check "-t: public_url required" bad_ini '/^public_url/d' "public_url is missing"
check "-t: a short push_path refused" bad_ini "0,/^push_path = .*/s//push_path = short/" "push_path"
check "-t: USPS secret of 32 characters" bad_ini "s/^push_secret = $USPS_SECRET/push_secret = short/" "at least 32"
check "-t: a carrier without push" bad_ini 's/^\[carrier.dpd\]/[carrier.gls]/' "no push"
if grep -q -e "$UPS_SECRET" -e "$PATH_SECRET" "$work"/*.err; then
    fail "-t echoed a secret"
fi

declare -A NUM=([ups]=1Z999AA10123456784 [dhl]=JVGL0555000111222 [usps]=9400111899223197428490
    [fedex]=794843185271 [dpd]=01234567890123)
declare -A ID
for c in ups dhl usps fedex dpd; do
    curl -sf -X PUT -d '{"scenario":"on_time","elapsed":57600}' \
        "$FAKE_URL/_admin/scenario/$c/${NUM[$c]}" >/dev/null
    ID[$c]=$(curl -sf "${SHOP[@]}" \
        -d "{\"tracking_number\":\"${NUM[$c]}\",\"carrier\":\"$c\",\"order_id\":\"PUSH-$c\",\"postcode\":\"1234AB\"}" \
        "$API/v1/shipments" | jq -r .id)
done
field() { rcli HGET "wismo:s:{$1}" "$2"; }
polled() { [ "$(field "$1" polls)" = 1 ] && [ "$(field "$1" status)" = in_transit ]; }
for c in ups dhl usps fedex dpd; do
    wait_for 60 polled "${ID[$c]}" || fail "$c: first poll ($(field "${ID[$c]}" status))"
done
curl -sf -X POST "$FAKE_URL/_admin/reset-counts" >/dev/null
polls_of() { curl -sf "$FAKE_URL/_admin/counts" | jq -r ".carriers.$1.numbers[\"$2\"] // 0"; }

# Times for the pushed events: a minute ago (newer than anything stored)
# and two days ago (older than anything stored).
NOW=$(date -u +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
T_NEW=$((NOW - 60))
T_OLD=$((NOW - 2 * 86400))

hook() { echo "$API/v1/carriers/$1/webhook/$PATH_SECRET"; }
# post CARRIER BODYFILE HEADER...: prints "status seconds" and keeps the
# answer in $work/answer
post() {
    curl -s -o "$work/answer" -w '%{http_code} %{time_total}\n' -X POST \
        -H "Content-Type: application/json" "${@:3}" --data-binary "@$2" "$(hook "$1")"
}
hmac() { # hmac KEY FILE: base64 HMAC-SHA256
    "$PY" -c 'import base64,hashlib,hmac,sys
print(base64.b64encode(hmac.new(sys.argv[1].encode(), open(sys.argv[2],"rb").read(), hashlib.sha256).digest()).decode())' "$1" "$2"
}

# Bodies: $work/<carrier>.<new|old>.json
"$PY" - "$work" "$T_NEW" "$T_OLD" "${NUM[ups]}" "${NUM[dhl]}" "${NUM[usps]}" "${NUM[fedex]}" "$USPS_SECRET" <<'PYEOF'
import base64, datetime, hashlib, hmac, json, sys
work, t_new, t_old = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ups, dhl, usps, fedex, usps_secret = sys.argv[4:9]
def utc(t): return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
def write(name, obj):
    with open(f"{work}/{name}", "w") as f: json.dump(obj, f)
for kind, t, ups_code, desc in (("new", t_new, "021", "Out For Delivery Today"),
                                ("old", t_old, "005", "Departed from Facility")):
    d = utc(t)
    write(f"ups.{kind}.json", {"trackingNumber": f" {ups} ", "localActivityDate": d.strftime("%Y%m%d"),
        "localActivityTime": d.strftime("%H%M%S"), "activityLocation": {"city": "CHARLOTTE",
        "stateProvince": "NC", "postalCode": "28209", "country": "US"},
        "activityStatus": {"type": "I", "code": "OT" if kind == "new" else "DP", "description": desc,
        "descriptionCode": ups_code}, "scheduledDeliveryDate": "", "gmtActivityDate": d.strftime("%Y%m%d"),
        "gmtActivityTime": d.strftime("%H%M%S")})
    write(f"dhl.{kind}.json", {"scope": "subscription.push", "self": "x", "shipments": [{"id": dhl,
        "service": "parcel-nl", "events": [{"timestamp": d.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "statusCode": "transit", "status": "The shipment has been loaded onto the delivery vehicle" if kind == "new" else "Sorted at hub",
        "description": "The shipment has been loaded onto the delivery vehicle" if kind == "new" else "Sorted at hub",
        "location": {"address": {"addressLocality": "Utrecht", "countryCode": "NL"}}}]}]})
    payload = json.dumps({"trackingNumber": usps, "trackingEvents": [{"eventTimestamp": d.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "GMTTimestamp": d.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventType": "Out for Delivery" if kind == "new" else "Departed USPS Regional Facility",
        "eventCode": "OF" if kind == "new" else "T1", "eventCity": "NEW YORK", "eventState": "NY",
        "eventZIP": "10001", "eventCountry": "US"}]})
    ts = d.strftime("%Y-%m-%dT%H:%M:%SZ")
    write(f"usps.{kind}.json", {"subscriptionId": "sub-1", "timestamp": ts, "payload": payload})
    with open(f"{work}/usps.{kind}.mac", "w") as f:
        f.write(base64.b64encode(hmac.new(usps_secret.encode(), (ts + payload).encode(), hashlib.sha256).digest()).decode())
    write(f"fedex.{kind}.json", {"transactionId": "t-1", "output": {"completeTrackResults": [{"trackingNumber": fedex,
        "trackResults": [{"trackingNumberInfo": {"trackingNumber": fedex},
        "scanEvents": [{"date": d.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "eventType": "OD" if kind == "new" else "DP",
        "eventDescription": "On FedEx vehicle for delivery" if kind == "new" else "Departed FedEx hub",
        "scanLocation": {"city": "MEMPHIS", "stateOrProvinceCode": "TN", "countryCode": "US"}}]}]}]}})
PYEOF
berlin() { TZ=Europe/Berlin date -d "@$1" +%d%m%Y%H%M%S; }
dpd_query() { # dpd_query PUSHID PNR STATUS TIME
    echo "pushid=$1&pnr=$2&status=$3&statusdate=$(berlin "$4")&depot=0163"
}
# send CARRIER KIND [extra curl args]: a correctly authenticated push
send() {
    case $1 in
    ups) post ups "$work/ups.$2.json" -H "credential: $UPS_SECRET" -H "User-Agent: UPSPubSubTrackingService" "${@:3}" ;;
    dhl) post dhl "$work/dhl.$2.json" -H "Wismo-Push-Token: $DHL_SECRET" "${@:3}" ;;
    usps) post usps "$work/usps.$2.json" -H "X-HMAC: $(cat "$work/usps.$2.mac")" "${@:3}" ;;
    fedex) post fedex "$work/fedex.$2.json" -H "fdx-signature: $(hmac "$FEDEX_SECRET" "$work/fedex.$2.json")" "${@:3}" ;;
    dpd)
        local t=$T_NEW st=delivery_carload
        [ "$2" = old ] && { t=$T_OLD; st=pickup_depot; }
        curl -s -o "$work/answer" -w '%{http_code} %{time_total}\n' \
            "$(hook dpd)?$(dpd_query "77$2" "${NUM[dpd]}" "$st" "$t")" ;;
    esac
}
events() { field "$1" event_count; }
changes() { rcli XLEN wismo:changes; }

# 1. A newer event: stored before the answer, status out_for_delivery.
declare -A LAG
for c in ups dhl usps fedex dpd; do
    before=$(events "${ID[$c]}")
    read -r code secs < <(send "$c" new)
    LAG[$c]=$secs
    [ "$code" = 200 ] || fail "$c: push answered $code: $(cat "$work/answer")"
    after=$(events "${ID[$c]}")
    check "$c: the pushed event is stored when the answer comes ($before -> $after, ${secs}s)" \
        test "$after" -gt "$before"
    check "$c: status follows the newer pushed event" \
        test "$(field "${ID[$c]}" status)" = out_for_delivery
    check "$c: push time recorded" test -n "$(field "${ID[$c]}" push_ms)"
done
check "dpd: the answer echoes pushid" \
    grep -qx '<push><pushid>77new</pushid><status>OK</status></push>' "$work/answer"
entry=$(rcli XREVRANGE wismo:changes + - COUNT 1)
check "a change-stream entry says source push" grep -q push <<<"$entry"

# 2. A replay changes nothing.
for c in ups dhl usps fedex dpd; do
    before=$(events "${ID[$c]}") ch=$(changes)
    read -r code _ < <(send "$c" new)
    check "$c: a replay is acknowledged ($code) and changes nothing" \
        test "$code" = 200 -a "$(events "${ID[$c]}")" = "$before" -a "$(changes)" = "$ch"
done

# 3. A late, older event: stored, the status does not move back.
for c in ups dhl usps fedex dpd; do
    before=$(events "${ID[$c]}")
    read -r code _ < <(send "$c" old)
    check "$c: a late event is stored ($code)" test "$(events "${ID[$c]}")" -gt "$before"
    check "$c: ... and the status stays out_for_delivery" \
        test "$(field "${ID[$c]}" status)" = out_for_delivery
done

# 4. Forged, unsigned, wrongly signed: 401 and nothing stored.
forged() { # forged CARRIER HEADER-ARGS...: 401 and no change
    local c=$1 before ch code
    before=$(events "${ID[$c]}") ch=$(changes)
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Content-Type: application/json" \
        "${@:2}" --data-binary "@$work/$c.new.json" "$(hook "$c")")
    [ "$code" = 401 ] && [ "$(events "${ID[$c]}")" = "$before" ] && [ "$(changes)" = "$ch" ]
}
check "ups: wrong credential 401" forged ups -H "credential: ${UPS_SECRET}x"
check "ups: no credential 401" forged ups
check "dhl: wrong token 401" forged dhl -H "Wismo-Push-Token: nope"
check "dhl: no token 401" forged dhl
check "usps: HMAC of another body 401" forged usps -H "X-HMAC: $(cat "$work/usps.old.mac")"
check "usps: unsigned 401" forged usps
check "fedex: signed with another key 401" forged fedex -H "fdx-signature: $(hmac wrong "$work/fedex.new.json")"
check "fedex: unsigned 401" forged fedex
# A body changed after signing.
sed 's/On FedEx vehicle/On FedEx truck/' "$work/fedex.new.json" >"$work/fedex.tampered.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    -H "fdx-signature: $(hmac "$FEDEX_SECRET" "$work/fedex.new.json")" \
    --data-binary "@$work/fedex.tampered.json" "$(hook fedex)")
check "fedex: a tampered body 401 ($code)" test "$code" = 401

# 5. Wrong path, unknown carrier, a carrier without push, wrong method.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "credential: $UPS_SECRET" \
    --data-binary "@$work/ups.new.json" "$API/v1/carriers/ups/webhook/${PATH_SECRET}x")
check "a wrong push_path is 404 ($code)" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/v1/carriers/gls/webhook/$PATH_SECRET")
check "a carrier without push is 404 ($code)" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/v1/carriers/nope/webhook/$PATH_SECRET")
check "an unknown carrier is 404 ($code)" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' "$(hook ups)")
check "GET on UPS's receiver is 405 ($code)" test "$code" = 405

# 6. A number nobody registered: acknowledged, nothing created.
created=$(rcli ZCARD wismo:idx:created)
sed "s/${NUM[ups]}/1Z999AA10999999999/" "$work/ups.new.json" >"$work/ups.unknown.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "credential: $UPS_SECRET" \
    --data-binary "@$work/ups.unknown.json" "$(hook ups)")
check "ups: an unknown number is acknowledged ($code)" test "$code" = 200
read -r code _ < <(curl -s -o "$work/answer" -w '%{http_code} %{time_total}\n' \
    "$(hook dpd)?$(dpd_query 991 09999999999999 delivery_customer "$T_NEW")")
check "dpd: an unknown number is acknowledged with the echo ($code)" \
    grep -q '<pushid>991</pushid>' "$work/answer"
check "nothing was created" test "$(rcli ZCARD wismo:idx:created)" = "$created" \
    -a -z "$(rcli HGET wismo:idx:num ups:1Z999AA10999999999)"

# 7. Malformed and oversized.
printf '{"trackingNumber":' >"$work/bad.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "credential: $UPS_SECRET" \
    --data-binary "@$work/bad.json" "$(hook ups)")
check "ups: an authenticated but unreadable push is 400 ($code)" test "$code" = 400
head -c 300000 /dev/zero | tr '\0' ' ' >"$work/big.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "credential: $UPS_SECRET" \
    --data-binary "@$work/big.json" "$(hook ups)")
check "a body over 256 KiB is 413 ($code)" test "$code" = 413

# 8. DHL's other scopes: logged and counted, 200.
echo '{"scope":"subscription.ready","self":"x"}' >"$work/ready.json"
read -r code _ < <(post dhl "$work/ready.json" -H "Wismo-Push-Token: $DHL_SECRET")
check "dhl: subscription.ready is acknowledged ($code)" test "$code" = 200

# 9. No poll happened while the pushes came in.
for c in ups dhl usps fedex dpd; do
    check "$c: no poll between the pushes" test "$(polls_of "$c" "${NUM[$c]}")" = 0
done

# 10. /metrics per carrier and outcome.
curl -sf "$API/metrics" >"$work/metrics"
metric() { awk -v m="wismo_push_total{carrier=\"$1\",outcome=\"$2\"}" '$1 == m { print $2 }' "$work/metrics"; }
for c in ups dhl usps fedex dpd; do
    check "$c: accepted counted" test "$(metric "$c" accepted)" = 2
    check "$c: duplicate counted" test "$(metric "$c" duplicate)" = 1
done
check "ups: unauthorised counted" test "$(metric ups unauthorised)" = 2
check "fedex: unauthorised counted" test "$(metric fedex unauthorised)" = 3
check "ups: unknown counted" test "$(metric ups unknown)" = 1
check "ups: malformed counted" test "$(metric ups malformed)" = 2
check "dhl: notice counted" test "$(metric dhl notice)" = 1

# 11. No secret in the log.
for s in "$PATH_SECRET" "$UPS_SECRET" "$DHL_SECRET" "$USPS_SECRET" "$FEDEX_SECRET"; do
    if grep -qF "$s" "$work/wismod.log"; then fail "a secret is in the log"; fi
done

stop_wismod
echo "push-to-stored (answer after the merge), seconds: ups=${LAG[ups]} dhl=${LAG[dhl]} usps=${LAG[usps]} fedex=${LAG[fedex]} dpd=${LAG[dpd]}"
[ "$failures" -eq 0 ] || tail -30 "$work/wismod.log" >&2
summary push
