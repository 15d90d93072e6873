/*
 * A minimal x86-64 byte emitter for the binary translator's fixed
 * sequences (prologue, epilogue, state loads/stores, helper calls, exits).
 * Guest instructions that run natively are re-encoded with Zydis' encoder;
 * this file only writes the handful of host instructions the translator
 * itself needs. Writing past the end sets `full` instead of overflowing.
 *
 *	struct vsl_emit e = { .p = buf, .end = buf + len };
 *	vsl_emit_load64(&e, VSL_H_RAX, VSL_H_RBX, offsetof(struct vsl_cpu, rip));
 *	if (e.full) ... flush the code cache and retranslate
 */
#ifndef VESSEL_RUNTIME_CPU_EMIT_H
#define VESSEL_RUNTIME_CPU_EMIT_H

#include <stdbool.h>
#include <stdint.h>

/* host register numbers (hardware encoding) */
enum {
	VSL_H_RAX, VSL_H_RCX, VSL_H_RDX, VSL_H_RBX, VSL_H_RSP, VSL_H_RBP, VSL_H_RSI, VSL_H_RDI,
	VSL_H_R8, VSL_H_R9, VSL_H_R10, VSL_H_R11, VSL_H_R12, VSL_H_R13, VSL_H_R14, VSL_H_R15
};

struct vsl_emit {
	uint8_t *p, *end;
	bool full;
};

void vsl_emit_bytes(struct vsl_emit *e, const void *b, unsigned n);
void vsl_emit_u8(struct vsl_emit *e, uint8_t b);
void vsl_emit_u32(struct vsl_emit *e, uint32_t v);
/* mov r64, [base + disp32] / mov [base + disp32], r64 (base not RSP/R12) */
void vsl_emit_load64(struct vsl_emit *e, int reg, int base, int32_t disp);
void vsl_emit_store64(struct vsl_emit *e, int reg, int base, int32_t disp);
/* mov r64, imm64 (shorter forms when the value allows) */
void vsl_emit_mov_imm(struct vsl_emit *e, int reg, uint64_t imm);
/* mov dst, src (64-bit) */
void vsl_emit_mov_rr(struct vsl_emit *e, int dst, int src);
void vsl_emit_push(struct vsl_emit *e, int reg);
void vsl_emit_pop(struct vsl_emit *e, int reg);
/* call through RAX to an absolute address (clobbers RAX) */
void vsl_emit_call_abs(struct vsl_emit *e, const void *fn);
/* jmp/jcc rel32 with a zero displacement; returns where the rel32 lives (NULL when full) */
uint8_t *vsl_emit_jmp32(struct vsl_emit *e);
uint8_t *vsl_emit_jcc32(struct vsl_emit *e, unsigned cc);
/* point a rel32 written by the functions above at target (same mapping) */
void vsl_emit_patch32(uint8_t *rel, const uint8_t *target);

#endif
