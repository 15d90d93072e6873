/*
 * User-mode networking through libslirp: the guest's Ethernet frames go to
 * slirp's TCP/IP stack, which talks to the world with ordinary host
 * sockets; host port forwards listen on the host (127.0.0.1 by default).
 *
 * Network (slirp's usual plan): 10.0.2.0/24, gateway and DHCP server
 * 10.0.2.2, DNS 10.0.2.3, the guest gets 10.0.2.15 by DHCP. IPv6 is off.
 *
 *	struct vsl_slirp *n = vsl_slirp_new(ctx, deliver_to_guest, dev);
 *	vsl_slirp_forward(n, false, NULL, 8080, 80);   // host 127.0.0.1:8080 -> guest :80
 *	vsl_slirp_input(n, frame, len);                // a frame the guest sent
 *	vsl_slirp_poll(n, 0);                          // host sockets + slirp timers
 *
 * Everything runs on the caller's thread: slirp is not thread-safe, and
 * vessel calls it from the vCPU thread (the device's notify and a periodic
 * timer of the board's clock), so no locking. slirp's own timers (TCP
 * retransmission, DHCP lease...) run on the host's monotonic clock and are
 * fired from vsl_slirp_poll.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <slirp/libslirp.h>

#include "runtime/devices/virtio.h"

#define SLIRP_TIMERS 32
#define SLIRP_FDS 256

struct slirp_timer {
	bool used, armed;
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms;
};

struct vsl_slirp {
	struct vsl_ctx *ctx;
	Slirp *slirp;
	vsl_slirp_rx_fn *rx;
	void *rx_opaque;
	struct slirp_timer timers[SLIRP_TIMERS];
	struct pollfd fds[SLIRP_FDS];
	int nfds;
	uint64_t guest_errors;
};

static int64_t slirp_now_ns(void *opaque)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static ssize_t slirp_send(const void *buf, size_t len, void *opaque)
{
	struct vsl_slirp *s = opaque;

	s->rx(s->rx_opaque, buf, len);
	return (ssize_t)len;
}

static void slirp_guest_error(const char *msg, void *opaque)
{
	struct vsl_slirp *s = opaque;

	s->guest_errors++;
	vsl_debug(s->ctx, "slirp: guest error: %s", msg);
}

static void *slirp_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct vsl_slirp *s = opaque;

	for (int i = 0; i < SLIRP_TIMERS; i++) {
		if (!s->timers[i].used) {
			s->timers[i] = (struct slirp_timer){ .used = true, .cb = cb, .cb_opaque = cb_opaque };
			return &s->timers[i];
		}
	}
	vsl_warn(s->ctx, "slirp: out of timers (%d)", SLIRP_TIMERS);
	return NULL;
}

static void slirp_timer_free(void *timer, void *opaque)
{
	struct slirp_timer *t = timer;

	if (t)
		*t = (struct slirp_timer){ 0 };
}

static void slirp_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_timer *t = timer;

	if (t) {
		t->armed = true;
		t->expire_ms = expire_ms;
	}
}

static void slirp_fd_nop(int fd, void *opaque)
{
}

static void slirp_notify(void *opaque)
{
}

static const SlirpCb slirp_cbs = {
	.send_packet = slirp_send,
	.guest_error = slirp_guest_error,
	.clock_get_ns = slirp_now_ns,
	.timer_new = slirp_timer_new,
	.timer_free = slirp_timer_free,
	.timer_mod = slirp_timer_mod,
	.register_poll_fd = slirp_fd_nop,
	.unregister_poll_fd = slirp_fd_nop,
	.notify = slirp_notify,
};

struct vsl_slirp *vsl_slirp_new(struct vsl_ctx *ctx, vsl_slirp_rx_fn *rx, void *opaque)
{
	struct vsl_slirp *s = calloc(1, sizeof(*s));
	SlirpConfig cfg = { .version = 1, .in_enabled = true };

	if (!s) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		return NULL;
	}
	s->ctx = ctx;
	s->rx = rx;
	s->rx_opaque = opaque;
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	cfg.vhostname = "vessel";
	/*
	 * The guest reaches the outside world through host sockets, but never
	 * the host's own loopback services through 10.0.2.2: only the ports
	 * forwarded with -p (or in vessel.yaml) connect guest and host.
	 */
	cfg.disable_host_loopback = true;
	s->slirp = slirp_new(&cfg, &slirp_cbs, s);
	if (!s->slirp) {
		free(s);
		vsl_set_error(ctx, 0, VSL_EIO, "libslirp could not start user-mode networking");
		return NULL;
	}
	return s;
}

