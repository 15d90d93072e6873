/*
 * virtio-blk on a vessel disk image (formats library: qcow2, VMDK, VHD, raw).
 *
 * One request queue. A request is a chain:
 *
 *	readable: { u32 type; u32 reserved; u64 sector }  [data for OUT, DISCARD, WRITE_ZEROES]
 *	writable: [data for IN, GET_ID]  u8 status (the chain's last writable byte)
 *
 * Types served: IN (read), OUT (write), FLUSH (vsl_image_flush: the format's
 * metadata and an fdatasync of the file), GET_ID (the 20-byte serial),
 * DISCARD and WRITE_ZEROES (vsl_image_zero: the format punches holes or
 * drops clusters where it can, writes zeroes otherwise). Data moves
 * directly between guest RAM and the image, one segment at a time.
 *
 * A read-only disk offers VIRTIO_BLK_F_RO and answers every writing request
 * with VIRTIO_BLK_S_IOERR; the image itself is opened read-only by the
 * caller. Requests beyond the disk's end and unaligned data lengths get
 * IOERR, unknown types UNSUPP; a chain too short to hold the header and
 * status byte is a ring violation (needs reset).
 *
 * Config space: capacity (512-byte sectors) at 0, seg_max at 12, blk_size
 * at 20, discard and write-zeroes limits at 36..56.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/devices/virtio.h"
#include "vessel/format.h"

#define BLK_F_SEG_MAX (1ull << 2)
#define BLK_F_RO (1ull << 5)
#define BLK_F_BLK_SIZE (1ull << 6)
#define BLK_F_FLUSH (1ull << 9)
#define BLK_F_DISCARD (1ull << 13)
#define BLK_F_WRITE_ZEROES (1ull << 14)

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_T_DISCARD 11
#define BLK_T_WRITE_ZEROES 13

#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2

#define BLK_SEG_MAX 254
#define BLK_DISCARD_MAX_SECTORS (1u << 22)   /* 2 GiB per discard segment */
#define BLK_DISCARD_SEGS 64

struct blk {
	struct vsl_image *img;
	bool ro;
	uint64_t sectors;
	uint64_t reads, writes, flushes, discards, ioerrs;
};

static void blk_put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Read or write the request's data bytes [0, len) at byte offset off of the disk. */
static int blk_rw(struct blk *b, struct vsl_virtio_req *r, bool write, uint64_t off, uint64_t len)
{
	unsigned first = write ? 0 : r->nr, count = write ? r->nr : r->nw;
	uint64_t skip = write ? 16 : 0, done = 0;

	for (unsigned i = first; i < first + count && done < len; i++) {
		struct vsl_virtio_seg *s = &r->seg[i];
		uint64_t n;
		int rc;

		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		n = VSL_MIN(s->len - skip, len - done);
		rc = write ? vsl_image_write(b->img, off + done, s->p + skip, (size_t)n)
			   : vsl_image_read(b->img, off + done, s->p + skip, (size_t)n);
		if (rc < 0)
			return rc;
		done += n;
		skip = 0;
	}
	return 0;
}

static uint8_t blk_discard(struct blk *b, struct vsl_virtio_req *r)
{
	uint64_t n = r->rlen - 16;

	if (n % 16 || n / 16 > BLK_DISCARD_SEGS)
		return BLK_S_IOERR;
	for (uint64_t i = 0; i < n / 16; i++) {
		uint8_t seg[16];
		uint64_t sector;
		uint32_t count;

		vsl_virtio_req_read(r, 16 + 16 * i, seg, 16);
		memcpy(&sector, seg, 8);
		memcpy(&count, seg + 8, 4);
		if (count > BLK_DISCARD_MAX_SECTORS || sector > b->sectors || count > b->sectors - sector)
			return BLK_S_IOERR;
		if (count && vsl_image_zero(b->img, sector * 512, (uint64_t)count * 512) < 0)
			return BLK_S_IOERR;
	}
	b->discards++;
	return BLK_S_OK;
}

