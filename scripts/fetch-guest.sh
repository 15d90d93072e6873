#!/bin/sh
# Fetch the guest used by vessel's boot tests and benchmarks: the real Debian
# kernel (linux-image-amd64 -> linux-image-6.1.*-amd64) and busybox-static,
# downloaded with apt-get and unpacked with dpkg-deb into a cache directory.
# Idempotent: when the files are present it only prints their paths.
#
# Usage: scripts/fetch-guest.sh [-d DIR] [--initramfs OUT.cpio.gz INIT_SCRIPT [FILE...]]
#
#   -d DIR       cache directory (default: build/guest, or $VESSEL_GUEST_DIR)
#   --initramfs  also build a gzip'd newc initramfs at OUT.cpio.gz whose /init
#                is INIT_SCRIPT (a busybox sh script), with every FILE copied
#                to the initramfs root. A default /init is used if INIT_SCRIPT
#                is "-": it mounts proc, sys, devtmpfs, prints a line and
#                powers off.
#
# Prints "kernel=PATH" and "busybox=PATH" (and "initramfs=PATH") on stdout.
set -eu

dir=${VESSEL_GUEST_DIR:-build/guest}
initramfs=
init_script=
if [ "${1:-}" = "-d" ]; then
	dir=$2
	shift 2
fi
if [ "${1:-}" = "--initramfs" ]; then
	[ $# -ge 3 ] || { echo "fetch-guest: --initramfs needs OUT and INIT_SCRIPT" >&2; exit 2; }
	initramfs=$2
	init_script=$3
	shift 3
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

kernel=$(ls "$dir"/root/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
busybox="$dir/root/bin/busybox"

fetch() {
	# $1 = package name; downloads the .deb into $dir/debs (once)
	mkdir -p "$dir/debs"
	if ! ls "$dir/debs/$1"_*.deb >/dev/null 2>&1; then
		( cd "$dir/debs" && apt-get download "$1" >&2 ) || {
			echo "fetch-guest: apt-get download $1 failed (run 'apt-get update' first?)" >&2
			exit 1
		}
	fi
	dpkg-deb -x "$(ls "$dir/debs/$1"_*.deb | head -n 1)" "$dir/root"
}

if [ -z "$kernel" ]; then
	# linux-image-amd64 is a metapackage: follow its Depends to the real image.
	real=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$real" ]; then
		apt-get update -qq >&2 || true
		real=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	fi
	[ -n "$real" ] || { echo "fetch-guest: cannot resolve linux-image-amd64's kernel package" >&2; exit 1; }
	fetch "$real"
	# the modules are not needed for an initramfs boot: keep the cache small
	rm -rf "$dir/root/lib/modules" "$dir/root/usr/lib/modules"
	kernel=$(ls "$dir"/root/boot/vmlinuz-* | head -n 1)
fi
if [ ! -x "$busybox" ]; then
	fetch busybox-static
fi
[ -x "$busybox" ] || { echo "fetch-guest: busybox-static did not provide bin/busybox" >&2; exit 1; }

echo "kernel=$kernel"
echo "busybox=$busybox"

[ -n "$initramfs" ] || exit 0

command -v cpio >/dev/null || { echo "fetch-guest: cpio is missing (scripts/deps.sh installs it)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/sbin" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" \
	"$stage/usr/bin" "$stage/usr/sbin"
cp "$busybox" "$stage/bin/busybox"
for app in $("$busybox" --list); do
	[ "$app" = busybox ] || ln -sf busybox "$stage/bin/$app"
done
if [ "$init_script" = "-" ]; then
	cat >"$stage/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "vessel-guest: hello from $(uname -r)"
poweroff -f
INIT
else
	cp "$init_script" "$stage/init"
fi
chmod 755 "$stage/init"
for f in "$@"; do
	cp "$f" "$stage/"
done
out_dir=$(dirname "$initramfs")
mkdir -p "$out_dir"
out=$(cd "$out_dir" && pwd)/$(basename "$initramfs")
( cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 ) | gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
echo "initramfs=$out"
