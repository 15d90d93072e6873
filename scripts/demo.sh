#!/bin/sh
# make demo: vessel's main job end to end on the default recipe.
#
#   1. build recipes/web.yaml into a bundle: Debian's stock kernel, a busybox
#      initramfs with the virtio modules (packages fetched with apt-get
#      download), and a qcow2 data disk holding a small website;
#   2. inspect the bundle;
#   3. run it in the background on vessel's binary translator, with the
#      recipe's port forward 8080 -> 80;
#   4. fetch http://127.0.0.1:8080/ with curl from the busybox httpd in the
#      guest and print the page;
#   5. power the guest off through its console and wait for vessel to exit 0.
set -eu
: "${VESSEL:=build/dbg/vessel}"
RECIPE=${DEMO_RECIPE:-recipes/web.yaml}
OUT=${DEMO_OUT:-build/demo}
PORT=${DEMO_PORT:-8080}
mkdir -p "$OUT"
bundle="$OUT/$(basename "$RECIPE" .yaml).vessel"
rm -rf "$bundle"
fifo="$OUT/console.in"
log="$OUT/console.log"
rm -f "$fifo" "$log"
mkfifo "$fifo"
vm=""
cleanup() {
	[ -n "$vm" ] && kill "$vm" 2>/dev/null || true
	exec 3>&- 2>/dev/null || true
	rm -f "$fifo"
}
trap cleanup EXIT INT TERM

echo "== vessel build $RECIPE"
"$VESSEL" build "$RECIPE" -o "$bundle"
echo
echo "== vessel inspect $bundle"
"$VESSEL" inspect "$bundle"
echo
echo "== vessel run $bundle   (in the background; console in $log)"
"$VESSEL" run --engine bt "$bundle" <"$fifo" >"$log" 2>&1 &
vm=$!
exec 3>"$fifo"   # keeps the guest's console input open until we are done

# wait for the guest's httpd (the init script says when it serves)
i=0
until grep -q "serving /srv/www" "$log" 2>/dev/null; do
	if ! kill -0 "$vm" 2>/dev/null; then
		cat "$log"
		echo "demo: vessel exited before the guest served its site" >&2
		exit 1
	fi
	i=$((i + 1))
	if [ "$i" -gt 600 ]; then
		cat "$log"
		echo "demo: the guest did not start its web server within 5 minutes" >&2
		exit 1
	fi
	sleep 0.5
done
echo "   guest is up: $(grep -m1 'serving /srv/www' "$log")"
echo
echo "== curl http://127.0.0.1:$PORT/"
curl -fsS --retry 5 --retry-delay 1 --retry-connrefused "http://127.0.0.1:$PORT/"
echo
echo "== poweroff (typed into the guest's console)"
echo "poweroff -f" >&3
exec 3>&-
status=0
wait "$vm" || status=$?
vm=""
tail -n 3 "$log"
if [ "$status" -ne 0 ]; then
	echo "demo: vessel run exited with status $status" >&2
	exit 1
fi
echo "== the guest powered off; vessel run exited 0"
