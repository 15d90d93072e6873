/*
 * Internal state and helper API of the x86-64 virtual CPU.
 *
 * struct vsl_cpu holds the whole architectural state plus the caches the
 * reference executor needs (software TLB, decoded-instruction cache, trace
 * ring). Only runtime/cpu/ sees this header; the machine uses the public
 * include/vessel/cpu.h.
 *
 * Executor contract: a handler reads every operand (which may fault) before
 * it writes any architectural state, so that a helper returning
 * VSL_CPU_FAULT leaves the instruction restartable. The run loop then rewinds
 * RIP to the faulting instruction and delivers the pending exception through
 * the IDT.
 *
 *	uint64_t lin = vsl_cpu_ea(cpu, in, &in->ops[1]);
 *	uint32_t v;
 *	if (vsl_cpu_read_lin(cpu, lin, &v, 4))
 *		return VSL_CPU_FAULT;          // #PF/#GP already pending
 *	vsl_cpu_reg_write(cpu, in->ops[0].reg.value, v);
 *
 * Software TLB: per privilege class (supervisor, user) three direct-mapped
 * arrays (read, write, code) of {tag, addend}: a hit is
 *	tag == (lin & ~0xfff)  ->  host pointer = (uint8_t *)(addend + lin)
 * Entries are filled only for RAM pages whose permissions allow the access
 * (A/D bits already set), so the hit path needs no further check. Write
 * entries are never filled for pages that hold decoded code, so every write
 * to code takes the slow path and invalidates the decode cache.
 */
#ifndef VESSEL_RUNTIME_CPU_INTERNAL_H
#define VESSEL_RUNTIME_CPU_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "vessel/cpu.h"
#include "runtime/cpu/fpu.h"

/* returned by helpers when an exception was raised and is now pending */
enum { VSL_CPU_FAULT = -100 };

/* exception vectors */
enum {
	VSL_EXC_DE = 0, VSL_EXC_DB = 1, VSL_EXC_NMI = 2, VSL_EXC_BP = 3,
	VSL_EXC_OF = 4, VSL_EXC_BR = 5, VSL_EXC_UD = 6, VSL_EXC_NM = 7,
	VSL_EXC_DF = 8, VSL_EXC_TS = 10, VSL_EXC_NP = 11, VSL_EXC_SS = 12,
	VSL_EXC_GP = 13, VSL_EXC_PF = 14, VSL_EXC_MF = 16, VSL_EXC_AC = 17,
	VSL_EXC_MC = 18, VSL_EXC_XM = 19
};

/* RFLAGS bits */
enum {
	VSL_FL_CF = 1u << 0, VSL_FL_PF = 1u << 2, VSL_FL_AF = 1u << 4,
	VSL_FL_ZF = 1u << 6, VSL_FL_SF = 1u << 7, VSL_FL_TF = 1u << 8,
	VSL_FL_IF = 1u << 9, VSL_FL_DF = 1u << 10, VSL_FL_OF = 1u << 11,
	VSL_FL_IOPL = 3u << 12, VSL_FL_NT = 1u << 14, VSL_FL_RF = 1u << 16,
	VSL_FL_VM = 1u << 17, VSL_FL_AC = 1u << 18, VSL_FL_VIF = 1u << 19,
	VSL_FL_VIP = 1u << 20, VSL_FL_ID = 1u << 21
};
#define VSL_FL_ARITH (VSL_FL_CF | VSL_FL_PF | VSL_FL_AF | VSL_FL_ZF | VSL_FL_SF | VSL_FL_OF)

