#!/usr/bin/env bash
# Integration test of contrib/fakecarrier, loopback only:
#   test_fakecarrier.sh FAKECARRIER WISMOCTL
#
# 1. speed 1: every carrier's first answer for a fresh number shows only its
#    first event, and wismoctl normalize turns it into exactly what
#    /_admin/expected?at=now says; the clock runs at speed 1. Then chosen
#    mid-way moments of each scenario (PUT .../scenario "elapsed"), exactly,
#    the delayed scenario's ETA moving later, and a failed_attempt number
#    moved between every two scripted events showing every status in order.
# 2. speed 30000: one number per carrier and scenario (9 x 7) is polled
#    until its timeline is complete; every answer normalises to the visible
#    part of the script, statuses only move forward, and the last answer
#    equals the full /_admin/expected result.
# Nothing races a clock: clock rates are bounded by real readings taken
# around each request, progress is driven through "elapsed", token expiry
# is waited for from a measured moment, and waits poll with wide bounds.
# 3. auth: 401 in each carrier's format without credentials (wismo reads
#    "auth"), the token flows (OAuth2 Basic and form, DPD login), refused
#    credentials, and token expiry (--token-ttl 1).
# 4. faults of every kind through POST /_admin/faults, without touching
#    other carriers; request counts; hostile HTTP (400, 431, 413,
#    pipelining, keep-alive); non-loopback --listen refused.
# 5. SIGTERM: exit status 0, and no sanitizer report on stderr.
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOCTL}
CTL=${2:?usage: $0 FAKECARRIER WISMOCTL}
for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is required" >&2; exit 1; }
done

# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
# Thousands of checks here: a passing one is counted, not printed.
pass() { checks=$((checks + 1)); }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass; else fail "$what"; fi
}

ALL_CARRIERS=(dhl postnl dpd ups fedex usps canadapost gls bpost)
# The carriers compiled into wismoctl (WISMO_CARRIERS): the others are
# only checked for what needs no adapter. Usage errors exit 64.
CARRIERS=()
echo '{}' >"$work/empty.json"
for c in "${ALL_CARRIERS[@]}"; do
    rc=0
    "$CTL" normalize --carrier "$c" --number 1 "$work/empty.json" >/dev/null 2>&1 || rc=$?
    [ "$rc" -ne 64 ] && CARRIERS+=("$c")
done
known() { [[ " ${CARRIERS[*]} " == *" $1 "* ]]; }
echo "fakecarrier test: wismoctl knows ${CARRIERS[*]:-no carrier}"
SCENARIOS=(on_time delayed stalled exception failed_attempt return_to_sender not_found)

# start NAME ARGS...: starts a fakecarrier, sets PORT_<NAME> and PID_<NAME>.
start() {
    local name=$1
    shift
    FAKE_NAME=$name UP_WITHIN=5 start_fake "$@"
    printf -v "PORT_$name" '%s' "$FAKE_PORT"
    printf -v "PID_$name" '%s' "$FAKE_PID"
}

# stop NAME: SIGTERM, exit status 0, clean stderr.
stop() {
    local name=$1 pidvar="PID_$1" rc=0
    kill -TERM "${!pidvar}"
    wait "${!pidvar}" || rc=$?
    check "$name exits 0 on SIGTERM (got $rc)" test "$rc" -eq 0
    if grep -Eq "Sanitizer|runtime error|LeakSanitizer" "$work/$name.err"; then
        fail "$name: sanitizer report"
        cat "$work/$name.err" >&2
    else
        pass
    fi
}

# number CARRIER INDEX: a tracking number in the carrier's own format.
number() {
    case $1 in
    dhl) echo "48271596$(printf %02d "$2")" ;;
    postnl) echo "3SWISM4829137$(printf %02d "$2")" ;;
    dpd) echo "052123456789$(printf %02d "$2")" ;;
    ups) echo "1Z4E96F703987612$(printf %02d "$2")" ;;
    fedex) echo "7812058394$(printf %02d "$2")" ;;
    usps) echo "94055112062138612345$(printf %02d "$2")" ;;
    canadapost) echo "70232100456711$(printf %02d "$2")" ;;
    gls) echo "623411790$(printf %02d "$2")" ;;
    bpost) echo "3232999456789000112233$(printf %02d "$2")" ;;
    esac
}

declare -A TOKEN
base() { local v="PORT_$1"; echo "http://127.0.0.1:${!v}"; }

dpd_envelope() { # dpd_envelope TOKEN NUMBER
    printf '%s' "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Header><ns:authentication xmlns:ns=\"http://dpd.com/common/service/types/Authentication/2.0\"><delisId>wismo</delisId><authToken>$1</authToken><messageLanguage>en_EN</messageLanguage></ns:authentication></soapenv:Header><soapenv:Body><ns1:getTrackingData xmlns:ns1=\"http://dpd.com/common/service/types/ParcelLifeCycleService/2.0\"><parcelLabelNumber>$2</parcelLabelNumber></ns1:getTrackingData></soapenv:Body></soapenv:Envelope>"
}

