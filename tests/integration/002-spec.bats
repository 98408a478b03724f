#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# `zlayer validate`, `zlayer spec validate` and `zlayer spec dump` on real files: the
# examples, spec discovery, stdin, diagnostics and their positions, strict mode, dump
# round trips and the output formats.

# shellcheck disable=SC2154 # $stderr and $stderr_lines are set by bats run --separate-stderr
load helpers

# The valid specs: the examples in tests/data plus the one in this repository.
valid_examples() {
    local f
    for f in "$EXAMPLES"/*.yml "$HELLO"; do
        [[ -f $f ]] && printf '%s\n' "$f"
    done
}

# Lines of $stderr that are diagnostics of FILE ("FILE:LINE:COL: ...").
diag_lines() {
    local file=$1 line
    for line in "${stderr_lines[@]}"; do
        if [[ $line == "$file:"[0-9]*:[0-9]*": "* ]]; then
            printf '%s\n' "$line"
        fi
    done
}

# ---------------------------------------------------------------- the spec examples

@test "every valid example validates" {
    local f failures=() n=0
    while IFS= read -r f; do
        n=$((n + 1))
        run_zlayer validate "$f"
        if ((status != 0)); then
            failures+=("$f: exit $status: $stderr")
        elif [[ $output != "$f is valid: deployment "* ]]; then
            failures+=("$f: stdout does not say valid: $output")
        elif [[ ${stderr,,} == *error* ]]; then
            failures+=("$f: stderr mentions an error: $stderr")
        fi
    done < <(valid_examples)
    ((n >= 9)) || fail "only $n valid examples found in $EXAMPLES and $HELLO"
    if ((${#failures[@]})); then
        printf '%s\n' "${failures[@]}" | batslib_decorate "${#failures[@]} of $n valid examples fail" | fail
    fi
}

@test "every valid example also passes 'spec validate' and '--strict'" {
    local f failures=()
    while IFS= read -r f; do
        run_zlayer spec validate "$f"
        ((status == 0)) || failures+=("spec validate $f: exit $status: $stderr")
        run_zlayer validate --strict "$f"
        ((status == 0)) || failures+=("validate --strict $f: exit $status: $stderr")
    done < <(valid_examples)
    if ((${#failures[@]})); then
        printf '%s\n' "${failures[@]}" | batslib_decorate "valid examples rejected" | fail
    fi
}

@test "every invalid example is rejected with the rule named on its first line" {
    local f rule failures=() n=0 last
    for f in "$EXAMPLES"/invalid/*.yml; do
        n=$((n + 1))
        rule=$(example_rule "$f")
        if [[ -z $rule ]]; then
            failures+=("$f: first line does not name a rule: $(head -n 1 "$f")")
            continue
        fi
        run_zlayer validate "$f"
        if ((status != 1)); then
            failures+=("$f: exit $status, expected 1")
        fi
        if [[ -n $output ]]; then
            failures+=("$f: printed on stdout: $output")
        fi
        if [[ $stderr != *"[$rule]"* ]]; then
            failures+=("$f: stderr lacks [$rule]: $stderr")
        fi
        # The diagnostics name the file, and the last line is the summary.
        if [[ $stderr != *"$f:"[0-9]*:[0-9]*": "*"[$rule]"* ]]; then
            failures+=("$f: no 'FILE:LINE:COL: ... [$rule]' diagnostic: $stderr")
        fi
        last=""
        if ((${#stderr_lines[@]})); then
            last=${stderr_lines[${#stderr_lines[@]} - 1]}
        fi
        if [[ $last != "Error: $f: "[1-9]*" error"*"; nothing was changed" ]]; then
            failures+=("$f: last stderr line is not the error summary: $last")
        fi
    done
    ((n >= 30)) || fail "only $n invalid examples found in $EXAMPLES/invalid"
    if ((${#failures[@]})); then
        printf '%s\n' "${failures[@]}" | batslib_decorate "${#failures[@]} problems with $n invalid examples" | fail
    fi
}

@test "'spec dump' of an invalid example prints nothing on stdout" {
    local f failures=()
    for f in "$EXAMPLES"/invalid/*.yml; do
        run_zlayer spec dump "$f"
        ((status == 1)) || failures+=("$f: exit $status")
        [[ -z $output ]] || failures+=("$f: dumped to stdout")
        run_zlayer spec dump -f json "$f"
        [[ -z $output ]] || failures+=("$f: dumped JSON to stdout")
    done
    if ((${#failures[@]})); then
        printf '%s\n' "${failures[@]}" | batslib_decorate "invalid specs dumped" | fail
    fi
}

# ---------------------------------------------------------------- discovery

@test "discovery finds each of the four exact names" {
    local name
    for name in .zlayer.yml .zlayer.yaml zlayer.yml zlayer.yaml; do
        mkdir "$WORKDIR/d$name"
        cd "$WORKDIR/d$name"
        write_minimal_spec "$name"
        run_zlayer validate
        assert_success
        assert_line --index 0 --partial "$name is valid: deployment demo"
    done
}

@test "discovery takes the exact names in order: .zlayer.yml, .zlayer.yaml, zlayer.yml, zlayer.yaml" {
    local name
    for name in .zlayer.yml .zlayer.yaml zlayer.yml zlayer.yaml; do
        write_minimal_spec "$name" "from${name//./-}"
    done
    for name in .zlayer.yml .zlayer.yaml zlayer.yml zlayer.yaml; do
        run_zlayer validate
        assert_success
        assert_line --index 0 "$name is valid: deployment from${name//./-}, 1 service"
        rm "$name"
    done
}

@test "discovery: an exact name beats a glob match" {
    write_minimal_spec zlayer.yml
    write_minimal_spec app.zlayer.yml
    write_minimal_spec zlayer.prod.yaml
    run_zlayer validate
    assert_success
    assert_line --index 0 --partial 'zlayer.yml is valid'
}

@test "discovery uses a single glob match of each pattern" {
    local name
    for name in app.zlayer.yml app.zlayer.yaml zlayer.prod.yml zlayer.prod.yaml; do
        mkdir "$WORKDIR/d-$name"
        cd "$WORKDIR/d-$name"
        write_minimal_spec "$name"
        printf 'not a spec\n' >notes.yml
        run_zlayer validate
        assert_success
        assert_line --index 0 --partial "$name is valid"
    done
}

@test "discovery: diagnostics name the file that was found" {
    printf 'version: v2\ndeployment: demo\n' >zlayer.prod.yml
    run_zlayer validate
    assert_failure 1
    assert_no_stdout
    assert_stderr_contains 'zlayer.prod.yml:1:10: version:'
    assert_stderr_last_line 'Error: zlayer.prod.yml: 1 error; nothing was changed'
}

@test "discovery: two glob matches are an error naming both" {
    write_minimal_spec web.zlayer.yml
    write_minimal_spec zlayer.staging.yaml
    run_zlayer validate
    assert_failure 1
    assert_no_stdout
    assert_stderr_contains 'web.zlayer.yml'
    assert_stderr_contains 'zlayer.staging.yaml'
    assert_regex "$stderr" '^Error: '
}

@test "discovery: no spec is an error saying what was looked for" {
    printf 'not a spec\n' >notes.yml
    mkdir zlayer.yml # a folder is not a spec file
    run_zlayer validate
    assert_failure 1
    assert_no_stdout
    assert_regex "$stderr" '^Error: no deployment spec found'
    local name
    for name in .zlayer.yml .zlayer.yaml zlayer.yml zlayer.yaml '*.zlayer.yml' 'zlayer.*.yml'; do
        assert_stderr_contains "$name"
    done
}

@test "discovery: the not-found message names every pattern that was tried" {
    # The binary also globs *.zlayer.yaml and zlayer.*.yaml (see the discovery tests
    # above), so the message should say so.
    run_zlayer validate
    assert_failure 1
    assert_stderr_contains '*.zlayer.yaml'
    assert_stderr_contains 'zlayer.*.yaml'
}

# ---------------------------------------------------------------- stdin

@test "'-' reads the spec from stdin" {
    run_zlayer validate - <"$HELLO"
    assert_success
    assert_line --index 0 '<stdin> is valid: deployment hello, 2 services'

    run_zlayer spec dump - <"$HELLO"
    assert_success
    local from_stdin=$output
    run_zlayer spec dump "$HELLO"
    assert_output "$from_stdin"
}

@test "diagnostics of stdin name it <stdin>" {
    printf 'version: v2\ndeployment: demo\n' >bad.yml
    run_zlayer validate - <bad.yml
    assert_failure 1
    assert_no_stdout
    assert_equal "${stderr_lines[0]}" "<stdin>:1:10: version: version must be 'v1', found 'v2' [F-1]"
    assert_stderr_last_line 'Error: <stdin>: 1 error; nothing was changed'
}

# ---------------------------------------------------------------- YAML errors

@test "a YAML syntax error is reported at libyaml's problem position" {
    # Line 6 opens a flow sequence that is never closed; libyaml gives up at the ':' of
    # line 7 (column 15), where it needed ',' or ']'.
    cat >syntax.yml <<'EOF'
version: v1
deployment: demo
services:
  web:
    image: {name: nginx}
    capabilities: [NET_ADMIN, SYS_TIME
    privileged: true
EOF
    run_zlayer validate syntax.yml
    assert_failure 1
    assert_no_stdout
    assert_equal "$(diag_lines syntax.yml | wc -l)" 1
    assert_regex "${stderr_lines[0]}" '^syntax\.yml:7:15: .*\[P-1\]$'
    assert_stderr_contains "did not find expected ',' or ']'"
    assert_stderr_last_line 'Error: syntax.yml: 1 error; nothing was changed'
}

@test "an unclosed flow mapping is reported where libyaml stops" {
    cat >syntax.yml <<'EOF'
version: v1
deployment: demo
services:
  web:
    image: {name: nginx
    endpoints: []
EOF
    run_zlayer validate syntax.yml
    assert_failure 1
    assert_regex "${stderr_lines[0]}" '^syntax\.yml:6:14: .*\[P-1\]$'
}

@test "an empty file is rejected at line 1" {
    : >empty.yml
    run_zlayer validate empty.yml
    assert_failure 1
    assert_no_stdout
    assert_regex "${stderr_lines[0]}" '^empty\.yml:1:[0-9]+: .*\[P-1\]$'
    assert_stderr_last_line 'Error: empty.yml: 1 error; nothing was changed'

    printf '# nothing but a comment\n\n' >comment.yml
    run_zlayer validate comment.yml
    assert_failure 1
    assert_regex "${stderr_lines[0]}" '^comment\.yml:1:[0-9]+: .*\[P-1\]$'
}

@test "a document that is not a mapping, or two documents, are rejected" {
    printf -- '- a\n- b\n' >list.yml
    run_zlayer validate list.yml
    assert_failure 1
    assert_stderr_contains '[P-1]'

    { write_minimal_spec; printf -- '---\n'; write_minimal_spec; } >two.yml
    run_zlayer validate two.yml
    assert_failure 1
    assert_stderr_contains '[P-1]'
}

# ---------------------------------------------------------------- all errors, in order

@test "all errors are reported, in line order" {
    # Found in the order X-1, F-3, F-1 by the rules, but printed by line.
    cat >three.yml <<'EOF'
deployment: demo
services:
  api:
    image: {name: nginx}
    depends:
      - service: nowhere
  web:
    image: {name: nginx}
    resources: {cpu: 0}
version: v2
EOF
    run_zlayer validate three.yml
    assert_failure 1
    assert_no_stdout
    local diags
    mapfile -t diags < <(diag_lines three.yml)
    assert_equal "${#diags[@]}" 3
    assert_regex "${diags[0]}" '^three\.yml:6:[0-9]+: services\.api\.depends\[0\]\.service: .*\[X-1\]$'
    assert_regex "${diags[1]}" '^three\.yml:9:[0-9]+: services\.web\.resources\.cpu: .*\[F-3\]$'
    assert_regex "${diags[2]}" '^three\.yml:10:[0-9]+: version: .*\[F-1\]$'
    assert_stderr_last_line 'Error: three.yml: 3 errors; nothing was changed'
}

@test "several parse errors are all reported, in line order" {
    cat >parse.yml <<'EOF'
version: v1
deployment: demo
services:
  api:
    image: {name: nginx}
    rtype: forever
  web:
    image: {name: Nginx}
    endpoints:
      - name: http
        protocol: http
        port: "80"
    volumes: []
EOF
    run_zlayer validate parse.yml
    assert_failure 1
    local diags
    mapfile -t diags < <(diag_lines parse.yml)
    assert_equal "${#diags[@]}" 4
    assert_regex "${diags[0]}" '^parse\.yml:6:12: services\.api\.rtype: .*\[P-7\]$'
    assert_regex "${diags[1]}" '^parse\.yml:8:[0-9]+: services\.web\.image\.name: .*\[P-10\]$'
    assert_regex "${diags[2]}" '^parse\.yml:12:15: services\.web\.endpoints\[0\]\.port: .*\[P-5\]$'
    assert_regex "${diags[3]}" '^parse\.yml:13:5: services\.web: .*volumes.*\[P-3\]$'
    assert_stderr_last_line 'Error: parse.yml: 4 errors; nothing was changed'
}

# ---------------------------------------------------------------- strict mode

@test "--strict turns a recommendation warning into an error" {
    cat >names.yml <<'EOF'
version: v1
deployment: demo
services:
  Web_1:
    image: {name: nginx}
EOF
    run_zlayer validate names.yml
    assert_success
    assert_line --index 0 --partial 'names.yml is valid'
    assert_regex "$stderr" '^names\.yml:[0-9]+:[0-9]+: warning: services\.Web_1: .*\[R-11\]$'

    run_zlayer validate --strict names.yml
    assert_failure 1
    assert_no_stdout
    assert_regex "${stderr_lines[0]}" '^names\.yml:[0-9]+:[0-9]+: services\.Web_1: .*\[R-11\]$'
    refute_stderr_contains 'warning:'
    assert_stderr_last_line 'Error: names.yml: 1 error; nothing was changed'

    run_zlayer spec validate --strict names.yml
    assert_failure 1
    run_zlayer spec dump --strict names.yml
    assert_failure 1
    assert_no_stdout
}

@test "a service-name warning points at the name" {
    cat >names.yml <<'EOF'
version: v1
deployment: demo
services:
  Web_1:
    image: {name: nginx}
tunnels:
  Tun_1:
    from: a
    to: b
    local_port: 1
    remote_port: 2
EOF
    run_zlayer validate names.yml
    assert_success
    # Name rules point at the name (the map key), not at the first key of the body.
    assert_stderr_contains 'names.yml:7:3: warning: tunnels.Tun_1:'
    assert_stderr_contains 'names.yml:4:3: warning: services.Web_1:'
}

# ---------------------------------------------------------------- spec dump

@test "the YAML dump of every valid example loads back to the same dump" {
    local f failures=() i=0
    while IFS= read -r f; do
        i=$((i + 1))
        if ! timeout 20 "$ZLAYER" spec dump "$f" >"dump$i.yml" 2>"err$i"; then
            failures+=("$f: spec dump failed: $(cat "err$i")")
            continue
        fi
        [[ -s dump$i.yml ]] || failures+=("$f: empty dump")
        if ! timeout 20 "$ZLAYER" spec dump "dump$i.yml" >"again$i.yml" 2>"err$i"; then
            failures+=("$f: dump does not load: $(cat "err$i")")
        elif ! cmp -s "dump$i.yml" "again$i.yml"; then
            failures+=("$f: second dump differs: $(diff "dump$i.yml" "again$i.yml" | head -n 10)")
        fi
    done < <(valid_examples)
    if ((${#failures[@]})); then
        printf '%s\n' "${failures[@]}" | batslib_decorate "dump round trips fail" | fail
    fi
}

@test "'spec dump -f json' of every valid example is valid JSON" {
    local f failures=()
    while IFS= read -r f; do
        run_zlayer spec dump -f json "$f"
        if ((status != 0)); then
            failures+=("$f: exit $status: $stderr")
        elif ! printf '%s' "$output" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null; then
            failures+=("$f: not valid JSON")
        fi
    done < <(valid_examples)
    if ((${#failures[@]})); then
        printf '%s\n' "${failures[@]}" | batslib_decorate "JSON dumps fail" | fail
    fi
}

@test "the YAML and JSON dumps hold the same data" {
    run_zlayer spec dump "$HELLO"
    assert_success
    printf '%s\n' "$output" >dump.yml
    run_zlayer spec dump --format json "$HELLO"
    assert_success
    printf '%s\n' "$output" >dump.json
    python3 -c 'import yaml' 2>/dev/null || skip "python3 has no yaml module"
    run python3 - <<'EOF'
import json, yaml
y = yaml.safe_load(open("dump.yml"))
j = json.load(open("dump.json"))
def norm(v):
    # YAML scalars may be typed differently from JSON (durations, sizes); compare as text.
    if isinstance(v, dict):
        return {str(k): norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return str(v).lower()
if norm(y) != norm(j):
    raise SystemExit("YAML and JSON dumps differ")
EOF
    assert_success
}

@test "the dump applies defaults" {
    write_minimal_spec zlayer.yml
    run_zlayer spec dump
    assert_success
    assert_no_stderr
    assert_line 'version: v1'
    assert_line 'deployment: demo'
    assert_line --regexp '^    rtype: service$'
    assert_line --regexp '^    service_type: standard$'
    assert_line --regexp '^      pull_policy: if_not_present$'
}

@test "nested aliases do not make 'spec dump' explode (billion laughs)" {
    # A 1 KB file: each list holds ten aliases of the previous one, so fully expanding l9
    # means 10^10 scalars. The loader shares aliased nodes and `validate` is quick; the dump
    # must not expand them blindly either (it may refuse the file, or keep the aliases).
    {
        cat <<'EOF'
version: v1
deployment: demo
services:
  web:
    image: {name: nginx}
    init:
      steps:
        - id: bomb
          uses: init.run
          with:
            command: "true"
            l0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
EOF
        local i
        for ((i = 1; i <= 9; i++)); do
            printf '            l%d: &a%d [' "$i" "$i"
            printf '*a%d, ' "$((i - 1))" "$((i - 1))" "$((i - 1))" "$((i - 1))" "$((i - 1))" \
                "$((i - 1))" "$((i - 1))" "$((i - 1))" "$((i - 1))"
            printf '*a%d]\n' "$((i - 1))"
        done
    } >bomb.yml

    # zlayer refuses it: values grown through aliases count as if written out
    run_zlayer validate -q bomb.yml
    assert_failure 1
    assert_stderr_contains "aliases"

    local fmt
    # shellcheck disable=SC2016 # sh expands $0 and $1
    for fmt in yaml json; do
        run --separate-stderr timeout 5 sh -c '"$0" spec dump -f "$1" bomb.yml | head -c 2000000 >dump.out' \
            "$ZLAYER" "$fmt"
        if ((status == 124 || status == 137)) || [[ $(wc -c <dump.out) -ge 2000000 ]]; then
            fail "spec dump -f $fmt of a 1 KB spec ran for 5 s or printed 2 MB (status $status, $(wc -c <dump.out) bytes)"
        fi
    done
}

# ---------------------------------------------------------------- output formats

@test "'validate -f json' prints a JSON summary with \"valid\": true" {
    run_zlayer validate -f json "$HELLO"
    assert_success
    assert_no_stderr
    assert_stdout_json
    assert_output --partial '"valid": true'
    run python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["valid"] is True, d
assert d["deployment"] == "hello", d
assert d["services"] == ["web", "ticker"], d
' "$output"
    assert_success
    run_zlayer spec validate --format json "$HELLO"
    assert_success
    assert_output --partial '"valid": true'
}

@test "-q prints nothing on success" {
    run_zlayer validate -q "$HELLO"
    assert_success
    assert_no_stdout
    assert_no_stderr
    run_zlayer validate --quiet "$HELLO"
    assert_success
    assert_no_stdout
    run_zlayer spec validate -q "$HELLO"
    assert_success
    assert_no_stdout
}

@test "-q still reports errors" {
    printf 'version: v2\ndeployment: demo\n' >bad.yml
    run_zlayer validate -q bad.yml
    assert_failure 1
    assert_no_stdout
    assert_stderr_contains '[F-1]'
    assert_stderr_last_line 'Error: bad.yml: 1 error; nothing was changed'
}

# ---------------------------------------------------------------- files

@test "a file that does not exist exits 1 naming it" {
    run_zlayer validate no-such-spec.yml
    assert_failure 1
    assert_no_stdout
    assert_equal "${#stderr_lines[@]}" 1
    assert_regex "$stderr" '^Error: .*no-such-spec\.yml'
    run_zlayer spec dump no-such-spec.yml
    assert_failure 1
    assert_no_stdout
    assert_stderr_contains 'no-such-spec.yml'
}

@test "a folder given as the spec exits 1" {
    mkdir spec.yml
    run_zlayer validate spec.yml
    assert_failure 1
    assert_no_stdout
    assert_stderr_contains 'spec.yml'
}
