#!/bin/sh
# Regenerate the bundles of tests/data/bundles (run from anywhere; needs
# qemu-img and sha256sum). Each bad-*.vessel breaks one rule of
# docs/bundle.md; its expected stderr from `vessel inspect` is kept in
# bad-*.vessel.expected (reviewed line by line, checked by
# tests/integration/t10-inspect.sh). MANIFEST lines are sha256sum --tag's
# "SHA256 (path) = hex", the bundle format's own.
set -eu
cd "$(dirname "$0")"

manifest() { # write MANIFEST of bundle $1 (regular files only, sorted)
	(cd "$1" && find . -type f ! -name MANIFEST | sed 's|^\./||' | LC_ALL=C sort |
		while read -r f; do sha256sum --tag "$f"; done > MANIFEST)
}

base() { # bundle $1 with boot/ and disks/ contents, no vessel.yaml
	rm -rf "$1"
	mkdir -p "$1/boot" "$1/disks"
	printf 'not a real kernel: test data for vessel inspect\n' > "$1/boot/vmlinuz"
	printf 'not a real initrd\n' > "$1/boot/initrd.img"
	qemu-img create -q -f qcow2 -o cluster_size=512 "$1/disks/root.qcow2" 1M
}

# A valid bundle: direct kernel boot, one qcow2 disk, user networking.
base valid.vessel
cat > valid.vessel/vessel.yaml <<'Y'
vessel-bundle: 1
name: demo
arch: x86_64
cpus: 2
memory: 512M
boot:
  kernel: boot/vmlinuz
  initrd: boot/initrd.img
  cmdline: console=ttyS0 root=/dev/vda rw
disks:
- name: root
  file: disks/root.qcow2
  format: qcow2
  bus: virtio
  read-only: false
network:
- mode: user
  model: virtio
  mac: 52:54:00:12:34:56
  forward:
  - protocol: tcp
    host: 8080
    guest: 80
serial:
  port: com1
  output: stdio
provenance:
  recipe: demo.yaml
  recipe-digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
  vessel-version: 0.1.0
  sources:
  - uri: https://deb.debian.org/debian/dists/bookworm
Y
manifest valid.vessel

# A valid bundle booting a disk with BIOS firmware, minimal keys.
rm -rf valid-bios.vessel
mkdir -p valid-bios.vessel/disks
qemu-img create -q -f raw valid-bios.vessel/disks/boot.img 64K
cat > valid-bios.vessel/vessel.yaml <<'Y'
vessel-bundle: 1
name: legacy-server
arch: x86_64
cpus: 1
memory: 16M
boot:
  firmware: bios
  disk: boot
disks:
- name: boot
  file: disks/boot.img
  format: raw
Y
manifest valid-bios.vessel

# The same with the optional guest: mapping (what p2v records).
rm -rf valid-guest.vessel
cp -r valid-bios.vessel valid-guest.vessel
cat >> valid-guest.vessel/vessel.yaml <<'Y'
guest:
  os: linux
  distro: debian
  version: "12.15"
  product: Debian GNU/Linux 12 (bookworm)
Y
manifest valid-guest.vessel

# Broken bundles start as copies of valid.vessel with one change.
broken() { # name, then the vessel.yaml on stdin
	base "$1"
	cat > "$1/vessel.yaml"
	manifest "$1"
}

sed 's/^  kernel: boot\/vmlinuz$/  kernel: boot\/vmlinuz: x/' valid.vessel/vessel.yaml | broken bad-syntax.vessel
sed 's/^  - protocol: tcp$/  - [protocol: tcp/' valid.vessel/vessel.yaml | broken bad-syntax2.vessel
sed -e 's/^memory:/memroy:/' -e 's/^  bus: virtio/  buss: virtio/' -e 's/^  cmdline:/  comdline:/' \
	valid.vessel/vessel.yaml | broken bad-unknown-key.vessel
