/*
 * PCI host bridge and virtio-pci devices of vessel's PC board (runtime
 * internal header; the CLI reaches these through the board).
 *
 * The PCI bus (pci.c) answers configuration mechanism #1 on ports
 * 0xCF8/0xCFC, holds up to VSL_PCI_SLOTS functions on bus 0 (slot 0 is the
 * host bridge), gives each memory BAR a firmware address in the MMIO window
 * [VSL_PCI_MMIO_BASE, +VSL_PCI_MMIO_SIZE) in the hole between low RAM (3 GiB
 * at most) and 4 GiB, maps it
 * on the MMIO bus while the command register enables memory decoding, and
 * routes INTx lines to I/O APIC pins 16..19 (the swizzle is in pci.c).
 *
 * virtio.c is the virtio 1.x "modern" PCI transport with split virtqueues;
 * virtio_blk.c, virtio_rng.c sit on it. Devices touch guest memory only
 * through struct vsl_guest_mem and every guest address is checked against
 * it: a bad ring puts the device in DEVICE_NEEDS_RESET.
 *
 *	struct vsl_pci *pci = vsl_pci_new(ctx, io, mmio, (struct vsl_irq){ gsi_set, board, 0 });
 *	struct vsl_guest_mem mem = { ram, ram_size };
 *	struct vsl_virtio *blk = vsl_virtio_blk_new(ctx, pci, &mem, image, readonly);
 *	...
 *	vsl_virtio_free(blk);    // devices first
 *	vsl_pci_free(pci);
 */
#ifndef VESSEL_RUNTIME_VIRTIO_H
#define VESSEL_RUNTIME_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/bus.h"
#include "vessel/common.h"
#include "vessel/devices.h"

struct vsl_image;

/* ---- guest memory --------------------------------------------------------- */

/* Guest physical [0, size) is host ram[0, size) (the PC board's layout). */
struct vsl_guest_mem {
	uint8_t *ram;
	uint64_t size;
	uint64_t hole_start, hole_end; /* [hole_start, hole_end) is not RAM (both 0: no hole) */
};

/* Host pointer for guest [gpa, gpa+len), or NULL when any byte lies outside RAM. */
static inline uint8_t *vsl_guest_ptr(const struct vsl_guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa > m->size || len > m->size - gpa)
		return NULL;
	if (gpa + len > m->hole_start && gpa < m->hole_end)
		return NULL;
	return m->ram + gpa;
}

/* ---- PCI (pci.c) ---------------------------------------------------------- */

#define VSL_PCI_SLOTS 32
#define VSL_PCI_MMIO_BASE 0xE0000000ull   /* BAR window: below the I/O APIC */
#define VSL_PCI_MMIO_SIZE 0x1EC00000ull   /* up to 0xFEC00000 */
#define VSL_PCI_GSI_BASE 16                /* INTA..INTD of slot 0 -> GSI 16..19 */
#define VSL_PCI_CONFIG_ADDR 0xCF8
#define VSL_PCI_CONFIG_DATA 0xCFC

typedef uint64_t vsl_pci_bar_read_fn(void *opaque, int bar, uint64_t off, unsigned size_log2);
typedef void vsl_pci_bar_write_fn(void *opaque, int bar, uint64_t off, uint64_t val,
				  unsigned size_log2);

/* One PCI function. The device fills the first group, then calls vsl_pci_add. */
struct vsl_pci_dev {
	/* set by the device */
	uint8_t cfg[256];          /* configuration space, little-endian */
	uint8_t wmask[256];        /* bits the guest may write (BARs/command handled by the bus) */
	uint32_t bar_size[6];      /* 32-bit memory BARs: power of two >= 4096; 0 = absent */
	vsl_pci_bar_read_fn *bar_read;
	vsl_pci_bar_write_fn *bar_write;
	void *opaque;
	/* vsl_pci_free calls it for a device still attached (frees the owner); may be NULL */
	void (*release)(struct vsl_pci_dev *d);
	/* set by the bus */
	struct vsl_pci *pci;
	unsigned slot;
	uint32_t bar_mapped[6];    /* guest address mapped on the MMIO bus, 0 = none */
	int level;                 /* INTx level driven by the device */
};

