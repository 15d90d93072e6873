#!/bin/sh
# Copy kernel modules out of the Debian kernel package that
# scripts/fetch-guest.sh cached, for boot tests and benchmarks whose
# initramfs loads them (fetch-guest.sh keeps no modules in its tree).
#
# Usage: scripts/guest-modules.sh GUEST_DIR OUT_DIR MODULE...
#
# Copies each MODULE.ko (found by name anywhere in the package) into OUT_DIR
# and prints their paths on one line, in the order given. Exit 2 when
# GUEST_DIR/debs holds no kernel package, 3 when a module is not in it
# (the reason on stderr).
set -eu

guest=${1:?usage: guest-modules.sh GUEST_DIR OUT_DIR MODULE...}
out=${2:?usage: guest-modules.sh GUEST_DIR OUT_DIR MODULE...}
shift 2
deb=$(ls "$guest"/debs/linux-image-*.deb 2>/dev/null | head -n 1 || true)
[ -n "$deb" ] || { echo "guest-modules: no kernel .deb cached in $guest/debs" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
set -f # the tar patterns below are not for the shell
pats=
for m in "$@"; do
	pats="$pats */$m.ko"
done
# tar complains about patterns it does not find: the loop below reports them
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards $pats 2>/dev/null || true
list=
for m in "$@"; do
	f=$(find "$tmp" -name "$m.ko" | head -n 1)
	[ -n "$f" ] || { echo "guest-modules: module $m.ko not in $deb" >&2; exit 3; }
	cp "$f" "$out/"
	list="$list $out/$m.ko"
done
echo $list
