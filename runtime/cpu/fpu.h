/*
 * SSE/SSE2/MMX/x87/FXSAVE state and execution of the virtual CPU.
 *
 * The core executor (interp.c) calls vsl_fpu_reset() at reset and
 * vsl_fpu_exec() for every instruction whose mnemonic it does not implement
 * itself; vsl_fpu_exec answers VSL_FPU_NOT_MINE for mnemonics it does not
 * know either, and the core then raises #UD.
 *
 * Exactness strategy. Guest and host share the ISA, so every floating-point
 * or SIMD computation runs on the host's own SSE/x87 unit with the guest's
 * control state loaded (MXCSR for SSE; the whole x87 image via FXRSTOR for
 * x87): rounding, precision control, DAZ/FTZ, NaN propagation, exception
 * flags, FPREM's partial remainders and the transcendental approximations
 * are then bit-for-bit those of the host CPU, which is what a differential
 * test against /dev/kvm on the same machine sees. Only data movement
 * (moves, shuffles, the FXSAVE/FSTENV image formats, the MMX aliasing) is
 * written in C. See sse_host.c for the stub mechanism.
 *
 * Register file layout:
 *
 *	st[r]    physical x87 register Rr (not ST(i) order), 80-bit little
 *	         endian: bytes 0..7 significand (with explicit J bit 63),
 *	         bytes 8..9 sign and exponent. ST(i) = R((TOP + i) & 7).
 *	         MMX register MMr is bytes 0..7 of Rr, as on hardware: an MMX
 *	         write also sets bytes 8..9 to 0xFFFF, TOP to 0 and every tag
 *	         to valid; EMMS sets every tag to empty.
 *	ftw      full tag word, 2 bits per physical register (00 valid,
 *	         01 zero, 10 special, 11 empty), as FNSTENV stores it.
 *	fsw      status word including TOP (bits 13..11).
 *	fip/fcs, fdp/fds, fop   last non-control x87 instruction's address,
 *	         operand offset and 11-bit opcode.
 *
 * Usage (core executor):
 *
 *	int r = vsl_fpu_exec(cpu, in);
 *	if (r == VSL_FPU_NOT_MINE) return vsl_cpu_raise(cpu, VSL_EXC_UD, false, 0);
 *	if (r) return r;            // VSL_CPU_FAULT: exception pending
 *	cpu->rip = next;            // vsl_fpu_exec never advances RIP
 */
#ifndef VESSEL_RUNTIME_CPU_FPU_H
#define VESSEL_RUNTIME_CPU_FPU_H

#include <stdbool.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

struct vsl_cpu;
struct vsl_insn;

struct vsl_fpu_state {
	uint8_t xmm[16][16] __attribute__((aligned(16)));
	uint32_t mxcsr;
	uint16_t fcw, fsw, ftw, fop;
	uint64_t fip, fdp;
	uint16_t fcs, fds;
	uint8_t st[8][10];
};

/* vsl_fpu_exec's answer for a mnemonic this module does not implement */
#define VSL_FPU_NOT_MINE 1

/*
 * MXCSR bits the guest may set: the host's own MXCSR_MASK (probed once with
 * FXSAVE), since guest MXCSR values are loaded into the host. On this AMD
 * host it is 0x2FFFF: bit 17 is AMD's misaligned-SSE mode (MM), which the
 * alignment checks honour.
 */
uint32_t vsl_fpu_mxcsr_mask(void);
#define VSL_FPU_MXCSR_MM 0x00020000u

/* Power-on / INIT state: FCW 0x037F, FSW 0, all tags empty, MXCSR 0x1F80. */
void vsl_fpu_reset(struct vsl_fpu_state *f);
/*
 * Execute an SSE/SSE2/MMX/x87/FXSAVE/FXRSTOR/LDMXCSR/STMXCSR/EMMS
 * instruction. Returns 0 when done (RIP not advanced), VSL_CPU_FAULT when it
 * raised an exception (#NM, #UD, #GP, #MF, #XM, or a #PF from memory), or
 * VSL_FPU_NOT_MINE when the mnemonic is not implemented here. Checks
 * CR0.EM/TS/MP and CR4.OSFXSR/OSXMMEXCPT itself.
 */
int vsl_fpu_exec(struct vsl_cpu *cpu, const struct vsl_insn *in);

/*
 * The 512-byte FXSAVE image of f, as FXSAVE would store it (rexw: the 64-bit
 * layout with 64-bit FIP/FDP; nxmm: 16 in 64-bit mode, 8 elsewhere). Bytes
 * 416..511 are left as they are in img (hardware does not write them).
 * Useful for snapshots as well.
 */
void vsl_fpu_save_image(const struct vsl_fpu_state *f, uint8_t img[512], bool rexw, int nxmm);
/*
 * Load f from a FXSAVE image as FXRSTOR does. Returns 0, or -1 when the
 * MXCSR field has bits outside vsl_fpu_mxcsr_mask() (FXRSTOR raises #GP then)
 * and f is unchanged.
 */
int vsl_fpu_load_image(struct vsl_fpu_state *f, const uint8_t img[512], bool rexw, int nxmm);

