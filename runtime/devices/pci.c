/*
 * PCI host bridge: bus 0 only, configuration mechanism #1, 32-bit memory
 * BARs assigned like firmware would, INTx routed to I/O APIC pins.
 *
 * Configuration mechanism #1:
 *
 *	0xCF8 (32-bit only)  31 enable | 23..16 bus | 15..11 device | 10..8 function | 7..2 register
 *	0xCFC..0xCFF         data window onto the selected dword (1, 2 or 4-byte accesses)
 *
 * Anything but bus 0, function 0 of a populated slot reads all ones (the
 * "no device" answer); writes there are dropped. Slot 0 is the host bridge.
 *
 * BARs: a device declares sizes in bar_size[]; vsl_pci_add assigns
 * naturally aligned addresses from the window [VSL_PCI_MMIO_BASE,
 * +VSL_PCI_MMIO_SIZE) and enables memory decoding, so Linux keeps them
 * (they lie inside the root bridge's _CRS window). The guest may size
 * (write all ones, read back ~(size-1)) and move them; a BAR is mapped on
 * the MMIO bus only while the command register's memory bit is set and its
 * address is non-zero and below 4 GiB; a BAR the guest moves on top of
 * another range stays unmapped (logged at debug level).
 *
 * INTx swizzle (the usual one for devices on a root bus):
 *
 *	GSI = VSL_PCI_GSI_BASE + ((slot + pin - 1) mod 4)    pin: 1 = INTA .. 4 = INTD
 *
 * so INTA of slots 1, 2, 3, 4, 5 lands on GSI 17, 18, 19, 16, 17. The
 * pins are level-triggered, active low (ACPI's default for _PRT entries
 * with a GSI); the I/O APIC model takes "asserted" as level 1 and handles
 * the polarity bit itself. Several devices may share a GSI: the line is
 * the OR of their levels. The Interrupt Line register reads the GSI.
 *
 * ACPI: vsl_pci_acpi_aml produces \_SB.PCI0 (PNP0A03) with _CRS (bus
 * 0-255, I/O 0-0xFFFF, the MMIO window) and a _PRT listing INTA of slots
 * 1..VSL_PCI_PRT_SLOTS by the swizzle above; the board's DSDT includes it.
 * Only INTA is listed because every vessel device is single-function with
 * pin A (kept small: the DSDT lives in 256 bytes of the BIOS area).
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/devices/virtio.h"

#define PCI_VENDOR 0x00
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_BAR0 0x10
#define PCI_INT_LINE 0x3C
#define PCI_INT_PIN 0x3D
#define PCI_CMD_MEM 0x0002
#define PCI_PRT_SLOTS 6

struct vsl_pci {
	struct vsl_ctx *ctx;
	struct vsl_bus *io, *mmio;
	struct vsl_irq gsi;
	uint32_t addr;                   /* 0xCF8 */
	struct vsl_pci_dev host;         /* slot 0 */
	struct vsl_pci_dev *slot[VSL_PCI_SLOTS];
	uint64_t next_mmio;
	struct pci_bar_ref {
		struct vsl_pci_dev *d;
		int bar;
	} refs[VSL_PCI_SLOTS][6];
};

static uint32_t pci_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void pci_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint64_t pci_bar_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct pci_bar_ref *r = opaque;

	return r->d->bar_read ? r->d->bar_read(r->d->opaque, r->bar, off, size_log2) : ~0ull;
}

static void pci_bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct pci_bar_ref *r = opaque;

	if (r->d->bar_write)
		r->d->bar_write(r->d->opaque, r->bar, off, val, size_log2);
}

