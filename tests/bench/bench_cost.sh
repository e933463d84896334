#!/usr/bin/env bash
# Benchmark (not a test; issue 12 "A cost benchmark"): what wismo spends in
# carrier calls, and how late it learns of a scan, for one simulated
# population over all nine carriers, played by contrib/fakecarrier on an
# accelerated clock, run twice in this invocation:
#   default  wismo as configured by default: the default schedule (adaptive:
#            polls where the carrier's next scans come), push on for UPS,
#            DHL, USPS, FedEx and DPD (the fake pushing), PostNL's change
#            feed on (every 10 minutes);
#   fixed    wismo configured as a fixed poller: every status every 2 hours
#            (adaptive = off), push and the change feed off.
# The population: SHIPMENTS parcels (at least 5,000; default 5,040), spread
# evenly over the carriers, with the fake's realistic scripts (on_time 70 %,
# delayed 12 %, failed_attempt 8 %, exception 6 %, return_to_sender 4 %;
# hub scans through the night), registered evenly over REGISTER_HOURS fake
# hours, each followed to its scripted end. Both runs use the same numbers
# and scripts (a fixed seed).
#
# The clock: the fake runs SPEED fake seconds per real second (default
# 3600: a fake hour is a real second), and every duration in wismod's
# configuration is divided by SPEED (in_transit 3h -> 3s, feed_interval
# 10m -> 167ms, push_safety_poll 24h -> 24s). Not scaled: quiet nights (off
# in both runs: wismod reads them from the wall clock, which does not run
# at SPEED), the carriers' request rates (off in both runs; quotas are
# compared below instead), and the push silence table of policy.c (hours
# of wall time: never reached here, so the safety net is the 24h poll).
#
# Printed per carrier and in total, for each run:
#   calls/shipment  carrier calls per shipment lifecycle: tracking requests
#                   (a batch counts once), push subscription calls
#                   (subscribe, renew, unsubscribe, DHL activation) and
#                   change-feed calls, over the carrier's shipments (token
#                   and login calls are left out: a handful per run);
#   lag p50 / p90   minutes (fake) from a carrier event to wismo storing
#                   it: the first change-stream entry that added events to
#                   the shipment at or after the event's time (its stream
#                   id is the wall-clock ms of the merge); events before the
#                   registration (the label) are left out;
#   quota headroom  where the carrier publishes a daily quota (DHL 250,
#                   GLS 500, USPS 60 an hour, FedEx 100,000): how many new
#                   shipments a day it carries at this cost (quota divided
#                   by calls per shipment); "-" where none is published.
# Registrations are spread over a week of fake time (720 new shipments a
# day), so that the fixed poller's load (about 700 requests a second at
# 3600x) stays within what a shared 2-core machine serves: "max due
# backlog" says how far behind wismod fell (shipments overdue at once).
# Every wait is bounded; the whole run takes about 9 minutes at the
# defaults (more on a loaded machine: the bound is 15 minutes).
# Usage: tests/bench/bench_cost.sh BUILD-DIR [SHIPMENTS] [SPEED] [REGISTER_HOURS]
# (RUNS=default or RUNS=fixed in the environment: that run alone.)
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD-DIR [SHIPMENTS] [SPEED] [REGISTER_HOURS]}" && pwd)
shipments=${2:-5040}
speed=${3:-3600}
reg_hours=${4:-168}
here=$(cd "$(dirname "$0")/../.." && pwd)
FAKE=$build/contrib/fakecarrier/fakecarrier
WISMOD=$build/daemon/wismod
CTL=$build/daemon/wismoctl
PY=/usr/bin/python3
for b in "$FAKE" "$WISMOD" "$CTL"; do
    [ -x "$b" ] || { echo "missing $b: build wismod, wismoctl and fakecarrier" >&2; exit 64; }