dpd_login_body() { # dpd_login_body DELISID PASSWORD
    printf '%s' "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns=\"http://dpd.com/common/service/types/LoginService/2.0\"><soapenv:Header/><soapenv:Body><ns:getAuth><delisId>$1</delisId><password>$2</password><messageLanguage>en_EN</messageLanguage></ns:getAuth></soapenv:Body></soapenv:Envelope>"
}

# tokens INSTANCE: fetches an access token for every carrier that needs one.
tokens() {
    local b
    b=$(base "$1")
    TOKEN[ups]=$(curl -sf -u wismo:s3cret -d grant_type=client_credentials "$b/ups/security/v1/oauth/token" | jq -r .access_token)
    TOKEN[fedex]=$(curl -sf -d 'grant_type=client_credentials&client_id=wismo&client_secret=s3cret' "$b/fedex/oauth/token" | jq -r .access_token)
    TOKEN[usps]=$(curl -sf -d 'grant_type=client_credentials&client_id=wismo&client_secret=s3cret&scope=tracking' "$b/usps/oauth2/v3/token" | jq -r .access_token)
    TOKEN[gls]=$(curl -sf -u wismo:s3cret -d grant_type=client_credentials "$b/gls/oauth2/v2/token" | jq -r .access_token)
    TOKEN[dpd]=$(curl -sf -H 'Content-Type: text/xml; charset=utf-8' --data-binary "$(dpd_login_body wismo pass)" \
        "$b/dpd/soap/services/LoginService/V2_0" | sed -n 's:.*<authToken>\([^<]*\)</authToken>.*:\1:p')
}

# fetch INSTANCE CARRIER OUTFILE NUMBER...: one tracking request, as the
# adapter builds it; prints the HTTP status. NOAUTH=1 sends no credentials.
fetch() {
    local inst=$1 c=$2 out=$3 b
    shift 3
    b=$(base "$inst")
    local args=(-s -o "$out" -w '%{http_code}' --max-time 10)
    local auth=()
    case $c in
    dhl)
        [ -z "${NOAUTH:-}" ] && auth=(-H "DHL-API-Key: k3y")
        curl "${args[@]}" "${auth[@]}" -H 'Accept: application/json' "$b/dhl/track/shipments?trackingNumber=$1" ;;
    postnl)
        [ -z "${NOAUTH:-}" ] && auth=(-H "apikey: k3y")
        curl "${args[@]}" "${auth[@]}" -H 'Accept: application/json' "$b/postnl/shipment/v2/status/barcode/$1?detail=true&language=NL" ;;
    dpd)
        local tok=${TOKEN[dpd]}
        [ -n "${NOAUTH:-}" ] && tok=""
        curl "${args[@]}" -H 'Content-Type: text/xml; charset=utf-8' \
            -H 'SOAPAction: "http://dpd.com/common/service/types/ParcelLifeCycleService/2.0/getTrackingData"' \
            --data-binary "$(dpd_envelope "$tok" "$1")" \
            "$b/dpd/soap/services/ParcelLifeCycleService/V2_0" ;;
    ups)
        [ -z "${NOAUTH:-}" ] && auth=(-H "Authorization: Bearer ${TOKEN[ups]}")
        curl "${args[@]}" "${auth[@]}" -H 'transId: t1' -H 'transactionSrc: wismo' \
            "$b/ups/api/track/v1/details/$1?locale=en_US&returnSignature=false&returnMilestones=false&returnPOD=false" ;;
    fedex)
        local body n
        body=$(for n in "$@"; do printf '{"trackingNumberInfo":{"trackingNumber":"%s"}}\n' "$n"; done |
            jq -cs '{includeDetailedScans: true, trackingInfo: .}')
        [ -z "${NOAUTH:-}" ] && auth=(-H "Authorization: Bearer ${TOKEN[fedex]}")
        curl "${args[@]}" "${auth[@]}" -H 'Content-Type: application/json' -H 'X-locale: en_US' \
            --data-binary "$body" "$b/fedex/track/v1/trackingnumbers" ;;
    usps)
        [ -z "${NOAUTH:-}" ] && auth=(-H "Authorization: Bearer ${TOKEN[usps]}")
        curl "${args[@]}" "${auth[@]}" "$b/usps/tracking/v3/tracking/$1?expand=DETAIL" ;;
    canadapost)
        [ -z "${NOAUTH:-}" ] && auth=(-u wismo:pass)
        curl "${args[@]}" "${auth[@]}" -H 'Accept: application/vnd.cpc.track-v2+xml' -H 'Accept-language: en-CA' \
            "$b/canadapost/vis/track/pin/$1/detail" ;;
    gls)
        local list
        list=$(IFS=,; echo "$*")
        [ -z "${NOAUTH:-}" ] && auth=(-H "Authorization: Bearer ${TOKEN[gls]}")
        curl "${args[@]}" "${auth[@]}" -H 'Accept-Language: EN' "$b/gls/track-and-trace-v1/tracking/simple/trackids/$list" ;;
    bpost)
        [ -z "${NOAUTH:-}" ] && auth=(-u wismo:pass)
        curl "${args[@]}" "${auth[@]}" "$b/bpost/services/trackedmail/item/$1/trackingInfo" ;;
    esac
}

