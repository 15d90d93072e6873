#!/bin/sh
# vessel build recipes/web.yaml: kernel + initramfs with virtio modules and a
# qcow2 ext4 data disk holding the site.
#   - ext4 disks are made with e2fsprogs (no appliance): two builds of a
#     GPT-partitioned disk are identical byte for byte
#   - VESSEL_DISKS=guestfs makes the same disk through libguestfs (ONE launch),
#     together with a disk made from an existing VMDK image that a step changes
#   - guestfish (one more launch) checks the files on all three disks
# (the disk-only recipes boot a dummy kernel file, so they need no apt)
# libguestfs launches in this script: two. Skips when libguestfs cannot run.
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
PATH=$PATH:/usr/sbin:/sbin
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
export SOURCE_DATE_EPOCH=1700000000
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
ok() { n=$((n + 1)); echo "ok   $*"; }
bad() { n=$((n + 1)); fail=$((fail + 1)); echo "FAIL $*"; }

# the disk of web.yaml in a recipe that boots a dummy kernel file: no apt,
# no kernel to unpack, so the disk builders can be exercised quickly
printf 'not a kernel\n' >"$tmp/vmlinuz"
cat >"$tmp/disk.yaml" <<Y
vessel: 1
variables:
  motto: {default: served from a vessel data disk}
machine: {name: disk}
boot:
  kernel: {file: $tmp/vmlinuz}
sources:
  - {name: site, path: $top/recipes/web-site}
disks:
  - name: www
    size: 64M
    partition-table: gpt
    label: www
    contents: [{source: site, to: /}]
customize:
  - write: /status.html
    content: "<p>status: ok, \${motto}</p>"
  - mkdir: /cgi-bin
    mode: "0755"
  - append-line: /about.html
    line: "<!-- built by vessel -->"
Y

# contents larger than the disk: refused before any launch, naming the disk's line
mkdir -p "$tmp/big"
head -c 3000000 /dev/zero >"$tmp/big/blob"
sed -e "s|path: $top/recipes/web-site|path: $tmp/big|" -e 's|    size: 64M|    size: 2M|' \
	"$tmp/disk.yaml" >"$tmp/toobig.yaml"
if "$VESSEL" build --no-cache "$tmp/toobig.yaml" -o "$tmp/toobig.vessel" 2>"$tmp/err"; then
	bad "contents larger than the disk were accepted"
elif grep -q "toobig.yaml:[0-9]*:[0-9]*: disk 'www': its contents need 2.9 MiB but the disk is 2.0 MiB" "$tmp/err" &&
     [ -z "$(ls -A "$tmp" | grep -v -e '^big$' -e '^err$' -e '\.yaml$' -e '^vmlinuz$')" ]; then
	ok "contents larger than the disk: refused, nothing left"
else
	bad "contents larger than the disk:"; cat "$tmp/err"; ls -A "$tmp"
fi

start=$(date +%s)
if "$VESSEL" build --no-cache "$top/recipes/web.yaml" -o "$tmp/web.vessel" 2>"$tmp/err"; then
	ok "web built in $(( $(date +%s) - start )) s"
else
	bad "web build:"; sed 's/^/    /' "$tmp/err"
	echo "build-web: $((n - fail)) passed, $fail failed"
	exit 1
fi
grep -q "starting the libguestfs appliance" "$tmp/err" && bad "the ext4 disk needed libguestfs"
if "$VESSEL" -q build --no-cache "$tmp/disk.yaml" -o "$tmp/gpt.vessel" 2>"$tmp/err" &&
   "$VESSEL" -q build --no-cache "$tmp/disk.yaml" -o "$tmp/gpt2.vessel" 2>>"$tmp/err"; then
	ok "GPT-partitioned ext4 disk built twice"
else
	bad "GPT disk:"; cat "$tmp/err"
fi
if diff -r "$tmp/gpt.vessel" "$tmp/gpt2.vessel" >/dev/null; then
	ok "two builds identical byte for byte, disk included"
else
	bad "two builds differ:"; diff -r "$tmp/gpt.vessel" "$tmp/gpt2.vessel" | head -5
fi
# the libguestfs build also takes a disk made from an existing image (a VMDK
# holding an ext4 filesystem) and changes it: still one launch
mkdir -p "$tmp/baseroot/etc" && echo base >"$tmp/baseroot/etc/base.txt"
truncate -s 16M "$tmp/base.raw" && mke2fs -q -t ext4 -d "$tmp/baseroot" "$tmp/base.raw" &&
	"$VESSEL" -q img convert -O vmdk "$tmp/base.raw" "$tmp/base.vmdk" ||
	{ bad "cannot make the base image"; }
sed -e 's|    partition-table: gpt|    partition-table: none|' \
    -e "s|^    contents: \[{source: site, to: /}\]|&\n  - name: base\n    image: $tmp/base.vmdk|" \
    "$tmp/disk.yaml" >"$tmp/gfs.yaml"
printf '  - write: /etc/added.txt\n    content: "added\\n"\n    disk: base\n' >>"$tmp/gfs.yaml"
start=$(date +%s)
if VESSEL_DISKS=guestfs "$VESSEL" build --no-cache "$tmp/gfs.yaml" -o "$tmp/gfs.vessel" 2>"$tmp/err"; then
	ok "the same disk built through libguestfs in $(( $(date +%s) - start )) s"
