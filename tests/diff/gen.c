/*
 * Random instruction sequences for the differential CPU tests.
 *
 * vsl_diff_gen(t, seed, opts) fills a test from a seed alone (xoshiro256**
 * seeded through splitmix64), so (seed, classes, length, cpl) reproduces it
 * exactly. Each step draws a class, then a mnemonic, width and operand form;
 * instructions are encoded with Zydis' encoder (branches by hand), decoded
 * back to check the encoding and to learn which flags they test and write.
 *
 * Invariants the sequences keep, so that both runs stay comparable:
 *  - RSP and R15 are never written except by push/pop/call/ret (R15 holds
 *    DIFF_DATA: the base of memory operands). Every memory operand lies in
 *    the data pages; addressing forms vary ([r15+disp], [r15+idx*s+disp]
 *    with idx set just before, [abs32], fs:/gs:[abs32] with random bases,
 *    [rip+disp], 32-bit address size).
 *  - No instruction reads a flag that is undefined at that point (see
 *    flags.c); when one would, the step is redrawn.
 *  - Values that the outcome depends on (shift counts in CL, dividends and
 *    divisors, string pointers and counts, bit offsets) are loaded by
 *    "setup" MOVs right before the instruction, which keeps #DE, undefined
 *    results and out-of-page accesses under the generator's control.
 *  - The sequence ends with HLT (at CPL 3 that raises #GP: the handler
 *    records it and halts).
 */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include <Zydis/Zydis.h>

#include "tests/diff/diff.h"

struct gen {
	struct vsl_diff_test *t;
	uint64_t s[4];
	uint32_t at;
	uint32_t undef;
	uint32_t fundef;        /* x87 condition codes undefined now (ZYDIS_FPUFLAG_*) */
	int32_t depth;          /* bytes pushed below the initial RSP */
	int cls;
	bool in_branch;         /* generating the body of a forward branch */
	uint32_t mask;          /* classes to draw from */
	uint32_t features;      /* DIFF_F_* both CPUs advertise */
	uint16_t avoid;         /* registers that setup MOVs must not clobber now */
	uint16_t reserved;      /* registers nothing may write (a loop counter) */
	bool mm;                /* MXCSR.MM (AMD misaligned SSE mode) is set now */
	bool fsgs_ok;           /* FS/GS bases still the initial ones (no sys step yet) */
	uint64_t seg_disp;      /* FS/GS-relative operand of this step: [disp, disp+16] */
	ZydisInstructionAttributes seg_prefix;
	struct vsl_diff_insn *insn;
	size_t n, cap;
	ZydisDecoder dec;
};

struct gen_mark {
	uint32_t at, undef, fundef;
	int32_t depth;
	size_t n;
};

static const char *const gen_class_names[DIFF_C_COUNT] = {
	[DIFF_C_ALU] = "alu", [DIFF_C_SHIFT] = "shift", [DIFF_C_MULDIV] = "muldiv",
	[DIFF_C_DE] = "de", [DIFF_C_BIT] = "bit", [DIFF_C_COND] = "cond",
	[DIFF_C_XCHG] = "xchg", [DIFF_C_MOV] = "mov", [DIFF_C_STACK] = "stack",
	[DIFF_C_STRING] = "string", [DIFF_C_FLAGS] = "flags", [DIFF_C_BRANCH] = "branch",
	[DIFF_C_SSEMOV] = "ssemov", [DIFF_C_SSEINT] = "sseint", [DIFF_C_SSEFP] = "ssefp",
	[DIFF_C_SSECVT] = "ssecvt", [DIFF_C_FAULT] = "fault", [DIFF_C_MISC] = "misc",
	[DIFF_C_X87] = "x87", [DIFF_C_MMX] = "mmx", [DIFF_C_SYS] = "sys",
};

const char *vsl_diff_class_name(int cls)
{
	if (cls < 0 || cls >= DIFF_C_COUNT)
		return "end";
	return gen_class_names[cls];
}

int vsl_diff_class_parse(const char *list, uint32_t *mask)
{
	char buf[512], *tok, *save = NULL;
	int i;

	*mask = 0;
	if (strlen(list) >= sizeof(buf))
		return -1;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool neg = tok[0] == '-';

		if (neg)
			tok++;
		if (!strcmp(tok, "all")) {
			*mask = neg ? 0 : DIFF_C_ALL;
			continue;
		}
		for (i = 0; i < DIFF_C_COUNT; i++)
			if (!strcmp(tok, gen_class_names[i]))
				break;
		if (i == DIFF_C_COUNT)
			return -1;
		if (neg)
			*mask &= ~(1u << i);
		else
			*mask |= 1u << i;
	}
	return *mask ? 0 : -1;
}

/* ---- random numbers ---- */

static uint64_t gen_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t gen_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t gen_u64(struct gen *g)
{
	uint64_t r = gen_rotl(g->s[1] * 5, 7) * 9, t = g->s[1] << 17;

	g->s[2] ^= g->s[0];
	g->s[3] ^= g->s[1];
	g->s[1] ^= g->s[2];
	g->s[0] ^= g->s[3];
	g->s[2] ^= t;
	g->s[3] = gen_rotl(g->s[3], 45);
	return r;
}

/* uniform in [0, n) (n > 0) */
static uint32_t gen_below(struct gen *g, uint32_t n)
{
	return (uint32_t)(((gen_u64(g) >> 32) * n) >> 32);
}

static bool gen_chance(struct gen *g, unsigned percent)
{
	return gen_below(g, 100) < percent;
}

static uint64_t gen_trunc(uint64_t v, unsigned bits)
{
	return bits >= 64 ? v : v & ((1ull << bits) - 1);
}

/* An "interesting" value: edges, small numbers, sign boundaries, random bits. */
static uint64_t gen_value(struct gen *g, unsigned bits)
{
	uint64_t top = bits >= 64 ? 1ull << 63 : 1ull << (bits - 1);
	uint64_t v;

	switch (gen_below(g, 10)) {
	case 0: v = gen_below(g, 4); break;
	case 1: v = (uint64_t)-(int64_t)gen_below(g, 4); break;
	case 2: v = top - 2 + gen_below(g, 4); break;
	case 3: v = gen_below(g, 256); break;
	case 4: v = 1ull << gen_below(g, bits); break;
	default: v = gen_u64(g); break;
	}
	return gen_trunc(v, bits);
}

/* ---- registers and operands ---- */

static ZydisRegister gen_gpr(int idx, unsigned bits)
{
	switch (bits) {
	case 8:
		if (idx < 4)
			return (ZydisRegister)(ZYDIS_REGISTER_AL + idx);
		if (idx < 8)
			return (ZydisRegister)(ZYDIS_REGISTER_SPL + idx - 4);
		return (ZydisRegister)(ZYDIS_REGISTER_R8B + idx - 8);
	case 16:
		return (ZydisRegister)(ZYDIS_REGISTER_AX + idx);
	case 32:
		return (ZydisRegister)(ZYDIS_REGISTER_EAX + idx);
	default:
		return (ZydisRegister)(ZYDIS_REGISTER_RAX + idx);
	}
}

/* Index 0..15 of a register the sequence may write (not RSP, not R15). */
static int gen_widx(struct gen *g)
{
	int i;

	do
		i = (int)gen_below(g, 16);
	while (i == 4 || i == 15 || (g->reserved & (1u << i)));
	return i;
}

static ZydisRegister gen_wreg(struct gen *g, unsigned bits)
{
	if (bits == 8 && gen_chance(g, 12))
		return (ZydisRegister)(ZYDIS_REGISTER_AH + gen_below(g, 4));
	return gen_gpr(gen_widx(g), bits);
}

/* Any register as a source (RSP and R15 included). */
static ZydisRegister gen_rreg(struct gen *g, unsigned bits)
{
	if (bits == 8 && gen_chance(g, 12))
		return (ZydisRegister)(ZYDIS_REGISTER_AH + gen_below(g, 4));
	return gen_gpr((int)gen_below(g, 16), bits);
}

static unsigned gen_width(struct gen *g)
{
	static const unsigned w[] = { 8, 16, 32, 64 };

	return w[gen_below(g, 4)];
}

static unsigned gen_width16(struct gen *g)
{
	static const unsigned w[] = { 16, 32, 64 };

	return w[gen_below(g, 3)];
}

static ZydisEncoderOperand gen_op_reg(ZydisRegister r)
{
	ZydisEncoderOperand o;

	memset(&o, 0, sizeof(o));
	o.type = ZYDIS_OPERAND_TYPE_REGISTER;
	o.reg.value = r;
	return o;
}

static ZydisEncoderOperand gen_op_imm(uint64_t v)
{
	ZydisEncoderOperand o;

	memset(&o, 0, sizeof(o));
	o.type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
	o.imm.u = v;
	return o;
}

/* An immediate for a bits-wide operation: imm8 (sign-extended) or full. */
static uint64_t gen_imm(struct gen *g, unsigned bits)
{
	if (gen_chance(g, 40))
		return (uint64_t)(int64_t)(int8_t)gen_u64(g);
	if (bits == 64)
		return (uint64_t)(int64_t)(int32_t)gen_value(g, 32);
	return gen_value(g, bits);
}

static void gen_mark(struct gen *g, struct gen_mark *m)
{
	*m = (struct gen_mark){ .at = g->at, .undef = g->undef, .fundef = g->fundef,
				.depth = g->depth, .n = g->n };
}

static void gen_rollback(struct gen *g, const struct gen_mark *m)
{
	g->at = m->at;
	g->undef = m->undef;
	g->fundef = m->fundef;
	g->depth = m->depth;
	g->n = m->n;
}

/*
 * Append one encoded instruction. count: the shift/rotate count, or the
 * REP count of a string instruction, or -1. Fails (-1) if the bytes do not
 * decode to exactly one instruction, if it tests an undefined flag, or if
 * the code area is full.
 */
static int gen_bytes(struct gen *g, const uint8_t *b, size_t len, int count)
{
	ZydisDecodedInstruction di;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	uint32_t tested = 0, written = 0, undef, fwritten = 0, fundef = 0;

	if (g->at + len + 32 > DIFF_CODE_MAX)
		return -1;
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&g->dec, b, len, &di, ops)) || di.length != len)
		return -1;
	if (di.cpu_flags) {
		tested = di.cpu_flags->tested;
		written = di.cpu_flags->modified | di.cpu_flags->set_0 | di.cpu_flags->set_1 |
			  di.cpu_flags->undefined;
	}
	if (tested & g->undef & DIFF_ARITH)
		return -1;
	/*
	 * x87 condition codes: Zydis' FPU flag table says which ones an
	 * instruction leaves undefined; FNSTSW reads them all (its entry
	 * lists no tested flags).
	 */
	if (di.fpu_flags) {
		uint32_t ftested = di.fpu_flags->tested;

		if (di.mnemonic == ZYDIS_MNEMONIC_FNSTSW)
			ftested = 0xf;
		if (ftested & g->fundef)
			return -1;
		fwritten = di.fpu_flags->modified | di.fpu_flags->set_0 | di.fpu_flags->set_1 |
			   di.fpu_flags->undefined;
		fundef = di.fpu_flags->undefined;
	}
	undef = vsl_diff_flags_undef(di.mnemonic, di.operand_width, count);
	if (vsl_diff_flags_counted(di.mnemonic) && count >= 0 &&
	    (count & (di.operand_width == 64 ? 63 : 31)) == 0)
		written = 0;
	if ((di.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE |
			      ZYDIS_ATTRIB_HAS_REPNE)) && count == 0)
		written = 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct vsl_diff_insn *p = realloc(g->insn, cap * sizeof(*p));

		if (!p)
			return -1;
		g->insn = p;
		g->cap = cap;
	}
	memcpy(g->t->ram + DIFF_CODE + g->at, b, len);
	g->undef = ((g->undef & ~written) | undef) & DIFF_ARITH;
	g->fundef = ((g->fundef & ~fwritten) | fundef) & 0xf;
	g->insn[g->n++] = (struct vsl_diff_insn){
		.off = g->at, .len = (uint8_t)len, .cls = (uint8_t)g->cls,
		.mnemonic = (uint16_t)di.mnemonic, .undef_after = g->undef,
	};
	g->at += (uint32_t)len;
	return 0;
}

static int gen_encode(struct gen *g, ZydisEncoderRequest *req, int count)
{
	uint8_t b[ZYDIS_MAX_INSTRUCTION_LENGTH];
	ZyanUSize len = sizeof(b);

	req->machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
	if (g->seg_disp) {
		unsigned i;

		for (i = 0; i < req->operand_count; i++) {
			const ZydisEncoderOperand *op = &req->operands[i];

			if (op->type == ZYDIS_OPERAND_TYPE_MEMORY && op->mem.base == ZYDIS_REGISTER_NONE &&
			    op->mem.index == ZYDIS_REGISTER_NONE &&
			    (uint64_t)op->mem.displacement - g->seg_disp <= 16)
				req->prefixes |= g->seg_prefix;
		}
	}
	if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstructionAbsolute(req, b, &len, DIFF_CODE + g->at)))
		return -1;
	return gen_bytes(g, b, len, count);
}

static void gen_req(ZydisEncoderRequest *r, ZydisMnemonic m, unsigned nops)
{
	memset(r, 0, sizeof(*r));
	r->mnemonic = m;
	r->operand_count = (ZyanU8)nops;
}

static int gen_insn0(struct gen *g, ZydisMnemonic m)
{
	ZydisEncoderRequest r;

	gen_req(&r, m, 0);
	return gen_encode(g, &r, -1);
}

static int gen_insn1(struct gen *g, ZydisMnemonic m, ZydisEncoderOperand a, int count)
{
	ZydisEncoderRequest r;

	gen_req(&r, m, 1);
	r.operands[0] = a;
	return gen_encode(g, &r, count);
}

