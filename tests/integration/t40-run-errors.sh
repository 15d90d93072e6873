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
# poke FILE OFFSET BYTES...: write bytes (hex) at a decimal offset
poke() {
	f=$1 off=$2
	shift 2
	for b in "$@"; do
		printf "\\$(printf '%03o' "0x$b")" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
		off=$((off + 1))
	done
}
head -c 65536 /dev/zero >"$work/bz"
poke "$work/bz" $((0x1F1)) 04
poke "$work/bz" $((0x1F4)) 00 0f 00 00             # syssize: (65536 - 2560) / 16
poke "$work/bz" $((0x1FE)) 55 aa eb 6a 48 64 72 53 0f 02  # boot flag, jump, "HdrS", 2.15
poke "$work/bz" $((0x211)) 01                       # LOADED_HIGH
poke "$work/bz" $((0x22C)) ff ff ff 7f              # initrd_addr_max
poke "$work/bz" $((0x234)) 01 00 03 00 20 00 00 00  # relocatable, xloadflags, cmdline_size
poke "$work/bz" $((0x258)) 00 00 00 01              # pref_address 16 MiB
poke "$work/bz" $((0x260)) 00 00 40 00              # init_size 4 MiB
head -c 40000 "$work/bz" >"$work/trunc"
cp "$work/bz" "$work/old" && poke "$work/old" $((0x206)) 04 02
cp "$work/bz" "$work/no64" && poke "$work/no64" $((0x236)) 00
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
# more than the host has, but within the board's 128 GiB
host_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
if [ "$host_mib" -lt 130000 ]; then
	expect 1 "more than this host has" -- --kernel "$work/bz" -m $((host_mib + 1024))
else
	echo "t40-run-errors: note: the host has ${host_mib} MiB; the more-than-the-host case is not checked"
fi
expect 1 "at most 128 GiB" -- --kernel "$work/bz" -m 131073
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
