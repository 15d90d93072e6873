/*
 * libFuzzer harness for the virtio split ring (runtime/devices/virtio.c)
 * and the request parsers of virtio-blk and virtio-rng on top of it.
 *
 * The input is guest RAM: a 64 KiB buffer allocated to exactly that size
 * (so ASan flags any access outside it), filled with the input. The first
 * byte picks the queue size (1 << (b % 9), 1..256) and the device (odd:
 * virtio-blk on a 1 MiB memory raw image, even: virtio-rng); the rings sit
 * at fixed places (desc 0x0000, avail 0x1000, used 0x2000), so descriptors,
 * indices and indirect tables all come from the input. The harness
 * notifies the queue a few times, then resets the device and does it
 * again. Devices may end in NEEDS_RESET; any crash, hang, leak or
 * sanitizer report is a bug.
 *
 * The runtime sources are compiled into the harness (the fuzz build links
 * formats/ and common/ only).
 *
 *	make fuzz FUZZ_ONLY=virtqueue FUZZ_SECONDS=60     (see tests/fuzz/module.mk)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/machine/bus.c"
#include "runtime/devices/pci.c"
#include "runtime/devices/virtio.c"
#include "runtime/devices/virtio_blk.c"
#include "runtime/devices/virtio_rng.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_RAM 0x10000u

static void fz_wr(struct vsl_bus *mmio, const struct vsl_virtio *v, uint64_t off, uint64_t val,
		  unsigned size_log2)
{
	vsl_bus_write(mmio, v->pci.bar_mapped[0] + off, size_log2, val);
}

static void fz_start(struct vsl_bus *mmio, struct vsl_virtio *v, uint16_t qsize)
{
	fz_wr(mmio, v, 0x14, 0, 0);
	fz_wr(mmio, v, 0x14, 3, 0);
	fz_wr(mmio, v, 0x08, 0, 2);
	fz_wr(mmio, v, 0x0C, (uint32_t)v->features, 2);
	fz_wr(mmio, v, 0x08, 1, 2);
	fz_wr(mmio, v, 0x0C, (uint32_t)(v->features >> 32), 2);
	fz_wr(mmio, v, 0x14, 3 | 8, 0);
	fz_wr(mmio, v, 0x16, 0, 1);
	fz_wr(mmio, v, 0x18, qsize, 1);
	fz_wr(mmio, v, 0x20, 0x0000, 3);
	fz_wr(mmio, v, 0x28, 0x1000, 3);
	fz_wr(mmio, v, 0x30, 0x2000, 3);
	fz_wr(mmio, v, 0x1C, 1, 1);
	fz_wr(mmio, v, 0x14, 3 | 8 | 4, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsl_ctx *ctx;
	struct vsl_bus *io, *mmio;
	struct vsl_pci *pci;
	struct vsl_virtio *v;
	struct vsl_image *img = NULL;
	struct vsl_guest_mem mem;
	uint8_t *ram;
	uint16_t qsize;
	bool blk;

	if (size < 1)
		return 0;
	qsize = (uint16_t)(1u << (data[0] % 9));
	blk = data[0] & 0x80;
	ram = calloc(1, FZ_RAM);
	ctx = vsl_ctx_new();
	io = vsl_bus_new("io");
	mmio = vsl_bus_new("mmio");
	if (!ram || !ctx || !io || !mmio)
		abort();
	memcpy(ram, data + 1, size - 1 < FZ_RAM ? size - 1 : FZ_RAM);
	mem = (struct vsl_guest_mem){ ram, FZ_RAM };
	pci = vsl_pci_new(ctx, io, mmio, (struct vsl_irq){ 0 });
	if (!pci)
		abort();
	if (blk) {
		struct vsl_stream *s = vsl_stream_new_mem(ctx, NULL, 0, VSL_STREAM_RDWR);
		if (!s || vsl_image_create_stream(ctx, s, "raw", 1 << 20, NULL, &img) < 0)
			abort();
		v = vsl_virtio_blk_new(ctx, pci, &mem, img, data[0] & 0x40);
	} else {
		v = vsl_virtio_rng_new(ctx, pci, &mem);
	}
	if (!v)
		abort();
	for (int round = 0; round < 2; round++) {
		fz_start(mmio, v, qsize);
		for (int i = 0; i < 4; i++)
			fz_wr(mmio, v, VSL_VIRTIO_NOTIFY_OFF, 0, 1);
		/* read ISR (drops the line) */
		uint64_t isr;
		vsl_bus_read(mmio, v->pci.bar_mapped[0] + VSL_VIRTIO_ISR_OFF, 0, &isr);
	}
	vsl_pci_free(pci);  /* releases the device */
	vsl_image_close(img);
	vsl_bus_free(io);
	vsl_bus_free(mmio);
	vsl_ctx_free(ctx);
	free(ram);
	return 0;
}
