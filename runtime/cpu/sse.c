/*
 * SSE, SSE2 and MMX instructions, LDMXCSR/STMXCSR, FXSAVE/FXRSTOR, EMMS:
 * the front door of the fpu module (vsl_fpu_exec).
 *
 * Dispatch is a switch on the Zydis mnemonic. Three families:
 *
 *   - arithmetic, logic, compare, convert, pack/unpack: one host stub per
 *     mnemonic (the list SSE_OPS below, "op %xmm1,%xmm0"), run with the
 *     guest MXCSR by vsl_sse_host_run() (sse_host.c). The result is the
 *     host's, bit for bit. MMX forms of the integer ops run the same SSE
 *     stub on the low 64 bits (identical results), with the operands
 *     arranged first for the few whose MMX lane layout differs
 *     (PUNPCKH*, PACK*).
 *   - moves, shuffles with an immediate, PINSRW/PEXTRW, MOVMSK*: C.
 *   - state: LDMXCSR, STMXCSR, FXSAVE, FXRSTOR, EMMS; x87 goes to x87.c.
 *
 * SIMD floating-point exceptions: the stub runs with every exception masked
 * and the flags cleared. When a flag comes back whose exception the guest
 * left unmasked, the instruction is treated as faulting: the destination is
 * left unchanged, MXCSR receives the pre-computation flags (IE, DE, ZE) if
 * one of those is unmasked and all new flags otherwise, and #XM (or #UD
 * when CR4.OSXMMEXCPT = 0) is raised. With UE unmasked a second masked run
 * with FTZ detects exact tiny results (which fault only when unmasked).
 * Checked against native execution by test_sse's differential test; the
 * one known difference is PE when an unmasked OE/UE faults (see vsl_sse_run).
 *
 * Besides SSE/SSE2/MMX, vsl_fpu_exec hands SSE3/SSSE3/SSE4 to sse_ext.c and
 * opcodes D8..DF and FWAIT to x87.c.
 *
 *	int r = vsl_fpu_exec(cpu, in);   // 0, VSL_CPU_FAULT or VSL_FPU_NOT_MINE
 */
#include <string.h>

#include "runtime/cpu/cpu_internal.h"

/* ---- host stubs ---- */

/* X(MNEMONIC, "instruction text"): xmm0 = xmm0 OP xmm1 */
#define SSE_OPS(X) \
	X(ADDPS, "addps") X(ADDPD, "addpd") X(ADDSS, "addss") X(ADDSD, "addsd") \
	X(SUBPS, "subps") X(SUBPD, "subpd") X(SUBSS, "subss") X(SUBSD, "subsd") \
	X(MULPS, "mulps") X(MULPD, "mulpd") X(MULSS, "mulss") X(MULSD, "mulsd") \
	X(DIVPS, "divps") X(DIVPD, "divpd") X(DIVSS, "divss") X(DIVSD, "divsd") \
	X(SQRTPS, "sqrtps") X(SQRTPD, "sqrtpd") X(SQRTSS, "sqrtss") X(SQRTSD, "sqrtsd") \
	X(MINPS, "minps") X(MINPD, "minpd") X(MINSS, "minss") X(MINSD, "minsd") \
	X(MAXPS, "maxps") X(MAXPD, "maxpd") X(MAXSS, "maxss") X(MAXSD, "maxsd") \
	X(ANDPS, "andps") X(ANDPD, "andpd") X(ANDNPS, "andnps") X(ANDNPD, "andnpd") \
	X(ORPS, "orps") X(ORPD, "orpd") X(XORPS, "xorps") X(XORPD, "xorpd") \
	X(RCPPS, "rcpps") X(RCPSS, "rcpss") X(RSQRTPS, "rsqrtps") X(RSQRTSS, "rsqrtss") \
	X(UNPCKLPS, "unpcklps") X(UNPCKHPS, "unpckhps") \
	X(UNPCKLPD, "unpcklpd") X(UNPCKHPD, "unpckhpd") \
	X(CVTPS2PD, "cvtps2pd") X(CVTPD2PS, "cvtpd2ps") \
	X(CVTSS2SD, "cvtss2sd") X(CVTSD2SS, "cvtsd2ss") \
	X(CVTDQ2PS, "cvtdq2ps") X(CVTPS2DQ, "cvtps2dq") X(CVTTPS2DQ, "cvttps2dq") \
	X(CVTDQ2PD, "cvtdq2pd") X(CVTPD2DQ, "cvtpd2dq") X(CVTTPD2DQ, "cvttpd2dq") \
	X(PADDB, "paddb") X(PADDW, "paddw") X(PADDD, "paddd") X(PADDQ, "paddq") \
	X(PADDSB, "paddsb") X(PADDSW, "paddsw") X(PADDUSB, "paddusb") X(PADDUSW, "paddusw") \
	X(PSUBB, "psubb") X(PSUBW, "psubw") X(PSUBD, "psubd") X(PSUBQ, "psubq") \
	X(PSUBSB, "psubsb") X(PSUBSW, "psubsw") X(PSUBUSB, "psubusb") X(PSUBUSW, "psubusw") \
	X(PAND, "pand") X(PANDN, "pandn") X(POR, "por") X(PXOR, "pxor") \
	X(PCMPEQB, "pcmpeqb") X(PCMPEQW, "pcmpeqw") X(PCMPEQD, "pcmpeqd") \
	X(PCMPGTB, "pcmpgtb") X(PCMPGTW, "pcmpgtw") X(PCMPGTD, "pcmpgtd") \
	X(PSLLW, "psllw") X(PSLLD, "pslld") X(PSLLQ, "psllq") \
	X(PSRLW, "psrlw") X(PSRLD, "psrld") X(PSRLQ, "psrlq") \
	X(PSRAW, "psraw") X(PSRAD, "psrad") \
	X(PUNPCKLBW, "punpcklbw") X(PUNPCKLWD, "punpcklwd") \
	X(PUNPCKLDQ, "punpckldq") X(PUNPCKLQDQ, "punpcklqdq") \
	X(PUNPCKHBW, "punpckhbw") X(PUNPCKHWD, "punpckhwd") \
	X(PUNPCKHDQ, "punpckhdq") X(PUNPCKHQDQ, "punpckhqdq") \
	X(PACKSSWB, "packsswb") X(PACKSSDW, "packssdw") X(PACKUSWB, "packuswb") \
	X(PMULLW, "pmullw") X(PMULHW, "pmulhw") X(PMULHUW, "pmulhuw") \
	X(PMULUDQ, "pmuludq") X(PMADDWD, "pmaddwd") \
	X(PAVGB, "pavgb") X(PAVGW, "pavgw") \
	X(PMINUB, "pminub") X(PMAXUB, "pmaxub") X(PMINSW, "pminsw") X(PMAXSW, "pmaxsw") \
	X(PSADBW, "psadbw") \
	X(COMISS, "comiss") X(UCOMISS, "ucomiss") X(COMISD, "comisd") X(UCOMISD, "ucomisd")

#define SSE_STUB_ASM(M, txt) "vsl_sse_stub_" #M ":\n\t" txt " %xmm1, %xmm0\n\tret\n"
#define SSE_STUB_DECL(M, txt) \
	extern const unsigned char vsl_sse_stub_##M[] __attribute__((visibility("hidden")));

/* CMPccPS/PD/SS/SD: 8 predicates each, 8-byte slots (CMPPS is 4 bytes + RET,
 * the others 5 + RET). */
