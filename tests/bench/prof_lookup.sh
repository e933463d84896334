#!/usr/bin/env bash
# Profile (not a test, not a throughput benchmark): what one public lookup
# GET /v1/track/{order}?postcode=... costs wismod and redis-server, with
# the answer cache off ([http] cache_ttl = 0: every lookup reads the
# rendered answer from Redis), counted so that the figures do not depend
# on what else runs on the machine.
#
# Setup as bench_api.sh: redis-server on a unix socket, the fake carrier,
# ORDERS orders (default 300) registered with wismoctl and polled once,
# each looked up once (which renders its answer into Redis). Then:
#   cpu  wismod and redis-server run natively; a bounded wrk (-t1 -c8,
#        a Lua script that stops after N requests, default 50000, each a
#        random order with its right postcode) and the CPU each process
#        spent meanwhile, per lookup: utime+stime from /proc/PID/stat
#        (10 ms ticks) and the run time from /proc/PID/task/*/schedstat (ns).
#   instr  Redis saved and restarted, both processes under callgrind;
#        after a warm-up the counters are zeroed, NCG lookups (default
#        2000) made the same way, and the instructions each process ran
#        printed per lookup (NCG 0: skipped). The callgrind files stay
#        in OUT-DIR (default a scratch directory, removed unless KEEP=1)
#        for callgrind_annotate.
# The CPU figures move with the machine's load (other processes share the
# caches and cores): compare builds in alternating runs; the instruction
# counts do not move.
# SYSCALLS=1: also the system calls of each, per lookup (strace -c over
# NCG lookups), between the two.
# PERF=1: also where wismod's CPU goes, kernel included (perf record over
# the cpu run; the top symbols printed, perf.data kept in OUT-DIR).
# HOT=1: the answer cache on ([http] cache_ttl = 1h) and every lookup of
# one order: the cache-hit path (wismod alone; Redis sees the first
# lookup only).
# Every answer must be a 200: other answers fail the script.
# Usage: tests/bench/prof_lookup.sh BUILD-DIR [N] [NCG] [ORDERS]
#   (run it with nice -n 19; OUT-DIR: OUT=dir in the environment)
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD-DIR [N] [NCG] [ORDERS]}" && pwd)
n=${2:-50000}
ncg=${3:-2000}
orders=${4:-300}
here=$(cd "$(dirname "$0")/../.." && pwd)
FAKE=$build/contrib/fakecarrier/fakecarrier
WISMOD=$build/daemon/wismod
CTL=$build/daemon/wismoctl
work=$(mktemp -d /tmp/wismo-prof-lookup.XXXXXX)
out=${OUT:-$work/out}
mkdir -p "$out"
# shellcheck source=../../contrib/fakerun.sh
. "$here/contrib/fakerun.sh"
FPID= RPID= WPID=
cleanup() {
    local p
    for p in $WPID $RPID $FPID; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/redis"
REDIS_SOCK=$work/redis/redis.sock
# start_redis [WRAPPER...]: loads $work/redis/dump.rdb when there is one.
start_redis() {
    rm -f "$REDIS_SOCK"
    "$@" redis-server --port 0 --unixsocket "$REDIS_SOCK" --dir "$work/redis" \
        --save '' --appendonly no >"$work/redis.log" 2>&1 &
    RPID=$!
    for _ in $(seq 600); do
        rcli ping >/dev/null 2>&1 && return
        sleep 0.05
    done
    echo "redis-server did not start" >&2
    exit 1
}
start_redis
"$FAKE" --listen 127.0.0.1:0 --speed 1 --max-shipments $((orders + 100)) \
    >"$work/fake.out" 2>/dev/null &
FPID=$!
for _ in $(seq 100); do
    [ -s "$work/fake.out" ] && break
    sleep 0.05
done
FAKE_URL="http://$(head -n1 "$work/fake.out" | sed 's/^listening on //')"

ttl=0
[ -z "${HOT:-}" ] || ttl=1h # never stale during the run
write_config "$work/w.ini" "[http]
listen = 127.0.0.1:0
cache_ttl = $ttl
[tokens]
shop = shop-token"
# First polls at once, then nothing more during the runs.
sed -i -e '/^retry_/!s/^\([a-z_]*\) = 1s$/\1 = 1h/' "$work/w.ini"

# start_wismod [WRAPPER...]: sets WPID and API.
start_wismod() { wismod_up "$work/w.ini" "$@" || exit 1; }
stop() { # stop PID
    kill -TERM "$1"
    wait "$1" || true
}
start_wismod

register_orders "$work/w.ini" "$orders" || exit 1
echo "setup: $SECONDS s" >&2

# Each order once: renders its answer into Redis.
awk -v api="$API" '{printf "url = \"%s/v1/track/%s?postcode=%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", api, $1, $2}' \
    "$work/orders.txt" >"$work/fetch.cfg"
curl -s --parallel --parallel-max 8 -K "$work/fetch.cfg" >"$work/fetch.codes" 2>/dev/null
got=$(grep -c '^200$' "$work/fetch.codes" || true)
[ "$got" = "$orders" ] || { echo "answers: $got of $orders were 200" >&2; exit 1; }
curl -s -D "$out/head.txt" -o "$out/body.txt" "$API/v1/track/ORD-000007?postcode=$(awk '$1 == "ORD-000007" {print $2}' "$work/orders.txt")"

# wrk stopping after MAX responses (per thread; one thread).
cat >"$work/bounded.lua" <<LUA
local orders = {}
for line in io.lines("$work/orders.txt") do
  local o, p = line:match("^(%S+) (%S+)$")
  orders[#orders + 1] = "/v1/track/" .. o .. "?postcode=" .. p
end
math.randomseed(12345)
local got, bad, max = 0, 0, tonumber(os.getenv("MAX"))
local hot = os.getenv("HOT") or ""
request = function()
  if hot ~= "" then return wrk.format(nil, orders[1]) end
  return wrk.format(nil, orders[math.random(#orders)])
end
-- wrk's main thread sleeps for -d whatever its threads do: exit here.
response = function(status, headers, body)
  got = got + 1
  if status ~= 200 then bad = bad + 1 end
  if got >= max then
    local f = io.open("$work/wrk.out", "w")
    f:write(got, " ", bad, "\n")
    f:close()
    os.exit(0)
  end
end
LUA
# lookups MAX: MAX lookups answered (and at most 7 more sent); prints MAX.
lookups() {
    : >"$work/wrk.out"
    MAX=$1 wrk -t1 -c8 -d600s --timeout 60s -s "$work/bounded.lua" "$API/" >"$work/wrk.log" 2>&1
    read -r got bad <"$work/wrk.out" || { cat "$work/wrk.log" >&2; exit 1; }
    [ "$bad" = 0 ] || { echo "FAIL: $bad of $got answers were not 200" >&2; exit 1; }
    echo "$got"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }
run_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%d\n", s}'; }

echo "orders: $orders${HOT:+ (hot: one order, cache on)}, answer $(wc -c <"$out/body.txt") bytes, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
lookups 2000 >/dev/null # warm-up
wt0=$(ticks "$WPID") rt0=$(ticks "$RPID") wn0=$(run_ns "$WPID") rn0=$(run_ns "$RPID")
ws0=$(sys_ticks "$WPID") rs0=$(sys_ticks "$RPID")
if [ -n "${PERF:-}" ]; then
    perf record -q -F 999 -g -p "$WPID" -o "$out/perf.data" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
fi
done_n=$(lookups "$n")
if [ -n "${PERF:-}" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
fi
wt1=$(ticks "$WPID") rt1=$(ticks "$RPID") wn1=$(run_ns "$WPID") rn1=$(run_ns "$RPID")
ws1=$(sys_ticks "$WPID") rs1=$(sys_ticks "$RPID")
hz=$(getconf CLK_TCK)
awk -v n="$done_n" -v hz="$hz" -v wt=$((wt1 - wt0)) -v rt=$((rt1 - rt0)) \
    -v wn=$((wn1 - wn0)) -v rn=$((rn1 - rn0)) -v ws=$((ws1 - ws0)) -v rs=$((rs1 - rs0)) 'BEGIN {
    printf "cpu (%d lookups)     utime+stime us/lookup (stime)  run-time us/lookup\n", n
    printf "  wismod            %10.2f (%5.2f) %20.2f\n", wt * 1e6 / hz / n, ws * 1e6 / hz / n, wn / 1e3 / n
    printf "  redis-server      %10.2f (%5.2f) %20.2f\n", rt * 1e6 / hz / n, rs * 1e6 / hz / n, rn / 1e3 / n
}'

if [ -n "${PERF:-}" ]; then
    echo "wismod's CPU by symbol (perf, self):"
    perf report -i "$out/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | head -n 30
fi

# The system calls of each process for NCG lookups (strace -c).
if [ -n "${SYSCALLS:-}" ]; then
    strace -c -f -p "$WPID" -o "$out/strace.wismod" &
    s1=$!
    strace -c -f -p "$RPID" -o "$out/strace.redis" &
    s2=$!
    sleep 1
    done_n=$(lookups "$ncg")
    kill -INT $s1 $s2
    wait $s1 $s2 || true
    for p in wismod redis; do
        awk -v n="$done_n" -v p="$p" '$NF == "total" {printf "syscalls  %-14s %10.2f /lookup\n", p, $4 / n}' "$out/strace.$p"
    done
fi

# Both under callgrind (NCG 0: not).
[ "$ncg" != 0 ] || exit 0
stop "$WPID"
WPID=
rcli save >/dev/null
rcli shutdown nosave >/dev/null 2>&1 || true
wait "$RPID" 2>/dev/null || true
start_redis valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.redis"
start_wismod valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.wismod"
lookups 300 >/dev/null # warm-up
callgrind_control -z "$WPID" >/dev/null 2>&1
callgrind_control -z "$RPID" >/dev/null 2>&1
done_n=$(lookups "$ncg")
callgrind_control -d "$WPID" >/dev/null 2>&1
callgrind_control -d "$RPID" >/dev/null 2>&1
ir() { # ir FILE-PREFIX: the instructions of the last dump (all threads)
    local f
    f=$(ls -t "$1".* | head -n1)
    awk '/^(summary|totals):/ {print $2; exit}' "$f"
}
wi=$(ir "$out/callgrind.wismod")
ri=$(ir "$out/callgrind.redis")
awk -v n="$done_n" -v wi="$wi" -v ri="$ri" 'BEGIN {
    printf "instructions (%d lookups, callgrind)\n", n
    printf "  wismod            %10.0f /lookup\n", wi / n
    printf "  redis-server      %10.0f /lookup\n", ri / n
}'
echo "callgrind files: $out (callgrind_annotate FILE)"
