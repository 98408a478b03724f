#!/usr/bin/env bats
# Images as a user handles them: pull from a local registry, list, inspect, policies, remove,
# prune, export/import round trips with podman and skopeo, and a container on the overlay.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load helpers_registry

ZLAYER=${ZLAYER:?}
SRCDIR=${ZL_SRCDIR:?}

setup_file() {
    [ "$(id -u)" -eq 0 ] || return 0
    command -v docker-registry >/dev/null && command -v umoci >/dev/null &&
        command -v skopeo >/dev/null || return 0
    export W="$BATS_FILE_TMPDIR"
    registry_start "$W"
    # a two-layer busybox image: the second layer deletes a file and adds another
    umoci init --layout "$W/oci"
    umoci new --image "$W/oci:bb"
    umoci unpack --image "$W/oci:bb" "$W/b" >/dev/null
    mkdir -p "$W/b/rootfs/bin" "$W/b/rootfs/etc"
    cp /bin/busybox "$W/b/rootfs/bin/"
    for a in sh echo cat ls touch; do ln -sf busybox "$W/b/rootfs/bin/$a"; done
    echo gone >"$W/b/rootfs/etc/old"
    umoci repack --image "$W/oci:bb" "$W/b"
    rm -rf "$W/b"
    umoci unpack --image "$W/oci:bb" "$W/b" >/dev/null
    rm -f "$W/b/rootfs/etc/old"
    echo new >"$W/b/rootfs/etc/new"
    umoci repack --image "$W/oci:bb" "$W/b"
    umoci config --image "$W/oci:bb" --config.cmd /bin/sh >/dev/null
    skopeo copy --quiet --dest-tls-verify=false "oci:$W/oci:bb" "docker://127.0.0.1:$PORT/test/bb:1"
    export IMG="127.0.0.1:$PORT/test/bb:1"
    # `umoci insert` ends its layers right after the file data (no tar padding or trailer)
    mkdir -p "$W/ins"
    seq 1 100000 >"$W/ins/odd.txt"
    umoci insert --image "$W/oci:bb" "$W/ins" /ins >/dev/null
    skopeo copy --quiet --dest-tls-verify=false "oci:$W/oci:bb" "docker://127.0.0.1:$PORT/test/ins:1"
}

teardown_file() {
    [ -n "${W:-}" ] && registry_stop "$W"
    return 0
}

setup() {
    [ "$(id -u)" -eq 0 ] || skip "image tests need root"
    [ -n "${IMG:-}" ] || skip "docker-registry, umoci or skopeo is missing"
    export ZLAYER_ROOT_DIR="$BATS_TEST_TMPDIR/root"
}

teardown() {
    local m
    for m in $(grep -o "$BATS_TEST_TMPDIR[^ ]*" /proc/self/mountinfo 2>/dev/null); do
        umount "$m" 2>/dev/null
    done
    return 0
}

zl() { run --separate-stderr timeout 60 "$ZLAYER" "$@"; }

@test "pull, images, inspect: layers stored once, whiteouts applied" {
    zl pull "$IMG"
    assert_success
    assert_output "$IMG"
    zl images -f json
    assert_success
    [ "$(echo "$output" | jq -r '.[0].ref')" = "$IMG" ]
    zl image inspect "$IMG"
    assert_success
    [ "$(echo "$output" | jq '.layers | length')" = 2 ]
    [ "$(echo "$output" | jq -r .architecture)" = amd64 ]
    # every blob named by the manifest is stored under its digest
    local d
    for d in $(echo "$output" | jq -r '.layers[].digest, .manifest.config.digest'); do
        [ -f "$ZLAYER_ROOT_DIR/images/blobs/sha256/${d#sha256:}" ]
    done
    # the second pull finds everything there
    zl pull --policy if_not_present "$IMG"
    assert_success
    [ "$(ls "$ZLAYER_ROOT_DIR/images/snapshots" | wc -l)" = 2 ]
}

@test "a container's root filesystem: overlay of the snapshots, writes only in upper" {
    zl pull -q "$IMG"
    assert_success
    zl image mount "$IMG" "$BATS_TEST_TMPDIR/c1"
    assert_success
    local r="$BATS_TEST_TMPDIR/c1/rootfs"
    [ -x "$r/bin/busybox" ]
    [ ! -e "$r/etc/old" ]           # deleted by the upper layer's whiteout
    [ "$(cat "$r/etc/new")" = new ]
    jq --arg r "$r" '.root.path = $r | .root.readonly = false | .linux.resources = {}
        | .process.args = ["sh", "-c", "echo hi > /written && cat /written && ls /etc"]
        | .mounts |= map(select(.destination != "/tmp"))' \
        "$SRCDIR/tests/integration/base-config.json" >"$BATS_TEST_TMPDIR/config.json"
    mkdir -p "$BATS_TEST_TMPDIR/bundle"
    mv "$BATS_TEST_TMPDIR/config.json" "$BATS_TEST_TMPDIR/bundle/"
    zl runtime --root "$BATS_TEST_TMPDIR/state" run --bundle "$BATS_TEST_TMPDIR/bundle" c1
    assert_success
    assert_line hi
    [ -f "$BATS_TEST_TMPDIR/c1/upper/written" ]
    [ -z "$(find "$ZLAYER_ROOT_DIR/images/snapshots" -name written)" ]
    zl image unmount "$BATS_TEST_TMPDIR/c1"
    assert_success
}

