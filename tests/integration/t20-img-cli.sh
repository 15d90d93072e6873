#!/bin/sh
# vessel img: command line contract. --help, usage errors (exit 2), failures
# (exit 1, "vessel: CONTEXT: MESSAGE"), check's qemu-img exit codes
# (0 clean, 2 corruption, 3 leaks only), compare's (0 same, 1 different),
# info --json, map, resize, create options and -o help.
set -u
: "${VESSEL:?VESSEL must point to the vessel binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/vsl-t20cli-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "   ok   $*"; }
bad() { echo "   FAIL $*"; fail=1; }
rc_is() { # expected-rc description command...
	want=$1 what=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	[ $got -eq "$want" ] && ok "$what (exit $got)" ||
		bad "$what: exit $got, want $want: $(cat "$T/err")"
}

rc_is 0 "img --help" "$VESSEL" img --help
grep -q "convert \[-f FMT\]" "$T/out" || bad "--help does not document convert"
rc_is 0 "img convert --help" "$VESSEL" img convert --help
rc_is 2 "no subcommand" "$VESSEL" img
rc_is 2 "unknown subcommand" "$VESSEL" img frobnicate
rc_is 2 "create without size" "$VESSEL" img create -f qcow2 "$T/x.qcow2"
rc_is 2 "create with a bad size" "$VESSEL" img create -f qcow2 "$T/x.qcow2" 12Q
rc_is 1 "create with an unknown format" "$VESSEL" img create -f qcow9 "$T/x.img" 1M
grep -q "^vessel: img create: unknown image format 'qcow9'" "$T/err" || bad "error format: $(cat "$T/err")"
rc_is 1 "create with a bad option" "$VESSEL" img create -f qcow2 -o cluster_size=3 "$T/x.qcow2" 1M
[ -e "$T/x.qcow2" ] && bad "failed create left a file"
rc_is 0 "create -o help" "$VESSEL" img create -f qcow2 -o help
grep -q cluster_size "$T/out" || bad "-o help lacks cluster_size"
rc_is 1 "info on a missing file" "$VESSEL" img info "$T/missing.qcow2"

rc_is 0 "create qcow2 64M" "$VESSEL" img create -f qcow2 -o cluster_size=4096 "$T/a.qcow2" 64M
rc_is 0 "info --json" "$VESSEL" img info --json "$T/a.qcow2"
grep -q '"virtual-size": 67108864' "$T/out" && grep -q '"cluster-size": 4096' "$T/out" ||
	bad "info --json content: $(cat "$T/out")"
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" || bad "info --json is not JSON"
fi
rc_is 0 "check a clean image" "$VESSEL" img check "$T/a.qcow2"
grep -q "No errors were found" "$T/out" || bad "check text"

# data, then map and compare
head -c 100000 /dev/urandom > "$T/d.bin"
truncate -s 64M "$T/d.raw"
dd if="$T/d.bin" of="$T/d.raw" bs=1 seek=5000000 conv=notrunc 2>/dev/null
rc_is 0 "convert -p -m 2" env VESSEL_PROGRESS=1 "$VESSEL" img convert -p -m 2 -O qcow2 "$T/d.raw" "$T/d.qcow2"
grep -q "convert" "$T/err" || bad "-p drew no progress"
rc_is 0 "compare identical" "$VESSEL" img compare "$T/d.raw" "$T/d.qcow2"
rc_is 1 "compare different" "$VESSEL" img compare "$T/a.qcow2" "$T/d.qcow2"
grep -q "Content mismatch at offset 50000[0-9][0-9]!" "$T/out" || bad "compare offset: $(cat "$T/out")"
rc_is 0 "map --json" "$VESSEL" img map --json "$T/d.qcow2"
grep -q '"data": true' "$T/out" || bad "map lists no data: $(cat "$T/out")"
rc_is 0 "map" "$VESSEL" img map "$T/d.qcow2"
[ "$(grep -c '^0x' "$T/out")" -ge 1 ] || bad "map human output"
rc_is 2 "convert -m 0" "$VESSEL" img convert -m 0 -O raw "$T/d.qcow2" "$T/y.raw"

# resize
rc_is 0 "resize +1G" "$VESSEL" img resize "$T/d.qcow2" +1G
rc_is 1 "shrink without --shrink" "$VESSEL" img resize "$T/d.qcow2" 1M
rc_is 0 "raw resize --shrink" "$VESSEL" img resize --shrink "$T/d.raw" 6M
[ "$(stat -c %s "$T/d.raw")" = 6291456 ] || bad "raw shrink size"

# check exit codes: leak (3) and corruption (2), made with a hex editor's worth of dd
here=$(cd "$(dirname "$0")/../.." && pwd)
sh "$here/tests/data/images/make-bad-qcow2.sh" "$T/bad" >/dev/null
rc_is 2 "check a corrupt image" "$VESSEL" img check "$T/bad/qcow2-refcount-overlap.qcow2"
cp "$T/bad/qcow2-good.qcow2" "$T/leak.qcow2"
printf '\000\000\000\000\000\000\000\000' | dd of="$T/leak.qcow2" bs=1 seek=2048 conv=notrunc 2>/dev/null
rc_is 3 "check an image with a leak" "$VESSEL" img check "$T/leak.qcow2"
grep -q "1 leaked clusters" "$T/out" || bad "leak text: $(cat "$T/out")"
if command -v qemu-img >/dev/null 2>&1; then
	qemu-img check -q "$T/leak.qcow2" >/dev/null 2>&1
	[ $? -eq 3 ] && ok "qemu-img agrees: leak" || bad "qemu-img disagrees on the leak"
fi
exit $fail
