/*
 * ssh:// sources for P2V: read a remote machine's disk with nothing
 * installed there but sshd and standard tools.
 *
 *	struct vsl_p2v_ssh *s;
 *	vsl_p2v_ssh_open(ctx, "ssh://root@srv:2222/dev/sda", &opts, &s);
 *	vsl_p2v_ssh_read(ctx, s, off, buf, 4 << 20);   // verified, reconnecting
 *	vsl_p2v_ssh_close(s);
 *
 * One persistent session per source: the OpenSSH client binary
 *
 *	ssh -T -e none -o BatchMode=yes [-i FILE] [-o OPT]... [-p PORT] [-l USER]
 *	    -o ConnectTimeout=20 -o ServerAliveInterval=15 -o ServerAliveCountMax=4
 *	    -o RemoteCommand=none HOST "sh -c 'SCRIPT' vessel-p2v PATH"
 *
 * (so ~/.ssh/config applies; BatchMode comes first so that no option can
 * turn password prompts back on: a prompt would hang). SCRIPT is a POSIX sh
 * loop (dd, head, sha256sum, blockdev or /sys/class/block/N/size, stat,
 * cat) that reads one request per line on stdin and answers on stdout, every
 * reply either a line or a line announcing an exact byte count:
 *
 *	greeting            "V 1 SIZE" | "E missing" | "E unreadable" | "E nosize"
 *	                    | "E notool NAME" | "E olddd" (no iflag=skip_bytes,count_bytes)
 *	C OFF LEN (chunk)   "D LEN\n" + LEN bytes + "H <rc=N> <sha256> - SIZE"
 *	S OFF LEN (digest)  "H <rc=N> <sha256> - SIZE"
 *	P PATH (a file)     "D N\n" + N bytes (at most 1 MiB; N=0 when missing)
 *	N (network cards)   "D N\n" + "NAME MAC\n"... for each /sys/class/net/NAME with a device
 *	M (in use?)         "U 1" when the disk or a partition of it is mounted, a swap
 *	                    or held (device-mapper, LVM, MD), else "U 0"
 *	B (partitions)      "D N\n" + "NAME START SIZE\n"... from /sys/class/block/DISK/
 *	X DEV (xfs)         "D N\n" + xfs_db -r output (sb 0 and freesp -d), "rc=N",
 *	                    xfs_logprint -t's "state:" line
 *	L DEV (LVM)         "D N\n" + "pvs", lvm pvs of DEV, "rc=N", "lvs", lvm lvs -a
 *	                    of DEV's VG, "rc=N" (lvm --readonly: no locks taken)
 *
 * (X and L replies are cut at 32 MiB; a cut reply lacks its last "rc=" and
 * is taken as malformed, so the area is copied whole.)
 *
 * (the rc= and digest words come in either order). The data of a chunk is
 * padded to exactly LEN with zeroes when dd comes up short, so the framing
 * never breaks; the digest is of a second read of the same range, with dd's
 * exit status and the disk's size after it: a chunk is accepted only when
 * both reads succeeded, the disk still reaches the chunk's end and the
 * digest matches what arrived (a mismatch is fetched again, up to 3 times).
 * The remote is only ever read: nothing is written there, not even a
 * temporary file.
 *
 * The copy reads ahead: once a read is served, the next run of used bytes
 * (the free map and a resumed prefix are known) up to the next 4 MiB
 * boundary is asked for, so the remote reads and digests it while this side
 * verifies and writes (p2v_ssh_ahead). The free-map probes and the other
 * requests do not; an outstanding read-ahead is taken in first.
 *
 * A dropped connection (EOF, a protocol error, 5 idle minutes) is
 * re-established and the request repeated, up to P2V_SSH_RETRIES times
 * with growing delays, each logged as a warning; after that the session is
 * "lost" (vsl_p2v_ssh_lost), which vsl_p2v turns into a resumable failure
 * (builder/p2v_resume.c). A remote read failure or a shrunk disk is not a
 * transport problem: it is an error naming host and path, not retried.
 *
 * For testing only: VESSEL_P2V_SSH_DROP_AFTER=BYTES kills the ssh client
 * once after BYTES of disk data have arrived (the session reconnects);
 * VESSEL_P2V_SSH_FAIL_AFTER=BYTES kills it and refuses every reconnection
 * (the copy fails and is kept for resuming).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vessel/hash.h"
#include "vessel/p2v.h"

extern char **environ;

#define P2V_SSH_CHUNK (4u << 20)           /* largest request: one engine window */
#define P2V_SSH_RETRIES 4                  /* reconnections per request */
#define P2V_SSH_MISMATCHES 3               /* refetches of a chunk whose digest differs */
#define P2V_SSH_IDLE_MS (300 * 1000)       /* silence that counts as a dropped link */
#define P2V_SSH_FILE_MAX (1u << 20)        /* P replies */
#define P2V_SSH_LOST (-1000)               /* internal: the transport failed */
#define P2V_SSH_MISMATCH (-1001)           /* internal: digest differs */

