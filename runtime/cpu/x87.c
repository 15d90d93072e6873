/*
 * x87 floating point (opcodes D8..DF and FWAIT) and the MMX/x87 aliasing.
 *
 * Every x87 instruction except the environment ones (FLDENV, FNSTENV,
 * FRSTOR, FNSAVE) runs on the host's own x87 unit: the guest registers are
 * put into a FXSAVE image, FXRSTOR'd, the same two-byte instruction is
 * executed from the stub table in sse_host.c (a memory operand is moved to
 * a host buffer at %rdi first), and FXSAVE brings the result back. TOP,
 * tags, C0..C3, precision and rounding control, stack faults, unmasked
 * exception responses and the transcendental results are therefore the
 * host CPU's. A guest exception left pending (unmasked flag set) stays in
 * the guest image only (the host's x87 is reinitialised right after the
 * FXSAVE) and is raised as #MF on the guest's next waiting x87 or MMX
 * instruction, as hardware does.
 *
 * Stores to memory run against a sentinel buffer; if the instruction did
 * not write it (an unmasked exception suppressed the store) the guest
 * memory is not written either. Because a write can fault, the new x87
 * state is committed only after the guest write succeeded.
 *
 * The last-instruction pointers (FOP, FIP/FCS, FDP/FDS) are kept for the
 * guest: updated by every non-control instruction, FDP only by those with
 * a memory operand (as the host does).
 *
 *	r = vsl_x87_exec(cpu, in);   // called by vsl_fpu_exec for D8..DF, 9B
 */
#include <string.h>

#include "runtime/cpu/cpu_internal.h"

enum { X87_LOAD = 1, X87_STORE = 2, X87_ENV = 3, X87_BAD = 4 };

/* Memory forms by opcode (D8..DF) and ModRM.reg: {kind, bytes}. */
static const struct x87_memop {
	uint8_t kind, len;
} x87_memops[8][8] = {
	/* D8: FADD..FDIVR m32real */
	{ {1, 4}, {1, 4}, {1, 4}, {1, 4}, {1, 4}, {1, 4}, {1, 4}, {1, 4} },
	/* D9: FLD m32, -, FST m32, FSTP m32, FLDENV, FLDCW, FNSTENV, FNSTCW */
	{ {1, 4}, {4, 0}, {2, 4}, {2, 4}, {3, 0}, {1, 2}, {3, 0}, {2, 2} },
	/* DA: FIADD..FIDIVR m32int */
	{ {1, 4}, {1, 4}, {1, 4}, {1, 4}, {1, 4}, {1, 4}, {1, 4}, {1, 4} },
	/* DB: FILD m32, FISTTP m32, FIST m32, FISTP m32, -, FLD m80, -, FSTP m80 */
	{ {1, 4}, {2, 4}, {2, 4}, {2, 4}, {4, 0}, {1, 10}, {4, 0}, {2, 10} },
	/* DC: FADD..FDIVR m64real */
	{ {1, 8}, {1, 8}, {1, 8}, {1, 8}, {1, 8}, {1, 8}, {1, 8}, {1, 8} },
	/* DD: FLD m64, FISTTP m64, FST m64, FSTP m64, FRSTOR, -, FNSAVE, FNSTSW */
	{ {1, 8}, {2, 8}, {2, 8}, {2, 8}, {3, 0}, {4, 0}, {3, 0}, {2, 2} },
	/* DE: FIADD..FIDIVR m16int */
	{ {1, 2}, {1, 2}, {1, 2}, {1, 2}, {1, 2}, {1, 2}, {1, 2}, {1, 2} },
	/* DF: FILD m16, FISTTP m16, FIST m16, FISTP m16, FBLD, FILD m64, FBSTP, FISTP m64 */
	{ {1, 2}, {2, 2}, {2, 2}, {2, 2}, {1, 10}, {1, 8}, {2, 10}, {2, 8} },
};

/* ---- tags, pending exceptions, MMX aliasing ---- */

static unsigned x87_top(const struct vsl_fpu_state *f)
{
	return (f->fsw >> 11) & 7;
}

static unsigned x87_classify(const uint8_t *r)
{
	uint64_t mant;
	uint16_t se;

	memcpy(&mant, r, 8);
	memcpy(&se, r + 8, 2);
	se &= 0x7fff;
	if (se == 0x7fff)
		return 2;
	if (se == 0)
		return mant ? 2 : 1;
	return (mant >> 63) ? 0 : 2;   /* unnormals are special */
}

