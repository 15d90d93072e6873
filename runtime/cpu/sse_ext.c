/*
 * SSE3, SSSE3, SSE4.1 and SSE4.2 (the x86-64-v2 vector set) for the fpu
 * module, with the same approach as sse.c: every computation is the host's
 * own instruction run from a stub (sse_host.c), data movement is C.
 *
 *   RMW stubs          "op %xmm1, %xmm0": SSE3 horizontal/addsub (under
 *                      MXCSR), SSSE3 and SSE4 integer ops, PMOVSX/ZX.
 *   immediate tables   one stub per immediate value the instruction
 *                      honours, 8-byte slots: ROUNDPS/PD/SS/SD (16),
 *                      DPPS/DPPD (256), MPSADBW (8), PCMPxSTRx (256, with
 *                      and without REX.W).
 *   C                  PALIGNR, BLEND*, BLENDV*, INSERTPS, EXTRACTPS,
 *                      PINSRx, PEXTRx, LDDQU, MOVNTDQA, CRC32.
 *
 * MMX forms of SSSE3 (PSHUFB mm, PHADDW mm...) run the SSE stub on the low
 * 64 bits with the operands arranged so the low half of the result is the
 * MMX result (indices masked to 3 bits for PSHUFB; the source moved into the
 * high half of the destination for the horizontal ops).
 *
 * As in sse.c, alignment of 16-byte memory operands is checked (#GP(0))
 * except for LDDQU and PCMPxSTRx, which accept any address.
 */
#include <string.h>

#include "runtime/cpu/cpu_internal.h"

#define EXT_FP_OPS(X) \
	X(ADDSUBPS, "addsubps") X(ADDSUBPD, "addsubpd") X(HADDPS, "haddps") \
	X(HADDPD, "haddpd") X(HSUBPS, "hsubps") X(HSUBPD, "hsubpd")

#define EXT_INT_OPS(X) \
	X(MOVSLDUP, "movsldup") X(MOVSHDUP, "movshdup") X(MOVDDUP, "movddup") \
	X(PSHUFB, "pshufb") X(PHADDW, "phaddw") X(PHADDD, "phaddd") X(PHADDSW, "phaddsw") \
	X(PHSUBW, "phsubw") X(PHSUBD, "phsubd") X(PHSUBSW, "phsubsw") \
	X(PMADDUBSW, "pmaddubsw") X(PMULHRSW, "pmulhrsw") \
	X(PSIGNB, "psignb") X(PSIGNW, "psignw") X(PSIGND, "psignd") \
	X(PABSB, "pabsb") X(PABSW, "pabsw") X(PABSD, "pabsd") \
	X(PMULLD, "pmulld") X(PMULDQ, "pmuldq") \
	X(PMINSB, "pminsb") X(PMINSD, "pminsd") X(PMINUW, "pminuw") X(PMINUD, "pminud") \
	X(PMAXSB, "pmaxsb") X(PMAXSD, "pmaxsd") X(PMAXUW, "pmaxuw") X(PMAXUD, "pmaxud") \
	X(PCMPEQQ, "pcmpeqq") X(PCMPGTQ, "pcmpgtq") X(PACKUSDW, "packusdw") \
	X(PHMINPOSUW, "phminposuw") \
	X(PMOVSXBW, "pmovsxbw") X(PMOVSXBD, "pmovsxbd") X(PMOVSXBQ, "pmovsxbq") \
	X(PMOVSXWD, "pmovsxwd") X(PMOVSXWQ, "pmovsxwq") X(PMOVSXDQ, "pmovsxdq") \
	X(PMOVZXBW, "pmovzxbw") X(PMOVZXBD, "pmovzxbd") X(PMOVZXBQ, "pmovzxbq") \
	X(PMOVZXWD, "pmovzxwd") X(PMOVZXWQ, "pmovzxwq") X(PMOVZXDQ, "pmovzxdq") \
	X(PTEST, "ptest")

