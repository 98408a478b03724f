#!/usr/bin/env bash
# bench/deploy.sh [ZLAYER]: time from command to 50 running replicas of one service (image
# already present) with `zlayer up -d` versus 50 × `podman run -d`, in one run; then the
# daemon's memory idle and with the 50 containers, and the monitors' total. Needs root,
# busybox-static and podman (run with runc: crun refuses hybrid cgroup hosts); no network.
set -euo pipefail
ZLAYER=$(realpath "${1:-./build/zlayer}")
N=${N:-50}
[ "$(id -u)" -eq 0 ] || { echo "bench/deploy.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/zl-bench-deploy-XXXXXX)
export ZLAYER_ROOT_DIR=$WORK/root ZLAYER_RUNTIME_DIR=$WORK/run
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_CONF=$WORK/containers.conf
cleanup() {
    "$ZLAYER" down bench >/dev/null 2>&1 || true
    [ -f "$ZLAYER_RUNTIME_DIR/zlayer.pid" ] && kill "$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")" 2>/dev/null
    if command -v podman >/dev/null; then
        podman rm -a -f -t 0 >/dev/null 2>&1 || true
        podman system reset -f >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK" /run/zl-bench-deploy
}
trap cleanup EXIT

"$HERE/examples/make-image.sh" "$WORK/img.tar" localhost/bench/busybox:1 >/dev/null
"$ZLAYER" import "$WORK/img.tar" >/dev/null
cat >"$WORK/bench.zlayer.yml" <<YAML
version: v1
deployment: bench
services:
  app:
    image: {name: localhost/bench/busybox:1, pull_policy: never}
    command: {args: ["sleep", "100000"]}
    scale: {mode: fixed, replicas: $N}
    stop_grace_period: 1s
YAML
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

"$ZLAYER" serve --daemon
sleep 1
DPID=$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")
IDLE=$(rss "$DPID")
t0=$(date +%s%N)
"$ZLAYER" -q up -d "$WORK/bench.zlayer.yml" >/dev/null 2>&1
t1=$(date +%s%N)
ZL_MS=$(( (t1 - t0) / 1000000 ))
RUNNING=$("$ZLAYER" ps -c -f json | jq '[.[] | select(.status == "running")] | length')
BUSY=$(rss "$DPID")
MON=0
for m in $(jq -r .monitor_pid "$ZLAYER_RUNTIME_DIR"/containers/*/state.json); do
    MON=$((MON + $(awk '/^Pss:/ {print $2}' "/proc/$m/smaps_rollup")))
done
"$ZLAYER" down bench >/dev/null

PM_MS=n/a
if command -v podman >/dev/null; then
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/podman"\nrunroot = "/run/zl-bench-deploy"\n' "$WORK" >"$CONTAINERS_STORAGE_CONF"
    mkdir -p "$WORK/ptmp"
    printf '[containers]\nnetns = "none"\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\ntmp_dir = "%s/ptmp"\nruntime = "runc"\n' \
        "$(ulimit -Hn)" "$(ulimit -Hn)" "$WORK" >"$CONTAINERS_CONF"
    podman load -q -i "$WORK/img.tar" >/dev/null
    t0=$(date +%s%N)
    for i in $(seq "$N"); do
        podman run -d --name "b$i" localhost/bench/busybox:1 sleep 100000 >/dev/null
    done
    t1=$(date +%s%N)
    PM_MS=$(( (t1 - t0) / 1000000 ))
fi

printf '%-34s %10s\n' "" "ms"
printf '%-34s %10s  (%s running)\n' "zlayer up -d, $N replicas" "$ZL_MS" "$RUNNING"
printf '%-34s %10s\n' "podman run -d x $N" "$PM_MS"
[ "$PM_MS" != n/a ] && printf 'zlayer / podman = %.2f (target <= 0.2)\n' "$(echo "$ZL_MS / $PM_MS" | bc -l)"
printf 'daemon RSS: idle %s KiB, with %s containers %s KiB (targets 10240 / 20480); monitors total PSS %s KiB\n' \
    "$IDLE" "$N" "$BUSY" "$MON"
