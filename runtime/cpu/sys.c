/*
 * System architecture of the virtual CPU: execution modes, segment
 * descriptors, control registers, exception/interrupt delivery through the
 * IDT, MSRs and CPUID.
 *
 * Exception delivery follows the SDM for IA-32e mode: 16-byte gates, stack
 * switch through TSS.RSPn or an IST slot, a 16-byte aligned 5-word frame
 * (SS, RSP, RFLAGS, CS, RIP) plus the error code. A fault while delivering
 * turns into #DF by the benign/contributory/page-fault table, and a fault
 * while delivering #DF is a triple fault (the machine sees SHUTDOWN).
 * Real-mode delivery uses the IVT; legacy protected mode uses 32-bit gates
 * (task gates and virtual-8086 mode report themselves as unimplemented).
 *
 * CPUID is honest: it advertises only what runtime/cpu implements (integer
 * ISA incl. CMOV/CX8/CX16/POPCNT, SSE/SSE2/MMX/FXSR/x87 via the fpu code,
 * 4-level paging with PAE/PSE/PGE/PAT/NX/1G pages, SYSCALL, RDTSCP).
 */
#include <string.h>

#include "runtime/cpu/cpu_internal.h"

int vsl_cpu_raise(struct vsl_cpu *cpu, int vector, bool has_error, uint32_t error)
{
	cpu->exc_vector = vector;
	cpu->exc_has_error = has_error;
	cpu->exc_error = error;
	cpu->exc_soft = false;
	cpu->exc_trap = false;
	return VSL_CPU_FAULT;
}

void vsl_cpu_update_mode(struct vsl_cpu *cpu)
{
	const struct vsl_seg *cs = &cpu->seg[VSL_CS];

	if (!(cpu->cr0 & VSL_CR0_PE)) {
		cpu->mode = VSL_MODE_REAL;
		cpu->cpl = 0;
	} else {
		cpu->cpl = (cs->attr >> VSL_SEG_DPL_SHIFT) & 3;
		/* conforming code: CPL is the selector's RPL */
		if ((cs->attr & 0x1c) == 0x1c)
			cpu->cpl = cs->sel & 3;
		if (cpu->efer & VSL_EFER_LMA)
			cpu->mode = (cs->attr & VSL_SEG_L) ? VSL_MODE_LONG64 :
				    (cs->attr & VSL_SEG_DB) ? VSL_MODE_COMPAT32 : VSL_MODE_COMPAT16;
		else
			cpu->mode = (cs->attr & VSL_SEG_DB) ? VSL_MODE_PROT32 : VSL_MODE_PROT16;
	}
	cpu->tlb_cur = &cpu->tlb[cpu->cpl == 3];
}

/* ------------------------------------------------------------------ */
/* segments */

void vsl_cpu_desc_to_seg(uint64_t desc, uint16_t sel, struct vsl_seg *s)
{
	uint32_t limit = (desc & 0xffff) | (((desc >> 48) & 0xf) << 16);

	s->sel = sel;
	s->base = ((desc >> 16) & 0xffffff) | (((desc >> 56) & 0xff) << 24);
	s->attr = ((desc >> 40) & 0xff) | (((desc >> 52) & 0xf) << 8);
	if (s->attr & VSL_SEG_G)
		limit = (limit << 12) | 0xfff;
	s->limit = limit;
}

int vsl_cpu_read_desc(struct vsl_cpu *cpu, uint16_t sel, uint64_t *desc, int exc)
{
	uint64_t base, limit;

	if (sel & 4) {
		if (!(cpu->ldtr.attr & VSL_SEG_P) || (cpu->ldtr.sel & ~3) == 0)
			return vsl_cpu_raise(cpu, exc, true, sel & 0xfffc);
		base = cpu->ldtr.base;
		limit = cpu->ldtr.limit;
	} else {
		base = cpu->gdtr.base;
		limit = cpu->gdtr.limit;
	}
	if ((uint64_t)(sel & ~7) + 7 > limit)
		return vsl_cpu_raise(cpu, exc, true, sel & 0xfffc);
	return vsl_mmu_read(cpu, base + (sel & ~7), desc, 8, VSL_ACC_SUPER);
}

/* Set the accessed bit of a descriptor in memory (as hardware does on load). */
static void sys_desc_accessed(struct vsl_cpu *cpu, uint16_t sel, uint64_t desc)
{
	uint64_t base = (sel & 4) ? cpu->ldtr.base : cpu->gdtr.base;
	uint8_t b = (uint8_t)((desc >> 40) | 1);

	if (desc & (1ull << 40))
		return;
	vsl_mmu_write(cpu, base + (sel & ~7) + 5, &b, 1, VSL_ACC_SUPER);
}

