/*
 * The reference executor: semantics of the integer and system ISA.
 *
 * Instructions arrive decoded by Zydis and squeezed into struct vsl_dinsn
 * (vsl_interp_compact). Dispatch is one dense table indexed by ZydisMnemonic
 * (interp_table below), looked up once at decode time and kept in the
 * cached instruction: each handler implements one mnemonic or a family
 * (Jcc/SETcc/CMOVcc share one handler and take the condition from the low
 * nibble of the opcode). Mnemonics
 * without a handler go to the fpu code (SSE/SSE2/x87/FXSAVE); what it does
 * not take either becomes #UD when it belongs to an ISA extension CPUID
 * does not advertise, else an "unimplemented instruction" exit.
 *
 * Handler contract (see cpu_internal.h): cpu->rip already points to the next
 * instruction; read every operand before writing anything; return 0 or
 * VSL_CPU_FAULT with the exception pending (the run loop rewinds RIP).
 * Flags are computed eagerly and exactly, including AF/PF/OF; where the SDM
 * leaves a flag undefined we follow what Intel cores do when it is known
 * (logic ops clear AF) and otherwise leave the flag unchanged.
 *
 *	struct vsl_dinsn *in = ...;   // from the decode cache (cpu.c)
 *	cpu->rip = in->rip + in->zi.length;
 *	int r = in->fn ? in->fn(cpu, in) : 1;    // 1: not an integer insn
 *	if (r == 1) r = vsl_interp_exec(cpu, in); // fpu code, #UD or unimplemented
 */
#include <string.h>

#include "runtime/cpu/cpu_internal.h"

#define FAULT VSL_CPU_FAULT
#define MN(x) ZYDIS_MNEMONIC_##x
#define RG(x) ZYDIS_REGISTER_##x

typedef vsl_interp_fn interp_fn;

static inline uint64_t interp_mask(unsigned bits)
{
	return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

static inline uint64_t interp_sext(uint64_t v, unsigned bits)
{
	if (bits >= 64)
		return v;
	return (uint64_t)((int64_t)(v << (64 - bits)) >> (64 - bits));
}

static inline bool interp_canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

/* ------------------------------------------------------------------ */
/* registers */

static inline int interp_reg8_index(ZydisRegister r)
{
	return r < RG(SPL) ? (int)(r - RG(AL)) : (int)(r - RG(AL) - 4);
}

uint64_t vsl_cpu_reg_read(struct vsl_cpu *cpu, ZydisRegister r)
{
	if (r >= RG(RAX) && r <= RG(R15))
		return cpu->gpr[r - RG(RAX)];
	if (r >= RG(EAX) && r <= RG(R15D))
		return (uint32_t)cpu->gpr[r - RG(EAX)];
	if (r >= RG(AX) && r <= RG(R15W))
		return (uint16_t)cpu->gpr[r - RG(AX)];
	if (r >= RG(AL) && r <= RG(R15B)) {
		if (r >= RG(AH) && r <= RG(BH))
			return (cpu->gpr[r - RG(AH)] >> 8) & 0xff;
		return cpu->gpr[interp_reg8_index(r)] & 0xff;
	}
	if (r >= RG(ES) && r <= RG(GS))
		return cpu->seg[r - RG(ES)].sel;
	if (r >= RG(CR0) && r <= RG(CR15)) {
		switch (r - RG(CR0)) {
		case 0: return cpu->cr0;
		case 2: return cpu->cr2;
		case 3: return cpu->cr3;
		case 4: return cpu->cr4;
		case 8: return cpu->cr8;
		}
		return 0;
	}
	if (r >= RG(DR0) && r <= RG(DR7))
		return cpu->dr[r - RG(DR0)];
	switch (r) {
	case RG(RIP): return cpu->rip;
	case RG(EIP): return (uint32_t)cpu->rip;
	case RG(IP): return (uint16_t)cpu->rip;
	case RG(RFLAGS): return cpu->rflags;
	case RG(EFLAGS): return (uint32_t)cpu->rflags;
	case RG(FLAGS): return (uint16_t)cpu->rflags;
	default: return 0;
	}
}

void vsl_cpu_reg_write(struct vsl_cpu *cpu, ZydisRegister r, uint64_t v)
{
	if (r >= RG(RAX) && r <= RG(R15)) {
		cpu->gpr[r - RG(RAX)] = v;
	} else if (r >= RG(EAX) && r <= RG(R15D)) {
		cpu->gpr[r - RG(EAX)] = (uint32_t)v;
	} else if (r >= RG(AX) && r <= RG(R15W)) {
		uint64_t *g = &cpu->gpr[r - RG(AX)];
		*g = (*g & ~0xffffull) | (v & 0xffff);
	} else if (r >= RG(AL) && r <= RG(R15B)) {
		if (r >= RG(AH) && r <= RG(BH)) {
			uint64_t *g = &cpu->gpr[r - RG(AH)];
			*g = (*g & ~0xff00ull) | ((v & 0xff) << 8);
		} else {
			uint64_t *g = &cpu->gpr[interp_reg8_index(r)];
			*g = (*g & ~0xffull) | (v & 0xff);
		}
	} else if (r == RG(RIP)) {
		cpu->rip = v;
	} else if (r == RG(EIP)) {
		cpu->rip = (uint32_t)v;
	} else if (r >= RG(DR0) && r <= RG(DR7)) {
		cpu->dr[r - RG(DR0)] = v;
	}
}

/* inline fast paths for the common 64/32-bit GPRs; the rest goes out of line */
static inline uint64_t interp_rd(struct vsl_cpu *cpu, unsigned r)
{
	if (r - RG(RAX) <= 15u)
		return cpu->gpr[r - RG(RAX)];
	if (r - RG(EAX) <= 15u)
		return (uint32_t)cpu->gpr[r - RG(EAX)];
	return vsl_cpu_reg_read(cpu, (ZydisRegister)r);
}

static inline void interp_wr(struct vsl_cpu *cpu, unsigned r, uint64_t v)
{
	if (r - RG(RAX) <= 15u)
		cpu->gpr[r - RG(RAX)] = v;
	else if (r - RG(EAX) <= 15u)
		cpu->gpr[r - RG(EAX)] = (uint32_t)v;
	else
		vsl_cpu_reg_write(cpu, (ZydisRegister)r, v);
}

/* ------------------------------------------------------------------ */
/* operands */

static inline uint64_t interp_seg_base(struct vsl_cpu *cpu, ZydisRegister seg)
{
	if (cpu->mode == VSL_MODE_LONG64) {
		if (seg == RG(FS))
			return cpu->seg[VSL_FS].base;
		if (seg == RG(GS))
			return cpu->seg[VSL_GS].base;
		return 0;
	}
	if (seg >= RG(ES) && seg <= RG(GS))
		return cpu->seg[seg - RG(ES)].base;
	return 0;
}

/*
 * Offset (before segmentation) of a memory operand, from its decoded parts;
 * next_rip is the address after the instruction (RIP-relative forms).
 * Shared by the compact (vsl_op) and full Zydis operand forms below.
 */
static inline uint64_t interp_mem_offset(struct vsl_cpu *cpu, uint64_t next_rip,
					 unsigned address_width, int64_t disp,
					 ZydisRegister base, ZydisRegister index, uint8_t scale)
{
	uint64_t a = (uint64_t)disp;

	if (base == RG(RIP))
		a += next_rip;
	else if (base == RG(EIP))
		a = (uint32_t)(a + next_rip);
	else if (base != RG(NONE))
		a += interp_rd(cpu, base);
	if (index != RG(NONE))
		a += interp_rd(cpu, index) * scale;
	if (address_width == 32)
		a &= 0xffffffffull;
	else if (address_width == 16)
		a &= 0xffffull;
	return a;
}

/* offset (before segmentation) of a memory operand */
static inline uint64_t interp_offset(struct vsl_cpu *cpu, const struct vsl_dinsn *in,
				     const struct vsl_op *op)
{
	return interp_mem_offset(cpu, in->rip + in->zi.length, in->zi.address_width,
				 op->mem.disp.value, (ZydisRegister)op->mem.base,
				 (ZydisRegister)op->mem.index, op->mem.scale);
}

static inline uint64_t interp_ea(struct vsl_cpu *cpu, const struct vsl_dinsn *in, const struct vsl_op *op)
{
	cpu->ea_ss = op->mem.segment == RG(SS); /* non-canonical: #SS instead of #GP */
	uint64_t a = interp_offset(cpu, in, op) + interp_seg_base(cpu, op->mem.segment);

	if (cpu->mode != VSL_MODE_LONG64)
		a &= 0xffffffffull;
	return a;
}

uint64_t vsl_cpu_ea(struct vsl_cpu *cpu, const struct vsl_insn *in, const ZydisDecodedOperand *op)
{
	uint64_t a = interp_mem_offset(cpu, in->rip + in->zi.length, in->zi.address_width,
				       op->mem.disp.value, op->mem.base, op->mem.index,
				       op->mem.scale);

	a += interp_seg_base(cpu, op->mem.segment);
	if (cpu->mode != VSL_MODE_LONG64)
		a &= 0xffffffffull;
	cpu->ea_ss = op->mem.segment == RG(SS);
	return a;
}

/* A destination (or read-modify-write) operand: register or memory. */
struct interp_loc {
	bool mem;
	ZydisRegister reg;
	uint64_t lin;
	unsigned bytes;
};

static inline void interp_loc_init(struct vsl_cpu *cpu, const struct vsl_dinsn *in,
				   const struct vsl_op *op, struct interp_loc *l)
{
	l->bytes = op->size / 8;
	if (op->type == ZYDIS_OPERAND_TYPE_MEMORY) {
		l->mem = true;
		l->lin = interp_ea(cpu, in, op);
		l->reg = RG(NONE);
	} else {
		l->mem = false;
		l->reg = op->reg.value;
		l->lin = 0;
	}
}

static inline int interp_loc_read(struct vsl_cpu *cpu, const struct interp_loc *l, uint64_t *v)
{
	if (!l->mem) {
		*v = interp_rd(cpu, l->reg);
		return 0;
	}
	*v = 0;
	return vsl_cpu_read_lin(cpu, l->lin, v, l->bytes);
}

static inline int interp_loc_write(struct vsl_cpu *cpu, const struct interp_loc *l, uint64_t v)
{
	if (!l->mem) {
		interp_wr(cpu, l->reg, v);
		return 0;
	}
	return vsl_cpu_write_lin(cpu, l->lin, &v, l->bytes);
}

/* Read a source operand (register, memory or immediate). */
static inline int interp_src(struct vsl_cpu *cpu, const struct vsl_dinsn *in,
			     const struct vsl_op *op, uint64_t *v)
{
	switch (op->type) {
	case ZYDIS_OPERAND_TYPE_REGISTER:
		*v = interp_rd(cpu, op->reg.value);
		return 0;
	case ZYDIS_OPERAND_TYPE_IMMEDIATE:
		/* already sign-extended by the decoder when the encoding says so;
		 * consumers truncate to their operand size */
		*v = op->imm.value.u;
		return 0;
	case ZYDIS_OPERAND_TYPE_MEMORY:
		*v = 0;
		return vsl_cpu_read_lin(cpu, interp_ea(cpu, in, op), v, op->size / 8);
	default:
		*v = 0;
		return 0;
	}
}

/* ------------------------------------------------------------------ */
/* flags */

static inline uint64_t interp_szp(uint64_t r, unsigned bits)
{
	uint64_t f = 0;

	r &= interp_mask(bits);
	if (!r)
		f |= VSL_FL_ZF;
	if ((r >> (bits - 1)) & 1)
		f |= VSL_FL_SF;
	if (!__builtin_parity((unsigned)(r & 0xff)))
		f |= VSL_FL_PF;
	return f;
}

static inline void interp_set_arith(struct vsl_cpu *cpu, uint64_t f)
{
	cpu->rflags = (cpu->rflags & ~(uint64_t)VSL_FL_ARITH) | f;
}

static inline uint64_t interp_flags_add(uint64_t a, uint64_t b, uint64_t r, unsigned bits)
{
	unsigned s = bits - 1;
	uint64_t f = interp_szp(r, bits);

	if ((((a & b) | ((a | b) & ~r)) >> s) & 1)
		f |= VSL_FL_CF;
	if ((((a ^ r) & (b ^ r)) >> s) & 1)
		f |= VSL_FL_OF;
	if ((a ^ b ^ r) & 0x10)
		f |= VSL_FL_AF;
	return f;
}

static inline uint64_t interp_flags_sub(uint64_t a, uint64_t b, uint64_t r, unsigned bits)
{
	unsigned s = bits - 1;
	uint64_t f = interp_szp(r, bits);

	if ((((~a & b) | ((~a | b) & r)) >> s) & 1)
		f |= VSL_FL_CF;
	if ((((a ^ b) & (a ^ r)) >> s) & 1)
		f |= VSL_FL_OF;
	if ((a ^ b ^ r) & 0x10)
		f |= VSL_FL_AF;
	return f;
}

static inline bool interp_cond(const struct vsl_cpu *cpu, unsigned cc)
{
	uint64_t f = cpu->rflags;
	bool r;

	switch (cc >> 1) {
	case 0: r = f & VSL_FL_OF; break;
	case 1: r = f & VSL_FL_CF; break;
	case 2: r = f & VSL_FL_ZF; break;
	case 3: r = f & (VSL_FL_CF | VSL_FL_ZF); break;
	case 4: r = f & VSL_FL_SF; break;
	case 5: r = f & VSL_FL_PF; break;
	case 6: r = !(f & VSL_FL_SF) != !(f & VSL_FL_OF); break;
	default: r = (f & VSL_FL_ZF) || (!(f & VSL_FL_SF) != !(f & VSL_FL_OF)); break;
	}
	return (cc & 1) ? !r : r;
}

/* ------------------------------------------------------------------ */
/* stack */

static inline uint64_t interp_ss_base(struct vsl_cpu *cpu)
{
	return cpu->mode == VSL_MODE_LONG64 ? 0 : cpu->seg[VSL_SS].base;
}

static int interp_push(struct vsl_cpu *cpu, uint64_t v, unsigned bytes)
{
	uint64_t mask = vsl_cpu_stack_mask(cpu);
	uint64_t sp = (cpu->gpr[VSL_RSP] - bytes) & mask;
	uint64_t lin = interp_ss_base(cpu) + sp;

	if (cpu->mode != VSL_MODE_LONG64)
		lin &= 0xffffffffull;
	cpu->ea_ss = true;
	if (vsl_cpu_write_lin(cpu, lin, &v, bytes))
		return FAULT;
	cpu->gpr[VSL_RSP] = (cpu->gpr[VSL_RSP] & ~mask) | sp;
	return 0;
}

/* Read the value at the top of the stack (offset off) without popping. */
static int interp_peek(struct vsl_cpu *cpu, uint64_t off, uint64_t *v, unsigned bytes)
{
	uint64_t mask = vsl_cpu_stack_mask(cpu);
	uint64_t lin = interp_ss_base(cpu) + ((cpu->gpr[VSL_RSP] + off) & mask);

	if (cpu->mode != VSL_MODE_LONG64)
		lin &= 0xffffffffull;
	cpu->ea_ss = true;
	*v = 0;
	return vsl_cpu_read_lin(cpu, lin, v, bytes);
}

static void interp_sp_add(struct vsl_cpu *cpu, uint64_t n)
{
	uint64_t mask = vsl_cpu_stack_mask(cpu);

	cpu->gpr[VSL_RSP] = (cpu->gpr[VSL_RSP] & ~mask) | ((cpu->gpr[VSL_RSP] + n) & mask);
}

/* near branch target: check canonical form in 64-bit mode, truncate otherwise */
static int interp_jump(struct vsl_cpu *cpu, const struct vsl_dinsn *in, uint64_t target)
{
	if (cpu->mode == VSL_MODE_LONG64) {
		if (in->zi.operand_width == 16)
			target &= 0xffff;
		else if (!interp_canonical(target))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
	} else {
		target &= interp_mask(in->zi.operand_width);
		if (target > cpu->seg[VSL_CS].limit && cpu->mode != VSL_MODE_REAL)
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
	}
	cpu->rip = target;
	return 0;
}

static int interp_gp0(struct vsl_cpu *cpu)
{
	return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
}

static int interp_ud(struct vsl_cpu *cpu)
{
	return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
}

/* ------------------------------------------------------------------ */
/* data movement */

static int x_mov(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	const struct vsl_op *d = &in->ops[0], *s = &in->ops[1];
	uint64_t v;

	/* MOV to/from control and debug registers */
	if (d->type == ZYDIS_OPERAND_TYPE_REGISTER &&
	    ((d->reg.value >= RG(CR0) && d->reg.value <= RG(CR15)) ||
	     (d->reg.value >= RG(DR0) && d->reg.value <= RG(DR7)))) {
		if (cpu->cpl)
			return interp_gp0(cpu);
		v = interp_rd(cpu, s->reg.value);
		if (d->reg.value >= RG(DR0)) {
			unsigned n = d->reg.value - RG(DR0);
			if ((n == 4 || n == 5) && (cpu->cr4 & VSL_CR4_DE))
				return interp_ud(cpu);
			if (n == 4 || n == 5)
				n += 2;
			cpu->dr[n] = n == 6 ? (v | 0xffff0ff0ull) : n == 7 ? (v | 0x400) : v;
			return 0;
		}
		cpu->irq_poll = true; /* CR8 (TPR) */
		return vsl_cpu_write_cr(cpu, d->reg.value - RG(CR0), v);
	}
	if (s->type == ZYDIS_OPERAND_TYPE_REGISTER &&
	    ((s->reg.value >= RG(CR0) && s->reg.value <= RG(CR15)) ||
	     (s->reg.value >= RG(DR0) && s->reg.value <= RG(DR7)))) {
		if (cpu->cpl)
			return interp_gp0(cpu);
		if (s->reg.value >= RG(DR0)) {
			unsigned n = s->reg.value - RG(DR0);
			if ((n == 4 || n == 5) && (cpu->cr4 & VSL_CR4_DE))
				return interp_ud(cpu);
			if (n == 4 || n == 5)
				n += 2;
			v = cpu->dr[n];
		} else {
			unsigned n = s->reg.value - RG(CR0);
			if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8)
				return interp_ud(cpu);
			v = interp_rd(cpu, s->reg.value);
		}
		interp_wr(cpu, d->reg.value, v);
		return 0;
	}
	/* MOV Sreg, r/m16 */
	if (d->type == ZYDIS_OPERAND_TYPE_REGISTER && d->reg.value >= RG(ES) && d->reg.value <= RG(GS)) {
		int seg = d->reg.value - RG(ES);
		if (seg == VSL_CS)
			return interp_ud(cpu);
		if (interp_src(cpu, in, s, &v))
			return FAULT;
		if (vsl_cpu_load_seg(cpu, seg, (uint16_t)v))
			return FAULT;
		if (seg == VSL_SS)
			cpu->intr_shadow = true;
		return 0;
	}
	if (interp_src(cpu, in, s, &v))
		return FAULT;
	if (d->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		interp_wr(cpu, d->reg.value, v);
		return 0;
	}
	return vsl_cpu_write_lin(cpu, interp_ea(cpu, in, d), &v, d->size / 8);
}

