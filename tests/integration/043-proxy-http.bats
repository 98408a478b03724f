#!/usr/bin/env bats
# The node's proxy with real containers, L7 HTTP/1.1: routing by host and path on one shared
# port, kept-alive backend connections, headers for the backend, streamed bodies both ways,
# WebSocket, a refusing replica skipped, hostile requests refused while others are served.
# The backends run `testinit httpecho` (tests/helpers/httpecho.inc.c).

load helpers_runtime
load helpers_registry
load helpers_daemon

# svc NAME REPLICAS ENDPOINT-EXTRA: an httpecho service behind an http endpoint on port 18380
svc() {
    cat <<YAML
  $1:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "[ \$(hostname) = half-1 ] && exec sleep 1000; exec /bin/testinit httpecho 80"]}
    scale: {mode: fixed, replicas: $2}
    stop_grace_period: 1s
    health: {check: {type: command, command: "true"}}
    endpoints: [{name: web, protocol: http, port: 18380, target_port: 80, expose: public$3}]
YAML
}

# who HOST PATH: the replica that answered
who() {
    curl -s -m 5 -H "Host: $1" "http://127.0.0.1:18380$2" | cut -d' ' -f1
}

@test "one port, routed by host and path: exact host, then wildcard, then longest path" {
    { printf 'version: v1\ndeployment: hta\nservices:\n'
      svc site 1 ""
      svc api 1 ", path: /api"
      svc admin 1 ", host: admin.example.com"
      svc wild 1 ", host: \"*.example.org\""
    } >a.zlayer.yml
    run timeout 120 "$ZLAYER" up -d a.zlayer.yml
    assert_success
    wait_for eval '[ "$(who x.test /)" = site-0 ] && [ "$(who x.test /api)" = api-0 ] &&
        [ "$(who a.example.org /)" = wild-0 ] && [ "$(who admin.example.com /)" = admin-0 ]'
    [ "$(who x.test /api/v1/users?q=1)" = api-0 ]
    [ "$(who x.test /apiary)" = site-0 ]
    [ "$(who ADMIN.example.com:18380 /api)" = admin-0 ]
    [ "$(who deep.a.example.org /api)" = wild-0 ]
    [ "$(who example.org /)" = site-0 ]
    # the route's counters in the API: requests by status class, latency
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/api/v1/proxy
    echo "$output" | jq -e '.[] | select(.name == "hta/api/web") | .protocol == "http"
        and .path == "/api" and .status["2xx"] >= 2 and (.latency | map(.count) | add) >= 2' ||
        { echo "$output" >&2; false; }
    # the same route again, in another deployment: refused, naming the field
    { printf 'version: v1\ndeployment: htb\nservices:\n'; svc other 1 ", path: /api/"; } >b.zlayer.yml
    run timeout 60 "$ZLAYER" up -d b.zlayer.yml
    assert_failure
    assert_output --partial "services.other.endpoints[0]: port 18380 (http, host any, path /api/) is already published by deployment hta, service api"
    # within one spec too; another path is fine
    { printf 'version: v1\ndeployment: htc\nservices:\n'; svc one 1 ", path: /x"; svc two 1 ", path: /x"; } >c.zlayer.yml
    run timeout 60 "$ZLAYER" up -d c.zlayer.yml
    assert_failure
    assert_output --partial "is also published by service"
    sed -i '0,/path: \/x/s//path: \/y/' c.zlayer.yml
    run timeout 120 "$ZLAYER" up -d c.zlayer.yml
    assert_success
    wait_for eval '[ "$(who x.test /y/1)" = one-0 ] && [ "$(who x.test /x)" = two-0 ]'
    # no route for a host when every route names one
    run timeout 60 "$ZLAYER" down hta
    run timeout 60 "$ZLAYER" down htc
    { printf 'version: v1\ndeployment: htd\nservices:\n'; svc only 1 ", host: only.test"; } >d.zlayer.yml
    run timeout 120 "$ZLAYER" up -d d.zlayer.yml
    assert_success
    wait_for eval '[ "$(who only.test /)" = only-0 ]'
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: else.test' http://127.0.0.1:18380/)" = 404 ]
}

@test "backend connections are kept: many clients, few connections; headers for the backend" {
    { printf 'version: v1\ndeployment: hte\nservices:\n'; svc web 1 ""; } >e.zlayer.yml
    run timeout 120 "$ZLAYER" up -d e.zlayer.yml
    assert_success
    wait_for eval '[ "$(who x /)" = web-0 ]'
    local i out
    for i in $(seq 30); do out=$(curl -s -m 5 http://127.0.0.1:18380/n); done
    # 30 client connections, one after the other: the backend saw at most two
    [[ "$out" =~ conn=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -le 2 ] || { echo "$out" >&2; false; }
    # and one client connection carries many requests (pipelined too)
    run python3 - <<'PY'
import socket
s = socket.create_connection(("127.0.0.1", 18380), 5)
s.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5)))
got = b""
while got.count(b"req=") < 5:
    d = s.recv(65536)
    if not d:
        break
    got += d