sed -e 's/^cpus: 2/cpus: "2"/' -e 's/^memory: 512M/memory: [512M]/' -e 's/^  read-only: false/  read-only: yes/' \
	-e 's/^    host: 8080/    host: http/' -e 's/^name: demo/name: {first: demo}/' \
	valid.vessel/vessel.yaml | broken bad-types.vessel
sed -e '/^name:/d' -e '/^cpus:/d' -e '/^  file:/d' valid.vessel/vessel.yaml | broken bad-missing.vessel
sed -e 's/^cpus: 2/cpus: 0/' -e 's/^memory: 512M/memory: 0/' valid.vessel/vessel.yaml | broken bad-zero.vessel
sed -e 's/^cpus: 2/cpus: 100000/' -e 's/^memory: 512M/memory: 64T/' valid.vessel/vessel.yaml | broken bad-absurd.vessel
sed -e 's/^memory: 512M/memory: 8M/' -e 's/^cpus: 2/cpus: 257/' valid.vessel/vessel.yaml | broken bad-small.vessel
sed -e 's/^vessel-bundle: 1/vessel-bundle: 2/' valid.vessel/vessel.yaml | broken bad-version.vessel
sed -e 's|^  file: disks/root.qcow2|  file: ../../etc/passwd|' -e 's|^  kernel: boot/vmlinuz|  kernel: /boot/vmlinuz|' \
	valid.vessel/vessel.yaml | broken bad-escape.vessel

# a disk that is a symlink to a file outside the bundle
broken bad-symlink-file.vessel < valid.vessel/vessel.yaml
rm bad-symlink-file.vessel/disks/root.qcow2
ln -s ../../valid.vessel/disks/root.qcow2 bad-symlink-file.vessel/disks/root.qcow2
manifest bad-symlink-file.vessel

# boot/ is a symlink to a directory outside the bundle
broken bad-symlink-dir.vessel < valid.vessel/vessel.yaml
rm -r bad-symlink-dir.vessel/boot
ln -s ../valid.vessel/boot bad-symlink-dir.vessel/boot
manifest bad-symlink-dir.vessel

# MANIFEST: a changed disk, a file missing from it, a listed file missing
broken bad-manifest.vessel < valid.vessel/vessel.yaml
printf 'extra\n' > bad-manifest.vessel/boot/README
printf 'stale\n' > bad-manifest.vessel/boot/old-kernel
manifest bad-manifest.vessel
rm bad-manifest.vessel/boot/old-kernel
rm bad-manifest.vessel/boot/README
printf 'added later\n' > bad-manifest.vessel/disks/notes.txt
printf 'X' | dd of=bad-manifest.vessel/disks/root.qcow2 bs=1 seek=1000 conv=notrunc status=none

# no MANIFEST at all
broken bad-no-manifest.vessel < valid.vessel/vessel.yaml
rm bad-no-manifest.vessel/MANIFEST

# a disk whose format is not what vessel.yaml says
broken bad-format.vessel < valid.vessel/vessel.yaml
rm bad-format.vessel/disks/root.qcow2
qemu-img create -q -f raw bad-format.vessel/disks/root.qcow2 64K
manifest bad-format.vessel

# a qcow2 disk whose backing file lies outside the bundle
broken bad-backing.vessel < valid.vessel/vessel.yaml
rm bad-backing.vessel/disks/root.qcow2
(cd bad-backing.vessel/disks && qemu-img create -q -f qcow2 -o cluster_size=512 \
	-b ../../valid.vessel/disks/root.qcow2 -F qcow2 root.qcow2)
manifest bad-backing.vessel

# many problems at once, from every check
sed -e 's/^cpus: 2/cpus: 0/' -e 's/^  bus: virtio/  bus: virtoi/' -e 's/^arch: x86_64/arch: arm64/' \
	-e 's/^serial:/serail:/' -e 's/^  mac: 52:54:00:12:34:56/  mac: 01:00:5e:00:00:01/' \
	-e 's|^  initrd: boot/initrd.img|  initrd: boot/initrd.gz|' \
	valid.vessel/vessel.yaml | broken bad-multi.vessel
printf 'tampered\n' > bad-multi.vessel/boot/vmlinuz
