/*
 * The virtual CPU object and its run loop (reference executor).
 *
 * vsl_cpu_run() executes one instruction at a time:
 *
 *	boundary:  kick? -> exit IRQ_CHECK
 *	           NMI / external interrupt (IF=1, no STI/MOV SS shadow) -> IDT
 *	           halted? -> exit HLT
 *	fetch:     code TLB -> physical address -> decode cache (Zydis on miss)
 *	execute:   rip = next; in->fn(); on VSL_CPU_FAULT rewind RIP
 *	           (faults) and deliver the pending exception through the IDT
 *
 * The decode cache is direct-mapped on the guest-physical address of the
 * first byte (low bits folded with the page number, so neighbouring
 * instructions use neighbouring slots). Each slot holds the compact form the
 * handlers read (struct vsl_dinsn, with the handler pointer) and, in a
 * parallel array, the full Zydis decode for the fpu code. Each RAM page has
 * a generation counter: a slot is valid
 * only while its page's generation is unchanged. Pages that hold decoded code
 * are marked in code_page[]; the softmmu never caches write mappings for
 * them, so every guest write (and vsl_cpu_invalidate_phys for DMA) bumps the
 * generation and drops the decoded instructions of that page. Instructions
 * that cross a page boundary are decoded every time (rare).
 *
 *	struct vsl_cpu *cpu = vsl_cpu_new(ctx, &env);
 *	struct vsl_cpu_exit ex;
 *	int r = vsl_cpu_run(cpu, 1000000, &ex);
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/cpu/bt.h"
#include "runtime/cpu/cpu_internal.h"

static const ZydisMachineMode cpu_zmode[VSL_MODE_COUNT] = {
	[VSL_MODE_REAL] = ZYDIS_MACHINE_MODE_REAL_16,
	[VSL_MODE_PROT16] = ZYDIS_MACHINE_MODE_LEGACY_16,
	[VSL_MODE_PROT32] = ZYDIS_MACHINE_MODE_LEGACY_32,
	[VSL_MODE_COMPAT16] = ZYDIS_MACHINE_MODE_LONG_COMPAT_16,
	[VSL_MODE_COMPAT32] = ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
	[VSL_MODE_LONG64] = ZYDIS_MACHINE_MODE_LONG_64,
};

static void cpu_init_decoders(struct vsl_cpu *cpu)
{
	for (int m = 0; m < VSL_MODE_COUNT; m++) {
		ZydisStackWidth sw = m == VSL_MODE_LONG64 ? ZYDIS_STACK_WIDTH_64 :
				     (m == VSL_MODE_PROT32 || m == VSL_MODE_COMPAT32) ?
				     ZYDIS_STACK_WIDTH_32 : ZYDIS_STACK_WIDTH_16;
		ZydisDecoderInit(&cpu->dec[m], cpu_zmode[m], sw);
		/*
		 * Decode like a CPU without MPX, CET, BMI1 and ABM: bnd prefixes
		 * are ignored, ENDBR64 and friends are hint NOPs, and F3 0F BC/BD
		 * are BSF/BSR with an ignored REP prefix (what CPUID promises).
		 */
		ZydisDecoderEnableMode(&cpu->dec[m], ZYDIS_DECODER_MODE_MPX, ZYAN_FALSE);
		ZydisDecoderEnableMode(&cpu->dec[m], ZYDIS_DECODER_MODE_CET, ZYAN_FALSE);
		ZydisDecoderEnableMode(&cpu->dec[m], ZYDIS_DECODER_MODE_LZCNT, ZYAN_FALSE);
		ZydisDecoderEnableMode(&cpu->dec[m], ZYDIS_DECODER_MODE_TZCNT, ZYAN_FALSE);
		ZydisDecoderEnableMode(&cpu->dec[m], ZYDIS_DECODER_MODE_WBNOINVD, ZYAN_FALSE);
		ZydisDecoderEnableMode(&cpu->dec[m], ZYDIS_DECODER_MODE_CLDEMOTE, ZYAN_FALSE);
	}
}