#define EXT_STUB_ASM(M, txt) "vsl_sse_ext_" #M ":\n\t" txt " %xmm1, %xmm0\n\tret\n"
#define EXT_STUB_DECL(M, txt) \
	extern const unsigned char vsl_sse_ext_##M[] __attribute__((visibility("hidden")));

/* n stubs "insn $i, %xmm1, %xmm0; ret" in 8-byte slots */
#define EXT_IMM_TABLE(name, insn, n) \
	".p2align 3\n" name ":\n" \
	".set vsl_ext_i, 0\n" \
	".rept " #n "\n" \
	".p2align 3\n\t" insn " $vsl_ext_i, %xmm1, %xmm0\n\tret\n" \
	".set vsl_ext_i, vsl_ext_i + 1\n" \
	".endr\n"
/* the same from raw bytes (66 [REX.W] 0F 3A op C1 ib) for PCMPxSTRx */
#define EXT_STR_TABLE(name, rexw, op) \
	".p2align 3\n" name ":\n" \
	".set vsl_ext_i, 0\n" \
	".rept 256\n" \
	".p2align 3\n\t" \
	".byte 0x66" rexw ", 0x0f, 0x3a, " op ", 0xc1, vsl_ext_i\n\tret\n" \
	".set vsl_ext_i, vsl_ext_i + 1\n" \
	".endr\n"

__asm__(".pushsection .text\n"
	".p2align 4\n"
	EXT_FP_OPS(EXT_STUB_ASM)
	EXT_INT_OPS(EXT_STUB_ASM)
	"vsl_sse_ext_mulps:\n\tmulps %xmm1, %xmm0\n\tret\n"
	"vsl_sse_ext_mulpd:\n\tmulpd %xmm1, %xmm0\n\tret\n"
	EXT_IMM_TABLE("vsl_sse_ext_roundps", "roundps", 16)
	EXT_IMM_TABLE("vsl_sse_ext_roundpd", "roundpd", 16)
	EXT_IMM_TABLE("vsl_sse_ext_roundss", "roundss", 16)
	EXT_IMM_TABLE("vsl_sse_ext_roundsd", "roundsd", 16)
	EXT_IMM_TABLE("vsl_sse_ext_dpps", "dpps", 256)
	EXT_IMM_TABLE("vsl_sse_ext_dppd", "dppd", 256)
	EXT_IMM_TABLE("vsl_sse_ext_mpsadbw", "mpsadbw", 8)
	EXT_STR_TABLE("vsl_sse_ext_pcmpestrm", "", "0x60")
	EXT_STR_TABLE("vsl_sse_ext_pcmpestri", "", "0x61")
	EXT_STR_TABLE("vsl_sse_ext_pcmpistrm", "", "0x62")
	EXT_STR_TABLE("vsl_sse_ext_pcmpistri", "", "0x63")
	EXT_STR_TABLE("vsl_sse_ext_pcmpestrm_w", ", 0x48", "0x60")
	EXT_STR_TABLE("vsl_sse_ext_pcmpestri_w", ", 0x48", "0x61")
	".popsection\n");

EXT_FP_OPS(EXT_STUB_DECL)
EXT_INT_OPS(EXT_STUB_DECL)
#define EXT_TABLE_DECL(n) extern const unsigned char n[] __attribute__((visibility("hidden")));
EXT_TABLE_DECL(vsl_sse_ext_mulps)
EXT_TABLE_DECL(vsl_sse_ext_mulpd)
EXT_TABLE_DECL(vsl_sse_ext_roundps)
EXT_TABLE_DECL(vsl_sse_ext_roundpd)
EXT_TABLE_DECL(vsl_sse_ext_roundss)
EXT_TABLE_DECL(vsl_sse_ext_roundsd)
EXT_TABLE_DECL(vsl_sse_ext_dpps)
EXT_TABLE_DECL(vsl_sse_ext_dppd)
EXT_TABLE_DECL(vsl_sse_ext_mpsadbw)
EXT_TABLE_DECL(vsl_sse_ext_pcmpestrm)
EXT_TABLE_DECL(vsl_sse_ext_pcmpestri)
EXT_TABLE_DECL(vsl_sse_ext_pcmpistrm)
EXT_TABLE_DECL(vsl_sse_ext_pcmpistri)
EXT_TABLE_DECL(vsl_sse_ext_pcmpestrm_w)
EXT_TABLE_DECL(vsl_sse_ext_pcmpestri_w)

