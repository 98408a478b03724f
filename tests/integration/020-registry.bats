#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The registry client against Debian's docker-registry: anonymous, htpasswd Basic auth and
# token auth; indexes and platforms, gzip and zstd layers, digests checked, downloads that
# survive a dying registry. Driven through tests/helpers/registry_probe.c.

# shellcheck disable=SC2154 # $stderr is set by bats run --separate-stderr
bats_require_minimum_version 1.5.0
if [[ -z ${BATS_LIB_PATH:-} ]]; then
    BATS_LIB_PATH=/usr/lib/bats
fi
bats_load_library bats-support
bats_load_library bats-assert

PROBE=${ZL_REGISTRY_PROBE:?set ZL_REGISTRY_PROBE to the registry_probe test program}
OCI_AMD64='application/vnd.oci.image.manifest.v1+json'

# ---- fixtures ----

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL: until anything answers there (at most 10 s).
wait_http() {
    local i code
    for ((i = 0; i < 100; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)
        [[ $code != 000 ]] && return 0
        sleep 0.1
    done
    echo "nothing answers at $1" >&2
    return 1
}

# start_registry NAME [PORT [AUTH_YAML]]: docker-registry on 127.0.0.1, storage and PID in
# $BATS_FILE_TMPDIR/reg-NAME; prints nothing, sets nothing (reg_port NAME reads it back).
start_registry() {
    local dir=$BATS_FILE_TMPDIR/reg-$1 port=${2:-}
    mkdir -p "$dir/storage"
    if [[ -z $port ]]; then
        port=$(free_port)
        echo "$port" >"$dir/port"
        {
            printf 'version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n'
            printf '    rootdirectory: %s\n  delete:\n    enabled: true\n' "$dir/storage"
            printf 'http:\n  addr: 127.0.0.1:%s\n' "$port"
            printf '%s' "${3:-}"
        } >"$dir/config.yml"
    fi
    docker-registry serve "$dir/config.yml" >>"$dir/log" 2>&1 3>&- &
    echo $! >"$dir/pid"
    disown $!
    wait_http "http://127.0.0.1:$port/v2/"
}

reg_port() { cat "$BATS_FILE_TMPDIR/reg-$1/port"; }

# kill_registry NAME: SIGKILL, then until its port stops answering (at most 10 s).
kill_registry() {
    local i port
    port=$(reg_port "$1")
    kill -KILL "$(cat "$BATS_FILE_TMPDIR/reg-$1/pid")" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/v2/" ||
            true) == 000 ]] && return 0
        sleep 0.1
    done
    fail "registry $1 still answers after SIGKILL"
}

# restart_registry NAME: again on the same port and storage.
restart_registry() { start_registry "$1" "$(reg_port "$1")"; }

# ensure_registry NAME: restart it when an earlier test left it dead.
ensure_registry() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(reg_port "$1")/v2/" ||
        true) != 000 ]] || restart_registry "$1"
}

# The token service: Basic auth tok/tokpass, RS256 JWTs the registry trusts.
start_token_service() {
    local d=$BATS_FILE_TMPDIR/token kid
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" \
        -days 2 -subj /CN=zltest-token 2>/dev/null
    # libtrust key ID: base32 of the first 240 bits of SHA-256(DER public key), 4-char groups
    kid=$(openssl pkey -in "$d/key.pem" -pubout -outform DER | openssl dgst -sha256 -binary |
        head -c 30 | base32 -w0 | tr -d '=' | sed 's/.\{4\}/&:/g; s/:$//')
    cat >"$d/server.py" <<'EOF'
import base64, json, subprocess, sys, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

port, key, kid, service, issuer, user, password, log = sys.argv[1:9]

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def sign(claims):
    head = b64(json.dumps({"typ": "JWT", "alg": "RS256", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], check=True,
                         input=(head + "." + body).encode(), capture_output=True).stdout
    return head + "." + body + "." + b64(sig)

class Handler(BaseHTTPRequestHandler):
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        good = "Basic " + base64.b64encode((user + ":" + password).encode()).decode()
        state = "ok" if auth == good else "bad" if auth else "none"
        scopes = q.get("scope", [])
        with open(log, "a") as f:
            f.write("%s service=%s scope=%s auth=%s\n" % (url.path, q.get("service", [""])[0],
                                                          ",".join(scopes), state))
        if state != "ok":
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}')
        access = []
        for s in scopes:
            typ, rest = s.split(":", 1)
            name, actions = rest.rsplit(":", 1)
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        tok = sign({"iss": issuer, "sub": user, "aud": service, "exp": now + 300,
                    "nbf": now - 10, "iat": now, "jti": "%d-%f" % (now, time.time()),
                    "access": access})
        self.reply(200, json.dumps({"token": tok, "expires_in": 300}).encode())

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
EOF
    TOKEN_PORT=$(free_port)
    echo "$TOKEN_PORT" >"$d/port"
    python3 "$d/server.py" "$TOKEN_PORT" "$d/key.pem" "$kid" zltest-registry zltest-issuer \
        tok tokpass "$d/requests.log" >"$d/out.log" 2>&1 3>&- &
    echo $! >"$d/pid"
    wait_http "http://127.0.0.1:$TOKEN_PORT/token"
}