/*
 * The compact decode cache is read on every instruction at scattered
 * offsets: back it with transparent huge pages when the host allows, so
 * that looking it up costs no TLB misses. Zero-filled; NULL on failure.
 */
static void *cpu_alloc_huge(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, len, MADV_HUGEPAGE);
#endif
	return p;
}

struct vsl_cpu *vsl_cpu_new(struct vsl_ctx *ctx, const struct vsl_cpu_env *env)
{
	struct vsl_cpu *cpu;

	if (!env || (!env->ram && env->ram_size)) {
		vsl_set_error(ctx, 0, VSL_EINVAL, "cpu: no guest RAM in the environment");
		return NULL;
	}
	cpu = aligned_alloc(64, VSL_ALIGN_UP(sizeof(*cpu), 64));
	if (!cpu) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "cpu: out of memory");
		return NULL;
	}
	memset(cpu, 0, sizeof(*cpu));
	cpu->ctx = ctx;
	cpu->env = *env;
	cpu->ram_pages = (env->ram_size + 4095) >> 12;
	cpu->dcache = cpu_alloc_huge(VSL_DCACHE_SIZE * sizeof(*cpu->dcache));
	cpu->dfull = calloc(VSL_DCACHE_SIZE, sizeof(*cpu->dfull));
	cpu->code_gen = calloc(cpu->ram_pages + 1, sizeof(*cpu->code_gen));
	cpu->code_page = calloc(cpu->ram_pages + 1, 1);
	if (!cpu->dcache || !cpu->dfull || !cpu->code_gen || !cpu->code_page) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "cpu: out of memory for the decode cache");
		vsl_cpu_free(cpu);
		return NULL;
	}
	for (unsigned i = 0; i < VSL_DCACHE_SIZE; i++)
		cpu->dcache[i].paddr = ~0ull;
	for (unsigned i = 0; i < VSL_TRACE_LEN; i++)
		cpu->trace[i].mode = VSL_MODE_COUNT;
	cpu_init_decoders(cpu);
	cpu->engine = VSL_ENGINE_INTERP;
	vsl_cpu_reset(cpu);
	return cpu;
}

void vsl_cpu_free(struct vsl_cpu *cpu)
{
	if (!cpu)
		return;
	if (cpu->dcache)
		munmap(cpu->dcache, VSL_DCACHE_SIZE * sizeof(*cpu->dcache));
	free(cpu->dfull);
	free(cpu->code_gen);
	free(cpu->code_page);
	vsl_bt_free(cpu->bt);
	free(cpu);
}

int vsl_cpu_set_engine(struct vsl_cpu *cpu, enum vsl_cpu_engine engine)
{
	if (engine != VSL_ENGINE_INTERP && engine != VSL_ENGINE_BT)
		return vsl_set_error(cpu->ctx, 0, VSL_EINVAL, "cpu: unknown engine %d", (int)engine);
	if (engine == VSL_ENGINE_BT && !cpu->bt && !(cpu->bt = vsl_bt_new(cpu)))
		return VSL_EIO;
	cpu->engine = engine;
	return 0;
}

void vsl_cpu_reset(struct vsl_cpu *cpu)
{
	memset(cpu->gpr, 0, sizeof(cpu->gpr));
	cpu->gpr[VSL_RDX] = 0x600; /* family 6 after reset */
	cpu->rip = 0xfff0;
	cpu->rflags = 2;
	cpu->cr0 = VSL_CR0_ET | VSL_CR0_CD | VSL_CR0_NW;
	cpu->cr2 = cpu->cr3 = cpu->cr4 = cpu->cr8 = cpu->efer = 0;
	memset(cpu->dr, 0, sizeof(cpu->dr));
	cpu->dr[6] = 0xffff0ff0;
	cpu->dr[7] = 0x400;
	for (int i = 0; i < 6; i++)
		cpu->seg[i] = (struct vsl_seg){ .sel = 0, .base = 0, .limit = 0xffff, .attr = 0x93 };
	cpu->seg[VSL_CS] = (struct vsl_seg){ .sel = 0xf000, .base = 0xffff0000, .limit = 0xffff,
		.attr = 0x9b };
	cpu->ldtr = (struct vsl_seg){ .limit = 0xffff, .attr = 0x82 };
	cpu->tr = (struct vsl_seg){ .limit = 0xffff, .attr = 0x8b };
	cpu->gdtr = (struct vsl_dtable){ .base = 0, .limit = 0xffff };
	cpu->idtr = (struct vsl_dtable){ .base = 0, .limit = 0xffff };
	cpu->star = cpu->lstar = cpu->cstar = cpu->sfmask = cpu->kernel_gs_base = 0;
	cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
	cpu->pat = 0x0007040600070406ull;
	cpu->misc_enable = 1; /* fast strings */
	cpu->tsc_aux = 0;
	cpu->tsc_offset = 0;
	vsl_fpu_reset(&cpu->fpu);
	cpu->halted = false;
	cpu->intr_shadow = false;
	cpu->nmi_blocked = false;
	cpu->exc_depth = 0;
	cpu->unimpl = NULL;
	cpu->a20_mask = ~0ull;
	vsl_mmu_flush(cpu, true);
	vsl_cpu_update_mode(cpu);
}

