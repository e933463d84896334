# Shared by the demo and the end-to-end tests: a wismod configuration that
# points every carrier at contrib/fakecarrier, tracking numbers in each
# carrier's shape, and the comparison of what Redis holds with what the fake
# carrier scripted. Source it; it expects $work (a scratch directory),
# $FAKE_URL, and $REDIS_SOCK (the Redis unix socket) where it needs them.

CARRIERS=(dhl postnl dpd ups fedex usps canadapost gls bpost)

# number CARRIER INDEX: a tracking number in the carrier's own shape.
number() {
    local i
    i=$(printf %04d "$2")
    case $1 in
    dhl) echo "482715$i" ;;
    postnl) echo "3SWISM48291$i" ;;
    dpd) echo "0521234567$i" ;;
    ups) echo "1Z4E96F7039876$i" ;;
    fedex) echo "78120583$i" ;;
    usps) echo "940551120621386123$i" ;;
    canadapost) echo "702321004567$i" ;;
    gls) echo "6234117$i" ;;
    bpost) echo "32329994567890001122$i" ;;
    esac
}

# write_config FILE [EXTRA-INI-TEXT]: fast schedules, every carrier at the
# fake carrier with test credentials. $REDIS_SOCK empty: a private
# redis-server in $work/data.
write_config() { # write_config FILE [EXTRA-INI-TEXT]
    {
        cat <<INI
[daemon]
data_dir = $work/data
log_level = info
claim_interval = 50ms
lease = 4s
max_inflight = 512
$( [ -n "${REDIS_SOCK:-}" ] && printf '[redis]\nurl = unix://%s\n' "$REDIS_SOCK")
[http]
listen = 127.0.0.1:0
[notify]
templates = $(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/templates
[schedule]
pending = 1s
info_received = 1s
in_transit = 1s
out_for_delivery = 1s
available_for_pickup = 1s
failed_attempt = 1s
exception = 1s
returning = 1s
retry_min = 1s
retry_max = 3s
not_found_expire = 6s
jitter = 20
night =
INI
        for c in "${CARRIERS[@]}"; do
            printf '[carrier.%s]\nbase_url = %s/%s\nrate = 0\nconcurrency = 32\n' \
                "$c" "$FAKE_URL" "$c"
            printf 'timeout = 2s\nbreaker_failures = 20\nbreaker_open = 2s\n'
            case $c in
            dhl | postnl) echo "api_key = test-key" ;;
            ups | fedex | usps | gls) printf 'client_id = wismo\nclient_secret = s3cret\n' ;;
            *) printf 'username = wismo\npassword = s3cret\n' ;;
            esac
        done
        printf '%s\n' "${2:-}"
    } >"$1"
}

rcli() { redis-cli -s "$REDIS_SOCK" "$@"; }

# register CONFIG FIRST COUNT: COUNT shipments per carrier through
# "$CTL add -"; the keys ("carrier:number") go to $KEYS_FILE.
register() { # register CONFIG FIRST COUNT: COUNT shipments per carrier
    local cfg=$1 first=$2 count=$3 c i
    for c in "${CARRIERS[@]}"; do
        for ((i = first; i < first + count; i++)); do
            echo "$c $(number "$c" "$i") order-$c-$i"
        done
    done >"$work/reg.txt"
    "$CTL" -c "$cfg" add - <"$work/reg.txt" >"$work/reg.out"
    KEYS_FILE=$work/keys.txt
    awk '{print $1 ":" $2}' "$work/reg.txt" >"$KEYS_FILE"
}

# wismod_up CONFIG [WRAPPER...]: starts $WISMOD (under WRAPPER, such as
# valgrind, if given) with its log in $work/wismod.log, waits up to 60 s for
# it to say it is ready, and sets WPID and API (its listening address).
wismod_up() {
    local cfg=$1 port=
    shift
    : >"$work/wismod.log"
    "$@" "$WISMOD" -c "$cfg" 2>"$work/wismod.log" &
    WPID=$!
    for _ in $(seq 1200); do
        port=$(sed -n 's/.*msg=ready.* port=\([0-9]*\).*/\1/p' "$work/wismod.log")
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "wismod did not start" >&2; cat "$work/wismod.log" >&2; return 1; }
    API=http://127.0.0.1:$port
}