done
[ "$shipments" -ge 9 ] || { echo "SHIPMENTS must be at least 9" >&2; exit 64; }
work=$(mktemp -d /tmp/wismo-bench-cost.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
BENCH_START=$(date +%s)
BENCH_LIMIT=900 # seconds for everything
over_time() { [ $(($(date +%s) - BENCH_START)) -gt "$BENCH_LIMIT" ]; }
wait_for() { # wait_for SECONDS COMMAND...
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        "${@:2}" && return 0
        sleep 0.1
    done
    return 1
}
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A duration of fake time in wismod's units: scaled DURATION_MS -> "Nms".
scaled() { echo "$(( ($1 + speed / 2) / speed ))ms"; }
H=$((3600 * 1000))

CARRIERS=(dhl postnl dpd ups fedex usps canadapost gls bpost)
PATH_SECRET=benchPath-0123456789abcdef
SECRET=bench-secret-0123456789abcdef0123456789

# The population: "carrier number scenario" lines, the same for both runs.
"$PY" - "$shipments" >"$work/population" <<'EOF'
import random, sys
n = int(sys.argv[1])
carriers = ["dhl", "postnl", "dpd", "ups", "fedex", "usps", "canadapost", "gls", "bpost"]
shapes = {"dhl": "482715{:04d}", "postnl": "3SWISM48291{:04d}", "dpd": "0521234567{:04d}",
          "ups": "1Z4E96F7039876{:04d}", "fedex": "78120583{:04d}",
          "usps": "940551120621386123{:04d}", "canadapost": "702321004567{:04d}",
          "gls": "6234117{:04d}", "bpost": "32329994567890001122{:04d}"}
mix = [("on_time", 70), ("delayed", 12), ("failed_attempt", 8), ("exception", 6),
       ("return_to_sender", 4)]
rng = random.Random(20261207)
lines = []
for i in range(n):
    c = carriers[i % len(carriers)]
    r, acc = rng.uniform(0, 100), 0
    for sc, w in mix:
        acc += w
        if r < acc:
            break
    lines.append("%s %s %s" % (c, shapes[c].format(i // len(carriers)), sc))
print("\n".join(lines))
EOF

# run NAME: one run with its own redis-server, fake carrier and wismod;
# leaves $work/NAME/{dump.json,counts.json,push.json,meta.json}.
run() {
    local name=$1 dir=$work/$1 wport api fpid wpid rpid
    mkdir -p "$dir/redis" "$dir/data"
    local R=(redis-cli -s "$dir/redis/redis.sock")
    redis-server --port 0 --unixsocket "$dir/redis/redis.sock" --dir "$dir/redis" \
        --save '' --appendonly no >/dev/null 2>&1 &
    rpid=$!
    pids+=("$rpid")
    wait_for 30 "${R[@]}" ping >/dev/null 2>&1 || { echo "redis did not start" >&2; exit 1; }
    "$FAKE" --listen 127.0.0.1:0 --speed "$speed" --max-shipments 200000 \
        --idle-timeout 600 >"$dir/fake.out" 2>"$dir/fake.err" &
    fpid=$!
    pids+=("$fpid")
    wait_for 30 test -s "$dir/fake.out" || { echo "the fake carrier did not start" >&2; exit 1; }
    local fake_url
    fake_url="http://$(head -n1 "$dir/fake.out" | sed 's/^listening on //')"
    wport=$(port)
    api=http://127.0.0.1:$wport
    {
        cat <<INI
[daemon]
data_dir = $dir/data
log_level = warn
claim_interval = 20ms
max_inflight = 512
[redis]
url = unix://$dir/redis/redis.sock
[http]
listen = 127.0.0.1:$wport
[tokens]
shop = shop-token
agent = agent-token
[web]
public_url = $api
[schedule]
night =
retry_min = $(scaled $((60 * 1000)))
retry_max = $(scaled $((2 * H)))
expire_after = $(scaled $((30 * 24 * H)))
not_found_expire = $(scaled $((7 * 24 * H)))
INI
        if [ "$name" = fixed ]; then
            echo "adaptive = off"
            for st in pending info_received in_transit out_for_delivery \
                available_for_pickup failed_attempt exception returning; do
                echo "$st = $(scaled $((2 * H)))"
            done
        else # the default schedule, scaled
            echo "pending = $(scaled $((1 * H)))"
            echo "info_received = $(scaled $((6 * H)))"
            echo "in_transit = $(scaled $((3 * H)))"
            echo "out_for_delivery = $(scaled $((H / 3)))"
            echo "available_for_pickup = $(scaled $((6 * H)))"
            echo "failed_attempt = $(scaled $((2 * H)))"
            echo "exception = $(scaled $((2 * H)))"
            echo "returning = $(scaled $((6 * H)))"
        fi
        for c in "${CARRIERS[@]}"; do
            printf '[carrier.%s]\nbase_url = %s/%s\nrate = 0\n' "$c" "$fake_url" "$c"
            case $c in
            dhl | postnl) echo "api_key = bench-key" ;;
            ups | fedex | usps | gls) printf 'client_id = wismo\nclient_secret = s3cret\n' ;;
            *) printf 'username = wismo\npassword = s3cret\n' ;;
            esac
            if [ "$name" = default ]; then
                case $c in
                ups | dhl | usps | fedex | dpd)
                    printf 'push = on\npush_path = %s\npush_secret = %s\n' \
                        "$PATH_SECRET" "$SECRET"
                    echo "push_safety_poll = $(scaled $((24 * H)))"
                    ;;
                postnl)
                    printf 'customer_number = 10452233\ncustomer_code = WISM\n'
                    echo "feed_interval = $(scaled $((10 * 60 * 1000)))"
                    echo "push_safety_poll = $(scaled $((24 * H)))"
                    ;;
                esac
            fi
        done
    } >"$dir/w.ini"
    "$WISMOD" -c "$dir/w.ini" 2>"$dir/wismod.log" &
    wpid=$!
    pids+=("$wpid")
    wait_for 60 curl -sf -o /dev/null "$api/healthz" || {
        echo "wismod did not start:" >&2; cat "$dir/wismod.log" >&2; exit 1; }
    if [ "$name" = default ]; then
        curl -sf -X PUT -d "{\"url\":\"$api/v1/carriers/dpd/webhook/$PATH_SECRET\"}" \
            "$fake_url/_admin/push/dpd" >/dev/null
        curl -sf -X PUT -d "{\"url\":\"$api/v1/carriers/fedex/webhook/$PATH_SECRET\",\"secret\":\"$SECRET\"}" \
            "$fake_url/_admin/push/fedex" >/dev/null
    fi
    # The scripts, set before any request starts a timeline.
    "$PY" - "$fake_url" "$work/population" <<'EOF'
