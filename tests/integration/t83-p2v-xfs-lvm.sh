#!/bin/sh
# P2V skips the free space of xfs and of filesystems inside LVM (issue #9).
#
# Two source disks, built once with guestfish (one launch) and cached in
# build/p2v-cache by layout version:
#   disk 0, 1 GiB GPT:
#     partition 1: xfs, 48 MiB of random data kept, 192 MiB of it deleted;
#     partition 2: an LVM PV, VG vslt83 with LV "data" (ext4, 400 MiB: 48 MiB
#                  kept, 192 MiB deleted) and ~300 MiB of garbage in extents
#                  no LV uses any more (written through an LV since removed);
#   disk 1, 320 MiB: xfs on the whole disk, 32 MiB kept, 96 MiB deleted, and
#     left with a dirty log (xfs_io shutdown): the deletion is only in the
#     log, so the appliance replays it (into the overlay) before fstrim;
#   disks 2 and 3, 160 MiB each: whole-disk LVM PVs of one VG, vslt83b, with
#     an ext4 LV "span" over both (24 MiB kept, 160 MiB deleted): one
#     appliance for all the sources sees the VG whole.
# `vessel p2v --no-fixup` of disks 0 and 1 as loop devices and 2 and 3 as
# image files must read and write about what the filesystems use, not the
# ~940 MiB of garbage; the kept files must read back identical from the
# copies (host loop mounts of raw exports, at the offsets the build
# recorded; the spanning LV reassembled from its segments: no second
# appliance, no LVM on the host), the dirty xfs copy
# must recover on its first mount and pass xfs_repair -n; the sources must be
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
for t in losetup guestfish qemu-img sha256sum mount xfs_db xfs_logprint xfs_repair dumpe2fs; do
	command -v $t >/dev/null || skip "no $t"
done
grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null || true
grep -qw xfs /proc/filesystems || skip "the host kernel has no xfs (needed to check the copy)"
export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"

