#!/usr/bin/env bash
# The console's live updates as real Server-Sent Events, loopback only:
# its own redis-server and wismod. One connection carries successive
# change entries as they are written to the change stream; a reconnecting
# console gets what it missed after Last-Event-ID; a heartbeat comment
# keeps a quiet stream open; over [http] max_streams a clear 503; a client
# that does not read is dropped, not buffered; one that leaves is let go;
# SIGTERM with streams open ends them and wismod exits 0 (ASan, leaks
# checked, as every test).
# Every wait is for a condition, with a generous bound.
#   test_sse.sh WISMOD
set -euo pipefail

WISMOD=${1:?usage: $0 WISMOD}
FAKE_URL=http://127.0.0.1:9 # no shipment: no carrier is ever called
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
has() { grep -q -- "$2" "$1" 2>/dev/null; }
count() { grep -c -- "$2" "$1" 2>/dev/null || true; }

start_redis
# idle_timeout: how long queued bytes may wait on a client that reads
# nothing before it is dropped.
write_config "$work/w.ini" "[http]
listen = 127.0.0.1:0
max_streams = 4
idle_timeout = 3s
[tokens]
shop = shop-token
agent = agent-token"
start_wismod "$work/w.ini"
AUTH="Authorization: Bearer agent-token"
change() { rcli XADD wismo:changes '*' id "$1" status in_transit events_added 1 >/dev/null; }

# stream NAME [curl args]: one open event stream into $work/NAME (head
# included), its curl's pid in $work/NAME.pid.
stream() {
    local name=$1
    shift
    curl -sN -i --max-time 300 -H "$AUTH" "$@" "$API/agent/events" >"$work/$name" 2>&1 &
    echo $! >"$work/$name.pid"
    pids+=($!)
}
alive() { kill -0 "$(cat "$work/$1.pid")" 2>/dev/null; }

# --- two successive events on one connection ---
change before-any
stream s1
wait_for 60 has "$work/s1" 'event: ready' || fail "s1: no ready event"
head -n1 "$work/s1" | grep -q '^HTTP/1.1 200' || fail "s1: not a 200: $(head -n1 "$work/s1")"
grep -qi '^content-type: text/event-stream' "$work/s1" || fail "s1: not text/event-stream"
grep -qi '^content-length' "$work/s1" && fail "s1: a stream has no Content-Length"
grep -q 'before-any' "$work/s1" && fail "s1: an entry from before it connected"
READY_ID=$(sed -n 's/^id: \([0-9-]*\)\r\?$/\1/p' "$work/s1" | tail -n1)
change first-change
wait_for 60 has "$work/s1" '"id":"first-change"' || fail "s1: the first change did not come"
alive s1 || fail "s1 ended after the first event"
change second-change
wait_for 60 has "$work/s1" '"id":"second-change"' || fail "s1: the second change did not come"
alive s1 || fail "s1 ended after the second event"
[ "$(count "$work/s1" '^HTTP/1')" = 1 ] || fail "s1: more than one answer"
[ "$(count "$work/s1" '^event: change')" = 2 ] || fail "s1: $(count "$work/s1" '^event: change') change events"
awk '/^event: change/{e=1} e&&/^data:/{print; e=0}' "$work/s1" | sed 's/.*"id":"\([^"]*\)".*/\1/' | tr '\n' ' ' >"$work/order"
[ "$(cat "$work/order")" = "first-change second-change " ] || fail "s1: order $(cat "$work/order")"
[ "$failures" = 0 ] && ok "one connection carries two successive changes, in order, as they happen"

# --- a reconnecting console catches up after Last-Event-ID ---
stream s2 -H "Last-Event-ID: $READY_ID"
wait_for 60 has "$work/s2" 'event: ready' || fail "s2: no ready event"
grep -q 'before-any' "$work/s2" && fail "s2: got an entry from before its Last-Event-ID"
grep -q '"id":"first-change"' "$work/s2" && grep -q '"id":"second-change"' "$work/s2" &&
    ok "Last-Event-ID: the missed changes first" || fail "s2: missed changes not sent: $(cat "$work/s2")"
