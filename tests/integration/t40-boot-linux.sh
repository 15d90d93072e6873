#!/bin/sh
# Boot the real Debian kernel (linux-image-amd64) with a busybox initramfs on
# vessel's hypervisor: /init hashes a file placed in the initramfs, echoes a
# line typed on the console (stdin -> COM1 receive FIFO), and powers off
# (ACPI S5). The hash must match the host's sha256sum and vessel must exit 0
# because the guest powered off (not rebooted, not crashed).
#
# Needs scripts/fetch-guest.sh (apt-get download of the kernel and busybox);
# skips (77) when that cannot work here. Takes a few minutes with the
# interpreter.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
VESSEL=${VESSEL:-$top/build/dbg/vessel}
guest=${VESSEL_GUEST_DIR:-$top/build/guest}
tmo=${VESSEL_BOOT_TIMEOUT:-1500}
engine=${VESSEL_ENGINE:-interp}   # VESSEL_ENGINE=bt runs it on the translator
mem=${VESSEL_MEM:-256}            # MiB; over 3072 puts RAM above 4 GiB

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! "$top/scripts/fetch-guest.sh" -d "$guest" >"$work/fetch.out" 2>"$work/fetch.err"; then
	cat "$work/fetch.err"
	echo "t40-boot-linux: cannot fetch the Debian kernel/busybox here (apt-get download failed)"
	exit 77
fi
kernel=$(sed -n 's/^kernel=//p' "$work/fetch.out")

# a payload the guest hashes: 384 KiB of random bytes
head -c 393216 /dev/urandom >"$work/payload.bin"
want=$(sha256sum "$work/payload.bin" | cut -d' ' -f1)

cat >"$work/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "vessel-t40: SHA=$(sha256sum /payload.bin)"
if read -r line; then echo "vessel-t40: GOT=$line"; fi
poweroff -f
INIT
"$top/scripts/fetch-guest.sh" -d "$guest" --initramfs "$work/initrd.gz" "$work/init" \
	"$work/payload.bin" >/dev/null || { echo "t40-boot-linux: building the initramfs failed"; exit 1; }

start=$(date +%s)
printf 'typed-into-com1\n' | timeout "$tmo" "$VESSEL" -v run --engine "$engine" --kernel "$kernel" \
	--initrd "$work/initrd.gz" --append "console=ttyS0 quiet panic=-1" -m "$mem" \
	--no-reboot --stats --console "$work/console.log" >"$work/out" 2>"$work/err"
rc=$?
end=$(date +%s)

fail() {
	echo "t40-boot-linux: FAIL: $*"
	echo "--- guest console (last 30 lines)"; tail -n 30 "$work/out"
	echo "--- vessel stderr (last 40 lines)"; tail -n 40 "$work/err"
	exit 1
}
[ "$rc" -eq 124 ] && fail "timed out after ${tmo}s"
[ "$rc" -eq 0 ] || fail "vessel exited with $rc"
grep -q "the guest powered off" "$work/err" || fail "vessel exited 0 but the guest did not power off"
got=$(sed -n 's/^vessel-t40: SHA=\([0-9a-f]*\) .*/\1/p' "$work/out" | tr -d '\r')
[ -n "$got" ] || fail "the guest printed no sha256sum"
[ "$got" = "$want" ] || fail "guest sha256 $got != host $want"
grep -q "vessel-t40: GOT=typed-into-com1" "$work/out" || fail "console input did not reach the guest"
cmp -s "$work/out" "$work/console.log" || fail "--console log differs from stdout"
echo "t40-boot-linux: ok ($engine): Debian $(basename "$kernel") booted, sha256 matches, input echoed," \
	"powered off in $((end - start)) s ($(grep -o '[0-9.]* MIPS' "$work/err"))"
exit 0
