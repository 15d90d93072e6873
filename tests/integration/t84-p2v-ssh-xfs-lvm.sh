#!/bin/sh
# P2V over ssh skips the free space of xfs and of filesystems inside LVM
# (issue #9), asking the remote's own xfs_db and lvm (read-only).
#
# The source: a 600 MiB GPT disk filled with random garbage first:
#   partition 1 (200 MiB): xfs holding 16 MiB of files; 120 MiB of files
#     written then deleted (their blocks keep the garbage);
#   partition 2 (~398 MiB): an LVM PV, VG vslt84<pid>, with LV "e4" (ext4,
#     200 MiB, 16 MiB of files, the rest garbage) and LV "xf" (xfs, 60 MiB);
#     ~130 MiB of extents no LV uses (garbage).
# LVs are made with --driverloaded n and never activated (the host needs no
# device-mapper); their filesystems are written through loop devices at
# their offsets. xfs in an LV is only readable by xfs_db when the LV is
# active on the remote, so "xf" is copied whole with a warning.
# This test starts its own sshd on 127.0.0.1 (as t81 does; the system's
# sshd and /root/.ssh are never touched). When the kernel makes partition
# devices for a loop device (losetup -P), the source is the whole disk over
# ssh; when it does not (containers), the two partitions are attached as
# loop devices of their own and copied as two whole-disk sources.
# Checks: ssh_bytes (--json) stays well under the garbage; the kept files
# read back identical from the copy (read-only loop mounts of a raw
# export), xfs_repair -n and e2fsck -fn pass on it, the whole-copied LV is
# byte-identical; the source's sha256 is unchanged; the xfs partition and
# the PV are no longer "copied whole".
set -u

: "${VESSEL:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "t84-p2v-ssh-xfs-lvm: skip: $*"; exit 77; }
fail() { echo "t84-p2v-ssh-xfs-lvm: FAIL: $*"; [ -n "${tmp:-}" ] && [ -f "$tmp/ssh.err" ] && cat "$tmp/ssh.err"; exit 1; }
MiB=1048576

[ "$(id -u)" = 0 ] || skip "needs root (loop devices, sshd, mount)"
for t in ssh ssh-keygen losetup sfdisk mkfs.ext4 e2fsck mkfs.xfs xfs_db xfs_repair lvm qemu-img sha256sum mount cmp; do
	command -v "$t" >/dev/null || skip "no $t"
done
[ -x /usr/sbin/sshd ] || skip "no /usr/sbin/sshd (package openssh-server)"
[ -e /dev/loop-control ] || skip "no loop devices here"
grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null || true
grep -qw xfs /proc/filesystems || skip "the kernel has no xfs (needed to write and check files)"
export LVM_SUPPRESS_FD_WARNINGS=1
# (the lvm commands below keep no metadata backups of the test VG in the host's /etc/lvm)

