#!/bin/bash
# Notifications end to end: notify_harness against a private redis-server
# and loopback sinks (notify_sink.py: SMTP, SMS provider, webhook). Every
# step waits for a condition (a key received, the notifier idle), never
# for a fixed time.
# usage: test_notify.sh NOTIFY_HARNESS TEMPLATES_DIR
HARNESS=$1
export WISMO_TEMPLATES_DIR=$2
. "$(cd "$(dirname "$0")" && pwd)/notify_lib.sh"
HERE=$LIB_HERE
start_redis
start_sinks
# quiet hours: now in Tokyo is quiet, now in Amsterdam is not
QUIET=$(python3 -c '
import datetime, zoneinfo
t = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
a = (t - datetime.timedelta(hours=1)).strftime("%H:%M")
b = (t + datetime.timedelta(hours=2)).strftime("%H:%M")
print(a + "-" + b)')
cat >"$T/wismo.ini" <<INI
[daemon]
log_level = info
[redis]
url = redis://127.0.0.1:$RP
[notify]
stall_after = 48h
eta_slip = 12h
quiet_hours = $QUIET
daily_cap = 50
tick = 1s
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
export NOTIFY_RETRY_MIN_MS=300 NOTIFY_RETRY_MAX_MS=1000 NOTIFY_CLAIM_IDLE_MS=1500 NOTIFY_SEND_TIMEOUT_MS=2000
start_harness() {
    "$HARNESS" "$T/wismo.ini" >>"$T/harness.out" 2>>"$T/harness.log" &
    HPID=$!
    PIDS+=($HPID)
}
start_harness
wait_for 60 group_ready || fail "the notifier created no consumer group"
# --- every reason once; on-time shipment nothing ---
ship a1 exception nl-NL - - -1
ship b1 in_transit en - 72 -1            # on time: nothing
$R hset "wismo:s:{b1}" estimated_delivery "$(iso 24)" >/dev/null
ship c1 failed_attempt de-DE - - -1
ship d1 in_transit fr-FR 48 24 -1        # eta_late
ship e1 in_transit en-GB - - -72         # stalled
ship f1 in_transit nl - -2 -1            # promise_missed (+ eta none)
ship g1 returning en - - -1
ship h1 available_for_pickup nl - - -1
ship i1 in_transit de 24 200 -1          # eta base
ship j1 exception ja-JP - - -1 +819012345678   # quiet hours in Tokyo
wait_for 60 count_keys /hook . 8 || fail "webhooks: $(keys /hook | wc -l)"
settle
[ "$($R hexists "wismo:s:{i1}:nst" eta_base)" = 1 ] || fail "i1: no ETA base"
ship i1 in_transit de 48 200 -1          # ETA +24h: eta_slip
ship c1 failed_attempt de-DE - - -1      # reworded event: nothing new
wait_for 60 has_key /hook '^i1:eta_slip:1:webhook$' || fail "no eta_slip"
settle
# a cleared and returning exception is a new episode
ship a1 in_transit nl-NL - - -1
settle
[ "$($R hget "wismo:s:{a1}:nst" on:exception)" = 0 ] || fail "a1: the exception did not end"
ship a1 exception nl-NL - - -1
wait_for 60 has_key /hook '^a1:exception:2:webhook$' || fail "no second episode"
settle
keys /hook >"$T/hook.keys"
for k in a1:exception:1 a1:exception:2 c1:failed_attempt:1 d1:eta_late:1 \
    e1:stalled:1 f1:promise_missed:1 g1:returning:1 h1:available_for_pickup:1 \
    i1:eta_slip:1 j1:exception:1; do
    [ "$(grep -c "^$k:webhook$" "$T/hook.keys")" = 1 ] || fail "webhook $k not exactly once"
done
grep -q '^b1:' "$T/hook.keys" && fail "on-time shipment notified"
[ "$(uniq -d "$T/hook.keys" | wc -l)" = 0 ] || fail "duplicate webhook"
[ "$(wc -l <"$T/hook.keys")" = 10 ] || fail "unexpected webhooks: $(cat "$T/hook.keys")"
echo "ok: every reason once per episode, none for on-time, reworded re-sends nothing"
# --- opt-out: a recipient (wismoctl opt-out writes this set), a shipment ---
$R sadd wismo:optout sms:+31611112222 >/dev/null
ship o1 exception nl - - -1 +31611112222
$R hset "wismo:s:{o2}" notify none >/dev/null
ship o2 exception nl - - -1
wait_for 60 has_key /hook '^o1:exception:1:webhook$' || fail "no webhook for o1"
settle
grep -q '+31611112222' "$T/sink/http.jsonl" && fail "SMS sent to an opted-out recipient"
grep -q '"o2:' "$T/sink/http.jsonl" && fail "an opted-out shipment was notified"
has_record o1 '"why":"opt_out"' || fail "o1: no opt_out record"
has_record o2 '"why":"opt_out"' || fail "o2: no opt_out record"
echo "ok: opted-out recipients and shipments get nothing, and the record says why"
# signature
python3 - "$T/sink/http.jsonl" <<'PY' || fail "bad webhook signature"
import hmac, hashlib, json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["path"] != "/hook": continue
    h = {k.lower(): v for k, v in r["headers"].items()}
    mac = hmac.new(b"hooksecret", (h["wismo-timestamp"] + "." + r["body"]).encode(), hashlib.sha256).hexdigest()
    assert h["wismo-signature"] == "v1=" + mac, h
    b = json.loads(r["body"])
    assert b["id"] == h["wismo-idempotency-key"] and b["shipment_id"] and "episode" in b
PY
echo "ok: webhook signatures"
# quiet hours: j1's SMS deferred, its e-mail sent
has_key /sms '^j1:' && fail "SMS sent in quiet hours"
[ "$($R zcard wismo:outbox:later)" -ge 1 ] || fail "nothing deferred"
has_record j1 '"outcome":"deferred"' || fail "no deferred record"
echo "ok: quiet hours defer SMS"
# SMS: all four locales, no placeholder left, segments within 2
has_key /sms '^a1:exception:1:sms$' || fail "no SMS for a1"
python3 - "$T/sink/http.jsonl" <<'PY' || fail "SMS text"
import json, sys, urllib.parse
n = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    if not r["path"].startswith("/sms"): continue
    assert r["path"] == "/sms/2010-04-01/Accounts/AC123/Messages.json", r["path"]
    f = urllib.parse.parse_qs(r["body"])
    body = f["Body"][0]
    assert "{{" not in body and "}}" not in body, body
    assert f["To"][0].startswith("+") and f["From"][0] == "+3197010000000"
    assert r["headers"]["Authorization"].startswith("Basic ")
    n += 1
assert n >= 8, n
PY
# e-mail
python3 - "$T/sink/mail" <<'PY' || fail "mail"
import email, email.policy, os, sys
seen = {}
for fn in sorted(os.listdir(sys.argv[1])):
    m = email.message_from_binary_file(open(os.path.join(sys.argv[1], fn), "rb"), policy=email.policy.default)
    k = m["Wismo-Idempotency-Key"]
    assert k and m["Message-ID"] and m["List-Unsubscribe"], fn
    seen[k] = seen.get(k, 0) + 1
    text = m.get_body(("plain",)).get_content()
    html = m.get_body(("html",)).get_content()
    assert "{{" not in text + html + m["Subject"], text
assert "a1:exception:1:email" in seen and "j1:exception:1:email" in seen, seen
assert max(seen.values()) == 1, seen
PY
echo "ok: e-mail (MIME text+HTML, Message-ID, no placeholders)"
# --- each sent record holds what the customer (or the shop) got ---
records a1 >"$T/a1.records"
python3 - "$T/a1.records" "$T/sink/http.jsonl" "$T/sink/mail" <<'PY' || fail "record texts"
import email, email.policy, json, os, sys, urllib.parse
recs = {}
for l in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(l)
    if r["outcome"] == "sent":
        recs[r["key"]] = r
got = {}
for l in open(sys.argv[2]):
    r = json.loads(l)
    h = {k.lower(): v for k, v in r["headers"].items()}
    k = h.get("wismo-idempotency-key") or h.get("idempotency-key")
    if r["status"] < 300 and r["path"].startswith("/sms"):
        got[k] = (None, urllib.parse.parse_qs(r["body"])["Body"][0])
    elif r["status"] < 300 and r["path"] == "/hook":
        got[k] = ("exception" if ":exception:" in k else None, r["body"])
for fn in os.listdir(sys.argv[3]):
    m = email.message_from_binary_file(open(os.path.join(sys.argv[3], fn), "rb"), policy=email.policy.default)
    got[m["Wismo-Idempotency-Key"]] = (str(m["Subject"]), m.get_body(("plain",)).get_content())
for k in ("a1:exception:1:email", "a1:exception:1:sms", "a1:exception:1:webhook"):
    r, (subj, text) = recs[k], got[k]
    assert r.get("subject") == subj, (k, r.get("subject"), subj)
    assert r.get("text", "").rstrip() == text.replace("\r\n", "\n").rstrip(), (k, r.get("text"), text)
print("records:", {k: (v.get("subject"), len(v.get("text", ""))) for k, v in recs.items()})
PY
echo "ok: the sent records hold the e-mail's subject and text, the SMS text, the webhook's event and body"
# --- what a customer receives, byte for byte, in each locale: the whole
# message as the SMTP server got it (envelope, headers, MIME parts); only
# the Date header's value varies and is checked for its form ---
for l in nl en de fr; do ship "mail$l" exception "$l" - - -1; done
wait_for 60 count_keys /hook '^mail' 4 || fail "mail shipments: no webhooks"
settle
python3 - "$T/sink/mail" "$HERE/notify_mail" <<'PY' || fail "mail bytes"
import email, email.policy, os, re, sys
got = {}
for fn in os.listdir(sys.argv[1]):
    raw = open(os.path.join(sys.argv[1], fn), "rb").read()
    m = re.search(rb"\r\nWismo-Idempotency-Key: (mail\w\w):exception:1:email\r\n", raw)
    if m:
        assert m.group(1) not in got, "two messages for " + m.group(1).decode()
        got[m.group(1).decode()] = raw
bad = 0
for l in ("nl", "en", "de", "fr"):
    raw = got["mail" + l]
    masked, n = re.subn(rb"\r\nDate: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000\r\n",
                        b"\r\nDate: <DATE>\r\n", raw)
    want = open(os.path.join(sys.argv[2], l + ".eml"), "rb").read()
    if n != 1 or masked != want:
        m = email.message_from_bytes(raw, policy=email.policy.default)
        print("mail%s differs from %s.eml (Date headers: %d); received:" % (l, l, n), file=sys.stderr)
        print("Subject: " + str(m["Subject"]), file=sys.stderr)
        print(m.get_body(("plain",)).get_content(), file=sys.stderr)
        open(os.path.join(os.path.dirname(sys.argv[1]), "got-" + l + ".eml"), "wb").write(masked)
        bad += 1
sys.exit(1 if bad else 0)
PY
echo "ok: e-mail in nl, en, de, fr as the customer receives it, byte for byte"
# The rules the bytes above follow, checked on their own: RFC 2047
# encoded words of at most 75 characters, split between characters and
# folded so that no line holding one is over 76; in the HTML part every
# '&' is an entity ('&amp;' in a link's query).
python3 - "$T/sink/mail" <<'PY' || fail "mail encoding rules"
import email, email.header, email.policy, os, re, sys
words = 0
for fn in sorted(os.listdir(sys.argv[1])):
    raw = open(os.path.join(sys.argv[1], fn), "rb").read()
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    for line in head.split("\r\n"):
        if "=?" in line:
            assert len(line) <= 76, (fn, len(line), line)
        for w in re.findall(r"=\?[^?]+\?[BbQq]\?[^?]*\?=", line):
            assert len(w) <= 75, (fn, len(w), w)
            words += 1
            email.header.decode_header(w)[0][0].decode("utf-8")  # whole characters
    m = email.message_from_bytes(raw, policy=email.policy.default)
    html = m.get_body(("html",)).get_content()
    bad = re.findall(r"&(?!amp;|lt;|gt;|quot;|#\d+;)", html)
    assert not bad, (fn, html)
    for href in re.findall(r'href="([^"]*)"', html):
        assert "&" not in href.replace("&amp;", ""), (fn, href)
fr = [f for f in os.listdir(sys.argv[1]) if b"Wismo-Idempotency-Key: mailfr:" in open(os.path.join(sys.argv[1], f), "rb").read()]
raw = open(os.path.join(sys.argv[1], fr[0]), "rb").read()
subj = re.search(rb"\r\nSubject: (.*?)\r\n(?! )", raw, re.S).group(1)
assert subj.count(b"=?UTF-8?B?") >= 2 and b"\r\n " in subj, subj
m = email.message_from_bytes(raw, policy=email.policy.default)
assert str(m["Subject"]) == "Un problème avec la livraison de la commande ORD-mailfr", m["Subject"]
assert "tracking-parcel.html?submit=1&amp;tracking-id=" in m.get_body(("html",)).get_content()
print("encoded words checked:", words)
PY
echo "ok: subjects in encoded words of at most 75 characters, folded; '&' escaped in the HTML part"
# --- SMS provider fails for a stretch, then recovers ---
echo "/sms 6" >"$T/sink/fail"
for i in 1 2 3 4 5; do ship "k$i" exception en - - -1 "+3161111111$i"; done
wait_for 60 count_keys /sms ^k 5 || fail "SMS after outage: $(keys /sms ^k | wc -l)"
settle
[ "$(keys /sms ^k | uniq -d | wc -l)" = 0 ] || fail "SMS twice"
echo "ok: SMS outage then recovery, each once"
# --- kill -9 between send and ack ---
kill -9 "$HPID"; wait "$HPID" 2>/dev/null || true
for i in $(seq 1 20); do ship "m$i" exception en - - -1 "+3162222222$(printf %02d "$i")"; done
start_harness; T0=$(date +%s)
# killed once it has sent something: mid-flight, whatever the machine's speed
wait_for 60 has_key / '^m' || fail "the second harness sent nothing"
kill -9 "$HPID"; wait "$HPID" 2>/dev/null || true
start_harness
wait_for 60 count_keys /hook ^m 20 || fail "lost webhooks after kill: $(keys /hook ^m | sort -u | wc -l)"
wait_for 60 count_keys /sms ^m 20 || fail "lost SMS after kill"
settle
[ "$(keys /hook ^m | uniq -c | awk '$1>2' | wc -l)" = 0 ] || fail "a key more than twice"
echo "kill phase took $(( $(date +%s) - T0 ))s"
echo "ok: kill -9: nothing lost, a key at most twice ($(keys /hook ^m | uniq -d | wc -l) duplicates)"
kill -TERM "$HPID"
wait "$HPID" || fail "harness exit status"
grep -q Sanitizer "$T/harness.log" && fail "sanitizer: $(grep -A5 Sanitizer "$T/harness.log")"
tail -1 "$T/harness.out"
echo "PASS"
