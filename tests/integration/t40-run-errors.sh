#!/bin/sh
# vessel run rejects bad input before the guest starts, with exit 1 and a
# message naming the problem: not a bzImage, truncated kernel, command line
# too long, missing initrd, memory 0 / more than the host has; and usage
# errors exit 2.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
VESSEL=${VESSEL:-$top/build/dbg/vessel}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

# expect STATUS PATTERN -- ARGS...: run vessel, check the exit status and stderr
expect() {
	status=$1 pattern=$2
	shift 3
	"$VESSEL" run "$@" </dev/null >"$work/out" 2>"$work/err"
	rc=$?
	if [ "$rc" -ne "$status" ] || ! grep -q -- "$pattern" "$work/err"; then
		echo "t40-run-errors: FAIL: vessel run $* -> exit $rc (want $status, '$pattern')"
		cat "$work/err"
		failures=$((failures + 1))
	fi
}

# a crafted bzImage header: protocol 2.15, 64-bit entry, cmdline_size 32
python3 - "$work" <<'PY'
import struct, sys
d = sys.argv[1]
img = bytearray(64 * 1024)
img[0x1F1] = 4
struct.pack_into("<I", img, 0x1F4, (len(img) - 5 * 512) // 16)
struct.pack_into("<H", img, 0x1FE, 0xAA55)
img[0x200] = 0xEB; img[0x201] = 0x6A
img[0x202:0x206] = b"HdrS"
struct.pack_into("<H", img, 0x206, 0x020F)
img[0x211] = 1
struct.pack_into("<I", img, 0x22C, 0x7FFFFFFF)
img[0x234] = 1
struct.pack_into("<H", img, 0x236, 3)
struct.pack_into("<I", img, 0x238, 32)
struct.pack_into("<Q", img, 0x258, 0x1000000)
struct.pack_into("<I", img, 0x260, 0x400000)
open(d + "/bz", "wb").write(img)
open(d + "/trunc", "wb").write(img[:40000])
old = bytearray(img); struct.pack_into("<H", old, 0x206, 0x0204)
open(d + "/old", "wb").write(old)
no64 = bytearray(img); struct.pack_into("<H", no64, 0x236, 0)
open(d + "/no64", "wb").write(no64)
PY
printf 'ELF not a kernel' >"$work/notbz"

expect 1 "not a bzImage" -- --kernel "$work/notbz"
expect 1 "truncated bzImage" -- --kernel "$work/trunc"
expect 1 "too old" -- --kernel "$work/old"
expect 1 "XLF_KERNEL_64" -- --kernel "$work/no64"
expect 1 "accepts at most 32" -- --kernel "$work/bz" --append "this command line is longer than thirty-two bytes"
expect 1 "initrd .*No such file" -- --kernel "$work/bz" --initrd "$work/missing.gz"
expect 1 "kernel .*No such file" -- --kernel "$work/missing"
expect 1 "must not be 0" -- --kernel "$work/bz" -m 0
expect 1 "too small" -- --kernel "$work/bz" -m 8
expect 1 "more than this host has" -- --kernel "$work/bz" -m 1000T
expect 1 "at most 3 GiB" -- --kernel "$work/bz" -m 3073
expect 2 "invalid memory size" -- --kernel "$work/bz" -m 12X
expect 2 "unknown engine" -- --kernel "$work/bz" --engine kvm
expect 2 "give a BUNDLE or --kernel" --
expect 1 "not a bundle" -- "$work/nonexistent.vessel"
# bundles: settings come from vessel.yaml (its test kernel is a 48-byte stub)
expect 1 "valid.vessel/boot/vmlinuz: not a bzImage" -- "$top/tests/data/bundles/valid.vessel"
expect 1 "boots from firmware" -- "$top/tests/data/bundles/valid-bios.vessel"
# flags override the bundle: its kernel is replaced, its 512M by -m 0
expect 1 "must not be 0" -- "$top/tests/data/bundles/valid.vessel" --kernel "$work/bz" -m 0
"$VESSEL" run --help | grep -q -- "--no-reboot" || { echo "t40-run-errors: FAIL: --help"; failures=$((failures + 1)); }

[ "$failures" -eq 0 ] || exit 1
echo "t40-run-errors: ok"