static int gen_insn2(struct gen *g, ZydisMnemonic m, ZydisEncoderOperand a,
		     ZydisEncoderOperand b, int count)
{
	ZydisEncoderRequest r;

	gen_req(&r, m, 2);
	r.operands[0] = a;
	r.operands[1] = b;
	return gen_encode(g, &r, count);
}

static int gen_insn3(struct gen *g, ZydisMnemonic m, ZydisEncoderOperand a,
		     ZydisEncoderOperand b, ZydisEncoderOperand c, int count)
{
	ZydisEncoderRequest r;

	gen_req(&r, m, 3);
	r.operands[0] = a;
	r.operands[1] = b;
	r.operands[2] = c;
	return gen_encode(g, &r, count);
}

/* Setup: load a full 64-bit register with v (mov r64, imm). */
static int gen_set64(struct gen *g, int idx, uint64_t v)
{
	return gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(gen_gpr(idx, 64)), gen_op_imm(v), -1);
}

/*
 * A memory operand of size bytes at a random offset of the data pages
 * (aligned to align when align > 1). May emit a setup MOV for an index
 * register. *off receives the operand's offset in the data pages.
 */
static int gen_mem_at(struct gen *g, unsigned size, uint32_t o, ZydisEncoderOperand *op)
{
	memset(op, 0, sizeof(*op));
	op->type = ZYDIS_OPERAND_TYPE_MEMORY;
	op->mem.size = (ZyanU16)size;
	switch (gen_below(g, 10)) {
	case 0: case 1: case 2: case 3:
		op->mem.base = ZYDIS_REGISTER_R15;
		op->mem.displacement = o;
		break;
	case 4: case 5: {
		static const uint8_t scales[] = { 1, 2, 4, 8 };
		int idx = gen_widx(g);
		uint8_t s = scales[gen_below(g, 4)];

		while (g->avoid & (1u << idx))
			idx = gen_widx(g);
		uint32_t v = gen_below(g, o / s + 1);

		if (gen_set64(g, idx, v) < 0)
			return -1;
		op->mem.base = ZYDIS_REGISTER_R15;
		op->mem.index = gen_gpr(idx, 64);
		op->mem.scale = s;
		op->mem.displacement = (int64_t)o - (int64_t)v * s;
		break;
	}
	case 6:
		/*
		 * FS- or GS-relative absolute: the bases sit a whole number of
		 * pages below the data; every encode in this step that uses an
		 * absolute operand within 16 bytes gets the override (gen_encode).
		 */
		if (g->fsgs_ok && !g->in_branch && !g->seg_disp && gen_chance(g, 40)) {
			bool gs = gen_chance(g, 50);
			uint64_t base = gs ? g->t->init.gs_base : g->t->init.fs_base;

			op->mem.displacement = (int64_t)(DIFF_DATA + o - base);
			g->seg_disp = (uint64_t)op->mem.displacement;
			g->seg_prefix = gs ? ZYDIS_ATTRIB_HAS_SEGMENT_GS : ZYDIS_ATTRIB_HAS_SEGMENT_FS;
			break;
		}
		op->mem.displacement = DIFF_DATA + o;
		break;
	case 7: case 8:
		op->mem.base = ZYDIS_REGISTER_RIP;
		op->mem.displacement = DIFF_DATA + o;
		break;
	default:
		op->mem.base = ZYDIS_REGISTER_R15D;
		op->mem.displacement = o;
		break;
	}
	return 0;
}

static uint32_t gen_offset(struct gen *g, unsigned size, unsigned align)
{
	uint32_t o = gen_below(g, DIFF_DATA_SIZE - size + 1);

	if (align > 1)
		o &= ~(align - 1);
	else if (gen_chance(g, 50))
		o &= ~(size - 1);
	return o;
}

static int gen_mem(struct gen *g, unsigned size, unsigned align, ZydisEncoderOperand *op)
{
	return gen_mem_at(g, size, gen_offset(g, size, align), op);
}

/* r/m operand: a writable register or memory. */
static int gen_rm(struct gen *g, unsigned bits, bool mem, ZydisEncoderOperand *op)
{
	if (mem)
		return gen_mem(g, bits / 8, 1, op);
	*op = gen_op_reg(gen_wreg(g, bits));
	return 0;
}

static void gen_lock(struct gen *g, ZydisEncoderRequest *r, bool mem)
{
	if (mem && gen_chance(g, 25))
		r->prefixes |= ZYDIS_ATTRIB_HAS_LOCK;
}

/* ---- classes ---- */

static const ZydisMnemonic gen_setcc[16] = {
	ZYDIS_MNEMONIC_SETO, ZYDIS_MNEMONIC_SETNO, ZYDIS_MNEMONIC_SETB, ZYDIS_MNEMONIC_SETNB,
	ZYDIS_MNEMONIC_SETZ, ZYDIS_MNEMONIC_SETNZ, ZYDIS_MNEMONIC_SETBE, ZYDIS_MNEMONIC_SETNBE,
	ZYDIS_MNEMONIC_SETS, ZYDIS_MNEMONIC_SETNS, ZYDIS_MNEMONIC_SETP, ZYDIS_MNEMONIC_SETNP,
	ZYDIS_MNEMONIC_SETL, ZYDIS_MNEMONIC_SETNL, ZYDIS_MNEMONIC_SETLE, ZYDIS_MNEMONIC_SETNLE,
};
static const ZydisMnemonic gen_cmovcc[16] = {
	ZYDIS_MNEMONIC_CMOVO, ZYDIS_MNEMONIC_CMOVNO, ZYDIS_MNEMONIC_CMOVB, ZYDIS_MNEMONIC_CMOVNB,
	ZYDIS_MNEMONIC_CMOVZ, ZYDIS_MNEMONIC_CMOVNZ, ZYDIS_MNEMONIC_CMOVBE, ZYDIS_MNEMONIC_CMOVNBE,
	ZYDIS_MNEMONIC_CMOVS, ZYDIS_MNEMONIC_CMOVNS, ZYDIS_MNEMONIC_CMOVP, ZYDIS_MNEMONIC_CMOVNP,
	ZYDIS_MNEMONIC_CMOVL, ZYDIS_MNEMONIC_CMOVNL, ZYDIS_MNEMONIC_CMOVLE, ZYDIS_MNEMONIC_CMOVNLE,
};

static int gen_alu(struct gen *g)
{
	static const ZydisMnemonic bin[] = {
		ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_OR, ZYDIS_MNEMONIC_ADC, ZYDIS_MNEMONIC_SBB,
		ZYDIS_MNEMONIC_AND, ZYDIS_MNEMONIC_SUB, ZYDIS_MNEMONIC_XOR, ZYDIS_MNEMONIC_CMP,
		ZYDIS_MNEMONIC_TEST,
	};
	static const ZydisMnemonic un[] = {
		ZYDIS_MNEMONIC_INC, ZYDIS_MNEMONIC_DEC, ZYDIS_MNEMONIC_NEG, ZYDIS_MNEMONIC_NOT,
	};
	unsigned bits = gen_width(g);
	ZydisEncoderRequest r;
	ZydisEncoderOperand a, b;

	if (gen_chance(g, 25)) {
		bool mem = gen_chance(g, 40);

		if (gen_rm(g, bits, mem, &a) < 0)
			return -1;
		gen_req(&r, un[gen_below(g, 4)], 1);
		r.operands[0] = a;
		gen_lock(g, &r, mem);
		return gen_encode(g, &r, -1);
	}
	gen_req(&r, bin[gen_below(g, 9)], 2);
	switch (gen_below(g, 5)) {
	case 0: /* r, r */
		a = gen_op_reg(gen_wreg(g, bits));
		b = gen_op_reg(gen_rreg(g, bits));
		break;
	case 1: /* r, m */
		a = gen_op_reg(gen_wreg(g, bits));
		if (gen_mem(g, bits / 8, 1, &b) < 0)
			return -1;
		break;
	case 2: /* m, r */
		if (gen_mem(g, bits / 8, 1, &a) < 0)
			return -1;
		b = gen_op_reg(gen_rreg(g, bits));
		gen_lock(g, &r, true);
		break;
	case 3: /* r, imm */
		a = gen_op_reg(gen_wreg(g, bits));
		b = gen_op_imm(gen_imm(g, bits));
		break;
	default: /* m, imm */
		if (gen_mem(g, bits / 8, 1, &a) < 0)
			return -1;
		b = gen_op_imm(gen_imm(g, bits));
		gen_lock(g, &r, true);
		break;
	}
	if (r.mnemonic == ZYDIS_MNEMONIC_CMP || r.mnemonic == ZYDIS_MNEMONIC_TEST)
		r.prefixes &= ~(ZydisInstructionAttributes)ZYDIS_ATTRIB_HAS_LOCK;
	r.operands[0] = a;
	r.operands[1] = b;
	return gen_encode(g, &r, -1);
}

static int gen_count(struct gen *g)
{
	if (gen_chance(g, 80))
		return (int)gen_below(g, 71);
	return (int)gen_below(g, 256);
}

static int gen_shift(struct gen *g)
{
	static const ZydisMnemonic sh[] = {
		ZYDIS_MNEMONIC_SHL, ZYDIS_MNEMONIC_SHR, ZYDIS_MNEMONIC_SAR, ZYDIS_MNEMONIC_ROL,
		ZYDIS_MNEMONIC_ROR, ZYDIS_MNEMONIC_RCL, ZYDIS_MNEMONIC_RCR,
	};
	bool dbl = gen_chance(g, 25);
	unsigned bits = dbl ? gen_width16(g) : gen_width(g);
	bool mem = gen_chance(g, 30);
	int form = (int)gen_below(g, 3); /* 0: 1, 1: imm8, 2: CL */
	int count = form == 0 ? 1 : gen_count(g);
	ZydisEncoderOperand a, c;

	if (dbl) {
		if (form == 0)
			form = 1;
		if (bits == 16 && (count & 31) > 16)
			count = (int)gen_below(g, 17);
	}
	if (form == 2 && gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(ZYDIS_REGISTER_CL),
				   gen_op_imm((uint64_t)count), -1) < 0)
		return -1;
	if (form == 2)
		g->avoid |= 1u << 1;
	if (mem) {
		if (gen_mem(g, bits / 8, 1, &a) < 0)
			return -1;
	} else {
		int idx = gen_widx(g);

		if (form == 2 && idx == 1 && bits == 8) /* keep CL if it is the count */
			return -1;
		a = gen_op_reg(gen_gpr(idx, bits));
	}
	c = form == 2 ? gen_op_reg(ZYDIS_REGISTER_CL) : gen_op_imm((uint64_t)count);
	if (dbl)
		return gen_insn3(g, gen_chance(g, 50) ? ZYDIS_MNEMONIC_SHLD : ZYDIS_MNEMONIC_SHRD,
				 a, gen_op_reg(gen_rreg(g, bits)), c, count);
	return gen_insn2(g, sh[gen_below(g, 7)], a, c, count);
}

/* Setup: load the divisor (register or memory) with d; returns the operand. */
static int gen_divisor(struct gen *g, unsigned bits, uint64_t d, ZydisEncoderOperand *op)
{
	if (gen_chance(g, 40)) {
		uint32_t o = gen_offset(g, bits / 8, bits / 8);
		ZydisEncoderOperand m;

		if (gen_mem_at(g, bits / 8, o, &m) < 0)
			return -1;
		if (bits == 64) { /* mov m64, imm32 sign-extends: store through RAX? no: via RCX */
			int idx;

			do
				idx = gen_widx(g);
			while (idx == 0 || idx == 2 || m.mem.index == gen_gpr(idx, 64));
			if (gen_set64(g, idx, d) < 0 ||
			    gen_insn2(g, ZYDIS_MNEMONIC_MOV, m, gen_op_reg(gen_gpr(idx, 64)), -1) < 0)
				return -1;
		} else if (gen_insn2(g, ZYDIS_MNEMONIC_MOV, m, gen_op_imm(d), -1) < 0) {
			return -1;
		}
		*op = m;
		return 0;
	}
	for (;;) {
		int idx = gen_widx(g);

		if (idx == 0 || idx == 2)
			continue;
		if (gen_set64(g, idx, d) < 0)
			return -1;
		*op = gen_op_reg(gen_gpr(idx, bits));
		return 0;
	}
}

