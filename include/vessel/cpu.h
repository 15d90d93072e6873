/*
 * The x86-64 virtual CPU: public interface used by the machine (board).
 *
 * The CPU owns all architectural state (registers, control registers, MSRs,
 * SSE/x87 state, descriptor tables) and runs guest code with one of its
 * engines: the reference executor (interpreter) or the binary translator.
 * Everything outside the CPU reaches it through struct vsl_cpu_env, which the
 * machine fills: guest RAM, the port I/O and MMIO buses, the interrupt
 * controller and the virtual clock.
 *
 *	struct vsl_cpu *cpu = vsl_cpu_new(ctx, &env);
 *	vsl_cpu_reset(cpu);  ... or set long-mode state for a direct Linux boot
 *	for (;;) {
 *		struct vsl_cpu_exit ex;
 *		vsl_cpu_run(cpu, budget, &ex);
 *		switch (ex.reason) { case VSL_EXIT_HLT: ... }
 *	}
 */
#ifndef VESSEL_CPU_H
#define VESSEL_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/bus.h"
#include "vessel/common.h"

/* General-purpose register indices (hardware encoding order). */
enum {
	VSL_RAX, VSL_RCX, VSL_RDX, VSL_RBX, VSL_RSP, VSL_RBP, VSL_RSI, VSL_RDI,
	VSL_R8, VSL_R9, VSL_R10, VSL_R11, VSL_R12, VSL_R13, VSL_R14, VSL_R15
};
/* Segment register indices (hardware encoding order). */
enum { VSL_ES, VSL_CS, VSL_SS, VSL_DS, VSL_FS, VSL_GS };

struct vsl_seg {
	uint16_t sel;
	uint64_t base;
	uint32_t limit;
	uint16_t attr; /* descriptor bits 40..47 and 52..55 packed: type|S|DPL|P|AVL|L|DB|G << 8 */
};

struct vsl_dtable {
	uint64_t base;
	uint16_t limit;
};

/* What the machine provides to the CPU. Set before vsl_cpu_new; borrowed. */
struct vsl_cpu_env {
	uint8_t *ram;          /* host pointer to guest-physical address 0 */
	uint64_t ram_size;     /* RAM occupies [0, ram_size) except MMIO holes */
	struct vsl_bus *io;    /* port I/O space (16-bit addresses) */
	struct vsl_bus *mmio;  /* physical accesses that miss RAM (or hit a hole) */
	/* Physical ranges inside [0, ram_size) that are MMIO, not RAM (e.g. APIC). */
	bool (*is_mmio)(void *opaque, uint64_t paddr);
	/*
	 * External interrupts (PIC / I/O APIC / local APIC, all owned by the
	 * machine): intr_pending says whether an interrupt is waiting;
	 * intr_ack is called when the CPU accepts it (IF=1, not shadowed) and
	 * returns the vector.
	 */
	bool (*intr_pending)(void *opaque);
	int (*intr_ack)(void *opaque);
	bool (*nmi_pending)(void *opaque);
	/* Virtual time in nanoseconds (drives RDTSC: TSC = ns * tsc_khz / 1e6). */
	uint64_t (*now_ns)(void *opaque);
	/* Local APIC MSRs (x2APIC not offered); the machine's APIC model answers. */
	uint64_t (*apic_base_read)(void *opaque);
	void (*apic_base_write)(void *opaque, uint64_t val);
	uint64_t tsc_khz;      /* TSC frequency advertised to the guest */
	void *opaque;          /* passed to every callback above */
};

enum vsl_cpu_exit_reason {
	VSL_CPU_EXIT_BUDGET,     /* ran the requested number of instructions */
	VSL_CPU_EXIT_HLT,        /* HLT with nothing pending: machine may skip time */
	VSL_CPU_EXIT_IRQ_CHECK,  /* a device asked for attention (vsl_cpu_kick) */
	VSL_CPU_EXIT_SHUTDOWN,   /* triple fault */
	VSL_CPU_EXIT_RESET,      /* the machine asked for a reset */
	VSL_CPU_EXIT_ERROR       /* an internal limit or unimplemented feature; see ctx */
};

struct vsl_cpu_exit {
	enum vsl_cpu_exit_reason reason;
	uint64_t executed;       /* instructions retired during this call */
};

enum vsl_cpu_engine { VSL_ENGINE_INTERP, VSL_ENGINE_BT };

struct vsl_cpu;

struct vsl_cpu *vsl_cpu_new(struct vsl_ctx *ctx, const struct vsl_cpu_env *env);
void vsl_cpu_free(struct vsl_cpu *cpu);
int vsl_cpu_set_engine(struct vsl_cpu *cpu, enum vsl_cpu_engine engine);
/* Power-on state (real mode, CS:IP = F000:FFF0). */
void vsl_cpu_reset(struct vsl_cpu *cpu);
/*
 * Run up to budget instructions (an interrupt or exit may end it sooner).
 * Returns 0, or VSL_E* with the reason in ctx for VSL_CPU_EXIT_ERROR.
 */
