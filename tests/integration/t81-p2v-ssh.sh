#!/bin/sh
# P2V over ssh: this test starts its own sshd on 127.0.0.1 (a free high port,
# a temporary host key, authorized_keys and client key; the system's sshd
# and /root/.ssh are never touched) and reads a 256 MiB loop device through
# it: an MBR disk with one ext4 partition holding 24 MiB of files, its free
# blocks full of random garbage (mkfs -E nodiscard over random data).
# Checks:
#  - vessel p2v ssh://root@127.0.0.1:PORT/dev/loopN gives the same disk as a
#    local p2v of the device (qemu-img compare), and --copy-free over ssh
#    gives the source byte for byte;
#  - free blocks are not transferred (ssh_bytes of --json well under the disk);
#  - the source is bit-identical before and after (sha256);
#  - the machine's facts come from the remote (cpus in vessel.yaml);
#  - a mounted remote disk is copied with an "in use" warning;
#  - a wrong key is a clear authentication error naming host and device, and
#    leaves nothing behind; so is a missing remote device;
#  - a connection dropped once (VESSEL_P2V_SSH_DROP_AFTER) reconnects and the
#    result is identical; a transport that stays down
#    (VESSEL_P2V_SSH_FAIL_AFTER) keeps the partial copy, and the same command
#    run again resumes ("resuming at") and gives the identical disk; so does
#    Ctrl-C (SIGINT) during a copy;
#  - when t80 has built the stand-in server (Debian 12, build/p2v-cache), it
#    is converted over ssh with fix-ups and inspected as Debian 12.
set -u

