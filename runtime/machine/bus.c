/*
 * The device bus: a sorted array of non-overlapping ranges, searched by
 * binary search on every access.
 *
 * Mapping is rare (board setup, APIC relocation) and lookup is hot (every
 * port or MMIO access of the guest), so the table is kept sorted by base
 * and inserts shift the tail. A one-entry cache of the last hit makes the
 * common "same device again" case (UART bursts, APIC EOIs) a compare.
 *
 *	struct vsl_bus *io = vsl_bus_new("io");
 *	vsl_bus_map(io, 0x3f8, 8, uart, uart_read, uart_write);
 *	vsl_bus_write(io, 0x3f8, 0, 'A');
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/bus.h"

struct bus_range {
	uint64_t base;
	uint64_t len;
	void *opaque;
	vsl_io_read_fn *rd;
	vsl_io_write_fn *wr;
};

struct vsl_bus {
	char name[16];
	struct bus_range *r;
	size_t n, cap;
	size_t last; /* index of the last hit (may be stale; always checked) */
};

struct vsl_bus *vsl_bus_new(const char *name)
{
	struct vsl_bus *bus = calloc(1, sizeof(*bus));

	if (!bus)
		return NULL;
	snprintf(bus->name, sizeof(bus->name), "%s", name ? name : "bus");
	return bus;
}

void vsl_bus_free(struct vsl_bus *bus)
{
	if (!bus)
		return;
	free(bus->r);
	free(bus);
}

/* Index of the first range whose base is > addr. */
static size_t bus_upper(const struct vsl_bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bus->r[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int vsl_bus_map(struct vsl_bus *bus, uint64_t base, uint64_t len, void *opaque,
		vsl_io_read_fn *rd, vsl_io_write_fn *wr)
{
	size_t i;

	if (!len || base + len - 1 < base)
		return VSL_EINVAL;
	i = bus_upper(bus, base);
	/* the range before must end before base; the one at i must start after */
	if (i > 0 && bus->r[i - 1].base + bus->r[i - 1].len > base)
		return VSL_EEXIST;
	if (i < bus->n && bus->r[i].base <= base + len - 1)
		return VSL_EEXIST;
	if (bus->n == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *r = realloc(bus->r, cap * sizeof(*r));
		if (!r)
			return VSL_ENOMEM;
		bus->r = r;
		bus->cap = cap;
	}
	memmove(&bus->r[i + 1], &bus->r[i], (bus->n - i) * sizeof(*bus->r));
	bus->r[i] = (struct bus_range){ .base = base, .len = len, .opaque = opaque,
					.rd = rd, .wr = wr };
	bus->n++;
	bus->last = 0;
	return 0;
}

int vsl_bus_unmap(struct vsl_bus *bus, uint64_t base)
{
	size_t i = bus_upper(bus, base);

	if (i == 0 || bus->r[i - 1].base != base)
		return VSL_ENOENT;
	i--;
	memmove(&bus->r[i], &bus->r[i + 1], (bus->n - i - 1) * sizeof(*bus->r));
	bus->n--;
	bus->last = 0;
	return 0;
}

static struct bus_range *bus_find(struct vsl_bus *bus, uint64_t addr)
{
	size_t i;

	if (bus->last < bus->n) {
		struct bus_range *r = &bus->r[bus->last];
		if (addr - r->base < r->len)
			return r;
	}
	i = bus_upper(bus, addr);
	if (i == 0)
		return NULL;
	i--;
	if (addr - bus->r[i].base >= bus->r[i].len)
		return NULL;
	bus->last = i;
	return &bus->r[i];
}

bool vsl_bus_read(struct vsl_bus *bus, uint64_t addr, unsigned size_log2, uint64_t *val)
{
	struct bus_range *r = bus_find(bus, addr);

	if (!r)
		return false;
	*val = r->rd ? r->rd(r->opaque, addr - r->base, size_log2) : ~0ull;
	return true;
}

bool vsl_bus_write(struct vsl_bus *bus, uint64_t addr, unsigned size_log2, uint64_t val)
{
	struct bus_range *r = bus_find(bus, addr);

	if (!r)
		return false;
	if (r->wr)
		r->wr(r->opaque, addr - r->base, val, size_log2);
	return true;
}
