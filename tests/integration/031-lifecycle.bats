#!/usr/bin/env bats
# The lifecycle end to end, with real containers: health checks (http, tcp, command) run in
# the replica's own network and namespaces, unhealthy replicas are replaced, services wait
# for their dependencies, and updates roll one replica at a time, backing out by themselves
# when the new revision is not healthy.

load helpers_runtime
load helpers_registry
load helpers_daemon

# An http server on port 8080 in its own network (network_mode: none: a namespace with
# only lo), serving /tmp/www; $1 is a shell snippet run first, $2 the health check URL path.
web_service() {
    cat <<YAML
  web:
    image: {name: "$IMG"}
    network_mode: none
    command: {args: ["sh", "-c", "$1 mkdir -p /tmp/www && echo ok >/tmp/www/ok && exec busybox httpd -f -p 8080 -h /tmp/www"]}
    env: {REV: "${3:-1}"}
    scale: {mode: fixed, replicas: ${4:-1}}
    stop_grace_period: 2s
    health: {start_grace: 200ms, interval: 500ms, timeout: 1s, retries: 2, check: {type: http, url: "http://localhost:8080$2"}}
YAML
}

# health_of ID: the replica's health status as the API shows it
health_of() {
    "$ZLAYER" ps -c -f json | jq -r ".[] | select(.id == \"$1\") | .health.status"
}

# healthy SERVICE: how many of its replicas run and are healthy
healthy() {
    "$ZLAYER" ps -c -f json |
        jq "[.[] | select(.service == \"$1\" and .status == \"running\" and .health.status == \"healthy\")] | length"
}

@test "http check: healthy in the replica's own network; a failing check gets it replaced" {
    { printf 'version: v1\ndeployment: life\nservices:\n'; web_service "" /ok; } >life.zlayer.yml
    run --separate-stderr timeout 120 "$ZLAYER" up -d life.zlayer.yml
    assert_success
    # up -d returns once the replica is healthy, and says so
    [[ "$stderr" == *"life-web-0: healthy (HTTP/1.1 200 OK)"* ]] || { echo "$stderr" >&2; false; }
    [ "$(health_of life-web-0)" = healthy ]
    # the port is not the host's: the check went into the replica's network namespace
    ! busybox wget -q -T 1 -O /dev/null http://127.0.0.1:8080/ok 2>/dev/null
    local pid
    pid=$(pid_of life-web-0)
    # the check starts failing (404): after two failures the replica is replaced
    run timeout 30 "$ZLAYER" exec web -- rm /tmp/www/ok
    assert_success
    wait_for eval '[ "$(pid_of life-web-0)" != "$pid" ] && [ -n "$(pid_of life-web-0)" ]'
    wait_for eval '[ "$(health_of life-web-0)" = healthy ]'
    run timeout 10 "$ZLAYER" events -d life --no-follow
    assert_success
    echo "$output" | jq -e -s 'any(.[]; .kind == "health" and .status == "unhealthy" and (.output | test("404")))'
    echo "$output" | jq -e -s 'any(.[]; .kind == "unhealthy" and .id == "life-web-0")'
    run "$ZLAYER" ps -c
    assert_line --regexp '^life-web-0 .* running +healthy \(HTTP/1.1 200 OK\)'
    run "$ZLAYER" ps
    assert_line --regexp '^life +web +1/1 +running +healthy$'
}

