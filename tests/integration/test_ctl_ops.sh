#!/usr/bin/env bash
# wismoctl's operator commands against a Redis of its own (issue 10
# item 5): import of a CSV file, export of one customer's data, the
# notifier's dead letters and their replay.
#   test_ctl_ops.sh WISMOCTL [PHASE...]
# Phases (all by default):
#   import   a hostile CSV (BOM, CRLF, quotes, line ends in quotes, columns
#            in any order, bad rows by line), idempotent re-run, header
#            errors register nothing, no progress without a terminal,
#            100,000 rows timed.
#   export   every shipment of one customer by e-mail, phone or order id,
#            with events and notifications; nobody else's.
#   dead     dead-letters lists, replay ENTRY and replay --all put them
#            back in the outbox.
set -euo pipefail

CTL=${1:?usage: $0 WISMOCTL [PHASE...]}
shift
PHASES=("$@")
[ ${#PHASES[@]} -gt 0 ] || PHASES=(import export dead)

# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

start_redis
cat >"$work/w.ini" <<INI
[daemon]
data_dir = $work/data
[redis]
url = unix://$REDIS_SOCK
[web]
default_country = NL
INI
ctl() { "$CTL" -c "$work/w.ini" "$@"; }
shipments() { rcli ZCARD wismo:idx:created; }

phase_import() {
    say "import"
    local rc out n before
    # Columns in another order than documented, names in any case; a BOM,
    # CRLF, quoted commas, doubled quotes and a quoted line end; an empty
    # line; bad rows of every kind, each to be named by its line.
    printf '\xEF\xBB\xBFOrder_ID,tracking_number,Carrier,email,phone,postcode,locale,promised_delivery\r\n' >"$work/a.csv"
    {
        printf 'IMP-1,JVGL06123450001,dhl,Ann@Example.com,0612345678,1234 ab,nl,2026-12-24\r\n'
        printf '"IMP-2, gift ""box""",JVGL06123450002,DHL,,,,,\r\n'
        printf 'IMP-3,JVGL06123450003,,bob@example.com,,,,\r\n' # carrier detected
        printf '\r\n'
        printf 'IMP-4,JVGL06123450004,dhl,not-an-address,,,,\r\n'    # line 6
        printf 'IMP-5,JVGL06123450005,dhl\r\n'                       # line 7
        printf 'IMP-6,JVGL06123450006,nosuchcarrier,,,,,\r\n'       # line 8
        printf 'IMP-7,"JVGL0612\r\n3450007",dhl,,,,,\r\n'            # lines 9-10
        printf 'IMP-8,JVGL06123450008,dhl,,+31 6 1234,,,\r\n'        # line 11
        printf 'IMP-9,JVGL06123450009,dhl,,,,xx,\r\n'                # line 12
        printf 'IMP-10,JVGL0612345"0010,dhl,,,,,\r\n'                # line 13
        printf ',JVGL06123450011,dhl,,,,,\r\n'                       # line 14
        printf 'IMP-12,JVGL06123450012,dhl,,,,,tomorrow\r\n'         # line 15
        printf 'IMP-13,JVGL06123450013,dhl,c@example.com,,,de,\r\n'  # line 16
    } >>"$work/a.csv"
    rc=0
    ctl import "$work/a.csv" >"$work/imp1.out" 2>"$work/imp1.err" || rc=$?
    out=$(cat "$work/imp1.out")
    [ "$rc" -eq 65 ] && ok "bad rows: exit 65" || fail "import exit $rc: $(cat "$work/imp1.err")"
    [ "$(jq -c '{rows,created,existing,failed}' <<<"$out")" = '{"rows":13,"created":4,"existing":0,"failed":9}' ] &&
        ok "summary: $out" || fail "summary: $out"
    for want in \
        "a.csv:6: email: not an e-mail address" \
        "a.csv:7: 3 columns, the header has 8" \
        "a.csv:8: carrier: not a supported carrier" \
        "a.csv:9: tracking_number: 4-64 printable characters" \
        "a.csv:11: phone: E.164" \
        "a.csv:12: locale:" \
        "a.csv:13: a quote inside an unquoted field" \
        "a.csv:14: order_id:" \
        "a.csv:15: promised_delivery:"; do
        grep -qF -- "$want" "$work/imp1.err" && ok "reported: $want" ||
            fail "not reported: '$want' in: $(cat "$work/imp1.err")"
    done
    [ "$(grep -c . "$work/imp1.err")" -eq 9 ] && ok "one line per bad row" ||
        fail "stderr: $(cat "$work/imp1.err")"
    grep -q $'\r' "$work/imp1.err" && fail "progress written while stderr is not a terminal" ||
        ok "no progress line when stderr is not a terminal"
    # Stored as the API stores it: normalised, detected carrier, the quoted id.
    local id1 id2 id3
    id1=$(rcli HGET wismo:idx:num dhl:JVGL06123450001)
    id2=$(rcli HGET wismo:idx:num dhl:JVGL06123450002)
    id3=$(rcli HGET wismo:idx:num dhl:JVGL06123450003)
    [ -n "$id1" ] && [ -n "$id2" ] && [ -n "$id3" ] && ok "registered: $id1 $id2 $id3" ||
        fail "not registered: '$id1' '$id2' '$id3'"
    [ "$(rcli HMGET "wismo:s:{$id1}" email phone postcode locale order_id | tr '\n' ' ')" = \
        "ann@example.com +31612345678 1234AB nl IMP-1 " ] &&
        ok "normalised as at registration" ||
        fail "stored: $(rcli HGETALL "wismo:s:{$id1}" | tr '\n' ' ')"
    [ "$(rcli HGET "wismo:s:{$id1}" promised_delivery)" != "" ] || fail "no promised_delivery"
    [ "$(rcli HGET "wismo:s:{$id2}" order_id)" = 'IMP-2, gift "box"' ] &&
        ok "quoted order id kept: $(rcli HGET "wismo:s:{$id2}" order_id)" ||
        fail "order id: $(rcli HGET "wismo:s:{$id2}" order_id)"
    [ "$(rcli SISMEMBER wismo:idx:email:bob@example.com "$id3")" = 1 ] &&
        ok "an empty carrier is detected (dhl) and indexed" || fail "detected row not indexed"
    # Idempotent: the same file again creates nothing.
    rc=0
    ctl import "$work/a.csv" >"$work/imp2.out" 2>"$work/imp2.err" || rc=$?
    [ "$rc" -eq 65 ] && [ "$(jq -c '{created,existing,failed}' "$work/imp2.out")" = '{"created":0,"existing":4,"failed":9}' ] &&
        [ "$(shipments)" -eq 4 ] && ok "re-run: 4 existing, nothing new" ||
        fail "re-run: exit $rc $(cat "$work/imp2.out"), $(shipments) shipments"
    # Header errors register nothing at all.
    before=$(shipments)
    printf 'tracking_number,order_id,mail\nJVGL06123450099,X-1,a@b.nl\n' >"$work/h1.csv"
    rc=0
    ctl import "$work/h1.csv" >"$work/h1.out" 2>"$work/h1.err" || rc=$?
    [ "$rc" -eq 65 ] && grep -q "h1.csv:1: header: unknown column 'mail' (column 3); known: tracking_number" "$work/h1.err" &&
        ok "an unknown column: exit 65, $(cat "$work/h1.err")" || fail "unknown column: exit $rc: $(cat "$work/h1.err")"
    printf 'tracking_number,carrier\nJVGL06123450099,dhl\n' >"$work/h2.csv"
    rc=0
    ctl import "$work/h2.csv" >/dev/null 2>"$work/h2.err" || rc=$?
    [ "$rc" -eq 65 ] && grep -q "order_id columns are required" "$work/h2.err" &&
        ok "no order_id column: refused" || fail "h2: exit $rc: $(cat "$work/h2.err")"
    printf 'tracking_number,order_id,carrier,order_id\n' >"$work/h3.csv"
    rc=0
    ctl import "$work/h3.csv" >/dev/null 2>"$work/h3.err" || rc=$?
    [ "$rc" -eq 65 ] && grep -q "column 'order_id' appears twice" "$work/h3.err" &&
        ok "a column named twice: refused" || fail "h3: exit $rc: $(cat "$work/h3.err")"
    : >"$work/empty.csv"
    rc=0
    ctl import "$work/empty.csv" >/dev/null 2>"$work/h4.err" || rc=$?
    [ "$rc" -eq 65 ] && ok "an empty file: exit 65 ($(cat "$work/h4.err"))" || fail "empty: exit $rc"
    [ "$(shipments)" -eq "$before" ] && ok "header errors registered nothing" ||
        fail "header errors registered $(($(shipments) - before))"
    rc=0
    ctl import "$work/no-such.csv" >/dev/null 2>"$work/h5.err" || rc=$?
    [ "$rc" -eq 66 ] && ok "a missing file: exit 66" || fail "missing file: exit $rc"
    rc=0
    ctl import >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 64 ] && ok "no file: usage, exit 64" || fail "no file: exit $rc"
    # From stdin, semicolon-separated (a European spreadsheet's export).
    rc=0
    printf 'tracking_number;order_id;carrier;postcode\nJVGL06123450020;SEMI-1;dhl;9999 ZZ\n' |
        ctl import - >"$work/semi.out" 2>"$work/semi.err" || rc=$?
    [ "$rc" -eq 0 ] && [ "$(jq -c '{file,created}' "$work/semi.out")" = '{"file":"stdin","created":1}' ] &&
        ok "stdin, ';' separated" || fail "stdin: exit $rc $(cat "$work/semi.out" "$work/semi.err")"
    # Redis refusing writes (OOM): every row reported, exit 75; once it
    # takes writes again the same file registers them all.
    printf 'tracking_number,order_id\nJVGL06123450030,OOM-1\nJVGL06123450031,OOM-2\n' >"$work/oom.csv"
    before=$(shipments)
    rcli CONFIG SET maxmemory-policy noeviction >/dev/null
    rcli CONFIG SET maxmemory 1 >/dev/null
    rc=0
    ctl import "$work/oom.csv" >"$work/oom.out" 2>"$work/oom.err" || rc=$?
    rcli CONFIG SET maxmemory 0 >/dev/null
    [ "$rc" -eq 75 ] && [ "$(jq -c '{created,failed}' "$work/oom.out")" = '{"created":0,"failed":2}' ] &&
        grep -q 'oom.csv:2: not registered' "$work/oom.err" && grep -q 'oom.csv:3: not registered' "$work/oom.err" &&
        [ "$(shipments)" -eq "$before" ] &&
        ok "Redis refusing writes: both rows reported by line, exit 75" ||
        fail "OOM: exit $rc $(cat "$work/oom.out" "$work/oom.err")"
    rc=0
    ctl import "$work/oom.csv" >"$work/oom2.out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && [ "$(jq .created "$work/oom2.out")" -eq 2 ] &&
        ok "run again: both registered" || fail "after OOM: exit $rc $(cat "$work/oom2.out")"
    # Progress on a terminal (script(1) gives one).
    if command -v script >/dev/null; then
        printf 'tracking_number,order_id\nJVGL06123450021,TTY-1\n' >"$work/tty.csv"
        script -qec "$CTL -c $work/w.ini import $work/tty.csv" /dev/null >"$work/tty.out" 2>&1 || true
        grep -q 'wismoctl import: 1 rows, 1 new, 0 known, 0 failed' "$work/tty.out" &&
            ok "progress on a terminal" || fail "no progress on a terminal: $(cat -v "$work/tty.out")"
    fi
    # 100,000 rows.
    awk 'BEGIN { print "tracking_number,carrier,order_id,postcode,email";
        for (i = 0; i < 100000; i++)
            printf "BULK%08d,dhl,BULK-%d,1234AB,c%d@example.com\r\n", i, i, i }' >"$work/big.csv"
    before=$(shipments)
    rc=0
    ctl import "$work/big.csv" >"$work/big.out" 2>"$work/big.err" || rc=$?
    n=$(( $(shipments) - before ))
    [ "$rc" -eq 0 ] && [ "$n" -eq 100000 ] && [ "$(jq .created "$work/big.out")" -eq 100000 ] &&
        ok "100,000 rows: $(jq -c '{seconds,rows_per_second}' "$work/big.out")" ||
        fail "100,000 rows: exit $rc, $n registered: $(cat "$work/big.out") $(head -5 "$work/big.err")"
    rc=0
    ctl import "$work/big.csv" >"$work/big2.out" 2>>"$work/big.err" || rc=$?
    [ "$rc" -eq 0 ] && [ "$(jq .existing "$work/big2.out")" -eq 100000 ] &&
        [ "$(shipments)" -eq $((before + 100000)) ] &&
        ok "100,000 rows again: all existing, $(jq -c '{seconds,rows_per_second}' "$work/big2.out")" ||
        fail "re-run of 100,000: exit $rc $(cat "$work/big2.out")"
    for f in imp1.err imp2.err h1.err oom.err big.err; do sanitizer_check "$work/$f"; done
}

