/*
 * A tiny virtio-pci "driver" for the unit suites of runtime/devices/virtio*.c:
 * a guest RAM buffer, the two buses, the PCI host and helpers that set a
 * device up the way Linux does (status handshake, one queue at fixed
 * addresses) and build descriptor chains by hand, so tests can craft both
 * correct and hostile rings.
 *
 * Guest layout used by every test (RAM is VD_RAM bytes):
 *	0x1000 descriptor table   0x2000 avail ring   0x3000 used ring
 *	0x4000 indirect tables    0x10000.. data buffers
 */
#ifndef VESSEL_TEST_VIRTIO_DRIVER_H
#define VESSEL_TEST_VIRTIO_DRIVER_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/devices/virtio.h"
#include "vessel/format.h"

#define VD_RAM (1u << 20)
#define VD_DESC 0x1000u
#define VD_AVAIL 0x2000u
#define VD_USED 0x3000u
#define VD_QSIZE 8u

static __attribute__((unused)) uint8_t *vd_ram;
static struct vsl_guest_mem vd_mem;
static struct vsl_bus *vd_io, *vd_mmio;
static struct vsl_pci *vd_pci;
static struct vsl_ctx *vd_ctx;
static int vd_gsi_level[24];
static unsigned vd_gsi_rises;

static inline void vd_gsi(void *opaque, int n, int level)
{
	ck_assert(n >= 16 && n < 20);
	if (level && !vd_gsi_level[n])
		vd_gsi_rises++;
	vd_gsi_level[n] = level;
}

static inline void vd_setup(void)
{
	vd_ram = calloc(1, VD_RAM);
	ck_assert_ptr_nonnull(vd_ram);
	vd_mem = (struct vsl_guest_mem){ vd_ram, VD_RAM };
	vd_ctx = vsl_ctx_new();
	vd_io = vsl_bus_new("io");
	vd_mmio = vsl_bus_new("mmio");
	vd_pci = vsl_pci_new(vd_ctx, vd_io, vd_mmio, (struct vsl_irq){ vd_gsi, NULL, 0 });
	ck_assert_ptr_nonnull(vd_pci);
	memset(vd_gsi_level, 0, sizeof(vd_gsi_level));
	vd_gsi_rises = 0;
}

static inline void vd_teardown(void)
{
	vsl_pci_free(vd_pci);
	vsl_bus_free(vd_io);
	vsl_bus_free(vd_mmio);
	vsl_ctx_free(vd_ctx);
	free(vd_ram);
}

static inline uint64_t vd_rd(const struct vsl_virtio *v, uint64_t off, unsigned size_log2)
{
	uint64_t val;

	ck_assert(vsl_bus_read(vd_mmio, v->pci.bar_mapped[0] + off, size_log2, &val));
	return val;
}

static inline void vd_wr(const struct vsl_virtio *v, uint64_t off, uint64_t val, unsigned size_log2)
{
	ck_assert(vsl_bus_write(vd_mmio, v->pci.bar_mapped[0] + off, size_log2, val));
}

/* Status handshake, features = offered & want, queue 0 at the fixed layout. */
static inline void vd_start(struct vsl_virtio *v, uint64_t want)
{
	uint64_t f;

	ck_assert_uint_ne(v->pci.bar_mapped[0], 0);
	vd_wr(v, 0x14, 0, 0);
	vd_wr(v, 0x14, VSL_VIRTIO_S_ACKNOWLEDGE | VSL_VIRTIO_S_DRIVER, 0);
	vd_wr(v, 0x00, 0, 2);
	f = vd_rd(v, 0x04, 2);
	vd_wr(v, 0x00, 1, 2);
	f |= vd_rd(v, 0x04, 2) << 32;
	f &= want;
	vd_wr(v, 0x08, 0, 2);
	vd_wr(v, 0x0C, (uint32_t)f, 2);
	vd_wr(v, 0x08, 1, 2);
	vd_wr(v, 0x0C, (uint32_t)(f >> 32), 2);
	vd_wr(v, 0x14, VSL_VIRTIO_S_ACKNOWLEDGE | VSL_VIRTIO_S_DRIVER | VSL_VIRTIO_S_FEATURES_OK, 0);
	ck_assert(vd_rd(v, 0x14, 0) & VSL_VIRTIO_S_FEATURES_OK);
	vd_wr(v, 0x16, 0, 1);
	ck_assert_uint_eq(vd_rd(v, 0x18, 1), VSL_VIRTIO_QUEUE_MAX);
	vd_wr(v, 0x18, VD_QSIZE, 1);
	vd_wr(v, 0x20, VD_DESC, 3);
	vd_wr(v, 0x28, VD_AVAIL, 2);
	vd_wr(v, 0x2C, 0, 2);
	vd_wr(v, 0x30, VD_USED, 3);
	vd_wr(v, 0x1C, 1, 1);
	ck_assert_uint_eq(vd_rd(v, 0x1C, 1), 1);
	vd_wr(v, 0x14, VSL_VIRTIO_S_ACKNOWLEDGE | VSL_VIRTIO_S_DRIVER | VSL_VIRTIO_S_FEATURES_OK |
		  VSL_VIRTIO_S_DRIVER_OK, 0);
}

static inline void vd_desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		       uint16_t next)
{
	uint8_t *d = vd_ram + table + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static inline void vd_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vd_desc_at(VD_DESC, i, addr, len, flags, next);
}

static inline uint16_t vd_ld16(uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, vd_ram + gpa, 2);
	return v;
}

static inline uint32_t vd_ld32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, vd_ram + gpa, 4);
	return v;
}

/* Offer head on the avail ring and notify queue 0. */
static inline void vd_kick(struct vsl_virtio *v, uint16_t head)
{
	uint16_t idx = vd_ld16(VD_AVAIL + 2);

	memcpy(vd_ram + VD_AVAIL + 4 + 2 * (idx % VD_QSIZE), &head, 2);
	idx++;
	memcpy(vd_ram + VD_AVAIL + 2, &idx, 2);
	vd_wr(v, VSL_VIRTIO_NOTIFY_OFF, 0, 1);
}

static inline uint16_t vd_used_idx(void)
{
	return vd_ld16(VD_USED + 2);
}

static inline bool vd_needs_reset(const struct vsl_virtio *v)
{
	return vd_rd(v, 0x14, 0) & VSL_VIRTIO_S_NEEDS_RESET;
}

#endif