@test "a layer that ends without tar padding (as umoci writes them) unpacks whole" {
    zl pull -q "127.0.0.1:$PORT/test/ins:1"
    assert_success
    zl image mount "127.0.0.1:$PORT/test/ins:1" "$BATS_TEST_TMPDIR/i"
    assert_success
    cmp "$W/ins/odd.txt" "$BATS_TEST_TMPDIR/i/rootfs/ins/odd.txt"
    zl image unmount "$BATS_TEST_TMPDIR/i"
}

@test "pull policies: never and if_not_present need no registry" {
    zl pull --policy never "$IMG"
    assert_failure
    assert [ -n "$stderr" ]
    zl pull -q "$IMG"
    assert_success
    # with the registry gone, never and if_not_present still succeed
    kill -STOP "$(cat "$W/reg.pid")"
    zl pull --policy never "$IMG"
    local never=$status
    zl pull --policy if_not_present "$IMG"
    local inp=$status
    kill -CONT "$(cat "$W/reg.pid")"
    [ "$never" -eq 0 ]
    [ "$inp" -eq 0 ]
    # an image that does not exist upstream
    zl pull "127.0.0.1:$PORT/test/nope:1"
    assert_failure
    [[ "$stderr" == *"nope"* ]]
}

@test "rmi and prune give the space back, and only what no image uses" {
    zl pull -q "$IMG"
    zl import "$BATS_TEST_TMPDIR/none.tar"
    assert_failure
    local before
    before=$(ls "$ZLAYER_ROOT_DIR/images/blobs/sha256" | wc -l)
    [ "$before" -ge 4 ]
    zl image prune
    assert_success
    [ "$(ls "$ZLAYER_ROOT_DIR/images/blobs/sha256" | wc -l)" = "$before" ]
    zl rmi "$IMG"
    assert_success
    zl images -q
    assert_output ""
    zl image prune
    assert_success
    [ "$(ls "$ZLAYER_ROOT_DIR/images/blobs/sha256" | wc -l)" = 0 ]
    [ "$(ls "$ZLAYER_ROOT_DIR/images/snapshots" | wc -l)" = 0 ]
    zl rmi "$IMG"
    assert_failure
}

@test "two pulls of the same image at once share the work" {
    "$ZLAYER" pull -q "$IMG" >"$BATS_TEST_TMPDIR/a" 2>&1 &
    local a=$!
    "$ZLAYER" pull -q "$IMG" >"$BATS_TEST_TMPDIR/b" 2>&1 &
    local b=$!
    wait "$a"
    wait "$b"
    [ "$(ls "$ZLAYER_ROOT_DIR/images/snapshots" | wc -l)" = 2 ]
    zl images -q
    assert_output "$IMG"
}

@test "export is an OCI layout podman and skopeo read; import reads theirs" {
    zl pull -q "$IMG"
    zl export "$IMG" -o "$BATS_TEST_TMPDIR/bb.tar"
    assert_success
    run skopeo inspect "oci-archive:$BATS_TEST_TMPDIR/bb.tar"
    assert_success
    [ "$(echo "$output" | jq -r '.Layers | length')" = 2 ]
    # import of our own export (gzip) under another name
    zl export "$IMG" -o "$BATS_TEST_TMPDIR/bb.tgz" --gzip
    assert_success
    zl import "$BATS_TEST_TMPDIR/bb.tgz" --tag localhost/again:1
    assert_success
    assert_output localhost/again:1
    # skopeo's docker-archive (the `docker save` format) of the registry image
    skopeo copy --quiet --src-tls-verify=false "docker://$IMG" "docker-archive:$BATS_TEST_TMPDIR/ds.tar:saved/bb:2"
    zl import "$BATS_TEST_TMPDIR/ds.tar"
    assert_success
    assert_output docker.io/saved/bb:2
    zl image mount docker.io/saved/bb:2 "$BATS_TEST_TMPDIR/m"
    assert_success
    [ "$(cat "$BATS_TEST_TMPDIR/m/rootfs/etc/new")" = new ]
    zl image unmount "$BATS_TEST_TMPDIR/m"
}

@test "podman loads zlayer's export and zlayer imports podman's save" {
    command -v podman >/dev/null || skip "podman is not installed"
    local pm="$BATS_TEST_TMPDIR/podman"
    mkdir -p "$pm"
    export CONTAINERS_STORAGE_CONF="$pm/storage.conf" CONTAINERS_CONF="$pm/containers.conf"
    printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/root"\nrunroot = "/run/zl-img-test-%s"\n' "$pm" "$$" >"$CONTAINERS_STORAGE_CONF"
    mkdir -p "$pm/tmp"
    printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\ntmp_dir = "%s/tmp"\n' "$pm" >"$CONTAINERS_CONF"
    zl pull -q "$IMG"
    zl export "$IMG" -o "$BATS_TEST_TMPDIR/bb.tar"
    run podman load -i "$BATS_TEST_TMPDIR/bb.tar"
    assert_success
    run podman save -o "$BATS_TEST_TMPDIR/saved.tar" "$IMG"
    assert_success
    zl import "$BATS_TEST_TMPDIR/saved.tar" --tag localhost/podman-saved:1
    assert_success
    zl images -q
    assert_line localhost/podman-saved:1
    podman system reset -f >/dev/null 2>&1 || true
    rm -rf "/run/zl-img-test-$$"
}

@test "hostile or broken archives are refused and change nothing" {
    python3 - "$BATS_TEST_TMPDIR/evil.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    data = b'{"imageLayoutVersion":"1.0.0"}'
    for name in ("oci-layout", "../escape"):
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
PY
    zl import "$BATS_TEST_TMPDIR/evil.tar"
    assert_failure
    [[ "$stderr" == *"unsafe entry"* ]]
    [ ! -e "$BATS_TEST_TMPDIR/../escape" ]
    zl images -q
    assert_output ""
}
