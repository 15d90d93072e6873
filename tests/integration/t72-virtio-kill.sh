#!/bin/sh
# virtio-blk crash safety: SIGKILL vessel while the guest is writing.
# The guest's /init writes 1 MiB of host-chosen random data to /dev/vda at
# 8 MiB with conv=fsync (the virtio flush reaches the qcow2), runs sync,
# prints a marker, then keeps writing other 64 KiB blocks (16-32 MiB) with
# fsync in a loop. Once the marker and a few loop rounds are on the console
# the host SIGKILLs vessel. Then `qemu-img check` must find the qcow2 clean
# (exit 0) or with leaked clusters only (exit 3), and the flushed 1 MiB must
# read back intact from the image (qemu-img convert -O raw, cmp).
#
# Needs scripts/fetch-guest.sh's kernel .deb (its modules) and qemu-img;
# skips (77) otherwise. VESSEL_ENGINE=bt|interp picks the engine (default:
# vessel's default, the translator).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
VESSEL=${VESSEL:-$top/build/dbg/vessel}
guest=${VESSEL_GUEST_DIR:-$top/build/guest}
tmo=${VESSEL_BOOT_TIMEOUT:-900}

work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

command -v qemu-img >/dev/null || { echo "t72-virtio-kill: qemu-img is missing"; exit 77; }
if ! "$top/scripts/fetch-guest.sh" -d "$guest" >"$work/fetch.out" 2>"$work/fetch.err"; then
	cat "$work/fetch.err"
	echo "t72-virtio-kill: cannot fetch the Debian kernel/busybox here"
	exit 77
fi
kernel=$(sed -n 's/^kernel=//p' "$work/fetch.out")
mods=$("$top/scripts/guest-modules.sh" "$guest" "$work" virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk) ||
	{ echo "t72-virtio-kill: the virtio modules are not available here"; exit 77; }

# the data that must survive: random, chosen on the host for this run
head -c 1048576 /dev/urandom >"$work/pattern" || exit 1

cat >"$work/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
	insmod /$m.ko || echo "t72: insmod $m failed"
done
if dd if=/pattern of=/dev/vda bs=65536 seek=128 conv=notrunc,fsync 2>/dev/null; then
	sync
	echo "t72: synced"
else
	echo "t72: writing the pattern failed"
fi
i=0
while :; do
	dd if=/dev/urandom of=/dev/vda bs=65536 seek=$((256 + i % 256)) count=4 \
		conv=notrunc,fsync 2>/dev/null
	i=$((i + 1))
	echo "t72: round $i"
done
INIT
# shellcheck disable=SC2086
"$top/scripts/fetch-guest.sh" -d "$guest" --initramfs "$work/initrd.gz" "$work/init" "$work/pattern" $mods \
	>/dev/null || { echo "t72-virtio-kill: building the initramfs failed"; exit 1; }

qemu-img create -q -f qcow2 "$work/disk.qcow2" 64M || exit 1

fail() {
	echo "t72-virtio-kill: FAIL: $*"
	echo "--- guest console (last 30 lines)"; tail -n 30 "$work/out"
	echo "--- vessel stderr (last 20 lines)"; tail -n 20 "$work/err"
	exit 1
}

start=$(date +%s)
"$VESSEL" -v run ${VESSEL_ENGINE:+--engine "$VESSEL_ENGINE"} --kernel "$kernel" --initrd "$work/initrd.gz" \
	--append "console=ttyS0 quiet panic=-1" -m 256 --no-reboot \
	--disk "$work/disk.qcow2" </dev/null >"$work/out" 2>"$work/err" &
pid=$!
waited=0
# the marker, then a few rounds so the kill lands among in-flight writes
until grep -q "t72: round 3" "$work/out" 2>/dev/null; do
	kill -0 "$pid" 2>/dev/null || fail "vessel ended before the guest wrote"
	grep -q "t72: writing the pattern failed" "$work/out" 2>/dev/null && fail "the guest could not write /dev/vda"
	[ $waited -ge "$tmo" ] && fail "no marker from the guest in ${tmo}s"
	sleep 1
	waited=$((waited + 1))
done
grep -q "t72: synced" "$work/out" || fail "the round marker came without the synced marker"
kill -9 "$pid" || fail "vessel ended before it could be killed"
wait "$pid" 2>/dev/null
rc=$?
pid=
[ "$rc" -eq 137 ] || fail "vessel exited with $rc, not by SIGKILL (137)"
rounds=$(tr -d '\r' <"$work/out" | sed -n 's/^t72: round //p' | tail -n 1)

qemu-img check "$work/disk.qcow2" >"$work/check" 2>&1
crc=$?
case $crc in
0) state=clean ;;
3) state="leaks only" ;;
*) cat "$work/check"; fail "qemu-img check exited $crc: the image is corrupt" ;;
esac
qemu-img convert -O raw "$work/disk.qcow2" "$work/disk.raw" || fail "qemu-img convert"
dd if="$work/disk.raw" of="$work/back" bs=65536 skip=128 count=16 2>/dev/null
cmp -s "$work/back" "$work/pattern" || fail "the flushed 1 MiB at 8 MiB is not intact after the kill"
end=$(date +%s)
echo "t72-virtio-kill: ok: SIGKILL after $rounds fsync'd write rounds, qemu-img check: $state," \
	"flushed 1 MiB intact ($((end - start)) s)"
exit 0
