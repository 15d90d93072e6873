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
# natively with the same busybox. Prints a table with the ratios.
#
# Usage: bench/boot.sh [VESSEL]     (default build/rel/vessel, built if missing)
# Env:   VESSEL_ENGINE=interp|bt    (default: vessel's own default)
#        BENCH_SKIP_QEMU=1          skip the QEMU run
#        BENCH_SKIP_VESSEL=1        skip the vessel run (peers only)
set -eu
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
				kill "$(cat "$1")" 2>/dev/null || true
			fi
			;;
		esac
	done
}

append="console=ttyS0 quiet panic=-1"
if [ -z "${BENCH_SKIP_VESSEL:-}" ]; then
start=$(date +%s.%N)
nice timeout 7200 "$VESSEL" run --kernel "$kernel" --initrd "$work/initrd.gz" --append "$append" \
	-m 256 --no-reboot ${VESSEL_ENGINE:+--engine $VESSEL_ENGINE} --stats \
	</dev/null 2>"$work/vessel.err" | stamp >"$work/vessel.t"
fi
if [ -z "${BENCH_SKIP_QEMU:-}" ]; then
	start=$(date +%s.%N)
	# microvm has no port 0x61 (PC speaker): the kernel cannot calibrate its
	# TSC against the PIT, marks it unstable and hangs under TCG. Give it
	# the host's TSC frequency (what TCG's RDTSC counts) instead.
	khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
	nice timeout 3600 qemu-system-x86_64 -M microvm -accel tcg -m 256 -kernel "$kernel" \
		-initrd "$work/initrd.gz" -append "$append tsc_early_khz=$khz" -no-user-config \
		-display none -serial stdio -no-reboot -pidfile "$work/qemu.pid" \
		</dev/null 2>"$work/qemu.err" | stamp "$work/qemu.pid" >"$work/qemu.t"
fi
# natively: the same busybox, the same commands
mkdir -p "$work/bin"
for app in $("$busybox" --list); do ln -sf "$busybox" "$work/bin/$app"; done
start=$(date +%s.%N)
sed "s|/bin/true|$work/bin/true|" "$work/workload.sh" >"$work/native.sh"
(cd "$work" && nice env PATH="$work/bin" "$busybox" sh "$work/native.sh" 2>&1) | stamp >"$work/native.t"

seg() { # seg FILE NAME PREV -> seconds between markers PREV and NAME
	awk -v n="$2" -v p="$3" '$2 == n { t = $1 } $2 == p { s = $1 }
		END { if (t == "") print "-"; else printf "%.2f\n", t - (p == "" ? 0 : s) }' "$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1fx\n", a / b }'; }

printf '%-6s %10s %10s %10s %12s %12s\n' step vessel qemu-tcg native vessel/qemu vessel/native
prev=
for s in boot sha gzip loop true; do
	v=$( [ -f "$work/vessel.t" ] && seg "$work/vessel.t" $s "$prev" || echo -)
	q=$( [ -f "$work/qemu.t" ] && seg "$work/qemu.t" $s "$prev" || echo -)
	n=$( [ $s = boot ] && echo - || seg "$work/native.t" $s "$prev")
	printf '%-6s %10s %10s %10s %12s %12s\n' $s "$v" "$q" "$n" "$(ratio "$v" "$q")" "$(ratio "$v" "$n")"
	prev=$s
done
echo
grep -h "MIPS\|interpreter" "$work/vessel.err" 2>/dev/null | sed 's/^/# /' || true