uint64_t vsl_cpu_icount(const struct vsl_cpu *cpu)
{
	return cpu->icount;
}

void vsl_cpu_get_stats(const struct vsl_cpu *cpu, struct vsl_cpu_stats *out)
{
	struct vsl_bt_stats bs;

	*out = cpu->st;
	vsl_cpu_bt_stats(cpu, &bs);
	out->blocks_translated = bs.blocks_translated;
	out->insns_translated = bs.insns_translated;
	out->cache_bytes_used = bs.cache_bytes;
	out->cache_bytes_total = bs.cache_size;
	out->cache_flushes = bs.flushes;
	out->invalidated = bs.invalidated;
	out->chained_exits = bs.chained;
	out->lookup_exits = bs.block_runs;
	out->indirect_hits = bs.indirect_hits;
	out->indirect_misses = bs.indirect_misses;
	out->helper_exits = bs.helper_exits;
	out->loops_carried = bs.loops;
	out->interp_steps = bs.interp_steps;
}

void vsl_cpu_kick(struct vsl_cpu *cpu)
{
	cpu->kick = 1;
}

void vsl_cpu_code_written(struct vsl_cpu *cpu, uint64_t paddr)
{
	uint64_t pfn = paddr >> 12;

	if (pfn >= cpu->ram_pages)
		return;
	cpu->code_gen[pfn]++;
	cpu->code_page[pfn] = 0;
}

void vsl_cpu_invalidate_phys(struct vsl_cpu *cpu, uint64_t paddr, uint64_t len)
{
	if (!len)
		return;
	uint64_t first = paddr >> 12, last = (paddr + len - 1) >> 12;

	for (uint64_t p = first; p <= last && p < cpu->ram_pages; p++)
		if (cpu->code_page[p])
			vsl_cpu_code_written(cpu, p << 12);
}

/* Mark a RAM page as holding decoded code: drop write mappings to it. */
void vsl_cpu_mark_code(struct vsl_cpu *cpu, uint64_t ppage)
{
	uint64_t pfn = ppage >> 12;

	if (pfn >= cpu->ram_pages || cpu->code_page[pfn])
		return;
	cpu->code_page[pfn] = 1;
	for (int t = 0; t < 2; t++)
		for (unsigned i = 0; i < VSL_TLB_SIZE; i++)
			if ((cpu->tlb[t].wr[i].paddr & ~0xfffull) == ppage)
				vsl_tlb_clear(&cpu->tlb[t], VSL_TLB_WR, i);
}

static inline unsigned cpu_dcache_index(uint64_t paddr)
{
	return (unsigned)((paddr ^ (paddr >> VSL_DCACHE_BITS)) & (VSL_DCACHE_SIZE - 1));
}

/*
 * Fetch and decode the instruction at cpu->rip. Returns the decoded
 * instruction (borrowed: valid until the next fetch), or NULL with an
 * exception pending (or cpu->unimpl set).
 */
