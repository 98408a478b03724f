#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/spec.sh [ZLAYER_BINARY]: how long `zlayer validate -q` takes on large specs.
#
# Generates specs of 1000, 2000 and 4000 realistic services (image, two endpoints, env,
# resources, an HTTP health check, a dependency on the previous service, adaptive scaling)
# in a temporary folder, times `zlayer validate -q` on each (median of 5 runs, wall time),
# and prints a table, the 4000/2000 ratio and a PASS/FAIL line against the targets:
# 2000 services in under 200 ms, and a 4000/2000 ratio under 2.5 (linear growth).
# When python3 has a YAML module, one run of a bare PyYAML load of the same files (with
# libyaml's CSafeLoader when available) is timed for comparison: parsing only, no validation. Benchmarks are not tests: exits 0 regardless.
set -eu

ZL=${1:-./build/zlayer}
RUNS=5
SIZES=(1000 2000 4000)
TARGET_MS=200
TARGET_RATIO=2.5

if [[ ! -x $ZL ]]; then
    echo "bench/spec.sh: $ZL is not an executable; build first (make) or give the binary" >&2
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/zlayer-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# One service; printf arguments: name, name, tag minor, tag patch, name, http port, name,
# metrics port, the depends block (empty for the first service), max replicas.
# shellcheck disable=SC2016 # $S: and $E: are env references of the format, not expansions
SERVICE='  %s:
    image:
      name: registry.example.com/shop/%s:1.%d.%d
      pull_policy: if_not_present
    env:
      LOG_LEVEL: info
      SERVICE_NAME: %s
      PORT: "8080"
      DATABASE_URL: $S:shop-db/url
      CACHE_HOST: $E:CACHE_HOST
    resources:
      cpu: 0.5
      memory: 256Mi
    endpoints:
      - name: http
        protocol: http
        port: %d
        target_port: 8080
        path: /%s
        expose: internal
      - name: metrics
        protocol: tcp
        port: %d
        target_port: 9090
    health:
      start_grace: 10s
      interval: 15s
      timeout: 2s
      retries: 3
      check:
        type: http
        url: http://localhost:8080/healthz
        expect_status: 200
%s    scale:
      mode: adaptive
      min: 1
      max: %d
      cooldown: 45s
      targets:
        cpu: 70
        rps: 500
'
DEPENDS='    depends:
      - service: %s
        condition: healthy
        timeout: 60s
        on_timeout: fail
'

# gen N: a spec with N services, svc-0001 .. svc-N, each depending on the previous one.
# Only shell builtins, so that generating 4000 services takes a moment, not a minute.
gen() {
    local n=$1 i name prev dep
    printf 'version: v1\ndeployment: bench-%d\n\nservices:\n' "$n"
    for ((i = 1; i <= n; i++)); do
        printf -v name 'svc-%04d' "$i"
        dep=""
        if ((i > 1)); then
            printf -v prev 'svc-%04d' "$((i - 1))"
            # shellcheck disable=SC2059 # the template is a format on purpose
            printf -v dep "$DEPENDS" "$prev"
        fi
        # shellcheck disable=SC2059
        printf "$SERVICE" "$name" "$name" "$((i % 10))" "$((i % 7))" "$name" "$((10000 + i))" \
            "$name" "$((30000 + i))" "$dep" "$((2 + i % 8))"
    done
}

now_ns() { date +%s%N; }

# median_ms RUNS CMD...: run CMD RUNS times, print the median wall time in ms (one
# decimal). Prints "fail" when a run exits non-zero.
median_ms() {
    local runs=$1 t0 t1 times=() r
    shift
    for ((r = 0; r < runs; r++)); do
        t0=$(now_ns)
        if ! "$@" >/dev/null 2>"$work/err"; then
            echo fail
            return
        fi
        t1=$(now_ns)
        times+=("$((t1 - t0))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f\n", a[int((NR + 1) / 2)] / 1e6 }'
}

peer=""
if python3 -c 'import yaml' 2>/dev/null; then
    peer=python3
    peer_loader=$(python3 -c 'import yaml; print("CSafeLoader" if hasattr(yaml, "CSafeLoader") else "SafeLoader")')
fi
peer_load() {
    # shellcheck disable=SC2317 # called through median_ms
    python3 -c 'import sys, yaml
L = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
yaml.load(open(sys.argv[1]), Loader=L)' "$1"
}

echo "zlayer validate -q: median of $RUNS runs, wall time ($("$ZL" version 2>/dev/null || echo "$ZL"))"
if [[ -n $peer ]]; then
    echo "peer: python3 yaml.load with $peer_loader, one run (parse only, no validation; includes interpreter start)"
    printf '%-9s %8s %10s %12s %14s\n' services lines median_ms ms/1000svc "peer_ms"
else
    printf '%-9s %8s %10s %12s\n' services lines median_ms ms/1000svc
fi

declare -A ms
for n in "${SIZES[@]}"; do
    f=$work/bench-$n.zlayer.yml
    gen "$n" >"$f"
    lines=$(wc -l <"$f")
    # Check once that the spec is valid, so that we time the full validation.
    if ! "$ZL" validate -q "$f" >/dev/null 2>"$work/err"; then
        echo "bench/spec.sh: the generated $n-service spec does not validate:" >&2
        head -n 5 "$work/err" >&2
        ms[$n]=fail
    else
        ms[$n]=$(median_ms "$RUNS" "$ZL" validate -q "$f")
    fi
    per="-"
    if [[ ${ms[$n]} != fail ]]; then
        per=$(awk -v m="${ms[$n]}" -v n="$n" 'BEGIN { printf "%.1f", m * 1000 / n }')
    fi
    if [[ -n $peer ]]; then
        pm=$(median_ms 1 peer_load "$f")
        printf '%-9s %8s %10s %12s %14s\n' "$n" "$lines" "${ms[$n]}" "$per" "$pm"
    else
        printf '%-9s %8s %10s %12s\n' "$n" "$lines" "${ms[$n]}" "$per"
    fi
done

m2=${ms[2000]} m4=${ms[4000]}
if [[ $m2 == fail || $m4 == fail ]]; then
    echo "ratio 4000/2000: n/a"
    echo "FAIL: zlayer validate failed on a generated spec"
    exit 0
fi
ratio=$(awk -v a="$m4" -v b="$m2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "ratio 4000/2000: $ratio"
ok_time=$(awk -v m="$m2" -v t="$TARGET_MS" 'BEGIN { print (m < t) ? 1 : 0 }')
ok_ratio=$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r < t) ? 1 : 0 }')
verdict=FAIL
if [[ $ok_time == 1 && $ok_ratio == 1 ]]; then
    verdict=PASS
fi
echo "$verdict: 2000 services in $m2 ms (target < $TARGET_MS ms), 4000/2000 ratio $ratio (target < $TARGET_RATIO)"
exit 0