/* Bring the MMIO mappings of d in line with its BARs and command register. */
static void pci_update_bars(struct vsl_pci_dev *d)
{
	struct vsl_pci *pci = d->pci;
	bool mem = pci_get32(d->cfg + PCI_COMMAND) & PCI_CMD_MEM;

	for (int i = 0; i < 6; i++) {
		uint32_t want = 0, addr;

		if (!d->bar_size[i])
			continue;
		addr = pci_get32(d->cfg + PCI_BAR0 + 4 * i) & ~0xFu;
		/* all ones (sizing in progress) or 0 means "not placed" */
		if (mem && addr && addr != (~(d->bar_size[i] - 1) & ~0xFu) &&
		    (uint64_t)addr + d->bar_size[i] <= 0x100000000ull)
			want = addr;
		if (want == d->bar_mapped[i])
			continue;
		if (d->bar_mapped[i])
			vsl_bus_unmap(pci->mmio, d->bar_mapped[i]);
		d->bar_mapped[i] = 0;
		if (!want)
			continue;
		if (vsl_bus_map(pci->mmio, want, d->bar_size[i], &pci->refs[d->slot][i],
				pci_bar_read, pci_bar_write) == 0)
			d->bar_mapped[i] = want;
		else
			vsl_debug(pci->ctx, "PCI 00:%02x.0 BAR%d at 0x%x overlaps another range: left unmapped",
				  d->slot, i, want);
	}
}

static struct vsl_pci_dev *pci_dev(struct vsl_pci *pci, unsigned slot)
{
	return slot < VSL_PCI_SLOTS ? pci->slot[slot] : NULL;
}

uint32_t vsl_pci_config_read(struct vsl_pci *pci, unsigned slot, unsigned reg, unsigned size_log2)
{
	struct vsl_pci_dev *d = pci_dev(pci, slot);
	unsigned n = 1u << size_log2;
	uint32_t v = 0;

	if (!d || size_log2 > 2 || reg > 256 - n)
		return size_log2 >= 2 ? 0xFFFFFFFFu : (1u << (8 * n)) - 1;
	for (unsigned i = 0; i < n; i++)
		v |= (uint32_t)d->cfg[reg + i] << (8 * i);
	return v;
}

void vsl_pci_config_write(struct vsl_pci *pci, unsigned slot, unsigned reg, uint32_t val,
			  unsigned size_log2)
{
	struct vsl_pci_dev *d = pci_dev(pci, slot);
	unsigned n = 1u << size_log2;
	bool bars = false;

	if (!d || size_log2 > 2 || reg > 256 - n)
		return;
	for (unsigned i = 0; i < n; i++) {
		unsigned at = reg + i;
		uint8_t b = (uint8_t)(val >> (8 * i)), m = d->wmask[at];

		if (at >= PCI_BAR0 && at < PCI_BAR0 + 24) {
			/* BAR bytes: only the address bits above the size are writable */
			int bar = (int)(at - PCI_BAR0) / 4;
			uint32_t mask = d->bar_size[bar] ? ~(d->bar_size[bar] - 1) & ~0xFu : 0;
			m = (uint8_t)(mask >> (8 * ((at - PCI_BAR0) % 4)));
			bars = true;
		} else if (at == PCI_COMMAND || at == PCI_COMMAND + 1) {
			bars = true;
		} else if (at == PCI_STATUS || at == PCI_STATUS + 1) {
			continue;  /* no error bits are ever set: read-only */
		}
		d->cfg[at] = (uint8_t)((d->cfg[at] & ~m) | (b & m));
	}
	if (bars)
		pci_update_bars(d);
}

/* ---- configuration mechanism #1 ------------------------------------------ */

static uint64_t pci_addr_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_pci *pci = opaque;

	if (off != 0 || size_log2 != 2)
		return ~0ull;  /* byte/word accesses to 0xCF8 are not the config address */
	return pci->addr;
}

static void pci_addr_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_pci *pci = opaque;

	if (off == 0 && size_log2 == 2)
		pci->addr = (uint32_t)val & 0x80FFFFFCu;
}

/* Decode 0xCF8 into a slot of bus 0, function 0; -1 for "no device". */
static int pci_target(const struct vsl_pci *pci)
{
	uint32_t a = pci->addr;

	if (!(a & 0x80000000u) || ((a >> 16) & 0xFF) != 0 || ((a >> 8) & 7) != 0)
		return -1;
	return (int)((a >> 11) & 0x1F);
}

static uint64_t pci_data_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_pci *pci = opaque;
	int slot = pci_target(pci);

	if (slot < 0 || size_log2 > 2 || off + (1u << size_log2) > 4)
		return ~0ull;
	return vsl_pci_config_read(pci, (unsigned)slot, (pci->addr & 0xFC) + (unsigned)off, size_log2);
}

static void pci_data_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_pci *pci = opaque;
	int slot = pci_target(pci);

	if (slot < 0 || size_log2 > 2 || off + (1u << size_log2) > 4)
		return;
	vsl_pci_config_write(pci, (unsigned)slot, (pci->addr & 0xFC) + (unsigned)off,
			     (uint32_t)val, size_log2);
}