int vsl_cpu_load_seg(struct vsl_cpu *cpu, int seg, uint16_t sel)
{
	struct vsl_seg *s = &cpu->seg[seg];
	uint64_t desc;
	int dpl, rpl = sel & 3;

	if (cpu->mode == VSL_MODE_REAL) {
		s->sel = sel;
		s->base = (uint64_t)sel << 4;
		return 0;
	}
	if ((sel & ~3) == 0) {
		if (seg == VSL_SS && !(cpu->mode == VSL_MODE_LONG64 && cpu->cpl < 3 && rpl == cpu->cpl))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		s->sel = sel;
		if (seg != VSL_SS)
			s->base = 0;
		s->limit = 0;
		s->attr = seg == VSL_SS ? (uint16_t)(cpu->cpl << VSL_SEG_DPL_SHIFT) : 0;
		return 0;
	}
	if (vsl_cpu_read_desc(cpu, sel, &desc, VSL_EXC_GP))
		return VSL_CPU_FAULT;
	struct vsl_seg n;
	vsl_cpu_desc_to_seg(desc, sel, &n);
	dpl = (n.attr >> VSL_SEG_DPL_SHIFT) & 3;
	if (!(n.attr & VSL_SEG_S))
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
	if (seg == VSL_SS) {
		/* writable data segment, RPL = DPL = CPL */
		if ((n.attr & 0xa) != 0x2 || rpl != cpu->cpl || dpl != cpu->cpl)
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
		if (!(n.attr & VSL_SEG_P))
			return vsl_cpu_raise(cpu, VSL_EXC_SS, true, sel & 0xfffc);
	} else {
		bool code = n.attr & 0x8;
		/* execute-only code is not loadable into a data segment register */
		if (code && !(n.attr & 0x2))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
		/* data and non-conforming code: DPL >= max(CPL, RPL) */
		if ((!code || !(n.attr & 0x4)) && (dpl < cpu->cpl || dpl < rpl))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
		if (!(n.attr & VSL_SEG_P))
			return vsl_cpu_raise(cpu, VSL_EXC_NP, true, sel & 0xfffc);
	}
	sys_desc_accessed(cpu, sel, desc);
	n.attr |= 1;
	if (cpu->mode == VSL_MODE_LONG64 && (seg == VSL_FS || seg == VSL_GS))
		n.base &= 0xffffffffull;
	*s = n;
	return 0;
}

/*
 * Load CS for a far transfer to privilege level new_cpl (checks done by the
 * caller); also recomputes the mode.
 */
static void sys_set_cs(struct vsl_cpu *cpu, uint16_t sel, uint64_t desc, int new_cpl)
{
	vsl_cpu_desc_to_seg(desc, (uint16_t)((sel & ~3) | new_cpl), &cpu->seg[VSL_CS]);
	cpu->seg[VSL_CS].attr |= 1;
	vsl_cpu_update_mode(cpu);
}

/*
 * Check a code-segment descriptor for a far JMP/CALL/RET/IRET target.
 * ret: the transfer is a return (RPL gives the new CPL, may be outer).
 */
static int sys_check_code(struct vsl_cpu *cpu, uint16_t sel, uint64_t *desc, bool ret, int *new_cpl)
{
	if ((sel & ~3) == 0)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
	if (vsl_cpu_read_desc(cpu, sel, desc, VSL_EXC_GP))
		return VSL_CPU_FAULT;
	uint16_t attr = ((*desc >> 40) & 0xff) | (((*desc >> 52) & 0xf) << 8);
	int dpl = (attr >> VSL_SEG_DPL_SHIFT) & 3, rpl = sel & 3;
	bool conforming = attr & 0x4;

	if (!(attr & VSL_SEG_S) || !(attr & 0x8))
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
	if (ret) {
		if (rpl < cpu->cpl || (conforming ? dpl > rpl : dpl != rpl))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
		*new_cpl = rpl;
	} else {
		if (conforming ? dpl > cpu->cpl : (rpl > cpu->cpl || dpl != cpu->cpl))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
		*new_cpl = cpu->cpl;
	}
	if ((cpu->efer & VSL_EFER_LMA) && (attr & VSL_SEG_L) && (attr & VSL_SEG_DB))
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
	if (!(attr & VSL_SEG_P))
		return vsl_cpu_raise(cpu, VSL_EXC_NP, true, sel & 0xfffc);
	return 0;
}

/* Far JMP/CALL to a code segment (no call gates / task switches). */
int vsl_cpu_far_jump(struct vsl_cpu *cpu, uint16_t sel, uint64_t off, bool call, unsigned opsize)
{
	uint64_t desc;
	int new_cpl;

	if (cpu->mode == VSL_MODE_REAL) {
		if (call) {
			uint64_t rsp = cpu->gpr[VSL_RSP];
			uint64_t mask = vsl_cpu_stack_mask(cpu);
			uint64_t cs = cpu->seg[VSL_CS].sel, ip = cpu->rip;
			uint64_t sp1 = (rsp - opsize) & mask, sp2 = (rsp - 2 * opsize) & mask;
			if (vsl_cpu_write_lin(cpu, cpu->seg[VSL_SS].base + sp1, &cs, opsize) ||
			    vsl_cpu_write_lin(cpu, cpu->seg[VSL_SS].base + sp2, &ip, opsize))
				return VSL_CPU_FAULT;
			cpu->gpr[VSL_RSP] = (rsp & ~mask) | sp2;
		}
		cpu->seg[VSL_CS].sel = sel;
		cpu->seg[VSL_CS].base = (uint64_t)sel << 4;
		cpu->rip = off & (opsize == 4 ? 0xffffffffull : 0xffffull);
		return 0;
	}
	if (vsl_cpu_read_desc(cpu, sel, &desc, VSL_EXC_GP))
		return VSL_CPU_FAULT;
	if (!((desc >> 44) & 1)) {
		cpu->unimpl = "far transfer through a call gate or TSS";
		return VSL_CPU_FAULT;
	}
	if (sys_check_code(cpu, sel, &desc, false, &new_cpl))
		return VSL_CPU_FAULT;
	if (call) {
		uint64_t rsp = cpu->gpr[VSL_RSP];
		uint64_t mask = vsl_cpu_stack_mask(cpu);
		uint64_t cs = cpu->seg[VSL_CS].sel, ip = cpu->rip;
		uint64_t sp1 = (rsp - opsize) & mask, sp2 = (rsp - 2 * opsize) & mask;
		if (vsl_cpu_write_lin(cpu, cpu->seg[VSL_SS].base * (cpu->mode != VSL_MODE_LONG64) + sp1, &cs, opsize) ||
		    vsl_cpu_write_lin(cpu, cpu->seg[VSL_SS].base * (cpu->mode != VSL_MODE_LONG64) + sp2, &ip, opsize))
			return VSL_CPU_FAULT;
		cpu->gpr[VSL_RSP] = (rsp & ~mask) | sp2;
	}
	sys_desc_accessed(cpu, sel, desc);
	sys_set_cs(cpu, sel, desc, new_cpl);
	cpu->rip = cpu->mode == VSL_MODE_LONG64 ? off : off & 0xffffffffull;
	return 0;
}

