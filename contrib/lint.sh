#!/usr/bin/env bash
# Static checks, run by ctest (tests lint_format, lint_cppcheck, lint_tidy)
# and so by contrib/bootstrap.sh test and .ci/run:
#
#   contrib/lint.sh format           clang-format --dry-run --Werror, every C file
#   contrib/lint.sh cppcheck BUILD   cppcheck on core/, carriers/, daemon/
#   contrib/lint.sh tidy BUILD       clang-tidy (.clang-tidy) on the same files
#
# BUILD is a configured build directory: its compile_commands.json says how
# each file is compiled. WISMO_LINT_JOBS sets the parallelism (default: nproc).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${WISMO_LINT_JOBS:-$(nproc)}

die() {
    echo "lint: $*" >&2
    exit 2
}

# The project's own C files: from git when this is a checkout, else a walk
# that skips build directories.
c_files() {
    if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$root" ls-files -z --cached --others --exclude-standard \
            -- '*.c' '*.h' | xargs -0 -I{} printf '%s/%s\n' "$root" {}
    else
        find "$root" -path "$root/build*" -prune -o \
            \( -name '*.c' -o -name '*.h' \) -type f -print
    fi
}

# compile_commands.json cut down to core/, carriers/ and daemon/ (tests,
# fuzzers and the fake carrier are left out; generated sources in the build
# directory too).
project_db() { # project_db BUILD OUTDIR
    local db=$1/compile_commands.json
    [ -f "$db" ] || die "$db missing (configure with CMAKE_EXPORT_COMPILE_COMMANDS)"
    mkdir -p "$2"
    jq --arg r "$root/" '[.[] | select((.file | startswith($r)) and
        (.file | ltrimstr($r) | test("^(core|carriers|daemon)/")))]' \
        "$db" >"$2/compile_commands.json"
    [ "$(jq length "$2/compile_commands.json")" -gt 0 ] ||
        die "no project files in $db"
}

cmd=${1:-}
case "$cmd" in
format)
    command -v clang-format >/dev/null || die "clang-format missing"
    c_files | xargs -d '\n' -P "$jobs" -n 16 \
        clang-format --style=file --dry-run --Werror
    ;;
cppcheck)
    [ $# -eq 2 ] || die "usage: $0 cppcheck BUILD"
    command -v cppcheck >/dev/null || die "cppcheck missing"
    out=$2/lint
    project_db "$2" "$out"
    mkdir -p "$out/cppcheck"
    # variableScope is left out: we declare at the top of a function what its
    # single out: label releases (STYLE.md section 6, -Wjump-misses-init).
    # False positives are suppressed in place with a reason
    # (/* cppcheck-suppress id ; why */).
    cppcheck --project="$out/compile_commands.json" --std=c11 -q \
        -j "$jobs" --cppcheck-build-dir="$out/cppcheck" \
        --library=posix --library="$root/contrib/lint/jansson.cfg" \
        --enable=warning,style --inline-suppr \
        --suppress=missingIncludeSystem --suppress=variableScope \
        --error-exitcode=1 \
        --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
        2>&1 | tee "$out/cppcheck.log"
    # Some findings (ctu*) do not set the exit code: any line is a failure.
    [ ! -s "$out/cppcheck.log" ] || exit 1
    ;;
tidy)
    [ $# -eq 2 ] || die "usage: $0 tidy BUILD"
    command -v clang-tidy >/dev/null || die "clang-tidy missing"
    out=$2/lint
    project_db "$2" "$out"
    rm -rf "$out/tidy" && mkdir -p "$out/tidy" "$out/tidy-passed"
    # A file that passed is not checked again while it, every project
    # header, .clang-tidy and its compile command stay the same (the
    # analyzer costs about 2 CPU-minutes for the whole tree).
    headers=$(cat "$root/.clang-tidy" "$root"/include/wismo/*.h | sha1sum | cut -c1-40)
    jq -r '.[] | [.file, (.command // (.arguments | join(" ")))] | @tsv' \
        "$out/compile_commands.json" >"$out/tidy/files.tsv"
    while IFS=$'\t' read -r f cmdline; do
        key=$( (echo "$headers $cmdline" && cat "$f") | sha1sum | cut -c1-40)
        [ -e "$out/tidy-passed/$key" ] || printf '%s %s\n' "$key" "$f"
    done <"$out/tidy/files.tsv" >"$out/tidy/todo"
    echo "lint: clang-tidy on $(wc -l <"$out/tidy/todo") of" \
        "$(wc -l <"$out/tidy/files.tsv") files (the others passed unchanged)"
    # The database may come from gcc: clang ignores gcc-only warnings.
    # __NO_CTYPE turns glibc's ctype macros (table look-ups the analyzer
    # cannot follow) into the calls it has models for.
    LINT_OUT=$out xargs -r -P "$jobs" -L 1 sh -c '
        key=$1 f=$2 out=$LINT_OUT
        log="$out/tidy/$(echo "$f" | tr / _).log"
        if clang-tidy -p "$out" --quiet \
            --extra-arg=-Wno-unknown-warning-option \
            --extra-arg=-D__NO_CTYPE "$f" >"$log" 2>&1; then
            touch "$out/tidy-passed/$key"
        else
            echo "$f" >>"$out/tidy/failed"
        fi' sh <"$out/tidy/todo" 2>&1 | sed '/^$/d'
    if [ -s "$out/tidy/failed" ]; then
        while read -r f; do
            sed -e '/warnings generated/d' -e '/^Suppressed /d' \
                -e '/Use -header-filter/d' -e '/NOLINT/d' \
                "$out/tidy/$(echo "$f" | tr / _).log"
        done <"$out/tidy/failed"
        echo "lint: clang-tidy found problems in $(wc -l <"$out/tidy/failed") file(s)" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: $0 format | cppcheck BUILD | tidy BUILD" >&2
    exit 64
    ;;
esac
