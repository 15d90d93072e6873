#!/bin/sh
# Sparseness and large offsets: a 10 GiB image holding 100 MiB of data
# converts (raw -> qcow2 -> raw, and compressed) to outputs whose allocated
# size stays within a few MiB of the data, and an image with data beyond
# 4 GiB survives the trip intact (qemu-img check + compare as the oracle).
set -u
: "${VESSEL:?VESSEL must point to the vessel binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/vsl-t20sp-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fail=0
have_qemu=0
command -v qemu-img >/dev/null 2>&1 && have_qemu=1
ok() { echo "   ok   $*"; }
bad() { echo "   FAIL $*"; fail=1; }
kib() { du -k "$1" | cut -f1; }

src=$T/big.raw
truncate -s 10G "$src"
# 100 MiB of data in 10 pieces of 10 MiB spread over the disk (text + random)
i=0
while [ $i -lt 10 ]; do
	if [ $((i % 2)) -eq 0 ]; then
		head -c 10485760 /dev/urandom
	else
		yes "sparse test $i" | head -c 10485760
	fi | dd of="$src" bs=1M seek=$((i * 1000 + 7)) conv=notrunc 2>/dev/null
	i=$((i + 1))
done
probe=$T/probe
truncate -s 1M "$probe"
if [ "$(kib "$probe")" -gt 100 ] || [ "$(kib "$src")" -gt 110000 ]; then
	echo "this filesystem ($T) does not keep files sparse; cannot test sparseness"
	exit 77
fi
data_kib=102400
slack=4096	# "within a few MiB"

for opts in "-O qcow2" "-O qcow2 -c" "-O raw"; do
	out=$T/out.img
	rm -f "$out"
	if ! "$VESSEL" img convert $opts "$src" "$out"; then
		bad "convert $opts"
		continue
	fi
	k=$(kib "$out")
	case "$opts" in
	*-c*) [ "$k" -le $((data_kib + slack)) ] && ok "convert $opts: ${k} KiB allocated" ||
		bad "convert $opts allocated ${k} KiB for ${data_kib} KiB of data" ;;
	*) [ "$k" -ge $((data_kib - slack)) ] && [ "$k" -le $((data_kib + slack)) ] &&
		ok "convert $opts: ${k} KiB allocated for ${data_kib} KiB of data" ||
		bad "convert $opts allocated ${k} KiB for ${data_kib} KiB of data" ;;
	esac
	if [ $have_qemu = 1 ]; then
		case "$opts" in *qcow2*) qemu-img check -q "$out" || bad "qemu-img check $opts" ;; esac
		qemu-img compare -q "$src" "$out" && ok "qemu-img compare $opts" || bad "qemu-img compare $opts"
	fi
	case "$opts" in *qcow2*)
		rm -f "$T/back.raw"
		"$VESSEL" img convert -O raw "$out" "$T/back.raw" || bad "convert $opts back to raw"
		k=$(kib "$T/back.raw")
		[ "$k" -le $((data_kib + slack)) ] && ok "back to raw: ${k} KiB allocated" ||
			bad "back to raw allocated ${k} KiB"
		"$VESSEL" img compare "$src" "$T/back.raw" >/dev/null && ok "round trip $opts identical" ||
			bad "round trip $opts differs"
	esac
done

# data past 4 GiB (offsets that need more than 32 bits everywhere)
rm -f "$T"/*.img "$T/back.raw"
truncate -s 6G "$T/high.raw"
printf 'beyond four gigabytes' | dd of="$T/high.raw" bs=1 seek=4294967290 conv=notrunc 2>/dev/null
head -c 200000 /dev/urandom | dd of="$T/high.raw" bs=1 seek=6442250000 conv=notrunc 2>/dev/null
"$VESSEL" img convert -O qcow2 -o cluster_size=4096 "$T/high.raw" "$T/high.qcow2" || bad "convert high"
if [ $have_qemu = 1 ]; then
	qemu-img check -q "$T/high.qcow2" && qemu-img compare -q "$T/high.raw" "$T/high.qcow2" &&
		ok "data beyond 4 GiB: qemu-img check + compare" || bad "data beyond 4 GiB"
fi
"$VESSEL" img compare "$T/high.raw" "$T/high.qcow2" >/dev/null && ok "data beyond 4 GiB: vessel compare" ||
	bad "vessel compare beyond 4 GiB"
exit $fail
