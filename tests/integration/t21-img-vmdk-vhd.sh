#!/bin/sh
# VMDK and VHD through `vessel img`, with qemu-img as the oracle:
#  - images vessel writes (vmdk monolithicSparse, streamOptimized,
#    monolithicFlat; vpc dynamic, fixed) pass `qemu-img check` (vmdk) and
#    `qemu-img compare` with the source, and qemu sees the exact size;
#  - images qemu-img writes (vmdk sparse/streamOptimized/twoGbMaxExtentSparse/
#    monolithicFlat, vpc dynamic/fixed with force_size=on) read back
#    identical in vessel;
#  - a 10 GiB disk holding 100 MiB converts to a file of about 100 MiB;
#  - damaged images and escaping descriptors fail with a clear message.
set -u
: "${VESSEL:?VESSEL must point to the vessel binary}"
if ! command -v qemu-img >/dev/null 2>&1; then
	echo "qemu-img not installed (package qemu-utils): the oracle is missing"
	exit 77
fi
if ! "$VESSEL" img --help >/dev/null 2>&1; then
	echo "this vessel has no 'img' command"
	exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/vsl-t21-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "   ok   $*"; }
bad() { echo "   FAIL $*"; fail=1; }

# Source: 67 MiB + 4.5 KiB (not a grain, block or CHS multiple); random runs,
# a compressible run, zero runs and holes.
src=$T/src.raw
truncate -s $((67 * 1048576 + 4608)) "$src"
head -c 3000000 /dev/urandom | dd of="$src" conv=notrunc status=none
yes "vessel vmdk vhd test line" | head -c 5000000 | dd of="$src" bs=1M seek=10 conv=notrunc status=none
head -c 65536 /dev/zero | dd of="$src" bs=1M seek=20 conv=notrunc status=none
head -c 1000000 /dev/urandom | dd of="$src" bs=1 seek=$((40 * 1048576 + 12345)) conv=notrunc status=none
head -c 4608 /dev/urandom | dd of="$src" bs=1 seek=$((67 * 1048576)) conv=notrunc status=none
size=$(stat -c %s "$src")

qsize() { qemu-img info -f "$1" --output=json "$2" | sed -n 's/.*"virtual-size": *\([0-9]*\).*/\1/p' | head -n 1; }

# ---- vessel writes, qemu-img reads ----
for spec in "vmdk monolithicSparse" "vmdk streamOptimized" "vmdk monolithicFlat" \
	    "vpc dynamic" "vpc fixed"; do
	set -- $spec
	out=$T/v-$2.$1
	if ! msg=$("$VESSEL" img convert -O "$1" -o "subformat=$2" "$src" "$out" 2>&1); then
		bad "vessel convert to $1 $2: $msg"
		continue
	fi
	if [ "$1" = vmdk ] && ! qemu-img check -q -f vmdk "$out"; then
		bad "qemu-img check rejects vessel's $1 $2"
	fi
	got=$(qsize "$1" "$out")
	if [ "$got" != "$size" ]; then
		bad "qemu-img sees $got bytes in vessel's $1 $2, the source has $size"
	elif ! qemu-img compare -q -f raw -F "$1" "$src" "$out"; then
		bad "qemu-img compare: vessel's $1 $2 differs from the source"
	elif ! "$VESSEL" img compare "$src" "$out" >/dev/null; then
		bad "vessel img compare: $1 $2 differs from the source"
	else
		ok "vessel $1 $2: qemu-img agrees (size $got, same content)"
	fi
done

# -c means streamOptimized for vmdk; vessel's own check agrees with qemu's
if "$VESSEL" img convert -c -O vmdk "$src" "$T/c.vmdk" &&
   grep -aq 'createType="streamOptimized"' "$T/c.vmdk" &&
   qemu-img compare -q -f raw -F vmdk "$src" "$T/c.vmdk" &&
   "$VESSEL" img check "$T/c.vmdk" >/dev/null && "$VESSEL" img check "$T/v-monolithicSparse.vmdk" >/dev/null &&
   "$VESSEL" img check "$T/v-dynamic.vpc" >/dev/null; then
	ok "convert -c -O vmdk writes streamOptimized; vessel img check passes vessel's images"
else
	bad "convert -c -O vmdk or vessel img check"
fi
rm -f "$T/c.vmdk"

# the oracle can fail: one flipped byte is noticed
cp "$src" "$T/flip.raw"
printf 'Z' | dd of="$T/flip.raw" bs=1 seek=1000 conv=notrunc status=none
if qemu-img compare -q -f raw -F vmdk "$T/flip.raw" "$T/v-streamOptimized.vmdk"; then
	bad "qemu-img compare did not notice a changed byte"
