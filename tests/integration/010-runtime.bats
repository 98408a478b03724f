#!/usr/bin/env bats
# The native runtime: OCI bundles run directly on the kernel, observed from inside.

load helpers_runtime

setup_file() {
    [ "$(id -u)" -eq 0 ] || return 0
    export ROOTFS="$BATS_FILE_TMPDIR/rootfs"
    make_rootfs "$ROOTFS"
}

setup() { rt_setup; }
teardown() { rt_teardown; }

# in_container CMD...: run CMD in a fresh container (foreground run) and capture its output.
in_container() {
    local args
    args=$(printf '%s\n' "$@" | jq -R . | jq -s .)
    make_bundle "$BUNDLE" "${FILTER:-.} | .process.args = $args"
    run_rt run --bundle "$BUNDLE" "$CID"
}

@test "run: exit code and output" {
    in_container /bin/testinit echo hello there
    assert_success
    assert_output "hello there"
    in_container /bin/testinit exit 7
    assert_failure 7
}

@test "run: a signal ends the process and the exit code says which" {
    # without a pid namespace sh is not an init, so its own SIGKILL ends it
    FILTER='.linux.namespaces |= map(select(.type != "pid"))' in_container sh -c 'kill -KILL $$'
    assert_failure 137
}

@test "process: hostname, user, cwd, env, umask, rlimits" {
    FILTER='.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 63}
            | .process.cwd = "/tmp" | .process.env += ["GREETING=hi"]
            | .process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]' \
        in_container sh -c 'hostname; id -u; id -g; id -G; pwd; echo $GREETING; umask; ulimit -n; ulimit -Hn'
    assert_success
    assert_output "zltest
1000
1000
1000 10 20
/tmp
hi
0077
321
654"
}

@test "process: capabilities are exactly the configured ones, no_new_privs set" {
    in_container sh -c 'grep -E "^(CapBnd|CapEff|CapPrm|CapAmb|CapInh|NoNewPrivs)" /proc/self/status'
    assert_success
    # AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10)
    assert_line --regexp '^CapBnd:\s+0000000020000420$'
    assert_line --regexp '^CapEff:\s+0000000020000420$'
    assert_line --regexp '^CapAmb:\s+0000000000000000$'
    assert_line --regexp '^NoNewPrivs:\s+1$'
}

@test "process: a missing program fails create with its name" {
    FILTER='.process.args = ["/bin/nope"]' make_bundle "$BUNDLE" '.process.args = ["/bin/nope"]'
    run_rt run --bundle "$BUNDLE" "$CID"
    assert_failure
    assert_stderr_has "/bin/nope"
    [ ! -d "$RT_ROOT/$CID" ]
}

@test "rootfs: read-only root, writable tmpfs, mounts in order, pivot done" {
    in_container sh -c 'touch /x 2>&1 || echo ro; touch /tmp/x && echo tmp-ok; grep -c " / " /proc/self/mountinfo; ls /'
    assert_success
    assert_line "ro"
    assert_line "tmp-ok"
    refute_output --partial "zlayer"
}

@test "rootfs: masked paths unreadable, read-only paths not writable, /proc not remountable" {
    # /proc/timer_list and /sys/firmware exist on the host and are masked in the base config
    [ -e /proc/timer_list ] && [ -d /sys/firmware ] || skip "nothing to mask on this kernel"
    in_container sh -c 'cat /proc/timer_list 2>/dev/null | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo ro-sys; /bin/testinit try remount-proc; /bin/testinit try mount'
    assert_success
    assert_line --index 0 "0"
    assert_line --index 1 "0"
    assert_line "ro-sys"
    assert_line --regexp '^remount-proc: E(PERM|ACCES|ROFS)$'
    assert_line --regexp '^mount: EPERM$'
}