int vsl_cpu_run(struct vsl_cpu *cpu, uint64_t budget, struct vsl_cpu_exit *exit);
/* Instructions retired since vsl_cpu_new (the machine derives virtual time from it). */
uint64_t vsl_cpu_icount(const struct vsl_cpu *cpu);

/*
 * Counters for `vessel run --stats` and tests, cumulative since vsl_cpu_new.
 * The translator fields are zero under the reference executor. TLB hits
 * are data accesses through vsl_cpu_read_lin/write_lin (the executor and
 * the translator's helpers) that hit; the inline TLB in translated code
 * does not count its hits. TLB misses are every data access of either
 * engine that took the page-walk slow path.
 */
struct vsl_cpu_stats {
	/* binary translator */
	uint64_t blocks_translated;
	uint64_t insns_translated;
	uint64_t cache_bytes_used, cache_bytes_total;
	uint64_t cache_flushes;
	uint64_t invalidated;        /* translations dropped on guest writes */
	uint64_t chained_exits;      /* direct exits patched to jump to their target */
	uint64_t lookup_exits;       /* blocks entered through a dispatcher look-up */
	uint64_t indirect_hits;      /* indirect exits continued in code */
	uint64_t indirect_misses;    /* ... that went back to the dispatcher */
	uint64_t helper_exits;       /* blocks left early from a helper */
	uint64_t loops_carried;      /* self-looping blocks translated with registers kept across iterations */
	uint64_t interp_steps;       /* instructions handed to the executor */
	/* softmmu */
	uint64_t tlb_hits;           /* C-path data accesses only (see above) */
	uint64_t tlb_misses;         /* slow-path data accesses, both engines */
	uint64_t tlb_flushes;        /* CR3 writes, INVLPG-all, CR0/CR4 changes */
	/* monitor exits: guest operations the CPU hands to the machine */
	uint64_t io;                 /* IN/OUT/INS/OUTS (per port access) */
	uint64_t mmio;               /* physical accesses sent to the MMIO bus */
	uint64_t msr;                /* RDMSR/WRMSR */
	uint64_t cpuid;
	uint64_t hlt;
	uint64_t interrupts;         /* external interrupts and NMIs delivered */
	uint64_t exceptions;         /* exceptions delivered through the IDT */
};
void vsl_cpu_get_stats(const struct vsl_cpu *cpu, struct vsl_cpu_stats *out);
/* Ask a running CPU to return at the next instruction boundary (signal-safe). */
void vsl_cpu_kick(struct vsl_cpu *cpu);
/* Called by the machine when guest RAM changed behind the CPU's back (DMA, loader). */
void vsl_cpu_invalidate_phys(struct vsl_cpu *cpu, uint64_t paddr, uint64_t len);

/* Register access for loaders, debugging and tests. */
uint64_t vsl_cpu_get_gpr(const struct vsl_cpu *cpu, int reg);
void vsl_cpu_set_gpr(struct vsl_cpu *cpu, int reg, uint64_t val);
uint64_t vsl_cpu_get_rip(const struct vsl_cpu *cpu);
void vsl_cpu_set_rip(struct vsl_cpu *cpu, uint64_t rip);
uint64_t vsl_cpu_get_rflags(const struct vsl_cpu *cpu);
void vsl_cpu_set_rflags(struct vsl_cpu *cpu, uint64_t rflags);
void vsl_cpu_get_seg(const struct vsl_cpu *cpu, int seg, struct vsl_seg *out);
void vsl_cpu_set_seg(struct vsl_cpu *cpu, int seg, const struct vsl_seg *s);
void vsl_cpu_set_gdt(struct vsl_cpu *cpu, const struct vsl_dtable *dt);
void vsl_cpu_set_idt(struct vsl_cpu *cpu, const struct vsl_dtable *dt);
/* Control registers 0, 2, 3, 4, 8 and EFER (as MSR 0xC0000080). */
uint64_t vsl_cpu_get_cr(const struct vsl_cpu *cpu, int n);
void vsl_cpu_set_cr(struct vsl_cpu *cpu, int n, uint64_t val);
/* MSR access as RDMSR/WRMSR would do it; VSL_EINVAL where hardware raises #GP. */
int vsl_cpu_get_msr(struct vsl_cpu *cpu, uint32_t msr, uint64_t *val);
int vsl_cpu_set_msr(struct vsl_cpu *cpu, uint32_t msr, uint64_t val);

/* SSE registers (16 bytes each) and MXCSR, for loaders and differential tests. */
void vsl_cpu_get_xmm(const struct vsl_cpu *cpu, int n, uint8_t out[16]);
void vsl_cpu_set_xmm(struct vsl_cpu *cpu, int n, const uint8_t in[16]);
uint32_t vsl_cpu_get_mxcsr(const struct vsl_cpu *cpu);
void vsl_cpu_set_mxcsr(struct vsl_cpu *cpu, uint32_t mxcsr);

/* Human-readable register dump (for fatal errors): writes into buf. */
void vsl_cpu_dump(const struct vsl_cpu *cpu, char *buf, size_t len);
/* The last n instructions executed, disassembled, newest last (into buf). */
void vsl_cpu_dump_trace(const struct vsl_cpu *cpu, char *buf, size_t len);

#endif
