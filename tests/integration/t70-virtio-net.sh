#!/bin/sh
# virtio-net end to end on libslirp: the Debian kernel loads virtio_net from
# a busybox initramfs, gets 10.0.2.15 by DHCP from slirp, serves a page with
# busybox httpd on port 80, and the host fetches it through
# `vessel run -p HOSTPORT:80` on 127.0.0.1. Nothing but loopback is used.
# The guest must NOT reach a host loopback service that was not forwarded:
# the host serves a secret on 127.0.0.1:HPORT and the guest's fetch of
# 10.0.2.2:HPORT has to fail.
#
# Needs scripts/fetch-guest.sh's kernel .deb (its modules) and curl or wget;
# skips (77) otherwise. One boot; VESSEL_ENGINE=bt|interp picks the engine.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
VESSEL=${VESSEL:-$top/build/dbg/vessel}
guest=${VESSEL_GUEST_DIR:-$top/build/guest}
tmo=${VESSEL_BOOT_TIMEOUT:-600}

work=$(mktemp -d)
pid=
hostsrv=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$hostsrv" ] && kill "$hostsrv" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

if command -v curl >/dev/null; then
	fetch() { curl -s -m 5 "http://127.0.0.1:$1/index.html"; }
elif command -v wget >/dev/null; then
	fetch() { wget -q -T 5 -O - "http://127.0.0.1:$1/index.html"; }
else
	echo "t70-virtio-net: neither curl nor wget is installed"
	exit 77
fi
if ! "$top/scripts/fetch-guest.sh" -d "$guest" >"$work/fetch.out" 2>"$work/fetch.err"; then
	cat "$work/fetch.err"
	echo "t70-virtio-net: cannot fetch the Debian kernel/busybox here"
	exit 77
fi
kernel=$(sed -n 's/^kernel=//p' "$work/fetch.out")
busybox=$(sed -n 's/^busybox=//p' "$work/fetch.out")
mods=$("$top/scripts/guest-modules.sh" "$guest" "$work" virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net) ||
	{ echo "t70-virtio-net: the virtio modules are not available here"; exit 77; }

# a free loopback port for the forward
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
token="vessel-t70-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# a host-only service on loopback, not forwarded: the guest must not reach it
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18081)
mkdir "$work/hostwww"
echo "host-secret-$token" >"$work/hostwww/secret"
"$busybox" httpd -f -p "127.0.0.1:$hport" -h "$work/hostwww" &
hostsrv=$!

cat >"$work/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
	insmod /$m.ko || echo "t70: insmod $m failed"
done
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -n -q -t 5 -s /bin/true 2>&1 | sed 's/^/t70: /'
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
# (no wget -T: the guest's timer would expire while vessel skips idle time)
if wget -q -O /tmp/leak "http://10.0.2.2:$(cat /hport)/secret" 2>/dev/null && [ -s /tmp/leak ]; then
	echo "t70: host-loopback: REACHED $(cat /tmp/leak)"
else
	echo "t70: host-loopback: refused"
fi
mkdir -p /www
cat /token >/www/index.html
httpd -p 80 -h /www
echo "t70: serving"
# the host fetches the page, then sends a line on the console: time to go
read -r line
poweroff -f
INIT
printf '%s\n' "$token" >"$work/token"
printf '%s\n' "$hport" >"$work/hport"
# shellcheck disable=SC2086
"$top/scripts/fetch-guest.sh" -d "$guest" --initramfs "$work/initrd.gz" "$work/init" "$work/token" "$work/hport" $mods \
	>/dev/null || { echo "t70-virtio-net: building the initramfs failed"; exit 1; }

fail() {
	echo "t70-virtio-net: FAIL: $*"
	echo "--- guest console (last 30 lines)"; tail -n 30 "$work/out"
	echo "--- vessel stderr (last 20 lines)"; tail -n 20 "$work/err"
	exit 1
}

mkfifo "$work/in"
start=$(date +%s)
timeout "$tmo" "$VESSEL" -v run ${VESSEL_ENGINE:+--engine "$VESSEL_ENGINE"} --kernel "$kernel" --initrd "$work/initrd.gz" \
	--append "console=ttyS0 quiet panic=-1" -m 256 --no-reboot -p "$port:80" \
	<"$work/in" >"$work/out" 2>"$work/err" &
pid=$!
exec 3>"$work/in"
waited=0
until grep -q "t70: serving" "$work/out" 2>/dev/null; do
	kill -0 "$pid" 2>/dev/null || fail "vessel ended before the guest served"
	[ $waited -ge "$tmo" ] && fail "the guest did not start serving in ${tmo}s"
	sleep 1
	waited=$((waited + 1))
done
got=
for i in 1 2 3 4 5 6 7 8 9 10; do
	got=$(fetch "$port" | tr -d '\r')
	[ -n "$got" ] && break
	sleep 1
done
echo done >&3
exec 3>&-
wait "$pid"
rc=$?
pid=
end=$(date +%s)
tr -d '\r' <"$work/out" >"$work/out1"
grep -q "lease of 10.0.2.15 obtained" "$work/out1" || fail "the guest got no DHCP lease of 10.0.2.15"
grep -q "t70: host-loopback: refused" "$work/out1" ||
	fail "the guest reached (or did not try) a host loopback port that was not forwarded"
# the host service itself answers on loopback (so the refusal means something)
hgot=$(curl -s -m 5 "http://127.0.0.1:$hport/secret" 2>/dev/null || wget -q -T 5 -O - "http://127.0.0.1:$hport/secret")
[ "$hgot" = "host-secret-$token" ] || fail "the host-only service did not answer on 127.0.0.1:$hport"
[ "$got" = "$token" ] || fail "fetching 127.0.0.1:$port gave '$got', not the guest's page"
[ "$rc" -eq 0 ] || fail "vessel exited with $rc"
echo "t70-virtio-net: ok: DHCP lease 10.0.2.15 from slirp, page fetched through -p $port:80, host loopback port $hport unreachable from the guest ($((end - start)) s)"
exit 0
