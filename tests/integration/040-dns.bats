#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The service DNS server (tests/helpers/dns_serve.c over net/dns_server.c) on loopback, asked
# with dig over UDP and TCP, forwarding to a dnsmasq on another loopback address. A replica's
# address is a loopback address too, so dig -b it asks as that container.

# shellcheck disable=SC2154 # $output and $status are set by bats run
bats_require_minimum_version 1.5.0
if [[ -z ${BATS_LIB_PATH:-} ]]; then
    BATS_LIB_PATH=/usr/lib/bats
fi
bats_load_library bats-support
bats_load_library bats-assert

SERVE=${ZL_DNS_SERVE:?set ZL_DNS_SERVE to the dns_serve test program}
DNS_IP=127.0.53.1
UP_IP=127.0.53.2
PORT=5300
APP_IP=127.0.53.9   # db-0 of deployment app
OTHER_IP=127.0.54.9 # web-0 of deployment other

# ---- fixtures ----

write_zone() {
    cat >"$BATS_TEST_TMPDIR/zone" <<EOF
# deployment service index ip healthy
app web 0 10.0.0.2 1
app web 1 10.0.0.3 1
app web 2 10.0.0.4 0
app db 0 $APP_IP 1
app worker 0 10.0.0.6 0
other web 0 $OTHER_IP 1
other cache 0 10.0.1.3 1
endpoint app web http tcp 8080
EOF
    local i
    for ((i = 0; i < 40; i++)); do
        echo "app big $i 10.0.2.$((i + 1)) 1" >>"$BATS_TEST_TMPDIR/zone"
    done
}

start_upstream() {
    printf '192.0.2.7 outside.test\n192.0.2.8 other.test\n' >"$BATS_TEST_TMPDIR/hosts"
    dnsmasq --no-daemon --conf-file=/dev/null --user=root --pid-file= --port=$PORT \
        --listen-address=$UP_IP --bind-interfaces --no-resolv --no-hosts \
        --addn-hosts="$BATS_TEST_TMPDIR/hosts" --local=/test/ --local-ttl=60 \
        >"$BATS_TEST_TMPDIR/dnsmasq.log" 2>&1 3>&- &
    echo $! >"$BATS_TEST_TMPDIR/dnsmasq.pid"
    wait_dns $UP_IP outside.test
}

start_server() {
    "$SERVE" --upstream "$UP_IP:$PORT" "$DNS_IP:$PORT" "$BATS_TEST_TMPDIR/zone" \
        >"$BATS_TEST_TMPDIR/serve.log" 2>&1 3>&- &
    echo $! >"$BATS_TEST_TMPDIR/serve.pid"
    wait_dns $DNS_IP web.app.service.local
}

# wait_dns IP NAME: until the server at IP answers NAME (at most 10 s).
wait_dns() {
    local i
    for ((i = 0; i < 50; i++)); do
        if dig +tries=1 +time=1 +short @"$1" -p $PORT "$2" 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.2
    done
    echo "no DNS answer from $1 for $2" >&2
    return 1
}

# stop PIDFILE: SIGTERM, then wait for the process to end (at most 10 s); fails if it does
# not end in time or ends with an error (a leak report under ASan is one).
stop() {
    local f=$BATS_TEST_TMPDIR/$1.pid pid i rc=0
    [[ -f $f ]] || return 0
    pid=$(cat "$f")
    rm -f "$f"
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        echo "$1 did not stop" >&2
        return 1
    fi
    wait "$pid" 2>/dev/null || rc=$?
    # dnsmasq may end by the signal (143); the server must end cleanly
    if [[ $1 == serve && $rc -ne 0 ]]; then
        echo "dns_serve ended with $rc:" >&2
        cat "$BATS_TEST_TMPDIR/serve.log" >&2
        return 1
    fi
}

setup() {
    write_zone
    start_upstream
    start_server
}

teardown() {
    local rc=0
    stop serve || rc=1
    stop dnsmasq || rc=1
    return $rc
}

# ask [DIG ARGS...]: dig at the server under test, one try, sets $output and $status.
ask() {
    run dig +tries=1 +time=3 @"$DNS_IP" -p $PORT "$@"
}

# The sorted lines of the answer section (+short).
short() {
    ask +short "$@"
    assert_success
    output=$(sort <<<"$output")
}

# ---- tests ----

