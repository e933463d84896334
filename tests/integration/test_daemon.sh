#!/usr/bin/env bash
# wismod end to end, loopback only: a private redis-server (unix socket),
# contrib/fakecarrier on an accelerated clock, and wismod polling every
# carrier through its real adapter.
#   test_daemon.sh FAKECARRIER WISMOD WISMOCTL [PHASE...]
# Phases (all by default):
#   bulk     1,000 shipments across all carriers end in their scripted final
#            status with exactly the scripted events; polling stops after
#            terminal statuses; a clean SIGTERM exit.
#   kill9    wismod killed with SIGKILL mid-run and restarted: same end state.
#   redis    redis-server restarted mid-run: wismod reconnects, ends right.
#   faults   429 / 500 / garbage / hang / reset from some carriers: the
#            others are unaffected, nothing is stored from bad answers, all
#            end right.
#   two      two wismods on one Redis never poll one shipment at once; one
#            is killed and the other finishes its work after lease expiry.
#   ops      bad configuration refused with file:line (exit 78); the
#            embedded default (a private redis-server, stopped on exit, data
#            kept in its append-only file); SIGHUP reloads, a broken file is
#            refused and the old configuration kept; short-lived OAuth2 and
#            login tokens are fetched again; no secret reaches the log.
set -euo pipefail

