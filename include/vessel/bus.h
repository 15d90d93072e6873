/*
 * The device bus: one address space (port I/O or MMIO) of mapped ranges.
 *
 * Devices register callbacks for a range; CPU engines (the reference
 * executor, the translator, a KVM exit handler) dispatch accesses here and
 * never know which device answers. Devices never see the CPU engine.
 *
 *	vsl_bus_map(io, 0x3f8, 8, uart, uart_read, uart_write);
 *	uint64_t v;
 *	if (!vsl_bus_read(io, 0x3fd, 0, &v)) v = ~0ull;   // unmapped: all ones
 *
 * size_log2 is 0..3 for 1, 2, 4, 8-byte accesses; off is relative to base.
 */
#ifndef VESSEL_BUS_H
#define VESSEL_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/common.h"

typedef uint64_t vsl_io_read_fn(void *opaque, uint64_t off, unsigned size_log2);
typedef void vsl_io_write_fn(void *opaque, uint64_t off, uint64_t val, unsigned size_log2);

struct vsl_bus;

struct vsl_bus *vsl_bus_new(const char *name);
void vsl_bus_free(struct vsl_bus *bus);
/* Map [base, base+len). VSL_EEXIST if it overlaps an existing range. */
int vsl_bus_map(struct vsl_bus *bus, uint64_t base, uint64_t len, void *opaque,
		vsl_io_read_fn *rd, vsl_io_write_fn *wr);
int vsl_bus_unmap(struct vsl_bus *bus, uint64_t base);
/* false when nothing is mapped at addr (the caller decides: all-ones, #GP, log). */
bool vsl_bus_read(struct vsl_bus *bus, uint64_t addr, unsigned size_log2, uint64_t *val);
bool vsl_bus_write(struct vsl_bus *bus, uint64_t addr, unsigned size_log2, uint64_t val);

#endif
