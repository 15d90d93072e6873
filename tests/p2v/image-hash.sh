#!/bin/sh
# The sha256 of a cached stand-in server image (tests/p2v/make-server.sh),
# remembered in IMAGE.sha256 beside it so that the P2V tests hash the 3 GiB
# image once per image rather than before every conversion (the tests then
# hash their loop device once, after the conversion, and compare). The
# remembered hash is only used while the image's size and mtime are the ones
# it was computed for.
#
# Usage: tests/p2v/image-hash.sh IMAGE   (prints the hex digest)
set -eu
img=${1:?usage: image-hash.sh IMAGE}
stamp=$(stat -c '%s %Y' "$img")
if [ -f "$img.sha256" ]; then
	read -r s m h <"$img.sha256" || true
	if [ "$s $m" = "$stamp" ] && [ -n "${h:-}" ]; then
		echo "$h"
		exit 0
	fi
fi
h=$(sha256sum <"$img" | cut -d' ' -f1)
echo "$stamp $h" >"$img.sha256.$$"
mv "$img.sha256.$$" "$img.sha256"
echo "$h"
