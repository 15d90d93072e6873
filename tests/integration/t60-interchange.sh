#!/bin/sh
# vessel export / vessel import against independent oracles:
#  - OVA: member order (.ovf, .mf, disks), manifest lines exactly
#    "SHA256(name)= hex" and matching sha256sum/sha1sum/sha512sum, the OVF
#    valid against the DMTF OVF 1.1.1 schema (xmllint), the disks
#    streamOptimized VMDK version 3 that qemu-img checks and finds identical
#    to the bundle's disks; export memory stays bounded for a large disk;
#  - OVF directory, .vmx (+ ddb.adapterType consistent with the controller)
#    and libvirt XML (virt-xml-validate, virsh -c test:///default define);
#  - import of each back into a bundle: configuration and disk content
#    preserved (qemu-img compare);
#  - bad input: OVA members with '..', absolute names or links, a manifest
#    that does not match, an absent disk, XML entity bombs and external
#    entities, absolute/escaping .vmx disk paths: exit 1, a message naming
#    the problem, nothing written.
set -u
: "${VESSEL:?VESSEL must point to the vessel binary}"
for tool in qemu-img qemu-io xmllint; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "$tool not installed (packages qemu-utils, libxml2-utils): an oracle is missing"
		exit 77
	fi
done
if ! "$VESSEL" export --help >/dev/null 2>&1; then
	echo "this vessel has no 'export' command"
	exit 77
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=$ROOT/tests/data/interchange
SCHEMA=$ROOT/../shared/data/ovf-1.1.1/dsp8023_1.1.1.xsd
T=$(mktemp -d "${TMPDIR:-/tmp}/vsl-t60-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "   ok   $*"; }
bad() { echo "   FAIL $*"; fail=1; }
# expect_fail WHAT PATTERN CMD...: exit status 1 and stderr matching PATTERN
expect_fail() {
	what=$1 pat=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ $rc -eq 1 ] && grep -q -- "$pat" "$T/err"; then
		ok "$what: $(grep -m1 -- "$pat" "$T/err")"
	else
		bad "$what: exit $rc, stderr: $(cat "$T/err")"
	fi
}

cd "$T" || exit 1

# ---- a bundle: a virtio qcow2 boot disk and an IDE raw disk ----
mkdir -p demo.vessel/disks demo.vessel/boot
qemu-img create -q -f qcow2 demo.vessel/disks/root.qcow2 96M
qemu-io -c 'write -P 0xab 1M 3M' -c 'write -P 0x11 40M 512k' -c 'write -P 0x7e 95M 1M' \
	demo.vessel/disks/root.qcow2 >/dev/null
head -c 2000000 /dev/urandom > rnd
qemu-io -c 'write -P 0 20M 64k' demo.vessel/disks/root.qcow2 >/dev/null
qemu-img create -q -f raw demo.vessel/disks/data.img 8M
dd if=rnd of=demo.vessel/disks/data.img bs=1M seek=2 conv=notrunc status=none
cat > demo.vessel/vessel.yaml <<'EOF'
vessel-bundle: 1
name: demo
arch: x86_64
cpus: 2
memory: 512M
boot:
  firmware: bios
  disk: root
disks:
- name: root
  file: disks/root.qcow2
  format: qcow2
  bus: virtio
  read-only: false
- name: data
  file: disks/data.img
  format: raw
  bus: ide
  read-only: false
network:
- mode: user
  model: virtio
  mac: "52:54:00:12:34:56"
EOF
(cd demo.vessel && find . -type f ! -name MANIFEST | sed 's|^\./||' | LC_ALL=C sort |
	while read -r f; do sha256sum --tag "$f"; done > MANIFEST)
"$VESSEL" inspect demo.vessel >/dev/null 2>&1 || { bad "test bundle does not load"; exit 1; }