/* ---- helpers ---- */

static bool ext_is_xmm(const ZydisDecodedOperand *op)
{
	return op->type == ZYDIS_OPERAND_TYPE_REGISTER &&
	       ZydisRegisterGetClass(op->reg.value) == ZYDIS_REGCLASS_XMM;
}

static bool ext_is_mm(const ZydisDecodedOperand *op)
{
	return op->type == ZYDIS_OPERAND_TYPE_REGISTER &&
	       ZydisRegisterGetClass(op->reg.value) == ZYDIS_REGCLASS_MMX;
}

static uint8_t *ext_xmm(struct vsl_cpu *cpu, ZydisRegister r)
{
	return cpu->fpu.xmm[(r - ZYDIS_REGISTER_XMM0) & 15];
}

static unsigned ext_imm(const struct vsl_insn *in)
{
	for (unsigned i = 0; i < in->zi.operand_count; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			return (unsigned)(in->ops[i].imm.value.u & 0xff);
	return 0;
}

static const void *ext_rmw_stub(ZydisMnemonic m, bool *fp)
{
	*fp = false;
	switch (m) {
#define EXT_CASE_FP(M, txt) case ZYDIS_MNEMONIC_##M: *fp = true; return vsl_sse_ext_##M;
#define EXT_CASE_INT(M, txt) case ZYDIS_MNEMONIC_##M: return vsl_sse_ext_##M;
	EXT_FP_OPS(EXT_CASE_FP)
	EXT_INT_OPS(EXT_CASE_INT)
#undef EXT_CASE_FP
#undef EXT_CASE_INT
	default:
		return NULL;
	}
}

/* ---- stub-based ---- */

/* SSSE3 MMX forms: arrange for the SSE stub, as described at the top. */
static void ext_mmx_arrange(ZydisMnemonic m, struct vsl_sse_host *h)
{
	switch (m) {
	case ZYDIS_MNEMONIC_PSHUFB:
		for (unsigned i = 0; i < 8; i++)
			h->s[i] &= 0x87;
		break;
	case ZYDIS_MNEMONIC_PHADDW: case ZYDIS_MNEMONIC_PHADDD: case ZYDIS_MNEMONIC_PHADDSW:
	case ZYDIS_MNEMONIC_PHSUBW: case ZYDIS_MNEMONIC_PHSUBD: case ZYDIS_MNEMONIC_PHSUBSW:
		memcpy(h->d + 8, h->s, 8);
		memset(h->s, 0, 16);
		break;
	default:
		break;
	}
}

static bool ext_has_mmx_form(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_PSHUFB: case ZYDIS_MNEMONIC_PHADDW: case ZYDIS_MNEMONIC_PHADDD:
	case ZYDIS_MNEMONIC_PHADDSW: case ZYDIS_MNEMONIC_PHSUBW: case ZYDIS_MNEMONIC_PHSUBD:
	case ZYDIS_MNEMONIC_PHSUBSW: case ZYDIS_MNEMONIC_PMADDUBSW: case ZYDIS_MNEMONIC_PMULHRSW:
	case ZYDIS_MNEMONIC_PSIGNB: case ZYDIS_MNEMONIC_PSIGNW: case ZYDIS_MNEMONIC_PSIGND:
	case ZYDIS_MNEMONIC_PABSB: case ZYDIS_MNEMONIC_PABSW: case ZYDIS_MNEMONIC_PABSD:
		return true;
	default:
		return false;
	}
}