static int x_movzx(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint64_t v;

	if (interp_src(cpu, in, &in->ops[1], &v))
		return FAULT;
	interp_wr(cpu, in->ops[0].reg.value, v & interp_mask(in->ops[1].size));
	return 0;
}

static int x_movsx(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint64_t v;

	if (interp_src(cpu, in, &in->ops[1], &v))
		return FAULT;
	v = interp_sext(v, in->ops[1].size) & interp_mask(in->ops[0].size);
	interp_wr(cpu, in->ops[0].reg.value, v);
	return 0;
}

static int x_lea(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint64_t a = interp_offset(cpu, in, &in->ops[1]);

	interp_wr(cpu, in->ops[0].reg.value, a & interp_mask(in->ops[0].size));
	return 0;
}

static int x_xchg(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	struct interp_loc a, b;
	uint64_t va, vb;

	interp_loc_init(cpu, in, &in->ops[0], &a);
	interp_loc_init(cpu, in, &in->ops[1], &b);
	if (interp_loc_read(cpu, &a, &va) || interp_loc_read(cpu, &b, &vb))
		return FAULT;
	/* memory first (it may fault), registers last */
	if (a.mem) {
		if (interp_loc_write(cpu, &a, vb))
			return FAULT;
		return interp_loc_write(cpu, &b, va);
	}
	if (interp_loc_write(cpu, &b, va))
		return FAULT;
	return interp_loc_write(cpu, &a, vb);
}

static int x_bswap(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	ZydisRegister r = in->ops[0].reg.value;
	uint64_t v = interp_rd(cpu, r);

	if (in->ops[0].size == 64)
		v = __builtin_bswap64(v);
	else if (in->ops[0].size == 32)
		v = __builtin_bswap32((uint32_t)v);
	else
		v = 0; /* 16-bit BSWAP: undefined; Intel cores clear the register */
	interp_wr(cpu, r, v);
	return 0;
}

static int x_cmov(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint64_t v;

	if (interp_src(cpu, in, &in->ops[1], &v))
		return FAULT;
	if (!interp_cond(cpu, in->zi.opcode & 0xf))
		v = interp_rd(cpu, in->ops[0].reg.value); /* 32-bit: still zero-extends */
	interp_wr(cpu, in->ops[0].reg.value, v);
	return 0;
}

static int x_setcc(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	struct interp_loc l;

	interp_loc_init(cpu, in, &in->ops[0], &l);
	return interp_loc_write(cpu, &l, interp_cond(cpu, in->zi.opcode & 0xf));
}

static int x_cbw(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint64_t a = cpu->gpr[VSL_RAX];

	switch (in->zi.mnemonic) {
	case MN(CBW): interp_wr(cpu, RG(AX), interp_sext(a, 8)); break;
	case MN(CWDE): interp_wr(cpu, RG(EAX), interp_sext(a, 16)); break;
	case MN(CDQE): cpu->gpr[VSL_RAX] = interp_sext(a, 32); break;
	case MN(CWD): interp_wr(cpu, RG(DX), (a & 0x8000) ? 0xffff : 0); break;
	case MN(CDQ): interp_wr(cpu, RG(EDX), (a & 0x80000000u) ? 0xffffffffu : 0); break;
	default: cpu->gpr[VSL_RDX] = (a >> 63) ? ~0ull : 0; break;
	}
	return 0;
}

