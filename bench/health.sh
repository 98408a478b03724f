#!/usr/bin/env bash
# bench/health.sh [ZLAYER]: what health checks cost the daemon. N replicas (200), each an
# http server in its own network namespace, checked over http every second: the daemon's
# CPU time per second of wall time, measured over SECS seconds once every replica is
# healthy, beside the floor: the same number of plain HTTP checks a second made by a small
# C loop (bench/healthfloor.c, blocking sockets, one server on loopback). Podman's health
# checks run from systemd timers, which this machine does not have. Needs root and
# busybox-static; no network. Target: under 5% of one core.
set -euo pipefail
ZLAYER=$(realpath "${1:-./build/zlayer}")
N=${N:-200}
SECS=${SECS:-20}
[ "$(id -u)" -eq 0 ] || { echo "bench/health.sh: run as root" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/zl-bench-health-XXXXXX)
export ZLAYER_ROOT_DIR=$WORK/root ZLAYER_RUNTIME_DIR=$WORK/run
HTTPD=
cleanup() {
    [ -n "$HTTPD" ] && kill "$HTTPD" 2>/dev/null
    timeout 120 "$ZLAYER" down hbench >/dev/null 2>&1 || true
    [ -f "$ZLAYER_RUNTIME_DIR/zlayer.pid" ] && kill "$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

cc -O2 -o "$WORK/healthfloor" "$HERE/bench/healthfloor.c"
"$HERE/examples/make-image.sh" "$WORK/img.tar" localhost/bench/busybox:1 >/dev/null
"$ZLAYER" import "$WORK/img.tar" >/dev/null
cat >"$WORK/hbench.zlayer.yml" <<YAML
version: v1
deployment: hbench
services:
  web:
    image: {name: localhost/bench/busybox:1, pull_policy: never}
    network_mode: none
    command: {args: ["sh", "-c", "mkdir -p /tmp/www && echo ok >/tmp/www/ok && exec httpd -f -p 8080 -h /tmp/www"]}
    scale: {mode: fixed, replicas: $N}
    stop_grace_period: 1s
    health: {start_grace: 1s, interval: 1s, timeout: 2s, retries: 3, check: {type: http, url: "http://localhost:8080/ok"}}
YAML
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

"$ZLAYER" serve --daemon
DPID=$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")
t0=$(date +%s%N)
timeout 600 "$ZLAYER" -q up -d "$WORK/hbench.zlayer.yml" >/dev/null 2>&1
t1=$(date +%s%N)
HEALTHY=$("$ZLAYER" ps -c -f json | jq '[.[] | select(.health.status == "healthy")] | length')
sleep 2
c0=$(ticks "$DPID")
sleep "$SECS"
c1=$(ticks "$DPID")
ZL=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v s="$SECS" 'BEGIN {printf "%.2f", 100 * t / hz / s}')
RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$DPID/status")
STILL=$("$ZLAYER" ps -c -f json | jq '[.[] | select(.health.status == "healthy")] | length')

mkdir -p "$WORK/www"
echo ok >"$WORK/www/ok"
busybox httpd -f -p 127.0.0.1:18099 -h "$WORK/www" &
HTTPD=$!
sleep 0.3
read -r FCPU FFAIL < <("$WORK/healthfloor" 127.0.0.1 18099 "$N" "$SECS")
FLOOR=$(awk -v c="$FCPU" -v s="$SECS" 'BEGIN {printf "%.2f", 100 * c / s}')

echo "health checks: $N replicas, http every 1 s, measured over $SECS s"
echo "  deploy to all healthy:     $(( (t1 - t0) / 1000000 )) ms ($HEALTHY healthy, $STILL still healthy after)"
echo "  zlayer daemon CPU:         $ZL% of one core (RSS $((RSS / 1024)) MiB)"
echo "  floor (C loop, same GETs): $FLOOR% of one core ($FFAIL failed)"
awk -v z="$ZL" -v f="$FLOOR" 'BEGIN {if (f > 0) printf "  ratio zlayer/floor:        %.2fx\n", z / f}'
awk -v z="$ZL" 'BEGIN {printf "  target < 5%%:              %s\n", z < 5 ? "met" : "NOT met"}'