uint16_t vsl_x87_full_tags(const struct vsl_fpu_state *f, uint8_t abridged)
{
	uint16_t t = 0;

	for (unsigned r = 0; r < 8; r++)
		t |= (uint16_t)(((abridged >> r) & 1 ? x87_classify(f->st[r]) : 3) << (2 * r));
	return t;
}

static uint8_t x87_abridged(const struct vsl_fpu_state *f)
{
	uint8_t a = 0;

	for (unsigned r = 0; r < 8; r++)
		if (((f->ftw >> (2 * r)) & 3) != 3)
			a |= (uint8_t)(1u << r);
	return a;
}

bool vsl_x87_pending(const struct vsl_fpu_state *f)
{
	return (f->fsw & ~f->fcw & 0x3f) != 0;
}

void vsl_x87_mmx_enter(struct vsl_fpu_state *f)
{
	f->fsw &= (uint16_t)~(7u << 11);
	f->ftw = 0;
	/* ftw is recomputed from contents when read by FNSTENV; an MMX insn
	 * makes every register "valid" in the abridged sense */
	f->ftw = vsl_x87_full_tags(f, 0xff);
}

void vsl_x87_mmx_write(struct vsl_fpu_state *f, int r, uint64_t v)
{
	memcpy(f->st[r & 7], &v, 8);
	f->st[r & 7][8] = 0xff;
	f->st[r & 7][9] = 0xff;
	vsl_x87_mmx_enter(f);
}

/* ---- host execution ---- */

static void x87_to_image(const struct vsl_fpu_state *f, uint8_t img[512])
{
	unsigned top = x87_top(f);
	uint32_t mx;

	memset(img, 0, 160);
	memcpy(img, &f->fcw, 2);
	memcpy(img + 2, &f->fsw, 2);
	img[4] = x87_abridged(f);
	/* MXCSR: FXRSTOR would fault on bits the host does not have */
	mx = f->mxcsr & vsl_fpu_mxcsr_mask();
	memcpy(img + 24, &mx, 4);
	for (unsigned i = 0; i < 8; i++)
		memcpy(img + 32 + 16 * i, f->st[(top + i) & 7], 10);
}

static void x87_from_image(struct vsl_fpu_state *f, const uint8_t img[512])
{
	unsigned top;

	memcpy(&f->fcw, img, 2);
	memcpy(&f->fsw, img + 2, 2);
	top = x87_top(f);
	for (unsigned i = 0; i < 8; i++)
		memcpy(f->st[(top + i) & 7], img + 32 + 16 * i, 10);
	f->ftw = vsl_x87_full_tags(f, img[4]);
}

/* Offset (not linear address) and selector of a memory operand, for FDP/FDS. */
static void x87_data_ptr(struct vsl_cpu *cpu, const ZydisDecodedOperand *op, uint64_t lin,
			 uint64_t *off, uint16_t *sel)
{
	int s = VSL_DS;

	if (op->mem.segment >= ZYDIS_REGISTER_ES && op->mem.segment <= ZYDIS_REGISTER_GS)
		s = op->mem.segment - ZYDIS_REGISTER_ES;
	*sel = cpu->seg[s].sel;
	if (cpu->mode == VSL_MODE_LONG64 && s != VSL_FS && s != VSL_GS)
		*off = lin;
	else
		*off = lin - cpu->seg[s].base;
	if (cpu->mode != VSL_MODE_LONG64)
		*off &= 0xffffffffu;
}

/* ---- environment images (FNSTENV/FLDENV/FNSAVE/FRSTOR) ---- */

/*
 * 32-bit protected-mode layout (28 bytes; the 16-bit one is 14 bytes of
 * the low halves without FOP):
 *	 0 FCW  4 FSW  8 FTW  12 FIP[31:0]  16 FCS | FOP << 16  20 FDP  24 FDS
 * Real mode (CR0.PE = 0) stores 20-bit linear pointers:
 *	12 FIP[15:0]  16 FOP | FIP[31:16] << 12  20 FDP[15:0]  24 FDP[31:16] << 12
 * Unused upper halves are filled as the host does (0xFFFF on AMD).
 */