print(got.count(b"HTTP/1.1 200"), [l.split()[2] for l in got.split(b"\n") if l.startswith(b"web-0")])
PY
    assert_output "5 [b'/p0', b'/p1', b'/p2', b'/p3', b'/p4']"
    # what the backend gets: forwarding headers, no hop-by-hop ones
    out=$(curl -s -H 'Connection: keep-alive, X-Secret' -H 'X-Secret: 1' -H 'Keep-Alive: 5' \
        -H 'X-Forwarded-For: 6.6.6.6' -H 'Host: app.test' http://127.0.0.1:18380/headers)
    echo "$out" | grep -q '^X-Forwarded-For: 6.6.6.6, 127.0.0.1' # loopback: a proxy of ours
    echo "$out" | grep -q '^X-Forwarded-Proto: http'
    echo "$out" | grep -q '^X-Forwarded-Host: app.test'
    echo "$out" | grep -q '^Via: 1.1 zlayer'
    ! echo "$out" | grep -qi '^x-secret\|^keep-alive\|^connection'
    # a request from another address: its own X-Forwarded-For is not believed
    local h
    h=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
    if [ -n "$h" ]; then
        out=$(curl -s -H 'X-Forwarded-For: 6.6.6.6' "http://$h:18380/headers")
        echo "$out" | grep -q "^X-Forwarded-For: $h"
    fi
    # the access log has a line per request
    sleep 1.5
    grep -c '"GET /n" 200 ' "$ZLAYER_ROOT_DIR/proxy-access.log" | grep -qx 30
}

@test "large bodies stream both ways with the proxy's memory bounded" {
    { printf 'version: v1\ndeployment: htf\nservices:\n'; svc web 1 ""; } >f.zlayer.yml
    run timeout 120 "$ZLAYER" up -d f.zlayer.yml
    assert_success
    wait_for eval '[ "$(who x /)" = web-0 ]'
    local pid before after
    pid=$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")
    before=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    # 100 MB up (chunked and with a length) and down (with a length and chunked)
    run bash -c 'head -c 100000000 /dev/zero | curl -s -m 120 -H "Transfer-Encoding: chunked" --data-binary @- http://127.0.0.1:18380/upload'
    assert_output "100000000 0"
    run bash -c 'head -c 100000000 /dev/zero | tr "\0" a | curl -s -m 120 -H "Content-Type: x" -T - -X POST -H "Content-Length: 100000000" -H "Transfer-Encoding:" http://127.0.0.1:18380/upload'
    assert_output "100000000 $(( (100000000 * 97) % 4294967296 ))"
    [ "$(curl -s -m 120 'http://127.0.0.1:18380/big?n=100000000' | wc -c)" -eq 100000000 ]
    [ "$(curl -s -m 120 'http://127.0.0.1:18380/chunked?n=100000000' | wc -c)" -eq 100000000 ]
    # a body read until the backend closes: chunked to an HTTP/1.1 client
    run curl -s -i http://127.0.0.1:18380/close
    assert_output --partial "Transfer-Encoding: chunked"
    assert_output --partial "bye"
    after=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    # (generous: the sanitizers' allocator keeps freed memory for a while)
    [ $((after - before)) -lt 64000 ] || { echo "RSS grew from $before to $after KiB" >&2; false; }
}

@test "WebSocket: the upgrade passes and frames are tunnelled both ways" {
    { printf 'version: v1\ndeployment: htg\nservices:\n'; svc ws 1 ""; } >g.zlayer.yml
    sed -i 's/protocol: http,/protocol: websocket,/' g.zlayer.yml
    run timeout 120 "$ZLAYER" up -d g.zlayer.yml
    assert_success
    wait_for eval '[ "$(who x /)" = ws-0 ]'
    run timeout 30 /usr/bin/python3 - <<'PY'
import asyncio, websockets
async def main():
    async with websockets.connect("ws://127.0.0.1:18380/ws") as ws:
        out = []
        for m in ["hello", "x" * 100000]:
            await ws.send(m)
            out.append(await ws.recv())
        await ws.send(b"\x00\x01bin")
        out.append(await ws.recv())
        print(out[0], len(out[1]), out[2])
asyncio.run(main())
PY
    assert_success
    assert_output "ws-0: hello 100006 b'\x00\x01bin'"
}

