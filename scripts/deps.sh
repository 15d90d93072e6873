#!/bin/sh
# Install every Debian package vessel needs to build, test and run.
# Idempotent, and fast when everything is present (one dpkg-query call).
# Usage: scripts/deps.sh [--check]   (--check: only report what is missing)
set -eu

# One package per line; keep sorted within each group.
PACKAGES="
build-essential
pkg-config
check
libsubunit-dev
libarchive-dev
libblkid-dev
libdeflate-dev
libelf-dev
libext2fs-dev
libglib2.0-dev
libguestfs-dev
libslirp-dev
libssl-dev
libxml2-dev
libyaml-dev
libzydis-dev
zlib1g-dev
busybox-static
e2fsprogs
fdisk
cpio
curl
debootstrap
libguestfs-tools
libguestfs-xfs
linux-image-amd64
libvirt-clients
libxml2-utils
qemu-system-x86
qemu-utils
virt-v2v
openssh-server
"

missing=$(dpkg-query -W -f='${Package} ${Status}\n' $PACKAGES 2>/dev/null |
	awk '$NF != "installed" { print $1 }')
# packages dpkg has never heard of are not listed by dpkg-query -W at all
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')

[ -z "${missing# }" ] && exit 0
if [ "${1:-}" = "--check" ]; then
	echo "missing packages: $missing"
	exit 1
fi
echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
