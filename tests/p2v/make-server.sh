#!/bin/sh
# Build the P2V stand-in "physical server": Debian 12 (bookworm) installed
# with debootstrap into the ext4 first partition of an MBR disk image, with a
# kernel, an initramfs and an /etc/fstab that names /dev/sda1 (as old
# installers wrote it). GRUB is not installed yet (grub-install into an image
# needs a device map; a later slice adds it).
#
# Usage: tests/p2v/make-server.sh CACHE_DIR
# Prints the path of the disk image on stdout. The image is cached in
# CACHE_DIR keyed by this script's sha256, so only the first run pays for
# debootstrap (a few minutes). Needs root (debootstrap chroots).
#
# The Debian mirror is the one apt is configured with (the allowed registry):
# read from /etc/apt/sources.list(.d), falling back to deb.debian.org.
set -eu

cache=${1:?usage: make-server.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
key=$(sha256sum "$here/make-server.sh" | cut -c1-16)
img="$cache/server-$key.raw"
if [ -f "$img" ]; then
	echo "$img"
	exit 0
fi
[ "$(id -u)" = 0 ] || { echo "make-server: needs root (debootstrap)" >&2; exit 77; }
command -v debootstrap >/dev/null || { echo "make-server: debootstrap not installed" >&2; exit 77; }
command -v sfdisk >/dev/null || { echo "make-server: sfdisk not installed" >&2; exit 77; }

mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
	awk '{ print $2 }' | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' \
	/etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

mkdir -p "$cache"
work=$(mktemp -d "$cache/work.XXXXXX")
cleanup() {
	for m in proc sys dev/pts dev; do
		umount "$work/root/$m" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# 1. the root tree (tarball of debs cached beside, so a rerun after a
#    failure does not download again)
debs="$cache/bookworm-debs.tgz"
inc=linux-image-amd64,initramfs-tools,systemd-sysv,udev,kmod,ifupdown
if [ ! -f "$debs" ]; then
	debootstrap --variant=minbase --include=$inc --make-tarball="$debs.part" \
		bookworm "$work/tb" "$mirror" >&2
	mv "$debs.part" "$debs"
fi
debootstrap --variant=minbase --include=$inc --unpack-tarball="$debs" \
	bookworm "$work/root" "$mirror" >&2

# 2. the things a P2V conversion must fix
cat >"$work/root/etc/fstab" <<EOF
# /etc/fstab of the stand-in server (device paths, as old installers wrote)
/dev/sda1  /      ext4  errors=remount-ro  0 1
proc       /proc  proc  defaults           0 0
EOF
echo p2v-server >"$work/root/etc/hostname"
mkdir -p "$work/root/etc/default"
cat >"$work/root/etc/default/grub" <<EOF
GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX="root=/dev/sda1"
EOF
rm -rf "$work/root/var/cache/apt/archives/"*.deb

# 3. the disk: MBR, one ext4 partition from 1 MiB, made from the tree
size_mib=3072
part_mib=$((size_mib - 1))
mkfs.ext4 -q -F -L p2v-root -d "$work/root" "$work/part.img" "${part_mib}M" >&2
truncate -s "${size_mib}M" "$work/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/disk.raw" >&2
dd if="$work/part.img" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
mv "$work/disk.raw" "$img"
echo "$img"