@test "command check runs inside the container (its filesystem, not the host's)" {
    cat >cmd.zlayer.yml <<YAML
version: v1
deployment: cmdcheck
services:
  inside:
    image: {name: "$IMG"}
    command: {args: ["/bin/testinit", "pause"]}
    scale: {mode: fixed, replicas: 1}
    health: {start_grace: 100ms, interval: 500ms, retries: 1, check: {type: command, command: "test -x /bin/testinit && echo found it"}}
  host:
    image: {name: "$IMG"}
    command: {args: ["/bin/testinit", "pause"]}
    scale: {mode: fixed, replicas: 1}
    errors: {on_panic: {action: shutdown}}
    health: {start_grace: 100ms, interval: 500ms, retries: 1, check: {type: command, command: "test -f $BATS_TEST_TMPDIR/cmd.zlayer.yml"}}
YAML
    [ ! -e /bin/testinit ]
    run timeout 60 "$ZLAYER" deploy cmd.zlayer.yml
    assert_success
    wait_for eval '[ "$(health_of cmdcheck-inside-0)" = healthy ]'
    "$ZLAYER" ps -c -f json | jq -e '.[] | select(.id == "cmdcheck-inside-0") | .health.output == "exit 0: found it"'
    # a file only the host has is not seen; shutdown policy: it stays, unhealthy
    wait_for eval '[ "$(health_of cmdcheck-host-0)" = unhealthy ]'
    "$ZLAYER" ps -c -f json | jq -e '.[] | select(.id == "cmdcheck-host-0") | .health.output == "exit 1"'
}

@test "depends: healthy makes a client wait for a slow server; on_timeout fail fails cleanly" {
    {
        printf 'version: v1\ndeployment: deps\nservices:\n'
        web_service "sleep 3;" /ok
        cat <<YAML
  client:
    image: {name: "$IMG"}
    command: {args: ["/bin/testinit", "pause"]}
    scale: {mode: fixed, replicas: 1}
    depends: [{service: web, condition: healthy, timeout: 60s}]
YAML
    } >deps.zlayer.yml
    run --separate-stderr timeout 120 "$ZLAYER" up -d deps.zlayer.yml
    assert_success
    [[ "$stderr" == *"client: waiting for web to be healthy"* ]] || { echo "$stderr" >&2; false; }
    run timeout 10 "$ZLAYER" events -d deps --no-follow
    # the client was created only after the server became healthy
    echo "$output" | jq -e -s '
        ([.[] | select(.kind == "health" and .id == "deps-web-0" and .status == "healthy") | .seq] | min) as $h |
        ([.[] | select(.kind == "create" and .id == "deps-client-0") | .seq] | min) as $c |
        $h != null and $c != null and $c > $h'
    timeout 60 "$ZLAYER" down deps

    # a dependency that never becomes healthy: the deploy fails with the reason, the
    # dependent service is never started, the dependency keeps running
    {
        printf 'version: v1\ndeployment: depfail\nservices:\n'
        web_service "" /missing
        cat <<YAML
  client:
    image: {name: "$IMG"}
    command: {args: ["/bin/testinit", "pause"]}
    scale: {mode: fixed, replicas: 1}
    depends: [{service: web, condition: healthy, timeout: 3s, on_timeout: fail}]
YAML
    } >depfail.zlayer.yml
    sed -i 's/retries: 2/retries: 100/' depfail.zlayer.yml
    run --separate-stderr timeout 120 "$ZLAYER" deploy --wait depfail.zlayer.yml
    assert_failure
    [[ "$stderr" == *"dependency web not healthy within 3000 ms (on_timeout: fail)"* ]] || { echo "$stderr" >&2; false; }
    [ -z "$(pid_of depfail-client-0)" ]
    [ -n "$(pid_of depfail-web-0)" ]
    run "$ZLAYER" ps -f json
    echo "$output" | jq -e '.[] | select(.name == "depfail") | .status | startswith("failed: service client")'
}