static struct vsl_dinsn *cpu_fetch(struct vsl_cpu *cpu, struct vsl_dinsn *scratch,
				   struct vsl_insn *scratch_full)
{
	uint64_t lin = cpu->rip;
	uint64_t paddr;
	uint8_t buf[16];
	unsigned got;
	int mode = cpu->mode;

	if (mode != VSL_MODE_LONG64) {
		if (cpu->rip > cpu->seg[VSL_CS].limit && mode != VSL_MODE_REAL) {
			vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
			return NULL;
		}
		lin = (cpu->seg[VSL_CS].base + cpu->rip) & 0xffffffffull;
	}
	const struct vsl_tlb_entry *e = &cpu->tlb_cur->x[(lin >> 12) & (VSL_TLB_SIZE - 1)];
	if (__builtin_expect(e->tag == (lin & ~0xfffull), 1)) {
		paddr = (e->paddr & ~0xfffull) | (lin & 0xfff);
	} else {
		/* fill the code TLB through a one-byte fetch (raises the fault) */
		if (vsl_mmu_fetch(cpu, lin, buf, 1, &got))
			return NULL;
		if (e->tag == (lin & ~0xfffull))
			paddr = (e->paddr & ~0xfffull) | (lin & 0xfff);
		else if (vsl_mmu_translate(cpu, lin, VSL_ACC_EXEC, &paddr))
			return NULL;
	}
	/* decode cache: only for instructions that cannot cross the page */
	bool cacheable = (lin & 0xfff) <= 0x1000 - 15 && (paddr >> 12) < cpu->ram_pages;
	if (__builtin_expect(cacheable, 1)) {
		unsigned idx = cpu_dcache_index(paddr);
		struct vsl_dinsn *d = &cpu->dcache[idx];
		uint32_t gen = cpu->code_gen[paddr >> 12];
		if (__builtin_expect(d->paddr == paddr && d->gen == gen && d->mode == mode, 1)) {
			if (__builtin_expect(d->rip != cpu->rip, 0))
				d->rip = cpu->rip;
			return d;
		}
		if (vsl_mmu_fetch(cpu, lin, buf, 15, &got))
			return NULL;
		struct vsl_insn *f = &cpu->dfull[idx];
		ZyanStatus st = ZydisDecoderDecodeFull(&cpu->dec[mode], buf, got, &f->zi, f->ops);
		if (!ZYAN_SUCCESS(st)) {
			d->paddr = ~0ull;
			goto bad;
		}
		vsl_cpu_mark_code(cpu, paddr & ~0xfffull);
		vsl_interp_compact(d, f);
		d->paddr = paddr;
		d->gen = cpu->code_gen[paddr >> 12];
		d->mode = (uint8_t)mode;
		d->rip = f->rip = cpu->rip;
		return d;
	}
	if (vsl_mmu_fetch(cpu, lin, buf, 15, &got))
		return NULL;
	{
		ZyanStatus st = ZydisDecoderDecodeFull(&cpu->dec[mode], buf, got, &scratch_full->zi,
						       scratch_full->ops);
		if (!ZYAN_SUCCESS(st)) {
			if (st == ZYDIS_STATUS_NO_MORE_DATA && got < 15) {
				uint64_t next = (lin & ~0xfffull) + 0x1000;
				vsl_mmu_fetch_fault(cpu, mode == VSL_MODE_LONG64 ? next : next & 0xffffffffull);
				return NULL;
			}
			goto bad;
		}
		vsl_interp_compact(scratch, scratch_full);
		scratch->rip = scratch_full->rip = cpu->rip;
		return scratch;
	}
bad:
	/* undecodable (invalid opcode, illegal prefix, too long) */
	vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
	return NULL;
}

static inline void cpu_trace(struct vsl_cpu *cpu, const struct vsl_dinsn *in)
{
	struct vsl_trace_entry *t = &cpu->trace[cpu->trace_pos];

	cpu->trace_pos = (cpu->trace_pos + 1) % VSL_TRACE_LEN;
	t->rip = in->rip;
	t->mode = (uint8_t)cpu->mode;
	/* the raw bytes are re-fetched lazily by vsl_cpu_dump_trace */
}

