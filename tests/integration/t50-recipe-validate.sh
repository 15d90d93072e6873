#!/bin/sh
# vessel validate on crafted bad recipes: every problem at once, each as
# FILE:LINE:COL: message, compared byte for byte with the .expected file
# next to the recipe. The good recipes in recipes/ must validate cleanly.
set -u
: "${VESSEL:?VESSEL must point at the vessel binary}"
dir=$(cd "$(dirname "$0")/../data/recipes" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
fail=0 n=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

for y in "$dir"/bad-*.yaml; do
	name=$(basename "$y" .yaml)
	n=$((n + 1))
	(cd "$dir" && "$VESSEL" validate --no-env "$name.yaml" >"$tmp/out" 2>"$tmp/err")
	rc=$?
	if [ "$rc" -ne 1 ]; then
		echo "FAIL $name: exit $rc, expected 1"
		fail=$((fail + 1))
	elif ! cmp -s "$tmp/err" "$dir/$name.expected"; then
		echo "FAIL $name: output differs from $name.expected:"
		diff "$dir/$name.expected" "$tmp/err" | sed 's/^/    /'
		fail=$((fail + 1))
	elif [ -s "$tmp/out" ]; then
		echo "FAIL $name: printed to stdout"
		fail=$((fail + 1))
	else
		echo "ok   $name ($(wc -l <"$tmp/err") lines)"
	fi
done

# the same recipe is fine once the missing variable gets a value, and the
# sensitive value never shows up in any output
cat >"$tmp/secret.yaml" <<'Y'
vessel: 1
variables:
  pw:
    sensitive: true
machine:
  name: secret
boot:
  kernel: linux-image-amd64
  initramfs:
    packages: [busybox-static]
    init: "#!/bin/sh\n"
customize:
  - root-password: ${pw}
  - write: /etc/token
    content: "token=${pw}"
Y
n=$((n + 1))
if "$VESSEL" validate --no-env --var pw=Sw0rdf1sh-7731 "$tmp/secret.yaml" >"$tmp/out" 2>&1 &&
   "$VESSEL" build --no-env --dry-run --var pw=Sw0rdf1sh-7731 "$tmp/secret.yaml" >>"$tmp/out" 2>&1; then
	if grep -q Sw0rdf1sh "$tmp/out"; then
		echo "FAIL secret: the sensitive value was printed"
		fail=$((fail + 1))
	else
		echo "ok   secret (valid with --var, value never printed)"
	fi
else
	echo "FAIL secret: did not validate with --var:"
	sed 's/^/    /' "$tmp/out"
	fail=$((fail + 1))
fi
n=$((n + 1))
if env pw=from-env "$VESSEL" validate "$tmp/secret.yaml" >/dev/null 2>&1 &&
   ! "$VESSEL" validate --no-env "$tmp/secret.yaml" >/dev/null 2>&1; then
	echo "ok   variable from the environment"
else
	echo "FAIL variable from the environment"
	fail=$((fail + 1))
fi
n=$((n + 1))
if "$VESSEL" validate --var nosuch=1 "$tmp/secret.yaml" 2>"$tmp/err"; then
	echo "FAIL --var of an undeclared variable was accepted"
	fail=$((fail + 1))
elif grep -q "declares no variable 'nosuch'" "$tmp/err"; then
	echo "ok   --var of an undeclared variable"
else
	echo "FAIL --var message:"; cat "$tmp/err"
	fail=$((fail + 1))
fi

for y in "$top"/recipes/*.yaml; do
	n=$((n + 1))
	if "$VESSEL" validate "$y" >/dev/null 2>"$tmp/err"; then
		echo "ok   $(basename "$y") validates"
	else
		echo "FAIL $(basename "$y"):"
		sed 's/^/    /' "$tmp/err"
		fail=$((fail + 1))
	fi
done
echo "recipe-validate: $((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
