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

work=$(mktemp -d "${TMPDIR:-/tmp}/wismo-ctlops-test.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
say() { echo "--- $*"; }
wait_for() { # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    while [ $SECONDS -lt $deadline ]; do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}

mkdir -p "$work/redis"
SOCK=$work/redis/redis.sock
rcli() { redis-cli -s "$SOCK" "$@"; }
redis-server --port 0 --unixsocket "$SOCK" --dir "$work/redis" --save '' \
    --appendonly no >/dev/null 2>&1 &
pids+=($!)
wait_for 30 rcli ping >/dev/null 2>&1 || { echo "redis-server did not start" >&2; exit 1; }
cat >"$work/w.ini" <<INI
[daemon]
data_dir = $work/data
[redis]
url = unix://$SOCK
[web]
default_country = NL
INI
ctl() { "$CTL" -c "$work/w.ini" "$@"; }
sanitizer_check() { # sanitizer_check FILE
    if grep -Eq 'Sanitizer|runtime error' "$1"; then
        fail "sanitizer report in $1"
        grep -E -A20 'Sanitizer|runtime error' "$1" | head -40 >&2
    fi
}
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
    for f in imp1.err imp2.err h1.err big.err; do sanitizer_check "$work/$f"; done
}

for p in "${PHASES[@]}"; do
    "phase_$p"
done
echo "ctl ops: $failures failed"
[ "$failures" -eq 0 ]