/*
 * Far RET (imm bytes released after CS) and IRET. Reads the frame first,
 * then commits. iret: also pops RFLAGS (and SS:RSP in 64-bit mode or on a
 * privilege change).
 */
int vsl_cpu_far_return(struct vsl_cpu *cpu, unsigned opsize, unsigned imm, bool iret)
{
	uint64_t mask = vsl_cpu_stack_mask(cpu);
	uint64_t ssbase = cpu->mode == VSL_MODE_LONG64 ? 0 : cpu->seg[VSL_SS].base;
	uint64_t rsp = cpu->gpr[VSL_RSP];
	uint64_t v[5] = { 0 };
	unsigned nwords = iret ? 3 : 2;
	uint64_t desc;
	int new_cpl;

	for (unsigned i = 0; i < nwords; i++)
		if (vsl_cpu_read_lin(cpu, ssbase + ((rsp + i * opsize) & mask), &v[i], opsize))
			return VSL_CPU_FAULT;
	uint64_t new_rip = v[0];
	uint16_t sel = (uint16_t)v[1];
	uint64_t new_flags = v[2];

	if (cpu->mode == VSL_MODE_REAL) {
		cpu->seg[VSL_CS].sel = sel;
		cpu->seg[VSL_CS].base = (uint64_t)sel << 4;
		cpu->rip = new_rip;
		cpu->gpr[VSL_RSP] = (rsp & ~mask) | ((rsp + nwords * opsize + imm) & mask);
		if (iret) {
			uint64_t keep = opsize == 2 ? ~0xffffull : (VSL_FL_VM | VSL_FL_VIF | VSL_FL_VIP);
			cpu->rflags = (cpu->rflags & keep) | (new_flags & ~keep & 0x3f7fd5) | 2;
		}
		return 0;
	}
	if (iret && (cpu->rflags & VSL_FL_NT) && !(cpu->efer & VSL_EFER_LMA)) {
		cpu->unimpl = "IRET with NT set (task return)";
		return VSL_CPU_FAULT;
	}
	if (sys_check_code(cpu, sel, &desc, true, &new_cpl))
		return VSL_CPU_FAULT;
	bool outer = new_cpl > cpu->cpl;
	bool pop_ss = outer || (iret && cpu->mode == VSL_MODE_LONG64);
	uint64_t new_rsp = 0;
	uint16_t new_ss = 0;
	uint64_t ss_desc = 0;
	unsigned base_words = nwords;

	if (pop_ss) {
		uint64_t off = rsp + nwords * opsize + (iret ? 0 : imm);
		if (vsl_cpu_read_lin(cpu, ssbase + (off & mask), &v[3], opsize) ||
		    vsl_cpu_read_lin(cpu, ssbase + ((off + opsize) & mask), &v[4], opsize))
			return VSL_CPU_FAULT;
		new_rsp = v[3];
		new_ss = (uint16_t)v[4];
		bool target64 = (desc >> 53) & 1;
		if ((new_ss & ~3) == 0) {
			/* null SS only for a 64-bit target below CPL 3 */
			if (!(cpu->efer & VSL_EFER_LMA) || !target64 || new_cpl == 3)
				return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		} else {
			if (vsl_cpu_read_desc(cpu, new_ss, &ss_desc, VSL_EXC_GP))
				return VSL_CPU_FAULT;
			int dpl = (ss_desc >> 45) & 3;
			uint8_t type = (ss_desc >> 40) & 0x1f;
			if ((new_ss & 3) != new_cpl || dpl != new_cpl || (type & 0x1a) != 0x12)
				return vsl_cpu_raise(cpu, VSL_EXC_GP, true, new_ss & 0xfffc);
			if (!((ss_desc >> 47) & 1))
				return vsl_cpu_raise(cpu, VSL_EXC_SS, true, new_ss & 0xfffc);
		}
	}
	(void)base_words;
	/* commit */
	if (iret) {
		uint64_t mod = VSL_FL_ARITH | VSL_FL_TF | VSL_FL_DF | VSL_FL_NT | VSL_FL_RF |
			       VSL_FL_AC | VSL_FL_ID;
		if (cpu->cpl == 0)
			mod |= VSL_FL_IOPL | VSL_FL_VIF | VSL_FL_VIP;
		if (cpu->cpl <= (int)((cpu->rflags >> 12) & 3))
			mod |= VSL_FL_IF;
		if (opsize == 2)
			mod &= 0xffff;
		cpu->rflags = (cpu->rflags & ~mod) | (new_flags & mod) | 2;
		cpu->nmi_blocked = false;
	}
	int old_cpl = cpu->cpl;
	sys_desc_accessed(cpu, sel, desc);
	sys_set_cs(cpu, sel, desc, new_cpl);
	cpu->rip = cpu->mode == VSL_MODE_LONG64 ? new_rip : new_rip & 0xffffffffull;
	if (pop_ss) {
		if ((new_ss & ~3) == 0) {
			cpu->seg[VSL_SS] = (struct vsl_seg){ .sel = new_ss,
				.attr = (uint16_t)(new_cpl << VSL_SEG_DPL_SHIFT) };
		} else {
			vsl_cpu_desc_to_seg(ss_desc, new_ss, &cpu->seg[VSL_SS]);
			cpu->seg[VSL_SS].attr |= 1;
		}
		uint64_t m2 = vsl_cpu_stack_mask(cpu);
		cpu->gpr[VSL_RSP] = m2 == ~0ull ? new_rsp + (iret ? 0 : imm) :
			(cpu->gpr[VSL_RSP] & ~m2) | ((new_rsp + (iret ? 0 : imm)) & m2);
	} else {
		cpu->gpr[VSL_RSP] = (rsp & ~mask) | ((rsp + nwords * opsize + imm) & mask);
	}
	if (new_cpl > old_cpl) {
		/* data segments not accessible at the outer level become null */
		static const int segs[] = { VSL_ES, VSL_DS, VSL_FS, VSL_GS };
		for (unsigned i = 0; i < 4; i++) {
			struct vsl_seg *s = &cpu->seg[segs[i]];
			int dpl = (s->attr >> VSL_SEG_DPL_SHIFT) & 3;
			bool conf_code = (s->attr & 0xc) == 0xc;
			if ((s->sel & ~3) && !conf_code && dpl < new_cpl) {
				s->sel = 0;
				s->attr = 0;
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* control registers */

int vsl_cpu_write_cr(struct vsl_cpu *cpu, int n, uint64_t val)
{
	switch (n) {
	case 0: {
		uint64_t old = cpu->cr0;
		if (val >> 32)
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		if ((val & VSL_CR0_PG) && !(val & VSL_CR0_PE))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		if ((val & VSL_CR0_NW) && !(val & VSL_CR0_CD))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		if ((val & VSL_CR0_PG) && !(old & VSL_CR0_PG) && (cpu->efer & VSL_EFER_LME)) {
			if (!(cpu->cr4 & VSL_CR4_PAE) || (cpu->seg[VSL_CS].attr & VSL_SEG_L))
				return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
			cpu->efer |= VSL_EFER_LMA;
		}
		if (!(val & VSL_CR0_PG) && (old & VSL_CR0_PG) && (cpu->efer & VSL_EFER_LMA)) {
			if (cpu->mode == VSL_MODE_LONG64)
				return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
			cpu->efer &= ~VSL_EFER_LMA;
		}
		cpu->cr0 = (val & 0xe005003full) | VSL_CR0_ET;
		if ((old ^ cpu->cr0) & (VSL_CR0_PG | VSL_CR0_WP | VSL_CR0_PE))
			vsl_mmu_flush(cpu, true);
		vsl_cpu_update_mode(cpu);
		return 0;
	}
	case 2:
		cpu->cr2 = val;
		return 0;
	case 3:
		if ((cpu->efer & VSL_EFER_LMA) && (val >> 52))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		cpu->cr3 = val;
		vsl_mmu_flush(cpu, false);
		return 0;
	case 4: {
		uint64_t ok = VSL_CR4_TSD | VSL_CR4_DE | VSL_CR4_PSE | VSL_CR4_PAE | VSL_CR4_MCE |
			      VSL_CR4_PGE | VSL_CR4_PCE | VSL_CR4_OSFXSR | VSL_CR4_OSXMMEXCPT;
		if (val & ~ok)
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		if ((cpu->efer & VSL_EFER_LMA) && !(val & VSL_CR4_PAE))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		if ((val ^ cpu->cr4) & (VSL_CR4_PGE | VSL_CR4_PAE | VSL_CR4_PSE))
			vsl_mmu_flush(cpu, true);
		cpu->cr4 = val;
		return 0;
	}
	case 8:
		if (val & ~0xfull)
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		cpu->cr8 = val;
		return 0;
	}
	return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
}

/* ------------------------------------------------------------------ */
/* exception and interrupt delivery */

/* Fault-class exceptions push RFLAGS with RF set (SDM 6.15, 17.3.1.1). */
static bool sys_fault_class(int v)
{
	switch (v) {
	case VSL_EXC_DE: case VSL_EXC_BR: case VSL_EXC_UD: case VSL_EXC_NM:
	case VSL_EXC_TS: case VSL_EXC_NP: case VSL_EXC_SS: case VSL_EXC_GP:
	case VSL_EXC_PF: case VSL_EXC_MF: case VSL_EXC_AC: case VSL_EXC_XM:
		return true;
	default:
		return false;
	}
}

static bool sys_contributory(int v)
{
	return v == VSL_EXC_DE || (v >= VSL_EXC_TS && v <= VSL_EXC_GP);
}

static int sys_deliver_real(struct vsl_cpu *cpu, int vector)
{
	uint32_t ent;
	uint64_t sp = cpu->gpr[VSL_RSP];
	uint16_t frame[3];

	if ((uint64_t)vector * 4 + 3 > cpu->idtr.limit)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
	if (vsl_mmu_read(cpu, cpu->idtr.base + vector * 4, &ent, 4, VSL_ACC_SUPER))
		return VSL_CPU_FAULT;
	frame[0] = (uint16_t)cpu->rip;
	frame[1] = cpu->seg[VSL_CS].sel;
	frame[2] = (uint16_t)cpu->rflags;
	uint16_t nsp = (uint16_t)(sp - 6);
	if (vsl_mmu_write(cpu, cpu->seg[VSL_SS].base + nsp, frame, 6, VSL_ACC_SUPER))
		return VSL_CPU_FAULT;
	cpu->gpr[VSL_RSP] = (sp & ~0xffffull) | nsp;
	cpu->rflags &= ~(uint64_t)(VSL_FL_IF | VSL_FL_TF | VSL_FL_AC | VSL_FL_RF);
	cpu->seg[VSL_CS].sel = (uint16_t)(ent >> 16);
	cpu->seg[VSL_CS].base = (uint64_t)(ent >> 16) << 4;
	cpu->rip = ent & 0xffff;
	return 0;
}

static int sys_deliver_long(struct vsl_cpu *cpu, int vector, bool has_error, uint32_t error,
			    bool soft, bool ext)
{
	uint64_t gate[2], desc;
	uint32_t idt_err = (uint32_t)vector * 8 + 2 + (ext ? 1 : 0);

	if ((uint64_t)vector * 16 + 15 > cpu->idtr.limit)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, idt_err);
	if (vsl_mmu_read(cpu, cpu->idtr.base + (uint64_t)vector * 16, gate, 16, VSL_ACC_SUPER))
		return VSL_CPU_FAULT;
	unsigned type = (gate[0] >> 40) & 0x1f;
	int gdpl = (gate[0] >> 45) & 3;
	if (type != 0xe && type != 0xf)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, idt_err);
	if (soft && gdpl < cpu->cpl)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, idt_err & ~1u);
	if (!((gate[0] >> 47) & 1))
		return vsl_cpu_raise(cpu, VSL_EXC_NP, true, idt_err);
	uint16_t sel = (uint16_t)(gate[0] >> 16);
	uint64_t target = (gate[0] & 0xffff) | (((gate[0] >> 48) & 0xffff) << 16) | (gate[1] << 32);
	unsigned ist = (gate[0] >> 32) & 7;

	if ((sel & ~3) == 0)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, ext ? 1 : 0);
	if (vsl_cpu_read_desc(cpu, sel, &desc, VSL_EXC_GP))
		return VSL_CPU_FAULT;
	uint16_t attr = ((desc >> 40) & 0xff) | (((desc >> 52) & 0xf) << 8);
	int dpl = (attr >> VSL_SEG_DPL_SHIFT) & 3;
	if (!(attr & VSL_SEG_S) || !(attr & 0x8) || !(attr & VSL_SEG_L) || (attr & VSL_SEG_DB) ||
	    dpl > cpu->cpl)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, (sel & 0xfffc) | (ext ? 1 : 0));
	if (!(attr & VSL_SEG_P))
		return vsl_cpu_raise(cpu, VSL_EXC_NP, true, (sel & 0xfffc) | (ext ? 1 : 0));
	int new_cpl = (attr & 0x4) ? cpu->cpl : dpl;
	uint64_t rsp = cpu->gpr[VSL_RSP];
	bool new_stack = false;

	if (new_cpl < cpu->cpl || ist) {
		unsigned off = ist ? 0x24 + (ist - 1) * 8 : 4 + (unsigned)new_cpl * 8;
		if (off + 7 > cpu->tr.limit)
			return vsl_cpu_raise(cpu, VSL_EXC_TS, true, (cpu->tr.sel & 0xfffc) | (ext ? 1 : 0));
		if (vsl_mmu_read(cpu, cpu->tr.base + off, &rsp, 8, VSL_ACC_SUPER))
			return VSL_CPU_FAULT;
		new_stack = true;
	}
	if (cpu->mode != VSL_MODE_LONG64 && !new_stack)
		rsp &= 0xffffffffull; /* from compatibility mode */
	rsp &= ~0xfull;
	uint64_t frame[6];
	unsigned n = 0;
	if (has_error)
		frame[n++] = error;
	frame[n++] = cpu->rip;
	frame[n++] = cpu->seg[VSL_CS].sel;
	frame[n++] = cpu->rflags | (!soft && !ext && !cpu->exc_trap && sys_fault_class(vector) ?
				    VSL_FL_RF : 0);
	frame[n++] = cpu->gpr[VSL_RSP];
	frame[n++] = cpu->seg[VSL_SS].sel;
	/* frame[] is in push order reversed: lowest address first */
	uint64_t mem[6];
	for (unsigned i = 0; i < n; i++)
		mem[i] = frame[i];
	rsp -= n * 8;
	int acc = new_cpl == 3 ? 0 : VSL_ACC_SUPER;
	if (vsl_mmu_write(cpu, rsp, mem, n * 8, acc))
		return VSL_CPU_FAULT;
	/* commit */
	if (new_cpl < cpu->cpl)
		cpu->seg[VSL_SS] = (struct vsl_seg){ .sel = (uint16_t)new_cpl,
			.attr = (uint16_t)(new_cpl << VSL_SEG_DPL_SHIFT) };
	cpu->gpr[VSL_RSP] = rsp;
	cpu->rflags &= ~(uint64_t)(VSL_FL_TF | VSL_FL_NT | VSL_FL_RF | VSL_FL_VM);
	if (type == 0xe)
		cpu->rflags &= ~(uint64_t)VSL_FL_IF;
	sys_set_cs(cpu, sel, desc, new_cpl);
	cpu->rip = target;
	return 0;
}