# compare_bundle A B: name, cpus, memory, disks (names, buses), network, and disk contents
compare_bundle() {
	for key in 'name:' 'cpus:' 'memory:' 'mac:' '  disk:' '  bus:' '- name:' 'firmware:'; do
		a=$(grep -- "$key" "$1/vessel.yaml")
		b=$(grep -- "$key" "$2/vessel.yaml")
		[ "$a" = "$b" ] || { bad "$3: '$key' differs: '$a' vs '$b'"; return; }
	done
	qemu-img compare -q demo.vessel/disks/root.qcow2 "$2/disks/root.qcow2" &&
		qemu-img compare -q -f raw demo.vessel/disks/data.img "$2/disks/data.qcow2" &&
		ok "$3: configuration and disk contents preserved" ||
		bad "$3: disk contents differ"
	"$VESSEL" inspect "$2" >/dev/null 2>&1 || bad "$3: the imported bundle does not load"
}

# ---- OVA ----
if "$VESSEL" export demo.vessel --to ova -o demo.ova 2>err; then
	ok "export --to ova"
else
	bad "export --to ova: $(cat err)"
fi
members=$(tar -tf demo.ova | tr '\n' ' ')
[ "$members" = "demo.ovf demo.mf demo-disk1.vmdk demo-disk2.vmdk " ] &&
	ok "OVA member order: $members" || bad "OVA member order: $members"
mkdir ova && tar -xf demo.ova -C ova
if grep -qvE '^SHA256\([^)]+\)= [0-9a-f]{64}$' ova/demo.mf; then
	bad "manifest line format: $(cat ova/demo.mf)"
else
	ok "manifest lines are SHA256(name)= hex"
fi
(cd ova && sed 's/^SHA256(\(.*\))= \(.*\)$/\2  \1/' demo.mf | sha256sum -c --quiet) &&
	ok "manifest matches sha256sum" || bad "manifest does not match the members"
if [ -f "$SCHEMA" ]; then
	xmllint --noout --nonet --schema "$SCHEMA" ova/demo.ovf 2>xerr &&
		ok "OVF valid against DSP8023 1.1.1 (xmllint)" ||
		bad "OVF not schema-valid: $(grep -v 'Skipping import' xerr)"
else
	bad "OVF schema missing at $SCHEMA"
fi
grep -q 'xmlns="http://schemas.dmtf.org/ovf/envelope/1"' ova/demo.ovf && ok "OVF 1.x namespace" ||
	bad "OVF namespace"
v=$(od -An -tx1 -j0 -N8 ova/demo-disk1.vmdk | tr -d ' ')
[ "$v" = "4b444d5603000000" ] && ok "disk member is a VMDK version 3 (streamOptimized)" ||
	bad "VMDK header: $v"
qemu-img info ova/demo-disk1.vmdk | grep -q 'create type: streamOptimized' || bad "not streamOptimized"
qemu-img check -q ova/demo-disk1.vmdk && ok "qemu-img check accepts the VMDK" || bad "qemu-img check"
grep -q 'ddb.adapterType = "lsilogic"' ova/demo-disk1.vmdk && grep -q 'ddb.adapterType = "ide"' ova/demo-disk2.vmdk &&
	ok "VMDK adapter types match the OVF controllers" || bad "VMDK adapter types"
qemu-img compare -q demo.vessel/disks/root.qcow2 ova/demo-disk1.vmdk &&
	qemu-img compare -q -f raw demo.vessel/disks/data.img ova/demo-disk2.vmdk &&
	ok "OVA disks identical to the bundle's (qemu-img compare)" || bad "OVA disks differ"
size=$(stat -c %s ova/demo-disk1.vmdk)
grep -q "ovf:size=\"$size\"" ova/demo.ovf && ok "References size = member size ($size)" ||
	bad "References size"
for alg in sha1 sha512; do
	ALG=$(echo $alg | tr a-z A-Z)
	"$VESSEL" -q export demo.vessel --to ova --digest $alg -o d-$alg.ova &&
		tar -xOf d-$alg.ova demo.mf > mf-$alg && mkdir x-$alg && tar -xf d-$alg.ova -C x-$alg &&
		grep -q "^$ALG(demo.ovf)= " mf-$alg &&
		(cd x-$alg && sed "s/^$ALG(\(.*\))= \(.*\)\$/\2  \1/" ../mf-$alg | ${alg}sum -c --quiet) &&
		ok "--digest $alg: $ALG manifest verified by ${alg}sum" || bad "--digest $alg"
