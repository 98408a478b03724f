#!/usr/bin/env bats
# The daemon end to end: zlayer up starts it, replicas run from a registry image, crash and
# come back, scale, are replaced on a new revision, survive a daemon restart, and go on down.

load helpers_runtime
load helpers_registry
load helpers_daemon

# spec NAME [EXTRA]: a deployment with a web service (replicas given) and a worker.
spec() {
    cat >"$BATS_TEST_TMPDIR/${1}.zlayer.yml" <<YAML
version: v1
deployment: $1
services:
  web:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "echo web \$(hostname) \$GREETING; exec /bin/testinit pause"]}
    env: {GREETING: "\$E:GREETING"}
    scale: {mode: fixed, replicas: ${2:-2}}
    stop_grace_period: 2s
  worker:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "echo worker up; exec /bin/testinit pause"]}
    scale: {mode: fixed, replicas: 1}
YAML
}

@test "up -d: the daemon starts, every replica runs, logs and \$E: values arrive" {
    spec shop
    GREETING=hello run --separate-stderr timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    # progress as it happens, from the daemon's events
    [[ "$stderr" == *"shop-web-0: creating"* ]] || { echo "$stderr" >&2; false; }
    [[ "$stderr" == *"shop-worker-0: started"* ]]
    [[ "$stderr" == *"shop: running (3/3 replicas running)"* ]]
    run "$ZLAYER" ps
    assert_success
    assert_line --regexp '^shop +web +2/2 +running'
    assert_line --regexp '^shop +worker +1/1 +running'
    wait_for running web 2
    run "$ZLAYER" logs web
    assert_line "web-0 | web web-0 hello"
    assert_line "web-1 | web web-1 hello"
    run "$ZLAYER" status
    assert_success
    assert_output --partial "deployments: 1"
}

@test "a replica killed with SIGKILL comes back; scale 1 -> 5 -> 2" {
    spec shop 1
    GREETING=x run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    local old
    old=$(pid_of shop-web-0)
    kill -9 "$old"
    wait_for eval '[ -n "$(pid_of shop-web-0)" ] && [ "$(pid_of shop-web-0)" != "$old" ] && running web 1'
    # the crash is on record once: killed by signal 9, with its last output
    run "$ZLAYER" ps --crashes -f json
    assert_success
    [ "$(echo "$output" | jq length)" = 1 ]
    [ "$(echo "$output" | jq -r '.[0].container')" = shop-web-0 ]
    [ "$(echo "$output" | jq -r '.[0].exit_code')" = 137 ]
    [ "$(echo "$output" | jq -r '.[0].log_tail')" = "web web-0 x" ]
    run "$ZLAYER" ps --crashes
    assert_line --regexp ' shop-web-0 +137 +web web-0 x$'
    # the daemon's log: one JSON object a line
    jq -e -s 'all(.[]; has("ts") and has("level") and has("room") and has("msg"))' \
        "$ZLAYER_RUNTIME_DIR/daemon.log"
    [ "$(jq -r 'select(.room == "agent" and (.msg | startswith("shop-web-0 exited with code 137"))) | .level' \
        "$ZLAYER_RUNTIME_DIR/daemon.log")" = info ]
    run "$ZLAYER" scale web 5
    assert_success
    wait_for running web 5
    run "$ZLAYER" scale web 2
    assert_success
    wait_for running web 2
    wait_for eval '[ "$("$ZLAYER" ps -c -f json | jq "[.[] | select(.service == \"web\")] | length")" = 2 ]'
}

@test "a changed deployment replaces its replicas; the daemon's restart adopts them" {
    spec shop 1
    GREETING=one run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    local first
    first=$(pid_of shop-web-0)
    GREETING=two run timeout 120 "$ZLAYER" deploy --wait shop.zlayer.yml
    assert_success
    # a rolling update: the new replica (the next free index) starts before the old one goes
    wait_for eval '[ -z "$(pid_of shop-web-0)" ] && running web 1'
    [ -n "$(pid_of shop-web-1)" ]
    wait_for eval '"$ZLAYER" logs web | grep -q "web web-1 two"'
    # SIGKILL the daemon: the containers stay, the next daemon adopts them untouched
    local before
    before=$("$ZLAYER" ps -c -f json | jq -c '[.[] | .id + ":" + (.pid | tostring)] | sort')
    kill -9 "$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")"
    sleep 0.5
    run "$ZLAYER" status
    assert_failure
    GREETING=two run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    sleep 3
    [ "$("$ZLAYER" ps -c -f json | jq -c '[.[] | .id + ":" + (.pid | tostring)] | sort')" = "$before" ]
}