/*
 * Whether vsl_fpu_exec implements the instructions of Zydis ISA extension
 * isa_ext (a ZydisISAExt; mnemonic, a ZydisMnemonic, matters where only part
 * of an extension is done). CPUID should claim what this accepts: today x87,
 * MMX (CPUID.1:EDX bit 23), FXSR, SSE, SSE2, SSE3 (ECX bit 0), SSSE3 (bit 9),
 * SSE4.1 (bit 19) and SSE4.2 (bit 20, incl. CRC32; POPCNT is the core's).
 * MONITOR/MWAIT (ECX bit 3) are not part of it.
 */
bool vsl_fpu_isa_supported(int isa_ext, int mnemonic);
/* Vendor-specific details, probed on the host (AMD Zen here: pointers only
 * while ES, EMMS resets TOP, 0xFFFF padding). */
struct vsl_fpu_quirks {
	bool probed;
	bool fxsave_ptrs_always;   /* FXSAVE stores FOP/FIP/FDP without a pending exception */
	bool emms_top0;            /* EMMS sets TOP to 0 */
	uint16_t env_pad;          /* upper halves of the 32-bit FNSTENV image */
};
const struct vsl_fpu_quirks *vsl_fpu_quirks(void);
/* Host CPUID.1 feature bits (ECX in the high half, EDX in the low), probed once:
 * the extensions above are offered only where the host has them. */
uint64_t vsl_fpu_host_features(void);

/* --- internal to the fpu module (sse.c, sse_ext.c, sse_host.c, x87.c) --- */

/* sse.c helpers for sse_ext.c: #UD/#NM checks (and #MF for MMX insns); an
 * operand (xmm/mm/GPR/imm/memory) zero-extended into out[16], memory with
 * the 16-byte alignment rule when align (strict: even in AMD MM mode); a
 * memory write; a stub run under the guest MXCSR with the SIMD exception
 * policy (0 or VSL_CPU_FAULT). */
int vsl_sse_check(struct vsl_cpu *cpu);
int vsl_sse_check_mmx(struct vsl_cpu *cpu, bool sse);
int vsl_sse_read_op(struct vsl_cpu *cpu, const struct vsl_insn *in,
		    const ZydisDecodedOperand *op, uint8_t out[16], bool align, bool strict);
int vsl_sse_write_mem(struct vsl_cpu *cpu, const struct vsl_insn *in,
		      const ZydisDecodedOperand *op, const void *val, unsigned len,
		      bool align, bool strict);
struct vsl_sse_host;
int vsl_sse_run(struct vsl_cpu *cpu, struct vsl_sse_host *h, const void *stub);
/* SSE3/SSSE3/SSE4.1/SSE4.2 (sse_ext.c); VSL_FPU_NOT_MINE when not one of them. */
int vsl_sse_ext_exec(struct vsl_cpu *cpu, const struct vsl_insn *in);

/* x87 part of vsl_fpu_exec (opcodes D8..DF, FWAIT). */
int vsl_x87_exec(struct vsl_cpu *cpu, const struct vsl_insn *in);
/* Full tag word of f recomputed from register contents and empty bits. */
uint16_t vsl_x87_full_tags(const struct vsl_fpu_state *f, uint8_t abridged);
/* True when an unmasked x87 exception is pending (FSW flags & ~FCW masks). */
bool vsl_x87_pending(const struct vsl_fpu_state *f);
/* MMX side effects on the x87 state: every MMX insn; and an MMX write of mm r. */
void vsl_x87_mmx_enter(struct vsl_fpu_state *f);
void vsl_x87_mmx_write(struct vsl_fpu_state *f, int r, uint64_t v);

/*
 * Host execution helpers (sse_host.c). stub is one entry of a stub table;
 * the SSE wrapper loads xmm0 = d, xmm1 = s, rax = gpr and MXCSR = mxcsr,
 * calls the stub, and stores xmm0 to d, rax to gpr, the resulting MXCSR to
 * mxcsr and RFLAGS to rflags; the host MXCSR is preserved.
 */
struct vsl_sse_host {
	uint8_t d[16] __attribute__((aligned(16)));
	uint8_t s[16] __attribute__((aligned(16)));
	uint64_t gpr;
	uint64_t rflags;
	uint32_t mxcsr;
};
void vsl_sse_host_run(struct vsl_sse_host *h, const void *stub);
/* The same for stubs that neither read nor write MXCSR or flags (integer
 * SIMD, logic, shuffles): h->mxcsr and h->rflags are left alone. */
void vsl_sse_host_run_int(struct vsl_sse_host *h, const void *stub);
/* PCMPxSTRx: as vsl_sse_host_run_int plus RDX in and RCX out, flags out. */
void vsl_sse_host_run_str(struct vsl_sse_host *h, const void *stub, uint64_t *rdx, uint64_t *rcx);
/* x87: FXRSTOR64 img, call stub with rdi = mem and rax = *rax, FXSAVE64 img;
 * rflags in/out (CF/PF/ZF... as the stub sees and leaves them). */
void vsl_x87_host_run(uint8_t img[512], const void *stub, void *mem, uint64_t *rax,
		      uint64_t *rflags);
/* Address of the 2-byte x87 stub for opcode 0xD8 + op and ModRM byte modrm. */
const void *vsl_x87_stub(unsigned op, unsigned modrm);

#endif
