#!/usr/bin/env bash
# Benchmark (not a test): wrk against wismod's public lookup
# GET /v1/track/{order}?postcode=... and, in the same run, against nginx
# (one worker, like wismod's one loop) serving each order's exact answer
# as a static file of the same size.
#
# ORDERS orders are registered (default 20000, spread over the carriers) and
# polled once by the fake carrier, so each answer has its events. Then, for
# each server, wrk -t2 -c64 on loopback for SECONDS:
#   random  every request a uniformly random order with its right postcode
#           (a Lua script), the shape of peak traffic;
#   hot     one order, again and again.
# wismod runs twice on the same Redis: with its answer cache on (default
# [http] cache_ttl) and off (cache_ttl = 0: every lookup reaches the store).
# Every answer is checked first (200 and the same bytes from both servers);
# non-2xx answers during a run are counted, printed, and fail the script.
# Prints req/s, the ratio to nginx's req/s for the same workload in the
# same run, p50/p99, the CPU per request of wismod and of nginx's worker
# (utime+stime from /proc over the run / requests) and how often each
# waited for work (voluntary context switches per request), the same two
# for wrk itself when perf is installed (wrk-us, wrk-sw: the load
# generator shares the two CPUs), wismod's RSS before and after, and the
# load average.
# Targets: cache off, random >= 0.8x nginx with p99 <= 5 ms; cache on, hot
# >= 1.2x nginx. Installs wrk and nginx with apt-get if missing.
# Usage: tests/bench/bench_api.sh BUILD-DIR [SECONDS] [ORDERS]
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD-DIR [SECONDS] [ORDERS]}" && pwd)
secs=${2:-10}
orders=${3:-20000}
here=$(cd "$(dirname "$0")/../.." && pwd)
FAKE=$build/contrib/fakecarrier/fakecarrier
WISMOD=$build/daemon/wismod
CTL=$build/daemon/wismoctl
for tool in wrk nginx; do
    if ! command -v "$tool" >/dev/null && ! [ -x "/usr/sbin/$tool" ]; then
        apt-get install -y -qq "$tool" >/dev/null
    fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