/* control register bits */
#define VSL_CR0_PE (1ull << 0)
#define VSL_CR0_MP (1ull << 1)
#define VSL_CR0_EM (1ull << 2)
#define VSL_CR0_TS (1ull << 3)
#define VSL_CR0_ET (1ull << 4)
#define VSL_CR0_NE (1ull << 5)
#define VSL_CR0_WP (1ull << 16)
#define VSL_CR0_AM (1ull << 18)
#define VSL_CR0_NW (1ull << 29)
#define VSL_CR0_CD (1ull << 30)
#define VSL_CR0_PG (1ull << 31)
#define VSL_CR4_VME (1ull << 0)
#define VSL_CR4_PVI (1ull << 1)
#define VSL_CR4_TSD (1ull << 2)
#define VSL_CR4_DE (1ull << 3)
#define VSL_CR4_PSE (1ull << 4)
#define VSL_CR4_PAE (1ull << 5)
#define VSL_CR4_MCE (1ull << 6)
#define VSL_CR4_PGE (1ull << 7)
#define VSL_CR4_PCE (1ull << 8)
#define VSL_CR4_OSFXSR (1ull << 9)
#define VSL_CR4_OSXMMEXCPT (1ull << 10)
#define VSL_EFER_SCE (1ull << 0)
#define VSL_EFER_LME (1ull << 8)
#define VSL_EFER_LMA (1ull << 10)
#define VSL_EFER_NXE (1ull << 11)

/* struct vsl_seg.attr bits (descriptor bits 40..47 and 52..55) */
#define VSL_SEG_TYPE 0x000f
#define VSL_SEG_S 0x0010
#define VSL_SEG_DPL_SHIFT 5
#define VSL_SEG_P 0x0080
#define VSL_SEG_AVL 0x0100
#define VSL_SEG_L 0x0200
#define VSL_SEG_DB 0x0400
#define VSL_SEG_G 0x0800

/*
 * software TLB: direct-mapped on the linear page; filled entries are
 * logged (up to VSL_TLB_LOG) so that a non-global flush clears only those
 */
#define VSL_TLB_BITS 10
#define VSL_TLB_LOG 512
#define VSL_TLB_SIZE (1u << VSL_TLB_BITS)
struct vsl_tlb_entry {
	uint64_t tag;      /* page-aligned linear address; vsl_tlb_empty(index) when empty */
	uintptr_t addend;  /* host pointer = addend + linear address */
	uint64_t paddr;    /* guest-physical page (for code-page write protection) */
};
/*
 * The tag of an empty entry at index i: a page whose index is two past i,
 * which no access that looks entry i up can be on (its first byte's page
 * has index i, its last byte's i or i + 1), so that a tag comparison needs
 * no separate empty test; page-aligned like every tag (the translator's
 * inline look-up takes the difference with the last byte's address).
 */
static inline uint64_t vsl_tlb_empty(unsigned i)
{
	return (uint64_t)((i + 2) & (VSL_TLB_SIZE - 1)) << 12;
}
enum { VSL_TLB_RD, VSL_TLB_WR, VSL_TLB_X };
struct vsl_tlb {
	struct vsl_tlb_entry rd[VSL_TLB_SIZE];
	struct vsl_tlb_entry wr[VSL_TLB_SIZE];
	struct vsl_tlb_entry x[VSL_TLB_SIZE];
	/*
	 * For the translator's inline look-up, by index (8-byte strides):
	 * -tag (it adds the last byte's address) and addend of rd[] and wr[]
	 */
	uint64_t ntag[2][VSL_TLB_SIZE];
	uintptr_t addend[2][VSL_TLB_SIZE];
};

/* entry i of table kind (VSL_TLB_RD, _WR, _X) */
static inline struct vsl_tlb_entry *vsl_tlb_at(struct vsl_tlb *tlb, int kind, unsigned i)
{
	return kind == VSL_TLB_RD ? &tlb->rd[i] : kind == VSL_TLB_WR ? &tlb->wr[i] : &tlb->x[i];
}

/* set entry i of table kind */
static inline void vsl_tlb_set(struct vsl_tlb *tlb, int kind, unsigned i, const struct vsl_tlb_entry *e)
{
	*vsl_tlb_at(tlb, kind, i) = *e;
	if (kind != VSL_TLB_X) {
		tlb->ntag[kind][i] = 0 - e->tag;
		tlb->addend[kind][i] = e->addend;
	}
}