change third-change
wait_for 60 has "$work/s2" '"id":"third-change"' || fail "s2: no live change after catching up"
wait_for 60 has "$work/s1" '"id":"third-change"' || fail "s1: no third change"
[ "$(count "$work/s2" '"id":"third-change"')" = 1 ] || fail "s2: third change not exactly once"

# --- the cap: max_streams = 4 ---
stream s3
wait_for 60 has "$work/s3" 'event: ready' || fail "s3: no ready event"
# A client that sends its request and then reads nothing (a small
# receive buffer, so the kernel holds little for it).
python3 - "$PORT" "$work/slow.ready" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /agent/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer agent-token\r\n\r\n")
open(sys.argv[2], "w").close()
time.sleep(300)
PY
SLOW=$!
pids+=("$SLOW")
wait_for 60 test -e "$work/slow.ready" || fail "slow client did not connect"
streams_are() { out_has "^wismo_http_streams $1\$" curl -s "$API/metrics"; }
wait_for 60 streams_are 4 || fail "4 streams not open: $(curl -s "$API/metrics" | grep http_streams)"
curl -s -i --max-time 10 -H "$AUTH" "$API/agent/events" >"$work/busy" || true
head -n1 "$work/busy" | grep -q '^HTTP/1.1 503' && grep -qi '^retry-after: [0-9]' "$work/busy" &&
    grep -q '"error":"unavailable"' "$work/busy" && grep -q 'too many open streams' "$work/busy" &&
    ok "over max_streams: 503 with Retry-After and a JSON error" || fail "cap answer: $(cat "$work/busy")"

# --- backpressure: the client that reads nothing is dropped ---
big=$(head -c 8000 /dev/zero | tr '\0' x)
for i in $(seq 1 800); do printf 'XADD wismo:changes * id big-%d pad %s\n' "$i" "$big"; done >"$work/big.cmds"
rcli <"$work/big.cmds" >/dev/null
wait_for 120 grep -q 'http stream dropped: client not reading' "$work/wismod.log" &&
    ok "a client that does not read is dropped ($(grep -o 'queued=[0-9]*' "$work/wismod.log" | head -n1))" ||
    fail "the non-reading client was never dropped"
wait_for 120 has "$work/s1" '"id":"big-800"' || fail "s1 (reading) did not get every entry"
alive s1 && alive s2 && alive s3 && ok "the clients that read stay connected" || fail "a reading client was dropped"
wait_for 60 streams_are 3 || fail "the dropped stream still counted"
stream s4
wait_for 60 has "$work/s4" 'event: ready' && ok "the dropped client's slot is free again" ||
    fail "no slot after the drop: $(head -n1 "$work/s4")"

# --- heartbeat: a quiet stream gets a comment every 15 s ---
wait_for 60 has "$work/s4" '^: heartbeat' && ok "heartbeat comment on a quiet stream" ||
    fail "no heartbeat in 60 s"
alive s4 || fail "s4 closed while quiet"

# --- a client that leaves: its stream is closed and no longer counted ---
wait_for 60 streams_are 4 || fail "4 streams before a client leaves"
kill "$(cat "$work/s4.pid")"
wait_for 60 streams_are 3 && ok "a client that leaves frees its stream" ||
    fail "a closed client's stream still counted: $(curl -s "$API/metrics" | grep http_streams)"

# --- SIGTERM with streams open: they end, wismod exits cleanly ---
kill -TERM "$WPID"
rc=0
wait "$WPID" || rc=$?
[ "$rc" = 0 ] && ok "wismod exits 0 on SIGTERM with 3 streams open" || fail "wismod exited $rc"
for s in s1 s2 s3; do
    wait_for 30 sh -c "! kill -0 $(cat "$work/$s.pid") 2>/dev/null" || fail "$s still open after shutdown"
done
has "$work/s1" '^retry: 1000' || fail "s1: not told to come back"
sanitizer_check "$work/wismod.log"
summary sse
