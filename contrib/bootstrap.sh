#!/usr/bin/env bash
# wismo bootstrap: installs what is missing (Debian 12, as root), builds,
# then either runs every test or shows the project doing its job.
#
#   contrib/bootstrap.sh test   Asan build (ASan + UBSan), every test via ctest
#                               (npm ci in tests/web for the browser tests),
#                               the static checks included (contrib/lint.sh:
#                               clang-format, cppcheck, clang-tidy)
#   contrib/bootstrap.sh demo   Release build, then the demo
#
# Build directories: build-asan/ and build-release/ in the checkout.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

packages=(build-essential cmake pkg-config ca-certificates tzdata jq
    libcurl4-openssl-dev libuv1-dev libjansson-dev libxml2-dev
    libhiredis-dev redis-server redis-sentinel libcmocka-dev libpcre2-dev libinih-dev
    libhttp-parser-dev curl libssl-dev python3 python3-aiosmtpd
    chromium clang-format clang-tidy cppcheck
    dpkg-dev groff-base systemd)
# Node.js and npm drive the browser tests. A machine may already have them
# from elsewhere (NodeSource's nodejs bundles npm, and Debian's npm package
# conflicts with it): only a machine without them gets Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi

install_missing() {
    local missing=() p
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing+=("$p")
    done
    # Zone rules change: the fixtures follow tzdata 2026f (British Columbia
    # on permanent UTC-7 from November 2026), so older zone data is updated.
    if ! dpkg --compare-versions "$(dpkg-query -W -f='${Version}' tzdata 2>/dev/null)" ge 2026f; then
        missing+=(tzdata)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing packages: ${missing[*]} (run as root to install)" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if ! dpkg --compare-versions "$(dpkg-query -W -f='${Version}' tzdata)" ge 2026f; then
        echo "bootstrap: tzdata >= 2026f is needed (zone rules of the fixtures)" >&2
        exit 1
    fi
}

build() { # build <dir> <type>
    cmake -S . -B "$1" -DCMAKE_BUILD_TYPE="$2" -DWISMO_WERROR=ON >/dev/null
    cmake --build "$1" -j"$(nproc)" >/dev/null
}

cmd=${1:-}
case "$cmd" in
test)
    install_missing
    # The browser tests' driver and checker (playwright-core, axe-core) from
    # the committed lock file; they drive Debian's chromium, never a
    # downloaded browser.
    (cd tests/web && npm ci --no-audit --no-fund --loglevel=error)
    build build-asan Asan
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    cd build-asan
    ctest --output-on-failure --timeout 600 -j"$(nproc)"
    ;;
demo)
    install_missing
    build build-release Release
    exec contrib/demo.sh build-release
    ;;
*)
    echo "usage: $0 test|demo" >&2
    exit 64
    ;;
esac