/* ---- interrupts ------------------------------------------------------------ */

int vsl_pci_gsi(const struct vsl_pci_dev *d)
{
	unsigned pin = d->cfg[PCI_INT_PIN] ? d->cfg[PCI_INT_PIN] : 1;

	return VSL_PCI_GSI_BASE + (int)((d->slot + pin - 1) & 3);
}

void vsl_pci_set_irq(struct vsl_pci_dev *d, int level)
{
	struct vsl_pci *pci = d->pci;
	int gsi, line = 0;

	level = !!level;
	if (!pci || d->level == level)
		return;
	d->level = level;
	gsi = vsl_pci_gsi(d);
	/* shared line: the OR of every device on this GSI */
	for (unsigned s = 1; s < VSL_PCI_SLOTS; s++)
		if (pci->slot[s] && pci->slot[s]->level && vsl_pci_gsi(pci->slot[s]) == gsi)
			line = 1;
	if (pci->gsi.set)
		pci->gsi.set(pci->gsi.opaque, gsi, line);
}

/* ---- setup ------------------------------------------------------------------ */

int vsl_pci_add(struct vsl_pci *pci, struct vsl_pci_dev *d)
{
	unsigned slot;
	uint64_t at = pci->next_mmio;

	for (slot = 1; slot < VSL_PCI_SLOTS && pci->slot[slot]; slot++)
		;
	if (slot >= VSL_PCI_SLOTS)
		return vsl_set_error(pci->ctx, 0, VSL_ENOMEM, "no free PCI slot (at most %d devices)",
				     VSL_PCI_SLOTS - 1);
	for (int i = 0; i < 6; i++) {
		uint32_t sz = d->bar_size[i];
		if (!sz)
			continue;
		if (sz < 4096 || (sz & (sz - 1)))
			return vsl_set_error(pci->ctx, 0, VSL_EINVAL, "PCI BAR size 0x%x is not a power of two >= 4 KiB", sz);
		at = (at + sz - 1) & ~(uint64_t)(sz - 1);
		if (at + sz > VSL_PCI_MMIO_BASE + VSL_PCI_MMIO_SIZE)
			return vsl_set_error(pci->ctx, 0, VSL_ENOMEM, "the PCI MMIO window is full");
		at += sz;
	}
	at = pci->next_mmio;
	d->pci = pci;
	d->slot = slot;
	d->level = 0;
	memset(d->bar_mapped, 0, sizeof(d->bar_mapped));
	for (int i = 0; i < 6; i++) {
		uint32_t sz = d->bar_size[i];
		pci->refs[slot][i] = (struct pci_bar_ref){ d, i };
		if (!sz)
			continue;
		at = (at + sz - 1) & ~(uint64_t)(sz - 1);
		pci_put32(d->cfg + PCI_BAR0 + 4 * i, (uint32_t)at);  /* 32-bit, non-prefetchable */
		at += sz;
	}
	pci->next_mmio = at;
	if (!d->cfg[PCI_INT_PIN])
		d->cfg[PCI_INT_PIN] = 1;
	d->cfg[PCI_INT_LINE] = (uint8_t)vsl_pci_gsi(d);
	d->wmask[PCI_INT_LINE] = 0xFF;
	d->cfg[PCI_COMMAND] |= PCI_CMD_MEM;
	d->wmask[PCI_COMMAND] |= 0x06;     /* memory space, bus master */
	d->wmask[PCI_COMMAND + 1] |= 0x04; /* interrupt disable */
	pci->slot[slot] = d;
	pci_update_bars(d);
	return 0;
}

void vsl_pci_remove(struct vsl_pci_dev *d)
{
	struct vsl_pci *pci = d->pci;

	if (!pci)
		return;
	vsl_pci_set_irq(d, 0);
	for (int i = 0; i < 6; i++)
		if (d->bar_mapped[i])
			vsl_bus_unmap(pci->mmio, d->bar_mapped[i]);
	memset(d->bar_mapped, 0, sizeof(d->bar_mapped));
	pci->slot[d->slot] = NULL;
	d->pci = NULL;
}

