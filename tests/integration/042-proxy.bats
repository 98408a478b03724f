#!/usr/bin/env bats
# The node's proxy with real containers, L4 TCP: an endpoint's port on the host reaches the
# service's ready replicas in turn; a replica that refuses is skipped without the client
# noticing; `internal` listens on 127.0.0.1 only; listeners follow the deployments.

load helpers_runtime
load helpers_registry
load helpers_daemon

# web [NAME] [REPLICAS] [EXPOSE] [PORT]: httpd answering with the replica's hostname, behind a
# tcp endpoint; replica 1 of a service named "half" listens on nothing
web() {
    cat <<YAML
  ${1:-web}:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "mkdir -p /www && hostname >/www/index.html; [ \$(hostname) = half-1 ] && exec sleep 1000; exec httpd -f -p 80 -h /www"]}
    scale: {mode: fixed, replicas: ${2:-1}}
    stop_grace_period: 1s
    endpoints: [{name: raw, protocol: tcp, port: ${4:-18291}, target_port: 80, expose: ${3:-public}}]
YAML
    # the health check would keep half-1 out of the pool: one that passes lets the proxy
    # meet the refusal itself
    [ "${1:-web}" != half ] || printf '    health: {check: {type: command, command: "true"}}\n'
}

get() {
    timeout 5 busybox wget -qO- "http://$1/" 2>/dev/null
}

host_ip() {
    ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p'
}

@test "a tcp endpoint reaches every ready replica in turn, on every host address" {
    { printf 'version: v1\ndeployment: pxa\nservices:\n'; web web 2; } >a.zlayer.yml
    run timeout 120 "$ZLAYER" up -d a.zlayer.yml
    assert_success
    wait_for eval '[ -n "$(get 127.0.0.1:18291)" ]'
    local seen="" i
    for i in 1 2 3 4; do seen="$seen $(get 127.0.0.1:18291)"; done
    [[ "$seen" == *web-0* && "$seen" == *web-1* ]] || { echo "seen: $seen" >&2; false; }
    local h
    h=$(host_ip)
    [ -z "$h" ] || [[ "$(get "$h:18291")" == web-[01] ]]
    # a large body passes whole (bounded buffers, back-pressure)
    run timeout 20 "$ZLAYER" exec web -r 0 -- sh -c 'head -c 3000000 /dev/zero >/www/big'
    run timeout 20 "$ZLAYER" exec web -r 1 -- sh -c 'head -c 3000000 /dev/zero >/www/big'
    [ "$(timeout 20 busybox wget -qO- http://127.0.0.1:18291/big | wc -c)" -eq 3000000 ]
    # and to a slow reader, whose socket fills up: the proxy waits for it, nothing is lost
    run timeout 60 python3 -c '
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 262144)  # far less than the body
s.connect(("127.0.0.1", 18291))
s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
got = b""
while True:
    time.sleep(0.003)
    d = s.recv(16384)
    if not d:
        break
    got += d
print(len(got.split(b"\r\n\r\n", 1)[1]))'
    assert_output 3000000
    # the route's counters in the API
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/api/v1/proxy
    assert_success
    echo "$output" | jq -e '.[] | select(.name == "pxa/web/raw") | .port == 18291 and .protocol == "tcp"
        and .listening and .backends == 2 and .accepted >= 6 and .bytes_out > 3000000 and .failed == 0'
}

@test "a replica that refuses connections is skipped: no client sees an error" {
    { printf 'version: v1\ndeployment: pxb\nservices:\n'; web half 2 public 18292; } >b.zlayer.yml
    run timeout 120 "$ZLAYER" up -d b.zlayer.yml
    assert_success
    wait_for eval '[ -n "$(get 127.0.0.1:18292)" ]'
    local i out
    for i in $(seq 10); do
        out=$(get 127.0.0.1:18292)
        [ "$out" = half-0 ] || { echo "request $i: '$out'" >&2; false; }
    done
}

@test "internal endpoints listen on 127.0.0.1 only; listeners follow scale and down" {
    { printf 'version: v1\ndeployment: pxc\nservices:\n'; web web 1 internal 18293; } >c.zlayer.yml
    run timeout 120 "$ZLAYER" up -d c.zlayer.yml
    assert_success
    wait_for eval '[ "$(get 127.0.0.1:18293)" = web-0 ]'
    local h
    h=$(host_ip)
    if [ -n "$h" ]; then
        run get "$h:18293"
        assert_failure
    fi
    # no replica: connections are closed at once, the port stays
    run timeout 60 "$ZLAYER" scale web 0
    assert_success
    wait_for eval '! get 127.0.0.1:18293 >/dev/null'
    python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", 18293), 2); s.settimeout(5); assert s.recv(10) == b""'
    # an open connection does not hold the daemon at its end; down frees the port
    run timeout 60 "$ZLAYER" scale web 1
    wait_for eval '[ "$(get 127.0.0.1:18293)" = web-0 ]'
    run timeout 60 "$ZLAYER" down pxc
    assert_success
    wait_for eval '! python3 -c "import socket; socket.create_connection((\"127.0.0.1\", 18293), 1)" 2>/dev/null'
}

