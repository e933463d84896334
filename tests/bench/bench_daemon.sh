#!/usr/bin/env bash
# Benchmark (not a test): wismod against contrib/fakecarrier answering with
# 50 ms latency, Redis and the fake carrier on this machine, everything on
# loopback and bounded in time. Prints:
#   - refreshes per second and wismod CPU µs per refresh with 10,000
#     shipments in flight (targets: >= 5,000/s, <= 150 µs);
#   - the carrier payload size and HTTP requests per refresh (batching);
#   - wismod's RSS with 1,000,000 scheduled shipments (target <= 64 MB).
# Usage: tests/bench/bench_daemon.sh BUILD-DIR [SECONDS] [SCHEDULED]
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD-DIR [SECONDS] [SCHEDULED]}" && pwd)
secs=${2:-20}
scheduled=${3:-1000000}
here=$(cd "$(dirname "$0")/../.." && pwd)
FAKE=$build/contrib/fakecarrier/fakecarrier
WISMOD=$build/daemon/wismod
CTL=$build/daemon/wismoctl
work=$(mktemp -d /tmp/wismo-bench.XXXXXX)
# shellcheck source=../../contrib/fakerun.sh
. "$here/contrib/fakerun.sh"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

tick=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

mkdir -p "$work/redis"
REDIS_SOCK=$work/redis/redis.sock
redis-server --port 0 --unixsocket "$REDIS_SOCK" --dir "$work/redis" \
    --save '' --appendonly no >/dev/null 2>&1 &
pids+=($!)
"$FAKE" --listen 127.0.0.1:0 --speed 3000 --max-shipments 1100000 \
    --fault "carrier=*,kind=latency,ms=50" >"$work/fake.out" 2>/dev/null &
FAKE_PID=$!
pids+=("$FAKE_PID")
for _ in $(seq 100); do
    [ -s "$work/fake.out" ] && redis-cli -s "$REDIS_SOCK" ping >/dev/null 2>&1 && break
    sleep 0.05
done
FAKE_URL="http://$(head -n1 "$work/fake.out" | sed 's/^listening on //')"

# Every status polled every second: the demand is one refresh per shipment
# per second, more than wismod can serve, so throughput is what it can do.
write_config "$work/w2.ini"
sed -i -e 's/^max_inflight = .*/max_inflight = 10000/' \
    -e 's/^concurrency = .*/concurrency = 64/' \
    -e 's/^log_level = .*/log_level = warn/' \
    -e 's/^timeout = .*/timeout = 10s/' "$work/w2.ini"

sum_polls() {
    rcli --raw EVAL 'local n = 0
local idx = redis.call("HVALS", "wismo:idx:num")
for i = 1, #idx do
  n = n + (tonumber(redis.call("HGET", "wismo:s:{" .. idx[i] .. "}", "polls")) or 0)
end
return n' 0
}

echo "== throughput: 10,000 shipments, fake carrier latency 50 ms"
register "$work/w2.ini" 0 1112 # 9 x 1,112 = 10,008
"$WISMOD" -c "$work/w2.ini" 2>"$work/wismod.log" &
WPID=$!
pids+=("$WPID")
sleep 5 # warm up: connections, tokens, first polls
p0=$(sum_polls)
c0=$(cpu_ticks "$WPID")
r0=$(curl -sf "$FAKE_URL/_admin/counts" | jq .total)
t0=$(date +%s%N)
sleep "$secs"
p1=$(sum_polls)
c1=$(cpu_ticks "$WPID")
r1=$(curl -sf "$FAKE_URL/_admin/counts" | jq .total)
t1=$(date +%s%N)
bytes=$(curl -s -H 'DHL-API-Key: k' "$FAKE_URL/dhl/track/shipments?trackingNumber=$(number dhl 5)" | wc -c)
refreshes=$((p1 - p0))
elapsed_ms=$(((t1 - t0) / 1000000))
awk -v r="$refreshes" -v ms="$elapsed_ms" -v c=$((c1 - c0)) -v tk="$tick" \
    -v q=$((r1 - r0)) -v b="$bytes" -v rss="$(rss_kb "$WPID")" 'BEGIN {
    printf "refreshes/s           %8.0f   (target >= 5000)\n", r * 1000 / ms
    printf "wismod CPU µs/refresh %8.1f   (target <= 150)\n", c * 1e6 / tk / r
    printf "HTTP requests/refresh %8.2f   (batching: fedex 30, gls 10)\n", q / r
    printf "payload (one DHL)     %8d B\n", b
    printf "wismod RSS            %8.1f MB\n", rss / 1024
}'
grep -E 'level=(warn|error)' "$work/wismod.log" | sort | uniq -c | sort -rn | head -5 || true
kill -TERM "$WPID"
wait "$WPID" || true

echo "== memory: $scheduled scheduled shipments"
rcli FLUSHALL >/dev/null
t0=$(date +%s)
# The same shapes as number(), made by awk: a million forks would take long.
awk -v n="$scheduled" 'BEGIN {
    split("dhl postnl dpd ups fedex usps canadapost gls bpost", c, " ")
    split("482715 3SWISM48291 0521234567 1Z4E96F7039876 78120583 940551120621386123 702321004567 6234117 32329994567890001122", p, " ")
    for (i = 0; i < n; i++) printf "%s %s%07d\n", c[i % 9 + 1], p[i % 9 + 1], i
}' >"$work/reg.txt"
"$CTL" -c "$work/w2.ini" add - <"$work/reg.txt" >"$work/reg.out"
echo "registered $(jq .created "$work/reg.out") in $(($(date +%s) - t0)) s; Redis holds $(rcli DBSIZE) keys"
"$WISMOD" -c "$work/w2.ini" 2>"$work/wismod2.log" &
WPID=$!
pids+=("$WPID")
sleep 15
awk -v rss="$(rss_kb "$WPID")" -v n="$(rcli ZCARD wismo:due)" -v l="$(rcli ZCARD wismo:lease)" 'BEGIN {
    printf "wismod RSS            %8.1f MB with %d scheduled, %d in flight (target <= 64 MB)\n", rss / 1024, n + l, l
    printf "RSS per scheduled     %8.1f bytes\n", rss * 1024 / (n + l)
}'
kill -TERM "$WPID"
wait "$WPID" || true