#define SSE_CMP8(op) \
	SSE_CMP1(op, 0) SSE_CMP1(op, 1) SSE_CMP1(op, 2) SSE_CMP1(op, 3) \
	SSE_CMP1(op, 4) SSE_CMP1(op, 5) SSE_CMP1(op, 6) SSE_CMP1(op, 7)
#define SSE_CMP1(op, n) ".p2align 3\n\t" op " $" #n ", %xmm1, %xmm0\n\tret\n"

/* Conversions between a GPR (rax) and xmm: 32- and 64-bit forms. */
#define SSE_GPR_STUBS(X) \
	X(cvtsi2ss32, "cvtsi2ssl %eax, %xmm0") X(cvtsi2ss64, "cvtsi2ssq %rax, %xmm0") \
	X(cvtsi2sd32, "cvtsi2sdl %eax, %xmm0") X(cvtsi2sd64, "cvtsi2sdq %rax, %xmm0") \
	X(cvtss2si32, "cvtss2si %xmm1, %eax") X(cvtss2si64, "cvtss2si %xmm1, %rax") \
	X(cvttss2si32, "cvttss2si %xmm1, %eax") X(cvttss2si64, "cvttss2si %xmm1, %rax") \
	X(cvtsd2si32, "cvtsd2si %xmm1, %eax") X(cvtsd2si64, "cvtsd2si %xmm1, %rax") \
	X(cvttsd2si32, "cvttsd2si %xmm1, %eax") X(cvttsd2si64, "cvttsd2si %xmm1, %rax")
#define SSE_GPR_ASM(n, txt) "vsl_sse_stub_" #n ":\n\t" txt "\n\tret\n"

__asm__(".pushsection .text\n"
	".p2align 4\n"
	SSE_OPS(SSE_STUB_ASM)
	SSE_GPR_STUBS(SSE_GPR_ASM)
	".p2align 4\n"
	"vsl_sse_cmp_table:\n\t"
	SSE_CMP8("cmpps") SSE_CMP8("cmppd") SSE_CMP8("cmpss") SSE_CMP8("cmpsd")
	".popsection\n");

SSE_OPS(SSE_STUB_DECL)
SSE_GPR_STUBS(SSE_STUB_DECL)
extern const unsigned char vsl_sse_cmp_table[] __attribute__((visibility("hidden")));

static const void *sse_stub(ZydisMnemonic m)
{
	switch (m) {
#define SSE_STUB_CASE(M, txt) case ZYDIS_MNEMONIC_##M: return vsl_sse_stub_##M;
	SSE_OPS(SSE_STUB_CASE)
#undef SSE_STUB_CASE
	default:
		return NULL;
	}
}

/* Stubs that cannot raise SIMD floating-point exceptions nor read MXCSR. */
static bool sse_stub_is_int(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_ANDPS: case ZYDIS_MNEMONIC_ANDPD: case ZYDIS_MNEMONIC_ANDNPS:
	case ZYDIS_MNEMONIC_ANDNPD: case ZYDIS_MNEMONIC_ORPS: case ZYDIS_MNEMONIC_ORPD:
	case ZYDIS_MNEMONIC_XORPS: case ZYDIS_MNEMONIC_XORPD:
	case ZYDIS_MNEMONIC_UNPCKLPS: case ZYDIS_MNEMONIC_UNPCKHPS:
	case ZYDIS_MNEMONIC_UNPCKLPD: case ZYDIS_MNEMONIC_UNPCKHPD:
		return true;
	default:
		/* every P* integer op in SSE_OPS */
		return ZydisMnemonicGetString(m)[0] == 'p';
	}
}

/* ---- helpers ---- */

#define SSE_MX_FLAGS 0x3fu
#define SSE_MX_MASKS 0x1f80u
#define SSE_MX_PRE 0x07u   /* IE DE ZE: detected before computing */
#define SSE_MX_UE 0x10u
#define SSE_MX_UM 0x800u
#define SSE_MX_FTZ 0x8000u

static bool sse_is_xmm(const ZydisDecodedOperand *op)
{
	return op->type == ZYDIS_OPERAND_TYPE_REGISTER &&
	       ZydisRegisterGetClass(op->reg.value) == ZYDIS_REGCLASS_XMM;
}

static bool sse_is_mm(const ZydisDecodedOperand *op)
{
	return op->type == ZYDIS_OPERAND_TYPE_REGISTER &&
	       ZydisRegisterGetClass(op->reg.value) == ZYDIS_REGCLASS_MMX;
}

static uint8_t *sse_xmm(struct vsl_cpu *cpu, ZydisRegister r)
{
	return cpu->fpu.xmm[(r - ZYDIS_REGISTER_XMM0) & 15];
}

static uint64_t sse_mm_read(struct vsl_cpu *cpu, ZydisRegister r)
{
	uint64_t v;

	memcpy(&v, cpu->fpu.st[(r - ZYDIS_REGISTER_MM0) & 7], 8);
	return v;
}

static void sse_mm_write(struct vsl_cpu *cpu, ZydisRegister r, uint64_t v)
{
	vsl_x87_mmx_write(&cpu->fpu, (r - ZYDIS_REGISTER_MM0) & 7, v);
}

/* #UD / #NM checks for SSE instructions (no MMX register involved). */
int vsl_sse_check(struct vsl_cpu *cpu)
{
	if ((cpu->cr0 & VSL_CR0_EM) || !(cpu->cr4 & VSL_CR4_OSFXSR))
		return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
	if (cpu->cr0 & VSL_CR0_TS)
		return vsl_cpu_raise(cpu, VSL_EXC_NM, false, 0);
	return 0;
}

/* Checks for an instruction touching MMX registers (sse: also an SSE insn). */
int vsl_sse_check_mmx(struct vsl_cpu *cpu, bool sse)
{
	if (cpu->cr0 & VSL_CR0_EM)
		return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
	if (sse && !(cpu->cr4 & VSL_CR4_OSFXSR))
		return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
	if (cpu->cr0 & VSL_CR0_TS)
		return vsl_cpu_raise(cpu, VSL_EXC_NM, false, 0);
	if (vsl_x87_pending(&cpu->fpu))
		return vsl_cpu_raise(cpu, VSL_EXC_MF, false, 0);
	return 0;
}

static bool sse_misaligned(struct vsl_cpu *cpu, uint64_t lin, bool mm_allowed)
{
	if (!(lin & 15))
		return false;
	return !(mm_allowed && (cpu->fpu.mxcsr & VSL_FPU_MXCSR_MM));
}

/*
 * Read operand op (xmm, mm, GPR or memory) into out[16], zero-extended.
 * align: a 16-byte memory operand must be 16-byte aligned (#GP(0));
 * strict: even in AMD misaligned-SSE mode (MOVAPS, MOVNT*, FXSAVE).
 */
