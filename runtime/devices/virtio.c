/*
 * virtio 1.x PCI transport ("modern") with split virtqueues.
 *
 * Configuration space: vendor 0x1AF4, device 0x1040 + virtio type,
 * revision 1, and a capability list at 0x40 of vendor-specific (0x09)
 * capabilities that point into BAR 0:
 *
 *	0x40 common cfg  -> BAR0 + 0x0000 (0x38 bytes)
 *	0x50 ISR         -> BAR0 + 0x1000 (1 byte, read clears, drops INTx)
 *	0x60 device cfg  -> BAR0 + 0x2000 (ops->cfg_size bytes; absent when 0)
 *	0x70 notify      -> BAR0 + 0x3000, notify_off_multiplier 4 (queue q at +4q)
 *	0x84 pci cfg     (VIRTIO_PCI_CAP_PCI_CFG, present as the spec asks; its
 *	                  window is not implemented: accesses through it do nothing)
 *
 * No MSI-X: interrupts are INTx (ISR bit 0 = used buffers, bit 1 =
 * configuration change). Linux's virtio_pci falls back to INTx by itself.
 *
 * Split virtqueue layout in guest memory (queue size N, a power of two):
 *
 *	desc  16*N: { u64 addr; u32 len; u16 flags (1 NEXT, 2 WRITE, 4 INDIRECT); u16 next }
 *	avail 6+2N: { u16 flags (1 NO_INTERRUPT); u16 idx; u16 ring[N]; u16 used_event }
 *	used  6+8N: { u16 flags; u16 idx; { u32 id; u32 len } ring[N]; u16 avail_event }
 *
 * The guest is untrusted. Before anything is read, every guest range is
 * checked to lie inside guest RAM (vsl_guest_ptr); a chain is walked with a
 * budget (at most N descriptors, or the indirect table's length), an
 * indirect descriptor inside an indirect table, a readable descriptor
 * after a writable one, an avail index running more than N ahead, or a
 * head >= N are all violations: the device sets DEVICE_NEEDS_RESET (0x40)
 * in its status, raises a configuration interrupt and ignores its queues
 * until the driver resets it (writes 0 to device_status). All guest memory
 * is accessed with memcpy (no alignment assumptions). Device code runs on
 * the vCPU thread inside the notify write, so no memory barriers are
 * needed against the guest.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/devices/virtio.h"

#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_DESC_F_INDIRECT 4
#define VQ_AVAIL_F_NO_INTERRUPT 1

#define VCAP_COMMON 1
#define VCAP_NOTIFY 2
#define VCAP_ISR 3
#define VCAP_DEVICE 4
#define VCAP_PCI 5

static uint16_t vio_ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static uint32_t vio_ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t vio_ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void vio_st16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void vio_st32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* ---- interrupts and errors ------------------------------------------------ */

static void vio_update_irq(struct vsl_virtio *v)
{
	vsl_pci_set_irq(&v->pci, v->isr != 0);
}

void vsl_virtio_fail(struct vsl_virtio *v, const char *why)
{
	if (!(v->status & VSL_VIRTIO_S_NEEDS_RESET)) {
		vsl_debug(v->ctx, "%s (PCI 00:%02x.0): %s; device needs reset", v->ops->name,
			  v->pci.slot, why);
		v->errors++;
	}
	v->status |= VSL_VIRTIO_S_NEEDS_RESET;
	v->generation++;
	v->isr |= 2;
	vio_update_irq(v);
}

void vsl_virtio_notify(struct vsl_virtio *v, unsigned q)
{
	struct vsl_virtio_queue *vq = &v->q[q];
	uint8_t *avail = vsl_guest_ptr(&v->mem, vq->avail, 2);

	if (avail && (vio_ld16(avail) & VQ_AVAIL_F_NO_INTERRUPT))
		return;
	v->isr |= 1;
	vio_update_irq(v);
}

/* ---- the split ring --------------------------------------------------------- */

static bool vio_queue_ready(const struct vsl_virtio *v, unsigned q)
{
	return q < v->ops->num_queues && v->q[q].enabled &&
	       (v->status & VSL_VIRTIO_S_DRIVER_OK) && !(v->status & VSL_VIRTIO_S_NEEDS_RESET);
}

