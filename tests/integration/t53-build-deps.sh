#!/bin/sh
# vessel build: package dependencies, staging directories of killed builds,
# and hostile packages through the whole pipeline.
#
# Part A needs no network: it makes a private apt repository (file: URI,
# private lists, APT_CONFIG) of tiny packages built here with ar and tar:
#   - a package list gets the closure apt picks: an alternative whose first
#     choice does not exist, a virtual package with one provider; versions
#     pinned; the same answer from an empty cache; two builds identical
#   - depends: false takes only the named packages (initramfs and sources)
#   - a dependency apt cannot download, unsatisfiable dependencies, hostile
#     members (.., absolute, escaping symlink, a path through a symlink; also
#     inside a dependency), an undefined variable: exit 1, the recipe line
#     named, nothing left behind
#   - tarball sources (gzip, xz) unpacked; hostile ones (the same four
#     kinds), a non-archive and a wrong sha256 pin refused at their line
#   - stale staging directories: one whose lock holder was SIGKILLed is
#     removed (and said so); a running build's and a --keep-failed one stay
#   - --prune-cache keeps the recently used entries within the size given
#   - --export ova/libvirt after the build, replaced by a rebuild
#   - disks from existing images (VMDK, raw) without changes: converted only
# Part B uses Debian's packages (skipped without apt's lists): busybox gets
# libc6 and what libc6 needs; a real `vessel build` is SIGKILLed mid-way and
# the next build removes its staging directory.
set -u
: "${VESSEL:?VESSEL must point at the vessel binary}"
top=$(cd "$(dirname "$0")/../.." && pwd)
case "${BUILD:-}" in /*) b=$BUILD ;; ?*) b=$top/$BUILD ;; *) b=$top/build ;; esac
for t in apt-get apt-cache ar tar gzip sha256sum flock; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "skip: $t is not installed"
		exit 77
	fi
done
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
ok() { n=$((n + 1)); echo "ok   $*"; }
bad() { n=$((n + 1)); fail=$((fail + 1)); echo "FAIL $*"; }
export SOURCE_DATE_EPOCH=0

# ---- Part A: a private apt repository ----
repo=$tmp/repo
mkdir -p "$repo/pool" "$repo/lists/partial" "$repo/cache" "$repo/empty" "$tmp/work"
# mkdeb NAME VERSION 'Extra: control lines' -- TAR ARGS...: data.tar.gz from tar ARGS run in $tmp/work
mkdeb() {
	name=$1 ver=$2 extra=$3
	shift 4
	d=$tmp/deb.$name
	mkdir -p "$d"
	{
		printf 'Package: %s\nVersion: %s\nArchitecture: all\n' "$name" "$ver"
		printf 'Maintainer: vessel tests <tests@example.invalid>\n'
		[ -n "$extra" ] && printf '%s\n' "$extra"
		printf 'Description: vessel test package\n'
	} >"$d/control"
	printf '2.0\n' >"$d/debian-binary"
	(cd "$d" && tar -czf control.tar.gz ./control) &&
	(cd "$tmp/work" && tar -czf "$d/data.tar.gz" "$@") &&
	(cd "$d" && ar rc "$repo/pool/${name}_${ver}_all.deb" debian-binary control.tar.gz data.tar.gz) ||
		{ echo "cannot make $name"; exit 1; }
	{
		cat "$d/control"
		printf 'Filename: pool/%s_%s_all.deb\n' "$name" "$ver"
		printf 'Size: %s\n' "$(wc -c <"$repo/pool/${name}_${ver}_all.deb" | tr -d ' ')"
		printf 'SHA256: %s\n\n' "$(sha256sum "$repo/pool/${name}_${ver}_all.deb" | cut -d' ' -f1)"
	} >>"$repo/Packages"
	rm -rf "$d"
}
w=$tmp/work
mkdir -p "$w/app/usr/bin" "$w/lib/usr/lib/vt" "$w/prov/usr/share/vt" "$w/solo/usr/bin"
echo app >"$w/app/usr/bin/vt-app"
echo lib >"$w/lib/usr/lib/vt/libvt.so"
echo prov >"$w/prov/usr/share/vt/prov"
echo solo >"$w/solo/usr/bin/vt-solo"
mkdeb vt-app 1.0 'Depends: vt-missing | vt-lib (>= 2), vt-virt' -- -C app .
mkdeb vt-lib 2.0 '' -- -C lib .
mkdeb vt-prov 1.0 'Provides: vt-virt' -- -C prov .
mkdeb vt-solo 1.0 'Depends: vt-lib' -- -C solo .
mkdeb vt-broken 1.0 'Depends: vt-nowhere (>= 9)' -- -C solo .
# hostile members: tar -P keeps leading ../ and /
mkdeb vt-dotdot 1.0 '' -- -P --transform 's,^solo/usr/bin/,../../etc/,' solo/usr/bin/vt-solo
mkdeb vt-abs 1.0 '' -- -P "$w/solo/usr/bin/vt-solo"
mkdir -p "$w/esc/lib" "$w/via/usr" && ln -s ../../../.. "$w/esc/lib/up" &&
	ln -s /etc "$w/via/usr/l" && mkdir -p "$w/via2/usr/l" && echo x >"$w/via2/usr/l/passwd"
mkdeb vt-esc 1.0 '' -- -C esc .
mkdeb vt-via 1.0 '' -- -C via . -C ../via2 usr/l/passwd
mkdeb vt-evil-dep 1.0 'Depends: vt-dotdot' -- -C solo .
echo "deb [trusted=yes] file:$repo ./" >"$repo/sources.list"
cat >"$repo/apt.conf" <<EOF
Dir::Etc::sourcelist "$repo/sources.list";
Dir::Etc::sourceparts "$repo/empty";
Dir::Etc::preferencesparts "$repo/empty";
Dir::State::lists "$repo/lists";
Dir::Cache "$repo/cache";
APT::Sandbox::User "root";
EOF
if ! APT_CONFIG=$repo/apt.conf apt-get update -q >"$tmp/err" 2>&1 ||
   ! APT_CONFIG=$repo/apt.conf apt-cache show vt-app >/dev/null 2>&1; then
	echo "skip: apt cannot read a private file: repository here:"
	sed 's/^/    /' "$tmp/err"
	exit 77
fi
export APT_CONFIG="$repo/apt.conf" VESSEL_CACHE="$tmp/cache"
printf 'not a kernel\n' >"$tmp/vmlinuz"
cd "$tmp" || exit 1
leftovers() { ls -A "$tmp/out" 2>/dev/null; }

cat >app.yaml <<'Y'
vessel: 1
machine: {name: app}
boot:
  kernel: {file: vmlinuz}
  initramfs:
    packages: [vt-app]
    init: "#!/bin/sh\n"
sources:
  - {name: solo, package: vt-solo}
  - {name: bare, package: vt-solo, depends: false}
customize:
  - copy-in: solo
    to: /opt/solo
  - copy-in: bare
    to: /opt/bare
Y
if "$VESSEL" build --dry-run app.yaml >plan1 2>err &&
   grep -qx 'package vt-lib 2.0 (sha256 [0-9a-f]*\.\.\.) \[dependency\]' plan1 &&
   grep -qx 'package vt-prov 1.0 (sha256 [0-9a-f]*\.\.\.) \[dependency\]' plan1 &&
   grep -qx 'initramfs packages: vt-app + 2 dependencies: vt-lib vt-prov' plan1 &&
   grep -qx 'source solo: package vt-solo + 1 dependency: vt-lib' plan1 &&
   grep -qx 'source bare: package vt-solo' plan1 && ! grep -q vt-missing plan1; then
	ok "dry run: alternative and virtual package resolved as apt does, dependencies listed"
else
	bad "dry run:"; cat plan1 err
fi
if VESSEL_CACHE=$tmp/cache-b "$VESSEL" build --dry-run app.yaml >plan2 2>err && cmp -s plan1 plan2; then
	ok "the closure is the same when computed again (empty cache)"
else
	bad "closure differs between runs:"; diff plan1 plan2
fi
if "$VESSEL" -q build --no-cache app.yaml -o out/a.vessel 2>err &&
   "$VESSEL" -q build --no-cache app.yaml -o out/b.vessel 2>>err &&
   diff -r out/a.vessel out/b.vessel >/dev/null &&
   zcat out/a.vessel/boot/initrd | cpio -it --quiet 2>/dev/null >list &&
   grep -qx usr/bin/vt-app list && grep -qx usr/lib/vt/libvt.so list &&
   grep -qx usr/share/vt/prov list && grep -qx opt/solo/usr/lib/vt/libvt.so list &&
   grep -qx opt/bare/usr/bin/vt-solo list && ! grep -q '^opt/bare/usr/lib' list &&
   grep -q 'uri: deb:vt-lib=2.0' out/a.vessel/vessel.yaml &&
   grep -q 'uri: deb:vt-prov=1.0' out/a.vessel/vessel.yaml; then
	ok "dependencies unpacked (initramfs and source), in provenance; two builds identical"
else
	bad "build with dependencies:"; cat err list
fi
rm -rf out
sed 's/    packages: \[vt-app\]/    packages: [vt-solo]\n    depends: false/' app.yaml >nodep.yaml
if "$VESSEL" -q build nodep.yaml -o out/n.vessel 2>err &&
   zcat out/n.vessel/boot/initrd | cpio -it --quiet 2>/dev/null >list &&
   grep -qx usr/bin/vt-solo list && ! grep -q '^usr/lib/vt' list; then
	ok "depends: false takes only the named package"
else
	bad "depends: false:"; cat err list
fi
rm -rf out

# failures: the recipe line, nothing left behind
expect_fail() { # NAME PACKAGE PATTERN
	sed "s/    packages: \[vt-app\]/    packages: [$2]/" app.yaml >"$1.yaml"
	if "$VESSEL" build "$1.yaml" -o out/x.vessel 2>err; then
		bad "$1: $2 was accepted"
	elif grep -q "^vessel: build: $1.yaml:6:16: $3" err && [ -z "$(leftovers)" ]; then
		ok "$1: $(grep '^vessel: build:' err | cut -c16-140)"
	else
		bad "$1 (wanted $3):"; cat err; leftovers
	fi
}
expect_fail unsat vt-broken "boot.initramfs.packages: apt cannot resolve the dependencies: .*vt-broken : Depends: vt-nowhere"
expect_fail dotdot vt-dotdot "package vt-dotdot: .*'\.\.' in path"
expect_fail abs vt-abs "package vt-abs: .*absolute"
expect_fail esc vt-esc "package vt-esc: .*points outside the root"
expect_fail via vt-via "package vt-via: .*symbolic link"
expect_fail evildep vt-evil-dep "package vt-dotdot: .*'\.\.' in path"
expect_fail nopkg vt-nosuch "package 'vt-nosuch' is not known to apt"
sed 's/    init: "#!\/bin\/sh\\n"/    init: "#!\/bin\/sh\\necho ${nosuch}\\n"/' app.yaml >undef.yaml
if "$VESSEL" build undef.yaml -o out/x.vessel 2>err; then
	bad "an undefined variable was accepted"
elif grep -q "^undef.yaml:7:[0-9]*: .*variable 'nosuch'" err && [ -z "$(leftovers)" ]; then
	ok "undefined variable: $(head -1 err | cut -c1-100)"
else
	bad "undefined variable:"; cat err; leftovers
fi

# a dependency apt cannot download (its archive lost the file): the package
# list's line, apt's message, nothing left behind
mv "$repo/pool/vt-prov_1.0_all.deb" "$tmp/vt-prov.deb"
if VESSEL_CACHE=$tmp/cache-dl "$VESSEL" build app.yaml -o out/x.vessel 2>err; then
	bad "a dependency that cannot be downloaded was accepted"
elif grep -q "^vessel: build: app.yaml:6:16: apt-get download vt-prov=1.0 failed: " err &&
     [ -z "$(leftovers)" ]; then
	ok "download failure of a dependency: $(grep '^vessel: build:' err | cut -c16-120)"
else
	bad "dependency download failure:"; cat err; leftovers
fi
mv "$tmp/vt-prov.deb" "$repo/pool/vt-prov_1.0_all.deb"

# tarball sources: unpacked with the same checks, the source's line named
mkdir -p "$w/site/css" && echo '<p>tar</p>' >"$w/site/index.html" && echo 'p{}' >"$w/site/css/s.css" &&
	ln -s index.html "$w/site/home.html"
(cd "$w" && tar -czf "$tmp/site.tar.gz" site && tar -cJf "$tmp/site.tar.xz" site &&
	tar -czf "$tmp/dotdot.tgz" -P --transform 's,^site/,../../,' site/index.html &&
	tar -czf "$tmp/abs.tgz" -P "$w/site/index.html" && tar -czf "$tmp/esc.tgz" -C esc lib &&
	tar -czf "$tmp/via.tgz" -C via usr -C ../via2 usr/l/passwd)
echo 'not a tarball' >"$tmp/junk.tgz"
tarrecipe() { # NAME TARBALL [SHA256]
	cat >"$1.yaml" <<Y
vessel: 1
machine: {name: tar}
boot:
  kernel: {file: vmlinuz}
  initramfs:
    init: "#!/bin/sh\n"
sources:
  - name: site
    tarball: $2
${3:+    sha256: $3}
customize:
  - copy-in: site
    to: /srv
Y
}
tarrecipe tgz site.tar.gz "$(sha256sum site.tar.gz | cut -d' ' -f1)"
tarrecipe txz site.tar.xz
if "$VESSEL" -q build tgz.yaml -o out/tgz.vessel 2>err && "$VESSEL" -q build txz.yaml -o out/txz.vessel 2>>err &&
   zcat out/tgz.vessel/boot/initrd | cpio -it --quiet 2>/dev/null >list &&
   grep -qx srv/site/index.html list && grep -qx srv/site/css/s.css list && grep -qx srv/site/home.html list &&
   zcat out/txz.vessel/boot/initrd | cpio -it --quiet 2>/dev/null | cmp -s - list &&
   grep -q "uri: file:.*site.tar.gz" out/tgz.vessel/vessel.yaml; then
	ok "tarball sources (gzip, xz) unpacked and copied in; digest in provenance"
else
	bad "tarball sources:"; cat err list
fi
rm -rf out
for c in "dotdot.tgz:'\.\.' in path" "abs.tgz:absolute path" "esc.tgz:points outside the root" \
	 "via.tgz:symbolic link" "junk.tgz:not a tar archive" \
	 "site.tar.gz:has sha256 [0-9a-f]*, the recipe pins 0000"; do
	f=${c%%:*} want=${c#*:}
	tarrecipe bad "$f" "$([ "$f" = site.tar.gz ] && printf '%064d' 0)"
	if "$VESSEL" build bad.yaml -o out/x.vessel 2>err; then
		bad "tarball $f was accepted"
	elif grep -q "^vessel: build: bad.yaml:8:5: source 'site': .*$want" err && [ -z "$(leftovers)" ]; then
		ok "tarball $f: $(grep '^vessel: build:' err | cut -c16-130)"
	else
		bad "tarball $f (wanted $want):"; cat err; leftovers
	fi
done

# a disk from an existing image, nothing changed: converted only (no appliance)
if command -v qemu-img >/dev/null 2>&1; then
	head -c 3000000 /dev/urandom >img.raw && truncate -s 8M img.raw &&
		qemu-img convert -O vmdk img.raw img.vmdk
	cat >img.yaml <<'Y'
vessel: 1
machine: {name: img}
boot:
  kernel: {file: vmlinuz}
disks:
  - name: old
    image: img.vmdk
  - name: raw
    image: img.raw
    format: raw
Y
	if "$VESSEL" build img.yaml -o out/img.vessel 2>err && ! grep -q libguestfs err &&
	   qemu-img compare -q img.raw out/img.vessel/disks/old.qcow2 &&
	   cmp -s img.raw out/img.vessel/disks/raw.raw &&
	   grep -q "sha256: \"*$(sha256sum img.vmdk | cut -d' ' -f1)" out/img.vessel/vessel.yaml &&
	   "$VESSEL" -q build --no-cache img.yaml -o out/img2.vessel 2>err && diff -r out/img.vessel out/img2.vessel; then
		ok "disks from images (VMDK to qcow2, raw): converted, no appliance, digest in provenance, reproducible"
	else
		bad "image disks:"; cat err
	fi
	rm -rf out
	{ printf 'QFI\373\000\000\000\003'; head -c 200 /dev/zero; } >img.vmdk # a broken qcow2 header
	if "$VESSEL" build img.yaml -o out/img.vessel 2>err; then
		bad "a broken image was accepted"
	elif grep -q "^img.yaml:7:12: disk 'old': image 'img.vmdk': .*qcow2" err && [ -z "$(leftovers)" ]; then
		ok "broken image: $(head -1 err | cut -c1-100)"
	else
		bad "broken image:"; cat err; leftovers
	fi
else
	echo "skip (image disks): qemu-img is not installed"
fi

# stale staging directories beside the output
mkdir -p out
"$VESSEL" -q build app.yaml -o out/app.vessel 2>err || { bad "build app"; cat err; }
mkdir out/.app.vessel.build-111-0 out/.app.vessel.build-222-0 out/.app.vessel.build-333-0
: >out/.app.vessel.build-111-0.lock
: >out/.app.vessel.build-222-0.lock
# 111: its lock holder is SIGKILLed; 222: held by a live process; 333: no lock (--keep-failed)
# (the process that execs sleep holds the lock itself, so killing it drops the lock)
(exec 9>>out/.app.vessel.build-111-0.lock && flock -x 9 && exec sleep 300) & p1=$!
(exec 9>>out/.app.vessel.build-222-0.lock && flock -x 9 && exec sleep 300) & p2=$!
sleep 0.5
kill -9 $p1
wait $p1 2>/dev/null
if "$VESSEL" build app.yaml -o out/app.vessel 2>err &&
   grep -q "removed .*out/.app.vessel.build-111-0, the staging directory of a build that was killed (pid 111)" err &&
   [ ! -e out/.app.vessel.build-111-0 ] && [ ! -e out/.app.vessel.build-111-0.lock ] &&
   [ -d out/.app.vessel.build-222-0 ] && [ -d out/.app.vessel.build-333-0 ] &&
   [ "$(ls -A out | grep -c build-)" = 3 ]; then
	ok "stale staging directory removed and reported; a running build's and a kept one left"
else
	bad "stale staging:"; cat err; ls -A out
fi
kill $p2 2>/dev/null
wait $p2 2>/dev/null
rm -rf out

# --export: the bundle handed to the exporters; a rebuild replaces the exports
ex_ok=true
for i in 1 2; do
	"$VESSEL" build app.yaml -o out/app.vessel --export ova --export libvirt >exp 2>err || ex_ok=false
	[ "$(ls -A out | tr '\n' ' ')" = "app.ova app.vessel app.xml " ] || ex_ok=false
done
if $ex_ok && tar -tf out/app.ova | grep -qx app.ovf && grep -q '<domain' out/app.xml &&
   grep -q 'exported out/app.ova' err && grep -q 'warning: boot: direct kernel boot' err; then
	ok "--export ova, libvirt after the build (twice: replaced)"
else
	bad "--export:"; cat err; ls -A out
fi
rm -rf out
mkdir -p out/app.ova
if "$VESSEL" build app.yaml -o out/app.vessel --export ova 2>err; then
	bad "--export over a directory that is no export succeeded"
elif grep -q "out/app.ova exists and is not an earlier export" err && [ -d out/app.ova ]; then
	ok "--export refuses to replace what it did not write"
else
	bad "--export over a foreign directory:"; cat err
fi
rm -rf out

# --prune-cache: the recently used entries are kept, the older ones listed and removed
c=$tmp/cache
"$VESSEL" -q build app.yaml -o out/app.vessel 2>err || { bad "build before pruning"; cat err; }
find "$c/debs" "$c/builds" "$c/apt" -mindepth 1 -maxdepth 1 -exec touch -h -d 2020-01-01 {} +
sleep 1
"$VESSEL" -q build app.yaml -o out/app.vessel 2>err || { bad "cached build"; cat err; }
# entries: debs/*.deb, builds/KEY, apt/*.txt; recent = used by the cached build above
entries() { find "$c/debs" "$c/builds" "$c/apt" -mindepth 1 -maxdepth 1 \( -name '*.deb' -o \
	-name '*.txt' -o -regex '.*/builds/[0-9a-f]*' \) "$@" | sed "s|^$c/||" | sort; }