@test "the daemon killed with SIGKILL mid-deploy loses nothing and makes no duplicates" {
    spec shop 6
    local delay round=0
    for delay in 0 0.15 0.4; do
        round=$((round + 1))
        run timeout 30 "$ZLAYER" serve --daemon
        assert_success
        # the deploy is acknowledged (stored) before the daemon dies somewhere in creating
        GREETING=k run timeout 60 "$ZLAYER" deploy shop.zlayer.yml
        assert_success
        sleep "$delay"
        local pid
        pid=$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")
        kill -9 "$pid"
        wait_for eval '! [ -d /proc/$pid ] || grep -q "^State:.*Z" /proc/$pid/status'
        run timeout 30 "$ZLAYER" serve --daemon
        assert_success
        wait_for running web 6
        wait_for running worker 1
        # exactly the replicas the spec asks for, each once, and nothing half-made on disk
        local ids
        ids=$("$ZLAYER" ps -c -f json | jq -r '.[].id' | sort)
        [ "$(echo "$ids" | wc -l)" = 7 ]
        [ "$(echo "$ids" | uniq | wc -l)" = 7 ]
        [ "$(ls "$ZLAYER_ROOT_DIR/containers" | sort)" = "$ids" ]
        [ "$(ls "$ZLAYER_RUNTIME_DIR/containers" | sort)" = "$ids" ]
        # one revision per apply: the history goes on after each down
        [ "$("$ZLAYER" ps -f json | jq -r '.[0].revision')" = "$round" ]
        run timeout 60 "$ZLAYER" down shop
        assert_success
        stop_daemon
    done
}

@test "logs: one replica, since, and a follow that streams a restarted replica's output" {
    spec shop 2
    GREETING=f run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    wait_for eval '[ "$("$ZLAYER" logs web | wc -l)" = 2 ]'
    run "$ZLAYER" logs web --replica 1
    assert_success
    assert_output "web-1 | web web-1 f"
    run "$ZLAYER" logs web --since 2099-01-01T00:00:00Z
    assert_success
    assert_output ""
    run "$ZLAYER" logs web --since 10m -n 1 -r 0
    assert_output "web-0 | web web-0 f"
    run --separate-stderr "$ZLAYER" logs web --replica 9
    assert_failure
    [[ "$stderr" == *"no replica 9"* ]]
    run "$ZLAYER" logs web --since yesterday
    [ "$status" -eq 2 ]
    # the whole deployment at once
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" http://zlayer/api/v1/deployments/shop/logs
    assert_line "web-1 | web web-1 f"
    assert_line "worker-0 | worker up"
    # follow: the tail at once, then what a replica started again prints
    timeout 60 "$ZLAYER" logs web -f -r 0 >follow.out 2>follow.err &
    local f=$!
    wait_for grep -q "web-0 | web web-0 f" follow.out
    local old
    old=$(pid_of shop-web-0)
    kill -9 "$old"
    wait_for eval '[ "$(grep -c "web-0 | web web-0 f" follow.out)" = 2 ]'
    ! grep -q "web-1" follow.out
    # removing the deployment ends the stream
    run timeout 60 "$ZLAYER" down shop
    assert_success
    wait_for eval '! kill -0 $f 2>/dev/null'
    wait "$f"
}