@test "rootfs: bind mounts ro and rw, tmpfs size" {
    mkdir -p "$BATS_TEST_TMPDIR/host-ro" "$BATS_TEST_TMPDIR/host-rw"
    echo data >"$BATS_TEST_TMPDIR/host-ro/file"
    FILTER=".mounts += [
        {\"destination\": \"/data/ro\", \"type\": \"bind\", \"source\": \"$BATS_TEST_TMPDIR/host-ro\", \"options\": [\"rbind\", \"ro\"]},
        {\"destination\": \"/data/rw\", \"type\": \"bind\", \"source\": \"$BATS_TEST_TMPDIR/host-rw\", \"options\": [\"rbind\", \"rw\"]},
        {\"destination\": \"/data/small\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [\"size=1m\"]}]" \
        in_container sh -c 'cat /data/ro/file; touch /data/ro/x 2>/dev/null || echo ro-denied; echo w > /data/rw/out; head -c 2000000 /dev/zero > /data/small/big 2>/dev/null || echo full'
    assert_success
    assert_line "data"
    assert_line "ro-denied"
    assert_line "full"
    [ "$(cat "$BATS_TEST_TMPDIR/host-rw/out")" = "w" ]
}

@test "rootfs: default devices exist and work; others do not" {
    in_container sh -c 'echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; ls /dev'
    assert_success
    assert_line "null-ok"
    assert_line "4"
    refute_line "sda"
}

@test "security: symlinks in the rootfs cannot redirect mounts to the host" {
    local evil="$BATS_TEST_TMPDIR/evil"
    cp -a "$ROOTFS" "$evil"
    local host="$BATS_TEST_TMPDIR/host-target"
    mkdir -p "$host"
    # an absolute link and a relative one climbing out of the rootfs
    ln -s "$host" "$evil/abs"
    ln -s ../../../../../../../../"$host" "$evil/rel"
    make_bundle "$BUNDLE" ".mounts += [
        {\"destination\": \"/abs/m1\", \"type\": \"tmpfs\", \"source\": \"tmpfs\"},
        {\"destination\": \"/rel/m2\", \"type\": \"tmpfs\", \"source\": \"tmpfs\"}]
        | .process.args = [\"/bin/testinit\", \"true\"] | .root.path = \"$evil\""
    run_rt run --bundle "$BUNDLE" "$CID"
    assert_success
    # nothing was created or mounted on the host side
    [ -z "$(ls -A "$host")" ]
    ! grep -q "$host" /proc/self/mountinfo
}

@test "security: a container cannot see host processes or load modules" {
    in_container sh -c 'ls /proc | grep -c "^[0-9]"; /bin/testinit try init_module'
    assert_success
    assert_line --index 0 --regexp '^[1-3]$'
    assert_line --regexp '^init_module: E(PERM|NOSYS)$'
}

@test "cgroups: limits read back inside and outside; a fork bomb stops at pids.max" {
    FILTER='.linux.resources.memory = {"limit": 67108864} | .linux.resources.pids = {"limit": 20}
            | .linux.resources.cpu = {"shares": 512, "quota": 50000, "period": 100000}' \
        in_container /bin/testinit forkbomb 100
    assert_success
    local n=${output#forked }
    [ "$n" -lt 20 ]
}

@test "cgroups: a memory hog is OOM-killed" {
    FILTER='.linux.resources.memory = {"limit": 33554432, "swap": 33554432}' \
        in_container /bin/testinit memhog 256
    assert_failure 137
}

@test "lifecycle: create, state, start, kill, delete" {
    make_bundle "$BUNDLE" '.process.args = ["/bin/testinit", "pause"]'
    run rt_create --bundle "$BUNDLE" --pid-file "$BATS_TEST_TMPDIR/pid" "$CID"
    assert_success
    run_rt state "$CID"
    assert_success
    [ "$(echo "$output" | jq -r .status)" = created ]
    local pid
    pid=$(cat "$BATS_TEST_TMPDIR/pid")
    [ "$(echo "$output" | jq -r .pid)" = "$pid" ]
    # limits are in the host's view of its cgroup
    grep -q "zlayer/$CID" "/proc/$pid/cgroup"
    run_rt start "$CID"
    assert_success
    run_rt state "$CID"
    [ "$(echo "$output" | jq -r .status)" = running ]
    run_rt start "$CID"
    assert_failure
    run_rt delete "$CID"
    assert_failure
    assert_stderr_has "running"
    run_rt kill "$CID" TERM
    assert_success
    local i
    for i in $(seq 50); do
        [ "$("$ZLAYER" runtime --root "$RT_ROOT" state "$CID" | jq -r .status)" = stopped ] && break
        sleep 0.1
    done
    run_rt state "$CID"
    [ "$(echo "$output" | jq -r .status)" = stopped ]
    run_rt delete "$CID"
    assert_success
    run_rt state "$CID"
    assert_failure
    assert_stderr_has "does not exist"
}

@test "lifecycle: ids are validated and unique" {
    make_bundle "$BUNDLE" '.process.args = ["/bin/testinit", "pause"]'
    run rt_create --bundle "$BUNDLE" "../escape"
    assert_failure
    run rt_create --bundle "$BUNDLE" "$CID"
    assert_success
    run rt_create --bundle "$BUNDLE" "$CID"
    assert_failure
    assert_output --partial "already exists"
    run_rt delete --force "$CID"
    assert_success
}

@test "config: malformed or unsupported config.json is refused with the JSON path, nothing created" {
    make_bundle "$BUNDLE" '.process.args = [1]'
    run_rt run --bundle "$BUNDLE" "$CID"
    assert_failure
    assert_stderr_has "process.args[0]"
    make_bundle "$BUNDLE" '.linux.intelRdt = {"closID": "x"}'
    run_rt run --bundle "$BUNDLE" "$CID"
    assert_failure
    assert_stderr_has "linux.intelRdt"
    make_bundle "$BUNDLE" '.linux.sysctl = {"kernel.panic": "1"}'
    run_rt run --bundle "$BUNDLE" "$CID"
    assert_failure
    assert_stderr_has "kernel.panic"
    [ ! -d "$RT_ROOT/$CID" ]
}

@test "create failing half-way undoes everything and names the step" {
    make_bundle "$BUNDLE" '.mounts += [{"destination": "/data/x", "type": "bind", "source": "/nonexistent-zl"}]'
    run_rt run --bundle "$BUNDLE" "$CID"
    assert_failure
    assert_stderr_has "/nonexistent-zl"
    [ ! -d "$RT_ROOT/$CID" ]
    [ ! -d "/sys/fs/cgroup/pids/zlayer/$CID" ]
}

@test "run -d: the monitor outlives its caller, logs output as JSON lines, records the exit" {
    make_bundle "$BUNDLE" '.process.args = ["sh", "-c", "echo out; echo err >&2; sleep 1; exit 3"]'
    local log="$BATS_TEST_TMPDIR/c.log"
    run_rt run -d --log-file "$log" --bundle "$BUNDLE" "$CID"
    assert_success
    run_rt state "$CID"
    [ "$(echo "$output" | jq -r .status)" = running ]
    local i
    for i in $(seq 50); do
        [ "$("$ZLAYER" runtime --root "$RT_ROOT" state "$CID" | jq -r .status)" = stopped ] && break
        sleep 0.1
    done
    run jq -r '.stream + ":" + .log' "$log"
    assert_line "stdout:out"
    assert_line "stderr:err"
    [ "$(jq -r .exit_status "$RT_ROOT/$CID/state.json")" = $((3 << 8)) ]
    run_rt delete "$CID"
    assert_success
}

@test "hooks: prestart and poststop run with the state on stdin" {
    local out="$BATS_TEST_TMPDIR/hooks"
    make_bundle "$BUNDLE" ".hooks = {
        \"prestart\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > $out.pre\"]}],
        \"poststop\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > $out.post\"]}]}"
    run_rt run --bundle "$BUNDLE" "$CID"
    assert_success
    [ "$(jq -r .id "$out.pre")" = "$CID" ]
    [ "$(jq -r .status "$out.post")" = stopped ]
}

# start_paused: a detached container running `testinit pause`.
start_paused() {
    make_bundle "$BUNDLE" "${1:-.} | .process.args = [\"/bin/testinit\", \"pause\"]"
    run_rt run -d --bundle "$BUNDLE" "$CID"
    assert_success
}

@test "exec: namespaces, cgroup, capabilities, user and exit code of the container" {
    start_paused
    local pid
    pid=$("$ZLAYER" runtime --root "$RT_ROOT" state "$CID" | jq -r .pid)
    run_rt exec "$CID" sh -c 'hostname; ls /proc | grep -c "^[0-9]"; grep -E "^CapEff" /proc/self/status; cat /proc/self/cgroup | grep pids; exit 5'
    assert_failure 5
    assert_line --index 0 "zltest"
    assert_line --index 1 --regexp '^[2-4]$'
    assert_line --regexp '^CapEff:\s+0000000020000420$'
    assert_line --partial "zlayer/$CID"
    run_rt exec -u 1000:1000 --cwd /tmp -e FOO=bar "$CID" sh -c 'id -u; pwd; echo $FOO'
    assert_success
    assert_output "1000
/tmp
bar"
    run_rt exec "$CID" /bin/nope
    assert_failure
    assert_stderr_has "/bin/nope"
    run_rt delete --force "$CID"
    assert_success
}

@test "exec: with a terminal from the container's devpts" {
    start_paused
    run_rt exec -t "$CID" sh -c 'tty; [ -t 0 ] && echo is-a-tty; exit 3'
    assert_failure 3
    assert_line --partial "/dev/pts/"
    assert_line --partial "is-a-tty"
    run_rt delete --force "$CID"
    assert_success
}

@test "exec: --process takes an OCI process object" {
    start_paused
    cat >"$BATS_TEST_TMPDIR/p.json" <<'JSON'
{"args": ["sh", "-c", "id -u; echo $X"], "env": ["PATH=/bin", "X=from-process"], "cwd": "/",
 "user": {"uid": 2000, "gid": 2000}}
JSON
    run_rt exec --process "$BATS_TEST_TMPDIR/p.json" "$CID"
    assert_success
    assert_output "2000
from-process"
    run_rt delete --force "$CID"
    assert_success
}

@test "user namespace: root inside maps to an unprivileged id outside" {
    # the mapped root must be able to reach the rootfs: a world-traversable copy
    local pub
    pub=$(mktemp -d /tmp/zl-userns-XXXXXX)
    chmod 755 "$pub"
    cp -a "$ROOTFS" "$pub/rootfs"
    FILTER="(.root.path = \"$pub/rootfs\") | "'.linux.namespaces += [{"type": "user"}]
            | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            | .root.readonly = false
            | .mounts |= map(select(.type != "sysfs"))' \
        in_container sh -c 'id -u; cat /proc/self/uid_map'
    rm -rf "$pub"
    assert_success
    assert_line --index 0 "0"
    assert_line --index 1 --regexp '^\s+0\s+100000\s+65536$'
}

@test "the monitor survives its caller being killed; state and delete still work" {
    make_bundle "$BUNDLE" '.process.args = ["/bin/testinit", "pause"]'
    # the caller is a shell we kill as soon as run -d returns
    run bash -c "\"$ZLAYER\" runtime --root \"$RT_ROOT\" run -d --bundle \"$BUNDLE\" \"$CID\" </dev/null >/dev/null 2>&1; kill -9 \$\$"
    [ "$status" -eq 137 ]
    run_rt state "$CID"
    assert_success
    [ "$(echo "$output" | jq -r .status)" = running ]
    local mon
    mon=$(jq -r .monitor_pid "$RT_ROOT/$CID/state.json")
    kill -0 "$mon"
    run_rt kill "$CID" TERM
    assert_success
    local i
    for i in $(seq 50); do
        kill -0 "$mon" 2>/dev/null || break
        sleep 0.1
    done
    ! kill -0 "$mon" 2>/dev/null
    [ "$(jq -r .exit_status "$RT_ROOT/$CID/state.json")" = $(((128 + 15) << 8)) ]
    run_rt delete "$CID"
    assert_success
}

@test "hooks: createContainer sees the container's mounts, startContainer runs inside" {
    local out="$BATS_TEST_TMPDIR/hooks"
    make_bundle "$BUNDLE" ".hooks = {
        \"createContainer\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > $out.create; grep -c '/rootfs/tmp ' /proc/self/mountinfo > $out.mounts\"]}],
        \"startContainer\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"hostname > /tmp/started\"]}]}
        | .process.args = [\"cat\", \"/tmp/started\"]"
    run_rt run --bundle "$BUNDLE" "$CID"
    assert_success
    assert_output zltest
    [ "$(jq -r .id "$out.create")" = "$CID" ]
    [ "$(cat "$out.mounts")" = 1 ]
}

@test "sysctls: namespaced ones are set inside" {
    FILTER='.linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}' \
        in_container sh -c 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni'
    assert_success
    assert_output "1
1234"
}

@test "stats and OOM: the monitor records an OOM kill; stats read the cgroup" {
    make_bundle "$BUNDLE" '.linux.resources.memory = {"limit": 33554432, "swap": 33554432}
                           | .linux.resources.pids = {"limit": 64}
                           | .process.args = ["sh", "-c", "sleep 1; /bin/testinit memhog 256"]'
    run_rt run -d --bundle "$BUNDLE" "$CID"
    assert_success
    run_rt stats "$CID"
    assert_success
    [ "$(echo "$output" | jq -r .memory_limit)" = 33554432 ]
    [ "$(echo "$output" | jq -r .pids_limit)" = 64 ]
    [ "$(echo "$output" | jq -r .pids_current)" -ge 1 ]
    local i
    for i in $(seq 100); do
        [ "$(jq -r .has_exit "$RT_ROOT/$CID/state.json")" = true ] && break
        sleep 0.1
    done
    [ "$(jq -r .oom_killed "$RT_ROOT/$CID/state.json")" = true ]
    run_rt delete "$CID"
    assert_success
}

@test "seccomp: the config's filter is loaded; denied syscalls return EPERM" {
    FILTER='.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
              "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
              "syscalls": [{"names": ["mount", "umount2", "unshare", "sethostname", "kexec_load"],
                            "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                           {"names": ["chown"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
            | .process.capabilities.bounding += ["CAP_SYS_ADMIN", "CAP_CHOWN"]
            | .process.capabilities.effective += ["CAP_SYS_ADMIN", "CAP_CHOWN"]
            | .process.capabilities.permitted += ["CAP_SYS_ADMIN", "CAP_CHOWN"]' \
        in_container sh -c 'grep -E "^Seccomp:" /proc/self/status; for s in mount unshare sethostname chown; do /bin/testinit try $s; done'
    assert_success
    assert_line --regexp '^Seccomp:\s+2$'
    assert_line "mount: EPERM"
    assert_line "unshare: EPERM"
    assert_line "sethostname: EPERM"
    assert_line "chown: EACCES"
}
