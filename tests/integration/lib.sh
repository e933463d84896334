# The script tests' shared preamble. Source it once the arguments are read
# (after "set -euo pipefail"); it also sources contrib/fakerun.sh (number,
# write_config, rcli, register, dump_store, dump_expected, compare ...).
# It gives:
#   work, here    the test's own temporary folder (removed at exit unless
#                 KEEP is set) and this folder (notify_sink.py's)
#   pids          background processes, killed with SIGKILL at exit; a test
#                 may define cleanup_more, run at exit after the kills
#   failures, checks; fail (counts and goes on), die (stops the test),
#   ok, check, expect, say; summary NAME (the last line of a test)
#   wait_for SECONDS COMMAND...   SECONDS x 10 tries, 0.1 s apart
#   wait_secs SECONDS COMMAND...  until SECONDS of wall time have passed,
#                                 tries $WAIT_STEP (0.1) s apart
#   port          a free loopback TCP port
#   out_has PATTERN COMMAND...    COMMAND's whole output has a line
#                 matching PATTERN (grep -E), read to the end first: a
#                 "producer | grep -q" fails under pipefail when grep
#                 stops early and the producer then writes to a closed pipe
#   start_redis, start_fake, start_sinks, launch_wismod, start_wismod,
#   wismod_port, stop_wismod, stop_fake, sanitizer_check
# The start_ functions give up (die) when what they start is not up within
# $UP_WITHIN seconds (30; wismod's 60): "UP_WITHIN=10 start_redis". Every
# process listens on loopback only, on a port of its own (127.0.0.1:0) or
# on a unix socket in $work.
# shellcheck shell=bash disable=SC2034 # its variables are the tests'

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../contrib/fakerun.sh
. "$here/../../contrib/fakerun.sh"
PY=/usr/bin/python3 # Debian's, which has python3-aiosmtpd

