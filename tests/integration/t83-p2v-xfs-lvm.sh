#!/bin/sh
# P2V skips the free space of xfs and of filesystems inside LVM (issue #9).
#
# The source: a 1 GiB GPT disk (built once with guestfish, cached in
# build/p2v-cache by layout version) holding
#   partition 1: xfs, 48 MiB of random data kept, 192 MiB of it deleted;
#   partition 2: an LVM PV, VG vslt83 with LV "data" (ext4, 400 MiB: 48 MiB
#                kept, 192 MiB deleted) and ~300 MiB of garbage in extents
#                no LV uses any more (written through an LV since removed).
# `vessel p2v --no-fixup` of it as a loop device must read and write about
# the live data, not the ~680 MiB of garbage; the kept files must read back
# identical from the copy (host loop mounts of a raw export of it, at the
# offsets the build recorded: no second appliance); the source must be
# bit-identical afterwards; xfs and LVM must no longer be "copied whole".
# The host needs no LVM or device-mapper: LVM only exists in the appliance.
set -u

: "${VESSEL:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "t83-p2v-xfs-lvm: skip: $*"; exit 77; }
fail() { echo "t83-p2v-xfs-lvm: FAIL: $*"; exit 1; }
MiB=1048576

[ "$(id -u)" = 0 ] || skip "needs root (loop devices, mount)"
[ -e /dev/loop-control ] || skip "no loop devices here"
for t in losetup guestfish qemu-img sha256sum mount xfs_db dumpe2fs; do
	command -v $t >/dev/null || skip "no $t"
done
grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null || true
grep -qw xfs /proc/filesystems || skip "the host kernel has no xfs (needed to check the copy)"
export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"