/*
 * Legacy protected mode (no long mode): 8-byte 32-bit interrupt/trap gates,
 * stack switch through the 32-bit TSS (SS0:ESP0 at +4/+8) on a privilege
 * change, frame [error] EIP CS EFLAGS [ESP SS]. Task gates, 16-bit gates
 * and virtual-8086 mode are reported as unimplemented.
 */
static int sys_deliver_prot(struct vsl_cpu *cpu, int vector, bool has_error, uint32_t error,
			    bool soft, bool ext)
{
	uint64_t gate, desc;
	uint32_t idt_err = (uint32_t)vector * 8 + 2 + (ext ? 1 : 0);

	if (cpu->rflags & VSL_FL_VM) {
		cpu->unimpl = "interrupt in virtual-8086 mode";
		return VSL_CPU_FAULT;
	}
	if ((uint64_t)vector * 8 + 7 > cpu->idtr.limit)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, idt_err);
	if (vsl_mmu_read(cpu, (cpu->idtr.base + (uint64_t)vector * 8) & 0xffffffffull, &gate, 8,
			 VSL_ACC_SUPER))
		return VSL_CPU_FAULT;
	unsigned type = (gate >> 40) & 0x1f;
	int gdpl = (gate >> 45) & 3;
	if (type == 0x05 || type == 0x06 || type == 0x07) {
		cpu->unimpl = type == 0x05 ? "task gate in the IDT" : "16-bit interrupt gate";
		return VSL_CPU_FAULT;
	}
	if (type != 0x0e && type != 0x0f)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, idt_err);
	if (soft && gdpl < cpu->cpl)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, idt_err & ~1u);
	if (!((gate >> 47) & 1))
		return vsl_cpu_raise(cpu, VSL_EXC_NP, true, idt_err);
	uint16_t sel = (uint16_t)(gate >> 16);
	uint32_t target = (uint32_t)((gate & 0xffff) | ((gate >> 32) & 0xffff0000ull));
	if ((sel & ~3) == 0)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, ext ? 1 : 0);
	if (vsl_cpu_read_desc(cpu, sel, &desc, VSL_EXC_GP))
		return VSL_CPU_FAULT;
	uint16_t attr = ((desc >> 40) & 0xff) | (((desc >> 52) & 0xf) << 8);
	int dpl = (attr >> VSL_SEG_DPL_SHIFT) & 3;
	if (!(attr & VSL_SEG_S) || !(attr & 0x8) || dpl > cpu->cpl)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, (sel & 0xfffc) | (ext ? 1 : 0));
	if (!(attr & VSL_SEG_P))
		return vsl_cpu_raise(cpu, VSL_EXC_NP, true, (sel & 0xfffc) | (ext ? 1 : 0));
	int new_cpl = (attr & 0x4) ? cpu->cpl : dpl;
	struct vsl_seg new_ss = cpu->seg[VSL_SS];
	uint32_t esp = (uint32_t)cpu->gpr[VSL_RSP];
	uint32_t frame[7];
	unsigned n = 0;
	bool outer = new_cpl < cpu->cpl;

	if (outer) {
		uint32_t esp0;
		uint16_t ss0;
		uint64_t ssd;
		unsigned off = 4 + 8 * (unsigned)new_cpl;
		if (off + 5 > cpu->tr.limit)
			return vsl_cpu_raise(cpu, VSL_EXC_TS, true, (cpu->tr.sel & 0xfffc) | (ext ? 1 : 0));
		if (vsl_mmu_read(cpu, cpu->tr.base + off, &esp0, 4, VSL_ACC_SUPER) ||
		    vsl_mmu_read(cpu, cpu->tr.base + off + 4, &ss0, 2, VSL_ACC_SUPER))
			return VSL_CPU_FAULT;
		if ((ss0 & ~3) == 0 || vsl_cpu_read_desc(cpu, ss0, &ssd, VSL_EXC_TS))
			return (ss0 & ~3) ? VSL_CPU_FAULT : vsl_cpu_raise(cpu, VSL_EXC_TS, true, ext ? 1 : 0);
		vsl_cpu_desc_to_seg(ssd, ss0, &new_ss);
		esp = esp0;
	}
	/* the frame from the lowest address up */
	if (has_error)
		frame[n++] = error;
	frame[n++] = (uint32_t)cpu->rip;
	frame[n++] = cpu->seg[VSL_CS].sel;
	frame[n++] = (uint32_t)(cpu->rflags | (!soft && !ext && !cpu->exc_trap && sys_fault_class(vector) ?
					       VSL_FL_RF : 0));
	if (outer) {
		frame[n++] = (uint32_t)cpu->gpr[VSL_RSP];
		frame[n++] = cpu->seg[VSL_SS].sel;
	}
	uint32_t mask = (new_ss.attr & VSL_SEG_DB) ? 0xffffffffu : 0xffffu;
	uint32_t nsp = (esp - n * 4) & mask;
	if (vsl_mmu_write(cpu, (new_ss.base + nsp) & 0xffffffffull, frame, n * 4,
			  new_cpl == 3 ? 0 : VSL_ACC_SUPER))
		return VSL_CPU_FAULT;
	if (outer)
		cpu->seg[VSL_SS] = new_ss;
	cpu->gpr[VSL_RSP] = (cpu->gpr[VSL_RSP] & ~(uint64_t)mask) | nsp;
	cpu->rflags &= ~(uint64_t)(VSL_FL_TF | VSL_FL_NT | VSL_FL_RF | VSL_FL_VM);
	if (type == 0x0e)
		cpu->rflags &= ~(uint64_t)VSL_FL_IF;
	sys_set_cs(cpu, sel, desc, new_cpl);
	cpu->rip = target;
	return 0;
}

