#!/bin/sh
# virtio-blk end to end: the Debian kernel finds vessel's PCI virtio disks
# (modules loaded from a busybox initramfs), writes a marker to a qcow2
# disk, is refused a write to a read-only raw disk, powers off; qemu-img
# check finds the qcow2 clean and the marker at the right offset; a second
# `vessel run` reads the marker back from the guest side (on the default
# translator; under VESSEL_ENGINE=interp only with VESSEL_T70_REREAD=1, as it
# costs ~3 min more there).
#
# Needs scripts/fetch-guest.sh's kernel .deb (its modules) and qemu-img;
# skips (77) otherwise. VESSEL_ENGINE=bt|interp picks the engine.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
VESSEL=${VESSEL:-$top/build/dbg/vessel}
guest=${VESSEL_GUEST_DIR:-$top/build/guest}
tmo=${VESSEL_BOOT_TIMEOUT:-900}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v qemu-img >/dev/null || { echo "t70-virtio-blk: qemu-img is missing"; exit 77; }
if ! "$top/scripts/fetch-guest.sh" -d "$guest" >"$work/fetch.out" 2>"$work/fetch.err"; then
	cat "$work/fetch.err"
	echo "t70-virtio-blk: cannot fetch the Debian kernel/busybox here"
	exit 77
fi
kernel=$(sed -n 's/^kernel=//p' "$work/fetch.out")
mods=$("$top/scripts/guest-modules.sh" "$guest" "$work" virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk virtio-rng) ||
	{ echo "t70-virtio-blk: the virtio modules are not available here"; exit 77; }

cat >"$work/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk virtio-rng; do
	insmod /$m.ko || echo "t70: insmod $m failed"
done
echo "t70: vda=$(cat /sys/block/vda/size 2>&1) vdb=$(cat /sys/block/vdb/size 2>&1) vdb_ro=$(cat /sys/block/vdb/ro 2>&1)"
case "$(cat /proc/cmdline)" in
*t70=write*)
	echo "t70-marker-$(cat /proc/sys/kernel/random/boot_id)" >/tmp/m
	dd if=/tmp/m of=/dev/vda bs=4096 seek=100 conv=sync,fsync 2>/dev/null && echo "t70: wrote vda"
	if dd if=/tmp/m of=/dev/vdb bs=4096 seek=1 conv=sync,fsync 2>/dev/null; then
		echo "t70: vdb write accepted"
	else
		echo "t70: vdb write refused"
	fi
	;;
*)
	echo "t70: read $(dd if=/dev/vda bs=4096 skip=100 count=1 2>/dev/null | head -n 1)"
	echo "t70: vdb $(dd if=/dev/vdb bs=16 count=1 2>/dev/null)"
	;;
esac
sync
poweroff -f
INIT
# shellcheck disable=SC2086
"$top/scripts/fetch-guest.sh" -d "$guest" --initramfs "$work/initrd.gz" "$work/init" $mods \
	>/dev/null || { echo "t70-virtio-blk: building the initramfs failed"; exit 1; }

qemu-img create -q -f qcow2 "$work/disk.qcow2" 64M || exit 1
printf 'vdb-readonly-ok!' >"$work/ro.raw"
truncate -s 1M "$work/ro.raw"
cp "$work/ro.raw" "$work/ro.orig"

fail() {
	echo "t70-virtio-blk: FAIL: $*"
	echo "--- guest console (last 30 lines)"; tail -n 30 "$work/out"
	echo "--- vessel stderr (last 20 lines)"; tail -n 20 "$work/err"
	exit 1
}

boot() {
	timeout "$tmo" "$VESSEL" -v run ${VESSEL_ENGINE:+--engine "$VESSEL_ENGINE"} --kernel "$kernel" --initrd "$work/initrd.gz" \
		--append "console=ttyS0 quiet panic=-1 $1" -m 256 --no-reboot --stats \
		--disk "$work/disk.qcow2" --disk "$work/ro.raw,format=raw,ro" \
		</dev/null >"$work/out" 2>"$work/err"
	rc=$?
	[ "$rc" -eq 124 ] && fail "timed out after ${tmo}s"
	[ "$rc" -eq 0 ] || fail "vessel exited with $rc"
	grep -q "the guest powered off" "$work/err" || fail "the guest did not power off"
}

start=$(date +%s)
boot t70=write
tr -d '\r' <"$work/out" >"$work/out1"
grep -q "t70: vda=131072 vdb=2048 vdb_ro=1" "$work/out1" || fail "the guest did not see both disks (64 MiB rw, 1 MiB ro)"
grep -q "t70: wrote vda" "$work/out1" || fail "writing /dev/vda failed"
grep -q "t70: vdb write refused" "$work/out1" || fail "a write to the read-only disk was accepted"
cmp -s "$work/ro.raw" "$work/ro.orig" || fail "the read-only image changed"
qemu-img check -q "$work/disk.qcow2" || fail "qemu-img check: the qcow2 is not clean"
qemu-img convert -O raw "$work/disk.qcow2" "$work/disk.raw" || fail "qemu-img convert"
host=$(dd if="$work/disk.raw" bs=4096 skip=100 count=1 2>/dev/null | head -n 1)
case "$host" in t70-marker-*) ;; *) fail "no marker at 400 KiB of the qcow2 (got '$host')";; esac

# The second boot (the guest reads the marker back) costs ~3 min under the
# interpreter: it runs on the translator (vessel run's default) or when asked for.
if [ "${VESSEL_ENGINE:-bt}" = bt ] || [ "${VESSEL_T70_REREAD:-0}" = 1 ]; then
	boot t70=read
	tr -d '\r' <"$work/out" >"$work/out2"
	grep -q "t70: read $host" "$work/out2" || fail "the second run did not read the marker back"
	grep -q "t70: vdb vdb-readonly-ok!" "$work/out2" || fail "the read-only disk's content was not read"
	what="write read back by a second run"
else
	what="write on the qcow2 after poweroff (second run skipped under VESSEL_ENGINE=interp; VESSEL_T70_REREAD=1 runs it)"
fi
end=$(date +%s)
echo "t70-virtio-blk: ok: /dev/vda (qcow2) and /dev/vdb (raw, ro) found, $what," \
	"ro write refused, qemu-img check clean ($((end - start)) s)"
exit 0