int vsl_sse_read_op(struct vsl_cpu *cpu, const struct vsl_insn *in,
		    const ZydisDecodedOperand *op, uint8_t out[16], bool align, bool strict)
{
	memset(out, 0, 16);
	if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		ZydisRegisterClass c = ZydisRegisterGetClass(op->reg.value);
		uint64_t v;

		if (c == ZYDIS_REGCLASS_XMM) {
			memcpy(out, sse_xmm(cpu, op->reg.value), 16);
			return 0;
		}
		if (c == ZYDIS_REGCLASS_MMX)
			v = sse_mm_read(cpu, op->reg.value);
		else
			v = vsl_cpu_reg_read(cpu, op->reg.value);
		memcpy(out, &v, 8);
		return 0;
	}
	if (op->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
		memcpy(out, &op->imm.value.u, 8);
		return 0;
	}
	if (op->type == ZYDIS_OPERAND_TYPE_MEMORY) {
		uint64_t lin = vsl_cpu_ea(cpu, in, op);
		unsigned len = op->size / 8;

		if (len > 16)
			len = 16;
		if (len == 16 && align && sse_misaligned(cpu, lin, !strict))
			return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
		return vsl_cpu_read_lin(cpu, lin, out, len);
	}
	return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
}

/* Write len bytes of val to a memory operand (with alignment check for 16). */
int vsl_sse_write_mem(struct vsl_cpu *cpu, const struct vsl_insn *in,
		      const ZydisDecodedOperand *op, const void *val, unsigned len,
		      bool align, bool strict)
{
	uint64_t lin = vsl_cpu_ea(cpu, in, op);

	if (len == 16 && align && sse_misaligned(cpu, lin, !strict))
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
	return vsl_cpu_write_lin(cpu, lin, val, len);
}

/*
 * Run a stub with the guest MXCSR (exceptions masked) and apply the
 * exception policy described at the top. Returns 0 (results in h) or
 * VSL_CPU_FAULT (destination must not be written).
 */
int vsl_sse_run(struct vsl_cpu *cpu, struct vsl_sse_host *h, const void *stub)
{
	uint32_t mx = cpu->fpu.mxcsr;
	uint32_t got, unmasked;
	struct vsl_sse_host tiny;

	if (!(mx & SSE_MX_UM))
		tiny = *h;
	/* masked with the host's MXCSR_MASK: a value set through the public
	 * API or a snapshot from another host must not fault here */
	mx &= vsl_fpu_mxcsr_mask();
	h->mxcsr = (mx | SSE_MX_MASKS) & ~SSE_MX_FLAGS;
	vsl_sse_host_run(h, stub);
	got = h->mxcsr & SSE_MX_FLAGS;
	if (!(mx & SSE_MX_UM)) {
		/*
		 * With underflow unmasked, a tiny result faults even when exact,
		 * while the masked run above flags UE only when it is also
		 * inexact. A masked run with FTZ flags every tiny result.
		 */
		tiny.mxcsr = ((mx | SSE_MX_MASKS) & ~SSE_MX_FLAGS) | SSE_MX_FTZ;
		vsl_sse_host_run(&tiny, stub);
		got |= tiny.mxcsr & SSE_MX_UE;
	}
	unmasked = got & ~(mx >> 7) & SSE_MX_FLAGS;
	if (!unmasked) {
		cpu->fpu.mxcsr = mx | got;
		return 0;
	}
	/*
	 * Known approximation: with OE/UE unmasked, hardware sets PE from the
	 * rounding of the exponent-adjusted result; we report the masked
	 * run's PE, which differs when only the denormal/overflowed form is
	 * inexact.
	 */
	if (unmasked & SSE_MX_PRE)
		got &= SSE_MX_PRE;
	cpu->fpu.mxcsr = mx | got;
	if (cpu->cr4 & VSL_CR4_OSXMMEXCPT)
		return vsl_cpu_raise(cpu, VSL_EXC_XM, false, 0);
	return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
}

/* ---- arithmetic through stubs ---- */

/* The SSE lane layout differs from MMX's for these: arrange the 64-bit
 * operands so that the low 64 bits of the SSE result are the MMX result. */
static void sse_mmx_arrange(ZydisMnemonic m, struct vsl_sse_host *h)
{
	switch (m) {
	case ZYDIS_MNEMONIC_PUNPCKHBW:
	case ZYDIS_MNEMONIC_PUNPCKHWD:
	case ZYDIS_MNEMONIC_PUNPCKHDQ:
		/* the MMX high half (bytes 4..7) where SSE takes its high half */
		memcpy(h->d + 8, h->d + 4, 4);
		memcpy(h->s + 8, h->s + 4, 4);
		break;
	case ZYDIS_MNEMONIC_PACKSSWB:
	case ZYDIS_MNEMONIC_PACKSSDW:
	case ZYDIS_MNEMONIC_PACKUSWB:
		/* dst words into the low 4 bytes, src words into the next 4 */
		memcpy(h->d + 8, h->s, 8);
		memset(h->s, 0, 16);
		break;
	default:
		break;
	}
}

static bool sse_is_mmx_op(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_PADDB: case ZYDIS_MNEMONIC_PADDW: case ZYDIS_MNEMONIC_PADDD:
	case ZYDIS_MNEMONIC_PADDQ: case ZYDIS_MNEMONIC_PADDSB: case ZYDIS_MNEMONIC_PADDSW:
	case ZYDIS_MNEMONIC_PADDUSB: case ZYDIS_MNEMONIC_PADDUSW:
	case ZYDIS_MNEMONIC_PSUBB: case ZYDIS_MNEMONIC_PSUBW: case ZYDIS_MNEMONIC_PSUBD:
	case ZYDIS_MNEMONIC_PSUBQ: case ZYDIS_MNEMONIC_PSUBSB: case ZYDIS_MNEMONIC_PSUBSW:
	case ZYDIS_MNEMONIC_PSUBUSB: case ZYDIS_MNEMONIC_PSUBUSW:
	case ZYDIS_MNEMONIC_PAND: case ZYDIS_MNEMONIC_PANDN: case ZYDIS_MNEMONIC_POR:
	case ZYDIS_MNEMONIC_PXOR:
	case ZYDIS_MNEMONIC_PCMPEQB: case ZYDIS_MNEMONIC_PCMPEQW: case ZYDIS_MNEMONIC_PCMPEQD:
	case ZYDIS_MNEMONIC_PCMPGTB: case ZYDIS_MNEMONIC_PCMPGTW: case ZYDIS_MNEMONIC_PCMPGTD:
	case ZYDIS_MNEMONIC_PSLLW: case ZYDIS_MNEMONIC_PSLLD: case ZYDIS_MNEMONIC_PSLLQ:
	case ZYDIS_MNEMONIC_PSRLW: case ZYDIS_MNEMONIC_PSRLD: case ZYDIS_MNEMONIC_PSRLQ:
	case ZYDIS_MNEMONIC_PSRAW: case ZYDIS_MNEMONIC_PSRAD:
	case ZYDIS_MNEMONIC_PUNPCKLBW: case ZYDIS_MNEMONIC_PUNPCKLWD:
	case ZYDIS_MNEMONIC_PUNPCKLDQ: case ZYDIS_MNEMONIC_PUNPCKHBW:
	case ZYDIS_MNEMONIC_PUNPCKHWD: case ZYDIS_MNEMONIC_PUNPCKHDQ:
	case ZYDIS_MNEMONIC_PACKSSWB: case ZYDIS_MNEMONIC_PACKSSDW: case ZYDIS_MNEMONIC_PACKUSWB:
	case ZYDIS_MNEMONIC_PMULLW: case ZYDIS_MNEMONIC_PMULHW: case ZYDIS_MNEMONIC_PMULHUW:
	case ZYDIS_MNEMONIC_PMULUDQ: case ZYDIS_MNEMONIC_PMADDWD:
	case ZYDIS_MNEMONIC_PAVGB: case ZYDIS_MNEMONIC_PAVGW:
	case ZYDIS_MNEMONIC_PMINUB: case ZYDIS_MNEMONIC_PMAXUB:
	case ZYDIS_MNEMONIC_PMINSW: case ZYDIS_MNEMONIC_PMAXSW: case ZYDIS_MNEMONIC_PSADBW:
		return true;
	default:
		return false;
	}
}

