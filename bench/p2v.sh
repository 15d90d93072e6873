#!/bin/sh
# P2V copy benchmark: a loop-device disk of DISK size holding DATA of file
# data in an ext4 (or, with FS=xfs, xfs) partition whose free space is not
# zero (a deleted file of GARBAGE size left its blocks behind, as on any used
# server). ext4 free space comes from its bitmaps; xfs free space from one
# libguestfs launch that fstrims an overlay (builder/p2v_trim.c), which the
# vessel time includes. Compares, in
# the same run on the same device:
#   vessel p2v --no-fixup /dev/loopN          (copy only; fix-ups measured apart)
#   qemu-img convert -O qcow2 /dev/loopN      (the reference: zero detection only)
# Reports wall time, bytes read where known, and the size of each qcow2.
#
# Usage: bench/p2v.sh [DISK] [DATA] [GARBAGE] [FS]   (defaults 8G 1G 2G ext4)
# Needs root (losetup), e2fsprogs, sfdisk, qemu-img; xfs: xfsprogs, mount
# and libguestfs. Runs under nice.
set -eu

disk=${1:-8G}
data=${2:-1G}
garbage=${3:-2G}
fs=${4:-ext4}
top=$(cd "$(dirname "$0")/.." && pwd)
vessel=${VESSEL:-$top/build/p2v/vessel}
[ -x "$vessel" ] || { echo "bench/p2v: build vessel first (make BUILD=build/p2v)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/bench-p2v.XXXXXX)
loop=
cleanup() {
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	mountpoint -q "$tmp/m" 2>/dev/null && umount "$tmp/m"
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

bytes() { numfmt --from=iec "$1"; }
mib() { echo $(( $(bytes "$1") / 1048576 )); }

case $fs in ext4|xfs) ;; *) echo "bench/p2v: FS must be ext4 or xfs" >&2; exit 2 ;; esac
echo "bench/p2v: making a ${disk} disk: ${fs}, ${data} of data, ${garbage} of deleted garbage" >&2
truncate -s "$disk" "$tmp/disk.raw"
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$tmp/disk.raw"
truncate -s $(( $(bytes "$disk") - 1048576 )) "$tmp/part"
if [ "$fs" = xfs ]; then
	mkfs.xfs -q -f "$tmp/part"
	mkdir "$tmp/m"
	mount -o loop "$tmp/part" "$tmp/m"
	head -c "$(bytes "$garbage")" /dev/urandom >"$tmp/m/garbage"
	sync
	head -c "$(bytes "$data")" /dev/urandom >"$tmp/m/data"
	# deleted after the data is written, so its blocks stay free but not zero
	rm "$tmp/m/garbage"
	umount "$tmp/m"
else
	mkfs.ext4 -q -F "$tmp/part"
	head -c "$(bytes "$garbage")" /dev/urandom >"$tmp/g"
	debugfs -w -R "write $tmp/g garbage" "$tmp/part" >/dev/null 2>&1
	rm "$tmp/g"
	head -c "$(bytes "$data")" /dev/urandom >"$tmp/d"
	debugfs -w -R "write $tmp/d data" "$tmp/part" >/dev/null 2>&1
	rm "$tmp/d"
	# deleted after the data is written, so its blocks stay free but not zero
	debugfs -w -R "rm garbage" "$tmp/part" >/dev/null 2>&1
fi
dd if="$tmp/part" of="$tmp/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm "$tmp/part"
loop=$(losetup -f --show -r "$tmp/disk.raw")
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true

t0=$(date +%s.%N)
nice "$vessel" -q p2v --no-fixup "$loop" -o "$tmp/v.vessel"
t1=$(date +%s.%N)
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
t2=$(date +%s.%N)
nice qemu-img convert -O qcow2 "$loop" "$tmp/q.qcow2"
t3=$(date +%s.%N)

vs=$(du -B1 "$tmp/v.vessel/disks/disk0.qcow2" | cut -f1)
qs=$(du -B1 "$tmp/q.qcow2" | cut -f1)
vt=$(echo "$t1 - $t0" | bc)
qt=$(echo "$t3 - $t2" | bc)
echo "| disk | fs | data | deleted garbage | tool | wall s | qcow2 MiB |"
echo "|---|---|---|---|---|---|---|"
echo "| $disk | $fs | $data | $garbage | vessel p2v --no-fixup | $vt | $((vs / 1048576)) |"
echo "| $disk | $fs | $data | $garbage | qemu-img convert -O qcow2 | $qt | $((qs / 1048576)) |"
echo "(data: $(mib "$data") MiB)"