phase_export() {
    say "export"
    local rc a b c d out
    # Eva: two shipments by e-mail, one more only by phone; Piet: one.
    ctl add --carrier dhl --number JVGL06123460001 --order EXP-1 \
        --email Eva@Example.com --phone 0611112222 --postcode 1111AA >"$work/e1" 2>&1
    ctl add --carrier dhl --number JVGL06123460002 --order EXP-2 \
        --email eva@example.com >"$work/e2" 2>&1
    ctl add --carrier dhl --number JVGL06123460003 --order exp-3 \
        --phone +31611112222 >"$work/e3" 2>&1
    ctl add --carrier dhl --number JVGL06123460004 --order EXP-4 \
        --email piet@example.com >"$work/e4" 2>&1
    a=$(jq -r .id "$work/e1")
    b=$(jq -r .id "$work/e2")
    c=$(jq -r .id "$work/e3")
    d=$(jq -r .id "$work/e4")
    # An event and a notification record for Eva's first shipment.
    rcli HSET "wismo:s:{$a}:ev" '2026-11-20T08:12:00Z|PU|Utrecht|3542AD|NL' \
        '{"time":"2026-11-20T08:12:00Z","status":"info_received","code":"PU","description":"Picked up","location":{"city":"Utrecht","postcode":"3542AD","country":"NL"}}' >/dev/null
    rcli LPUSH "wismo:s:{$a}:notif" \
        '{"at":"2026-11-20T09:00:00Z","reason":"exception","episode":1,"channel":"email","key":"k1","outcome":"sent"}' >/dev/null
    rc=0
    ctl export --email EVA@example.com >"$work/x1.json" 2>"$work/x1.err" || rc=$?
    [ "$rc" -eq 0 ] && [ "$(jq -c '[.shipments[].id] | sort' "$work/x1.json")" = "$(jq -nc --arg a "$a" --arg b "$b" '[$a,$b] | sort')" ] &&
        ok "by e-mail (any case): her 2 shipments" || fail "export by e-mail: exit $rc $(cat "$work/x1.json" "$work/x1.err")"
    [ "$(jq -r .request.email "$work/x1.json")" = eva@example.com ] && [ "$(jq .shipment_count "$work/x1.json")" = 2 ] &&
        jq -e '.exported_at | test("Z$")' "$work/x1.json" >/dev/null &&
        ok "says what was asked, when, and how many" || fail "request: $(jq -c '{request,exported_at,shipment_count}' "$work/x1.json")"
    out=$(jq -c --arg a "$a" '.shipments[] | select(.id == $a) | {email, phone, postcode, order_id, ev: [.events[].code], n: [.notifications[].key]}' "$work/x1.json")
    [ "$out" = '{"email":"eva@example.com","phone":"+31611112222","postcode":"1111AA","order_id":"EXP-1","ev":["PU"],"n":["k1"]}' ] &&
        ok "contact data, events and notifications: $out" || fail "shipment: $out"
    rc=0
    ctl export --phone '06 1111 2222' >"$work/x2.json" 2>"$work/x2.err" || rc=$?
    [ "$rc" -eq 0 ] && [ "$(jq -c '[.shipments[].order_id] | sort' "$work/x2.json")" = '["EXP-1","exp-3"]' ] &&
        ok "by phone (national form): 2 shipments" || fail "by phone: exit $rc $(cat "$work/x2.json" "$work/x2.err")"
    rc=0
    ctl export --email eva@example.com --phone +31611112222 >"$work/x3.json" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && [ "$(jq .shipment_count "$work/x3.json")" = 3 ] &&
        ok "e-mail and phone together: 3 shipments, each once" || fail "both: $(cat "$work/x3.json")"
    grep -q piet "$work/x3.json" && fail "Piet's data in Eva's export" || ok "nobody else's data"
    rc=0
    ctl export --order Exp-3 >"$work/x4.json" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && [ "$(jq -r '.shipments[0].id' "$work/x4.json")" = "$c" ] &&
        ok "by order id (any case)" || fail "by order: $(cat "$work/x4.json")"
    rc=0
    ctl export --email nobody@example.com >"$work/x5.json" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && [ "$(jq -c .shipments "$work/x5.json")" = '[]' ] &&
        ok "nobody: an empty export, exit 0" || fail "nobody: exit $rc $(cat "$work/x5.json")"
    rc=0
    ctl export --email not-an-address >/dev/null 2>"$work/x6.err" || rc=$?
    [ "$rc" -eq 64 ] && grep -q "not an e-mail address" "$work/x6.err" &&
        ok "a bad address: exit 64" || fail "bad address: exit $rc $(cat "$work/x6.err")"
    rc=0
    ctl export >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 64 ] && ok "nothing asked: exit 64" || fail "no selector: exit $rc"
    [ -n "$d" ] || fail "no id for Piet"
    for f in x1.err x2.err x6.err; do sanitizer_check "$work/$f"; done
}