/* Integer/logic stubs: no MXCSR, no exceptions beyond operand access. */
static int sse_exec_int(struct vsl_cpu *cpu, const struct vsl_insn *in, const void *stub)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	struct vsl_sse_host h;
	int r;

	if (sse_is_mm(dst)) {
		uint64_t v;

		if (!sse_is_mmx_op(in->zi.mnemonic))
			return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
		if ((r = vsl_sse_check_mmx(cpu, false)))
			return r;
		memset(&h, 0, sizeof(h));
		if ((r = vsl_sse_read_op(cpu, in, src, h.s, false, false)))
			return r;
		v = sse_mm_read(cpu, dst->reg.value);
		memcpy(h.d, &v, 8);
		sse_mmx_arrange(in->zi.mnemonic, &h);
		vsl_sse_host_run_int(&h, stub);
		memcpy(&v, h.d, 8);
		sse_mm_write(cpu, dst->reg.value, v);
		return 0;
	}
	if (!sse_is_xmm(dst))
		return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
	if ((r = vsl_sse_check(cpu)))
		return r;
	h.gpr = 0;
	if (src->type == ZYDIS_OPERAND_TYPE_REGISTER && sse_is_xmm(src)) {
		memcpy(h.s, sse_xmm(cpu, src->reg.value), 16);
	} else if ((r = vsl_sse_read_op(cpu, in, src, h.s, true, false))) {
		return r;
	}
	memcpy(h.d, sse_xmm(cpu, dst->reg.value), 16);
	vsl_sse_host_run_int(&h, stub);
	memcpy(sse_xmm(cpu, dst->reg.value), h.d, 16);
	return 0;
}

/* xmm dst = dst OP src through the mnemonic's stub, under the guest MXCSR. */
static int sse_exec_rmw(struct vsl_cpu *cpu, const struct vsl_insn *in, const void *stub)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	ZydisMnemonic m = in->zi.mnemonic;
	struct vsl_sse_host h;
	int r;

	if (sse_stub_is_int(m))
		return sse_exec_int(cpu, in, stub);
	if (!sse_is_xmm(dst))
		return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
	if ((r = vsl_sse_check(cpu)))
		return r;
	memset(&h, 0, sizeof(h));
	if ((r = vsl_sse_read_op(cpu, in, src, h.s, true, false)))
		return r;
	memcpy(h.d, sse_xmm(cpu, dst->reg.value), 16);
	if ((r = vsl_sse_run(cpu, &h, stub)))
		return r;
	switch (m) {
	case ZYDIS_MNEMONIC_COMISS: case ZYDIS_MNEMONIC_UCOMISS:
	case ZYDIS_MNEMONIC_COMISD: case ZYDIS_MNEMONIC_UCOMISD:
		cpu->rflags = (cpu->rflags & ~(uint64_t)VSL_FL_ARITH) | (h.rflags & VSL_FL_ARITH);
		return 0;
	default:
		memcpy(sse_xmm(cpu, dst->reg.value), h.d, 16);
		return 0;
	}
}

static int sse_exec_cmp(struct vsl_cpu *cpu, const struct vsl_insn *in, int table)
{
	const ZydisDecodedOperand *dst = &in->ops[0];
	struct vsl_sse_host h;
	unsigned pred = 0;
	int r;

	if (!sse_is_xmm(dst))
		return VSL_FPU_NOT_MINE;   /* e.g. CMPSD the string instruction */
	if ((r = vsl_sse_check(cpu)))
		return r;
	for (unsigned i = 2; i < in->zi.operand_count; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			pred = in->ops[i].imm.value.u & 7;
	memset(&h, 0, sizeof(h));
	if ((r = vsl_sse_read_op(cpu, in, &in->ops[1], h.s, true, false)))
		return r;
	memcpy(h.d, sse_xmm(cpu, dst->reg.value), 16);
	if ((r = vsl_sse_run(cpu, &h, vsl_sse_cmp_table + (table * 8 + pred) * 8)))
		return r;
	memcpy(sse_xmm(cpu, dst->reg.value), h.d, 16);
	return 0;
}

/* CVTSI2SS/SD (GPR or memory source of 32/64 bits). */
static int sse_exec_cvt_from_int(struct vsl_cpu *cpu, const struct vsl_insn *in, bool dbl)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	struct vsl_sse_host h;
	uint8_t buf[16];
	bool q = src->size == 64;
	const void *stub;
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, src, buf, false, false)))
		return r;
	memset(&h, 0, sizeof(h));
	memcpy(&h.gpr, buf, 8);
	if (!q)
		h.gpr &= 0xffffffffu;
	memcpy(h.d, sse_xmm(cpu, dst->reg.value), 16);
	if (dbl)
		stub = q ? vsl_sse_stub_cvtsi2sd64 : vsl_sse_stub_cvtsi2sd32;
	else
		stub = q ? vsl_sse_stub_cvtsi2ss64 : vsl_sse_stub_cvtsi2ss32;
	if ((r = vsl_sse_run(cpu, &h, stub)))
		return r;
	memcpy(sse_xmm(cpu, dst->reg.value), h.d, 16);
	return 0;
}

/* CVT(T)SS2SI / CVT(T)SD2SI to a 32- or 64-bit GPR. */
static int sse_exec_cvt_to_int(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *dst = &in->ops[0];
	bool q = dst->size == 64;
	struct vsl_sse_host h;
	const void *stub;
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	memset(&h, 0, sizeof(h));
	if ((r = vsl_sse_read_op(cpu, in, &in->ops[1], h.s, false, false)))
		return r;
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_CVTSS2SI: stub = q ? vsl_sse_stub_cvtss2si64 : vsl_sse_stub_cvtss2si32; break;
	case ZYDIS_MNEMONIC_CVTTSS2SI: stub = q ? vsl_sse_stub_cvttss2si64 : vsl_sse_stub_cvttss2si32; break;
	case ZYDIS_MNEMONIC_CVTSD2SI: stub = q ? vsl_sse_stub_cvtsd2si64 : vsl_sse_stub_cvtsd2si32; break;
	default: stub = q ? vsl_sse_stub_cvttsd2si64 : vsl_sse_stub_cvttsd2si32; break;
	}
	if ((r = vsl_sse_run(cpu, &h, stub)))
		return r;
	vsl_cpu_reg_write(cpu, dst->reg.value, q ? h.gpr : (uint32_t)h.gpr);
	return 0;
}

/*
 * Conversions with an MMX operand: CVTPI2PS/PD (mm/m64 -> xmm), CVT(T)PS2PI,
 * CVT(T)PD2PI (xmm/m -> mm). Done with the packed dword forms on zeroed
 * upper lanes (zeros convert exactly and raise nothing).
 */
