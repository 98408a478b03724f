#!/usr/bin/env bash
# bench/dns.sh [ZLAYER]: how many service-name queries a second the service DNS server
# answers (tests/helpers/dns_serve, built beside ZLAYER by meson), against dnsmasq answering
# the same names from a hosts file: the same query loop (bench/dnsflood.c: UDP, N queries
# outstanding, SECS seconds each), the same NAMES (services with 3 replicas, and single
# replicas), one after the other on loopback; then, as root, `zlayer serve` itself answering
# the same names for a deployment of those services (real containers), on its bridge
# address. Needs dnsmasq (dnsmasq-base). Target: >= 1.0x.
set -euo pipefail
ZLAYER=$(realpath "${1:-./build/zlayer}")
SERVE=$(dirname "$ZLAYER")/tests/dns_serve
SECS=${SECS:-5}
N=${N:-64}
SERVICES=${SERVICES:-20}
HERE=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$SERVE" ] || { echo "bench/dns.sh: no $SERVE (ninja -C $(dirname "$ZLAYER"))" >&2; exit 1; }
command -v dnsmasq >/dev/null || { echo "bench/dns.sh: needs dnsmasq (dnsmasq-base)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/zl-bench-dns-XXXXXX)
ZL_IP=127.0.55.1
DM_IP=127.0.55.2
PORT=5300
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cc -O2 -o "$WORK/dnsflood" "$HERE/bench/dnsflood.c"

# the same names and addresses for both servers
NAMES=()
for ((s = 0; s < SERVICES; s++)); do
    for ((r = 0; r < 3; r++)); do
        ip=10.77.$s.$((r + 2))
        echo "bench s$s $r $ip 1" >>"$WORK/zone"
        printf '%s s%d.bench.service.local\n%s %d.s%d.bench.service.local\n' "$ip" "$s" "$ip" "$r" "$s" >>"$WORK/hosts"
    done
    NAMES+=("s$s.bench.service.local" "0.s$s.bench.service.local")
done
# no upstream is asked: a dead one is enough
printf 'nameserver 127.0.55.3\n' >"$WORK/resolv.conf"

"$SERVE" --resolv-conf "$WORK/resolv.conf" "$ZL_IP:$PORT" "$WORK/zone" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
dnsmasq --no-daemon --conf-file=/dev/null --user=root --pid-file= --port=$PORT \
    --listen-address=$DM_IP --bind-interfaces --no-resolv --no-hosts \
    --addn-hosts="$WORK/hosts" --local=/service.local/ --local-ttl=5 >"$WORK/dnsmasq.log" 2>&1 &
PIDS+=($!)

# both up, and giving the same answers
for ip in $ZL_IP $DM_IP; do
    for ((i = 0; i < 50; i++)); do
        dig +tries=1 +time=1 +short @"$ip" -p $PORT "${NAMES[0]}" 2>/dev/null | grep -q . && break
        sleep 0.1
    done
done
for name in "${NAMES[0]}" "${NAMES[1]}"; do
    a=$(dig +tries=1 +time=2 +short @$ZL_IP -p $PORT "$name" | sort | tr '\n' ' ')
    b=$(dig +tries=1 +time=2 +short @$DM_IP -p $PORT "$name" | sort | tr '\n' ' ')
    [ "$a" = "$b" ] || { echo "bench/dns.sh: $name: zlayer says '$a', dnsmasq '$b'" >&2; exit 1; }
done

# cpu PID: the process's CPU time in clock ticks
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

run() { # run IP PID [PORT]: QPS ANSWERED EMPTY LOST CPU%
    local c0 c1 out
    c0=$(cpu "$2")
    out=$("$WORK/dnsflood" "$1" "${3:-$PORT}" "$SECS" "$N" "${NAMES[@]}")
    c1=$(cpu "$2")
    echo "$out $(awk -v t=$((c1 - c0)) -v hz="$HZ" -v s="$SECS" 'BEGIN {printf "%.1f", 100 * t / hz / s}')"
}

read -r ZQ ZA ZE ZL ZC < <(run $ZL_IP "${PIDS[0]}")
read -r DQ DA DE DL DC < <(run $DM_IP "${PIDS[1]}")

# the same names from the daemon itself: a deployment of the same services, each replica a
# real container (as root; DAEMON=0 leaves it out)
QQ=""
if [ "$(id -u)" -eq 0 ] && [ "${DAEMON:-1}" = 1 ]; then
    export ZLAYER_ROOT_DIR=$WORK/root ZLAYER_RUNTIME_DIR=$WORK/run ZLAYER_BRIDGE=zlbdns0
    export ZLAYER_SUBNET=10.235.0.0/24 ZLAYER_DNS_UPSTREAM=127.0.55.3
    GW=10.235.0.1
    "$HERE/examples/make-image.sh" "$WORK/img.tar" localhost/bench/busybox:1 >/dev/null
    "$ZLAYER" serve --daemon
    DPID=$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")
    stop_daemon() {
        "$ZLAYER" down bench >/dev/null 2>&1 || true
        kill "$DPID" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do [ -d "/proc/$DPID" ] || break; sleep 0.1; done
    }
    trap 'stop_daemon; cleanup' EXIT
    "$ZLAYER" import "$WORK/img.tar" >/dev/null
    { printf 'version: v1\ndeployment: bench\nservices:\n'
      for ((s = 0; s < SERVICES; s++)); do
          printf '  s%d:\n    image: {name: localhost/bench/busybox:1, pull_policy: never}\n' "$s"
          printf '    command: {args: ["sleep", "100000"]}\n    scale: {mode: fixed, replicas: 3}\n'
          printf '    stop_grace_period: 1s\n'
      done; } >"$WORK/bench.zlayer.yml"
    "$ZLAYER" -q up -d "$WORK/bench.zlayer.yml" >/dev/null 2>&1
    for ((i = 0; i < 100; i++)); do
        [ "$(dig +tries=1 +time=1 +short @$GW "s$((SERVICES - 1)).bench.service.local" | wc -l)" -eq 3 ] && break
        sleep 0.2
    done
    read -r QQ QA QE QL QC < <(run $GW "$DPID" 53)
    stop_daemon
fi

echo "service DNS: A queries over UDP, ${#NAMES[@]} names ($SERVICES services of 3 replicas and one replica each), $N outstanding, ${SECS} s each"
printf '  zlayer dns_serve: %8d q/s  (%d answered, %d empty, %d lost; server CPU %s%%)\n' "$ZQ" "$ZA" "$ZE" "$ZL" "$ZC"
printf '  dnsmasq %-8s: %8d q/s  (%d answered, %d empty, %d lost; server CPU %s%%)\n' "$(dnsmasq --version | awk 'NR == 1 {print $3}')" "$DQ" "$DA" "$DE" "$DL" "$DC"
[ -n "$QQ" ] && printf '  zlayer serve:     %8d q/s  (%d answered, %d empty, %d lost; daemon CPU %s%%; %d containers)\n' "$QQ" "$QA" "$QE" "$QL" "$QC" $((SERVICES * 3))
# server CPU per answer: what each costs, whoever of the three processes is the bottleneck
awk -v zq="$ZQ" -v zc="$ZC" -v dq="$DQ" -v dc="$DC" 'BEGIN {
    if (zq > 0 && dq > 0)
        printf "  server CPU per query:  zlayer %.2f us, dnsmasq %.2f us\n", 1e4 * zc / zq, 1e4 * dc / dq }'
awk -v z="$ZQ" -v d="$DQ" 'BEGIN {
    if (d > 0)
        printf "  ratio zlayer/dnsmasq:  %.2fx (target >= 1.0x: %s)\n", z / d, (z >= d ? "met" : "NOT met") }'
[ -n "$QQ" ] && awk -v z="$QQ" -v d="$DQ" 'BEGIN {
    if (d > 0)
        printf "  ratio daemon/dnsmasq:  %.2fx (target >= 1.0x: %s)\n", z / d, (z >= d ? "met" : "NOT met") }'
true