static int ext_exec_rmw(struct vsl_cpu *cpu, const struct vsl_insn *in, const void *stub, bool fp)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	ZydisMnemonic m = in->zi.mnemonic;
	struct vsl_sse_host h;
	int r;

	memset(&h, 0, sizeof(h));
	if (ext_is_mm(dst)) {
		uint64_t v;

		if (!ext_has_mmx_form(m))
			return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
		if ((r = vsl_sse_check_mmx(cpu, false)))
			return r;
		if ((r = vsl_sse_read_op(cpu, in, src, h.s, false, false)))
			return r;
		v = 0;
		memcpy(&v, cpu->fpu.st[(dst->reg.value - ZYDIS_REGISTER_MM0) & 7], 8);
		memcpy(h.d, &v, 8);
		ext_mmx_arrange(m, &h);
		vsl_sse_host_run_int(&h, stub);
		memcpy(&v, h.d, 8);
		vsl_x87_mmx_write(&cpu->fpu, (dst->reg.value - ZYDIS_REGISTER_MM0) & 7, v);
		return 0;
	}
	if (!ext_is_xmm(dst))
		return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
	if ((r = vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, src, h.s, true, false)))
		return r;
	memcpy(h.d, ext_xmm(cpu, dst->reg.value), 16);
	if (m == ZYDIS_MNEMONIC_PTEST) {
		/* flags only: ZF, CF; OF SF AF PF cleared (the host's as they are) */
		if ((r = vsl_sse_run(cpu, &h, stub)))
			return r;
		cpu->rflags = (cpu->rflags & ~(uint64_t)VSL_FL_ARITH) | (h.rflags & VSL_FL_ARITH);
		return 0;
	}
	if (fp) {
		if ((r = vsl_sse_run(cpu, &h, stub)))
			return r;
	} else {
		vsl_sse_host_run_int(&h, stub);
	}
	memcpy(ext_xmm(cpu, dst->reg.value), h.d, 16);
	return 0;
}

/*
 * DPPS/DPPD fault in stages: an unmasked exception of the multiplications
 * stops the instruction before the additions (whose flags, e.g. DE of a
 * tiny product, are then not reported), while a fault in the additions
 * still reports the flags the multiplications raised. With some exception
 * unmasked, run the selected multiplications alone first: VSL_CPU_FAULT if
 * they fault, else 0 with their flags in *flags1.
 */
static int ext_dp_stage1(struct vsl_cpu *cpu, const struct vsl_sse_host *h, unsigned imm,
			 unsigned lane, uint32_t *flags1)
{
	struct vsl_sse_host m = *h;
	uint32_t saved = cpu->fpu.mxcsr;
	int r;

	for (unsigned i = 0; i < 16 / lane; i++)
		if (!((imm >> (4 + i)) & 1)) {
			memset(m.d + lane * i, 0, lane);
			memset(m.s + lane * i, 0, lane);
		}
	r = vsl_sse_run(cpu, &m, lane == 4 ? vsl_sse_ext_mulps : vsl_sse_ext_mulpd);
	if (r)
		return r;
	*flags1 = cpu->fpu.mxcsr & 0x3f;
	cpu->fpu.mxcsr = saved;
	return 0;
}

/* ROUND*, DPPS/DPPD, MPSADBW: a stub per immediate. */
static int ext_exec_imm(struct vsl_cpu *cpu, const struct vsl_insn *in, const unsigned char *table,
			unsigned mask, bool fp)
{
	const ZydisDecodedOperand *dst = &in->ops[0];
	struct vsl_sse_host h;
	uint32_t flags1 = 0;
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	memset(&h, 0, sizeof(h));
	if ((r = vsl_sse_read_op(cpu, in, &in->ops[1], h.s, true, false)))
		return r;
	memcpy(h.d, ext_xmm(cpu, dst->reg.value), 16);
	if ((table == vsl_sse_ext_dpps || table == vsl_sse_ext_dppd) &&
	    (cpu->fpu.mxcsr & 0x1f80) != 0x1f80 &&
	    (r = ext_dp_stage1(cpu, &h, ext_imm(in), table == vsl_sse_ext_dpps ? 4 : 8, &flags1)))
		return r;
	if (fp) {
		if ((r = vsl_sse_run(cpu, &h, table + 8 * (ext_imm(in) & mask)))) {
			cpu->fpu.mxcsr |= flags1;
			return r;
		}
	} else {
		vsl_sse_host_run_int(&h, table + 8 * (ext_imm(in) & mask));
	}
	memcpy(ext_xmm(cpu, dst->reg.value), h.d, 16);
	return 0;
}