@test "the daemon stops with a client connection open through the proxy" {
    { printf 'version: v1\ndeployment: pxd\nservices:\n'; web web 1 public 18294; } >d.zlayer.yml
    run timeout 120 "$ZLAYER" up -d d.zlayer.yml
    assert_success
    wait_for eval '[ "$(get 127.0.0.1:18294)" = web-0 ]'
    python3 -c 'import socket, time; s = socket.create_connection(("127.0.0.1", 18294), 2); time.sleep(20)' &
    local client=$!
    sleep 0.5
    stop_daemon
    kill "$client" 2>/dev/null || true
    run timeout 30 "$ZLAYER" serve --daemon
    assert_success
}

@test "a port mapping may not take a tcp endpoint's port, nor the node's DNS" {
    { printf 'version: v1\ndeployment: pxe\nservices:\n'; web web 1 public 18295; } >e.zlayer.yml
    { printf 'version: v1\ndeployment: pxf\nservices:\n'
      cat <<YAML
  grab:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]}
    scale: {mode: fixed, replicas: 1}
    stop_grace_period: 1s
    port_mappings:
      - {container_port: 80, host_port: 18295}
YAML
    } >f.zlayer.yml
    run timeout 120 "$ZLAYER" up -d e.zlayer.yml
    assert_success
    run timeout 60 "$ZLAYER" up -d f.zlayer.yml
    assert_failure
    assert_output --partial "services.grab.port_mappings[0]: host port 18295/tcp is already published by deployment pxe, service web"
    # a mapping of port 53 does not take the node's DNS from the replicas
    sed -i 's/host_port: 18295}/host_port: 53, protocol: udp}/' f.zlayer.yml
    run timeout 120 "$ZLAYER" up -d f.zlayer.yml
    assert_success
    run timeout 20 "$ZLAYER" exec -d pxe web -- busybox nslookup web
    assert_output --partial "Address: $(
        "$ZLAYER" ps -c -f json | jq -r '.[] | select(.id == "pxe-web-0") | .network.ip')"
}

@test "a udp endpoint: a session per client, to one replica, answers from the address and port the client sent to" {
    { printf 'version: v1\ndeployment: pxu\nservices:\n'
      cat <<YAML
  echo:
    image: {name: "$IMG"}
    command: {args: ["/bin/testinit", "udpecho", "9000"]}
    scale: {mode: fixed, replicas: 2}
    stop_grace_period: 1s
    health: {check: {type: command, command: "true"}}
    endpoints:
      - {name: dgram, protocol: udp, port: 18296, target_port: 9000, expose: public, stream: {session_timeout: 2s}}
      - {name: told, protocol: udp, port: 18301, target_port: 9000, expose: public, stream: {proxy_protocol: true}}
YAML
    } >u.zlayer.yml
    run timeout 120 "$ZLAYER" up -d u.zlayer.yml
    assert_success
    run python3 - <<'PY'
import socket, time
def client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", 18296))  # answers from any other address are not taken
    s.settimeout(0.5)
    return s
def ask(s, msg):
    for _ in range(40):
        s.send(msg)
        try:
            return s.recv(100).decode()
        except (socket.timeout, ConnectionRefusedError):  # not listening yet
            time.sleep(0.2)
    return None
a, b = client(), client()
ra = [ask(a, b"x%d" % i) for i in range(3)]
rb = [ask(b, b"y%d" % i) for i in range(3)]
# a session sticks to its replica; the two clients went to different ones
ha, hb = {r.split()[0] for r in ra}, {r.split()[0] for r in rb}
print(ra[0], rb[0], len(ha), len(hb), ha != hb)
PY
    assert_output --regexp '^echo-[01] x0 echo-[01] y0 1 1 True$'
    # another of the node's addresses: the answer comes from it (a connected client takes
    # nothing else), and the PROXY v2 header names it as the destination
    run python3 - <<'PY'
import socket, struct, time
def ask(port, msg):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.2", port))
    s.settimeout(0.5)
    for _ in range(40):
        s.send(msg)
        try:
            return s.getsockname()[1], s.recv(200)
        except (socket.timeout, ConnectionRefusedError):
            time.sleep(0.2)
    return s.getsockname()[1], b""
_, r = ask(18296, b"plain")
print(r.split(b" ", 1)[1].decode())
sport, r = ask(18301, b"told")
h = r.split(b" ", 1)[1]
sig, vc, fam, n = h[:12], h[12], h[13], struct.unpack("!H", h[14:16])[0]
src, dst, sp, dp = h[16:20], h[20:24], *struct.unpack("!HH", h[24:28])
print(sig == b"\r\n\r\n\x00\r\nQUIT\n", hex(vc), hex(fam), n, socket.inet_ntoa(src),
      socket.inet_ntoa(dst), sp == sport, dp, h[16 + n:].decode())
PY
    assert_success
    assert_line --index 0 "plain"
    assert_line --index 1 "True 0x21 0x12 12 127.0.0.1 127.0.0.2 True 18301 told"
    # made internal: the new listener on 127.0.0.1 takes the port the public one leaves
    sed -i 's/port: 18296, target_port: 9000, expose: public/port: 18296, target_port: 9000, expose: internal/' u.zlayer.yml
    run timeout 120 "$ZLAYER" up -d u.zlayer.yml
    assert_success
    run python3 - <<'PY'
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", 18296))
s.settimeout(0.5)
for _ in range(60):
    s.send(b"again")
    try:
        print(s.recv(100).decode().split()[1])
        break
    except (socket.timeout, ConnectionRefusedError):
        time.sleep(0.2)
PY
    assert_output "again"
}

