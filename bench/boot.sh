#!/bin/sh
# Boot + guest compute benchmark: the real Debian kernel with a busybox
# initramfs whose /init prints a marker after boot and after each workload:
#
#   sha    dd if=/dev/zero bs=1M count=64 | sha256sum
#   gzip   dd if=/dev/zero bs=1M count=16 | tr '\0' a | gzip -c | wc -c
#   loop   a shell loop counting to 100000
#   true   300 runs of /bin/true
#
# Host wall seconds between markers are measured for vessel and for
# qemu-system-x86_64 -M microvm -accel tcg -m 256 (QEMU's KVM does not work
# on these machines), in the same run, and for the same commands run
# natively with the same busybox. Prints a table with the ratios; with -n N
# every program runs N times (vessel, QEMU, native, vessel, ...) and the
# table shows per-step medians. The last lines give the user+system CPU
# seconds of each whole vessel and QEMU run (median): a steadier measure
# than wall time on a loaded machine.
#
# Usage: bench/boot.sh [-n N] [VESSEL]  (default build/rel/vessel, built if missing)
# Env:   VESSEL_ENGINE=interp|bt    (default: vessel's own default)
#        BENCH_SKIP_QEMU=1          skip the QEMU run
#        BENCH_SKIP_VESSEL=1        skip the vessel run (peers only)
set -eu
runs=1
if [ "${1:-}" = "-n" ]; then
	runs=$2
	shift 2
	case $runs in ''|*[!0-9]*|0) echo "boot.sh: -n needs a positive count" >&2; exit 2 ;; esac
fi
top=$(cd "$(dirname "$0")/.." && pwd)
VESSEL=${1:-$top/build/rel/vessel}
[ -x "$VESSEL" ] || make -C "$top" MODE=rel all >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

guest=${VESSEL_GUEST_DIR:-$top/build/guest}
eval "$("$top/scripts/fetch-guest.sh" -d "$guest" | sed -n 's/^\(kernel\|busybox\)=/\1=/p')"

cat >"$work/workload.sh" <<'W'
echo BENCH-MARK boot
dd if=/dev/zero bs=1M count=64 2>/dev/null | sha256sum
echo BENCH-MARK sha
dd if=/dev/zero bs=1M count=16 2>/dev/null | tr '\0' a | gzip -c | wc -c
echo BENCH-MARK gzip
i=0; while [ $i -lt 100000 ]; do i=$((i + 1)); done; echo "count $i"
echo BENCH-MARK loop
n=0; while [ $n -lt 300 ]; do /bin/true; n=$((n + 1)); done
echo BENCH-MARK true
W
{
	printf '#!/bin/sh\nmount -t proc proc /proc\nmount -t sysfs sys /sys\nmount -t devtmpfs dev /dev\n'
	cat "$work/workload.sh"
	printf 'poweroff -f\n'
} >"$work/init"
"$top/scripts/fetch-guest.sh" -d "$guest" --initramfs "$work/initrd.gz" "$work/init" >/dev/null

# stamp: read the program's output to its end, print "SECONDS NAME" for every
# marker (host wall seconds since $start); after the last marker, kill the
# process whose pid is in $1 if given (QEMU, in case its poweroff hangs).
stamp() {
	while IFS= read -r line; do
		case $line in
		*BENCH-MARK*)
			name=$(printf '%s' "${line##*BENCH-MARK }" | tr -d '\r')
			now=$(date +%s.%N)
			awk -v a="$now" -v b="$start" -v n="$name" 'BEGIN { printf "%.3f %s\n", a - b, n }'
			if [ "$name" = true ] && [ -n "${1:-}" ] && [ -s "$1" ]; then
				kill "$(cat "$1" 2>/dev/null)" 2>/dev/null || true
			fi
			;;
		esac
	done
}