static int sse_exec_cvt_mmx(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	ZydisMnemonic m = in->zi.mnemonic;
	bool mmx_reg = sse_is_mm(dst) || sse_is_mm(src);
	struct vsl_sse_host h;
	const void *stub;
	uint8_t keep[16];
	int r;

	if ((r = mmx_reg ? vsl_sse_check_mmx(cpu, true) : vsl_sse_check(cpu)))
		return r;
	memset(&h, 0, sizeof(h));
	if ((r = vsl_sse_read_op(cpu, in, src, h.s, true, false)))
		return r;
	switch (m) {
	case ZYDIS_MNEMONIC_CVTPI2PS: stub = vsl_sse_stub_CVTDQ2PS; break;
	case ZYDIS_MNEMONIC_CVTPI2PD: stub = vsl_sse_stub_CVTDQ2PD; break;
	case ZYDIS_MNEMONIC_CVTPS2PI: stub = vsl_sse_stub_CVTPS2DQ; break;
	case ZYDIS_MNEMONIC_CVTTPS2PI: stub = vsl_sse_stub_CVTTPS2DQ; break;
	case ZYDIS_MNEMONIC_CVTPD2PI: stub = vsl_sse_stub_CVTPD2DQ; break;
	default: stub = vsl_sse_stub_CVTTPD2DQ; break;
	}
	if (m == ZYDIS_MNEMONIC_CVTPS2PI || m == ZYDIS_MNEMONIC_CVTTPS2PI ||
	    m == ZYDIS_MNEMONIC_CVTPI2PS || m == ZYDIS_MNEMONIC_CVTPI2PD)
		memset(h.s + 8, 0, 8);
	/* the x87-to-MMX transition happens even when the conversion faults */
	if (mmx_reg)
		vsl_x87_mmx_enter(&cpu->fpu);
	if ((r = vsl_sse_run(cpu, &h, stub)))
		return r;
	if (sse_is_mm(dst)) {
		uint64_t v;

		memcpy(&v, h.d, 8);
		sse_mm_write(cpu, dst->reg.value, v);
	} else if (m == ZYDIS_MNEMONIC_CVTPI2PS) {
		memcpy(keep, sse_xmm(cpu, dst->reg.value), 16);
		memcpy(keep, h.d, 8);
		memcpy(sse_xmm(cpu, dst->reg.value), keep, 16);
	} else {
		memcpy(sse_xmm(cpu, dst->reg.value), h.d, 16);
	}
	return 0;
}

/* ---- moves ---- */

/* 128-bit moves: MOVAPS/MOVUPS/MOVAPD/MOVUPD/MOVDQA/MOVDQU/MOVNT*. */
static int sse_exec_mov128(struct vsl_cpu *cpu, const struct vsl_insn *in, bool align)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	uint8_t v[16];
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	/* MOVAPS-class and MOVNT* stay strict in AMD misaligned mode */
	if ((r = vsl_sse_read_op(cpu, in, src, v, align, true)))
		return r;
	if (dst->type == ZYDIS_OPERAND_TYPE_MEMORY)
		return vsl_sse_write_mem(cpu, in, dst, v, 16, align, true);
	memcpy(sse_xmm(cpu, dst->reg.value), v, 16);
	return 0;
}

/* MOVSS/MOVSD (the SSE ones): n = 4 or 8. */
static int sse_exec_movs(struct vsl_cpu *cpu, const struct vsl_insn *in, unsigned n)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	uint8_t v[16];
	int r;

	if (!sse_is_xmm(dst) && !sse_is_xmm(src))
		return VSL_FPU_NOT_MINE;   /* MOVSD the string instruction */
	if ((r = vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, src, v, false, false)))
		return r;
	if (dst->type == ZYDIS_OPERAND_TYPE_MEMORY)
		return vsl_sse_write_mem(cpu, in, dst, v, n, false, false);
	if (src->type == ZYDIS_OPERAND_TYPE_MEMORY)
		memcpy(sse_xmm(cpu, dst->reg.value), v, 16);   /* zero-extended */
	else
		memcpy(sse_xmm(cpu, dst->reg.value), v, n);
	return 0;
}

/* MOVD/MOVQ in all directions between xmm, mm, GPR and memory. */
static int sse_exec_movdq(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	unsigned n = in->zi.mnemonic == ZYDIS_MNEMONIC_MOVD ? 4 : 8;
	bool mmx = sse_is_mm(dst) || sse_is_mm(src);
	uint8_t v[16];
	uint64_t q = 0;
	int r;

	if ((r = mmx ? vsl_sse_check_mmx(cpu, false) : vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, src, v, false, false)))
		return r;
	memcpy(&q, v, n);
	if (mmx)
		vsl_x87_mmx_enter(&cpu->fpu);
	if (dst->type == ZYDIS_OPERAND_TYPE_MEMORY)
		return vsl_sse_write_mem(cpu, in, dst, &q, n, false, false);
	if (sse_is_xmm(dst)) {
		uint8_t *x = sse_xmm(cpu, dst->reg.value);

		memset(x, 0, 16);
		memcpy(x, &q, 8);
	} else if (sse_is_mm(dst)) {
		sse_mm_write(cpu, dst->reg.value, q);
	} else {
		vsl_cpu_reg_write(cpu, dst->reg.value, q);
	}
	return 0;
}

/* MOVLPS/MOVLPD (hi = false) and MOVHPS/MOVHPD (hi = true). */
static int sse_exec_movlh(struct vsl_cpu *cpu, const struct vsl_insn *in, bool hi)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	unsigned off = hi ? 8 : 0;
	uint8_t v[16];
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	if (dst->type == ZYDIS_OPERAND_TYPE_MEMORY)
		return vsl_sse_write_mem(cpu, in, dst, sse_xmm(cpu, src->reg.value) + off, 8,
				     false, false);
	if (src->type != ZYDIS_OPERAND_TYPE_MEMORY)
		return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
	if ((r = vsl_sse_read_op(cpu, in, src, v, false, false)))
		return r;
	memcpy(sse_xmm(cpu, dst->reg.value) + off, v, 8);
	return 0;
}

static uint32_t sse_movmsk(const uint8_t *v, unsigned n, unsigned stride)
{
	uint32_t m = 0;

	for (unsigned i = 0; i < n; i++)
		m |= (uint32_t)(v[i * stride + stride - 1] >> 7) << i;
	return m;
}

/* MOVMSKPS/MOVMSKPD/PMOVMSKB (xmm or mm source) to a GPR. */
static int sse_exec_movmsk(struct vsl_cpu *cpu, const struct vsl_insn *in, unsigned stride)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	uint8_t v[16];
	int r;

	if (sse_is_mm(src)) {
		if ((r = vsl_sse_check_mmx(cpu, false)))
			return r;
		vsl_sse_read_op(cpu, in, src, v, false, false);
		vsl_x87_mmx_enter(&cpu->fpu);
		vsl_cpu_reg_write(cpu, dst->reg.value, sse_movmsk(v, 8, 1));
		return 0;
	}
	if ((r = vsl_sse_check(cpu)))
		return r;
	memcpy(v, sse_xmm(cpu, src->reg.value), 16);
	vsl_cpu_reg_write(cpu, dst->reg.value, sse_movmsk(v, 16 / stride, stride));
	return 0;
}