@test "rolling update: never fewer than 3 healthy replicas; a broken revision rolls back by itself" {
    { printf 'version: v1\ndeployment: roll\nservices:\n'; web_service "" /ok 1 3; } >roll.zlayer.yml
    run timeout 120 "$ZLAYER" up -d roll.zlayer.yml
    assert_success
    [ "$(healthy web)" = 3 ]

    # a good revision, watched while it rolls: at least 3 healthy replicas at every poll
    { printf 'version: v1\ndeployment: roll\nservices:\n'; web_service "" /ok 2 3; } >roll.zlayer.yml
    timeout 120 "$ZLAYER" deploy --wait roll.zlayer.yml >deploy.out 2>&1 &
    local dpid=$! min=3 n i
    for i in $(seq 400); do
        n=$(healthy web)
        [ "$n" -lt "$min" ] && min=$n
        kill -0 "$dpid" 2>/dev/null || break
        sleep 0.1
    done
    wait "$dpid" || { cat deploy.out >&2; false; }
    [ "$min" -ge 3 ] || { echo "only $min healthy at one point" >&2; false; }
    # every replica runs revision 2 now
    "$ZLAYER" ps -c -f json | jq -e '[.[] | select(.service == "web")] | length == 3 and all(.revision == 2)'

    # a broken revision (its check gets 404): rolled back, the old replicas never stopped
    local before
    before=$("$ZLAYER" ps -c -f json | jq -c '[.[] | select(.service == "web") | .id + ":" + (.pid | tostring)] | sort')
    { printf 'version: v1\ndeployment: roll\nservices:\n'; web_service "" /missing 3 3; } >roll.zlayer.yml
    run --separate-stderr timeout 120 "$ZLAYER" deploy --wait roll.zlayer.yml
    assert_failure
    [[ "$stderr" == *"revision 3 rolled back: roll-web-"*"is unhealthy: HTTP/1.1 404 Not Found"* ]] || { echo "$stderr" >&2; false; }
    wait_for eval '[ "$("$ZLAYER" ps -c -f json | jq -c "[.[] | select(.service == \"web\") | .id + \":\" + (.pid | tostring)] | sort")" = "$before" ]'
    run "$ZLAYER" history roll
    assert_success
    assert_line --regexp '^3 .* rolled back: '
    assert_line --regexp '^4 .*\(current\) rollback to revision 2$'

    # by hand: back to revision 1 (a rolling update again)
    run --separate-stderr timeout 120 "$ZLAYER" rollback roll 1
    assert_success
    "$ZLAYER" ps -c -f json | jq -e '[.[] | select(.service == "web")] | length == 3 and all(.revision == 5)'
    "$ZLAYER" ps -f json | jq -e '.[] | select(.name == "roll") | .status == "running" and .revision == 5'
    run "$ZLAYER" rollback roll 99
    assert_failure
    assert_output --partial "no revision 99"
}

@test "init: wait_tcp holds the replica until a port opens; init.run runs in the image first" {
    local port=$((20000 + RANDOM % 20000))
    cat >init.zlayer.yml <<YAML
version: v1
deployment: inits
services:
  app:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "echo main sees \$(cat /tmp/mark); exec /bin/testinit pause"]}
    scale: {mode: fixed, replicas: 1}
    init:
      steps:
        - {id: mark, uses: init.run, with: {command: "test -x /bin/testinit && echo from-image > /tmp/mark && echo marked"}}
        - {id: wait, uses: init.wait_tcp, with: {host: $NET.1, port: $port, timeout: 60}, timeout: 90s}
YAML
    run timeout 60 "$ZLAYER" deploy init.zlayer.yml
    assert_success
    # created, its process held back, while nothing listens (on the node, seen from the replica)
    wait_for eval '[ "$("$ZLAYER" ps -c -f json | jq -r ".[] | select(.id == \"inits-app-0\") | .status")" = created ]'
    sleep 2
    [ "$("$ZLAYER" ps -c -f json | jq -r '.[] | select(.id == "inits-app-0") | .status')" = created ]
    timeout 30 busybox nc -l -p "$port" </dev/null >/dev/null &
    local nc=$!
    wait_for running app 1
    kill "$nc" 2>/dev/null || true
    run "$ZLAYER" logs app
    assert_line "app-0 | marked"
    assert_line "app-0 | main sees from-image"
    assert_line --partial "init step wait (init.wait_tcp)"
}

