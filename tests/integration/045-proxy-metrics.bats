#!/usr/bin/env bats
# The proxy's metrics with real containers: GET /metrics in the Prometheus text format (a
# bearer token over TCP, like the rest of the API), requests by status class, the latency
# histogram, backends; and a service's request rate in its details (what the autoscaler
# reads). The backends run `testinit httpecho` (tests/helpers/httpecho.inc.c).

load helpers_runtime
load helpers_registry
load helpers_daemon

ROUTE=met/web/web

# serve_tcp: the daemon, with the API on a free TCP port too (API: its URL; TOKEN: a viewer's)
serve_tcp() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    run timeout 30 "$ZLAYER" serve --daemon --bind "127.0.0.1:$port"
    assert_success
    API="http://127.0.0.1:$port"
    TOKEN=$("$ZLAYER" token create --role viewer --ttl 300)
}

# deploy: web (2 replicas behind an http endpoint on 127.0.0.1:18450) and side (no
# endpoint), then wait until the route has both backends
deploy() {
    cat >m.zlayer.yml <<YAML
version: v1
deployment: met
services:
  web:
    image: {name: "$IMG"}
    command: {args: ["/bin/testinit", "httpecho", "80"]}
    scale: {mode: fixed, replicas: 2}
    stop_grace_period: 1s
    health: {check: {type: command, command: "true"}}
    endpoints: [{name: web, protocol: http, port: 18450, target_port: 80, expose: internal}]
  side:
    image: {name: "$IMG"}
    command: {args: ["/bin/testinit", "httpecho", "80"]}
    stop_grace_period: 1s
    scale: {mode: fixed, replicas: 1}
YAML
    run timeout 120 "$ZLAYER" up -d m.zlayer.yml
    assert_success
    # no request through the proxy before the counting starts: ready when the API says so
    wait_for eval "curl -s --unix-socket '$ZLAYER_RUNTIME_DIR/zlayer.sock' http://zlayer/api/v1/proxy |
        jq -e '.[] | select(.name == \"$ROUTE\") | .listening and .backends == 2 and .down == 0' >/dev/null"
}

# get N PATH: N requests through the proxy, one connection each; all must be answered
get() {
    local i
    for i in $(seq "$1"); do
        curl -s -o /dev/null -m 10 -w '%{http_code}\n' "http://127.0.0.1:18450$2" | grep -q '^[2-5]' || return 1
    done
}

# check_metrics TEXT-FILE: the exposition parsed (prometheus_client) and checked
check_metrics() {
    /usr/bin/python3 - "$1" "$ROUTE" <<'PY'
import re, sys
from prometheus_client.parser import text_string_to_metric_families
text, route = open(sys.argv[1]).read(), sys.argv[2]
# one HELP and one TYPE per family, its samples together after them
types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
names = [t[0] for t in types]
assert len(names) == len(set(names)), names
assert re.findall(r"^# HELP (\S+) ", text, re.M) == names
fam = None
for line in text.splitlines():
    if line.startswith("# TYPE "):
        fam = line.split()[2]
    elif not line.startswith("#"):
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        assert fam and (name == fam or name.startswith(fam + "_")), line
want = {"zlayer_proxy_requests_total": "counter", "zlayer_proxy_request_duration_seconds": "histogram",
        "zlayer_proxy_connections_total": "counter", "zlayer_proxy_active": "gauge",
        "zlayer_proxy_failed_total": "counter", "zlayer_proxy_bytes_total": "counter",
        "zlayer_proxy_backend_active": "gauge", "zlayer_proxy_backend_up": "gauge",
        "zlayer_service_rps": "gauge"}
assert dict(types).items() >= want.items(), types
# every sample, by name and labels
v = {}
for f in text_string_to_metric_families(text):
    for s in f.samples:
        v[(s.name, tuple(sorted(s.labels.items())))] = s.value
def get(name, **labels):
    return v[(name, tuple(sorted(labels.items())))]
# 22 answered 2xx (2 of them slowly, 1 an upload), 2 4xx, 3 5xx
for code, n in (("1xx", 0), ("2xx", 22), ("3xx", 0), ("4xx", 2), ("5xx", 3)):
    assert get("zlayer_proxy_requests_total", route=route, code=code) == n, (code, n)
h = "zlayer_proxy_request_duration_seconds"
buckets = sorted((float(dict(l)["le"]), val)
                 for (n, l), val in v.items() if n == h + "_bucket" and dict(l)["route"] == route)
assert len(buckets) == 12 and buckets[-1][0] == float("inf"), buckets
assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets  # cumulative
assert buckets[-1][1] == 27 == get(h + "_count", route=route)
assert get(h + "_bucket", route=route, le="0.1") <= 25  # the two slow ones are above 0.12 s
assert 0.24 <= get(h + "_sum", route=route) < 60
assert get("zlayer_proxy_connections_total", route=route) == 27
assert get("zlayer_proxy_failed_total", route=route) == 0
assert get("zlayer_proxy_active", route=route) == 0
assert get("zlayer_proxy_bytes_total", route=route, direction="in") == 1000  # http: bodies
assert get("zlayer_proxy_bytes_total", route=route, direction="out") > 0
up = [val for (n, l), val in v.items() if n == "zlayer_proxy_backend_up" and dict(l)["route"] == route]
assert up == [1, 1], up
assert len([1 for (n, l) in v if n == "zlayer_proxy_backend_active" and dict(l)["route"] == route]) == 2
assert get("zlayer_service_rps", deployment="met", service="web") >= 0
print("ok")
PY
}