entries -newermt 2021-01-01 >recent
entries ! -newermt 2021-01-01 >old
keep=0
for e in $(cat recent); do
	for blocks in $(find "$c/$e" -type f -exec stat -c %b {} +); do keep=$((keep + blocks * 512)); done
done
if [ -s recent ] && [ -s old ] && grep -q '^builds/' recent && grep -q '^debs/' old &&
   "$VESSEL" build --prune-cache=$keep >prune 2>err &&
   grep '^removed ' prune | cut -d' ' -f2 | sort >removed && cmp -s removed old &&
   [ "$(entries)" = "$(cat recent)" ] &&
   grep -q "^cache $c: removed $(wc -l <old | tr -d ' ') entries" prune; then
	ok "--prune-cache=$keep: kept the $(wc -l <recent | tr -d ' ') recently used entries, removed $(wc -l <old | tr -d ' ') older ones"
else
	bad "--prune-cache:"; cat prune err; echo "recent:"; cat recent; echo "old:"; cat old
fi
if "$VESSEL" -q build --no-cache app.yaml -o out/app.vessel 2>err &&
   "$VESSEL" build --prune-cache=0 --dry-run >prune 2>err && grep -q '^would remove debs/vt-lib_' prune &&
   [ -n "$(entries -name 'vt-lib_*')" ]; then
	ok "builds after pruning; --dry-run lists without removing"
