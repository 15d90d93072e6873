/*
 * A tiny long-mode machine for CPU unit tests and the differential rig.
 *
 * vsl_cpu_fixture_init() allocates guest RAM and builds, inside it, what a
 * 64-bit kernel would have set up: a GDT (kernel/user code and data, a
 * 64-bit TSS), an IDT whose 256 gates point at one-byte HLT stubs, a TSS
 * with RSP0 and IST1, and identity page tables (4 KiB pages for the first
 * 4 MiB so tests can unmap or protect single pages, 2 MiB pages up to
 * 1 GiB). The CPU starts in 64-bit mode at CPL 0 with IF=0.
 *
 *	struct vsl_cpu_fixture f;
 *	vsl_cpu_fixture_init(&f, 8 << 20);
 *	vsl_cpu_fixture_code(&f, "\x48\x01\xd8\xf4", 4);  // add %rbx,%rax; hlt
 *	vsl_cpu_fixture_run(&f, 100, &ex);                // stops at HLT
 *	vsl_cpu_fixture_fini(&f);
 *
 * After an exception, vsl_cpu_fixture_vector() tells which IDT stub halted
 * (the frame is at RSP: [error code], RIP, CS, RFLAGS, RSP, SS).
 */
#ifndef VESSEL_TESTS_CPU_FIXTURE_H
#define VESSEL_TESTS_CPU_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "vessel/bus.h"
#include "vessel/common.h"
#include "vessel/cpu.h"

/* guest-physical (= linear) layout */
#define VSL_FIX_GDT 0x1000ull
#define VSL_FIX_IDT 0x2000ull
#define VSL_FIX_STUBS 0x3000ull     /* vector v: HLT at STUBS + 8 * v */
#define VSL_FIX_TSS 0x5000ull
#define VSL_FIX_PML4 0x10000ull
#define VSL_FIX_PT0 0x13000ull      /* PTs for 0..4 MiB: 0x13000, 0x14000 */
#define VSL_FIX_CODE 0x100000ull    /* tests place code here */
#define VSL_FIX_DATA 0x200000ull    /* and data here */
#define VSL_FIX_STACK 0x3f0000ull   /* initial RSP */
#define VSL_FIX_RSP0 0x3ff000ull    /* TSS.RSP0 (ring-3 -> ring-0 stack) */
#define VSL_FIX_IST1 0x3fe000ull

/* selectors */
#define VSL_FIX_KCS 0x08
#define VSL_FIX_KDS 0x10
#define VSL_FIX_KCS32 0x18
#define VSL_FIX_UDS 0x2b
#define VSL_FIX_UCS 0x33
#define VSL_FIX_TSSSEL 0x40

struct vsl_cpu_fixture {
	struct vsl_ctx *ctx;
	uint8_t *ram;
	uint64_t ram_size;
	struct vsl_bus *io;
	struct vsl_bus *mmio;
	struct vsl_cpu_env env;
	struct vsl_cpu *cpu;
	uint64_t now_ns;        /* virtual clock returned to the CPU */
	int irq_vector;         /* pending external interrupt, -1 when none */
};

/* 0 or VSL_ENOMEM. ram_size must be at least 8 MiB. */
int vsl_cpu_fixture_init(struct vsl_cpu_fixture *f, uint64_t ram_size);
void vsl_cpu_fixture_fini(struct vsl_cpu_fixture *f);
/* Copy code to VSL_FIX_CODE and point RIP at it. */
void vsl_cpu_fixture_code(struct vsl_cpu_fixture *f, const void *code, size_t len);
/* Run until HLT, an error or budget instructions; returns vsl_cpu_run's result. */
int vsl_cpu_fixture_run(struct vsl_cpu_fixture *f, uint64_t budget, struct vsl_cpu_exit *ex);
/* The vector whose IDT stub the CPU halted in, or -1. */
int vsl_cpu_fixture_vector(const struct vsl_cpu_fixture *f);
/* Page-table entry for a linear address below 4 MiB (to change its bits). */
uint64_t *vsl_cpu_fixture_pte(struct vsl_cpu_fixture *f, uint64_t lin);
/* 64-bit word of guest memory. */
uint64_t vsl_cpu_fixture_peek(const struct vsl_cpu_fixture *f, uint64_t gpa);

#endif