done
expect_fail "export over an existing file" "already exists" "$VESSEL" export demo.vessel --to ova -o demo.ova

# memory stays bounded: a 320 MiB disk of random data through the OVA writer
mkdir -p big.vessel/disks
head -c $((320 * 1048576)) /dev/urandom > big.vessel/disks/big.img
cat > big.vessel/vessel.yaml <<'EOF'
vessel-bundle: 1
name: big
arch: x86_64
cpus: 1
memory: 64M
boot:
  firmware: bios
  disk: big
disks:
- name: big
  file: disks/big.img
  format: raw
EOF
(cd big.vessel && for f in disks/big.img vessel.yaml; do sha256sum --tag "$f"; done > MANIFEST)
if [ -x /usr/bin/time ]; then
	/usr/bin/time -f %M -o rss "$VESSEL" -q export big.vessel --to ova -m 2 -o big.ova &&
		kb=$(tail -n 1 rss) &&
		if [ "$kb" -lt 131072 ]; then
			ok "OVA export of a 320 MiB disk: max RSS $((kb / 1024)) MiB (bounded)"
		else
			bad "OVA export of a 320 MiB disk used $((kb / 1024)) MiB"
		fi
else
	"$VESSEL" -q export big.vessel --to ova -o big.ova || bad "big export"
	echo "   note /usr/bin/time missing (package time): memory bound not measured"
fi
rm -f big.vessel/disks/big.img

# ---- import the OVA ----
"$VESSEL" import demo.ova -o back.vessel 2>err && ok "import OVA" || bad "import OVA: $(cat err)"
compare_bundle demo.vessel back.vessel "OVA round trip"
"$VESSEL" import d-sha512.ova -o back512.vessel 2>/dev/null && ok "import a SHA512 OVA" || bad "import SHA512"
expect_fail "import over an existing bundle" "already exists" "$VESSEL" import demo.ova -o back.vessel

# ---- OVF directory ----
"$VESSEL" -q export demo.vessel --to ovf -o demo-ovf && [ -f demo-ovf/demo.ovf ] && [ -f demo-ovf/demo.mf ] &&
	ok "export --to ovf" || bad "export --to ovf"
[ -f "$SCHEMA" ] && { xmllint --noout --nonet --schema "$SCHEMA" demo-ovf/demo.ovf 2>/dev/null ||
	bad "OVF directory descriptor not schema-valid"; }
"$VESSEL" -q import demo-ovf/demo.ovf -o ovf.vessel && compare_bundle demo.vessel ovf.vessel "OVF round trip"

# ---- VMX ----
"$VESSEL" -q export demo.vessel --to vmx -o demo-vmx && ok "export --to vmx" || bad "export --to vmx"
for k in 'config.version = "8"' 'virtualHW.version = "13"' 'displayName = "demo"' 'guestOS = ' \
	'memsize = "512"' 'numvcpus = "2"' 'scsi0.virtualDev = "lsilogic"' \
	'scsi0:0.fileName = "demo-disk1.vmdk"' 'ide0:0.fileName = "demo-disk2.vmdk"' \
	'ethernet0.present = "TRUE"' 'ethernet0.address = "52:54:00:12:34:56"' 'serial0.present = "TRUE"'; do
	grep -qF "$k" demo-vmx/demo.vmx || bad ".vmx lacks $k"
done
grep -q 'ddb.adapterType = "lsilogic"' demo-vmx/demo-disk1.vmdk &&
	grep -q 'ddb.adapterType = "ide"' demo-vmx/demo-disk2.vmdk &&
	ok ".vmx controllers match the VMDKs' ddb.adapterType" || bad "vmx adapter types"
qemu-img check -q demo-vmx/demo-disk1.vmdk && qemu-img compare -q demo.vessel/disks/root.qcow2 demo-vmx/demo-disk1.vmdk &&
	ok ".vmx disk checks and matches" || bad ".vmx disk"
