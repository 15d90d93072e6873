#!/bin/sh
# vessel build recipes/hello.yaml: Debian's kernel + a busybox initramfs.
#   - two builds with --no-cache are identical byte for byte (reproducible)
#   - the initramfs is a newc cpio that cpio(1) lists, with /init and busybox
#   - a rebuild from the result cache is identical too
#   - bad input fails with the recipe line and leaves nothing behind:
#     an unknown package, apt unreachable, a missing file
# Needs apt with Debian's package lists (apt-get update); skips without them.
set -u
: "${VESSEL:?VESSEL must point at the vessel binary}"
top=$(cd "$(dirname "$0")/../.." && pwd)
case "${BUILD:-}" in /*) b=$BUILD ;; ?*) b=$top/$BUILD ;; *) b=$top/build ;; esac
export VESSEL_CACHE="${VESSEL_TEST_CACHE:-$b/test-cache}"
mkdir -p "$VESSEL_CACHE"
if ! apt-cache show --no-all-versions busybox-static linux-image-amd64 >/dev/null 2>&1; then
	echo "skip: apt does not know busybox-static/linux-image-amd64 (run apt-get update)"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
ok() { n=$((n + 1)); echo "ok   $*"; }
bad() { n=$((n + 1)); fail=$((fail + 1)); echo "FAIL $*"; }
export SOURCE_DATE_EPOCH=0

if "$VESSEL" -q build --no-cache "$top/recipes/hello.yaml" -o "$tmp/a.vessel" 2>"$tmp/err" &&
   "$VESSEL" -q build --no-cache "$top/recipes/hello.yaml" -o "$tmp/b.vessel" 2>>"$tmp/err"; then
	ok "hello built twice"
else
	bad "hello build:"; sed 's/^/    /' "$tmp/err"
	echo "build-hello: $((n - fail)) passed, $fail failed"
	exit 1
fi
if diff -r "$tmp/a.vessel" "$tmp/b.vessel" >/dev/null; then
	ok "two builds are identical byte for byte ($(cat "$tmp/a.vessel/MANIFEST" | wc -l) files)"
else
	bad "two builds differ:"; diff -r "$tmp/a.vessel" "$tmp/b.vessel" | head -5
fi
for f in vessel.yaml MANIFEST boot/vmlinuz boot/initrd; do
	[ -s "$tmp/a.vessel/$f" ] || bad "missing $f"
done
if zcat "$tmp/a.vessel/boot/initrd" | cpio -it --quiet 2>/dev/null >"$tmp/list" &&
   grep -qx init "$tmp/list" && grep -qx bin/busybox "$tmp/list" &&
   grep -qx dev/console "$tmp/list"; then
	ok "initrd lists as a cpio with init, bin/busybox, dev/console"
else
	bad "initrd is not the expected cpio"
fi
if grep -q "recipe-digest: sha256:$(sha256sum <"$top/recipes/hello.yaml" | cut -d' ' -f1)" \
	"$tmp/a.vessel/vessel.yaml" && grep -q "uri: deb:busybox-static=" "$tmp/a.vessel/vessel.yaml"; then
	ok "provenance: recipe digest and package versions"
else
	bad "provenance missing in vessel.yaml"
fi
start=$(date +%s%N)
if "$VESSEL" -q build "$top/recipes/hello.yaml" -o "$tmp/c.vessel" 2>"$tmp/err" &&
   diff -r "$tmp/a.vessel" "$tmp/c.vessel" >/dev/null; then
	ok "cached rebuild identical ($(( ($(date +%s%N) - start) / 1000000 )) ms)"
else
	bad "cached rebuild differs or failed"; cat "$tmp/err"
fi
# rebuilding over an existing bundle replaces it
if "$VESSEL" -q build "$top/recipes/hello.yaml" -o "$tmp/c.vessel" 2>"$tmp/err" &&
   diff -r "$tmp/a.vessel" "$tmp/c.vessel" >/dev/null; then
	ok "rebuild over an existing bundle"
else
	bad "rebuild over an existing bundle"; cat "$tmp/err"
fi

# ---- failures leave nothing behind ----
leftovers() { ls -A "$1" | grep -v -e '^a.vessel$' -e '^b.vessel$' -e '^c.vessel$' \
	-e '^err$' -e '^list$' -e '\.yaml$' -e '^apt.conf$' -e '^cache2$' -e '^keep$' \
	-e '^vmlinuz$' -e '^pkgsrc.vessel$'; }
sed 's/- busybox-static/- busybox-statik/' "$top/recipes/hello.yaml" >"$tmp/nopkg.yaml"
if "$VESSEL" build "$tmp/nopkg.yaml" -o "$tmp/nopkg.vessel" 2>"$tmp/err"; then
	bad "an unknown package was accepted"
elif grep -q "nopkg.yaml:[0-9]*:[0-9]*: package 'busybox-statik' is not known to apt" "$tmp/err" &&
     [ -z "$(leftovers "$tmp")" ]; then
	ok "unknown package: $(grep statik "$tmp/err" | head -1 | cut -c1-90)..."
else
	bad "unknown package:"; cat "$tmp/err"; leftovers "$tmp"
fi

printf 'Acquire::http::Proxy "http://127.0.0.1:9/";\nAcquire::https::Proxy "http://127.0.0.1:9/";\n' >"$tmp/apt.conf"
mkdir -p "$tmp/cache2"
if APT_CONFIG="$tmp/apt.conf" VESSEL_CACHE="$tmp/cache2" \
	"$VESSEL" build "$top/recipes/hello.yaml" -o "$tmp/noapt.vessel" 2>"$tmp/err"; then
	bad "a build with apt unreachable succeeded"
elif grep -q "apt-get download .* failed" "$tmp/err" && [ -z "$(leftovers "$tmp")" ]; then
	ok "apt unreachable: $(grep 'failed' "$tmp/err" | head -1 | cut -c1-90)..."
else
	bad "apt unreachable:"; cat "$tmp/err"; leftovers "$tmp"
fi

sed 's|        content: "${greeting}\\n"|        source: no-such-motd.txt|' "$top/recipes/hello.yaml" >"$tmp/nofile.yaml"
if "$VESSEL" build "$tmp/nofile.yaml" -o "$tmp/nofile.vessel" 2>"$tmp/err"; then
	bad "a missing file was accepted"
elif grep -q "nofile.yaml:[0-9]*:[0-9]*: boot.initramfs.files source: 'no-such-motd.txt': no such file" "$tmp/err" &&
     [ -z "$(leftovers "$tmp")" ]; then
	ok "missing file named with its line"
else
	bad "missing file:"; cat "$tmp/err"; leftovers "$tmp"
fi

# a module the kernel does not have fails at build time, naming the line;
# --keep-failed keeps the staging directory and says where
sed 's|    packages:|    modules: [no_such_module]\n    packages:|' "$top/recipes/hello.yaml" >"$tmp/nomod.yaml"
if "$VESSEL" build --keep-failed "$tmp/nomod.yaml" -o "$tmp/keep/nomod.vessel" 2>"$tmp/err"; then
	bad "an unknown kernel module was accepted"
elif grep -q "nomod.yaml:[0-9]*:[0-9]*: kernel .* has no module 'no_such_module'" "$tmp/err" &&
     grep -q "kept in" "$tmp/err" && [ ! -e "$tmp/keep/nomod.vessel" ] &&
     [ -n "$(ls -A "$tmp/keep" 2>/dev/null)" ]; then
	ok "unknown module named with its line; --keep-failed kept $(ls -A "$tmp/keep")"
else
	bad "unknown module:"; cat "$tmp/err"; ls -A "$tmp/keep"
fi
# a package source copied into the initramfs (a dummy kernel file: quick)
printf 'not a kernel\n' >"$tmp/vmlinuz"
cat >"$tmp/pkgsrc.yaml" <<Y
vessel: 1
machine: {name: pkgsrc}
boot:
  kernel: {file: $tmp/vmlinuz}
  initramfs: {init: "#!/bin/sh\\n"}
sources:
  - {name: bb, package: busybox-static}
customize:
  - copy-in: bb
    to: /opt/bb
  - delete: /opt/bb/usr
Y
if "$VESSEL" -q build "$tmp/pkgsrc.yaml" -o "$tmp/pkgsrc.vessel" 2>"$tmp/err" &&
   zcat "$tmp/pkgsrc.vessel/boot/initrd" | cpio -it --quiet 2>/dev/null >"$tmp/list" &&
   grep -qx opt/bb/bin/busybox "$tmp/list" && ! grep -q "^opt/bb/usr" "$tmp/list" &&
   cmp -s "$tmp/vmlinuz" "$tmp/pkgsrc.vessel/boot/vmlinuz" &&
   grep -q "uri: deb:busybox-static=" "$tmp/pkgsrc.vessel/vessel.yaml"; then
	ok "package source copied into the initramfs; kernel from a file"
else
	bad "package source copy-in:"; cat "$tmp/err"
fi
echo "build-hello: $((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
