#!/usr/bin/env bash
# Benchmark (not a test): notifications per second through the outbox to
# loopback sinks. N shipments turn "exception" at once (shipment hashes and
# change entries written as the store writes them); the notifier decides a
# webhook, an SMS and an e-mail for each, and the clock stops when the
# sinks (tests/integration/notify_sink.py: HTTP and aiosmtpd) hold all
# 3 x N. Bounded in time. Usage: tests/bench/bench_notify.sh BUILD-DIR [N]
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD-DIR [N]}" && pwd)
N=${2:-1000}
here=$(cd "$(dirname "$0")/../.." && pwd)
HARNESS=$build/tests/integration/notify_harness
PY=/usr/bin/python3
T=$(mktemp -d /tmp/wismo-bench-notify.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(port)
HP=$(port)
SP=$(port)
redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no --dir "$T" >/dev/null 2>&1 &
PIDS+=($!)
R="redis-cli -p $RP"
for _ in $(seq 50); do $R ping >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$T/sink/mail"
"$PY" "$here/tests/integration/notify_sink.py" "$HP" "$SP" "$T/sink" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$HP/" && break; sleep 0.1; done
cat >"$T/wismo.ini" <<INI
[daemon]
log_level = warn
[redis]
url = redis://127.0.0.1:$RP
[notify]
quiet_hours =
daily_cap = 1000
templates = $here/contrib/templates
[smtp]
url = smtp://127.0.0.1:$SP
from = Acme Shop <noreply@shop.example>
[sms]
provider = twilio
base_url = http://127.0.0.1:$HP/sms
account = AC123
token = tok
from = +3197010000000
[webhook]
url = http://127.0.0.1:$HP/hook
secret = hooksecret
INI
"$HARNESS" "$T/wismo.ini" >/dev/null 2>"$T/harness.log" &
PIDS+=($!)
sleep 1 # its consumer group reads entries added from now on
t0=$(date +%s%N)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# N exception shipments and their change entries, in one script.
$R EVAL "for i = 1, tonumber(ARGV[1]) do
  local id = 'b' .. i
  redis.call('HSET', 'wismo:s:{' .. id .. '}', 'id', id, 'carrier', 'dhl',
    'tracking_number', 'JJD' .. i, 'order_id', 'ORD-' .. i, 'postcode', '1234AB',
    'email', id .. '@example.com', 'phone', '+316' .. string.format('%08d', i),
    'locale', 'nl', 'status', 'exception', 'substatus', 'customs',
    'estimated_delivery', '', 'delivered_at', '', 'updated_at', ARGV[2],
    'last_event_at', ARGV[2])
  redis.call('XADD', 'wismo:changes', '*', 'id', id, 'carrier', 'dhl',
    'tracking_number', 'JJD' .. i, 'order_id', 'ORD-' .. i, 'status', 'exception',
    'previous_status', 'in_transit', 'substatus', 'customs',
    'estimated_delivery', '', 'delivered_at', '', 'events_added', 1, 'at', ARGV[2])
end
return 1" 0 "$N" "$now" >/dev/null

want=$((3 * N))
got=0
for _ in $(seq 1200); do # at most 120 s
    http=$(wc -l <"$T/sink/http.jsonl" 2>/dev/null || echo 0)
    mail=$(find "$T/sink/mail" -name '*.eml' | wc -l)
    got=$((http + mail))
    [ "$got" -ge "$want" ] && break
    sleep 0.1
done
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
echo "notifications: $got of $want (webhook + SMS + e-mail for $N shipments) in $ms ms"
awk -v n="$got" -v ms="$ms" 'BEGIN {printf "notifications/s: %.0f (from start-up, rules, outbox and sends)\n", n * 1000 / ms}'