FAKE=${1:?usage: $0 FAKECARRIER WISMOD WISMOCTL [PHASE...]}
WISMOD=${2:?}
CTL=${3:?}
shift 3
PHASES=("$@")
[ ${#PHASES[@]} -gt 0 ] || PHASES=(bulk kill9 redis faults two ops)

SPEED=${WISMO_TEST_SPEED:-40000} # fake seconds per real second
work=$(mktemp -d "${TMPDIR:-/tmp}/wismo-daemon-test.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

failures=0
checks=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { checks=$((checks + 1)); echo "ok: $*"; }
say() { echo "--- $*"; }

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../contrib/fakerun.sh
. "$here/../../contrib/fakerun.sh"

redis_start() { # redis_start DIR
    mkdir -p "$1"
    REDIS_SOCK=$1/redis.sock
    redis-server --port 0 --unixsocket "$1/redis.sock" --unixsocketperm 700 \
        --dir "$1" --save '' --appendonly yes --appendfsync everysec \
        --daemonize no >"$1/redis.out" 2>&1 &
    REDIS_PID=$!
    pids+=("$REDIS_PID")
    local i
    for i in $(seq 200); do
        redis-cli -s "$1/redis.sock" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "FAIL: redis-server did not start" >&2
    exit 1
}

fake_start() { # fake_start ARGS...
    "$FAKE" --listen 127.0.0.1:0 --speed "$SPEED" "$@" >"$work/fake.out" \
        2>"$work/fake.err" &
    FAKE_PID=$!
    pids+=("$FAKE_PID")
    local i line=""
    for i in $(seq 100); do
        line=$(head -n1 "$work/fake.out" 2>/dev/null || true)
        [ -n "$line" ] && break
        sleep 0.05
    done
    case "$line" in
    "listening on 127.0.0.1:"*) FAKE_URL="http://${line#listening on }" ;;
    *) echo "FAIL: fakecarrier did not start" >&2; cat "$work/fake.err" >&2; exit 1 ;;
    esac
}

WISMOD_PIDS=()
wismod_start() { # wismod_start NAME CONFIG
    "$WISMOD" -c "$2" 2>>"$work/$1.log" &
    local pid=$!
    pids+=("$pid")
    WISMOD_PIDS+=("$pid")
    eval "PID_$1=$pid"
}

wismod_stop() { # wismod_stop NAME: SIGTERM, exit 0 within 5 s
    local v="PID_$1" rc=0 t0 t1
    t0=$(date +%s%N)
    kill -TERM "${!v}"
    wait "${!v}" || rc=$?
    t1=$(date +%s%N)
    if [ "$rc" -eq 0 ] && [ $(((t1 - t0) / 1000000)) -lt 5000 ]; then
        ok "$1 exits 0 on SIGTERM in $(((t1 - t0) / 1000000)) ms"
    else
        fail "$1 exit status $rc after $(((t1 - t0) / 1000000)) ms"
    fi
}

sanitizer_check() { # sanitizer_check LOG
    if grep -Eq 'Sanitizer|runtime error' "$1"; then
        fail "sanitizer report in $1"
        grep -E -A20 'Sanitizer|runtime error' "$1" | head -40 >&2
    fi
}


# Waits until every registered shipment has its scripted final state.
wait_complete() { # wait_complete SECONDS WHAT
    local deadline=$((SECONDS + $1)) n=-1
    dump_expected "$work/exp.json"
    while [ $SECONDS -lt $deadline ]; do
        dump_store "$work/store.json"
        n=$(compare "$work/store.json" "$work/exp.json" 2>/dev/null)
        [ "$n" -eq 0 ] && break
        sleep 1
        # The script is final once the fake clock passes complete_at.
        dump_expected "$work/exp.json"
    done
    n=$(compare "$work/store.json" "$work/exp.json")
    if [ "$n" -eq 0 ]; then
        ok "$2: $(wc -l <"$KEYS_FILE") shipments hold exactly their scripted events and final status"
    else
        fail "$2: $n shipments differ from their script"
    fi
}

phase_bulk() {
    say "bulk: 1,000 shipments, 9 carriers"
    REDIS_DIR=$work/r1
    redis_start "$REDIS_DIR"
    fake_start
    write_config "$work/w.ini"
    wismod_start w1 "$work/w.ini"
    register "$work/w.ini" 0 112 # 9 x 112 = 1,008
    if jq -e '.created == 1008 and .failed == 0' "$work/reg.out" >/dev/null; then
        ok "1,008 shipments registered"
    else
        fail "registration: $(cat "$work/reg.out")"
    fi
    "$CTL" -c "$work/w.ini" add - <"$work/reg.txt" >"$work/reg2.out"
    jq -e '.existing == 1008 and .created == 0' "$work/reg2.out" >/dev/null &&
        ok "registration is idempotent" || fail "re-registration: $(cat "$work/reg2.out")"
    wait_complete 90 "bulk"
    # Terminal shipments are no longer polled.
    curl -sf "$FAKE_URL/_admin/counts" >"$work/c1.json"
    sleep 3
    curl -sf "$FAKE_URL/_admin/counts" >"$work/c2.json"
    dump_store "$work/store.json"
    local moved
    moved=$(jq -n --slurpfile s "$work/store.json" --slurpfile a "$work/c1.json" \
        --slurpfile b "$work/c2.json" '
        [$s[0] | to_entries[] | select(.value.status == "delivered" or
            .value.status == "returned" or .value.status == "expired") |
         (.key | split(":")) as [$c, $n] |
         select(($b[0].carriers[$c].numbers[$n] // 0) != ($a[0].carriers[$c].numbers[$n] // 0))]
        | length')
    [ "$moved" -eq 0 ] && ok "terminal shipments are not polled again" ||
        fail "$moved terminal shipments were polled again"
    local scheduled
    # Open shipments are polled every second: those being polled right now
    # are in the lease set, not the due set. Both counted in one script.
    scheduled=$(rcli EVAL "return redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])" 2 wismo:due wismo:lease)
    local open
    open=$(jq '[.[] | select(.status != "delivered" and .status != "returned" and .status != "expired")] | length' "$work/store.json")
    [ "$scheduled" -eq "$open" ] && ok "the schedule holds exactly the $open open shipments" ||
        fail "schedule has $scheduled entries for $open open shipments"
    local changes
    changes=$(rcli XLEN wismo:changes)
    [ "$changes" -gt 1008 ] && ok "change stream has $changes entries" || fail "change stream: $changes"
    wismod_stop w1
    sanitizer_check "$work/w1.log"
    kill -TERM "$FAKE_PID" "$REDIS_PID"
    wait "$FAKE_PID" "$REDIS_PID" 2>/dev/null || true
}

phase_kill9() {
    say "kill9: SIGKILL mid-run, then restart"
    REDIS_DIR=$work/r2
    redis_start "$REDIS_DIR"
    fake_start
    write_config "$work/w.ini"
    wismod_start k1 "$work/w.ini"
    register "$work/w.ini" 200 30
    # Slow answers, so that polls are in flight when the process dies.
    curl -sf -X POST -d '["carrier=*,kind=latency,ms=400"]' "$FAKE_URL/_admin/faults" >/dev/null
    sleep 3
    kill -KILL "$PID_k1"
    wait "$PID_k1" 2>/dev/null || true
    local leased
    leased=$(rcli ZCARD wismo:lease)
    [ "$leased" -gt 0 ] && ok "wismod killed with $leased polls in flight" ||
        fail "no poll was in flight when wismod was killed"
    curl -sf -X POST -d '[]' "$FAKE_URL/_admin/faults" >/dev/null
    wismod_start k2 "$work/w.ini"
    wait_complete 90 "kill9"
    wismod_stop k2
    sanitizer_check "$work/k2.log"
    kill -TERM "$FAKE_PID" "$REDIS_PID"
    wait "$FAKE_PID" "$REDIS_PID" 2>/dev/null || true
}

phase_redis() {
    say "redis: redis-server restarted mid-run"
    REDIS_DIR=$work/r3
    redis_start "$REDIS_DIR"
    fake_start
    write_config "$work/w.ini"
    wismod_start q1 "$work/w.ini"
    register "$work/w.ini" 300 30
    sleep 3
    kill -TERM "$REDIS_PID"
    wait "$REDIS_PID" 2>/dev/null || true
    sleep 1.5
    redis_start "$REDIS_DIR"
    wait_complete 90 "redis restart"
    grep -q 'redis link down' "$work/q1.log" && grep -c 'redis link up' "$work/q1.log" | grep -qv '^1$' &&
        ok "wismod saw the link go down and come back" || fail "no reconnect in the log"
    wismod_stop q1
    sanitizer_check "$work/q1.log"
    kill -TERM "$FAKE_PID" "$REDIS_PID"
    wait "$FAKE_PID" "$REDIS_PID" 2>/dev/null || true
}

phase_faults() {
    say "faults: 429, 500, garbage, hang, reset"
    REDIS_DIR=$work/r4
    redis_start "$REDIS_DIR"
    fake_start --fault "carrier=ups,kind=429,rate=0.5,retry_after=1" \
        --fault "carrier=fedex,kind=500,rate=0.4" \
        --fault "carrier=dhl,kind=garbage,rate=0.4" \
        --fault "carrier=gls,kind=hang,rate=0.15" \
        --fault "carrier=bpost,kind=reset,rate=0.3"
    write_config "$work/w.ini"
    wismod_start f1 "$work/w.ini"
    register "$work/w.ini" 400 25
    wait_complete 120 "faults"
    grep -q 'msg="rate limited" carrier=ups' "$work/f1.log" && ok "429 honoured (Retry-After)" || fail "no rate limiting seen"
    grep -q 'msg="unusable carrier answer; nothing stored" carrier=dhl' "$work/f1.log" &&
        ok "garbage answers stored nothing" || fail "no garbage seen"
    grep -q 'carrier request failed" carrier=gls error="timed out"' "$work/f1.log" &&
        ok "hung requests time out" || { fail "no timeout seen"; grep 'carrier=gls' "$work/f1.log" | head -5 >&2; }
    # Carriers without faults never failed.
    if grep -E 'carrier=(postnl|dpd|usps|canadapost) ' "$work/f1.log" | grep -Eq 'failed|rate limited|circuit'; then
        fail "a carrier without faults was affected"
    else
        ok "carriers without faults were unaffected"
    fi
    wismod_stop f1
    sanitizer_check "$work/f1.log"
    kill -TERM "$FAKE_PID" "$REDIS_PID"
    wait "$FAKE_PID" "$REDIS_PID" 2>/dev/null || true
}

phase_two() {
    say "two: two wismods share one Redis"
    REDIS_DIR=$work/r5
    redis_start "$REDIS_DIR"
    fake_start
    # Small claims, so that the two processes share the work.
    write_config "$work/w.ini" "[daemon]
max_inflight = 48"
    wismod_start a "$work/w.ini"
    wismod_start b "$work/w.ini"
    register "$work/w.ini" 500 40
    sleep 4
    # Every carrier request is merged exactly once: a shipment polled by
    # both processes at once would show more requests than merged polls.
    kill -STOP "$PID_a" "$PID_b"
    sleep 0.5
    curl -sf "$FAKE_URL/_admin/counts" >"$work/counts.json"
    dump_store "$work/store.json"
    kill -CONT "$PID_a" "$PID_b"
    local extra
    extra=$(jq -n --slurpfile s "$work/store.json" --slurpfile c "$work/counts.json" '
        [$s[0] | to_entries[] | (.key | split(":")) as [$car, $n] |
         (($c[0].carriers[$car].numbers[$n] // 0) - .value.polls) |
         select(. > 1)] | length')
    [ "$extra" -eq 0 ] && ok "no shipment was polled by both processes at once" ||
        fail "$extra shipments were polled more often than merged"
    # Each process fetches its own carrier tokens when it polls: both did.
    for _ in $(seq 50); do
        grep -q 'token fetched' "$work/a.log" && grep -q 'token fetched' "$work/b.log" && break
        sleep 0.2
    done
    if grep -q 'token fetched' "$work/a.log" && grep -q 'token fetched' "$work/b.log"; then
        ok "both processes polled carriers"
    else
        fail "one process never polled"
    fi
    kill -KILL "$PID_a"
    wait "$PID_a" 2>/dev/null || true
    wait_complete 90 "two (after one was killed)"
    wismod_stop b
    sanitizer_check "$work/b.log"
    kill -TERM "$FAKE_PID" "$REDIS_PID"
    wait "$FAKE_PID" "$REDIS_PID" 2>/dev/null || true
}

phase_ops() {
    say "ops: configuration, embedded Redis, SIGHUP, tokens, secrets"
    local rc=0 emb=$work/emb
    REDIS_SOCK=
    fake_start --token-ttl 2
    printf '[daemon]\ndata_dir = %s\n[schedule]\nin_transit = soon\n' "$emb" >"$work/bad.ini"
    "$WISMOD" -c "$work/bad.ini" 2>"$work/bad.err" || rc=$?
    if [ "$rc" -eq 78 ] && grep -q "bad.ini:4: in_transit: bad duration" "$work/bad.err"; then
        ok "a bad value is refused with file:line, exit 78"
    else
        fail "bad config: exit $rc, $(cat "$work/bad.err")"
    fi
    rc=0
    printf '[redis]\nurll = x\n' >"$work/bad2.ini"
    "$WISMOD" -c "$work/bad2.ini" 2>"$work/bad2.err" || rc=$?
    [ "$rc" -eq 78 ] && grep -q "bad2.ini:2: \[redis\]: unknown key 'urll'" "$work/bad2.err" &&
        ok "an unknown key is refused with file:line" || fail "unknown key: exit $rc"
    # The embedded default: no [redis] url.
    write_config "$work/e.ini"
    sed -i "s|^data_dir = .*|data_dir = $emb|" "$work/e.ini"
    "$WISMOD" -t -c "$work/e.ini" >/dev/null && ok "wismod -t accepts the configuration" ||
        fail "wismod -t refused a good configuration"
    wismod_start e "$work/e.ini"
    REDIS_SOCK=$emb/redis.sock
    local i
    for i in $(seq 100); do rcli ping >/dev/null 2>&1 && break; sleep 0.1; done
    grep -q 'started a private redis-server' "$work/e.log" &&
        ok "no [redis] url: a private redis-server was started" || fail "no embedded redis"
    "$CTL" -c "$work/e.ini" watch --count 5 >"$work/watch.out" 2>"$work/watch.err" &
    local wpid=$!
    register "$work/e.ini" 600 12
    sleep 2
    local listed wrc=0
    "$CTL" -c "$work/e.ini" list --limit 10 >"$work/list.out" 2>"$work/list.err" ||
        fail "wismoctl list exit status: $(cat "$work/list.err")"
    listed=$(jq -r .id "$work/list.out" | grep -c .)
    [ "$listed" -eq 10 ] && ok "wismoctl list pages through shipments" || fail "wismoctl list: $listed lines"
    timeout 20 tail --pid="$wpid" -f /dev/null || true
    wait "$wpid" || wrc=$?
    if [ "$wrc" -eq 0 ] && [ "$(jq -r .status "$work/watch.out" | grep -c .)" -eq 5 ]; then
        ok "wismoctl watch prints change-stream entries"
    else
        fail "wismoctl watch: $(cat "$work/watch.out" "$work/watch.err")"
    fi
    # Reload: a good file is taken, a broken one refused.
    sed -i 's/^log_level = info/log_level = debug/' "$work/e.ini"
    kill -HUP "$PID_e"
    sleep 0.5
    grep -q 'configuration reloaded' "$work/e.log" && ok "SIGHUP reloads the configuration" ||
        fail "no reload"
    cp "$work/e.ini" "$work/e.good"
    printf '[bogus]\nx = 1\n' >>"$work/e.ini"
    kill -HUP "$PID_e"
    sleep 0.5
    grep -q 'reload refused; keeping the running configuration' "$work/e.log" &&
        kill -0 "$PID_e" && ok "a broken file on SIGHUP is refused, wismod keeps running" ||
        fail "broken reload"
    cp "$work/e.good" "$work/e.ini"
    wait_complete 90 "embedded"
    local fetched
    fetched=$(grep -c 'token fetched" carrier=ups' "$work/e.log" || true)
    [ "$fetched" -ge 2 ] && ok "2 s tokens were fetched again ($fetched times for ups)" ||
        fail "ups token fetched $fetched times"
    if grep -Eq 's3cret|test-key' "$work/e.log"; then
        fail "a secret reached the log"
    else
        ok "no secret in the log"
    fi
    local rpid
    rpid=$(sed -n 's/.*started a private redis-server.* pid=\([0-9]*\).*/\1/p' "$work/e.log" | head -n1)
    wismod_stop e
    if [ -n "$rpid" ] && ! kill -0 "$rpid" 2>/dev/null; then
        ok "the private redis-server stopped with wismod"
    else
        fail "private redis-server $rpid still running"
    fi
    [ -n "$(ls "$emb"/appendonlydir 2>/dev/null)" ] && ok "its append-only file is in data_dir" ||
        fail "no append-only file in $emb"
    sanitizer_check "$work/e.log"
    kill -TERM "$FAKE_PID"
    wait "$FAKE_PID" 2>/dev/null || true
}

for p in "${PHASES[@]}"; do
    "phase_$p"
done
echo "daemon: $checks passed, $failures failed"
[ "$failures" -eq 0 ]