void vsl_slirp_free(struct vsl_slirp *s)
{
	if (!s)
		return;
	slirp_cleanup(s->slirp);
	free(s);
}

int vsl_slirp_forward(struct vsl_slirp *s, bool udp, const char *host_addr, uint16_t host_port,
		      uint16_t guest_port)
{
	struct in_addr host, guest;

	if (inet_pton(AF_INET, host_addr ? host_addr : "127.0.0.1", &host) != 1)
		return vsl_set_error(s->ctx, 0, VSL_EINVAL, "port forward: '%s' is not an IPv4 address",
				     host_addr);
	inet_pton(AF_INET, "10.0.2.15", &guest);
	if (slirp_add_hostfwd(s->slirp, udp, host, host_port, guest, guest_port) < 0)
		return vsl_set_error(s->ctx, 0, VSL_EIO,
				     "cannot forward %s %s:%u to the guest's port %u (port in use?)",
				     udp ? "UDP" : "TCP", host_addr ? host_addr : "127.0.0.1",
				     host_port, guest_port);
	return 0;
}

void vsl_slirp_input(struct vsl_slirp *s, const uint8_t *frame, size_t len)
{
	if (len >= 14 && len <= 65536)
		slirp_input(s->slirp, frame, (int)len);
}

static int slirp_add_poll(int fd, int events, void *opaque)
{
	struct vsl_slirp *s = opaque;
	short ev = 0;

	if (s->nfds == SLIRP_FDS)
		return -1;
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	s->fds[s->nfds] = (struct pollfd){ .fd = fd, .events = ev };
	return s->nfds++;
}

static int slirp_get_revents(int idx, void *opaque)
{
	struct vsl_slirp *s = opaque;
	short re;
	int ev = 0;

	if (idx < 0 || idx >= s->nfds)
		return 0;
	re = s->fds[idx].revents;
	if (re & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (re & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

void vsl_slirp_poll(struct vsl_slirp *s, int timeout_ms)
{
	uint32_t tmo = timeout_ms < 0 ? UINT32_MAX : (uint32_t)timeout_ms;
	int64_t now_ms;
	int r;

	s->nfds = 0;
	slirp_pollfds_fill(s->slirp, &tmo, slirp_add_poll, s);
	now_ms = slirp_now_ns(s) / 1000000;
	for (int i = 0; i < SLIRP_TIMERS; i++)
		if (s->timers[i].armed && s->timers[i].expire_ms - now_ms < (int64_t)tmo)
			tmo = s->timers[i].expire_ms <= now_ms ? 0 : (uint32_t)(s->timers[i].expire_ms - now_ms);
	r = poll(s->fds, (nfds_t)s->nfds, tmo > (uint32_t)INT32_MAX ? -1 : (int)tmo);
	slirp_pollfds_poll(s->slirp, r < 0, slirp_get_revents, s);
	now_ms = slirp_now_ns(s) / 1000000;
	for (int i = 0; i < SLIRP_TIMERS; i++) {
		struct slirp_timer *t = &s->timers[i];
		if (t->used && t->armed && t->expire_ms <= now_ms) {
			t->armed = false;
			t->cb(t->cb_opaque);
		}
	}
}