/* The remote loop (see the top of the file). No single quotes: it goes inside '...'. */
static const char p2v_ssh_script[] =
	"export LC_ALL=C; d=$1; "
	"sz() { if [ -b \"$d\" ]; then blockdev --getsize64 \"$d\" 2>/dev/null || "
	"{ b=$(readlink -f \"$d\"); b=${b##*/}; n=$(cat \"/sys/class/block/$b/size\" "
	"2>/dev/null) && echo $((n*512)); }; elif [ -f \"$d\" ]; then stat -L -c %s \"$d\"; "
	"fi; }; "
	"rd() { dd if=\"$d\" bs=1M iflag=skip_bytes,count_bytes skip=\"$1\" count=\"$2\" "
	"2>/dev/null; }; "
	"sm() { x=$( { { rd \"$1\" \"$2\"; echo \"rc=$?\" >&3; } | sha256sum; } 3>&1 ); "
	"echo H $x $(sz); }; "
	"for t in dd head sha256sum; do if ! command -v $t >/dev/null 2>&1; then "
	"echo \"E notool $t\"; exit 0; fi; done; "
	"if ! dd if=/dev/zero of=/dev/null bs=512 count=1 iflag=skip_bytes,count_bytes "
	"2>/dev/null; then echo \"E olddd\"; exit 0; fi; "
	"if [ ! -e \"$d\" ]; then echo \"E missing\"; exit 0; fi; "
	"if ! rd 0 512 >/dev/null; then echo \"E unreadable\"; exit 0; fi; "
	"s=$(sz); case \"$s\" in \"\"|*[!0-9]*) echo \"E nosize\"; exit 0;; esac; "
	"echo \"V 1 $s\"; "
	"while read -r c o l; do case \"$c\" in "
	"C) echo \"D $l\"; { rd \"$o\" \"$l\"; head -c \"$l\" /dev/zero; } | head -c \"$l\"; "
	"sm \"$o\" \"$l\";; "
	"S) sm \"$o\" \"$l\";; "
	"P) v=$(head -c 1048576 \"$o\" 2>/dev/null; echo x); v=${v%x}; "
	"printf \"D %s\\n%s\" \"${#v}\" \"$v\";; "
	"N) v=$(for i in /sys/class/net/*; do if [ -e \"$i/device\" ]; then "
	"echo \"${i##*/} $(cat \"$i/address\" 2>/dev/null)\"; fi; done; echo x); v=${v%x}; "
	"printf \"D %s\\n%s\" \"${#v}\" \"$v\";; "
	"M) b=$(readlink -f \"$d\"); n=${b##*/}; u=0; "
	"case \"$n\" in *[0-9]) q=\"$b\"p;; *) q=\"$b\";; esac; "
	"for p in \"$b\" \"$q\"[0-9]*; do [ -e \"$p\" ] || continue; "
	"if grep -q \"^$p[[:space:]]\" /proc/mounts /proc/swaps 2>/dev/null; then u=1; fi; done; "
	"for h in /sys/class/block/$n/holders/* /sys/class/block/$n/$n*/holders/*; do "
	"if [ -e \"$h\" ]; then u=1; fi; done; echo \"U $u\";; "
	"B) b=$(readlink -f \"$d\"); n=${b##*/}; v=$(for p in /sys/class/block/$n/$n*; do "
	"if [ -r \"$p/start\" ]; then echo \"${p##*/} $(cat \"$p/start\") $(cat \"$p/size\")\"; "
	"fi; done; echo x); v=${v%x}; printf \"D %s\\n%s\" \"${#v}\" \"$v\";; "
	"X) v=$( { xfs_db -r -c \"sb 0\" -c \"p blocksize agblocks agcount dblocks\" "
	"-c \"freesp -d\" \"$o\" 2>/dev/null; echo \"rc=$?\"; xfs_logprint -t \"$o\" 2>/dev/null "
	"| grep \"state:\"; } | head -c 33554432; echo x); v=${v%x}; "
	"printf \"D %s\\n%s\" \"${#v}\" \"$v\";; "
	"L) g=$(lvm pvs --readonly --noheadings -o vg_name \"$o\" 2>/dev/null | tr -d \" \"); "
	"v=$( { echo pvs; lvm pvs --readonly --noheadings --nosuffix --units b --separator : "
	"-o pv_name,vg_name,pe_start,vg_extent_size,pv_pe_count \"$o\" 2>/dev/null; "
	"echo \"rc=$?\"; echo lvs; if [ -n \"$g\" ]; then lvm lvs --readonly -a --noheadings "
	"--nosuffix --units b --separator : -o lv_name,vg_name,segtype,seg_start_pe,seg_size_pe,"
	"devices,lv_path,lv_active \"$g\" 2>/dev/null; echo \"rc=$?\"; else echo rc=0; fi; } "
	"| head -c 33554432; echo x); v=${v%x}; printf \"D %s\\n%s\" \"${#v}\" \"$v\";; "
	"Q) exit 0;; "
	"*) echo \"E request\";; "
	"esac; done";

struct vsl_p2v_ssh {
	struct vsl_p2v_ssh_url url;
	char *source;                /* the URL as given, for messages */
	char **argv;                 /* the ssh command line */
	pid_t pid;                   /* -1: not connected */
	int in, out, err;            /* our ends of ssh's stdin, stdout, stderr */
	uint8_t rbuf[65536];         /* stdout read buffer */
	size_t rpos, rlen;
	char etail[1024];            /* the last bytes ssh wrote on stderr */
	size_t elen;
	uint64_t size;
	char ident[65];
	uint64_t bytes;              /* verified disk data received */
	bool lost;
	bool in_use;                 /* mounted, swap or held on the remote, at open */
	/* read-ahead of the copy (see p2v_ssh_ahead) */
	bool pf_out;                 /* a C request is sent, its reply not read yet */
	bool pf_have;                /* pf_buf holds verified [pf_off, pf_off + pf_len) */
	uint64_t pf_off;
	size_t pf_len;
	uint8_t *pf_buf;             /* P2V_SSH_CHUNK bytes, allocated on first use */
	struct vsl_p2v_extents skip; /* free ranges: the copy never reads them */
	uint64_t skip_below;         /* resumed: already copied */
	char broke[256];             /* why the link broke during a read-ahead; "" if it did not */
	struct vsl_ctx *log;         /* borrowed: the opener's, whose log reaches the user */
	const volatile sig_atomic_t *intr; /* borrowed: vsl_p2v_opts.interrupted */
};

/* Test hooks (see the top of the file); process-wide, read at each open. */
static uint64_t p2v_ssh_fail_after, p2v_ssh_drop_after, p2v_ssh_received;
static bool p2v_ssh_dropped, p2v_ssh_refuse;

/* ---- URLs ---- */

bool vsl_p2v_ssh_is_url(const char *s)
{
	return s && !strncmp(s, "ssh://", 6);
}

static bool p2v_ssh_chars(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c)) || !c)
			return false;
	}
	return true;
}

int vsl_p2v_ssh_parse(struct vsl_ctx *ctx, const char *url, struct vsl_p2v_ssh_url *u)
{
	const char *a, *slash, *at, *h, *hend, *colon = NULL;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (!vsl_p2v_ssh_is_url(url))
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: not an ssh:// URL", url ? url : "");
	a = url + 6;
	slash = strchr(a, '/');
	if (!slash || !slash[1])
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: no remote path (expected "
				     "ssh://[USER@]HOST[:PORT]/dev/sdX)", url);
	at = memchr(a, '@', (size_t)(slash - a));
	if (at) {
		n = (size_t)(at - a);
		if (!n || n >= sizeof(u->user) || a[0] == '-' || !p2v_ssh_chars(a, n, "._-"))
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: bad user name '%.*s'", url,
					     (int)n, a);
		memcpy(u->user, a, n);
		h = at + 1;
	} else {
		h = a;
	}
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(slash - h));

		if (!rb || !p2v_ssh_chars(h + 1, (size_t)(rb - h - 1), ":.") || rb == h + 1)
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: bad IPv6 address", url);
		hend = rb + 1;
		if (hend < slash && *hend != ':')
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: junk after the IPv6 address",
					     url);
		colon = hend < slash ? hend : NULL;
		h++;
		n = (size_t)(rb - h);
	} else {
		colon = memchr(h, ':', (size_t)(slash - h));
		hend = colon ? colon : slash;
		n = (size_t)(hend - h);
		if (!n || h[0] == '-' || !p2v_ssh_chars(h, n, ".-_"))
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: bad host name '%.*s'", url,
					     (int)n, h);
	}
	if (n >= sizeof(u->host))
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: host name too long", url);
	memcpy(u->host, h, n);
	if (colon) {
		unsigned long port = 0;
		const char *p = colon + 1;

		if (p == slash || slash - p > 5)
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: bad port", url);
		for (; p < slash; p++) {
			if (*p < '0' || *p > '9')
				return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: bad port", url);
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (!port || port > 65535)
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: port %lu is not 1..65535",
					     url, port);
		u->port = (unsigned)port;
	}
	n = strlen(slash);
	if (n >= sizeof(u->path))
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: remote path too long", url);
	if (!p2v_ssh_chars(slash, n, "/._+:@,=-"))
		return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: the remote path may only hold letters, "
				     "digits and /._+:@,=- (it is passed to the remote shell)", url);
	memcpy(u->path, slash, n);
	return 0;
}

