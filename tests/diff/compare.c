/*
 * Comparing two runs of one test, and printing what differs.
 *
 * Compared: how the run ended, the 16 GPRs, RIP, RFLAGS (the arithmetic
 * flags undefined at the end are masked, see flags.c), XMM0-15, MXCSR,
 * CR0/CR2/CR3/CR4/EFER, segment selectors and FS/GS bases, the port
 * writes, and every byte of guest RAM (the RFLAGS image in the
 * exception record is masked the same way; in the FXSAVE image of x87
 * sequences FOP/FIP/FDP, MXCSR_MASK and undefined FSW condition bits are).
 * The undefined set "at the end" is the one before the faulting
 * instruction when the exception record shows a fault, else the one after
 * the last instruction.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "tests/diff/diff.h"

static const char *const cmp_gpr_names[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

static uint64_t cmp_rec(const struct vsl_diff_result *r, uint32_t off)
{
	uint64_t v;

	memcpy(&v, r->ram + DIFF_REC + off, 8);
	return v;
}

uint32_t vsl_diff_undef_at_end(const struct vsl_diff_test *t, const struct vsl_diff_result *r)
{
	uint32_t all = 0;
	size_t i;

	if (!t->insn || !t->ninsn || !r->ram)
		return 0;
	for (i = 0; i < t->ninsn; i++)
		all |= t->insn[i].undef_after;
	if (cmp_rec(r, DIFF_REC_COUNT) == 0)
		return r->exit == DIFF_EXIT_HLT ? t->insn[t->ninsn - 1].undef_after : all;
	{
		uint64_t rip = cmp_rec(r, DIFF_REC_RIP);

		for (i = 0; i < t->ninsn; i++)
			if (DIFF_CODE + t->insn[i].off == rip)
				return i ? t->insn[i - 1].undef_after : 0;
		if (rip == DIFF_CODE + t->code_len)
			return t->insn[t->ninsn - 1].undef_after;
	}
	return all;
}

static const char *cmp_exit_name(enum vsl_diff_exit e)
{
	switch (e) {
	case DIFF_EXIT_HLT: return "hlt";
	case DIFF_EXIT_SHUTDOWN: return "shutdown";
	case DIFF_EXIT_TIMEOUT: return "timeout";
	default: return "error";
	}
}

static const char *cmp_region(uint64_t a)
{
	if (a >= DIFF_DATA && a < DIFF_DATA + DIFF_DATA_SIZE) return "data";
	if (a >= DIFF_USTACK_LO && a < DIFF_USTACK_HI) return "user stack";
	if (a >= DIFF_CODE && a < DIFF_CODE + DIFF_CODE_MAX) return "code";
	if (a >= DIFF_REC && a < DIFF_REC + 0x1000) return "exception record";
	if (a >= DIFF_PML4 && a < DIFF_PROLOGUE) return "page tables";
	if (a >= DIFF_KSTACK_TOP - 0x10000 && a < DIFF_KSTACK_TOP) return "kernel stack";
	if (a >= DIFF_GDT && a < DIFF_IDT) return "gdt/tss";
	if (a >= DIFF_SCRATCH && a < DIFF_SCRATCH + DIFF_SCRATCH_SIZE) return "scratch";
	return "other";
}

int vsl_diff_compare(const struct vsl_diff_test *t, const struct vsl_diff_result *a,
		     const struct vsl_diff_result *b, unsigned flags, FILE *out)
{
	uint32_t undef = vsl_diff_undef_at_end(t, a) | vsl_diff_undef_at_end(t, b);
	uint64_t fmask = ~(uint64_t)undef;
	int diffs = 0, shown = 0;
	unsigned i;

	if (a->exit != b->exit) {
		diffs++;
		if (out)
			fprintf(out, "  exit    %-20s %-20s  (%s | %s)\n", cmp_exit_name(a->exit),
				cmp_exit_name(b->exit), a->msg, b->msg);
	}
	if (a->exit == DIFF_EXIT_ERROR || b->exit == DIFF_EXIT_ERROR || !a->ram || !b->ram)
		return diffs ? diffs : (a->exit == DIFF_EXIT_ERROR ? 1 : 0);
	for (i = 0; i < 16; i++)
		if (a->st.gpr[i] != b->st.gpr[i]) {
			diffs++;
			if (out)
				fprintf(out, "  %-7s %016" PRIx64 "     %016" PRIx64 "\n", cmp_gpr_names[i],
					a->st.gpr[i], b->st.gpr[i]);
		}
	if (a->st.rip != b->st.rip) {
		diffs++;
		if (out)
			fprintf(out, "  rip     %016" PRIx64 "     %016" PRIx64 "\n", a->st.rip, b->st.rip);
	}
	if ((a->st.rflags & fmask) != (b->st.rflags & fmask)) {
		diffs++;
		if (out)
			fprintf(out, "  rflags  %016" PRIx64 "     %016" PRIx64 "  (xor %" PRIx64
				", undefined mask %x)\n", a->st.rflags, b->st.rflags,
				(a->st.rflags ^ b->st.rflags) & fmask, undef);
	}
	for (i = 0; i < 16; i++)
		if (memcmp(a->st.xmm[i], b->st.xmm[i], 16)) {
			uint64_t al, ah, bl, bh;

			memcpy(&al, a->st.xmm[i], 8);
			memcpy(&ah, a->st.xmm[i] + 8, 8);
			memcpy(&bl, b->st.xmm[i], 8);
			memcpy(&bh, b->st.xmm[i] + 8, 8);
			diffs++;
			if (out)
				fprintf(out, "  xmm%-4u %016" PRIx64 ":%016" PRIx64 "  %016" PRIx64 ":%016" PRIx64 "\n",
					i, ah, al, bh, bl);
		}
	if (a->st.mxcsr != b->st.mxcsr) {
		diffs++;
		if (out)
			fprintf(out, "  mxcsr   %08x             %08x\n", a->st.mxcsr, b->st.mxcsr);
	}
	{
		static const char *const crn[] = { "cr0", "cr2", "cr3", "cr4", "efer", "fs.base", "gs.base" };
		const uint64_t va[] = { a->st.cr0, a->st.cr2, a->st.cr3, a->st.cr4, a->st.efer,
					a->st.fs_base, a->st.gs_base };
		const uint64_t vb[] = { b->st.cr0, b->st.cr2, b->st.cr3, b->st.cr4, b->st.efer,
					b->st.fs_base, b->st.gs_base };
		static const char *const segn[] = { "es", "cs", "ss", "ds", "fs", "gs" };

		for (i = 0; i < 7; i++)
			if (va[i] != vb[i]) {
				diffs++;
				if (out)
					fprintf(out, "  %-7s %016" PRIx64 "     %016" PRIx64 "\n", crn[i], va[i], vb[i]);
			}
		for (i = 0; i < 6; i++)
			if (a->st.sel[i] != b->st.sel[i]) {
				diffs++;
				if (out)
					fprintf(out, "  %-7s %04x                 %04x\n", segn[i], a->st.sel[i],
						b->st.sel[i]);
			}
	}
	if (a->nio != b->nio ||
	    memcmp(a->io, b->io, sizeof(a->io[0]) * (a->nio < DIFF_MAX_IO ? a->nio : DIFF_MAX_IO))) {
		diffs++;
		if (out) {
			fprintf(out, "  port writes differ: %u vs %u\n", a->nio, b->nio);
			for (i = 0; i < DIFF_MAX_IO && (i < a->nio || i < b->nio); i++)
				fprintf(out, "    %2u: %04x=%08x   %04x=%08x\n", i,
					i < a->nio ? a->io[i].port : 0, i < a->nio ? a->io[i].val : 0,
					i < b->nio ? b->io[i].port : 0, i < b->nio ? b->io[i].val : 0);
		}
	}
	for (i = 0; i < DIFF_RAM_SIZE; i += 8) {
		uint64_t va, vb;

		memcpy(&va, a->ram + i, 8);
		memcpy(&vb, b->ram + i, 8);
		if (t->fxsave_at && i >= t->fxsave_at && i < t->fxsave_at + 32) {
			/*
			 * FXSAVE image: FOP, FIP, FDP are implementation-specific
			 * (AMD stores them only with an exception pending), and so
			 * is MXCSR_MASK; FSW condition bits may be undefined.
			 */
			static const uint64_t keep[4] = {
				0x000000ffffffffffull, 0, 0, 0x00000000ffffffffull,
			};
			uint64_t k = keep[(i - t->fxsave_at) / 8];

			if (i == t->fxsave_at)
				k &= ~((uint64_t)t->fsw_undef << 16);
			va &= k;
			vb &= k;
		}
		if (i == DIFF_REC + DIFF_REC_RFLAGS) {
			va &= fmask;
			vb &= fmask;
			if (flags & DIFF_CMP_IGNORE_RF) {
				va &= ~0x10000ull;
				vb &= ~0x10000ull;
			}
		}
		if (va == vb)
			continue;
		diffs++;
		if (out && shown++ < 24)
			fprintf(out, "  [%06x] %016" PRIx64 "     %016" PRIx64 "  (%s)\n", i, va, vb,
				cmp_region(i));
	}
	if (out && shown > 24)
		fprintf(out, "  ... %d more differing qwords in RAM\n", shown - 24);
	return diffs;
}

void vsl_diff_disasm(const struct vsl_diff_test *t, FILE *out)
{
	const uint8_t *code = t->ram + DIFF_CODE;
	uint32_t at = t->code_start;
	size_t k = 0;

	while (at < t->code_len) {
		ZydisDisassembledInstruction d;
		const char *cls = "";
		unsigned j, len;

		if (t->insn) {
			while (k < t->ninsn && t->insn[k].off < at)
				k++;
			if (k < t->ninsn && t->insn[k].off == at)
				cls = vsl_diff_class_name(t->insn[k].cls);
		}
		if (!ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64, DIFF_CODE + at,
							 code + at, t->code_len - at, &d))) {
			fprintf(out, "  %06x  %02x                              (bad)\n", DIFF_CODE + at, code[at]);
			at++;
			continue;
		}
		len = d.info.length;
		fprintf(out, "  %06x  ", DIFF_CODE + at);
		for (j = 0; j < 12; j++) {
			if (j < len)
				fprintf(out, "%02x", code[at + j]);
			else
				fprintf(out, "  ");
		}
		fprintf(out, "%s %-40s %s\n", len > 12 ? "+" : " ", d.text, cls);
		at += len;
	}
}