static int x_push(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	const struct vsl_op *s = &in->ops[0];
	unsigned bytes = in->zi.operand_width / 8;
	uint64_t v;

	if (s->type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
		v = s->imm.value.u;
	else if (interp_src(cpu, in, s, &v))
		return FAULT;
	return interp_push(cpu, v, bytes);
}

static int x_pop(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	const struct vsl_op *d = &in->ops[0];
	unsigned bytes = in->zi.operand_width / 8;
	uint64_t v;

	if (interp_peek(cpu, 0, &v, bytes))
		return FAULT;
	if (d->type == ZYDIS_OPERAND_TYPE_REGISTER && d->reg.value >= RG(ES) && d->reg.value <= RG(GS)) {
		int seg = d->reg.value - RG(ES);
		if (vsl_cpu_load_seg(cpu, seg, (uint16_t)v))
			return FAULT;
		interp_sp_add(cpu, bytes);
		if (seg == VSL_SS)
			cpu->intr_shadow = true;
		return 0;
	}
	if (d->type == ZYDIS_OPERAND_TYPE_MEMORY) {
		/* the address is computed with the incremented RSP */
		uint64_t old = cpu->gpr[VSL_RSP];
		interp_sp_add(cpu, bytes);
		uint64_t lin = interp_ea(cpu, in, d);
		if (vsl_cpu_write_lin(cpu, lin, &v, bytes)) {
			cpu->gpr[VSL_RSP] = old;
			return FAULT;
		}
		return 0;
	}
	interp_sp_add(cpu, bytes);
	interp_wr(cpu, d->reg.value, v);
	return 0;
}

static int x_pushf(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	return interp_push(cpu, cpu->rflags & ~(uint64_t)(VSL_FL_VM | VSL_FL_RF),
			   in->zi.operand_width / 8);
}

static int x_popf(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bytes = in->zi.operand_width / 8;
	uint64_t v;
	uint64_t mod = VSL_FL_ARITH | VSL_FL_TF | VSL_FL_DF | VSL_FL_NT | VSL_FL_AC | VSL_FL_ID;

	if (interp_peek(cpu, 0, &v, bytes))
		return FAULT;
	if (cpu->cpl == 0)
		mod |= VSL_FL_IOPL;
	if (cpu->cpl <= (int)((cpu->rflags >> 12) & 3))
		mod |= VSL_FL_IF;
	if (bytes == 2)
		mod &= 0xffff;
	interp_sp_add(cpu, bytes);
	cpu->rflags = (cpu->rflags & ~mod & ~(uint64_t)VSL_FL_RF) | (v & mod) | 2;
	return 0;
}

static int x_leave(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bytes = in->zi.operand_width / 8;
	uint64_t mask = vsl_cpu_stack_mask(cpu), v, old = cpu->gpr[VSL_RSP];

	cpu->gpr[VSL_RSP] = (old & ~mask) | (cpu->gpr[VSL_RBP] & mask);
	if (interp_peek(cpu, 0, &v, bytes)) {
		cpu->gpr[VSL_RSP] = old;
		return FAULT;
	}
	interp_sp_add(cpu, bytes);
	interp_wr(cpu, bytes == 8 ? RG(RBP) : bytes == 4 ? RG(EBP) : RG(BP), v);
	return 0;
}

static int x_enter(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bytes = in->zi.operand_width / 8;
	uint64_t size = in->ops[0].imm.value.u & 0xffff;
	unsigned level = in->ops[1].imm.value.u & 31;
	uint64_t mask = vsl_cpu_stack_mask(cpu);
	uint64_t old_rsp = cpu->gpr[VSL_RSP], old_rbp = cpu->gpr[VSL_RBP];
	uint64_t frame, v;

	if (interp_push(cpu, old_rbp, bytes))
		return FAULT;
	frame = cpu->gpr[VSL_RSP] & mask;
	for (unsigned i = 1; i < level; i++) {
		uint64_t lin = interp_ss_base(cpu) + ((old_rbp - i * bytes) & mask);
		v = 0;
		if (vsl_cpu_read_lin(cpu, lin, &v, bytes) || interp_push(cpu, v, bytes))
			goto fault;
	}
	if (level && interp_push(cpu, frame, bytes))
		goto fault;
	interp_wr(cpu, bytes == 8 ? RG(RBP) : bytes == 4 ? RG(EBP) : RG(BP), frame);
	cpu->gpr[VSL_RSP] = (cpu->gpr[VSL_RSP] & ~mask) | ((cpu->gpr[VSL_RSP] - size) & mask);
	return 0;
fault:
	cpu->gpr[VSL_RSP] = old_rsp;
	return FAULT;
}

static int x_movnti(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	return x_mov(cpu, in);
}

static int x_xlat(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	/* the memory operand is implicit: seg:[rBX + AL] */
	uint64_t off = (cpu->gpr[VSL_RBX] + (cpu->gpr[VSL_RAX] & 0xff)) & interp_mask(in->zi.address_width);
	uint64_t lin = off + interp_seg_base(cpu, in->zi.src_seg);
	uint8_t v;

	if (cpu->mode != VSL_MODE_LONG64)
		lin &= 0xffffffffull;
	if (vsl_cpu_read_lin(cpu, lin, &v, 1))
		return FAULT;
	interp_wr(cpu, RG(AL), v);
	return 0;
}

/* ------------------------------------------------------------------ */
/* arithmetic and logic */

static int x_alu(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	const struct vsl_op *d = &in->ops[0];
	unsigned bits = d->size;
	uint64_t m = interp_mask(bits), a, b, r, f, c;
	struct interp_loc l;

	interp_loc_init(cpu, in, d, &l);
	if (interp_loc_read(cpu, &l, &a))
		return FAULT;
	if (interp_src(cpu, in, &in->ops[1], &b))
		return FAULT;
	a &= m;
	b &= m;
	switch (in->zi.mnemonic) {
	case MN(ADD):
		r = (a + b) & m;
		f = interp_flags_add(a, b, r, bits);
		break;
	case MN(ADC):
		c = cpu->rflags & VSL_FL_CF;
		r = (a + b + c) & m;
		f = interp_flags_add(a, b, r, bits);
		break;
	case MN(SUB):
	case MN(CMP):
		r = (a - b) & m;
		f = interp_flags_sub(a, b, r, bits);
		break;
	case MN(SBB):
		c = cpu->rflags & VSL_FL_CF;
		r = (a - b - c) & m;
		f = interp_flags_sub(a, b, r, bits);
		break;
	case MN(AND):
	case MN(TEST):
		r = a & b;
		f = interp_szp(r, bits);
		break;
	case MN(OR):
		r = a | b;
		f = interp_szp(r, bits);
		break;
	default: /* XOR */
		r = a ^ b;
		f = interp_szp(r, bits);
		break;
	}
	if (in->zi.mnemonic != MN(CMP) && in->zi.mnemonic != MN(TEST))
		if (interp_loc_write(cpu, &l, r))
			return FAULT;
	interp_set_arith(cpu, f);
	return 0;
}

static int x_incdec(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bits = in->ops[0].size;
	uint64_t m = interp_mask(bits), a, r, f;
	struct interp_loc l;

	interp_loc_init(cpu, in, &in->ops[0], &l);
	if (interp_loc_read(cpu, &l, &a))
		return FAULT;
	a &= m;
	if (in->zi.mnemonic == MN(INC)) {
		r = (a + 1) & m;
		f = interp_flags_add(a, 1, r, bits);
	} else {
		r = (a - 1) & m;
		f = interp_flags_sub(a, 1, r, bits);
	}
	if (interp_loc_write(cpu, &l, r))
		return FAULT;
	f = (f & ~(uint64_t)VSL_FL_CF) | (cpu->rflags & VSL_FL_CF);
	interp_set_arith(cpu, f);
	return 0;
}

static int x_neg(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bits = in->ops[0].size;
	uint64_t m = interp_mask(bits), a, r;
	struct interp_loc l;

	interp_loc_init(cpu, in, &in->ops[0], &l);
	if (interp_loc_read(cpu, &l, &a))
		return FAULT;
	a &= m;
	r = (0 - a) & m;
	if (interp_loc_write(cpu, &l, r))
		return FAULT;
	interp_set_arith(cpu, interp_flags_sub(0, a, r, bits));
	return 0;
}

static int x_not(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint64_t a;
	struct interp_loc l;

	interp_loc_init(cpu, in, &in->ops[0], &l);
	if (interp_loc_read(cpu, &l, &a))
		return FAULT;
	return interp_loc_write(cpu, &l, ~a & interp_mask(in->ops[0].size));
}

static int x_xadd(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bits = in->ops[0].size;
	uint64_t m = interp_mask(bits), a, b, r;
	struct interp_loc l;

	interp_loc_init(cpu, in, &in->ops[0], &l);
	if (interp_loc_read(cpu, &l, &a))
		return FAULT;
	b = interp_rd(cpu, in->ops[1].reg.value) & m;
	a &= m;
	r = (a + b) & m;
	if (interp_loc_write(cpu, &l, r))
		return FAULT;
	if (l.mem || l.reg != in->ops[1].reg.value)
		interp_wr(cpu, in->ops[1].reg.value, a);
	else
		interp_wr(cpu, l.reg, r);
	interp_set_arith(cpu, interp_flags_add(a, b, r, bits));
	return 0;
}

static int x_cmpxchg(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bits = in->ops[0].size;
	uint64_t m = interp_mask(bits), d, acc, src, r;
	struct interp_loc l;
	ZydisRegister accr = bits == 64 ? RG(RAX) : bits == 32 ? RG(EAX) : bits == 16 ? RG(AX) : RG(AL);

	interp_loc_init(cpu, in, &in->ops[0], &l);
	if (interp_loc_read(cpu, &l, &d))
		return FAULT;
	d &= m;
	acc = interp_rd(cpu, accr) & m;
	src = interp_rd(cpu, in->ops[1].reg.value) & m;
	r = (acc - d) & m;
	if (acc == d) {
		if (interp_loc_write(cpu, &l, src))
			return FAULT;
	} else {
		/* the destination is always written (locked read-modify-write cycle) */
		if (l.mem && interp_loc_write(cpu, &l, d))
			return FAULT;
		interp_wr(cpu, accr, d);
	}
	interp_set_arith(cpu, interp_flags_sub(acc, d, r, bits));
	return 0;
}

static int x_cmpxchg8b(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	bool wide = in->zi.mnemonic == MN(CMPXCHG16B);
	unsigned half = wide ? 8 : 4;
	uint64_t lin = interp_ea(cpu, in, &in->ops[0]);
	uint64_t mem[2] = { 0, 0 }, cmp[2], nv[2];
	uint64_t hm = interp_mask(half * 8);

	if (wide && (lin & 15))
		return interp_gp0(cpu);
	if (vsl_cpu_read_lin(cpu, lin, mem, half * 2))
		return FAULT;
	uint64_t lo = wide ? mem[0] : (mem[0] & hm), hi = wide ? mem[1] : (mem[0] >> 32);
	cmp[0] = cpu->gpr[VSL_RAX] & hm;
	cmp[1] = cpu->gpr[VSL_RDX] & hm;
	if (lo == cmp[0] && hi == cmp[1]) {
		nv[0] = cpu->gpr[VSL_RBX] & hm;
		nv[1] = cpu->gpr[VSL_RCX] & hm;
		if (!wide) {
			nv[0] |= nv[1] << 32;
		}
		if (vsl_cpu_write_lin(cpu, lin, nv, half * 2))
			return FAULT;
		cpu->rflags |= VSL_FL_ZF;
	} else {
		if (vsl_cpu_write_lin(cpu, lin, mem, half * 2))
			return FAULT;
		cpu->gpr[VSL_RAX] = lo;
		cpu->gpr[VSL_RDX] = hi;
		cpu->rflags &= ~(uint64_t)VSL_FL_ZF;
	}
	return 0;
}

/* shifts and rotates */
static int x_shift(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bits = in->ops[0].size;
	uint64_t m = interp_mask(bits), a, cnt, r, f = cpu->rflags;
	uint64_t msb = 1ull << (bits - 1);
	struct interp_loc l;
	ZydisMnemonic mn = in->zi.mnemonic;

	interp_loc_init(cpu, in, &in->ops[0], &l);
	if (interp_loc_read(cpu, &l, &a))
		return FAULT;
	if (interp_src(cpu, in, &in->ops[1], &cnt))
		return FAULT;
	a &= m;
	cnt &= bits == 64 ? 63 : 31;
	if (!cnt)
		return l.mem ? 0 : (l.bytes == 4 ? interp_loc_write(cpu, &l, a) : 0);
	bool cf = f & VSL_FL_CF, of;
	switch (mn) {
	case MN(SHL):
		r = cnt >= bits ? 0 : (a << cnt) & m;
		cf = cnt <= bits ? (a >> (bits - cnt)) & 1 : 0;
		of = !!(r & msb) != cf;
		f = interp_szp(r, bits) | (cf ? VSL_FL_CF : 0) | (of ? VSL_FL_OF : 0);
		break;
	case MN(SHR):
		r = cnt >= bits ? 0 : a >> cnt;
		cf = cnt <= bits ? (a >> (cnt - 1)) & 1 : 0;
		of = !!(a & msb);
		f = interp_szp(r, bits) | (cf ? VSL_FL_CF : 0) | (of ? VSL_FL_OF : 0);
		break;
	case MN(SAR): {
		int64_t s = (int64_t)interp_sext(a, bits);
		unsigned c = cnt >= bits ? bits - 1 : (unsigned)cnt;
		r = (uint64_t)(s >> c) & m;
		cf = (uint64_t)(s >> (cnt >= bits ? bits - 1 : cnt - 1)) & 1;
		f = interp_szp(r, bits) | (cf ? VSL_FL_CF : 0);
		break;
	}
	case MN(ROL): {
		unsigned c = cnt % bits;
		r = c ? ((a << c) | (a >> (bits - c))) & m : a;
		cf = r & 1;
		of = !!(r & msb) != cf;
		f = (f & ~(uint64_t)(VSL_FL_CF | VSL_FL_OF)) | (cf ? VSL_FL_CF : 0) | (of ? VSL_FL_OF : 0);
		break;
	}
	case MN(ROR): {
		unsigned c = cnt % bits;
		r = c ? ((a >> c) | (a << (bits - c))) & m : a;
		cf = !!(r & msb);
		of = cf != !!(r & (msb >> 1));
		f = (f & ~(uint64_t)(VSL_FL_CF | VSL_FL_OF)) | (cf ? VSL_FL_CF : 0) | (of ? VSL_FL_OF : 0);
		break;
	}
	case MN(RCL):
	case MN(RCR): {
		unsigned c = bits < 32 ? cnt % (bits + 1) : (unsigned)cnt;
		unsigned __int128 w = ((unsigned __int128)(cf ? 1 : 0) << bits) | a; /* bits+1 wide */
		unsigned __int128 wm = ((unsigned __int128)1 << (bits + 1)) - 1;
		bool oldcf = cf;
		if (mn == MN(RCL))
			w = ((w << c) | (w >> (bits + 1 - c))) & wm;
		else
			w = ((w >> c) | (w << (bits + 1 - c))) & wm;
		if (!c)
			w = ((unsigned __int128)(oldcf ? 1 : 0) << bits) | a;
		r = (uint64_t)w & m;
		cf = (w >> bits) & 1;
		if (mn == MN(RCL))
			of = !!(r & msb) != cf;
		else
			of = !!(a & msb) != oldcf;
		f = (f & ~(uint64_t)(VSL_FL_CF | VSL_FL_OF)) | (cf ? VSL_FL_CF : 0) | (of ? VSL_FL_OF : 0);
		break;
	}
	default:
		return interp_ud(cpu);
	}
	if (interp_loc_write(cpu, &l, r))
		return FAULT;
	/* shifts: AF is undefined and Intel cores leave it clear; rotates keep SF/ZF/AF/PF */
	interp_set_arith(cpu, f & VSL_FL_ARITH);
	return 0;
}

static int x_shd(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bits = in->ops[0].size;
	uint64_t m = interp_mask(bits), a, b, cnt, r;
	struct interp_loc l;
	bool left = in->zi.mnemonic == MN(SHLD), cf, of;

	interp_loc_init(cpu, in, &in->ops[0], &l);
	if (interp_loc_read(cpu, &l, &a))
		return FAULT;
	b = interp_rd(cpu, in->ops[1].reg.value);
	if (interp_src(cpu, in, &in->ops[2], &cnt))
		return FAULT;
	a &= m;
	b &= m;
	cnt &= bits == 64 ? 63 : 31;
	if (!cnt)
		return l.mem ? 0 : (l.bytes == 4 ? interp_loc_write(cpu, &l, a) : 0);
	if (bits == 16) {
		/* count > 16 is undefined; Intel shifts the 48-bit pattern a:b:a */
		uint64_t t = (a << 32) | (b << 16) | a;
		if (left) {
			r = ((t << cnt) >> 32) & 0xffff;
			cf = (t >> (48 - cnt)) & 1;
		} else {
			r = (t >> cnt) & 0xffff;
			cf = (t >> (cnt - 1)) & 1;
		}
	} else if (left) {
		r = ((a << cnt) | (b >> (bits - cnt))) & m;
		cf = (a >> (bits - cnt)) & 1;
	} else {
		r = ((a >> cnt) | (b << (bits - cnt))) & m;
		cf = (a >> (cnt - 1)) & 1;
	}
	of = ((r ^ a) >> (bits - 1)) & 1;
	if (interp_loc_write(cpu, &l, r))
		return FAULT;
	interp_set_arith(cpu, interp_szp(r, bits) | (cf ? VSL_FL_CF : 0) | (of ? VSL_FL_OF : 0));
	return 0;
}

/* MUL, IMUL (1, 2 and 3 operands), DIV, IDIV */
static int x_muldiv(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	ZydisMnemonic mn = in->zi.mnemonic;
	unsigned bits, vis = in->zi.operand_count_visible;
	uint64_t m, s;

	if (mn == MN(IMUL) && vis >= 2) {
		uint64_t a, b;
		bits = in->ops[0].size;
		m = interp_mask(bits);
		if (vis == 3) {
			if (interp_src(cpu, in, &in->ops[1], &a))
				return FAULT;
			b = in->ops[2].imm.value.u;
		} else {
			a = interp_rd(cpu, in->ops[0].reg.value);
			if (interp_src(cpu, in, &in->ops[1], &b))
				return FAULT;
		}
		__int128 p = (__int128)(int64_t)interp_sext(a & m, bits) * (int64_t)interp_sext(b & m, bits);
		uint64_t r = (uint64_t)p & m;
		bool ovf = (__int128)(int64_t)interp_sext(r, bits) != p;
		interp_wr(cpu, in->ops[0].reg.value, r);
		interp_set_arith(cpu, (interp_szp(r, bits) & ~(uint64_t)VSL_FL_ZF & ~(uint64_t)VSL_FL_PF) |
				 (interp_szp(r, bits) & VSL_FL_PF) | (ovf ? VSL_FL_CF | VSL_FL_OF : 0) |
				 (cpu->rflags & VSL_FL_ZF));
		return 0;
	}
	bits = in->ops[0].size;
	m = interp_mask(bits);
	if (interp_src(cpu, in, &in->ops[0], &s))
		return FAULT;
	s &= m;
	uint64_t lo, hi;
	if (bits == 8) {
		lo = cpu->gpr[VSL_RAX] & 0xff;
		hi = (cpu->gpr[VSL_RAX] >> 8) & 0xff;
	} else {
		lo = cpu->gpr[VSL_RAX] & m;
		hi = cpu->gpr[VSL_RDX] & m;
	}
	uint64_t rlo, rhi;
	uint64_t f;
	switch (mn) {
	case MN(MUL): {
		unsigned __int128 p = (unsigned __int128)lo * s;
		rlo = (uint64_t)p & m;
		rhi = bits == 64 ? (uint64_t)(p >> 64) : (uint64_t)(p >> bits) & m;
		f = (interp_szp(rlo, bits) & (VSL_FL_SF | VSL_FL_PF)) | (cpu->rflags & VSL_FL_ZF) |
		    (rhi ? VSL_FL_CF | VSL_FL_OF : 0);
		break;
	}
	case MN(IMUL): {
		__int128 p = (__int128)(int64_t)interp_sext(lo, bits) * (int64_t)interp_sext(s, bits);
		rlo = (uint64_t)p & m;
		rhi = bits == 64 ? (uint64_t)((unsigned __int128)p >> 64) : (uint64_t)(p >> bits) & m;
		bool ovf = (__int128)(int64_t)interp_sext(rlo, bits) != p;
		f = (interp_szp(rlo, bits) & (VSL_FL_SF | VSL_FL_PF)) | (cpu->rflags & VSL_FL_ZF) |
		    (ovf ? VSL_FL_CF | VSL_FL_OF : 0);
		break;
	}
	case MN(DIV): {
		if (!s)
			return vsl_cpu_raise(cpu, VSL_EXC_DE, false, 0);
		unsigned __int128 n = bits == 64 ? ((unsigned __int128)hi << 64) | lo :
						   ((unsigned __int128)hi << bits) | lo;
		unsigned __int128 q = n / s;
		if (q > m)
			return vsl_cpu_raise(cpu, VSL_EXC_DE, false, 0);
		rlo = (uint64_t)q;
		rhi = (uint64_t)(n % s);
		f = cpu->rflags & VSL_FL_ARITH;
		break;
	}
	default: { /* IDIV */
		if (!s)
			return vsl_cpu_raise(cpu, VSL_EXC_DE, false, 0);
		__int128 n;
		if (bits == 64)
			n = (__int128)(((unsigned __int128)hi << 64) | lo);
		else
			n = (__int128)(int64_t)interp_sext((hi << bits) | lo, bits * 2);
		__int128 d = (int64_t)interp_sext(s, bits);
		if (bits == 64 && d == -1 && hi == (1ull << 63) && lo == 0)
			return vsl_cpu_raise(cpu, VSL_EXC_DE, false, 0);
		__int128 q = n / d, rem = n % d;
		__int128 lim = (__int128)1 << (bits - 1);
		if (q >= lim || q < -lim)
			return vsl_cpu_raise(cpu, VSL_EXC_DE, false, 0);
		rlo = (uint64_t)q & m;
		rhi = (uint64_t)rem & m;
		f = cpu->rflags & VSL_FL_ARITH;
		break;
	}
	}
	if (bits == 8) {
		interp_wr(cpu, RG(AX), (rhi << 8) | rlo);
	} else {
		ZydisRegister a = bits == 64 ? RG(RAX) : bits == 32 ? RG(EAX) : RG(AX);
		ZydisRegister d = bits == 64 ? RG(RDX) : bits == 32 ? RG(EDX) : RG(DX);
		interp_wr(cpu, a, rlo);
		interp_wr(cpu, d, rhi);
	}
	interp_set_arith(cpu, f);
	return 0;
}

/* ------------------------------------------------------------------ */
/* bit operations */

static int x_bt(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	const struct vsl_op *d = &in->ops[0], *s = &in->ops[1];
	unsigned bits = d->size;
	uint64_t off, v, bit;
	struct interp_loc l;
	ZydisMnemonic mn = in->zi.mnemonic;

	if (interp_src(cpu, in, s, &off))
		return FAULT;
	interp_loc_init(cpu, in, d, &l);
	if (s->type == ZYDIS_OPERAND_TYPE_IMMEDIATE || !l.mem) {
		off &= bits - 1;
	} else {
		int64_t so = (int64_t)interp_sext(off, s->size);
		int64_t word = so >> (bits == 64 ? 6 : bits == 32 ? 5 : 4);
		l.lin += (uint64_t)(word * (int64_t)(bits / 8));
		if (cpu->mode != VSL_MODE_LONG64)
			l.lin &= 0xffffffffull;
		off = (uint64_t)so & (bits - 1);
	}
	if (interp_loc_read(cpu, &l, &v))
		return FAULT;
	bit = (v >> off) & 1;
	if (mn != MN(BT)) {
		if (mn == MN(BTS))
			v |= 1ull << off;
		else if (mn == MN(BTR))
			v &= ~(1ull << off);
		else
			v ^= 1ull << off;
		if (interp_loc_write(cpu, &l, v & interp_mask(bits)))
			return FAULT;
	}
	cpu->rflags = (cpu->rflags & ~(uint64_t)VSL_FL_CF) | bit;
	return 0;
}

static int x_bsf(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned bits = in->ops[0].size;
	uint64_t v;

	if (interp_src(cpu, in, &in->ops[1], &v))
		return FAULT;
	v &= interp_mask(bits);
	if (!v) {
		cpu->rflags |= VSL_FL_ZF;
		return 0;
	}
	cpu->rflags &= ~(uint64_t)VSL_FL_ZF;
	if (in->zi.mnemonic == MN(BSF))
		interp_wr(cpu, in->ops[0].reg.value, (uint64_t)__builtin_ctzll(v));
	else
		interp_wr(cpu, in->ops[0].reg.value, 63 - (uint64_t)__builtin_clzll(v));
	return 0;
}

static int x_popcnt(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint64_t v;

	if (interp_src(cpu, in, &in->ops[1], &v))
		return FAULT;
	v &= interp_mask(in->ops[0].size);
	interp_wr(cpu, in->ops[0].reg.value, (uint64_t)__builtin_popcountll(v));
	interp_set_arith(cpu, v ? 0 : VSL_FL_ZF);
	return 0;
}

/* ------------------------------------------------------------------ */
/* control flow */

static int x_jcc(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	if (!interp_cond(cpu, in->zi.opcode & 0xf))
		return 0;
	return interp_jump(cpu, in, cpu->rip + in->ops[0].imm.value.u);
}

static int x_jmp(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	const struct vsl_op *op = &in->ops[0];
	uint64_t t;

	if (op->type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
		return interp_jump(cpu, in, cpu->rip + op->imm.value.u);
	if (op->type == ZYDIS_OPERAND_TYPE_POINTER)
		return vsl_cpu_far_jump(cpu, op->ptr.segment, op->ptr.offset, false,
					in->zi.operand_width / 8);
	if (in->zi.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) {
		unsigned n = in->zi.operand_width / 8;
		uint64_t lin = interp_ea(cpu, in, op), off = 0;
		uint16_t sel;
		if (vsl_cpu_read_lin(cpu, lin, &off, n) || vsl_cpu_read_lin(cpu, lin + n, &sel, 2))
			return FAULT;
		return vsl_cpu_far_jump(cpu, sel, off, false, n);
	}
	if (interp_src(cpu, in, op, &t))
		return FAULT;
	return interp_jump(cpu, in, t);
}

static int x_call(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	const struct vsl_op *op = &in->ops[0];
	unsigned n = in->zi.operand_width / 8;
	uint64_t t, old_rsp = cpu->gpr[VSL_RSP];

	if (op->type == ZYDIS_OPERAND_TYPE_POINTER)
		return vsl_cpu_far_jump(cpu, op->ptr.segment, op->ptr.offset, true, n);
	if (in->zi.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) {
		uint64_t lin = interp_ea(cpu, in, op), off = 0;
		uint16_t sel;
		if (vsl_cpu_read_lin(cpu, lin, &off, n) || vsl_cpu_read_lin(cpu, lin + n, &sel, 2))
			return FAULT;
		return vsl_cpu_far_jump(cpu, sel, off, true, n);
	}
	if (op->type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
		t = cpu->rip + op->imm.value.u;
	else if (interp_src(cpu, in, op, &t))
		return FAULT;
	if (interp_push(cpu, cpu->rip, n))
		return FAULT;
	if (interp_jump(cpu, in, t)) {
		cpu->gpr[VSL_RSP] = old_rsp;
		return FAULT;
	}
	return 0;
}

static int x_ret(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned n = in->zi.operand_width / 8;
	uint64_t imm = 0, t;

	if (in->zi.operand_count_visible && in->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
		imm = in->ops[0].imm.value.u & 0xffff;
	if (in->zi.opcode == 0xca || in->zi.opcode == 0xcb)
		return vsl_cpu_far_return(cpu, n, (unsigned)imm, false);
	if (interp_peek(cpu, 0, &t, n))
		return FAULT;
	if (interp_jump(cpu, in, t))
		return FAULT;
	interp_sp_add(cpu, n + imm);
	return 0;
}

static int x_iret(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	return vsl_cpu_far_return(cpu, in->zi.operand_width / 8, 0, true);
}

static int x_loop(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	unsigned aw = in->zi.address_width;
	uint64_t m = interp_mask(aw);
	uint64_t c = (cpu->gpr[VSL_RCX] - 1) & m;
	bool take;

	interp_wr(cpu, aw == 64 ? RG(RCX) : aw == 32 ? RG(ECX) : RG(CX), c);
	switch (in->zi.mnemonic) {
	case MN(LOOPE): take = c && (cpu->rflags & VSL_FL_ZF); break;
	case MN(LOOPNE): take = c && !(cpu->rflags & VSL_FL_ZF); break;
	default: take = c != 0; break;
	}
	if (!take)
		return 0;
	return interp_jump(cpu, in, cpu->rip + in->ops[0].imm.value.u);
}

static int x_jrcxz(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	if (cpu->gpr[VSL_RCX] & interp_mask(in->zi.address_width))
		return 0;
	return interp_jump(cpu, in, cpu->rip + in->ops[0].imm.value.u);
}

static int x_int(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	int vec;

	switch (in->zi.mnemonic) {
	case MN(INT3): vec = VSL_EXC_BP; break;
	case MN(INTO):
		if (!(cpu->rflags & VSL_FL_OF))
			return 0;
		vec = VSL_EXC_OF;
		break;
	case MN(INT1):
		vsl_cpu_raise(cpu, VSL_EXC_DB, false, 0);
		cpu->exc_trap = true;
		return FAULT;
	default: vec = (int)(in->ops[0].imm.value.u & 0xff); break;
	}
	vsl_cpu_raise(cpu, vec, false, 0);
	cpu->exc_soft = true;
	return FAULT;
}

static int x_ud(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	return interp_ud(cpu);
}

static int x_nop(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	return 0;
}

/*
 * I/O permission: CPL <= IOPL (or real mode) allows any port; otherwise
 * every bit for port..port+size-1 in the TSS I/O bitmap (base at TSS+0x66)
 * must be clear, else #GP(0). Returns 0 or VSL_CPU_FAULT.
 */
static int interp_io_allowed(struct vsl_cpu *cpu, uint16_t port, unsigned size)
{
	uint16_t base, bits;

	if (cpu->mode == VSL_MODE_REAL || cpu->cpl <= (int)((cpu->rflags >> 12) & 3))
		return 0;
	/* a 32/64-bit TSS is required and the bitmap must lie within its limit */
	if ((cpu->tr.attr & 0xd) != 0x9 || cpu->tr.limit < 0x67)
		return interp_gp0(cpu);
	if (vsl_mmu_read(cpu, cpu->tr.base + 0x66, &base, 2, VSL_ACC_SUPER))
		return FAULT;
	uint32_t off = (uint32_t)base + port / 8;
	if (off + 1 > cpu->tr.limit)
		return interp_gp0(cpu);
	if (vsl_mmu_read(cpu, cpu->tr.base + off, &bits, 2, VSL_ACC_SUPER))
		return FAULT;
	if ((bits >> (port & 7)) & ((1u << size) - 1))
		return interp_gp0(cpu);
	return 0;
}

/* ------------------------------------------------------------------ */
/* strings */

static int x_string(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	ZydisMnemonic mn = in->zi.mnemonic;
	unsigned aw = in->zi.address_width;
	uint64_t am = interp_mask(aw);
	unsigned sz;
	bool rep = in->zi.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE);
	bool repne = in->zi.attributes & ZYDIS_ATTRIB_HAS_REPNE;
	ZydisRegister src_seg = RG(DS);
	int kind; /* 0 movs 1 stos 2 lods 3 scas 4 cmps 5 ins 6 outs */

	/* SSE MOVSD/CMPSD share the mnemonic with the string instructions */
	if (in->zi.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT)
		return 1;
	switch (mn) {
	case MN(MOVSB): case MN(MOVSW): case MN(MOVSD): case MN(MOVSQ): kind = 0; break;
	case MN(STOSB): case MN(STOSW): case MN(STOSD): case MN(STOSQ): kind = 1; break;
	case MN(LODSB): case MN(LODSW): case MN(LODSD): case MN(LODSQ): kind = 2; break;
	case MN(SCASB): case MN(SCASW): case MN(SCASD): case MN(SCASQ): kind = 3; break;
	case MN(CMPSB): case MN(CMPSW): case MN(CMPSD): case MN(CMPSQ): kind = 4; break;
	case MN(INSB): case MN(INSW): case MN(INSD): kind = 5; break;
	default: kind = 6; break;
	}
	switch (mn) {
	case MN(MOVSB): case MN(STOSB): case MN(LODSB): case MN(SCASB): case MN(CMPSB):
	case MN(INSB): case MN(OUTSB): sz = 1; break;
	case MN(MOVSW): case MN(STOSW): case MN(LODSW): case MN(SCASW): case MN(CMPSW):
	case MN(INSW): case MN(OUTSW): sz = 2; break;
	case MN(MOVSQ): case MN(STOSQ): case MN(LODSQ): case MN(SCASQ): case MN(CMPSQ): sz = 8; break;
	default: sz = 4; break;
	}
	src_seg = in->zi.src_seg;
	if (kind >= 5 && interp_io_allowed(cpu, (uint16_t)cpu->gpr[VSL_RDX], sz))
		return FAULT;
	if (kind >= 5)
		cpu->irq_poll = true;
	uint64_t src_base = interp_seg_base(cpu, src_seg);
	uint64_t dst_base = cpu->mode == VSL_MODE_LONG64 ? 0 : cpu->seg[VSL_ES].base;
	int64_t step = (cpu->rflags & VSL_FL_DF) ? -(int64_t)sz : (int64_t)sz;
	ZydisRegister rsi = aw == 64 ? RG(RSI) : aw == 32 ? RG(ESI) : RG(SI);
	ZydisRegister rdi = aw == 64 ? RG(RDI) : aw == 32 ? RG(EDI) : RG(DI);
	ZydisRegister rcx = aw == 64 ? RG(RCX) : aw == 32 ? RG(ECX) : RG(CX);
	ZydisRegister acc = sz == 8 ? RG(RAX) : sz == 4 ? RG(EAX) : sz == 2 ? RG(AX) : RG(AL);
	uint64_t lm = cpu->mode == VSL_MODE_LONG64 ? ~0ull : 0xffffffffull;
	unsigned budget = 1u << 16;

	while (!rep || (cpu->gpr[VSL_RCX] & am)) {
		uint64_t si = cpu->gpr[VSL_RSI] & am, di = cpu->gpr[VSL_RDI] & am;
		uint64_t a = 0, b = 0;
		bool stop = false;

		switch (kind) {
		case 0:
			if (vsl_cpu_read_lin(cpu, (src_base + si) & lm, &a, sz) ||
			    vsl_cpu_write_lin(cpu, (dst_base + di) & lm, &a, sz))
				return FAULT;
			interp_wr(cpu, rsi, si + step);
			interp_wr(cpu, rdi, di + step);
			break;
		case 1:
			a = cpu->gpr[VSL_RAX];
			if (vsl_cpu_write_lin(cpu, (dst_base + di) & lm, &a, sz))
				return FAULT;
			interp_wr(cpu, rdi, di + step);
			break;
		case 2:
			if (vsl_cpu_read_lin(cpu, (src_base + si) & lm, &a, sz))
				return FAULT;
			interp_wr(cpu, acc, a);
			interp_wr(cpu, rsi, si + step);
			break;
		case 3:
			if (vsl_cpu_read_lin(cpu, (dst_base + di) & lm, &b, sz))
				return FAULT;
			a = cpu->gpr[VSL_RAX] & interp_mask(sz * 8);
			interp_set_arith(cpu, interp_flags_sub(a, b, (a - b) & interp_mask(sz * 8), sz * 8));
			interp_wr(cpu, rdi, di + step);
			stop = true;
			break;
		case 4:
			if (vsl_cpu_read_lin(cpu, (src_base + si) & lm, &a, sz) ||
			    vsl_cpu_read_lin(cpu, (dst_base + di) & lm, &b, sz))
				return FAULT;
			interp_set_arith(cpu, interp_flags_sub(a, b, (a - b) & interp_mask(sz * 8), sz * 8));
			interp_wr(cpu, rsi, si + step);
			interp_wr(cpu, rdi, di + step);
			stop = true;
			break;
		case 5: {
			uint16_t port = (uint16_t)cpu->gpr[VSL_RDX];
			unsigned lg = sz == 4 ? 2 : sz == 2 ? 1 : 0;
			/* probe the destination before the (side-effecting) port read */
			if (vsl_cpu_write_lin(cpu, (dst_base + di) & lm, &b, 0) ||
			    vsl_cpu_read_lin(cpu, (dst_base + di) & lm, &b, sz))
				return FAULT;
			cpu->st.io++;
			if (!cpu->env.io || !vsl_bus_read(cpu->env.io, port, lg, &a))
				a = ~0ull;
			if (vsl_cpu_write_lin(cpu, (dst_base + di) & lm, &a, sz))
				return FAULT;
			interp_wr(cpu, rdi, di + step);
			break;
		}
		default: {
			uint16_t port = (uint16_t)cpu->gpr[VSL_RDX];
			unsigned lg = sz == 4 ? 2 : sz == 2 ? 1 : 0;
			if (vsl_cpu_read_lin(cpu, (src_base + si) & lm, &a, sz))
				return FAULT;
			cpu->st.io++;
			if (cpu->env.io)
				vsl_bus_write(cpu->env.io, port, lg, a & interp_mask(sz * 8));
			interp_wr(cpu, rsi, si + step);
			break;
		}
		}
		if (!rep)
			break;
		interp_wr(cpu, rcx, (cpu->gpr[VSL_RCX] - 1) & am);
		if (stop) {
			bool zf = cpu->rflags & VSL_FL_ZF;
			if (repne ? zf : !zf)
				break;
		}
		if (--budget == 0) {
			/* let interrupts in: resume this instruction later */
			if (cpu->gpr[VSL_RCX] & am)
				cpu->rip = in->rip;
			break;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* flags */

static int x_flagop(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	switch (in->zi.mnemonic) {
	case MN(CLC): cpu->rflags &= ~(uint64_t)VSL_FL_CF; break;
	case MN(STC): cpu->rflags |= VSL_FL_CF; break;
	case MN(CMC): cpu->rflags ^= VSL_FL_CF; break;
	case MN(CLD): cpu->rflags &= ~(uint64_t)VSL_FL_DF; break;
	case MN(STD): cpu->rflags |= VSL_FL_DF; break;
	case MN(CLI):
	case MN(STI):
		if (cpu->mode != VSL_MODE_REAL && cpu->cpl > (int)((cpu->rflags >> 12) & 3))
			return interp_gp0(cpu);
		if (in->zi.mnemonic == MN(CLI)) {
			cpu->rflags &= ~(uint64_t)VSL_FL_IF;
		} else {
			if (!(cpu->rflags & VSL_FL_IF))
				cpu->intr_shadow = true;
			cpu->rflags |= VSL_FL_IF;
		}
		break;
	case MN(SAHF): {
		uint64_t ah = (cpu->gpr[VSL_RAX] >> 8) & 0xff;
		uint64_t m = VSL_FL_SF | VSL_FL_ZF | VSL_FL_AF | VSL_FL_PF | VSL_FL_CF;
		cpu->rflags = (cpu->rflags & ~m) | (ah & m);
		break;
	}
	default: { /* LAHF */
		uint64_t ah = (cpu->rflags & (VSL_FL_SF | VSL_FL_ZF | VSL_FL_AF | VSL_FL_PF | VSL_FL_CF)) | 2;
		interp_wr(cpu, RG(AH), ah);
		break;
	}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* I/O */

static int x_inout(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	bool is_in = in->zi.mnemonic == MN(IN);
	const struct vsl_op *data = is_in ? &in->ops[0] : &in->ops[1];
	const struct vsl_op *port_op = is_in ? &in->ops[1] : &in->ops[0];
	uint64_t port, v;
	unsigned sz = data->size / 8, lg = sz == 4 ? 2 : sz == 2 ? 1 : 0;

	interp_src(cpu, in, port_op, &port);
	port &= 0xffff;
	if (interp_io_allowed(cpu, (uint16_t)port, sz))
		return FAULT;
	cpu->st.io++;
	cpu->irq_poll = true;
	if (is_in) {
		if (!cpu->env.io || !vsl_bus_read(cpu->env.io, port, lg, &v))
			v = ~0ull;
		interp_wr(cpu, data->reg.value, v & interp_mask(sz * 8));
	} else {
		v = interp_rd(cpu, data->reg.value);
		if (cpu->env.io)
			vsl_bus_write(cpu->env.io, port, lg, v & interp_mask(sz * 8));
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* system instructions */

static int x_cpuid(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint32_t r[4];

	cpu->st.cpuid++;
	vsl_cpu_cpuid(cpu, (uint32_t)cpu->gpr[VSL_RAX], (uint32_t)cpu->gpr[VSL_RCX], r);
	cpu->gpr[VSL_RAX] = r[0];
	cpu->gpr[VSL_RBX] = r[1];
	cpu->gpr[VSL_RCX] = r[2];
	cpu->gpr[VSL_RDX] = r[3];
	return 0;
}

static int x_rdtsc(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	if ((cpu->cr4 & VSL_CR4_TSD) && cpu->cpl)
		return interp_gp0(cpu);
	uint64_t t = vsl_cpu_tsc(cpu);
	cpu->gpr[VSL_RAX] = (uint32_t)t;
	cpu->gpr[VSL_RDX] = t >> 32;
	if (in->zi.mnemonic == MN(RDTSCP))
		cpu->gpr[VSL_RCX] = (uint32_t)cpu->tsc_aux;
	return 0;
}

static int x_msr(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint32_t msr = (uint32_t)cpu->gpr[VSL_RCX];
	uint64_t v;

	if (cpu->cpl)
		return interp_gp0(cpu);
	cpu->st.msr++;
	if (in->zi.mnemonic == MN(RDMSR)) {
		if (vsl_cpu_rdmsr(cpu, msr, &v))
			return FAULT;
		cpu->gpr[VSL_RAX] = (uint32_t)v;
		cpu->gpr[VSL_RDX] = v >> 32;
		return 0;
	}
	v = (uint32_t)cpu->gpr[VSL_RAX] | (cpu->gpr[VSL_RDX] << 32);
	cpu->irq_poll = true;
	return vsl_cpu_wrmsr(cpu, msr, v);
}

static int x_hlt(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	if (cpu->cpl)
		return interp_gp0(cpu);
	cpu->st.hlt++;
	cpu->halted = true;
	cpu->irq_poll = true; /* an interrupt may already be waiting */
	return 0;
}

static int x_syscall(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	if (!(cpu->efer & VSL_EFER_SCE) || !(cpu->efer & VSL_EFER_LMA))
		return interp_ud(cpu);
	uint16_t sel = (uint16_t)(cpu->star >> 32);
	cpu->gpr[VSL_RCX] = cpu->rip;
	cpu->gpr[VSL_R11] = cpu->rflags & ~(uint64_t)VSL_FL_RF;
	cpu->rflags &= ~(cpu->sfmask | VSL_FL_RF);
	cpu->rflags |= 2;
	cpu->seg[VSL_CS] = (struct vsl_seg){ .sel = sel & 0xfffc, .base = 0, .limit = 0xffffffff,
		.attr = 0x9b | VSL_SEG_L | VSL_SEG_G };
	cpu->seg[VSL_SS] = (struct vsl_seg){ .sel = (uint16_t)((sel + 8) & 0xfffc), .base = 0,
		.limit = 0xffffffff, .attr = 0x93 | VSL_SEG_DB | VSL_SEG_G };
	vsl_cpu_update_mode(cpu);
	cpu->rip = cpu->mode == VSL_MODE_LONG64 && in->zi.machine_mode == ZYDIS_MACHINE_MODE_LONG_64 ?
		cpu->lstar : cpu->cstar;
	if (in->zi.machine_mode != ZYDIS_MACHINE_MODE_LONG_64)
		cpu->rip = cpu->cstar;
	else
		cpu->rip = cpu->lstar;
	return 0;
}

static int x_sysret(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	if (!(cpu->efer & VSL_EFER_SCE) || !(cpu->efer & VSL_EFER_LMA))
		return interp_ud(cpu);
	if (cpu->cpl || cpu->mode != VSL_MODE_LONG64)
		return interp_gp0(cpu);
	bool to64 = in->zi.operand_width == 64;
	uint16_t sel = (uint16_t)(cpu->star >> 48);
	if (to64 && !interp_canonical(cpu->gpr[VSL_RCX]))
		return interp_gp0(cpu);
	if (to64) {
		cpu->seg[VSL_CS] = (struct vsl_seg){ .sel = (uint16_t)((sel + 16) | 3), .base = 0,
			.limit = 0xffffffff, .attr = 0xfb | VSL_SEG_L | VSL_SEG_G };
		cpu->rip = cpu->gpr[VSL_RCX];
	} else {
		cpu->seg[VSL_CS] = (struct vsl_seg){ .sel = (uint16_t)(sel | 3), .base = 0,
			.limit = 0xffffffff, .attr = 0xfb | VSL_SEG_DB | VSL_SEG_G };
		cpu->rip = (uint32_t)cpu->gpr[VSL_RCX];
	}
	/* SS keeps its cached attributes except the selector and DPL (Intel) */
	cpu->seg[VSL_SS].sel = (uint16_t)((sel + 8) | 3);
	cpu->seg[VSL_SS].attr = (uint16_t)((cpu->seg[VSL_SS].attr & ~(3u << VSL_SEG_DPL_SHIFT)) |
					   (3u << VSL_SEG_DPL_SHIFT));
	cpu->rflags = (cpu->gpr[VSL_R11] & 0x3c7fd7ull) | 2;
	vsl_cpu_update_mode(cpu);
	return 0;
}

static int x_swapgs(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	if (cpu->cpl)
		return interp_gp0(cpu);
	uint64_t t = cpu->seg[VSL_GS].base;
	cpu->seg[VSL_GS].base = cpu->kernel_gs_base;
	cpu->kernel_gs_base = t;
	return 0;
}

static int x_dtable(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	ZydisMnemonic mn = in->zi.mnemonic;
	uint64_t lin = interp_ea(cpu, in, &in->ops[0]);
	unsigned bn = cpu->mode == VSL_MODE_LONG64 ? 8 : 4;
	struct vsl_dtable *dt = (mn == MN(LGDT) || mn == MN(SGDT)) ? &cpu->gdtr : &cpu->idtr;

	if (mn == MN(LGDT) || mn == MN(LIDT)) {
		uint16_t limit;
		uint64_t base = 0;
		if (cpu->cpl)
			return interp_gp0(cpu);
		if (vsl_cpu_read_lin(cpu, lin, &limit, 2) || vsl_cpu_read_lin(cpu, lin + 2, &base, bn))
			return FAULT;
		if (bn == 4 && in->zi.operand_width == 16)
			base &= 0xffffff;
		if (bn == 8 && !interp_canonical(base))
			return interp_gp0(cpu);
		dt->base = base;
		dt->limit = limit;
		return 0;
	}
	uint8_t buf[10];
	memcpy(buf, &dt->limit, 2);
	memcpy(buf + 2, &dt->base, 8);
	return vsl_cpu_write_lin(cpu, lin, buf, 2 + bn);
}

static int x_ldt_tr(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	ZydisMnemonic mn = in->zi.mnemonic;
	struct interp_loc l;
	uint64_t v;

	if (cpu->mode == VSL_MODE_REAL)
		return interp_ud(cpu);
	interp_loc_init(cpu, in, &in->ops[0], &l);
	if (mn == MN(SLDT) || mn == MN(STR)) {
		v = mn == MN(SLDT) ? cpu->ldtr.sel : cpu->tr.sel;
		if (l.mem)
			l.bytes = 2;
		return interp_loc_write(cpu, &l, v);
	}
	if (cpu->cpl)
		return interp_gp0(cpu);
	if (interp_loc_read(cpu, &l, &v))
		return FAULT;
	uint16_t sel = (uint16_t)v;
	struct vsl_seg *s = mn == MN(LLDT) ? &cpu->ldtr : &cpu->tr;
	if ((sel & ~3) == 0) {
		if (mn == MN(LTR))
			return interp_gp0(cpu);
		*s = (struct vsl_seg){ .sel = sel };
		return 0;
	}
	if (sel & 4)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
	uint64_t d[2] = { 0, 0 };
	if ((uint64_t)(sel & ~7) + (cpu->efer & VSL_EFER_LMA ? 15 : 7) > cpu->gdtr.limit)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
	if (vsl_mmu_read(cpu, cpu->gdtr.base + (sel & ~7), d, (cpu->efer & VSL_EFER_LMA) ? 16 : 8,
			 VSL_ACC_SUPER))
		return FAULT;
	unsigned type = (d[0] >> 40) & 0x1f;
	if (mn == MN(LLDT) ? type != 0x02 : (type != 0x09 && type != 0x01))
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, sel & 0xfffc);
	if (!((d[0] >> 47) & 1))
		return vsl_cpu_raise(cpu, VSL_EXC_NP, true, sel & 0xfffc);
	vsl_cpu_desc_to_seg(d[0], sel, s);
	if (cpu->efer & VSL_EFER_LMA)
		s->base |= (d[1] & 0xffffffffull) << 32;
	if (mn == MN(LTR)) {
		uint8_t b = (uint8_t)(((d[0] >> 40) & 0xff) | 2); /* busy */
		if (vsl_mmu_write(cpu, cpu->gdtr.base + (sel & ~7) + 5, &b, 1, VSL_ACC_SUPER))
			return FAULT;
		s->attr |= 2;
	}
	return 0;
}

/* LAR, LSL, VERR, VERW: ZF reports whether the selector is usable. */
static int x_lar(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	ZydisMnemonic mn = in->zi.mnemonic;
	const struct vsl_op *src = (mn == MN(VERR) || mn == MN(VERW)) ? &in->ops[0] : &in->ops[1];
	uint64_t v, desc;
	bool ok = false;

	if (cpu->mode == VSL_MODE_REAL)
		return interp_ud(cpu);
	if (interp_src(cpu, in, src, &v))
		return FAULT;
	uint16_t sel = (uint16_t)v;
	if ((sel & ~3) != 0) {
		uint64_t base = (sel & 4) ? cpu->ldtr.base : cpu->gdtr.base;
		uint64_t limit = (sel & 4) ? cpu->ldtr.limit : cpu->gdtr.limit;
		if ((uint64_t)(sel & ~7) + 7 <= limit) {
			if (vsl_mmu_read(cpu, base + (sel & ~7), &desc, 8, VSL_ACC_SUPER))
				return FAULT;
			struct vsl_seg s;
			vsl_cpu_desc_to_seg(desc, sel, &s);
			int dpl = (s.attr >> VSL_SEG_DPL_SHIFT) & 3;
			bool conf = (s.attr & 0x1c) == 0x1c;
			bool priv = conf || (dpl >= cpu->cpl && dpl >= (sel & 3));
			if (s.attr & VSL_SEG_S) {
				bool code = s.attr & 8;
				if (mn == MN(VERR))
					ok = priv && (!code || (s.attr & 2));
				else if (mn == MN(VERW))
					ok = priv && !code && (s.attr & 2);
				else
					ok = priv;
			} else {
				unsigned t = s.attr & 0xf;
				bool lsl_ok = t == 2 || t == 9 || t == 0xb;
				ok = priv && (mn == MN(LSL) ? lsl_ok : (mn == MN(LAR) && (lsl_ok || t == 0xc)));
			}
			if (ok && mn == MN(LSL))
				interp_wr(cpu, in->ops[0].reg.value, s.limit);
			else if (ok && mn == MN(LAR))
				interp_wr(cpu, in->ops[0].reg.value,
						  desc >> 32 & 0x00f0ff00ull & interp_mask(in->ops[0].size));
		}
	}
	if (ok)
		cpu->rflags |= VSL_FL_ZF;
	else
		cpu->rflags &= ~(uint64_t)VSL_FL_ZF;
	return 0;
}

static int x_priv_nop(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	/* WBINVD, INVD: caches are not modelled */
	if (cpu->cpl)
		return interp_gp0(cpu);
	return 0;
}

static int x_invlpg(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	if (cpu->cpl)
		return interp_gp0(cpu);
	vsl_mmu_flush_page(cpu, interp_ea(cpu, in, &in->ops[0]));
	return 0;
}

static int x_clts(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	if (cpu->cpl)
		return interp_gp0(cpu);
	cpu->cr0 &= ~VSL_CR0_TS;
	return 0;
}

static int x_smsw(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	struct interp_loc l;

	interp_loc_init(cpu, in, &in->ops[0], &l);
	if (l.mem)
		l.bytes = 2;
	return interp_loc_write(cpu, &l, cpu->cr0 & interp_mask(l.bytes * 8));
}

static int x_lmsw(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint64_t v;

	if (cpu->cpl)
		return interp_gp0(cpu);
	if (interp_src(cpu, in, &in->ops[0], &v))
		return FAULT;
	/* loads PE, MP, EM, TS; cannot clear PE */
	uint64_t n = (cpu->cr0 & ~0xeull) | (v & 0xf) | (cpu->cr0 & 1);
	return vsl_cpu_write_cr(cpu, 0, n);
}

static int x_clflush(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	uint64_t pa;

	/* faults like a byte read; no cache to flush */
	return vsl_mmu_translate(cpu, interp_ea(cpu, in, &in->ops[0]), VSL_ACC_READ, &pa);
}

static int x_lseg(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	/* LSS/LFS/LGS r, m16:n */
	unsigned n = in->ops[0].size / 8;
	uint64_t lin = interp_ea(cpu, in, &in->ops[1]), off = 0;
	uint16_t sel;
	int seg = in->zi.mnemonic == MN(LSS) ? VSL_SS : in->zi.mnemonic == MN(LFS) ? VSL_FS : VSL_GS;

	if (vsl_cpu_read_lin(cpu, lin, &off, n) || vsl_cpu_read_lin(cpu, lin + n, &sel, 2))
		return FAULT;
	if (vsl_cpu_load_seg(cpu, seg, sel))
		return FAULT;
	interp_wr(cpu, in->ops[0].reg.value, off);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the dispatch table: one entry per ZydisMnemonic */

static interp_fn *const interp_table[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
	/* moves and stack */
	[MN(MOV)] = x_mov, [MN(MOVZX)] = x_movzx, [MN(MOVSX)] = x_movsx, [MN(MOVSXD)] = x_movsx,
	[MN(LEA)] = x_lea, [MN(XCHG)] = x_xchg, [MN(BSWAP)] = x_bswap, [MN(MOVNTI)] = x_movnti,
	[MN(XLAT)] = x_xlat,
	[MN(CMOVO)] = x_cmov, [MN(CMOVNO)] = x_cmov, [MN(CMOVB)] = x_cmov, [MN(CMOVNB)] = x_cmov,
	[MN(CMOVZ)] = x_cmov, [MN(CMOVNZ)] = x_cmov, [MN(CMOVBE)] = x_cmov, [MN(CMOVNBE)] = x_cmov,
	[MN(CMOVS)] = x_cmov, [MN(CMOVNS)] = x_cmov, [MN(CMOVP)] = x_cmov, [MN(CMOVNP)] = x_cmov,
	[MN(CMOVL)] = x_cmov, [MN(CMOVNL)] = x_cmov, [MN(CMOVLE)] = x_cmov, [MN(CMOVNLE)] = x_cmov,
	[MN(SETO)] = x_setcc, [MN(SETNO)] = x_setcc, [MN(SETB)] = x_setcc, [MN(SETNB)] = x_setcc,
	[MN(SETZ)] = x_setcc, [MN(SETNZ)] = x_setcc, [MN(SETBE)] = x_setcc, [MN(SETNBE)] = x_setcc,
	[MN(SETS)] = x_setcc, [MN(SETNS)] = x_setcc, [MN(SETP)] = x_setcc, [MN(SETNP)] = x_setcc,
	[MN(SETL)] = x_setcc, [MN(SETNL)] = x_setcc, [MN(SETLE)] = x_setcc, [MN(SETNLE)] = x_setcc,
	[MN(CBW)] = x_cbw, [MN(CWDE)] = x_cbw, [MN(CDQE)] = x_cbw, [MN(CWD)] = x_cbw,
	[MN(CDQ)] = x_cbw, [MN(CQO)] = x_cbw,
	[MN(PUSH)] = x_push, [MN(POP)] = x_pop,
	[MN(PUSHF)] = x_pushf, [MN(PUSHFD)] = x_pushf, [MN(PUSHFQ)] = x_pushf,
	[MN(POPF)] = x_popf, [MN(POPFD)] = x_popf, [MN(POPFQ)] = x_popf,
	[MN(LEAVE)] = x_leave, [MN(ENTER)] = x_enter,
	[MN(LSS)] = x_lseg, [MN(LFS)] = x_lseg, [MN(LGS)] = x_lseg,
	/* arithmetic and logic */
	[MN(ADD)] = x_alu, [MN(ADC)] = x_alu, [MN(SUB)] = x_alu, [MN(SBB)] = x_alu,
	[MN(AND)] = x_alu, [MN(OR)] = x_alu, [MN(XOR)] = x_alu, [MN(CMP)] = x_alu,
	[MN(TEST)] = x_alu, [MN(INC)] = x_incdec, [MN(DEC)] = x_incdec, [MN(NEG)] = x_neg,
	[MN(NOT)] = x_not, [MN(XADD)] = x_xadd, [MN(CMPXCHG)] = x_cmpxchg,
	[MN(CMPXCHG8B)] = x_cmpxchg8b, [MN(CMPXCHG16B)] = x_cmpxchg8b,
	[MN(SHL)] = x_shift, [MN(SHR)] = x_shift, [MN(SAR)] = x_shift, [MN(ROL)] = x_shift,
	[MN(ROR)] = x_shift, [MN(RCL)] = x_shift, [MN(RCR)] = x_shift,
	[MN(SHLD)] = x_shd, [MN(SHRD)] = x_shd,
	[MN(MUL)] = x_muldiv, [MN(IMUL)] = x_muldiv, [MN(DIV)] = x_muldiv, [MN(IDIV)] = x_muldiv,
	/* bits (TZCNT/LZCNT are not decoded: the decoder runs without those modes,
	 * so F3 0F BC/BD execute as BSF/BSR exactly like CPUs without BMI1/ABM) */
	[MN(BT)] = x_bt, [MN(BTS)] = x_bt, [MN(BTR)] = x_bt, [MN(BTC)] = x_bt,
	[MN(BSF)] = x_bsf, [MN(BSR)] = x_bsf, [MN(POPCNT)] = x_popcnt,
	/* control flow */
	[MN(JO)] = x_jcc, [MN(JNO)] = x_jcc, [MN(JB)] = x_jcc, [MN(JNB)] = x_jcc,
	[MN(JZ)] = x_jcc, [MN(JNZ)] = x_jcc, [MN(JBE)] = x_jcc, [MN(JNBE)] = x_jcc,
	[MN(JS)] = x_jcc, [MN(JNS)] = x_jcc, [MN(JP)] = x_jcc, [MN(JNP)] = x_jcc,
	[MN(JL)] = x_jcc, [MN(JNL)] = x_jcc, [MN(JLE)] = x_jcc, [MN(JNLE)] = x_jcc,
	[MN(JMP)] = x_jmp, [MN(CALL)] = x_call, [MN(RET)] = x_ret,
	[MN(IRET)] = x_iret, [MN(IRETD)] = x_iret, [MN(IRETQ)] = x_iret,
	[MN(LOOP)] = x_loop, [MN(LOOPE)] = x_loop, [MN(LOOPNE)] = x_loop,
	[MN(JCXZ)] = x_jrcxz, [MN(JECXZ)] = x_jrcxz, [MN(JRCXZ)] = x_jrcxz,
	[MN(INT)] = x_int, [MN(INT3)] = x_int, [MN(INTO)] = x_int, [MN(INT1)] = x_int,
	[MN(UD0)] = x_ud, [MN(UD1)] = x_ud, [MN(UD2)] = x_ud,
	[MN(NOP)] = x_nop, [MN(PAUSE)] = x_nop, [MN(ENDBR32)] = x_nop, [MN(ENDBR64)] = x_nop,
	[MN(PREFETCH)] = x_nop, [MN(PREFETCHNTA)] = x_nop, [MN(PREFETCHT0)] = x_nop,
	[MN(PREFETCHT1)] = x_nop, [MN(PREFETCHT2)] = x_nop,
	[MN(MFENCE)] = x_nop, [MN(LFENCE)] = x_nop, [MN(SFENCE)] = x_nop,
	[MN(CLFLUSH)] = x_clflush,
	/* strings (MOVSD/CMPSD: SSE forms are passed on to the fpu code) */
	[MN(MOVSB)] = x_string, [MN(MOVSW)] = x_string, [MN(MOVSD)] = x_string, [MN(MOVSQ)] = x_string,
	[MN(STOSB)] = x_string, [MN(STOSW)] = x_string, [MN(STOSD)] = x_string, [MN(STOSQ)] = x_string,
	[MN(LODSB)] = x_string, [MN(LODSW)] = x_string, [MN(LODSD)] = x_string, [MN(LODSQ)] = x_string,
	[MN(SCASB)] = x_string, [MN(SCASW)] = x_string, [MN(SCASD)] = x_string, [MN(SCASQ)] = x_string,
	[MN(CMPSB)] = x_string, [MN(CMPSW)] = x_string, [MN(CMPSD)] = x_string, [MN(CMPSQ)] = x_string,
	[MN(INSB)] = x_string, [MN(INSW)] = x_string, [MN(INSD)] = x_string,
	[MN(OUTSB)] = x_string, [MN(OUTSW)] = x_string, [MN(OUTSD)] = x_string,
	/* flags */
	[MN(CLC)] = x_flagop, [MN(STC)] = x_flagop, [MN(CMC)] = x_flagop, [MN(CLD)] = x_flagop,
	[MN(STD)] = x_flagop, [MN(CLI)] = x_flagop, [MN(STI)] = x_flagop, [MN(SAHF)] = x_flagop,
	[MN(LAHF)] = x_flagop,
	/* I/O */
	[MN(IN)] = x_inout, [MN(OUT)] = x_inout,
	/* system */
	[MN(CPUID)] = x_cpuid, [MN(RDTSC)] = x_rdtsc, [MN(RDTSCP)] = x_rdtsc,
	[MN(RDMSR)] = x_msr, [MN(WRMSR)] = x_msr, [MN(HLT)] = x_hlt,
	[MN(SYSCALL)] = x_syscall, [MN(SYSRET)] = x_sysret, [MN(SWAPGS)] = x_swapgs,
	[MN(LGDT)] = x_dtable, [MN(LIDT)] = x_dtable, [MN(SGDT)] = x_dtable, [MN(SIDT)] = x_dtable,
	[MN(LLDT)] = x_ldt_tr, [MN(SLDT)] = x_ldt_tr, [MN(LTR)] = x_ldt_tr, [MN(STR)] = x_ldt_tr,
	[MN(LAR)] = x_lar, [MN(LSL)] = x_lar, [MN(VERR)] = x_lar, [MN(VERW)] = x_lar,
	[MN(WBINVD)] = x_priv_nop, [MN(INVD)] = x_priv_nop, [MN(INVLPG)] = x_invlpg,
	[MN(CLTS)] = x_clts, [MN(SMSW)] = x_smsw, [MN(LMSW)] = x_lmsw,
};

/* ISA extensions whose instructions this CPU claims (see CPUID in sys.c). */
static bool interp_isa_claimed(ZydisISAExt ext)
{
	switch (ext) {
	case ZYDIS_ISA_EXT_BASE:
	case ZYDIS_ISA_EXT_LONGMODE:
	case ZYDIS_ISA_EXT_X87:
	case ZYDIS_ISA_EXT_SSE:
	case ZYDIS_ISA_EXT_SSE2:
	case ZYDIS_ISA_EXT_CLFSH:
	case ZYDIS_ISA_EXT_RDTSCP:
	case ZYDIS_ISA_EXT_PAUSE:
		return true;
	default:
		return false;
	}
}

void vsl_interp_compact(struct vsl_dinsn *d, struct vsl_insn *f)
{
	const ZydisDecodedInstruction *z = &f->zi;

	d->zi.mnemonic = (uint16_t)z->mnemonic;
	d->zi.length = z->length;
	d->zi.opcode = z->opcode;
	d->zi.opcode_map = (uint8_t)z->opcode_map;
	d->zi.operand_width = z->operand_width;
	d->zi.address_width = z->address_width;
	d->zi.operand_count_visible = z->operand_count_visible;
	d->zi.machine_mode = (uint8_t)z->machine_mode;
	d->zi.attributes = z->attributes;
	d->zi.meta.branch_type = (uint8_t)z->meta.branch_type;
	d->zi.meta.isa_ext = (uint8_t)z->meta.isa_ext;
	d->zi.src_seg = RG(DS);
	for (unsigned i = 0; i < z->operand_count; i++) {
		const ZydisDecodedOperand *op = &f->ops[i];
		/* implicit DS:rSI (strings) or DS:rBX (XLAT) operand: its segment */
		if (op->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    (op->mem.base == RG(RSI) || op->mem.base == RG(ESI) || op->mem.base == RG(SI) ||
		     (z->mnemonic == ZYDIS_MNEMONIC_XLAT && op->mem.base != RG(NONE))))
			d->zi.src_seg = (uint16_t)op->mem.segment;
	}
	memset(d->ops, 0, sizeof(d->ops));
	for (unsigned i = 0; i < z->operand_count_visible && i < VSL_ARRAY_SIZE(d->ops); i++) {
		const ZydisDecodedOperand *op = &f->ops[i];
		struct vsl_op *o = &d->ops[i];
		o->type = (uint8_t)op->type;
		o->size = op->size;
		switch (op->type) {
		case ZYDIS_OPERAND_TYPE_REGISTER:
			o->reg.value = (uint16_t)op->reg.value;
			break;
		case ZYDIS_OPERAND_TYPE_MEMORY:
			o->mem.base = (uint16_t)op->mem.base;
			o->mem.index = (uint16_t)op->mem.index;
			o->mem.segment = (uint16_t)op->mem.segment;
			o->mem.scale = op->mem.scale;
			o->mem.disp.value = op->mem.disp.value;
			break;
		case ZYDIS_OPERAND_TYPE_IMMEDIATE:
			o->imm.value.u = op->imm.value.u;
			break;
		case ZYDIS_OPERAND_TYPE_POINTER:
			o->ptr.segment = op->ptr.segment;
			o->ptr.offset = op->ptr.offset;
			break;
		default:
			break;
		}
	}
	d->fn = z->mnemonic <= ZYDIS_MNEMONIC_MAX_VALUE ? interp_table[z->mnemonic] : NULL;
	d->full = f;
}

int vsl_interp_exec(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	int r;

	/* the run loop calls in->fn directly and comes here when it returns 1 */
	in->full->rip = in->rip;
	r = vsl_fpu_exec(cpu, in->full);
	if (r != VSL_FPU_NOT_MINE)
		return r;
	if (!interp_isa_claimed(in->zi.meta.isa_ext))
		return interp_ud(cpu);
	cpu->unimpl = ZydisMnemonicGetString(in->zi.mnemonic);
	cpu->unimpl_insn = true;
	return FAULT;
}