# normalise CARRIER STATUS FILE NUMBER...: wismoctl's canonical JSON.
normalise() {
    local c=$1 st=$2 f=$3 n nums=()
    shift 3
    for n in "$@"; do nums+=(--number "$n"); done
    "$CTL" normalize --carrier "$c" --http-status "$st" "${nums[@]}" "$f"
}

canon() { jq -S '{shipments: .shipments, errors: (.errors // [])}'; }

# now_us: real time in microseconds, without a fork.
now_us() { echo "${EPOCHREALTIME/./}"; }

# clock_rate INSTANCE SPEED: the fake clock advances SPEED times as fast as
# the real one. Each fake reading is bracketed by real readings taken just
# before and after its request, so the bounds hold however slowly the
# machine runs: fake elapsed lies between the inner and outer real
# intervals x SPEED (2 % and 2 ms of slack for clock granularity).
clock_rate() {
    local inst=$1 speed=$2 a0 b0 a1 b1 t0 t1 fake lo hi
    a0=$(now_us)
    t0=$(curl -sf "$(base "$inst")/_admin/time" | jq .unix_ms)
    b0=$(now_us)
    sleep 0.5
    a1=$(now_us)
    t1=$(curl -sf "$(base "$inst")/_admin/time" | jq .unix_ms)
    b1=$(now_us)
    fake=$(((t1 - t0) * 1000)) # fake microseconds
    lo=$(((a1 - b0) * speed * 98 / 100 - 2000 * speed))
    hi=$(((b1 - a0) * speed * 102 / 100 + 2000 * speed))
    check "speed $speed: fake clock moved $((t1 - t0)) ms in $(((a1 - b0) / 1000))..$(((b1 - a0) / 1000)) ms real" \
        test "$fake" -ge "$lo" -a "$fake" -le "$hi" -a "$((a1 - b0))" -ge 450000
}

# --------------------------------------------------------------------------
# 1. speed 1: fresh numbers show their first event; the clock is real time
# --------------------------------------------------------------------------
start slow --speed 1 --seed 7
tokens slow
for c in ups fedex usps gls dpd; do
    check "$c: access token issued" test -n "${TOKEN[$c]}" -a "${TOKEN[$c]}" != null
done
for c in "${CARRIERS[@]}"; do
    n=$(number "$c" 90)
    curl -sf -X PUT -d '{"scenario":"on_time"}' "$(base slow)/_admin/scenario/$c/$n" >/dev/null
    st=$(fetch slow "$c" "$work/body" "$n")
    check "$c: first answer is 200 (got $st)" test "$st" = 200
    if normalise "$c" "$st" "$work/body" "$n" >"$work/got.json"; then pass; else
        fail "$c: wismoctl cannot parse the answer"; cat "$work/body" >&2; continue
    fi
    curl -sf "$(base slow)/_admin/expected/$c/$n?at=now" >"$work/exp.json"
    check "$c: one event visible at the start" test "$(jq .events_visible "$work/exp.json")" = 1
    if diff <(canon <"$work/got.json") <(canon <"$work/exp.json") >"$work/diff"; then pass; else
        fail "$c: first answer differs from the script"; cat "$work/diff" >&2
    fi
    first=$(jq -r '.shipments[0].status' "$work/got.json")
    case $c in
    dpd | bpost) want=in_transit ;; # no pre-advice code at these carriers
    *) want=info_received ;;
    esac
    check "$c: fresh shipment starts $want (got $first)" test "$first" = "$want"
done
clock_rate slow 1

# Mid-way states, exactly: a timeline can start in the past ("elapsed"),
# so at speed 1 every carrier shows a chosen moment of each scenario.
POINTS=("delayed 30" "exception 31" "exception 50" "failed_attempt 44"
    "failed_attempt 50" "return_to_sender 45" "return_to_sender 56" "on_time 57")
