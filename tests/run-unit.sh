#!/bin/sh
# Run every Check suite given on the command line; Check prints each suite's
# summary line. Exits non-zero if any suite fails.
failed=0
for t in "$@"; do
	echo "== $t"
	"$t" || failed=$((failed + 1))
done
if [ "$failed" -ne 0 ]; then
	echo "unit: $failed suite(s) failed"
	exit 1
fi
