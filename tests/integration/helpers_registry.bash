# A throwaway docker-registry on 127.0.0.1 for a test file: registry_start DIR sets PORT and
# leaves DIR/reg.pid; registry_stop DIR stops it.

registry_start() {
    local dir=$1 i
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export PORT
    cat >"$dir/reg.yml" <<CONF
version: 0.1
storage: {filesystem: {rootdirectory: $dir/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT}
log: {level: error}
CONF
    docker-registry serve "$dir/reg.yml" >"$dir/reg.log" 2>&1 &
    echo $! >"$dir/reg.pid"
    for i in $(seq 100); do
        curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && return 0
        sleep 0.1
    done
    echo "docker-registry did not start: $(cat "$dir/reg.log")" >&2
    return 1
}

registry_stop() {
    [ -f "$1/reg.pid" ] && kill "$(cat "$1/reg.pid")" 2>/dev/null
    return 0
}
