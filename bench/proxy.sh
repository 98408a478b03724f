#!/usr/bin/env bash
# bench/proxy.sh [ZLAYER]: the node proxy against nginx and haproxy, in one run: wrk (2
# threads, 64 connections, DURATION s, a 1 KiB page) against an nginx backend directly; as an
# HTTP reverse proxy through zlayer's proxy (tests/proxy_serve: the daemon's proxy code with
# one route, its access log on), nginx (proxy_pass with a keep-alive upstream) and haproxy
# (mode http); as an L4 TCP pass-through through zlayer and haproxy (mode tcp). Every proxy
# runs one worker/thread, as zlayer's one loop. ROUNDS (2) rounds run every target in turn;
# prints each one's best req/s with that run's p99 latency, the largest RSS
# each proxy had while serving (nginx: its worker process, where the connections live; its
# master is left out), and the ratios. Needs wrk, nginx and haproxy (Debian).
set -euo pipefail
ZLAYER=$(realpath "${1:-./build/zlayer}")
SERVE=$(dirname "$ZLAYER")/tests/proxy_serve
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
for t in wrk nginx haproxy; do
    command -v "$t" >/dev/null || { echo "bench/proxy.sh: needs $t (apt-get install $t)" >&2; exit 1; }
done
[ -x "$SERVE" ] || { echo "bench/proxy.sh: no $SERVE (ninja -C $(dirname "$ZLAYER"))" >&2; exit 1; }
WORK=$(mktemp -d /tmp/zl-bench-proxy-XXXXXX)
B=18401 ZP=18402 HP=18403 ZH=18404 NH=18405 HH=18406 ZS=18407 NS=18408 HS=18409
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www" "$WORK/logs" "$WORK/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$WORK/certs/localhost.key" -out "$WORK/certs/localhost.crt" 2>/dev/null
cat "$WORK/certs/localhost.crt" "$WORK/certs/localhost.key" >"$WORK/haproxy.pem"
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
# the same proxying for nginx's http and https servers
NGINX_LOC='location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }'
cat >"$WORK/nginx-proxy.conf" <<CONF
daemon off;
worker_processes 1;
pid $WORK/nginx-proxy.pid;
error_log $WORK/logs/error-proxy.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    upstream b { server 127.0.0.1:$B; keepalive 64; }
    server {
        listen 127.0.0.1:$NH;
        $NGINX_LOC
    }
    server {
        listen 127.0.0.1:$NS ssl;
        ssl_certificate $WORK/certs/localhost.crt;
        ssl_certificate_key $WORK/certs/localhost.key;
        $NGINX_LOC
    }
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
listen l7
    mode http
    option forwardfor
    http-reuse always
    bind 127.0.0.1:$HH
    server b1 127.0.0.1:$B
listen l7s
    mode http
    option forwardfor
    http-reuse always
    bind 127.0.0.1:$HS ssl crt $WORK/haproxy.pem
    server b1 127.0.0.1:$B
CONF
nginx -p "$WORK" -c "$WORK/nginx.conf" &
PIDS+=($!)
BPID=$!
"$SERVE" $ZP 127.0.0.1:$B 2>"$WORK/serve.log" &
PIDS+=($!)
ZPID=$!
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
HPID=$!
PROXY_SERVE_LOG="$WORK/logs/zlayer-access.log" "$SERVE" --http $ZH 127.0.0.1:$B 2>"$WORK/serve-http.log" &
PIDS+=($!)
ZHPID=$!
nginx -p "$WORK" -c "$WORK/nginx-proxy.conf" &
PIDS+=($!)
NPID=$!
PROXY_SERVE_CERTS="$WORK/certs" PROXY_SERVE_LOG="$WORK/logs/zlayer-access-tls.log" \
    "$SERVE" --https $ZS 127.0.0.1:$B 2>"$WORK/serve-https.log" &
PIDS+=($!)
ZSPID=$!
for p in $B $ZP $HP $ZH $NH $HH $ZS $NS $HS; do
    s=http
    case $p in $ZS | $NS | $HS) s=https ;; esac
    for ((i = 0; i < 100; i++)); do
        curl -skf -o /dev/null "$s://127.0.0.1:$p/1k.html" && break
        sleep 0.1
    done
done

NWPID=$(pgrep -P "$NPID" | head -1) # nginx's worker: the one serving

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# run PORT SCHEME PID: req/s, p99 in ms, and the largest RSS (KiB) of process PID seen while
# wrk runs (sampled every second: the memory it takes to serve 64 connections)
run() {
    wrk -t2 -c64 -d"${DURATION}s" --latency "$2://127.0.0.1:$1/1k.html" >"$WORK/wrk.out" 2>&1 &
    local w=$! peak=0 r
    while kill -0 "$w" 2>/dev/null; do
        sleep 1
        r=$(rss "$3" 2>/dev/null || echo 0)
        [ "${r:-0}" -gt "$peak" ] && peak=$r
    done
    wait "$w" || true
    local rps p99
    rps=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$WORK/wrk.out")
    p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
        else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
        printf "%.2f", v }' "$WORK/wrk.out")
    echo "$rps $p99 $peak"
}

