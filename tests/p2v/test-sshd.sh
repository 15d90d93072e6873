# Sourced by the ssh P2V tests (t81, t84): start_test_sshd starts a private
# sshd on 127.0.0.1 (a free high port, a temporary host key, a temporary
# client key in $tmp/id, nothing of the system's ssh configuration used or
# changed) and sets port, sshd_pid (the caller's cleanup kills it) and
# sshopts (the vessel p2v options to reach it). Needs $tmp and the caller's
# skip and fail functions; skips when sshd cannot start or log in here.
start_test_sshd() {
	ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key" || fail "ssh-keygen (host)"
	ssh-keygen -q -t ed25519 -N '' -f "$tmp/id" || fail "ssh-keygen (client)"
	cp "$tmp/id.pub" "$tmp/authorized_keys"
	chmod 600 "$tmp/authorized_keys"
	mkdir -p /run/sshd # privilege separation directory sshd insists on
	port=
	for try in 1 2 3 4 5 6 7 8; do
		p=$(( 20000 + ($$ * 7 + try * 7919) % 40000 ))
		cat >"$tmp/sshd_config" <<EOF
Port $p
ListenAddress 127.0.0.1
HostKey $tmp/host_key
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $tmp/sshd.pid
LogLevel ERROR
MaxStartups 30
EOF
		/usr/sbin/sshd -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" &
		sshd_pid=$!
		sleep 0.5
		if kill -0 "$sshd_pid" 2>/dev/null; then
			port=$p
			break
		fi
		sshd_pid=
	done
	[ -n "$port" ] || skip "sshd does not start here: $(tail -2 "$tmp/sshd.log")"
	sshopts="--identity $tmp/id --ssh-option StrictHostKeyChecking=no --ssh-option UserKnownHostsFile=$tmp/known_hosts --ssh-option LogLevel=ERROR"
	ssh -i "$tmp/id" -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile="$tmp/known_hosts" -o LogLevel=ERROR -p "$port" root@127.0.0.1 true \
		2>"$tmp/ssh.err0" || skip "cannot log in to the test sshd: $(cat "$tmp/ssh.err0")"
}