for c in "${CARRIERS[@]}"; do
    for j in "${!POINTS[@]}"; do
        read -r sc hours <<<"${POINTS[$j]}"
        n=$(number "$c" $((20 + j)))
        curl -sf -X PUT -d "{\"scenario\":\"$sc\",\"elapsed\":$((hours * 3600))}" \
            "$(base slow)/_admin/scenario/$c/$n" >/dev/null
        st=$(fetch slow "$c" "$work/body" "$n")
        if ! normalise "$c" "$st" "$work/body" "$n" >"$work/got.json" 2>"$work/ctl.err"; then
            fail "$c $sc at ${hours}h: wismoctl cannot parse the answer (http $st)"
            cat "$work/ctl.err" >&2
            continue
        fi
        curl -sf "$(base slow)/_admin/expected/$c/$n?at=now" >"$work/exp.json"
        if diff <(canon <"$work/got.json") <(canon <"$work/exp.json") >"$work/diff"; then pass; else
            fail "$c $sc at ${hours}h: answer differs from the script"
            cat "$work/diff" >&2
        fi
        [ -n "${VERBOSE:-}" ] && echo "$c $sc ${hours}h: $(jq -c '.shipments[0] | [.status, .estimated_delivery]' "$work/got.json")"
        if [ "$sc" = delayed ]; then
            # The carrier's ETA moved later with the delay event.
            start=$(jq -r .started_at "$work/exp.json")
            before=$(curl -sf "$(base slow)/_admin/expected/$c/$n?at=$(($(date -ud "$start" +%s) + 20 * 3600))" |
                jq -r '.shipments[0].estimated_delivery')
            now=$(jq -r '.shipments[0].estimated_delivery' "$work/got.json")
            case $c in
            dpd | gls) check "$c: no ETA at all ($before, $now)" test "$before" = null -a "$now" = null ;;
            *) check "$c: delayed ETA moves later ($before -> $now)" test "$now" \> "$before" -a "$before" != null ;;
            esac
        fi
    done
done