# register_orders CONFIG COUNT: COUNT orders ORD-000000... with a postcode
# each, one shipment each, spread over the carriers, through "$CTL add -";
# "order postcode" lines go to $work/orders.txt. Then waits (bounded) for
# every first poll: nothing due within ten minutes, nothing leased.
register_orders() {
    local cfg=$1 count=$2 c o p i left=1 inflight az=ABCDEFGHIJKLMNOPQRSTUVWXYZ
    : >"$work/orders.txt"
    for ((i = 0; i < count; i++)); do
        c=${CARRIERS[i % ${#CARRIERS[@]}]}
        o=$(printf 'ORD-%06d' "$i")
        p=$((i % 9000 + 1000))${az:i % 26:1}${az:i / 26 % 26:1}
        printf '%s\t%s\t%s\t%s\n' "$c" "$(number "$c" $((i / ${#CARRIERS[@]} + 10000)))" "$o" "$p"
        printf '%s %s\n' "$o" "$p" >>"$work/orders.txt"
    done >"$work/add.txt"
    "$CTL" -c "$cfg" add - <"$work/add.txt" >/dev/null
    for _ in $(seq 600); do
        left=$(rcli zcount wismo:due -inf "$(($(date +%s) * 1000 + 600000))")
        inflight=$(rcli zcard wismo:lease)
        [ "$left" = 0 ] && [ "$inflight" = 0 ] && return 0
        sleep 0.5
    done
    echo "first polls unfinished: $left due" >&2
    return 1
}

# The store as JSON: {"carrier:number": {id, status, polls, events:[...]}}.
DUMP_LUA='local out = {}
local idx = redis.call("HGETALL", ARGV[1] .. "idx:num")
for i = 1, #idx, 2 do
  local id = idx[i + 1]
  local h = redis.call("HMGET", ARGV[1] .. "s:{" .. id .. "}", "status", "polls")
  local ev = redis.call("HVALS", ARGV[1] .. "s:{" .. id .. "}:ev")
  local e = {}
  for j = 1, #ev do e[j] = cjson.decode(ev[j]) end
  out[idx[i]] = {id = id, status = h[1], polls = tonumber(h[2]) or 0, events = e}
end
return cjson.encode(out)'
dump_store() { rcli --raw EVAL "$DUMP_LUA" 0 wismo: >"$1"; }

# What the fake carrier scripted for every registered key.
dump_expected() {
    local urls=() k
    while read -r k; do urls+=("$FAKE_URL/_admin/expected/${k%%:*}/${k#*:}"); done <"$KEYS_FILE"
    curl -sf "${urls[@]}" | jq -c '.' >"$work/exp.lines"
    paste -d' ' "$KEYS_FILE" "$work/exp.lines" |
        jq -R -s 'split("\n") | map(select(length > 0) |
            (index(" ") as $i | {key: .[:$i], value: (.[$i+1:] | fromjson)}))
            | from_entries' >"$1"
}

# compare: every key's status and events equal the script's final state.
# not_found scripts end expired with no events.
compare() { # compare STORE EXPECTED -> prints mismatches, returns their count
    jq -n --slurpfile s "$1" --slurpfile e "$2" '
        def norm: sort_by(.time, .code, (.location|tostring));
        [$e[0] | to_entries[] | .key as $k | .value as $x |
          ($x.shipments[0] // null) as $ship |
          {key: $k,
           want_status: (if $ship then $ship.status else "expired" end),
           want: (if $ship then ($ship.events | norm) else [] end),
           got: (($s[0][$k].events // []) |
                 if type == "array" then norm else [] end),
           got_status: ($s[0][$k].status // "missing")} |
          select(.want_status != .got_status or .want != .got)] ' >"$work/diff.json"
    local n
    n=$(jq length "$work/diff.json")
    if [ "$n" -gt 0 ]; then
        jq -c '.[:3][] | {key, want_status, got_status,
            want_n: (.want|length), got_n: (.got|length)}' "$work/diff.json" >&2
    fi
    echo "$n"
}

