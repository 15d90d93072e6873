#!/bin/sh
# The README's demo (scripts/demo.sh): build recipes/web.yaml, run it on the
# translator in the background, fetch the guest's page through the 8080
# port forward, power the guest off. Checks the page arrived and vessel run
# exited 0.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d /tmp/vsl-t71-XXXXXX)
trap 'rm -rf "$out"' EXIT
log=$out/demo.log
if command -v ss >/dev/null && ss -ltn 2>/dev/null | grep -q '[:.]8080 '; then
	echo "t71: host port 8080 is already in use; the demo needs it"
	exit 1
fi
cd "$ROOT" || exit 1
DEMO_OUT=$out/demo sh scripts/demo.sh >"$log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	tail -n 40 "$log"
	echo "t71: FAIL: scripts/demo.sh exited $rc"
	exit 1
fi
fail=0
grep -q '<h1>vessel web appliance</h1>' "$log" || { echo "t71: FAIL: the guest's page was not printed"; fail=1; }
grep -q 'reboot: Power down' "$log" || { echo "t71: FAIL: the guest did not power off"; fail=1; }
grep -q 'vessel run exited 0' "$log" || { echo "t71: FAIL: vessel run did not exit 0"; fail=1; }
[ $fail -eq 0 ] || { tail -n 40 "$log"; exit 1; }
echo "t71-demo: ok: web bundle built, page served through 127.0.0.1:8080, guest powered off"
