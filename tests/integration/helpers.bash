# SPDX-License-Identifier: Apache-2.0
# Shared setup for zlayer's integration tests. Load with `load helpers` at the top of a .bats
# file. The runner (tests/meson.build, or a shell) gives:
#   ZLAYER       absolute path of the zlayer binary under test
#   ZL_EXAMPLES  the spec examples folder (tests/data/spec-examples) (valid *.yml, invalid/*.yml)
#   ZL_SRCDIR    the source tree (for examples/hello.zlayer.yml)

# shellcheck disable=SC2154 # $stderr and $stderr_lines are set by bats run --separate-stderr
bats_require_minimum_version 1.5.0

# Debian installs bats-support and bats-assert in /usr/lib/bats; bats itself defaults
# BATS_LIB_PATH to that folder, but only when the variable is unset.
if [[ -z ${BATS_LIB_PATH:-} ]]; then
    BATS_LIB_PATH=/usr/lib/bats
fi
bats_load_library bats-support
bats_load_library bats-assert

ZLAYER=${ZLAYER:?set ZLAYER to the absolute path of the zlayer binary}
EXAMPLES=${ZL_EXAMPLES:?set ZL_EXAMPLES to the spec examples folder (tests/data/spec-examples)}
SRCDIR=${ZL_SRCDIR:?set ZL_SRCDIR to the zlayer source tree}
HELLO="$SRCDIR/examples/hello.zlayer.yml"
export ZLAYER EXAMPLES SRCDIR HELLO

# Run zlayer with a time limit; sets $status, $output (stdout only), $stderr and the
# ${lines[@]} / ${stderr_lines[@]} arrays.
run_zlayer() {
    run --separate-stderr timeout 20 "$ZLAYER" "$@"
}

# Every test starts in an empty folder of its own, so spec discovery sees only what the
# test writes there.
setup() {
    WORKDIR="$BATS_TEST_TMPDIR/work"
    mkdir -p "$WORKDIR"
    cd "$WORKDIR" || return 1
}

# ---- small assertions on top of bats-assert (whose 2.1 release has no assert_stderr) ----

# assert_contains HAYSTACK NEEDLE [WHAT]: HAYSTACK contains NEEDLE literally.
assert_contains() {
    if [[ $1 != *"$2"* ]]; then
        batslib_print_kv_single_or_multi 8 "${3:-value}" "$1" "expected" "$2" |
            batslib_decorate "${3:-value} does not contain the expected text" | fail
    fi
}

# refute_contains HAYSTACK NEEDLE [WHAT]: HAYSTACK does not contain NEEDLE.
refute_contains() {
    if [[ $1 == *"$2"* ]]; then
        batslib_print_kv_single_or_multi 9 "${3:-value}" "$1" "unwanted" "$2" |
            batslib_decorate "${3:-value} contains unwanted text" | fail
    fi
}

assert_stderr_contains() { assert_contains "$stderr" "$1" stderr; }
refute_stderr_contains() { refute_contains "$stderr" "$1" stderr; }

# The stdout of the last run is empty.
assert_no_stdout() {
    if [[ -n $output ]]; then
        batslib_print_kv_single_or_multi 6 "stdout" "$output" "stderr" "$stderr" |
            batslib_decorate "expected nothing on stdout" | fail
    fi
}

# The stderr of the last run is empty.
assert_no_stderr() {
    if [[ -n $stderr ]]; then
        batslib_print_kv_single_or_multi 6 "stderr" "$stderr" |
            batslib_decorate "expected nothing on stderr" | fail
    fi
}

# The last line of stderr equals $1.
assert_stderr_last_line() {
    local last=""
    if ((${#stderr_lines[@]} > 0)); then
        last=${stderr_lines[${#stderr_lines[@]} - 1]}
    fi
    assert_equal "$last" "$1"
}

# The stdout of the last run is valid JSON.
assert_stdout_json() {
    local err
    if ! err=$(printf '%s' "$output" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>&1); then
        batslib_print_kv_single_or_multi 6 "stdout" "$output" "python" "$err" |
            batslib_decorate "stdout is not valid JSON" | fail
    fi
}

# No ANSI escape (ESC, 0x1b) in $1.
refute_escape_codes() {
    local esc=$'\033'
    if [[ $1 == *"$esc"* ]]; then
        batslib_print_kv_single_or_multi 6 "${2:-output}" "$(printf '%s' "$1" | od -c | head -5)" |
            batslib_decorate "found a colour escape code" | fail
    fi
}

# The rule named on the first line of an invalid example: "# INVALID P-5: ..." -> "P-5".
example_rule() {
    sed -nE '1s/^# INVALID ([A-Z]+-[0-9]+):.*/\1/p' "$1"
}

# write_minimal_spec [FILE [DEPLOYMENT]]: a minimal valid spec, written to FILE (stdout
# when FILE is empty or absent), with deployment DEPLOYMENT (default "demo").
write_minimal_spec() {
    local text
    text=$(printf 'version: v1\ndeployment: %s\nservices:\n  web:\n    image:\n      name: nginx:1.27-alpine\n' "${2:-demo}")
    if [[ -n ${1:-} ]]; then
        printf '%s\n' "$text" >"$1"
    else
        printf '%s\n' "$text"
    fi
}