# Progress, driven explicitly: each carrier's failed_attempt number is
# moved ("elapsed") to the middle between every two consecutive scripted
# events and then past the last one, so the answers must show every
# status of the script on the way, in order, however slowly the machine
# runs (hours of fake time separate the moments; speed 1 moves seconds).
for c in "${CARRIERS[@]}"; do
    n=$(number "$c" 30)
    curl -sf -X PUT -d '{"scenario":"failed_attempt"}' "$(base slow)/_admin/scenario/$c/$n" >/dev/null
    curl -sf "$(base slow)/_admin/expected/$c/$n" >"$work/exp.json"
    mapfile -t moments < <(jq -r '(.started_at | fromdateiso8601) as $s
        | [.shipments[0].events[].time | fromdateiso8601 - $s] | unique
        | (range(length - 1) as $i | ((.[$i] + .[$i + 1]) / 2 | floor)), (last + 3600)' "$work/exp.json")
    script=$(jq -r '[.shipments[0].events | sort_by(.time)[].status] + [.shipments[0].status]
        | reduce .[] as $x ([]; if last == $x then . else . + [$x] end) | join(" ")' "$work/exp.json")
    seen=""
    for e in "${moments[@]}"; do
        curl -sf -X PUT -d "{\"scenario\":\"failed_attempt\",\"elapsed\":$e}" \
            "$(base slow)/_admin/scenario/$c/$n" >/dev/null
        st=$(fetch slow "$c" "$work/body" "$n")
        if ! normalise "$c" "$st" "$work/body" "$n" >"$work/got.json" 2>"$work/ctl.err"; then
            fail "$c progress at ${e}s: wismoctl cannot parse the answer (http $st)"
            cat "$work/ctl.err" >&2
            continue
        fi
        curl -sf "$(base slow)/_admin/expected/$c/$n?at=now" >"$work/exp.json"
        if diff <(canon <"$work/got.json") <(canon <"$work/exp.json") >"$work/diff"; then pass; else
            fail "$c progress at ${e}s: answer differs from the script"
            cat "$work/diff" >&2
        fi
        status=$(jq -r '.shipments[0].status' "$work/got.json")
        [ "${seen##* }" = "$status" ] || seen="${seen:+$seen }$status"
    done
    check "$c $n: every scripted status seen on the way, in order: $seen (script: $script)" test "$seen" = "$script"
    check "$c $n: at least 3 statuses seen on the way: $seen" test "$(wc -w <<<"$seen")" -ge 3
    curl -sf "$(base slow)/_admin/expected/$c/$n" >"$work/exp.json"
    if diff <(canon <"$work/got.json") <(canon <"$work/exp.json") >"$work/diff"; then pass; else
        fail "$c progress: the last answer differs from the full script"
        cat "$work/diff" >&2
    fi
done

# --------------------------------------------------------------------------
# 2. speed 30000: every scenario of every carrier, to the end
# --------------------------------------------------------------------------
SPEED=30000
start fast --speed "$SPEED" --seed 11
tokens fast
clock_rate fast "$SPEED"

declare -A LAST_EVENTS LAST_STATUS DONE SEEN
for c in "${CARRIERS[@]}"; do
    for i in "${!SCENARIOS[@]}"; do
        n=$(number "$c" "$i")
        curl -sf -X PUT -d "{\"scenario\":\"${SCENARIOS[$i]}\"}" "$(base fast)/_admin/scenario/$c/$n" >/dev/null
        LAST_EVENTS[$c/$n]=-1
        SEEN[$c/$n]=""
    done
done

# poll_one CARRIER NUMBER: one request; checks it against the script when
# the script did not move during the request; returns 0 when complete.
poll_one() {
    local c=$1 n=$2 st before after k status
    before=$(curl -sf "$(base fast)/_admin/expected/$c/$n?at=now")
    st=$(fetch fast "$c" "$work/body" "$n")
    after=$(curl -sf "$(base fast)/_admin/expected/$c/$n?at=now")
    if ! normalise "$c" "$st" "$work/body" "$n" >"$work/got.json" 2>"$work/ctl.err"; then
        fail "$c $n: wismoctl cannot parse the answer (http $st)"
        cat "$work/ctl.err" "$work/body" >&2
        return 0
    fi
    if [ "$(jq .events_visible <<<"$before")" = "$(jq .events_visible <<<"$after")" ]; then
        if diff <(canon <"$work/got.json") <(canon <<<"$after") >"$work/diff"; then pass; else
            fail "$c $n ($(jq -r .scenario <<<"$after")): answer differs from the script"
            cat "$work/diff" >&2
        fi
    fi
    k=$(jq '[.shipments[0].events // [] | length] | .[0]' "$work/got.json")
    status=$(jq -r '.shipments[0].status // .errors[0].error' "$work/got.json")
    check "$c $n: events never disappear" test "$k" -ge "${LAST_EVENTS[$c/$n]}"
    LAST_EVENTS[$c/$n]=$k
    [ "${SEEN[$c/$n]##* }" = "$status" ] || SEEN[$c/$n]="${SEEN[$c/$n]} $status"
    [ "$(jq .events_visible <<<"$after")" = "$(jq .events_total <<<"$after")" ]
}

# First answers for every number but the failed_attempt ones (which start
# the timelines), then the failed_attempt number of every carrier polled
# in a loop until all are complete. How many statuses a poll catches
# depends on the machine's speed, so only their order is checked here;
# the statuses on the way are checked explicitly at speed 1 above.
PROGRESS=4 # index of failed_attempt in SCENARIOS
for c in "${CARRIERS[@]}"; do
    for i in "${!SCENARIOS[@]}"; do
        [ "$i" = "$PROGRESS" ] && continue
        n=$(number "$c" "$i")
        if poll_one "$c" "$n"; then DONE[$c/$n]=1; fi
    done
done
deadline=$((SECONDS + 120))
while :; do
    pending=0
    for c in "${CARRIERS[@]}"; do
        n=$(number "$c" "$PROGRESS")
        [ -n "${DONE[$c/$n]:-}" ] && continue
        if poll_one "$c" "$n"; then DONE[$c/$n]=1; else pending=$((pending + 1)); fi
    done
    [ "$pending" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
        fail "$pending progress timelines still incomplete after 120 s"
        break
    fi
done
# Then wait until every other timeline is complete too.
last=0
for c in "${CARRIERS[@]}"; do
    for i in "${!SCENARIOS[@]}"; do
        t=$(curl -sf "$(base fast)/_admin/expected/$c/$(number "$c" "$i")" | jq .complete_at_unix)
        [ "$t" -gt "$last" ] && last=$t
    done
done
deadline=$((SECONDS + 120))
while [ "$(curl -sf "$(base fast)/_admin/time" | jq .unix)" -lt "$last" ]; do
    [ "$SECONDS" -ge "$deadline" ] && { fail "fake clock stuck"; break; }
    sleep 0.2
done

# The final answers equal the full script; statuses moved in its order.
for c in "${CARRIERS[@]}"; do
    for i in "${!SCENARIOS[@]}"; do
        n=$(number "$c" "$i")
        st=$(fetch fast "$c" "$work/body" "$n")
        normalise "$c" "$st" "$work/body" "$n" >"$work/got.json" || { fail "$c $n: final answer unparseable"; continue; }
        curl -sf "$(base fast)/_admin/expected/$c/$n" >"$work/exp.json"
        if diff <(canon <"$work/got.json") <(canon <"$work/exp.json") >"$work/diff"; then pass; else
            fail "$c $n (${SCENARIOS[$i]}): final answer differs from /_admin/expected"
            cat "$work/diff" >&2
        fi
        # Every status seen appears in the script's event statuses (or
        # as the final status), in the same order.
        script=" $(jq -r '[.shipments[0].events[]?.status] + [.shipments[0].status // .errors[0].error] | join(" ")' "$work/exp.json") "
        rest=$script
        ok=1
        for s in ${SEEN[$c/$n]}; do
            case $rest in
            *" $s "*) rest=" ${rest#* "$s" }" ;;
            *) ok=0 ;;
            esac
        done
        check "$c $n (${SCENARIOS[$i]}): statuses progress in order:${SEEN[$c/$n]}" test "$ok" = 1
        [ -n "${VERBOSE:-}" ] && echo "$c ${SCENARIOS[$i]}: seen${SEEN[$c/$n]} | script$script"
        final=$(jq -r '.shipments[0].status // .errors[0].error' "$work/exp.json")
        case ${SCENARIOS[$i]} in
        stalled) want="in_transit" ;;
        not_found) want="not_found" ;;
        return_to_sender) want="returned delivered" ;; # carriers without a returned code
        *) want="delivered" ;;
        esac
        check "$c $n (${SCENARIOS[$i]}): ends $want (got $final)" grep -qw -- "$final" <<<"$want"
    done
