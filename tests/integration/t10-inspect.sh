#!/bin/sh
# vessel inspect on the bundles of tests/data/bundles: each valid*.vessel
# must print its configuration and exit 0 with nothing on stderr; each
# bad-*.vessel must exit 1 and print exactly the problems kept beside it in
# bad-*.vessel.expected (paths relative to tests/data/bundles). Also checks
# --json, --no-verify, disk images (non-directories) and usage errors.
set -u
: "${VESSEL:?VESSEL must name the vessel binary}"
DATA=$(cd "$(dirname "$0")/../data/bundles" && pwd) || exit 1
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$DATA" || exit 1
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

have_python=no
command -v python3 >/dev/null 2>&1 && have_python=yes
json_ok() { # file: parses as JSON (when python3 is there) and has key "valid": $2
	[ "$have_python" = yes ] || return 0
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["valid"] == (sys.argv[2] == "true") else 1)' "$1" "$2"
}

for b in valid*.vessel; do
	"$VESSEL" inspect "$b" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ $rc -eq 0 ] && [ ! -s "$TMP/err" ] && grep -q '^status      valid$' "$TMP/out" &&
	   grep -q '^manifest    .*all digests match$' "$TMP/out"; then ok; else
		bad "$b: exit $rc"; cat "$TMP/out" "$TMP/err"; fi
	"$VESSEL" inspect --json "$b" >"$TMP/json" 2>"$TMP/err"
	rc=$?
	if [ $rc -eq 0 ] && json_ok "$TMP/json" true; then ok; else bad "$b --json: exit $rc"; cat "$TMP/json"; fi
done
"$VESSEL" inspect valid.vessel >"$TMP/out" 2>&1
for want in '^name        demo$' '^cpus        2$' '^memory      512.0 MiB (536870912 bytes)$' \
	'^disks       root       disks/root.qcow2 qcow2 virtio read-write, virtual 1.0 MiB, file 1.8 KiB' \
	'forward tcp 127.0.0.1:8080 -> guest 80$' '^manifest    4 files listed, all digests match$'; do
	if grep -q "$want" "$TMP/out"; then ok; else bad "valid.vessel: no line matching $want"; fi
done

# the optional guest: mapping is shown when present, absent otherwise
"$VESSEL" inspect valid-guest.vessel >"$TMP/out" 2>&1
if grep -q '^guest       linux debian 12.15 (Debian GNU/Linux 12 (bookworm))$' "$TMP/out"; then ok
else bad "valid-guest.vessel: no guest line"; cat "$TMP/out"; fi
"$VESSEL" inspect --json valid-guest.vessel >"$TMP/json" 2>&1
if grep -q '"guest":{"os":"linux","distro":"debian","version":"12.15","product":"Debian GNU/Linux 12 (bookworm)"}' "$TMP/json"
then ok; else bad "valid-guest.vessel --json: no guest"; cat "$TMP/json"; fi
"$VESSEL" inspect valid.vessel >"$TMP/out" 2>&1
if grep -q '^guest' "$TMP/out"; then bad "valid.vessel: a guest line without guest:"; else ok; fi
"$VESSEL" inspect --json valid.vessel >"$TMP/json" 2>&1
if grep -q '"guest":null' "$TMP/json"; then ok; else bad "valid.vessel --json: guest is not null"; fi

n=0
for b in bad-*.vessel; do
	n=$((n + 1))
	if [ ! -f "$b.expected" ]; then bad "$b: no $b.expected"; continue; fi
	"$VESSEL" inspect "$b" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ $rc -ne 1 ]; then bad "$b: exit $rc, expected 1"; fi
	if cmp -s "$TMP/err" "$b.expected"; then ok; else
		bad "$b: problems differ from $b.expected"
		diff "$b.expected" "$TMP/err"
	fi
	"$VESSEL" inspect --json "$b" >"$TMP/json" 2>/dev/null
	rc=$?
	if [ $rc -eq 1 ] && json_ok "$TMP/json" false; then ok; else bad "$b --json: exit $rc"; fi
done
[ $n -ge 10 ] || bad "only $n broken bundles found"

# --no-verify: a changed file goes unnoticed, a file missing from MANIFEST does not
"$VESSEL" inspect --no-verify bad-manifest.vessel >/dev/null 2>"$TMP/err"
if [ $? -eq 1 ] && ! grep -q 'content does not match' "$TMP/err" &&
   grep -q 'disks/notes.txt: not listed in MANIFEST' "$TMP/err"; then ok; else bad "--no-verify"; cat "$TMP/err"; fi

# a copy of the valid bundle with a changed disk names the disk
cp -R valid.vessel "$TMP/copy.vessel"
printf 'Z' | dd of="$TMP/copy.vessel/disks/root.qcow2" bs=1 seek=7 conv=notrunc 2>/dev/null
"$VESSEL" inspect "$TMP/copy.vessel" >/dev/null 2>"$TMP/err"
if [ $? -eq 1 ] && grep -q "^vessel: $TMP/copy.vessel/disks/root.qcow2: content does not match MANIFEST" "$TMP/err"
then ok; else bad "tampered copy"; cat "$TMP/err"; fi

# a disk image (not a directory): format, virtual and allocated size
"$VESSEL" inspect valid.vessel/disks/root.qcow2 >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^format      qcow2 ' "$TMP/out" &&
   grep -q '^virtual     1.0 MiB (1048576 bytes)$' "$TMP/out" &&
   grep -q '^file        1.8 KiB (1792 bytes), allocated ' "$TMP/out"; then ok
else bad "image: exit $rc"; cat "$TMP/out" "$TMP/err"; fi
"$VESSEL" inspect --json bad-backing.vessel/disks/root.qcow2 >"$TMP/json" 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && grep -q '"format":"qcow2","virtual-size":1048576,"file-size":1792' "$TMP/json" &&
   grep -q '"backing":\[{"file":"bad-backing.vessel/disks/../../valid.vessel/disks/root.qcow2"' "$TMP/json"
then ok; else bad "image --json: exit $rc"; cat "$TMP/json" "$TMP/err"; fi
printf 'QFI\373\000\000\000\003garbage' > "$TMP/broken.qcow2"
"$VESSEL" inspect "$TMP/broken.qcow2" >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "^vessel: inspect: " "$TMP/err"; then ok; else bad "broken image: exit $rc"; cat "$TMP/err"; fi
"$VESSEL" inspect "$TMP/none" >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(cat "$TMP/err")" = "vessel: inspect: $TMP/none: No such file or directory" ]; then ok
else bad "missing path: exit $rc"; cat "$TMP/err"; fi

# missing argument; unknown option; --help
mkdir "$TMP/empty.vessel"
"$VESSEL" inspect "$TMP/empty.vessel" >/dev/null 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "is not a bundle directory (no vessel.yaml)" "$TMP/err"; then ok; else bad "empty dir: exit $rc"; fi
"$VESSEL" inspect >/dev/null 2>&1
rc=$?; if [ $rc -eq 2 ]; then ok; else bad "no argument: exit $rc"; fi
"$VESSEL" inspect --bogus valid.vessel >/dev/null 2>&1
rc=$?; if [ $rc -eq 2 ]; then ok; else bad "unknown option: exit $rc"; fi
"$VESSEL" inspect --help | grep -q '^usage: vessel inspect' && ok || bad "--help"

echo "inspect: $pass passed, $fail failed"
[ $fail -eq 0 ]
