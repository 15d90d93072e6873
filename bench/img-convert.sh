#!/bin/sh
# Benchmark: `vessel img convert` against `qemu-img convert`, same machine,
# same run, same input. Builds nothing: pass a release build of vessel.
#
#   make MODE=rel BUILD=build/rel all
#   nice bench/img-convert.sh [-n RUNS] [-d DIR] [-f "qcow2 vmdk vpc"] build/rel/vessel
#
# Input: a 4 GiB raw image holding 1 GiB of mixed data (16 pieces of 64 MiB
# spread over the disk: random bytes, text, explicit zeroes, base64 text),
# and the same as a qcow2 image written by qemu-img. Cases:
#   raw -> FMT        for every FMT of -f (default "qcow2", plus vmdk/vpc when
#                     vessel knows them)
#   qcow2 -> raw
#   raw -> qcow2 -c   (compressed)
#   raw -> vmdk -o subformat=streamOptimized   (compressed; when vmdk is in -f)
# Each case runs RUNS times (default 5) per tool, alternating tools; the
# report gives the medians of wall time and CPU time (user + sys) and the
# vessel/qemu-img ratios, with the output sizes, as a Markdown table on
# stdout, then every run's wall time. Output files are deleted after each
# run. Before every timed run the input is read once with `qemu-img compare
# IN IN` (untimed, the same for both tools): other benchmarks on a shared
# machine drop the page cache (echo 3 > drop_caches), and a run that found
# its input evicted would time the disk instead of the conversion. The
# machine may be shared: wall times drift with the load, CPU times much less.
set -eu
runs=5
dir=${TMPDIR:-/tmp}
fmts=""
while getopts n:d:f: o; do
	case $o in
	n) runs=$OPTARG ;;
	d) dir=$OPTARG ;;
	f) fmts=$OPTARG ;;
	*) echo "usage: $0 [-n RUNS] [-d DIR] [-f FORMATS] VESSEL" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: $0 [-n RUNS] [-d DIR] [-f FORMATS] VESSEL" >&2; exit 2; }
V=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
for t in qemu-img bc /usr/bin/time; do
	command -v $t >/dev/null || { echo "$t is needed" >&2; exit 1; }
done
if [ -z "$fmts" ]; then
	fmts=qcow2
	for f in vmdk vpc; do
		if "$V" img create -f $f "$dir/probe.$f" 1M >/dev/null 2>&1; then fmts="$fmts $f"; fi
		rm -f "$dir/probe.$f"
	done
fi
W=$(mktemp -d "$dir/vsl-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT
src=$W/src.raw

echo "preparing a 4 GiB image with 1 GiB of mixed data in $W ..." >&2
truncate -s 4G "$src"
i=0
while [ $i -lt 16 ]; do
	case $((i % 4)) in
	0) head -c 64M /dev/urandom ;;
	1) yes "The quick brown fox jumps over the lazy dog $i; vessel benchmark text." | head -c 64M ;;
	2) head -c 64M /dev/zero ;;
	3) head -c 48M /dev/urandom | base64 -w 76 | head -c 64M ;;
	esac | dd of="$src" bs=1M seek=$((i * 256 + 3)) conv=notrunc 2>/dev/null
	i=$((i + 1))
done
qemu-img convert -O qcow2 "$src" "$W/src.qcow2"
sync

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# read an input image once, so that it is in the page cache (untimed)
warm() {
	qemu-img compare "$1" "$1" >/dev/null
}
# time one command: "wall cpu" seconds on stdout (cpu = user + sys); the
# output file is removed afterwards (its size goes to $W/size)
timeit() { # out cmd...
	out=$1
	shift
	rm -f "$out"
	/usr/bin/time -f "%e %U %S" -o "$W/time" "$@" >/dev/null
	stat -c %s "$out" > "$W/size"
	rm -f "$out"
	awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$W/time"
}

: > "$W/runs"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "| case | vessel wall (s) | qemu-img wall (s) | wall ratio | vessel CPU (s) | qemu-img CPU (s) | CPU ratio | vessel size (MiB) | qemu-img size (MiB) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"

run_case() { # label vessel-args... -- qemu-args...
	label=$1
	shift
	vargs="" qargs="" side=v
	for a in "$@"; do
		if [ "$a" = "--" ]; then side=q; continue; fi
		if [ $side = v ]; then vargs="$vargs $a"; in=$a; else qargs="$qargs $a"; fi
	done
	: > "$W/tv"
	: > "$W/tq"
	# one untimed run of each first: page cache and writeback in a steady state
	# shellcheck disable=SC2086
	timeit "$W/out" "$V" img convert $vargs "$W/out" >/dev/null
	# shellcheck disable=SC2086
	timeit "$W/out" qemu-img convert $qargs "$W/out" >/dev/null
	r=0
	while [ $r -lt "$runs" ]; do
		# alternate which tool goes first
		if [ $((r % 2)) -eq 0 ]; then
			warm "$in"
			# shellcheck disable=SC2086
			timeit "$W/out" "$V" img convert $vargs "$W/out" >> "$W/tv"; sv=$(cat "$W/size")
			warm "$in"
			# shellcheck disable=SC2086
			timeit "$W/out" qemu-img convert $qargs "$W/out" >> "$W/tq"; sq=$(cat "$W/size")
		else
			warm "$in"
			# shellcheck disable=SC2086
			timeit "$W/out" qemu-img convert $qargs "$W/out" >> "$W/tq"; sq=$(cat "$W/size")
			warm "$in"
			# shellcheck disable=SC2086
			timeit "$W/out" "$V" img convert $vargs "$W/out" >> "$W/tv"; sv=$(cat "$W/size")
		fi
		r=$((r + 1))
	done
	mv=$(cut -d' ' -f1 "$W/tv" | median)
	mq=$(cut -d' ' -f1 "$W/tq" | median)
	cv=$(cut -d' ' -f2 "$W/tv" | median)
	cq=$(cut -d' ' -f2 "$W/tq" | median)
	{
		echo "- $label: vessel wall $(cut -d' ' -f1 "$W/tv" | tr '\n' ' ')/ CPU $(cut -d' ' -f2 "$W/tv" | tr '\n' ' ')"
		echo "  qemu-img wall $(cut -d' ' -f1 "$W/tq" | tr '\n' ' ')/ CPU $(cut -d' ' -f2 "$W/tq" | tr '\n' ' ')"
	} >> "$W/runs"
	printf '| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f |\n' "$label" "$mv" "$mq" \
		"$(echo "$mv / $mq" | bc -l)" "$cv" "$cq" "$(echo "$cv / $cq" | bc -l)" \
		"$(echo "$sv / 1048576" | bc -l)" "$(echo "$sq / 1048576" | bc -l)"
}

for f in $fmts; do
	run_case "raw -> $f" -O "$f" "$src" -- -O "$f" "$src"
done
run_case "qcow2 -> raw" -O raw "$W/src.qcow2" -- -O raw "$W/src.qcow2"
run_case "raw -> qcow2 -c" -c -O qcow2 "$src" -- -c -O qcow2 "$src"
case " $fmts " in
*" vmdk "*)
	run_case "raw -> vmdk streamOptimized" -O vmdk -o subformat=streamOptimized "$src" -- \
		-O vmdk -o subformat=streamOptimized "$src" ;;
esac
echo
echo "Every run (seconds, in the order they ran):"
echo
cat "$W/runs"
echo
echo "runs per case: $runs after one warm-up (medians; ratio < 1: vessel is faster);"
echo "host: $(nproc) CPUs, load average $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(qemu-img --version | head -1)"