static int gen_div(struct gen *g, bool random_ops)
{
	unsigned bits = gen_width(g);
	bool sgn = gen_chance(g, 50);
	unsigned __int128 dividend;
	uint64_t d, lo, hi;
	ZydisEncoderOperand op;

	if (random_ops) {
		d = gen_chance(g, 50) ? 0 : gen_value(g, bits);
		lo = gen_value(g, 64);
		hi = gen_chance(g, 50) ? gen_value(g, 64) : gen_below(g, 3);
	} else if (!sgn) {
		uint64_t q = gen_value(g, bits), rm;

		do
			d = gen_value(g, bits);
		while (d == 0);
		rm = gen_u64(g) % d;
		dividend = (unsigned __int128)q * d + rm;
		lo = (uint64_t)dividend;
		hi = (uint64_t)(dividend >> 64);
	} else {
		int64_t sq, sd, sr;
		__int128 sdiv;

		sq = (int64_t)(gen_value(g, bits) << (64 - bits)) >> (64 - bits);
		do
			sd = (int64_t)(gen_value(g, bits) << (64 - bits)) >> (64 - bits);
		while (sd == 0);
		{
			uint64_t ad = sd < 0 ? (uint64_t)0 - (uint64_t)sd : (uint64_t)sd;
			uint64_t mag = gen_u64(g) % ad;
			__int128 prod = (__int128)sq * sd;

			sr = (int64_t)mag;
			if (prod < 0 || (prod == 0 && gen_chance(g, 50)))
				sr = -sr;
			sdiv = prod + sr;
		}
		d = (uint64_t)sd;
		lo = (uint64_t)sdiv;
		hi = (uint64_t)((unsigned __int128)sdiv >> 64);
	}
	d = gen_trunc(d, bits);
	/* place the dividend: AX for 8-bit, else DX:AX / EDX:EAX / RDX:RAX */
	if (bits == 8) {
		/* AX is the dividend (random: anything); bits 63:16 of RAX are noise */
		uint64_t ax = random_ops ? gen_u64(g) : lo;

		if (gen_set64(g, 0, (gen_u64(g) & ~0xffffull) | (ax & 0xffff)) < 0)
			return -1;
	} else {
		uint64_t l = lo, h = hi;

		if (bits < 64) {
			unsigned __int128 full = ((unsigned __int128)hi << 64) | lo;

			l = gen_trunc((uint64_t)full, bits);
			h = gen_trunc((uint64_t)(full >> bits), bits);
			if (random_ops)
				h = gen_trunc(hi, bits);
			l |= gen_u64(g) & ~gen_trunc(~0ull, bits);
			h |= gen_u64(g) & ~gen_trunc(~0ull, bits);
		}
		if (gen_set64(g, 0, l) < 0 || gen_set64(g, 2, h) < 0)
			return -1;
	}
	g->avoid |= (1u << 0) | (1u << 2);
	if (gen_divisor(g, bits, d, &op) < 0)
		return -1;
	return gen_insn1(g, sgn ? ZYDIS_MNEMONIC_IDIV : ZYDIS_MNEMONIC_DIV, op, -1);
}

static int gen_muldiv(struct gen *g)
{
	unsigned bits;
	ZydisEncoderOperand a, b;
	bool mem = gen_chance(g, 35);

	switch (gen_below(g, 5)) {
	case 0: case 1:
		bits = gen_width(g);
		if (gen_rm(g, bits, mem, &a) < 0)
			return -1;
		if (!mem)
			a = gen_op_reg(gen_rreg(g, bits));
		return gen_insn1(g, gen_chance(g, 50) ? ZYDIS_MNEMONIC_MUL : ZYDIS_MNEMONIC_IMUL, a, -1);
	case 2:
		bits = gen_width16(g);
		if (mem) {
			if (gen_mem(g, bits / 8, 1, &b) < 0)
				return -1;
		} else {
			b = gen_op_reg(gen_rreg(g, bits));
		}
		a = gen_op_reg(gen_wreg(g, bits));
		if (gen_chance(g, 50))
			return gen_insn2(g, ZYDIS_MNEMONIC_IMUL, a, b, -1);
		return gen_insn3(g, ZYDIS_MNEMONIC_IMUL, a, b,
				 gen_op_imm(gen_imm(g, bits == 64 ? 32 : bits)), -1);
	default:
		return gen_div(g, false);
	}
}

static int gen_bit(struct gen *g)
{
	static const ZydisMnemonic bt[] = {
		ZYDIS_MNEMONIC_BT, ZYDIS_MNEMONIC_BTS, ZYDIS_MNEMONIC_BTR, ZYDIS_MNEMONIC_BTC,
	};
	unsigned bits = gen_width16(g);
	ZydisEncoderOperand a, b;
	ZydisEncoderRequest r;

	switch (gen_below(g, 7)) {
	case 0: case 1: { /* bt* r/m, imm8 */
		bool mem = gen_chance(g, 40);

		if (gen_rm(g, bits, mem, &a) < 0)
			return -1;
		gen_req(&r, bt[gen_below(g, 4)], 2);
		r.operands[0] = a;
		r.operands[1] = gen_op_imm(gen_below(g, 256));
		if (r.mnemonic != ZYDIS_MNEMONIC_BT)
			gen_lock(g, &r, mem);
		return gen_encode(g, &r, -1);
	}
	case 2: { /* bt* r, r */
		gen_req(&r, bt[gen_below(g, 4)], 2);
		r.operands[0] = gen_op_reg(gen_wreg(g, bits));
		r.operands[1] = gen_op_reg(gen_rreg(g, bits));
		return gen_encode(g, &r, -1);
	}
	case 3: { /* bt* m, r with a bit offset that stays in the data pages */
		uint32_t o = 2048 + gen_below(g, DIFF_DATA_SIZE - 4096);
		int64_t lo = -(int64_t)o * 8, hi = (int64_t)(DIFF_DATA_SIZE - o - 8) * 8;
		int64_t off = lo + (int64_t)gen_below(g, (uint32_t)(hi - lo));
		int idx = gen_widx(g);

		if (bits == 16) {
			if (off < -32768)
				off = -32768 + (int64_t)gen_below(g, 100);
			if (off > 32767)
				off = 32767 - (int64_t)gen_below(g, 100);
		}
		if (gen_set64(g, idx, (uint64_t)off) < 0)
			return -1;
		if (gen_mem_at(g, bits / 8, o, &a) < 0)
			return -1;
		if (a.mem.index == gen_gpr(idx, 64))
			return -1;
		gen_req(&r, bt[gen_below(g, 4)], 2);
		r.operands[0] = a;
		r.operands[1] = gen_op_reg(gen_gpr(idx, bits));
		if (r.mnemonic != ZYDIS_MNEMONIC_BT)
			gen_lock(g, &r, true);
		return gen_encode(g, &r, -1);
	}
	case 4: { /* bsf/bsr r, r/m (sometimes a zero source) */
		bool mem = gen_chance(g, 35);

		/*
		 * With a zero source the destination is "undefined" (Intel) or
		 * "unchanged" (AMD); for a 32-bit destination the host CPU keeps
		 * bits 63:32 while KVM's emulator (CPL 0 under PVM) clears them.
		 */
		if (bits == 32 && g->t->cpl == 0)
			return -1;

		if (mem) {
			if (gen_mem(g, bits / 8, 1, &b) < 0)
				return -1;
		} else {
			int idx = (int)gen_below(g, 16);

			if (gen_chance(g, 15) && idx != 4 && idx != 15 &&
			    !(g->reserved & (1u << idx)) && gen_set64(g, idx, 0) < 0)
				return -1;
			b = gen_op_reg(gen_gpr(idx, bits));
		}
		a = gen_op_reg(gen_wreg(g, bits));
		return gen_insn2(g, gen_chance(g, 50) ? ZYDIS_MNEMONIC_BSF : ZYDIS_MNEMONIC_BSR, a, b, -1);
	}
	case 5:
		if ((g->features & DIFF_F_POPCNT) && gen_chance(g, 50)) {
			bool mem = gen_chance(g, 35);

			if (mem) {
				if (gen_mem(g, bits / 8, 1, &b) < 0)
					return -1;
			} else {
				b = gen_op_reg(gen_rreg(g, bits));
			}
			return gen_insn2(g, ZYDIS_MNEMONIC_POPCNT, gen_op_reg(gen_wreg(g, bits)), b, -1);
		}
		/* fall through */
	default: /* bswap r32/r64 */
		return gen_insn1(g, ZYDIS_MNEMONIC_BSWAP,
				 gen_op_reg(gen_gpr(gen_widx(g), gen_chance(g, 50) ? 32 : 64)), -1);
	}
}

static int gen_cond(struct gen *g)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		unsigned cc = gen_below(g, 16);
		ZydisEncoderOperand a, b;
		struct gen_mark m;
		bool mem = gen_chance(g, 30);
		int rc;

		gen_mark(g, &m);
		if (gen_chance(g, 50)) {
			rc = gen_rm(g, 8, mem, &a);
			if (rc == 0)
				rc = gen_insn1(g, gen_setcc[cc], a, -1);
		} else {
			unsigned bits = gen_width16(g);

			a = gen_op_reg(gen_wreg(g, bits));
			if (mem)
				rc = gen_mem(g, bits / 8, 1, &b);
			else
				b = gen_op_reg(gen_rreg(g, bits)), rc = 0;
			if (rc == 0)
				rc = gen_insn2(g, gen_cmovcc[cc], a, b, -1);
		}
		if (rc == 0)
			return 0;
		gen_rollback(g, &m);
	}
	return -1;
}

static int gen_xchg(struct gen *g)
{
	unsigned bits = gen_width(g);
	bool mem = gen_chance(g, 50);
	ZydisEncoderOperand a, b;
	ZydisEncoderRequest r;
	ZydisMnemonic mn;

	switch (gen_below(g, 7)) {
	case 0: case 1:
		mn = ZYDIS_MNEMONIC_XCHG;
		break;
	case 2: case 3:
		mn = ZYDIS_MNEMONIC_XADD;
		break;
	case 4: case 5:
		mn = ZYDIS_MNEMONIC_CMPXCHG;
		break;
	default: {
		bool x16 = (g->features & DIFF_F_CX16) && gen_chance(g, 40);
		unsigned sz = x16 ? 16 : 8;
		uint32_t o = gen_offset(g, sz, x16 ? 16 : 1);

		g->avoid |= (1u << 0) | (1u << 2);
		if (x16) {
			if (gen_mem_at(g, 16, o, &a) < 0)
				return -1;
			if (gen_chance(g, 50)) { /* make the comparison succeed */
				ZydisEncoderOperand lo = a, hi = a;

				lo.mem.size = 8;
				hi.mem.size = 8;
				hi.mem.displacement += 8;
				if (gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(ZYDIS_REGISTER_RAX), lo, -1) < 0 ||
				    gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(ZYDIS_REGISTER_RDX), hi, -1) < 0)
					return -1;
			}
			gen_req(&r, ZYDIS_MNEMONIC_CMPXCHG16B, 1);
			r.operands[0] = a;
			gen_lock(g, &r, true);
			return gen_encode(g, &r, -1);
		}
		if (gen_mem_at(g, 8, o, &a) < 0)
			return -1;
		if (gen_chance(g, 50)) { /* make the comparison succeed */
			ZydisEncoderOperand lo = a, hi = a;

			lo.mem.size = 4;
			hi.mem.size = 4;
			hi.mem.displacement += 4;
			if (gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(ZYDIS_REGISTER_EAX), lo, -1) < 0 ||
			    gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(ZYDIS_REGISTER_EDX), hi, -1) < 0)
				return -1;
		}
		gen_req(&r, ZYDIS_MNEMONIC_CMPXCHG8B, 1);
		r.operands[0] = a;
		gen_lock(g, &r, true);
		return gen_encode(g, &r, -1);
	}
	}
	/*
	 * CMPXCHG r32 with a failed comparison: Intel writes the destination
	 * back (clearing bits 63:32), AMD (the host here) leaves it; KVM's
	 * emulator (CPL 0 under PVM) does the former. Vendor-specific, so no
	 * 32-bit register destination at CPL 0.
	 */
	if (mn == ZYDIS_MNEMONIC_CMPXCHG && bits == 32 && !mem && g->t->cpl == 0)
		return -1;
	g->avoid |= 1u << 0;
	if (gen_rm(g, bits, mem, &a) < 0)
		return -1;
	if (mn == ZYDIS_MNEMONIC_CMPXCHG && gen_chance(g, 50) &&
	    gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(gen_gpr(0, bits)), a, -1) < 0)
		return -1;
	b = gen_op_reg(gen_wreg(g, bits));
	gen_req(&r, mn, 2);
	r.operands[0] = a;
	r.operands[1] = b;
	if (mn != ZYDIS_MNEMONIC_XCHG)
		gen_lock(g, &r, mem);
	return gen_encode(g, &r, -1);
}

static int gen_mov(struct gen *g)
{
	static const ZydisMnemonic conv[] = {
		ZYDIS_MNEMONIC_CBW, ZYDIS_MNEMONIC_CWDE, ZYDIS_MNEMONIC_CDQE,
		ZYDIS_MNEMONIC_CWD, ZYDIS_MNEMONIC_CDQ, ZYDIS_MNEMONIC_CQO,
	};
	unsigned bits = gen_width(g);
	ZydisEncoderOperand a, b;

	switch (gen_below(g, 8)) {
	case 0: /* mov r, r/imm */
		a = gen_op_reg(gen_wreg(g, bits));
		if (gen_chance(g, 50))
			b = gen_op_reg(gen_rreg(g, bits));
		else
			b = gen_op_imm(bits == 64 && gen_chance(g, 50) ? gen_value(g, 64) : gen_imm(g, bits));
		return gen_insn2(g, ZYDIS_MNEMONIC_MOV, a, b, -1);
	case 1: /* mov r, m */
		a = gen_op_reg(gen_wreg(g, bits));
		if (gen_mem(g, bits / 8, 1, &b) < 0)
			return -1;
		return gen_insn2(g, ZYDIS_MNEMONIC_MOV, a, b, -1);
	case 2: /* mov m, r/imm */
		if (gen_mem(g, bits / 8, 1, &a) < 0)
			return -1;
		b = gen_chance(g, 50) ? gen_op_reg(gen_rreg(g, bits)) : gen_op_imm(gen_imm(g, bits));
		return gen_insn2(g, ZYDIS_MNEMONIC_MOV, a, b, -1);
	case 3: { /* movzx/movsx/movsxd */
		unsigned dst = gen_width16(g), src = gen_chance(g, 50) ? 8 : 16;
		ZydisMnemonic mn = gen_chance(g, 50) ? ZYDIS_MNEMONIC_MOVZX : ZYDIS_MNEMONIC_MOVSX;

		if (gen_chance(g, 20)) {
			dst = 64;
			src = 32;
			mn = ZYDIS_MNEMONIC_MOVSXD;
		}
		if (src >= dst)
			dst = 32;
		a = gen_op_reg(gen_wreg(g, dst));
		if (gen_chance(g, 40)) {
			if (gen_mem(g, src / 8, 1, &b) < 0)
				return -1;
		} else {
			b = gen_op_reg(gen_rreg(g, src));
		}
		return gen_insn2(g, mn, a, b, -1);
	}
	case 4: case 5: { /* lea with arbitrary registers (no memory access) */
		static const uint8_t scales[] = { 1, 2, 4, 8 };
		ZydisEncoderRequest r;
		unsigned dst = gen_width16(g);
		bool a32 = gen_chance(g, 25);

		memset(&b, 0, sizeof(b));
		b.type = ZYDIS_OPERAND_TYPE_MEMORY;
		if (gen_chance(g, 85))
			b.mem.base = gen_gpr((int)gen_below(g, 16), a32 ? 32 : 64);
		if (gen_chance(g, 60)) {
			int i;

			do
				i = (int)gen_below(g, 16);
			while (i == 4);
			b.mem.index = gen_gpr(i, a32 ? 32 : 64);
			b.mem.scale = scales[gen_below(g, 4)];
		}
		b.mem.displacement = gen_chance(g, 30) ? 0 : (int64_t)(int32_t)gen_value(g, gen_chance(g, 50) ? 8 : 32);
		if (gen_chance(g, 50) && b.mem.displacement >= -128 && b.mem.displacement < 128)
			b.mem.displacement = (int8_t)b.mem.displacement;
		if (!b.mem.base && !b.mem.index)
			b.mem.displacement = (int64_t)(int32_t)b.mem.displacement;
		b.mem.size = 0;
		gen_req(&r, ZYDIS_MNEMONIC_LEA, 2);
		r.operands[0] = gen_op_reg(gen_wreg(g, dst));
		r.operands[1] = b;
		if (a32)
			r.address_size_hint = ZYDIS_ADDRESS_SIZE_HINT_32;
		return gen_encode(g, &r, -1);
	}
	case 6:
		return gen_insn0(g, conv[gen_below(g, 6)]);
	default: /* mov r8/16 partial writes against a full register */
		a = gen_op_reg(gen_wreg(g, gen_chance(g, 50) ? 8 : 16));
		return gen_insn2(g, ZYDIS_MNEMONIC_MOV, a,
				 gen_op_imm(gen_below(g, 65536) &
					    (a.reg.value < ZYDIS_REGISTER_AX ? 0xff : 0xffff)), -1);
	}
}