"$VESSEL" -q import demo-vmx/demo.vmx -o vmx.vessel 2>/dev/null || bad "import .vmx"
# a .vmx has no disk names: compare by position
qemu-img compare -q demo.vessel/disks/root.qcow2 vmx.vessel/disks/disk1.qcow2 &&
	qemu-img compare -q -f raw demo.vessel/disks/data.img vmx.vessel/disks/disk2.qcow2 &&
	grep -q 'disk: disk1' vmx.vessel/vessel.yaml && grep -q 'memory: 512M' vmx.vessel/vessel.yaml &&
	ok ".vmx round trip: boot disk, memory and disk contents preserved" || bad ".vmx round trip"

# ---- libvirt ----
"$VESSEL" -q export demo.vessel --to libvirt -o demo.xml && ok "export --to libvirt" || bad "export --to libvirt"
grep -q "<source file=\"$T/demo.vessel/disks/root.qcow2\"/>" demo.xml && grep -q 'type="qcow2"' demo.xml &&
	grep -q '<model type="virtio"/>' demo.xml && ok "domain XML uses the bundle's disks, format declared" ||
	bad "domain XML content"
if command -v virt-xml-validate >/dev/null 2>&1; then
	virt-xml-validate demo.xml domain >/dev/null 2>&1 && ok "virt-xml-validate accepts it" ||
		bad "virt-xml-validate: $(virt-xml-validate demo.xml domain 2>&1 | tail -3)"
else
	bad "virt-xml-validate missing (package libvirt-clients)"
fi
if command -v virsh >/dev/null 2>&1; then
	virsh -q -c test:///default define demo.xml >vout 2>&1 && ok "virsh -c test:///default define" ||
		bad "virsh define: $(cat vout)"
else
	bad "virsh missing (package libvirt-clients)"
fi
"$VESSEL" -q import demo.xml -o xml.vessel 2>/dev/null || bad "import domain XML"
qemu-img compare -q demo.vessel/disks/root.qcow2 xml.vessel/disks/disk1.qcow2 &&
	qemu-img compare -q -f raw demo.vessel/disks/data.img xml.vessel/disks/disk2.qcow2 &&
	grep -q '52:54:00:12:34:56' xml.vessel/vessel.yaml && ok "libvirt round trip" || bad "libvirt round trip"

# ---- real tools' descriptors ----
cp "$DATA/virsh-dumpxml.xml" web01.xml && qemu-img create -q -f qcow2 web01.qcow2 16M
"$VESSEL" import web01.xml -o web01.vessel 2>err && grep -q 'name: web01' web01.vessel/vessel.yaml &&
	grep -q 'not mapped' err && ok "virsh dumpxml imported, unmapped devices warned ($(grep -c 'not mapped' err))" ||
	bad "virsh dumpxml import: $(cat err)"

# virt-v2v -o rhv/vdsm output: an oVirt export storage domain
cp -r "$DATA/ovirt-export" ovirt
img=ovirt/images/3f2e1d0c-9b8a-4765-8432-10fedcba9876
mkdir -p $img && qemu-img create -q -f raw $img/a1b2c3d4-e5f6-4789-8abc-def012345678 16M &&
	qemu-io -f raw -c 'write -P 0x42 1M 1M' $img/a1b2c3d4-e5f6-4789-8abc-def012345678 >/dev/null
