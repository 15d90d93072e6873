#!/bin/sh
# virtio I/O benchmark: the Debian kernel with a busybox initramfs whose
# /init loads the virtio modules, brings up eth0 on slirp and prints a
# marker after each step:
#
#   boot   modules loaded, 10.0.2.15 configured
#   write  dd if=/dev/zero of=/dev/vda bs=1M count=256 oflag=direct
#   read   drop caches, dd if=/dev/vda of=/dev/null bs=1M count=256
#   http   the host downloads a 32 MiB file from busybox httpd through the
#          port forward 127.0.0.1:PORT -> guest :80 (curl; timed by curl)
#
# The same initramfs runs on vessel (virtio-blk on a qcow2, virtio-net on
# libslirp, -p PORT:80) and on qemu-system-x86_64 -M pc -accel tcg with
# virtio-blk-pci on a qcow2 and virtio-net-pci on user (slirp) networking,
# in the same run. Host wall seconds between markers are taken by polling
# the console every 0.1 s. Prints a table with the ratios.
#
# Usage: bench/virtio.sh [VESSEL]   (default build/rel/vessel, built if missing)
# Env:   VESSEL_ENGINE=interp|bt    (default: vessel's own default)
#        BENCH_SKIP_QEMU=1          skip the QEMU run
#        BENCH_SKIP_VESSEL=1        skip the vessel run
#        BENCH_KEEP=DIR             keep the consoles and stderr in DIR
#        BENCH_MB=N                 MiB for the disk write/read (default 256)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
VESSEL=${1:-$top/build/rel/vessel}
[ -x "$VESSEL" ] || make -C "$top" MODE=rel BUILD=build/rel all >/dev/null
command -v qemu-img >/dev/null || { echo "bench/virtio: qemu-img is missing" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/virtio: curl is missing" >&2; exit 1; }
work=$(mktemp -d)
vm=
cleanup() {
	[ -n "$vm" ] && kill -9 "$vm" 2>/dev/null
	[ -n "${BENCH_KEEP:-}" ] && cp "$work"/*.out "$work"/*.err "$BENCH_KEEP"/ 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

mb=${BENCH_MB:-256}
disk_mb=$mb
guest=${VESSEL_GUEST_DIR:-$top/build/guest}
kernel=$("$top/scripts/fetch-guest.sh" -d "$guest" | sed -n 's/^kernel=//p')
modlist="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net"
mods=$("$top/scripts/guest-modules.sh" "$guest" "$work" $modlist) ||
	{ echo "bench/virtio: the virtio modules are not available" >&2; exit 1; }

cat >"$work/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $modlist; do insmod /\$m.ko || echo "insmod \$m failed"; done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
mkdir -p /www
dd if=/dev/zero of=/www/big bs=1M count=32 2>/dev/null
echo BENCH-MARK boot
dd if=/dev/zero of=/dev/vda bs=1M count=$mb oflag=direct
echo BENCH-MARK write
sync
echo 3 >/proc/sys/vm/drop_caches
dd if=/dev/vda of=/dev/null bs=1M count=$mb
echo BENCH-MARK read
httpd -p 80 -h /www
echo BENCH-MARK serving
while :; do sleep 60; done
INIT
# shellcheck disable=SC2086
"$top/scripts/fetch-guest.sh" -d "$guest" --initramfs "$work/initrd.gz" "$work/init" $mods >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18081)
append="console=ttyS0 quiet panic=-1"

# measure NAME: the VM is running in the background as $vm with its console
# in $work/NAME.out; record "SECONDS MARKER" lines in $work/NAME.t, download
# the file when the guest serves, then kill the VM.
measure() {
	t0=$1
	: >"$work/$2.t"
	for mk in boot write read serving; do
		while ! grep -q "BENCH-MARK $mk" "$work/$2.out" 2>/dev/null; do
			kill -0 "$vm" 2>/dev/null || { echo "bench/virtio: $2 ended before '$mk'" >&2; tail -n 20 "$work/$2.out" >&2; exit 1; }
			sleep 0.1
		done
		awk -v a="$(date +%s.%N)" -v b="$t0" -v n="$mk" 'BEGIN { printf "%.3f %s\n", a - b, n }' >>"$work/$2.t"
	done
	ok=
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if curl -s -m 600 -o "$work/big" -w '%{time_total} %{size_download}\n' \
			"http://127.0.0.1:$port/big" >"$work/$2.curl" && [ "$(awk '{ print $2 }' "$work/$2.curl")" = 33554432 ]; then
			ok=1
			break
		fi
		sleep 1
	done
	[ -n "$ok" ] || { echo "bench/virtio: $2: the download failed" >&2; exit 1; }
	awk '{ printf "%.3f http\n", $1 }' "$work/$2.curl" >>"$work/$2.t"
	kill -9 "$vm" 2>/dev/null || true
	wait "$vm" 2>/dev/null || true
	vm=
}

if [ -z "${BENCH_SKIP_VESSEL:-}" ]; then
	qemu-img create -q -f qcow2 "$work/v.qcow2" $((mb + 64))M
	t0=$(date +%s.%N)
	nice "$VESSEL" run --kernel "$kernel" --initrd "$work/initrd.gz" --append "$append" \
		-m 256 --no-reboot ${VESSEL_ENGINE:+--engine $VESSEL_ENGINE} \
		--disk "$work/v.qcow2" -p "$port:80" </dev/null >"$work/vessel.out" 2>"$work/vessel.err" &
	vm=$!
	measure "$t0" vessel
fi
if [ -z "${BENCH_SKIP_QEMU:-}" ]; then
	qemu-img create -q -f qcow2 "$work/q.qcow2" $((mb + 64))M
	t0=$(date +%s.%N)
	nice qemu-system-x86_64 -M pc -accel tcg -m 256 -kernel "$kernel" -initrd "$work/initrd.gz" \
		-append "$append" -no-user-config -display none -serial stdio -no-reboot \
		-drive "file=$work/q.qcow2,if=virtio,format=qcow2" \
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:80" -device virtio-net-pci,netdev=n0 \
		</dev/null >"$work/qemu.out" 2>"$work/qemu.err" &
	vm=$!
	measure "$t0" qemu
fi

seg() { # seg FILE NAME PREV -> seconds of step NAME (http: curl's own time)
	awk -v n="$2" -v p="$3" '$2 == n { t = $1 } $2 == p { s = $1 }
		END { if (t == "") print "-"; else if (n == "http" || p == "") printf "%.2f\n", t; else printf "%.2f\n", t - s }' "$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1fx\n", a / b }'; }
rate() { awk -v a="$1" -v m="$2" 'BEGIN { if (a == "-" || a == 0 || m == 0) print "-"; else printf "%.1f\n", m / a }'; }

printf '%-6s %10s %10s %12s %12s %12s\n' step vessel-s qemu-tcg-s vessel-MiB/s qemu-MiB/s vessel/qemu
prev=
for s in boot write read http; do
	v=$( [ -f "$work/vessel.t" ] && seg "$work/vessel.t" $s "$prev" || echo -)
	q=$( [ -f "$work/qemu.t" ] && seg "$work/qemu.t" $s "$prev" || echo -)
	case $s in write|read) mb=$disk_mb ;; http) mb=32 ;; *) mb=0 ;; esac
	printf '%-6s %10s %10s %12s %12s %12s\n' $s "$v" "$q" "$(rate "$v" $mb)" "$(rate "$q" $mb)" "$(ratio "$v" "$q")"
	prev=$s
done