# oci_tag_manifest LAYOUT FILE TAG: add manifest FILE (blob written) to index.json as TAG.
oci_add() {
    local layout=$1 file=$2 tag=$3 mt=$4 d
    d=$(sha256sum "$file" | cut -d' ' -f1)
    cp "$file" "$layout/blobs/sha256/$d"
    jq --arg d "sha256:$d" --argjson s "$(stat -c %s "$file")" --arg t "$tag" --arg mt "$mt" \
        '.manifests += [{mediaType: $mt, digest: $d, size: $s,
          annotations: {"org.opencontainers.image.ref.name": $t}}]' \
        "$layout/index.json" >"$layout/index.new"
    mv "$layout/index.new" "$layout/index.json"
}

# The digest of TAG in the OCI layout.
oci_digest() {
    jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t)
        | .digest' "$1/index.json"
}

blob_file() { echo "$1/blobs/sha256/${2#sha256:}"; }

# busybox images: amd64, arm64, an index of both ("multi"), a zstd one, a 64 MiB one.
build_images() {
    local o=$OCI b=$BATS_FILE_TMPDIR/bundle man layer zl
    umoci init --layout "$o"
    umoci new --image "$o:base"
    umoci unpack --image "$o:base" "$b" >/dev/null
    mkdir -p "$b/rootfs/bin"
    cp /bin/busybox "$b/rootfs/bin/busybox"
    ln -s busybox "$b/rootfs/bin/sh"
    umoci repack --image "$o:base" "$b"
    rm -rf "$b"
    umoci config --image "$o:base" --os linux --architecture amd64 --tag amd64
    umoci config --image "$o:base" --os linux --architecture arm64 --tag arm64
    jq -n --arg a "$(oci_digest "$o" amd64)" --arg b "$(oci_digest "$o" arm64)" \
        --argjson sa "$(stat -c %s "$(blob_file "$o" "$(oci_digest "$o" amd64)")")" \
        --argjson sb "$(stat -c %s "$(blob_file "$o" "$(oci_digest "$o" arm64)")")" \
        '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [
          {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $a, size: $sa,
           platform: {os: "linux", architecture: "amd64"}},
          {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $b, size: $sb,
           platform: {os: "linux", architecture: "arm64", variant: "v8"}}]}' >"$o/../index.json"
    oci_add "$o" "$o/../index.json" multi application/vnd.oci.image.index.v1+json
    # the same image with its layer recompressed as zstd
    man=$(blob_file "$o" "$(oci_digest "$o" amd64)")
    layer=$(blob_file "$o" "$(jq -r '.layers[0].digest' "$man")")
    zl=$BATS_FILE_TMPDIR/layer.zst
    gunzip -c "$layer" | zstd -q -c >"$zl"
    ZSTD_LAYER=sha256:$(sha256sum "$zl" | cut -d' ' -f1)
    cp "$zl" "$(blob_file "$o" "$ZSTD_LAYER")"
    jq --arg d "$ZSTD_LAYER" --argjson s "$(stat -c %s "$zl")" \
        '.layers[0] |= (.digest = $d | .size = $s |
          .mediaType = "application/vnd.oci.image.layer.v1.tar+zstd")' "$man" >"$o/../zstd.json"
    oci_add "$o" "$o/../zstd.json" zstd "$OCI_AMD64"
    # 64 MiB of random data: slow enough to interrupt
    umoci tag --image "$o:amd64" big
    head -c 64M /dev/urandom >"$BATS_FILE_TMPDIR/random"
    umoci insert --image "$o:big" "$BATS_FILE_TMPDIR/random" /data/random
    rm -f "$BATS_FILE_TMPDIR/random"
}

