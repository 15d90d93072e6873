#!/bin/sh
# vessel img <-> qemu-img interoperability, with qemu-img as the oracle:
#  1. every image vessel writes passes `qemu-img check` and `qemu-img compare`
#     equals its source (random data, holes, zero runs, odd size, compressed,
#     v2, small and large clusters, with a backing file, resized);
#  2. every image qemu-img writes (qcow2 v2/v3, compressed, with a backing
#     file) reads back identical in vessel (vessel img compare against
#     qemu-img's own raw conversion) and passes `vessel img check`.
set -u
: "${VESSEL:?VESSEL must point to the vessel binary}"
if ! command -v qemu-img >/dev/null 2>&1; then
	echo "qemu-img not found (package qemu-utils): cannot run the interop oracle"
	exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/vsl-t20-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "   ok   $*"; }
bad() { echo "   FAIL $*"; fail=1; }

# the source: random data, text, zero runs, holes, and a size that is not a cluster multiple
src=$T/src.raw
truncate -s 21000001 "$src"
head -c 3000000 /dev/urandom | dd of="$src" conv=notrunc 2>/dev/null
yes "vessel interop line of compressible text" | head -c 2000000 |
	dd of="$src" bs=1 seek=5000000 conv=notrunc 2>/dev/null
dd if=/dev/zero of="$src" bs=65536 seek=120 count=16 conv=notrunc 2>/dev/null   # explicit zeroes
head -c 100000 /dev/urandom | dd of="$src" bs=1 seek=20900001 conv=notrunc 2>/dev/null

# -- 1. vessel writes, qemu-img judges --
for opts in "-O qcow2" "-O qcow2 -c" "-O qcow2 -o compat=0.10" "-O qcow2 -o cluster_size=512" \
	    "-O qcow2 -c -o cluster_size=4096" "-O qcow2 -o cluster_size=2M" "-O raw"; do
	out=$T/out.img
	rm -f "$out"
	if ! "$VESSEL" img convert $opts "$src" "$out"; then
		bad "vessel img convert $opts"
		continue
	fi
	case "$opts" in *qcow2*)
		if qemu-img check -q "$out"; then :; else bad "qemu-img check after convert $opts"; continue; fi ;;
	esac
	if qemu-img compare -q "$src" "$out" 2>/dev/null; then
		ok "convert $opts: qemu-img check + compare"
	else
		bad "qemu-img compare after convert $opts"
	fi
done

# back again: vessel qcow2 -> vessel raw equals the source byte for byte
"$VESSEL" img convert -O qcow2 -c "$src" "$T/c.qcow2" &&
	"$VESSEL" img convert -O raw "$T/c.qcow2" "$T/back.raw" &&
	[ "$(stat -c %s "$T/back.raw")" = 21000192 ] &&	# qcow2 sizes are whole sectors
	cmp -s -n 21000001 "$src" "$T/back.raw" && ok "raw -> qcow2 -c -> raw is byte-identical" ||
	bad "raw -> qcow2 -c -> raw round trip"

# create with a backing file, write through qemu-io, check both ways
"$VESSEL" img create -f qcow2 -b src.raw -F raw "$T/ov.qcow2" >/dev/null &&
	qemu-img check -q "$T/ov.qcow2" &&
	qemu-img compare -q "$src" "$T/ov.qcow2" && ok "create -b: qemu-img check + compare" ||
	bad "vessel img create -b"
if command -v qemu-io >/dev/null 2>&1; then
	qemu-io -c "write -P 0x5a 1000000 70000" -c "write -z 6000000 1000000" "$T/ov.qcow2" >/dev/null
	qemu-img convert -O raw "$T/ov.qcow2" "$T/ov-ref.raw"
	"$VESSEL" img compare "$T/ov.qcow2" "$T/ov-ref.raw" >/dev/null &&
		ok "qemu-io writes over a vessel overlay read back in vessel" ||
		bad "vessel reads qemu-io writes over its overlay"