work=$(mktemp -d "${TMPDIR:-/tmp}/wismo-$(basename "$0" .sh).XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if declare -F cleanup_more >/dev/null; then cleanup_more || true; fi
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

failures=0
checks=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); echo "ok: $*"; }
say() { echo "--- $*"; }
check() { # check DESCRIPTION COMMAND...
    if "${@:2}"; then ok "$1"; else fail "$1"; fi
}
expect() { # expect WHAT GOT WANT
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}
# summary NAME: the counts; the test fails if any check did.
summary() {
    echo "$1: $checks passed, $failures failed"
    [ "$failures" -eq 0 ] || exit 1
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds; 1 when it
# never did in SECONDS x 10 tries, 0.1 s apart. A condition that needs
# "$(...)" evaluated afresh on every try goes in a function.
wait_for() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
# wait_secs SECONDS COMMAND...: the same, bounded by the wall clock:
# tries every $WAIT_STEP (0.1) s until SECONDS have passed.
wait_secs() {
    local deadline=$((SECONDS + $1))
    shift
    while [ $SECONDS -lt $deadline ]; do
        "$@" && return 0
        sleep "${WAIT_STEP:-0.1}"
    done
    return 1
}

# out_has PATTERN COMMAND...: COMMAND's output, read to its end, has a
# line matching PATTERN (grep -E). Not "COMMAND | grep -q", which fails
# under pipefail when grep stops early and COMMAND writes on.
out_has() {
    local out
    out=$("${@:2}") || return 1
    grep -qE -- "$1" <<<"$out"
}
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# sanitizer_check FILE: fails if FILE (a log, a stderr) holds an ASan,
# LeakSanitizer or UBSan report, and shows its start.
sanitizer_check() {
    if grep -Eq 'Sanitizer|runtime error' "$1"; then
        fail "sanitizer report in $1"
        grep -E -m2 -A20 'Sanitizer|runtime error' "$1" >&2
    fi
}

# start_redis [DIR [ARGS...]]: a redis-server of the test's own, on the unix
# socket DIR/redis.sock only (DIR: $work/redis), its files in DIR, no RDB
# snapshots, ARGS added (a later --dir wins over DIR); its output goes to
# $REDIS_LOG (/dev/null). Sets REDIS_SOCK and REDIS_PID once it answers PING.
# shellcheck disable=SC2120 # its arguments are optional
start_redis() {
    local dir=${1:-$work/redis}
    [ $# -eq 0 ] || shift
    mkdir -p "$dir"
    REDIS_SOCK=$dir/redis.sock
    redis-server --port 0 --unixsocket "$REDIS_SOCK" --dir "$dir" --save '' "$@" \
        >"${REDIS_LOG:-/dev/null}" 2>&1 &
    REDIS_PID=$!
    pids+=("$REDIS_PID")
    wait_for "${UP_WITHIN:-30}" rcli ping >/dev/null 2>&1 || die "redis-server did not start"
}

# start_fake [ARGS...]: contrib/fakecarrier ($FAKE) on 127.0.0.1:0 with ARGS
# (--speed ...), its output in $work/$FAKE_NAME.out and .err (FAKE_NAME:
# fake). Sets FAKE_URL, FAKE_PORT, FAKE_PID and FAKE_ERR once it says
# "listening on 127.0.0.1:PORT".
# shellcheck disable=SC2120 # its arguments are optional
start_fake() {
    local out=$work/${FAKE_NAME:-fake}.out line=
    FAKE_ERR=$work/${FAKE_NAME:-fake}.err
    rm -f "$out" # a stale "listening on" line must not be read
    "$FAKE" --listen 127.0.0.1:0 "$@" >"$out" 2>"$FAKE_ERR" &
    FAKE_PID=$!
    pids+=("$FAKE_PID")
    wait_for "${UP_WITHIN:-30}" test -s "$out" && line=$(head -n1 "$out")
    case $line in
    "listening on 127.0.0.1:"*) ;;
    *) cat "$FAKE_ERR" >&2; die "the fake carrier did not start: '$line'" ;;
    esac
    FAKE_PORT=${line##*:}
    FAKE_URL=http://${line#listening on }
}
# stop_fake: SIGTERM to the fake carrier: exit status 0, no sanitizer report.
stop_fake() {
    kill -TERM "$FAKE_PID"
    if wait "$FAKE_PID"; then ok "the fake carrier exits 0"; else fail "the fake carrier's exit status"; fi
    sanitizer_check "$FAKE_ERR"
}

# start_sinks: notify_sink.py, the SMS provider and webhook receiver on
# HTTP port HP and the SMTP server on SP; what they receive under
# $work/sink, their log in $work/sink.log.
start_sinks() {
    HP=$(port)
    SP=$(port)
    "$PY" "$here/notify_sink.py" "$HP" "$SP" "$work/sink" 2>"$work/sink.log" &
    pids+=($!)
    wait_for "${UP_WITHIN:-30}" curl -s -o /dev/null "http://127.0.0.1:$HP/" ||
        die "the notification sinks did not start"
}

# launch_wismod CONFIG [LOG]: $WISMOD -c CONFIG in the background, its log
# (stderr) in LOG ($work/wismod.log); sets WPID.
launch_wismod() {
    "$WISMOD" -c "$1" 2>"${2:-$work/wismod.log}" &
    WPID=$!
    pids+=("$WPID")
}
# wismod_port LOG: the port of LOG's first "msg=ready ... port=N" line.
wismod_port() { sed -n '/msg=ready.* port=[0-9]/{s/.*msg=ready.* port=\([0-9]*\).*/\1/p;q;}' "$1"; }
wismod_ready() { [ -n "$(wismod_port "$1")" ]; }
# start_wismod CONFIG [LOG]: launch_wismod, then waits for it to say it is
# ready; sets PORT and API (http://127.0.0.1:PORT).
start_wismod() {
    local log=${2:-$work/wismod.log}
    launch_wismod "$1" "$log"
    wait_for "${UP_WITHIN:-60}" wismod_ready "$log" || { cat "$log" >&2; die "wismod did not start"; }
    PORT=$(wismod_port "$log")
    API=http://127.0.0.1:$PORT
}
# stop_wismod [LOG]: SIGTERM to $WPID, which exits 0; no sanitizer report
# in LOG ($work/wismod.log).
# shellcheck disable=SC2120 # its arguments are optional
stop_wismod() {
    local rc=0
    kill -TERM "$WPID"
    wait "$WPID" || rc=$?
    if [ "$rc" -eq 0 ]; then ok "wismod exits 0 on SIGTERM"; else fail "wismod exit status $rc after SIGTERM"; fi
    sanitizer_check "${1:-$work/wismod.log}"
}
