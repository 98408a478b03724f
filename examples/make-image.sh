#!/bin/sh
# examples/make-image.sh OUT.tar [TAG]: an image archive (the `docker save` layout) made from
# Debian's busybox-static, with no network: one layer holding busybox and its applets, a
# config, a manifest. `zlayer import OUT.tar` loads it.
set -eu
out=${1:?usage: make-image.sh OUT.tar [TAG]}
tag=${2:-localhost/hello/busybox:1}
bb=$(command -v busybox)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/www" "$r/proc" "$r/sys" "$r/dev"
cp "$bb" "$r/bin/busybox"
for a in $("$bb" --list); do
    [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
done
chmod 1777 "$r/tmp"
echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/false' >>"$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
echo 'hello from zlayer' >"$r/www/index.html"
mkdir -p "$work/img"
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$r" -cf "$work/img/layer.tar" .
diff_id=sha256:$(sha256sum "$work/img/layer.tar" | cut -d' ' -f1)
case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac
cat >"$work/img/config.json" <<JSON
{"architecture": "$arch", "os": "linux",
 "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
 "rootfs": {"type": "layers", "diff_ids": ["$diff_id"]}}
JSON
printf '[{"Config": "config.json", "RepoTags": ["%s"], "Layers": ["layer.tar"]}]\n' "$tag" \
    >"$work/img/manifest.json"
tar -C "$work/img" -cf "$out" manifest.json config.json layer.tar
echo "$out: $tag"