@test "events: deployments and containers as they change, as JSON lines" {
    run timeout 30 "$ZLAYER" serve --daemon
    assert_success
    timeout 90 "$ZLAYER" events >ev.out 2>ev.err &
    local ev=$!
    sleep 0.5 # subscribed before anything happens
    spec shop 1
    GREETING=e run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    kill -9 "$(pid_of shop-web-0)"
    wait_for grep -q '"kind":"die"' ev.out
    run "$ZLAYER" scale web 2
    assert_success
    wait_for running web 2
    run timeout 60 "$ZLAYER" down shop
    assert_success
    wait_for eval '[ "$(grep -c "\"kind\":\"remove\"" ev.out)" -ge 4 ]'
    kill "$ev"
    wait "$ev" || true
    # every line is an event object; the story is told in order
    jq -e -s 'all(.[]; has("seq") and has("at") and has("kind"))' ev.out
    run jq -r -s -c '[.[] | select(.id == "shop-web-0" or .resource != "container")
                     | .kind + (if .exit_code then ":" + (.exit_code | tostring) else "" end)]' ev.out
    [[ "$output" =~ ^\[\"apply\",.*\"start\",.*\"die:137\",.*\"start\",.*\"remove\" ]] ||
        { echo "$output" >&2; false; }
    [[ "$output" == *'"die:137",'*'"scale",'* ]]
    [ "$(jq -s '[.[] | select(.kind == "status" and .status == "running")] | length' ev.out)" -ge 1 ]
    # the recent ones are kept; a filter by deployment
    run "$ZLAYER" events --no-follow -d shop
    assert_success
    [ "$(echo "$output" | jq -s '[.[] | select(.deployment != "shop")] | length')" = 0 ]
    [ "$(echo "$output" | jq -s '[.[] | select(.kind == "apply")] | length')" = 1 ]
}

@test "stop, start and restart by hand, per service or for the deployment" {
    spec shop 2
    GREETING=s run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    wait_for running web 2
    local worker
    worker=$(pid_of shop-worker-0)
    run timeout 150 "$ZLAYER" stop shop --service web
    assert_success
    [ "$("$ZLAYER" ps -c -f json | jq '[.[] | select(.service == "web")] | length')" = 0 ]
    [ "$(pid_of shop-worker-0)" = "$worker" ]
    # it stays stopped: the reconciler does not bring it back
    sleep 2.5
    [ "$("$ZLAYER" ps -c -f json | jq '[.[] | select(.service == "web")] | length')" = 0 ]
    run timeout 150 "$ZLAYER" start shop --service web
    assert_success
    wait_for running web 2
    local before
    before=$("$ZLAYER" ps -c -f json | jq -c '[.[].pid] | sort')
    run timeout 150 "$ZLAYER" restart shop
    assert_success
    assert_output "shop: restarted"
    local after
    after=$("$ZLAYER" ps -c -f json | jq -c '[.[].pid] | sort')
    [ "$(jq -n --argjson a "$before" --argjson b "$after" '$a - ($a - $b) | length')" = 0 ]
    run timeout 150 "$ZLAYER" stop shop
    assert_success
    [ "$("$ZLAYER" ps -c -f json | jq length)" = 0 ]
    [ "$("$ZLAYER" ps -f json | jq -r '.[0].status')" = stopped ]
    run --separate-stderr "$ZLAYER" stop shop --service nope
    assert_failure
    [[ "$stderr" == *"has no service nope"* ]]
    # applying again starts it
    GREETING=s run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    wait_for running web 2
    wait_for running worker 1
}

@test "a bad spec is refused with its diagnostics and changes nothing" {
    spec shop 1
    GREETING=x run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    sed -i 's/replicas: 1}/replicas: 1, bogus: 2}/' shop.zlayer.yml
    GREETING=x run --separate-stderr timeout 60 "$ZLAYER" deploy shop.zlayer.yml
    assert_failure
    [[ "$stderr" == *"bogus"* ]]
    # the same through the API directly: 400 with every diagnostic
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" -H 'Content-Type: application/json' \
        -d '{"spec": "version: v2\ndeployment: x\n"}' http://zlayer/api/v1/deployments
    [ "$(echo "$output" | jq -r .error)" = validation_error ]
    [ "$(echo "$output" | jq '.details | length')" -ge 2 ]
    run "$ZLAYER" ps -f json
    [ "$(echo "$output" | jq length)" = 1 ]
    [ "$(echo "$output" | jq -r '.[0].revision')" = 1 ]
}

@test "a named volume's data survives a redeploy" {
    cat >vol.zlayer.yml <<YAML
version: v1
deployment: vols
services:
  db:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "cat /data/file 2>/dev/null; echo \$(cat /data/count 2>/dev/null)x > /data/count; cat /data/count; exec /bin/testinit pause"]}
    scale: {mode: fixed, replicas: 1}
    storage: [{type: named, name: dbdata, target: /data}]
    env: {REV: "1"}
YAML
    run timeout 120 "$ZLAYER" up -d vol.zlayer.yml
    assert_success
    sed -i 's/REV: "1"/REV: "2"/' vol.zlayer.yml
    run timeout 120 "$ZLAYER" deploy --wait vol.zlayer.yml
    assert_success
    # stop-first (a named volume): the new replica takes the index the old one left
    wait_for eval '"$ZLAYER" logs db | grep -q "^db-0 | xx$"'
    [ -f "$ZLAYER_ROOT_DIR/volumes/vols-dbdata/count" ]
}