static int sse_imm(const struct vsl_insn *in)
{
	for (unsigned i = 0; i < in->zi.operand_count; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			return (int)(in->ops[i].imm.value.u & 0xff);
	return 0;
}

/* PSHUFD/PSHUFLW/PSHUFHW/PSHUFW/SHUFPS/SHUFPD. */
static int sse_exec_shuf(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	ZydisMnemonic m = in->zi.mnemonic;
	unsigned imm = (unsigned)sse_imm(in);
	uint8_t s[16], d[16], o[16];
	int r;

	if (m == ZYDIS_MNEMONIC_PSHUFW) {
		uint64_t v;

		if ((r = vsl_sse_check_mmx(cpu, false)))
			return r;
		if ((r = vsl_sse_read_op(cpu, in, src, s, false, false)))
			return r;
		for (unsigned i = 0; i < 4; i++)
			memcpy(o + 2 * i, s + 2 * ((imm >> (2 * i)) & 3), 2);
		memcpy(&v, o, 8);
		vsl_x87_mmx_enter(&cpu->fpu);
		sse_mm_write(cpu, dst->reg.value, v);
		return 0;
	}
	if ((r = vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, src, s, true, false)))
		return r;
	memcpy(d, sse_xmm(cpu, dst->reg.value), 16);
	switch (m) {
	case ZYDIS_MNEMONIC_PSHUFD:
		for (unsigned i = 0; i < 4; i++)
			memcpy(o + 4 * i, s + 4 * ((imm >> (2 * i)) & 3), 4);
		break;
	case ZYDIS_MNEMONIC_PSHUFLW:
		memcpy(o + 8, s + 8, 8);
		for (unsigned i = 0; i < 4; i++)
			memcpy(o + 2 * i, s + 2 * ((imm >> (2 * i)) & 3), 2);
		break;
	case ZYDIS_MNEMONIC_PSHUFHW:
		memcpy(o, s, 8);
		for (unsigned i = 0; i < 4; i++)
			memcpy(o + 8 + 2 * i, s + 8 + 2 * ((imm >> (2 * i)) & 3), 2);
		break;
	case ZYDIS_MNEMONIC_SHUFPS:
		memcpy(o, d + 4 * (imm & 3), 4);
		memcpy(o + 4, d + 4 * ((imm >> 2) & 3), 4);
		memcpy(o + 8, s + 4 * ((imm >> 4) & 3), 4);
		memcpy(o + 12, s + 4 * ((imm >> 6) & 3), 4);
		break;
	default: /* SHUFPD */
		memcpy(o, d + 8 * (imm & 1), 8);
		memcpy(o + 8, s + 8 * ((imm >> 1) & 1), 8);
		break;
	}
	memcpy(sse_xmm(cpu, dst->reg.value), o, 16);
	return 0;
}

/* PSLLDQ/PSRLDQ xmm, imm8 (byte shifts; counts above 15 clear). */
static int sse_exec_bshift(struct vsl_cpu *cpu, const struct vsl_insn *in, bool left)
{
	uint8_t *x, o[16] = { 0 };
	unsigned n = (unsigned)sse_imm(in);
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	x = sse_xmm(cpu, in->ops[0].reg.value);
	if (n < 16) {
		if (left)
			memcpy(o + n, x, 16 - n);
		else
			memcpy(o, x + n, 16 - n);
	}
	memcpy(x, o, 16);
	return 0;
}

/* PINSRW xmm/mm, r32/m16, imm8 and PEXTRW r32, xmm/mm, imm8. */
static int sse_exec_pinsrw(struct vsl_cpu *cpu, const struct vsl_insn *in, bool ins)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	bool mmx = sse_is_mm(ins ? dst : src);
	unsigned imm = (unsigned)sse_imm(in);
	uint8_t v[16];
	int r;

	if ((r = mmx ? vsl_sse_check_mmx(cpu, false) : vsl_sse_check(cpu)))
		return r;
	if ((r = vsl_sse_read_op(cpu, in, src, v, false, false)))
		return r;
	if (mmx)
		vsl_x87_mmx_enter(&cpu->fpu);
	if (ins) {
		if (mmx) {
			uint64_t q = sse_mm_read(cpu, dst->reg.value);
			unsigned sh = 16 * (imm & 3);

			q = (q & ~(0xffffull << sh)) | ((uint64_t)(v[0] | v[1] << 8) << sh);
			sse_mm_write(cpu, dst->reg.value, q);
		} else {
			memcpy(sse_xmm(cpu, dst->reg.value) + 2 * (imm & 7), v, 2);
		}
		return 0;
	}
	imm &= mmx ? 3 : 7;
	vsl_cpu_reg_write(cpu, dst->reg.value, (uint32_t)(v[2 * imm] | v[2 * imm + 1] << 8));
	return 0;
}

/* MASKMOVDQU xmm, xmm / MASKMOVQ mm, mm: bytes with mask bit 7 go to [DS:rDI]. */
static int sse_exec_maskmov(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *mem = NULL;
	bool mmx = sse_is_mm(&in->ops[0]);
	unsigned n = mmx ? 8 : 16;
	uint8_t v[16], mask[16];
	uint64_t lin;
	int r;

	for (unsigned i = 0; i < in->zi.operand_count; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY)
			mem = &in->ops[i];
	if (!mem)
		return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
	if ((r = mmx ? vsl_sse_check_mmx(cpu, false) : vsl_sse_check(cpu)))
		return r;
	vsl_sse_read_op(cpu, in, &in->ops[0], v, false, false);
	vsl_sse_read_op(cpu, in, &in->ops[1], mask, false, false);
	if (mmx)
		vsl_x87_mmx_enter(&cpu->fpu);
	lin = vsl_cpu_ea(cpu, in, mem);
	for (unsigned i = 0; i < n; i++)
		if ((mask[i] & 0x80) && (r = vsl_cpu_write_lin(cpu, lin + i, &v[i], 1)))
			return r;
	return 0;
}

/* MOVHLPS, MOVLHPS, MOVQ2DQ, MOVDQ2Q. */
static int sse_exec_movhl(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	int r;

	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_MOVHLPS:
		if ((r = vsl_sse_check(cpu)))
			return r;
		memcpy(sse_xmm(cpu, dst->reg.value), sse_xmm(cpu, src->reg.value) + 8, 8);
		return 0;
	case ZYDIS_MNEMONIC_MOVLHPS:
		if ((r = vsl_sse_check(cpu)))
			return r;
		memcpy(sse_xmm(cpu, dst->reg.value) + 8, sse_xmm(cpu, src->reg.value), 8);
		return 0;
	case ZYDIS_MNEMONIC_MOVQ2DQ: {
		uint64_t q;
		uint8_t *x;

		if ((r = vsl_sse_check_mmx(cpu, true)))
			return r;
		q = sse_mm_read(cpu, src->reg.value);
		vsl_x87_mmx_enter(&cpu->fpu);
		x = sse_xmm(cpu, dst->reg.value);
		memset(x, 0, 16);
		memcpy(x, &q, 8);
		return 0;
	}
	default: { /* MOVDQ2Q */
		uint64_t q;

		if ((r = vsl_sse_check_mmx(cpu, true)))
			return r;
		memcpy(&q, sse_xmm(cpu, src->reg.value), 8);
		vsl_x87_mmx_enter(&cpu->fpu);
		sse_mm_write(cpu, dst->reg.value, q);
		return 0;
	}
	}
}

/* MOVNTI m32/m64, r32/r64 and MOVNTQ m64, mm. */
static int sse_exec_movnti(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	bool mmx = sse_is_mm(src);
	uint64_t v;
	int r;

	if ((r = mmx ? vsl_sse_check_mmx(cpu, false) : 0))
		return r;
	v = mmx ? sse_mm_read(cpu, src->reg.value) : vsl_cpu_reg_read(cpu, src->reg.value);
	if ((r = vsl_sse_write_mem(cpu, in, dst, &v, dst->size / 8, false, false)))
		return r;
	if (mmx)
		vsl_x87_mmx_enter(&cpu->fpu);
	return 0;
}