int vsl_cpu_deliver(struct vsl_cpu *cpu, int vector, bool has_error, uint32_t error, bool soft,
		    bool ext)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int r;

		if (cpu->mode == VSL_MODE_REAL) {
			r = sys_deliver_real(cpu, vector);
		} else if (cpu->efer & VSL_EFER_LMA) {
			r = sys_deliver_long(cpu, vector, has_error, error, soft, ext);
		} else {
			r = sys_deliver_prot(cpu, vector, has_error, error, soft, ext);
		}
		if (r == 0) {
			if (vector == VSL_EXC_NMI)
				cpu->nmi_blocked = true;
			return 0;
		}
		if (cpu->unimpl)
			return -2;
		if (vector == VSL_EXC_DF)
			return -1;
		int second = cpu->exc_vector;
		if ((sys_contributory(vector) && sys_contributory(second)) ||
		    (vector == VSL_EXC_PF && (sys_contributory(second) || second == VSL_EXC_PF))) {
			vector = VSL_EXC_DF;
			has_error = true;
			error = 0;
		} else {
			vector = second;
			has_error = cpu->exc_has_error;
			error = cpu->exc_error;
		}
		soft = false;
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* MSRs */

enum {
	MSR_TSC = 0x10, MSR_APIC_BASE = 0x1b, MSR_UCODE_REV = 0x8b,
	MSR_ARCH_CAPABILITIES = 0x10a, MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176,
	MSR_MISC_ENABLE = 0x1a0, MSR_PAT = 0x277,
	MSR_EFER = 0xc0000080, MSR_STAR = 0xc0000081, MSR_LSTAR = 0xc0000082,
	MSR_CSTAR = 0xc0000083, MSR_SFMASK = 0xc0000084, MSR_FS_BASE = 0xc0000100,
	MSR_GS_BASE = 0xc0000101, MSR_KERNEL_GS_BASE = 0xc0000102, MSR_TSC_AUX = 0xc0000103
};