/* empty entry i of table kind */
static inline void vsl_tlb_clear(struct vsl_tlb *tlb, int kind, unsigned i)
{
	vsl_tlb_at(tlb, kind, i)->tag = vsl_tlb_empty(i);
	if (kind != VSL_TLB_X)
		tlb->ntag[kind][i] = 0 - vsl_tlb_empty(i);
}

/* empty entry i of all three tables */
static inline void vsl_tlb_clear_all(struct vsl_tlb *tlb, unsigned i)
{
	vsl_tlb_clear(tlb, VSL_TLB_RD, i);
	vsl_tlb_clear(tlb, VSL_TLB_WR, i);
	vsl_tlb_clear(tlb, VSL_TLB_X, i);
}

/* decoded instruction as the executor passes it around */
struct vsl_insn {
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	uint64_t rip; /* of this insn */
};

/*
 * The executor's compact form of a decoded instruction (what the integer
 * handlers read): the Zydis fields it needs, with the same names, and the
 * visible operands squeezed from 80 to 24 bytes each, so that one cached
 * instruction is two cache lines instead of eighteen.
 *
 *	struct vsl_op (24 bytes)
 *	+------+------+--------+--------------------------------------------+
 *	| type | pad  | size   | reg.value | mem.{base,index,segment,scale, |
 *	| u8   |      | u16    |             disp.value} | imm.value | ptr  |
 *	+------+------+--------+--------------------------------------------+
 */
struct vsl_op {
	uint8_t type;       /* ZydisOperandType */
	uint16_t size;      /* bits */
	union {
		struct { uint16_t value; } reg;
		struct {
			uint16_t base, index, segment;
			uint8_t scale;
			struct { int64_t value; } disp;
		} mem;
		struct { union { uint64_t u; int64_t s; } value; } imm;
		struct { uint16_t segment; uint32_t offset; } ptr;
	};
};

struct vsl_dinsn;
typedef int vsl_interp_fn(struct vsl_cpu *cpu, struct vsl_dinsn *in);

struct vsl_dinsn {
	/* cache tag */
	uint64_t paddr;     /* physical address of the first byte; ~0 when empty */
	uint32_t gen;       /* code_gen[page] at decode time */
	uint8_t mode;       /* decoder mode index (see cpu->mode) */
	/* the Zydis fields the handlers use, same names */
	struct {
		uint16_t mnemonic;
		uint8_t length, opcode, opcode_map, operand_width, address_width;
		uint8_t operand_count_visible, machine_mode;
		uint16_t src_seg;  /* segment of the DS:rSI operand of string insns */
		uint64_t attributes;
		struct { uint8_t branch_type; uint8_t isa_ext; } meta;
	} zi;
	vsl_interp_fn *fn;  /* handler (NULL: pass to the fpu code) */
	uint64_t rip;       /* of this insn (RIP it was last run at) */
	struct vsl_op ops[3];
	struct vsl_insn *full; /* the complete Zydis decode (fpu code, errors) */
};

#define VSL_DCACHE_BITS 15
#define VSL_DCACHE_SIZE (1u << VSL_DCACHE_BITS)

/* execution modes; index into cpu->dec[] */
enum vsl_cpu_mode {
	VSL_MODE_REAL, VSL_MODE_PROT16, VSL_MODE_PROT32, VSL_MODE_COMPAT16,
	VSL_MODE_COMPAT32, VSL_MODE_LONG64, VSL_MODE_COUNT
};

/* instructions between two interrupt polls when nothing else asks for one */
#define VSL_CPU_POLL 128

#define VSL_TRACE_LEN 32
struct vsl_trace_entry {
	uint64_t rip;
	uint8_t mode;      /* VSL_MODE_COUNT: empty slot */
};

