#!/usr/bin/env bats
# The node's proxy ends TLS for https endpoints: certificates from $ZLAYER_ROOT_DIR/certs
# chosen by SNI, the node's own self-signed one for any other name, TLS 1.2 and 1.3, new
# certificates picked up while running without dropping a connection.

load helpers_runtime
load helpers_registry
load helpers_daemon

svc() {
    cat <<YAML
  $1:
    image: {name: "$IMG"}
    command: {args: ["/bin/testinit", "httpecho", "80"]}
    scale: {mode: fixed, replicas: 1}
    stop_grace_period: 1s
    health: {check: {type: command, command: "true"}}
    endpoints: [{name: web, protocol: $2, port: 18443, target_port: 80, expose: public}]
YAML
}

# cert NAME: a self-signed certificate for NAME in the node's certificate folder
cert() {
    mkdir -p "$ZLAYER_ROOT_DIR/certs"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$ZLAYER_ROOT_DIR/certs/$1.key" -out "$ZLAYER_ROOT_DIR/certs/$1.crt.tmp" \
        -subj "/CN=$1" -addext "subjectAltName=DNS:$1" 2>/dev/null
    mv "$ZLAYER_ROOT_DIR/certs/$1.crt.tmp" "$ZLAYER_ROOT_DIR/certs/$1.crt"
}

# subject NAME [CURL-OPTIONS]: the subject of the certificate served for NAME
subject() {
    local n=$1
    shift
    curl -sv -k -m 5 "$@" --resolve "$n:18443:127.0.0.1" "https://$n:18443/" 2>&1 |
        sed -n 's/^\*  subject: //p'
}

@test "https: SNI picks the certificate, the node's own answers other names, TLS 1.2 and 1.3" {
    cert a.test
    cert b.test
    { printf 'version: v1\ndeployment: tla\nservices:\n'; svc web https; } >a.zlayer.yml
    run timeout 120 "$ZLAYER" up -d a.zlayer.yml
    assert_success
    wait_for eval '[ "$(subject a.test)" = "CN=a.test" ]'
    [ "$(subject b.test --tlsv1.3)" = "CN=b.test" ]
    [ "$(subject b.test --tlsv1.2 --tls-max 1.2)" = "CN=b.test" ]
    [[ "$(subject other.test)" == *"O=zlayer"* ]]
    run curl -s -k -m 5 --tlsv1.1 --tls-max 1.1 https://127.0.0.1:18443/
    assert_failure
    # the backend is told the scheme; plain HTTP on the port is not answered as HTTP
    curl -s -k https://127.0.0.1:18443/headers | grep -q '^X-Forwarded-Proto: https'
    [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:18443/)" = 000 ]
}

@test "https: a new certificate is picked up while connections stay" {
    cert a.test
    { printf 'version: v1\ndeployment: tlb\nservices:\n'; svc web https; } >b.zlayer.yml
    run timeout 120 "$ZLAYER" up -d b.zlayer.yml
    assert_success
    wait_for eval '[ "$(subject a.test)" = "CN=a.test" ]'
    [[ "$(subject c.test)" == *"O=zlayer"* ]]
    # a connection opened now is kept alive across the change
    export -f cert
    run timeout 60 python3 - <<'PY'
import socket, ssl, subprocess, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def conn():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", 18443), 5), server_hostname="c.test")
def ask(s, path):
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: c.test\r\n\r\n")
    got = b""
    while not (b"req=" in got and got.endswith(b"\n")):
        d = s.recv(4096)
        if not d:
            break
        got += d
    return got.split(b"\r\n")[0].decode()
def subject():
    s = conn()
    der = s.getpeercert(binary_form=True)
    s.close()
    return subprocess.run(["openssl", "x509", "-inform", "der", "-noout", "-subject"], input=der,
                          capture_output=True).stdout.decode().strip()
old = conn()
print(ask(old, b"/one"))
subprocess.run(["bash", "-c", "cert c.test"], check=True)
for _ in range(100):
    if "CN = c.test" in subject():
        break
    time.sleep(0.2)
print(subject())
print(ask(old, b"/two"))
PY
    assert_success
    assert_output "HTTP/1.1 200 OK
subject=CN = c.test
HTTP/1.1 200 OK"
}

@test "http and https cannot share a port" {
    { printf 'version: v1\ndeployment: tlc\nservices:\n'; svc web https; } >c.zlayer.yml
    { printf 'version: v1\ndeployment: tld\nservices:\n'; svc plain http; } >d.zlayer.yml
    run timeout 120 "$ZLAYER" up -d c.zlayer.yml
    assert_success
    run timeout 60 "$ZLAYER" up -d d.zlayer.yml
    assert_failure
    assert_output --partial "services.plain.endpoints[0]: port 18443 (http, host any, path /) is already published by deployment tlc, service web"
}