done
# A batch: FedEx answers 3 numbers in one request, GLS too.
for c in fedex gls; do
    known "$c" || continue
    nums=("$(number "$c" 0)" "$(number "$c" 1)" "$(number "$c" 6)")
    st=$(fetch fast "$c" "$work/body" "${nums[@]}")
    normalise "$c" "$st" "$work/body" "${nums[@]}" >"$work/got.json"
    exp=$(for n in "${nums[@]}"; do curl -sf "$(base fast)/_admin/expected/$c/$n"; done |
        jq -sS '{shipments: [.[].shipments[]], errors: [.[].errors // [] | .[]]}')
    if diff <(canon <"$work/got.json") <(jq -S . <<<"$exp") >"$work/diff"; then pass; else
        fail "$c: batch answer differs"; cat "$work/diff" >&2
    fi
done
stop fast

# --------------------------------------------------------------------------
# 3. auth
# --------------------------------------------------------------------------
B=$(base slow)
for c in "${ALL_CARRIERS[@]}"; do
    n=$(number "$c" 91)
    st=$(NOAUTH=1 fetch slow "$c" "$work/body" "$n")
    case $c in
    dpd) check "dpd: no token is a 500 SOAP fault (got $st)" test "$st" = 500 ;;
    *) check "$c: no credentials is 401 (got $st)" test "$st" = 401 ;;
    esac
    known "$c" || continue
    err=$(normalise "$c" "$st" "$work/body" "$n" | jq -r '.errors[0].error')
    check "$c: wismo reads the refusal as auth (got $err)" test "$err" = auth
done
# A token from one carrier is no good at another, nor a made-up one.
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN[fedex]}" "$B/ups/api/track/v1/details/1Z4E96F70398761299")
check "ups refuses a FedEx token (got $st)" test "$st" = 401
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer fc1.ups.ffffffffffff.1.0000000000000000" "$B/ups/api/track/v1/details/1Z4E96F70398761299")
check "ups refuses a forged token (got $st)" test "$st" = 401
# Refused client credentials.
st=$(curl -s -o "$work/body" -w '%{http_code}' -u bad:secret -d grant_type=client_credentials "$B/ups/security/v1/oauth/token")
check "ups token refused for client bad (got $st)" test "$st" = 401
st=$(curl -s -o /dev/null -w '%{http_code}' -d 'grant_type=client_credentials&client_id=wismo' "$B/fedex/oauth/token")
check "fedex token refused without secret (got $st)" test "$st" = 401
st=$(curl -s -o /dev/null -w '%{http_code}' -u wismo:s3cret -d grant_type=password "$B/gls/oauth2/v2/token")
check "gls token refuses other grant types (got $st)" test "$st" = 400
st=$(curl -s -o "$work/body" -w '%{http_code}' -H 'Content-Type: text/xml' --data-binary "$(dpd_login_body bad pass)" "$B/dpd/soap/services/LoginService/V2_0")
check "dpd login refused for bad (got $st)" test "$st" = 500
check "dpd login refusal is DELICOM_ERR_AUTHENTICATION" grep -q DELICOM_ERR_AUTHENTICATION "$work/body"
ttl=$(curl -sf -u wismo:s3cret -d grant_type=client_credentials "$B/ups/security/v1/oauth/token" | jq -r .expires_in)
check "ups token expires_in is --token-ttl (got $ttl)" test "$ttl" = 3600
st=$(curl -s -o /dev/null -w '%{http_code}' -u ':' "$B/bpost/services/trackedmail/item/32329994567890001122339/trackingInfo")
check "bpost refuses empty Basic credentials (got $st)" test "$st" = 401

# Expiry: tokens live --token-ttl real seconds. "Fresh" holds only if
# both requests were sent within TTL of asking for the tokens: measured,
# and tried again (new tokens) when the machine was too slow for that.
TTL=3
start ttl --speed 1 --token-ttl "$TTL" --idle-timeout 1
n=$(number ups 92)
for try in $(seq 10); do
    a=$(now_us)
    tokens ttl
    b=$(now_us)
    st_ups=$(fetch ttl ups "$work/body" "$n")
    st_dpd=$(fetch ttl dpd "$work/body" "$(number dpd 92)")
    [ $(($(now_us) - a)) -lt $((TTL * 1000000)) ] && break
    echo "fakecarrier test: token round $try took longer than ${TTL} s, again" >&2