/* Append one descriptor's buffer to the request; false on a rule violation. */
static bool vio_add_seg(struct vsl_virtio *v, struct vsl_virtio_req *r, uint64_t addr,
			uint32_t len, bool write, const char **why)
{
	uint8_t *p = vsl_guest_ptr(&v->mem, addr, len);

	if (!p) {
		*why = "a descriptor points outside guest RAM";
		return false;
	}
	if (!write && r->nw) {
		*why = "a device-readable descriptor follows a device-writable one";
		return false;
	}
	if (r->nr + r->nw >= VSL_VIRTIO_CHAIN_MAX) {
		*why = "descriptor chain too long";
		return false;
	}
	r->seg[r->nr + r->nw] = (struct vsl_virtio_seg){ p, len };
	if (write) {
		r->nw++;
		r->wlen += len;
	} else {
		r->nr++;
		r->rlen += len;
	}
	return true;
}

/* Walk the chain at table[head] (n entries); indirect: this is an indirect table. */
static bool vio_walk(struct vsl_virtio *v, struct vsl_virtio_req *r, uint64_t table, uint32_t n,
		     uint32_t head, bool indirect, const char **why)
{
	uint32_t i = head, budget = n;

	for (;;) {
		uint8_t *d;
		uint64_t addr;
		uint32_t len;
		uint16_t flags;

		if (i >= n) {
			*why = "a descriptor index is beyond the table";
			return false;
		}
		if (budget-- == 0) {
			*why = "the descriptor chain loops or is longer than its table";
			return false;
		}
		d = vsl_guest_ptr(&v->mem, table + 16ull * i, 16);
		if (!d) {
			*why = "the descriptor table lies outside guest RAM";
			return false;
		}
		addr = vio_ld64(d);
		len = vio_ld32(d + 8);
		flags = vio_ld16(d + 12);
		if (flags & VQ_DESC_F_INDIRECT) {
			uint8_t *it;
			if (indirect) {
				*why = "an indirect descriptor inside an indirect table";
				return false;
			}
			if (!(v->driver_features & VSL_VIRTIO_F_INDIRECT_DESC)) {
				*why = "an indirect descriptor without VIRTIO_F_INDIRECT_DESC";
				return false;
			}
			if (flags & VQ_DESC_F_NEXT) {
				*why = "an indirect descriptor with NEXT set";
				return false;
			}
			if (len == 0 || len % 16 || len / 16 > VSL_VIRTIO_CHAIN_MAX) {
				*why = "an indirect table of a bad size";
				return false;
			}
			it = vsl_guest_ptr(&v->mem, addr, len);
			if (!it) {
				*why = "an indirect table lies outside guest RAM";
				return false;
			}
			return vio_walk(v, r, addr, len / 16, 0, true, why);
		}
		if (!vio_add_seg(v, r, addr, len, flags & VQ_DESC_F_WRITE, why))
			return false;
		if (!(flags & VQ_DESC_F_NEXT))
			return true;
		i = vio_ld16(d + 14);
	}
}

int vsl_virtio_pop(struct vsl_virtio *v, unsigned q)
{
	struct vsl_virtio_queue *vq;
	struct vsl_virtio_req *r = &v->req;
	const char *why = NULL;
	uint8_t *avail;
	uint16_t idx, head;

	if (!vio_queue_ready(v, q))
		return 0;
	vq = &v->q[q];
	avail = vsl_guest_ptr(&v->mem, vq->avail, 4 + 2ull * vq->size);
	if (!avail) {
		vsl_virtio_fail(v, "the available ring lies outside guest RAM");
		return VSL_ECORRUPT;
	}
	idx = vio_ld16(avail + 2);
	if (idx == vq->last_avail)
		return 0;
	if ((uint16_t)(idx - vq->last_avail) > vq->size) {
		vsl_virtio_fail(v, "the available index ran more than the queue size ahead");
		return VSL_ECORRUPT;
	}
	head = vio_ld16(avail + 4 + 2u * (vq->last_avail & (vq->size - 1)));
	*r = (struct vsl_virtio_req){ .head = head };
	if (head >= vq->size) {
		vsl_virtio_fail(v, "an available head is beyond the queue");
		return VSL_ECORRUPT;
	}
	if (!vio_walk(v, r, vq->desc, vq->size, head, false, &why)) {
		vsl_virtio_fail(v, why);
		return VSL_ECORRUPT;
	}
	vq->last_avail++;
	return 1;
}

