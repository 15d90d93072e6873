/*
 * A minimal x86-64 byte emitter (see emit.h): REX/ModRM for the few forms the
 * translator's own sequences use. All memory forms use mod=10 (disp32) so
 * that every state access has the same shape.
 */
#include <string.h>

#include "runtime/cpu/emit.h"

void vsl_emit_bytes(struct vsl_emit *e, const void *b, unsigned n)
{
	if (e->full || (size_t)(e->end - e->p) < n) {
		e->full = true;
		return;
	}
	memcpy(e->p, b, n);
	e->p += n;
}

void vsl_emit_u8(struct vsl_emit *e, uint8_t b)
{
	vsl_emit_bytes(e, &b, 1);
}

void vsl_emit_u32(struct vsl_emit *e, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	vsl_emit_bytes(e, b, 4);
}

static void emit_modrm_mem(struct vsl_emit *e, uint8_t op, int reg, int base, int32_t disp)
{
	uint8_t b[3];

	b[0] = (uint8_t)(0x48 | ((reg & 8) ? 4 : 0) | ((base & 8) ? 1 : 0));
	b[1] = op;
	b[2] = (uint8_t)(0x80 | ((reg & 7) << 3) | (base & 7));
	vsl_emit_bytes(e, b, 3);
	vsl_emit_u32(e, (uint32_t)disp);
}

void vsl_emit_load64(struct vsl_emit *e, int reg, int base, int32_t disp)
{
	emit_modrm_mem(e, 0x8b, reg, base, disp);
}

void vsl_emit_store64(struct vsl_emit *e, int reg, int base, int32_t disp)
{
	emit_modrm_mem(e, 0x89, reg, base, disp);
}

void vsl_emit_mov_imm(struct vsl_emit *e, int reg, uint64_t imm)
{
	if (imm <= 0xffffffffull) {
		/* mov r32, imm32 zero-extends */
		if (reg & 8)
			vsl_emit_u8(e, 0x41);
		vsl_emit_u8(e, (uint8_t)(0xb8 | (reg & 7)));
		vsl_emit_u32(e, (uint32_t)imm);
		return;
	}
	vsl_emit_u8(e, (uint8_t)(0x48 | ((reg & 8) ? 1 : 0)));
	vsl_emit_u8(e, (uint8_t)(0xb8 | (reg & 7)));
	vsl_emit_u32(e, (uint32_t)imm);
	vsl_emit_u32(e, (uint32_t)(imm >> 32));
}

void vsl_emit_mov_rr(struct vsl_emit *e, int dst, int src)
{
	uint8_t b[3] = { (uint8_t)(0x48 | ((src & 8) ? 4 : 0) | ((dst & 8) ? 1 : 0)), 0x89,
			 (uint8_t)(0xc0 | ((src & 7) << 3) | (dst & 7)) };

	vsl_emit_bytes(e, b, 3);
}

void vsl_emit_push(struct vsl_emit *e, int reg)
{
	if (reg & 8)
		vsl_emit_u8(e, 0x41);
	vsl_emit_u8(e, (uint8_t)(0x50 | (reg & 7)));
}

void vsl_emit_pop(struct vsl_emit *e, int reg)
{
	if (reg & 8)
		vsl_emit_u8(e, 0x41);
	vsl_emit_u8(e, (uint8_t)(0x58 | (reg & 7)));
}

void vsl_emit_call_abs(struct vsl_emit *e, const void *fn)
{
	static const uint8_t call_rax[2] = { 0xff, 0xd0 };

	vsl_emit_mov_imm(e, VSL_H_RAX, (uint64_t)(uintptr_t)fn);
	vsl_emit_bytes(e, call_rax, 2);
}

uint8_t *vsl_emit_jmp32(struct vsl_emit *e)
{
	vsl_emit_u8(e, 0xe9);
	vsl_emit_u32(e, 0);
	return e->full ? NULL : e->p - 4;
}

uint8_t *vsl_emit_jcc32(struct vsl_emit *e, unsigned cc)
{
	vsl_emit_u8(e, 0x0f);
	vsl_emit_u8(e, (uint8_t)(0x80 | (cc & 15)));
	vsl_emit_u32(e, 0);
	return e->full ? NULL : e->p - 4;
}

void vsl_emit_patch32(uint8_t *rel, const uint8_t *target)
{
	int32_t d = (int32_t)(target - (rel + 4));

	memcpy(rel, &d, 4);
}