tmp=$(mktemp -d /tmp/t83-p2v.XXXXXX)
loop0=
loop1=
mnt=
cleanup() {
	[ -n "$mnt" ] && umount "$mnt" 2>/dev/null
	[ -n "$loop0" ] && losetup -d "$loop0" 2>/dev/null
	[ -n "$loop1" ] && losetup -d "$loop1" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

log_state() { # image: "DIRTY" or "CLEAN" (xfs log of the whole-disk xfs in image)
	xfs_logprint -t "$1" 2>/dev/null | sed -n 's/.*state: <\([A-Z]*\)>.*/\1/p'
}

# ---- the source disks (cached) ----
cache="$top/build/p2v-cache"
layout=3 # bump whenever the disks built below change
src0="$cache/t83-v$layout-0.raw"
src1="$cache/t83-v$layout-1.raw"
env="$cache/t83-v$layout.env"
src2="$cache/t83-v$layout-2.raw"
src3="$cache/t83-v$layout-3.raw"
if [ ! -s "$src0" ] || [ ! -s "$src1" ] || [ ! -s "$src2" ] || [ ! -s "$src3" ] ||
	[ ! -s "$env" ]; then
	mkdir -p "$cache" || fail "cannot create $cache"
	rm -f "$cache"/t83-*
	b0="$tmp/build0.raw"
	b1="$tmp/build1.raw"
	truncate -s 1G "$b0"
	truncate -s 320M "$b1"
	truncate -s 160M "$tmp/build2.raw"
	truncate -s 160M "$tmp/build3.raw"
	head -c $((24 * MiB)) /dev/urandom >"$tmp/s.dat"
	head -c $((48 * MiB)) /dev/urandom >"$tmp/x.dat"
	head -c $((48 * MiB)) /dev/urandom >"$tmp/l.dat"
	head -c $((32 * MiB)) /dev/urandom >"$tmp/w.dat"
	echo "t83-p2v-xfs-lvm: building the source disks (one appliance launch)"
	# garbage: copies of the data (any non-zero bytes will do), deleted
	guestfish -a "$b0" -a "$b1" -a "$tmp/build2.raw" -a "$tmp/build3.raw" >"$tmp/build.out" 2>&1 <<EOF || { cat "$tmp/build.out"; skip "guestfish cannot build the disks here"; }
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
mkfs xfs /dev/sdb
mount /dev/sdb /
upload $tmp/w.dat /kept.dat
debug sh "for i in 1 2 3; do cat /sysroot/kept.dat > /sysroot/garbage\$i; done; sync"
umount /
mount /dev/sdb /
debug sh "rm /sysroot/garbage*; sync; xfs_io -x -c 'shutdown -f' /sysroot/kept.dat"
umount /
pvcreate /dev/sdc
pvcreate /dev/sdd
vgcreate vslt83b "/dev/sdc /dev/sdd"
lvcreate span vslt83b 280
mkfs ext4 /dev/vslt83b/span
mount /dev/vslt83b/span /
upload $tmp/s.dat /kept.dat
debug sh "for i in 1 2 3 4 5 6 7; do cat /sysroot/kept.dat > /sysroot/garbage\$i; done; sync; rm /sysroot/garbage*; sync"
umount /
debug sh "echo SPAN \$(lvm lvs --noheadings -o seg_pe_ranges vslt83b/span); echo PESTART2 \$(lvm pvs --noheadings --units b --nosuffix -o pe_start /dev/sdc); echo EXTENT2 \$(lvm vgs --noheadings --units b --nosuffix -o vg_extent_size vslt83b)"
EOF
	pe_start=$(awk '$1 == "PESTART" { print $2 }' "$tmp/build.out")
	extent=$(awk '$1 == "EXTENT" { print $2 }' "$tmp/build.out")
	first=$(awk '$1 == "RANGES" { split($2, a, /[:-]/); print a[2] }' "$tmp/build.out")
	[ -n "$pe_start" ] && [ -n "$extent" ] && [ -n "$first" ] ||
		fail "cannot find where LV data starts: $(cat "$tmp/build.out")"
	[ "$(log_state "$b1")" = DIRTY ] || fail "disk 1: could not leave the xfs log dirty"
	lv_off=$((616448 * 512 + pe_start + first * extent))
	# the spanning LV's segments: "/dev/sdc:0-24 /dev/sdd:0-44" -> "2:0:24 3:0:44"
	span=$(awk '$1 == "SPAN" { for (i = 2; i <= NF; i++) { split($i, a, /[:-]/);
		d = a[1] == "/dev/sdc" ? 2 : a[1] == "/dev/sdd" ? 3 : 9; printf "%s%d:%s:%s", (i > 2 ? " " : ""), d, a[2], a[3] } }' "$tmp/build.out")
	pe_start2=$(awk '$1 == "PESTART2" { print $2 }' "$tmp/build.out")
	extent2=$(awk '$1 == "EXTENT2" { print $2 }' "$tmp/build.out")
	case "$span" in *" "*) ;; *) fail "LV span does not span both disks: '$span'" ;; esac
	case "$span" in *9:*) fail "LV span on an unexpected disk: $(grep SPAN "$tmp/build.out")" ;; esac
	[ -n "$pe_start2" ] && [ -n "$extent2" ] || fail "no PV/VG geometry for vslt83b"
	# bytes disk 0's filesystems use (data, metadata, xfs log, ext4 journal)
	l=$(losetup -f --show -r -o $((2048 * 512)) --sizelimit $((614400 * 512)) "$b0") ||
		skip "losetup failed (no free loop device?)"
	xfs_used=$(xfs_db -r -c "sb 0" -c "p dblocks fdblocks blocksize" "$l" |
		awk '{ v[$1] = $3 } END { printf "%d\n", (v["dblocks"] - v["fdblocks"]) * v["blocksize"] }')
	losetup -d "$l"
	ext_used=$(dumpe2fs -h "$b0?offset=$lv_off" 2>/dev/null | awk -F: '
		/^Block count/ { n = $2 } /^Free blocks/ { f = $2 } /^Block size/ { b = $2 }
		END { printf "%d\n", (n - f) * b }')
	[ "${xfs_used:-0}" -gt 0 ] && [ "${ext_used:-0}" -gt 0 ] ||
		fail "cannot compute the used bytes (xfs '$xfs_used', ext4 '$ext_used')"
	# disk 1's log size (its free counters are stale while the log is dirty)
	log1=$(xfs_db -r -c "sb 0" -c "p logblocks blocksize" "$b1" |
		awk '{ v[$1] = $3 } END { printf "%d\n", v["logblocks"] * v["blocksize"] }')
	{
		echo "xfs_off=$((2048 * 512))"
		echo "lv_off=$lv_off"
		echo "x_sum=$(sha256sum <"$tmp/x.dat" | cut -d' ' -f1)"
		echo "l_sum=$(sha256sum <"$tmp/l.dat" | cut -d' ' -f1)"
		echo "w_sum=$(sha256sum <"$tmp/w.dat" | cut -d' ' -f1)"
		echo "s_sum=$(sha256sum <"$tmp/s.dat" | cut -d' ' -f1)"
		echo "span='$span'"
		echo "pe_start2=$pe_start2"
		echo "extent2=$extent2"
		echo "fs_used=$((xfs_used + ext_used))"
		echo "log1=$log1"
	} >"$tmp/env"
	rm -f "$tmp/x.dat" "$tmp/l.dat" "$tmp/w.dat" "$tmp/s.dat"
	mv "$b0" "$src0" && mv "$b1" "$src1" && mv "$tmp/build2.raw" "$src2" &&
		mv "$tmp/build3.raw" "$src3" && mv "$tmp/env" "$env" ||
		fail "cannot store the disks in $cache"
fi
xfs_off= lv_off= x_sum= l_sum= w_sum= fs_used= log1= s_sum= span= pe_start2= extent2=
. "$env"

# the spanning LV of disks 2 and 3 (copies or sources) as one file
span_join() { # DIR/disk PREFIX, output file
	: >"$2"
	for seg in $span; do
		d=${seg%%:*} r=${seg#*:}
		first=${r%%:*} last=${r#*:}
		dd if="$1$d.raw" of="$2" bs=1M iflag=skip_bytes,count_bytes oflag=append \
			conv=notrunc skip=$((pe_start2 + first * extent2)) \
			count=$(((last - first + 1) * extent2)) status=none || return 1
	done
}

# ---- the conversion, from loop devices on private copies ----
for i in 0 1 2 3; do
	eval "cp --sparse=always \"\$src$i\" \"\$tmp/disk$i.raw\"" || fail "cannot copy the source disks"
done
span_join "$tmp/disk" "$tmp/span-src.raw" || fail "cannot reassemble the source's spanning LV"
span_used=$(dumpe2fs -h "$tmp/span-src.raw" 2>/dev/null | awk -F: '
	/^Block count/ { n = $2 } /^Free blocks/ { f = $2 } /^Block size/ { b = $2 }
	END { printf "%d\n", (n - f) * b }')
rm -f "$tmp/span-src.raw"
[ "${span_used:-0}" -gt 0 ] || fail "cannot compute the spanning LV's used bytes"
before23=$(cat "$tmp/disk2.raw" "$tmp/disk3.raw" | sha256sum | cut -d' ' -f1)
loop0=$(losetup -f --show "$tmp/disk0.raw") || skip "losetup failed (no free loop device?)"
loop1=$(losetup -f --show "$tmp/disk1.raw") || skip "losetup failed (no free loop device?)"
before0=$(sha256sum <"$loop0" | cut -d' ' -f1)
before1=$(sha256sum <"$loop1" | cut -d' ' -f1)
start=$(date +%s)
"$VESSEL" p2v --no-fixup --json "$loop0" "$loop1" "$tmp/disk2.raw" "$tmp/disk3.raw" -o "$tmp/out.vessel" >"$tmp/json" 2>"$tmp/err"
rc=$?
cat "$tmp/err"
echo "t83-p2v-xfs-lvm: p2v took $(($(date +%s) - start)) s: $(cat "$tmp/json")"
[ $rc = 0 ] || fail "vessel p2v exited $rc"
[ "$(sha256sum <"$loop0" | cut -d' ' -f1)" = "$before0" ] || fail "source disk 0 changed"
[ "$(sha256sum <"$loop1" | cut -d' ' -f1)" = "$before1" ] || fail "source disk 1 changed"
[ "$(log_state "$loop1")" = DIRTY ] || fail "source disk 1: its xfs log was replayed"
[ "$(cat "$tmp/disk2.raw" "$tmp/disk3.raw" | sha256sum | cut -d' ' -f1)" = "$before23" ] ||
	fail "source disks 2 and 3 changed"
grep -q 'physical volumes among the sources' "$tmp/err" && fail "the VG over disks 2 and 3 was not seen whole"
grep -q 'copied whole' "$tmp/err" && fail "something was still copied whole"
grep -q 'not known yet' "$tmp/err" && fail "free space still 'not known yet'"

read_b=$(sed -n 's/.*"bytes_read":\([0-9]*\).*/\1/p' "$tmp/json")
[ -n "$read_b" ] || fail "no bytes_read in the JSON statistics"
alloc0=$(du -B1 "$tmp/out.vessel/disks/disk0.qcow2" | cut -f1)
alloc1=$(du -B1 "$tmp/out.vessel/disks/disk1.qcow2" | cut -f1)
alloc23=$(($(du -B1 "$tmp/out.vessel/disks/disk2.qcow2" | cut -f1) + $(du -B1 "$tmp/out.vessel/disks/disk3.qcow2" | cut -f1)))
echo "t83-p2v-xfs-lvm: disk 0 uses $((fs_used / MiB)) MiB in its filesystems (96 MiB of data), disk 1 32 MiB of data + $((log1 / MiB)) MiB of log, disks 2+3 $((span_used / MiB)) MiB (24 MiB of data); garbage ~940 MiB; read $((read_b / MiB)) MiB, copies allocate $((alloc0 / MiB)) + $((alloc1 / MiB)) + $((alloc23 / MiB)) MiB"
# what the filesystems use, plus partition table, LVM metadata, xfs metadata and 64 KiB clusters
[ "$read_b" -lt $((fs_used + 32 * MiB + log1 + span_used + 40 * MiB)) ] ||
	fail "read $read_b bytes; the filesystems use about $((fs_used + 32 * MiB + log1 + span_used))"
# zero blocks in use (most of the xfs logs) are read but not written
[ "$alloc0" -lt $((fs_used + 24 * MiB)) ] || fail "copy 0 allocates $alloc0 bytes; its filesystems use $fs_used"
[ "$alloc0" -gt $((96 * MiB)) ] || fail "copy 0 allocates only $alloc0 bytes: data lost?"
[ "$alloc1" -lt $((32 * MiB + 24 * MiB)) ] || fail "copy 1 allocates $alloc1 bytes for 32 MiB of data"
[ "$alloc1" -gt $((32 * MiB)) ] || fail "copy 1 allocates only $alloc1 bytes: data lost?"
[ "$alloc23" -lt $((span_used + 16 * MiB)) ] || fail "copies 2+3 allocate $alloc23 bytes; the LV uses $span_used"
[ "$alloc23" -gt $((24 * MiB)) ] || fail "copies 2+3 allocate only $alloc23 bytes: data lost?"

# ---- the kept files read back identical ----
for i in 0 1 2 3; do
	qemu-img convert -O raw "$tmp/out.vessel/disks/disk$i.qcow2" "$tmp/copy$i.raw" ||
		fail "qemu-img cannot read copy $i"
done
mnt="$tmp/mnt"
mkdir "$mnt"
mount -t xfs -o ro,loop,offset="$xfs_off" "$tmp/copy0.raw" "$mnt" || fail "cannot mount the copy's xfs"
got=$(sha256sum <"$mnt/kept.dat" | cut -d' ' -f1)
umount "$mnt"
[ "$got" = "$x_sum" ] || fail "xfs: kept.dat differs in the copy"
mount -t ext4 -o ro,loop,offset="$lv_off" "$tmp/copy0.raw" "$mnt" ||
	fail "cannot mount the copy's ext4 in LVM (at $lv_off)"
got=$(sha256sum <"$mnt/kept.dat" | cut -d' ' -f1)
umount "$mnt"
[ "$got" = "$l_sum" ] || fail "LVM/ext4: kept.dat differs in the copy"
# the dirty xfs: the copy has the source's log, replays it on its first mount
[ "$(log_state "$tmp/copy1.raw")" = DIRTY ] || fail "copy 1: the xfs log is not the source's"
mount -t xfs -o loop "$tmp/copy1.raw" "$mnt" || fail "cannot mount (recover) copy 1's xfs"
got=$(sha256sum <"$mnt/kept.dat" | cut -d' ' -f1)
left=$(ls "$mnt")
umount "$mnt"
mnt=
[ "$got" = "$w_sum" ] || fail "dirty xfs: kept.dat differs in the copy"
[ "$left" = kept.dat ] || fail "dirty xfs: the copy holds $left after recovery"
xfs_repair -n -f "$tmp/copy1.raw" >"$tmp/repair" 2>&1 ||
	fail "dirty xfs: xfs_repair -n finds problems in the recovered copy: $(tail -5 "$tmp/repair")"
# the LV over disks 2 and 3, reassembled from the copies
span_join "$tmp/copy" "$tmp/span.raw" || fail "cannot reassemble the copy's spanning LV"
mnt="$tmp/mnt"
mount -t ext4 -o ro,loop "$tmp/span.raw" "$mnt" || fail "cannot mount the copy's spanning LV"
got=$(sha256sum <"$mnt/kept.dat" | cut -d' ' -f1)
umount "$mnt"
mnt=
[ "$got" = "$s_sum" ] || fail "spanning LV: kept.dat differs in the copy"
echo "t83-p2v-xfs-lvm: ok"
