#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The command-line frame as a user types it: help, usage errors, version, colour.

# shellcheck disable=SC2154,SC2030,SC2031 # bats run sets $status, $stderr and $stderr_lines
load helpers

# Run zlayer on a pseudo-terminal (util-linux `script`), so that isatty() is true for both
# stdout and stderr; both end up in $output, with CR LF line ends.
run_zlayer_tty() {
    command -v script >/dev/null || skip "script(1) is not installed"
    local cmd
    printf -v cmd '%q ' timeout 20 "$ZLAYER" "$@"
    run script -qec "$cmd" /dev/null
}

# The usage error line: one line on stderr, "Error: ...", naming how to get help.
assert_usage_error() {
    assert_equal "$status" 2
    assert_no_stdout
    assert_equal "${#stderr_lines[@]}" 1
    assert_regex "$stderr" '^Error: '
    assert_regex "$stderr" "\(run 'zlayer (--help|help [a-z]+)' for usage\)$"
}

@test "--help lists every command and exits 0" {
    run_zlayer --help
    assert_success
    assert_no_stderr
    assert_line --index 0 --regexp '^zlayer [0-9]+\.[0-9]+\.[0-9]+: '
    assert_line --regexp '^Usage: zlayer .*COMMAND'
    assert_line 'Commands:'
    for cmd in validate spec version help; do
        assert_line --regexp "^  $cmd +[A-Z]"
    done
    assert_line --partial -- '--no-color'
}

@test "-h and 'help' print the same help as --help" {
    run_zlayer --help
    local main_help=$output
    run_zlayer -h
    assert_success
    assert_output "$main_help"
    run_zlayer help
    assert_success
    assert_output "$main_help"
}

@test "'help validate' prints the usage of validate" {
    run_zlayer help validate
    assert_success
    assert_no_stderr
    assert_line --index 0 'Usage: zlayer validate [FILE|-] [--strict] [-f|--format table|json] [-q]'
    assert_output --partial -- '--strict'
    assert_output --partial 'Exit status: 0 valid, 1 invalid or unreadable, 2 usage error.'
}

@test "'validate --help' and 'validate -h' print the same usage as 'help validate'" {
    run_zlayer help validate
    local usage=$output
    run_zlayer validate --help
    assert_success
    assert_no_stderr
    assert_output "$usage"
    run_zlayer validate -h
    assert_success
    assert_output "$usage"
}

@test "'help spec' and 'spec --help' print the usage of spec" {
    run_zlayer help spec
    assert_success
    assert_line --index 0 --partial 'Usage: zlayer spec validate'
    assert_output --partial 'spec dump'
    local usage=$output
    run_zlayer spec --help
    assert_success
    assert_output "$usage"
    run_zlayer spec dump --help
    assert_success
    assert_output "$usage"
}

@test "'help version' prints the usage of version" {
    run_zlayer help version
    assert_success
    assert_line --index 0 'Usage: zlayer version [-f|--format table|json]'
}

@test "an unknown command exits 2 with a one-line error pointing at --help" {
    run_zlayer frobnicate
    assert_usage_error
    assert_equal "$stderr" "Error: unknown command 'frobnicate' (run 'zlayer --help' for usage)"
}

@test "'help' of an unknown command exits 2" {
    run_zlayer help frobnicate
    assert_usage_error
    assert_stderr_contains "'frobnicate'"
}

@test "an unknown global flag exits 2 with a one-line error" {
    run_zlayer --frobnicate validate
    assert_usage_error
    assert_equal "$stderr" "Error: unknown flag '--frobnicate' (run 'zlayer --help' for usage)"
}

@test "an unknown command flag exits 2 and points at the command's help" {
    write_minimal_spec zlayer.yml
    run_zlayer validate --frobnicate zlayer.yml
    assert_usage_error
    assert_equal "$stderr" "Error: unknown flag '--frobnicate' (run 'zlayer help validate' for usage)"
    run_zlayer validate -x zlayer.yml
    assert_usage_error
    assert_stderr_contains "'-x'"
}

@test "a bad --format value exits 2 for validate, spec dump and version" {
    write_minimal_spec zlayer.yml
    run_zlayer validate --format xml zlayer.yml
    assert_usage_error
    assert_stderr_contains "'xml'"
    assert_stderr_contains "zlayer help validate"

    run_zlayer validate -f yaml zlayer.yml
    assert_usage_error
    assert_stderr_contains "'yaml'"

    run_zlayer spec dump -f table zlayer.yml
    assert_usage_error
    assert_stderr_contains "'table'"
    assert_stderr_contains "zlayer help spec"

    run_zlayer version -f xml
    assert_usage_error
    assert_stderr_contains "'xml'"
    assert_stderr_contains "zlayer help version"
}

@test "--format without a value exits 2" {
    write_minimal_spec zlayer.yml
    run_zlayer validate zlayer.yml --format
    assert_usage_error
    assert_stderr_contains 'needs a value'
}