/* ---- the ssh process ---- */

static void p2v_ssh_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static char **p2v_ssh_argv(const struct vsl_p2v_ssh_url *u, const struct vsl_p2v_opts *o)
{
	size_t nopt = 0, i = 0, cap;
	char **v, port[16];

	for (; o && o->ssh_options && o->ssh_options[nopt]; nopt++)
		;
	cap = 32 + 2 * nopt;
	v = calloc(cap, sizeof(*v));
	if (!v)
		return NULL;
#define P2V_ARG(s) do { if (!(v[i++] = strdup(s))) goto nomem; } while (0)
	P2V_ARG("ssh");
	P2V_ARG("-T");
	P2V_ARG("-e");
	P2V_ARG("none");
	P2V_ARG("-o");
	P2V_ARG("BatchMode=yes");
	if (o && o->ssh_identity) {
		P2V_ARG("-i");
		P2V_ARG(o->ssh_identity);
	}
	for (size_t k = 0; k < nopt; k++) {
		P2V_ARG("-o");
		P2V_ARG(o->ssh_options[k]);
	}
	if (u->port) {
		snprintf(port, sizeof(port), "%u", u->port);
		P2V_ARG("-p");
		P2V_ARG(port);
	}
	if (u->user[0]) {
		P2V_ARG("-l");
		P2V_ARG(u->user);
	}
	/* defaults after the user's: with ssh, the first value given wins */
	P2V_ARG("-o");
	P2V_ARG("ConnectTimeout=20");
	P2V_ARG("-o");
	P2V_ARG("ServerAliveInterval=15");
	P2V_ARG("-o");
	P2V_ARG("ServerAliveCountMax=4");
	P2V_ARG("-o");
	P2V_ARG("RemoteCommand=none"); /* a RemoteCommand in ~/.ssh/config would clash */
	P2V_ARG(u->host);
	v[i] = vsl_strdup_printf("sh -c '%s' vessel-p2v %s", p2v_ssh_script, u->path);
	if (!v[i])
		goto nomem;
#undef P2V_ARG
	return v;
nomem:
	p2v_ssh_argv_free(v);
	return NULL;
}

/* Keep the last bytes ssh wrote on stderr (its reason for failing). */
static void p2v_ssh_drain_err(struct vsl_p2v_ssh *s)
{
	char buf[512];
	ssize_t n;

	while (s->err >= 0 && (n = read(s->err, buf, sizeof(buf))) > 0) {
		size_t k = (size_t)n; /* < sizeof(etail): buf is smaller */

		if (s->elen + k >= sizeof(s->etail)) {
			size_t drop = s->elen + k - (sizeof(s->etail) - 1);

			memmove(s->etail, s->etail + drop, s->elen - drop);
			s->elen -= drop;
		}
		memcpy(s->etail + s->elen, buf, k);
		s->elen += k;
		s->etail[s->elen] = 0;
	}
}

static void p2v_ssh_kill(struct vsl_p2v_ssh *s)
{
	if (s->in >= 0)
		close(s->in);
	if (s->out >= 0)
		close(s->out);
	s->in = s->out = -1;
	if (s->pid > 0) {
		/* stdin closed: the remote loop ends and ssh exits; do not wait long */
		int st;

		for (int i = 0; i < 20 && waitpid(s->pid, &st, WNOHANG) == 0; i++) {
			if (i == 10)
				kill(s->pid, SIGTERM);
			usleep(50 * 1000);
		}
		if (waitpid(s->pid, &st, WNOHANG) == 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
		}
	}
	s->pid = -1;
	p2v_ssh_drain_err(s);
	if (s->err >= 0)
		close(s->err);
	s->err = -1;
	s->rpos = s->rlen = 0;
	s->pf_out = false; /* its reply went with the link */
}

/* The last non-empty line of ssh's stderr, or "". */
static const char *p2v_ssh_reason(struct vsl_p2v_ssh *s, char *buf, size_t len)
{
	char *end, *start;

	snprintf(buf, len, "%s", s->etail);
	end = buf + strlen(buf);
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		*--end = 0;
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	while (*start == '\r')
		start++;
	return start;
}

static int p2v_ssh_spawn(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s)
{
	int sin[2] = { -1, -1 }, sout[2] = { -1, -1 }, serr[2] = { -1, -1 }, r;
	posix_spawn_file_actions_t fa;

	s->elen = 0;
	s->etail[0] = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sin) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sout) < 0 ||
	    pipe2(serr, O_CLOEXEC) < 0) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "%s: cannot start ssh", s->source);
		goto err;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sin[1], 0);
	posix_spawn_file_actions_adddup2(&fa, sout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, serr[1], 2);
	r = posix_spawnp(&s->pid, "ssh", &fa, NULL, s->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r) {
		s->pid = -1;
		r = vsl_set_error(ctx, r, VSL_ENOENT, "%s: cannot run the OpenSSH client (ssh)",
				  s->source);
		goto err;
	}
	close(sin[1]);
	close(sout[1]);
	close(serr[1]);
	s->in = sin[0];
	s->out = sout[0];
	s->err = serr[0];
	fcntl(s->err, F_SETFL, fcntl(s->err, F_GETFL) | O_NONBLOCK);
	shutdown(s->in, SHUT_RD);
	s->rpos = s->rlen = 0;
	return 0;
err:
	for (int i = 0; i < 2; i++) {
		if (sin[i] >= 0)
			close(sin[i]);
		if (sout[i] >= 0)
			close(sout[i]);
		if (serr[i] >= 0)
			close(serr[i]);
	}
	return r;
}