tmp=$(mktemp -d /tmp/t83-p2v.XXXXXX)
loop=
mnt=
cleanup() {
	[ -n "$mnt" ] && umount "$mnt" 2>/dev/null
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# ---- the source disk (cached) ----
cache="$top/build/p2v-cache"
layout=1 # bump whenever the disk built below changes
src="$cache/t83-v$layout.raw"
if [ ! -s "$src" ] || [ ! -s "$src.env" ]; then
	mkdir -p "$cache" || fail "cannot create $cache"
	rm -f "$cache"/t83-*.raw "$cache"/t83-*.raw.env
	b="$tmp/build.raw"
	truncate -s 1G "$b"
	head -c $((48 * MiB)) /dev/urandom >"$tmp/x.dat"
	head -c $((48 * MiB)) /dev/urandom >"$tmp/l.dat"
	echo "t83-p2v-xfs-lvm: building the source disk (one appliance launch)"
	# garbage: copies of the data (any non-zero bytes will do), deleted
	guestfish -a "$b" >"$tmp/build.out" 2>&1 <<EOF || { cat "$tmp/build.out"; skip "guestfish cannot build the disk here"; }
run
part-init /dev/sda gpt
part-add /dev/sda p 2048 616447
part-add /dev/sda p 616448 -2048
mkfs xfs /dev/sda1
pvcreate /dev/sda2
vgcreate vslt83 /dev/sda2
lvcreate data vslt83 400
lvcreate-free junk vslt83 100
mkfs ext4 /dev/vslt83/data
mount /dev/sda1 /
upload $tmp/x.dat /kept.dat
debug sh "for i in 1 2 3 4; do cat /sysroot/kept.dat > /sysroot/garbage\$i; done; sync; rm /sysroot/garbage*; sync"
umount /
mount /dev/vslt83/data /
upload $tmp/l.dat /kept.dat
debug sh "for i in 1 2 3 4; do cat /sysroot/kept.dat > /sysroot/garbage\$i; done; sync; rm /sysroot/garbage*; sync"
debug sh "(for i in 1 2 3 4 5 6 7; do cat /sysroot/kept.dat; done) > /dev/vslt83/junk 2>/dev/null; sync; true"
umount /
lvremove /dev/vslt83/junk
debug sh "echo PESTART \$(lvm pvs --noheadings --units b --nosuffix -o pe_start /dev/sda2); echo EXTENT \$(lvm vgs --noheadings --units b --nosuffix -o vg_extent_size vslt83); echo RANGES \$(lvm lvs --noheadings -o seg_pe_ranges vslt83/data)"
EOF
	pe_start=$(awk '$1 == "PESTART" { print $2 }' "$tmp/build.out")
	extent=$(awk '$1 == "EXTENT" { print $2 }' "$tmp/build.out")
	first=$(awk '$1 == "RANGES" { split($2, a, /[:-]/); print a[2] }' "$tmp/build.out")
	[ -n "$pe_start" ] && [ -n "$extent" ] && [ -n "$first" ] ||
		fail "cannot find where LV data starts: $(cat "$tmp/build.out")"
	{
		echo "xfs_off=$((2048 * 512))"
		echo "lv_off=$((616448 * 512 + pe_start + first * extent))"
		echo "x_sum=$(sha256sum <"$tmp/x.dat" | cut -d' ' -f1)"
		echo "l_sum=$(sha256sum <"$tmp/l.dat" | cut -d' ' -f1)"
	} >"$tmp/env"
	# bytes the two filesystems use (data, metadata, xfs log, ext4 journal)
	l=$(losetup -f --show -r -o $((2048 * 512)) --sizelimit $((614400 * 512)) "$b") ||
		skip "losetup failed (no free loop device?)"
	xfs_used=$(xfs_db -r -c "sb 0" -c "p dblocks fdblocks blocksize" "$l" |
		awk '{ v[$1] = $3 } END { printf "%d\n", (v["dblocks"] - v["fdblocks"]) * v["blocksize"] }')
	losetup -d "$l"
	lv_off=$(sed -n 's/^lv_off=//p' "$tmp/env")
	ext_used=$(dumpe2fs -h "$b?offset=$lv_off" 2>/dev/null | awk -F: '
		/^Block count/ { n = $2 } /^Free blocks/ { f = $2 } /^Block size/ { b = $2 }
		END { printf "%d\n", (n - f) * b }')
	[ "${xfs_used:-0}" -gt 0 ] && [ "${ext_used:-0}" -gt 0 ] ||
		fail "cannot compute the used bytes (xfs '$xfs_used', ext4 '$ext_used')"
	echo "fs_used=$((xfs_used + ext_used))" >>"$tmp/env"
	rm -f "$tmp/x.dat" "$tmp/l.dat"
	mv "$b" "$src" && mv "$tmp/env" "$src.env" || fail "cannot store the disk in $cache"
fi
xfs_off= lv_off= x_sum= l_sum= fs_used=
. "$src.env"

# ---- the conversion, from a loop device on a private copy ----
cp --sparse=always "$src" "$tmp/disk.raw" || fail "cannot copy the source disk"
loop=$(losetup -f --show "$tmp/disk.raw") || skip "losetup failed (no free loop device?)"
before=$(sha256sum <"$loop" | cut -d' ' -f1)
start=$(date +%s)
"$VESSEL" p2v --no-fixup "$loop" -o "$tmp/out.vessel" 2>"$tmp/err"
rc=$?
cat "$tmp/err"
echo "t83-p2v-xfs-lvm: p2v took $(($(date +%s) - start)) s"
[ $rc = 0 ] || fail "vessel p2v $loop exited $rc"
after=$(sha256sum <"$loop" | cut -d' ' -f1)
[ "$before" = "$after" ] || fail "the source changed: $before -> $after"
grep -q 'copied whole' "$tmp/err" && fail "something was still copied whole"
grep -q 'not known yet' "$tmp/err" && fail "free space still 'not known yet'"

# bytes read from the summary line ("..., 123.4 MiB read, ...")
read_b=$(sed -n 's/.* free in filesystems (not read), \([0-9.]*\) \([KMGT]*i*B\) read.*/\1 \2/p' \
	"$tmp/err" | awk '{ m = 1; if ($2 == "KiB") m = 1024; if ($2 == "MiB") m = 1048576;
		if ($2 == "GiB") m = 1073741824; printf "%d\n", $1 * m }')
[ -n "$read_b" ] || fail "no summary line with the bytes read"
alloc=$(du -B1 "$tmp/out.vessel/disks/disk0.qcow2" | cut -f1)
live=$((96 * MiB))
echo "t83-p2v-xfs-lvm: live data $((live / MiB)) MiB, used in the filesystems $((fs_used / MiB)) MiB, garbage ~680 MiB; read $((read_b / MiB)) MiB, copy allocates $((alloc / MiB)) MiB"
# what the filesystems use, plus partition table, LVM metadata and 64 KiB clusters
[ "$read_b" -lt $((fs_used + 24 * MiB)) ] || fail "read $read_b bytes; the filesystems use $fs_used"
# zero blocks in use (most of the xfs log) are read but not written
[ "$alloc" -lt $((fs_used + 24 * MiB)) ] || fail "the copy allocates $alloc bytes; the filesystems use $fs_used"
[ "$alloc" -gt $((live - MiB)) ] || fail "the copy allocates only $alloc bytes: data lost?"

# ---- the kept files read back identical ----
qemu-img convert -O raw "$tmp/out.vessel/disks/disk0.qcow2" "$tmp/copy.raw" ||
	fail "qemu-img cannot read the copy"
mnt="$tmp/mnt"
mkdir "$mnt"
mount -t xfs -o ro,loop,offset="$xfs_off" "$tmp/copy.raw" "$mnt" || fail "cannot mount the copy's xfs"
got=$(sha256sum <"$mnt/kept.dat" | cut -d' ' -f1)
umount "$mnt"
[ "$got" = "$x_sum" ] || fail "xfs: kept.dat differs in the copy"
mount -t ext4 -o ro,loop,offset="$lv_off" "$tmp/copy.raw" "$mnt" ||
	fail "cannot mount the copy's ext4 in LVM (at $lv_off)"
got=$(sha256sum <"$mnt/kept.dat" | cut -d' ' -f1)
umount "$mnt"
mnt=
[ "$got" = "$l_sum" ] || fail "LVM/ext4: kept.dat differs in the copy"
echo "t83-p2v-xfs-lvm: ok"
