#!/usr/bin/env bash
# bench/runtime.sh [ZLAYER]: container start-to-exit time of `run` for zlayer, crun and runc on
# the same bundle (/bin/true, read-only busybox root, fresh pid/net/ipc/uts/mount namespaces),
# 100 sequential runs each, medians and ratios; then the monitor's memory and each runtime's
# peak RSS. Needs root. On a hybrid cgroup host crun refuses to run while a controller sits in
# the unified hierarchy: the script binds such controllers to v1 for the run and gives them
# back afterwards.
set -euo pipefail
ZLAYER=${1:-./build/zlayer}
ZLAYER=$(realpath "$ZLAYER")
N=${N:-100}
[ "$(id -u)" -eq 0 ] || { echo "bench/runtime.sh: run as root" >&2; exit 1; }
WORK=$(mktemp -d /tmp/zl-bench-rt-XXXXXX)
MOVED=()

cleanup() {
    local c
    for c in "${MOVED[@]}"; do
        find "/sys/fs/cgroup/$c" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
        umount "/sys/fs/cgroup/$c" 2>/dev/null && rmdir "/sys/fs/cgroup/$c" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# crun needs every controller on v1 in a hybrid layout.
u=/sys/fs/cgroup/unified/cgroup.controllers
if [ -f "$u" ] && [ -n "$(cat "$u")" ] && command -v crun >/dev/null; then
    for c in $(cat "$u"); do
        mkdir -p "/sys/fs/cgroup/$c"
        mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" && MOVED+=("$c")
    done
fi

# The bundle: busybox rootfs, the config from `crun spec`, /bin/true, no terminal.
R=$WORK/bundle/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc}
cp /bin/busybox "$R/bin/busybox"
for a in sh true sleep; do ln -sf busybox "$R/bin/$a"; done
(cd "$WORK/bundle" && crun spec)
jq '.process.terminal = false | .process.args = ["/bin/true"] | .root.readonly = true' \
    "$WORK/bundle/config.json" >"$WORK/c.json" && mv "$WORK/c.json" "$WORK/bundle/config.json"

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# time_runs NAME CMD...: N runs of CMD with a fresh id each, median in ms.
time_runs() {
    local name=$1 i t0 t1
    shift
    : >"$WORK/$name.ms"
    for ((i = 0; i < N; i++)); do
        t0=$(date +%s%N)
        "$@" "bench-$name-$i" >/dev/null 2>&1 || { echo "$name run $i failed" >&2; "$@" "bench-$name-x" >&2 || true; return 1; }
        t1=$(date +%s%N)
        echo "scale=3; ($t1 - $t0) / 1000000" | bc >>"$WORK/$name.ms"
    done
    median <"$WORK/$name.ms"
}

cd "$WORK/bundle"
echo "== run /bin/true, $N sequential runs each (median wall time)"
declare -A MS
MS[zlayer]=$(time_runs zlayer "$ZLAYER" runtime --root "$WORK/zl-state" run --bundle .)
if command -v crun >/dev/null; then MS[crun]=$(time_runs crun crun --root "$WORK/crun-state" run --bundle .) || MS[crun]=; fi
if command -v runc >/dev/null; then MS[runc]=$(time_runs runc runc --root "$WORK/runc-state" run --bundle .) || MS[runc]=; fi
printf '%-8s %10s %12s\n' runtime "median ms" "vs zlayer"
for r in zlayer crun runc; do
    [ -n "${MS[$r]:-}" ] || { printf '%-8s %10s\n' "$r" "n/a"; continue; }
    printf '%-8s %10.2f %12.2f\n' "$r" "${MS[$r]}" "$(echo "${MS[$r]} / ${MS[zlayer]}" | bc -l)"
done
[ -n "${MS[crun]:-}" ] && printf 'zlayer / crun = %.2f (target <= 1.0)\n' "$(echo "${MS[zlayer]} / ${MS[crun]}" | bc -l)"

echo
echo "== memory"
peak() { /usr/bin/time -f %M "$@" >/dev/null 2>"$WORK/time.err" || true; tail -1 "$WORK/time.err"; }
printf 'peak RSS of `run /bin/true`: zlayer %s KiB' "$(peak "$ZLAYER" runtime --root "$WORK/zl-state" run --bundle . peak-zl)"
command -v crun >/dev/null && printf ', crun %s KiB' "$(peak crun --root "$WORK/crun-state" run --bundle . peak-crun)"
command -v runc >/dev/null && printf ', runc %s KiB' "$(peak runc --root "$WORK/runc-state" run --bundle . peak-runc)"
echo
jq '.process.args = ["/bin/sleep", "30"]' config.json >"$WORK/sleep.json" && cp "$WORK/sleep.json" config.json
"$ZLAYER" runtime --root "$WORK/zl-state" run -d --bundle . mon >/dev/null
mon=$(jq -r .monitor_pid "$WORK/zl-state/mon/state.json")
rss=$(awk '/^Rss:/ {print $2}' "/proc/$mon/smaps_rollup")
pss=$(awk '/^Pss:/ {print $2}' "/proc/$mon/smaps_rollup")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$mon/status")
printf 'monitor of a running container: RSS %s KiB, PSS %s KiB, peak %s KiB (target <= 2048 KiB)\n' "$rss" "$pss" "$hwm"
"$ZLAYER" runtime --root "$WORK/zl-state" delete --force mon >/dev/null