: "${VESSEL:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "t81-p2v-ssh: skip: $*"; exit 77; }
fail() { echo "t81-p2v-ssh: FAIL: $*"; [ -n "${tmp:-}" ] && [ -f "$tmp/sshd.log" ] && tail -5 "$tmp/sshd.log"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root (loop devices, sshd)"
for t in ssh ssh-keygen losetup sfdisk mkfs.ext4 qemu-img; do
	command -v "$t" >/dev/null || skip "no $t"
done
[ -x /usr/sbin/sshd ] || skip "no /usr/sbin/sshd (package openssh-server)"
[ -e /dev/loop-control ] || skip "no loop devices here"

tmp=$(mktemp -d /tmp/t81-p2v-ssh.XXXXXX)
loop=
loop2=
sshd_pid=
cleanup() {
	[ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null
	umount "$tmp/mnt" 2>/dev/null
	[ -n "$loop2" ] && losetup -d "$loop2" 2>/dev/null
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# ---- sshd on loopback ----
. "$top/tests/p2v/test-sshd.sh"
start_test_sshd
ssh-keygen -q -t ed25519 -N '' -f "$tmp/wrong_id" || fail "ssh-keygen (wrong key)"

# ---- the source: MBR + ext4 partition, free space full of garbage ----
mkdir "$tmp/files"
head -c $((16 << 20)) /dev/urandom >"$tmp/files/big.bin"
head -c $((8 << 20)) /dev/urandom >"$tmp/files/mid.bin"
for i in 1 2 3 4 5 6 7 8; do echo "file $i of the source" >"$tmp/files/small$i.txt"; done
head -c $((255 << 20)) /dev/urandom >"$tmp/part.img"
mkfs.ext4 -q -F -E nodiscard -L t81src -d "$tmp/files" "$tmp/part.img" >/dev/null ||
	fail "mkfs.ext4 -d"
rm -rf "$tmp/files"
truncate -s 256M "$tmp/src.raw"
dd if="$tmp/part.img" of="$tmp/src.raw" bs=1M seek=1 conv=notrunc status=none || fail "dd"
rm -f "$tmp/part.img"
echo 'start=2048, type=83' | sfdisk -q "$tmp/src.raw" >/dev/null 2>&1 || fail "sfdisk"
loop=$(losetup -f --show "$tmp/src.raw") || skip "losetup failed (no free loop device?)"
before=$(sha256sum <"$loop" | cut -d' ' -f1)
url="ssh://root@127.0.0.1:$port$loop"

# ---- local reference, then over ssh ----
"$VESSEL" p2v --no-fixup "$loop" -o "$tmp/local.vessel" 2>"$tmp/local.err" ||
	fail "local p2v: $(cat "$tmp/local.err")"
t0=$(date +%s.%N)
"$VESSEL" p2v --no-fixup --json $sshopts "$url" -o "$tmp/ssh.vessel" >"$tmp/ssh.json" 2>"$tmp/ssh.err"
rc=$?
t1=$(date +%s.%N)
cat "$tmp/ssh.err"
[ $rc = 0 ] || fail "vessel p2v $url exited $rc"
cat "$tmp/ssh.json"
qemu-img compare -q "$tmp/local.vessel/disks/disk0.qcow2" "$tmp/ssh.vessel/disks/disk0.qcow2" ||
	fail "the ssh copy differs from the local copy of the same device"
sshb=$(sed -n 's/.*"ssh_bytes":\([0-9]*\).*/\1/p' "$tmp/ssh.json")
freeb=$(sed -n 's/.*"free_bytes":\([0-9]*\).*/\1/p' "$tmp/ssh.json")
[ -n "$sshb" ] && [ -n "$freeb" ] || fail "no ssh_bytes/free_bytes in --json"
# 24 MiB of files; everything else is free (garbage) or the journal/inode tables
[ "$sshb" -ge $((24 << 20)) ] || fail "only $sshb bytes fetched: the files are 24 MiB"
[ "$sshb" -le $((80 << 20)) ] || fail "$sshb bytes fetched for 24 MiB of files: free blocks were transferred"
# nothing is fetched twice: what the copy read plus the free map's metadata (read-ahead
# of a 4 MiB chunk must not be asked again for each smaller window of the engine)
readb=$(sed -n 's/.*"bytes_read":\([0-9]*\).*/\1/p' "$tmp/ssh.json")
[ "$sshb" -le $((readb + (8 << 20))) ] ||
	fail "$sshb bytes fetched over ssh for $readb bytes read: data was fetched twice"
[ "$freeb" -ge $((150 << 20)) ] || fail "free map found only $freeb free bytes"
echo "t81-p2v-ssh: fetched $sshb of $((256 << 20)) bytes ($freeb free) in $(echo "$t1 - $t0" | bc 2>/dev/null || echo '?') s"
cpus=$(grep -c '^processor' /proc/cpuinfo)
grep -q "^cpus: $cpus\$" "$tmp/ssh.vessel/vessel.yaml" ||
	fail "vessel.yaml does not record the remote's $cpus CPUs: $(grep cpus "$tmp/ssh.vessel/vessel.yaml")"
grep -q "ssh://root@127.0.0.1:$port$loop" "$tmp/ssh.vessel/vessel.yaml" ||
	fail "vessel.yaml does not list the ssh source"

# --copy-free: every byte over ssh, equal to the source
t0=$(date +%s.%N)
"$VESSEL" -q p2v --no-fixup --copy-free $sshopts "$url" -o "$tmp/full.vessel" 2>"$tmp/full.err" ||
	fail "p2v --copy-free over ssh: $(cat "$tmp/full.err")"
t1=$(date +%s.%N)
echo "t81-p2v-ssh: --copy-free: 256 MiB over ssh in $(echo "$t1 - $t0" | bc 2>/dev/null || echo '?') s"
qemu-img compare -q -f raw "$loop" "$tmp/full.vessel/disks/disk0.qcow2" ||
	fail "--copy-free over ssh differs from the source"

# ---- errors ----
"$VESSEL" p2v --no-fixup --identity "$tmp/wrong_id" --ssh-option StrictHostKeyChecking=no \
	--ssh-option UserKnownHostsFile="$tmp/known_hosts" "$url" -o "$tmp/bad.vessel" 2>"$tmp/bad.err"
rc=$?
cat "$tmp/bad.err"
[ $rc = 1 ] || fail "wrong key: exit $rc, expected 1"
grep -q "authentication" "$tmp/bad.err" && grep -q "127.0.0.1" "$tmp/bad.err" && grep -q "$loop" "$tmp/bad.err" ||
	fail "wrong key: no clear authentication error naming host and device"
[ "$(wc -l <"$tmp/bad.err")" = 1 ] || fail "wrong key: the error is not one line"
ls -d "$tmp"/bad.vessel* 2>/dev/null && fail "wrong key left output behind"

"$VESSEL" p2v --no-fixup $sshopts "ssh://root@127.0.0.1:$port/dev/vessel-t81-none" -o "$tmp/none.vessel" 2>"$tmp/none.err"
rc=$?
cat "$tmp/none.err"
[ $rc = 1 ] && grep -q "no such device.*/dev/vessel-t81-none.*127.0.0.1" "$tmp/none.err" ||
	fail "missing remote device: exit $rc, no clear error"
ls -d "$tmp"/none.vessel* 2>/dev/null && fail "missing device left output behind"

# ---- a mounted remote disk is copied with a warning ----
truncate -s 16M "$tmp/small.raw"
mkfs.ext4 -q -F "$tmp/small.raw" >/dev/null 2>&1 || fail "mkfs.ext4 small"
loop2=$(losetup -f --show -r "$tmp/small.raw") || fail "losetup small"
mkdir "$tmp/mnt"
if mount -o ro,noload "$loop2" "$tmp/mnt" 2>/dev/null; then
	"$VESSEL" p2v --no-fixup $sshopts "ssh://root@127.0.0.1:$port$loop2" -o "$tmp/mounted.vessel" 2>"$tmp/mounted.err"
	rc=$?
	umount "$tmp/mnt"
	cat "$tmp/mounted.err"
	[ $rc = 0 ] || fail "p2v of a mounted remote disk exited $rc"
	grep -q "$loop2 is in use on its machine" "$tmp/mounted.err" || fail "no in-use warning for a mounted remote disk"
else
	echo "t81-p2v-ssh: cannot mount here: in-use warning not checked"
fi
losetup -d "$loop2"
loop2=
"$VESSEL" p2v --no-fixup $sshopts "$url" -o "$tmp/unmounted.vessel" 2>"$tmp/unmounted.err" || fail "p2v: $(cat "$tmp/unmounted.err")"
grep -q "in use" "$tmp/unmounted.err" && fail "in-use warning for a disk nobody uses"
rm -rf "$tmp/unmounted.vessel"

# ---- a dropped connection reconnects ----
VESSEL_P2V_SSH_DROP_AFTER=$((10 << 20)) "$VESSEL" p2v --no-fixup $sshopts "$url" -o "$tmp/drop.vessel" 2>"$tmp/drop.err" ||
	fail "p2v with a dropped connection: $(cat "$tmp/drop.err")"
cat "$tmp/drop.err"
grep -q "reconnecting" "$tmp/drop.err" || fail "no reconnection reported"
qemu-img compare -q "$tmp/local.vessel/disks/disk0.qcow2" "$tmp/drop.vessel/disks/disk0.qcow2" ||
	fail "the copy made across a reconnection differs"

# ---- a transport that stays down: kept, then resumed ----
VESSEL_P2V_SSH_FAIL_AFTER=$((12 << 20)) "$VESSEL" p2v --no-fixup $sshopts "$url" -o "$tmp/res.vessel" 2>"$tmp/res1.err"
rc=$?
cat "$tmp/res1.err"
[ $rc = 1 ] || fail "transport failure: exit $rc, expected 1"
grep -q "kept in .*res.vessel.p2v-partial.*resume" "$tmp/res1.err" || fail "the error does not say the partial copy is kept"
[ -e "$tmp/res.vessel" ] && fail "the failed run left the output"
[ -f "$tmp/res.vessel.p2v-partial/p2v-journal" ] || fail "no journal in the partial copy"
"$VESSEL" p2v --no-fixup --json $sshopts "$url" -o "$tmp/res.vessel" >"$tmp/res.json" 2>"$tmp/res2.err"
rc=$?
cat "$tmp/res2.err" "$tmp/res.json"
[ $rc = 0 ] || fail "resumed run exited $rc"
grep -q "resuming at" "$tmp/res2.err" || fail "the second run did not resume"
[ -e "$tmp/res.vessel.p2v-partial" ] && fail "the partial copy is still there"
resumed=$(sed -n 's/.*"resumed_bytes":\([0-9]*\).*/\1/p' "$tmp/res.json")
sshb2=$(sed -n 's/.*"ssh_bytes":\([0-9]*\).*/\1/p' "$tmp/res.json")
[ "${resumed:-0}" -gt 0 ] || fail "resumed_bytes is ${resumed:-none}"
[ "$sshb2" -lt "$sshb" ] || fail "the resumed run fetched $sshb2 bytes, a full run $sshb"
qemu-img compare -q "$tmp/local.vessel/disks/disk0.qcow2" "$tmp/res.vessel/disks/disk0.qcow2" ||
	fail "the resumed copy differs"
qemu-img check -q "$tmp/res.vessel/disks/disk0.qcow2" || fail "the resumed qcow2 is not clean"

# ---- Ctrl-C: kept, then resumed ----
"$VESSEL" p2v --no-fixup --copy-free $sshopts "$url" -o "$tmp/int.vessel" 2>"$tmp/int1.err" &
vpid=$!
i=0
while [ $i -lt 200 ] && kill -0 $vpid 2>/dev/null; do
	n=$(du -k "$tmp"/int.vessel.p2v-*/disks/disk0.qcow2 2>/dev/null | cut -f1)
	[ "${n:-0}" -ge 16384 ] && break
	sleep 0.05
	i=$((i + 1))
done
kill -INT $vpid 2>/dev/null
wait $vpid
rc=$?
cat "$tmp/int1.err"
if [ $rc = 0 ]; then
	echo "t81-p2v-ssh: note: the copy ended before Ctrl-C: interruption not checked"
else
	grep -q "interrupted at offset.*kept in .*int.vessel.p2v-partial" "$tmp/int1.err" ||
		fail "Ctrl-C: no clear message about the kept partial copy"
	"$VESSEL" p2v --no-fixup --copy-free $sshopts "$url" -o "$tmp/int.vessel" 2>"$tmp/int2.err" ||
		fail "resuming after Ctrl-C: $(cat "$tmp/int2.err")"
	grep -q "resuming at" "$tmp/int2.err" || fail "the run after Ctrl-C did not resume"
	qemu-img compare -q -f raw "$loop" "$tmp/int.vessel/disks/disk0.qcow2" ||
		fail "the copy resumed after Ctrl-C differs from the source"
fi

after=$(sha256sum <"$loop" | cut -d' ' -f1)
[ "$before" = "$after" ] || fail "the source changed: $before -> $after"

# ---- the stand-in server over ssh, with fix-ups (when t80 has built it) ----
key=$(sha256sum "$top/tests/p2v/make-server.sh" | cut -c1-16)
srv="$top/build/p2v-cache/server-$key.raw"
if [ -f "$srv" ]; then
	# attached read-only: the kernel refuses any write to the cached image
	loop3=$(losetup -f --show -r "$srv") || fail "losetup -r $srv"
	t0=$(date +%s.%N)
	"$VESSEL" p2v --json $sshopts "ssh://root@127.0.0.1:$port$loop3" -o "$tmp/srv.vessel" \
		>"$tmp/srv.json" 2>"$tmp/srv.err"
	rc=$?
	t1=$(date +%s.%N)
	losetup -d "$loop3"
	cat "$tmp/srv.err" "$tmp/srv.json"
	[ $rc = 0 ] || fail "p2v of the stand-in server over ssh exited $rc"
	echo "t81-p2v-ssh: stand-in server over ssh with fix-ups in $(echo "$t1 - $t0" | bc 2>/dev/null || echo '?') s"
	grep -q '^vessel: guest: linux debian 12\.' "$tmp/srv.err" || fail "guest not reported as Debian 12"
	"$VESSEL" inspect "$tmp/srv.vessel" >"$tmp/srv.inspect" || fail "vessel inspect rejects the bundle"
	grep -q '^guest  *linux debian 12\.[0-9]' "$tmp/srv.inspect" ||
		fail "vessel inspect does not report Debian 12: $(cat "$tmp/srv.inspect")"
	grep -q 'root=UUID=' "$tmp/srv.vessel/vessel.yaml" || fail "vessel.yaml: no root=UUID= command line"
	[ -s "$tmp/srv.vessel/boot/vmlinuz" ] || fail "boot/vmlinuz missing"
	sshb=$(sed -n 's/.*"ssh_bytes":\([0-9]*\).*/\1/p' "$tmp/srv.json")
	[ "${sshb:-0}" -lt $((3 << 29)) ] || fail "$sshb bytes fetched for a 3 GiB disk mostly free"
else
	echo "t81-p2v-ssh: note: no cached stand-in server in build/p2v-cache (t80 builds it): not converted"
fi
echo "t81-p2v-ssh: ok"
exit 0