struct vsl_cpu {
	/* architectural state (the fpu code reads these directly) */
	uint64_t gpr[16];
	uint64_t rip, rflags;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t dr[8];
	struct vsl_seg seg[6];          /* VSL_ES.. VSL_GS */
	struct vsl_seg ldtr, tr;
	struct vsl_dtable gdtr, idtr;
	struct vsl_fpu_state fpu;

	/* MSRs */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t pat, tsc_aux, misc_enable, tsc_offset;
	/* bumped by every TLB flush (CR3, INVLPG...): the translator's return stack lives within one */
	uint64_t mmu_epoch;
	uintptr_t bt_rsp;    /* the translator's host stack pointer at block entry */
	uint64_t mtrr_cap, mtrr_def_type, mtrr_fixed[11], mtrr_var[16];

	/* derived state */
	int cpl;
	enum vsl_cpu_mode mode;

	/* pending exception raised by a helper (valid after VSL_CPU_FAULT) */
	int exc_vector;
	bool exc_has_error;
	uint32_t exc_error;
	bool exc_soft;          /* INT n / INT3 / INTO: push RIP after the insn */
	bool exc_trap;          /* trap (INT1): push RIP after the insn, no DPL check */
	int exc_depth;          /* nesting while delivering (#DF, triple fault) */

	/* run control */
	bool halted;
	bool intr_shadow;       /* STI / MOV SS shadow on the next instruction */
	bool nmi_blocked;       /* from NMI delivery to the next IRET */
	bool irq_poll;          /* ask the machine for interrupts at the next boundary */
	bool ea_ss;             /* the current data access is SS-relative (#SS, not #GP) */
	volatile sig_atomic_t kick;
	uint64_t icount;
	const char *unimpl;     /* set by a handler: what is not implemented */
	bool unimpl_insn;       /* ... and it is the instruction itself (unimpl = mnemonic) */
	int exit_reason;        /* set by handlers that end the run (HLT...) */

	/* environment */
	struct vsl_ctx *ctx;
	struct vsl_cpu_env env;
	uint64_t a20_mask;

	/* software TLB: [0] supervisor, [1] user; cur is the one for CPL */
	struct vsl_tlb tlb[2];
	struct vsl_tlb *tlb_cur;
	uint16_t tlb_log[VSL_TLB_LOG];  /* filled: TLB index * VSL_TLB_SIZE + entry index */
	unsigned tlb_log_n;             /* > VSL_TLB_LOG: overflowed, flush all */
	bool tlb_large;         /* a 2M/1G page was cached (INVLPG flushes all) */
	/*
	 * which 2M (bit (lin >> 21) % 256) and 1G/4M (bit (lin >> 30) % 256)
	 * regions large pages were walked in since tlb_large was last cleared:
	 * INVLPG scans the TLBs for large-page pieces only when lin's bit is set
	 */
	uint64_t tlb_large_2m[4], tlb_large_1g[4];

	/* decoded-instruction cache and code-page tracking */
	ZydisDecoder dec[VSL_MODE_COUNT];
	struct vsl_dinsn *dcache;         /* VSL_DCACHE_SIZE compact entries */
	struct vsl_insn *dfull;           /* VSL_DCACHE_SIZE full decodes (same index) */
	uint32_t *code_gen;     /* per RAM page: generation, bumped on writes */
	uint8_t *code_page;     /* per RAM page: 1 when decoded code lives there */
	uint64_t ram_pages;

	/* trace ring */
	struct vsl_trace_entry trace[VSL_TRACE_LEN];
	unsigned trace_pos;

	enum vsl_cpu_engine engine;
	void *bt;               /* struct vsl_bt: the translator's state (bt.c), NULL until selected */
	/* counters (vsl_cpu_get_stats; the translator keeps its own) */
	struct vsl_cpu_stats st;
};