/* PCMPESTRI/ESTRM/ISTRI/ISTRM: implicit RAX/RDX lengths, ECX index or XMM0
 * mask, flags. Memory operands need no alignment. */
static int ext_exec_str(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	ZydisMnemonic m = in->zi.mnemonic;
	bool w = in->zi.attributes & ZYDIS_ATTRIB_HAS_REX && in->zi.raw.rex.W;
	bool index = m == ZYDIS_MNEMONIC_PCMPESTRI || m == ZYDIS_MNEMONIC_PCMPISTRI;
	const unsigned char *table;
	struct vsl_sse_host h;
	uint64_t rdx = cpu->gpr[VSL_RDX], rcx = cpu->gpr[VSL_RCX];
	int r;

	switch (m) {
	case ZYDIS_MNEMONIC_PCMPESTRM: table = w ? vsl_sse_ext_pcmpestrm_w : vsl_sse_ext_pcmpestrm; break;
	case ZYDIS_MNEMONIC_PCMPESTRI: table = w ? vsl_sse_ext_pcmpestri_w : vsl_sse_ext_pcmpestri; break;
	case ZYDIS_MNEMONIC_PCMPISTRM: table = vsl_sse_ext_pcmpistrm; break;
	default: table = vsl_sse_ext_pcmpistri; break;
	}
	if ((r = vsl_sse_check(cpu)))
		return r;
	memset(&h, 0, sizeof(h));
	if ((r = vsl_sse_read_op(cpu, in, &in->ops[1], h.s, false, false)))
		return r;
	memcpy(h.d, ext_xmm(cpu, in->ops[0].reg.value), 16);
	h.gpr = cpu->gpr[VSL_RAX];
	vsl_sse_host_run_str(&h, table + 8 * ext_imm(in), &rdx, &rcx);
	cpu->rflags = (cpu->rflags & ~(uint64_t)VSL_FL_ARITH) | (h.rflags & VSL_FL_ARITH);
	if (index)
		cpu->gpr[VSL_RCX] = rcx;   /* the host wrote ECX (zero-extended) */
	else
		memcpy(cpu->fpu.xmm[0], h.d, 16);   /* the mask went to host XMM0 */
	return 0;
}

/* ---- C ---- */

static int ext_exec_palignr(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *dst = &in->ops[0];
	bool mmx = ext_is_mm(dst);
	unsigned n = mmx ? 8 : 16, imm = ext_imm(in);
	uint8_t cat[32] = { 0 }, s[16];
	int r;

	if ((r = mmx ? vsl_sse_check_mmx(cpu, false) : vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, &in->ops[1], s, !mmx, false)))
		return r;
	memcpy(cat, s, n);
	if (mmx) {
		uint64_t v;

		memcpy(cat + 8, cpu->fpu.st[(dst->reg.value - ZYDIS_REGISTER_MM0) & 7], 8);
		v = 0;
		if (imm < 16)
			memcpy(&v, cat + imm, 16 - imm < 8 ? 16 - imm : 8);
		vsl_x87_mmx_write(&cpu->fpu, (dst->reg.value - ZYDIS_REGISTER_MM0) & 7, v);
		return 0;
	}
	memcpy(cat + 16, ext_xmm(cpu, dst->reg.value), 16);
	memset(s, 0, 16);
	if (imm < 32)
		memcpy(s, cat + imm, 32 - imm < 16 ? 32 - imm : 16);
	memcpy(ext_xmm(cpu, dst->reg.value), s, 16);
	return 0;
}

