/*
 * The fixed part of a differential test's guest RAM: page tables, GDT, TSS,
 * IDT, exception stubs and handler, and the per-test prologue (see
 * layout.h for the map). The handler and prologue are hand-assembled here
 * (they are tiny and must not depend on the code under test); each
 * instruction carries its assembly in a comment.
 *
 * The handler never changes arithmetic flags or any GPR (it saves RAX), so
 * the final state after an exception is the faulting state plus the record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/diff/diff.h"

struct image_emit {
	uint8_t *p;
	uint32_t at;
};

static void image_b(struct image_emit *e, unsigned n, const uint8_t *b)
{
	memcpy(e->p + e->at, b, n);
	e->at += n;
}

#define EMIT(e, ...) do { static const uint8_t b_[] = { __VA_ARGS__ }; image_b((e), sizeof(b_), b_); } while (0)

static void image_u32(struct image_emit *e, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	image_b(e, 4, b);
}

static void image_u64_at(uint8_t *ram, uint64_t addr, uint64_t v)
{
	memcpy(ram + addr, &v, 8);
}

/* mov rax, [rsp+d8] ; mov [DIFF_REC+off], rax */
static void image_copy_frame(struct image_emit *e, uint8_t d8, uint32_t off)
{
	uint8_t a[] = { 0x48, 0x8b, 0x44, 0x24, d8 };
	image_b(e, sizeof(a), a);
	EMIT(e, 0x48, 0x89, 0x04, 0x25);
	image_u32(e, DIFF_REC + off);
}

static uint64_t image_pte(uint64_t addr)
{
	uint64_t f = DIFF_PTE_P | DIFF_PTE_W | DIFF_PTE_A | DIFF_PTE_D;

	if (addr >= DIFF_CODE)
		f |= DIFF_PTE_U;
	if (addr >= DIFF_USTACK_LO && !(addr >= DIFF_CODE && addr < DIFF_CODE + DIFF_CODE_MAX))
		f |= DIFF_PTE_NX;
	if (addr == 0)
		f = 0;
	return addr | f;
}

static void image_tables(uint8_t *ram)
{
	const uint64_t up = DIFF_PTE_P | DIFF_PTE_W | DIFF_PTE_U | DIFF_PTE_A;
	unsigned i;

	image_u64_at(ram, DIFF_PML4, DIFF_PDPT | up);
	image_u64_at(ram, DIFF_PDPT, DIFF_PD | up);
	for (i = 0; i < DIFF_RAM_SIZE / 0x200000; i++)
		image_u64_at(ram, DIFF_PD + 8 * i, (DIFF_PT0 + 0x1000 * i) | up);
	for (i = 0; i < DIFF_RAM_SIZE / 0x1000; i++)
		image_u64_at(ram, DIFF_PT0 + 8 * i, image_pte((uint64_t)i << 12));

	/* GDT */
	image_u64_at(ram, DIFF_GDT + 0x08, 0x00af9b000000ffffull); /* kernel code, L */
	image_u64_at(ram, DIFF_GDT + 0x10, 0x00cf93000000ffffull); /* kernel data */
	image_u64_at(ram, DIFF_GDT + 0x18, 0x00cff3000000ffffull); /* user data, DPL 3 */
	image_u64_at(ram, DIFF_GDT + 0x20, 0x00affb000000ffffull); /* user code, L, DPL 3 */
	/* 64-bit TSS descriptors: limit 0x67, type 9 (available) / 11 (busy), P */
	image_u64_at(ram, DIFF_GDT + 0x28, 0x0000890000000067ull | ((uint64_t)DIFF_TSS << 16));
	image_u64_at(ram, DIFF_GDT + 0x38, 0x00008b0000000067ull | ((uint64_t)DIFF_TSS_DUMMY << 16));
	image_u64_at(ram, DIFF_GDT + 0x48, 0x00cffb000000ffffull); /* user code, 32-bit, DPL 3 */
	image_u64_at(ram, DIFF_GDT + 0x50, 0x00cf9b000000ffffull); /* kernel code, 32-bit */
	/* TSS: RSP0 at offset 4; I/O bitmap base beyond the limit */
	image_u64_at(ram, DIFF_TSS + 4, DIFF_KSTACK_TOP);
	ram[DIFF_TSS + 0x66] = 0x68;
	image_u64_at(ram, DIFF_TSS_DUMMY + 4, DIFF_KSTACK_TOP);
	ram[DIFF_TSS_DUMMY + 0x66] = 0x68;
	ram[DIFF_REC + DIFF_REC_TRSEL] = DIFF_SEL_TSS;
	image_u64_at(ram, DIFF_REC + DIFF_REC_CONT, DIFF_HALT_TAIL);

	/* IDT: 64-bit interrupt gates, selector KCODE, DPL 0 (3 for #BP, #OF) */
	for (i = 0; i < 256; i++) {
		uint64_t h = DIFF_STUBS + 16 * i;
		uint64_t dpl = (i == 3 || i == 4) ? 3 : 0;
		uint64_t lo = (h & 0xffff) | ((uint64_t)DIFF_SEL_KCODE << 16) |
			      ((0x8eull | dpl << 5) << 40) | ((h >> 16 & 0xffff) << 48);

		image_u64_at(ram, DIFF_IDT + 16 * i, lo);
		image_u64_at(ram, DIFF_IDT + 16 * i + 8, h >> 32);
	}
}