/* More stdout into rbuf: 0, or P2V_SSH_LOST (EOF, error, timeout). */
static int p2v_ssh_fill(struct vsl_p2v_ssh *s, int timeout_ms)
{
	struct pollfd pf[2] = { { .fd = s->out, .events = POLLIN }, { .fd = s->err, .events = POLLIN } };

	if (s->out < 0)
		return P2V_SSH_LOST;
	if (s->rpos == s->rlen)
		s->rpos = s->rlen = 0;
	if (s->rpos > sizeof(s->rbuf) / 2) {
		memmove(s->rbuf, s->rbuf + s->rpos, s->rlen - s->rpos);
		s->rlen -= s->rpos;
		s->rpos = 0;
	}
	for (;;) {
		int n = poll(pf, s->err >= 0 ? 2 : 1, timeout_ms);
		ssize_t got;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return P2V_SSH_LOST;
		if (pf[1].revents)
			p2v_ssh_drain_err(s);
		if (pf[1].revents & (POLLHUP | POLLERR)) {
			close(s->err);
			s->err = -1;
		}
		if (!pf[0].revents)
			continue;
		got = read(s->out, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return P2V_SSH_LOST;
		s->rlen += (size_t)got;
		return 0;
	}
}

/* One reply line (without '\n') into buf: 0 or P2V_SSH_LOST (also when too long). */
static int p2v_ssh_line(struct vsl_p2v_ssh *s, char *buf, size_t len, int timeout_ms)
{
	for (;;) {
		uint8_t *nl = memchr(s->rbuf + s->rpos, '\n', s->rlen - s->rpos);

		if (nl) {
			size_t n = (size_t)(nl - (s->rbuf + s->rpos));

			if (n >= len)
				return P2V_SSH_LOST;
			memcpy(buf, s->rbuf + s->rpos, n);
			buf[n] = 0;
			s->rpos += n + 1;
			return 0;
		}
		if (s->rlen - s->rpos >= len || p2v_ssh_fill(s, timeout_ms) < 0)
			return P2V_SSH_LOST;
	}
}

/* Exactly len bytes of reply into buf. */
static int p2v_ssh_bytes_in(struct vsl_p2v_ssh *s, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		size_t avail = s->rlen - s->rpos;

		if (avail) {
			size_t k = VSL_MIN(avail, len - got);

			memcpy((uint8_t *)buf + got, s->rbuf + s->rpos, k);
			s->rpos += k;
			got += k;
			continue;
		}
		/* large reads go straight into buf, after the buffer is empty */
		if (s->out < 0)
			return P2V_SSH_LOST;
		if (len - got >= sizeof(s->rbuf)) {
			struct pollfd pf = { .fd = s->out, .events = POLLIN };
			ssize_t n;
			int pr = poll(&pf, 1, P2V_SSH_IDLE_MS);

			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0)
				return P2V_SSH_LOST;
			n = read(s->out, (uint8_t *)buf + got, len - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return P2V_SSH_LOST;
			got += (size_t)n;
			continue;
		}
		if (p2v_ssh_fill(s, P2V_SSH_IDLE_MS) < 0)
			return P2V_SSH_LOST;
	}
	return 0;
}

static int p2v_ssh_send(struct vsl_p2v_ssh *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int p2v_ssh_send(struct vsl_p2v_ssh *s, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;
	size_t len, done = 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) || s->in < 0)
		return P2V_SSH_LOST;
	len = (size_t)n;
	while (done < len) {
		ssize_t k = send(s->in, buf + done, len - done, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return P2V_SSH_LOST;
		done += (size_t)k;
	}
	return 0;
}

/* ---- requests ---- */

/* An "H ..." digest line: dd's status, the sha256, the disk's size after the read. */
static int p2v_ssh_parse_digest(const char *line, int *rc, char hex[65], uint64_t *size)
{
	char copy[512], *save = NULL, *t;
	bool have_rc = false, have_hex = false, have_size = false;

	if (strncmp(line, "H ", 2) || strlen(line) >= sizeof(copy))
		return -1;
	snprintf(copy, sizeof(copy), "%s", line + 2);
	for (t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		size_t n = strlen(t);

		have_size = false; /* the size is the last word */
		if (!strncmp(t, "rc=", 3)) {
			char *end;
			long v = strtol(t + 3, &end, 10);

			if (*end || end == t + 3)
				return -1;
			*rc = (int)v;
			have_rc = true;
		} else if (n == 64 && strspn(t, "0123456789abcdef") == 64 && !have_hex) {
			memcpy(hex, t, 65);
			have_hex = true;
		} else if (n && n < 21 && strspn(t, "0123456789") == n) {
			*size = strtoull(t, NULL, 10);
			have_size = true;
		} else if (strcmp(t, "-")) {
			return -1;
		}
	}
	if (!have_size)
		*size = 0; /* sz printed nothing: the disk is gone */
	return have_rc && have_hex ? 0 : -1;
}

/* The remote's greeting: size of the disk or why it cannot be read. */
static int p2v_ssh_greeting(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t *size)
{
	char line[256], why[1024];
	const char *reason;
	unsigned long long v;
	char tail;

	/*
	 * The connection, authentication and the remote's first dd all happen
	 * here. Lines a chatty login script prints first are skipped (bounded).
	 */
	for (int i = 0; i < 64; i++) {
		if (p2v_ssh_line(s, line, sizeof(line), 120 * 1000) < 0) {
			line[0] = 0;
			break;
		}
		if (!strncmp(line, "V ", 2) || !strncmp(line, "E ", 2))
			break;
	}
	if (line[0]) {
		if (sscanf(line, "V 1 %llu%c", &v, &tail) == 1) {
			*size = v;
			return 0;
		}
		if (!strcmp(line, "E missing"))
			return vsl_set_error(ctx, 0, VSL_ENOENT, "%s: no such device or file %s on %s",
					     s->source, s->url.path, s->url.host);
		if (!strcmp(line, "E unreadable"))
			return vsl_set_error(ctx, 0, VSL_EPERM, "%s: %s on %s is not readable (log in "
					     "as root, or as a user who may read it)", s->source,
					     s->url.path, s->url.host);
		if (!strncmp(line, "E notool ", 9))
			return vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s: %s has no '%.40s' command (vessel "
					     "needs sh, dd, head and sha256sum there)", s->source,
					     s->url.host, line + 9);
		if (!strcmp(line, "E olddd"))
			return vsl_set_error(ctx, 0, VSL_ENOTSUP, "%s: the dd on %s does not know "
					     "iflag=skip_bytes,count_bytes (GNU coreutils 8.16 or "
					     "later is needed)", s->source, s->url.host);
		if (!strcmp(line, "E nosize"))
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: the size of %s on %s is not "
					     "known (not a block device or a regular file)",
					     s->source, s->url.path, s->url.host);
		return vsl_set_error(ctx, 0, VSL_EIO, "%s: unexpected answer from the remote shell "
				     "on %s: \"%.80s\"", s->source, s->url.host, line);
	}
	p2v_ssh_kill(s);
	reason = p2v_ssh_reason(s, why, sizeof(why));
	if (strstr(reason, "Permission denied") || strstr(reason, "Too many authentication") ||
	    strstr(reason, "authentication"))
		return vsl_set_error(ctx, 0, VSL_EPERM, "%s: ssh authentication to %s failed: %s "
				     "(vessel runs ssh with BatchMode=yes: use a key, --identity "
				     "or ~/.ssh/config)", s->source, s->url.host, reason);
	if (strstr(reason, "Host key verification failed") || strstr(reason, "HOST IDENTIFICATION"))
		return vsl_set_error(ctx, 0, VSL_EPERM, "%s: ssh host key of %s not verified: %s "
				     "(add it to ~/.ssh/known_hosts, or pass --ssh-option "
				     "StrictHostKeyChecking=accept-new)", s->source, s->url.host,
				     reason);
	if (strstr(reason, "Connection refused") || strstr(reason, "timed out") ||
	    strstr(reason, "No route") || strstr(reason, "unreachable") ||
	    strstr(reason, "resolve") || strstr(reason, "Name or service"))
		return vsl_set_error(ctx, 0, VSL_EIO, "%s: cannot connect to %s: %s", s->source,
				     s->url.host, reason);
	return vsl_set_error(ctx, 0, VSL_EIO, "%s: ssh to %s failed%s%s", s->source, s->url.host,
			     reason[0] ? ": " : " (no message from ssh)", reason);
}

