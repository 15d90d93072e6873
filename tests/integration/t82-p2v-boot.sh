#!/bin/sh
# P2V, then boot: the stand-in physical server (tests/p2v/make-server.sh:
# Debian 12 with GRUB on an MBR disk whose fstab and grub.cfg say
# /dev/sda1), attached as a loop device, is converted with `vessel p2v`, and
# the bundle is booted with `vessel run` on the default engine (the binary
# translator): the guest's own Debian kernel and initramfs (copied out by the
# fix-ups) must mount the root filesystem by UUID from /dev/vda1 (virtio-blk)
# and systemd must bring up the serial getty ("p2v-server login:"). Then
# vessel is stopped with SIGTERM (there is no password to log in and power
# off with): the bundle must still verify afterwards.
# Also checks: the source is bit-identical afterwards, the guest's libc runs
# (no "CPU ISA level is lower than required"), the root fs is mounted
# read-write (fstab by UUID worked), no unit failed.
#
# Needs root (loop devices; make-server.sh's debootstrap, cached in
# build/p2v-cache). VESSEL_ENGINE=interp runs the reference interpreter
# (several times slower). VESSEL_P2V_BOOT_TIMEOUT (seconds, default 600)
# bounds the boot.
set -u

: "${VESSEL:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
tmo=${VESSEL_P2V_BOOT_TIMEOUT:-600}
skip() { echo "t82-p2v-boot: skip: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (loop devices, debootstrap)"
command -v losetup >/dev/null || skip "no losetup"
[ -e /dev/loop-control ] || skip "no loop devices here"

img=$("$top/tests/p2v/make-server.sh" "$top/build/p2v-cache") || {
	rc=$?
	[ $rc = 77 ] && skip "the stand-in server cannot be built here"
	echo "t82-p2v-boot: FAIL: make-server.sh failed ($rc)"
	exit 1
}

tmp=$(mktemp -d /tmp/t82-p2v-boot.XXXXXX)
loop=
pid=
hpid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$hpid" ] && kill "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "t82-p2v-boot: FAIL: $*"
	if [ -s "$tmp/console.log" ]; then
		echo "--- guest console (last 40 lines)"
		tail -n 40 "$tmp/console.log"
	fi
	if [ -s "$tmp/err" ]; then
		echo "--- vessel stderr (last 30 lines)"
		tail -n 30 "$tmp/err"
	fi
	exit 1
}

cp --sparse=always "$img" "$tmp/server.raw"
loop=$(losetup -f --show "$tmp/server.raw") || skip "losetup failed (no free loop device?)"
# the image's hash (computed once per cached image): the loop device must
# still have it after the conversion
before=$("$top/tests/p2v/image-hash.sh" "$img") || fail "cannot hash $img"

t0=$(date +%s)
"$VESSEL" p2v "$loop" -o "$tmp/srv.vessel" 2>"$tmp/err" || fail "vessel p2v $loop failed: $(cat "$tmp/err")"
t1=$(date +%s)
cat "$tmp/err"
grep -q 'guest: linux debian 12\.' "$tmp/err" || fail "the guest was not found as Debian 12"
grep -q 'initramfs has virtio\|initramfs rebuilt' "$tmp/err" ||
	fail "the fix-ups did not find virtio drivers in the initramfs"
uuid=$(sed -n 's/.*cmdline:.*root=UUID=\([0-9a-f-]*\).*/\1/p' "$tmp/srv.vessel/vessel.yaml")
[ -n "$uuid" ] || fail "vessel.yaml boots no root=UUID=: $(cat "$tmp/srv.vessel/vessel.yaml")"
# hash the source while the guest boots (3 GiB: half a minute on a loaded host)
sha256sum <"$loop" >"$tmp/after" &
hpid=$!

# Boot in the background; the console goes to a log that is polled for the
# login prompt. 512 MiB: the bundle asks for this host's memory (MemTotal),
# and the guest kernel's start-up work grows with the memory size.
"$VESSEL" -v run ${VESSEL_ENGINE:+--engine "$VESSEL_ENGINE"} -m 512M --no-reboot \
	--console "$tmp/console.log" "$tmp/srv.vessel" </dev/null >/dev/null 2>"$tmp/err" &
pid=$!
t2=$(date +%s)
while :; do
	if grep -q 'p2v-server login:' "$tmp/console.log" 2>/dev/null; then
		break
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid"
		rc=$?
		pid=
		fail "vessel run ended (exit $rc) before the login prompt"
	fi
	[ $(($(date +%s) - t2)) -lt "$tmo" ] || fail "no login prompt after ${tmo}s"
	sleep 2
done
t3=$(date +%s)
# vessel's own CPU time (user + system ticks of /proc/PID/stat; the comm
# field has no spaces): wall time on a shared host says little
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) / hz }' "/proc/$pid/stat" 2>/dev/null)
# SIGTERM stops the guest where it is: disks flushed, MANIFEST sealed again
kill "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=
[ $rc = 1 ] || fail "vessel run exited $rc on SIGTERM (want 1): $(tail -n 3 "$tmp/err")"
grep -q "stopped by signal .*MANIFEST sealed" "$tmp/err" ||
	fail "no stop message on SIGTERM: $(tail -n 3 "$tmp/err")"
"$VESSEL" inspect "$tmp/srv.vessel" >"$tmp/inspect" 2>&1 ||
	fail "the bundle does not verify after SIGTERM: $(cat "$tmp/inspect")"
grep -q 'all digests match' "$tmp/inspect" || fail "inspect did not verify the digests: $(cat "$tmp/inspect")"
wait "$hpid" || fail "hashing the source failed"
hpid=
[ "$(cut -d' ' -f1 "$tmp/after")" = "$before" ] || fail "the source changed"
losetup -d "$loop"
loop=

tr -d '\r' <"$tmp/console.log" >"$tmp/con"
grep -q "Run /init as init process" "$tmp/con" || fail "the initramfs did not start"
grep -q 'CPU ISA level is lower than required' "$tmp/con" && fail "the guest's libc refused the CPU"
grep -q 'EXT4-fs (vda1): mounted filesystem' "$tmp/con" || fail "no ext4 mount of vda1 in the kernel log"
grep -q 'EXT4-fs (vda1): re-mounted' "$tmp/con" || fail "the root fs was not remounted by systemd (fstab)"
grep -q 'virtio_blk virtio[0-9]*: \[vda\]' "$tmp/con" || fail "no virtio-blk vda"
grep -q "Command line: .*root=UUID=$uuid" "$tmp/con" || fail "the kernel did not get root=UUID=$uuid"
grep -q 'Welcome to .*Debian GNU/Linux 12' "$tmp/con" || fail "systemd did not start"
grep -q 'FAILED' "$tmp/con" && fail "systemd units failed: $(grep FAILED "$tmp/con" | head -n 5)"
echo "t82-p2v-boot: ok: p2v $((t1 - t0)) s; $(basename "$img") booted on ${VESSEL_ENGINE:-bt}" \
	"to 'p2v-server login:' in $((t3 - t2)) s (${cpu:-?} s of CPU), root=UUID=$uuid on /dev/vda1 (virtio-blk)," \
	"source unchanged"
exit 0