static bool image_has_error_code(unsigned v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

static void image_handlers(uint8_t *ram)
{
	struct image_emit e = { .p = ram };
	unsigned v, off;

	for (v = 0; v < 256; v++) {
		e.at = DIFF_STUBS + 16 * v;
		if (!image_has_error_code(v))
			EMIT(&e, 0x6a, 0x00);           /* push 0 */
		EMIT(&e, 0x68);                         /* push imm32 (vector) */
		image_u32(&e, v);
		EMIT(&e, 0xe9);                         /* jmp DIFF_HANDLER */
		image_u32(&e, (uint32_t)(DIFF_HANDLER - (e.at + 4)));
	}

	/* frame after push rax: rax, vector, error, rip, cs, rflags, rsp, ss */
	e.at = DIFF_HANDLER;
	EMIT(&e, 0x50);                                 /* push rax */
	image_copy_frame(&e, 0x08, DIFF_REC_VECTOR);
	image_copy_frame(&e, 0x10, DIFF_REC_ERROR);
	EMIT(&e, 0x0f, 0x20, 0xd0);                     /* mov rax, cr2 */
	EMIT(&e, 0x48, 0x89, 0x04, 0x25);               /* mov [REC_CR2], rax */
	image_u32(&e, DIFF_REC + DIFF_REC_CR2);
	image_copy_frame(&e, 0x18, DIFF_REC_RIP);
	image_copy_frame(&e, 0x20, DIFF_REC_CS);
	image_copy_frame(&e, 0x28, DIFF_REC_RFLAGS);
	image_copy_frame(&e, 0x30, DIFF_REC_RSP);
	image_copy_frame(&e, 0x38, DIFF_REC_SS);
	EMIT(&e, 0x48, 0x8b, 0x04, 0x25);               /* mov rax, [REC_COUNT] */
	image_u32(&e, DIFF_REC + DIFF_REC_COUNT);
	EMIT(&e, 0x48, 0x8d, 0x40, 0x01);               /* lea rax, [rax+1] (keeps flags) */
	EMIT(&e, 0x48, 0x89, 0x04, 0x25);               /* mov [REC_COUNT], rax */
	image_u32(&e, DIFF_REC + DIFF_REC_COUNT);
	EMIT(&e, 0xff, 0x24, 0x25);                     /* jmp [REC_CONT] */
	image_u32(&e, DIFF_REC + DIFF_REC_CONT);

	/*
	 * Halt tail: zero the frame (the pushed RFLAGS may hold undefined
	 * flags; the record keeps a copy the comparator masks), then HLT.
	 */
	e.at = DIFF_HALT_TAIL;
	for (off = 0x08; off <= 0x38; off += 8) {
		uint8_t b[] = { 0x48, 0xc7, 0x44, 0x24, (uint8_t)off, 0, 0, 0, 0 };
		image_b(&e, sizeof(b), b);              /* mov qword [rsp+off], 0 */
	}
	EMIT(&e, 0x58);                                 /* pop rax */
	EMIT(&e, 0xf4);                                 /* hlt */
	EMIT(&e, 0xeb, 0xfd);                           /* jmp hlt */

	/* Resume tail: continue at [REC_RESUME_CS]:[REC_RESUME] (guest programs) */
	e.at = DIFF_RESUME_TAIL;
	EMIT(&e, 0x48, 0x8b, 0x04, 0x25);               /* mov rax, [REC_RESUME] */
	image_u32(&e, DIFF_REC + DIFF_REC_RESUME);
	EMIT(&e, 0x48, 0x89, 0x44, 0x24, 0x18);         /* mov [rsp+0x18], rax */
	EMIT(&e, 0x48, 0x8b, 0x04, 0x25);               /* mov rax, [REC_RESUME_CS] */
	image_u32(&e, DIFF_REC + DIFF_REC_RESUME_CS);
	EMIT(&e, 0x48, 0x89, 0x44, 0x24, 0x20);         /* mov [rsp+0x20], rax */
	EMIT(&e, 0x48, 0x8b, 0x04, 0x25);               /* mov rax, [REC_RESUME_SS] */
	image_u32(&e, DIFF_REC + DIFF_REC_RESUME_SS);
	EMIT(&e, 0x48, 0x89, 0x44, 0x24, 0x38);         /* mov [rsp+0x38], rax */
	/*
	 * Clear RF in the frame left on the stack (the record keeps the
	 * pushed value): the flags this AND sets are discarded by IRETQ.
	 */
	EMIT(&e, 0x81, 0x64, 0x24, 0x28, 0xff, 0xff, 0xfe, 0xff); /* and dword [rsp+0x28], ~RF */
	EMIT(&e, 0x58);                                 /* pop rax */
	EMIT(&e, 0x48, 0x8d, 0x64, 0x24, 0x10);         /* lea rsp, [rsp+16] */
	EMIT(&e, 0x48, 0xcf);                           /* iretq */
}

int vsl_diff_test_init(struct vsl_diff_test *t)
{
	*t = (struct vsl_diff_test){ 0 };
	t->ram = calloc(1, DIFF_RAM_SIZE);
	if (!t->ram)
		return -1;
	image_tables(t->ram);
	image_handlers(t->ram);
	t->init.rip = DIFF_CODE;
	t->init.rflags = 0x2;
	t->init.gpr[4] = DIFF_USTACK_INIT;
	t->init.mxcsr = 0x1f80;
	return 0;
}

void vsl_diff_test_fini(struct vsl_diff_test *t)
{
	free(t->ram);
	free(t->insn);
	*t = (struct vsl_diff_test){ 0 };
}

void vsl_diff_image_prologue(struct vsl_diff_test *t)
{
	struct image_emit e = { .p = t->ram, .at = DIFF_PROLOGUE };
	bool user = t->cpl == 3;

	EMIT(&e, 0x50);                                 /* push rax */
	EMIT(&e, 0x0f, 0x20, 0xd8);                     /* mov rax, cr3 */
	EMIT(&e, 0x0f, 0x22, 0xd8);                     /* mov cr3, rax (flush TLB) */
	EMIT(&e, 0x58);                                 /* pop rax */
	EMIT(&e, 0x0f, 0x00, 0x1c, 0x25);               /* ltr [REC_TRSEL] */
	image_u32(&e, DIFF_REC + DIFF_REC_TRSEL);
	EMIT(&e, 0x68);                                 /* push ss */
	image_u32(&e, user ? DIFF_SEL_UDATA : DIFF_SEL_KDATA);
	EMIT(&e, 0x68);                                 /* push rsp */
	image_u32(&e, (uint32_t)t->init.gpr[4]);
	/*
	 * KVM here is PVM, which runs guest CPL 3 natively in host ring 3,
	 * where PUSHF shows the host's IF=1: CPL 3 tests run with IF=1 (there
	 * is no interrupt source) so that both sides agree architecturally.
	 */
	EMIT(&e, 0x68);                                 /* push rflags */
	image_u32(&e, (uint32_t)(t->init.rflags | 0x200));
	EMIT(&e, 0x68);                                 /* push cs */
	image_u32(&e, user ? DIFF_SEL_UCODE : DIFF_SEL_KCODE);
	EMIT(&e, 0x68);                                 /* push rip (the landing pad) */
	image_u32(&e, DIFF_PAD);
	EMIT(&e, 0x48, 0xcf);                           /* iretq */

	/*
	 * The landing pad: under PVM, KVM's instruction emulator keeps
	 * running the guest for a while after the emulated IRETQ at CPL 0
	 * ("batch emulation") and gives up on SSE instructions; a run of
	 * NOPs lets it hand back to native execution before the test code.
	 */
	e.at = DIFF_PAD;
	for (unsigned i = 0; i < DIFF_PAD_NOPS; i++)
		EMIT(&e, 0x90);                         /* nop */
	EMIT(&e, 0xe9);                                 /* jmp test */
	image_u32(&e, (uint32_t)(t->init.rip - (e.at + 4)));
}

void vsl_diff_image_entry(const struct vsl_diff_test *t, struct vsl_diff_state *out)
{
	*out = t->init;
	out->gpr[4] = DIFF_KSTACK_TOP;
	out->rip = DIFF_PROLOGUE;
	out->rflags = 0x2;
}

int vsl_diff_image_load(struct vsl_diff_test *t, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(t->ram + DIFF_CODE, 1, DIFF_CODE_MAX, f);
	if (ferror(f) || n == 0 || (n == DIFF_CODE_MAX && fgetc(f) != EOF)) {
		snprintf(err, errlen, "%s: %s (at most %u bytes fit at %#x)", path,
			 n == 0 ? "empty or unreadable" : "too large", DIFF_CODE_MAX, DIFF_CODE);
		fclose(f);
		return -1;
	}
	fclose(f);
	t->code_len = (uint32_t)n;
	return 0;
}
