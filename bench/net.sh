#!/usr/bin/env bash
# bench/net.sh [ZLAYER]: the cost of container networking, in one run. 50 replicas with the
# node network (bridge, address, veth, rules, hosts/resolv.conf) versus the same 50 without
# (network_mode: none), and 50 × `podman run -d --network bridge` versus 50 × `podman run
# -d --network none`: the difference is what wiring the network costs each. Needs root,
# busybox-static, podman and containernetworking-plugins; no internet.
set -euo pipefail
ZLAYER=$(realpath "${1:-./build/zlayer}")
N=${N:-50}
[ "$(id -u)" -eq 0 ] || { echo "bench/net.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/zl-bench-net-XXXXXX)
export ZLAYER_ROOT_DIR=$WORK/root ZLAYER_RUNTIME_DIR=$WORK/run
export ZLAYER_BRIDGE=zlbench0 ZLAYER_SUBNET=10.237.0.0/24
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_CONF=$WORK/containers.conf
cleanup() {
    "$ZLAYER" down netbench >/dev/null 2>&1 || true
    [ -f "$ZLAYER_RUNTIME_DIR/zlayer.pid" ] && kill "$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")" 2>/dev/null
    if command -v podman >/dev/null; then
        podman rm -a -f -t 0 >/dev/null 2>&1 || true
        podman network rm -f zlbench >/dev/null 2>&1 || true
        podman system reset -f >/dev/null 2>&1 || true
    fi
    sleep 1
    rm -rf "$WORK" /run/zl-bench-net
}
trap cleanup EXIT

"$HERE/examples/make-image.sh" "$WORK/img.tar" localhost/bench/busybox:1 >/dev/null
"$ZLAYER" serve --daemon
"$ZLAYER" import "$WORK/img.tar" >/dev/null
spec() {
    cat <<YAML
version: v1
deployment: netbench
services:
  app:
    image: {name: localhost/bench/busybox:1, pull_policy: never}
    command: {args: ["sleep", "100000"]}
    scale: {mode: fixed, replicas: $N}
    stop_grace_period: 1s
    network_mode: $1
YAML
}
zl_run() { # MODE: milliseconds for `up -d` of N replicas
    spec "$1" >"$WORK/netbench.zlayer.yml"
    local t0 t1
    t0=$(date +%s%N)
    "$ZLAYER" -q up -d "$WORK/netbench.zlayer.yml" >/dev/null 2>&1
    t1=$(date +%s%N)
    local up
    up=$("$ZLAYER" ps -c -f json | jq '[.[] | select(.status == "running")] | length')
    [ "$up" -eq "$N" ] || { echo "only $up of $N running" >&2; exit 1; }
    "$ZLAYER" down netbench >/dev/null
    echo $(((t1 - t0) / 1000000))
}
ZL_NONE=$(zl_run none)
ZL_BRIDGE=$(zl_run default)

PM_NONE=n/a PM_BRIDGE=n/a
if command -v podman >/dev/null; then
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/podman"\nrunroot = "/run/zl-bench-net"\n' "$WORK" >"$CONTAINERS_STORAGE_CONF"
    mkdir -p "$WORK/ptmp"
    printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\ntmp_dir = "%s/ptmp"\nruntime = "runc"\n[network]\nnetwork_config_dir = "%s/cni"\n' \
        "$(ulimit -Hn)" "$(ulimit -Hn)" "$WORK" "$WORK" >"$CONTAINERS_CONF"
    mkdir -p "$WORK/cni"
    podman load -q -i "$WORK/img.tar" >/dev/null
    podman network create --subnet 10.236.0.0/24 zlbench >/dev/null
    pm_run() { # NETWORK
        local t0 t1 i
        t0=$(date +%s%N)
        for i in $(seq "$N"); do
            podman run -d --network "$1" --name "b$i" localhost/bench/busybox:1 sleep 100000 >/dev/null
        done
        t1=$(date +%s%N)
        podman rm -a -f -t 0 >/dev/null
        echo $(((t1 - t0) / 1000000))
    }
    PM_NONE=$(pm_run none)
    PM_BRIDGE=$(pm_run zlbench)
fi

printf '%-44s %10s %10s %14s\n' "" "none ms" "bridge ms" "network ms"
printf '%-44s %10s %10s %14s\n' "zlayer up -d, $N replicas" "$ZL_NONE" "$ZL_BRIDGE" "$((ZL_BRIDGE - ZL_NONE))"
if [ "$PM_NONE" != n/a ]; then
    printf '%-44s %10s %10s %14s\n' "podman run -d x $N" "$PM_NONE" "$PM_BRIDGE" "$((PM_BRIDGE - PM_NONE))"
    printf 'with networking, zlayer / podman = %.2f; the networking alone, zlayer / podman = %.2f\n' \
        "$(echo "$ZL_BRIDGE / $PM_BRIDGE" | bc -l)" \
        "$(echo "($ZL_BRIDGE - $ZL_NONE) / ($PM_BRIDGE - $PM_NONE)" | bc -l)"
fi