static int gen_stack(struct gen *g)
{
	ZydisEncoderRequest r;
	ZydisEncoderOperand a;
	bool w16 = gen_chance(g, 15);
	unsigned sz = w16 ? 2 : 8;
	bool push = g->depth < 256 ? true : g->depth > 8000 ? false : gen_chance(g, 55);

	if (gen_chance(g, 12)) {
		/* mov rbp, rsp; enter size, level; leave (RSP back where it was) */
		gen_req(&r, ZYDIS_MNEMONIC_ENTER, 2);
		r.operands[0] = gen_op_imm(gen_chance(g, 50) ? gen_below(g, 64) * 8 : gen_below(g, 300));
		r.operands[1] = gen_op_imm(gen_chance(g, 60) ? gen_below(g, 2) : gen_below(g, 5));
		if (g->t->cpl == 0) /* KVM's emulator handles only nesting level 0 */
			r.operands[1].imm.u = 0;
		if (gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(ZYDIS_REGISTER_RBP),
			      gen_op_reg(ZYDIS_REGISTER_RSP), -1) < 0 ||
		    gen_encode(g, &r, -1) < 0)
			return -1;
		return gen_insn0(g, ZYDIS_MNEMONIC_LEAVE);
	}
	if (push) {
		gen_req(&r, ZYDIS_MNEMONIC_PUSH, 1);
		switch (gen_below(g, 3)) {
		case 0:
			r.operands[0] = gen_op_reg(gen_rreg(g, w16 ? 16 : 64));
			break;
		case 1:
			r.operands[0] = gen_op_imm(gen_imm(g, 16));
			if (!w16)
				r.operands[0].imm.u = gen_imm(g, 32);
			r.operand_size_hint = w16 ? ZYDIS_OPERAND_SIZE_HINT_16 : ZYDIS_OPERAND_SIZE_HINT_64;
			break;
		default:
			if (gen_mem(g, sz, 1, &a) < 0)
				return -1;
			r.operands[0] = a;
			break;
		}
		g->depth += (int32_t)sz;
		return gen_encode(g, &r, -1);
	}
	gen_req(&r, ZYDIS_MNEMONIC_POP, 1);
	if (gen_chance(g, 75)) {
		r.operands[0] = gen_op_reg(gen_gpr(gen_widx(g), w16 ? 16 : 64));
	} else {
		if (gen_mem(g, sz, 1, &a) < 0)
			return -1;
		r.operands[0] = a;
	}
	g->depth -= (int32_t)sz;
	return gen_encode(g, &r, -1);
}

static int gen_string(struct gen *g)
{
	static const ZydisMnemonic ops[5][4] = {
		{ ZYDIS_MNEMONIC_MOVSB, ZYDIS_MNEMONIC_MOVSW, ZYDIS_MNEMONIC_MOVSD, ZYDIS_MNEMONIC_MOVSQ },
		{ ZYDIS_MNEMONIC_STOSB, ZYDIS_MNEMONIC_STOSW, ZYDIS_MNEMONIC_STOSD, ZYDIS_MNEMONIC_STOSQ },
		{ ZYDIS_MNEMONIC_LODSB, ZYDIS_MNEMONIC_LODSW, ZYDIS_MNEMONIC_LODSD, ZYDIS_MNEMONIC_LODSQ },
		{ ZYDIS_MNEMONIC_CMPSB, ZYDIS_MNEMONIC_CMPSW, ZYDIS_MNEMONIC_CMPSD, ZYDIS_MNEMONIC_CMPSQ },
		{ ZYDIS_MNEMONIC_SCASB, ZYDIS_MNEMONIC_SCASW, ZYDIS_MNEMONIC_SCASD, ZYDIS_MNEMONIC_SCASQ },
	};
	unsigned kind = gen_below(g, 5), w = gen_below(g, 4), sz = 1u << w;
	bool df = gen_chance(g, 35), a32;
	unsigned rep = gen_below(g, 3); /* 0 none, 1 rep/repe, 2 repne */
	uint32_t n = rep ? (gen_chance(g, 10) ? 0 : gen_below(g, 40)) : 1;
	uint32_t span = (n ? n : 1) * sz, so, dof;
	ZydisEncoderRequest r;

	if (rep == 2 && kind < 3)
		rep = 1;
	so = df ? span - sz + gen_below(g, DIFF_DATA_SIZE - span + 1)
		: gen_below(g, DIFF_DATA_SIZE - span + 1);
	dof = df ? span - sz + gen_below(g, DIFF_DATA_SIZE - span + 1)
		 : gen_below(g, DIFF_DATA_SIZE - span + 1);
	if (gen_chance(g, 60)) {
		so &= ~(sz - 1);
		dof &= ~(sz - 1);
	}
	if (gen_insn0(g, df ? ZYDIS_MNEMONIC_STD : ZYDIS_MNEMONIC_CLD) < 0 ||
	    gen_set64(g, 6, DIFF_DATA + so) < 0 || gen_set64(g, 7, DIFF_DATA + dof) < 0)
		return -1;
	/*
	 * With a 67 prefix the string unit uses ESI/EDI/ECX: the upper halves
	 * of RSI/RDI/RCX are then noise the instruction must not use.
	 */
	a32 = gen_chance(g, 20);
	if (a32 && (gen_set64(g, 6, (gen_u64(g) << 32) | (DIFF_DATA + so)) < 0 ||
		    gen_set64(g, 7, (gen_u64(g) << 32) | (DIFF_DATA + dof)) < 0))
		return -1;
	if (rep && gen_set64(g, 1, a32 ? (gen_u64(g) << 32) | n : n) < 0)
		return -1;
	gen_req(&r, ops[kind][w], 0);
	if (rep == 1)
		r.prefixes = kind >= 3 ? ZYDIS_ATTRIB_HAS_REPE : ZYDIS_ATTRIB_HAS_REP;
	else if (rep == 2)
		r.prefixes = ZYDIS_ATTRIB_HAS_REPNE;
	if (a32)
		r.address_size_hint = ZYDIS_ADDRESS_SIZE_HINT_32;
	return gen_encode(g, &r, rep ? (int)n : -1);
}

static int gen_flags(struct gen *g)
{
	switch (gen_below(g, 9)) {
	case 0: return gen_insn0(g, ZYDIS_MNEMONIC_CLC);
	case 1: return gen_insn0(g, ZYDIS_MNEMONIC_STC);
	case 2: return gen_insn0(g, ZYDIS_MNEMONIC_CMC);
	case 3: return gen_insn0(g, ZYDIS_MNEMONIC_LAHF);
	case 4: return gen_insn0(g, ZYDIS_MNEMONIC_SAHF);
	case 5:
		if (gen_insn0(g, ZYDIS_MNEMONIC_PUSHFQ) < 0)
			return -1;
		g->depth += 8;
		return 0;
	case 6: { /* popfq of a chosen image: arithmetic flags, DF, ID */
		/*
		 * No AC: under PVM the live AC after an exception reads back
		 * clear (exception delivery does not clear AC on hardware).
		 */
		uint64_t f = 0x2 | (gen_u64(g) & (DIFF_ARITH | DIFF_DF | 0x200000));
		ZydisEncoderRequest r;

		gen_req(&r, ZYDIS_MNEMONIC_PUSH, 1);
		r.operands[0] = gen_op_imm(f);
		r.operand_size_hint = ZYDIS_OPERAND_SIZE_HINT_64;
		if (gen_encode(g, &r, -1) < 0 || gen_insn0(g, ZYDIS_MNEMONIC_POPFQ) < 0)
			return -1;
		return 0;
	}
	case 7: return gen_insn0(g, ZYDIS_MNEMONIC_CLD);
	default: return gen_insn0(g, ZYDIS_MNEMONIC_STD);
	}
}

static int gen_one(struct gen *g, int cls);
static uint32_t gen_mxcsr(struct gen *g);

/*
 * A counted backward loop: mov r14d, n; L: body; dec r14d; jnz L. R14 is
 * reserved while the body is generated. At the loop head the flags are
 * those from before the loop or, from the second iteration on, those left
 * by DEC, which defines all but CF: so the body starts with CF treated as
 * undefined in addition to whatever was undefined before.
 */
static int gen_loop(struct gen *g)
{
	uint32_t body = g->mask & ~((1u << DIFF_C_BRANCH) | (1u << DIFF_C_STACK) |
				    (1u << DIFF_C_DE) | (1u << DIFF_C_FAULT));
	uint32_t head, n = 2 + gen_below(g, 15), k, i;
	uint8_t jnz[2] = { 0x75, 0 };
	static const uint8_t dec[] = { 0x41, 0xff, 0xce }; /* dec r14d */

	if (!body || (g->reserved & (1u << 14)))
		return -1;
	if (gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(ZYDIS_REGISTER_R14D), gen_op_imm(n), -1) < 0)
		return -1;
	head = g->at;
	g->undef |= DIFF_CF;
	g->reserved |= 1u << 14;
	g->in_branch = true;
	k = 1 + gen_below(g, 6);
	for (i = 0; i < k; i++) {
		struct gen_mark m;
		int cls;

		do
			cls = (int)gen_below(g, DIFF_C_COUNT);
		while (!(body & (1u << cls)));
		gen_mark(g, &m);
		if (gen_one(g, cls) < 0)
			gen_rollback(g, &m);
	}
	g->in_branch = false;
	g->reserved &= (uint16_t)~(1u << 14);
	g->cls = DIFF_C_BRANCH;
	if (g->at + 5 - head > 128)
		return -1;
	jnz[1] = (uint8_t)(int8_t)-(int32_t)(g->at + 5 - head);
	if (gen_bytes(g, dec, sizeof(dec), -1) < 0 || gen_bytes(g, jnz, sizeof(jnz), -1) < 0)
		return -1;
	return 0;
}

/* Forward branches over a few instructions; call/ret; loop/jrcxz; loops. */
static int gen_branch(struct gen *g)
{
	uint8_t b[8];
	uint32_t at0, span, k, i, undef0;
	unsigned kind = gen_below(g, 7);
	bool rel8;

	if (g->in_branch)
		return -1;
	if (kind == 6)
		return gen_loop(g);
	if (kind == 5) { /* call f; jmp over; f: ret */
		static const uint8_t seq[] = { 0xe8, 0x02, 0, 0, 0 };
		static const uint8_t jmp[] = { 0xeb, 0x01 };
		static const uint8_t ret[] = { 0xc3 };

		if (gen_bytes(g, seq, sizeof(seq), -1) < 0 || gen_bytes(g, jmp, sizeof(jmp), -1) < 0 ||
		    gen_bytes(g, ret, sizeof(ret), -1) < 0)
			return -1;
		return 0;
	}
	/* 0-2: jcc, 3: jmp, 4: loop/loope/loopne/jrcxz */
	rel8 = kind == 4 || gen_chance(g, 60);
	k = gen_below(g, 4);
	at0 = g->at;
	undef0 = g->undef;
	if (kind <= 2) {
		unsigned cc = gen_below(g, 16);

		if (rel8) {
			b[0] = (uint8_t)(0x70 + cc);
			b[1] = 0;
		} else {
			b[0] = 0x0f;
			b[1] = (uint8_t)(0x80 + cc);
			memset(b + 2, 0, 4);
		}
	} else if (kind == 3) {
		b[0] = rel8 ? 0xeb : 0xe9;
		memset(b + 1, 0, 5);
	} else {
		static const uint8_t lp[] = { 0xe2, 0xe1, 0xe0, 0xe3 };

		if (gen_set64(g, 1, gen_below(g, 3)) < 0)
			return -1;
		at0 = g->at;
		b[0] = lp[gen_below(g, 4)];
		b[1] = 0;
	}
	{
		size_t len = rel8 ? 2 : (kind == 3 ? 5 : 6);

		if (gen_bytes(g, b, len, -1) < 0)
			return -1;
	}
	undef0 |= g->undef;
	g->in_branch = true;
	for (i = 0; i < k; i++) {
		int cls;
		struct gen_mark m;

		uint32_t body = g->mask & ((1u << DIFF_C_BRANCH) - 1) &
				~((1u << DIFF_C_DE) | (1u << DIFF_C_STACK));

		if (!body)
			break;
		do
			cls = (int)gen_below(g, DIFF_C_BRANCH);
		while (!(body & (1u << cls)));
		gen_mark(g, &m);
		if (gen_one(g, cls) < 0)
			gen_rollback(g, &m);
	}
	g->in_branch = false;
	g->cls = DIFF_C_BRANCH;
	{
		uint32_t next = at0 + (rel8 ? 2 : (kind == 3 ? 5 : 6));
		uint8_t *code = g->t->ram + DIFF_CODE;

		span = g->at - next;
		if (rel8) {
			if (span > 127)
				return -1;
			code[at0 + 1] = (uint8_t)span;
		} else {
			uint32_t p = at0 + (kind == 3 ? 1 : 2);

			memcpy(code + p, &span, 4);
		}
	}
	/*
	 * At the target, a flag is undefined if it is on either path; the
	 * last instruction before the target carries the merged set too (the
	 * comparator looks it up when a fault happens at the target).
	 */
	g->undef |= undef0;
	if (g->n)
		g->insn[g->n - 1].undef_after |= undef0;
	return 0;
}