@test "stream.tls: a tcp endpoint ends TLS and passes the plain bytes on" {
    cert a.test
    { printf 'version: v1\ndeployment: tle\nservices:\n'; svc raw tcp; } >e.zlayer.yml
    sed -i 's/expose: public}]/expose: public, stream: {tls: true}}]/' e.zlayer.yml
    run timeout 120 "$ZLAYER" up -d e.zlayer.yml
    assert_success
    wait_for eval '[ "$(subject a.test)" = "CN=a.test" ]'
    run curl -s -k --resolve a.test:18443:127.0.0.1 https://a.test:18443/path
    assert_output --regexp '^raw-0 GET /path conn=[0-9]+ req=1$'
    [ "$(curl -s -k 'https://127.0.0.1:18443/big?n=20000000' | wc -c)" -eq 20000000 ]
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/api/v1/proxy
    echo "$output" | jq -e '.[] | select(.name == "tle/raw/web") | .protocol == "tcp" and .tls'
}

@test "HTTP/2: ALPN h2 on https and the preface in clear, many streams, bodies both ways" {
    command -v h2load >/dev/null || skip "h2load (nghttp2-client) is missing"
    cert a.test
    { printf 'version: v1\ndeployment: tlf\nservices:\n'; svc web https
      svc plain http | sed 's/port: 18443/port: 18444/'; } >f.zlayer.yml
    run timeout 120 "$ZLAYER" up -d f.zlayer.yml
    assert_success
    wait_for eval '[ "$(subject a.test)" = "CN=a.test" ]'
    wait_for eval 'curl -s -m 2 http://127.0.0.1:18444/ >/dev/null'
    run curl -sk --http2 -o /dev/null -w '%{http_version} %{http_code}' https://127.0.0.1:18443/x
    assert_output "2 200"
    run curl -s --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}' http://127.0.0.1:18444/x
    assert_output "2 200"
    # the backend gets HTTP/1.1 with the forwarding headers, cookies joined
    run curl -sk --http2 -H 'Cookie: a=1' -H 'Cookie: b=2' https://a.test:18443/headers --resolve a.test:18443:127.0.0.1
    assert_output --partial "GET /headers HTTP/1.1"
    assert_output --partial "Cookie: a=1; b=2"
    assert_output --partial "X-Forwarded-Proto: https"
    assert_output --partial "Via: 2 zlayer"
    # bodies both ways, streamed
    [ "$(curl -sk --http2 'https://127.0.0.1:18443/big?n=30000000' | wc -c)" -eq 30000000 ]
    run bash -c 'head -c 20000000 /dev/zero | curl -sk --http2 --data-binary @- https://127.0.0.1:18443/upload'
    assert_output "20000000 0"
    # many streams on few connections
    run h2load -n 4000 -c 4 -m 20 https://127.0.0.1:18443/x
    assert_output --partial "4000 succeeded, 0 failed, 0 errored, 0 timeout"
    run h2load -n 1000 -c 2 -m 20 http://127.0.0.1:18444/x
    assert_output --partial "1000 succeeded, 0 failed, 0 errored, 0 timeout"
    # the access log has the streams too
    sleep 1.5
    [ "$(grep -c '"GET /x" 200 .* tlf/web/web ' "$ZLAYER_ROOT_DIR/proxy-access.log")" -ge 4000 ]
}

# named FILE CN SAN: a self-signed certificate (FILE.pem) and its key (FILE.key) outside the
# node's folder
named() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$1.key.tmp" -out "$1.pem.tmp" -subj "/CN=$2" -addext "subjectAltName=DNS:$3" \
        2>/dev/null
    mv "$1.key.tmp" "$1.key"
    mv "$1.pem.tmp" "$1.pem"
}

