/*
 * The binary translator (engine VSL_ENGINE_BT): interface towards cpu.c.
 *
 * vsl_bt_run() has the contract of vsl_cpu_run(): it runs guest code a
 * translated block at a time and hands single instructions to the reference
 * executor (vsl_interp_run) where a block cannot be used (interrupt windows,
 * single-stepping, instructions crossing a page, MMIO code, the budget's
 * tail). See bt.c for the design.
 *
 *	if (!cpu->bt && !(cpu->bt = vsl_bt_new(cpu))) return error;
 *	vsl_bt_run(cpu, budget, &ex);
 *	vsl_bt_free(cpu->bt);
 */
#ifndef VESSEL_RUNTIME_CPU_BT_H
#define VESSEL_RUNTIME_CPU_BT_H

#include <stdint.h>

#include "vessel/cpu.h"

struct vsl_cpu;
struct vsl_bt;

/* translator statistics (cumulative since vsl_bt_new) */
struct vsl_bt_stats {
	uint64_t blocks_translated;   /* translations made */
	uint64_t insns_translated;    /* guest instructions in them */
	uint64_t insns_native;        /* of which emitted as host instructions */
	uint64_t mem_native;          /* of those, with a memory operand (inline TLB) */
	uint64_t cache_bytes;         /* code cache in use now */
	uint64_t cache_size;          /* code cache capacity */
	uint64_t flushes;             /* full-cache flushes */
	uint64_t invalidated;         /* translations dropped (guest wrote their page) */
	uint64_t block_runs;          /* translated blocks entered from the dispatcher */
	uint64_t chained;             /* direct exits patched to jump to their target block */
	uint64_t indirect_hits;       /* returns, indirect and cross-page exits continued in code */
	uint64_t indirect_misses;     /* ... that went back to the dispatcher */
	uint64_t stack_native;        /* PUSH/POP/CALL/RET emitted natively */
	uint64_t sse_native;          /* SSE integer/bitwise instructions emitted natively */
	uint64_t lookups_missed;      /* block look-ups that had to translate */
	uint64_t interp_steps;        /* instructions handed to the reference executor */
	uint64_t helper_exits;        /* blocks left early from a helper (rip change, fault...) */
	uint64_t faults;              /* exceptions raised inside translated blocks */
	uint64_t rep_runs;            /* REP MOVS/STOS runs copied or filled at once (bt_rep_string) */
	uint64_t ret_inlined;         /* JMPs to a RET on another page translated with the RET */
	uint64_t loops;               /* blocks jumping to their own start, translated again to carry registers */
};

/* NULL with ctx set on failure (no memory, no memfd). */
struct vsl_bt *vsl_bt_new(struct vsl_cpu *cpu);
void vsl_bt_free(struct vsl_bt *bt);
int vsl_bt_run(struct vsl_cpu *cpu, uint64_t budget, struct vsl_cpu_exit *ex);
/* Drop every translation (e.g. after the machine reset the CPU). */
void vsl_bt_flush(struct vsl_bt *bt);
void vsl_bt_get_stats(const struct vsl_bt *bt, struct vsl_bt_stats *st);
/* Drop every translation of cpu's translator (no-op without one). */
void vsl_cpu_bt_flush(struct vsl_cpu *cpu);
/* The statistics of cpu's translator (all zero when it never ran); for --stats and tests. */
void vsl_cpu_bt_stats(const struct vsl_cpu *cpu, struct vsl_bt_stats *st);

#endif