else
	if grep -q "libguestfs could not start" "$tmp/err"; then
		echo "skip: libguestfs cannot start its appliance here:"; cat "$tmp/err"; exit 77
	fi
	bad "disk build through libguestfs:"; sed 's/^/    /' "$tmp/err"
fi
launches=$(grep -c "starting the libguestfs appliance" "$tmp/err")
[ "$launches" = 1 ] && ok "one libguestfs launch for the build" || bad "$launches libguestfs launches"
for v in web gpt gfs; do
	img="$tmp/$v.vessel/disks/www.qcow2"
	if [ -f "$img" ] && qemu-img check -q "$img" && qemu-img info "$img" | grep -q "file format: qcow2"; then
		ok "qemu-img check accepts $v.vessel/disks/www.qcow2"
	else
		bad "qemu-img rejects $v.vessel/disks/www.qcow2"
	fi
done
grep -q "file: disks/www.qcow2" "$tmp/web.vessel/vessel.yaml" &&
	grep -q "host: 8080" "$tmp/web.vessel/vessel.yaml" && ok "vessel.yaml: disk and port forward" ||
	bad "vessel.yaml lacks the disk or the forward"
zcat "$tmp/web.vessel/boot/initrd" | cpio -i --quiet --to-stdout etc/vessel/modules >"$tmp/mods" 2>/dev/null
for m in virtio_pci virtio_blk virtio_net ext4 jbd2 crc32c_generic; do
	grep -q "/$m.ko\$" "$tmp/mods" || bad "initramfs lacks module $m"
done
[ "$(tail -1 "$tmp/mods")" = kernel/fs/ext4/ext4.ko ] && ok "modules in dependency order ($(wc -l <"$tmp/mods"))" ||
	bad "module order: $(tr '\n' ' ' <"$tmp/mods")"

# one guestfish launch reads all three disks back
{
	echo "add $tmp/web.vessel/disks/www.qcow2 readonly:true format:qcow2"
	echo "add $tmp/gfs.vessel/disks/www.qcow2 readonly:true format:qcow2"
	echo "add $tmp/gpt.vessel/disks/www.qcow2 readonly:true format:qcow2"
	echo "add $tmp/gfs.vessel/disks/base.qcow2 readonly:true format:qcow2"
	echo run
	for d in web:/dev/sda gfs:/dev/sdb gpt:/dev/sdc1; do
		v=${d%%:*} dev=${d#*:}
		echo "mount-ro $dev /"
		echo "download /index.html $tmp/$v-index.html"
		echo "download /about.html $tmp/$v-about.html"
		echo "echo ==$v-status"; echo "cat /status.html"
		echo "echo ==$v-stat"; echo "stat /index.html"
		echo "echo ==$v-cgi"; echo "is-dir /cgi-bin"
		echo "echo ==$v-label"; echo "vfs-label $dev"
		echo "echo ==$v-uuid"; echo "vfs-uuid $dev"
		echo "echo ==$v-end"
		echo "umount-all"
	done
	echo "echo ==gpt-type"; echo "part-get-parttype /dev/sdc"
	echo "mount-ro /dev/sdd /"
	echo "echo ==base"; echo "cat /etc/base.txt"; echo "cat /etc/added.txt"; echo "echo ==end"
} >"$tmp/gf.cmds"
guestfish <"$tmp/gf.cmds" >"$tmp/gf" 2>&1
sect() { sed -n "/^==$1\$/,/^==/p" "$tmp/gf" | sed '1d;$d'; }
for v in web gfs gpt; do
	if cmp -s "$tmp/$v-index.html" "$top/recipes/web-site/index.html"; then
		ok "$v: index.html copied byte for byte"
	else
		bad "$v: index.html differs or missing:"; cat "$tmp/gf"
	fi
	sect $v-status | grep -q "status: ok, served from a vessel data disk" &&
		ok "$v: write step with a variable" || bad "$v: status.html: $(sect $v-status)"
	[ "$(tail -1 "$tmp/$v-about.html" 2>/dev/null)" = "<!-- built by vessel -->" ] &&
		ok "$v: append-line step" || bad "$v: about.html"
	[ "$(sect $v-cgi)" = true ] && ok "$v: mkdir step" || bad "$v: cgi-bin: $(sect $v-cgi)"
	sect $v-stat | grep -q "mtime: 1700000000" && sect $v-stat | grep -q "uid: 0" &&
		ok "$v: file time = SOURCE_DATE_EPOCH, owner 0" || bad "$v: stat: $(sect $v-stat | tr '\n' ' ')"
	[ "$(sect $v-label)" = www ] && ok "$v: filesystem label" || bad "$v: label: $(sect $v-label)"
	uuid=$(sect $v-uuid)
	case "$uuid" in
	[0-9a-f]*-*-4*) ok "$v: filesystem UUID $uuid (derived from the recipe)" ;;
	*) bad "$v: UUID: $uuid" ;;
	esac
done
[ "$(sect web-uuid)" != "$(sect gfs-uuid)" ] && [ -n "$(sect gfs-uuid)" ] &&
	ok "UUIDs differ between recipes" || bad "UUIDs do not depend on the recipe"
[ "$(sect gpt-type)" = gpt ] && ok "GPT partition table" || bad "partition table: $(sect gpt-type)"
[ "$(sect base | grep -v '^$' | tr '\n' ' ')" = "base added " ] &&
	ok "disk from a VMDK image: its file kept, the write step applied in the same launch" ||
	bad "image disk: $(sect base)"
echo "build-web: $((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