static uint8_t blk_handle(struct vsl_virtio *v, struct blk *b, struct vsl_virtio_req *r,
			  uint32_t *written)
{
	uint8_t hdr[16];
	uint32_t type;
	uint64_t sector, len;

	vsl_virtio_req_read(r, 0, hdr, 16);
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	switch (type) {
	case BLK_T_IN:
	case BLK_T_OUT: {
		bool write = type == BLK_T_OUT;
		len = write ? r->rlen - 16 : r->wlen - 1;
		if (write && b->ro)
			return BLK_S_IOERR;
		if (len % 512 || sector > b->sectors || len / 512 > b->sectors - sector)
			return BLK_S_IOERR;
		if (write && r->nw != 1)
			return BLK_S_IOERR;   /* data must be readable for a write */
		if (blk_rw(b, r, write, sector * 512, len) < 0)
			return BLK_S_IOERR;
		if (write)
			b->writes++;
		else {
			b->reads++;
			*written = (uint32_t)len;
		}
		return BLK_S_OK;
	}
	case BLK_T_FLUSH:
		if (b->ro)
			return BLK_S_OK;
		b->flushes++;
		return vsl_image_flush(b->img) < 0 ? BLK_S_IOERR : BLK_S_OK;
	case BLK_T_GET_ID: {
		char id[20] = "vessel-disk";
		size_t n = VSL_MIN((uint64_t)sizeof(id), r->wlen - 1);
		*written = (uint32_t)vsl_virtio_req_write(r, 0, id, n);
		return BLK_S_OK;
	}
	case BLK_T_DISCARD:
	case BLK_T_WRITE_ZEROES:
		if (b->ro)
			return BLK_S_IOERR;
		return blk_discard(b, r);
	default:
		return BLK_S_UNSUPP;
	}
}

static void blk_notify(struct vsl_virtio *v, unsigned q)
{
	struct blk *b = v->priv;
	struct vsl_virtio_req *r = &v->req;
	bool any = false;
	int rc;

	while ((rc = vsl_virtio_pop(v, q)) == 1) {
		uint32_t written = 0;
		uint8_t status;

		if (r->rlen < 16 || r->wlen < 1) {
			vsl_virtio_fail(v, "a block request without header or status byte");
			return;
		}
		status = blk_handle(v, b, r, &written);
		if (status == BLK_S_IOERR)
			b->ioerrs++;
		vsl_virtio_req_write(r, r->wlen - 1, &status, 1);
		vsl_virtio_push(v, q, r->head, written + 1);
		any = true;
	}
	if (any)
		vsl_virtio_notify(v, q);
}

static void blk_free(struct vsl_virtio *v)
{
	free(v->priv);
}

static const struct vsl_virtio_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = 2,
	.class_code = 0x010000,   /* mass storage, SCSI (what virtio-blk has always used) */
	.num_queues = 1,
	.features = BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH | BLK_F_DISCARD |
		    BLK_F_WRITE_ZEROES | VSL_VIRTIO_F_INDIRECT_DESC,
	.cfg_size = 60,
	.notify = blk_notify,
	.free = blk_free,
};

/* a read-only disk offers RO and none of the writing features */
static const struct vsl_virtio_ops blk_ro_ops = {
	.name = "virtio-blk",
	.device_id = 2,
	.class_code = 0x010000,
	.num_queues = 1,
	.features = BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_RO | VSL_VIRTIO_F_INDIRECT_DESC,
	.cfg_size = 60,
	.notify = blk_notify,
	.free = blk_free,
};

struct vsl_virtio *vsl_virtio_blk_new(struct vsl_ctx *ctx, struct vsl_pci *pci,
				      const struct vsl_guest_mem *mem, struct vsl_image *img,
				      bool readonly)
{
	struct vsl_virtio *v = calloc(1, sizeof(*v));
	struct blk *b = calloc(1, sizeof(*b));
	const struct vsl_virtio_ops *ops;

	if (!v || !b) {
		free(v);
		free(b);
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		return NULL;
	}
	*b = (struct blk){ .img = img, .ro = readonly, .sectors = img->size / 512 };
	v->priv = b;
	memcpy(v->dev_cfg, &b->sectors, 8);
	blk_put32(v->dev_cfg + 12, BLK_SEG_MAX);
	blk_put32(v->dev_cfg + 20, 512);
	blk_put32(v->dev_cfg + 36, BLK_DISCARD_MAX_SECTORS);
	blk_put32(v->dev_cfg + 40, BLK_DISCARD_SEGS);
	blk_put32(v->dev_cfg + 44, 1);
	blk_put32(v->dev_cfg + 48, BLK_DISCARD_MAX_SECTORS);
	blk_put32(v->dev_cfg + 52, BLK_DISCARD_SEGS);
	v->dev_cfg[56] = 1;      /* write_zeroes_may_unmap */
	ops = readonly ? &blk_ro_ops : &blk_ops;
	if (vsl_virtio_init(v, ctx, pci, mem, ops) < 0) {
		free(b);
		free(v);
		return NULL;
	}
	return v;
}