static int cpu_error(struct vsl_cpu *cpu, const char *what)
{
	char bytes[64] = "";
	uint8_t buf[15];
	unsigned got = 0;
	uint64_t lin = cpu->mode == VSL_MODE_LONG64 ? cpu->rip :
		       (cpu->seg[VSL_CS].base + cpu->rip) & 0xffffffffull;

	if (vsl_mmu_fetch(cpu, lin, buf, 15, &got) == 0) {
		ZydisDecodedInstruction zi;
		unsigned n = got;
		if (ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&cpu->dec[cpu->mode], NULL, buf, got, &zi)))
			n = zi.length;
		for (unsigned i = 0, p = 0; i < n && p + 4 < sizeof(bytes); i++)
			p += (unsigned)snprintf(bytes + p, sizeof(bytes) - p, "%s%02x", i ? " " : "", buf[i]);
	}
	if (cpu->unimpl_insn)
		return vsl_set_error(cpu->ctx, 0, VSL_ENOTSUP,
				     "cpu: unimplemented instruction %s (%s) at rip %#llx", bytes, what,
				     (unsigned long long)cpu->rip);
	return vsl_set_error(cpu->ctx, 0, VSL_ENOTSUP,
			     "cpu: unimplemented: %s (instruction %s at rip %#llx)", what, bytes,
			     (unsigned long long)cpu->rip);
}

/* Deliver the pending exception; returns an exit reason or -1 to continue. */
static int cpu_deliver_pending(struct vsl_cpu *cpu)
{
	int r = vsl_cpu_deliver(cpu, cpu->exc_vector, cpu->exc_has_error, cpu->exc_error,
				cpu->exc_soft, false);

	cpu->st.exceptions++;

	if (r == 0)
		return -1;
	if (r == -1)
		return VSL_CPU_EXIT_SHUTDOWN;
	return VSL_CPU_EXIT_ERROR;
}

int vsl_cpu_poll_intr(struct vsl_cpu *cpu)
{
	const struct vsl_cpu_env *env = &cpu->env;
	int x = 0;

	if (!cpu->nmi_blocked && env->nmi_pending && env->nmi_pending(env->opaque)) {
		cpu->halted = false;
		cpu->st.interrupts++;
		x = vsl_cpu_deliver(cpu, VSL_EXC_NMI, false, 0, false, true);
	} else if ((cpu->rflags & VSL_FL_IF) && env->intr_pending && env->intr_pending(env->opaque)) {
		int vec = env->intr_ack ? env->intr_ack(env->opaque) : -1;
		if (vec >= 0) {
			cpu->halted = false;
			cpu->st.interrupts++;
			x = vsl_cpu_deliver(cpu, vec & 0xff, false, 0, false, true);
		}
	}
	if (x)
		return x == -1 ? VSL_CPU_EXIT_SHUTDOWN : VSL_CPU_EXIT_ERROR;
	return -1;
}

int vsl_cpu_run(struct vsl_cpu *cpu, uint64_t budget, struct vsl_cpu_exit *ex)
{
	if (cpu->engine == VSL_ENGINE_BT && cpu->bt)
		return vsl_bt_run(cpu, budget, ex);
	return vsl_interp_run(cpu, budget, ex);
}

