#!/bin/bash
# The notifier's poll mode (no blocking reader: the shared link re-reads
# the streams from a timer every poll_ms). The claim timer, which also
# reads, is pushed out to 5 minutes, so only the poll timer can pick up
# the changes below: a re-read that does not happen fails the test.
# usage: test_notify_poll.sh NOTIFY_HARNESS TEMPLATES_DIR
HARNESS=$1
. "$(cd "$(dirname "$0")" && pwd)/notify_lib.sh"
# The given templates, and one locale ("sv", which has no built-in templates) whose e-mail is far longer
# than a record keeps, in characters of 1, 2 and 3 bytes.
mkdir "$T/tpl"
cp "$2"/* "$T/tpl/"
python3 - "$T/tpl/sv.email" <<'PY'
import sys
open(sys.argv[1], "w", encoding="utf-8").write(
    "@exception\nSubject: " + "Colis ☃ retardé " * 20 + "{{order_id}}\n\n" +
    "Bonjour {{order_id}}, " + "ça arrive bientôt ☃. " * 400 + "\n")
PY
export WISMO_TEMPLATES_DIR=$T/tpl
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
# A record keeps a bounded, whole-character cut of a long message.
ship px exception sv - - -1
wait_for 60 has_key /hook '^px:exception:1:webhook$' || fail "no webhook for px"
settle
records px >"$T/px.records"
python3 - "$T/px.records" <<'PY' || fail "bounded record text"
import json, sys
raw = open(sys.argv[1], "rb").read().splitlines()
recs = [json.loads(l.decode("utf-8", "strict")) for l in raw]
mail = [r for r in recs if r["channel"] == "email" and r["outcome"] == "sent"]
assert len(mail) == 1, recs
s, t = mail[0]["subject"], mail[0]["text"]
assert s.startswith("Colis ☃ retardé") and s.endswith("…"), s
assert t.startswith("Bonjour ORD-px, ça arrive") and t.endswith("…"), t[-40:]
assert len(s.encode()) <= 256 and len(s.encode()) > 240, len(s.encode())
assert len(t.encode()) <= 4096 and len(t.encode()) > 4080, len(t.encode())
PY
echo "ok: a long message is kept cut to 256/4096 bytes at a character boundary"
kill -TERM "$HPID"
wait "$HPID" || fail "harness exit status"
grep -q Sanitizer "$T/harness.log" && fail "sanitizer: $(grep -A5 Sanitizer "$T/harness.log")"
grep -q '"webhook_sent":4' "$T/harness.out" || fail "counters: $(cat "$T/harness.out")"
echo "PASS"
