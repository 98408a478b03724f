#!/usr/bin/env bats
# Conformance: the same bundle under zlayer and under another OCI runtime (crun where it can
# run on this host, else runc); what the container sees must be the same. Known differences
# are listed in docs/runtime.md.

load helpers_runtime

setup_file() {
    [ "$(id -u)" -eq 0 ] || return 0
    export ROOTFS="$BATS_FILE_TMPDIR/rootfs"
    make_rootfs "$ROOTFS"
    # crun refuses hybrid cgroup hosts; runc does not
    export PEER=""
    local b="$BATS_FILE_TMPDIR/probe"
    make_bundle "$b" '.process.args = ["/bin/testinit", "true"]'
    if command -v crun >/dev/null && (cd "$b" && crun --root "$BATS_FILE_TMPDIR/crun" run probe) >/dev/null 2>&1; then
        PEER=crun
    elif command -v runc >/dev/null; then
        PEER=runc
    fi
}

setup() {
    rt_setup
    [ -n "$PEER" ] || skip "no crun or runc to compare with"
}
teardown() { rt_teardown; }

# same FILTER PROBE: run PROBE (a shell line) in the bundle under both runtimes, compare.
same() {
    make_bundle "$BUNDLE" "$1"
    jq --arg p "$2" '.process.args = ["sh", "-c", $p]' "$BUNDLE/config.json" >"$BUNDLE/c.json"
    mv "$BUNDLE/c.json" "$BUNDLE/config.json"
    local ours theirs
    ours=$(cd "$BUNDLE" && timeout 30 "$ZLAYER" runtime --root "$RT_ROOT" run --bundle . "$CID" 2>&1) || true
    theirs=$(cd "$BUNDLE" && timeout 30 "$PEER" --root "$BATS_TEST_TMPDIR/peer" run --bundle . "$CID" 2>&1) || true
    if [ "$ours" != "$theirs" ]; then
        echo "probe: $2" >&2
        diff <(echo "$ours") <(echo "$theirs") >&2 || true
        return 1
    fi
}

@test "conformance: capabilities, no_new_privs, seccomp mode" {
    same . 'grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status'
}

@test "conformance: user, groups, hostname, cwd, rlimits, umask" {
    same '.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [5, 6]} | .process.cwd = "/tmp"' \
        'id; hostname; pwd; ulimit -n; ulimit -Hn; umask'
}

@test "conformance: mount table (points, options, types)" {
    same . 'awk "{print \$5, \$6, \$(NF-2)}" /proc/self/mountinfo'
}

@test "conformance: /dev contents and modes" {
    same . 'ls -l /dev | awk "{print \$1, \$3, \$4, \$NF}"'
}

@test "conformance: masked and read-only paths" {
    same . 'cat /proc/timer_list 2>&1 | wc -c; ls /sys/firmware | wc -l; touch /proc/sys/x 2>&1 | wc -l; touch /x 2>&1 | wc -l'
}

@test "conformance: namespaces are new (pid 1, own hostname, no host interfaces)" {
    # the shell counts the processes itself (a pipeline's count depends on timing)
    same . 'echo $$; set -- /proc/[0-9]*; echo $#; ls /sys/class/net'
}

@test "conformance: a writable root and no new namespace for the network" {
    same '.root.readonly = false | .linux.namespaces |= map(select(.type != "network")) | .mounts |= map(select(.type != "sysfs"))' \
        'touch /x && echo wrote; rm -f /x; [ -e /proc/net/dev ] && echo net'
}

@test "backend: an external OCI runtime driven through zlayer's backend interface" {
    command -v runc >/dev/null || skip "runc is not installed"
    make_bundle "$BUNDLE" '.process.args = ["sh", "-c", "hostname; exit 4"]'
    run --separate-stderr timeout 30 "$ZLAYER" runtime --backend runc --root "$BATS_TEST_TMPDIR/peer" run --bundle "$BUNDLE" "$CID"
    [ "$status" -eq 4 ]
    [ "$output" = zltest ]
    make_bundle "$BUNDLE" '.process.args = ["/bin/testinit", "pause"]'
    timeout 30 "$ZLAYER" runtime --backend runc --root "$BATS_TEST_TMPDIR/peer" create --bundle "$BUNDLE" "$CID" </dev/null >/dev/null 2>&1
    run timeout 30 "$ZLAYER" runtime --backend runc --root "$BATS_TEST_TMPDIR/peer" state "$CID"
    assert_success
    [ "$(echo "$output" | jq -r .status)" = created ]
    run timeout 30 "$ZLAYER" runtime --backend runc --root "$BATS_TEST_TMPDIR/peer" delete --force "$CID"
    assert_success
    run timeout 30 "$ZLAYER" runtime --backend nope-runtime --root "$BATS_TEST_TMPDIR/peer" state "$CID"
    assert_failure
    assert_output --partial "nope-runtime"
}