@test "/metrics: requests by class, a cumulative latency histogram, backends; a token needed" {
    serve_tcp
    deploy
    get 19 / && get 2 '/slow?ms=120' && get 2 '/status?code=404' && get 3 '/status?code=503'
    head -c 1000 /dev/zero | curl -s -f -o /dev/null -m 10 --data-binary @- http://127.0.0.1:18450/upload
    # over TCP a bearer token is needed, as for the rest of the API
    run curl -s -o /dev/null -w '%{http_code}' "$API/metrics"
    assert_output 401
    run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer a.b.c' "$API/metrics"
    assert_output 401
    run curl -s -o /dev/null -w '%{content_type}' -H "Authorization: Bearer $TOKEN" "$API/metrics"
    assert_output 'text/plain; version=0.0.4; charset=utf-8'
    # (the last responses may be counted a moment after the client has them)
    wait_for eval 'curl -s -f -H "Authorization: Bearer $TOKEN" "$API/metrics" >m.txt &&
        grep -qx "zlayer_proxy_requests_total{route=\"$ROUTE\",code=\"5xx\"} 3" m.txt'
    grep -x "zlayer_proxy_requests_total{route=\"$ROUTE\",code=\"2xx\"} 22" m.txt
    run check_metrics m.txt
    assert_output ok
    # the local socket (root's) needs none
    curl -s -f --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/metrics |
        grep -q '^# TYPE zlayer_proxy_requests_total counter$'
}

@test "service details: requests per second from the proxy, for the autoscaler" {
    deploy
    get 30 /
    local sock="$ZLAYER_RUNTIME_DIR/zlayer.sock" d
    # sampled every second: within a few seconds the last 10 s show the 30 requests
    wait_for eval "curl -s --unix-socket '$sock' http://zlayer/api/v1/deployments/met/services/web |
        jq -e '.metrics.rps > 0 and .metrics.in_flight == 0' >/dev/null"
    d=$(curl -s --unix-socket "$sock" http://zlayer/api/v1/deployments/met/services/web)
    echo "$d" | jq -e '.name == "web" and .replicas == 2 and (.containers | length) == 2 and
        .metrics.rps <= 30' || { echo "$d" >&2; false; }
    # the same rate in /metrics; a service without endpoints has no rate; unknown: 404
    curl -s --unix-socket "$sock" http://zlayer/metrics |
        grep -qE '^zlayer_service_rps\{deployment="met",service="web"\} [0-9.e+-]*[1-9]'
    run curl -s --unix-socket "$sock" http://zlayer/api/v1/deployments/met/services/side
    echo "$output" | jq -e '.name == "side" and .metrics == {}' || { echo "$output" >&2; false; }
    run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" \
        http://zlayer/api/v1/deployments/met/services/nope
    assert_output 404
}
