#!/bin/bash
# wismod's own notifier with no templates folder: the templates compiled
# into the binary speak Dutch to a Dutch customer (SMS and e-mail), and
# every message outcome is one log line without personal data.
# usage: test_notify_wismod.sh WISMOD
WISMOD=$1
unset WISMO_TEMPLATES_DIR
. "$(cd "$(dirname "$0")" && pwd)/notify_lib.sh"
start_redis
start_sinks
cat >"$T/wismo.ini" <<INI
[daemon]
log_level = info
[redis]
url = redis://127.0.0.1:$RP
[http]
listen = 127.0.0.1:0
[tokens]
shop = shop-token
[notify]
quiet_hours =
templates = $T/no-such-folder
[smtp]
url = smtp://127.0.0.1:$SP
from = Acme Shop <noreply@shop.example>
[sms]
provider = twilio
base_url = http://127.0.0.1:$HP/sms
account = AC123
token = tok
from = +3197010000000
INI
"$WISMOD" -c "$T/wismo.ini" 2>"$T/wismod.log" &
WPID=$!
PIDS+=($WPID)
wait_for 60 grep -q 'msg=ready' "$T/wismod.log" || fail "wismod did not start: $(cat "$T/wismod.log")"
wait_for 60 group_ready || fail "the notifier created no consumer group"
grep -q 'notify: templates" builtin=80 from_folder=0' "$T/wismod.log" ||
    fail "templates: $(grep 'notify: templates' "$T/wismod.log")"
ship nl1 exception nl-NL - - -1
wait_for 60 has_key /sms '^nl1:exception:1:sms$' || fail "no SMS"
wait_for 60 sh -c "[ \$(ls '$T/sink/mail' | wc -l) -ge 1 ]" || fail "no e-mail"
settle
python3 - "$T/sink" <<'PY' || fail "not Dutch"
import email, email.policy, json, os, sys, urllib.parse
d = sys.argv[1]
sms = [urllib.parse.parse_qs(json.loads(l)["body"])["Body"][0]
       for l in open(os.path.join(d, "http.jsonl")) if '"/sms' in l]
assert sms == ["Acme Shop: er is een probleem met de bezorging van bestelling "
               "ORD-nl1 (DHL). We zoeken het uit. https://www.dhl.com/global-en/"
               "home/tracking/tracking-parcel.html?submit=1&tracking-id=JJDnl1"], sms
mails = os.listdir(os.path.join(d, "mail"))
assert len(mails) == 1, mails
m = email.message_from_binary_file(open(os.path.join(d, "mail", mails[0]), "rb"),
                                   policy=email.policy.default)
assert m["Subject"] == "Probleem met de bezorging van bestelling ORD-nl1", m["Subject"]
body = m.get_body(("plain",)).get_content()
assert body.startswith("Hallo,") and "Er is een probleem met de bezorging van bestelling ORD-nl1" in body, body
PY
echo "ok: no templates folder: the built-in templates speak Dutch"
# one line per outcome, no personal data
for k in nl1:exception:1:sms nl1:exception:1:email; do
    grep -q "msg=\"notify: decided\" outcome=decided key=$k " "$T/wismod.log" || fail "no decided line for $k"
    grep -q "msg=\"notify: sent\" outcome=sent key=$k " "$T/wismod.log" || fail "no sent line for $k"
done
grep -E 'nl1@example\.com|\+31612345678|ORD-nl1|Acme' "$T/wismod.log" && fail "personal data in the log"
echo "ok: decided and sent logged, without personal data"
kill -TERM "$WPID"
wait "$WPID" || fail "wismod exit status"
grep -q Sanitizer "$T/wismod.log" && fail "sanitizer: $(grep -A5 Sanitizer "$T/wismod.log")"
echo "PASS"