@test "init: a failing step fails the deploy with the step's reason; warn and continue go on" {
    cat >initfail.zlayer.yml <<YAML
version: v1
deployment: initfail
services:
  app:
    image: {name: "$IMG"}
    command: {args: ["/bin/testinit", "pause"]}
    scale: {mode: fixed, replicas: 1}
    errors: {on_init_failure: {action: restart}}
    init:
      steps:
        - {id: soft, uses: init.run, with: {command: "exit 1"}, on_failure: warn}
        - {id: quiet, uses: init.s3_pull, with: {bucket: b, key: k, destination: /d}, on_failure: continue}
        - {id: hard, uses: init.run, with: {command: "echo no database; exit 3"}}
YAML
    run --separate-stderr timeout 120 "$ZLAYER" deploy --wait initfail.zlayer.yml
    assert_failure
    [[ "$stderr" == *"initfail-app-0: init step hard (init.run) failed: \`echo no database; exit 3\` exited with code 3: no database"* ]] || { echo "$stderr" >&2; false; }
    # on_init_failure restart: four attempts in all, each running the steps in order
    [ "$("$ZLAYER" logs app | grep -c 'init step hard failed')" = 4 ]
    [ "$("$ZLAYER" logs app | grep -c 'init step soft failed')" = 4 ]
    "$ZLAYER" logs app | grep -q "init.s3_pull is not available"
    [ "$("$ZLAYER" ps -c -f json | jq -r '.[] | select(.id == "initfail-app-0") | .status')" = created ]
}

@test "replicas start with default signal handling (nothing ignored or blocked) and their exit codes are seen" {
    cat >sig.zlayer.yml <<YAML
version: v1
deployment: sigs
services:
  app:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status; exec /bin/testinit pause"]}
    scale: {mode: fixed, replicas: 1}
YAML
    run timeout 60 "$ZLAYER" up -d sig.zlayer.yml
    assert_success
    wait_for eval '[ "$("$ZLAYER" logs app | grep -c "Sig")" = 2 ]'
    run "$ZLAYER" logs app
    assert_line --regexp '^app-0 \| SigBlk:[[:space:]]+0+$'
    assert_line --regexp '^app-0 \| SigIgn:[[:space:]]+0+$'
    # the monitor (forked by the daemon's spawner) waits for its container: a kill is recorded
    kill -9 "$(pid_of sigs-app-0)"
    wait_for eval '"$ZLAYER" ps --crashes -f json | jq -e ".[] | select(.container == \"sigs-app-0\" and .exit_code == 137)" >/dev/null'
}

@test "restart_policy on_failure: a clean exit stays down; max_attempts stops a crash loop" {
    cat >pol.zlayer.yml <<YAML
version: v1
deployment: policy
services:
  done:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "echo finished"]}
    scale: {mode: fixed, replicas: 1}
    restart_policy: {kind: on_failure}
  crashy:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "echo crash; exit 2"]}
    scale: {mode: fixed, replicas: 1}
    restart_policy: {kind: on_failure, max_attempts: 2}
YAML
    run timeout 60 "$ZLAYER" deploy pol.zlayer.yml
    assert_success
    # crashy: the first run and two restarts (1 s, 2 s apart), then no more
    wait_for eval '[ "$("$ZLAYER" ps --crashes -f json | jq "[.[] | select(.service == \"crashy\")] | length")" = 3 ]'
    sleep 6
    [ "$("$ZLAYER" ps --crashes -f json | jq '[.[] | select(.service == "crashy")] | length')" = 3 ]
    grep -q '"msg":"policy-crashy-0: not restarted (restart_policy: on_failure, max_attempts reached)"' "$ZLAYER_RUNTIME_DIR/daemon.log"
    # done: ran once, exited 0, not restarted
    [ "$("$ZLAYER" logs done | grep -c finished)" = 1 ]
    [ "$("$ZLAYER" ps -c -f json | jq -r '.[] | select(.id == "policy-done-0") | .status')" = stopped ]
    # the deployment says why it is not running
    "$ZLAYER" ps -f json | jq -e '.[] | select(.name == "policy") | .status == "failed: policy-crashy-0 exited with code 2 and its policy does not restart it"'
}
