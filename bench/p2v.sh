#!/bin/sh
# P2V copy benchmark: a loop-device disk of DISK size holding DATA of file
# data in an ext4 partition whose free space is not zero (a deleted file of
# GARBAGE size left its blocks behind, as on any used server). Compares, in
# the same run on the same device:
#   vessel p2v --no-fixup /dev/loopN          (copy only; fix-ups measured apart)
#   qemu-img convert -O qcow2 /dev/loopN      (the reference: zero detection only)
# Reports wall time, bytes read where known, and the size of each qcow2.
#
# Usage: bench/p2v.sh [DISK] [DATA] [GARBAGE]   (defaults 8G 1G 2G)
# Needs root (losetup), e2fsprogs, sfdisk, qemu-img. Runs under nice.
set -eu

disk=${1:-8G}
data=${2:-1G}
garbage=${3:-2G}
top=$(cd "$(dirname "$0")/.." && pwd)
vessel=${VESSEL:-$top/build/p2v/vessel}
[ -x "$vessel" ] || { echo "bench/p2v: build vessel first (make BUILD=build/p2v)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/bench-p2v.XXXXXX)
loop=
cleanup() {
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

bytes() { numfmt --from=iec "$1"; }
mib() { echo $(( $(bytes "$1") / 1048576 )); }

echo "bench/p2v: making a ${disk} disk: ${data} of data, ${garbage} of deleted garbage" >&2
truncate -s "$disk" "$tmp/disk.raw"
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$tmp/disk.raw"
truncate -s $(( $(bytes "$disk") - 1048576 )) "$tmp/part"
mkfs.ext4 -q -F "$tmp/part"
head -c "$(bytes "$garbage")" /dev/urandom >"$tmp/g"
debugfs -w -R "write $tmp/g garbage" "$tmp/part" >/dev/null 2>&1
rm "$tmp/g"
head -c "$(bytes "$data")" /dev/urandom >"$tmp/d"
debugfs -w -R "write $tmp/d data" "$tmp/part" >/dev/null 2>&1
rm "$tmp/d"
# deleted after the data is written, so its blocks stay free but not zero
debugfs -w -R "rm garbage" "$tmp/part" >/dev/null 2>&1
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
echo "| disk | data | deleted garbage | tool | wall s | qcow2 MiB |"
echo "|---|---|---|---|---|---|"
echo "| $disk | $data | $garbage | vessel p2v --no-fixup | $vt | $((vs / 1048576)) |"
echo "| $disk | $data | $garbage | qemu-img convert -O qcow2 | $qt | $((qs / 1048576)) |"
echo "(data: $(mib "$data") MiB)"
