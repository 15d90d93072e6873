/*
 * virtio-net on libslirp (slirp.c): user-mode networking, no privileges.
 *
 * Queues: 0 receive, 1 transmit. Every buffer starts with the 12-byte
 * virtio_net_hdr_v1 (flags, gso_type, hdr_len, gso_size, csum_start,
 * csum_offset, num_buffers); vessel offers no offloads, so transmitted
 * headers are ignored and received ones are zero with num_buffers = 1.
 * Features: MAC (config bytes 0-5) and STATUS (link up, bytes 6-7).
 *
 * Receive: a frame from slirp goes into the next receive buffer; when the
 * driver has none posted, up to NET_BACKLOG frames wait and are delivered
 * when it posts more (a notify on queue 0), beyond that they are dropped
 * (TCP retransmits). Transmit: each chain is one frame, at most 64 KiB.
 *
 * Host I/O: a periodic timer on the board's virtual clock (every NET_POLL_NS
 * of guest time) polls slirp's sockets and timers. When virtual time has
 * run ahead of the host clock since the device started (the guest idles
 * and the board skips time), the poll waits for the host to catch up, up
 * to 10 ms per period: an idle guest then follows the host clock (slirp's
 * TCP timers and the guest's agree) instead of spinning, and a busy guest
 * (slower than the host clock) is never held back.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/devices/virtio.h"

#define NET_F_MAC (1ull << 5)
#define NET_F_STATUS (1ull << 16)
#define NET_HDR 12
#define NET_FRAME_MAX 65536
#define NET_BACKLOG 64
#define NET_POLL_NS 1000000ull
#define NET_CREDIT_NS (100 * 1000000ull)  /* busy-guest lag forgiven beyond this */
#define NET_WAIT_MAX_MS 10

struct net_frame {
	uint16_t len;
	uint8_t data[1514];
};

struct net {
	struct vsl_virtio *v;
	struct vsl_slirp *slirp;
	struct vsl_clock *clk;
	struct vsl_timer *timer;
	uint8_t tx[NET_FRAME_MAX];
	struct net_frame backlog[NET_BACKLOG];
	unsigned bl_head, bl_n;
	uint64_t last_vns, last_hns;   /* pacing anchors: guest and host ns */
	uint64_t rx_frames, tx_frames, rx_dropped;
};

static uint64_t net_host_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * VSL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Put one frame into the next receive buffer; false when none is posted. */
static bool net_deliver(struct net *n, const uint8_t *frame, size_t len)
{
	struct vsl_virtio *v = n->v;
	struct vsl_virtio_req *r = &v->req;
	uint8_t hdr[NET_HDR] = { 0 };

	if (vsl_virtio_pop(v, 0) != 1)
		return false;
	hdr[10] = 1;   /* num_buffers */
	if (r->wlen < NET_HDR + len) {
		/* too small for the frame: return it empty */
		vsl_virtio_push(v, 0, r->head, 0);
		n->rx_dropped++;
		return true;
	}
	vsl_virtio_req_write(r, 0, hdr, NET_HDR);
	vsl_virtio_req_write(r, NET_HDR, frame, len);
	vsl_virtio_push(v, 0, r->head, (uint32_t)(NET_HDR + len));
	vsl_virtio_notify(v, 0);
	n->rx_frames++;
	return true;
}

static void net_flush_backlog(struct net *n)
{
	while (n->bl_n) {
		struct net_frame *f = &n->backlog[n->bl_head];
		if (!net_deliver(n, f->data, f->len))
			return;
		n->bl_head = (n->bl_head + 1) % NET_BACKLOG;
		n->bl_n--;
	}
}

/* slirp -> guest */
static void net_rx(void *opaque, const uint8_t *frame, size_t len)
{
	struct net *n = opaque;

	net_flush_backlog(n);
	if (!n->bl_n && net_deliver(n, frame, len))
		return;
	if (n->bl_n == NET_BACKLOG || len > sizeof(n->backlog[0].data)) {
		n->rx_dropped++;
		return;
	}
	struct net_frame *f = &n->backlog[(n->bl_head + n->bl_n) % NET_BACKLOG];
	f->len = (uint16_t)len;
	memcpy(f->data, frame, len);
	n->bl_n++;
}