phase_dead() {
    say "dead letters and replay"
    local rc m1 m2 e1 e2 e3 out
    m1='{"key":"s1:exception:1:email","id":"s1","reason":"exception","episode":1,"channel":"email","to":"a@example.com","attempt":7,"created_at":"2026-11-20T08:00:00Z","created_ms":1795000000000,"ctx":"{}"}'
    m2='{"key":"s2:failed_attempt:2:sms","id":"s2","reason":"failed_attempt","episode":2,"channel":"sms","to":"+31611112222","attempt":9,"created_at":"2026-11-21T08:00:00Z","created_ms":1795100000000,"ctx":"{}"}'
    rc=0
    out=$(ctl dead-letters 2>&1) || rc=$?
    [ "$rc" -eq 0 ] && [ -z "$out" ] && ok "no dead letters: nothing listed" || fail "empty: exit $rc: $out"
    e1=$(rcli XADD wismo:outbox:dead '*' m "$m1" why smtp_rejected)
    e2=$(rcli XADD wismo:outbox:dead '*' m "not json" why bad_message)
    e3=$(rcli XADD wismo:outbox:dead '*' m "$m2" why gave_up)
    rc=0
    ctl dead-letters >"$work/d1.out" 2>"$work/d1.err" || rc=$?
    [ "$rc" -eq 0 ] && [ "$(grep -c . "$work/d1.out")" -eq 3 ] && ok "3 listed" ||
        fail "dead-letters: exit $rc $(cat "$work/d1.out" "$work/d1.err")"
    [ "$(head -n1 "$work/d1.out" | jq -c '{entry,why,shipment_id,reason,channel,episode,to,attempt}')" = \
        "{\"entry\":\"$e1\",\"why\":\"smtp_rejected\",\"shipment_id\":\"s1\",\"reason\":\"exception\",\"channel\":\"email\",\"episode\":1,\"to\":\"a@example.com\",\"attempt\":7}" ] &&
        ok "a dead letter: $(head -n1 "$work/d1.out")" || fail "first: $(head -n1 "$work/d1.out")"
    [ "$(sed -n 2p "$work/d1.out" | jq -c .)" = "{\"entry\":\"$e2\",\"why\":\"bad_message\",\"message\":null}" ] &&
        ok "an unreadable one is listed as such" || fail "second: $(sed -n 2p "$work/d1.out")"
    [ "$(ctl dead-letters --limit 1 | grep -c .)" -eq 1 ] && ok "--limit 1" || fail "--limit"
    rc=0
    ctl replay "$e3" >"$work/r1.out" 2>"$work/r1.err" || rc=$?
    [ "$rc" -eq 0 ] && [ "$(cat "$work/r1.out")" = '{"replayed":1,"unreadable":0,"not_found":0}' ] &&
        [ "$(rcli XLEN wismo:outbox)" -eq 1 ] && [ "$(rcli XLEN wismo:outbox:dead)" -eq 2 ] &&
        ok "replay ENTRY: one back in the outbox" || fail "replay one: exit $rc $(cat "$work/r1.out" "$work/r1.err")"
    out=$(rcli XRANGE wismo:outbox - + | sed -n 3p)
    [ "$(jq -c '{key,attempt,to}' <<<"$out")" = '{"key":"s2:failed_attempt:2:sms","attempt":0,"to":"+31611112222"}' ] &&
        ok "with its idempotency key, attempt 0" || fail "replayed message: $out"
    rc=0
    ctl replay "$e3" >"$work/r2.out" 2>"$work/r2.err" || rc=$?
    [ "$rc" -eq 1 ] && grep -q "no dead letter $e3" "$work/r2.err" &&
        ok "an entry replayed already: exit 1" || fail "again: exit $rc $(cat "$work/r2.out" "$work/r2.err")"
    rc=0
    ctl replay bogus >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 64 ] && ok "not an entry id: exit 64" || fail "bogus: exit $rc"
    rc=0
    ctl replay --all >"$work/r3.out" 2>"$work/r3.err" || rc=$?
    [ "$rc" -eq 0 ] && [ "$(cat "$work/r3.out")" = '{"replayed":1,"unreadable":1,"not_found":0}' ] &&
        [ "$(rcli XLEN wismo:outbox)" -eq 2 ] && [ "$(rcli XLEN wismo:outbox:dead)" -eq 1 ] &&
        ok "replay --all: the readable one back, the unreadable one stays" ||
        fail "replay --all: exit $rc $(cat "$work/r3.out" "$work/r3.err")"
    # Many: pages of 500.
    for i in $(seq 1 1200); do
        echo "XADD wismo:outbox:dead * m '{\"key\":\"k$i\",\"id\":\"s$i\",\"reason\":\"exception\",\"episode\":1,\"channel\":\"email\",\"to\":\"\",\"attempt\":1,\"created_at\":\"\",\"created_ms\":0,\"ctx\":\"{}\"}' why x"
    done | rcli >/dev/null
    [ "$(ctl dead-letters | grep -c .)" -eq 1201 ] && ok "1201 listed across pages" || fail "pages: $(ctl dead-letters | grep -c .)"
    rc=0
    ctl replay --all >"$work/r4.out" 2>/dev/null || rc=$?
    [ "$(jq .replayed "$work/r4.out")" -eq 1200 ] && [ "$(rcli XLEN wismo:outbox:dead)" -eq 1 ] &&
        ok "replay --all of 1200" || fail "replay 1200: $(cat "$work/r4.out")"
    for f in d1.err r1.err r2.err r3.err; do sanitizer_check "$work/$f"; done
}

for p in "${PHASES[@]}"; do
    "phase_$p"
done
summary "ctl ops"
