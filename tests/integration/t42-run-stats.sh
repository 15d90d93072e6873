#!/bin/sh
# `vessel run --stats` prints the CPU's counters: boot the Debian kernel of
# t40 (only if scripts/fetch-guest.sh already fetched it into build/guest;
# this test downloads nothing) on the binary translator with an initramfs
# whose /init just powers off, and check that every counter line is there
# and that the ones a Linux boot must move did move: blocks translated, code
# cache in use, look-ups, TLB misses and flushes, port I/O, MMIO, MSR,
# CPUID, interrupts and exceptions delivered.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
VESSEL=${VESSEL:-$top/build/dbg/vessel}
guest=${VESSEL_GUEST_DIR:-$top/build/guest}
tmo=${VESSEL_BOOT_TIMEOUT:-600}

kernel=$(ls "$guest"/root/boot/vmlinuz-* 2>/dev/null | head -n 1)
if [ -z "$kernel" ] || [ ! -x "$guest/root/bin/busybox" ]; then
	echo "t42-run-stats: no kernel in $guest (run scripts/fetch-guest.sh first); skipping"
	exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '#!/bin/sh\npoweroff -f\n' >"$work/init"
"$top/scripts/fetch-guest.sh" -d "$guest" --initramfs "$work/initrd.gz" "$work/init" >/dev/null ||
	{ echo "t42-run-stats: building the initramfs failed"; exit 1; }

timeout "$tmo" "$VESSEL" run --engine bt --kernel "$kernel" --initrd "$work/initrd.gz" \
	--append "console=ttyS0 quiet panic=-1" -m 256 --no-reboot --stats \
	</dev/null >"$work/out" 2>"$work/err"
rc=$?

fail() {
	echo "t42-run-stats: FAIL: $*"
	echo "--- vessel stderr (last 40 lines)"; tail -n 40 "$work/err"
	exit 1
}
[ "$rc" -eq 124 ] && fail "timed out after ${tmo}s"
[ "$rc" -eq 0 ] || fail "vessel exited with $rc"
val() { awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print "missing" }' "$work/err"; }
for n in bt.blocks_translated bt.insns_translated bt.cache_bytes_used bt.cache_bytes_total \
	bt.cache_flushes bt.invalidated bt.chained_exits bt.lookup_exits bt.indirect_hits \
	bt.indirect_misses bt.helper_exits bt.loops_carried bt.interp_steps tlb.hits tlb.misses \
	tlb.flushes exit.io exit.mmio exit.msr exit.cpuid exit.hlt exit.interrupts \
	exit.exceptions tlb.hit_rate; do
	[ "$(val $n)" != missing ] || fail "--stats printed no $n line"
done
for n in bt.blocks_translated bt.cache_bytes_used bt.chained_exits bt.lookup_exits bt.loops_carried tlb.misses \
	tlb.flushes exit.io exit.mmio exit.msr exit.cpuid exit.interrupts exit.exceptions; do
	v=$(val $n)
	case $v in *[!0-9]*|'') fail "$n is not a number: $v" ;; esac
	[ "$v" -gt 0 ] || fail "$n is 0 after a Linux boot"
done
[ "$(val bt.cache_bytes_used)" -le "$(val bt.cache_bytes_total)" ] || fail "code cache use exceeds its size"
echo "t42-run-stats: ok: $(val bt.blocks_translated) blocks translated," \
	"$(val bt.chained_exits) chained / $(val bt.lookup_exits) looked-up," \
	"$(val tlb.misses) TLB misses, $(val exit.io) port I/O, $(val exit.interrupts) interrupts"
exit 0