/* A fault of a chosen kind (the sequence ends there). */
static int gen_fault(struct gen *g)
{
	static const uint8_t ud2[] = { 0x0f, 0x0b };
	static const uint8_t int3[] = { 0xcc };
	static const uint8_t int80[] = { 0xcd, 0x80 };
	static const uint8_t into[] = { 0xce };
	static const uint8_t rdmsr[] = { 0x0f, 0x32 };
	int idx = gen_widx(g);

	unsigned kind = gen_below(g, 10);

	/*
	 * KVM here is PVM (kvm-pvm, no hardware virtualization): it fails to
	 * deliver INT3 / INT n raised at guest CPL 0 (KVM_EXIT_INTERNAL_ERROR),
	 * so INT3 is only generated at CPL 3; INT n through a DPL 0 gate
	 * from CPL 3 (which must raise #GP(vector*8+2)) comes back as #UD
	 * from PVM, so it is not generated at all.
	 */
	if ((kind == 1 && g->t->cpl != 3) || kind == 2)
		return -1;
	switch (kind) {
	case 0: return gen_bytes(g, ud2, sizeof(ud2), -1);
	case 1: return gen_bytes(g, int3, sizeof(int3), -1);
	case 2: return gen_bytes(g, int80, sizeof(int80), -1);
	case 3: return gen_bytes(g, into, sizeof(into), -1);
	case 4: /* rdmsr of an unknown MSR: #GP(0) (at CPL 3 too) */
		if (gen_set64(g, 1, 0x4000ffffu) < 0)
			return -1;
		return gen_bytes(g, rdmsr, sizeof(rdmsr), -1);
	case 5: { /* load from a non-canonical address: #GP(0) */
		ZydisEncoderOperand m;

		if (gen_set64(g, idx, 0x0000800000000000ull + gen_below(g, 4096)) < 0)
			return -1;
		memset(&m, 0, sizeof(m));
		m.type = ZYDIS_OPERAND_TYPE_MEMORY;
		m.mem.base = gen_gpr(idx, 64);
		m.mem.size = 8;
		return gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(gen_gpr(gen_widx(g), 64)), m, -1);
	}
	case 6: case 7: { /* #PF: page 0, a supervisor page (CPL 3), a page-crossing access */
		static const uint64_t where[] = { 0x10, 0x3000, DIFF_DATA + DIFF_DATA_SIZE - 4,
						  0xff8 };
		ZydisEncoderOperand m;
		uint64_t a = where[gen_below(g, 4)];

		if (gen_set64(g, idx, a) < 0)
			return -1;
		memset(&m, 0, sizeof(m));
		m.type = ZYDIS_OPERAND_TYPE_MEMORY;
		m.mem.base = gen_gpr(idx, 64);
		m.mem.size = 8;
		if (gen_chance(g, 50))
			return gen_insn2(g, ZYDIS_MNEMONIC_MOV, m, gen_op_reg(gen_gpr(gen_widx(g), 64)), -1);
		return gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(gen_gpr(gen_widx(g), 64)), m, -1);
	}
	case 9: { /*
		 * REP MOVS running backwards into a page it may not read (page 0
		 * at CPL 0, supervisor memory below 1 MiB at CPL 3): #PF after
		 * partial progress, with RCX/RSI/RDI at the faulting element.
		 */
		static const ZydisMnemonic mv[] = {
			ZYDIS_MNEMONIC_MOVSB, ZYDIS_MNEMONIC_MOVSW, ZYDIS_MNEMONIC_MOVSD, ZYDIS_MNEMONIC_MOVSQ,
		};
		unsigned w = gen_below(g, 4);
		uint64_t src = (g->t->cpl == 3 ? DIFF_CODE : 0x1000) + gen_below(g, 40);
		ZydisEncoderRequest r;

		if (gen_insn0(g, ZYDIS_MNEMONIC_STD) < 0 || gen_set64(g, 6, src) < 0 ||
		    gen_set64(g, 7, DIFF_DATA + 0x1800) < 0 || gen_set64(g, 1, 8 + gen_below(g, 64)) < 0)
			return -1;
		gen_req(&r, mv[w], 0);
		r.prefixes = ZYDIS_ATTRIB_HAS_REP;
		return gen_encode(g, &r, 64);
	}
	default: { /* jump into the NX data page: #PF on fetch */
		ZydisEncoderOperand r = gen_op_reg(gen_gpr(idx, 64));

		if (gen_set64(g, idx, DIFF_DATA + gen_below(g, 64)) < 0)
			return -1;
		return gen_insn1(g, ZYDIS_MNEMONIC_JMP, r, -1);
	}
	}
}

static int gen_sse(struct gen *g, int cls);

/* ---- x87 ---- */

static ZydisEncoderOperand gen_st(struct gen *g)
{
	return gen_op_reg((ZydisRegister)(ZYDIS_REGISTER_ST0 + gen_below(g, 8)));
}

static int gen_x87(struct gen *g)
{
	static const ZydisMnemonic arith[] = {
		ZYDIS_MNEMONIC_FADD, ZYDIS_MNEMONIC_FSUB, ZYDIS_MNEMONIC_FSUBR,
		ZYDIS_MNEMONIC_FMUL, ZYDIS_MNEMONIC_FDIV, ZYDIS_MNEMONIC_FDIVR,
	};
	static const ZydisMnemonic arithp[] = {
		ZYDIS_MNEMONIC_FADDP, ZYDIS_MNEMONIC_FSUBP, ZYDIS_MNEMONIC_FSUBRP,
		ZYDIS_MNEMONIC_FMULP, ZYDIS_MNEMONIC_FDIVP, ZYDIS_MNEMONIC_FDIVRP,
	};
	static const ZydisMnemonic iarith[] = {
		ZYDIS_MNEMONIC_FIADD, ZYDIS_MNEMONIC_FISUB, ZYDIS_MNEMONIC_FISUBR,
		ZYDIS_MNEMONIC_FIMUL, ZYDIS_MNEMONIC_FIDIV, ZYDIS_MNEMONIC_FIDIVR,
	};
	static const ZydisMnemonic nullary[] = {
		ZYDIS_MNEMONIC_FLD1, ZYDIS_MNEMONIC_FLDZ, ZYDIS_MNEMONIC_FLDPI,
		ZYDIS_MNEMONIC_FLDL2E, ZYDIS_MNEMONIC_FLDLN2, ZYDIS_MNEMONIC_FLDL2T,
		ZYDIS_MNEMONIC_FLDLG2, ZYDIS_MNEMONIC_FCHS, ZYDIS_MNEMONIC_FABS,
		ZYDIS_MNEMONIC_FSQRT, ZYDIS_MNEMONIC_FRNDINT, ZYDIS_MNEMONIC_FXTRACT,
		ZYDIS_MNEMONIC_FSCALE, ZYDIS_MNEMONIC_FPREM, ZYDIS_MNEMONIC_FPREM1,
		ZYDIS_MNEMONIC_FCOMPP, ZYDIS_MNEMONIC_FUCOMPP, ZYDIS_MNEMONIC_FTST,
		ZYDIS_MNEMONIC_FXAM, ZYDIS_MNEMONIC_FINCSTP, ZYDIS_MNEMONIC_FDECSTP,
		ZYDIS_MNEMONIC_FNOP,
	};
	static const ZydisMnemonic stcmp[] = {
		ZYDIS_MNEMONIC_FCOM, ZYDIS_MNEMONIC_FCOMP, ZYDIS_MNEMONIC_FUCOM,
		ZYDIS_MNEMONIC_FUCOMP, ZYDIS_MNEMONIC_FXCH, ZYDIS_MNEMONIC_FFREE,
		ZYDIS_MNEMONIC_FST, ZYDIS_MNEMONIC_FSTP, ZYDIS_MNEMONIC_FLD,
	};
	static const ZydisMnemonic comi[] = {
		ZYDIS_MNEMONIC_FCOMI, ZYDIS_MNEMONIC_FCOMIP, ZYDIS_MNEMONIC_FUCOMI,
		ZYDIS_MNEMONIC_FUCOMIP, ZYDIS_MNEMONIC_FCMOVB, ZYDIS_MNEMONIC_FCMOVE,
		ZYDIS_MNEMONIC_FCMOVBE, ZYDIS_MNEMONIC_FCMOVU, ZYDIS_MNEMONIC_FCMOVNB,
		ZYDIS_MNEMONIC_FCMOVNE, ZYDIS_MNEMONIC_FCMOVNBE, ZYDIS_MNEMONIC_FCMOVNU,
	};
	static const uint8_t fsz[] = { 4, 8 };
	ZydisEncoderOperand m;

	switch (gen_below(g, 12)) {
	case 0: case 1: { /* loads: fld m32/m64/m80, fild m16/m32/m64 */
		static const uint8_t isz[] = { 2, 4, 8 };
		bool fi = gen_chance(g, 35);
		unsigned sz = fi ? isz[gen_below(g, 3)] : (gen_chance(g, 20) ? 10 : fsz[gen_below(g, 2)]);

		if (gen_mem(g, sz, 1, &m) < 0)
			return -1;
		return gen_insn1(g, fi ? ZYDIS_MNEMONIC_FILD : ZYDIS_MNEMONIC_FLD, m, -1);
	}
	case 2: { /* stores */
		static const ZydisMnemonic st[] = {
			ZYDIS_MNEMONIC_FST, ZYDIS_MNEMONIC_FSTP, ZYDIS_MNEMONIC_FIST, ZYDIS_MNEMONIC_FISTP,
		};
		ZydisMnemonic mn = st[gen_below(g, 4)];
		unsigned sz = mn == ZYDIS_MNEMONIC_FIST ? (gen_chance(g, 50) ? 2 : 4) :
			      mn == ZYDIS_MNEMONIC_FISTP ? (unsigned[]){ 2, 4, 8 }[gen_below(g, 3)] :
			      mn == ZYDIS_MNEMONIC_FSTP && gen_chance(g, 20) ? 10 : fsz[gen_below(g, 2)];

		if (gen_mem(g, sz, 1, &m) < 0)
			return -1;
		return gen_insn1(g, mn, m, -1);
	}
	case 3: case 4: { /* arithmetic on st(0), st(i) / st(i), st(0) / memory */
		switch (gen_below(g, 4)) {
		case 0:
			return gen_insn2(g, arith[gen_below(g, 6)], gen_op_reg(ZYDIS_REGISTER_ST0), gen_st(g), -1);
		case 1:
			return gen_insn2(g, arith[gen_below(g, 6)], gen_st(g), gen_op_reg(ZYDIS_REGISTER_ST0), -1);
		case 2:
			return gen_insn2(g, arithp[gen_below(g, 6)], gen_st(g), gen_op_reg(ZYDIS_REGISTER_ST0), -1);
		default:
			if (gen_chance(g, 30)) {
				if (gen_mem(g, gen_chance(g, 50) ? 2 : 4, 1, &m) < 0)
					return -1;
				return gen_insn1(g, iarith[gen_below(g, 6)], m, -1);
			}
			if (gen_mem(g, fsz[gen_below(g, 2)], 1, &m) < 0)
				return -1;
			return gen_insn1(g, arith[gen_below(g, 6)], m, -1);
		}
	}
	case 5: case 6:
		return gen_insn0(g, nullary[gen_below(g, sizeof(nullary) / sizeof(nullary[0]))]);
	case 7:
		return gen_insn1(g, stcmp[gen_below(g, sizeof(stcmp) / sizeof(stcmp[0]))], gen_st(g), -1);
	case 8:
		return gen_insn2(g, comi[gen_below(g, sizeof(comi) / sizeof(comi[0]))],
				 gen_op_reg(ZYDIS_REGISTER_ST0), gen_st(g), -1);
	case 9: { /* fcom/fcomp m32/m64, ficom m16/m32 */
		static const ZydisMnemonic mc[] = {
			ZYDIS_MNEMONIC_FCOM, ZYDIS_MNEMONIC_FCOMP, ZYDIS_MNEMONIC_FICOM, ZYDIS_MNEMONIC_FICOMP,
		};
		ZydisMnemonic mn = mc[gen_below(g, 4)];
		bool in = mn == ZYDIS_MNEMONIC_FICOM || mn == ZYDIS_MNEMONIC_FICOMP;

		if (gen_mem(g, in ? (gen_chance(g, 50) ? 2 : 4) : fsz[gen_below(g, 2)], 1, &m) < 0)
			return -1;
		return gen_insn1(g, mn, m, -1);
	}
	case 10: { /* fldcw: all exceptions masked, random precision and rounding */
		uint32_t o = gen_offset(g, 2, 2);
		uint16_t cw = (uint16_t)(0x3f | 0x40 | (gen_below(g, 4) << 8) | (gen_below(g, 4) << 10));

		if (gen_mem_at(g, 2, o, &m) < 0 ||
		    gen_insn2(g, ZYDIS_MNEMONIC_MOV, m, gen_op_imm(cw), -1) < 0)
			return -1;
		return gen_insn1(g, ZYDIS_MNEMONIC_FLDCW, m, -1);
	}
	default: /* fnstcw/fnstsw m16, fnstsw ax, fninit */
		switch (gen_below(g, 4)) {
		case 0:
			return gen_insn1(g, ZYDIS_MNEMONIC_FNSTSW, gen_op_reg(ZYDIS_REGISTER_AX), -1);
		case 1:
			return gen_insn0(g, ZYDIS_MNEMONIC_FNINIT);
		default:
			if (gen_mem(g, 2, 1, &m) < 0)
				return -1;
			return gen_insn1(g, gen_chance(g, 50) ? ZYDIS_MNEMONIC_FNSTCW : ZYDIS_MNEMONIC_FNSTSW, m, -1);
		}
	}
}