/* linear address of a memory operand incl. segment base (FS/GS), RIP-relative handled */
uint64_t vsl_cpu_ea(struct vsl_cpu *cpu, const struct vsl_insn *in, const ZydisDecodedOperand *op);
/* 0 or VSL_CPU_FAULT (#PF/#GP already raised: CR2, error code); handles page-crossing */
int vsl_cpu_read_lin(struct vsl_cpu *cpu, uint64_t lin, void *buf, unsigned len);
int vsl_cpu_write_lin(struct vsl_cpu *cpu, uint64_t lin, const void *buf, unsigned len);
/* GPRs of every width incl. AH..BH (also segment selectors, RIP, RFLAGS) */
uint64_t vsl_cpu_reg_read(struct vsl_cpu *cpu, ZydisRegister r);
/* 32-bit writes zero-extend, 8/16 merge */
void vsl_cpu_reg_write(struct vsl_cpu *cpu, ZydisRegister r, uint64_t v);
/* Make an exception pending; returns VSL_CPU_FAULT. */
int vsl_cpu_raise(struct vsl_cpu *cpu, int vector, bool has_error, uint32_t error);

/* --- used across the CPU sources (not for the fpu code) --- */

/* access kinds for the MMU slow path */
enum {
	VSL_ACC_READ = 0, VSL_ACC_WRITE = 1, VSL_ACC_EXEC = 2,
	VSL_ACC_SUPER = 4,   /* implicit supervisor access (descriptor tables, TSS, IDT) */
	VSL_ACC_NOFAULT = 8  /* report failure without raising */
};
/* Translate lin; on success *paddr is the guest-physical address. */
int vsl_mmu_translate(struct vsl_cpu *cpu, uint64_t lin, int acc, uint64_t *paddr);
/* Accesses with explicit access kind (e.g. VSL_ACC_SUPER for system tables). */
int vsl_mmu_read(struct vsl_cpu *cpu, uint64_t lin, void *buf, unsigned len, int acc);
int vsl_mmu_write(struct vsl_cpu *cpu, uint64_t lin, const void *buf, unsigned len, int acc);
/* Instruction fetch of up to len bytes (stops early, without fault, only at a
 * page it cannot map when at least `need` bytes were read). */
int vsl_mmu_fetch(struct vsl_cpu *cpu, uint64_t lin, uint8_t *buf, unsigned len, unsigned *got);
/*
 * Fill the code TLB entry for lin without raising anything (the translator's
 * block look-up): 0 when lin translates for execution (A bits set as a fetch
 * would), VSL_CPU_FAULT when it does not (nothing pending).
 */
int vsl_mmu_fill_code(struct vsl_cpu *cpu, uint64_t lin);
/* The same for a data access (nonzero: it would fault, or is not cached). */
int vsl_mmu_fill_data(struct vsl_cpu *cpu, uint64_t lin, bool write);
/* Raise the fetch fault for lin (after vsl_mmu_fetch came up short). */
int vsl_mmu_fetch_fault(struct vsl_cpu *cpu, uint64_t lin);
void vsl_mmu_flush(struct vsl_cpu *cpu, bool global_too);
void vsl_mmu_flush_page(struct vsl_cpu *cpu, uint64_t lin);
/* Physical memory (RAM or MMIO bus). */
void vsl_phys_read(struct vsl_cpu *cpu, uint64_t paddr, void *buf, unsigned len);
void vsl_phys_write(struct vsl_cpu *cpu, uint64_t paddr, const void *buf, unsigned len);
/* Host pointer for a physical RAM range inside one page, or NULL (MMIO / outside). */
uint8_t *vsl_phys_ptr(struct vsl_cpu *cpu, uint64_t paddr);
/* Called after a write hit a page that holds decoded code. */
void vsl_cpu_code_written(struct vsl_cpu *cpu, uint64_t paddr);
/* Mark a RAM page (page-aligned paddr) as holding code: writes to it take the slow path. */
void vsl_cpu_mark_code(struct vsl_cpu *cpu, uint64_t ppage);
/* The reference executor's run loop (vsl_cpu_run with the interpreter engine). */
int vsl_interp_run(struct vsl_cpu *cpu, uint64_t budget, struct vsl_cpu_exit *ex);