import http.client, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
for line in open(sys.argv[2]):
    c, n, sc = line.split()
    conn.request("PUT", "/_admin/scenario/%s/%s" % (c, n), body='{"scenario":"%s"}' % sc)
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("scenario %s %s: HTTP %d" % (c, n, r.status))
EOF
    # Registration: evenly over reg_hours fake hours, in batches a real
    # second apart at most.
    local total batches per i t0
    total=$(wc -l <"$work/population")
    batches=$(( (reg_hours * 3600 + speed - 1) / speed ))
    [ "$batches" -ge 1 ] || batches=1
    per=$(( (total + batches - 1) / batches ))
    t0=$(date +%s%3N)
    echo "$name: registering $total shipments in $batches batches" >&2
    for ((i = 0; i < batches; i++)); do
        sed -n "$((i * per + 1)),$(((i + 1) * per))p" "$work/population" |
            awk '{print $1, $2, "bench-" $2}' >"$dir/batch"
        [ -s "$dir/batch" ] && "$CTL" -c "$dir/w.ini" add - <"$dir/batch" >/dev/null
        # the next batch a fake (reg_hours / batches) hours after the first
        local next=$((t0 + (i + 1) * reg_hours * 3600 * 1000 / batches / speed))
        local now
        now=$(date +%s%3N)
        [ "$now" -lt "$next" ] && sleep "$(awk -v d=$((next - now)) 'BEGIN{print d/1000}')"
    done
    # Until every shipment is final: none scheduled, none leased. Bounded
    # by the longest script (82 fake hours) plus a margin, and the limit.
    local deadline=$(( $(date +%s) + (100 * 3600 + speed - 1) / speed + 60 )) backlog=0 b left
    while :; do
        left=$(("$("${R[@]}" ZCARD wismo:due)" + "$("${R[@]}" ZCARD wismo:lease)"))
        [ "$left" = 0 ] && break
        b=$("${R[@]}" ZCOUNT wismo:due -inf "$(date +%s%3N)")
        [ "$b" -gt "$backlog" ] && backlog=$b
        if [ "$(date +%s)" -gt "$deadline" ] || over_time; then
            echo "$name: $left shipments not final at the time bound" >&2
            break
        fi
        sleep 1
    done
    curl -sf "$fake_url/_admin/counts" >"$dir/counts.json"
    curl -sf "$fake_url/_admin/push" >"$dir/push.json"
    # The fake clock's origin: fake = wall0 + (wall - wall0) * speed.
    local w1 ft w2
    w1=$(date +%s%3N)
    ft=$(curl -sf "$fake_url/_admin/time" | jq -r .unix_ms)
    w2=$(date +%s%3N)
    echo "{\"wall\":$(((w1 + w2) / 2)),\"fake\":$ft,\"speed\":$speed,\"backlog\":$backlog,\"left\":$left}" \
        >"$dir/meta.json"
    "${R[@]}" --raw EVAL "