@test "dns: service, replica and SRV names from a container, over UDP and TCP" {
    for proto in +notcp +tcp; do
        short "$proto" -b $APP_IP web.service.local
        assert_output $'10.0.0.2\n10.0.0.3'
        short "$proto" -b $APP_IP web-1.web.service.local
        assert_output 10.0.0.3
        short "$proto" -b $APP_IP WEB.Service.Local.
        assert_output $'10.0.0.2\n10.0.0.3'
        short "$proto" -b $APP_IP _http._tcp.web.service.local SRV
        assert_output $'0 10 8080 0.web.service.local.\n0 10 8080 1.web.service.local.'
    done
    ask -b $APP_IP web.service.local
    assert_output --partial 'flags: qr aa rd ra'
    assert_output --partial 'status: NOERROR'
    assert_output --regexp 'web\.service\.local\.[[:space:]]+5[[:space:]]+IN[[:space:]]+A'
    # the SRV targets' addresses come along
    ask -b $APP_IP _http._tcp.web.service.local SRV
    assert_output --regexp $'ADDITIONAL SECTION:\n0\\.web\\.service\\.local\\.[[:space:]]+5[[:space:]]+IN[[:space:]]+A[[:space:]]+10\\.0\\.0\\.2'
}

@test "dns: answers rotate between queries" {
    ask +short -b $APP_IP web.service.local
    local first=${lines[0]}
    ask +short -b $APP_IP web.service.local
    assert_equal "${lines[0]}" "$([[ $first == 10.0.0.2 ]] && echo 10.0.0.3 || echo 10.0.0.2)"
}

@test "dns: each deployment sees its own services; the host sees them all by deployment" {
    short -b $OTHER_IP web.service.local
    assert_output $OTHER_IP
    short -b $APP_IP web.app.service.local
    assert_output $'10.0.0.2\n10.0.0.3'
    ask -b $APP_IP web.other.service.local
    assert_output --partial 'status: NXDOMAIN'
    ask -b $APP_IP cache.service.local
    assert_output --partial 'status: NXDOMAIN'
    # from 127.0.0.1, not a container
    short web.other.service.local
    assert_output $OTHER_IP
    short 1.web.app.service.local +tcp
    assert_output 10.0.0.3
    ask web.service.local
    assert_output --partial 'status: NXDOMAIN'
}

@test "dns: NXDOMAIN and NODATA carry the SOA" {
    ask -b $APP_IP nothing.service.local
    assert_output --partial 'status: NXDOMAIN'
    assert_output --partial 'flags: qr aa rd ra'
    assert_output --regexp 'service\.local\.[[:space:]]+5[[:space:]]+IN[[:space:]]+SOA[[:space:]]+ns\.service\.local\. hostmaster\.service\.local\. [0-9]+ 3600 600 86400 5'
    for q in "web.service.local AAAA" "web.service.local TXT" "worker.service.local A" "2.web.service.local A"; do
        # shellcheck disable=SC2086 # name and type
        ask -b $APP_IP $q
        assert_output --partial 'status: NOERROR'
        assert_output --partial 'ANSWER: 0, AUTHORITY: 1'
    done
}

@test "dns: other names are forwarded upstream, answers and NXDOMAIN alike" {
    short outside.test
    assert_output 192.0.2.7
    short +tcp -b $APP_IP other.test
    assert_output 192.0.2.8
    ask missing.test
    assert_output --partial 'status: NXDOMAIN'
    # the client's query ID comes back, not c-ares's
    ask +qid=4321 outside.test
    assert_output --partial 'id: 4321'
}

@test "dns: forwarded answers are cached for their TTL, aged" {
    short outside.test
    assert_output 192.0.2.7
    stop dnsmasq
    ask +qid=777 outside.test
    assert_success
    assert_output --partial 'status: NOERROR'
    assert_output --partial 'id: 777'
    assert_output --regexp 'outside\.test\.[[:space:]]+(60|59|58|57|56|55)[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.7'
    # the cache answers whatever case the question is in, and over TCP
    short +tcp OUTSIDE.test
    assert_output 192.0.2.7
}

@test "dns: SERVFAIL when the upstream is down and nothing is cached" {
    stop dnsmasq
    ask never-asked.test
    assert_success
    assert_output --partial 'status: SERVFAIL'
    # our own names still answer
    short -b $APP_IP db.service.local
    assert_output $APP_IP
}

@test "dns: a UDP answer too big is truncated; TCP carries it whole" {
    ask +noedns +ignore -b $APP_IP big.service.local
    assert_output --partial 'flags: qr aa tc rd ra'
    assert_output --partial 'ANSWER: 0'
    ask +noedns -b $APP_IP big.service.local
    assert_output --partial 'ANSWER: 40'
    assert_output --partial 'Truncated, retrying in TCP mode'
    ask +tcp -b $APP_IP big.service.local
    assert_output --partial 'ANSWER: 40'
    # with EDNS the client takes more over UDP
    ask +bufsize=1232 -b $APP_IP big.service.local
    assert_output --partial 'ANSWER: 40'
    refute_output --partial 'flags: qr aa tc'
}