/* Recompute cpl, mode and the TLB pointer after CS/CR0/EFER changes. */
void vsl_cpu_update_mode(struct vsl_cpu *cpu);
/* Load a segment register from a selector as MOV/POP would (with checks). */
int vsl_cpu_load_seg(struct vsl_cpu *cpu, int seg, uint16_t sel);
/* Read a descriptor (8 bytes) for sel from GDT/LDT; VSL_CPU_FAULT with #GP(sel) if out of limit. */
int vsl_cpu_read_desc(struct vsl_cpu *cpu, uint16_t sel, uint64_t *desc, int exc);
void vsl_cpu_desc_to_seg(uint64_t desc, uint16_t sel, struct vsl_seg *s);
/*
 * Deliver an exception or interrupt through the IDT, pushing cpu->rip as the
 * return address. soft: INT n/INT3/INTO (gate DPL checked); ext: external
 * event (EXT bit in error codes). 0, -1 on triple fault, -2 when cpu->unimpl
 * was set.
 */
int vsl_cpu_deliver(struct vsl_cpu *cpu, int vector, bool has_error, uint32_t error,
		    bool soft, bool ext);
/*
 * Instruction-boundary interrupt poll (the caller checked there is no STI/MOV
 * SS shadow): deliver a pending NMI, or an external interrupt when IF=1.
 * -1 when nothing happened or delivery succeeded, else the exit reason
 * (VSL_CPU_EXIT_SHUTDOWN on a triple fault, VSL_CPU_EXIT_ERROR).
 */
int vsl_cpu_poll_intr(struct vsl_cpu *cpu);
/* Far JMP/CALL to sel:off (code segments only); call pushes CS:RIP (cpu->rip = return). */
int vsl_cpu_far_jump(struct vsl_cpu *cpu, uint16_t sel, uint64_t off, bool call, unsigned opsize);
/* Far RET (release imm bytes) or IRET with operand size opsize bytes. */
int vsl_cpu_far_return(struct vsl_cpu *cpu, unsigned opsize, unsigned imm, bool iret);
/* Current guest TSC. */
uint64_t vsl_cpu_tsc(struct vsl_cpu *cpu);
/* MSR access (0, or VSL_CPU_FAULT with #GP(0) pending). */
int vsl_cpu_rdmsr(struct vsl_cpu *cpu, uint32_t msr, uint64_t *val);
int vsl_cpu_wrmsr(struct vsl_cpu *cpu, uint32_t msr, uint64_t val);
void vsl_cpu_cpuid(struct vsl_cpu *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4]);
/* Write CR0/CR3/CR4 with the checks MOV CRn does; VSL_CPU_FAULT on #GP. */
int vsl_cpu_write_cr(struct vsl_cpu *cpu, int n, uint64_t val);

/* Fill the compact form (and handler) from a full decode (interp.c). */
void vsl_interp_compact(struct vsl_dinsn *d, struct vsl_insn *full);
/*
 * The executor's fallback for one instruction whose handler is NULL or
 * returned 1 (not an integer instruction after all): the fpu code, #UD or
 * "unimplemented" (interp.c). Returns 0 or VSL_CPU_FAULT.
 */
int vsl_interp_exec(struct vsl_cpu *cpu, struct vsl_dinsn *in);

static inline uint64_t vsl_cpu_stack_mask(const struct vsl_cpu *cpu)
{
	if (cpu->mode == VSL_MODE_LONG64)
		return ~0ull;
	return (cpu->seg[VSL_SS].attr & VSL_SEG_DB) ? 0xffffffffull : 0xffffull;
}

#endif
