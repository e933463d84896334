#!/usr/bin/env bash
# Benchmark (not a test): wrk against wismod's public lookup
# GET /v1/track/{order}?postcode=... and, in the same run, against nginx
# (one worker, like wismod's one loop) serving the same JSON body as a
# static file. Prints req/s, the ratio and p50/p99 at 64 connections.
# Target: wismod >= 1.0 x nginx's req/s, p99 <= 5 ms. Loopback only,
# bounded in time. Installs wrk and nginx with apt-get if missing.
# Usage: tests/bench/bench_api.sh BUILD-DIR [SECONDS]
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD-DIR [SECONDS]}" && pwd)
secs=${2:-10}
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
# shellcheck source=../../contrib/fakerun.sh
. "$here/contrib/fakerun.sh"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill -TERM "$(cat "$work/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/redis"
REDIS_SOCK=$work/redis/redis.sock
redis-server --port 0 --unixsocket "$REDIS_SOCK" --dir "$work/redis" --save '' \
    --appendonly no >/dev/null 2>&1 &
pids+=($!)
"$FAKE" --listen 127.0.0.1:0 --speed 1 >"$work/fake.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do
    [ -s "$work/fake.out" ] && rcli ping >/dev/null 2>&1 && break
    sleep 0.05
done
FAKE_URL="http://$(head -n1 "$work/fake.out" | sed 's/^listening on //')"
write_config "$work/w.ini" "[http]
listen = 127.0.0.1:0
[tokens]
shop = shop-token"
sed -i -e '/^retry_/!s/^\([a-z_]*\) = 1s$/\1 = 1h/' "$work/w.ini"
"$WISMOD" -c "$work/w.ini" 2>"$work/wismod.log" &
WPID=$!
pids+=("$WPID")
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*msg=ready.* port=\([0-9]*\).*/\1/p' "$work/wismod.log")
    [ -n "$port" ] && break
    sleep 0.05
done
API=http://127.0.0.1:$port
curl -sf -o /dev/null -H 'Authorization: Bearer shop-token' -H 'Content-Type: application/json' \
    -d '{"tracking_number":"1Z4E96F70398769999","carrier":"ups","order_id":"BENCH-1","postcode":"1234AB"}' \
    "$API/v1/shipments"
sleep 2 # polled once: the answer has its first event
path='/v1/track/BENCH-1?postcode=1234AB'
curl -sf -o "$work/track.json" "$API$path"
mkdir -p "$work/www/v1/track"
cp "$work/track.json" "$work/www/v1/track/BENCH-1"
nport=$(( (port + 1000) % 60000 + 2000 ))
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
"$NGINX" -c "$work/nginx.conf" -p "$work"
sleep 0.3
run_wrk() { # run_wrk URL -> "req/s p50 p99"
    wrk -t2 -c64 -d"${secs}s" --latency "$1" >"$work/wrk.out" 2>&1
    awk '/Requests\/sec/ {r = $2}
         $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
         END {print r, p50, p99}' "$work/wrk.out"
}
echo "body: $(wc -c <"$work/track.json") bytes, wrk -t2 -c64 -d${secs}s"
read -r nr n50 n99 < <(run_wrk "http://127.0.0.1:$nport$path")
read -r wr w50 w99 < <(run_wrk "$API$path")
printf '%-8s %12s %10s %10s\n' server req/s p50 p99
printf '%-8s %12s %10s %10s\n' nginx "$nr" "$n50" "$n99" wismod "$wr" "$w50" "$w99"
awk -v w="$wr" -v n="$nr" 'BEGIN {printf "ratio wismod/nginx: %.2f (target >= 1.0)\n", w / n}'
grep -E 'level=(error|warn)' "$work/wismod.log" | head -3 || true