/* ---- state instructions ---- */

static int sse_exec_ldmxcsr(struct vsl_cpu *cpu, const struct vsl_insn *in, bool load)
{
	uint64_t lin = vsl_cpu_ea(cpu, in, &in->ops[0]);
	uint32_t v;
	int r;

	if ((r = vsl_sse_check(cpu)))
		return r;
	if (!load)
		return vsl_cpu_write_lin(cpu, lin, &cpu->fpu.mxcsr, 4);
	if ((r = vsl_cpu_read_lin(cpu, lin, &v, 4)))
		return r;
	if (v & ~vsl_fpu_mxcsr_mask())
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
	cpu->fpu.mxcsr = v;
	return 0;
}

static int sse_exec_fxsave(struct vsl_cpu *cpu, const struct vsl_insn *in, bool save, bool rexw)
{
	uint64_t lin = vsl_cpu_ea(cpu, in, &in->ops[0]);
	int nxmm = cpu->mode == VSL_MODE_LONG64 ? 16 : 8;
	uint8_t img[512];
	int r;

	if (cpu->cr0 & (VSL_CR0_TS | VSL_CR0_EM))
		return vsl_cpu_raise(cpu, VSL_EXC_NM, false, 0);
	if (lin & 15)
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
	if (save) {
		/* only bytes 0..159+16*nxmm are written: hardware leaves the rest */
		unsigned len = 160 + 16 * (unsigned)nxmm;

		vsl_fpu_save_image(&cpu->fpu, img, rexw, nxmm);
		return vsl_cpu_write_lin(cpu, lin, img, len);
	}
	if ((r = vsl_cpu_read_lin(cpu, lin, img, 512)))
		return r;
	if (vsl_fpu_load_image(&cpu->fpu, img, rexw, nxmm))
		return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
	return 0;
}

static int sse_exec_emms(struct vsl_cpu *cpu)
{
	int r;

	if ((r = vsl_sse_check_mmx(cpu, false)))
		return r;
	/* all tags empty; on AMD TOP = 0 as well, like every MMX insn */
	if (vsl_fpu_quirks()->emms_top0)
		cpu->fpu.fsw &= (uint16_t)~(7u << 11);
	cpu->fpu.ftw = 0xffff;
	return 0;
}

/* ---- image formats and reset ---- */

void vsl_fpu_reset(struct vsl_fpu_state *f)
{
	memset(f, 0, sizeof(*f));
	f->fcw = 0x037f;
	f->ftw = 0xffff;
	f->mxcsr = 0x1f80;
}

static void sse_put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void sse_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void sse_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t sse_get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t sse_get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t sse_get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/*
 * FXSAVE image (SDM Vol. 1 10.5.1), 64-bit (REX.W) layout shown; without
 * REX.W bytes 8..23 are FIP[31:0], FCS, 0, FDP[31:0], FDS, 0.
 *
 *	  0 FCW   2 FSW   4 abridged FTW   5 0   6 FOP   8 FIP   16 FDP
 *	 24 MXCSR  28 MXCSR_MASK  32 ST0..ST7 (16 bytes each, 10 used, 6 zero)
 *	160 XMM0..XMM15   416..511 not written
 *
 * As on AMD hosts (vsl_fpu_quirks), the x87 pointers (FOP, FIP, FDP, FCS,
 * FDS) are stored only while an exception is pending (FSW.ES), zero
 * otherwise; FXRSTOR loads them regardless.
 */
void vsl_fpu_save_image(const struct vsl_fpu_state *f, uint8_t img[512], bool rexw, int nxmm)
{
	unsigned top = (f->fsw >> 11) & 7;
	uint8_t abridged = 0;
	bool ptrs = (f->fsw & 0x80) || vsl_fpu_quirks()->fxsave_ptrs_always;

	for (unsigned r = 0; r < 8; r++)
		if (((f->ftw >> (2 * r)) & 3) != 3)
			abridged |= (uint8_t)(1u << r);
	memset(img, 0, 160);
	sse_put16(img, f->fcw);
	sse_put16(img + 2, f->fsw);
	img[4] = abridged;
	if (ptrs) {
		sse_put16(img + 6, f->fop & 0x7ff);
		if (rexw) {
			sse_put64(img + 8, f->fip);
			sse_put64(img + 16, f->fdp);
		} else {
			sse_put32(img + 8, (uint32_t)f->fip);
			sse_put16(img + 12, f->fcs);
			sse_put32(img + 16, (uint32_t)f->fdp);
			sse_put16(img + 20, f->fds);
		}
	}
	sse_put32(img + 24, f->mxcsr);
	sse_put32(img + 28, vsl_fpu_mxcsr_mask());
	for (unsigned i = 0; i < 8; i++)
		memcpy(img + 32 + 16 * i, f->st[(top + i) & 7], 10);
	memcpy(img + 160, f->xmm, 16 * (size_t)nxmm);
}

int vsl_fpu_load_image(struct vsl_fpu_state *f, const uint8_t img[512], bool rexw, int nxmm)
{
	uint32_t mx = sse_get32(img + 24);
	unsigned top;

	if (mx & ~vsl_fpu_mxcsr_mask())
		return -1;
	f->mxcsr = mx;
	/* as the host does: reserved FCW bits read back fixed, ES and B follow
	 * the unmasked flags */
	f->fcw = (sse_get16(img) & 0x1f3f) | 0x40;
	f->fsw = sse_get16(img + 2) & 0x7f7f;
	if (vsl_x87_pending(f))
		f->fsw |= 0x8080;
	f->fop = sse_get16(img + 6) & 0x7ff;
	if (rexw) {
		f->fip = sse_get64(img + 8);
		f->fdp = sse_get64(img + 16);
		f->fcs = f->fds = 0;
	} else {
		f->fip = sse_get32(img + 8);
		f->fcs = sse_get16(img + 12);
		f->fdp = sse_get32(img + 16);
		f->fds = sse_get16(img + 20);
	}
	top = (f->fsw >> 11) & 7;
	for (unsigned i = 0; i < 8; i++)
		memcpy(f->st[(top + i) & 7], img + 32 + 16 * i, 10);
	f->ftw = vsl_x87_full_tags(f, img[4]);
	memcpy(f->xmm, img + 160, 16 * (size_t)nxmm);
	return 0;
}

/* ---- dispatch ---- */

bool vsl_fpu_isa_supported(int isa_ext, int mnemonic)
{
	switch (isa_ext) {
	case ZYDIS_ISA_EXT_X87:
	case ZYDIS_ISA_EXT_MMX:
	case ZYDIS_ISA_EXT_SSE:
	case ZYDIS_ISA_EXT_SSE2:
		return true;
	case ZYDIS_ISA_EXT_SSE3:   /* FISTTP is SSE3 too */
		return vsl_fpu_host_features() & (1ull << 32);
	case ZYDIS_ISA_EXT_SSSE3:
		return vsl_fpu_host_features() & (1ull << (32 + 9));
	case ZYDIS_ISA_EXT_SSE4:   /* SSE4.1 and SSE4.2; POPCNT is the core's */
		return mnemonic != ZYDIS_MNEMONIC_POPCNT &&
		       (vsl_fpu_host_features() & (3ull << (32 + 19))) == (3ull << (32 + 19));
	default:
		return false;
	}
}