done
check "ups: fresh token accepted (got $st_ups)" test "$st_ups" = 200
check "dpd: fresh login token accepted (got $st_dpd)" test "$st_dpd" = 200
# Every token was issued before b, so all have expired TTL s after it.
wait_us=$((b + TTL * 1000000 + 300000 - $(now_us)))
[ "$wait_us" -gt 0 ] && sleep "$((wait_us / 1000000)).$(printf %06d $((wait_us % 1000000)))"
st=$(fetch ttl ups "$work/body" "$n")
check "ups: expired token refused (got $st)" test "$st" = 401
known ups && check "ups: expired token reads as auth" test "$(normalise ups "$st" "$work/body" "$n" | jq -r '.errors[0].error')" = auth
st=$(fetch ttl dpd "$work/body" "$(number dpd 92)")
check "dpd: expired token is a fault (got $st)" grep -q ERR_DELICOM_TOKEN_EXPIRED "$work/body"
# Idle keep-alive connections (and half-sent requests) are closed.
exec 3<>"/dev/tcp/127.0.0.1/$PORT_ttl"
exec 4<>"/dev/tcp/127.0.0.1/$PORT_ttl"
printf 'GET /_admin/time HTTP/1.1\r\nHost: x\r\n' >&4
t0=$(now_us)
rc=0
timeout 30 cat <&3 >/dev/null || rc=$?
check "idle connection closed by the server (rc $rc)" test "$rc" = 0
rc=0
timeout 30 cat <&4 >/dev/null || rc=$?
t1=$(now_us)
# --idle-timeout 1: closed by that timer, long before any other limit.
check "half-sent request closed by the server (rc $rc, $(((t1 - t0) / 1000)) ms)" test "$rc" = 0 -a $((t1 - t0)) -le 15000000
exec 3>&- 4>&-
stop ttl
tokens slow

# --------------------------------------------------------------------------
# 4. faults, counts, hostile clients
# --------------------------------------------------------------------------
set_faults() { curl -s -o "$work/faults.json" -w '%{http_code}' -X POST --data-binary "$1" "$B/_admin/faults"; }
check "bad fault spec refused" test "$(set_faults '["carrier=ups,kind=teapot"]')" = 400
check "fault list set" test "$(set_faults '["carrier=ups,kind=429,rate=1,retry_after=2","carrier=fedex,kind=500","carrier=dhl,kind=garbage","carrier=gls,kind=latency,ms=700","carrier=canadapost,kind=hang","carrier=bpost,kind=reset","carrier=usps,kind=500,rate=0"]')" = 200

n=$(number ups 93)
st=$(curl -s -D "$work/headers" -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer ${TOKEN[ups]}" "$B/ups/api/track/v1/details/$n")
check "429 fault: status (got $st)" test "$st" = 429
check "429 fault: Retry-After: 2" grep -qi '^Retry-After: 2' "$work/headers"
known ups && check "429 fault: wismo reads rate_limited" test "$(normalise ups 429 "$work/body" "$n" | jq -r '.errors[0].error')" = rate_limited
st=$(fetch slow fedex "$work/body" "$(number fedex 93)")
check "500 fault: status (got $st)" test "$st" = 500
known fedex && check "500 fault: wismo reads carrier_error" test "$(normalise fedex 500 "$work/body" "$(number fedex 93)" | jq -r '.errors[0].error')" = carrier_error
st=$(fetch slow dhl "$work/body" "$(number dhl 93)")
rc=0
"$CTL" normalize --carrier dhl --number "$(number dhl 93)" "$work/body" >/dev/null 2>&1 || rc=$?
check "garbage fault: 200 (got $st)" test "$st" = 200
known dhl && check "garbage fault: wismoctl refuses it with 65 (got $rc)" test "$rc" = 65
t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer ${TOKEN[gls]}" "$B/gls/track-and-trace-v1/tracking/simple/trackids/$(number gls 93)")
check "latency fault: answer after >= 0.7 s (took $t)" awk -v t="$t" 'BEGIN { exit !(t >= 0.7) }'
rc=0
curl -s -o /dev/null --max-time 1 -u wismo:pass "$B/canadapost/vis/track/pin/$(number canadapost 93)/detail" || rc=$?
check "hang fault: the client times out (curl $rc)" test "$rc" = 28
rc=0
curl -s -o /dev/null --max-time 5 -u wismo:pass "$B/bpost/services/trackedmail/item/$(number bpost 93)/trackingInfo" || rc=$?
check "reset fault: connection reset (curl $rc)" test "$rc" = 56 -o "$rc" = 52
st=$(fetch slow usps "$work/body" "$(number usps 93)")
check "rate=0 fault never fires (got $st)" test "$st" = 200
st=$(fetch slow postnl "$work/body" "$(number postnl 93)")
check "faults leave other carriers alone (postnl $st)" test "$st" = 200
# every=N: exactly the 3rd and 6th matching requests fail, whatever the timing.
check "every=0 refused" test "$(set_faults '["carrier=usps,kind=500,every=0"]')" = 400
check "every with rate refused" test "$(set_faults '["carrier=usps,kind=500,every=2,rate=0.5"]')" = 400
check "every=3 fault set" test "$(set_faults '["carrier=usps,kind=500,every=3"]')" = 200
seen=""
for i in 1 2 3 4 5 6; do seen="$seen $(fetch slow usps "$work/body" "$(number usps 93)")"; done
check "every=3: 3rd and 6th requests fail (got$seen)" test "$seen" = " 200 200 500 200 200 500"
check "fault list cleared" test "$(set_faults '[]')" = 200
st=$(fetch slow ups "$work/body" "$n")
check "no fault after clearing (got $st)" test "$st" = 200

# Counts: a batch counts once for the carrier and once per number.
curl -sf -X POST "$B/_admin/reset-counts" >/dev/null
nu=$(number ups 94)
for i in 1 2 3; do fetch slow ups "$work/body" "$nu" >/dev/null; done
fetch slow fedex "$work/body" "$(number fedex 94)" "$(number fedex 95)" "$(number fedex 96)" >/dev/null
curl -sf "$B/_admin/counts" >"$work/counts.json"
check "counts: total 4" test "$(jq .total "$work/counts.json")" = 4
check "counts: ups 3 requests" test "$(jq .carriers.ups.requests "$work/counts.json")" = 3
check "counts: ups number 3" test "$(jq --arg n "$nu" '.carriers.ups.numbers[$n]' "$work/counts.json")" = 3
check "counts: fedex batch once" test "$(jq .carriers.fedex.requests "$work/counts.json")" = 1
check "counts: fedex once per number" test "$(jq '[.carriers.fedex.numbers[]] | (length == 3 and all(. == 1))' "$work/counts.json")" = true
check "counts: dhl untouched" test "$(jq .carriers.dhl.requests "$work/counts.json")" = 0
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN[gls]}" \
    "$B/gls/track-and-trace-v1/tracking/simple/trackids/$(seq -s, 62341179001 62341179011)")
