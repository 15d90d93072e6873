#!/bin/sh
# Measure `vessel build` of an unchanged recipe: the first (cold or warm)
# build, then N rebuilds that must come from the result cache (target: at
# most 1 s each), then the cost of a dependency closure, cold and cached.
# Not a timed test: it prints numbers for bench/results.
#   bench/build-cache.sh [RECIPE] [N]      (VESSEL=path/to/vessel)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
VESSEL=${VESSEL:-$top/build/dbg/vessel}
recipe=${1:-$top/recipes/hello.yaml}
n=${2:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export VESSEL_CACHE=${VESSEL_CACHE:-$tmp/cache}
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

echo "recipe: $recipe"
echo "cache:  $VESSEL_CACHE"
t=$(date +%s%N)
"$VESSEL" -q build --no-cache "$recipe" -o "$tmp/out.vessel"
echo "full build (--no-cache, packages cached or not): $(ms "$t") ms"
worst=0 total=0
for i in $(seq 1 "$n"); do
	t=$(date +%s%N)
	"$VESSEL" -q build "$recipe" -o "$tmp/out.vessel"
	d=$(ms "$t")
	total=$((total + d))
	[ "$d" -gt "$worst" ] && worst=$d
	echo "rebuild $i (unchanged recipe): $d ms"
done
echo "rebuilds: mean $((total / n)) ms, worst $worst ms (target <= 1000 ms)"

# the dependency closure (apt-get --simulate against an empty status): what a
# recipe whose package list has dependencies adds, cold and from the cache
if apt-cache show --no-all-versions busybox >/dev/null 2>&1; then
	printf 'vessel: 1\nmachine: {name: deps}\nboot:\n  kernel: {file: %s}\n  initramfs:\n    packages: [busybox]\n    init: "#!/bin/sh\\n"\n' \
		"$tmp/out.vessel/boot/vmlinuz" >"$tmp/deps.yaml"
	t=$(date +%s%N)
	VESSEL_CACHE=$tmp/closure "$VESSEL" -q build --dry-run "$tmp/deps.yaml" >/dev/null
	echo "dependency closure of busybox, cold (apt-cache + apt-get --simulate): $(ms "$t") ms"
	t=$(date +%s%N)
	VESSEL_CACHE=$tmp/closure "$VESSEL" -q build --dry-run "$tmp/deps.yaml" >/dev/null
	echo "dependency closure of busybox, cached: $(ms "$t") ms"
fi
[ "$worst" -le 1000 ]