# ROUNDS rounds, each running every target once in turn (so a disturbance of the machine hits
# them alike); each target keeps its best round's req/s with that round's p99, and the
# largest RSS of all rounds
declare -A R L M
TARGETS="D:$B:http:$BPID ZH:$ZH:http:$ZHPID NH:$NH:http:$NWPID HH:$HH:http:$HPID
    ZS:$ZS:https:$ZSPID NS:$NS:https:$NWPID HS:$HS:https:$HPID ZP:$ZP:http:$ZPID HP:$HP:http:$HPID"
for ((round = 0; round < ROUNDS; round++)); do
    for t in $TARGETS; do
        IFS=: read -r key port scheme pid <<<"$t"
        read -r rps p99 peak < <(run "$port" "$scheme" "$pid")
        if [ "${rps:-0}" -gt "${R[$key]:-0}" ]; then
            R[$key]=$rps
            L[$key]=$p99
        fi
        [ "${peak:-0}" -gt "${M[$key]:-0}" ] && M[$key]=$peak
    done
done
DR=${R[D]} DL=${L[D]}
ZHR=${R[ZH]} ZHL=${L[ZH]} ZHRSS=${M[ZH]} NHR=${R[NH]} NHL=${L[NH]} NRSS=${M[NH]}
HHR=${R[HH]} HHL=${L[HH]} HHRSS=${M[HH]}
ZSR=${R[ZS]} ZSL=${L[ZS]} ZSRSS=${M[ZS]} NSR=${R[NS]} NSL=${L[NS]} NSRSS=${M[NS]}
HSR=${R[HS]} HSL=${L[HS]} HSRSS=${M[HS]}
ZR=${R[ZP]} ZL=${L[ZP]} ZRSS=${M[ZP]} HR=${R[HP]} HL=${L[HP]} HRSS=${M[HP]}

echo "wrk -t2 -c64 -d${DURATION}s, 1 KiB page from nginx, best of $ROUNDS rounds"
printf '  %-26s %9s %9s %10s\n' "" "req/s" "p99 ms" "RSS KiB"
printf '  %-26s %9s %9s %10s\n' "direct" "$DR" "$DL" "-"
echo "HTTP reverse proxy"
printf '  %-26s %9s %9s %10s\n' "zlayer proxy (http)" "$ZHR" "$ZHL" "$ZHRSS"
printf '  %-26s %9s %9s %10s\n' "nginx (proxy_pass)" "$NHR" "$NHL" "$NRSS"
printf '  %-26s %9s %9s %10s\n' "haproxy (mode http)" "$HHR" "$HHL" "$HHRSS"
echo "HTTPS reverse proxy (TLS 1.3, kept-alive client connections)"
printf '  %-26s %9s %9s %10s\n' "zlayer proxy (https)" "$ZSR" "$ZSL" "$ZSRSS"
printf '  %-26s %9s %9s %10s\n' "nginx (ssl, proxy_pass)" "$NSR" "$NSL" "$NSRSS"
printf '  %-26s %9s %9s %10s\n' "haproxy (ssl, mode http)" "$HSR" "$HSL" "$HSRSS"
echo "L4 TCP pass-through"
printf '  %-26s %9s %9s %10s\n' "zlayer proxy (tcp)" "$ZR" "$ZL" "$ZRSS"
printf '  %-26s %9s %9s %10s\n' "haproxy (mode tcp)" "$HR" "$HL" "$HRSS"
awk -v z="$ZHR" -v n="$NHR" -v h="$HHR" -v zl="$ZHL" -v nl="$NHL" -v hl="$HHL" \
    -v zr="$ZHRSS" -v nr="$NRSS" -v hr="$HHRSS" 'BEGIN {
    printf "  http: zlayer / nginx: req/s %.2fx (target >= 1.0), p99 %.2fx (<= 1.0), RSS %.2fx (< 1.0)\n",
        z / n, zl / nl, zr / nr
    printf "  http: zlayer / haproxy: req/s %.2fx (target >= 1.0), p99 %.2fx (<= 1.0), RSS %.2fx (< 1.0)\n",
        z / h, zl / hl, zr / hr }'
awk -v z="$ZSR" -v n="$NSR" -v h="$HSR" -v zl="$ZSL" -v nl="$NSL" -v hl="$HSL" \
    -v zr="$ZSRSS" -v nr="$NSRSS" -v hr="$HSRSS" 'BEGIN {
    printf "  https: zlayer / nginx: req/s %.2fx (target >= 1.0), p99 %.2fx (<= 1.0), RSS %.2fx (< 1.0)\n",
        z / n, zl / nl, zr / nr
    printf "  https: zlayer / haproxy: req/s %.2fx (target >= 1.0), p99 %.2fx (<= 1.0), RSS %.2fx (< 1.0)\n",
        z / h, zl / hl, zr / hr }'
awk -v z="$ZR" -v h="$HR" -v zl="$ZL" -v hl="$HL" -v zr="$ZRSS" -v hr="$HRSS" 'BEGIN {
    printf "  tcp: zlayer / haproxy: req/s %.2fx (target >= 1.0), p99 %.2fx (<= 1.0), RSS %.2fx (< 1.0)\n",
        z / h, zl / hl, zr / hr }'