@test "a replica that refuses is skipped; no backend is 503; a dead route's port is freed" {
    { printf 'version: v1\ndeployment: hth\nservices:\n'; svc half 2 ""; } >h.zlayer.yml
    run timeout 120 "$ZLAYER" up -d h.zlayer.yml
    assert_success
    wait_for eval '[ "$(who x /)" = half-0 ]'
    local i code
    for i in $(seq 10); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -d 'body' http://127.0.0.1:18380/post)
        [ "$code" = 200 ] || { echo "request $i: $code" >&2; false; }
    done
    run timeout 60 "$ZLAYER" scale half 0
    wait_for eval '[ "$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:18380/)" = 503 ]'
    run timeout 60 "$ZLAYER" down hth
    wait_for eval '! curl -s -m 1 http://127.0.0.1:18380/ >/dev/null'
}

@test "hostile requests are refused or timed out, and others are still served" {
    { printf 'version: v1\ndeployment: hti\nservices:\n'; svc web 1 ""; } >i.zlayer.yml
    run timeout 120 "$ZLAYER" up -d i.zlayer.yml
    assert_success
    wait_for eval '[ "$(who x /)" = web-0 ]'
    run timeout 60 python3 - <<'PY'
import socket, threading, time
def send(raw, wait=3.0):
    s = socket.create_connection(("127.0.0.1", 18380), 5)
    s.settimeout(wait)
    s.sendall(raw)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        out += b"<open>"
    s.close()
    return out.split(b"\r\n")[0].decode()
# a slow client and a silent one, at the same time as everything else
slow = {}
def slowloris():
    s = socket.create_connection(("127.0.0.1", 18380), 5)
    t = time.time()
    got = b""
    for part in [b"GET / HTTP/1.1\r\n", b"Host: x\r\n"] + [b"X-A: 1\r\n"] * 8:
        try:
            s.sendall(part)
        except OSError:
            break
        s.settimeout(3)
        try:
            got = s.recv(100)
            break
        except socket.timeout:
            continue
    slow["first"] = got.split(b"\r\n")[0].decode()
    slow["secs"] = round(time.time() - t)
th = threading.Thread(target=slowloris)
th.start()
silent = socket.create_connection(("127.0.0.1", 18380), 5)
h = b"Host: x\r\n"
cases = [
    b"POST / HTTP/1.1\r\n" + h + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\n" + h + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"GET / HTTP/1.1\r\n" + h + b"X-A: a\r\n b\r\n\r\n",
    b"POST / HTTP/1.1\r\n" + h + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\n" + h + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + h + b"X-Big: " + b"a" * 40000 + b"\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + h + b"\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
]
for c in cases:
    print(send(c))
# the proxy still serves
print(send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
th.join()
print(slow["first"], 9 <= slow["secs"] <= 12)
silent.settimeout(15)
print(repr(silent.recv(100)))
PY
    assert_success
    assert_output "HTTP/1.1 400 Bad Request
HTTP/1.1 400 Bad Request
HTTP/1.1 400 Bad Request
HTTP/1.1 400 Bad Request
HTTP/1.1 501 Not Implemented
HTTP/1.1 400 Bad Request
HTTP/1.1 431 Request Header Fields Too Large
HTTP/1.1 414 URI Too Long
HTTP/1.1 400 Bad Request
HTTP/1.1 400 Bad Request
HTTP/1.1 200 OK
HTTP/1.1 408 Request Timeout True
b''"
    # each is in the access log; those refused at their head reached no backend (a bad chunk
    # is found after the head went, and ends that backend connection)
    sleep 1.5
    [ "$(grep -c '" 4[0-9][0-9] [0-9]* [0-9.]* - -$' "$ZLAYER_ROOT_DIR/proxy-access.log")" -ge 9 ]
}

@test "a scale-down and a rolling update under load lose no request" {
    command -v wrk >/dev/null || skip "wrk is missing"
    { printf 'version: v1\ndeployment: htz\nservices:\n'; svc web 3 ""
      printf '    env: {REV: "1"}\n'; } >z.zlayer.yml
    run timeout 120 "$ZLAYER" up -d z.zlayer.yml
    assert_success
    wait_for eval '[ "$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:18380/)" = 200 ]'
    # bounded load: 4 connections for 20 s, while the service shrinks and then rolls
    nice -n 10 wrk -t1 -c4 -d20s --timeout 5s http://127.0.0.1:18380/ >wrk.out 2>&1 &
    local load=$!
    sleep 3
    run timeout 60 "$ZLAYER" scale web 1
    assert_success
    sleep 2
    sed -i 's/REV: "1"/REV: "2"/' z.zlayer.yml
    run timeout 120 "$ZLAYER" deploy --wait z.zlayer.yml
    assert_success
    wait "$load"
    cat wrk.out >&2
    grep -q 'requests in' wrk.out
    ! grep -q 'Non-2xx\|Socket errors' wrk.out
    "$ZLAYER" ps -c -f json | jq -e '[.[] | select(.service == "web")] | length == 1 and all(.revision == 2)'
}

@test "externals: the proxy routes to static backends outside zlayer" {
    "$ROOTFS/bin/testinit" httpecho 18389 &
    local ext=$!
    { printf 'version: v1\ndeployment: htx\nservices:\n'; svc web 1 ""
      cat <<YAML
externals:
  media:
    backends: ["127.0.0.1:18389", "not-an-address"]
    endpoints: [{name: web, protocol: http, port: 18380, path: /media, expose: public}]
YAML
    } >x.zlayer.yml
    run timeout 120 "$ZLAYER" up -d x.zlayer.yml
    assert_success
    wait_for eval '[ "$(who x /)" = web-0 ]'
    wait_for eval '[ "$(who x /media/a)" = "$(hostname)" ]'
    run curl -s http://127.0.0.1:18380/media/a?b=1
    assert_output --regexp " GET /media/a\?b=1 conn=[0-9]+ req=[0-9]+$"
    # another deployment's external on the same route: refused
    { printf 'version: v1\ndeployment: hty\nexternals:\n'
      printf '  copy:\n    backends: ["127.0.0.1:18389"]\n'
      printf '    endpoints: [{name: web, protocol: http, port: 18380, path: /media/, expose: public}]\n'
    } >y.zlayer.yml
    run timeout 60 "$ZLAYER" up -d y.zlayer.yml
    assert_failure
    assert_output --partial "externals.copy.endpoints[0]: port 18380 (http, host any, path /media/) is already published by deployment htx, external media"
    kill "$ext"
    wait "$ext" 2>/dev/null || true
    # its backend gone: 502 (no other), and the service's routes are untouched
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18380/media/a)" = 502 ]
    # the route's backends in the API
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/api/v1/proxy
    echo "$output" | jq -e '.[] | select(.name == "htx/media/web") | .backend_list ==
        [{"address": "127.0.0.1", "port": 18389, "active": 0, "ejected": true, "down": false}]'
    [ "$(who x /)" = web-0 ]
}

@test "externals: a backend failing its health check is left out until it passes again" {
    # two backends outside zlayer on loopback, told apart by their host names (a UTS
    # namespace each); killed by the teardown whatever happens here
    local b
    ext_backend() {
        unshare -u sh -c 'hostname "$1"; exec "$0" httpecho "$2"' "$ROOTFS/bin/testinit" "$1" "$2" &
        echo $! >>"$BATS_TEST_TMPDIR/bg.pids"
    }
    ext_backend ext-a 18386
    ext_backend ext-b 18387
    b=$(tail -1 "$BATS_TEST_TMPDIR/bg.pids")
    cat >h.zlayer.yml <<'YAML'
version: v1
deployment: hth
externals:
  nas:
    backends: ["127.0.0.1:18386", "127.0.0.1:18387"]
    endpoints: [{name: web, protocol: http, port: 18380, path: /nas, expose: public}]
    health: {start_grace: 0s, interval: 1s, timeout: 1s, retries: 1, check: {type: http, url: "http://localhost/nas/health"}}
YAML
    run timeout 120 "$ZLAYER" up -d h.zlayer.yml
    assert_success
    # answered by: which backends took four requests in a row
    both() { for i in 1 2 3 4; do who x /nas/$i; done | sort -u | tr '\n' ' '; }
    wait_for eval '[ "$(both)" = "ext-a ext-b " ]'
    backend() {
        curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/api/v1/proxy |
            jq -e ".[] | select(.name == \"hth/nas/web\") | .backend_list[] | select(.port == $1) | $2"
    }
    backend 18387 '.down == false'
    # one goes: once its check says so (retries 1, every 1 s; 10 s at most) it is down in the
    # API and every request goes to the other
    kill "$b"
    for i in $(seq 40); do backend 18387 '.down' >/dev/null && break; sleep 0.25; done
    backend 18387 '.down'
    backend 18386 '.down == false'
    for i in $(seq 20); do
        [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:18380/nas/$i)" = 200 ]
        [ "$(who x /nas/$i)" = ext-a ]
    done
    grep -q '"msg":"external hth/nas: backend 127.0.0.1:18387 is unhealthy: left out of its routes' \
        "$ZLAYER_RUNTIME_DIR/daemon.log"
    # back: routed again once a check passes (10 s at most)
    ext_backend ext-b 18387
    for i in $(seq 40); do backend 18387 '.down == false' >/dev/null && break; sleep 0.25; done
    backend 18387 '.down == false'
    wait_for eval '[ "$(both)" = "ext-a ext-b " ]'
    grep -q '"msg":"external hth/nas: backend 127.0.0.1:18387 is healthy again: routed' \
        "$ZLAYER_RUNTIME_DIR/daemon.log"
}