/* Start ssh and check the remote disk. Failures other than VSL errors: none. */
static int p2v_ssh_connect(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t *size)
{
	int r;

	if (p2v_ssh_refuse)
		return vsl_set_error(ctx, 0, VSL_EIO, "%s: cannot connect to %s: refused by the "
				     "VESSEL_P2V_SSH_FAIL_AFTER test hook", s->source, s->url.host);
	r = p2v_ssh_spawn(ctx, s);
	if (r == 0)
		r = p2v_ssh_greeting(ctx, s, size);
	if (r < 0)
		p2v_ssh_kill(s);
	return r;
}

/* Test hooks: cut the link as a network would (ssh killed, its sockets gone). */
static void p2v_ssh_hooks(struct vsl_p2v_ssh *s)
{
	bool cut = false;

	if (p2v_ssh_fail_after && p2v_ssh_received >= p2v_ssh_fail_after && !p2v_ssh_refuse)
		cut = p2v_ssh_refuse = true;
	if (p2v_ssh_drop_after && p2v_ssh_received >= p2v_ssh_drop_after && !p2v_ssh_dropped)
		cut = p2v_ssh_dropped = true;
	if (cut && s->pid > 0) {
		kill(s->pid, SIGKILL);
		p2v_ssh_kill(s);
	}
}

/* Check a digest reply against what arrived; errors name host, path and offset. */
static int p2v_ssh_check(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, const char *line,
			 uint64_t off, size_t len, const char *want)
{
	char hex[65];
	uint64_t size = 0;
	int rc = 0;

	if (p2v_ssh_parse_digest(line, &rc, hex, &size) < 0)
		return P2V_SSH_LOST;
	if (rc != 0 || size < off + len)
		return vsl_set_error(ctx, 0, VSL_EIO, "%s: remote read short at offset %llu of %s "
				     "on %s (dd status %d, disk now %llu bytes, was %llu): the "
				     "source vanished or is failing", s->source,
				     (unsigned long long)off, s->url.path, s->url.host, rc,
				     (unsigned long long)size, (unsigned long long)s->size);
	if (want && strcmp(hex, want))
		return P2V_SSH_MISMATCH;
	if (!want)
		memcpy(s->ident, hex, 65);
	return 0;
}

/* Ask for a chunk: 0 or P2V_SSH_LOST. */
static int p2v_ssh_chunk_send(struct vsl_p2v_ssh *s, uint64_t off, size_t len)
{
	p2v_ssh_hooks(s);
	return p2v_ssh_send(s, "C %llu %zu\n", (unsigned long long)off, len);
}

/* The reply to a chunk request: 0, a VSL error, P2V_SSH_LOST or P2V_SSH_MISMATCH. */
static int p2v_ssh_chunk_recv(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t off,
			      void *buf, size_t len)
{
	char line[512], hex[65];
	unsigned long long n;
	char tail;
	int r;

	r = p2v_ssh_line(s, line, sizeof(line), P2V_SSH_IDLE_MS);
	if (r < 0)
		return r;
	if (sscanf(line, "D %llu%c", &n, &tail) != 1 || n != len)
		return P2V_SSH_LOST;
	r = p2v_ssh_bytes_in(s, buf, len);
	if (r == 0)
		r = p2v_ssh_line(s, line, sizeof(line), P2V_SSH_IDLE_MS);
	if (r < 0)
		return r;
	vsl_sha256_hex(buf, len, hex);
	r = p2v_ssh_check(ctx, s, line, off, len, hex);
	if (r == 0)
		p2v_ssh_received += len;
	return r;
}

/* One chunk (len <= P2V_SSH_CHUNK): 0, a VSL error, P2V_SSH_LOST or P2V_SSH_MISMATCH. */
static int p2v_ssh_chunk(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t off, void *buf,
			 size_t len)
{
	int r = p2v_ssh_chunk_send(s, off, len);

	return r < 0 ? r : p2v_ssh_chunk_recv(ctx, s, off, buf, len);
}

/* The link broke outside a request: close it; the next request says so and reconnects. */
static void p2v_ssh_broke(struct vsl_p2v_ssh *s)
{
	char tmp[1024];
	const char *reason;

	p2v_ssh_kill(s);
	reason = p2v_ssh_reason(s, tmp, sizeof(tmp));
	snprintf(s->broke, sizeof(s->broke), "%s", reason[0] ? reason : "connection closed");
}

/*
 * Take in the reply to an outstanding read-ahead, so that the stream is in
 * step for the next request. Whatever goes wrong only drops the read-ahead
 * (a lost link is closed): the request that needs those bytes asks again,
 * with the usual retries and errors.
 */
static void p2v_ssh_settle(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s)
{
	int r;

	if (!s->pf_out)
		return;
	s->pf_out = false;
	r = p2v_ssh_chunk_recv(ctx, s, s->pf_off, s->pf_buf, s->pf_len);
	if (r == 0) {
		s->pf_have = true;
		s->bytes += s->pf_len;
	} else if (r == P2V_SSH_LOST) {
		p2v_ssh_broke(s);
	}
}

/* Ctrl-C: stop here; what was copied is kept, as for a lost link. */
static int p2v_ssh_interrupted(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t off)
{
	char a[32];

	s->lost = true;
	p2v_ssh_kill(s);
	return vsl_set_error(ctx, 0, VSL_ECANCELED, "%s: interrupted at offset %s", s->source,
			     vsl_format_size(off, a, sizeof(a)));
}