static unsigned x87_env_store(struct vsl_cpu *cpu, uint8_t *e, bool o16)
{
	const struct vsl_fpu_state *f = &cpu->fpu;
	bool real = !(cpu->cr0 & VSL_CR0_PE);
	uint32_t w[7], pad = (uint32_t)vsl_fpu_quirks()->env_pad << 16;
	uint16_t h[7];

	if (o16) {
		h[0] = f->fcw;
		h[1] = f->fsw;
		h[2] = f->ftw;
		if (real) {
			h[3] = (uint16_t)f->fip;
			h[4] = (uint16_t)(((f->fip >> 16) & 0xf) << 12 | (f->fop & 0x7ff));
			h[5] = (uint16_t)f->fdp;
			h[6] = (uint16_t)(((f->fdp >> 16) & 0xf) << 12);
		} else {
			h[3] = (uint16_t)f->fip;
			h[4] = f->fcs;
			h[5] = (uint16_t)f->fdp;
			h[6] = f->fds;
		}
		memcpy(e, h, 14);
		return 14;
	}
	w[0] = pad | f->fcw;
	w[1] = pad | f->fsw;
	w[2] = pad | f->ftw;
	if (real) {
		w[3] = pad | (uint16_t)f->fip;
		w[4] = (uint32_t)((f->fip >> 16) & 0xffff) << 12 | (f->fop & 0x7ff);
		w[5] = pad | (uint16_t)f->fdp;
		w[6] = (uint32_t)((f->fdp >> 16) & 0xffff) << 12;
	} else {
		w[3] = (uint32_t)f->fip;
		w[4] = f->fcs | (uint32_t)(f->fop & 0x7ff) << 16;
		w[5] = (uint32_t)f->fdp;
		w[6] = pad | f->fds;
	}
	memcpy(e, w, 28);
	return 28;
}

/* Returns the abridged tags (the registers are not loaded yet). */
static uint8_t x87_env_load(struct vsl_cpu *cpu, const uint8_t *e, bool o16)
{
	struct vsl_fpu_state *f = &cpu->fpu;
	bool real = !(cpu->cr0 & VSL_CR0_PE);
	uint8_t abridged = 0;
	uint16_t ftw;

	if (o16) {
		uint16_t h[7];

		memcpy(h, e, 14);
		f->fcw = (h[0] & 0x1f3f) | 0x40;
		f->fsw = h[1];
		ftw = h[2];
		if (real) {
			f->fip = h[3] | (uint32_t)(h[4] >> 12) << 16;
			f->fop = h[4] & 0x7ff;
			f->fdp = h[5] | (uint32_t)(h[6] >> 12) << 16;
			f->fcs = f->fds = 0;
		} else {
			f->fip = h[3];
			f->fcs = h[4];
			f->fdp = h[5];
			f->fds = h[6];
		}
	} else {
		uint32_t w[7];

		memcpy(w, e, 28);
		f->fcw = (uint16_t)((w[0] & 0x1f3f) | 0x40);
		f->fsw = (uint16_t)w[1];
		ftw = (uint16_t)w[2];
		if (real) {
			f->fip = (w[3] & 0xffff) | ((w[4] >> 12) & 0xffff) << 16;
			f->fop = w[4] & 0x7ff;
			f->fdp = (w[5] & 0xffff) | ((w[6] >> 12) & 0xffff) << 16;
			f->fcs = f->fds = 0;
		} else {
			f->fip = w[3];
			f->fcs = (uint16_t)w[4];
			f->fop = (w[4] >> 16) & 0x7ff;
			f->fdp = w[5];
			f->fds = (uint16_t)w[6];
		}
	}
	/* only "empty or not" survives a load; B and ES follow the flags and
	 * reserved FCW bits read back fixed (both as the host does) */
	for (unsigned r = 0; r < 8; r++)
		if (((ftw >> (2 * r)) & 3) != 3)
			abridged |= (uint8_t)(1u << r);
	f->fsw &= 0x7f7f;
	if (vsl_x87_pending(f))
		f->fsw |= 0x8080;
	return abridged;
}