int vsl_interp_run(struct vsl_cpu *cpu, uint64_t budget, struct vsl_cpu_exit *ex)
{
	struct vsl_dinsn scratch;
	struct vsl_insn scratch_full;
	uint64_t done = 0;
	int reason = VSL_CPU_EXIT_BUDGET;
	int rc = 0;

	bool if_prev = false;
	unsigned poll_left = VSL_CPU_POLL;

	cpu->unimpl = NULL;
	cpu->unimpl_insn = false;
	cpu->irq_poll = true;
	while (done < budget) {
		if (cpu->kick) {
			cpu->kick = 0;
			reason = VSL_CPU_EXIT_IRQ_CHECK;
			break;
		}
		/*
		 * Instruction boundary: NMI and external interrupts. Asking the
		 * machine costs a call into its interrupt controllers, so it is
		 * asked only when something may have changed the answer: a new
		 * run (devices kick the CPU when they raise an interrupt), IF
		 * going from 0 to 1, an I/O, MMIO, CR8 or MSR access by the
		 * guest (EOI, TPR, unmasking), or every VSL_CPU_POLL insns.
		 */
		bool ifl = cpu->rflags & VSL_FL_IF;
		bool poll = cpu->irq_poll || (ifl && !if_prev) || --poll_left == 0;
		if_prev = ifl;
		if (cpu->intr_shadow) {
			cpu->intr_shadow = false;
			cpu->irq_poll = true; /* look again after the shadowed insn */
		} else if (poll) {
			cpu->irq_poll = false;
			poll_left = VSL_CPU_POLL;
			int x = vsl_cpu_poll_intr(cpu);
			if (x >= 0) {
				reason = x;
				break;
			}
		}
		if (cpu->halted) {
			reason = VSL_CPU_EXIT_HLT;
			break;
		}
		struct vsl_dinsn *in = cpu_fetch(cpu, &scratch, &scratch_full);
		if (!in) {
			if (cpu->unimpl) {
				reason = VSL_CPU_EXIT_ERROR;
				break;
			}
			int x = cpu_deliver_pending(cpu);
			if (x >= 0) {
				reason = x;
				break;
			}
			continue;
		}
		cpu_trace(cpu, in);
		cpu->rip = in->rip + in->zi.length;
		if (cpu->mode != VSL_MODE_LONG64)
			cpu->rip &= in->zi.operand_width == 16 && cpu->mode == VSL_MODE_REAL ?
				0xffffull : 0xffffffffull;
		bool tf = cpu->rflags & VSL_FL_TF;
		cpu->ea_ss = false;
		int r = in->fn ? in->fn(cpu, in) : 1;
		if (__builtin_expect(r == 1, 0))
			r = vsl_interp_exec(cpu, in);
		if (__builtin_expect(tf, 0) && r == 0) {
			/* single-step trap after the instruction (DR6.BS) */
			cpu->dr[6] |= 1u << 14;
			vsl_cpu_raise(cpu, VSL_EXC_DB, false, 0);
			cpu->exc_trap = true;
			cpu->icount++;
			done++;
			r = VSL_CPU_FAULT;
		}
		if (__builtin_expect(r != 0, 0)) {
			if (cpu->unimpl) {
				cpu->rip = in->rip;
				reason = VSL_CPU_EXIT_ERROR;
				break;
			}
			if (!cpu->exc_soft && !cpu->exc_trap) {
				cpu->rip = in->rip;
			} else if (!(tf && cpu->exc_vector == VSL_EXC_DB)) {
				cpu->icount++;
				done++;
			}
			int x = cpu_deliver_pending(cpu);
			if (x >= 0) {
				reason = x;
				break;
			}
			continue;
		}
		cpu->icount++;
		done++;
	}
	if (reason == VSL_CPU_EXIT_ERROR) {
		if (cpu->unimpl)
			rc = cpu_error(cpu, cpu->unimpl);
		else
			rc = vsl_set_error(cpu->ctx, 0, VSL_ENOTSUP, "cpu: internal error at rip %#llx",
					   (unsigned long long)cpu->rip);
	}
	if (ex) {
		ex->reason = reason;
		ex->executed = done;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* accessors */

uint64_t vsl_cpu_get_gpr(const struct vsl_cpu *cpu, int reg)
{
	return (reg >= 0 && reg < 16) ? cpu->gpr[reg] : 0;
}

void vsl_cpu_set_gpr(struct vsl_cpu *cpu, int reg, uint64_t val)
{
	if (reg >= 0 && reg < 16)
		cpu->gpr[reg] = val;
}

uint64_t vsl_cpu_get_rip(const struct vsl_cpu *cpu)
{
	return cpu->rip;
}

void vsl_cpu_set_rip(struct vsl_cpu *cpu, uint64_t rip)
{
	cpu->rip = rip;
	cpu->halted = false;
}

uint64_t vsl_cpu_get_rflags(const struct vsl_cpu *cpu)
{
	return cpu->rflags;
}

void vsl_cpu_set_rflags(struct vsl_cpu *cpu, uint64_t rflags)
{
	cpu->rflags = (rflags & 0x3f7fd7ull) | 2;
}

void vsl_cpu_get_seg(const struct vsl_cpu *cpu, int seg, struct vsl_seg *out)
{
	if (seg >= 0 && seg < 6)
		*out = cpu->seg[seg];
	else
		*out = (struct vsl_seg){ 0 };
}

void vsl_cpu_set_seg(struct vsl_cpu *cpu, int seg, const struct vsl_seg *s)
{
	if (seg < 0 || seg >= 6)
		return;
	cpu->seg[seg] = *s;
	vsl_cpu_update_mode(cpu);
}

void vsl_cpu_set_gdt(struct vsl_cpu *cpu, const struct vsl_dtable *dt)
{
	cpu->gdtr = *dt;
}

void vsl_cpu_set_idt(struct vsl_cpu *cpu, const struct vsl_dtable *dt)
{
	cpu->idtr = *dt;
}

uint64_t vsl_cpu_get_cr(const struct vsl_cpu *cpu, int n)
{
	switch (n) {
	case 0: return cpu->cr0;
	case 2: return cpu->cr2;
	case 3: return cpu->cr3;
	case 4: return cpu->cr4;
	case 8: return cpu->cr8;
	case 0xC0000080: return cpu->efer;
	}
	return 0;
}

void vsl_cpu_set_cr(struct vsl_cpu *cpu, int n, uint64_t val)
{
	switch (n) {
	case 0:
		cpu->cr0 = val | VSL_CR0_ET;
		/* loaders set EFER before CR0: derive LMA like hardware would */
		if ((val & VSL_CR0_PG) && (cpu->efer & VSL_EFER_LME))
			cpu->efer |= VSL_EFER_LMA;
		else if (!(val & VSL_CR0_PG))
			cpu->efer &= ~VSL_EFER_LMA;
		break;
	case 2: cpu->cr2 = val; break;
	case 3: cpu->cr3 = val; break;
	case 4: cpu->cr4 = val; break;
	case 8: cpu->cr8 = val & 0xf; break;
	case (int)0xC0000080:
		cpu->efer = val;
		if ((val & VSL_EFER_LME) && (cpu->cr0 & VSL_CR0_PG))
			cpu->efer |= VSL_EFER_LMA;
		break;
	default: return;
	}
	vsl_mmu_flush(cpu, true);
	vsl_cpu_update_mode(cpu);
}

int vsl_cpu_get_msr(struct vsl_cpu *cpu, uint32_t msr, uint64_t *val)
{
	if (vsl_cpu_rdmsr(cpu, msr, val))
		return vsl_set_error(cpu->ctx, 0, VSL_EINVAL, "cpu: RDMSR %#x raises #GP", msr);
	return 0;
}

int vsl_cpu_set_msr(struct vsl_cpu *cpu, uint32_t msr, uint64_t val)
{
	if (vsl_cpu_wrmsr(cpu, msr, val))
		return vsl_set_error(cpu->ctx, 0, VSL_EINVAL, "cpu: WRMSR %#x value %#llx raises #GP", msr,
				     (unsigned long long)val);
	vsl_cpu_update_mode(cpu);
	return 0;
}

void vsl_cpu_get_xmm(const struct vsl_cpu *cpu, int n, uint8_t out[16])
{
	if (n >= 0 && n < 16)
		memcpy(out, cpu->fpu.xmm[n], 16);
}

void vsl_cpu_set_xmm(struct vsl_cpu *cpu, int n, const uint8_t in[16])
{
	if (n >= 0 && n < 16)
		memcpy(cpu->fpu.xmm[n], in, 16);
}

uint32_t vsl_cpu_get_mxcsr(const struct vsl_cpu *cpu)
{
	return cpu->fpu.mxcsr;
}

void vsl_cpu_set_mxcsr(struct vsl_cpu *cpu, uint32_t mxcsr)
{
	cpu->fpu.mxcsr = mxcsr;
}

void vsl_cpu_dump(const struct vsl_cpu *cpu, char *buf, size_t len)
{
	static const char *const names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
	static const char *const segn[6] = { "es", "cs", "ss", "ds", "fs", "gs" };
	size_t p = 0;

	if (!len)
		return;
	buf[0] = 0;
#define DUMP(...) do { if (p < len) { int n_ = snprintf(buf + p, len - p, __VA_ARGS__); \
		if (n_ > 0) p += (size_t)n_; } } while (0)
	for (int i = 0; i < 16; i++)
		DUMP("%-3s=%016llx%s", names[i], (unsigned long long)cpu->gpr[i], (i % 4 == 3) ? "\n" : " ");
	DUMP("rip=%016llx rflags=%08llx cpl=%d mode=%d%s\n", (unsigned long long)cpu->rip,
	     (unsigned long long)cpu->rflags, cpu->cpl, cpu->mode, cpu->halted ? " halted" : "");
	for (int i = 0; i < 6; i++)
		DUMP("%s=%04x base=%016llx limit=%08x attr=%04x\n", segn[i], cpu->seg[i].sel,
		     (unsigned long long)cpu->seg[i].base, cpu->seg[i].limit, cpu->seg[i].attr);
	DUMP("tr=%04x base=%016llx ldtr=%04x gdt=%016llx/%04x idt=%016llx/%04x\n", cpu->tr.sel,
	     (unsigned long long)cpu->tr.base, cpu->ldtr.sel, (unsigned long long)cpu->gdtr.base,
	     cpu->gdtr.limit, (unsigned long long)cpu->idtr.base, cpu->idtr.limit);
	DUMP("cr0=%08llx cr2=%016llx cr3=%016llx cr4=%08llx efer=%llx\n",
	     (unsigned long long)cpu->cr0, (unsigned long long)cpu->cr2, (unsigned long long)cpu->cr3,
	     (unsigned long long)cpu->cr4, (unsigned long long)cpu->efer);
#undef DUMP
}

