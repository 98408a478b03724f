#!/usr/bin/env bats
# Jobs and crons end to end: runs from a registry image, their exit codes, history and
# output; a cron that never overlaps itself; a time missed while the daemon was down caught
# up once; runs a killed daemon left settled by the next one. Deployment names start with
# "jobs" (other daemon tests may run on this machine at the same time).

load helpers_runtime
load helpers_registry
load helpers_daemon

# jobs_spec NAME: a deployment with jobs ok (exit 0), bad (exit 3) and slow (sleeps).
jobs_spec() {
    cat >"$BATS_TEST_TMPDIR/$1.zlayer.yml" <<YAML
version: v1
deployment: $1
services:
  ok:
    rtype: job
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "echo ok from \$(hostname); echo to stderr >&2"]}
  bad:
    rtype: job
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "echo failing; exit 3"]}
  slow:
    rtype: job
    image: {name: "$IMG"}
    command: {args: ["sleep", "30"]}
    stop_grace_period: 1s
  chatty:
    rtype: job
    image: {name: "$IMG"}
    command: {args: ["busybox", "seq", "1", "40000"]}
YAML
}

# cron_spec NAME SCHEDULE COMMAND: a deployment with one cron, tick.
cron_spec() {
    cat >"$BATS_TEST_TMPDIR/$1.zlayer.yml" <<YAML
version: v1
deployment: $1
services:
  tick:
    rtype: cron
    schedule: "$2"
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "$3"]}
    stop_grace_period: 1s
YAML
}

# status_of RUN: a run's status
status_of() {
    "$ZLAYER" job status "$1" | jq -r .status
}

# runs NAME [FILTER]: the runs of a job as JSON, newest first
runs() {
    "$ZLAYER" job runs "$1" -n 1000 -f json | jq -c "${2:-.}"
}

@test "jobs run to their end: exit codes, output, history, cancel, bad requests" {
    jobs_spec jobsa
    run timeout 60 "$ZLAYER" deploy jobsa.zlayer.yml
    assert_success
    run "$ZLAYER" job list
    assert_success
    assert_line --regexp '^bad +jobsa +job +-$'
    [ "${#lines[@]}" -eq 5 ]
    # --wait: the run's output, and its exit code as ours
    run --separate-stderr timeout 60 "$ZLAYER" job run ok --wait
    assert_success
    assert_output --partial "ok from ok-0"
    assert_output --partial "to stderr"
    run --separate-stderr timeout 60 "$ZLAYER" job run bad --wait
    [ "$status" -eq 3 ] || { echo "status $status: $output / $stderr" >&2; false; }
    assert_output "failing"
    [[ "$stderr" == *"failed: exited with code 3"* ]]
    # without --wait: the run id at once
    run timeout 30 "$ZLAYER" job run bad
    assert_success
    local id=$output
    [[ "$id" =~ ^[0-9]+$ ]]
    wait_for eval '[ "$(status_of "$id")" = failed ]'
    run "$ZLAYER" job status "$id"
    [ "$(echo "$output" | jq -r .exit_code)" = 3 ]
    [ "$(echo "$output" | jq -r .trigger)" = cli ]
    [ "$(echo "$output" | jq -r .job_name)" = bad ]
    [ "$(echo "$output" | jq -r .deployment)" = jobsa ]
    [ "$(echo "$output" | jq '.duration_ms >= 0')" = true ]
    run "$ZLAYER" job logs "$id"
    assert_success
    assert_output "failing"
    # the history, newest first
    run "$ZLAYER" job runs bad
    assert_success
    assert_line --index 0 --regexp '^ID +STATUS +TRIGGER +STARTED +DURATION +EXIT$'
    assert_line --index 1 --regexp "^$id +failed +cli +[0-9-]+ [0-9:]+ +[0-9.]+s +3$"
    [ "${#lines[@]}" -eq 3 ]
    [ "$(runs ok '[.[] | .status + ":" + (.exit_code | tostring)]')" = '["completed:0"]' ]
    # over the API too, filtered by status
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" \
        "http://zlayer/api/v1/jobs/bad/executions?status=completed"
    assert_output "[]"
    # cancel: the container is stopped and removed, the run recorded as cancelled
    run timeout 30 "$ZLAYER" job run slow
    id=$output
    wait_for eval '[ "$(status_of "$id")" = running ]'
    [ -d "$ZLAYER_ROOT_DIR/containers/jobsa-slow-r$id" ]
    run timeout 60 "$ZLAYER" job cancel "$id"
    assert_success
    assert_output "$id: cancelled"
    [ ! -e "$ZLAYER_ROOT_DIR/containers/jobsa-slow-r$id" ]
    run --separate-stderr "$ZLAYER" job cancel "$id"
    assert_failure
    [[ "$stderr" == *"409"*"already cancelled"* ]]
    # bad input: clear errors naming the field, nothing recorded
    run --separate-stderr "$ZLAYER" job run nosuch
    assert_failure
    [[ "$stderr" == *"404"*"name: there is no job named 'nosuch'"* ]]
    run --separate-stderr "$ZLAYER" job status abc
    assert_failure
    [[ "$stderr" == *"400"*"id: 'abc' is not a run id"* ]]
    run --separate-stderr "$ZLAYER" job logs 99999
    assert_failure
    [[ "$stderr" == *"404"* ]]
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" -X POST \
        -d '{"trigger": "someone"}' http://zlayer/api/v1/jobs/ok/trigger
    [[ "$output" == *'"trigger: the body must be'* ]]
    [ "$(runs ok length)" = 1 ]
    run "$ZLAYER" job run
    [ "$status" -eq 2 ]
    # the output kept is the last 1 MiB of it, whole lines
    run timeout 60 "$ZLAYER" job run chatty --wait
    assert_success
    id=$("$ZLAYER" job runs chatty -f json | jq '.[0].id')
    [ "$(stat -c %s "$ZLAYER_ROOT_DIR/jobs/$id.log")" -le 1048576 ]
    run "$ZLAYER" job logs "$id"
    assert_line --index 0 --regexp '^[0-9]+$'
    [ "${lines[-1]}" = 40000 ]
    [ "${lines[0]}" -gt 1 ]
    # down stops the runs of the deployment; their history stays
    run timeout 30 "$ZLAYER" job run slow
    id=$output
    wait_for eval '[ "$(status_of "$id")" = running ]'
    run timeout 60 "$ZLAYER" down jobsa
    assert_success
    wait_for eval '[ "$(status_of "$id")" = cancelled ]'
    [ "$("$ZLAYER" job status "$id" | jq -r .error)" = "its deployment was removed while it ran" ]
}

