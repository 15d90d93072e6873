#!/bin/sh
# vessel build recipes/web.yaml: kernel + initramfs with virtio modules and a
# qcow2 ext4 data disk holding the site, built through ONE libguestfs launch;
# then guestfish (a second, independent launch) checks the disk's files.
# qemu-img check must accept the image. Skips when libguestfs cannot run.
set -u
: "${VESSEL:?VESSEL must point at the vessel binary}"
top=$(cd "$(dirname "$0")/../.." && pwd)
case "${BUILD:-}" in /*) b=$BUILD ;; ?*) b=$top/$BUILD ;; *) b=$top/build ;; esac
export VESSEL_CACHE="${VESSEL_TEST_CACHE:-$b/test-cache}"
mkdir -p "$VESSEL_CACHE"
command -v guestfish >/dev/null || { echo "skip: guestfish not installed (libguestfs-tools)"; exit 77; }
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "skip: no kernel in /boot for the libguestfs appliance"; exit 77; }
if ! apt-cache show --no-all-versions busybox-static linux-image-amd64 >/dev/null 2>&1; then
	echo "skip: apt does not know busybox-static/linux-image-amd64 (run apt-get update)"
	exit 77
fi
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
export SOURCE_DATE_EPOCH=1700000000
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
ok() { n=$((n + 1)); echo "ok   $*"; }
bad() { n=$((n + 1)); fail=$((fail + 1)); echo "FAIL $*"; }

# contents larger than the disk: refused before any launch, naming the disk's line
mkdir -p "$tmp/big"
head -c 3000000 /dev/zero >"$tmp/big/blob"
sed -e "s|    path: web-site|    path: $tmp/big|" -e 's|    size: 64M|    size: 2M|' \
	"$top/recipes/web.yaml" >"$tmp/toobig.yaml"
if "$VESSEL" build --no-cache "$tmp/toobig.yaml" -o "$tmp/toobig.vessel" 2>"$tmp/err"; then
	bad "contents larger than the disk were accepted"
elif grep -q "toobig.yaml:[0-9]*:[0-9]*: disk 'www': its contents need 2.9 MiB but the disk is 2.0 MiB" "$tmp/err" &&
     [ -z "$(ls -A "$tmp" | grep -v -e '^big$' -e '^err$' -e 'toobig.yaml')" ]; then
	ok "contents larger than the disk: refused, nothing left"
else
	bad "contents larger than the disk:"; cat "$tmp/err"; ls -A "$tmp"
fi

start=$(date +%s)
if "$VESSEL" build --no-cache "$top/recipes/web.yaml" -o "$tmp/web.vessel" 2>"$tmp/err"; then
	ok "web built in $(( $(date +%s) - start )) s"
else
	if grep -q "libguestfs could not start" "$tmp/err"; then
		echo "skip: libguestfs cannot start its appliance here:"; cat "$tmp/err"; exit 77
	fi
	bad "web build:"; sed 's/^/    /' "$tmp/err"
	echo "build-web: $((n - fail)) passed, $fail failed"
	exit 1
fi
launches=$(grep -c "starting the libguestfs appliance" "$tmp/err")
[ "$launches" = 1 ] && ok "one libguestfs launch" || bad "$launches libguestfs launches"
img="$tmp/web.vessel/disks/www.qcow2"
if qemu-img check -q "$img" && qemu-img info "$img" | grep -q "file format: qcow2"; then
	ok "qemu-img check accepts disks/www.qcow2"
else
	bad "qemu-img rejects disks/www.qcow2"
fi
grep -q "file: disks/www.qcow2" "$tmp/web.vessel/vessel.yaml" &&
	grep -q "host: 8080" "$tmp/web.vessel/vessel.yaml" && ok "vessel.yaml: disk and port forward" ||
	bad "vessel.yaml lacks the disk or the forward"
zcat "$tmp/web.vessel/boot/initrd" | cpio -i --quiet --to-stdout etc/vessel/modules >"$tmp/mods" 2>/dev/null
for m in virtio_pci virtio_blk virtio_net ext4 jbd2 crc32c_generic; do
	grep -q "/$m.ko\$" "$tmp/mods" || bad "initramfs lacks module $m"
done
[ "$(tail -1 "$tmp/mods")" = kernel/fs/ext4/ext4.ko ] && ok "modules in dependency order ($(wc -l <"$tmp/mods"))" ||
	bad "module order: $(tr '\n' ' ' <"$tmp/mods")"

# one guestfish launch reads everything back
guestfish --ro -a "$img" -m /dev/sda <<G >"$tmp/gf" 2>&1
download /index.html $tmp/index.html
echo ==status
cat /status.html
download /about.html $tmp/about.html
echo ==stat
stat /index.html
echo ==cgi
is-dir /cgi-bin
echo ==label
vfs-label /dev/sda
echo ==uuid
vfs-uuid /dev/sda
echo ==end
G
sect() { sed -n "/^==$1\$/,/^==/p" "$tmp/gf" | sed '1d;$d'; }
if cmp -s "$tmp/index.html" "$top/recipes/web-site/index.html"; then
	ok "index.html copied byte for byte"
else
	bad "index.html differs:"; cat "$tmp/gf"
fi
sect status | grep -q "status: ok, served from a vessel data disk" && ok "write step with a variable" ||
	bad "status.html: $(sect status)"
[ "$(tail -1 "$tmp/about.html")" = "<!-- built by vessel -->" ] && ok "append-line step" ||
	bad "about.html tail: $(tail -1 "$tmp/about.html")"
[ "$(sect cgi)" = true ] && ok "mkdir step" || bad "cgi-bin: $(sect cgi)"
sect stat | grep -q "mtime: 1700000000" && ok "file times = SOURCE_DATE_EPOCH" ||
	bad "mtime: $(sect stat | grep mtime)"
sect stat | grep -q "uid: 0" && ok "owner 0" || bad "owner: $(sect stat | grep uid)"
[ "$(sect label)" = www ] && ok "filesystem label" || bad "label: $(sect label)"
uuid=$(sect uuid)
case "$uuid" in
[0-9a-f]*-*-4*) ok "filesystem UUID $uuid (derived from the recipe)" ;;
*) bad "UUID: $uuid" ;;
esac
echo "build-web: $((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
