/*
 * SSE/SSE2/x87/FXSAVE state and execution hooks of the virtual CPU.
 *
 * PLACEHOLDER created by the CPU engineer so that cpu_internal.h compiles;
 * the fpu engineer owns this file and replaces it. The core executor calls
 * vsl_fpu_reset() at reset and vsl_fpu_exec() for every instruction whose
 * mnemonic it does not implement itself.
 */
#ifndef VESSEL_RUNTIME_CPU_FPU_H
#define VESSEL_RUNTIME_CPU_FPU_H

#include <stdint.h>

struct vsl_cpu;
struct vsl_insn;

struct vsl_fpu_state {
	uint8_t xmm[16][16] __attribute__((aligned(16)));
	uint32_t mxcsr;
	uint16_t fcw, fsw;
	uint8_t ftw;
	uint16_t fop;
	uint64_t fip, fdp;
	long double st[8];
};

enum { VSL_FPU_NOT_MINE = 1 };

void vsl_fpu_reset(struct vsl_fpu_state *f);
/*
 * Execute an SSE/SSE2/x87/FXSAVE/FXRSTOR/LDMXCSR/STMXCSR/EMMS... instruction.
 * Returns 0 done, VSL_CPU_FAULT if it raised, VSL_FPU_NOT_MINE if the
 * mnemonic is not one it implements (the caller then raises #UD). It checks
 * CR0.TS/EM and CR4.OSFXSR itself via cpu->cr0/cr4.
 */
int vsl_fpu_exec(struct vsl_cpu *cpu, const struct vsl_insn *in);

#endif