/*
 * System instructions, at CPL 0 only (under PVM, CPL 3 code sees the host's
 * selectors, GDT and CR0): SGDT/SIDT/SLDT/STR/SMSW, reading segment
 * registers, loading DS/ES/FS/GS with a valid or invalid selector, MOV from
 * control registers, RDMSR/WRMSR of the syscall and segment-base MSRs
 * (canonical values), SWAPGS, CLTS, INVLPG, CLI/STI. LAR/LSL/VERR/VERW are
 * kept out: KVM's emulator (which runs CPL 0 here) lacks them.
 */
static int gen_sys(struct gen *g)
{
	static const uint16_t sels[] = {
		0, 3, DIFF_SEL_KCODE, DIFF_SEL_KDATA, DIFF_SEL_UDATA, DIFF_SEL_UCODE, DIFF_SEL_TSS,
		DIFF_SEL_TSS_DUMMY, DIFF_SEL_UCODE32, DIFF_SEL_KCODE32, 0x58, 0x1c, 0x13,
	};
	static const uint32_t msrs[] = {
		0xc0000080, 0xc0000081, 0xc0000082, 0xc0000084, 0xc0000100, 0xc0000101, 0xc0000102,
	};
	static const ZydisMnemonic lsl[] = {
		ZYDIS_MNEMONIC_LAR, ZYDIS_MNEMONIC_LSL, ZYDIS_MNEMONIC_VERR, ZYDIS_MNEMONIC_VERW,
	};
	ZydisEncoderOperand m;
	bool k = g->t->cpl == 0;
	uint16_t sel = gen_chance(g, 85) ? sels[gen_below(g, sizeof(sels) / sizeof(sels[0]))] :
					   (uint16_t)gen_u64(g);
	int idx;

	if (!k)
		return -1;
	switch (gen_below(g, 9)) {
	case 0: /* sgdt/sidt m (10 bytes) */
		if (gen_mem(g, 10, 1, &m) < 0)
			return -1;
		return gen_insn1(g, gen_chance(g, 50) ? ZYDIS_MNEMONIC_SGDT : ZYDIS_MNEMONIC_SIDT, m, -1);
	case 1: { /* sldt/str/smsw to a register or memory */
		static const ZydisMnemonic st[] = {
			ZYDIS_MNEMONIC_SLDT, ZYDIS_MNEMONIC_STR, ZYDIS_MNEMONIC_SMSW,
		};

		if (gen_chance(g, 30)) {
			if (gen_mem(g, 2, 1, &m) < 0)
				return -1;
			return gen_insn1(g, st[gen_below(g, 3)], m, -1);
		}
		return gen_insn1(g, st[gen_below(g, 3)], gen_op_reg(gen_wreg(g, gen_width16(g))), -1);
	}
	case 2: { /* lar/lsl r, r32 / verr/verw r16 (KVM's emulator lacks them: CPL 3) */
		ZydisMnemonic mn = lsl[gen_below(g, 4)];

		if (k)
			return -1;
		idx = gen_widx(g);
		if (gen_set64(g, idx, sel) < 0)
			return -1;
		if (mn == ZYDIS_MNEMONIC_VERR || mn == ZYDIS_MNEMONIC_VERW)
			return gen_insn1(g, mn, gen_op_reg(gen_gpr(idx, 16)), -1);
		return gen_insn2(g, mn, gen_op_reg(gen_gpr(gen_widx(g), gen_chance(g, 50) ? 32 : 64)),
				 gen_op_reg(gen_gpr(idx, 32)), -1);
	}
	case 3: { /* read a segment register */
		static const ZydisRegister sr[] = {
			ZYDIS_REGISTER_ES, ZYDIS_REGISTER_CS, ZYDIS_REGISTER_SS,
			ZYDIS_REGISTER_DS, ZYDIS_REGISTER_FS, ZYDIS_REGISTER_GS,
		};

		return gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(gen_wreg(g, gen_chance(g, 50) ? 16 : 32)),
				 gen_op_reg(sr[gen_below(g, 6)]), -1);
	}
	case 4: { /* load DS/ES/FS/GS (a bad selector faults) */
		static const ZydisRegister sr[] = {
			ZYDIS_REGISTER_ES, ZYDIS_REGISTER_DS, ZYDIS_REGISTER_FS, ZYDIS_REGISTER_GS,
		};

		idx = gen_widx(g);
		if (gen_chance(g, 70))
			sel = gen_chance(g, 50) ? 0 : (k ? DIFF_SEL_KDATA : DIFF_SEL_UDATA);
		if (gen_set64(g, idx, sel) < 0)
			return -1;
		return gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(sr[gen_below(g, 4)]),
				 gen_op_reg(gen_gpr(idx, 32)), -1);
	}
	case 5: { /* mov r64, crN */
		static const ZydisRegister cr[] = {
			ZYDIS_REGISTER_CR0, ZYDIS_REGISTER_CR2, ZYDIS_REGISTER_CR3,
			ZYDIS_REGISTER_CR4, ZYDIS_REGISTER_CR8,
		};

		return gen_insn2(g, ZYDIS_MNEMONIC_MOV, gen_op_reg(gen_gpr(gen_widx(g), 64)),
				 gen_op_reg(cr[gen_below(g, 5)]), -1);
	}
	case 6: { /* rdmsr, or wrmsr of a canonical value then rdmsr */
		uint32_t msr = msrs[gen_below(g, 7)];

		g->avoid |= 0x7;
		if (gen_set64(g, 1, msr) < 0)
			return -1;
		if (msr != 0xc0000080 && gen_chance(g, 50)) {
			uint64_t v = gen_u64(g);

			if (msr == 0xc0000084)
				v &= 0xffffffffull;
			else if (msr != 0xc0000081)
				v = (uint64_t)((int64_t)(v << 16) >> 16); /* canonical */
			if (gen_set64(g, 0, v & 0xffffffffull) < 0 || gen_set64(g, 2, v >> 32) < 0 ||
			    gen_insn0(g, ZYDIS_MNEMONIC_WRMSR) < 0)
				return -1;
		}
		return gen_insn0(g, ZYDIS_MNEMONIC_RDMSR);
	}
	case 7: { /* swapgs, clts, cli, sti */
		static const ZydisMnemonic z[] = {
			ZYDIS_MNEMONIC_SWAPGS, ZYDIS_MNEMONIC_CLTS, ZYDIS_MNEMONIC_CLI, ZYDIS_MNEMONIC_STI,
		};

		return gen_insn0(g, z[gen_below(g, 4)]);
	}
	default: /* invlpg */
		if (gen_mem(g, 1, 1, &m) < 0)
			return -1;
		return gen_insn1(g, ZYDIS_MNEMONIC_INVLPG, m, -1);
	}
}

/* Rarely used instructions: decoder and dispatch coverage. */
static int gen_misc(struct gen *g)
{
	static const ZydisMnemonic hints[] = {
		ZYDIS_MNEMONIC_LFENCE, ZYDIS_MNEMONIC_MFENCE, ZYDIS_MNEMONIC_SFENCE,
		ZYDIS_MNEMONIC_PAUSE, ZYDIS_MNEMONIC_NOP,
	};
	static const ZydisMnemonic pf[] = {
		ZYDIS_MNEMONIC_PREFETCHT0, ZYDIS_MNEMONIC_PREFETCHT1, ZYDIS_MNEMONIC_PREFETCHT2,
		ZYDIS_MNEMONIC_PREFETCHNTA, ZYDIS_MNEMONIC_CLFLUSH,
	};
	ZydisEncoderOperand m;

	switch (gen_below(g, 4)) {
	case 0: /* xlat: AL = [RBX + AL] */
		if (gen_set64(g, 3, DIFF_DATA + gen_below(g, DIFF_DATA_SIZE - 256)) < 0)
			return -1;
		return gen_insn0(g, ZYDIS_MNEMONIC_XLAT);
	case 1:
		return gen_insn0(g, hints[gen_below(g, 5)]);
	case 2: { /* multi-byte NOP: 0f 1f /0 with a memory form (no access) */
		unsigned bits = gen_chance(g, 50) ? 32 : 16;

		if (gen_mem(g, bits / 8, 1, &m) < 0)
			return -1;
		return gen_insn1(g, ZYDIS_MNEMONIC_NOP, m, -1);
	}
	default: {
		ZydisMnemonic mn = pf[gen_below(g, 5)];

		if (gen_mem(g, 1, 1, &m) < 0)
			return -1;
		if (mn == ZYDIS_MNEMONIC_CLFLUSH)
			m.mem.size = 64; /* Zydis sizes CLFLUSH's operand as the line */
		return gen_insn1(g, mn, m, -1);
	}
	}
}

static int gen_one_cls(struct gen *g, int cls);

static int gen_one(struct gen *g, int cls)
{
	uint64_t seg_disp = g->seg_disp;
	int rc;

	g->avoid = 0;
	g->seg_disp = 0;
	rc = gen_one_cls(g, cls);
	g->avoid = 0;
	g->seg_disp = seg_disp; /* (restored for an enclosing branch step) */
	if (cls == DIFF_C_SYS && rc == 0)
		g->fsgs_ok = false; /* it may have moved the FS/GS bases */
	return rc;
}

static int gen_one_cls(struct gen *g, int cls)
{
	g->cls = cls;
	switch (cls) {
	case DIFF_C_ALU: return gen_alu(g);
	case DIFF_C_SHIFT: return gen_shift(g);
	case DIFF_C_MULDIV: return gen_muldiv(g);
	case DIFF_C_DE: return gen_div(g, true);
	case DIFF_C_BIT: return gen_bit(g);
	case DIFF_C_COND: return gen_cond(g);
	case DIFF_C_XCHG: return gen_xchg(g);
	case DIFF_C_MOV: return gen_mov(g);
	case DIFF_C_STACK: return gen_stack(g);
	case DIFF_C_STRING: return gen_string(g);
	case DIFF_C_FLAGS: return gen_flags(g);
	case DIFF_C_BRANCH: return gen_branch(g);
	case DIFF_C_FAULT: return gen_fault(g);
	case DIFF_C_MISC: return gen_misc(g);
	case DIFF_C_X87: return gen_x87(g);
	case DIFF_C_SYS: return gen_sys(g);
	default: return gen_sse(g, cls);
	}
}

/* ---- SSE / SSE2 ---- */

/*
 * One SSE form: dst/src kinds ('x' xmm, 'X' xmm or memory, 'm' memory,
 * 'r' GPR, 'R' GPR or memory), an immediate kind (0 none, 1 any imm8,
 * 2 compare predicate 0..7, 3 shift count 0..70), the memory operand size,
 * whether memory must be 16-byte aligned, and the GPR width (0: 32 or 64).
 */
struct gen_sse_form {
	ZydisMnemonic mn;
	char dst, src;
	uint8_t imm, msize;
	bool align;
	uint8_t gbits;
};

#define SX(m, d, s, i, sz, al, gb) { ZYDIS_MNEMONIC_##m, d, s, i, sz, al, gb }
#define PK(m) SX(m, 'x', 'X', 0, 16, true, 0)

