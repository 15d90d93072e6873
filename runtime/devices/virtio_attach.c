/*
 * Attach vessel's virtio devices to a PC board: the glue the CLI calls
 * between vsl_machine_new and vsl_machine_run.
 *
 *	struct vsl_virtio_disk_spec d = { "disks/root.qcow2", "qcow2", false };
 *	struct vsl_machine *m = vsl_machine_new(ctx, &cfg);
 *	struct vsl_virtio_set *vs = vsl_virtio_attach(ctx, m, &d, 1);
 *	vsl_machine_run(m, &why);
 *	vsl_machine_free(m);       // frees the devices
 *	vsl_virtio_set_free(vs);   // then closes (flushes) the images
 *
 * Devices take PCI slots in order: disks first (slot 1 = /dev/vda, the
 * order of vessel.yaml), then the NICs (virtio-net on slirp, with their
 * host port forwards), then the RNG. Images stay open across the run so
 * writes go straight to the bundle's files; closing them writes the
 * formats' metadata back (qcow2 refcounts, VHD footer...).
 */
#include <stdlib.h>

#include "runtime/devices/virtio.h"
#include "vessel/format.h"
#include "vessel/machine.h"

#define ATTACH_MAX_DISKS 16

struct vsl_virtio_set {
	struct vsl_image *img[ATTACH_MAX_DISKS];
	size_t n;
	struct vsl_virtio *dev[VSL_PCI_SLOTS];   /* for unwinding only */
	size_t ndev;
};

void vsl_virtio_set_free(struct vsl_virtio_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		vsl_image_close(s->img[i]);
	free(s);
}

struct vsl_virtio_set *vsl_virtio_attach(struct vsl_ctx *ctx, struct vsl_machine *m,
					 const struct vsl_virtio_disk_spec *disks, size_t ndisks,
					 const struct vsl_virtio_nic_spec *nics, size_t nnics)
{
	struct vsl_guest_mem mem;
	struct vsl_pci *pci = vsl_machine_pci(m, &mem);
	struct vsl_virtio_set *s;

	if (ndisks > ATTACH_MAX_DISKS || nnics > VSL_PCI_SLOTS) {
		vsl_set_error(ctx, 0, VSL_ERANGE, "%zu disks: vessel attaches at most %d",
			      ndisks, ATTACH_MAX_DISKS);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < ndisks; i++) {
		const struct vsl_virtio_disk_spec *d = &disks[i];
		struct vsl_image *img;

		if (vsl_image_open(ctx, d->path, d->format,
				   d->readonly ? VSL_IMAGE_RDONLY : VSL_IMAGE_RDWR, &img) < 0) {
			vsl_error_prefix(ctx, "disk %s", d->path);
			goto err;
		}
		s->img[s->n++] = img;
		if (s->ndev == VSL_PCI_SLOTS ||
		    !(s->dev[s->ndev] = vsl_virtio_blk_new(ctx, pci, &mem, img, d->readonly))) {
			vsl_error_prefix(ctx, "disk %s", d->path);
			goto err;
		}
		s->ndev++;
	}
	for (size_t i = 0; i < nnics; i++) {
		const struct vsl_virtio_nic_spec *n = &nics[i];
		struct vsl_virtio *v = vsl_virtio_net_new(ctx, pci, &mem, vsl_machine_clock(m),
							  n->has_mac ? n->mac : NULL);
		if (!v)
			goto err;
		s->dev[s->ndev++] = v;
		for (size_t f = 0; f < n->nfwd; f++)
			if (vsl_slirp_forward(vsl_virtio_net_slirp(v), n->fwd[f].udp, n->fwd[f].host_addr,
					      n->fwd[f].host_port, n->fwd[f].guest_port) < 0)
				goto err;
	}
	if (!vsl_virtio_rng_new(ctx, pci, &mem))
		goto err;
	return s;
err:
	/* detach what was attached before closing the images it points to */
	while (s->ndev)
		vsl_virtio_free(s->dev[--s->ndev]);
	vsl_virtio_set_free(s);
	return NULL;
}