fi

# resize: grow a vessel image with 512-byte clusters (the L1 table moves)
"$VESSEL" img convert -O qcow2 -o cluster_size=512 "$src" "$T/r.qcow2" &&
	"$VESSEL" img resize "$T/r.qcow2" +40M >/dev/null && qemu-img check -q "$T/r.qcow2" &&
	[ "$(qemu-img info --output=json "$T/r.qcow2" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')" = 62943232 ] &&
	qemu-img compare -q "$src" "$T/r.qcow2" && ok "resize +40M" || bad "resize"

# -- 2. qemu-img writes, vessel reads --
for opts in "-o compat=0.10" "-o compat=1.1" "-c" "-c -o compat=0.10" "-o cluster_size=512" \
	    "-o cluster_size=2M" "-o refcount_bits=1" "-o refcount_bits=64"; do
	q=$T/q.qcow2
	rm -f "$q"
	qemu-img convert -O qcow2 $opts "$src" "$q" || { bad "qemu-img convert $opts"; continue; }
	qemu-img convert -O raw "$q" "$T/q.raw"
	if "$VESSEL" img compare "$q" "$T/q.raw" >/dev/null && "$VESSEL" img check "$q" >/dev/null; then
		ok "qemu-img $opts: vessel compare + check"
	else
		bad "vessel reads qemu-img's qcow2 $opts"
	fi
done
# internal snapshots: vessel reads the active state and its check walks the snapshot tables
if command -v qemu-io >/dev/null 2>&1; then
	qemu-img convert -O qcow2 "$src" "$T/sn.qcow2"
	qemu-img snapshot -c one "$T/sn.qcow2"
	qemu-io -c "write -P 0x33 100k 200k" "$T/sn.qcow2" >/dev/null
	qemu-img snapshot -c two "$T/sn.qcow2"
	qemu-io -c "write -P 0x44 1M 64k" "$T/sn.qcow2" >/dev/null
	qemu-img convert -O raw "$T/sn.qcow2" "$T/sn.raw"
	"$VESSEL" img compare "$T/sn.qcow2" "$T/sn.raw" >/dev/null && "$VESSEL" img check "$T/sn.qcow2" >/dev/null &&
		ok "qcow2 with internal snapshots: compare + check" || bad "qcow2 with internal snapshots"
fi

# a qemu backing chain: base <- mid <- top (qcow2 over qcow2 over raw)
qemu-img create -q -f qcow2 -b src.raw -F raw "$T/mid.qcow2"
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "$T/top.qcow2"
if command -v qemu-io >/dev/null 2>&1; then
	qemu-io -c "write -P 0x11 100000 200000" "$T/mid.qcow2" >/dev/null
	qemu-io -c "write -P 0x22 150000 20000" -c "write -z 3000000 65536" "$T/top.qcow2" >/dev/null
fi
qemu-img convert -O raw "$T/top.qcow2" "$T/top.raw"
"$VESSEL" img compare "$T/top.qcow2" "$T/top.raw" >/dev/null && ok "qemu backing chain reads identical" ||
	bad "vessel reads a qemu backing chain"
"$VESSEL" img convert -O qcow2 "$T/top.qcow2" "$T/flat.qcow2" && qemu-img check -q "$T/flat.qcow2" &&
	qemu-img compare -q "$T/top.raw" "$T/flat.qcow2" && ok "flattening a chain" || bad "flatten chain"

# compare reports the first differing offset and exit 1
cp "$T/top.raw" "$T/diff.raw"
printf 'X' | dd of="$T/diff.raw" bs=1 seek=7654321 conv=notrunc 2>/dev/null
msg=$("$VESSEL" img compare "$T/top.qcow2" "$T/diff.raw")
rc=$?
[ $rc -eq 1 ] && [ "$msg" = "Content mismatch at offset 7654321!" ] && ok "compare: first difference" ||
	bad "compare difference: rc=$rc msg=$msg"
exit $fail