static const struct gen_sse_form gen_sse_mov[] = {
	SX(MOVAPS, 'x', 'X', 0, 16, true, 0), SX(MOVAPS, 'm', 'x', 0, 16, true, 0),
	SX(MOVAPD, 'x', 'X', 0, 16, true, 0), SX(MOVAPD, 'm', 'x', 0, 16, true, 0),
	SX(MOVDQA, 'x', 'X', 0, 16, true, 0), SX(MOVDQA, 'm', 'x', 0, 16, true, 0),
	SX(MOVUPS, 'x', 'X', 0, 16, false, 0), SX(MOVUPS, 'm', 'x', 0, 16, false, 0),
	SX(MOVUPD, 'x', 'X', 0, 16, false, 0), SX(MOVUPD, 'm', 'x', 0, 16, false, 0),
	SX(MOVDQU, 'x', 'X', 0, 16, false, 0), SX(MOVDQU, 'm', 'x', 0, 16, false, 0),
	SX(MOVSS, 'x', 'X', 0, 4, false, 0), SX(MOVSS, 'm', 'x', 0, 4, false, 0),
	SX(MOVSD, 'x', 'X', 0, 8, false, 0), SX(MOVSD, 'm', 'x', 0, 8, false, 0),
	SX(MOVD, 'x', 'R', 0, 4, false, 32), SX(MOVD, 'R', 'x', 0, 4, false, 32),
	SX(MOVQ, 'x', 'R', 0, 8, false, 64), SX(MOVQ, 'R', 'x', 0, 8, false, 64),
	SX(MOVQ, 'x', 'X', 0, 8, false, 0), SX(MOVQ, 'm', 'x', 0, 8, false, 0),
	SX(MOVLPS, 'x', 'm', 0, 8, false, 0), SX(MOVLPS, 'm', 'x', 0, 8, false, 0),
	SX(MOVHPS, 'x', 'm', 0, 8, false, 0), SX(MOVHPS, 'm', 'x', 0, 8, false, 0),
	SX(MOVLPD, 'x', 'm', 0, 8, false, 0), SX(MOVLPD, 'm', 'x', 0, 8, false, 0),
	SX(MOVHPD, 'x', 'm', 0, 8, false, 0), SX(MOVHPD, 'm', 'x', 0, 8, false, 0),
	SX(MOVHLPS, 'x', 'x', 0, 0, false, 0), SX(MOVLHPS, 'x', 'x', 0, 0, false, 0),
	SX(MOVMSKPS, 'r', 'x', 0, 0, false, 32), SX(MOVMSKPD, 'r', 'x', 0, 0, false, 32),
	SX(PMOVMSKB, 'r', 'x', 0, 0, false, 32),
	SX(MOVNTDQ, 'm', 'x', 0, 16, true, 0), SX(MOVNTPS, 'm', 'x', 0, 16, true, 0),
	SX(MOVNTPD, 'm', 'x', 0, 16, true, 0), SX(MOVNTI, 'm', 'r', 0, 0, false, 0),
	SX(PINSRW, 'x', 'R', 1, 2, false, 32), SX(PEXTRW, 'r', 'x', 1, 0, false, 32),
	SX(UNPCKLPS, 'x', 'X', 0, 16, true, 0), SX(UNPCKHPS, 'x', 'X', 0, 16, true, 0),
	SX(UNPCKLPD, 'x', 'X', 0, 16, true, 0), SX(UNPCKHPD, 'x', 'X', 0, 16, true, 0),
	SX(SHUFPS, 'x', 'X', 1, 16, true, 0), SX(SHUFPD, 'x', 'X', 1, 16, true, 0),
};

static const struct gen_sse_form gen_sse_int[] = {
	PK(PADDB), PK(PADDW), PK(PADDD), PK(PADDQ), PK(PSUBB), PK(PSUBW), PK(PSUBD), PK(PSUBQ),
	PK(PADDSB), PK(PADDSW), PK(PADDUSB), PK(PADDUSW), PK(PSUBSB), PK(PSUBSW),
	PK(PSUBUSB), PK(PSUBUSW), PK(PMULLW), PK(PMULHW), PK(PMULHUW), PK(PMULUDQ),
	PK(PMADDWD), PK(PAVGB), PK(PAVGW), PK(PMINUB), PK(PMAXUB), PK(PMINSW), PK(PMAXSW),
	PK(PSADBW), PK(PAND), PK(PANDN), PK(POR), PK(PXOR), PK(PCMPEQB), PK(PCMPEQW),
	PK(PCMPEQD), PK(PCMPGTB), PK(PCMPGTW), PK(PCMPGTD), PK(PACKSSWB), PK(PACKSSDW),
	PK(PACKUSWB), PK(PUNPCKLBW), PK(PUNPCKLWD), PK(PUNPCKLDQ), PK(PUNPCKLQDQ),
	PK(PUNPCKHBW), PK(PUNPCKHWD), PK(PUNPCKHDQ), PK(PUNPCKHQDQ),
	PK(PSLLW), PK(PSLLD), PK(PSLLQ), PK(PSRLW), PK(PSRLD), PK(PSRLQ), PK(PSRAW), PK(PSRAD),
	SX(PSLLW, 'x', 0, 3, 0, false, 0), SX(PSLLD, 'x', 0, 3, 0, false, 0),
	SX(PSLLQ, 'x', 0, 3, 0, false, 0), SX(PSRLW, 'x', 0, 3, 0, false, 0),
	SX(PSRLD, 'x', 0, 3, 0, false, 0), SX(PSRLQ, 'x', 0, 3, 0, false, 0),
	SX(PSRAW, 'x', 0, 3, 0, false, 0), SX(PSRAD, 'x', 0, 3, 0, false, 0),
	SX(PSLLDQ, 'x', 0, 3, 0, false, 0), SX(PSRLDQ, 'x', 0, 3, 0, false, 0),
	SX(PSHUFD, 'x', 'X', 1, 16, true, 0), SX(PSHUFHW, 'x', 'X', 1, 16, true, 0),
	SX(PSHUFLW, 'x', 'X', 1, 16, true, 0),
};

static const struct gen_sse_form gen_sse_fp[] = {
	PK(ADDPS), PK(ADDPD), PK(SUBPS), PK(SUBPD), PK(MULPS), PK(MULPD), PK(DIVPS), PK(DIVPD),
	PK(MINPS), PK(MINPD), PK(MAXPS), PK(MAXPD), PK(SQRTPS), PK(SQRTPD),
	PK(ANDPS), PK(ANDPD), PK(ANDNPS), PK(ANDNPD), PK(ORPS), PK(ORPD), PK(XORPS), PK(XORPD),
	SX(ADDSS, 'x', 'X', 0, 4, false, 0), SX(ADDSD, 'x', 'X', 0, 8, false, 0),
	SX(SUBSS, 'x', 'X', 0, 4, false, 0), SX(SUBSD, 'x', 'X', 0, 8, false, 0),
	SX(MULSS, 'x', 'X', 0, 4, false, 0), SX(MULSD, 'x', 'X', 0, 8, false, 0),
	SX(DIVSS, 'x', 'X', 0, 4, false, 0), SX(DIVSD, 'x', 'X', 0, 8, false, 0),
	SX(MINSS, 'x', 'X', 0, 4, false, 0), SX(MINSD, 'x', 'X', 0, 8, false, 0),
	SX(MAXSS, 'x', 'X', 0, 4, false, 0), SX(MAXSD, 'x', 'X', 0, 8, false, 0),
	SX(SQRTSS, 'x', 'X', 0, 4, false, 0), SX(SQRTSD, 'x', 'X', 0, 8, false, 0),
	SX(CMPPS, 'x', 'X', 2, 16, true, 0), SX(CMPPD, 'x', 'X', 2, 16, true, 0),
	SX(CMPSS, 'x', 'X', 2, 4, false, 0), SX(CMPSD, 'x', 'X', 2, 8, false, 0),
	SX(COMISS, 'x', 'X', 0, 4, false, 0), SX(COMISD, 'x', 'X', 0, 8, false, 0),
	SX(UCOMISS, 'x', 'X', 0, 4, false, 0), SX(UCOMISD, 'x', 'X', 0, 8, false, 0),
};

static const struct gen_sse_form gen_sse_cvt[] = {
	SX(CVTSI2SS, 'x', 'R', 0, 0, false, 0), SX(CVTSI2SD, 'x', 'R', 0, 0, false, 0),
	SX(CVTSS2SI, 'r', 'X', 0, 4, false, 0), SX(CVTTSS2SI, 'r', 'X', 0, 4, false, 0),
	SX(CVTSD2SI, 'r', 'X', 0, 8, false, 0), SX(CVTTSD2SI, 'r', 'X', 0, 8, false, 0),
	SX(CVTPS2PD, 'x', 'X', 0, 8, false, 0), PK(CVTPD2PS), PK(CVTDQ2PS), PK(CVTPS2DQ),
	PK(CVTTPS2DQ), SX(CVTDQ2PD, 'x', 'X', 0, 8, false, 0), PK(CVTPD2DQ), PK(CVTTPD2DQ),
	SX(CVTSS2SD, 'x', 'X', 0, 4, false, 0), SX(CVTSD2SS, 'x', 'X', 0, 8, false, 0),
};

#define MQ(m) SX(m, 'q', 'Q', 0, 8, false, 0)

static const struct gen_sse_form gen_sse_mmx[] = {
	MQ(PADDB), MQ(PADDW), MQ(PADDD), MQ(PADDQ), MQ(PSUBB), MQ(PSUBW), MQ(PSUBD), MQ(PSUBQ),
	MQ(PADDSB), MQ(PADDSW), MQ(PADDUSB), MQ(PADDUSW), MQ(PSUBSB), MQ(PSUBSW),
	MQ(PSUBUSB), MQ(PSUBUSW), MQ(PMULLW), MQ(PMULHW), MQ(PMULHUW), MQ(PMULUDQ),
	MQ(PMADDWD), MQ(PAVGB), MQ(PAVGW), MQ(PMINUB), MQ(PMAXUB), MQ(PMINSW), MQ(PMAXSW),
	MQ(PSADBW), MQ(PAND), MQ(PANDN), MQ(POR), MQ(PXOR), MQ(PCMPEQB), MQ(PCMPEQW),
	MQ(PCMPEQD), MQ(PCMPGTB), MQ(PCMPGTW), MQ(PCMPGTD), MQ(PACKSSWB), MQ(PACKSSDW),
	MQ(PACKUSWB), MQ(PUNPCKLBW), MQ(PUNPCKLWD), MQ(PUNPCKLDQ), MQ(PUNPCKHBW),
	MQ(PUNPCKHWD), MQ(PUNPCKHDQ),
	MQ(PSLLW), MQ(PSLLD), MQ(PSLLQ), MQ(PSRLW), MQ(PSRLD), MQ(PSRLQ), MQ(PSRAW), MQ(PSRAD),
	SX(PSLLW, 'q', 0, 3, 0, false, 0), SX(PSLLD, 'q', 0, 3, 0, false, 0),
	SX(PSLLQ, 'q', 0, 3, 0, false, 0), SX(PSRLW, 'q', 0, 3, 0, false, 0),
	SX(PSRLD, 'q', 0, 3, 0, false, 0), SX(PSRLQ, 'q', 0, 3, 0, false, 0),
	SX(PSRAW, 'q', 0, 3, 0, false, 0), SX(PSRAD, 'q', 0, 3, 0, false, 0),
	SX(PSHUFW, 'q', 'Q', 1, 8, false, 0),
	SX(MOVD, 'q', 'R', 0, 4, false, 32), SX(MOVD, 'R', 'q', 0, 4, false, 32),
	SX(MOVQ, 'q', 'R', 0, 8, false, 64), SX(MOVQ, 'R', 'q', 0, 8, false, 64),
	SX(MOVQ, 'q', 'Q', 0, 8, false, 0), SX(MOVQ, 'm', 'q', 0, 8, false, 0),
	SX(MOVNTQ, 'm', 'q', 0, 8, false, 0),
	SX(PINSRW, 'q', 'R', 1, 2, false, 32), SX(PEXTRW, 'r', 'q', 1, 0, false, 32),
	SX(PMOVMSKB, 'r', 'q', 0, 0, false, 32),
	SX(MOVQ2DQ, 'x', 'q', 0, 0, false, 0), SX(MOVDQ2Q, 'q', 'x', 0, 0, false, 0),
	SX(CVTPI2PS, 'x', 'Q', 0, 8, false, 0), SX(CVTPS2PI, 'q', 'X', 0, 8, false, 0),
	SX(CVTTPS2PI, 'q', 'X', 0, 8, false, 0), SX(CVTPI2PD, 'x', 'Q', 0, 8, false, 0),
	SX(CVTPD2PI, 'q', 'X', 0, 16, true, 0), SX(CVTTPD2PI, 'q', 'X', 0, 16, true, 0),
	SX(EMMS, 0, 0, 0, 0, false, 0),
};

static ZydisRegister gen_xmm(struct gen *g)
{
	return (ZydisRegister)(ZYDIS_REGISTER_XMM0 + gen_below(g, 16));
}

/* A memory operand for SSE: aligned when required (rarely not: #GP). */
static int gen_sse_mem(struct gen *g, ZydisMnemonic mn, unsigned size, bool align,
		       ZydisEncoderOperand *op)
{
	/* the explicitly aligned moves fault even with MM set: rarely misalign them */
	bool strict = mn == ZYDIS_MNEMONIC_MOVAPS || mn == ZYDIS_MNEMONIC_MOVAPD ||
		      mn == ZYDIS_MNEMONIC_MOVDQA || mn == ZYDIS_MNEMONIC_MOVNTDQ ||
		      mn == ZYDIS_MNEMONIC_MOVNTPS || mn == ZYDIS_MNEMONIC_MOVNTPD;
	uint32_t o = gen_offset(g, size < 16 ? 16 : size, align ? 16 : 1);

	/*
	 * Misaligned packed operands only with MXCSR.MM set (AMD's misaligned
	 * SSE mode, which vessel offers too; MOVAPS and friends still raise
	 * #GP(0) then, which KVM's emulator reflects correctly): without it hardware raises
	 * #GP(0), and under PVM a #GP raised at CPL 3 goes through KVM's
	 * instruction emulator, which does not know most SSE instructions and
	 * reflects #UD instead.
	 */
	if (align && g->mm && gen_chance(g, strict ? 5 : 50))
		o += 1 + gen_below(g, 15);
	if (o + size > DIFF_DATA_SIZE)
		o = DIFF_DATA_SIZE - 16;
	return gen_mem_at(g, size, o, op);
}

