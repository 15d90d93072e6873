#!/bin/sh
# An OVA exported by vessel passes `virt-v2v-inspector -i ova` (package
# virt-v2v): virt-v2v parses vessel's OVF, verifies its manifest, opens the
# streamOptimized VMDK inside the tar, inspects the guest and plans its
# conversion. One libguestfs launch (under TCG, 1-4 minutes here).
#
# The guest is a fixture made here without root or loop devices
# (mkfs.ext4 -d): a Debian-like root filesystem with the host's kernel and
# its virtio modules, a grub.cfg, /etc/initramfs-tools/modules, a dpkg database naming busybox-static and
# the kernel package, busybox as the userland, and shell stubs for the
# tools virt-v2v runs in the guest (dpkg -S/-L, grub-mkconfig,
# update-initramfs), which such a fixture cannot have for real.
set -u
: "${VESSEL:?VESSEL must point to the vessel binary}"
if ! command -v virt-v2v-inspector >/dev/null 2>&1; then
	echo "virt-v2v-inspector not installed (package virt-v2v)"
	exit 77
fi
for tool in qemu-img mkfs.ext4 busybox; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "$tool not installed: cannot make the fixture guest"
		exit 77
	fi
done
K=$(ls /boot/vmlinuz-* 2>/dev/null | head -n 1 | sed 's|/boot/vmlinuz-||')
if [ -z "$K" ] || [ ! -d "/lib/modules/$K" ] || [ ! -r "/boot/vmlinuz-$K" ]; then
	echo "no readable kernel in /boot with its modules (package linux-image-amd64): libguestfs needs one too"
	exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/vsl-t61-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

# ---- the fixture guest ----
R=$T/root
mkdir -p $R/etc/default $R/bin $R/sbin $R/usr/bin $R/usr/sbin $R/boot/grub $R/root $R/tmp \
	$R/proc $R/sys $R/dev $R/var/lib/dpkg/info $R/lib/modules/$K/kernel/drivers
cp /etc/os-release /etc/debian_version $R/etc/ 2>/dev/null || echo 12.0 > $R/etc/debian_version
echo fixture > $R/etc/hostname
echo "/dev/sda / ext4 defaults 0 1" > $R/etc/fstab
echo 'GRUB_CMDLINE_LINUX=""' > $R/etc/default/grub
mkdir -p $R/etc/modprobe.d $R/etc/initramfs-tools
echo '# modules for the initramfs' > $R/etc/initramfs-tools/modules
echo '# fixture: no module options' > $R/etc/modprobe.d/fixture.conf
cp "$(command -v busybox)" $R/bin/busybox
for b in sh ls echo rm cat grep sed cut sort head tail mkdir cp mv ln chmod uname find xargs awk test true false; do
	ln -s busybox $R/bin/$b
done
ln -s ../bin/busybox $R/sbin/init
cp /boot/vmlinuz-$K $R/boot/
[ -r /boot/config-$K ] && cp /boot/config-$K $R/boot/
echo 'fixture initrd (never booted)' > $R/boot/initrd.img-$K
for m in drivers/block/virtio_blk.ko drivers/net/virtio_net.ko drivers/scsi/virtio_scsi.ko \
	drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci.ko \
	drivers/virtio/virtio_balloon.ko; do
	for f in /lib/modules/$K/kernel/$m /lib/modules/$K/kernel/$m.xz; do
		[ -f "$f" ] && mkdir -p "$R$(dirname "$f")" && cp "$f" "$R$f"
	done
done
cp /lib/modules/$K/modules.dep $R/lib/modules/$K/ 2>/dev/null
cat > $R/boot/grub/grub.cfg <<EOF
set default=0
menuentry 'Debian GNU/Linux' {
	linux /boot/vmlinuz-$K root=/dev/sda ro console=ttyS0
}
EOF
cat > $R/var/lib/dpkg/status <<EOF
Package: busybox-static
Status: install ok installed
Architecture: amd64
Version: 1:1.35.0-4+b3
Description: Standalone rescue shell with tons of builtin utilities

Package: linux-image-$K
Status: install ok installed
Architecture: amd64
Version: 6.1.0-1
Description: Linux kernel

EOF
echo /bin/busybox > $R/var/lib/dpkg/info/busybox-static.list
{ printf '/boot\n/boot/vmlinuz-%s\n/boot/initrd.img-%s\n/lib\n/lib/modules\n/lib/modules/%s\n' $K $K $K
  [ -f $R/boot/config-$K ] && echo /boot/config-$K
  (cd $R && find lib/modules/$K -type f | sed 's|^|/|'); } > $R/var/lib/dpkg/info/linux-image-$K.list
cat > $R/usr/bin/dpkg <<'EOF'
#!/bin/sh
# test stub of dpkg: -S (file owner) and -L (file list) from the .list files
case "$1" in
-S|--search)
	shift
	for f in "$@"; do
		for l in /var/lib/dpkg/info/*.list; do
			if grep -q -x "$f" "$l"; then
				p=${l##*/}; echo "${p%.list}: $f"; found=1
			fi
		done
	done
	[ -n "$found" ] ;;
-L|--listfiles)
	shift
	p=${1%%:*}
	[ -f "/var/lib/dpkg/info/$p.list" ] && cat "/var/lib/dpkg/info/$p.list" ;;
*) exit 0 ;;
esac
EOF
cp $R/usr/bin/dpkg $R/usr/bin/dpkg-query
for s in grub-mkconfig update-grub update-initramfs; do
	printf '#!/bin/sh\n# test stub: the fixture has no real %s\nexit 0\n' $s > $R/usr/sbin/$s
done
chmod 755 $R/usr/bin/dpkg $R/usr/bin/dpkg-query $R/usr/sbin/*
truncate -s 128M root.img
mkfs.ext4 -q -F -d $R root.img || { echo "   FAIL mkfs.ext4 -d"; exit 1; }

# ---- the bundle, exported ----
mkdir -p fx.vessel/disks
qemu-img convert -O qcow2 root.img fx.vessel/disks/root.qcow2
cat > fx.vessel/vessel.yaml <<'EOF'
vessel-bundle: 1
name: fx
arch: x86_64
cpus: 1
memory: 256M
boot:
  firmware: bios
  disk: root
disks:
- name: root
  file: disks/root.qcow2
  format: qcow2
network:
- mode: user
  mac: "52:54:00:ab:cd:ef"
EOF
(cd fx.vessel && for f in disks/root.qcow2 vessel.yaml; do sha256sum --tag "$f"; done > MANIFEST)
"$VESSEL" -q export fx.vessel --to ova -o fx.ova || { echo "   FAIL vessel export"; exit 1; }

# ---- virt-v2v reads it ----
LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
	virt-v2v-inspector -i ova fx.ova -O out.xml >log 2>&1
rc=$?
fail=0
if [ $rc -ne 0 ]; then
	echo "   FAIL virt-v2v-inspector -i ova exited $rc:"
	sed 's/^/        /' log | tail -15
	exit 1
fi
echo "   ok   virt-v2v-inspector -i ova accepted vessel's OVA"
for pat in '<name>linux</name>' '<distro>debian</distro>' '<arch>x86_64</arch>'; do
	if grep -q "$pat" out.xml; then
		echo "   ok   inspection: $pat"
	else
		echo "   FAIL inspection lacks $pat"
		fail=1
	fi
done
[ $fail -ne 0 ] && sed 's/^/        /' out.xml | head -40
exit $fail