check "gls: more than 10 numbers is 400 (got $st)" test "$st" = 400
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN[ups]}" "$B/ups/api/track/v1/details/1Z%FF%0A")
check "a number that is not printable ASCII is 400 (got $st)" test "$st" = 400

# Hostile HTTP.
exec 3<>"/dev/tcp/127.0.0.1/$PORT_slow"
printf 'BLAH /\x01 HTTP/9\r\n\r\n' >&3
reply=$(timeout 5 cat <&3 || true)
exec 3>&-
check "bad HTTP: 400 then close" grep -q '^HTTP/1.1 400' <<<"$reply"
big=$(head -c 20000 /dev/zero | tr '\0' a)
st=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$B/_admin/time")
check "head over 16 KiB: 431 (got $st)" test "$st" = 431
head -c 1100000 /dev/zero >"$work/big.bin"
st=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$work/big.bin" "$B/_admin/faults")
check "body over 1 MiB: 413 (got $st)" test "$st" = 413
exec 3<>"/dev/tcp/127.0.0.1/$PORT_slow"
printf 'GET /_admin/time HTTP/1.1\r\nHost: x\r\n\r\nGET /_admin/counts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
reply=$(timeout 5 cat <&3 || true)
exec 3>&-
check "pipelining: two answers on one connection" test "$(grep -o 'HTTP/1.1 200 OK' <<<"$reply" | wc -l)" = 2
curl -sv -o /dev/null -o /dev/null "$B/_admin/time" "$B/_admin/time" 2>"$work/curl.err"
check "keep-alive: the second request reuses the connection" grep -q 'Re-using existing connection' "$work/curl.err"
st=$(curl -s -o /dev/null -w '%{http_code}' "$B/nosuchcarrier/x")
check "unknown carrier: 404 (got $st)" test "$st" = 404
st=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$B/ups/api/track/v1/details/1Z4E96F70398761299")
check "wrong method: 405 (got $st)" test "$st" = 405
rc=0
"$FAKE" --listen 0.0.0.0:0 >/dev/null 2>&1 || rc=$?
check "non-loopback --listen refused (exit $rc)" test "$rc" = 64
rc=0
"$FAKE" --listen 127.0.0.1:0 --fault kind=nope >/dev/null 2>&1 || rc=$?
check "bad --fault refused (exit $rc)" test "$rc" = 64

# --------------------------------------------------------------------------
# 5. shutdown
# --------------------------------------------------------------------------
# A hung connection and an idle keep-alive one are still open: SIGTERM
# must close them too.
exec 3<>"/dev/tcp/127.0.0.1/$PORT_slow"
stop slow
exec 3>&-

summary "fakecarrier test"
