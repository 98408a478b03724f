#!/usr/bin/env bats
# podman drives zlayer as its OCI runtime (zlayer invoked as `zlayer-runtime`): run, exec,
# logs, stop, rm and the resource flags, with an image imported from a busybox rootfs.

load helpers_runtime

setup_file() {
    [ "$(id -u)" -eq 0 ] || return 0
    command -v podman >/dev/null || return 0
    export ROOTFS="$BATS_FILE_TMPDIR/rootfs"
    make_rootfs "$ROOTFS"
    export PM="$BATS_FILE_TMPDIR/podman"
    mkdir -p "$PM"
    ln -sf "$ZLAYER" "$PM/zlayer-runtime"
    export CONTAINERS_STORAGE_CONF="$PM/storage.conf" CONTAINERS_CONF="$PM/containers.conf"
    export PM_RUNROOT="/run/zl-podman-test-$$"
    cat >"$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "vfs"
graphroot = "$PM/root"
runroot = "$PM_RUNROOT"
CONF
    # this machine caps RLIMIT_NOFILE and NPROC below podman's defaults
    cat >"$CONTAINERS_CONF" <<CONF
[containers]
netns = "none"
log_driver = "k8s-file"
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$PM/tmp"
CONF
    mkdir -p "$PM/tmp"
    tar -C "$ROOTFS" -c . | podman import - localhost/zltest:latest >/dev/null
}

teardown_file() {
    [ -n "${PM:-}" ] || return 0
    podman rm -a -f -t 0 >/dev/null 2>&1 || true
    podman system reset -f >/dev/null 2>&1 || true
    rm -rf "$PM_RUNROOT"
}

setup() {
    [ "$(id -u)" -eq 0 ] || skip "podman tests need root"
    command -v podman >/dev/null || skip "podman is not installed"
}

pm() {
    timeout 60 podman --runtime "$PM/zlayer-runtime" "$@"
}

@test "podman run: output, exit code, terminal" {
    run pm run --rm localhost/zltest:latest /bin/sh -c 'echo hello; exit 3'
    [ "$status" -eq 3 ]
    [ "$output" = hello ]
    run pm run --rm -t localhost/zltest:latest /bin/sh -c 'tty'
    assert_success
    assert_output --partial /dev/pts/
}

@test "podman run -d, exec with and without a terminal, logs, stop, rm" {
    run pm run -d --name zl1 localhost/zltest:latest /bin/sh -c 'echo started; while true; do sleep 1; done'
    assert_success
    run pm exec zl1 sh -c 'echo in-exec; exit 7'
    [ "$status" -eq 7 ]
    [ "$output" = in-exec ]
    run pm exec -t zl1 sh -c 'tty'
    assert_success
    assert_output --partial /dev/pts/
    run pm logs zl1
    assert_output started
    run pm stop -t 1 zl1
    assert_success
    run pm rm zl1
    assert_success
    run pm ps -a --format '{{.Names}}'
    refute_output --partial zl1
}

@test "podman resource and security flags reach the container" {
    run pm run -d --name zl2 --memory 64m --cpus 0.5 --pids-limit 30 --read-only \
        --user 1000:1000 --cap-drop ALL --cap-add NET_BIND_SERVICE \
        --security-opt no-new-privileges localhost/zltest:latest /bin/testinit pause
    assert_success
    local id
    id=$(pm inspect -f '{{.Id}}' zl2)
    run pm exec zl2 sh -c 'id -u; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; touch /x 2>/dev/null || echo read-only'
    assert_success
    assert_line --index 0 1000
    assert_line --regexp '^CapEff:\s+0000000000000400$'
    assert_line --regexp '^NoNewPrivs:\s+1$'
    assert_line read-only
    local cg
    cg=$(find /sys/fs/cgroup/memory /sys/fs/cgroup -maxdepth 4 -type d -name "*$id*" 2>/dev/null | head -1)
    [ -n "$cg" ]
    if [ -f "$cg/memory.limit_in_bytes" ]; then
        [ "$(cat "$cg/memory.limit_in_bytes")" = 67108864 ]
        [ "$(cat "${cg/memory/pids}/pids.max")" = 30 ]
        [ "$(cat "${cg/memory/cpu}/cpu.cfs_quota_us")" = 50000 ]
    else
        [ "$(cat "$cg/memory.max")" = 67108864 ]
        [ "$(cat "$cg/pids.max")" = 30 ]
    fi
    run pm rm -f -t 0 zl2
    assert_success
    [ ! -d "$cg" ]
}
