# Shared by the daemon's test files: a local registry with the test image ($IMG), a state
# folder per test, and a teardown that checks nothing is left behind.
# shellcheck shell=bash

setup_file() {
    [ "$(id -u)" -eq 0 ] || return 0
    command -v docker-registry >/dev/null && command -v umoci >/dev/null &&
        command -v skopeo >/dev/null || return 0
    export W="$BATS_FILE_TMPDIR"
    export ROOTFS="$W/rootfs"
    make_rootfs "$ROOTFS"
    registry_start "$W"
    umoci init --layout "$W/oci"
    umoci new --image "$W/oci:app"
    umoci unpack --image "$W/oci:app" "$W/b" >/dev/null
    cp -a "$ROOTFS/." "$W/b/rootfs/"
    umoci repack --image "$W/oci:app" "$W/b"
    skopeo copy --quiet --dest-tls-verify=false "oci:$W/oci:app" "docker://127.0.0.1:$PORT/test/app:1"
    export IMG="127.0.0.1:$PORT/test/app:1"
}

teardown_file() {
    [ -n "${W:-}" ] && registry_stop "$W"
    return 0
}

setup() {
    [ "$(id -u)" -eq 0 ] || skip "daemon tests need root"
    [ -n "${IMG:-}" ] || skip "docker-registry, umoci or skopeo is missing"
    export ZLAYER_ROOT_DIR="$BATS_TEST_TMPDIR/root" ZLAYER_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
    # a node network of this test file's own (files may run at the same time), beside any
    # other zlayer on this machine: bridge zltN, subnet 10.239.N.0/24 (N: the file's number)
    local n
    n=$(basename "$BATS_TEST_FILENAME" | sed 's/^0*\([0-9]*\).*/\1/')
    export NET="10.239.${n:-0}" ZLAYER_BRIDGE="zlt${n:-0}"
    export ZLAYER_SUBNET="$NET.0/24" VETHS
    VETHS=$(printf 'zlv0aef%02x' "${n:-0}")
    cd "$BATS_TEST_TMPDIR"
}

teardown() {
    local d i
    # processes a test started beside zlayer (their pids, one a line)
    [ ! -f "$BATS_TEST_TMPDIR/bg.pids" ] || xargs -r kill <"$BATS_TEST_TMPDIR/bg.pids" 2>/dev/null || true
    for d in $("$ZLAYER" ps -f json 2>/dev/null | jq -r '.[].name' 2>/dev/null); do
        timeout 60 "$ZLAYER" down "$d" >/dev/null 2>&1
    done
    # SIGTERM: replicas keep running (none are left), job runs still going are stopped
    stop_daemon
    # nothing may be left: containers, bundles, mounts
    local left=""
    [ -z "$(ls "$ZLAYER_RUNTIME_DIR/containers" 2>/dev/null)" ] || left="$left containers"
    [ -z "$(ls "$ZLAYER_ROOT_DIR/containers" 2>/dev/null)" ] || left="$left bundles"
    grep -q "$BATS_TEST_TMPDIR" /proc/self/mountinfo && left="$left mounts"
    # and no process of this test's daemon: monitors and the spawner end with their work
    local procs="" p
    for i in $(seq 50); do
        procs=""
        for p in $(grep -lsz "^ZLAYER_RUNTIME_DIR=$ZLAYER_RUNTIME_DIR\$" /proc/[0-9]*/environ | cut -d/ -f3); do
            tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qE 'zlayer.* (serve|runtime)' && procs="$procs $p"
        done
        [ -z "$procs" ] && break
        sleep 0.1
    done
    [ -z "$procs" ] || left="$left processes($procs)"
    # and no network: bridge, veths (zlv + the address in hex), rules
    ip link show "$ZLAYER_BRIDGE" >/dev/null 2>&1 && left="$left bridge"
    ip -o link show | grep -q " $VETHS" && left="$left veths"
    nft list tables 2>/dev/null | grep -q "zlayer_$ZLAYER_BRIDGE\$" && left="$left nft-tables"
    [ -z "$left" ] || { echo "left behind:$left" >&2; return 1; }
}

# stop_daemon: SIGTERM to the daemon, then wait (30 s at most) until its process is gone:
# its socket goes first, its lock last
stop_daemon() {
    local pid i
    pid=$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid" 2>/dev/null) || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 300); do
        [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "the daemon ($pid) did not stop within 30 s" >&2
    return 1
}

pid_of() {
    "$ZLAYER" ps -c -f json | jq -r ".[] | select(.id == \"$1\") | .pid"
}

# wait_for CMD...: until CMD succeeds, at most 30 s
wait_for() {
    local i
    for i in $(seq 120); do "$@" && return 0; sleep 0.25; done
    "$@"
}

running() {
    [ "$("$ZLAYER" ps -c -f json | jq "[.[] | select(.service == \"$1\" and .status == \"running\")] | length")" = "$2" ]
}