/* FNSTENV, FLDENV, FNSAVE, FRSTOR. */
static int x87_exec_env(struct vsl_cpu *cpu, const struct vsl_insn *in, const ZydisDecodedOperand *mop,
			unsigned op, unsigned reg)
{
	struct vsl_fpu_state *f = &cpu->fpu;
	bool o16 = in->zi.operand_width == 16;
	uint64_t lin = vsl_cpu_ea(cpu, in, mop);
	uint8_t buf[108], abridged;
	unsigned n, top;
	int r;

	if (op == 1 && reg == 6) {           /* FNSTENV */
		n = x87_env_store(cpu, buf, o16);
		if ((r = vsl_cpu_write_lin(cpu, lin, buf, n)))
			return r;
		/* all exceptions masked now: nothing is pending any more */
		f->fcw |= 0x3f;
		f->fsw &= 0x7f7f;
		return 0;
	}
	if (op == 5 && reg == 6) {           /* FNSAVE */
		n = x87_env_store(cpu, buf, o16);
		top = x87_top(f);
		for (unsigned i = 0; i < 8; i++)
			memcpy(buf + n + 10 * i, f->st[(top + i) & 7], 10);
		if ((r = vsl_cpu_write_lin(cpu, lin, buf, n + 80)))
			return r;
		/* then FNINIT */
		f->fcw = 0x037f;
		f->fsw = 0;
		f->ftw = 0xffff;
		f->fop = 0;
		f->fip = f->fdp = 0;
		f->fcs = f->fds = 0;
		return 0;
	}
	/* FLDENV (op 1) / FRSTOR (op 5) */
	n = o16 ? 14 : 28;
	if ((r = vsl_cpu_read_lin(cpu, lin, buf, op == 5 ? n + 80 : n)))
		return r;
	abridged = x87_env_load(cpu, buf, o16);
	if (op == 5) {
		top = x87_top(f);
		for (unsigned i = 0; i < 8; i++)
			memcpy(f->st[(top + i) & 7], buf + n + 10 * i, 10);
	}
	f->ftw = vsl_x87_full_tags(f, abridged);
	return 0;
}

/* ---- the executor ---- */

static bool x87_nonwaiting(unsigned op, unsigned modrm, bool mem)
{
	unsigned reg = (modrm >> 3) & 7;

	if (mem)
		return (op == 1 && (reg == 6 || reg == 7)) || (op == 5 && (reg == 6 || reg == 7));
	/* FNCLEX, FNINIT, FNENI, FNDISI, FNSETPM; FNSTSW AX */
	return (op == 3 && (modrm == 0xe0 || modrm == 0xe1 || modrm == 0xe2 || modrm == 0xe3 ||
			    modrm == 0xe4)) || (op == 7 && modrm == 0xe0);
}

/* Control instructions leave FOP/FIP/FDP alone. */
static bool x87_control(unsigned op, unsigned modrm, bool mem)
{
	unsigned reg = (modrm >> 3) & 7;

	if (mem)
		return (op == 1 && reg >= 4) || (op == 5 && (reg == 4 || reg == 6 || reg == 7));
	return (op == 3 && modrm >= 0xe0 && modrm <= 0xe4) || (op == 7 && modrm == 0xe0);
}