append="console=ttyS0 quiet panic=-1"
mkdir -p "$work/bin"
for app in $("$busybox" --list); do ln -sf "$busybox" "$work/bin/$app"; done
sed "s|/bin/true|$work/bin/true|" "$work/workload.sh" >"$work/native.sh"
r=1
while [ $r -le "$runs" ]; do
if [ -z "${BENCH_SKIP_VESSEL:-}" ]; then
start=$(date +%s.%N)
nice timeout 7200 /usr/bin/time -f '%U %S' -o "$work/vessel.cpu.one" "$VESSEL" run --kernel "$kernel" --initrd "$work/initrd.gz" --append "$append" \
	-m 256 --no-reboot ${VESSEL_ENGINE:+--engine $VESSEL_ENGINE} --stats \
	</dev/null 2>"$work/vessel.err" | stamp >"$work/vessel.t.$r"
tail -n 1 "$work/vessel.cpu.one" | awk '{ printf "%.2f\n", $1 + $2 }' >>"$work/vessel.cpu"
fi
if [ -z "${BENCH_SKIP_QEMU:-}" ]; then
	start=$(date +%s.%N)
	# microvm has no port 0x61 (PC speaker): the kernel cannot calibrate its
	# TSC against the PIT, marks it unstable and hangs under TCG. Give it
	# the host's TSC frequency (what TCG's RDTSC counts) instead.
	khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
	nice timeout 3600 /usr/bin/time -f '%U %S' -o "$work/qemu.cpu.one" qemu-system-x86_64 -M microvm -accel tcg -m 256 -kernel "$kernel" \
		-initrd "$work/initrd.gz" -append "$append tsc_early_khz=$khz" -no-user-config \
		-display none -serial stdio -no-reboot -pidfile "$work/qemu.pid" \
		</dev/null 2>"$work/qemu.err" | stamp "$work/qemu.pid" >"$work/qemu.t.$r"
	# QEMU is killed after the last marker: its CPU time is what /usr/bin/time saw
	tail -n 1 "$work/qemu.cpu.one" 2>/dev/null | awk '{ printf "%.2f\n", $1 + $2 }' >>"$work/qemu.cpu"
fi
# natively: the same busybox, the same commands
start=$(date +%s.%N)
(cd "$work" && nice env PATH="$work/bin" "$busybox" sh "$work/native.sh" 2>&1) | stamp >"$work/native.t.$r"
r=$((r + 1))
done

seg1() { # seg1 FILE NAME PREV -> seconds between markers PREV and NAME
	awk -v n="$2" -v p="$3" '$2 == n { t = $1 } $2 == p { s = $1 }
		END { if (t == "") print "-"; else printf "%.2f\n", t - (p == "" ? 0 : s) }' "$1"
}
median() { # numbers on stdin ("-" = missing) -> their median, or "-"
	grep -v '^-$' | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-";
		else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
seg() { # seg PREFIX NAME PREV -> median over the runs
	for f in "$1".t.*; do [ -f "$f" ] && seg1 "$f" "$2" "$3"; done | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1fx\n", a / b }'; }

printf '%-6s %10s %10s %10s %12s %12s\n' step vessel qemu-tcg native vessel/qemu vessel/native
prev=
for s in boot sha gzip loop true; do
	v=$(seg "$work/vessel" $s "$prev")
	q=$(seg "$work/qemu" $s "$prev")
	n=$( [ $s = boot ] && echo - || seg "$work/native" $s "$prev")
	printf '%-6s %10s %10s %10s %12s %12s\n' $s "$v" "$q" "$n" "$(ratio "$v" "$q")" "$(ratio "$v" "$n")"
	prev=$s
done
echo
[ "$runs" -gt 1 ] && echo "# medians of $runs runs"
vc=$( [ -f "$work/vessel.cpu" ] && median <"$work/vessel.cpu" || echo -)
qc=$( [ -f "$work/qemu.cpu" ] && median <"$work/qemu.cpu" || echo -)
echo "# CPU seconds (user+sys) of the whole run: vessel $vc, qemu-tcg $qc, vessel/qemu $(ratio "$vc" "$qc")"
grep -h "MIPS\|interpreter" "$work/vessel.err" 2>/dev/null | sed 's/^/# /' || true