static uint64_t sys_tsc(struct vsl_cpu *cpu)
{
	uint64_t ns = cpu->env.now_ns ? cpu->env.now_ns(cpu->env.opaque) : cpu->icount;
	uint64_t khz = cpu->env.tsc_khz ? cpu->env.tsc_khz : 1000000;

	return (uint64_t)((unsigned __int128)ns * khz / 1000000u);
}

uint64_t vsl_cpu_tsc(struct vsl_cpu *cpu)
{
	return sys_tsc(cpu) + cpu->tsc_offset;
}

static bool sys_canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

int vsl_cpu_rdmsr(struct vsl_cpu *cpu, uint32_t msr, uint64_t *val)
{
	switch (msr) {
	case MSR_TSC: *val = vsl_cpu_tsc(cpu); return 0;
	case MSR_APIC_BASE:
		*val = cpu->env.apic_base_read ? cpu->env.apic_base_read(cpu->env.opaque) :
						 0xfee00900ull;
		return 0;
	case MSR_UCODE_REV: *val = 0; return 0;
	case MSR_ARCH_CAPABILITIES:
		/*
		 * An interpreter does not speculate: not affected by Meltdown
		 * (RDCL_NO, so no page-table isolation), L1TF, SSB, MDS, TAA,
		 * MMIO stale data, GDS or RFDS.
		 */
		*val = (1ull << 0) | (1ull << 3) | (1ull << 4) | (1ull << 5) | (1ull << 6) |
		       (1ull << 8) | (1ull << 13) | (1ull << 14) | (1ull << 15) | (1ull << 26) |
		       (1ull << 27);
		return 0;
	case MSR_SYSENTER_CS: *val = cpu->sysenter_cs; return 0;
	case MSR_SYSENTER_ESP: *val = cpu->sysenter_esp; return 0;
	case MSR_SYSENTER_EIP: *val = cpu->sysenter_eip; return 0;
	case MSR_MISC_ENABLE: *val = cpu->misc_enable; return 0;
	case MSR_PAT: *val = cpu->pat; return 0;
	case MSR_EFER: *val = cpu->efer; return 0;
	case MSR_STAR: *val = cpu->star; return 0;
	case MSR_LSTAR: *val = cpu->lstar; return 0;
	case MSR_CSTAR: *val = cpu->cstar; return 0;
	case MSR_SFMASK: *val = cpu->sfmask; return 0;
	case MSR_FS_BASE: *val = cpu->seg[VSL_FS].base; return 0;
	case MSR_GS_BASE: *val = cpu->seg[VSL_GS].base; return 0;
	case MSR_KERNEL_GS_BASE: *val = cpu->kernel_gs_base; return 0;
	case MSR_TSC_AUX: *val = cpu->tsc_aux; return 0;
	}
	return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
}

