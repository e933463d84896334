#!/bin/bash
# The notifier's poll mode (no blocking reader: the shared link re-reads
# the streams from a timer every poll_ms). The claim timer, which also
# reads, is pushed out to 5 minutes, so only the poll timer can pick up
# the changes below: a re-read that does not happen fails the test.
# usage: test_notify_poll.sh NOTIFY_HARNESS TEMPLATES_DIR
HARNESS=$1
export WISMO_TEMPLATES_DIR=$2
. "$(cd "$(dirname "$0")" && pwd)/notify_lib.sh"
start_redis
start_sinks
cat >"$T/wismo.ini" <<INI
[daemon]
log_level = info
[redis]
url = redis://127.0.0.1:$RP
[notify]
quiet_hours =
[smtp]
url = smtp://127.0.0.1:$SP
from = Acme Shop <noreply@shop.example>
[sms]
provider = twilio
base_url = http://127.0.0.1:$HP/sms
account = AC123
token = tok
from = +3197010000000
[webhook]
url = http://127.0.0.1:$HP/hook
secret = hooksecret
INI
NOTIFY_POLL=1 NOTIFY_CLAIM_IDLE_MS=600000 \
    "$HARNESS" "$T/wismo.ini" >"$T/harness.out" 2>"$T/harness.log" &
HPID=$!
PIDS+=($HPID)
wait_for 60 group_ready || fail "the notifier created no consumer group"
grep -q 'mode=poll' "$T/harness.log" || fail "not in poll mode: $(cat "$T/harness.log")"
# Each change arrives after the reader found the streams empty, so only a
# timer-driven re-read can see it.
for id in p1 p2 p3; do
    ship "$id" exception nl - - -1
    wait_for 60 has_key /hook "^$id:exception:1:webhook\$" || fail "poll mode: no webhook for $id"
    wait_for 60 has_key /sms "^$id:exception:1:sms\$" || fail "poll mode: no SMS for $id"
    settle
done
wait_for 60 sh -c "[ \$(ls '$T/sink/mail' | wc -l) -ge 3 ]" || fail "poll mode: mail missing"
echo "ok: poll mode re-reads from its timer"
kill -TERM "$HPID"
wait "$HPID" || fail "harness exit status"
grep -q Sanitizer "$T/harness.log" && fail "sanitizer: $(grep -A5 Sanitizer "$T/harness.log")"
grep -q '"webhook_sent":3' "$T/harness.out" || fail "counters: $(cat "$T/harness.out")"
echo "PASS"
