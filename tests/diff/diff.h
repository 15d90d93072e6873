/*
 * vessel-cpudiff: differential testing of vessel's x86-64 CPU against the
 * host CPU through /dev/kvm.
 *
 * One test is an initial guest (RAM image built by image.c, registers in
 * struct vsl_diff_test) that ends in HLT. Two runners execute it, KVM
 * (kvm.c) and vessel's CPU (vessel.c), each into a struct vsl_diff_result;
 * compare.c reports every difference in GPRs, RIP, RFLAGS (minus the flags
 * that are architecturally undefined at that point, see flags.c), XMM0-15,
 * MXCSR, port writes and all of guest RAM. gen.c builds random instruction
 * sequences from a seed, so every failure is reproducible from
 * (seed, options) alone.
 *
 *	struct vsl_diff_test t;
 *	vsl_diff_gen(&t, seed, &opts);               // or vsl_diff_image_init + load
 *	vsl_diff_kvm_run(kvm, &t, &ra);
 *	vsl_diff_vessel_run(vsl, &t, &rb);
 *	if (vsl_diff_compare(&t, &ra, &rb, 0, stdout)) ...
 *	vsl_diff_test_fini(&t);
 *
 * This is a test program: unlike the libraries it prints (compare.c and
 * main.c only) and its error strings go to a caller buffer.
 */
#ifndef VSL_DIFF_H
#define VSL_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tests/diff/layout.h"

/* RFLAGS arithmetic bits */
#define DIFF_CF 0x001u
#define DIFF_PF 0x004u
#define DIFF_AF 0x010u
#define DIFF_ZF 0x040u
#define DIFF_SF 0x080u
#define DIFF_DF 0x400u
#define DIFF_OF 0x800u
#define DIFF_ARITH (DIFF_CF | DIFF_PF | DIFF_AF | DIFF_ZF | DIFF_SF | DIFF_OF)

/* Instruction classes of the generator (bit numbers in a class mask). */
enum vsl_diff_class {
	DIFF_C_ALU,      /* add/or/adc/sbb/and/sub/xor/cmp/test/inc/dec/neg/not */
	DIFF_C_SHIFT,    /* shl/shr/sar/rol/ror/rcl/rcr by 1/imm/CL, shld/shrd */
	DIFF_C_MULDIV,   /* mul/imul (1-3 operands), div/idiv without #DE */
	DIFF_C_DE,       /* div/idiv with random operands (#DE likely) */
	DIFF_C_BIT,      /* bt/bts/btr/btc, bsf/bsr, bswap */
	DIFF_C_COND,     /* setcc, cmovcc */
	DIFF_C_XCHG,     /* xchg, xadd, cmpxchg, cmpxchg8b (lock on memory) */
	DIFF_C_MOV,      /* mov, movzx, movsx, movsxd, lea, cbw..cqo */
	DIFF_C_STACK,    /* push/pop (reg, imm, mem, 16-bit) */
	DIFF_C_STRING,   /* movs/stos/lods/cmps/scas, rep/repe/repne, DF 0/1 */
	DIFF_C_FLAGS,    /* clc/stc/cmc/lahf/sahf/pushf/popf/cld/std */
	DIFF_C_BRANCH,   /* forward jcc/jmp, call/ret, loop, jrcxz */
	DIFF_C_SSEMOV,   /* movaps/movups/movdqa/movq/movd/movss/movsd/... */
	DIFF_C_SSEINT,   /* SSE2 integer SIMD */
	DIFF_C_SSEFP,    /* SSE/SSE2 float arithmetic, compares, logic, shuffles */
	DIFF_C_SSECVT,   /* conversions, ldmxcsr with random rounding modes */
	DIFF_C_FAULT,    /* faults: #UD, #GP (non-canonical, RDMSR), #SS, #PF, NX fetch */
	DIFF_C_MISC,     /* xlat, fences, pause, multi-byte nop, prefetch, clflush */
	DIFF_C_X87,      /* x87 loads/stores/arithmetic/compares/control (CPL 3) */
	DIFF_C_MMX,      /* MMX and the SSE/SSE2 forms on MMX registers (CPL 3) */
	DIFF_C_SYS,      /* descriptor-table and segment instructions, MSRs, CRs, SWAPGS */
	DIFF_C_COUNT
};
#define DIFF_C_ALL ((1u << DIFF_C_COUNT) - 1)

struct vsl_diff_state {
	uint64_t gpr[16];     /* hardware order: rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
	uint64_t rip;
	uint64_t rflags;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
	uint64_t fs_base, gs_base;  /* loaded (initial state) and read back */
	/* system state, read back after a run (not loaded from it) */
	uint64_t cr0, cr2, cr3, cr4, efer;
	uint16_t sel[6];      /* ES CS SS DS FS GS selectors */
};

/* One generated instruction (random sequences only). */
struct vsl_diff_insn {
	uint32_t off;         /* offset in the code blob */
	uint8_t len;
	uint8_t cls;          /* enum vsl_diff_class */
	uint16_t mnemonic;    /* ZydisMnemonic */
	uint32_t undef_after; /* RFLAGS bits undefined after this instruction */
};