/* BLENDPS/BLENDPD/PBLENDW (imm) and BLENDVPS/BLENDVPD/PBLENDVB (XMM0). */
static int ext_exec_blend(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	ZydisMnemonic m = in->zi.mnemonic;
	uint8_t *d, s[16], mask0[16];
	unsigned imm = ext_imm(in), lane;
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, &in->ops[1], s, true, false)))
		return r;
	d = ext_xmm(cpu, in->ops[0].reg.value);
	memcpy(mask0, cpu->fpu.xmm[0], 16);
	switch (m) {
	case ZYDIS_MNEMONIC_BLENDPS: lane = 4; break;
	case ZYDIS_MNEMONIC_BLENDPD: lane = 8; break;
	case ZYDIS_MNEMONIC_PBLENDW: lane = 2; break;
	case ZYDIS_MNEMONIC_BLENDVPS: lane = 4; break;
	case ZYDIS_MNEMONIC_BLENDVPD: lane = 8; break;
	default: lane = 1; break;   /* PBLENDVB */
	}
	for (unsigned i = 0; i < 16 / lane; i++) {
		bool pick;

		if (m == ZYDIS_MNEMONIC_BLENDVPS || m == ZYDIS_MNEMONIC_BLENDVPD ||
		    m == ZYDIS_MNEMONIC_PBLENDVB)
			pick = mask0[i * lane + lane - 1] & 0x80;
		else
			pick = (imm >> i) & 1;
		if (pick)
			memcpy(d + i * lane, s + i * lane, lane);
	}
	return 0;
}

static int ext_exec_insertps(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *src = &in->ops[1];
	unsigned imm = ext_imm(in);
	uint8_t s[16], *d;
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, src, s, false, false)))
		return r;
	d = ext_xmm(cpu, in->ops[0].reg.value);
	if (src->type == ZYDIS_OPERAND_TYPE_MEMORY)
		memcpy(d + 4 * ((imm >> 4) & 3), s, 4);
	else
		memcpy(d + 4 * ((imm >> 4) & 3), s + 4 * (imm >> 6), 4);
	for (unsigned i = 0; i < 4; i++)
		if ((imm >> i) & 1)
			memset(d + 4 * i, 0, 4);
	return 0;
}

/* PINSRB/PINSRD/PINSRQ (PINSRW stays in sse.c). */
static int ext_exec_pinsr(struct vsl_cpu *cpu, const struct vsl_insn *in, unsigned n)
{
	unsigned imm = ext_imm(in) & (16 / n - 1);
	uint8_t v[16];
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, &in->ops[1], v, false, false)))
		return r;
	memcpy(ext_xmm(cpu, in->ops[0].reg.value) + n * imm, v, n);
	return 0;
}

/* PEXTRB/PEXTRW(SSE4.1 form)/PEXTRD/PEXTRQ/EXTRACTPS to a GPR or memory. */
static int ext_exec_pextr(struct vsl_cpu *cpu, const struct vsl_insn *in, unsigned n)
{
	const ZydisDecodedOperand *dst = &in->ops[0];
	unsigned imm = ext_imm(in) & (16 / n - 1);
	uint64_t v = 0;
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	memcpy(&v, ext_xmm(cpu, in->ops[1].reg.value) + n * imm, n);
	if (dst->type == ZYDIS_OPERAND_TYPE_MEMORY)
		return vsl_sse_write_mem(cpu, in, dst, &v, n, false, false);
	vsl_cpu_reg_write(cpu, dst->reg.value, v);   /* zero-extended */
	return 0;
}

/* LDDQU (any alignment) and MOVNTDQA (aligned, even in AMD MM mode). */
static int ext_exec_load(struct vsl_cpu *cpu, const struct vsl_insn *in, bool aligned)
{
	uint8_t v[16];
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, &in->ops[1], v, aligned, true)))
		return r;
	memcpy(ext_xmm(cpu, in->ops[0].reg.value), v, 16);
	return 0;
}