local ships = {}
for _, id in ipairs(redis.call('ZRANGE', 'wismo:idx:created', 0, -1)) do
  local k = 'wismo:s:{' .. id .. '}'
  local f = redis.call('HMGET', k, 'carrier', 'created_ms', 'status')
  local times = {}
  for _, e in ipairs(redis.call('HVALS', k .. ':ev')) do
    times[#times + 1] = cjson.decode(e).time
  end
  ships[#ships + 1] = {id, f[1] or '', f[2] or '0', f[3] or '', times}
end
local ch = {}
for _, e in ipairs(redis.call('XRANGE', 'wismo:changes', '-', '+')) do
  local sid, added = '', 0
  for i = 1, #e[2], 2 do
    if e[2][i] == 'id' then sid = e[2][i + 1]
    elseif e[2][i] == 'events_added' then added = tonumber(e[2][i + 1]) end
  end
  if added > 0 then ch[#ch + 1] = {e[1], sid} end
end
return cjson.encode({ships = ships, changes = ch})" 0 >"$dir/dump.json"
    kill -TERM "$wpid"
    wait "$wpid" || echo "$name: wismod exited with status $?" >&2
    kill -TERM "$fpid"
    wait "$fpid" || true
    kill -TERM "$rpid"
    wait "$rpid" || true
    if grep -q -e Sanitizer -e 'runtime error' "$dir/wismod.log"; then
        echo "$name: sanitizer report in wismod's log" >&2
    fi
    echo "$name: done in $(($(date +%s%3N) - t0)) ms, max due backlog $backlog" >&2
}

runs=${RUNS:-default fixed} # RUNS=default: the first run alone (no table)
for r in $runs; do run "$r"; done

# shellcheck disable=SC2086
"$PY" - "$work" $runs <<'EOF'
import json, statistics, sys, datetime
work = sys.argv[1]
carriers = ["dhl", "postnl", "dpd", "ups", "fedex", "usps", "canadapost", "gls", "bpost"]
quota = {"dhl": 250, "gls": 500, "usps": 60 * 24, "fedex": 100000}  # per day

def iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()

def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    k = (len(v) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)

def figures(name):
    d = "%s/%s" % (work, name)
    dump = json.load(open(d + "/dump.json"))
    counts = json.load(open(d + "/counts.json"))
    push = json.load(open(d + "/push.json"))
    meta = json.load(open(d + "/meta.json"))
    speed = meta["speed"]
    # fake = wall0 + (wall - wall0) * speed, so wall0 = (speed*wall - fake)/(speed - 1)
    wall0 = (speed * meta["wall"] - meta["fake"]) / (speed - 1)
    fake_s = lambda wall_ms: (wall0 + (wall_ms - wall0) * speed) / 1000.0
    stores = {}
    for entry_id, sid in dump["changes"]:
        stores.setdefault(sid, []).append(fake_s(int(entry_id.split("-")[0])))
    per = {c: {"n": 0, "lags": [], "final": 0, "missing": 0} for c in carriers}
    for sid, carrier, created_ms, status, times in dump["ships"]:
        if carrier not in per:
            continue
        p = per[carrier]
        p["n"] += 1
        p["final"] += status in ("delivered", "returned")
        created = fake_s(int(created_ms))
        st = sorted(stores.get(sid, []))
        for t in sorted(set(iso(x) for x in (times if isinstance(times, list) else []))):
            if t < created:
                continue  # before registration: the label
            at = next((s for s in st if s >= t - 60), None)
            if at is None:
                p["missing"] += 1
                continue
            p["lags"].append(max(0.0, at - t) / 60.0)
    rows = {}
    for c in carriers:
        p = per[c]
        calls = counts["carriers"][c]["requests"] + push.get("calls", {}).get(c, 0)
        if c == "postnl":
            calls += counts.get("feed", {}).get("postnl", 0)
        rows[c] = (p["n"], calls, p["lags"], p["final"], p["missing"])
    return rows, meta

def line(label, n, calls, lags, final, missing, q):
    cps = calls / n if n else float("nan")
    head = "-" if q is None else "%d/day" % (q / cps) if cps > 0 else "inf"
    return "%-11s %6d %8d %8.1f %8.1f %8.1f %8d %14s" % (
        label, n, calls, cps, pct(lags, 0.5), pct(lags, 0.9), final, head)

results = {}
for name in sys.argv[2:]:
    rows, meta = figures(name)
    results[name] = rows
    print()
    print("== %s: %s" % (name, "default configuration (push on for ups dhl usps fedex dpd, "
                         "PostNL feed on)" if name == "default" else
                         "fixed poller (every status every 2 h, push and feed off)"))
    print("   speed %dx, max due backlog %d, not final at the end %d" % (
        meta["speed"], meta["backlog"], meta["left"]))
    print("%-11s %6s %8s %8s %8s %8s %8s %14s" % ("carrier", "ships", "calls", "calls/sh",
                                                 "lag p50", "lag p90", "final",
                                                 "quota headroom"))
    tn = tc = tf = tm = 0
    tl = []
    for c in carriers:
        n, calls, lags, final, missing = rows[c]
        print(line(c, n, calls, lags, final, missing, quota.get(c)))
        tn += n; tc += calls; tl += lags; tf += final; tm += missing
    print(line("total", tn, tc, tl, tf, tm, None))
    print("   (lag in fake minutes; quota headroom: new shipments a day the "
          "published daily quota carries; events never matched to a store: %d)" % tm)
if "default" not in results or "fixed" not in results:
    sys.exit(0)
d, f = results["default"], results["fixed"]
td = sum(r[1] for r in d.values()); tf = sum(r[1] for r in f.values())
print()
print("default / fixed calls: %.1f %% (target <= 25 %%)" % (100.0 * td / tf if tf else float("nan")))
for c in carriers:
    print("  %-11s %6.1f %%" % (c, 100.0 * d[c][1] / f[c][1] if f[c][1] else float("nan")))
EOF
echo "bench_cost: $(($(date +%s) - BENCH_START)) s in all"