@test "a cron never overlaps itself: its times that fall during a run are skipped" {
    cron_spec jobsb "* * * * * *" "echo tick; sleep 2"
    run timeout 60 "$ZLAYER" deploy jobsb.zlayer.yml
    assert_success
    run "$ZLAYER" cron list
    assert_line --regexp '^tick +jobsb +\* \* \* \* \* \* +yes '
    # about 6 s: two runs done, and skips between them
    wait_for eval '[ "$(runs tick "[.[] | select(.status == \"completed\")] | length")" -ge 2 ]'
    run timeout 30 "$ZLAYER" cron disable tick
    assert_success
    assert_output "cron jobsb/tick disabled"
    [ "$("$ZLAYER" cron list -f json | jq -r '.[0].enabled')" = false ]
    # what runs now ends, then nothing new starts
    wait_for eval '[ "$(runs tick "[.[] | select(.status == \"running\" or .status == \"pending\")] | length")" = 0 ]'
    local n
    n=$(runs tick length)
    sleep 2
    [ "$(runs tick length)" = "$n" ]
    # each run started after the one before it had finished (times compare as text)
    runs tick '[.[] | select(.status != "skipped")] | reverse' >ran.json
    [ "$(jq length ran.json)" -ge 2 ]
    jq -e '[range(1; length) as $i | .[$i].started_at > .[$i - 1].completed_at] | all' ran.json
    jq -e 'all(.[]; .trigger == "scheduler" and .exit_code == 0)' ran.json
    [ "$(runs tick '[.[] | select(.status == "skipped")] | length')" -ge 1 ]
    runs tick '.[] | select(.status == "skipped") | .error' | grep -q "crons never overlap"
    run "$ZLAYER" job logs "$(jq '.[0].id' ran.json)"
    assert_output "tick"
    # by hand, also when disabled
    run --separate-stderr timeout 60 "$ZLAYER" cron trigger tick --wait
    assert_success
    assert_output "tick"
}

@test "a cron time missed while the daemon was down runs once at start-up" {
    cron_spec jobsc "*/2 * * * * *" "echo at \$(date +%s)"
    run timeout 60 "$ZLAYER" deploy jobsc.zlayer.yml
    assert_success
    wait_for eval '[ "$(runs tick "[.[] | select(.status == \"completed\")] | length")" -ge 1 ]'
    stop_daemon
    # at least two of its times (every 2 s) pass while no daemon runs
    local t0=$(date +%s)
    wait_for eval '[ $(($(date +%s) - t0)) -ge 5 ]'
    run timeout 30 "$ZLAYER" serve --daemon
    assert_success
    wait_for eval '[ "$(runs tick "[.[] | select(.trigger == \"catch-up\" and .status == \"completed\")] | length")" = 1 ]'
    # then on schedule again, and never a second catch-up
    wait_for eval '[ "$(runs tick "[.[] | select(.trigger == \"scheduler\")] | length")" -ge 2 ]'
    [ "$(runs tick '[.[] | select(.trigger == "catch-up")] | length')" = 1 ]
    grep -q '"msg":"jobsc/tick: run [0-9]* triggered (catch-up)"' "$ZLAYER_RUNTIME_DIR/daemon.log"
}