@test "certificates named in the spec: served for the endpoint's host, reloaded, refused when broken" {
    mkdir -p tls
    local c=$PWD/tls/app
    named "$c" named-app other.test
    { printf 'version: v1\ndeployment: tlg\nservices:\n'; svc web https; } >g.zlayer.yml
    sed -i "s|expose: public}]|expose: public, host: app.test}]\n    labels: {zlayer.proxy/tls-certificate: $c.pem, zlayer.proxy/tls-key: $c.key}|" g.zlayer.yml
    run timeout 120 "$ZLAYER" up -d g.zlayer.yml
    assert_success
    # the endpoint's host gets it although the certificate names other.test; so does its own
    # name; any other name the node's own
    wait_for eval '[ "$(subject app.test)" = "CN=named-app" ]'
    [ "$(subject other.test)" = "CN=named-app" ]
    [[ "$(subject b.test)" == *"O=zlayer"* ]]
    run bash -c "openssl s_client -connect 127.0.0.1:18443 -servername app.test </dev/null 2>/dev/null | openssl x509 -noout -issuer"
    assert_output "issuer=CN = named-app"
    run curl -s -k -m 5 --resolve app.test:18443:127.0.0.1 -o /dev/null -w '%{http_code}' https://app.test:18443/x
    assert_output 200
    # the route shows the file it names
    curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/api/v1/proxy |
        jq -e --arg c "$c.pem" '.[] | select(.name == "tlg/web/web") | .certificate == $c'
    # a new certificate in the file is picked up
    named "$c" named-app-2 other.test
    wait_for eval '[ "$(subject app.test)" = "CN=named-app-2" ]'

    # a file that is missing: refused, naming the file, line and field; nothing changes
    sed "s|$c.pem|$PWD/tls/missing.pem|" g.zlayer.yml >h.zlayer.yml
    run timeout 60 "$ZLAYER" up -d h.zlayer.yml
    assert_failure
    assert_output --partial "h.zlayer.yml:11:"
    assert_output --partial "services.web.labels[\"zlayer.proxy/tls-certificate\"]: cannot read $PWD/tls/missing.pem"
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/api/v1/deployments/tlg
    echo "$output" | jq -e '.revision == 1'
    [ "$(subject app.test)" = "CN=named-app-2" ]
    # a key of another certificate
    named "$PWD/tls/b" named-b b.test
    sed "s|$c.key|$PWD/tls/b.key|" g.zlayer.yml >h.zlayer.yml
    run timeout 60 "$ZLAYER" up -d h.zlayer.yml
    assert_failure
    assert_output --partial "services.web.labels[\"zlayer.proxy/tls-key\"]: the key in $PWD/tls/b.key does not match the certificate in $c.pem"
    # a secret reference, and a relative path: the spec's own rules
    sed "s|$c.pem|\"\$S:tls/app\"|" g.zlayer.yml >h.zlayer.yml
    run timeout 60 "$ZLAYER" up -d h.zlayer.yml
    assert_failure
    assert_output --partial "secrets are not available yet"
    # another deployment naming another certificate for the same host
    { printf 'version: v1\ndeployment: tli\nservices:\n'; svc api https; } >i.zlayer.yml
    sed -i "s|port: 18443|port: 18445|; s|expose: public}]|expose: public, host: app.test}]\n    labels: {zlayer.proxy/tls-certificate: $PWD/tls/b.pem, zlayer.proxy/tls-key: $PWD/tls/b.key}|" i.zlayer.yml
    run timeout 60 "$ZLAYER" up -d i.zlayer.yml
    assert_failure
    assert_output --partial "host app.test already has the certificate $c.pem from deployment tlg, service web"
    # another deployment serving that host over TLS without naming a certificate (on another
    # port): the choice is by name for the whole node, its clients would get this one
    { printf 'version: v1\ndeployment: tli\nservices:\n'; svc api https; } >i.zlayer.yml
    sed -i "s|port: 18443|port: 18445|; s|expose: public}]|expose: public, host: App.Test}]|" i.zlayer.yml
    run timeout 60 "$ZLAYER" up -d i.zlayer.yml
    assert_failure
    assert_output --partial "services.api.endpoints[0].host: host App.Test has the certificate $c.pem from deployment tlg, service web"
    # once no deployment names it, it is no longer served
    run timeout 120 "$ZLAYER" down tlg
    assert_success
    { printf 'version: v1\ndeployment: tlj\nservices:\n'; svc web https; } >j.zlayer.yml
    sed -i "s|expose: public}]|expose: public, host: app.test}]|" j.zlayer.yml
    run timeout 120 "$ZLAYER" up -d j.zlayer.yml
    assert_success
    wait_for eval '[[ "$(subject app.test)" == *"O=zlayer"* ]]'
    # and now a certificate named for that host elsewhere, on a tcp stream.tls endpoint on
    # another port, would take over tlj's clients: refused
    { printf 'version: v1\ndeployment: tlk\nservices:\n'; svc api tcp; } >k.zlayer.yml
    sed -i "s|port: 18443|port: 18446|; s|expose: public}]|expose: public, host: app.test, stream: {tls: true}}]\n    labels: {zlayer.proxy/tls-certificate: $c.pem, zlayer.proxy/tls-key: $c.key}|" k.zlayer.yml
    run timeout 60 "$ZLAYER" up -d k.zlayer.yml
    assert_failure
    assert_output --partial "services.api.labels[\"zlayer.proxy/tls-certificate\"]: host app.test is served over TLS by deployment tlj, service web"
    [[ "$(subject app.test)" == *"O=zlayer"* ]]
}
