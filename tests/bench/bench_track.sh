#!/usr/bin/env bash
# Benchmark (not a test): wrk against wismod's tracking page for a cached
# order (GET /track?order_id=...&postcode=...), beside the JSON lookup
# (GET /v1/track/{order}?postcode=...) and nginx serving the same page
# bytes as a static file, all in the same run. nginx runs one worker (like
# wismod's one loop) from a directory it can read; every server must answer
# 200 to every request (wrk's non-2xx count is checked). Prints req/s,
# p50/p99 and the ratio to nginx. Target: /track >= 1.0 x nginx.
# Loopback only, bounded in time. Installs wrk and nginx if missing.
# Usage: tests/bench/bench_track.sh BUILD-DIR [SECONDS]   (a Release build)
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD-DIR [SECONDS]}" && pwd)
secs=${2:-10}
here=$(cd "$(dirname "$0")/../.." && pwd)
FAKE=$build/contrib/fakecarrier/fakecarrier
WISMOD=$build/daemon/wismod
for tool in wrk nginx; do
    if ! command -v "$tool" >/dev/null && ! [ -x "/usr/sbin/$tool" ]; then
        apt-get install -y -qq "$tool" >/dev/null
    fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
work=$(mktemp -d /tmp/wismo-bench-track.XXXXXX)
chmod 755 "$work" # nginx's worker reads the page from here
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
cache_ttl = 1h
[tokens]
shop = shop-token
[web]
shop_name = Bench Shop"
sed -i -e '/^retry_/!s/^\([a-z_]*\) = 1s$/\1 = 1h/' "$work/w.ini"
: >"$work/wismod.log"
"$WISMOD" -c "$work/w.ini" 2>"$work/wismod.log" &
pids+=($!)
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*msg=ready.* port=\([0-9]*\).*/\1/p' "$work/wismod.log")
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "wismod did not start" >&2; exit 1; }
API=http://127.0.0.1:$port
curl -sf -o /dev/null -H 'Authorization: Bearer shop-token' -H 'Content-Type: application/json' \
    -d '{"tracking_number":"1Z4E96F70398769999","carrier":"ups","order_id":"BENCH-1","postcode":"1234AB","promised_delivery":"2030-01-01"}' \
    "$API/v1/shipments"
# Polled once: the answer has its first event.
for _ in $(seq 100); do
    curl -sf "$API/v1/track/BENCH-1?postcode=1234AB" | grep -q '"events":\[{' && break
    sleep 0.1
done
page='/track?order_id=BENCH-1&postcode=1234AB&lang=en'
json='/v1/track/BENCH-1?postcode=1234AB'
mkdir -p "$work/www/v1/track"
curl -sf -o "$work/www/track.html" "$API$page"
curl -sf -o "$work/www/v1/track/BENCH-1" "$API$json"
chmod -R a+rX "$work/www"
nport=$(( (port + 1000) % 60000 + 2000 ))
cat >"$work/nginx.conf" <<NGINX
$( [ "$(id -u)" -eq 0 ] && echo 'user root;')
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
        location = /track { default_type text/html; try_files /track.html =404; }
        location / { default_type application/json; }
    }
}
NGINX
"$NGINX" -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$nport/track" && break; sleep 0.1; done
# Every server answers 200 with the same bytes before it is measured.
for url in "http://127.0.0.1:$nport$page" "$API$page"; do
    code=$(curl -s -o "$work/check.html" -w '%{http_code}' "$url")
    [ "$code" = 200 ] || { echo "$url answered $code" >&2; exit 1; }
    cmp -s "$work/check.html" "$work/www/track.html" || { echo "$url: other bytes" >&2; exit 1; }
done
run_wrk() { # run_wrk URL -> "req/s p50 p99"; fails on any non-2xx answer
    wrk -t2 -c64 -d"${secs}s" --latency "$1" >"$work/wrk.out" 2>&1
    if grep -q 'Non-2xx' "$work/wrk.out"; then
        echo "$1: $(grep 'Non-2xx' "$work/wrk.out")" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {r = $2}
         $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
         END {print r, p50, p99}' "$work/wrk.out"
}
echo "page: $(wc -c <"$work/www/track.html") bytes, JSON: $(wc -c <"$work/www/v1/track/BENCH-1") bytes; wrk -t2 -c64 -d${secs}s"
read -r nr n50 n99 < <(run_wrk "http://127.0.0.1:$nport$page")
read -r tr t50 t99 < <(run_wrk "$API$page")
read -r jr j50 j99 < <(run_wrk "$API$json")
printf '%-16s %12s %10s %10s\n' server req/s p50 p99
printf '%-16s %12s %10s %10s\n' "nginx (page)" "$nr" "$n50" "$n99" \
    "wismod /track" "$tr" "$t50" "$t99" "wismod /v1/track" "$jr" "$j50" "$j99"
awk -v w="$tr" -v n="$nr" 'BEGIN {printf "ratio /track / nginx: %.2f (target >= 1.0)\n", w / n}'
grep -E 'level=(error|warn)' "$work/wismod.log" | head -3 || true