int vsl_cpu_wrmsr(struct vsl_cpu *cpu, uint32_t msr, uint64_t val)
{
	switch (msr) {
	case MSR_TSC:
		cpu->tsc_offset = val - sys_tsc(cpu);
		return 0;
	case MSR_APIC_BASE:
		if (cpu->env.apic_base_write)
			cpu->env.apic_base_write(cpu->env.opaque, val);
		return 0;
	case MSR_UCODE_REV: return 0;
	case MSR_SYSENTER_CS: cpu->sysenter_cs = val & 0xffff; return 0;
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
		if (!sys_canonical(val))
			break;
		if (msr == MSR_SYSENTER_ESP)
			cpu->sysenter_esp = val;
		else
			cpu->sysenter_eip = val;
		return 0;
	case MSR_MISC_ENABLE:
		cpu->misc_enable = (cpu->misc_enable & ~0x1ull) | (val & 0x1);
		return 0;
	case MSR_PAT:
		for (int i = 0; i < 8; i++) {
			unsigned t = (val >> (8 * i)) & 0xff;
			if (t == 2 || t == 3 || t > 7)
				return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		}
		cpu->pat = val;
		return 0;
	case MSR_EFER: {
		uint64_t ok = VSL_EFER_SCE | VSL_EFER_LME | VSL_EFER_NXE | VSL_EFER_LMA;
		if (val & ~ok)
			break;
		/* LME cannot change while paging is on */
		if (((val ^ cpu->efer) & VSL_EFER_LME) && (cpu->cr0 & VSL_CR0_PG))
			break;
		val = (val & ~VSL_EFER_LMA) | (cpu->efer & VSL_EFER_LMA);
		if ((val ^ cpu->efer) & VSL_EFER_NXE)
			vsl_mmu_flush(cpu, true);
		cpu->efer = val;
		return 0;
	}
	case MSR_STAR: cpu->star = val; return 0;
	case MSR_LSTAR:
	case MSR_CSTAR:
		if (!sys_canonical(val))
			break;
		if (msr == MSR_LSTAR)
			cpu->lstar = val;
		else
			cpu->cstar = val;
		return 0;
	case MSR_SFMASK: cpu->sfmask = val & 0xffffffffull; return 0;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		if (!sys_canonical(val))
			break;
		if (msr == MSR_FS_BASE)
			cpu->seg[VSL_FS].base = val;
		else if (msr == MSR_GS_BASE)
			cpu->seg[VSL_GS].base = val;
		else
			cpu->kernel_gs_base = val;
		return 0;
	case MSR_TSC_AUX:
		if (val >> 32)
			break;
		cpu->tsc_aux = val;
		return 0;
	}
	return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
}

