#!/usr/bin/env bash
# bench/proxy.sh [ZLAYER]: the node proxy's L4 TCP pass-through against haproxy's tcp mode, in
# one run: wrk (2 threads, 64 connections, DURATION s, a 1 KiB page) against an nginx backend
# directly, through zlayer's proxy (tests/proxy_serve: the daemon's proxy code with one route)
# and through haproxy (mode tcp, one thread, as zlayer's one loop). Prints req/s, p99 latency
# and each proxy's RSS after the run, and the ratios. Needs wrk, nginx and haproxy (Debian).
# The L7 comparison (nginx and haproxy in http mode) comes with zlayer's L7 proxy.
set -euo pipefail
ZLAYER=$(realpath "${1:-./build/zlayer}")
SERVE=$(dirname "$ZLAYER")/tests/proxy_serve
DURATION=${DURATION:-10}
for t in wrk nginx haproxy; do
    command -v "$t" >/dev/null || { echo "bench/proxy.sh: needs $t (apt-get install $t)" >&2; exit 1; }
done
[ -x "$SERVE" ] || { echo "bench/proxy.sh: no $SERVE (ninja -C $(dirname "$ZLAYER"))" >&2; exit 1; }
WORK=$(mktemp -d /tmp/zl-bench-proxy-XXXXXX)
B=18401 ZP=18402 HP=18403
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www" "$WORK/logs"
head -c 1024 /dev/zero | tr '\0' x >"$WORK/www/1k.html"
cat >"$WORK/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    server { listen 127.0.0.1:$B; root $WORK/www; }
}
CONF
cat >"$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen l4
    bind 127.0.0.1:$HP
    server b1 127.0.0.1:$B
CONF
nginx -p "$WORK" -c "$WORK/nginx.conf" &
PIDS+=($!)
"$SERVE" $ZP 127.0.0.1:$B 2>"$WORK/serve.log" &
PIDS+=($!)
ZPID=$!
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
HPID=$!
for p in $B $ZP $HP; do
    for ((i = 0; i < 100; i++)); do
        curl -sf -o /dev/null "http://127.0.0.1:$p/1k.html" && break
        sleep 0.1
    done
done

run() { # PORT: req/s and p99 in ms
    wrk -t2 -c64 -d"${DURATION}s" --latency "http://127.0.0.1:$1/1k.html" >"$WORK/wrk.out" 2>&1
    local rps p99
    rps=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$WORK/wrk.out")
    p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
        else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
        printf "%.2f", v }' "$WORK/wrk.out")
    echo "$rps $p99"
}
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

read -r DR DL < <(run $B)
read -r ZR ZL < <(run $ZP)
ZRSS=$(rss "$ZPID")
read -r HR HL < <(run $HP)
HRSS=$(rss "$HPID")

echo "L4 TCP pass-through, wrk -t2 -c64 -d${DURATION}s, 1 KiB page from nginx"
printf '  %-22s %9s %9s %10s\n' "" "req/s" "p99 ms" "RSS KiB"
printf '  %-22s %9s %9s %10s\n' "direct" "$DR" "$DL" "-"
printf '  %-22s %9s %9s %10s\n' "zlayer proxy" "$ZR" "$ZL" "$ZRSS"
printf '  %-22s %9s %9s %10s\n' "haproxy (mode tcp)" "$HR" "$HL" "$HRSS"
awk -v z="$ZR" -v h="$HR" -v zl="$ZL" -v hl="$HL" -v zr="$ZRSS" -v hr="$HRSS" 'BEGIN {
    printf "  zlayer / haproxy: req/s %.2fx (target >= 1.0), p99 %.2fx (<= 1.0), RSS %.2fx (< 1.0)\n",
        z / h, zl / hl, zr / hr }'
