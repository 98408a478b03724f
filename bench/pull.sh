#!/usr/bin/env bash
# bench/pull.sh [ZLAYER]: pull + unpack of a ~80 MiB, 5-layer image from a local registry with
# zlayer, with `podman pull`, and with `skopeo copy` + `umoci unpack`, N runs each into a fresh
# store, medians and ratios; then how long the second container's root filesystem takes to be
# ready (an overlay mount of the already unpacked layers). Needs root and docker-registry,
# skopeo, umoci, podman (Debian packages); all traffic stays on 127.0.0.1.
set -euo pipefail
ZLAYER=$(realpath "${1:-./build/zlayer}")
N=${N:-3}
[ "$(id -u)" -eq 0 ] || { echo "bench/pull.sh: run as root" >&2; exit 1; }
WORK=$(mktemp -d /tmp/zl-bench-pull-XXXXXX)
REG_PID=""
cleanup() {
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null
    umount "$WORK"/c*/rootfs 2>/dev/null || true
    rm -rf "$WORK" /run/zl-bench-podman
}
trap cleanup EXIT

prng() { head -c "$2" /dev/zero | openssl enc -aes-128-ctr -nosalt -K "$1" -iv 0 2>/dev/null; }

echo "== building a 5-layer image"
O=$WORK/oci
umoci init --layout "$O" && umoci new --image "$O:big"
umoci unpack --image "$O:big" "$WORK/b" >/dev/null
R=$WORK/b/rootfs
mkdir -p "$R/bin" && cp /bin/busybox "$R/bin/" && ln -sf busybox "$R/bin/sh"
umoci repack --image "$O:big" "$WORK/b" && rm -rf "$WORK/b"
for i in 1 2 3 4; do
    mkdir -p "$WORK/l$i/data"
    case $i in
    1) prng 00000000000000000000000000000001 $((24 << 20)) >"$WORK/l$i/data/random.bin" ;;
    2) seq -f 'line %010g lorem ipsum dolor sit amet' 1 400000 >"$WORK/l$i/data/text.txt" ;;
    3) for f in $(seq 3000); do prng "$(printf '%032x' "$f")" 4096 >"$WORK/l$i/data/f$f"; done ;;
    4) prng 00000000000000000000000000000004 $((16 << 20)) >"$WORK/l$i/data/big.bin" ;;
    esac
    umoci insert --image "$O:big" "$WORK/l$i/data" "/data$i" >/dev/null
done
du -sh "$O" | sed 's/^/layout: /'

echo "== local registry on 127.0.0.1"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/reg.yml" <<CONF
version: 0.1
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:$PORT}
log: {level: error}
CONF
docker-registry serve "$WORK/reg.yml" >"$WORK/reg.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
IMG=127.0.0.1:$PORT/bench/big:latest
skopeo copy --quiet --dest-tls-verify=false "oci:$O:big" "docker://$IMG"

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }

run_n() {
    local name=$1 i t0 t1
    shift
    : >"$WORK/$name.ms"
    for ((i = 0; i < N; i++)); do
        "$name"_reset
        t0=$(date +%s%N)
        "$@" >/dev/null 2>"$WORK/$name.err" || { cat "$WORK/$name.err" >&2; return 1; }
        t1=$(date +%s%N)
        ms "$t0" "$t1" >>"$WORK/$name.ms"
    done
    median <"$WORK/$name.ms"
}

zlayer_reset() { rm -rf "$WORK/zl"; }
podman_reset() { rm -rf "$WORK/podman" /run/zl-bench-podman; }
skopeo_reset() { rm -rf "$WORK/sk" "$WORK/sk-bundle"; }
skopeo_umoci() {
    skopeo copy --quiet --src-tls-verify=false "docker://$IMG" "oci:$WORK/sk:big" &&
        umoci unpack --image "$WORK/sk:big" "$WORK/sk-bundle"
}

echo "== pull + unpack, $N runs each (median)"
ZL=$(ZLAYER_ROOT_DIR=$WORK/zl run_n zlayer "$ZLAYER" pull -q "$IMG")
PM=$(run_n podman podman --root "$WORK/podman" --runroot /run/zl-bench-podman --storage-driver overlay pull --tls-verify=false "$IMG")
SK=$(run_n skopeo skopeo_umoci)
printf '%-22s %10s %10s\n' tool "median ms" "vs zlayer"
printf '%-22s %10.1f %10.2f\n' zlayer "$ZL" 1
printf '%-22s %10.1f %10.2f\n' "podman pull" "$PM" "$(echo "$PM / $ZL" | bc -l)"
printf '%-22s %10.1f %10.2f\n' "skopeo copy + umoci" "$SK" "$(echo "$SK / $ZL" | bc -l)"
printf 'zlayer / podman = %.2f (target <= 0.5)\n' "$(echo "$ZL / $PM" | bc -l)"

echo "== second container from the same image: rootfs ready (overlay mount)"
export ZLAYER_ROOT_DIR=$WORK/zl
for c in c1 c2 c3; do
    "$ZLAYER" image mount "$IMG" "$WORK/$c"
done
for c in c1 c2 c3; do "$ZLAYER" image unmount "$WORK/$c"; done
