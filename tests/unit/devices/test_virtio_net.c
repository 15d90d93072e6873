/*
 * Unit tests for runtime/devices/virtio_net.c and slirp.c: frames crafted in
 * a RAM buffer go through libslirp and back. DHCP is answered by slirp
 * itself (no host traffic); the port-forward case connects to 127.0.0.1
 * only. Nothing leaves the host.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "virtio_driver.h"

static struct vsl_virtio *net;

#define RXBUF 0x20000u
#define TXBUF 0x30000u
#define RXQ_DESC VD_DESC
#define TXQ_DESC 0x5000u
#define TXQ_AVAIL 0x6000u
#define TXQ_USED 0x7000u

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF };

static void setup(void)
{
	vd_setup();
	net = vsl_virtio_net_new(vd_ctx, vd_pci, &vd_mem, NULL, mac);
	ck_assert_ptr_nonnull(net);
	vd_start(net, ~0ull);   /* queue 0 (receive) at the fixed layout */
	/* queue 1 (transmit) */
	vd_wr(net, 0x14, 0x0B, 0);
	vd_wr(net, 0x16, 1, 1);
	vd_wr(net, 0x18, VD_QSIZE, 1);
	vd_wr(net, 0x20, TXQ_DESC, 3);
	vd_wr(net, 0x28, TXQ_AVAIL, 3);
	vd_wr(net, 0x30, TXQ_USED, 3);
	vd_wr(net, 0x1C, 1, 1);
	vd_wr(net, 0x14, 0x0F, 0);
	ck_assert(!vd_needs_reset(net));
}

static void teardown(void)
{
	vsl_virtio_free(net);
	vd_teardown();
}

/* Post n receive buffers of 2048 bytes. */
static void post_rx(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		vd_desc(i, RXBUF + 2048 * i, 2048, 2, 0);
		vd_kick(net, (uint16_t)i);
	}
}

static void transmit(const uint8_t *frame, size_t len)
{
	static uint16_t idx;
	uint8_t hdr[12] = { 0 };
	/* heads 5, 6, ...: never the receive heads (0..3), so a mix-up shows */
	uint16_t head = (uint16_t)((idx + 5) % VD_QSIZE), slot = (uint16_t)(idx % VD_QSIZE);

	memcpy(vd_ram + TXBUF, hdr, 12);
	memcpy(vd_ram + TXBUF + 12, frame, len);
	vd_desc_at(TXQ_DESC, head, TXBUF, (uint32_t)(12 + len), 0, 0);
	memcpy(vd_ram + TXQ_AVAIL + 4 + 2 * slot, &head, 2);
	idx++;
	memcpy(vd_ram + TXQ_AVAIL + 2, &idx, 2);
	vd_wr(net, VSL_VIRTIO_NOTIFY_OFF + VSL_VIRTIO_NOTIFY_MULT, 0, 1);
	/* the transmit buffer came back under its own head */
	ck_assert_uint_eq(vd_ld16(TXQ_USED + 2), idx);
	ck_assert_uint_eq(vd_ld32(TXQ_USED + 4 + 8 * slot), head);
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)~s;
}

/* Ethernet + IPv4 + UDP 68 -> 67 + BOOTP DHCPDISCOVER with xid. */
static size_t dhcp_discover(uint8_t *f, uint32_t xid)
{
	uint8_t *ip = f + 14, *udp = ip + 20, *b = udp + 8;
	size_t blen = 240 + 4, ulen = 8 + blen, iplen = 20 + ulen;
	uint16_t c;

	memset(f, 0, 14 + iplen);
	memset(f, 0xFF, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(iplen >> 8);
	ip[3] = (uint8_t)iplen;
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xFF, 4);
	c = csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[1] = 68;
	udp[3] = 67;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, &xid, 4);
	memcpy(b + 28, mac, 6);
	b[236] = 99; b[237] = 130; b[238] = 83; b[239] = 99;
	b[240] = 53; b[241] = 1; b[242] = 1; b[243] = 255;
	return 14 + iplen;
}

START_TEST(test_config)
{
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(vd_rd(net, VSL_VIRTIO_DEVCFG_OFF + (uint64_t)i, 0), mac[i]);
	ck_assert_uint_eq(vd_rd(net, VSL_VIRTIO_DEVCFG_OFF + 6, 1), 1);   /* link up */
	ck_assert_uint_eq(vd_rd(net, 0x12, 1), 2);                       /* two queues */
}
END_TEST

