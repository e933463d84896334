#!/usr/bin/env bash
# Disk full (issue 13 item 13): redis-server keeps its append-only file on
# a tiny tmpfs (mounted here: needs root, as CI runs; skipped otherwise),
# wismod registers through it. Once the filesystem is full, registrations
# answer 507 with Retry-After, never 201; the refusal is logged a few
# times, not once per request; when space returns, registrations answer
# 201 again, and after a restart of Redis every registration that was
# answered 201 is there.
#   test_diskfull.sh FAKECARRIER WISMOD
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD}
WISMOD=${2:?}
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
mnt=$work/aof
mkdir -p "$mnt"
mounted=
cleanup_more() { [ -z "$mounted" ] || umount "$mnt" 2>/dev/null; }
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=4m tmpfs "$mnt" 2>/dev/null; then
    echo "SKIP: mounting a tmpfs needs root"
    exit 77
fi
mounted=1
# aof_redis: Redis with its append-only file on the tmpfs (the later --dir);
# its socket and log stay in $work.
aof_redis() {
    REDIS_LOG=$work/redis.log start_redis "$work" --dir "$mnt" \
        --appendonly yes --appendfsync everysec
}
aof_redis
start_fake --speed 1
cat >"$work/w.ini" <<INI
[daemon]
data_dir = $work/data
[redis]
url = unix://$REDIS_SOCK
[http]
listen = 127.0.0.1:0
[tokens]
shop = shop-token
[carrier.dhl]
base_url = $FAKE_URL/dhl
api_key = test-key
INI
start_wismod "$work/w.ini"
# reg N: registers tracking number 48271590NN; the status to stdout, the
# headers in $work/h
reg() {
    curl -s -o "$work/body" -D "$work/h" -w '%{http_code}' \
        -H "Authorization: Bearer shop-token" -H "Content-Type: application/json" \
        -d "{\"tracking_number\":\"48271590$(printf %02d "$1")\",\"carrier\":\"dhl\",\"order_id\":\"D-$1\"}" \
        "$API/v1/shipments"
}
acked=()
[ "$(reg 1)" = 201 ] && acked+=(1) && ok "registration with space: 201" || fail "first registration"

# Fill the filesystem.
dd if=/dev/zero of="$mnt/fill" bs=64k 2>/dev/null || true
codes=""
for i in $(seq 2 40); do
    c=$(reg "$i")
    codes="$codes $c"
    [ "$c" = 201 ] && acked+=("$i")
    if [ "$c" = 507 ]; then
        grep -qi '^Retry-After: [0-9]' "$work/h" || fail "507 without Retry-After"
        jq -e '.error == "store_full"' "$work/body" >/dev/null || fail "507 body: $(cat "$work/body")"
    fi
done
n507=$(tr ' ' '\n' <<<"$codes" | grep -c '^507$' || true)
n201=$(tr ' ' '\n' <<<"$codes" | grep -c '^201$' || true)
[ "$n507" -ge 30 ] && ok "disk full: $n507 of 39 registrations answered 507 ($n201 201 before Redis noticed)" ||
    fail "disk full answers:$codes"
lines=$(grep -c 'redis refuses writes' "$work/wismod.log" || true)
[ "$lines" -ge 1 ] && [ "$lines" -le 5 ] && ok "the refusal logged $lines times for $n507 refusals" ||
    fail "the refusal was logged $lines times"

# Space again: Redis writes what it holds and takes writes again.
rm -f "$mnt/fill"
# (A registration answered 507 may still be in Redis' memory and land
# later: asked again it answers 200, as any repeat does.)
back() {
    local c
    c=$(reg 50)
    [ "$c" = 201 ] || [ "$c" = 200 ]
}
wait_for 30 back && ok "space back: registrations answer again" || fail "still refused after space came back"
acked+=(50)

# A restart of Redis: everything acknowledged is there.
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
aof_redis
missing=0
for i in "${acked[@]}"; do
    [ "$(rcli HEXISTS wismo:idx:num "dhl:48271590$(printf %02d "$i")")" = 1 ] || missing=$((missing + 1))
done
[ "$missing" -eq 0 ] && ok "after a Redis restart all ${#acked[@]} acknowledged registrations are there" ||
    fail "$missing acknowledged registrations lost"

stop_wismod
summary diskfull