@test "dns: several queries on one TCP connection, and pipelined" {
    run python3 - "$DNS_IP" "$PORT" <<'PY'
import socket, struct, sys
def query(qid, name, qtype=1):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
names = ["web.app.service.local", "outside.test", "nothing.service.local", "db.app.service.local"]
# all at once, in one write
s.sendall(b"".join(struct.pack(">H", len(m)) + m for m in (query(i + 1, n) for i, n in enumerate(names))))
buf, got = b"", {}
while len(got) < len(names):
    data = s.recv(65536)
    if not data:
        break
    buf += data
    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
        n = struct.unpack(">H", buf[:2])[0]
        m, buf = buf[2:2 + n], buf[2 + n:]
        qid, flags, qd, an = struct.unpack(">HHHH", m[:8])
        got[qid] = (flags & 0xF, an)
for i in range(len(names)):
    print(names[i], *got.get(i + 1, ("none", "none")))
PY
    assert_success
    assert_line 'web.app.service.local 0 2'
    assert_line 'outside.test 0 1'
    assert_line 'nothing.service.local 3 0'
    assert_line 'db.app.service.local 0 1'
}

@test "dns: malformed packets get FORMERR or nothing, and the server goes on" {
    run python3 - "$DNS_IP" "$PORT" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
addr = (sys.argv[1], int(sys.argv[2]))
def send(b):
    s.sendto(b, addr)
    try:
        return s.recv(4096)
    except socket.timeout:
        return None
r = send(struct.pack(">HHHHHH", 0xBEEF, 0x0100, 0, 0, 0, 0))  # no question
print("noquestion", hex(struct.unpack(">H", r[:2])[0]), r[3] & 0xF)
print("short", send(b"\x01\x02\x03"))
r = send(struct.pack(">HHHHHH", 7, 0x8000, 1, 0, 0, 0) + b"\0\0\1\0\1")  # a response
print("response", r)
PY
    assert_success
    assert_line 'noquestion 0xbeef 1'
    assert_line 'short None'
    assert_line 'response None'
    short -b $APP_IP db.service.local
    assert_output $APP_IP
}

@test "dns: a new zone is served at once (SIGHUP to the test server)" {
    sed -i 's/^app web 1 10.0.0.3 1$/app web 1 10.0.0.3 0/' "$BATS_TEST_TMPDIR/zone"
    kill -HUP "$(cat "$BATS_TEST_TMPDIR/serve.pid")"
    local i
    for ((i = 0; i < 50; i++)); do
        ask +short -b $APP_IP web.service.local
        [[ $output == 10.0.0.2 ]] && break
        sleep 0.1
    done
    assert_output 10.0.0.2
}

@test "dns: TCP connections are bounded, and the server goes on" {
    run python3 - "$DNS_IP" "$PORT" <<'PY'
import select, socket, struct, sys, time
addr = (sys.argv[1], int(sys.argv[2]))
conns = [socket.create_connection(addr, timeout=5) for _ in range(300)]
# the server closes what is past its bound at once: EOF within a second
closed, deadline = set(), time.time() + 1.0
while time.time() < deadline:
    r, _, _ = select.select([c for c in conns if c not in closed], [], [], 0.1)
    for c in r:
        if c.recv(1) == b"":
            closed.add(c)
print("closed", len(closed) > 0 and len(closed) <= 300 - 256)
# a connection kept answers
q = struct.pack(">HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\x02db\x03app\x07service\x05local\x00\x00\x01\x00\x01"
kept = next(c for c in conns if c not in closed)
kept.sendall(struct.pack(">H", len(q)) + q)
m = kept.recv(2 + 512)
print("answer", struct.unpack(">H", m[2:4])[0], m[5] & 0xF, struct.unpack(">H", m[8:10])[0])
PY
    assert_success
    assert_line 'closed True'
    assert_line 'answer 9 0 1'
}

@test "dns: the server stops cleanly with forwarded queries in flight" {
    # a silent upstream: the query stays in flight until the server stops
    kill -STOP "$(cat "$BATS_TEST_TMPDIR/dnsmasq.pid")"
    dig +tries=1 +time=5 @"$DNS_IP" -p $PORT in-flight.test >/dev/null 2>&1 3>&- &
    local dig_pid=$!
    sleep 0.5
    local rc=0
    stop serve || rc=$?
    kill -CONT "$(cat "$BATS_TEST_TMPDIR/dnsmasq.pid")"
    wait "$dig_pid" || true
    assert_equal "$rc" 0
}

@test "dns: an idle TCP connection is closed after about 10 s" {
    run python3 - "$DNS_IP" "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
t0 = time.time()
eof = s.recv(1) == b""
print("closed", eof, 8 <= time.time() - t0 <= 13)
PY
    assert_success
    assert_output 'closed True True'
}
