# Helpers for the runtime tests: a busybox + testinit rootfs, bundles made from a base config
# with jq, a per-test state root, and a teardown that fails on leftovers.
bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

ZLAYER=${ZLAYER:?set ZLAYER to the zlayer binary}
SRCDIR=${ZL_SRCDIR:?set ZL_SRCDIR to the source tree}

# One rootfs for the whole file: static busybox and testinit.
make_rootfs() {
    local r=$1
    mkdir -p "$r"/{bin,proc,sys,dev,tmp,etc,root,data}
    cp /bin/busybox "$r/bin/busybox"
    local a
    for a in sh true false sleep echo cat ls ps id hostname grep touch mkdir rm head wc \
        ulimit env pwd stat readlink nc wget mount umask; do
        ln -sf busybox "$r/bin/$a"
    done
    cc -static -O2 -o "$r/bin/testinit" "$SRCDIR/tests/helpers/testinit.c"
    echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
    echo 'root:x:0:' >"$r/etc/group"
    chmod 1777 "$r/tmp"
}

# The base config (base-config.json): what a container usually gets, like `crun spec` but
# deterministic.
base_config() {
    cat "$SRCDIR/tests/integration/base-config.json"
}

# make_bundle DIR [JQ_FILTER]: a bundle whose root is the shared rootfs (by absolute path).
make_bundle() {
    local dir=$1 filter=${2:-.}
    mkdir -p "$dir"
    base_config | jq --arg root "$ROOTFS" ".root.path = \$root | $filter" >"$dir/config.json"
}

# run_rt ARGS...: the runtime CLI with this test's state root, bounded in time.
run_rt() {
    run --separate-stderr timeout 30 "$ZLAYER" runtime --root "$RT_ROOT" "$@"
}

# bats-assert 2.1 has no assert_stderr.
assert_stderr_has() {
    [[ "$stderr" == *"$1"* ]] || { echo "stderr lacks '$1': $stderr" >&2; return 1; }
}

# rt_create ARGS...: `create` with the container's stdio on files, since the created process
# keeps whatever stdio it inherits (and would hold bats' output pipe open).
rt_create() {
    timeout 30 "$ZLAYER" runtime --root "$RT_ROOT" create "$@" </dev/null \
        >"$BATS_TEST_TMPDIR/create.out" 2>"$BATS_TEST_TMPDIR/create.err"
    local rc=$?
    cat "$BATS_TEST_TMPDIR/create.err" >&2
    return $rc
}

rt_setup() {
    [ "$(id -u)" -eq 0 ] || skip "runtime tests need root"
    RT_ROOT="$BATS_TEST_TMPDIR/state"
    BUNDLE="$BATS_TEST_TMPDIR/bundle"
    CID="zlt-$$-${BATS_TEST_NUMBER}"
}

# Fail if the test left a container, cgroup or mount behind.
rt_teardown() {
    local leftover=""
    if [ -d "$RT_ROOT" ]; then
        local id
        for id in $(ls "$RT_ROOT" 2>/dev/null); do
            "$ZLAYER" runtime --root "$RT_ROOT" delete --force "$id" >/dev/null 2>&1 || true
            leftover="$leftover container:$id"
        done
    fi
    local d
    for d in /sys/fs/cgroup/*/zlayer/"$CID" /sys/fs/cgroup/zlayer/"$CID"; do
        [ -d "$d" ] && leftover="$leftover cgroup:$d" && rmdir "$d" 2>/dev/null
    done
    if grep -q "$BATS_TEST_TMPDIR" /proc/self/mountinfo; then
        leftover="$leftover mounts"
    fi
    # no monitor or container process of this test may survive it
    local p
    for p in $(pgrep -f -- "--root $RT_ROOT" 2>/dev/null); do
        leftover="$leftover process:$p"
        kill -9 "$p" 2>/dev/null
    done
    [ -z "$leftover" ] || { echo "left behind:$leftover" >&2; return 1; }
}
