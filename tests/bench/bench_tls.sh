#!/usr/bin/env bash
# Benchmark (not a test): the cost of new TLS connections in wismo's HTTP
# engine with Debian's libcurl defaults versus wismo's setting. Makes a
# throwaway CA and a certificate for 127.0.0.1, a CA bundle of the system
# one (~220 KB) plus that CA, serves HTTPS on loopback with nginx, then runs
# bench_tls (tests/bench/bench_tls.c) in three modes, each for SECONDS:
#   1. debian     Debian's CAPATH kept (no CA cache), a new connection each
#   2. wismo      CAPATH NULL (CA store cached), a new connection each
#   3. keepalive  wismo's setting, one connection reused
# and prints CPU and wall ms per request, the TLS connections the server
# saw (and how many resumed a session), and the ratio 1/2.
#
# nginx is installed with apt-get when missing. openssl s_server cannot
# keep a connection alive (-www answers HTTP/1.0 and closes), so without
# nginx the script falls back to it and skips mode 3 (BENCH_TLS_SERVER=
# openssl forces that fallback).
# Usage: tests/bench/bench_tls.sh BUILD-DIR [SECONDS]
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD-DIR [SECONDS]}" && pwd)
secs=${2:-3}
BENCH=$build/tests/bench_tls
SYS_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[ -x "$BENCH" ] || {
    echo "bench_tls.sh: $BENCH missing: cmake --build $build --target bench_tls" >&2
    exit 1
}
work=$(mktemp -d /tmp/wismo-bench-tls.XXXXXX)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

apt_install() {
    [ "$(id -u)" = 0 ] || return 1
    echo "bench_tls.sh: installing $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "$@" >"$work/apt.log" 2>&1 ||
        { apt-get update -qq >>"$work/apt.log" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "$@" >>"$work/apt.log" 2>&1; }
}
[ -s "$SYS_BUNDLE" ] || apt_install ca-certificates
[ -s "$SYS_BUNDLE" ] || { echo "bench_tls.sh: no $SYS_BUNDLE" >&2; exit 1; }
server=${BENCH_TLS_SERVER:-nginx} # BENCH_TLS_SERVER=openssl: s_server
if [ "$server" = nginx ] && ! command -v nginx >/dev/null &&
    ! [ -x /usr/sbin/nginx ]; then
    apt_install nginx || server=openssl
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- certificates: a CA, a server certificate for 127.0.0.1, a bundle ----
ossl() { openssl "$@" >>"$work/openssl.log" 2>&1; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/ca.key" -out "$work/ca.crt" -days 2 \
    -subj "/CN=wismo bench CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/srv.key" -out "$work/srv.csr" -subj "/CN=127.0.0.1"
printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    >"$work/srv.ext"
ossl x509 -req -in "$work/srv.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
    -CAcreateserial -days 2 -extfile "$work/srv.ext" -out "$work/srv.crt"
cat "$SYS_BUNDLE" "$work/ca.crt" >"$work/bundle.crt"
ncerts=$(grep -c 'BEGIN CERTIFICATE' "$work/bundle.crt")

# --- the loopback server ------------------------------------------------
write_nginx_conf() {
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 256; }
http {
    log_format conn '\$connection \$connection_requests \$ssl_session_reused';
    access_log $work/nginx/access.log conn;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$1 ssl;
        ssl_certificate $work/srv.crt;
        ssl_certificate_key $work/srv.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:bench:1m;
        ssl_session_timeout 1h;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
EOF
}

# A free port: bounded tries, then the server must answer within 5 s.
start_server() {
    local port
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then continue; fi
        if [ "$server" = nginx ]; then
            write_nginx_conf "$port"
            "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" \
                2>>"$work/server.log" &
        else
            openssl s_server -accept "127.0.0.1:$port" -www -quiet \
                -cert "$work/srv.crt" -key "$work/srv.key" \
                >>"$work/server.log" 2>&1 &
        fi
        server_pid=$!
        for _ in $(seq 50); do
            if curl -sf --max-time 1 --cacert "$work/ca.crt" -o /dev/null \
                "https://127.0.0.1:$port/"; then
                URL=https://127.0.0.1:$port/
                return 0
            fi
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    done
    echo "bench_tls.sh: the $server server did not start:" >&2
    cat "$work/server.log" >&2
    return 1
}
start_server

# --- the runs -----------------------------------------------------------
declare -A cpu wall reqs conns resumed
run_mode() {
    local mode=$1 line
    [ "$server" = nginx ] && : >"$work/nginx/access.log"
    line=$(timeout $((secs + 30)) "$BENCH" "$mode" "$URL" "$work/bundle.crt" \
        "$secs") || { echo "bench_tls.sh: mode $mode failed" >&2; exit 1; }
    echo "$line"
    kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    cpu[$mode]=$(kv cpu_ms_per_req)
    wall[$mode]=$(kv wall_ms_per_req)
    reqs[$mode]=$(kv requests)
    conns[$mode]=-
    resumed[$mode]=-
    if [ "$server" = nginx ]; then
        # Counts include the warm-up request; sessions resumed: "r".
        conns[$mode]=$(awk '$2 == 1' "$work/nginx/access.log" | wc -l)
        resumed[$mode]=$(awk '$2 == 1 && $3 == "r"' \
            "$work/nginx/access.log" | wc -l)
        served=$(wc -l <"$work/nginx/access.log")
        if [ "$served" -ne $((reqs[$mode] + 1)) ]; then
            echo "bench_tls.sh: mode $mode: nginx served $served requests," \
                "bench_tls counted $((reqs[$mode] + 1))" >&2
            exit 1
        fi
    fi
}

echo "== bench_tls: $server on 127.0.0.1, CA bundle of $ncerts certificates" \
    "($(stat -c %s "$work/bundle.crt") bytes), $secs s per mode"
modes=(debian wismo)
[ "$server" = nginx ] && modes+=(keepalive)
for m in "${modes[@]}"; do run_mode "$m"; done

echo
printf '%-34s %9s %11s %12s %9s %13s\n' mode requests "cpu ms/req" \
    "wall ms/req" "tls conns" "tls resumed"
label() {
    case $1 in
    debian) echo "1 Debian default, new connection" ;;
    wismo) echo "2 wismo (CA cache), new connection" ;;
    keepalive) echo "3 wismo, keep-alive" ;;
    esac
}
for m in "${modes[@]}"; do
    printf '%-34s %9s %11s %12s %9s %13s\n' "$(label "$m")" "${reqs[$m]}" \
        "${cpu[$m]}" "${wall[$m]}" "${conns[$m]}" "${resumed[$m]}"
done
awk -v c1="${cpu[debian]}" -v c2="${cpu[wismo]}" -v w1="${wall[debian]}" \
    -v w2="${wall[wismo]}" 'BEGIN {
        printf "\nratio 1/2: CPU %.1fx, wall %.1fx", c1 / c2, w1 / w2
        printf " (CA parse per connection ~%.1f ms CPU)\n", c1 - c2 }'
if [ "$server" = nginx ]; then
    awk -v c2="${cpu[wismo]}" -v c3="${cpu[keepalive]}" \
        -v w2="${wall[wismo]}" -v w3="${wall[keepalive]}" 'BEGIN {
        printf "ratio 2/3: CPU %.1fx, wall %.1fx\n", c2 / c3, w2 / w3 }'
else
    echo "mode 3 skipped: openssl s_server closes every connection"
fi
