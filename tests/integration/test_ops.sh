#!/usr/bin/env bash
# wismod as an operator meets it, loopback only:
#   test_ops.sh WISMOD WISMOCTL [PHASE...]
# Phases (all by default):
#   check    wismod -t: every value checked for meaning (provider, SMTP URL,
#            quiet hours, data_dir, listen), the message belongs to its line,
#            missing carrier credentials, the templates folder; --help and
#            --version.
#   logs     time= on every line (RFC 3339, ms, UTC) unless log_time = off;
#            no "cannot connect to redis" while the private Redis boots.
#   ready    msg=ready only after Redis is connected; the first requests
#            after it are served (never 503).
#   notify   systemd's protocol: READY=1, RELOADING=1 + READY=1 on SIGHUP,
#            STOPPING=1 on SIGTERM, sent to $NOTIFY_SOCKET.
#   orphan   kill -9 of wismod takes its private redis-server along; a
#            leftover server (from a wismod that could not take it along) is
#            replaced on start; one redis-server, data kept; a second wismod
#            on the same data_dir is refused.
set -euo pipefail

WISMOD=${1:?usage: $0 WISMOD WISMOCTL [PHASE...]}
CTL=${2:?}
shift 2
PHASES=("$@")
[ ${#PHASES[@]} -gt 0 ] || PHASES=(check logs ready notify orphan)

# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
# Our private redis-servers (their working directory is under $work): not
# children of the test, so not in pids.
cleanup_more() {
    local p
    for p in $(pgrep -x redis-server || true); do
        case "$(readlink "/proc/$p/cwd" 2>/dev/null)" in
        "$work"/*) kill -KILL "$p" 2>/dev/null || true ;;
        esac
    done
}
# Every wait here is bounded by the wall clock, tried every 0.05 s.
WAIT_STEP=0.05
wait_for() { wait_secs "$@"; }

# The redis-servers whose working directory is DIR (Redis changes into
# its --dir).
redis_in() {
    local p dir
    dir=$(readlink -f "$1")
    for p in $(pgrep -x redis-server || true); do
        [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$dir" ] && echo "$p"
    done
    return 0
}
count_redis_in() { redis_in "$1" | grep -c . || true; }
# Conditions for wait_for: evaluated afresh on every try (a "$(...)" in
# wait_for's arguments would be expanded once, before the first try).
no_redis_in() { [ "$(count_redis_in "$1")" -eq 0 ]; }
ready_lines_at_least() { [ "$(grep -c '^READY=1' "$2")" -ge "$1" ]; }

# A configuration with a private Redis in DIR, HTTP on a free port,
# tokens, and one carrier pointed at a closed loopback port (this test's
# own write_config, not contrib/fakerun.sh's).
write_config() { # write_config FILE DIR [EXTRA]
    cat >"$1" <<INI
[daemon]
data_dir = $2
log_level = info
${3:-}
[http]
listen = 127.0.0.1:0
[tokens]
shop = shop-token
agent = agent-token
[carrier.dhl]
base_url = http://127.0.0.1:1
api_key = test-key
INI
}

# expect_refused NAME TEXT WANT: wismod -t exits 78 and names WANT.
expect_refused() {
    local rc=0
    printf '%b' "$2" >"$work/$1.ini"
    "$WISMOD" -t -c "$work/$1.ini" >"$work/$1.out" 2>"$work/$1.err" || rc=$?
    if [ "$rc" -eq 78 ] && grep -qF -- "$3" "$work/$1.err"; then
        ok "-t refuses $1: $(grep -F -- "$3" "$work/$1.err" | head -n1)"
    else
        fail "-t on $1: exit $rc, want 78 and '$3': $(cat "$work/$1.err")"
    fi
}

phase_check() {
    say "check: wismod -t"
    local d=$work/chk rc out
    mkdir -p "$d"
    expect_refused provider "[sms]\nprovider = bird\n" \
        "provider.ini:2: provider: want twilio or messagebird, not 'bird'"
    expect_refused smtp "[smtp]\nurl = smpt://127.0.0.1:25\nfrom = a@b.example\n" \
        "smtp.ini:2: url: want smtp://host[:port] or smtps://..."
    expect_refused quiet "[notify]\nquiet_hours = 22-08\n" \
        "quiet.ini:2: quiet_hours: want HH:MM-HH:MM"
    expect_refused noport "[http]\nlisten = 0.0.0.0\n" \
        "noport.ini:2: listen: want an address and a port"
    expect_refused unbindable "[daemon]\ndata_dir = $d\n[http]\nlisten = 192.0.2.1:8080\n" \
        "unbindable.ini:4: listen 192.0.2.1:8080 cannot be bound"
    expect_refused datadir "[daemon]\ndata_dir = $work/no/such/parent/data\n[http]\nlisten = 127.0.0.1:0\n" \
        "datadir.ini:2: data_dir $work/no/such/parent/data cannot be created: its parent"
    # The first error's line with the first error's message (it used to be
    # the first line with the last message).
    expect_refused first "[schedule]\nin_transit = soon\n[redis]\nbogus = 1\n[web]\nshop_name = S\n" \
        "first.ini:2: in_transit: bad duration"
    expect_refused section "[daemon]\nlog_level = info\n\n[webb]\nshop_name = S\naccent = #fff\n" \
        "section.ini:4: unknown section [webb]"
    expect_refused syntax "[daemon]\nlog_level = info\nthis line has no equals sign\n[schedule]\nin_transit = soon\n" \
        "syntax.ini:3: neither a [section] nor a key = value line"
    expect_refused smtpfrom "[smtp]\nurl = smtp://127.0.0.1:2525\n" \
        "smtpfrom.ini:2: [smtp] url is set but from is missing"
    expect_refused smsfrom "[sms]\nprovider = twilio\naccount = AC1\ntoken = t\n" \
        "smsfrom.ini:2: [sms] from is missing"
    # Credentials of a configured carrier (DESIGN.md's keys per carrier).
    expect_refused creds "[daemon]\ndata_dir = $d\n[http]\nlisten = 127.0.0.1:0\n[carrier.gls]\nclient_id = wismo\n" \
        "creds.ini:5: [carrier.gls]: client_secret missing"
    expect_refused creds2 "[daemon]\ndata_dir = $d\n[http]\nlisten = 127.0.0.1:0\n[carrier.dpd]\nbase_url = http://127.0.0.1:1\n" \
        "creds2.ini:5: [carrier.dpd]: username missing"
    rc=0
    WISMO_CARRIER_GLS_CLIENT_SECRET=from-env "$WISMOD" -t -c "$work/creds.ini" \
        >"$work/creds.ok" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && ok "-t takes a credential from the environment" ||
        fail "-t with WISMO_CARRIER_GLS_CLIENT_SECRET: exit $rc: $(cat "$work/creds.ok")"
    expect_refused templates "[daemon]\ndata_dir = $d\n[http]\nlisten = 127.0.0.1:0\n[notify]\ntemplates = $work/no-templates\n" \
        "templates.ini:6: templates $work/no-templates"
    mkdir -p "$work/empty-templates"
    expect_refused templates2 "[daemon]\ndata_dir = $d\n[http]\nlisten = 127.0.0.1:0\n[notify]\ntemplates = $work/empty-templates\n" \
        "holds no <locale>.sms or <locale>.email file"
    write_config "$work/good.ini" "$d"
    rc=0
    out=$("$WISMOD" -t -c "$work/good.ini" 2>&1) || rc=$?
    [ "$rc" -eq 0 ] && [ "$out" = "wismod: configuration OK" ] &&
        ok "-t accepts a good configuration" || fail "-t good: exit $rc: $out"
    for opt in --help -h; do
        rc=0
        out=$("$WISMOD" "$opt" 2>&1) || rc=$?
        [ "$rc" -eq 0 ] && grep -q -- '--version' <<<"$out" && grep -q -- '-t' <<<"$out" &&
            ok "wismod $opt: usage, exit 0" || fail "wismod $opt: exit $rc: $out"
    done
    rc=0
    out=$("$WISMOD" --version 2>&1) || rc=$?
    [ "$rc" -eq 0 ] && grep -Eq '^wismod [0-9]+\.[0-9]+\.[0-9]+$' <<<"$out" &&
        ok "wismod --version: $out" || fail "wismod --version: exit $rc: $out"
    rc=0
    "$WISMOD" --bogus >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 64 ] && ok "an unknown option: exit 64" || fail "unknown option: exit $rc"
}

WPID=
# start NAME CONFIG [ENV...]: wismod in the background, log in $work/NAME.log
start() {
    local name=$1 cfg=$2
    shift 2
    env "$@" "$WISMOD" -c "$cfg" 2>>"$work/$name.log" &
    WPID=$!
    pids+=("$WPID")
}
ready_in() { grep -qs 'msg=ready' "$1"; }
port_of() { sed -n 's/.*msg=ready .* port=\([0-9]*\).*/\1/p' "$1" | tail -n1; }
stop() { # stop PID: SIGTERM, exit 0
    local rc=0
    kill -TERM "$1"
    wait "$1" || rc=$?
    [ "$rc" -eq 0 ] || fail "wismod exit status $rc after SIGTERM"
}

phase_logs() {
    say "logs: time=, log_time = off, a quiet start"
    local d=$work/logs bad
    write_config "$work/logs.ini" "$d"
    start logs "$work/logs.ini"
    wait_for 60 ready_in "$work/logs.log" || fail "logs: wismod not ready: $(tail -5 "$work/logs.log")"
    stop "$WPID"
    bad=$(grep -Evc '^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z level=' "$work/logs.log" || true)
    [ "$bad" -eq 0 ] && [ -s "$work/logs.log" ] &&
        ok "every line starts with time= (RFC 3339, ms, UTC): $(head -n1 "$work/logs.log" | cut -c1-60)" ||
        fail "$bad lines without time=: $(grep -Ev '^time=' "$work/logs.log" | head -3)"
    if grep -q 'cannot connect to redis' "$work/logs.log"; then
        fail "a clean start logs: $(grep 'cannot connect to redis' "$work/logs.log" | head -2)"
    else
        ok "no 'cannot connect to redis' while the private Redis boots"
    fi
    sanitizer_check "$work/logs.log"
    write_config "$work/nolog.ini" "$d" "log_time = off"
    start nolog "$work/nolog.ini"
    wait_for 60 ready_in "$work/nolog.log" || fail "nolog: not ready"
    stop "$WPID"
    grep -q '^time=' "$work/nolog.log" && fail "log_time = off still writes time=" ||
        ok "log_time = off: lines start with level= ($(head -n1 "$work/nolog.log" | cut -c1-40))"
}

phase_ready() {
    say "ready: after Redis, and served at once"
    local d=$work/ready port code i n=0 rl rd
    write_config "$work/ready.ini" "$d"
    start ready "$work/ready.ini"
    wait_for 60 ready_in "$work/ready.log" || fail "ready: not ready"
    port=$(port_of "$work/ready.log")
    # The first requests, right after msg=ready.
    for i in 1 2 3 4 5; do
        code=$(curl -s -o "$work/ready.$i.json" -w '%{http_code}' \
            -H 'Authorization: Bearer shop-token' -H 'Content-Type: application/json' \
            -d "{\"tracking_number\":\"JVGL0612345678$i\",\"carrier\":\"dhl\",\"order_id\":\"R-$i\",\"postcode\":\"1234AB\"}" \
            "http://127.0.0.1:$port/v1/shipments")
        [ "$code" = 201 ] && n=$((n + 1))
    done
    [ "$n" -eq 5 ] && ok "the first 5 registrations after msg=ready: 201" ||
        fail "after msg=ready only $n of 5 registrations got 201 (last: $code $(cat "$work/ready.5.json"))"
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
    [ "$code" = 200 ] && ok "readyz: 200 at ready" || fail "readyz at ready: $code"
    rl=$(grep -n 'msg="redis connected"' "$work/ready.log" | head -n1 | cut -d: -f1)
    rd=$(grep -n 'msg=ready' "$work/ready.log" | head -n1 | cut -d: -f1)
    [ -n "$rl" ] && [ -n "$rd" ] && [ "$rl" -lt "$rd" ] &&
        ok "msg=ready (line $rd) comes after redis connected (line $rl)" ||
        fail "msg=ready at line ${rd:-none}, redis connected at ${rl:-none}"
    stop "$WPID"
    sanitizer_check "$work/ready.log"
}

phase_notify() {
    say "notify: sd_notify over \$NOTIFY_SOCKET"
    local d=$work/notify sock=$work/notify.sock lpid
    python3 - "$sock" >"$work/notify.msgs" 2>"$work/notify.err" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
while True:
    try:
        m = s.recv(4096).decode()
    except socket.timeout:
        break
    print(m.replace("\n", " "), flush=True)
    if m.startswith("STOPPING=1"):
        break
PY
    lpid=$!
    pids+=("$lpid")
    wait_for 10 test -S "$sock" || fail "notify: no listener socket"
    write_config "$work/notify.ini" "$d"
    start notify "$work/notify.ini" NOTIFY_SOCKET="$sock"
    wait_for 60 grep -q '^READY=1' "$work/notify.msgs" &&
        ok "READY=1 sent" || fail "no READY=1: $(cat "$work/notify.msgs")"
    grep -q 'msg=ready' "$work/notify.log" && ok "READY=1 after msg=ready" ||
        fail "READY=1 before msg=ready"
    kill -HUP "$WPID"
    wait_for 30 grep -q '^RELOADING=1 MONOTONIC_USEC=[0-9]' "$work/notify.msgs" &&
        wait_for 30 ready_lines_at_least 2 "$work/notify.msgs" &&
        ok "SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1" ||
        fail "reload messages: $(cat "$work/notify.msgs")"
    stop "$WPID"
    wait "$lpid" 2>/dev/null || true
    grep -q '^STOPPING=1' "$work/notify.msgs" && ok "SIGTERM: STOPPING=1" ||
        fail "no STOPPING=1: $(cat "$work/notify.msgs")"
    [ "$(tr '\n' '|' <"$work/notify.msgs")" = "READY=1|$(grep RELOADING "$work/notify.msgs")|READY=1|STOPPING=1|" ] &&
        ok "in order: $(tr '\n' ' ' <"$work/notify.msgs")" ||
        fail "messages out of order: $(cat "$work/notify.msgs")"
    sanitizer_check "$work/notify.log"
}

shipments() { # shipments CONFIG: how many shipments the store holds
    "$CTL" -c "$1" list --limit 100 2>/dev/null | grep -c . || true
}

phase_orphan() {
    say "orphan: the private redis-server after kill -9"
    local d=$work/orphan cfg=$work/orphan.ini i rc n old new
    write_config "$cfg" "$d"
    start o1 "$cfg"
    wait_for 60 ready_in "$work/o1.log" || fail "orphan: not ready"
    for i in 1 2 3; do
        "$CTL" -c "$cfg" add --carrier dhl --number "JVGL0612349999$i" \
            --order "O-$i" --postcode 1234AB >/dev/null 2>>"$work/ctl.err" ||
            fail "wismoctl add $i: $(cat "$work/ctl.err")"
    done
    old=$(redis_in "$d")
    kill -KILL "$WPID"
    wait "$WPID" 2>/dev/null || true
    if wait_for 60 no_redis_in "$d"; then
        ok "kill -9 of wismod: its redis-server ($old) exits with it"
    else
        fail "redis-server $(redis_in "$d") outlived wismod"
    fi
    start o2 "$cfg"
    wait_for 60 ready_in "$work/o2.log" || fail "orphan: restart not ready: $(tail -5 "$work/o2.log")"
    n=$(count_redis_in "$d")
    [ "$n" -eq 1 ] && ok "after the restart: exactly one redis-server" || fail "$n redis-servers in $d"
    n=$(shipments "$cfg")
    [ "$n" -eq 3 ] && ok "data kept: 3 shipments" || fail "after kill -9: $n shipments, want 3"
    # A leftover server: one a wismod could not take along (an older
    # wismod, or one killed between fork and exec), serving the socket.
    stop "$WPID"
    wait_for 60 no_redis_in "$d" || fail "redis-server still runs after SIGTERM"
    redis-server --port 0 --unixsocket "$d/redis.sock" --unixsocketperm 700 \
        --dir "$d" --appendonly yes --appendfsync everysec --save '' \
        --daemonize no >"$work/leftover.out" 2>&1 &
    old=$!
    pids+=("$old")
    wait_for 20 redis-cli -s "$d/redis.sock" ping >/dev/null 2>&1 || fail "leftover redis did not start"
    start o3 "$cfg"
    wait_for 60 ready_in "$work/o3.log" || fail "orphan: not ready with a leftover: $(tail -5 "$work/o3.log")"
    grep -q 'stopping a leftover private redis-server' "$work/o3.log" &&
        ok "the leftover redis-server is found and stopped" || fail "no leftover handling: $(cat "$work/o3.log")"
    redis_in "$d" | grep -qx "$old" && fail "the leftover ($old) still runs" ||
        ok "the leftover ($old) is gone"
    wait "$old" 2>/dev/null || true
    n=$(count_redis_in "$d")
    new=$(redis_in "$d")
    [ "$n" -eq 1 ] && [ "$new" != "$old" ] && ok "one redis-server ($new), wismod's own" ||
        fail "$n redis-servers in $d: $new (leftover $old)"
    n=$(shipments "$cfg")
    [ "$n" -eq 3 ] && ok "data kept across the replacement: 3 shipments" || fail "$n shipments, want 3"
    "$CTL" -c "$cfg" add --carrier dhl --number JVGL06123499994 --order O-4 \
        --postcode 1234AB >/dev/null 2>>"$work/ctl.err" && [ "$(shipments "$cfg")" -eq 4 ] &&
        ok "and it takes writes" || fail "no write after the replacement: $(cat "$work/ctl.err")"
    # A second wismod on the same data_dir is refused; the first keeps its Redis.
    rc=0
    timeout 30 "$WISMOD" -c "$cfg" 2>"$work/o4.log" || rc=$?
    [ "$rc" -ne 0 ] && grep -q 'another wismod uses this data_dir' "$work/o4.log" &&
        [ "$(redis_in "$d")" = "$new" ] &&
        ok "a second wismod on the same data_dir is refused (exit $rc), the first's Redis untouched" ||
        fail "second wismod: exit $rc: $(cat "$work/o4.log")"
    stop "$WPID"
    for f in o1 o2 o3 o4; do sanitizer_check "$work/$f.log"; done
}

for p in "${PHASES[@]}"; do
    "phase_$p"
done
summary ops