struct vsl_pci;
/*
 * io/mmio: the board's buses (borrowed). gsi.set(gsi.opaque, gsi, level) is
 * called with an I/O APIC pin VSL_PCI_GSI_BASE..+3 (gsi.n is ignored).
 * NULL with the reason in ctx.
 */
struct vsl_pci *vsl_pci_new(struct vsl_ctx *ctx, struct vsl_bus *io, struct vsl_bus *mmio,
			    struct vsl_irq gsi);
/* Detaches the devices still attached and calls their release (virtio devices: freed). */
void vsl_pci_free(struct vsl_pci *pci);
/*
 * Attach d at the next free slot, assign its BARs in the MMIO window and
 * enable memory decoding (as firmware would). VSL_ENOMEM when slots or the
 * window are exhausted.
 */
int vsl_pci_add(struct vsl_pci *pci, struct vsl_pci_dev *d);
void vsl_pci_remove(struct vsl_pci_dev *d);
/* Drive the function's INTx pin (the Interrupt Pin register says which). */
void vsl_pci_set_irq(struct vsl_pci_dev *d, int level);
/* The I/O APIC pin of d's INTx (after the swizzle). */
int vsl_pci_gsi(const struct vsl_pci_dev *d);
/* Configuration space access as the guest does it (tests, debugging). */
uint32_t vsl_pci_config_read(struct vsl_pci *pci, unsigned slot, unsigned reg, unsigned size_log2);
void vsl_pci_config_write(struct vsl_pci *pci, unsigned slot, unsigned reg, uint32_t val,
			  unsigned size_log2);
/*
 * ACPI description of the root bridge for the board's DSDT: AML for
 * Scope (\_SB) { Device (PCI0) { _HID PNP0A03, _ADR 0, _UID 0, _PRT } } with
 * _PRT entries for slots 1..31 following the swizzle. Writes up to room
 * bytes into out; returns the length, or 0 when room is too small.
 */
size_t vsl_pci_acpi_aml(uint8_t *out, size_t room);

/* ---- virtio-pci transport (virtio.c) -------------------------------------- */

#define VSL_VIRTIO_QUEUE_MAX 256   /* largest queue size offered */
#define VSL_VIRTIO_MAX_QUEUES 3
#define VSL_VIRTIO_CHAIN_MAX 1024  /* descriptors in one request (indirect tables too) */

enum {
	VSL_VIRTIO_S_ACKNOWLEDGE = 1,
	VSL_VIRTIO_S_DRIVER = 2,
	VSL_VIRTIO_S_DRIVER_OK = 4,
	VSL_VIRTIO_S_FEATURES_OK = 8,
	VSL_VIRTIO_S_NEEDS_RESET = 0x40,
	VSL_VIRTIO_S_FAILED = 0x80,
};

#define VSL_VIRTIO_F_INDIRECT_DESC (1ull << 28)
#define VSL_VIRTIO_F_VERSION_1 (1ull << 32)

/* BAR 0 layout of every vessel virtio device */
#define VSL_VIRTIO_BAR_SIZE 0x4000
#define VSL_VIRTIO_COMMON_OFF 0x0000
#define VSL_VIRTIO_ISR_OFF 0x1000
#define VSL_VIRTIO_DEVCFG_OFF 0x2000
#define VSL_VIRTIO_NOTIFY_OFF 0x3000
#define VSL_VIRTIO_NOTIFY_MULT 4

/* One segment of a request, pointing into guest RAM (already bounds-checked). */
struct vsl_virtio_seg {
	uint8_t *p;
	uint32_t len;
};

/* A popped descriptor chain: readable segments first, then writable ones. */
struct vsl_virtio_req {
	uint16_t head;
	unsigned nr, nw;                          /* readable / writable segment counts */
	uint64_t rlen, wlen;                      /* total bytes */
	struct vsl_virtio_seg seg[VSL_VIRTIO_CHAIN_MAX];
};

