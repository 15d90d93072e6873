#!/bin/sh
# Run the integration scripts of `make check` in order. Each exits 0 (pass),
# 77 (skip: it prints why) or anything else (fail). Ends with the summary line.
pass=0 fail=0 skip=0
for t in "$@"; do
	echo "== $t"
	sh "$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)); echo "   skipped" ;;
	*) fail=$((fail + 1)); echo "   FAILED (exit $rc)" ;;
	esac
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