struct vsl_pci *vsl_pci_new(struct vsl_ctx *ctx, struct vsl_bus *io, struct vsl_bus *mmio,
			    struct vsl_irq gsi)
{
	struct vsl_pci *pci = calloc(1, sizeof(*pci));
	int r;

	if (!pci) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		return NULL;
	}
	*pci = (struct vsl_pci){ .ctx = ctx, .io = io, .mmio = mmio, .gsi = gsi,
				 .next_mmio = VSL_PCI_MMIO_BASE };
	/* host bridge 00:00.0: Red Hat's generic host bridge ID (no chipset quirks apply) */
	pci_put32(pci->host.cfg + PCI_VENDOR, 0x1b36 | 0x0008u << 16);
	pci->host.cfg[0x0B] = 0x06;   /* class: bridge */
	pci->host.cfg[0x0A] = 0x00;   /* subclass: host bridge */
	pci->host.pci = pci;
	pci->slot[0] = &pci->host;
	/*
	 * 0xCF8 is mapped one byte long: the bus dispatches on the first port,
	 * so dword accesses at 0xCF8 still arrive here, while byte port 0xCF9
	 * stays the board's reset control register (as on real chipsets).
	 */
	if ((r = vsl_bus_map(io, VSL_PCI_CONFIG_ADDR, 1, pci, pci_addr_read, pci_addr_write)) ||
	    (r = vsl_bus_map(io, VSL_PCI_CONFIG_DATA, 4, pci, pci_data_read, pci_data_write))) {
		vsl_bus_unmap(io, VSL_PCI_CONFIG_ADDR);
		free(pci);
		vsl_set_error(ctx, 0, r, "cannot map the PCI configuration ports 0xCF8/0xCFC (%s)",
			      vsl_strerror(r));
		return NULL;
	}
	return pci;
}

void vsl_pci_free(struct vsl_pci *pci)
{
	if (!pci)
		return;
	for (unsigned s = 1; s < VSL_PCI_SLOTS; s++) {
		struct vsl_pci_dev *d = pci->slot[s];
		if (!d)
			continue;
		vsl_pci_remove(d);
		if (d->release)
			d->release(d);
	}
	vsl_bus_unmap(pci->io, VSL_PCI_CONFIG_ADDR);
	vsl_bus_unmap(pci->io, VSL_PCI_CONFIG_DATA);
	free(pci);
}

/* ---- ACPI ------------------------------------------------------------------- */

struct aml {
	uint8_t *p;
	size_t n, room;
	bool over;
};