START_TEST(test_dhcp)
{
	uint8_t f[600];
	uint32_t xid = 0x7E55E1u, got;
	size_t n = dhcp_discover(f, xid);
	uint8_t *rx = vd_ram + RXBUF + 12;

	post_rx(4);
	transmit(f, n);
	ck_assert(!vd_needs_reset(net));
	/* the transmit buffer came back */
	ck_assert_uint_eq(vd_ld16(TXQ_USED + 2), 1);
	/* slirp answered with a DHCPOFFER for 10.0.2.15 into the first receive buffer */
	ck_assert_uint_ge(vd_used_idx(), 1);
	ck_assert_uint_gt(vd_ld32(VD_USED + 8), 12 + 14 + 20 + 8 + 240);
	ck_assert_uint_eq(vd_ram[RXBUF + 10], 1);                /* num_buffers */
	ck_assert(!memcmp(rx, mac, 6) || !memcmp(rx, "\xFF\xFF\xFF\xFF\xFF\xFF", 6));
	ck_assert_uint_eq(rx[12], 0x08);
	ck_assert_uint_eq(rx[14 + 9], 17);                       /* UDP */
	ck_assert_uint_eq(rx[14 + 20 + 1], 67);                  /* from the DHCP server port */
	ck_assert_uint_eq(rx[14 + 20 + 3], 68);
	memcpy(&got, rx + 14 + 28 + 4, 4);
	ck_assert_uint_eq(got, xid);
	ck_assert_int_eq(memcmp(rx + 14 + 28 + 16, "\x0A\x00\x02\x0F", 4), 0); /* yiaddr */
}
END_TEST

START_TEST(test_backlog)
{
	uint8_t f[600];
	size_t n = dhcp_discover(f, 1);

	/* no receive buffer posted: the offer waits, then arrives on the post */
	transmit(f, n);
	ck_assert_uint_eq(vd_used_idx(), 0);
	post_rx(1);
	ck_assert_uint_eq(vd_used_idx(), 1);
}
END_TEST

START_TEST(test_port_forward)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int probe = socket(AF_INET, SOCK_STREAM, 0), fd;
	uint16_t port;

	/* find a free loopback port */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(probe, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(probe, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(probe);
	ck_assert_int_eq(vsl_slirp_forward(vsl_virtio_net_slirp(net), false, NULL, port, 80), 0);
	/* the same port twice is refused with a message */
	ck_assert_int_lt(vsl_slirp_forward(vsl_virtio_net_slirp(net), false, NULL, port, 81), 0);
	ck_assert_int_lt(vsl_slirp_forward(vsl_virtio_net_slirp(net), false, "not-an-ip", 1, 81), 0);
	post_rx(4);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(fd, (struct sockaddr *)&a, sizeof(a));
	/* slirp accepts and reaches for the guest: an ARP request or a SYN arrives */
	for (int i = 0; i < 200 && vd_used_idx() == 0; i++)
		vsl_virtio_net_poll(net, 10);
	ck_assert_uint_ge(vd_used_idx(), 1);
	{
		uint8_t *rx = vd_ram + RXBUF + 12;
		uint16_t type = (uint16_t)(rx[12] << 8 | rx[13]);
		ck_assert(type == 0x0806 || type == 0x0800);
	}
	close(fd);
}
END_TEST

START_TEST(test_bad_tx_ring)
{
	/* a transmit descriptor outside RAM: needs reset, nothing sent */
	vd_desc_at(TXQ_DESC, 0, VD_RAM - 4, 64, 0, 0);
	uint16_t idx = 1, head = 0;
	memcpy(vd_ram + TXQ_AVAIL + 4, &head, 2);
	memcpy(vd_ram + TXQ_AVAIL + 2, &idx, 2);
	vd_wr(net, VSL_VIRTIO_NOTIFY_OFF + VSL_VIRTIO_NOTIFY_MULT, 0, 1);
	ck_assert(vd_needs_reset(net));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *t = tcase_create("slirp");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 20);
	tcase_add_test(t, test_config);
	tcase_add_test(t, test_dhcp);
	tcase_add_test(t, test_backlog);
	tcase_add_test(t, test_port_forward);
	tcase_add_test(t, test_bad_tx_ring);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