"$VESSEL" -q import ovirt/master/vms/*/*.ovf -o ovirt.vessel 2>err &&
	grep -q 'name: legacy-srv' ovirt.vessel/vessel.yaml && grep -q 'cpus: 2' ovirt.vessel/vessel.yaml &&
	qemu-img compare -q -f raw $img/a1b2c3d4-e5f6-4789-8abc-def012345678 ovirt.vessel/disks/disk1.qcow2 &&
	ok "virt-v2v oVirt OVF (export storage domain layout) imported" || bad "oVirt OVF import: $(cat err)"

# ---- bad input ----
before=$(ls | LC_ALL=C sort | tr '\n' ' ')
mkdir evil && cd evil
cp ../ova/demo.ovf ../ova/demo.mf ../ova/demo-disk1.vmdk ../ova/demo-disk2.vmdk .
tar -cf ../dotdot.ova -P --transform='s|^demo-disk2.vmdk$|../escaped.vmdk|' demo.ovf demo.mf demo-disk1.vmdk demo-disk2.vmdk 2>/dev/null
tar -cf ../abs.ova -P --transform="s|^demo-disk2.vmdk\$|$T/abs-evil|" demo.ovf demo.mf demo-disk1.vmdk demo-disk2.vmdk 2>/dev/null
grep -v 'demo-disk2' demo.mf > m2 && mv m2 demo.mf
tar -cf ../missing.ova demo.ovf demo.mf demo-disk1.vmdk
cp ../ova/demo.mf .
sed 's/^\(SHA256(demo-disk1.vmdk)= \).*/\10000000000000000000000000000000000000000000000000000000000000000/' demo.mf > m && mv m demo.mf
tar -cf ../mismatch.ova demo.ovf demo.mf demo-disk1.vmdk demo-disk2.vmdk
cp ../ova/demo.mf . && rm demo-disk2.vmdk && ln -s /etc/passwd demo-disk2.vmdk
tar -cf ../symlink.ova demo.ovf demo.mf demo-disk1.vmdk demo-disk2.vmdk
cd .. && rm -rf evil
expect_fail "OVA member with '..'" "'..' component" "$VESSEL" import dotdot.ova -o x.vessel
expect_fail "OVA member with an absolute name" "absolute path" "$VESSEL" import abs.ova -o x.vessel
expect_fail "OVA member that is a link" "is a link" "$VESSEL" import symlink.ova -o x.vessel
expect_fail "manifest mismatch" "member 'demo-disk1.vmdk' does not match the manifest" "$VESSEL" import mismatch.ova -o x.vessel
expect_fail "disk absent from the OVA" "not in the OVA" "$VESSEL" import missing.ova -o x.vessel
expect_fail "entity bomb" "DOCTYPE" "$VESSEL" import "$DATA/bad/billion-laughs.ovf" -o x.vessel
expect_fail "external entity" "DOCTYPE" "$VESSEL" import "$DATA/bad/external-entity.ovf" -o x.vessel
expect_fail "absurd disk capacity" "overflows" "$VESSEL" import "$DATA/bad/absurd-capacity.ovf" -o x.vessel
cp "$DATA/bad/absolute-disk.vmx" "$DATA/bad/dotdot-disk.vmx" .
expect_fail ".vmx disk with an absolute path" "is absolute; refused" "$VESSEL" import absolute-disk.vmx -o x.vessel
expect_fail ".vmx disk escaping with '..'" "'..' component; refused" "$VESSEL" import dotdot-disk.vmx -o x.vessel
expect_fail ".vmx disk that is absent" "is missing" "$VESSEL" import "$DATA/vmware-workstation.vmx" -o x.vessel
rm -f absolute-disk.vmx dotdot-disk.vmx
after=$(ls | LC_ALL=C sort | grep -v '\.ova$' | tr '\n' ' ')
before=$(echo "$before" | tr ' ' '\n' | grep -v '\.ova$' | grep . | tr '\n' ' ')
[ "$before" = "$after" ] && [ ! -e escaped.vmdk ] && [ ! -e "$T/abs-evil" ] && [ ! -e ../escaped.vmdk ] &&
	ok "failed imports wrote nothing" || bad "failed imports left files: '$before' vs '$after'"

# ---- usage ----
"$VESSEL" export --help | grep -q -- '--chunk-size' && "$VESSEL" import --help | grep -q -- '--from' &&
	ok "--help" || bad "--help"
"$VESSEL" export demo.vessel --to tarball >/dev/null 2>&1; [ $? -eq 2 ] && ok "unknown --to is a usage error" ||
	bad "unknown --to exit status"

exit $fail