int vsl_x87_exec(struct vsl_cpu *cpu, const struct vsl_insn *in)
{
	struct vsl_fpu_state *f = &cpu->fpu;
	const ZydisDecodedOperand *mop = NULL;
	unsigned op, modrm, orig_modrm, reg;
	uint8_t img[512] __attribute__((aligned(16)));
	uint8_t save[512] __attribute__((aligned(16)));
	uint8_t mem[16] __attribute__((aligned(16)));
	uint64_t lin = 0, rax, fl;
	struct x87_memop mo = { 0, 0 };
	bool is_mem;
	int r;

	if (in->zi.mnemonic == ZYDIS_MNEMONIC_FWAIT) {
		if ((cpu->cr0 & (VSL_CR0_TS | VSL_CR0_MP)) == (VSL_CR0_TS | VSL_CR0_MP))
			return vsl_cpu_raise(cpu, VSL_EXC_NM, false, 0);
		if (vsl_x87_pending(f))
			return vsl_cpu_raise(cpu, VSL_EXC_MF, false, 0);
		return 0;
	}
	/* FISTTP is SSE3: only where the host can run it */
	if (in->zi.mnemonic == ZYDIS_MNEMONIC_FISTTP &&
	    !vsl_fpu_isa_supported(ZYDIS_ISA_EXT_SSE3, ZYDIS_MNEMONIC_FISTTP))
		return VSL_FPU_NOT_MINE;
	if (cpu->cr0 & (VSL_CR0_EM | VSL_CR0_TS))
		return vsl_cpu_raise(cpu, VSL_EXC_NM, false, 0);

	op = in->zi.opcode & 7;
	is_mem = in->zi.raw.modrm.mod != 3;
	reg = in->zi.raw.modrm.reg & 7;
	modrm = (unsigned)in->zi.raw.modrm.mod << 6 | reg << 3 | (in->zi.raw.modrm.rm & 7);
	orig_modrm = modrm;
	if (!x87_nonwaiting(op, modrm, is_mem) && vsl_x87_pending(f))
		return vsl_cpu_raise(cpu, VSL_EXC_MF, false, 0);

	if (is_mem) {
		for (unsigned i = 0; i < in->zi.operand_count; i++)
			if (in->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY)
				mop = &in->ops[i];
		mo = x87_memops[op][reg];
		if (!mop || mo.kind == X87_BAD)
			return VSL_FPU_NOT_MINE;
		lin = vsl_cpu_ea(cpu, in, mop);
		if (mo.kind == X87_ENV) {
			r = x87_exec_env(cpu, in, mop, op, reg);
			if (r)
				return r;
			return 0;
		}
		modrm = reg << 3 | 7;   /* host operand at (%rdi) */
		memset(mem, 0, sizeof(mem));
		if (mo.kind == X87_LOAD && (r = vsl_cpu_read_lin(cpu, lin, mem, mo.len)))
			return r;
	}

	x87_to_image(f, img);
	if (mo.kind == X87_STORE) {
		memcpy(save, img, 512);
		memset(mem, 0x5a, sizeof(mem));
	}
	rax = cpu->gpr[VSL_RAX];
	fl = cpu->rflags;
	vsl_x87_host_run(img, vsl_x87_stub(op, modrm), mem, &rax, &fl);

	if (mo.kind == X87_STORE) {
		static const uint8_t s5a[16] = {
			0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
			0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a };
		bool stored = memcmp(mem, s5a, mo.len) != 0;

		if (!stored) {
			/* maybe it stored the sentinel itself: try another one */
			uint64_t rax2 = cpu->gpr[VSL_RAX], fl2 = cpu->rflags;

			memcpy(img, save, 512);
			memset(mem, 0xa5, sizeof(mem));
			vsl_x87_host_run(img, vsl_x87_stub(op, modrm), mem, &rax2, &fl2);
			stored = mem[0] != 0xa5 || memcmp(mem, mem + 1, mo.len - 1) != 0;
		}
		if (stored && (r = vsl_cpu_write_lin(cpu, lin, mem, mo.len)))
			return r;
	}

	x87_from_image(f, img);
	if (!is_mem && op == 7 && modrm == 0xe0)            /* FNSTSW AX */
		vsl_cpu_reg_write(cpu, ZYDIS_REGISTER_AX, rax & 0xffff);
	if (!is_mem && (op == 3 || op == 7) && modrm >= 0xe8 && modrm <= 0xf7)
		/* FCOMI/FUCOMI(P): ZF PF CF, and OF SF AF cleared */
		cpu->rflags = (cpu->rflags & ~(uint64_t)VSL_FL_ARITH) | (fl & VSL_FL_ARITH);

	if (!is_mem && op == 3 && modrm == 0xe3) {          /* FNINIT */
		f->fop = 0;
		f->fip = f->fdp = 0;
		f->fcs = f->fds = 0;
	} else if (!x87_control(op, modrm, is_mem)) {
		f->fop = (uint16_t)(op << 8 | orig_modrm);
		f->fcs = cpu->seg[VSL_CS].sel;
		f->fip = in->rip;
		if (!(cpu->cr0 & VSL_CR0_PE))
			f->fip = (cpu->seg[VSL_CS].base + in->rip) & 0xfffff;
		if (is_mem) {
			x87_data_ptr(cpu, mop, lin, &f->fdp, &f->fds);
			if (!(cpu->cr0 & VSL_CR0_PE))
				f->fdp = lin & 0xfffff;
		}
	}
	return 0;
}