@test "proxy_protocol: the backend is told the client's address before its first byte" {
    { printf 'version: v1\ndeployment: pxp\nservices:\n'
      cat <<YAML
  sink:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "while true; do nc -l -p 80 >>/tmp/got; done"]}
    scale: {mode: fixed, replicas: 1}
    stop_grace_period: 1s
    health: {check: {type: command, command: "true"}}
    endpoints:
      - {name: raw, protocol: tcp, port: 18297, target_port: 80, expose: public, stream: {proxy_protocol: true}}
YAML
    } >p.zlayer.yml
    run timeout 120 "$ZLAYER" up -d p.zlayer.yml
    assert_success
    # send until the listener in the replica is up (a connection before that is closed)
    send() {
        python3 -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 18297), 2)
print(s.getsockname()[1])
s.sendall(b"hello through the proxy\n")
time.sleep(0.3)
s.close()' >"$BATS_TEST_TMPDIR/sport" 2>/dev/null &&
            timeout 10 "$ZLAYER" exec sink -- cat /tmp/got 2>/dev/null | grep -q "hello through"
    }
    wait_for send
    run timeout 10 "$ZLAYER" exec sink -- cat /tmp/got
    assert_output --partial "$(printf 'PROXY TCP4 127.0.0.1 127.0.0.1 %s 18297\r\nhello through the proxy' "$(cat "$BATS_TEST_TMPDIR/sport")")"
}

@test "L4 health checks: a backend failing tcp_connect or udp_probe is left out before any client meets it" {
    { printf 'version: v1\ndeployment: pxh\nservices:\n'
      cat <<YAML
  half:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "mkdir -p /www && hostname >/www/index.html; [ \$(hostname) = half-1 ] && exec sleep 1000; exec httpd -f -p 80 -h /www"]}
    scale: {mode: fixed, replicas: 2}
    stop_grace_period: 1s
    health: {check: {type: command, command: "true"}}
    endpoints:
      - {name: raw, protocol: tcp, port: 18298, target_port: 80, expose: public, stream: {health_check: {type: tcp_connect}}}
  pecho:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "[ \$(hostname) = pecho-1 ] && exec sleep 1000; exec /bin/testinit udpecho 9000"]}
    scale: {mode: fixed, replicas: 2}
    stop_grace_period: 1s
    health: {check: {type: command, command: "true"}}
    endpoints:
      - name: dgram
        protocol: udp
        port: 18299
        target_port: 9000
        stream: {health_check: {type: udp_probe, request: "\\\\x70ing", expect: "pecho-0 ping$"}}
YAML
    } >h.zlayer.yml
    run timeout 120 "$ZLAYER" up -d h.zlayer.yml
    assert_success
    routes() { curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/api/v1/proxy; }
    # no client yet: the checks alone find the dead replica of each
    wait_for eval 'routes | jq -e ".[] | select(.name == \"pxh/half/raw\") | .backends == 2 and .down == 1" >/dev/null'
    wait_for eval 'routes | jq -e ".[] | select(.name == \"pxh/pecho/dgram\") | .backends == 2 and .down == 1" >/dev/null'
    # clients only ever meet the live one, and nothing had to be ejected on their account
    local i
    for i in $(seq 6); do [ "$(get 127.0.0.1:18298)" = half-0 ]; done
    routes | jq -e '.[] | select(.name == "pxh/half/raw") | .ejected == 0 and .failed == 0'
}
