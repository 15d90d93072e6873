/*
 * Host execution of guest SSE/x87 arithmetic: tiny machine-code stubs.
 *
 * Each guest floating-point or SIMD operation runs as the very same host
 * instruction, so its result and exception flags are the hardware's. A stub
 * is one instruction followed by RET, assembled in a private table:
 *
 *	SSE stubs     "addps %xmm1,%xmm0; ret" ...   named in sse.c's op list
 *	x87 stubs     8 opcodes (D8..DF) x 256 ModRM bytes, 4 bytes each:
 *	              opcode, ModRM, RET, INT3. Memory forms are only ever
 *	              called with ModRM = reg<<3 | 7, i.e. operand at (%rdi);
 *	              register forms (mod = 3) are the guest's own ModRM.
 *
 * The wrappers below load the guest operands into fixed host registers,
 * CALL the stub and store the results. CALL pushes below RSP, which would
 * clobber the red zone the compiler may use, so RSP is lowered by 128
 * around the call (with LEA, which keeps the flags). Host MXCSR and FCW are
 * saved before and restored after (x87 registers reinitialised, XMM
 * registers declared clobbered), so host code never sees guest MXCSR, guest
 * x87 masks or pending guest exceptions.
 *
 *	struct vsl_sse_host h = { .mxcsr = guest_mxcsr };
 *	memcpy(h.d, dst, 16); memcpy(h.s, src, 16);
 *	vsl_sse_host_run(&h, stub_addps);
 */
#include <cpuid.h>
#include <string.h>

#include "runtime/cpu/fpu.h"

/*
 * The x87 table: for each opcode D8..DF, 256 slots of 4 bytes. Built with
 * assembler loops so the table is exactly the encodings the guest uses.
 */
__asm__(".pushsection .text\n"
	".p2align 4\n"
	"vsl_x87_stub_table:\n"
	".irp op, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf\n"
	".set modrm, 0\n"
	".rept 256\n"
	".byte \\op, modrm, 0xc3, 0xcc\n"
	".set modrm, modrm + 1\n"
	".endr\n"
	".endr\n"
	".popsection\n");

extern const unsigned char vsl_x87_stub_table[] __attribute__((visibility("hidden")));

uint32_t vsl_fpu_mxcsr_mask(void)
{
	static uint32_t mask;   /* racing first calls store the same value */

	if (!mask) {
		uint8_t img[512] __attribute__((aligned(16)));
		uint32_t m;

		memset(img, 0, sizeof(img));
		__asm__ volatile("fxsave64 %0" : "=m" (img));
		memcpy(&m, img + 28, 4);
		mask = m ? m : 0xffbf;   /* 0 means the original default (SDM) */
	}
	return mask;
}

uint64_t vsl_fpu_host_features(void)
{
	static uint64_t features;

	if (!features) {
		unsigned a, b, c, d;

		if (!__get_cpuid(1, &a, &b, &c, &d))
			c = d = 0;
		features = (uint64_t)c << 32 | d | 1ull << 63;   /* bit 63: probed */
	}
	return features;
}

/*
 * Vendor differences the emulation follows, measured once on the host so
 * that results match whatever x86 machine vessel runs on.
 */
const struct vsl_fpu_quirks *vsl_fpu_quirks(void)
{
	static struct vsl_fpu_quirks q;   /* racing first calls store the same */

	if (!q.probed) {
		uint8_t img[512] __attribute__((aligned(16)));
		uint8_t env[28];
		uint16_t sw;
		uint64_t fip;

		memset(img, 0, sizeof(img));
		/* FXSAVE without a pending exception: are FIP/FDP/FOP stored? */
		__asm__ volatile("fninit\n\tfld1\n\tfxsave64 %0\n\tfninit"
				 : "=m" (img) : : "memory", "st");
		memcpy(&fip, img + 8, 8);
		q.fxsave_ptrs_always = fip != 0;
		/* does EMMS reset TOP like the other MMX instructions? */
		__asm__ volatile("fninit\n\tfld1\n\temms\n\tfnstsw %0\n\tfninit"
				 : "=m" (sw) : : "memory", "st");
		q.emms_top0 = ((sw >> 11) & 7) == 0;
		/* the unused upper halves of the 32-bit FNSTENV image */
		memset(env, 0, sizeof(env));
		__asm__ volatile("fninit\n\tfnstenv %0\n\tfninit" : "=m" (env) : : "memory");
		q.env_pad = (uint16_t)(env[2] | env[3] << 8);
		q.probed = true;
	}
	return &q;
}

const void *vsl_x87_stub(unsigned op, unsigned modrm)
{
	return vsl_x87_stub_table + ((op & 7) * 256 + (modrm & 0xff)) * 4;
}