static void aml_bytes(struct aml *a, const void *b, size_t n)
{
	if (a->n + n > a->room) {
		a->over = true;
		return;
	}
	memcpy(a->p + a->n, b, n);
	a->n += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

/* PkgLength of a body of len bytes (the encoding counts its own bytes). */
static void aml_pkglen(struct aml *a, size_t len)
{
	if (len + 1 < 64) {
		aml_byte(a, (uint8_t)(len + 1));
	} else {
		len += 2;
		aml_byte(a, (uint8_t)(0x40 | (len & 0xF)));
		aml_byte(a, (uint8_t)(len >> 4));
	}
}

/* Emit op (1-2 bytes), PkgLength, then body. */
static void aml_pkg(struct aml *a, const uint8_t *op, size_t opn, const struct aml *body)
{
	aml_bytes(a, op, opn);
	aml_pkglen(a, body->n);
	aml_bytes(a, body->p, body->n);
	if (body->over)
		a->over = true;
}

size_t vsl_pci_acpi_aml(uint8_t *out, size_t room)
{
	uint8_t crsb[96], prtb[128], entb[16], devb[256];
	struct aml crs = { crsb, 0, sizeof(crsb) }, prt = { prtb, 0, sizeof(prtb) };
	struct aml dev = { devb, 0, sizeof(devb) }, top = { out, 0, room };
	uint8_t res[64];
	size_t rn = 0;
	const uint32_t mlo = (uint32_t)VSL_PCI_MMIO_BASE;
	const uint32_t mhi = (uint32_t)(VSL_PCI_MMIO_BASE + VSL_PCI_MMIO_SIZE - 1);

	/* _CRS: WordBusNumber 0-0xFF */
	static const uint8_t busn[] = { 0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00,
					0x00, 0x00, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x01 };
	/* WordIO 0x0000-0xFFFF, length 0x10000 is not representable: 0-0xFFFF as min/max, len 0 */
	static const uint8_t wio[] = { 0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00,
				       0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00 };
	memcpy(res + rn, busn, sizeof(busn));
	rn += sizeof(busn);
	memcpy(res + rn, wio, sizeof(wio));
	/* the I/O range length: 0x10000 does not fit a word; use 0xFFFF bytes from 0 to 0xFFFE */
	res[rn + 10] = 0xFE;
	res[rn + 14] = 0xFF;
	res[rn + 15] = 0xFF;
	rn += sizeof(wio);
	/* DWordMemory: ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite */
	res[rn++] = 0x87;
	res[rn++] = 0x17;
	res[rn++] = 0x00;
	res[rn++] = 0x00;  /* resource type: memory */
	res[rn++] = 0x0C;  /* general flags: min/max fixed */
	res[rn++] = 0x01;  /* type-specific: read/write, non-cacheable */
	pci_put32(res + rn, 0); rn += 4;             /* granularity */
	pci_put32(res + rn, mlo); rn += 4;
	pci_put32(res + rn, mhi); rn += 4;
	pci_put32(res + rn, 0); rn += 4;             /* translation */
	pci_put32(res + rn, mhi - mlo + 1); rn += 4; /* length */
	res[rn++] = 0x79;  /* end tag */
	res[rn++] = 0x00;
	/* Name (_CRS, Buffer (rn) { res }) */
	{
		uint8_t bb[80];
		struct aml buf = { bb, 0, sizeof(bb) };
		static const uint8_t op = 0x11;
		aml_byte(&buf, 0x0A);
		aml_byte(&buf, (uint8_t)rn);
		aml_bytes(&buf, res, rn);
		aml_bytes(&crs, "\x08_CRS", 5);
		aml_pkg(&crs, &op, 1, &buf);
	}
	/* Name (_PRT, Package () { Package () { 0xSSSSFFFF, 0, Zero, GSI }, ... }) */
	{
		struct aml list = { devb, 0, sizeof(devb) };  /* devb reused as scratch */
		static const uint8_t pkg = 0x12;
		aml_byte(&list, PCI_PRT_SLOTS);
		for (unsigned s = 1; s <= PCI_PRT_SLOTS; s++) {
			struct aml e = { entb, 0, sizeof(entb) };
			uint8_t adr[5] = { 0x0C };
			pci_put32(adr + 1, s << 16 | 0xFFFF);
			aml_byte(&e, 4);
			aml_bytes(&e, adr, 5);
			aml_bytes(&e, "\x0A\x00", 2);                     /* pin INTA */
			aml_byte(&e, 0x00);                               /* source: Zero = GSI */
			aml_byte(&e, 0x0A);
			aml_byte(&e, (uint8_t)(VSL_PCI_GSI_BASE + (s & 3))); /* (slot + 1 - 1) mod 4 */
			aml_pkg(&list, &pkg, 1, &e);
		}
		aml_bytes(&prt, "\x08_PRT", 5);
		aml_pkg(&prt, &pkg, 1, &list);
	}
	/* Device (PCI0) { _HID, _ADR, _UID, _CRS, _PRT } */
	{
		uint8_t db[240];
		struct aml d = { db, 0, sizeof(db) };
		static const uint8_t devop[2] = { 0x5B, 0x82 }, scope = 0x10;
		aml_bytes(&d, "PCI0", 4);
		aml_bytes(&d, "\x08_HID\x0C\x41\xD0\x0A\x03", 10);  /* EisaId ("PNP0A03") */
		aml_bytes(&d, "\x08_ADR\x00", 6);
		aml_bytes(&d, "\x08_UID\x00", 6);
		aml_bytes(&d, crs.p, crs.n);
		aml_bytes(&d, prt.p, prt.n);
		dev.n = 0;
		aml_bytes(&dev, "\\_SB_", 5);
		{
			uint8_t sb[240];
			struct aml s = { sb, 0, sizeof(sb) };
			aml_pkg(&s, devop, 2, &d);
			aml_bytes(&dev, s.p, s.n);
			if (s.over || d.over || crs.over || prt.over)
				return 0;
		}
		aml_pkg(&top, &scope, 1, &dev);
	}
	return top.over || dev.over ? 0 : top.n;
}