/* Run one request, reconnecting when the transport fails. */
static int p2v_ssh_request(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t off, void *buf,
			   size_t len)
{
	int attempt = 0, mismatches = 0, r;

	p2v_ssh_settle(ctx, s);
	s->pf_have = false; /* a direct request: the read-ahead guessed wrong */
	for (;;) {
		char why[1024], a[32];
		uint64_t size = s->size;

		if (s->intr && *s->intr)
			return p2v_ssh_interrupted(ctx, s, off);
		if (s->lost)
			return vsl_set_error(ctx, 0, VSL_EIO, "%s: the ssh connection to %s was lost",
					     s->source, s->url.host);
		if (s->pid < 0 && s->broke[0]) {
			/* it broke during a read-ahead: the first attempt of this request */
			snprintf(why, sizeof(why), "%s", s->broke);
			s->broke[0] = 0;
			goto retry;
		}
		if (s->pid < 0) {
			r = p2v_ssh_connect(ctx, s, &size);
			if (r == 0 && size != s->size) {
				p2v_ssh_kill(s);
				return vsl_set_error(ctx, 0, VSL_EIO, "%s: after reconnecting, %s on %s "
						     "is %llu bytes (was %llu): the source changed",
						     s->source, s->url.path, s->url.host,
						     (unsigned long long)size,
						     (unsigned long long)s->size);
			}
			if (r < 0) {
				const char *m = vsl_ctx_error(ctx);
				size_t k = strlen(s->source);

				/* "URL: cannot connect ...": the URL is in the message already */
				if (!strncmp(m, s->source, k) && !strncmp(m + k, ": ", 2))
					m += k + 2;
				snprintf(why, sizeof(why), "%s", m);
				goto retry;
			}
		}
		if (buf)
			r = p2v_ssh_chunk(ctx, s, off, buf, len);
		else if ((r = p2v_ssh_send(s, "S %llu %zu\n", (unsigned long long)off, len)) == 0 &&
			 (r = p2v_ssh_line(s, why, sizeof(why), P2V_SSH_IDLE_MS)) == 0)
			r = p2v_ssh_check(ctx, s, why, off, len, NULL);
		if (r == 0)
			return 0;
		if (r == P2V_SSH_MISMATCH) {
			if (++mismatches > P2V_SSH_MISMATCHES)
				return vsl_set_error(ctx, 0, VSL_EIO, "%s: the data at offset %llu keeps "
						     "changing (%d digest mismatches): is %s on %s "
						     "in use?", s->source, (unsigned long long)off,
						     mismatches, s->url.path, s->url.host);
			vsl_warn(s->log, "%s: digest mismatch at offset %llu: fetching it again",
				 s->source, (unsigned long long)off);
			continue;
		}
		if (r != P2V_SSH_LOST)
			return r;
		p2v_ssh_kill(s);
		{
			char tmp[1024];
			const char *reason = p2v_ssh_reason(s, tmp, sizeof(tmp));

			snprintf(why, sizeof(why), "%s", reason[0] ? reason : "connection closed");
		}
retry:
		if (s->intr && *s->intr)
			continue; /* Ctrl-C took ssh down too: stop, do not reconnect */
		if (++attempt > P2V_SSH_RETRIES) {
			s->lost = true;
			return vsl_set_error(ctx, 0, VSL_EIO, "%s: ssh connection to %s lost at "
					     "offset %s (%s); gave up after %d reconnection attempts",
					     s->source, s->url.host,
					     vsl_format_size(off, a, sizeof(a)), why, P2V_SSH_RETRIES);
		}
		vsl_warn(s->log, "%s: ssh connection to %s lost at offset %s (%s): reconnecting "
			 "(attempt %d of %d)", s->source, s->url.host,
			 vsl_format_size(off, a, sizeof(a)), why, attempt, P2V_SSH_RETRIES);
		if (!p2v_ssh_refuse && !(s->intr && *s->intr))
			sleep(1u << (attempt - 1));
	}
}

/* ---- the session ---- */

static uint64_t p2v_ssh_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 10) : 0;
}

int vsl_p2v_ssh_open(struct vsl_ctx *ctx, const char *url, const struct vsl_p2v_opts *o,
		     struct vsl_p2v_ssh **out)
{
	struct vsl_p2v_ssh *s;
	int r;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	s->pid = -1;
	s->in = s->out = s->err = -1;
	s->log = ctx;
	s->intr = o ? o->interrupted : NULL;
	r = vsl_p2v_ssh_parse(ctx, url, &s->url);
	if (r < 0)
		goto err;
	s->source = strdup(url);
	s->argv = p2v_ssh_argv(&s->url, o);
	if (!s->source || !s->argv) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto err;
	}
	p2v_ssh_fail_after = p2v_ssh_env("VESSEL_P2V_SSH_FAIL_AFTER");
	p2v_ssh_drop_after = p2v_ssh_env("VESSEL_P2V_SSH_DROP_AFTER");
	if (!p2v_ssh_fail_after)
		p2v_ssh_refuse = false;
	if (!p2v_ssh_drop_after)
		p2v_ssh_dropped = false;
	r = p2v_ssh_connect(ctx, s, &s->size);
	if (r < 0)
		goto err;
	if (!s->size) {
		r = vsl_set_error(ctx, 0, VSL_EINVAL, "%s: %s on %s is empty", url, s->url.path,
				  s->url.host);
		goto err;
	}
	vsl_info(ctx, "%s: connected, %llu bytes", url, (unsigned long long)s->size);
	/* the first MiB identifies the disk to a resumed run */
	r = p2v_ssh_request(ctx, s, 0, NULL, (size_t)VSL_MIN(s->size, (uint64_t)1 << 20));
	if (r < 0)
		goto err;
	{
		char line[64];

		if (p2v_ssh_send(s, "M\n") < 0 || p2v_ssh_line(s, line, sizeof(line),
							      P2V_SSH_IDLE_MS) < 0 ||
		    (strcmp(line, "U 0") && strcmp(line, "U 1"))) {
			r = vsl_set_error(ctx, 0, VSL_EIO, "%s: no answer from %s to whether the disk "
					  "is in use", url, s->url.host);
			goto err;
		}
		s->in_use = line[2] == '1';
	}
	*out = s;
	return 0;
err:
	vsl_p2v_ssh_close(s);
	return r;
}

void vsl_p2v_ssh_close(struct vsl_p2v_ssh *s)
{
	if (!s)
		return;
	if (s->pid > 0 && !s->pf_out)
		p2v_ssh_send(s, "Q\n");
	p2v_ssh_kill(s);
	p2v_ssh_argv_free(s->argv);
	vsl_p2v_extents_fini(&s->skip);
	free(s->pf_buf);
	free(s->source);
	free(s);
}

uint64_t vsl_p2v_ssh_size(const struct vsl_p2v_ssh *s)
{
	return s->size;
}

bool vsl_p2v_ssh_in_use(const struct vsl_p2v_ssh *s)
{
	return s && s->in_use;
}

bool vsl_p2v_ssh_lost(const struct vsl_p2v_ssh *s)
{
	return s && s->lost;
}

uint64_t vsl_p2v_ssh_bytes(const struct vsl_p2v_ssh *s)
{
	return s ? s->bytes : 0;
}

const char *vsl_p2v_ssh_ident(const struct vsl_p2v_ssh *s)
{
	return s->ident;
}

int vsl_p2v_ssh_read(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t off, void *buf,
		     size_t len)
{
	size_t done = 0;

	if (off > s->size || len > s->size - off)
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s: read past the end of the disk",
				     s->source);
	while (done < len) {
		size_t n = VSL_MIN(len - done, (size_t)P2V_SSH_CHUNK);
		int r = p2v_ssh_request(ctx, s, off + done, (uint8_t *)buf + done, n);

		if (r < 0)
			return r;
		s->bytes += n;
		done += n;
	}
	return 0;
}

/* ---- machine facts ---- */

/*
 * A "D N" reply (N at most max) of a P, N, B, X or L request, as a heap
 * string (NULs are not expected); what: for messages ("reading the machine's facts").
 */