void vsl_cpu_dump_trace(const struct vsl_cpu *cpu, char *buf, size_t len)
{
	struct vsl_cpu *mcpu = (struct vsl_cpu *)cpu; /* fetching fills the TLB */
	ZydisFormatter fmt;
	size_t p = 0;
	unsigned n = 0;

	/* empty slots (mode VSL_MODE_COUNT) are skipped */
	for (unsigned k = 0; k < VSL_TRACE_LEN; k++)
		n += cpu->trace[k].mode != VSL_MODE_COUNT;

	if (!len)
		return;
	buf[0] = 0;
	ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_ATT);
	for (unsigned k = 0; k < n; k++) {
		const struct vsl_trace_entry *t =
			&cpu->trace[(cpu->trace_pos + VSL_TRACE_LEN - n + k) % VSL_TRACE_LEN];
		uint8_t bytes[15];
		unsigned got = 0;
		char text[128] = "?";
		int saved_vec = mcpu->exc_vector;
		bool saved_he = mcpu->exc_has_error;
		uint32_t saved_err = mcpu->exc_error;
		uint64_t saved_cr2 = mcpu->cr2;
		uint64_t lin = t->mode == VSL_MODE_LONG64 ? t->rip :
			       (cpu->seg[VSL_CS].base + t->rip) & 0xffffffffull;

		/* best effort: the code may have changed or been unmapped since */
		if (vsl_mmu_fetch(mcpu, lin, bytes, 15, &got) == 0) {
			ZydisDecodedInstruction zi;
			ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
			if (ZYAN_SUCCESS(ZydisDecoderDecodeFull(&cpu->dec[t->mode], bytes, got, &zi, ops)))
				ZydisFormatterFormatInstruction(&fmt, &zi, ops, zi.operand_count_visible, text,
								sizeof(text), t->rip, NULL);
		}
		mcpu->exc_vector = saved_vec;
		mcpu->exc_has_error = saved_he;
		mcpu->exc_error = saved_err;
		mcpu->cr2 = saved_cr2;
		if (p < len) {
			int w = snprintf(buf + p, len - p, "%016llx  %s\n", (unsigned long long)t->rip, text);
			if (w > 0)
				p += (size_t)w;
		}
	}
}
