#!/bin/sh
# make demo: vessel's main job end to end on the default recipe.
#
#   1. build recipes/hello.yaml (Debian's stock kernel + a busybox initramfs,
#      packages fetched with apt-get download) into a bundle;
#   2. inspect the bundle;
#   3. boot it on vessel's own x86-64 CPU, type two commands at the guest's
#      shell through the serial console, and power the guest off.
set -eu
: "${VESSEL:=build/dbg/vessel}"
RECIPE=${DEMO_RECIPE:-recipes/hello.yaml}
OUT=${DEMO_OUT:-build/demo}
mkdir -p "$OUT"
bundle="$OUT/$(basename "$RECIPE" .yaml).vessel"
rm -rf "$bundle"

echo "== vessel build $RECIPE"
"$VESSEL" build "$RECIPE" -o "$bundle"
echo
echo "== vessel inspect $bundle"
"$VESSEL" inspect "$bundle"
echo
echo "== vessel run $bundle   (commands are typed into the guest's console)"
printf '%s\n' \
	'echo "guest: $(uname -sr) on $(grep -c ^processor /proc/cpuinfo) vCPU, $(grep MemTotal /proc/meminfo | tr -s " ")"' \
	'echo "sha256 of /etc/motd: $(sha256sum /etc/motd)"' \
	'poweroff -f' | "$VESSEL" run "$bundle"
echo
echo "== the guest powered off; vessel run exited 0"