void vsl_sse_host_run(struct vsl_sse_host *h, const void *stub)
{
	uint32_t host_mxcsr;
	uint64_t fl;

	/*
	 * LDMXCSR serialises (it dominates the cost of a stub run), so it is
	 * skipped when the host MXCSR already has the wanted value (the usual
	 * 0x1F80) and, afterwards, when the operation raised no flag.
	 */
	__asm__ volatile(
		"stmxcsr %[hm]\n\t"
		"movl %[hm], %%r11d\n\t"
		"cmpl %%r11d, %[gm]\n\t"
		"je 1f\n\t"
		"ldmxcsr %[gm]\n"
		"1:\n\t"
		"movdqa %[d], %%xmm0\n\t"
		"movdqa %[s], %%xmm1\n\t"
		"lea -128(%%rsp), %%rsp\n\t"
		"call *%[fn]\n\t"
		"pushfq\n\t"
		"popq %[fl]\n\t"
		"lea 128(%%rsp), %%rsp\n\t"
		"movdqa %%xmm0, %[d]\n\t"
		"stmxcsr %[gm]\n\t"
		"cmpl %%r11d, %[gm]\n\t"
		"je 2f\n\t"
		"ldmxcsr %[hm]\n"
		"2:\n\t"
		: [d] "+m" (h->d), [gm] "+m" (h->mxcsr), [hm] "=m" (host_mxcsr),
		  [fl] "=r" (fl), "+a" (h->gpr)
		: [s] "m" (h->s), [fn] "r" (stub)
		: "xmm0", "xmm1", "r11", "cc", "memory");
	h->rflags = fl;
}

void vsl_sse_host_run_int(struct vsl_sse_host *h, const void *stub)
{
	__asm__ volatile(
		"movdqa %[d], %%xmm0\n\t"
		"movdqa %[s], %%xmm1\n\t"
		"lea -128(%%rsp), %%rsp\n\t"
		"call *%[fn]\n\t"
		"lea 128(%%rsp), %%rsp\n\t"
		"movdqa %%xmm0, %[d]\n\t"
		: [d] "+m" (h->d), "+a" (h->gpr)
		: [s] "m" (h->s), [fn] "r" (stub)
		: "xmm0", "xmm1", "cc", "memory");
}

void vsl_sse_host_run_str(struct vsl_sse_host *h, const void *stub, uint64_t *rdx, uint64_t *rcx)
{
	uint64_t fl, d = *rdx, c = *rcx;

	__asm__ volatile(
		"movdqa %[d], %%xmm0\n\t"
		"movdqa %[s], %%xmm1\n\t"
		"lea -128(%%rsp), %%rsp\n\t"
		"call *%[fn]\n\t"
		"pushfq\n\t"
		"popq %[fl]\n\t"
		"lea 128(%%rsp), %%rsp\n\t"
		"movdqa %%xmm0, %[d]\n\t"
		: [d] "+m" (h->d), [fl] "=r" (fl), "+a" (h->gpr), "+d" (d), "+c" (c)
		: [s] "m" (h->s), [fn] "r" (stub)
		: "xmm0", "xmm1", "cc", "memory");
	h->rflags = fl;
	*rdx = d;
	*rcx = c;
}

void vsl_x87_host_run(uint8_t img[512], const void *stub, void *mem, uint64_t *rax,
		      uint64_t *rflags)
{
	uint64_t fl = (*rflags & 0x8d5) | 2;
	uint64_t a = *rax;
	uint32_t host_mxcsr;
	uint16_t host_fcw;

	/*
	 * The host's x87 contents need no saving (the ABI leaves the x87 stack
	 * empty across calls), only its control word and MXCSR; the XMM
	 * registers FXRSTOR loads are declared clobbered. This halves the cost
	 * compared with a full host FXSAVE/FXRSTOR pair.
	 */
	__asm__ volatile(
		"fnstcw %[cw]\n\t"
		"stmxcsr %[mx]\n\t"
		"fxrstor64 (%[img])\n\t"
		"lea -128(%%rsp), %%rsp\n\t"
		"pushq %[fl]\n\t"
		"popfq\n\t"
		"call *%[fn]\n\t"
		"pushfq\n\t"
		"popq %[fl]\n\t"
		"lea 128(%%rsp), %%rsp\n\t"
		"fxsave64 (%[img])\n\t"
		"fninit\n\t"
		"fldcw %[cw]\n\t"
		"ldmxcsr %[mx]\n\t"
		: [cw] "=m" (host_fcw), [mx] "=m" (host_mxcsr), [fl] "+r" (fl), "+a" (a)
		: [img] "r" (img), [fn] "r" (stub), "D" (mem)
		: "cc", "memory", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)",
		  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	*rax = a;
	*rflags = fl;
}