work=$(mktemp -d /tmp/wismo-bench-api.XXXXXX)
# nginx's worker runs as nobody when started as root: it must be able to
# read the files (else every answer is a 403 page).
chmod 755 "$work"
# shellcheck source=../../contrib/fakerun.sh
. "$here/contrib/fakerun.sh"
pids=()
WPID=
cleanup() {
    local p
    for p in "${pids[@]}" $WPID; do kill -TERM "$p" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill -TERM "$(cat "$work/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/redis"
REDIS_SOCK=$work/redis/redis.sock
# Each server in a session of its own, as a daemon runs (nginx puts itself
# in one; systemd gives each service its own cgroup): with the kernel's
# autogroup scheduling (sched_autogroup_enabled), CPU is shared between
# sessions first, so a server in the bench's own session would share one
# share with wrk's threads while nginx had a share of its own.
setsid redis-server --port 0 --unixsocket "$REDIS_SOCK" --dir "$work/redis" --save '' \
    --appendonly no >/dev/null 2>&1 &
pids+=($!)
RPID=$!
"$FAKE" --listen 127.0.0.1:0 --speed 1 --max-shipments $((orders + 1000)) \
    >"$work/fake.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do
    [ -s "$work/fake.out" ] && rcli ping >/dev/null 2>&1 && break
    sleep 0.05
done
FAKE_URL="http://$(head -n1 "$work/fake.out" | sed 's/^listening on //')"

# start_wismod CACHE-TTL: a wismod on the shared Redis; sets WPID and API.
start_wismod() {
    write_config "$work/w.ini" "[http]
listen = 127.0.0.1:0
cache_ttl = $1
[tokens]
shop = shop-token"
    # First polls at once, then nothing more during the runs.
    sed -i -e '/^retry_/!s/^\([a-z_]*\) = 1s$/\1 = 1h/' \
        "$work/w.ini"
    wismod_up "$work/w.ini" setsid || exit 1
}
stop_wismod() {
    kill -TERM "$WPID"
    wait "$WPID" || true
    WPID=
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Context switches of a process (voluntary: it waited for work).
ctx_switches() { awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/status"; }
load() { awk '{print $1}' /proc/loadavg; }

# The orders: order id, postcode, spread over the carriers (the fake
# carrier answers every number in a carrier's shape).
start_wismod 5s
register_orders "$work/w.ini" "$orders" || exit 1

# Each order's answer, once through wismod (which also renders it where
# wismod keeps rendered answers): the static files nginx serves.
mkdir -p "$work/www/v1/track"
awk -v api="$API" -v w="$work/www/v1/track" \
    '{printf "url = \"%s/v1/track/%s?postcode=%s\"\noutput = \"%s/%s\"\nwrite-out = \"%%{http_code}\\n\"\n", api, $1, $2, w, $1}' \
    "$work/orders.txt" >"$work/fetch.cfg"
curl -s --parallel --parallel-max 16 -K "$work/fetch.cfg" >"$work/fetch.codes" 2>/dev/null
bad=$(grep -vc '^200$' "$work/fetch.codes" || true)
got=$(grep -c '^200$' "$work/fetch.codes" || true)
[ "$bad" = 0 ] && [ "$got" = "$orders" ] ||
    { echo "answers: $got of $orders were 200 ($bad not)" >&2; exit 1; }
chmod -R a+rX "$work/www"
size=$(cat "$work"/www/v1/track/* | wc -c)
stop_wismod

# nginx on a free port (a few tries).
for _ in 1 2 3 4 5 6 7 8; do
    nport=$((RANDOM % 20000 + 30000))
    cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nport;
        root $work/www;
        location / { default_type application/json; }
    }
}
NGINX
    "$NGINX" -c "$work/nginx.conf" -p "$work" 2>/dev/null && break
    nport=
done
[ -n "$nport" ] || { echo "nginx did not start" >&2; cat "$work/nginx.err" >&2; exit 1; }
sleep 0.3
NG=http://127.0.0.1:$nport

# The random workload: a uniformly random order with its right postcode.
cat >"$work/random.lua" <<LUA
local orders = {}
for line in io.lines("$work/orders.txt") do
  local o, p = line:match("^(%S+) (%S+)$")
  orders[#orders + 1] = "/v1/track/" .. o .. "?postcode=" .. p
end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  return wrk.format(nil, orders[math.random(#orders)])
end
LUA
hot=$(sed -n '1s/^\(\S*\) \(\S*\)$/\/v1\/track\/\1?postcode=\2/p' "$work/orders.txt")

# run NAME URL-BASE random|hot [PID] -> a line of figures; fails on non-2xx.
run() {
    local name=$1 base=$2 kind=$3 pid=${4:-} t0=0 t1=0 c0=0 c1=0 l
    local args=(-t2 -c64 -d"${secs}s" --timeout 2s --latency)
    if [ "$kind" = random ]; then args+=(-s "$work/random.lua" "$base/"); else args+=("$base$hot"); fi
    l=$(load)
    [ -n "$pid" ] && t0=$(cpu_ticks "$pid") && c0=$(ctx_switches "$pid")
    if command -v perf >/dev/null; then
        perf stat -x, -e task-clock,context-switches -o "$work/wrk.perf" \
            wrk "${args[@]}" >"$work/wrk.out" 2>&1
    else
        : >"$work/wrk.perf"
        wrk "${args[@]}" >"$work/wrk.out" 2>&1
    fi
    [ -n "$pid" ] && t1=$(cpu_ticks "$pid") && c1=$(ctx_switches "$pid")
    awk -v name="$name" -v kind="$kind" -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
        -v cs=$((c1 - c0)) -v wrk_ms="$(awk -F, '/task-clock/ {print $1}' "$work/wrk.perf")" \
        -v wrk_cs="$(awk -F, '/context-switches/ {print $1}' "$work/wrk.perf")" \
        -v pid="$pid" -v load="$l" '
        / requests in / {n = $1}
        /Requests\/sec/ {r = $2}
        /Non-2xx or 3xx responses/ {bad = $NF}
        /Socket errors/ {serr = $0}
        $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
        END {
            cpu = pid == "" || n == 0 ? "-" : sprintf("%.1f", ticks * 1e6 / hz / n)
            sw = pid == "" || n == 0 ? "-" : sprintf("%.3f", cs / n)
            wcpu = wrk_ms == "" || n == 0 ? "-" : sprintf("%.1f", wrk_ms * 1000 / n)
            wsw = wrk_cs == "" || n == 0 ? "-" : sprintf("%.3f", wrk_cs / n)
            printf "%-16s %-6s %10s %9s %9s %8s %7s %6s %5s %8s %7s\n", name, kind, r, p50, p99, cpu, sw, bad + 0, load, wcpu, wsw
            if (serr != "") print "  " serr
        }' "$work/wrk.out" | tee -a "$work/results"
    if grep -q 'Non-2xx or 3xx responses' "$work/wrk.out"; then
        echo "FAIL: $name $kind answered non-2xx" >&2
        grep -E 'Non-2xx|Socket' "$work/wrk.out" >&2
        exit 1
    fi
}

# Same bytes from both servers for the hot order and a random one.
mid=$(((orders + 1) / 2))
for path in "$hot" "$(sed -n "${mid}s/^\(\S*\) \(\S*\)$/\/v1\/track\/\1?postcode=\2/p" "$work/orders.txt")"; do
    code=$(curl -s -o "$work/ng.body" -w '%{http_code}' "$NG$path")
    [ "$code" = 200 ] || { echo "nginx answers $code for $path" >&2; exit 1; }
done

echo "orders: $orders ($size bytes of answers, $(wc -c <"$work/www/v1/track/ORD-000000") for the hot one), wrk -t2 -c64 -d${secs}s, $(nproc) CPUs"
printf '%-16s %-6s %10s %9s %9s %8s %7s %6s %5s %8s %7s\n' server load req/s p50 p99 'cpu-us' 'ctxsw' non2xx loadavg 'wrk-us' 'wrk-sw'
ngw=$(pgrep -P "$(cat "$work/nginx.pid")" | head -n1)
run nginx "$NG" random "$ngw"
run nginx "$NG" hot "$ngw"
for ttl in 5s 0; do
    start_wismod "$ttl"
    curl -s -o "$work/w.body" "$API$hot"
    cmp -s "$work/w.body" "$work/www/v1/track/ORD-000000" ||
        { echo "wismod's answer differs from the file nginx serves" >&2; exit 1; }
    rss0=$(rss_kib "$WPID")
    name="wismod cache=$ttl"
    run "$name" "$API" random "$WPID"
    rss1=$(rss_kib "$WPID")
    run "$name" "$API" hot "$WPID"
    rss2=$(rss_kib "$WPID")
    echo "  wismod cache=$ttl RSS: ${rss0} KiB before, ${rss1} after random, ${rss2} after hot" | tee -a "$work/results"
    grep -E 'level=(error|warn)' "$work/wismod.log" | head -3 || true
    stop_wismod
done
awk '
    $1 == "nginx" {ng[$2] = $3}
    $1 == "wismod" && ($3 == "random" || $3 == "hot") {w[$2 " " $3] = $4; p99[$2 " " $3] = $6}
    END {
        for (k in w) {
            split(k, a, " ")
            printf "ratio wismod %s %s / nginx: %.2f (p99 %s)\n", a[1], a[2], w[k] / ng[a[2]], p99[k]
        }
    }' "$work/results" | sort
echo "targets: cache=0 random >= 0.80 with p99 <= 5ms; cache=5s hot >= 1.20"
