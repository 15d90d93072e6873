#!/bin/sh
# Hostile qcow2 images (tests/data/images/make-bad-qcow2.sh): vessel must
# refuse each with a clear error naming the problem, exit 1, and never crash,
# hang or allocate without bound; `img check` must flag structural damage.
set -u
: "${VESSEL:?VESSEL must point to the vessel binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/vsl-t20bad-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
here=$(cd "$(dirname "$0")/../.." && pwd)
sh "$here/tests/data/images/make-bad-qcow2.sh" "$T" || { echo "cannot generate images"; exit 1; }
fail=0

expect() { # image-suffix expected-text
	img=$T/qcow2-$1.qcow2
	# bound memory to 2 GB (not under ASan: its shadow mapping needs the address space)
	msg=$(case "${MODE:-}" in asan) ;; *) ulimit -v 2000000 ;; esac
	      timeout 20 "$VESSEL" img convert -O raw "$img" "$T/out.raw" 2>&1)
	rc=$?
	if [ $rc -ne 1 ]; then
		echo "   FAIL $1: exit $rc (want 1): $msg"
		fail=1
	elif ! printf '%s' "$msg" | grep -qF "$2"; then
		echo "   FAIL $1: message lacks '$2': $msg"
		fail=1
	else
		echo "   ok   $1: $msg"
	fi
	if ls "$T"/out.raw* >/dev/null 2>&1; then
		echo "   FAIL $1: a failed conversion left output behind"
		fail=1
		rm -f "$T"/out.raw*
	fi
}

"$VESSEL" img convert -O raw "$T/qcow2-good.qcow2" "$T/good.raw" &&
	[ "$(head -c 512 "$T/good.raw" | tr -d A | wc -c)" -eq 0 ] &&
	"$VESSEL" img check "$T/qcow2-good.qcow2" >/dev/null && echo "   ok   the good image reads and checks clean" ||
	{ echo "   FAIL the good image"; fail=1; }
rm -f "$T/good.raw"

expect cluster-bits "cluster_bits 30 is outside 9..21"
expect huge-size "is absurd (>= 2^62)"
expect huge-l1 "L1 table of 268435456 entries is larger than the limit"
expect l1-small "L1 table has 1 entries but the virtual size 1048576 needs 32"
expect l1-overlaps-header "L1 table offset 0x0 overlaps the header"
expect l1-past-eof "L1 table offset 0x100000000 is past the end of the file"
expect l1-unaligned "L1 table offset 0x640 is not aligned"
expect l2-past-eof "L2 table offset 0x100000 of L1 entry 0 is past the end of the file"
expect data-past-eof "data cluster offset 0x100000 of virtual cluster 0 is past the end of the file"
expect compressed-range "compressed cluster descriptor of virtual cluster 0"
expect compressed-garbage "does not inflate"
expect header-ext "header extension 0x12345678 at offset 104 is 100000 bytes long"
expect header-length "header length 1000 is invalid"
expect refcount-order "refcount_order 9 is larger than 6"
expect backing-name "backing file name (offset 480, 900 bytes) is not inside the header cluster"
expect incompat "unknown incompatible features 0x100"
expect backing-loop "backing file loop"

out=$("$VESSEL" img check "$T/qcow2-refcount-overlap.qcow2" 2>&1)
rc=$?
if [ $rc -eq 2 ] && printf '%s' "$out" | grep -q "errors were found"; then
	echo "   ok   refcount-overlap: check reports corruption (exit 2)"
else
	echo "   FAIL refcount-overlap: check exit $rc: $out"
	fail=1
fi
exit $fail