static int gen_sse_operand(struct gen *g, const struct gen_sse_form *f, char kind, bool dst,
			   unsigned gbits, ZydisEncoderOperand *op)
{
	switch (kind) {
	case 'x':
		*op = gen_op_reg(gen_xmm(g));
		return 0;
	case 'q':
		*op = gen_op_reg((ZydisRegister)(ZYDIS_REGISTER_MM0 + gen_below(g, 8)));
		return 0;
	case 'Q':
		if (gen_chance(g, 65)) {
			*op = gen_op_reg((ZydisRegister)(ZYDIS_REGISTER_MM0 + gen_below(g, 8)));
			return 0;
		}
		return gen_mem(g, 8, 1, op);
	case 'X':
		if (gen_chance(g, 65)) {
			*op = gen_op_reg(gen_xmm(g));
			return 0;
		}
		return gen_sse_mem(g, f->mn, f->msize, f->align, op);
	case 'm':
		return gen_sse_mem(g, f->mn, f->msize ? f->msize : gbits / 8, f->align, op);
	case 'r':
		*op = gen_op_reg(dst ? gen_gpr(gen_widx(g), gbits) : gen_gpr((int)gen_below(g, 16), gbits));
		return 0;
	default: /* 'R' */
		if (gen_chance(g, 60)) {
			*op = gen_op_reg(dst ? gen_gpr(gen_widx(g), gbits) : gen_gpr((int)gen_below(g, 16), gbits));
			return 0;
		}
		return gen_mem(g, f->msize ? f->msize : gbits / 8, 1, op);
	}
}

static int gen_sse_form(struct gen *g, const struct gen_sse_form *f)
{
	unsigned gbits = f->gbits ? f->gbits : (gen_chance(g, 50) ? 32 : 64);
	ZydisEncoderRequest r;
	ZydisEncoderOperand a, b;
	unsigned n = 0;

	if (f->mn == ZYDIS_MNEMONIC_PINSRW && f->src == 'R')
		gbits = 32;
	gen_req(&r, f->mn, 0);
	if (f->dst) {
		if (gen_sse_operand(g, f, f->dst, true, gbits, &a) < 0)
			return -1;
		r.operands[n++] = a;
	}
	if (f->src) {
		if (gen_sse_operand(g, f, f->src, false, gbits, &b) < 0)
			return -1;
		if (f->mn == ZYDIS_MNEMONIC_PINSRW && b.type == ZYDIS_OPERAND_TYPE_MEMORY)
			b.mem.size = 2;
		r.operands[n++] = b;
	}
	switch (f->imm) {
	case 1: r.operands[n++] = gen_op_imm(gen_below(g, 256)); break;
	case 2: r.operands[n++] = gen_op_imm(gen_below(g, 8)); break;
	case 3: r.operands[n++] = gen_op_imm(gen_chance(g, 85) ? gen_below(g, 71) : gen_below(g, 256)); break;
	default: break;
	}
	r.operand_count = (ZyanU8)n;
	return gen_encode(g, &r, -1);
}

/* ldmxcsr of a random rounding mode / FTZ / DAZ, rarely unmasking exceptions. */
static int gen_ldmxcsr(struct gen *g)
{
	uint32_t m = gen_mxcsr(g);
	uint32_t o = gen_offset(g, 4, 4);
	ZydisEncoderOperand op;

	bool ld = gen_chance(g, 85);

	if (gen_chance(g, 8))
		m &= ~(0x80u << gen_below(g, 6)); /* unmask one exception: #XM may follow */
	/* MM stays as it is inside branch and loop bodies (see gen_sse_mem) */
	if (g->in_branch)
		m = g->mm ? m | 0x20000 : m & ~0x20000u;
	if (gen_mem_at(g, 4, o, &op) < 0 ||
	    gen_insn2(g, ZYDIS_MNEMONIC_MOV, op, gen_op_imm(m), -1) < 0 ||
	    gen_insn1(g, ld ? ZYDIS_MNEMONIC_LDMXCSR : ZYDIS_MNEMONIC_STMXCSR, op, -1) < 0)
		return -1;
	if (ld)
		g->mm = (m & 0x20000) != 0;
	return 0;
}

static int gen_sse(struct gen *g, int cls)
{
#define PICK(tab) (&(tab)[gen_below(g, sizeof(tab) / sizeof((tab)[0]))])
	switch (cls) {
	case DIFF_C_SSEMOV:
		return gen_sse_form(g, PICK(gen_sse_mov));
	case DIFF_C_SSEINT:
		return gen_sse_form(g, PICK(gen_sse_int));
	case DIFF_C_SSEFP:
		return gen_sse_form(g, PICK(gen_sse_fp));
	case DIFF_C_SSECVT:
		if (gen_chance(g, 15))
			return gen_ldmxcsr(g);
		return gen_sse_form(g, PICK(gen_sse_cvt));
	case DIFF_C_MMX:
		return gen_sse_form(g, PICK(gen_sse_mmx));
	default:
		return -1;
	}
#undef PICK
}

/* ---- the whole test ---- */

static uint32_t gen_f32(struct gen *g)
{
	static const uint32_t special[] = {
		0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3f000000, 0x7f800000,
		0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00001, 0x00000001, 0x807fffff,
		0x7f7fffff, 0x4f000000, 0xcf000000, 0x5f000000, 0x4effffff, 0x3fc00000,
	};

	switch (gen_below(g, 6)) {
	case 0:
		return special[gen_below(g, sizeof(special) / sizeof(special[0]))];
	case 1: { /* small integer or half-integer */
		float f = (float)((int32_t)gen_below(g, 2001) - 1000) / (gen_chance(g, 50) ? 1.0f : 2.0f);
		uint32_t u;

		memcpy(&u, &f, 4);
		return u;
	}
	case 2:
		return (uint32_t)gen_u64(g);
	default: /* normal with a moderate exponent */
		return (uint32_t)(gen_u64(g) & 0x807fffff) | (uint32_t)(100 + gen_below(g, 56)) << 23;
	}
}

static uint64_t gen_f64(struct gen *g)
{
	static const uint64_t special[] = {
		0, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
		0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull,
		0xfff8000000000000ull, 0x7ff4000000000001ull, 0x0000000000000001ull,
		0x800fffffffffffffull, 0x7fefffffffffffffull, 0x41e0000000000000ull,
		0xc1e0000000000000ull, 0x43e0000000000000ull, 0xc3e0000000000000ull,
		0x41dfffffffffffffull, 0x3fe0000000000000ull, 0x36a0000000000000ull,
	};

	switch (gen_below(g, 6)) {
	case 0:
		return special[gen_below(g, sizeof(special) / sizeof(special[0]))];
	case 1: {
		double d = (double)((int64_t)gen_below(g, 200001) - 100000) / (gen_chance(g, 50) ? 1.0 : 4.0);
		uint64_t u;

		memcpy(&u, &d, 8);
		return u;
	}
	case 2:
		return gen_u64(g);
	default:
		return (gen_u64(g) & 0x800fffffffffffffull) | (uint64_t)(900 + gen_below(g, 250)) << 52;
	}
}

static void gen_fill_xmm(struct gen *g, uint8_t *x, unsigned bytes)
{
	unsigned i;

	switch (gen_below(g, 4)) {
	case 0:
		for (i = 0; i + 4 <= bytes; i += 4) {
			uint32_t v = gen_f32(g);

			memcpy(x + i, &v, 4);
		}
		break;
	case 1:
		for (i = 0; i + 8 <= bytes; i += 8) {
			uint64_t v = gen_f64(g);

			memcpy(x + i, &v, 8);
		}
		break;
	case 2:
		for (i = 0; i + 2 <= bytes; i += 2) {
			uint16_t v = (uint16_t)gen_value(g, 16);

			memcpy(x + i, &v, 2);
		}
		break;
	default:
		for (i = 0; i < bytes; i++)
			x[i] = (uint8_t)gen_u64(g);
		break;
	}
}

static uint32_t gen_mxcsr(struct gen *g)
{
	uint32_t m = 0x1f80 | (gen_below(g, 4) << 13);

	if (gen_chance(g, 15))
		m |= 0x8000; /* FTZ */
	if (gen_chance(g, 15))
		m |= 0x40;   /* DAZ */
	if ((g->features & DIFF_F_MM) && gen_chance(g, 20))
		m |= 0x20000; /* MM: misaligned SSE operands allowed */
	return m;
}

int vsl_diff_gen(struct vsl_diff_test *t, uint64_t seed, const struct vsl_diff_gen_opts *o)
{
	struct gen g;
	uint64_t x = seed;
	unsigned i, step;
	uint32_t classes[DIFF_C_COUNT], ncls = 0;
	static const uint8_t hlt[] = { 0xf4 };

	if (vsl_diff_test_init(t) < 0)
		return -1;
	memset(&g, 0, sizeof(g));
	g.t = t;
	g.mask = o->classes & DIFF_C_ALL;
	g.features = o->features;
	for (i = 0; i < 4; i++)
		g.s[i] = gen_splitmix(&x);
	ZydisDecoderInit(&g.dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	t->seed = seed;
	snprintf(t->name, sizeof(t->name), "seed %llu", (unsigned long long)seed);
	/*
	 * KVM here is PVM: guest CPL 3 runs natively on the host CPU (the real
	 * oracle), guest CPL 0 is run by KVM's instruction emulator, which
	 * lacks most SSE. So most sequences run at CPL 3, and SSE classes and
	 * the optional instructions (POPCNT, CMPXCHG16B) are only drawn there.
	 */
	t->cpl = o->cpl >= 0 ? o->cpl : (gen_chance(&g, 75) ? 3 : 0);
	if (t->cpl == 3 && o->cpl < 0 && !(g.mask & ~(1u << DIFF_C_SYS)))
		t->cpl = 0; /* only CPL 0 classes asked for */
	if (t->cpl == 0) {
		uint32_t sse = (1u << DIFF_C_SSEMOV) | (1u << DIFF_C_SSEINT) |
			       (1u << DIFF_C_SSEFP) | (1u << DIFF_C_SSECVT) | (1u << DIFF_C_X87) |
			       (1u << DIFF_C_MMX);

		if ((g.mask & ~sse) == 0 && o->cpl < 0)
			t->cpl = 3;
		else if (t->cpl == 0)
			g.mask &= ~sse;
		g.features = 0; /* KVM's emulator lacks POPCNT and CMPXCHG16B too */
	} else {
		/*
		 * Under PVM guest CPL 3 runs with the host's selectors, GDT and
		 * CR0: reading CS/SS, SGDT, LAR, SMSW... there show the host's.
		 */
		g.mask &= ~(1u << DIFF_C_SYS);
	}
	for (i = 0; i < DIFF_C_COUNT; i++)
		if (g.mask & (1u << i))
			classes[ncls++] = i;
	for (i = 0; i < 16; i++)
		t->init.gpr[i] = gen_value(&g, 64);
	t->init.gpr[4] = DIFF_USTACK_INIT;
	t->init.gpr[15] = DIFF_DATA;
	t->init.rflags = 0x2 | (gen_u64(&g) & (DIFF_ARITH | DIFF_DF));
	/* FS and GS bases a whole number of pages below the data pages */
	t->init.fs_base = DIFF_DATA - 0x1000 * (uint64_t)(1 + gen_below(&g, 255));
	t->init.gs_base = DIFF_DATA - 0x1000 * (uint64_t)(1 + gen_below(&g, 255));
	g.fsgs_ok = true;
	for (i = 0; i < 16; i++)
		gen_fill_xmm(&g, t->init.xmm[i], 16);
	t->init.mxcsr = gen_mxcsr(&g);
	g.mm = (t->init.mxcsr & 0x20000) != 0;
	for (i = 0; i < DIFF_DATA_SIZE; i += 16)
		gen_fill_xmm(&g, t->ram + DIFF_DATA + i, 16);
	for (i = DIFF_USTACK_LO; i < DIFF_USTACK_HI; i += 8) {
		uint64_t v = gen_u64(&g);

		memcpy(t->ram + i, &v, 8);
	}

	/* half the sequences start near the end of a page, so code crosses it */
	if (gen_chance(&g, 50))
		g.at = 0xc00 + gen_below(&g, 0x400);
	t->code_start = g.at;
	t->init.rip = DIFF_CODE + g.at;
	for (step = 0; ncls && step < o->len; step++) {
		int tries;

		for (tries = 0; tries < 16; tries++) {
			int cls = (int)classes[gen_below(&g, ncls)];
			struct gen_mark m;

			/* faults end the sequence: draw them (and #DE) less often */
			if ((cls == DIFF_C_FAULT || cls == DIFF_C_DE) && ncls > 2 &&
			    !gen_chance(&g, cls == DIFF_C_DE ? 8 : 20))
				continue;
			gen_mark(&g, &m);
			if (gen_one(&g, cls) == 0) {
				t->classes |= 1u << cls;
				break;
			}
			gen_rollback(&g, &m);
		}
	}
	g.cls = 255;
	if (t->classes & ((1u << DIFF_C_X87) | (1u << DIFF_C_MMX))) {
		/* store the x87/SSE state where the comparator can see it */
		ZydisEncoderOperand m;

		memset(&m, 0, sizeof(m));
		m.type = ZYDIS_OPERAND_TYPE_MEMORY;
		m.mem.displacement = DIFF_FXSAVE;
		m.mem.size = 512;
		t->fsw_undef = (uint16_t)(((g.fundef & 1) ? 0x100 : 0) | ((g.fundef & 2) ? 0x200 : 0) |
					  ((g.fundef & 4) ? 0x400 : 0) | ((g.fundef & 8) ? 0x4000 : 0));
		if (gen_insn1(&g, ZYDIS_MNEMONIC_FXSAVE, m, -1) == 0)
			t->fxsave_at = DIFF_FXSAVE;
	}
	if (gen_bytes(&g, hlt, sizeof(hlt), -1) < 0) {
		free(g.insn);
		vsl_diff_test_fini(t);
		return -1;
	}
	t->code_len = g.at;
	t->insn = g.insn;
	t->ninsn = g.n;
	vsl_diff_image_prologue(t);
	return 0;
}