else
	bad "after pruning:"; cat err prune
fi
if "$VESSEL" build --prune-cache=12Q >/dev/null 2>err; [ $? -eq 2 ] && grep -q 'bad size' err; then
	ok "--prune-cache with a bad size: usage error"
else
	bad "--prune-cache=12Q:"; cat err
fi
rm -rf out

# ---- Part B: Debian's packages ----
unset APT_CONFIG
export VESSEL_CACHE="${VESSEL_TEST_CACHE:-$b/test-cache}"
mkdir -p "$VESSEL_CACHE"
if ! apt-cache show --no-all-versions busybox libc6 linux-image-amd64 >/dev/null 2>&1; then
	echo "skip (part B): apt does not know busybox/libc6/linux-image-amd64 (run apt-get update)"
	echo "build-deps: $((n - fail)) passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
fi
cat >bb.yaml <<'Y'
vessel: 1
machine: {name: bb}
boot:
  kernel: {file: vmlinuz}
  initramfs:
    packages: [busybox]
    init: "#!/bin/busybox sh\n"
Y
if "$VESSEL" build --dry-run bb.yaml >plan 2>err &&
   grep -q '^package libc6 .*\[dependency\]' plan && grep -q '^package libgcc-s1 .*\[dependency\]' plan &&
   "$VESSEL" -q build bb.yaml -o out/bb.vessel 2>err &&
   zcat out/bb.vessel/boot/initrd | cpio -it --quiet 2>/dev/null >list &&
   grep -qx bin/busybox list && grep -qx lib/x86_64-linux-gnu/libc.so.6 list &&
   grep -qx lib64/ld-linux-x86-64.so.2 list; then
	ok "Debian: busybox brings libc6 ($(grep '^initramfs packages' plan | cut -c21-))"
