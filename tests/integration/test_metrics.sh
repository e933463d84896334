#!/usr/bin/env bash
# Every metric the Grafana dashboard draws, against real traffic: wismod
# with its own redis-server, the fake carrier and the notification sinks
# (loopback only). /metrics is scraped before any traffic and then while
# shipments are polled, looked up, notified about, and while Redis is
# restarted; each series the dashboard draws must move (a value that
# differs from the first scrape), not only exist. The new gauges (outbox
# depth, dead letters) and wismo_build_info are checked for their meaning.
#   test_metrics.sh FAKECARRIER WISMOD DASHBOARD VERSION TEMPLATES
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD DASHBOARD VERSION TEMPLATES}
WISMOD=${2:?}
DASH=${3:?}
VERSION=${4:?}
TEMPLATES=${5:?}
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

# --- processes ---
# (Redis keeps an append-only file: it is restarted below.)
start_redis "$work/redis" --appendonly yes
start_fake --speed 1
start_sinks
# Quiet hours around now in Amsterdam: the SMS waits (outbox deferred).
QUIET=$("$PY" -c '
import datetime, zoneinfo
t = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Amsterdam"))
print((t - datetime.timedelta(hours=1)).strftime("%H:%M") + "-" +
      (t + datetime.timedelta(hours=2)).strftime("%H:%M"))')
cat >"$work/w.ini" <<INI
[daemon]
data_dir = $work/data
log_level = info
claim_interval = 50ms
lease = 10s
max_inflight = 2
[redis]
url = unix://$REDIS_SOCK
[http]
listen = 127.0.0.1:0
[tokens]
shop = shop-token
agent = agent-token
[notify]
templates = $TEMPLATES
quiet_hours = $QUIET
tick = 1s
[smtp]
url = smtp://127.0.0.1:$SP
from = Shop <noreply@shop.example>
[sms]
provider = twilio
base_url = http://127.0.0.1:$HP/sms
account = AC1
token = tok
from = +3197010000000
[webhook]
url = $FAKE_URL/no-such-hook
secret = s
[schedule]
pending = 1s
info_received = 1s
in_transit = 1s
out_for_delivery = 1s
available_for_pickup = 1s
failed_attempt = 1s
exception = 1s
returning = 1s
retry_min = 1s
retry_max = 3s
jitter = 0
night =
[carrier.dhl]
base_url = $FAKE_URL/dhl
api_key = test-key
rate = 0
timeout = 5s
[carrier.fedex]
base_url = $FAKE_URL/fedex
client_id = wismo
client_secret = s3cret
rate = 0
[carrier.ups]
base_url = $FAKE_URL/ups
client_id = bad
client_secret = s3cret
rate = 0
INI
start_wismod "$work/w.ini"
SHOP=(-H "Authorization: Bearer shop-token" -H "Content-Type: application/json")

# scrape N: /metrics into $work/m.N (only when it answered 200)
n=0
scrape() {
    curl -sf "$API/metrics" >"$work/m.tmp" && mv "$work/m.tmp" "$work/m.$n" && n=$((n + 1))
}
# value FILE SERIES: the value of one exact series line, or empty
value() { awk -v s="$2" '$1 == s {print $2}' "$1"; }
scrape # m.0: before any traffic

# --- traffic ---
# Polls that take a while (leased, backlog with max_inflight = 2), events.
curl -sf -X POST -d '["carrier=dhl,kind=latency,ms=1500"]' "$FAKE_URL/_admin/faults" >/dev/null
for i in 1 2 3 4 5 6; do
    num="482715000$i"
    curl -sf -X PUT -d '{"scenario":"on_time","elapsed":72000}' "$FAKE_URL/_admin/scenario/dhl/$num" >/dev/null
    curl -sf -o /dev/null "${SHOP[@]}" -d "{\"tracking_number\":\"$num\",\"carrier\":\"dhl\",\"order_id\":\"M-$i\",\"postcode\":\"1234AB\"}" "$API/v1/shipments"
done
# A customs hold: notifications by e-mail (sent), SMS (quiet hours:
# deferred) and webhook (404: a dead letter).
curl -sf -X PUT -d '{"scenario":"exception","elapsed":108000}' "$FAKE_URL/_admin/scenario/dhl/4827150100" >/dev/null
curl -sf -o /dev/null "${SHOP[@]}" -d '{"tracking_number":"4827150100","carrier":"dhl","order_id":"M-X","postcode":"1234AB","email":"m@example.com","phone":"+31612345678","locale":"nl"}' "$API/v1/shipments"
# A carrier that answers 429: back-off.
# (POST /_admin/faults replaces the whole list: dhl's latency stays.)
curl -sf -X POST -d '["carrier=dhl,kind=latency,ms=1500","carrier=fedex,kind=429,retry_after=300"]' "$FAKE_URL/_admin/faults" >/dev/null
curl -sf -o /dev/null "${SHOP[@]}" -d '{"tracking_number":"781205830001","carrier":"fedex","order_id":"M-F","postcode":"1234AB"}' "$API/v1/shipments"
# A carrier that refuses wismo's credentials.
curl -sf -o /dev/null "${SHOP[@]}" -d '{"tracking_number":"1Z4E96F70398760001","carrier":"ups","order_id":"M-U","postcode":"1234AB"}' "$API/v1/shipments"
# Scrape while that runs, until the slow polls are over.
for _ in $(seq 40); do scrape; sleep 0.25; done
# Lookups: a miss, then a hit.
curl -s -o /dev/null "$API/v1/track/M-1?postcode=1234AB"
curl -s -o /dev/null "$API/v1/track/M-1?postcode=1234AB"
wait_for 60 sh -c "ls '$work/sink/mail' 2>/dev/null | grep -q eml" || fail "no e-mail reached the SMTP sink"
dead() { [ "$(rcli XLEN wismo:outbox:dead)" -ge 1 ]; }
wait_for 60 dead || fail "the webhook's 404 left no dead letter"
refused() { out_has '^wismo_carrier_auth_failed\{carrier="ups"\} 1' curl -s "$API/metrics"; }
wait_for 60 refused || fail "ups refusing the credentials never showed"
scrape
# Redis goes away: up 0, a request that fails for want of it, a link lost.
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
down() { out_has '^wismo_redis_up 0' curl -s "$API/metrics"; }
wait_for 30 down || fail "wismo_redis_up never went 0"
scrape
curl -s -o /dev/null -H "Authorization: Bearer agent-token" "$API/v1/shipments"
start_redis "$work/redis" --appendonly yes
up() { out_has '^wismo_redis_up 1' curl -s "$API/metrics"; }
wait_for 60 up || fail "wismo_redis_up never came back"
scrape
last=$((n - 1))

# --- every series the dashboard draws moves ---
metrics=$(jq -r '.panels[].targets[].expr' "$DASH" | grep -o 'wismo_[a-z_]*' | sort -u)
for m in $metrics; do
    # all series of the family m, each with its values over the scrapes
    moved=$(for ((i = 0; i < n; i++)); do
        awk -v m="$m" -v i="$i" '$1 == m || index($1, m "{") == 1 {print $1, i, $2}' "$work/m.$i"
    done | awk '
        { if (!($1 in first)) { first[$1] = $3; fi[$1] = $2 }
          else if ($3 != first[$1]) moved[$1] = 1 }
        # a series born after the first scrape with a non-zero value moved too
        $2 > 0 && fi[$1] > 0 && $3 != 0 { moved[$1] = 1 }
        END { for (s in moved) print s }')
    if [ -n "$moved" ]; then
        ok "$m moves ($(wc -l <<<"$moved") series)"
    else
        fail "$m: no series the dashboard draws changed under traffic"
    fi
done

# --- what the values mean ---
m0=$work/m.0
ml=$work/m.$last
v=$(value "$ml" 'wismo_polls_total{carrier="dhl",outcome="ok"}')
[ "${v:-0}" -gt 0 ] && ok "polls ok counted ($v)" || fail "wismo_polls_total{outcome=ok} is ${v:-absent}"
backoff=$(cat "$work"/m.* | awk '$1 == "wismo_carrier_backoff{carrier=\"fedex\"}" && $2 >= 1' | wc -l)
[ "$backoff" -gt 0 ] && ok "fedex backs off after its 429" || fail "wismo_carrier_backoff never showed fedex backing off"
leased=$(cat "$work"/m.* | awk '$1 == "wismo_leased" && $2 > 0' | wc -l)
backlog=$(cat "$work"/m.* | awk '$1 == "wismo_due_backlog" && $2 > 0' | wc -l)
[ "$leased" -gt 0 ] && [ "$backlog" -gt 0 ] && ok "slow polls show leased and backlog" ||
    fail "leased seen $leased times, backlog $backlog times"
deferred=$(value "$ml" 'wismo_outbox_depth{state="deferred"}')
[ "$deferred" = "$(rcli ZCARD wismo:outbox:later)" ] && [ "$deferred" -ge 1 ] &&
    ok "outbox depth: $deferred deferred (quiet hours), as Redis holds" ||
    fail "wismo_outbox_depth{state=deferred} $deferred, Redis $(rcli ZCARD wismo:outbox:later)"
ready=$(value "$ml" 'wismo_outbox_depth{state="ready"}')
[ "$ready" = "$(rcli XLEN wismo:outbox)" ] && ok "outbox depth: $ready ready, as Redis holds" ||
    fail "wismo_outbox_depth{state=ready} $ready, Redis $(rcli XLEN wismo:outbox)"
d0=$(value "$m0" wismo_dead_letters)
d1=$(value "$ml" wismo_dead_letters)
[ "$d0" = 0 ] && [ "$d1" = "$(rcli XLEN wismo:outbox:dead)" ] && [ "$d1" -ge 1 ] &&
    ok "dead letters: 0, then $d1 (the webhook's 404)" || fail "wismo_dead_letters $d0 -> $d1"
sent=$(value "$ml" 'wismo_notifications_total{channel="email",outcome="sent"}')
[ "${sent:-0}" -ge 1 ] && ok "e-mail sent counted" || fail "email sent: ${sent:-absent}"
[ "$(value "$ml" wismo_redis_disconnects_total)" -ge 1 ] && [ "$(value "$ml" wismo_redis_errors_total)" -ge 1 ] &&
    ok "the Redis restart shows as a link lost and a failed request" ||
    fail "disconnects $(value "$ml" wismo_redis_disconnects_total), errors $(value "$ml" wismo_redis_errors_total)"
grep -qx "wismo_build_info{version=\"$VERSION\"} 1" "$ml" && ok "wismo_build_info{version=\"$VERSION\"} 1" ||
    fail "build info: $(grep build_info "$ml")"

stop_wismod
summary metrics