# push TAG REGISTRY REPO [skopeo options]
push() {
    local tag=$1 dst=$2/$3
    shift 3
    skopeo copy --quiet --all --dest-tls-verify=false "$@" \
        "oci:$OCI:$tag" "docker://$dst" >/dev/null
}

setup_file() {
    [ "$(id -u)" -eq 0 ] || return 0
    export OCI=$BATS_FILE_TMPDIR/oci
    build_images
    export ZSTD_LAYER

    start_registry anon
    ANON=127.0.0.1:$(reg_port anon)
    export ANON
    push amd64 "$ANON" single:1
    push multi "$ANON" multi:1 --preserve-digests
    push zstd "$ANON" zstd:1 --preserve-digests
    push amd64 "$ANON" docker:1 -f v2s2
    start_registry flaky
    FLAKY=127.0.0.1:$(reg_port flaky)
    export FLAKY
    push big "$FLAKY" big:1

    htpasswd -Bbn alice wonderland >"$BATS_FILE_TMPDIR/htpasswd"
    start_registry basic "" "$(printf 'auth:\n  htpasswd:\n    realm: zltest\n    path: %s\n' \
        "$BATS_FILE_TMPDIR/htpasswd")"
    BASIC=127.0.0.1:$(reg_port basic)
    export BASIC
    push amd64 "$BASIC" private/single:1 --dest-creds alice:wonderland

    start_token_service
    start_registry token "" "$(printf 'auth:\n  token:\n    realm: http://127.0.0.1:%s/token\n    service: zltest-registry\n    issuer: zltest-issuer\n    rootcertbundle: %s\n' \
        "$TOKEN_PORT" "$BATS_FILE_TMPDIR/token/cert.pem")"
    TOKEN=127.0.0.1:$(reg_port token)
    export TOKEN
    push multi "$TOKEN" team/multi:1 --preserve-digests --dest-creds tok:tokpass
}