else
	bad "Debian busybox closure:"; cat plan err
fi
sed 's/    packages: \[busybox\]/    packages: [busybox]\n    depends: false/' bb.yaml >bb1.yaml
if "$VESSEL" -q build bb1.yaml -o out/bb1.vessel 2>err &&
   zcat out/bb1.vessel/boot/initrd | cpio -it --quiet 2>/dev/null >list &&
   grep -qx bin/busybox list && ! grep -q libc.so.6 list; then
	ok "Debian: busybox without its dependencies"
else
	bad "Debian busybox depends: false:"; cat err
fi
rm -rf out

# a real build killed with SIGKILL while it unpacks the kernel
"$VESSEL" build --no-cache "$top/recipes/hello.yaml" -o "$tmp/k/hello.vessel" 2>kerr & pid=$!
i=0
while [ $i -lt 600 ] && ! ls -A "$tmp/k" 2>/dev/null | grep -q '^\.hello\.vessel\.build-[0-9]*-[0-9a-f]*$'; do
	sleep 0.05
	i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
stale=$(ls -A "$tmp/k" 2>/dev/null | grep '^\.hello\.vessel\.build-[0-9]*-[0-9a-f]*$')
if [ -z "$stale" ]; then
	bad "the killed build left no staging directory to clean (it finished first?)"; cat kerr
elif "$VESSEL" build "$top/recipes/hello.yaml" -o "$tmp/k/hello.vessel" 2>err &&
     grep -q "removed .*$stale, the staging directory of a build that was killed (pid $pid)" err &&
     [ "$(ls -A "$tmp/k")" = hello.vessel ]; then
	ok "SIGKILLed build: the next build removed $stale and said so"
else
	bad "SIGKILLed build:"; cat err; ls -A "$tmp/k"
fi
echo "build-deps: $((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