static int p2v_ssh_text(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, const char *req,
			unsigned long long max, const char *what, char **out)
{
	char line[128], tail;
	unsigned long long n;
	char *buf;
	int r;

	*out = NULL;
	p2v_ssh_settle(ctx, s);
	if (s->pid < 0)
		return vsl_set_error(ctx, 0, VSL_EIO, "%s: not connected", s->source);
	r = p2v_ssh_send(s, "%s\n", req);
	if (r == 0)
		r = p2v_ssh_line(s, line, sizeof(line), P2V_SSH_IDLE_MS);
	if (r == 0 && (sscanf(line, "D %llu%c", &n, &tail) != 1 || n > max))
		r = P2V_SSH_LOST;
	if (r < 0)
		return vsl_set_error(ctx, 0, VSL_EIO, "%s: ssh connection to %s failed while "
				     "%s", s->source, s->url.host, what);
	buf = malloc((size_t)n + 1);
	if (!buf)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	if (p2v_ssh_bytes_in(s, buf, (size_t)n) < 0) {
		free(buf);
		return vsl_set_error(ctx, 0, VSL_EIO, "%s: ssh connection to %s failed while "
				     "%s", s->source, s->url.host, what);
	}
	buf[n] = 0;
	*out = buf;
	return 0;
}

static int p2v_ssh_put(struct vsl_ctx *ctx, const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		int e = errno;

		if (f)
			fclose(f);
		return vsl_set_error(ctx, e, VSL_EIO, "write %s", path);
	}
	return 0;
}

int vsl_p2v_ssh_facts_dir(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, const char *dir)
{
	static const char *const mk[] = { "proc", "sys", "sys/class", "sys/class/net" };
	char path[4096], *text = NULL;
	int r = 0;

	for (size_t i = 0; i < sizeof(mk) / sizeof(mk[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, mk[i]);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return vsl_set_error(ctx, errno, VSL_EIO, "mkdir %s", path);
	}
	for (int i = 0; i < 2 && r == 0; i++) {
		const char *f = i ? "/proc/meminfo" : "/proc/cpuinfo";
		char req[64];

		snprintf(req, sizeof(req), "P %s", f);
		r = p2v_ssh_text(ctx, s, req, 2 * P2V_SSH_FILE_MAX, "reading the machine's facts",
				 &text);
		if (r == 0 && text[0]) {
			snprintf(path, sizeof(path), "%s%s", dir, f);
			r = p2v_ssh_put(ctx, path, text);
		}
		free(text);
		text = NULL;
	}
	if (r == 0)
		r = p2v_ssh_text(ctx, s, "N", 2 * P2V_SSH_FILE_MAX, "reading the machine's facts",
				 &text);
	/* "NAME MAC" lines: NAME/address and an empty NAME/device */
	for (char *line = text, *next; r == 0 && line && *line; line = next) {
		char *sp, *nl = strchr(line, '\n');

		next = nl ? nl + 1 : line + strlen(line);
		if (nl)
			*nl = 0;
		sp = strchr(line, ' ');
		if (!sp || sp == line || (size_t)(sp - line) >= 32 || line[0] == '.' ||
		    memchr(line, '/', (size_t)(sp - line)))
			continue; /* not a name vessel would record */
		*sp = 0;
		snprintf(path, sizeof(path), "%s/sys/class/net/%s", dir, line);
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			r = vsl_set_error(ctx, errno, VSL_EIO, "mkdir %s", path);
			break;
		}
		snprintf(path, sizeof(path), "%s/sys/class/net/%s/address", dir, line);
		r = p2v_ssh_put(ctx, path, sp + 1);
		snprintf(path, sizeof(path), "%s/sys/class/net/%s/device", dir, line);
		if (r == 0)
			r = p2v_ssh_put(ctx, path, "");
	}
	free(text);
	return r;
}

/* ---- the remote's filesystem tools ---- */

int vsl_p2v_ssh_query(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, enum vsl_p2v_ssh_query q,
		      const char *dev, char **out)
{
	static const char *const what[] = { "listing the disk's partitions",
					    "asking xfs_db about an xfs filesystem",
					    "asking lvm about a physical volume" };
	char req[600];

	*out = NULL;
	if (q == VSL_P2V_SSH_PARTS) {
		snprintf(req, sizeof(req), "B");
	} else {
		if (!dev || dev[0] != '/' || strlen(dev) > 512 ||
		    !p2v_ssh_chars(dev, strlen(dev), "/._+:-"))
			return vsl_set_error(ctx, 0, VSL_EINVAL, "%s: remote device path \"%s\" "
					     "not asked about (unexpected characters)", s->source,
					     dev ? dev : "");
		snprintf(req, sizeof(req), "%s %s", q == VSL_P2V_SSH_XFS ? "X" : "L", dev);
	}
	return p2v_ssh_text(ctx, s, req, (32ull << 20) + 4096, what[q], out);
}

const char *vsl_p2v_ssh_path(const struct vsl_p2v_ssh *s)
{
	return s->url.path;
}

/* ---- the free map: a sparse local mirror filled on demand ---- */

struct p2v_ssh_mirror {
	struct vsl_p2v_ssh *s;
	struct vsl_ctx *ctx;
	int fd;
	uint64_t gran;               /* fetch granule (64 KiB, more on huge disks) */
	uint8_t *have;               /* one bit per granule fetched */
	uint8_t *buf;                /* P2V_SSH_CHUNK */
};

static bool p2v_mirror_has(const struct p2v_ssh_mirror *m, uint64_t g)
{
	return m->have[g / 8] & (1u << (g % 8));
}

static int p2v_mirror_fetch(void *opaque, uint64_t off, uint64_t len)
{
	struct p2v_ssh_mirror *m = opaque;
	uint64_t size = vsl_p2v_ssh_size(m->s);
	uint64_t g, gend;

	if (!len || off >= size)
		return 0;
	len = VSL_MIN(len, size - off);
	g = off / m->gran;
	gend = (off + len + m->gran - 1) / m->gran;
	while (g < gend) {
		uint64_t start, n, a, b;
		int r;

		if (p2v_mirror_has(m, g)) {
			g++;
			continue;
		}
		/* a run of missing granules, at most one chunk */
		for (n = 1; g + n < gend && !p2v_mirror_has(m, g + n) &&
		     (n + 1) * m->gran <= P2V_SSH_CHUNK; n++)
			;
		start = g * m->gran;
		a = start;
		b = VSL_MIN((g + n) * m->gran, size);
		r = vsl_p2v_ssh_read(m->ctx, m->s, a, m->buf, (size_t)(b - a));
		for (size_t done = 0; r == 0 && done < b - a;) {
			ssize_t k = pwrite(m->fd, m->buf + done, (size_t)(b - a - done),
					   (off_t)(a + done));

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				r = vsl_set_error(m->ctx, errno, VSL_EIO, "write the local mirror of %s",
						  m->s->source);
			else
				done += (size_t)k;
		}
		if (r < 0)
			return r;
		for (uint64_t k = 0; k < n; k++)
			m->have[(g + k) / 8] |= (uint8_t)(1u << ((g + k) % 8));
		g += n;
	}
	return 0;
}

int vsl_p2v_ssh_free_map(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s,
			 struct vsl_p2v_extents *fmap, struct vsl_problems *warn)
{
	struct p2v_ssh_mirror m = { .s = s, .ctx = ctx, .fd = -1, .gran = 64 << 10 };
	struct vsl_p2v_reader rd = { .name = s->source, .size = s->size,
				     .fetch = p2v_mirror_fetch, .opaque = &m, .ctx = ctx,
				     .ssh = s };
	const char *tmpdir = getenv("TMPDIR");
	char *path;
	uint64_t before = s->bytes;
	int r;