struct vsl_diff_test {
	uint64_t seed;
	uint8_t *ram;                /* DIFF_RAM_SIZE bytes of initial memory, owned */
	/*
	 * Entry state of the test code: rip, rflags and gpr[RSP] are what the
	 * prologue's IRETQ loads; every other GPR, XMM and MXCSR is loaded by
	 * the runner before the prologue (which touches none of them).
	 */
	struct vsl_diff_state init;
	int cpl;                     /* 0 or 3 */
	uint32_t code_start;         /* offset of the first instruction from DIFF_CODE */
	uint32_t code_len;           /* offset of the end of the code from DIFF_CODE */
	struct vsl_diff_insn *insn;  /* owned; NULL for guest programs */
	size_t ninsn;
	uint32_t classes;            /* classes actually emitted */
	/*
	 * Where the sequence stored its final x87/SSE state with FXSAVE (0:
	 * nowhere), and the FSW condition bits undefined at that point.
	 */
	uint32_t fxsave_at;
	uint16_t fsw_undef;
	char name[64];               /* guest program name or "seed N" */
};

enum vsl_diff_exit {
	DIFF_EXIT_HLT,       /* the guest halted: the normal end */
	DIFF_EXIT_SHUTDOWN,  /* triple fault */
	DIFF_EXIT_TIMEOUT,   /* ran too long */
	DIFF_EXIT_ERROR      /* the runner failed or the engine gave up; see msg */
};

struct vsl_diff_io {
	uint16_t port;
	uint8_t size;
	uint32_t val;
};

#define DIFF_MAX_IO 32

struct vsl_diff_result {
	enum vsl_diff_exit exit;
	struct vsl_diff_state st;
	const uint8_t *ram;           /* final RAM, borrowed until the runner's next run */
	struct vsl_diff_io io[DIFF_MAX_IO];
	unsigned nio;                 /* may exceed DIFF_MAX_IO (only the first are kept) */
	char msg[512];
};

/* image.c: the fixed part of guest RAM and the per-test prologue. */
int vsl_diff_test_init(struct vsl_diff_test *t);   /* ram + tables; 0 or -1 */
void vsl_diff_test_fini(struct vsl_diff_test *t);
/* Write the prologue for t->init/t->cpl (call after the state is final). */
void vsl_diff_image_prologue(struct vsl_diff_test *t);
/* Load a flat guest program at DIFF_CODE; 0, or -1 with a message in err. */
int vsl_diff_image_load(struct vsl_diff_test *t, const char *path, char *err, size_t errlen);
/* Runner entry state: RIP at the prologue, RSP at the kernel stack. */
void vsl_diff_image_entry(const struct vsl_diff_test *t, struct vsl_diff_state *out);

/* kvm.c: the reference runner. */
struct vsl_diff_kvm;
/* NULL with a reason in err when /dev/kvm is unusable. */
struct vsl_diff_kvm *vsl_diff_kvm_new(char *err, size_t errlen);
void vsl_diff_kvm_free(struct vsl_diff_kvm *k);
int vsl_diff_kvm_run(struct vsl_diff_kvm *k, const struct vsl_diff_test *t,
		     struct vsl_diff_result *r);

/* vessel.c: the runner over vessel's CPU (include/vessel/cpu.h). */
struct vsl_diff_vessel;
/* engine: 0 interpreter, 1 translator. NULL with a reason in err. */
struct vsl_diff_vessel *vsl_diff_vessel_new(int engine, char *err, size_t errlen);
void vsl_diff_vessel_free(struct vsl_diff_vessel *v);
int vsl_diff_vessel_run(struct vsl_diff_vessel *v, const struct vsl_diff_test *t,
			struct vsl_diff_result *r);
bool vsl_diff_vessel_available(void);

/* gen.c: random sequences. */
/* Optional instructions, drawn only when both CPUs advertise them (CPUID). */
#define DIFF_F_CX16   0x1u   /* CMPXCHG16B: CPUID.1:ECX[13] */
#define DIFF_F_POPCNT 0x2u   /* POPCNT: CPUID.1:ECX[23] */
#define DIFF_F_MM     0x4u   /* MXCSR.MM (bit 17) in both MXCSR_MASKs (AMD) */

struct vsl_diff_gen_opts {
	uint32_t classes;     /* DIFF_C_* mask to draw from */
	uint32_t features;    /* DIFF_F_* */
	unsigned len;         /* instructions to generate (setup instructions extra) */
	int cpl;              /* 0, 3, or -1 for random */
};
int vsl_diff_gen(struct vsl_diff_test *t, uint64_t seed, const struct vsl_diff_gen_opts *o);
const char *vsl_diff_class_name(int cls);
int vsl_diff_class_parse(const char *list, uint32_t *mask);  /* 0 or -1 */

/* flags.c: architecturally undefined flags. */
uint32_t vsl_diff_flags_undef(int mnemonic, unsigned opbits, int count);
bool vsl_diff_flags_counted(int mnemonic);

/* compare.c */
/* Number of differences (0 = equal); prints them to out when out != NULL. */
/* flags: DIFF_CMP_* (documented divergences to tolerate) */
#define DIFF_CMP_IGNORE_RF 0x1u  /* RF in the RFLAGS image an exception pushed */
int vsl_diff_compare(const struct vsl_diff_test *t, const struct vsl_diff_result *a,
		     const struct vsl_diff_result *b, unsigned flags, FILE *out);
void vsl_diff_disasm(const struct vsl_diff_test *t, FILE *out);
/* RFLAGS bits undefined at the end of the run that produced r. */
uint32_t vsl_diff_undef_at_end(const struct vsl_diff_test *t, const struct vsl_diff_result *r);

#endif