@test "storage: bind (read-write and read-only), anonymous, tmpfs with size and mode" {
    mkdir -p "$BATS_TEST_TMPDIR/host-rw" "$BATS_TEST_TMPDIR/host-ro"
    echo from-host >"$BATS_TEST_TMPDIR/host-ro/motd"
    cat >kinds.zlayer.yml <<YAML
version: v1
deployment: volkinds
services:
  box:
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "echo hi > /rw/out; echo s > /scratch/f; exec /bin/testinit pause"]}
    scale: {mode: fixed, replicas: 1}
    storage:
      - {type: bind, source: "$BATS_TEST_TMPDIR/host-rw", target: /rw}
      - {type: bind, source: "$BATS_TEST_TMPDIR/host-ro", target: /ro, readonly: true}
      - {type: anonymous, target: /scratch}
      - {type: tmpfs, target: /fast, size: 8Mi, mode: 0o1777}
YAML
    run timeout 120 "$ZLAYER" up -d kinds.zlayer.yml
    assert_success
    wait_for test -f "$BATS_TEST_TMPDIR/host-rw/out"
    [ "$(cat "$BATS_TEST_TMPDIR/host-rw/out")" = hi ]
    run timeout 30 "$ZLAYER" exec box -- cat /ro/motd
    assert_output from-host
    run timeout 30 "$ZLAYER" exec box -- sh -c 'echo x > /ro/new'
    assert_failure
    [ ! -e "$BATS_TEST_TMPDIR/host-ro/new" ]
    run timeout 30 "$ZLAYER" exec box -- cat /scratch/f
    assert_output s
    # the anonymous volume lives in the container's folder on the host
    ls -d "$ZLAYER_ROOT_DIR"/containers/volkinds-box-0/* >/dev/null
    run timeout 30 "$ZLAYER" exec box -- sh -c 'stat -c %a /fast; grep " /fast " /proc/mounts'
    assert_success
    assert_line 1777
    assert_line --regexp 'tmpfs /fast tmpfs .*size=8192k'
    run timeout 60 "$ZLAYER" down volkinds
    assert_success
    # the host's bind sources stay, the anonymous volume goes with the container
    [ "$(cat "$BATS_TEST_TMPDIR/host-rw/out")" = hi ]
    [ ! -e "$ZLAYER_ROOT_DIR/containers/volkinds-box-0" ]
}

@test "up in the foreground prints the output and Ctrl-C brings the deployment down" {
    spec fgd 1
    # a background job of a script ignores SIGINT unless told otherwise: trap resets it
    (trap - INT; GREETING=fg exec "$ZLAYER" up fgd.zlayer.yml >fg.out 2>fg.err) &
    local up=$!
    wait_for grep -q "web web-0 fg" fg.out || { cat fg.out fg.err >&2; false; }
    wait_for grep -q "^worker-0 | worker up$" fg.out
    kill -INT "$up"
    wait "$up" || true
    wait_for eval '[ "$("$ZLAYER" ps -f json | jq length)" = 0 ]'
    wait_for eval '[ -z "$(ls "$ZLAYER_RUNTIME_DIR/containers")" ]'
}

@test "down removes the containers and their mounts" {
    spec shop 2
    GREETING=x run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    run timeout 60 "$ZLAYER" down shop
    assert_success
    [ "$("$ZLAYER" ps -c -f json | jq length)" = 0 ]
    [ -z "$(ls "$ZLAYER_ROOT_DIR/containers")" ]
    ! grep -q "$BATS_TEST_TMPDIR/root/containers" /proc/self/mountinfo
}

@test "exec runs in a replica's namespaces and returns its output and exit code" {
    spec shop 2
    GREETING=x run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    run --separate-stderr timeout 30 "$ZLAYER" exec web -r 1 -- sh -c 'hostname; echo oops >&2; exit 3'
    [ "$status" -eq 3 ]
    [ "$output" = web-1 ]
    [ "$stderr" = oops ]
    run timeout 30 "$ZLAYER" exec worker -- sh -c 'ls /proc | grep -c "^[0-9]"'
    assert_success
    [ "$output" -le 5 ]   # its own pid namespace: pid 1 and the exec'd commands only
    run --separate-stderr timeout 30 "$ZLAYER" exec web -r 7 -- true
    assert_failure
    [[ "$stderr" == *"no running replica"* ]]
    # -i: this stdin goes in; -t: a pty in the container, the exit code comes back
    run bash -c "echo piped | timeout 30 '$ZLAYER' exec -i web -r 1 -- sh -c 'cat; hostname'"
    assert_success
    assert_line piped
    assert_line web-1
    run timeout 30 script -qec "'$ZLAYER' exec -it web -r 0 -- sh -c 'tty; hostname; exit 4'" /dev/null
    [ "$status" -eq 4 ]
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *"web-0"* ]]
    run --separate-stderr bash -c "timeout 30 '$ZLAYER' exec -t web -- true </dev/null"
    assert_failure
    [[ "$stderr" == *"needs a terminal"* ]]
}

@test "exec over TCP: stdin, a pty and the exit code through an upgraded connection" {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    run timeout 30 "$ZLAYER" serve --daemon --bind "127.0.0.1:$port"
    assert_success
    spec shop 2
    GREETING=t run timeout 120 "$ZLAYER" up -d shop.zlayer.yml
    assert_success
    local tok
    tok=$("$ZLAYER" token create --ttl 120)
    export ZLAYER_HOST="tcp://127.0.0.1:$port" ZLAYER_TOKEN="$tok"
    run --separate-stderr bash -c "printf 'one\ntwo\n' | timeout 30 '$ZLAYER' exec -i -d shop web -r 1 -- sh -c 'cat; hostname; echo oops >&2; exit 3'"
    [ "$status" -eq 3 ]
    [ "$output" = "$(printf 'one\ntwo\nweb-1')" ]
    [ "$stderr" = oops ]
    run timeout 30 script -qec "'$ZLAYER' exec -it -d shop web -r 0 -- sh -c 'tty; hostname; exit 5'" /dev/null
    [ "$status" -eq 5 ]
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *"web-0"* ]]
    # the terminal's size goes along
    run timeout 30 script -qec "stty rows 33 cols 101; '$ZLAYER' exec -it -d shop web -- busybox stty size" /dev/null
    assert_success
    [[ "$output" == *"33 101"* ]] || { echo "size: $output" >&2; false; }
    # a viewer may not; an unknown replica is refused before any switch
    ZLAYER_TOKEN=$("$ZLAYER" token create --role viewer) run --separate-stderr bash -c "echo | '$ZLAYER' exec -i -d shop web -- true"
    assert_failure
    [[ "$stderr" == *"403"* ]]
    run --separate-stderr bash -c "echo | '$ZLAYER' exec -i -d shop web -r 9 -- true"
    assert_failure
    [[ "$stderr" == *"no running replica"* ]]
    unset ZLAYER_HOST ZLAYER_TOKEN
}

@test "TCP API: health is open, everything else needs a valid bearer token" {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    run timeout 30 "$ZLAYER" serve --daemon --bind "127.0.0.1:$port"
    assert_success
    run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready"
    assert_output 200
    run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/deployments"
    assert_output 401
    run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer a.b.c' \
        "http://127.0.0.1:$port/api/v1/deployments"
    assert_output 401
    local tok
    tok=$("$ZLAYER" token create --ttl 60)
    run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
        "http://127.0.0.1:$port/api/v1/deployments"
    assert_output 200
    # tokens cannot be minted over TCP, even with a token
    run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -d '{}' \
        "http://127.0.0.1:$port/api/v1/tokens"
    assert_output 403
    # the CLI over TCP
    ZLAYER_HOST="tcp://127.0.0.1:$port" ZLAYER_TOKEN="$tok" run "$ZLAYER" status
    assert_success
    ZLAYER_HOST="tcp://127.0.0.1:$port" ZLAYER_TOKEN=bad run "$ZLAYER" ps
    assert_failure
    # roles: a viewer reads only; an operator changes deployments but runs no commands
    local viewer operator
    viewer=$("$ZLAYER" token create --role viewer)
    operator=$("$ZLAYER" token create --role operator)
    run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $viewer" \
        "http://127.0.0.1:$port/api/v1/deployments"
    assert_output 200
    run curl -s -w '\n%{http_code}' -H "Authorization: Bearer $viewer" -H 'Content-Type: application/json' \
        -d '{"spec": "version: v1\ndeployment: x\n"}' "http://127.0.0.1:$port/api/v1/deployments"
    assert_line 403
    assert_output --partial '"forbidden"'
    run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $operator" \
        -H 'Content-Type: application/json' -d '{"command": ["true"]}' \
        "http://127.0.0.1:$port/api/v1/deployments/x/services/y/exec"
    assert_output 403
    run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $operator" \
        "http://127.0.0.1:$port/api/v1/deployments/x/stop" -d '{}'
    assert_output 404   # allowed, and there is no deployment x
    run "$ZLAYER" token create --role root
    [ "$status" -eq 2 ]
    # the secret is root's alone
    [ "$(stat -c %a "$ZLAYER_ROOT_DIR/jwt.secret")" = 600 ]
}
