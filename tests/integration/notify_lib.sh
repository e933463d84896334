# Sourced by the notifier's script tests: a private redis-server and the
# loopback sinks (notify_sink.py: SMTP, SMS provider, webhook) on free
# ports, a temporary folder the test owns, and helpers that wait for
# conditions instead of sleeping. Every check reads files or Redis
# directly: no "producer | grep -q" pipelines, whose early exit breaks the
# producer's pipe and fails the test at random under "set -o pipefail".
set -euo pipefail
# Debian's python3, which has python3-aiosmtpd (a pyenv one on PATH may not).
PY=/usr/bin/python3
python3() { "$PY" "$@"; }
LIB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T=$(mktemp -d /tmp/wismo-notify.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for SECONDS command...: polls every 0.1 s until command succeeds
wait_for() {
    local n=$(($1 * 10))
    shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
    return 1
}
# start_redis: RP (port) and R (redis-cli command)
start_redis() {
    RP=$(port)
    redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no \
        --dir "$T" >"$T/redis.log" 2>&1 &
    PIDS+=($!)
    R="redis-cli -p $RP"
    wait_for 30 sh -c "$R ping >/dev/null 2>&1" || fail "redis-server did not start"
}
# start_sinks: HP (HTTP sink port), SP (SMTP port); files under $T/sink
start_sinks() {
    HP=$(port)
    SP=$(port)
    "$PY" "$LIB_HERE/notify_sink.py" "$HP" "$SP" "$T/sink" 2>"$T/sink.log" &
    PIDS+=($!)
    wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$HP/" || fail "sink did not start"
    wait_for 30 python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$SP),1)" ||
        fail "SMTP sink did not start"
}
iso() { python3 -c "import datetime,sys; print((datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(hours=float(sys.argv[1]))).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$1"; }
# ship ID STATUS LOCALE ETA_H PROMISED_H LAST_EVENT_H [phone] : writes the
# shipment hash as the store does and appends a change entry
ship() {
    local id=$1 st=$2 loc=$3 eta="" prom="" last phone=${7:-+31612345678}
    [ "$4" != - ] && eta=$(iso "$4")
    [ "$5" != - ] && prom=$(iso "$5")
    last=$(iso "$6")
    $R hset "wismo:s:{$id}" id "$id" carrier dhl tracking_number "JJD$id" \
        order_id "ORD-$id" postcode "1234 AB" email "$id@example.com" \
        phone "$phone" locale "$loc" promised_delivery "$prom" status "$st" \
        substatus "" estimated_delivery "$eta" delivered_at "" \
        created_at "$(iso -100)" updated_at "$(iso 0)" last_event_at "$last" >/dev/null
    $R hset "wismo:s:{$id}:ev" "$last|X1|Utrecht||NL" \
        "{\"time\":\"$last\",\"status\":\"$st\",\"code\":\"X1\",\"description\":\"e\",\"location\":{\"city\":\"Utrecht\",\"country\":\"NL\"}}" >/dev/null
    $R xadd wismo:changes '*' id "$id" carrier dhl tracking_number "JJD$id" \
        order_id "ORD-$id" status "$st" previous_status in_transit substatus "" \
        estimated_delivery "$eta" delivered_at "" events_added 1 at "$(iso 0)" >/dev/null
}
# keys PATHPREFIX [REGEX]: idempotency keys of the sink's 2xx answers on
# paths starting with PATHPREFIX (matching REGEX), one a line, sorted
keys() {
    python3 - "$T/sink/http.jsonl" "$1" "${2:-}" <<'PY'
import json, os, re, sys
path, prefix, rx = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
out = []
if os.path.exists(path):
    for l in open(path):
        r = json.loads(l)
        if r["path"].startswith(prefix) and r["status"] < 300:
            h = {k.lower(): v for k, v in r["headers"].items()}
            k = h.get("wismo-idempotency-key") or h.get("idempotency-key")
            if rx.search(k):
                out.append(k)
print("".join(k + "\n" for k in sorted(out)), end="")
PY
}
# has_key PATHPREFIX REGEX: succeeds when some 2xx answer's key matches
has_key() { [ -n "$(keys "$1" "$2")" ]; }
# count_keys PATHPREFIX REGEX MIN: at least MIN distinct matching keys
count_keys() { [ "$(keys "$1" "$2" | sort -u | wc -l)" -ge "$3" ]; }
# records ID: the shipment's notification records, one JSON a line
records() { $R lrange "wismo:s:{$1}:notif" 0 -1; }
# has_record ID TEXT: a record of ID contains TEXT
has_record() { [[ "$(records "$1")" == *"$2"* ]]; }
# group_ready: the notifier's consumer group exists on the change stream
group_ready() {
    [[ "$($R xinfo groups wismo:changes 2>/dev/null)" == *notify* ]]
}
# idle: the notifier has nothing left to do, read in one atomic script:
# every change read and acknowledged, the outbox empty with nothing
# pending, and nothing deferred that falls due within a minute.
idle() {
    [ "$($R eval "
local function grp(k)
  if redis.call('EXISTS', k) == 0 then return nil end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', k)) do
    local t = {}
    for i = 1, #g, 2 do t[g[i]] = g[i + 1] end
    if t['name'] == 'notify' then return t end
  end
end
local c, o = grp(KEYS[1]), grp(KEYS[2])
if not c or not o or c['pending'] ~= 0 or o['pending'] ~= 0 then return 0 end
local s = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #s, 2 do
  if s[i] == 'last-generated-id' and s[i + 1] ~= c['last-delivered-id'] then return 0 end
end
if redis.call('XLEN', KEYS[2]) ~= 0 then return 0 end
if redis.call('ZCOUNT', KEYS[3], '-inf', tonumber(ARGV[1]) + 60000) ~= 0 then return 0 end
return 1" 3 wismo:changes wismo:outbox wismo:outbox:later \
        "$(python3 -c 'import time; print(int(time.time()*1000))')")" = 1 ]
}
# settle: waits (up to a minute) until the notifier is idle
settle() { wait_for 60 idle || fail "the notifier did not settle: $($R xinfo groups wismo:outbox)"; }