struct vsl_virtio_queue {
	uint16_t size;             /* as set by the driver (power of two) */
	bool enabled;
	uint64_t desc, avail, used;
	uint16_t last_avail;       /* next avail index to consume */
	uint16_t used_idx;         /* next used index to publish */
};

struct vsl_virtio;

struct vsl_virtio_ops {
	const char *name;
	uint16_t device_id;        /* virtio device type (1 net, 2 blk, 4 rng) */
	uint32_t class_code;       /* PCI class << 8 | subclass (<< 8 | prog-if) */
	unsigned num_queues;
	uint64_t features;         /* VERSION_1 is added by the transport */
	uint32_t cfg_size;         /* device-specific configuration bytes */
	/* the driver notified queue q (a request may be waiting) */
	void (*notify)(struct vsl_virtio *v, unsigned q);
	/* device-specific configuration; cfg is dev_cfg[] below */
	void (*cfg_write)(struct vsl_virtio *v, uint32_t off, uint64_t val, unsigned size_log2);
	void (*reset)(struct vsl_virtio *v);
	void (*free)(struct vsl_virtio *v);
};

struct vsl_virtio {
	struct vsl_pci_dev pci;
	const struct vsl_virtio_ops *ops;
	struct vsl_ctx *ctx;
	struct vsl_guest_mem mem;
	void *priv;                /* the device's state */
	uint8_t dev_cfg[64];       /* device-specific configuration (cfg_size bytes) */
	uint64_t features;         /* offered */
	uint64_t driver_features;
	uint32_t dfeat_sel, gfeat_sel;
	uint16_t queue_sel;
	uint8_t status, isr, generation;
	struct vsl_virtio_queue q[VSL_VIRTIO_MAX_QUEUES];
	struct vsl_virtio_req req;  /* scratch for one popped request */
	uint64_t errors;            /* times the device went to NEEDS_RESET */
};

/*
 * Set v up on pci with ops (v->priv set by the caller beforehand) and map
 * it. VSL_ENOMEM when the bus is full.
 */
int vsl_virtio_init(struct vsl_virtio *v, struct vsl_ctx *ctx, struct vsl_pci *pci,
		    const struct vsl_guest_mem *mem, const struct vsl_virtio_ops *ops);
/* Detach and release (calls ops->free). NULL is a no-op. */
void vsl_virtio_free(struct vsl_virtio *v);
/*
 * Take the next available request of queue q into v->req.
 * 1 = got one, 0 = queue empty or not ready, VSL_ECORRUPT = the driver broke
 * the ring rules (the device is now in NEEDS_RESET; message at debug level).
 */
int vsl_virtio_pop(struct vsl_virtio *v, unsigned q);
/* Return request head to the used ring with len bytes written. */
void vsl_virtio_push(struct vsl_virtio *v, unsigned q, uint16_t head, uint32_t len);
/* Interrupt the driver for queue q unless it asked not to be. */
void vsl_virtio_notify(struct vsl_virtio *v, unsigned q);
/* Put the device in DEVICE_NEEDS_RESET and raise a configuration interrupt. */
void vsl_virtio_fail(struct vsl_virtio *v, const char *why);
/* Copy between a request's readable/writable bytes and buf; returns bytes copied. */
size_t vsl_virtio_req_read(const struct vsl_virtio_req *r, uint64_t off, void *buf, size_t len);
size_t vsl_virtio_req_write(const struct vsl_virtio_req *r, uint64_t off, const void *buf,
			    size_t len);
/* MMIO access to BAR 0, as the guest does it (tests). */
uint64_t vsl_virtio_bar_read(void *opaque, int bar, uint64_t off, unsigned size_log2);
void vsl_virtio_bar_write(void *opaque, int bar, uint64_t off, uint64_t val, unsigned size_log2);

/* ---- devices -------------------------------------------------------------- */

