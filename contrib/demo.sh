#!/usr/bin/env bash
# The demo, as far as wismo goes today: every carrier fixture normalised by
# `wismoctl normalize`, then a table per carrier of payloads, shipments,
# events and the statuses reached; then tracking-number detection.
set -euo pipefail

build=${1:-build-release}
here=$(cd "$(dirname "$0")/.." && pwd)
ctl="$here/$build/daemon/wismoctl"
fx="$here/tests/fixtures/carriers"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '%-11s %8s %9s %7s %7s  %s\n' carrier payloads shipments events errors statuses
for dir in "$fx"/*/; do
    c=$(basename "$dir")
    : >"$out/$c.all"
    n=0
    while read -r key; do
        mapfile -t nums < <(jq -r --arg k "$key" '.[$k][]' "$fx/requests.json")
        args=()
        for x in "${nums[@]}"; do args+=(--number "$x"); done
        "$ctl" normalize --carrier "$c" "${args[@]}" "$fx/$key" >>"$out/$c.all"
        n=$((n + 1))
    done < <(jq -r 'keys[]' "$fx/requests.json" | grep "^$c/")
    jq -rs --arg c "$c" --arg n "$n" '
        ([.[].shipments[]] ) as $s |
        ([.[].errors // [] | .[]]) as $e |
        [$c, $n, ($s|length), ([$s[].events[]]|length), ($e|length),
         ([$s[].status] | group_by(.) | map("\(.[0])×\(length)") | join(" "))]
        | @tsv' "$out/$c.all" |
        awk -F'\t' '{printf "%-11s %8s %9s %7s %7s  %s\n", $1,$2,$3,$4,$5,$6}'
done

echo
echo "Detection (wismoctl detect):"
"$ctl" detect 1Z5R89390357567127 986578788855 9400111206206406260787 \
    0073938000549297 3318810025 3SWISM482913756 05212345678901 62341179028 \
    323299945678900011223344 RB123456785NL not-a-number || true
echo
echo "One shipment in full (wismoctl normalize --carrier postnl ...):"
"$ctl" normalize --carrier postnl --number 3SWISM482913877 \
    "$fx/postnl/failed_attempt_then_pickup_point.json" | head -40
