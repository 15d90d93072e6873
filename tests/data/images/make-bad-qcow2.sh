#!/bin/sh
# Generate tiny qcow2 images, one good and a set of deliberately broken ones,
# for tests/integration/t20-img-bad.sh and as fuzzing seeds.
#
#   tests/data/images/make-bad-qcow2.sh [OUTDIR]     (default: this directory)
#
# Every image uses 512-byte clusters so each is a few KiB:
#   0x000 header (v3, 104 bytes)   0x200 refcount table   0x400 refcount block
#   0x600 L1 table (2 entries)     0x800 L2 table          0xa00 data ("A" x 512)
# The expected error text of each broken image is listed in EXPECT below and
# checked by the test.
set -eu
out=${1:-$(dirname "$0")}
mkdir -p "$out"

# write big-endian integers at a byte offset (POSIX printf with octal escapes)
putbytes() { # file offset byte...
	f=$1 off=$2
	shift 2
	s=""
	for b in "$@"; do s="$s$(printf '\\%03o' "$b")"; done
	printf "$s" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}
put32() { # file offset value(decimal, < 2^32)
	v=$3
	putbytes "$1" "$2" $((v >> 24 & 255)) $((v >> 16 & 255)) $((v >> 8 & 255)) $((v & 255))
}
put64() { # file offset hi32 lo32
	put32 "$1" "$2" "$3"
	put32 "$1" $(($2 + 4)) "$4"
}

good() { # file
	f=$1
	: > "$f"
	dd if=/dev/zero of="$f" bs=512 count=6 2>/dev/null
	put32 "$f" 0 1363560955      # magic QFI\xfb
	put32 "$f" 4 3               # version
	put32 "$f" 20 9              # cluster_bits
	put64 "$f" 24 0 65536        # virtual size
	put32 "$f" 36 2              # l1_size
	put64 "$f" 40 0 1536         # l1_table_offset
	put64 "$f" 48 0 512          # refcount_table_offset
	put32 "$f" 56 1              # refcount_table_clusters
	put32 "$f" 96 4              # refcount_order
	put32 "$f" 100 104           # header_length
	put64 "$f" 512 0 1024        # refcount table[0] -> block at 0x400
	for c in 0 1 2 3 4 5; do     # clusters 0..5 in use once
		putbytes "$f" $((1024 + 2 * c)) 0 1
	done
	put64 "$f" 1536 2147483648 2048   # L1[0] = COPIED | 0x800
	put64 "$f" 2048 2147483648 2560   # L2[0] = COPIED | 0xa00
	yes A | tr -d '\n' | head -c 512 | dd of="$f" bs=1 seek=2560 conv=notrunc 2>/dev/null
}

mk() { # name: a copy of the good image to patch
	f=$out/qcow2-$1.qcow2
	good "$f"
	echo "$f"
}

good "$out/qcow2-good.qcow2"
f=$(mk cluster-bits);       put32 "$f" 20 30
f=$(mk huge-size);          put64 "$f" 24 1073741824 0          # 2^62
f=$(mk huge-l1);            put32 "$f" 36 268435456
f=$(mk l1-small);           put32 "$f" 36 1; put64 "$f" 24 0 1048576
f=$(mk l1-overlaps-header); put64 "$f" 40 0 0
f=$(mk l1-past-eof);        put64 "$f" 40 1 0
f=$(mk l1-unaligned);       put64 "$f" 40 0 1600
f=$(mk l2-past-eof);        put64 "$f" 1536 2147483648 1048576
f=$(mk data-past-eof);      put64 "$f" 2048 2147483648 1048576
f=$(mk compressed-range);   put64 "$f" 2048 1073741824 16777216  # compressed, 0x1000000
f=$(mk compressed-garbage); put64 "$f" 2048 1073741824 2560      # compressed over "AAAA"
f=$(mk header-ext);         put32 "$f" 104 305419896; put32 "$f" 108 100000
f=$(mk header-length);      put32 "$f" 100 1000
f=$(mk refcount-order);     put32 "$f" 96 9
f=$(mk backing-name);       put64 "$f" 8 0 480; put32 "$f" 16 900
f=$(mk incompat);           put64 "$f" 72 0 256
# the image names itself as its backing file
f=$(mk backing-loop)
name=qcow2-backing-loop.qcow2
printf '%s' "$name" | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null
put64 "$f" 8 0 200; put32 "$f" 16 ${#name}
# refcount block placed on the L2 table: opens, but check must find the overlap
f=$(mk refcount-overlap);   put64 "$f" 512 0 2048