/*
 * virtio-blk on img (borrowed; must outlive the device). readonly offers
 * VIRTIO_BLK_F_RO and fails writes with IOERR. NULL with ctx set.
 */
struct vsl_virtio *vsl_virtio_blk_new(struct vsl_ctx *ctx, struct vsl_pci *pci,
				      const struct vsl_guest_mem *mem, struct vsl_image *img,
				      bool readonly);
/* virtio-rng fed from getrandom(2). */
struct vsl_virtio *vsl_virtio_rng_new(struct vsl_ctx *ctx, struct vsl_pci *pci,
				      const struct vsl_guest_mem *mem);

/* ---- user-mode networking (slirp.c) --------------------------------------- */

typedef void vsl_slirp_rx_fn(void *opaque, const uint8_t *frame, size_t len);
struct vsl_slirp;
/* rx(opaque, frame, len): an Ethernet frame for the guest. NULL with ctx set. */
struct vsl_slirp *vsl_slirp_new(struct vsl_ctx *ctx, vsl_slirp_rx_fn *rx, void *opaque);
void vsl_slirp_free(struct vsl_slirp *s);
/* Forward host_addr:host_port (NULL = 127.0.0.1) to the guest's port (10.0.2.15). */
int vsl_slirp_forward(struct vsl_slirp *s, bool udp, const char *host_addr, uint16_t host_port,
		      uint16_t guest_port);
/* A frame the guest sent. */
void vsl_slirp_input(struct vsl_slirp *s, const uint8_t *frame, size_t len);
/* Serve host sockets and slirp timers, waiting up to timeout_ms (0: do not wait). */
void vsl_slirp_poll(struct vsl_slirp *s, int timeout_ms);

/*
 * virtio-net on slirp. clk: the board's clock for the periodic host poll
 * (NULL: the caller polls with vsl_virtio_net_poll, as tests do). mac NULL:
 * 52:54:00:12:34:56.
 */
struct vsl_virtio *vsl_virtio_net_new(struct vsl_ctx *ctx, struct vsl_pci *pci,
				      const struct vsl_guest_mem *mem, struct vsl_clock *clk,
				      const uint8_t mac[6]);
void vsl_virtio_net_poll(struct vsl_virtio *v, int timeout_ms);
/* The device's slirp stack (to add port forwards). */
struct vsl_slirp *vsl_virtio_net_slirp(struct vsl_virtio *v);

/* ---- attaching to the PC board (virtio_attach.c) -------------------------- */

struct vsl_machine;

struct vsl_virtio_disk_spec {
	const char *path;          /* image file (borrowed) */
	const char *format;        /* "qcow2", "vmdk", "vpc", "raw"; NULL = probe */
	bool readonly;
};

/* Host port forward to the guest (10.0.2.15). */
struct vsl_virtio_fwd {
	bool udp;
	const char *host_addr;     /* NULL = 127.0.0.1 */
	uint16_t host_port, guest_port;
};

struct vsl_virtio_nic_spec {
	bool has_mac;
	uint8_t mac[6];
	const struct vsl_virtio_fwd *fwd;
	size_t nfwd;
};

/* The images and devices vessel attached to one machine. */
struct vsl_virtio_set;

/*
 * Open each disk (read-write unless readonly) and attach a virtio-blk for
 * it, then a virtio-net on slirp per NIC (with its port forwards), then one
 * virtio-rng, to m's PCI bus. NULL with ctx set (an image that does not
 * open, a port in use, too many devices). The devices belong to m (freed
 * by vsl_machine_free); the images to the set.
 */
struct vsl_virtio_set *vsl_virtio_attach(struct vsl_ctx *ctx, struct vsl_machine *m,
					 const struct vsl_virtio_disk_spec *disks, size_t ndisks,
					 const struct vsl_virtio_nic_spec *nics, size_t nnics);
/* Close (flush) the images: call after vsl_machine_free. NULL is a no-op. */
void vsl_virtio_set_free(struct vsl_virtio_set *s);

#endif
