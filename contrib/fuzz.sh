#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for a
# bounded time, seeded from the fixtures: contrib/fuzz.sh [SECONDS-EACH]
set -euo pipefail
secs=${1:-60}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
command -v clang >/dev/null || { echo "fuzz: needs clang" >&2; exit 1; }
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DWISMO_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
export ASAN_OPTIONS=detect_leaks=1
status=0
for bin in build-fuzz/tests/fuzz_*; do
    name=$(basename "$bin")
    corpus=build-fuzz/corpus/$name
    mkdir -p "$corpus"
    case $name in
    fuzz_normalize_*)
        c=${name#fuzz_normalize_}
        cp tests/fixtures/carriers/"$c"/*.json tests/fixtures/carriers/"$c"/*.xml \
            "$corpus"/ 2>/dev/null || true ;;
    fuzz_push_*)
        # The first byte picks POST with a body (even) or GET with a query.
        c=${name#fuzz_push_}
        for f in tests/fixtures/carriers/"$c"/*.json; do
            [ -e "$f" ] || continue
            { printf 'P'; cat "$f"; } >"$corpus/$(basename "$f")"
        done
        printf 'Gpushid=1&pnr=01234567890123&status=delivery_customer&statusdate=24112026143000' \
            >"$corpus/dpd_get"
        printf 'P{"scope":"subscription.validate","self":"x","secret":"y"}' \
            >"$corpus/dhl_validate" ;;
    fuzz_detect)
        jq -r '.. | .valid?, .invalid? | select(.) | .[]' \
            tests/fixtures/tracking_number_data/couriers/*.json 2>/dev/null |
            split -l 1 - "$corpus/v" || true ;;
    fuzz_query)
        printf 'limit=5&cursor=10' >"$corpus/list"
        printf 'cursor=99999999999999999999&limit=%%32%%30%%30' >"$corpus/big"
        printf '203.0.113.5, for="[2001:db8::1]:80";proto=https' >"$corpus/fwd" ;;
    esac
    start=$(date +%s)
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$corpus" >"build-fuzz/$name.log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$name.log" | grep -o '[0-9]*$')
        echo "$name: clean for $(( $(date +%s) - start )) s, ${runs:-?} runs"
    else
        echo "$name: FAILED, see build-fuzz/$name.log"
        status=1
    fi
done
exit $status
