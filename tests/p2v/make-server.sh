#!/bin/sh
# Build the P2V stand-in "physical server": Debian 12 (bookworm) installed
# with debootstrap into the ext4 first partition of an MBR disk image, with a
# kernel, an initramfs, an /etc/fstab that names /dev/sda1 (as old
# installers wrote it) and GRUB for BIOS installed the way an installer does
# it: grub-install --target=i386-pc onto the disk (boot.img in the MBR,
# core.img in the gap before the partition) from a chroot on the mounted
# partition, and a grub.cfg written by update-grub whose kernel lines say
# root=/dev/sda1 (GRUB_DISABLE_LINUX_UUID=true; on the real server
# grub-probe would have named sda1, here it would name the loop partition,
# so GRUB_DEVICE is set to /dev/sda1 for that one run). No root password:
# the goal of a boot is the "p2v-server login:" prompt; systemd starts a
# getty on ttyS0 when console=ttyS0 is on the kernel command line.
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
command -v partx >/dev/null || { echo "make-server: partx not installed" >&2; exit 77; }
command -v losetup >/dev/null && [ -e /dev/loop-control ] ||
	{ echo "make-server: no loop devices here (grub-install needs one)" >&2; exit 77; }

mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
	awk '{ print $2 }' | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' \
	/etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

mkdir -p "$cache"
work=$(mktemp -d "$cache/work.XXXXXX")
loop=
cleanup() {
	for m in proc sys dev/pts dev; do
		umount "$work/mnt/$m" 2>/dev/null || true
	done
	umount "$work/mnt" 2>/dev/null || true
	if [ -n "$loop" ]; then
		partx -d "$loop" 2>/dev/null || true
		losetup -d "$loop" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# 1. the root tree (tarball of debs cached beside, so a rerun after a
#    failure does not download again; named by the include list, so changing
#    the list downloads again). grub-pc-bin + grub2-common are what grub-pc
#    installs, without grub-pc's debconf-driven postinst (which would try to
#    run grub-install on a device it cannot know inside debootstrap).
inc=linux-image-amd64,initramfs-tools,systemd-sysv,udev,kmod,ifupdown,grub-pc-bin,grub2-common
debs="$cache/bookworm-debs-$(echo "$inc" | sha256sum | cut -c1-12).tgz"
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
GRUB_TIMEOUT=2
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
GRUB_DISABLE_LINUX_UUID=true
EOF
rm -rf "$work/root/var/cache/apt/archives/"*.deb

# 3. the disk: MBR, one ext4 partition from 1 MiB, made from the tree
size_mib=3072
part_mib=$((size_mib - 1))
mkfs.ext4 -q -F -L p2v-root -d "$work/root" "$work/part.img" "${part_mib}M" >&2
truncate -s "${size_mib}M" "$work/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/disk.raw" >&2
dd if="$work/part.img" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$work/part.img"

# 4. GRUB, as the installer does it, from a chroot on the mounted partition.
#    losetup -P asks the kernel to scan the partition table; a kernel built
#    without MSDOS_PARTITION (this build host's) does not, and then partx
#    adds the partition itself (BLKPG) for grub-probe to find.
loop=$(losetup -P -f --show "$work/disk.raw")
for i in 1 2 3 4 5 6 7 8 9 10; do
	[ -b "${loop}p1" ] && break
	[ "$i" = 3 ] && { partx -a "$loop" 2>/dev/null || true; }
	sleep 0.5
done
[ -b "${loop}p1" ] || { echo "make-server: ${loop}p1 did not appear" >&2; exit 1; }
mkdir "$work/mnt"
mount "${loop}p1" "$work/mnt"
for m in dev dev/pts proc sys; do
	mount --bind "/$m" "$work/mnt/$m"
done
chroot "$work/mnt" grub-install --target=i386-pc "$loop" >&2
mkdir -p "$work/mnt/etc/default/grub.d"
echo 'GRUB_DEVICE=/dev/sda1   # what grub-probe says on the real server' \
	>"$work/mnt/etc/default/grub.d/zz-standin.cfg"
chroot "$work/mnt" update-grub >&2
rm "$work/mnt/etc/default/grub.d/zz-standin.cfg"
grep -q 'linux.*/vmlinuz-.* root=/dev/sda1 ' "$work/mnt/boot/grub/grub.cfg" ||
	{ echo "make-server: grub.cfg does not say root=/dev/sda1" >&2; exit 1; }
for m in sys proc dev/pts dev; do
	umount "$work/mnt/$m"
done
umount "$work/mnt"
partx -d "$loop" 2>/dev/null || true
losetup -d "$loop"
loop=
mv "$work/disk.raw" "$img"
echo "$img"