@test "a disabled cron stays disabled across a restart and catches nothing up" {
    cron_spec jobsf "*/2 * * * * *" "echo on"
    run timeout 60 "$ZLAYER" deploy jobsf.zlayer.yml
    assert_success
    run timeout 30 "$ZLAYER" cron disable tick
    assert_success
    stop_daemon
    local t0=$(date +%s)
    wait_for eval '[ $(($(date +%s) - t0)) -ge 3 ]'
    run timeout 30 "$ZLAYER" serve --daemon
    assert_success
    [ "$("$ZLAYER" cron list -f json | jq -r '.[0].enabled')" = false ]
    t0=$(date +%s)
    wait_for eval '[ $(($(date +%s) - t0)) -ge 3 ]'
    [ "$(runs tick length)" = 0 ]
    # enabled again: on schedule from now on, nothing missed is run
    run timeout 30 "$ZLAYER" cron enable tick
    assert_success
    wait_for eval '[ "$(runs tick "[.[] | select(.status == \"completed\")] | length")" -ge 1 ]'
    [ "$(runs tick '[.[] | select(.trigger != "scheduler")] | length')" = 0 ]
}

@test "a daemon killed during a run: the next one fails the run and removes its container" {
    jobs_spec jobsd
    run timeout 60 "$ZLAYER" deploy jobsd.zlayer.yml
    assert_success
    run timeout 30 "$ZLAYER" job run slow
    local id=$output
    wait_for eval '[ "$(status_of "$id")" = running ]'
    local pid
    pid=$(cat "$ZLAYER_RUNTIME_DIR/zlayer.pid")
    kill -9 "$pid"
    wait_for eval '! [ -d /proc/$pid ] || grep -q "^State:.*Z" /proc/$pid/status'
    # the run's container outlives the daemon
    [ -d "$ZLAYER_RUNTIME_DIR/containers/jobsd-slow-r$id" ]
    run timeout 60 "$ZLAYER" serve --daemon
    assert_success
    run "$ZLAYER" job status "$id"
    [ "$(echo "$output" | jq -r .status)" = failed ]
    [ "$(echo "$output" | jq -r .error)" = "the daemon stopped during the run" ]
    [ -z "$(ls "$ZLAYER_RUNTIME_DIR/containers")" ]
}

@test "history is bounded: the newest 50 runs of a job and their logs are kept" {
    jobs_spec jobse
    run timeout 60 "$ZLAYER" deploy jobse.zlayer.yml
    assert_success
    # 56 runs, at most 10 at once (more are refused with 409 until some end)
    local i tries first=""
    for i in $(seq 56); do
        for tries in $(seq 100); do
            run timeout 30 "$ZLAYER" job run ok
            [ "$status" -eq 0 ] && break
            [[ "$output" == *"409"*"too many runs at once"* ]] || { echo "$output" >&2; false; }
            sleep 0.2
        done
        assert_success
        [ -n "$first" ] || first=$output
    done
    wait_for eval '[ "$(runs ok "[.[] | select(.status != \"completed\")] | length")" = 0 ]' ||
        { runs ok '.[] | select(.status != "completed")' >&2; tail -20 "$ZLAYER_RUNTIME_DIR/daemon.log" >&2; false; }
    [ "$(runs ok length)" = 50 ]
    [ "$(runs ok '.[-1].id')" -gt "$((first + 5))" ]
    [ "$(ls "$ZLAYER_ROOT_DIR/jobs" | wc -l)" = 50 ]
    [ ! -e "$ZLAYER_ROOT_DIR/jobs/$first.log" ]
    run "$ZLAYER" job logs "$first"
    assert_failure
}