teardown_file() {
    local f
    for f in "$BATS_FILE_TMPDIR"/reg-*/pid "$BATS_FILE_TMPDIR"/token/pid; do
        [[ -f $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null
    done
    return 0
}

setup() {
    [ "$(id -u)" -eq 0 ] || skip "the registry tests run as root"
    # no credentials but the ones a test writes
    export HOME=$BATS_TEST_TMPDIR/home ZLAYER_ROOT_DIR=$BATS_TEST_TMPDIR/zlroot
    unset REGISTRY_AUTH_FILE DOCKER_CONFIG
    mkdir -p "$HOME"
    ROOT=$BATS_TEST_TMPDIR/store
}

# probe ARGS...: run the probe with a time limit; $output is stdout, $stderr stderr.
probe() {
    run --separate-stderr timeout 120 "$PROBE" "$@"
}

# write_auth FILE REGISTRY USER PASS: a docker config.json.
write_auth() {
    mkdir -p "$(dirname "$1")"
    jq -n --arg r "$2" --arg a "$(printf '%s:%s' "$3" "$4" | base64 -w0)" \
        '{auths: {($r): {auth: $a}}}' >"$1"
}

# The value after KEY on the probe's stdout ("config sha256:..." -> "sha256:...").
field() {
    printf '%s\n' "$output" | awk -v k="$1" '$1 == k { print $2; exit }'
}

stored() { [[ -f $ROOT/images/blobs/sha256/${1#sha256:} ]]; }

# Every blob the probe printed is in the store, with the right bytes.
assert_all_stored() {
    local d
    for d in $(printf '%s\n' "$output" | awk '$1 == "config" || $1 == "layer" { print $2 }'); do
        stored "$d" || fail "blob $d is not in the store"
        assert_equal "sha256:$(sha256sum "$ROOT/images/blobs/sha256/${d#sha256:}" | cut -d' ' -f1)" "$d"
    done
}

# ---- tests ----

@test "anonymous: a single-arch image resolves and every blob lands in the store" {
    probe --root "$ROOT" pull "$ANON/single:1"
    assert_success
    assert_line "manifest $(oci_digest "$OCI" amd64)"
    assert_line "media-type $OCI_AMD64"
    assert_line --regexp '^layer sha256:[0-9a-f]{64} application/vnd.oci.image.layer.v1.tar\+gzip [0-9]+$'
    refute_line --regexp '^index '
    assert_line "wasm false"
    assert_line "ok"
    assert_all_stored
    # a second pull finds everything stored: nothing is fetched again
    probe --root "$ROOT" --progress pull "$ANON/single:1"
    assert_success
    [[ $stderr != *" 0 "* ]] || fail "a stored blob was downloaded again: $stderr"
}

@test "anonymous: by digest, Docker schema 2 and zstd layers" {
    local d
    d=$(oci_digest "$OCI" amd64)
    probe --root "$ROOT" pull "$ANON/single@$d"
    assert_success
    assert_line "manifest $d"

    probe --root "$ROOT" pull "$ANON/docker:1"
    assert_success
    assert_line "media-type application/vnd.docker.distribution.manifest.v2+json"
    assert_line --regexp '^layer sha256:[0-9a-f]{64} application/vnd.docker.image.rootfs.diff.tar.gzip '
    assert_all_stored

    probe --root "$ROOT" pull "$ANON/zstd:1"
    assert_success
    assert_line --regexp "^layer $ZSTD_LAYER application/vnd.oci.image.layer.v1.tar\+zstd "
    assert_all_stored
}

@test "index: each platform gets its own manifest; the index is kept" {
    local idx
    idx=$(oci_digest "$OCI" multi)
    probe --platform linux/amd64 --root "$ROOT" pull "$ANON/multi:1"
    assert_success
    assert_line "manifest $(oci_digest "$OCI" amd64)"
    assert_line "index $idx"
    assert_all_stored

    # linux/arm64 means arm64/v8, as the index entry says
    for p in linux/arm64 linux/arm64/v8; do
        probe --platform "$p" --root "$ROOT" pull "$ANON/multi:1"
        assert_success
        assert_line "manifest $(oci_digest "$OCI" arm64)"
        assert_line "index $idx"
    done
    assert_all_stored

    # the index itself by digest
    probe --platform linux/arm64 pull "$ANON/multi@$idx"
    assert_success
    assert_line "manifest $(oci_digest "$OCI" arm64)"
}

@test "index: a platform it lacks is refused, naming the ones there are" {
    probe --platform linux/s390x pull "$ANON/multi:1"
    assert_failure 1
    assert_equal "$stderr" "registry_probe: $ANON/multi:1 has no image for platform linux/s390x (available: linux/amd64, linux/arm64/v8)"
    probe --platform linux/arm/v7 pull "$ANON/multi:1"
    assert_failure 1
    [[ $stderr == *"no image for platform linux/arm/v7"* ]] || fail "$stderr"
}

@test "anonymous: an unknown tag or repository is a clear 404" {
    probe pull "$ANON/single:nope"
    assert_failure 1
    [[ $stderr == *"registry $ANON: manifest single:nope: HTTP 404 (MANIFEST_UNKNOWN"* ]] || fail "$stderr"
    probe pull "$ANON/nothing/here:1"
    assert_failure 1
    [[ $stderr == *"HTTP 404"* ]] || fail "$stderr"
}

@test "basic auth: credentials from the auth file, the default files, or none" {
    write_auth "$BATS_TEST_TMPDIR/auth.json" "$BASIC" alice wonderland
    probe --auth-file "$BATS_TEST_TMPDIR/auth.json" --root "$ROOT" pull "$BASIC/private/single:1"
    assert_success
    assert_line "ok"
    assert_all_stored

    # no credentials anywhere
    probe pull "$BASIC/private/single:1"
    assert_failure 1
    [[ $stderr == *"registry $BASIC: authentication required (HTTP 401)"* ]] || fail "$stderr"

    # ~/.docker/config.json, then $REGISTRY_AUTH_FILE, then zlayer's own file
    write_auth "$HOME/.docker/config.json" "http://$BASIC/v1/" alice wonderland
    probe pull "$BASIC/private/single:1"
    assert_success
    rm "$HOME/.docker/config.json"
    write_auth "$BATS_TEST_TMPDIR/env.json" "$BASIC" alice wonderland
    REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/env.json probe pull "$BASIC/private/single:1"
    assert_success
    write_auth "$ZLAYER_ROOT_DIR/auth.json" "$BASIC" alice wonderland
    probe pull "$BASIC/private/single:1"
    assert_success
}

@test "basic auth: wrong credentials fail clearly and never show the password" {
    write_auth "$BATS_TEST_TMPDIR/auth.json" "$BASIC" alice s3cr3t-wrong
    probe --auth-file "$BATS_TEST_TMPDIR/auth.json" --root "$ROOT" pull "$BASIC/private/single:1"
    assert_failure 1
    assert_equal "$stderr" "registry_probe: registry $BASIC: authentication failed for user alice (HTTP 401)"
    [[ $stderr$output != *s3cr3t* ]] || fail "the password was printed"
    [[ ! -d $ROOT/images/blobs/sha256 ]] || [[ -z $(ls "$ROOT/images/blobs/sha256") ]]
}

@test "token auth: a Bearer token for the repository's pull scope" {
    write_auth "$BATS_TEST_TMPDIR/auth.json" "$TOKEN" tok tokpass
    : >"$BATS_FILE_TMPDIR/token/requests.log"
    probe --auth-file "$BATS_TEST_TMPDIR/auth.json" --platform linux/arm64 --root "$ROOT" \
        pull "$TOKEN/team/multi:1"
    assert_success
    assert_line "manifest $(oci_digest "$OCI" arm64)"
    assert_line "index $(oci_digest "$OCI" multi)"
    assert_all_stored
    run cat "$BATS_FILE_TMPDIR/token/requests.log"
    # one token for the whole pull: cached for the registry object's life
    assert_output "/token service=zltest-registry scope=repository:team/multi:pull auth=ok"
}

@test "token auth: wrong or missing credentials fail clearly" {
    write_auth "$BATS_TEST_TMPDIR/auth.json" "$TOKEN" x nottherightone
    probe --auth-file "$BATS_TEST_TMPDIR/auth.json" pull "$TOKEN/team/multi:1"
    assert_failure 1
    assert_equal "$stderr" "registry_probe: registry $TOKEN: authentication failed for user x (HTTP 401)"
    [[ $stderr != *nottherightone* ]] || fail "the password was printed"

    probe pull "$TOKEN/team/multi:1"
    assert_failure 1
    [[ $stderr == *"registry $TOKEN: authentication required (HTTP 401)"* ]] || fail "$stderr"
}

@test "login and logout: checked against the registry, stored 0600, used by pulls" {
    local f=$BATS_TEST_TMPDIR/cfg/auth.json
    ZL_PROBE_PASSWORD=wrong probe login "$f" "$BASIC" alice
    assert_failure 1
    assert_equal "$stderr" "registry_probe: login $BASIC: registry $BASIC: authentication failed for user alice (HTTP 401)"
    [[ ! -e $f ]]

    ZL_PROBE_PASSWORD=wonderland probe login "$f" "$BASIC" alice
    assert_success
    ZL_PROBE_PASSWORD=tokpass probe login "$f" "$TOKEN" tok
    assert_success
    assert_equal "$(stat -c %a "$f")" 600
    assert_equal "$(jq -r --arg r "$BASIC" '.auths[$r].auth' "$f" | base64 -d)" alice:wonderland
    probe --auth-file "$f" pull "$BASIC/private/single:1"
    assert_success
    probe --auth-file "$f" --platform linux/amd64 pull "$TOKEN/team/multi:1"
    assert_success

    probe logout "$f" "$BASIC"
    assert_success
    assert_equal "$(jq -r '.auths | keys | join(" ")' "$f")" "$TOKEN"
    probe logout "$f" "$BASIC"
    assert_failure 1
    [[ $stderr == *"not logged in to $BASIC"* ]] || fail "$stderr"
    # zlayer's own file by default
    ZL_PROBE_PASSWORD=wonderland probe login "$ZLAYER_ROOT_DIR/auth.json" "$BASIC" alice
    assert_success
    probe pull "$BASIC/private/single:1"
    assert_success
}

@test "mirrors: tried first, and the registry itself when the mirror fails" {
    probe --mirror "registry.invalid=$ANON" --root "$ROOT" pull registry.invalid/single:1
    assert_success
    assert_line "manifest $(oci_digest "$OCI" amd64)"
    assert_all_stored
    probe --retries 1 --mirror "$ANON=127.0.0.1:1" pull "$ANON/single:1"
    assert_success
    # both down: the error tells about both
    probe --retries 1 --mirror "registry.invalid=127.0.0.1:1" pull registry.invalid/single:1
    assert_failure 1
    [[ $stderr == *"registry.invalid"*"(mirror 127.0.0.1:1 failed first: GET http://127.0.0.1:1/v2/single/manifests/1: "* ]] ||
        fail "$stderr"
}

# start_front MODE TARGET: a server in front of registry TARGET. MODE redirect: every path
# first gets 503 (blobs) or 429 (the rest), then a redirect to TARGET, as registries send
# blobs to their storage. MODE norange: a proxy that ignores Range (always 200, all bytes).
start_front() {
    cat >"$BATS_TEST_TMPDIR/front.py" <<'EOF'
import shutil, sys, urllib.request
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

port, target, log, mode = sys.argv[1:5]
seen = set()

class Handler(BaseHTTPRequestHandler):
    def proxy(self):
        with open(log, "a") as f:
            f.write("200 %s range=%s\n" % (self.path, self.headers.get("Range", "")))
        req = urllib.request.Request("http://%s%s" % (target, self.path),
                                     headers={"Accept": self.headers.get("Accept", "*/*")})
        with urllib.request.urlopen(req) as r:
            self.send_response(200)
            for k in ("Content-Type", "Content-Length", "Docker-Content-Digest"):
                if r.headers.get(k):
                    self.send_header(k, r.headers[k])
            self.end_headers()
            shutil.copyfileobj(r, self.wfile)

    def do_GET(self):
        if mode == "norange":
            return self.proxy()
        first = self.path not in seen
        seen.add(self.path)
        code = (503 if "/blobs/" in self.path else 429) if first else 307
        with open(log, "a") as f:
            f.write("%d %s\n" % (code, self.path))
        self.send_response(code)
        if code == 307:
            self.send_header("Location", "http://%s%s" % (target, self.path))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
EOF
    FRONT=127.0.0.1:$(free_port)
    python3 "$BATS_TEST_TMPDIR/front.py" "${FRONT#*:}" "$2" "$BATS_TEST_TMPDIR/front.log" "$1" \
        >/dev/null 2>&1 3>&- &
    echo $! >"$BATS_TEST_TMPDIR/front.pid"
    wait_http "http://$FRONT/v2/"
}

teardown() {
    if [[ -f $BATS_TEST_TMPDIR/front.pid ]]; then
        kill "$(cat "$BATS_TEST_TMPDIR/front.pid")" 2>/dev/null || true
    fi
}

@test "503 and 429 are retried, redirects followed (blobs served from elsewhere)" {
    start_front redirect "$ANON"
    probe --platform linux/arm64 --mirror "registry.invalid=$FRONT" --root "$ROOT" \
        pull registry.invalid/multi:1
    assert_success
    assert_line "manifest $(oci_digest "$OCI" arm64)"
    assert_all_stored
    run grep -c '^503 /v2/multi/blobs/' "$BATS_TEST_TMPDIR/front.log"
    assert_output 2
    run grep -c '^307 /v2/multi/blobs/' "$BATS_TEST_TMPDIR/front.log"
    assert_output 2
    run grep -c '^429 /v2/multi/manifests/' "$BATS_TEST_TMPDIR/front.log"
    assert_output 2
}

# upload FILE REPO: a blob pushed with the distribution API; prints its digest.
upload() {
    local d loc
    d=sha256:$(sha256sum "$1" | cut -d' ' -f1)
    loc=$(curl -sf -D - -o /dev/null -X POST "http://$ANON/v2/$2/blobs/uploads/" |
        awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
    [[ $loc == http* ]] || loc=http://$ANON$loc
    curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" \
        "$loc&digest=$d" >/dev/null
    echo "$d"
}

@test "a WASM artifact is recognised and its blobs fetched" {
    local w=$BATS_TEST_TMPDIR/wasm cfg mod
    mkdir -p "$w"
    echo '{}' >"$w/config.json"
    printf '\0asm\1\0\0\0' >"$w/module.wasm"
    cfg=$(upload "$w/config.json" wasm/hello)
    mod=$(upload "$w/module.wasm" wasm/hello)
    jq -n --arg c "$cfg" --arg m "$mod" '{schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "application/vnd.wasm.component.v1+wasm",
        config: {mediaType: "application/vnd.wasm.config.v0+json", digest: $c, size: 3},
        layers: [{mediaType: "application/wasm", digest: $m, size: 8}]}' >"$w/manifest.json"
    curl -sf -X PUT -H "Content-Type: $OCI_AMD64" --data-binary "@$w/manifest.json" \
        "http://$ANON/v2/wasm/hello/manifests/1" >/dev/null
    probe --root "$ROOT" pull "$ANON/wasm/hello:1"
    assert_success
    assert_line "config $cfg application/vnd.wasm.config.v0+json"
    assert_line "layer $mod application/wasm 8"
    assert_line "wasm true"
    assert_all_stored
}

@test "a manifest whose bytes do not match its digest is refused" {
    local d data
    ensure_registry flaky
    push amd64 "$FLAKY" tampered:1
    d=$(oci_digest "$OCI" amd64)
    data=$BATS_FILE_TMPDIR/reg-flaky/storage/docker/registry/v2/blobs/sha256/${d:7:2}/${d#sha256:}/data
    cp "$data" "$BATS_TEST_TMPDIR/good"
    echo >>"$data"
    probe pull "$FLAKY/tampered:1"
    assert_failure 1
    [[ $stderr == *"Docker-Content-Digest says $d but the bytes hash to sha256:"* ]] || fail "$stderr"
    probe pull "$FLAKY/tampered@$d"
    cp "$BATS_TEST_TMPDIR/good" "$data"
    assert_failure 1
    [[ $stderr == *"registry $FLAKY: manifest tampered@$d does not match its digest"* ]] ||
        fail "$stderr"
}

@test "a blob whose bytes do not match its digest is refused and not stored" {
    local layer data size
    # an image of its own: the registry's storage shares blobs between repositories
    umoci tag --image "$OCI:amd64" corrupt
    echo "corrupt me $BATS_TEST_NUMBER $$" >"$BATS_TEST_TMPDIR/marker"
    umoci insert --image "$OCI:corrupt" "$BATS_TEST_TMPDIR/marker" /marker
    push corrupt "$ANON" corrupt:1
    probe pull "$ANON/corrupt:1"
    assert_success
    layer=$(printf '%s\n' "$output" | awk '$1 == "layer" { d = $2 } END { print d }')
    data=$BATS_FILE_TMPDIR/reg-anon/storage/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer#sha256:}/data
    size=$(stat -c %s "$data")
    head -c "$size" /dev/urandom >"$data"

    probe --root "$ROOT" pull "$ANON/corrupt:1"
    assert_failure 1
    [[ $stderr == *"blob $layer from $ANON: blob digest mismatch: expected $layer, got sha256:"* ]] || fail "$stderr"
    if stored "$layer"; then fail "the corrupt blob was stored"; fi
    run ls -A "$ROOT/images/tmp"
    assert_output ""
}

# wait_progress FILE DIGEST BYTES: until the probe's stderr shows BYTES of DIGEST (30 s).
wait_progress() {
    local i n
    for ((i = 0; i < 300; i++)); do
        [[ -f $1 ]] || { sleep 0.1 && continue; }
        n=$(awk -v d="$2" '$1 == "progress" && $2 == d { n = $3 } END { print n + 0 }' "$1")
        ((n >= $3)) && return 0
        sleep 0.1
    done
    fail "no progress to $3 bytes of $2: $(tail -3 "$1")"
}

big_layer() {
    local man
    man=$(blob_file "$OCI" "$(oci_digest "$OCI" big)")
    jq -r '.layers | max_by(.size) | .digest' "$man"
}

@test "the registry killed mid-download and restarted: the same pull resumes with Range" {
    local big pid
    ensure_registry flaky
    big=$(big_layer)
    timeout 120 "$PROBE" --retries 10 --progress --slow-ms 20 --root "$ROOT" pull "$FLAKY/big:1" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
    pid=$!
    wait_progress "$BATS_TEST_TMPDIR/err" "$big" $((8 << 20))
    kill_registry flaky
    sleep 1
    restart_registry flaky
    wait "$pid" || fail "the pull failed: $(tail -5 "$BATS_TEST_TMPDIR/err")"
    run cat "$BATS_TEST_TMPDIR/out"
    assert_line ok
    assert_all_stored
    # never back to byte 0 after the break
    run grep "^restart $big" "$BATS_TEST_TMPDIR/err"
    assert_failure
    grep -q '" 206 ' "$BATS_FILE_TMPDIR/reg-flaky/log" || grep -q 'http.response.status=206' \
        "$BATS_FILE_TMPDIR/reg-flaky/log" || fail "no ranged request reached the registry"
}

@test "the registry killed for good: the pull fails naming the blob and the error" {
    local big pid
    ensure_registry flaky
    big=$(big_layer)
    timeout 120 "$PROBE" --retries 2 --progress --slow-ms 20 --root "$ROOT" pull "$FLAKY/big:1" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
    pid=$!
    wait_progress "$BATS_TEST_TMPDIR/err" "$big" $((4 << 20))
    kill_registry flaky
    local rc=0
    wait "$pid" || rc=$?
    restart_registry flaky
    assert_equal "$rc" 1
    run tail -1 "$BATS_TEST_TMPDIR/err"
    assert_output --regexp "^registry_probe: blob $big from $FLAKY: .*\\(after 3 attempts\\)$"
}

@test "a pull killed with the registry resumes in a second run" {
    local big pid first
    ensure_registry flaky
    big=$(big_layer)
    # no timeout(1) in between: the kill must reach the probe itself
    "$PROBE" --retries 10 --progress --slow-ms 20 --root "$ROOT" pull "$FLAKY/big:1" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
    pid=$!
    wait_progress "$BATS_TEST_TMPDIR/err" "$big" $((8 << 20))
    kill_registry flaky
    kill -KILL "$pid"
    wait "$pid" || true
    restart_registry flaky

    probe --progress --root "$ROOT" pull "$FLAKY/big:1"
    assert_success
    assert_all_stored
    first=$(printf '%s\n' "$stderr" | awk -v d="$big" '$1 == "first" && $2 == d { print $3 }')
    ((first >= 8 << 20)) || fail "the second run started at byte ${first:-?}, not where the first stopped"
}

@test "a server that ignores Range: the resumed download starts over and completes" {
    local big pid first
    ensure_registry flaky
    big=$(big_layer)
    "$PROBE" --progress --slow-ms 20 --root "$ROOT" pull "$FLAKY/big:1" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
    pid=$!
    wait_progress "$BATS_TEST_TMPDIR/err" "$big" $((4 << 20))
    kill -KILL "$pid"
    wait "$pid" || true

    start_front norange "$FLAKY"
    probe --progress --mirror "registry.invalid=$FRONT" --root "$ROOT" pull registry.invalid/big:1
    assert_success
    assert_all_stored
    first=$(printf '%s\n' "$stderr" | awk -v d="$big" '$1 == "first" && $2 == d { print $3 }')
    ((first >= 4 << 20)) || fail "the second run did not find the partial download (${first:-?})"
    [[ $stderr == *"restart $big"* ]] || fail "no restart from byte 0: $stderr"
    grep -q "^200 /v2/big/blobs/$big range=bytes=$first-" "$BATS_TEST_TMPDIR/front.log"
}