tmp=$(mktemp -d /tmp/t84-p2v.XXXXXX)
vg=vslt84$$
mknods=
sshd_pid=
cleanup() {
	[ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null
	umount "$tmp/mnt" 2>/dev/null
	lvm vgchange -q -an "$vg" >/dev/null 2>&1
	[ -f "$tmp/loops" ] && for l in $(cat "$tmp/loops"); do losetup -d "$l" 2>/dev/null; done
	for n in $mknods; do rm -f "$n"; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
attach() { # attach FILE [OFFSET SIZE]: prints the loop device
	if [ $# = 3 ]; then
		l=$(losetup -f --show -o "$2" --sizelimit "$3" "$1") || return 1
	else
		l=$(losetup -f --show "$1") || return 1
	fi
	echo "$l" >>"$tmp/loops" # attach runs in $(...): the list lives in a file
	echo "$l"
}
# xfsprogs >= 5.19 refuses filesystems under 300 MB unless run by its test suite (these variables)
mkxfs() { TEST_DIR=$tmp TEST_DEV=$1 QA_CHECK_FS=1 mkfs.xfs -q -f -K "$1" >/dev/null; }
detach() { losetup -d "$1"; grep -vx "$1" "$tmp/loops" >"$tmp/loops.new"; mv "$tmp/loops.new" "$tmp/loops"; }

# ---- sshd on loopback ----
. "$top/tests/p2v/test-sshd.sh"
start_test_sshd

# ---- the source disk ----
p1off=$MiB
p1len=$((200 * MiB))
p2off=$((p1off + p1len))
p2len=$((600 * MiB - p2off - MiB))
head -c $((600 * MiB)) /dev/urandom >"$tmp/src.raw" || fail "random fill"
printf 'label: gpt\nstart=%d, size=%d\nstart=%d, size=%d\n' $((p1off / 512)) $((p1len / 512)) \
	$((p2off / 512)) $((p2len / 512)) | sfdisk -q "$tmp/src.raw" >/dev/null 2>&1 || fail "sfdisk"
mkdir "$tmp/mnt" "$tmp/keep"
head -c $((10 * MiB)) /dev/urandom >"$tmp/keep/a.bin"
head -c $((6 * MiB)) /dev/urandom >"$tmp/keep/b.bin"
echo "kept by t84" >"$tmp/keep/c.txt"
(cd "$tmp/keep" && sha256sum a.bin b.bin c.txt) >"$tmp/keep.sha"

# partition 1: xfs, files kept and garbage deleted
lx=$(attach "$tmp/src.raw" $p1off $p1len) || skip "losetup failed (no free loop device?)"
mkxfs "$lx" || fail "mkfs.xfs"
mount -t xfs "$lx" "$tmp/mnt" || skip "cannot mount xfs here"
cp "$tmp/keep/"* "$tmp/mnt/" && head -c $((120 * MiB)) /dev/urandom >"$tmp/mnt/garbage" && sync &&
	rm "$tmp/mnt/garbage" || fail "writing the xfs files"
umount "$tmp/mnt" || fail "umount xfs"
detach "$lx"

# partition 2: the PV, its LVs never activated
lp=$(attach "$tmp/src.raw" $p2off $p2len) || skip "losetup failed"
lvm pvcreate --config 'backup{backup=0 archive=0}' -q -y "$lp" >/dev/null 2>&1 || skip "lvm pvcreate fails here"
lvm vgcreate --config 'backup{backup=0 archive=0}' -q "$vg" "$lp" >/dev/null 2>&1 || fail "vgcreate"
lvm lvcreate --config 'backup{backup=0 archive=0}' --driverloaded n -q -an -Zn -L 200M -n e4 "$vg" >/dev/null 2>&1 || fail "lvcreate e4"
lvm lvcreate --config 'backup{backup=0 archive=0}' --driverloaded n -q -an -Zn -L 60M -n xf "$vg" >/dev/null 2>&1 || fail "lvcreate xf"
pe_start=$(lvm pvs --readonly --noheadings --units b --nosuffix -o pe_start "$lp" 2>/dev/null | tr -d ' ')
ext=$(lvm vgs --readonly --noheadings --units b --nosuffix -o vg_extent_size "$vg" 2>/dev/null | tr -d ' ')
first() { lvm lvs --readonly --noheadings -o devices "$vg/$1" 2>/dev/null | sed -n 's/.*(\([0-9]*\)).*/\1/p'; }
e4off=$((pe_start + $(first e4) * ext))
xfoff=$((pe_start + $(first xf) * ext))
[ "$(lvm lvs --readonly --noheadings -o seg_count "$vg/e4" 2>/dev/null | tr -d ' ')" = 1 ] || fail "e4 is not one segment"
le=$(attach "$tmp/src.raw" $((p2off + e4off)) $((200 * MiB))) || skip "losetup failed"
mkfs.ext4 -q -F -E nodiscard -d "$tmp/keep" "$le" >/dev/null 2>&1 || fail "mkfs.ext4 in the LV"
detach "$le"
lf=$(attach "$tmp/src.raw" $((p2off + xfoff)) $((60 * MiB))) || skip "losetup failed"
mkxfs "$lf" || fail "mkfs.xfs in the LV"
mount -t xfs "$lf" "$tmp/mnt" && cp "$tmp/keep/b.bin" "$tmp/mnt/" && umount "$tmp/mnt" || fail "xfs LV files"
detach "$lf"
lvm vgchange -q -an "$vg" >/dev/null 2>&1
detach "$lp"

# ---- attach it: a partitioned loop device, or its partitions as disks ----
ld=$(attach "$tmp/src.raw") || skip "losetup failed"
before=$(sha256sum <"$ld" | cut -d' ' -f1)
n=${ld##*/}
mode=disk
detach "$ld"
if ld=$(losetup -f --show -P "$tmp/src.raw" 2>/dev/null); then
	echo "$ld" >>"$tmp/loops"
	n=${ld##*/}
	sleep 0.5
	if [ -r "/sys/class/block/$n/${n}p1/dev" ] && [ -r "/sys/class/block/$n/${n}p2/dev" ]; then
		for pp in p1 p2; do
			if [ ! -b "/dev/$n$pp" ]; then
				mknod "/dev/$n$pp" b $(tr ':' ' ' <"/sys/class/block/$n/$n$pp/dev") &&
					mknods="$mknods /dev/$n$pp"
			fi
		done
		[ -b "/dev/${n}p1" ] && [ -b "/dev/${n}p2" ] && mode=parts
	fi
fi
if [ $mode = parts ]; then
	srcs="ssh://root@127.0.0.1:$port$ld"
	xfs_disk=0; xfs_at=$p1off; pv_disk=0; pv_at=$p2off
else
	[ -n "$ld" ] && detach "$ld"
	echo "t84-p2v-ssh-xfs-lvm: no partition devices for loop devices here: the two partitions are copied as disks"
	lx=$(attach "$tmp/src.raw" $p1off $p1len) || skip "losetup failed"
	lp=$(attach "$tmp/src.raw" $p2off $p2len) || skip "losetup failed"
	srcs="ssh://root@127.0.0.1:$port$lx ssh://root@127.0.0.1:$port$lp"
	xfs_disk=0; xfs_at=0; pv_disk=1; pv_at=0
fi

# ---- p2v over ssh ----
start=$(date +%s)
# shellcheck disable=SC2086
"$VESSEL" p2v --no-fixup --json $sshopts $srcs -o "$tmp/ssh.vessel" >"$tmp/ssh.json" 2>"$tmp/ssh.err" ||
	fail "vessel p2v over ssh exited $?"
echo "t84-p2v-ssh-xfs-lvm: p2v ($mode) took $(($(date +%s) - start)) s: $(cat "$tmp/ssh.json")"
cat "$tmp/ssh.err"
sshb=$(sed -n 's/.*"ssh_bytes":\([0-9]*\).*/\1/p' "$tmp/ssh.json")
[ -n "$sshb" ] || fail "no ssh_bytes in --json"
# used: 16 MiB of files + the xfs log and metadata, 16 MiB + journal in e4, xf's 60 MiB
# whole; garbage: ~110 MiB under the xfs, ~180 MiB in e4, ~130 MiB of free extents
[ "$sshb" -ge $((32 * MiB)) ] || fail "only $((sshb / MiB)) MiB fetched: the files are 32 MiB"
[ "$sshb" -le $((200 * MiB)) ] || fail "$((sshb / MiB)) MiB fetched: free space was transferred"
grep "copied whole\|copied too\|opaque" "$tmp/ssh.err" | grep -v "LV xf:" | grep -q . &&
	fail "unexpected fallback: $(grep "copied whole\|copied too\|opaque" "$tmp/ssh.err" | grep -v "LV xf:")"
# (a host whose udev auto-activates the VG when the partition appears makes xf active: no warning then)
if [ "$(lvm lvs --readonly --noheadings -o lv_active "$vg/xf" 2>/dev/null | tr -d ' ')" != active ]; then
	grep -q "LV xf: xfs in an LV not active on the remote" "$tmp/ssh.err" ||
		fail "no warning for the xfs LV that is not active on the remote"
fi
[ "$(sha256sum <"$tmp/src.raw" | cut -d' ' -f1)" = "$before" ] || fail "the source changed"

# ---- the copy: files identical, filesystems consistent ----
qemu-img convert -O raw "$tmp/ssh.vessel/disks/disk$xfs_disk.qcow2" "$tmp/c$xfs_disk.raw" || fail "convert"
[ $pv_disk = $xfs_disk ] || qemu-img convert -O raw "$tmp/ssh.vessel/disks/disk$pv_disk.qcow2" \
	"$tmp/c$pv_disk.raw" || fail "convert"
check_files() { # DEV TYPE OPTS FILES...
	d=$1; t=$2; o=$3; shift 3
	mount -t "$t" -o "ro,$o" "$d" "$tmp/mnt" || fail "mount the copy's $t"
	for f in "$@"; do
		grep " $f\$" "$tmp/keep.sha" | sed "s# $f\$# $tmp/mnt/$f#" | sha256sum -c --quiet - ||
			{ umount "$tmp/mnt"; fail "$f differs in the copy's $t"; }
	done
	umount "$tmp/mnt"
}
cx=$(attach "$tmp/c$xfs_disk.raw" $xfs_at $p1len) || fail "losetup copy"
xfs_repair -n "$cx" >"$tmp/repair.out" 2>&1 || fail "xfs_repair -n on the copy: $(tail -5 "$tmp/repair.out")"
check_files "$cx" xfs norecovery a.bin b.bin c.txt
detach "$cx"
ce=$(attach "$tmp/c$pv_disk.raw" $((pv_at + e4off)) $((200 * MiB))) || fail "losetup copy"
e2fsck -fn "$ce" >"$tmp/fsck.out" 2>&1 || fail "e2fsck -fn on the copy's LV e4: $(tail -5 "$tmp/fsck.out")"
check_files "$ce" ext4 noload a.bin b.bin c.txt
detach "$ce"
cmp -s -n $((60 * MiB)) -i $((p2off + xfoff)):$((pv_at + xfoff)) "$tmp/src.raw" "$tmp/c$pv_disk.raw" ||
	fail "the xfs LV copied whole differs from the source"
echo "t84-p2v-ssh-xfs-lvm: ok ($((sshb / MiB)) MiB over ssh for a 600 MiB disk with ~420 MiB of garbage)"