else
	ok "a changed byte is noticed"
fi
rm -f "$T/flip.raw"

# ---- qemu-img writes, vessel reads ----
for spec in "vmdk subformat=monolithicSparse" "vmdk subformat=streamOptimized" \
	    "vmdk subformat=twoGbMaxExtentSparse" "vmdk subformat=monolithicFlat" \
	    "vpc subformat=dynamic,force_size=on" "vpc subformat=fixed,force_size=on"; do
	set -- $spec
	out=$T/q-$(echo "$2" | tr ',=' '__').$1
	qemu-img convert -f raw -O "$1" -o "$2" "$src" "$out" || { bad "qemu-img convert $spec"; continue; }
	info=$("$VESSEL" img info -f "$1" --json "$out" 2>&1)
	if ! printf '%s' "$info" | grep -q "\"virtual-size\": *$size"; then
		bad "vessel sees a different size in qemu's $spec: $info"
	elif ! "$VESSEL" img convert -f "$1" -O raw "$out" "$T/back.raw" ||
	     ! cmp -s "$src" "$T/back.raw"; then
		bad "qemu's $spec does not read back identical in vessel"
	else
		ok "qemu $1 $2: vessel reads it identical"
	fi
	rm -f "$T/back.raw"
done

# ---- sparseness: 10 GiB holding 100 MiB ----
big=$T/big.raw
truncate -s 10G "$big"
i=0
while [ $i -lt 10 ]; do
	head -c 10485760 /dev/urandom | dd of="$big" bs=1M seek=$((i * 1000 + 7)) conv=notrunc status=none
	i=$((i + 1))
done
for spec in "vmdk monolithicSparse" "vmdk streamOptimized" "vpc dynamic"; do
	set -- $spec
	out=$T/big-$2.$1
	if ! "$VESSEL" img convert -O "$1" -o "subformat=$2" "$big" "$out"; then
		bad "10 GiB convert to $1 $2"
		continue
	fi
	kib=$(du -k "$out" | cut -f1)
	if [ "$kib" -gt $((100 * 1024 + 6 * 1024)) ] || [ "$kib" -lt $((100 * 1024)) ]; then
		bad "10 GiB with 100 MiB of data became $kib KiB as $1 $2"
	elif ! qemu-img compare -q -f raw -F "$1" "$big" "$out"; then
		bad "10 GiB $1 $2 differs from its source"
	else
		ok "10 GiB holding 100 MiB -> $1 $2 allocates $kib KiB"
	fi
	rm -f "$out"
done
rm -f "$big"

# ---- damaged input: clear errors, exit 1, no crash ----
expect_err() { # label expected-text command...
	label=$1 want=$2
	shift 2
	msg=$(ulimit -v 2000000; timeout 20 "$@" 2>&1)
	rc=$?
	if [ $rc -ne 1 ]; then
		bad "$label: exit $rc (want 1): $msg"
	elif ! printf '%s' "$msg" | grep -qF "$want"; then
		bad "$label: message lacks '$want': $msg"
	else
		ok "$label: $msg"
	fi
}
v=$T/v-monolithicSparse.vmdk
head -c 20000 "$v" > "$T/trunc.vmdk"
expect_err "truncated vmdk" "past the end" "$VESSEL" img convert -O raw "$T/trunc.vmdk" "$T/x.raw"
so=$T/v-streamOptimized.vmdk
head -c $(($(stat -c %s "$so") - 1024)) "$so" > "$T/trunc-so.vmdk"
expect_err "streamOptimized without footer" "footer" "$VESSEL" img convert -O raw "$T/trunc-so.vmdk" "$T/x.raw"
cp "$T/v-dynamic.vpc" "$T/sum.vhd"
printf 'X' | dd of="$T/sum.vhd" bs=1 seek=600 conv=notrunc status=none
expect_err "dynamic header checksum" "checksum mismatch" "$VESSEL" img info "$T/sum.vhd"
mkdir -p "$T/d"
cat > "$T/d/esc.vmdk" <<EOF
# Disk DescriptorFile
version=1
CID=12345678
parentCID=ffffffff
createType="monolithicFlat"
RW 2048 FLAT "../src.raw" 0
EOF
expect_err "descriptor escaping its directory" "'..'" "$VESSEL" img info "$T/d/esc.vmdk"
sed -i 's|"../src.raw"|"/etc/passwd"|' "$T/d/esc.vmdk"
expect_err "descriptor with an absolute path" "absolute" "$VESSEL" img info "$T/d/esc.vmdk"
if ls "$T"/x.raw* >/dev/null 2>&1; then
	bad "a failed conversion left output behind"
fi

[ $fail -eq 0 ]