@test "a job's init steps run in its container before it; a failing one fails the run" {
    cat >jobsi.zlayer.yml <<YAML
version: v1
deployment: jobsi
services:
  prep:
    rtype: job
    image: {name: "$IMG"}
    command: {args: ["sh", "-c", "echo job sees \$(cat /tmp/ready)"]}
    init: {steps: [{id: ready, uses: init.run, with: {command: "echo yes > /tmp/ready"}}]}
  broken:
    rtype: job
    image: {name: "$IMG"}
    command: {args: ["true"]}
    init: {steps: [{id: nope, uses: init.run, with: {command: "echo no way; exit 4"}}]}
YAML
    run timeout 60 "$ZLAYER" deploy jobsi.zlayer.yml
    assert_success
    run timeout 60 "$ZLAYER" job run prep --wait
    assert_success
    assert_output --partial "job sees yes"
    run timeout 60 "$ZLAYER" job run broken --wait
    assert_failure
    wait_for eval '[ "$(runs broken ".[0].status")" = "\"failed\"" ]'
    runs broken '.[0].error' | grep -q 'init step nope (init.run) failed: `echo no way; exit 4` exited with code 4: no way'
    [ -z "$(ls "$ZLAYER_RUNTIME_DIR/containers")" ]
}

@test "a run cancelled or stopped during its init steps: the steps end before the run does" {
    cat >jobsg.zlayer.yml <<YAML
version: v1
deployment: jobsg
services:
  stuck:
    rtype: job
    image: {name: "$IMG"}
    command: {args: ["true"]}
    init: {steps: [{id: hang, uses: init.run, with: {command: "echo waiting; sleep 60"}}]}
YAML
    run timeout 60 "$ZLAYER" deploy jobsg.zlayer.yml
    assert_success
    run timeout 30 "$ZLAYER" job run stuck
    assert_success
    local id=$output
    wait_for eval '"$ZLAYER" job logs "$id" | grep -q waiting'
    [ "$(status_of "$id")" = pending ]
    run timeout 60 "$ZLAYER" job cancel "$id"
    assert_success
    assert_output "$id: cancelled"
    [ "$("$ZLAYER" job status "$id" | jq -r .error)" = "ended during its init steps" ]
    [ -z "$(ls "$ZLAYER_RUNTIME_DIR/containers")" ]
    # the daemon stops during them: the run fails, and the steps end before the daemon
    run timeout 30 "$ZLAYER" job run stuck
    assert_success
    id=$output
    wait_for eval '"$ZLAYER" job logs "$id" | grep -q waiting'
    stop_daemon
    run timeout 30 "$ZLAYER" serve --daemon
    assert_success
    [ "$("$ZLAYER" job status "$id" | jq -r '.status + ": " + .error')" = "failed: ended during its init steps" ]
    run grep -E 'did not stop|still running at exit|Sanitizer' "$ZLAYER_RUNTIME_DIR/daemon.log"
    assert_failure
}

@test "a run cancelled just before the daemon stops is recorded as cancelled" {
    jobs_spec jobsh
    run timeout 60 "$ZLAYER" deploy jobsh.zlayer.yml
    assert_success
    run timeout 30 "$ZLAYER" job run slow
    assert_success
    local id=$output
    wait_for eval '[ "$(status_of "$id")" = running ]'
    # SIGTERM right after the cancel: the run still ends as its user asked
    run curl -s --unix-socket "$ZLAYER_RUNTIME_DIR/zlayer.sock" -X POST \
        "http://zlayer/api/v1/jobs/$id/cancel"
    [[ "$output" == *'"cancelling: the container is being stopped"'* ]]
    stop_daemon
    run timeout 30 "$ZLAYER" serve --daemon
    assert_success
    [ "$("$ZLAYER" job status "$id" | jq -r '.status + ": " + .error')" = "cancelled: cancelled while running" ]
}

@test "a cron whose stop control cannot be read skips its times until it can" {
    cron_spec jobsj "* * * * * *" "echo tick"
    run timeout 60 "$ZLAYER" deploy jobsj.zlayer.yml
    assert_success
    wait_for eval '[ "$(runs tick "[.[] | select(.status == \"completed\")] | length")" -ge 1 ]'
    # the controls table away: whether the cron is stopped is not known
    python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); c.execute("ALTER TABLE controls RENAME TO controls_away"); c.commit()' \
        "$ZLAYER_ROOT_DIR/state.db"
    wait_for grep -q '"msg":"cron jobsj/tick: .*no such table: controls' "$ZLAYER_RUNTIME_DIR/daemon.log"
    wait_for eval '[ "$(runs tick "[.[] | select(.status == \"running\" or .status == \"pending\")] | length")" = 0 ]'
    local n
    n=$(runs tick length)
    sleep 3
    [ "$(runs tick length)" = "$n" ]
    python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); c.execute("ALTER TABLE controls_away RENAME TO controls"); c.commit()' \
        "$ZLAYER_ROOT_DIR/state.db"
    wait_for eval '[ "$(runs tick length)" -gt "$n" ]'
}