void vsl_virtio_push(struct vsl_virtio *v, unsigned q, uint16_t head, uint32_t len)
{
	struct vsl_virtio_queue *vq = &v->q[q];
	uint8_t *used = vsl_guest_ptr(&v->mem, vq->used, 4 + 8ull * vq->size);

	if (!used) {
		vsl_virtio_fail(v, "the used ring lies outside guest RAM");
		return;
	}
	vio_st32(used + 4 + 8u * (vq->used_idx & (vq->size - 1)), head);
	vio_st32(used + 8 + 8u * (vq->used_idx & (vq->size - 1)), len);
	vq->used_idx++;
	vio_st16(used + 2, vq->used_idx);
}

size_t vsl_virtio_req_read(const struct vsl_virtio_req *r, uint64_t off, void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t done = 0;

	for (unsigned i = 0; i < r->nr && done < len; i++) {
		const struct vsl_virtio_seg *s = &r->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = VSL_MIN(len - done, (size_t)(s->len - off));
		memcpy(out + done, s->p + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vsl_virtio_req_write(const struct vsl_virtio_req *r, uint64_t off, const void *buf,
			    size_t len)
{
	const uint8_t *in = buf;
	size_t done = 0;

	for (unsigned i = r->nr; i < r->nr + r->nw && done < len; i++) {
		const struct vsl_virtio_seg *s = &r->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = VSL_MIN(len - done, (size_t)(s->len - off));
		memcpy(s->p + off, in + done, n);
		done += n;
		off = 0;
	}
	return done;
}

/* ---- common configuration -------------------------------------------------- */

static void vio_reset(struct vsl_virtio *v)
{
	v->status = 0;
	v->driver_features = 0;
	v->dfeat_sel = v->gfeat_sel = 0;
	v->queue_sel = 0;
	v->isr = 0;
	for (unsigned q = 0; q < VSL_VIRTIO_MAX_QUEUES; q++)
		v->q[q] = (struct vsl_virtio_queue){ .size = VSL_VIRTIO_QUEUE_MAX };
	vio_update_irq(v);
	if (v->ops->reset)
		v->ops->reset(v);
}

static struct vsl_virtio_queue *vio_selq(struct vsl_virtio *v)
{
	return v->queue_sel < v->ops->num_queues ? &v->q[v->queue_sel] : NULL;
}

static uint64_t vio_common_read(struct vsl_virtio *v, uint64_t off, unsigned size_log2)
{
	struct vsl_virtio_queue *q = vio_selq(v);

	switch (off) {
	case 0x00: return v->dfeat_sel;
	case 0x04: return v->dfeat_sel < 2 ? (uint32_t)(v->features >> (32 * v->dfeat_sel)) : 0;
	case 0x08: return v->gfeat_sel;
	case 0x0C: return v->gfeat_sel < 2 ? (uint32_t)(v->driver_features >> (32 * v->gfeat_sel)) : 0;
	case 0x10: return 0xFFFF;                 /* msix_config: NO_VECTOR */
	case 0x12: return v->ops->num_queues;
	case 0x14: return v->status;
	case 0x15: return v->generation;
	case 0x16: return v->queue_sel;
	case 0x18: return q ? q->size : 0;
	case 0x1A: return 0xFFFF;                 /* queue_msix_vector */
	case 0x1C: return q ? q->enabled : 0;
	case 0x1E: return q ? v->queue_sel : 0;   /* queue_notify_off */
	case 0x20: return q ? (size_log2 == 3 ? q->desc : (uint32_t)q->desc) : 0;
	case 0x24: return q ? (uint32_t)(q->desc >> 32) : 0;
	case 0x28: return q ? (size_log2 == 3 ? q->avail : (uint32_t)q->avail) : 0;
	case 0x2C: return q ? (uint32_t)(q->avail >> 32) : 0;
	case 0x30: return q ? (size_log2 == 3 ? q->used : (uint32_t)q->used) : 0;
	case 0x34: return q ? (uint32_t)(q->used >> 32) : 0;
	default: return 0;
	}
}

static void vio_set_addr(uint64_t *a, uint64_t off, uint64_t val, unsigned size_log2)
{
	if (size_log2 == 3)
		*a = val;
	else if (off & 4)
		*a = (*a & 0xFFFFFFFFull) | (val & 0xFFFFFFFFull) << 32;
	else
		*a = (*a & ~0xFFFFFFFFull) | (val & 0xFFFFFFFFull);
}

/* The driver enables queue q: check that its rings lie in RAM and are aligned. */
static void vio_enable_queue(struct vsl_virtio *v, struct vsl_virtio_queue *q)
{
	uint64_t n = q->size;

	if (!n || (n & (n - 1)) || n > VSL_VIRTIO_QUEUE_MAX) {
		vsl_virtio_fail(v, "queue size is not a power of two up to 256");
		return;
	}
	if ((q->desc & 15) || (q->avail & 1) || (q->used & 3) ||
	    !vsl_guest_ptr(&v->mem, q->desc, 16 * n) ||
	    !vsl_guest_ptr(&v->mem, q->avail, 6 + 2 * n) ||
	    !vsl_guest_ptr(&v->mem, q->used, 6 + 8 * n)) {
		vsl_virtio_fail(v, "a queue's rings are misaligned or outside guest RAM");
		return;
	}
	q->enabled = true;
	q->last_avail = q->used_idx = 0;
}

static void vio_set_status(struct vsl_virtio *v, uint8_t val)
{
	if (val == 0) {
		vio_reset(v);
		return;
	}
	if ((val & VSL_VIRTIO_S_FEATURES_OK) && !(v->status & VSL_VIRTIO_S_FEATURES_OK)) {
		/* accept only a subset of what was offered, and only VERSION_1 drivers */
		if ((v->driver_features & ~v->features) ||
		    !(v->driver_features & VSL_VIRTIO_F_VERSION_1))
			val &= (uint8_t)~VSL_VIRTIO_S_FEATURES_OK;
	}
	/* NEEDS_RESET is the device's to set; the driver cannot clear it */
	v->status = (uint8_t)((val & ~VSL_VIRTIO_S_NEEDS_RESET) |
			      (v->status & VSL_VIRTIO_S_NEEDS_RESET));
}

static void vio_common_write(struct vsl_virtio *v, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_virtio_queue *q = vio_selq(v);
	bool qlocked = q && q->enabled;   /* the driver may not change a live queue */

	switch (off) {
	case 0x00: v->dfeat_sel = (uint32_t)val; break;
	case 0x08: v->gfeat_sel = (uint32_t)val; break;
	case 0x0C:
		if (v->gfeat_sel < 2 && !(v->status & VSL_VIRTIO_S_FEATURES_OK)) {
			unsigned sh = 32 * v->gfeat_sel;
			v->driver_features = (v->driver_features & ~(0xFFFFFFFFull << sh)) |
					     (val & 0xFFFFFFFFull) << sh;
		}
		break;
	case 0x14: vio_set_status(v, (uint8_t)val); break;
	case 0x16: v->queue_sel = (uint16_t)val; break;
	case 0x18:
		if (q && !qlocked)
			q->size = (uint16_t)val;
		break;
	case 0x1C:
		if (q && !qlocked && (val & 1))
			vio_enable_queue(v, q);
		break;
	case 0x20: case 0x24:
		if (q && !qlocked)
			vio_set_addr(&q->desc, off, val, size_log2);
		break;
	case 0x28: case 0x2C:
		if (q && !qlocked)
			vio_set_addr(&q->avail, off, val, size_log2);
		break;
	case 0x30: case 0x34:
		if (q && !qlocked)
			vio_set_addr(&q->used, off, val, size_log2);
		break;
	default:
		break;  /* read-only fields, MSI-X vectors (no MSI-X) */
	}
}

/* ---- BAR 0 ------------------------------------------------------------------ */

uint64_t vsl_virtio_bar_read(void *opaque, int bar, uint64_t off, unsigned size_log2)
{
	struct vsl_virtio *v = opaque;
	unsigned n = 1u << size_log2;
	uint64_t val = 0;

	if (off < VSL_VIRTIO_COMMON_OFF + 0x38)
		return vio_common_read(v, off, size_log2);
	if (off == VSL_VIRTIO_ISR_OFF) {
		uint8_t isr = v->isr;
		v->isr = 0;
		vio_update_irq(v);
		return isr;
	}
	if (off >= VSL_VIRTIO_DEVCFG_OFF && off - VSL_VIRTIO_DEVCFG_OFF + n <= v->ops->cfg_size) {
		memcpy(&val, v->dev_cfg + (off - VSL_VIRTIO_DEVCFG_OFF), n);
		return val;
	}
	return 0;
}

void vsl_virtio_bar_write(void *opaque, int bar, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_virtio *v = opaque;
	unsigned n = 1u << size_log2;

	if (off < VSL_VIRTIO_COMMON_OFF + 0x38) {
		vio_common_write(v, off, val, size_log2);
	} else if (off >= VSL_VIRTIO_DEVCFG_OFF && off - VSL_VIRTIO_DEVCFG_OFF + n <= v->ops->cfg_size) {
		if (v->ops->cfg_write)
			v->ops->cfg_write(v, (uint32_t)(off - VSL_VIRTIO_DEVCFG_OFF), val, size_log2);
	} else if (off >= VSL_VIRTIO_NOTIFY_OFF &&
		   off < VSL_VIRTIO_NOTIFY_OFF + VSL_VIRTIO_NOTIFY_MULT * v->ops->num_queues) {
		unsigned q = (unsigned)(off - VSL_VIRTIO_NOTIFY_OFF) / VSL_VIRTIO_NOTIFY_MULT;
		if (vio_queue_ready(v, q) && v->ops->notify)
			v->ops->notify(v, q);
	}
}

/* ---- setup ------------------------------------------------------------------- */

/* A virtio_pci_cap at cfg[at]: {vndr, next, len, type, bar, id, pad[2], offset, length}. */
static void vio_cap(uint8_t *cfg, unsigned at, unsigned next, unsigned len, uint8_t type,
		    uint32_t off, uint32_t size)
{
	cfg[at] = 0x09;
	cfg[at + 1] = (uint8_t)next;
	cfg[at + 2] = (uint8_t)len;
	cfg[at + 3] = type;
	cfg[at + 4] = type == VCAP_PCI ? 0 : 0;   /* BAR 0 */
	vio_st32(cfg + at + 8, off);
	vio_st32(cfg + at + 12, size);
}

static void vio_release(struct vsl_pci_dev *d)
{
	vsl_virtio_free(d->opaque);
}

int vsl_virtio_init(struct vsl_virtio *v, struct vsl_ctx *ctx, struct vsl_pci *pci,
		    const struct vsl_guest_mem *mem, const struct vsl_virtio_ops *ops)
{
	uint8_t *c = v->pci.cfg;
	int r;

	v->ops = ops;
	v->ctx = ctx;
	v->mem = *mem;
	v->features = ops->features | VSL_VIRTIO_F_VERSION_1;
	vio_st16(c + 0x00, 0x1AF4);
	vio_st16(c + 0x02, (uint16_t)(0x1040 + ops->device_id));
	vio_st16(c + 0x06, 0x0010);          /* status: capability list */
	c[0x08] = 1;                         /* revision 1: modern only */
	c[0x09] = (uint8_t)ops->class_code;
	c[0x0A] = (uint8_t)(ops->class_code >> 8);
	c[0x0B] = (uint8_t)(ops->class_code >> 16);
	vio_st16(c + 0x2C, 0x1AF4);          /* subsystem vendor */
	vio_st16(c + 0x2E, 0x0040);          /* subsystem id (>= 0x40 for modern devices) */
	c[0x34] = 0x40;
	vio_cap(c, 0x40, 0x50, 16, VCAP_COMMON, VSL_VIRTIO_COMMON_OFF, 0x38);
	/* no device-config capability for a device without configuration (rng):
	 * Linux refuses a capability of length 0 */
	vio_cap(c, 0x50, ops->cfg_size ? 0x60 : 0x70, 16, VCAP_ISR, VSL_VIRTIO_ISR_OFF, 1);
	if (ops->cfg_size)
		vio_cap(c, 0x60, 0x70, 16, VCAP_DEVICE, VSL_VIRTIO_DEVCFG_OFF, ops->cfg_size);
	vio_cap(c, 0x70, 0x84, 20, VCAP_NOTIFY, VSL_VIRTIO_NOTIFY_OFF,
		VSL_VIRTIO_NOTIFY_MULT * ops->num_queues);
	vio_st32(c + 0x70 + 16, VSL_VIRTIO_NOTIFY_MULT);
	vio_cap(c, 0x84, 0x00, 20, VCAP_PCI, 0, 0);
	v->pci.bar_size[0] = VSL_VIRTIO_BAR_SIZE;
	v->pci.bar_read = vsl_virtio_bar_read;
	v->pci.bar_write = vsl_virtio_bar_write;
	v->pci.opaque = v;
	v->pci.release = vio_release;
	vio_reset(v);
	if ((r = vsl_pci_add(pci, &v->pci)) < 0)
		return r;
	return 0;
}

void vsl_virtio_free(struct vsl_virtio *v)
{
	if (!v)
		return;
	vsl_pci_remove(&v->pci);
	if (v->ops && v->ops->free)
		v->ops->free(v);
	free(v);
}