@test "two spec files are a usage error" {
    write_minimal_spec a.yml
    write_minimal_spec b.yml
    run_zlayer validate a.yml b.yml
    assert_usage_error
    assert_stderr_contains 'too many arguments'
}

@test "'spec' without a subcommand, or with an unknown one, exits 2" {
    run_zlayer spec
    assert_usage_error
    assert_stderr_contains 'missing subcommand'
    run_zlayer spec frobnicate
    assert_usage_error
    assert_stderr_contains "'spec frobnicate'"
}

@test "version and -V print 'zlayer X.Y.Z'" {
    run_zlayer version
    assert_success
    assert_no_stderr
    assert_output --regexp '^zlayer [0-9]+\.[0-9]+\.[0-9]+$'
    assert_output 'zlayer 0.1.0'
    local text=$output
    run_zlayer -V
    assert_success
    assert_output "$text"
    run_zlayer --version
    assert_success
    assert_output "$text"
    run_zlayer version -f table
    assert_success
    assert_output "$text"
}

@test "version -f json is valid JSON holding the same version" {
    run_zlayer version -f json
    assert_success
    assert_no_stderr
    assert_stdout_json
    run_zlayer version --format json
    assert_success
    local v
    v=$(printf '%s' "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
    assert_equal "$v" 0.1.0
}

@test "no command exits 2 and prints the help" {
    run_zlayer
    assert_failure 2
    assert_output --partial 'Commands:'
    assert_line --regexp '^  validate '
    run_zlayer --no-color
    assert_failure 2
    assert_output --partial 'Commands:'
}

@test "no colour escape codes when output is not a terminal" {
    write_minimal_spec zlayer.yml
    printf 'version: v2\ndeployment: demo\n' >bad.yml

    run_zlayer validate zlayer.yml
    assert_success
    assert_output --partial 'is valid'
    refute_escape_codes "$output" stdout
    refute_escape_codes "$stderr" stderr

    run_zlayer validate bad.yml
    assert_failure 1
    refute_escape_codes "$stderr" stderr

    run_zlayer frobnicate
    assert_failure 2
    refute_escape_codes "$stderr" stderr

    run_zlayer --help
    refute_escape_codes "$output" stdout
}

@test "a terminal gets colour unless --no-color or NO_COLOR is given" {
    write_minimal_spec zlayer.yml
    printf 'version: v2\ndeployment: demo\n' >bad.yml
    local esc=$'\033'

    # Sanity check of the pseudo-terminal: colour is on by default there.
    run_zlayer_tty validate zlayer.yml
    assert_success
    assert_contains "$output" "${esc}["
    run_zlayer_tty validate bad.yml
    assert_failure 1
    assert_contains "$output" "${esc}["

    run_zlayer_tty --no-color validate zlayer.yml
    assert_success
    assert_output --partial 'is valid'
    refute_escape_codes "$output"

    run_zlayer_tty validate --no-color bad.yml
    assert_failure 1
    assert_output --partial 'Error: bad.yml: 1 error'
    refute_escape_codes "$output"

    run_zlayer_tty --no-color frobnicate
    assert_failure 2
    refute_escape_codes "$output"

    NO_COLOR=1 run_zlayer_tty validate bad.yml
    assert_failure 1
    refute_escape_codes "$output"
}

# full_stdout ARGS...: run zlayer ARGS with stdout on /dev/full; note a failure unless it
# exits 1 with an error on stderr.
full_stdout() {
    # shellcheck disable=SC2016 # sh expands $0 and $@
    run --separate-stderr timeout 20 sh -c 'exec "$0" "$@" >/dev/full' "$ZLAYER" "$@"
    if ((status != 1)); then
        failures+=("zlayer $* >/dev/full: exit $status, expected 1")
    elif [[ $stderr != *Error:* ]]; then
        failures+=("zlayer $* >/dev/full: no 'Error:' on stderr")
    fi
}

@test "a write error on stdout is a failure, not a silent success" {
    [[ -w /dev/full ]] || skip "no /dev/full"
    # `zlayer spec dump > out.yml` on a full disk must not exit 0 with a truncated file.
    local failures=()
    full_stdout spec dump "$HELLO"
    full_stdout spec dump -f json "$HELLO"
    full_stdout validate "$HELLO"
    full_stdout validate -f json "$HELLO"
    full_stdout version
    full_stdout --help
    if ((${#failures[@]})); then
        printf '%s\n' "${failures[@]}" | batslib_decorate "write errors ignored" | fail
    fi
}

@test "global -q silences the success summary" {
    write_minimal_spec zlayer.yml
    run_zlayer -q validate zlayer.yml
    assert_success
    assert_no_stdout
    assert_no_stderr
    run_zlayer --quiet validate zlayer.yml
    assert_success
    assert_no_stdout
}