	/* the bitmap stays under 8 MiB whatever the disk's size */
	while (s->size / m.gran > (64ull << 20) && m.gran < P2V_SSH_CHUNK)
		m.gran *= 2;
	path = vsl_strdup_printf("%s/vessel-p2v-mirror-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	m.have = calloc((size_t)(s->size / m.gran / 8 + 1), 1);
	m.buf = malloc(P2V_SSH_CHUNK);
	if (!path || !m.have || !m.buf) {
		r = vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto out;
	}
	m.fd = mkstemp(path);
	if (m.fd < 0) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "create %s", path);
		goto out;
	}
	unlink(path);
	if (ftruncate(m.fd, (off_t)s->size) < 0) {
		r = vsl_set_error(ctx, errno, VSL_EIO, "a sparse local mirror of %s (%llu bytes) "
				  "in %s", s->source, (unsigned long long)s->size,
				  tmpdir && *tmpdir ? tmpdir : "/tmp");
		goto out;
	}
	rd.fd = m.fd;
	r = vsl_p2v_free_map_reader(ctx, &rd, fmap, warn);
	/* the read-ahead skips what the copy will not read */
	vsl_p2v_extents_fini(&s->skip);
	for (size_t i = 0; r == 0 && i < fmap->n; i++)
		r = vsl_p2v_extents_add(ctx, &s->skip, fmap->v[i].off, fmap->v[i].len);
	/* a fetch that failed inside libext2fs only shows as an unreadable filesystem */
	if (r == 0 && s->lost)
		r = vsl_set_error(ctx, 0, VSL_EIO, "%s: the ssh connection to %s was lost while "
				  "reading the partition tables and filesystems", s->source,
				  s->url.host);
	if (r == 0)
		vsl_info(ctx, "%s: %llu bytes of metadata fetched for the free map", s->source,
			 (unsigned long long)(s->bytes - before));
out:
	if (m.fd >= 0)
		close(m.fd);
	free(m.have);
	free(m.buf);
	free(path);
	return r;
}

/* ---- the remote disk as a read-only image ---- */

struct p2v_ssh_image {
	struct vsl_p2v_ssh *s;
	uint64_t skip_below;
};

/*
 * Read-ahead of the copy. The conversion engine reads the disk in windows
 * aligned to 4 MiB, in increasing order, and (through the filter image)
 * never the free ranges nor what a resumed run already has: so the next
 * read is, nearly always, the next run of used bytes up to the next 4 MiB
 * boundary. That range is asked for as soon as a read is served, and the
 * remote reads and digests it while this side verifies and writes the
 * previous one (and over a WAN, the round trip is hidden too). A wrong
 * guess costs one chunk's transfer; the bytes still count in ssh_bytes.
 */
static void p2v_ssh_ahead(struct vsl_p2v_ssh *s, uint64_t p)
{
	uint64_t end;
	size_t i = 0;

	if (p < s->skip_below)
		p = s->skip_below;
	for (; i < s->skip.n && s->skip.v[i].off + s->skip.v[i].len <= p; i++)
		;
	for (; i < s->skip.n && s->skip.v[i].off <= p; i++)
		p = s->skip.v[i].off + s->skip.v[i].len;
	if (p >= s->size || s->pid < 0 || s->lost)
		return;
	/* the engine's windows may be smaller than a chunk: the rest is already here */
	if ((s->pf_have || s->pf_out) && p >= s->pf_off && p < s->pf_off + s->pf_len)
		return;
	end = VSL_MIN(p - p % P2V_SSH_CHUNK + P2V_SSH_CHUNK, s->size);
	if (i < s->skip.n && s->skip.v[i].off < end)
		end = s->skip.v[i].off;
	if (!s->pf_buf && !(s->pf_buf = malloc(P2V_SSH_CHUNK)))
		return;
	s->pf_off = p;
	s->pf_len = (size_t)(end - p);
	s->pf_have = false;
	if (p2v_ssh_chunk_send(s, s->pf_off, s->pf_len) == 0)
		s->pf_out = true;
	else
		p2v_ssh_broke(s);
}

static int p2v_ssh_image_read(struct vsl_image *img, uint64_t off, void *buf, size_t len)
{
	struct p2v_ssh_image *si = img->priv;
	struct vsl_p2v_ssh *s = si->s;
	size_t done = 0;
	int r;

	if (off > s->size || len > s->size - off)
		return vsl_set_error(img->ctx, 0, VSL_ERANGE, "%s: read past the end of the disk",
				     s->source);
	if (s->intr && *s->intr)
		return p2v_ssh_interrupted(img->ctx, s, off);
	p2v_ssh_settle(img->ctx, s);
	while (done < len && s->pf_have) {
		uint64_t p = off + done;
		size_t k;

		if (p < s->pf_off || p >= s->pf_off + s->pf_len)
			break;
		k = (size_t)VSL_MIN(len - done, s->pf_off + s->pf_len - p);
		memcpy((uint8_t *)buf + done, s->pf_buf + (p - s->pf_off), k);
		done += k;
	}
	if (done < len) {
		r = vsl_p2v_ssh_read(img->ctx, s, off + done, (uint8_t *)buf + done, len - done);
		if (r < 0)
			return r;
	}
	p2v_ssh_ahead(s, off + len);
	return 0;
}

static int p2v_ssh_image_status(struct vsl_image *img, uint64_t off, uint64_t len,
				uint64_t *pnum, int *flags)
{
	struct p2v_ssh_image *si = img->priv;

	if (off < si->skip_below) {
		*pnum = VSL_MIN(len, si->skip_below - off);
		*flags = VSL_BLOCK_ZERO;
	} else {
		*pnum = len;
		*flags = VSL_BLOCK_DATA;
	}
	return 0;
}

static void p2v_ssh_image_close(struct vsl_image *img)
{
	free(img->priv);
	img->priv = NULL;
}

static const struct vsl_format_ops p2v_ssh_image_ops = {
	.name = "ssh",
	.description = "a remote disk read over ssh (vessel p2v)",
	.read = p2v_ssh_image_read,
	.block_status = p2v_ssh_image_status,
	.close = p2v_ssh_image_close,
};

int vsl_p2v_ssh_image(struct vsl_ctx *ctx, struct vsl_p2v_ssh *s, uint64_t skip_below,
		      struct vsl_image **out)
{
	struct vsl_image *img = calloc(1, sizeof(*img));
	struct p2v_ssh_image *si = calloc(1, sizeof(*si));

	if (!img || !si || !(img->path = strdup(s->source))) {
		free(img);
		free(si);
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
	}
	si->s = s;
	si->skip_below = VSL_MIN(skip_below, s->size);
	s->skip_below = si->skip_below;
	img->ops = &p2v_ssh_image_ops;
	img->ctx = ctx;
	img->size = s->size;
	img->flags = VSL_IMAGE_RDONLY;
	img->priv = si;
	*out = img;
	return 0;
}