/* ------------------------------------------------------------------ */
/* CPUID */

/* the 48-byte brand string of leaves 0x80000002..4 (NUL-padded) */
static const char sys_brand[48] = "vessel virtual x86-64 CPU";

void vsl_cpu_cpuid(struct vsl_cpu *cpu, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	/* r[] = eax, ebx, ecx, edx */
	r[0] = r[1] = r[2] = r[3] = 0;
	switch (leaf) {
	case 0:
		r[0] = 7;
		memcpy(&r[1], "Genu", 4);
		memcpy(&r[3], "ineI", 4);
		memcpy(&r[2], "ntel", 4);
		break;
	case 1:
		/* family 6, model 0x0f (Core 2 class: no model-specific extras), stepping 11 */
		r[0] = 0x000006fb;
		r[1] = (8u << 8) | (1u << 16); /* CLFLUSH line 64 bytes, 1 logical CPU, APIC id 0 */
		r[2] = (1u << 13) |  /* CMPXCHG16B */
		       (1u << 23) |  /* POPCNT */
		       (1u << 31);   /* running under a hypervisor */
		r[3] = (1u << 0) |   /* FPU */
		       (1u << 3) |   /* PSE */
		       (1u << 4) |   /* TSC */
		       (1u << 5) |   /* MSR */
		       (1u << 6) |   /* PAE */
		       (1u << 8) |   /* CMPXCHG8B */
		       (cpu->env.apic_base_read ? (1u << 9) : 0) | /* APIC */
		       (1u << 13) |  /* PGE */
		       (1u << 15) |  /* CMOV */
		       (1u << 16) |  /* PAT */
		       (1u << 19) |  /* CLFLUSH */
		       (1u << 23) |  /* MMX (sse.c); glibc's x86-64 baseline ISA level needs it */
		       (1u << 24) |  /* FXSAVE/FXRSTOR */
		       (1u << 25) |  /* SSE */
		       (1u << 26);   /* SSE2 */
		break;
	case 2:
		r[0] = 1; /* one iteration, no descriptors */
		break;
	case 7:
		if (sub == 0)
			r[3] = 1u << 29; /* IA32_ARCH_CAPABILITIES */
		break;
	case 0x80000000:
		r[0] = 0x80000008;
		break;
	case 0x80000001:
		r[2] = (1u << 0);    /* LAHF/SAHF in 64-bit mode */
		r[3] = (1u << 11) |  /* SYSCALL/SYSRET */
		       (1u << 20) |  /* NX */
		       (1u << 26) |  /* 1 GiB pages */
		       (1u << 27) |  /* RDTSCP */
		       (1u << 29);   /* long mode */
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004:
		memcpy(r, sys_brand + (leaf - 0x80000002) * 16, 16);
		break;
	case 0x80000007:
		r[3] = 1u << 8; /* invariant TSC: it runs at tsc_khz of virtual time */
		break;
	case 0x80000008:
		r[0] = 40 | (48 << 8);
		break;
	}
}