int vsl_fpu_exec(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	ZydisMnemonic m = in->zi.mnemonic;
	const void *stub;

	if (in->zi.opcode_map == ZYDIS_OPCODE_MAP_DEFAULT &&
	    ((in->zi.opcode >= 0xd8 && in->zi.opcode <= 0xdf) || m == ZYDIS_MNEMONIC_FWAIT))
		return vsl_x87_exec(cpu, in);
	/* only legacy encodings of the extensions implemented here */
	if (in->zi.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY ||
	    !vsl_fpu_isa_supported(in->zi.meta.isa_ext, m))
		return VSL_FPU_NOT_MINE;

	switch (in->zi.meta.isa_ext) {
	case ZYDIS_ISA_EXT_SSE3:
	case ZYDIS_ISA_EXT_SSSE3:
	case ZYDIS_ISA_EXT_SSE4:
		return vsl_sse_ext_exec(cpu, in);
	default:
		break;
	}
	switch (m) {
	case ZYDIS_MNEMONIC_MOVAPS: case ZYDIS_MNEMONIC_MOVAPD: case ZYDIS_MNEMONIC_MOVDQA:
	case ZYDIS_MNEMONIC_MOVNTPS: case ZYDIS_MNEMONIC_MOVNTPD: case ZYDIS_MNEMONIC_MOVNTDQ:
		return sse_exec_mov128(cpu, in, true);
	case ZYDIS_MNEMONIC_MOVUPS: case ZYDIS_MNEMONIC_MOVUPD: case ZYDIS_MNEMONIC_MOVDQU:
		return sse_exec_mov128(cpu, in, false);
	case ZYDIS_MNEMONIC_MOVSS:
		return sse_exec_movs(cpu, in, 4);
	case ZYDIS_MNEMONIC_MOVSD:
		return sse_exec_movs(cpu, in, 8);
	case ZYDIS_MNEMONIC_MOVD: case ZYDIS_MNEMONIC_MOVQ:
		return sse_exec_movdq(cpu, in);
	case ZYDIS_MNEMONIC_MOVLPS: case ZYDIS_MNEMONIC_MOVLPD:
		return sse_exec_movlh(cpu, in, false);
	case ZYDIS_MNEMONIC_MOVHPS: case ZYDIS_MNEMONIC_MOVHPD:
		return sse_exec_movlh(cpu, in, true);
	case ZYDIS_MNEMONIC_MOVHLPS: case ZYDIS_MNEMONIC_MOVLHPS:
	case ZYDIS_MNEMONIC_MOVQ2DQ: case ZYDIS_MNEMONIC_MOVDQ2Q:
		return sse_exec_movhl(cpu, in);
	case ZYDIS_MNEMONIC_MOVMSKPS:
		return sse_exec_movmsk(cpu, in, 4);
	case ZYDIS_MNEMONIC_MOVMSKPD:
		return sse_exec_movmsk(cpu, in, 8);
	case ZYDIS_MNEMONIC_PMOVMSKB:
		return sse_exec_movmsk(cpu, in, 1);
	case ZYDIS_MNEMONIC_MOVNTI: case ZYDIS_MNEMONIC_MOVNTQ:
		return sse_exec_movnti(cpu, in);
	case ZYDIS_MNEMONIC_MASKMOVDQU: case ZYDIS_MNEMONIC_MASKMOVQ:
		return sse_exec_maskmov(cpu, in);
	case ZYDIS_MNEMONIC_PSHUFD: case ZYDIS_MNEMONIC_PSHUFLW: case ZYDIS_MNEMONIC_PSHUFHW:
	case ZYDIS_MNEMONIC_PSHUFW: case ZYDIS_MNEMONIC_SHUFPS: case ZYDIS_MNEMONIC_SHUFPD:
		return sse_exec_shuf(cpu, in);
	case ZYDIS_MNEMONIC_PSLLDQ:
		return sse_exec_bshift(cpu, in, true);
	case ZYDIS_MNEMONIC_PSRLDQ:
		return sse_exec_bshift(cpu, in, false);
	case ZYDIS_MNEMONIC_PINSRW:
		return sse_exec_pinsrw(cpu, in, true);
	case ZYDIS_MNEMONIC_PEXTRW:
		return sse_exec_pinsrw(cpu, in, false);
	case ZYDIS_MNEMONIC_CMPPS:
		return sse_exec_cmp(cpu, in, 0);
	case ZYDIS_MNEMONIC_CMPPD:
		return sse_exec_cmp(cpu, in, 1);
	case ZYDIS_MNEMONIC_CMPSS:
		return sse_exec_cmp(cpu, in, 2);
	case ZYDIS_MNEMONIC_CMPSD:
		return sse_exec_cmp(cpu, in, 3);
	case ZYDIS_MNEMONIC_CVTSI2SS:
		return sse_exec_cvt_from_int(cpu, in, false);
	case ZYDIS_MNEMONIC_CVTSI2SD:
		return sse_exec_cvt_from_int(cpu, in, true);
	case ZYDIS_MNEMONIC_CVTSS2SI: case ZYDIS_MNEMONIC_CVTTSS2SI:
	case ZYDIS_MNEMONIC_CVTSD2SI: case ZYDIS_MNEMONIC_CVTTSD2SI:
		return sse_exec_cvt_to_int(cpu, in);
	case ZYDIS_MNEMONIC_CVTPI2PS: case ZYDIS_MNEMONIC_CVTPI2PD:
	case ZYDIS_MNEMONIC_CVTPS2PI: case ZYDIS_MNEMONIC_CVTTPS2PI:
	case ZYDIS_MNEMONIC_CVTPD2PI: case ZYDIS_MNEMONIC_CVTTPD2PI:
		return sse_exec_cvt_mmx(cpu, in);
	case ZYDIS_MNEMONIC_LDMXCSR:
		return sse_exec_ldmxcsr(cpu, in, true);
	case ZYDIS_MNEMONIC_STMXCSR:
		return sse_exec_ldmxcsr(cpu, in, false);
	case ZYDIS_MNEMONIC_FXSAVE:
		return sse_exec_fxsave(cpu, in, true, false);
	case ZYDIS_MNEMONIC_FXSAVE64:
		return sse_exec_fxsave(cpu, in, true, true);
	case ZYDIS_MNEMONIC_FXRSTOR:
		return sse_exec_fxsave(cpu, in, false, false);
	case ZYDIS_MNEMONIC_FXRSTOR64:
		return sse_exec_fxsave(cpu, in, false, true);
	case ZYDIS_MNEMONIC_EMMS:
		return sse_exec_emms(cpu);
	case ZYDIS_MNEMONIC_SFENCE: case ZYDIS_MNEMONIC_LFENCE: case ZYDIS_MNEMONIC_MFENCE:
	case ZYDIS_MNEMONIC_PREFETCHNTA: case ZYDIS_MNEMONIC_PREFETCHT0:
	case ZYDIS_MNEMONIC_PREFETCHT1: case ZYDIS_MNEMONIC_PREFETCHT2:
		return 0;   /* no caches or store buffers to order */
	default:
		break;
	}
	stub = sse_stub(m);
	if (!stub)
		return VSL_FPU_NOT_MINE;
	/* shifts by an immediate run the same stub, the count as a 64-bit source */
	return sse_exec_rmw(cpu, in, stub);
}
