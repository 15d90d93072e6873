/*
 * virtio-rng: one queue of device-writable buffers, each filled from the
 * host's getrandom(2) (the kernel's CSPRNG; never blocks once it is seeded,
 * which it is long before vessel runs). A request with no writable bytes
 * is returned with length 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "runtime/devices/virtio.h"

static void rng_notify(struct vsl_virtio *v, unsigned q)
{
	struct vsl_virtio_req *r = &v->req;
	bool any = false;

	while (vsl_virtio_pop(v, q) == 1) {
		uint64_t total = 0;

		for (unsigned i = r->nr; i < r->nr + r->nw; i++) {
			uint8_t *p = r->seg[i].p;
			size_t left = r->seg[i].len;
			while (left) {
				ssize_t n = getrandom(p, left, 0);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break;
				p += n;
				left -= (size_t)n;
				total += (uint64_t)n;
			}
		}
		vsl_virtio_push(v, q, r->head, (uint32_t)VSL_MIN(total, 0xFFFFFFFFull));
		any = true;
	}
	if (any)
		vsl_virtio_notify(v, q);
}

static const struct vsl_virtio_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = 4,
	.class_code = 0x00FF00,   /* unclassified device */
	.num_queues = 1,
	.features = VSL_VIRTIO_F_INDIRECT_DESC,
	.cfg_size = 0,
	.notify = rng_notify,
};

struct vsl_virtio *vsl_virtio_rng_new(struct vsl_ctx *ctx, struct vsl_pci *pci,
				      const struct vsl_guest_mem *mem)
{
	struct vsl_virtio *v = calloc(1, sizeof(*v));

	if (!v) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		return NULL;
	}
	if (vsl_virtio_init(v, ctx, pci, mem, &rng_ops) < 0) {
		free(v);
		return NULL;
	}
	return v;
}
