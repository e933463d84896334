#!/usr/bin/env bash
# Browser tests of the tracking page and the agent console: a private
# redis-server, the fake carrier and wismod on loopback (free ports), then
# tests/web/web.test.mjs in Debian's chromium (playwright-core, axe-core
# from tests/web/node_modules: contrib/bootstrap.sh test installs them).
#   test_web.sh FAKECARRIER WISMOD SHOTS-DIR
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD SHOTS-DIR}
WISMOD=${2:?}
SHOTS=${3:?}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/wismo-web-test.XXXXXX")
# shellcheck source=../../contrib/fakerun.sh
. "$here/../../contrib/fakerun.sh"
[ -d "$here/node_modules/playwright-core" ] && [ -d "$here/node_modules/axe-core" ] || {
    echo "tests/web/node_modules is missing: run contrib/bootstrap.sh test (npm ci)" >&2
    exit 1
}
[ -x /usr/bin/chromium ] || { echo "Debian's chromium is missing" >&2; exit 1; }
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/redis" "$SHOTS"
REDIS_SOCK=$work/redis/redis.sock
redis-server --port 0 --unixsocket "$REDIS_SOCK" --dir "$work/redis" --save '' \
    --appendonly no >/dev/null 2>&1 &
pids+=($!)
"$FAKE" --listen 127.0.0.1:0 --speed 1 >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
for _ in $(seq 200); do
    [ -s "$work/fake.out" ] && rcli ping >/dev/null 2>&1 && break
    sleep 0.05
done
FAKE_URL="http://$(head -n1 "$work/fake.out" | sed 's/^listening on //')"
# A real SMTP server (aiosmtpd) takes the customers' e-mails.
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HP=$(port)
SP=$(port)
/usr/bin/python3 "$here/../integration/notify_sink.py" "$HP" "$SP" "$work/sink" 2>"$work/sink.log" &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$HP/" && break; sleep 0.05; done
cat >"$work/logo.svg" <<'SVG'
<svg xmlns="http://www.w3.org/2000/svg" width="132" height="32" viewBox="0 0 132 32"><rect width="32" height="32" rx="8" fill="#0f766e"/><path d="M8 11l4 11 4-8 4 8 4-11" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/><text x="40" y="22" font-family="system-ui,sans-serif" font-size="17" font-weight="700" fill="#16181d">Tulp &amp; Co</text></svg>
SVG
write_config "$work/w.ini" "[http]
listen = 127.0.0.1:0
lookup_failures = 20
cache_ttl = 2s
[tokens]
shop = shop-token
agent = agent-token
admin = admin-token
[web]
shop_name = Tulp & Co
logo = $work/logo.svg
accent = #0f766e
default_lang = nl
frame_ancestors = https://shop.example
[notify]
stall_after = 48h
quiet_hours =
daily_cap = 100
tick = 1s
[smtp]
url = smtp://127.0.0.1:$SP
from = Tulp & Co <noreply@tulp.example>"
# The test moves timelines forward itself; polls every second.
: >"$work/wismod.log"
"$WISMOD" -c "$work/w.ini" 2>"$work/wismod.log" &
WPID=$!
pids+=("$WPID")
port=
for _ in $(seq 200); do
    port=$(sed -n 's/.*msg=ready.* port=\([0-9]*\).*/\1/p' "$work/wismod.log")
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "wismod did not start" >&2; cat "$work/wismod.log" >&2; exit 1; }

rc=0
WISMO_URL=http://127.0.0.1:$port FAKE_URL=$FAKE_URL REDIS_SOCK=$REDIS_SOCK \
    SHOTS=$SHOTS WORK=$work MAILDIR=$work/sink/mail \
    node "$here/web.test.mjs" || rc=$?
kill -TERM "$WPID"
wait "$WPID" || { echo "wismod exited $?" >&2; rc=1; }
if grep -q 'Sanitizer\|runtime error' "$work/wismod.log"; then
    echo "sanitizer report in wismod's log:" >&2
    grep -A20 'Sanitizer\|runtime error' "$work/wismod.log" >&2
    rc=1
fi
[ "$rc" -eq 0 ] || tail -n 30 "$work/wismod.log" >&2
exit "$rc"