static void net_notify(struct vsl_virtio *v, unsigned q)
{
	struct net *n = v->priv;
	struct vsl_virtio_req *r = &v->req;
	bool any = false;

	if (q == 0) {
		net_flush_backlog(n);
		return;
	}
	while (vsl_virtio_pop(v, 1) == 1) {
		/* slirp may answer at once (net_rx pops a receive buffer into v->req):
		 * keep what the transmit request needs before handing the frame over */
		uint16_t head = r->head;
		uint64_t len = r->rlen > NET_HDR ? r->rlen - NET_HDR : 0;
		if (len > NET_FRAME_MAX)
			len = 0;
		if (len)
			vsl_virtio_req_read(r, NET_HDR, n->tx, (size_t)len);
		vsl_virtio_push(v, 1, head, 0);
		any = true;
		if (len) {
			n->tx_frames++;
			vsl_slirp_input(n->slirp, n->tx, (size_t)len);
		}
	}
	if (any)
		vsl_virtio_notify(v, 1);
}

void vsl_virtio_net_poll(struct vsl_virtio *v, int timeout_ms)
{
	struct net *n = v->priv;

	vsl_slirp_poll(n->slirp, timeout_ms);
}

static void net_timer(void *opaque, uint64_t now_ns)
{
	struct net *n = opaque;
	uint64_t h = net_host_ns();
	int64_t ahead = (int64_t)(now_ns - n->last_vns) - (int64_t)(h - n->last_hns);
	int wait_ms = 0;

	/*
	 * ahead: how far guest time has run past host time since the anchors.
	 * A busy guest falls behind (negative); keep at most NET_CREDIT_NS of
	 * that as credit, so a later idle stretch cannot race ahead by minutes.
	 * Ahead by a millisecond or more: wait in poll (a packet ends the wait).
	 */
	if (ahead < -(int64_t)NET_CREDIT_NS) {
		n->last_vns = now_ns;
		n->last_hns = h;
		ahead = 0;
	}
	if (ahead >= 1000000)
		wait_ms = (int)VSL_MIN(ahead / 1000000, (int64_t)NET_WAIT_MAX_MS);
	vsl_slirp_poll(n->slirp, wait_ms);
	vsl_timer_mod(n->timer, now_ns + NET_POLL_NS);
}

static void net_reset(struct vsl_virtio *v)
{
	struct net *n = v->priv;

	if (n)
		n->bl_n = n->bl_head = 0;
}

static void net_free(struct vsl_virtio *v)
{
	struct net *n = v->priv;

	if (!n)
		return;
	vsl_timer_free(n->timer);
	vsl_slirp_free(n->slirp);
	free(n);
}

static const struct vsl_virtio_ops net_ops = {
	.name = "virtio-net",
	.device_id = 1,
	.class_code = 0x020000,   /* network controller, Ethernet */
	.num_queues = 2,
	.features = NET_F_MAC | NET_F_STATUS | VSL_VIRTIO_F_INDIRECT_DESC,
	.cfg_size = 8,
	.notify = net_notify,
	.reset = net_reset,
	.free = net_free,
};

struct vsl_virtio *vsl_virtio_net_new(struct vsl_ctx *ctx, struct vsl_pci *pci,
				      const struct vsl_guest_mem *mem, struct vsl_clock *clk,
				      const uint8_t mac[6])
{
	struct vsl_virtio *v = calloc(1, sizeof(*v));
	struct net *n = calloc(1, sizeof(*n));
	static const uint8_t def_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	if (!v || !n) {
		free(v);
		free(n);
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		return NULL;
	}
	n->v = v;
	n->clk = clk;
	n->slirp = vsl_slirp_new(ctx, net_rx, n);
	if (!n->slirp)
		goto err;
	memcpy(v->dev_cfg, mac ? mac : def_mac, 6);
	v->dev_cfg[6] = 1;   /* VIRTIO_NET_S_LINK_UP */
	v->priv = n;
	if (clk) {
		n->timer = vsl_timer_new(clk, net_timer, n);
		if (!n->timer) {
			vsl_set_error(ctx, 0, VSL_ENOMEM, "virtio-net: no timer left on the board's clock");
			goto err;
		}
		n->last_vns = vsl_clock_now(clk);
		n->last_hns = net_host_ns();
		vsl_timer_mod(n->timer, n->last_vns + NET_POLL_NS);
	}
	if (vsl_virtio_init(v, ctx, pci, mem, &net_ops) < 0)
		goto err;
	return v;
err:
	v->priv = NULL;
	vsl_timer_free(n->timer);
	vsl_slirp_free(n->slirp);
	free(n);
	free(v);
	return NULL;
}

struct vsl_slirp *vsl_virtio_net_slirp(struct vsl_virtio *v)
{
	struct net *n = v->priv;

	return n->slirp;
}