/* CRC32 r32/r64, r/m8..64: CRC-32C (Castagnoli), reflected, no inversion. */
static int ext_exec_crc32(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *src = &in->ops[1];
	uint32_t crc = (uint32_t)vsl_cpu_reg_read(cpu, in->ops[0].reg.value);
	unsigned n = src->size / 8;
	uint8_t v[16];
	int r;

	if ((r = vsl_sse_read_op(cpu, in, src, v, false, false)))
		return r;
	for (unsigned i = 0; i < n && i < 8; i++) {
		crc ^= v[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	vsl_cpu_reg_write(cpu, in->ops[0].reg.value, crc);   /* r64 form: zero-extended */
	return 0;
}

int vsl_sse_ext_exec(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	ZydisMnemonic m = in->zi.mnemonic;
	const void *stub;
	bool fp;

	switch (m) {
	case ZYDIS_MNEMONIC_ROUNDPS: return ext_exec_imm(cpu, in, vsl_sse_ext_roundps, 15, true);
	case ZYDIS_MNEMONIC_ROUNDPD: return ext_exec_imm(cpu, in, vsl_sse_ext_roundpd, 15, true);
	case ZYDIS_MNEMONIC_ROUNDSS: return ext_exec_imm(cpu, in, vsl_sse_ext_roundss, 15, true);
	case ZYDIS_MNEMONIC_ROUNDSD: return ext_exec_imm(cpu, in, vsl_sse_ext_roundsd, 15, true);
	case ZYDIS_MNEMONIC_DPPS: return ext_exec_imm(cpu, in, vsl_sse_ext_dpps, 255, true);
	case ZYDIS_MNEMONIC_DPPD: return ext_exec_imm(cpu, in, vsl_sse_ext_dppd, 255, true);
	case ZYDIS_MNEMONIC_MPSADBW: return ext_exec_imm(cpu, in, vsl_sse_ext_mpsadbw, 7, false);
	case ZYDIS_MNEMONIC_PCMPESTRI: case ZYDIS_MNEMONIC_PCMPESTRM:
	case ZYDIS_MNEMONIC_PCMPISTRI: case ZYDIS_MNEMONIC_PCMPISTRM:
		return ext_exec_str(cpu, in);
	case ZYDIS_MNEMONIC_PALIGNR:
		return ext_exec_palignr(cpu, in);
	case ZYDIS_MNEMONIC_BLENDPS: case ZYDIS_MNEMONIC_BLENDPD: case ZYDIS_MNEMONIC_PBLENDW:
	case ZYDIS_MNEMONIC_BLENDVPS: case ZYDIS_MNEMONIC_BLENDVPD: case ZYDIS_MNEMONIC_PBLENDVB:
		return ext_exec_blend(cpu, in);
	case ZYDIS_MNEMONIC_INSERTPS:
		return ext_exec_insertps(cpu, in);
	case ZYDIS_MNEMONIC_PINSRB: return ext_exec_pinsr(cpu, in, 1);
	case ZYDIS_MNEMONIC_PINSRD: return ext_exec_pinsr(cpu, in, 4);
	case ZYDIS_MNEMONIC_PINSRQ: return ext_exec_pinsr(cpu, in, 8);
	case ZYDIS_MNEMONIC_PEXTRB: return ext_exec_pextr(cpu, in, 1);
	case ZYDIS_MNEMONIC_PEXTRW: return ext_exec_pextr(cpu, in, 2);
	case ZYDIS_MNEMONIC_PEXTRD: case ZYDIS_MNEMONIC_EXTRACTPS: return ext_exec_pextr(cpu, in, 4);
	case ZYDIS_MNEMONIC_PEXTRQ: return ext_exec_pextr(cpu, in, 8);
	case ZYDIS_MNEMONIC_LDDQU: return ext_exec_load(cpu, in, false);
	case ZYDIS_MNEMONIC_MOVNTDQA: return ext_exec_load(cpu, in, true);
	case ZYDIS_MNEMONIC_CRC32: return ext_exec_crc32(cpu, in);
	default:
		break;
	}
	stub = ext_rmw_stub(m, &fp);
	if (!stub)
		return VSL_FPU_NOT_MINE;
	return ext_exec_rmw(cpu, in, stub, fp);
}
