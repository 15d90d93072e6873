#!/bin/sh
# P2V of a stand-in physical server: Debian 12 debootstrapped onto an ext4
# partition of an MBR disk (tests/p2v/make-server.sh, cached in
# build/p2v-cache), attached as a loop device. Checks: the bundle is valid,
# the guest is found as Debian 12 and recorded in the bundle (vessel inspect
# shows it), /etc/fstab names UUIDs instead of
# /dev/sda1, the kernel command line has a serial console, boot/ holds the
# kernel and initramfs, only about the used blocks were copied, the source
# is bit-identical afterwards, the bundle exports to OVA; a destination that
# fills up fails cleanly and leaves nothing behind. GRUB (installed on the
# stand-in): grub.cfg's linux lines boot by UUID with a serial console,
# GRUB_DISABLE_LINUX_UUID is turned off, the MBR and core.img are copied.
set -u

: "${VESSEL:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "t80-p2v: skip: $*"; exit 77; }
fail() { echo "t80-p2v: FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root (loop devices, debootstrap)"
command -v losetup >/dev/null || skip "no losetup"
command -v debugfs >/dev/null || skip "no debugfs (e2fsprogs)"
[ -e /dev/loop-control ] || skip "no loop devices here"

img=$("$top/tests/p2v/make-server.sh" "$top/build/p2v-cache") || {
	rc=$?
	[ $rc = 77 ] && skip "the stand-in server cannot be built here"
	fail "make-server.sh failed ($rc)"
}

tmp=$(mktemp -d /tmp/t80-p2v.XXXXXX)
loop=
mnt=
cleanup() {
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	[ -n "$mnt" ] && umount "$mnt" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# a private copy: the cached image stays pristine whatever happens
cp --sparse=always "$img" "$tmp/server.raw"
loop=$(losetup -f --show "$tmp/server.raw") || skip "losetup failed (no free loop device?)"
# the image's hash, computed once per cached image; the loop device is
# hashed once, at the end (after both conversions)
before=$("$top/tests/p2v/image-hash.sh" "$img") || fail "cannot hash $img"

"$VESSEL" p2v "$loop" -o "$tmp/srv.vessel" 2>"$tmp/err"
rc=$?
cat "$tmp/err"
[ $rc = 0 ] || fail "vessel p2v $loop exited $rc"

"$VESSEL" inspect "$tmp/srv.vessel" >"$tmp/inspect" || fail "vessel inspect rejects the bundle"
grep -q '^vessel: guest: linux debian 12\.' "$tmp/err" || fail "guest not reported as Debian 12"
# the copied initramfs was checked (and has virtio_pci + virtio_blk)
grep -q 'initramfs has virtio\|initramfs rebuilt' "$tmp/err" ||
	fail "the fix-ups did not find virtio drivers in the initramfs"
grep -q 'initramfs.*lacks\|initramfs not checked' "$tmp/err" && fail "initramfs check: $(cat "$tmp/err")"
# the bundle records it (vessel.yaml guest:), and inspect shows it, also as JSON
grep '^guest ' "$tmp/inspect"
grep -q '^guest  *linux debian 12\.[0-9]' "$tmp/inspect" ||
	fail "vessel inspect does not report the guest as Debian 12: $(cat "$tmp/inspect")"
"$VESSEL" inspect --json "$tmp/srv.vessel" >"$tmp/inspect.json" || fail "vessel inspect --json failed"
grep -q '"guest":{"os":"linux","distro":"debian","version":"12\.' "$tmp/inspect.json" ||
	fail "vessel inspect --json has no Debian 12 guest: $(cat "$tmp/inspect.json")"
y="$tmp/srv.vessel/vessel.yaml"
grep -q 'root=UUID=' "$y" || fail "vessel.yaml: no root=UUID= command line"
grep -q 'console=ttyS0' "$y" || fail "vessel.yaml: no serial console"
grep -q 'mac:' "$y" || echo "t80-p2v: note: this machine has no NIC backed by a device (no MAC recorded)"
[ -s "$tmp/srv.vessel/boot/vmlinuz" ] || fail "boot/vmlinuz missing"
[ -s "$tmp/srv.vessel/boot/initrd.img" ] || fail "boot/initrd.img missing"

# look inside the copy without another appliance: raw + debugfs at the partition
qemu-img convert -O raw "$tmp/srv.vessel/disks/disk0.qcow2" "$tmp/copy.raw" ||
	fail "qemu-img cannot read the copy"
debugfs -R 'cat /etc/fstab' "$tmp/copy.raw?offset=1048576" >"$tmp/fstab" 2>/dev/null ||
	fail "debugfs cannot read /etc/fstab of the copy"
grep -q '^/dev/sda1' "$tmp/fstab" && fail "fstab still names /dev/sda1: $(cat "$tmp/fstab")"
grep -q '^UUID=.* / ' "$tmp/fstab" || fail "fstab has no UUID= root entry: $(cat "$tmp/fstab")"
debugfs -R 'cat /etc/default/grub' "$tmp/copy.raw?offset=1048576" 2>/dev/null |
	grep -q 'console=ttyS0' || fail "/etc/default/grub has no serial console"
debugfs -R 'cat /etc/default/grub' "$tmp/copy.raw?offset=1048576" 2>/dev/null >"$tmp/grubdef"
grep -q '^GRUB_DISABLE_LINUX_UUID=true' "$tmp/grubdef" &&
	fail "/etc/default/grub still disables root=UUID: $(cat "$tmp/grubdef")"
# grub.cfg (written by update-grub on the server with root=/dev/sda1): every
# linux line boots by UUID with a serial console
debugfs -R 'cat /boot/grub/grub.cfg' "$tmp/copy.raw?offset=1048576" 2>/dev/null |
	grep '^[[:space:]]*linux[[:space:]]' >"$tmp/cfg"
[ -s "$tmp/cfg" ] || fail "the copy's grub.cfg has no linux lines"
grep -v 'root=UUID=' "$tmp/cfg" && fail "grub.cfg linux lines without root=UUID= (above)"
grep -v 'console=ttyS0' "$tmp/cfg" && fail "grub.cfg linux lines without a serial console (above)"
debugfs -R 'cat /boot/grub/grub.cfg' "$loop?offset=1048576" 2>/dev/null |
	grep -q 'root=/dev/sda1' || fail "the source's grub.cfg does not say root=/dev/sda1"
# GRUB's boot sector and core.img (in the gap before the partition) copied
# as they are, so the disk still boots with BIOS firmware
cmp -s -n 1048576 "$loop" "$tmp/copy.raw" || fail "the first MiB (MBR + GRUB core.img) differs"
dd if="$tmp/copy.raw" bs=512 count=1 2>/dev/null | grep -q GRUB || fail "no GRUB in the copy's MBR"
debugfs -R 'cat /etc/initramfs-tools/modules' "$tmp/copy.raw?offset=1048576" 2>/dev/null |
	grep -q '^virtio_blk' || fail "virtio_blk not in /etc/initramfs-tools/modules"
# the source still has the old fstab (it was never written)
debugfs -R 'cat /etc/fstab' "$loop?offset=1048576" 2>/dev/null | grep -q '^/dev/sda1' ||
	fail "the source's fstab changed"

# only about the used blocks were copied
used=$(dumpe2fs -h "$loop?offset=1048576" 2>/dev/null | awk -F: '
	/^Block count/ { n = $2 } /^Free blocks/ { f = $2 } /^Block size/ { b = $2 }
	END { printf "%d\n", (n - f) * b }')
size=$(blockdev --getsize64 "$loop")
alloc=$(du -B1 "$tmp/srv.vessel/disks/disk0.qcow2" | cut -f1)
echo "t80-p2v: disk $size bytes, used in fs $used, copy allocates $alloc"
[ "$used" -gt 0 ] || fail "cannot compute the used bytes"
[ "$alloc" -lt $((used + used / 4 + 64 * 1048576)) ] || fail "copied too much: $alloc for $used used"
[ "$alloc" -lt $((size / 2)) ] || fail "copy is not sparse: $alloc of $size"

"$VESSEL" export "$tmp/srv.vessel" --to ova -o "$tmp/srv.ova" >/dev/null ||
	fail "export to OVA failed"
[ -s "$tmp/srv.ova" ] || fail "no OVA written"

# a destination that fills up: clear error, nothing left behind, source intact
mnt="$tmp/small"
mkdir "$mnt"
if mount -t tmpfs -o size=40m none "$mnt" 2>/dev/null; then
	"$VESSEL" p2v --no-fixup "$loop" -o "$mnt/full.vessel" 2>"$tmp/err2"
	rc=$?
	[ $rc = 1 ] || fail "full destination: exit $rc, expected 1"
	grep -q '^vessel: p2v: ' "$tmp/err2" || fail "full destination: no error line: $(cat "$tmp/err2")"
	[ -z "$(ls -A "$mnt")" ] || fail "full destination: left $(ls -A "$mnt")"
	umount "$mnt"
	mnt=
else
	echo "t80-p2v: note: cannot mount a tmpfs: full-destination case not run"
fi
after=$(sha256sum <"$loop" | cut -d' ' -f1)
[ "$after" = "$before" ] || fail "the source changed: $before -> $after"

# usage errors
"$VESSEL" p2v "$loop" >/dev/null 2>&1
[ $? = 2 ] || fail "missing -o is not a usage error"
"$VESSEL" p2v "$loop" -o "$tmp/srv.vessel" 2>/dev/null
[ $? = 1 ] || fail "an existing output is not refused"
echo "t80-p2v: ok"
