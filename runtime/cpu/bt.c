/*
 * The binary translator: guest x86-64 code becomes host x86-64 code a block
 * at a time.
 *
 * Code cache. One memfd mapped twice: a read-write view the translator
 * emits into and a read-execute view the host runs; no page is ever
 * writable and executable at once. Block descriptors and the decoded form
 * of helper instructions live in a separate metadata arena. When either
 * fills up, everything is flushed and translation starts over. The start
 * of the cache holds code every block shares (bt_emit_stubs,
 * bt_emit_shared): the entry and exit frames, the flag store and load,
 * the TLB refill, the helper call and the tails that continue through
 * bt_indirect or return to the dispatcher.
 *
 * Look-up. A hash of the linear RIP selects a chain of blocks; a block is
 * used only if its RIP, linear address, guest-physical address, mode, CS
 * limit and the generation of its code page (cpu->code_gen, bumped by every
 * guest write to a page marked as holding code) all still match, so the
 * blocks of a program's pages survive its exit and serve the next exec of
 * the same file (stale blocks are unlinked when met). In 64-bit mode a
 * direct-mapped jump cache (struct bt_jc) holds the same key in one cache
 * line per entry and answers returns, indirect jumps and the dispatcher
 * first. A code TLB miss is filled by the look-up itself (no fault raised;
 * a fault is left to the executor's fetch). Blocks never span a
 * page: a block stops before an instruction that would cross it, and such
 * an instruction (like MMIO code) is left to the reference executor, which
 * raises the fault of the second page exactly.
 *
 * Generated code. rbx holds the struct vsl_cpu pointer; guest GPRs live in
 * cpu->gpr and, within a block, in a register cache (r12-r14, rbp, rsi,
 * r10, r11) written back before helpers and exits and reloaded after slow
 * paths; instructions that need CL as a shift count or AH..BH load/store
 * rax/rcx/rdx around themselves instead. A block that jumps back to its
 * own start is translated twice: the second time its busiest registers
 * have fixed slots, loaded at the chain entry and kept across the back
 * edges, which jump to a budget check at the loop head (bt_pick_home).
 * Guest XMM registers are loaded into host xmm0/xmm1 around each native
 * SSE instruction. The guest's arithmetic
 * flags live in the host RFLAGS between native instructions, and (with
 * BMI2) across chained jumps; they are written back to cpu->rflags before a
 * helper call or a return to the dispatcher. With BMI2, r15 holds bt->left.
 *
 *	enter(cpu, block) (shared, bt_emit_stubs): push rbx, rbp, r12-r15;
 *		rbx = cpu; the return stack's bottom frame; r15 = bt->left
 *	block:	[load flags into RFLAGS]
 *	chain:	if (bt->left < N) { rip = block; return 0 }  bt->left -= N
 *		(flag-free with BMI2: LEA, SHRX, JRCXZ on r15)
 *		native insn:  [reload flags] load regs; insn (re-encoded); store regs
 *		memory insn:  lea rdi, EA; flag-free TLB probe (RORX/SHRX index,
 *		              (tag - last byte + 0xfff) >> 12 == 0, JRCXZ)
 *		              hit: r8 = addend; insn with [r8 + rdi]
 *		              miss: the helper for this one instruction, out of line
 *		helper insn:  [store flags] call bt_helper(cpu, h); test eax,eax;
 *		              jz next; mov eax,-1; return
 *		jcc:          (BMI2) jcc side exit; the block goes on
 *		              else: jcc taken; exit(next); taken: exit(target)
 *		call:         push the return address; (BMI2) push it on the host
 *		              stack too and host-call exit(target); the landing
 *		              pad after that call continues at the return address
 *		ret:          pop; (BMI2) equal to the return stack's top: host ret
 *		              into the landing pad; else rax = bt_indirect(cpu) ...
 *	exit(t), t in the block's page:  jmp rel32 (patched to t's chain entry
 *		once the dispatcher has found t) else: last_exit = this; rip = t; return 0
 *	exit(t), t elsewhere (BMI2, 64-bit): a guard (t's code TLB entry and
 *		page generation as when chained), then the same patchable jmp;
 *		else rip = t; rax = bt_indirect(cpu); rax ? jmp rax : return 0
 *	return 0 / -1: jmp to the shared epilogue (bt->left = r15; unwind)
 *	side exit / slow path: emitted after the block's last exit
 *
 * Native instructions are integer instructions in 64-bit mode with register,
 * immediate and at most one memory operand (implicit RAX/RCX/RDX operands
 * too: CMPXCHG, CQO, MUL...), SSE integer moves and logic, MOV from a
 * segment register, PUSH/POP/CALL/RET, JMP through a register or memory and
 * RDTSC/RDTSCP (computed from the slice's counters, bt_emit_rdtsc);
 * the rest calls bt_helper(), which runs the reference executor's handler
 * for that one instruction (REP MOVS/STOS through bt_rep_string, which
 * copies a page run at a time). A near branch run by a helper continues
 * through bt_indirect like RET (bt_helper returns 2). A helper that
 * faults, changes RIP, asks for an interrupt poll, changes mode or writes to
 * the block's own code page ends the block with the exact architectural
 * state the reference executor would leave: the block returns -1 and the
 * dispatcher reads the retired count and fault from struct vsl_bt.
 * bt->left counts the instructions chained blocks may still retire (the
 * budget's slice): retired = slice - left, corrected by a helper that ends
 * its block early.
 *
 * Chaining without a guard is only ever patched between blocks of the same
 * guest page, so the page's generation (checked by the dispatcher's look-up
 * when the page is entered) covers every block reached: a write to that
 * page from inside it goes through a helper (code pages have no write TLB
 * entries), which then ends the block. bt_indirect() does the full look-up
 * check. The return stack's landing pads check their page's generation; a
 * helper that flushes TLB entries ends the chain, so none outlives the
 * mappings it was entered with.
 *
 * Interrupts are polled at block boundaries with the executor's own poll
 * (vsl_cpu_poll_intr) when something may have changed the answer (I/O,
 * MMIO, IF 0->1) and at least every BT_SLICE instructions; single-stepping,
 * STI/MOV SS shadows and the budget's tail run the reference executor for
 * one instruction (vsl_interp_run).
 *
 * Profiling: built with -DVSL_BT_PERFMAP the translator never flushes (1 GiB
 * cache), names its blocks in /tmp/perf-PID.map, writes each block's guest
 * and host bytes to /tmp/bt-blocks-PID.txt and, at exit, the helper calls
 * per mnemonic to /tmp/bt-helpers-PID.txt (perf does not read maps for
 * memfd code: match `perf script` addresses against the map yourself).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <Zydis/Encoder.h>

#include "runtime/cpu/bt.h"
#include "runtime/cpu/cpu_internal.h"
#include "runtime/cpu/emit.h"

#define BT_HASH_BITS 16
#define BT_HASH_SIZE (1u << BT_HASH_BITS)
#ifdef VSL_BT_PERFMAP
/* profiling: no flush, so that every address in the perf map names one block */
#define BT_CODE_SIZE (1024ull << 20)
#define BT_META_SIZE (4096ull << 20)
#else
#define BT_CODE_SIZE (128u << 20)
#define BT_META_SIZE (256u << 20)
#endif
#define BT_MAX_INSNS 48
/* worst case host bytes per guest instruction (native: 4 loads + insn + 4 stores + flags) */
#define BT_MAX_HOST_PER_INSN 512
/*
 * Instructions chained blocks may run before returning to the dispatcher,
 * and at most between two interrupt polls (through one reference-executor
 * step) when nothing asked for one earlier (I/O, MMIO, CR8, MSR, IF 0->1
 * and device kicks all do). Each return costs a dispatcher round trip
 * (with 4096, 18M of them in the sha256 benchmark's 25G instructions, about
 * 5% of its time). It also bounds the return stack: at most one 16-byte
 * frame per instruction, 1 MiB of host stack.
 */
#define BT_SLICE 65536

/* jump cache: direct-mapped, 64-bit code only (see bt_jc_find) */
#define BT_JC_BITS 12
#define BT_JC_SIZE (1u << BT_JC_BITS)
#define BT_JC_SSE 0x80000000u
#define BT_JC_USER 0x40000000u

#define BT_ARITH 0x8d5u
/*
 * Return stack: the guest return address a translated CALL leaves on the
 * host stack (above the host return address into its landing pad); the
 * frame vsl_bt_run enters a block with holds this canonical stand-in and
 * the address of the sentinel code (bt_emit_stubs), which handles a guest
 * RET to exactly this value.
 */
#define BT_RS_SENTINEL 0xffffffffffffe000ull
#define BT_NCACHE 7

struct bt_block {
	uint64_t rip, lin, paddr;
	uint32_t gen, cs_limit;
	uint8_t mode;
	bool sse_ok;        /* CR0.TS/EM clear and CR4.OSFXSR set when translated */
	bool user;          /* translated at CPL 3: its inline TLB look-ups use cpu->tlb[1] */
	uint16_t ninsn;
	const uint8_t *code;  /* entry from the dispatcher (RX view), through bt->enter */
	uint8_t *chain;     /* entry for chained jumps (RW view address) */
	struct bt_block *next; /* hash chain */
};

/* a direct exit that can be patched to jump straight to the next block */
struct bt_exit {
	uint8_t *rel;       /* rel32 of its jmp (RW view) */
	const struct bt_block *from;
	/*
	 * An exit to another page (64-bit code) has a guard before its jmp,
	 * patched with the target block when the jmp is: the immediates the
	 * code TLB entry's tag and addend must match (stored inverted) and
	 * the disp32s of its code_gen check (4 * page, -gen). NULL otherwise.
	 */
	uint8_t *ntag, *nadd, *gpage, *ggen;
};

/* one instruction run through the reference executor's handler */
struct bt_hinsn {
	struct vsl_dinsn d;     /* first: handlers get &d */
	vsl_interp_fn *orig;    /* the executor's handler when d.fn is a translator fast path */
	uint64_t rip, next;
	struct bt_block *blk;
	uint32_t idx;
	bool ends;
	bool cont;          /* a near branch: its block may continue through bt_indirect */
};

/*
 * A jump-cache entry: everything the look-up of a 64-bit block checks, in
 * one 32-byte line, so that a hit touches neither the hash table nor the
 * block descriptor (which are cold: scattered in the metadata arena).
 *
 *	lin     linear RIP of the block (== RIP in 64-bit mode)
 *	pkey    guest-physical page of its code | ninsn (bits 0..11)
 *	b       the block
 *	gen     code_gen of that page when translated
 *	chain   offset of its chain entry in the code cache | BT_JC_SSE (sse_ok)
 *	        | BT_JC_USER (user)
 */
struct bt_jc {
	uint64_t lin, pkey;
	struct bt_block *b;
	uint32_t gen, chain;
};

struct vsl_bt {
	struct vsl_cpu *cpu;
	int fd;
	uint8_t *rw, *rx;
	size_t code_used;
	/* shared code at the start of the cache (bt_emit_stubs) */
	int (*enter)(struct vsl_cpu *cpu, const uint8_t *code);
	uint8_t *exit_rw;            /* the epilogue every return to the dispatcher jumps to */
	const uint8_t *sentinel_rx;  /* where a RET to BT_RS_SENTINEL lands */
	/* shared sequences blocks call or jump to (RW view; NULL while bt_emit_stubs emits them) */
	uint8_t *flags_store_rw, *flags_load_rw, *refill_rw;
	uint8_t *continue_rw, *continue_rip_rw, *continue_x_rip_rw, *exit_rip_rw, *exit_x_rip_rw;
	uint8_t *helper_rw, *fail_rw;
	uint8_t *meta;
	size_t meta_used;
	struct bt_block **hash;
	struct bt_jc *jc;            /* BT_JC_SIZE entries */
	/* exit information of the last block (valid when it returned -1) */
	uint32_t exit_n;
	bool exit_fault;
	uint64_t exit_rip;
	uint64_t icount_base;
	/* instructions the chained blocks may still run; each block's entry subtracts its length */
	int64_t left, left0;
	/*
	 * inline RDTSC (bt_emit_rdtsc): the instruction count at the end of
	 * the slice (icount_base + left0), and the virtual TSC as
	 * tsc_k * icount + tsc_c + cpu->tsc_offset, valid when tsc_ok
	 * (measured from the clock at the start of each vsl_bt_run)
	 */
	uint64_t ic_end;
	uint64_t tsc_k, tsc_c;
	uint64_t tsc_ok;
	struct bt_exit *last_exit;   /* the unchained direct exit just taken, or NULL */
	struct vsl_insn full;        /* bt_helper: an instruction decoded again for the executor */
	bool bmi2;
	struct vsl_bt_stats st;
#ifdef VSL_BT_PERFMAP
	uint64_t helper_hist[ZYDIS_MNEMONIC_MAX_VALUE + 1]; /* helper runs per mnemonic */
#endif
};

/* translation state of one block */
struct bt_tr {
	struct vsl_bt *bt;
	struct vsl_emit e;
	bool flags_in_host;  /* host RFLAGS holds the guest's arithmetic flags */
	bool flags_dirty;    /* ... and they differ from cpu->rflags */
	bool bmi2;           /* the host has SHRX/SHLX (flag-free TLB look-up) */
	bool hostflags;      /* chained jumps carry the guest flags in the host RFLAGS (needs BMI2) */
	bool sse_ok;         /* SSE instructions do not fault on CR0/CR4 grounds (block key) */
	bool user;           /* CPL 3 (block key): the TLB the inline look-ups use */
	/* register cache: guest GPRs held in callee-saved host registers */
	int8_t rc_slot[16];            /* cache slot of guest GPR g, -1 */
	int8_t rc_guest[BT_NCACHE];    /* guest GPR in slot i, -1 */
	bool rc_dirty[BT_NCACHE];      /* slot differs from cpu->gpr */
	uint32_t rc_age[BT_NCACHE], rc_clock;
	/*
	 * A block that jumps back to its start (self_loop, seen on a first
	 * translation) is translated again as a loop: the registers with a
	 * home slot are loaded at its chain entry, stay in that slot (other
	 * registers never take it) and are carried around its back edges to
	 * loop_head. uses and regs_of (the registers each instruction took
	 * from the cache) choose them.
	 */
	int8_t rc_home[16];
	unsigned home_mask;
	bool loop, self_loop;
	uint8_t *loop_head;
	uint16_t uses[16], insn_regs, regs_of[BT_MAX_INSNS];
	/* bt_emit_tlb may give an address register a cache slot (not one of addr_pinned) */
	bool addr_alloc;
	unsigned addr_pinned;
	/* the instruction being translated */
	struct bt_block *blk;
	uint64_t rip, next, paddr;
	uint32_t idx, gen;
	int mode;
	unsigned extra;      /* instructions of another page inlined after this one (bt_emit_jmp_ret) */
	/* slow paths of inline memory accesses, emitted after the block's last exit */
	struct bt_slow {
		struct bt_hinsn *h;
		uint8_t *miss[2], *resume;
		uint8_t *retry;         /* the look-up to retry after a refill (NULL: none) */
		unsigned size;
		bool write;
		int8_t rc_guest[BT_NCACHE];
		bool dirty_before[BT_NCACHE];
		bool in0, dirty0, in1, dirty1;
	} slow[BT_MAX_INSNS + 4];
	unsigned nslow;
	/* the last inline look-up (bt_emit_tlb): where it starts, its size and kind, for a refill */
	uint8_t *probe;
	unsigned probe_size;
	bool probe_write;
	/*
	 * side exits: a conditional branch taken leaves the block through code
	 * emitted after its last exit (bt_emit_side_exits); translation goes
	 * on at the fall-through (cont set by bt_emit_branch)
	 */
	struct bt_side {
		uint8_t *rel;
		uint64_t target;
		uint32_t idx;
		int8_t rc_guest[BT_NCACHE];
		bool rc_dirty[BT_NCACHE];
		bool flags_dirty;
	} side[BT_MAX_INSNS];
	unsigned nside;
	bool cont;
	/* inline RDTSC: imm32 sites patched with idx - ninsn once the block's length is known */
	uint8_t *tsc_fix[4];
	uint32_t tsc_idx[4];
	unsigned ntsc;
};

#define CPU_OFF(f) ((int32_t)offsetof(struct vsl_cpu, f))
#define GPR_OFF(i) ((int32_t)(offsetof(struct vsl_cpu, gpr) + 8 * (size_t)(i)))

/* ------------------------------------------------------------------ */
/* cache */

static void bt_emit_stubs(struct vsl_bt *bt);

struct vsl_bt *vsl_bt_new(struct vsl_cpu *cpu)
{
	struct vsl_bt *bt = calloc(1, sizeof(*bt));

	if (!bt) {
		vsl_set_error(cpu->ctx, 0, VSL_ENOMEM, "cpu: out of memory for the translator");
		return NULL;
	}
	bt->cpu = cpu;
	bt->fd = -1;
	bt->rw = bt->rx = MAP_FAILED;
	bt->meta = MAP_FAILED;
	bt->hash = calloc(BT_HASH_SIZE, sizeof(*bt->hash));
	bt->jc = aligned_alloc(64, BT_JC_SIZE * sizeof(*bt->jc));
	if (bt->jc)
		memset(bt->jc, 0xff, BT_JC_SIZE * sizeof(*bt->jc));
	bt->fd = memfd_create("vessel-bt-code", MFD_CLOEXEC);
	if (!bt->hash || !bt->jc || bt->fd < 0 || ftruncate(bt->fd, BT_CODE_SIZE) < 0)
		goto fail;
	bt->rw = mmap(NULL, BT_CODE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, bt->fd, 0);
	bt->rx = mmap(NULL, BT_CODE_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED, bt->fd, 0);
	bt->meta = mmap(NULL, BT_META_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bt->rw == MAP_FAILED || bt->rx == MAP_FAILED || bt->meta == MAP_FAILED)
		goto fail;
	bt->st.cache_size = BT_CODE_SIZE;
	bt->bmi2 = __builtin_cpu_supports("bmi2") && !getenv("VSL_BT_NO_INLINE_TLB");
	bt_emit_stubs(bt);
	return bt;
fail:
	vsl_set_error(cpu->ctx, errno, VSL_EIO, "cpu: cannot set up the translator's code cache");
	vsl_bt_free(bt);
	return NULL;
}

void vsl_bt_free(struct vsl_bt *bt)
{
	if (!bt)
		return;
#ifdef VSL_BT_PERFMAP
	{
		char name[64];
		snprintf(name, sizeof(name), "/tmp/bt-helpers-%d.txt", (int)getpid());
		FILE *f = fopen(name, "w");
		for (int m = 0; f && m <= ZYDIS_MNEMONIC_MAX_VALUE; m++)
			if (bt->helper_hist[m])
				fprintf(f, "%llu %s\n", (unsigned long long)bt->helper_hist[m],
					ZydisMnemonicGetString((ZydisMnemonic)m));
		if (f)
			fclose(f);
	}
#endif
	if (bt->rw != MAP_FAILED)
		munmap(bt->rw, BT_CODE_SIZE);
	if (bt->rx != MAP_FAILED)
		munmap(bt->rx, BT_CODE_SIZE);
	if (bt->meta != MAP_FAILED)
		munmap(bt->meta, BT_META_SIZE);
	if (bt->fd >= 0)
		close(bt->fd);
	free(bt->hash);
	free(bt->jc);
	free(bt);
}

void vsl_bt_flush(struct vsl_bt *bt)
{
	memset(bt->hash, 0, BT_HASH_SIZE * sizeof(*bt->hash));
	memset(bt->jc, 0xff, BT_JC_SIZE * sizeof(*bt->jc));
	bt->code_used = 0;
	bt->meta_used = 0;
	bt_emit_stubs(bt);
	bt->st.flushes++;
	bt->st.cache_bytes = 0;
}

void vsl_bt_get_stats(const struct vsl_bt *bt, struct vsl_bt_stats *st)
{
	*st = bt->st;
	st->cache_bytes = bt->code_used;
}

void vsl_cpu_bt_flush(struct vsl_cpu *cpu)
{
	if (cpu->bt)
		vsl_bt_flush(cpu->bt);
}

void vsl_cpu_bt_stats(const struct vsl_cpu *cpu, struct vsl_bt_stats *st)
{
	if (cpu->bt)
		vsl_bt_get_stats(cpu->bt, st);
	else
		memset(st, 0, sizeof(*st));
}

static void *bt_meta_alloc(struct vsl_bt *bt, size_t len)
{
	size_t off = VSL_ALIGN_UP(bt->meta_used, 64);

	if (off + len > BT_META_SIZE)
		return NULL;
	bt->meta_used = off + len;
	return bt->meta + off;
}

static inline bool bt_sse_usable(const struct vsl_cpu *cpu)
{
	return !(cpu->cr0 & (VSL_CR0_TS | VSL_CR0_EM)) && (cpu->cr4 & VSL_CR4_OSFXSR);
}

static inline unsigned bt_hash(uint64_t lin, int mode)
{
	uint64_t h = (lin ^ ((uint64_t)mode << 40)) * 0x9e3779b97f4a7c15ull;

	return (unsigned)(h >> (64 - BT_HASH_BITS));
}

/* b is the translation of rip (linear lin, guest-physical paddr) for the CPU's current key (not its generation) */
static bool bt_block_is(const struct bt_block *b, const struct vsl_cpu *cpu, uint64_t rip, uint64_t lin,
			uint64_t paddr, int mode, bool sse)
{
	return b->rip == rip && b->lin == lin && b->paddr == paddr && b->mode == mode &&
	       b->cs_limit == cpu->seg[VSL_CS].limit && b->sse_ok == sse && b->user == (cpu->cpl == 3);
}

/*
 * A valid translation already starts at rip (linear lin, guest-physical
 * paddr, page generation gen) for the current mode and CPU state: a block
 * being translated stops there and chains to it instead of translating the
 * same code again.
 */
static bool bt_block_starts(const struct vsl_bt *bt, uint64_t rip, uint64_t lin, uint64_t paddr, int mode,
			    uint32_t gen, bool sse)
{
	for (const struct bt_block *b = bt->hash[bt_hash(lin, mode)]; b; b = b->next)
		if (bt_block_is(b, bt->cpu, rip, lin, paddr, mode, sse) && b->gen == gen)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* the helper called by translated code */

/*
 * The executor's generic path for h (x87, SSE, #UD...), which needs the
 * complete decode: kept with h when it has no compact handler, else
 * decoded again from the page the block was translated from (unchanged
 * while the block runs: same generation).
 */
static int bt_exec_generic(struct vsl_cpu *cpu, struct bt_hinsn *h)
{
	struct vsl_bt *bt = cpu->bt;
	struct vsl_dinsn *in = &h->d;
	struct vsl_insn *f = &bt->full;
	const uint8_t *page;
	unsigned off = (unsigned)(in->paddr & 0xfff), avail = 0x1000 - off;
	int r;

	if (in->full)
		return vsl_interp_exec(cpu, in);
	page = vsl_phys_ptr(cpu, in->paddr & ~0xfffull);
	if (!page || !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&cpu->dec[in->mode], page + off, avail < 15 ? avail : 15,
							  &f->zi, f->ops))) {
		cpu->unimpl = "decoding a translated instruction again";
		cpu->unimpl_insn = false;
		return VSL_CPU_FAULT;
	}
	f->rip = h->rip;
	in->full = f;
	r = vsl_interp_exec(cpu, in);
	in->full = NULL;
	return r;
}

static int bt_helper(struct vsl_cpu *cpu, struct bt_hinsn *h)
{
	struct vsl_bt *bt = cpu->bt;
	struct vsl_dinsn *in = &h->d;
	const struct bt_block *b = h->blk;
	int r;

	in->rip = h->rip;
	cpu->rip = h->next;
#ifdef VSL_BT_PERFMAP
	bt->helper_hist[in->zi.mnemonic]++;
#endif
	cpu->ea_ss = false;
	cpu->icount = bt->icount_base + (uint64_t)(bt->left0 - bt->left) - b->ninsn + h->idx;
	uint64_t epoch = cpu->mmu_epoch;
	bool if0 = !(cpu->rflags & VSL_FL_IF);
	r = in->fn ? in->fn(cpu, in) : 1;
	if (__builtin_expect(r == 1, 0))
		r = bt_exec_generic(cpu, h);
	if (__builtin_expect(r != 0, 0)) {
		bt->exit_n = h->idx;
		bt->left += b->ninsn - h->idx;
		bt->exit_fault = true;
		bt->exit_rip = h->rip;
		return 1;
	}
	if (if0 && (cpu->rflags & VSL_FL_IF)) {
		/*
		 * IF 0 -> 1 (STI, POPF): an interrupt already waiting is taken
		 * now, by the dispatcher's poll; with none, STI's shadow holds
		 * nothing off and the block goes on.
		 */
		const struct vsl_cpu_env *env = &cpu->env;
		if ((!cpu->nmi_blocked && env->nmi_pending && env->nmi_pending(env->opaque)) ||
		    (env->intr_pending && env->intr_pending(env->opaque)))
			cpu->irq_poll = true;
		else if (in->zi.mnemonic == ZYDIS_MNEMONIC_STI)
			cpu->intr_shadow = false;
	}
	bool stop = cpu->irq_poll || cpu->intr_shadow || cpu->halted || cpu->kick ||
		    (cpu->rflags & VSL_FL_TF) || cpu->mode != b->mode ||
		    cpu->code_gen[b->paddr >> 12] != b->gen ||
		    cpu->mmu_epoch != epoch; /* the return stack's landing pads assume the old mappings */
	if (h->ends || cpu->rip != h->next || stop) {
		bt->exit_n = h->idx + 1;
		bt->left += b->ninsn - h->idx - 1;
		bt->exit_fault = false;
		if (h->cont && !stop)
			return 2; /* a near branch taken: continue at cpu->rip through bt_indirect */
		bt->st.helper_exits++;
		return 1;
	}
	return 0;
}

/*
 * REP MOVS / REP STOS in 64-bit code with 64-bit addresses, DF=0 and no
 * FS/GS source: whole runs inside one source and one destination page
 * whose TLB entries hit are copied (filled) at once instead of element by
 * element; an element whose page misses the TLB (or that straddles a page)
 * goes through vsl_cpu_read_lin/write_lin, which fill the TLB or raise the
 * fault with RCX/RSI/RDI counting the elements done, as the executor
 * leaves them. Writes to code pages never hit (no write TLB entries), so
 * code invalidation stays the executor's. After 2^16 elements the
 * instruction is resumed later (RIP back on it) so interrupts get in.
 * Anything else runs the executor's handler.
 */
static int bt_rep_string(struct vsl_cpu *cpu, struct vsl_dinsn *in)
{
	struct bt_hinsn *h = (struct bt_hinsn *)(void *)in;
	ZydisMnemonic mn = in->zi.mnemonic;
	bool movs = mn == ZYDIS_MNEMONIC_MOVSB || mn == ZYDIS_MNEMONIC_MOVSW ||
		    mn == ZYDIS_MNEMONIC_MOVSD || mn == ZYDIS_MNEMONIC_MOVSQ;
	unsigned sz = (mn == ZYDIS_MNEMONIC_MOVSB || mn == ZYDIS_MNEMONIC_STOSB) ? 1 :
		      (mn == ZYDIS_MNEMONIC_MOVSW || mn == ZYDIS_MNEMONIC_STOSW) ? 2 :
		      (mn == ZYDIS_MNEMONIC_MOVSD || mn == ZYDIS_MNEMONIC_STOSD) ? 4 : 8;
	uint64_t budget = 1u << 16;

	if ((cpu->rflags & VSL_FL_DF) || cpu->mode != VSL_MODE_LONG64 ||
	    (movs && in->zi.src_seg != ZYDIS_REGISTER_DS))
		return h->orig(cpu, in);
	while (cpu->gpr[VSL_RCX]) {
		uint64_t n = cpu->gpr[VSL_RCX], di = cpu->gpr[VSL_RDI], si = cpu->gpr[VSL_RSI];
		const struct vsl_tlb_entry *w = &cpu->tlb_cur->wr[(di >> 12) & (VSL_TLB_SIZE - 1)];
		const struct vsl_tlb_entry *r = &cpu->tlb_cur->rd[(si >> 12) & (VSL_TLB_SIZE - 1)];
		uint64_t room = (0x1000 - (di & 0xfff)) / sz;

		if (movs && (0x1000 - (si & 0xfff)) / sz < room)
			room = (0x1000 - (si & 0xfff)) / sz;
		if (n > room)
			n = room;
		if (n > budget)
			n = budget;
		if (n && w->tag == (di & ~0xfffull) && (!movs || r->tag == (si & ~0xfffull))) {
			uint8_t *d = (uint8_t *)(w->addend + di);
			size_t len = (size_t)n * sz;
			if (movs) {
				const uint8_t *sp = (const uint8_t *)(r->addend + si);
				if (d > sp && d < sp + len) {
					/* overlapping forward copy: element by element, as the CPU does */
					for (size_t k = 0; k < len; k += sz)
						memmove(d + k, sp + k, sz);
				} else {
					memmove(d, sp, len);
				}
				cpu->gpr[VSL_RSI] = si + len;
			} else if (sz == 1) {
				memset(d, (int)(cpu->gpr[VSL_RAX] & 0xff), len);
			} else {
				uint64_t v = cpu->gpr[VSL_RAX];
				for (size_t k = 0; k < len; k += sz)
					memcpy(d + k, &v, sz);
			}
			cpu->gpr[VSL_RDI] = di + len;
			cpu->gpr[VSL_RCX] -= n;
			((struct vsl_bt *)cpu->bt)->st.rep_runs++;
			budget -= n;
		} else {
			/* one element the executor's way (fills the TLB or faults) */
			uint64_t v = cpu->gpr[VSL_RAX];
			if (movs && vsl_cpu_read_lin(cpu, si, &v, sz))
				return VSL_CPU_FAULT;
			if (vsl_cpu_write_lin(cpu, di, &v, sz))
				return VSL_CPU_FAULT;
			if (movs)
				cpu->gpr[VSL_RSI] = si + sz;
			cpu->gpr[VSL_RDI] = di + sz;
			cpu->gpr[VSL_RCX]--;
			budget--;
		}
		if (!budget) {
			if (cpu->gpr[VSL_RCX])
				cpu->rip = in->rip;
			break;
		}
	}
	return 0;
}

/* the executor's form of the instruction being translated (NULL: metadata full) */
static struct bt_hinsn *bt_new_hinsn(struct bt_tr *t, const ZydisDecodedInstruction *zi,
				     const ZydisDecodedOperand *ops)
{
	struct bt_hinsn *h = bt_meta_alloc(t->bt, sizeof(*h));

	if (!h)
		return NULL;
	struct vsl_insn full = { .zi = *zi, .rip = t->rip };

	memcpy(full.ops, ops, sizeof(full.ops));
	vsl_interp_compact(&h->d, &full);
	/*
	 * The complete decode (1 KiB) is kept only for what the executor's
	 * generic path needs it for (x87, SSE: no compact handler); an
	 * integer handler that defers to that path gets it decoded again
	 * (bt_helper).
	 */
	h->d.full = NULL;
	if (!h->d.fn) {
		h->d.full = bt_meta_alloc(t->bt, sizeof(full));
		if (!h->d.full)
			return NULL;
		*h->d.full = full;
	}
	h->d.paddr = t->paddr;
	h->d.gen = t->gen;
	h->d.mode = (uint8_t)t->mode;
	h->d.rip = t->rip;
	h->rip = t->rip;
	h->next = t->next;
	h->blk = t->blk;
	h->idx = t->idx;
	h->ends = false;
	h->cont = false;
	h->orig = h->d.fn;
	/* REP MOVS/STOS with 64-bit addresses: the block-copy fast path */
	if (zi->machine_mode == ZYDIS_MACHINE_MODE_LONG_64 && zi->address_width == 64 && h->d.fn &&
	    zi->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && (zi->attributes & ZYDIS_ATTRIB_HAS_REP) &&
	    ((zi->opcode >= 0xa4 && zi->opcode <= 0xa5) || (zi->opcode >= 0xaa && zi->opcode <= 0xab)))
		h->d.fn = bt_rep_string;
	return h;
}

static const uint8_t *bt_indirect(struct vsl_cpu *cpu);
static int bt_refill(struct vsl_cpu *cpu, uint64_t lin, unsigned size_write);

/* ------------------------------------------------------------------ */
/* emission */

/* call rel32 to shared code in the cache (RW view address) */
static void bt_emit_call_stub(struct vsl_emit *e, const uint8_t *stub)
{
	vsl_emit_u8(e, 0xe8);
	vsl_emit_u32(e, 0);
	if (!e->full)
		vsl_emit_patch32(e->p - 4, stub);
}

/* jmp rel32 to shared code in the cache */
static void bt_emit_jmp_stub(struct vsl_emit *e, const uint8_t *stub)
{
	uint8_t *rel = vsl_emit_jmp32(e);

	if (rel)
		vsl_emit_patch32(rel, stub);
}

static void bt_flags_store(struct bt_tr *t)
{
	static const uint8_t seq1[] = {
		0x9c,                         /* pushfq */
		0x58,                         /* pop rax */
		0x25, BT_ARITH & 0xff, BT_ARITH >> 8, 0, 0, /* and eax, ARITH */
	};
	static const uint8_t seq2[] = {
		0x48, 0x81, 0xe1, (uint8_t)~BT_ARITH, (uint8_t)(~BT_ARITH >> 8), 0xff, 0xff, /* and rcx, ~ARITH */
		0x48, 0x09, 0xc1,             /* or rcx, rax */
	};

	if (!t->flags_dirty)
		return;
	t->flags_dirty = false;
	t->flags_in_host = false; /* the and/or clobber them */
	if (t->bt->flags_store_rw) {
		bt_emit_call_stub(&t->e, t->bt->flags_store_rw);
		return;
	}
	vsl_emit_bytes(&t->e, seq1, sizeof(seq1));
	vsl_emit_load64(&t->e, VSL_H_RCX, VSL_H_RBX, CPU_OFF(rflags));
	vsl_emit_bytes(&t->e, seq2, sizeof(seq2));
	vsl_emit_store64(&t->e, VSL_H_RCX, VSL_H_RBX, CPU_OFF(rflags));
}

/*
 * The guest's arithmetic flags from cpu->rflags into the host RFLAGS
 * (clobbers rax, rcx): OF through an ADD that overflows exactly when it is
 * set, the rest with SAHF; POPF costs ~7x more on the hosts measured.
 */
static const uint8_t bt_flags_seq[] = {
	0x89, 0xc8,                   /* mov eax, ecx */
	0xc1, 0xe8, 0x0b,             /* shr eax, 11 */
	0x83, 0xe0, 0x01,             /* and eax, 1 */
	0x04, 0x7f,                   /* add al, 0x7f: OF = rflags.OF */
	0x88, 0xcc,                   /* mov ah, cl */
	0x9e,                         /* sahf: SF ZF AF PF CF */
};

static void bt_flags_load(struct bt_tr *t)
{
	if (t->flags_in_host)
		return;
	t->flags_in_host = true;
	if (t->bt->flags_load_rw) {
		bt_emit_call_stub(&t->e, t->bt->flags_load_rw);
		return;
	}
	vsl_emit_load64(&t->e, VSL_H_RCX, VSL_H_RBX, CPU_OFF(rflags));
	vsl_emit_bytes(&t->e, bt_flags_seq, sizeof(bt_flags_seq));
}

/*
 * host registers of the register cache: every path that calls out (helper,
 * slow path, bt_indirect) stores the dirty ones first and reloads them after
 * (or leaves the block), so caller-saved registers serve too; the inline TLB
 * look-up uses only rdi, rcx, rdx, r8, r9 and the fixed sequences rax, rcx, rdx.
 */
static const int bt_cache_host[BT_NCACHE] = {
	VSL_H_R12, VSL_H_R13, VSL_H_R14, VSL_H_RBP, VSL_H_RSI, VSL_H_R10, VSL_H_R11
};

/*
 * With BMI2 (hostflags) r15 holds bt->left inside translated code: loaded
 * by the prologue, stored before every call into C (which reads it) and by
 * every return to the dispatcher, and reloaded after a helper that ended
 * its block (which corrects it).
 */
static void bt_left_io(struct bt_tr *t, bool store)
{
	static const uint8_t st[] = { 0x4c, 0x89, 0x39 }, ld[] = { 0x4c, 0x8b, 0x39 }; /* mov [rcx], r15 / r15, [rcx] */

	if (!t->hostflags)
		return;
	vsl_emit_mov_imm(&t->e, VSL_H_RCX, (uint64_t)(uintptr_t)&t->bt->left);
	vsl_emit_bytes(&t->e, store ? st : ld, 3);
}

/* back to the dispatcher (eax: the block's result), from any depth of the return stack */
static void bt_emit_ret(struct bt_tr *t)
{
	uint8_t *rel = vsl_emit_jmp32(&t->e);

	if (rel)
		vsl_emit_patch32(rel, t->bt->exit_rw);
}

/*
 * Sequences blocks share instead of repeating them, after the stubs:
 *
 *	flags_store: call; guest arithmetic flags from the host RFLAGS to
 *		cpu->rflags (clobbers rax, rcx)
 *	flags_load: call; back from cpu->rflags (clobbers rax, rcx)
 *	refill: call; rdi = linear address, edx = size | 0x100 for a write:
 *		bt_refill, its result in ecx (RFLAGS and the caller-saved cache
 *		registers kept)
 *	continue_x_rip: jmp; bt->last_exit = rcx, then
 *	continue_rip: cpu->rip = rax, then
 *	continue: (flags stored) on in the block bt_indirect finds, else
 *		back to the dispatcher with 0 (with hostflags only)
 *	exit_x_rip: jmp; bt->last_exit = rcx, then
 *	exit_rip: cpu->rip = rax; back to the dispatcher with 0
 *	helper: call; rsi = the bt_hinsn (flags stored, registers flushed):
 *		bt_helper(cpu, rsi), its result in eax; when not 0 the block
 *		ends (r15 = bt->left again, which bt_helper corrected)
 *	fail: jmp; back to the dispatcher with -1
 */
static void bt_emit_shared(struct vsl_bt *bt, struct bt_tr *t)
{
	static const uint8_t refill_save[] = {
		0x9c, 0x56, 0x41, 0x52, 0x41, 0x53, /* pushfq; push rsi; push r10; push r11 */
		0x48, 0x83, 0xec, 0x08,              /* sub rsp, 8: 16-byte alignment for C */
		0x48, 0x89, 0xfe, 0x48, 0x89, 0xdf,  /* mov rsi, rdi; mov rdi, rbx */
	};
	static const uint8_t refill_restore[] = {
		0x48, 0x83, 0xc4, 0x08,              /* add rsp, 8 */
		0x89, 0xc1,                          /* mov ecx, eax */
		0x41, 0x5b, 0x41, 0x5a, 0x5e, 0x9d,  /* pop r11; pop r10; pop rsi; popfq */
		0xc3,
	};
	static const uint8_t test_jz[] = { 0x48, 0x85, 0xc0, 0x74, 0 }; /* test rax,rax; jz +N */
	static const uint8_t go_rdx[] = { 0x48, 0x89, 0xc2 };          /* mov rdx, rax */
	static const uint8_t jmp_rdx[] = { 0xff, 0xe2 };
	static const uint8_t st_last[] = { 0x48, 0x89, 0x0a };         /* mov [rdx], rcx */
	struct vsl_emit *e = &t->e;
	uint8_t *fs = e->p;

	t->flags_dirty = t->flags_in_host = true;
	bt_flags_store(t);
	vsl_emit_u8(e, 0xc3);
	uint8_t *fl = e->p;
	t->flags_in_host = false;
	bt_flags_load(t);
	vsl_emit_u8(e, 0xc3);
	uint8_t *rf = e->p;
	vsl_emit_bytes(e, refill_save, sizeof(refill_save));
	vsl_emit_call_abs(e, (const void *)bt_refill);
	vsl_emit_bytes(e, refill_restore, sizeof(refill_restore));

	uint8_t *cx = e->p;
	vsl_emit_mov_imm(e, VSL_H_RDX, (uint64_t)(uintptr_t)&bt->last_exit);
	vsl_emit_bytes(e, st_last, sizeof(st_last));
	uint8_t *cr = e->p;
	vsl_emit_store64(e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(rip));
	uint8_t *co = e->p;
	bt_left_io(t, true);
	vsl_emit_mov_rr(e, VSL_H_RDI, VSL_H_RBX);
	vsl_emit_call_abs(e, (const void *)bt_indirect);
	vsl_emit_bytes(e, test_jz, sizeof(test_jz));
	uint8_t *jz = e->full ? NULL : e->p - 1;
	/* chain entries expect the guest flags in the host RFLAGS (bt_flags_load: in place, not the stub) */
	vsl_emit_bytes(e, go_rdx, sizeof(go_rdx));
	t->flags_in_host = false;
	bt_flags_load(t);
	vsl_emit_bytes(e, jmp_rdx, sizeof(jmp_rdx));
	if (jz && !e->full)
		*jz = (uint8_t)(e->p - (jz + 1));
	vsl_emit_mov_imm(e, VSL_H_RAX, 0);
	bt_emit_ret(t);

	uint8_t *ex = e->p;
	vsl_emit_mov_imm(e, VSL_H_RDX, (uint64_t)(uintptr_t)&bt->last_exit);
	vsl_emit_bytes(e, st_last, sizeof(st_last));
	uint8_t *er = e->p;
	vsl_emit_store64(e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(rip));
	vsl_emit_mov_imm(e, VSL_H_RAX, 0);
	bt_emit_ret(t);

	static const uint8_t sub8[] = { 0x48, 0x83, 0xec, 0x08 }, add8[] = { 0x48, 0x83, 0xc4, 0x08 };
	static const uint8_t test_jz_ret[] = { 0x85, 0xc0, 0x74, 0 }; /* test eax,eax; jz ret */
	uint8_t *hp = e->p;
	bt_left_io(t, true);
	vsl_emit_mov_rr(e, VSL_H_RDI, VSL_H_RBX);
	vsl_emit_bytes(e, sub8, sizeof(sub8)); /* 16-byte alignment for C */
	vsl_emit_call_abs(e, (const void *)bt_helper);
	vsl_emit_bytes(e, add8, sizeof(add8));
	vsl_emit_bytes(e, test_jz_ret, sizeof(test_jz_ret));
	uint8_t *jr = e->full ? NULL : e->p - 1;
	bt_left_io(t, false);
	if (jr && !e->full)
		*jr = (uint8_t)(e->p - (jr + 1));
	vsl_emit_u8(e, 0xc3);
	uint8_t *fa = e->p;
	vsl_emit_mov_imm(e, VSL_H_RAX, 0xffffffffu);
	bt_emit_ret(t);
	/* (a few hundred bytes at the start of the empty cache: never full) */
	bt->helper_rw = hp;
	bt->fail_rw = fa;
	bt->flags_store_rw = fs;
	bt->flags_load_rw = fl;
	bt->refill_rw = rf;
	bt->exit_rip_rw = er;
	bt->exit_x_rip_rw = ex;
	if (t->hostflags) {
		bt->continue_rw = co;
		bt->continue_rip_rw = cr;
		bt->continue_x_rip_rw = cx;
	}
}

/*
 * The code every block shares, at the start of the cache:
 *
 *	exit:	[bt->left = r15]; rsp = cpu->bt_rsp; pop the frame; ret
 *	enter(cpu, code): push rbx, rbp, r12..r15; rsp 16-aligned; rbx = cpu;
 *		cpu->bt_rsp = rsp; the return stack's bottom frame ([rsp] the
 *		sentinel's landing, [rsp + 8] BT_RS_SENTINEL); [r15 = bt->left];
 *		jmp code
 *	sentinel: where a guest RET lands that matched the bottom frame (the
 *		guest returned to BT_RS_SENTINEL, RSP already popped): back to the
 *		dispatcher with RIP set.
 */
static void bt_emit_stubs(struct vsl_bt *bt)
{
	static const uint8_t sub24[] = { 0x48, 0x83, 0xec, 0x18 }, add24[] = { 0x48, 0x83, 0xc4, 0x18 };
	static const uint8_t st0[] = { 0x48, 0x89, 0x04, 0x24 };       /* mov [rsp], rax */
	static const uint8_t st8[] = { 0x48, 0x89, 0x44, 0x24, 0x08 }; /* mov [rsp + 8], rax */
	static const uint8_t jmp_rsi[] = { 0xff, 0xe6 };
	struct bt_tr t = { .bt = bt, .hostflags = bt->bmi2 };
	struct vsl_emit *e = &t.e;

	bt->flags_store_rw = bt->flags_load_rw = bt->refill_rw = NULL;
	bt->continue_rw = bt->continue_rip_rw = bt->continue_x_rip_rw = NULL;
	bt->exit_rip_rw = bt->exit_x_rip_rw = bt->helper_rw = bt->fail_rw = NULL;
	e->p = bt->rw;
	e->end = bt->rw + BT_CODE_SIZE;
	bt->exit_rw = e->p;
	bt_left_io(&t, true);
	vsl_emit_load64(e, VSL_H_RSP, VSL_H_RBX, CPU_OFF(bt_rsp));
	vsl_emit_bytes(e, add24, sizeof(add24));
	vsl_emit_pop(e, VSL_H_R15);
	vsl_emit_pop(e, VSL_H_R14);
	vsl_emit_pop(e, VSL_H_R13);
	vsl_emit_pop(e, VSL_H_R12);
	vsl_emit_pop(e, VSL_H_RBP);
	vsl_emit_pop(e, VSL_H_RBX);
	vsl_emit_u8(e, 0xc3);

	uint8_t *sentinel = e->p;
	t.flags_in_host = t.flags_dirty = true;
	bt_flags_store(&t);
	vsl_emit_mov_imm(e, VSL_H_RAX, BT_RS_SENTINEL);
	vsl_emit_store64(e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(rip));
	vsl_emit_mov_imm(e, VSL_H_RAX, 0);
	bt_emit_ret(&t);
	bt->sentinel_rx = bt->rx + (sentinel - bt->rw);

	uint8_t *enter = e->p;
	vsl_emit_push(e, VSL_H_RBX);
	vsl_emit_push(e, VSL_H_RBP);
	vsl_emit_push(e, VSL_H_R12);
	vsl_emit_push(e, VSL_H_R13);
	vsl_emit_push(e, VSL_H_R14);
	vsl_emit_push(e, VSL_H_R15);
	vsl_emit_bytes(e, sub24, sizeof(sub24));
	vsl_emit_mov_rr(e, VSL_H_RBX, VSL_H_RDI);
	vsl_emit_store64(e, VSL_H_RSP, VSL_H_RBX, CPU_OFF(bt_rsp));
	vsl_emit_mov_imm(e, VSL_H_RAX, (uint64_t)(uintptr_t)bt->sentinel_rx);
	vsl_emit_bytes(e, st0, sizeof(st0));
	vsl_emit_mov_imm(e, VSL_H_RAX, BT_RS_SENTINEL);
	vsl_emit_bytes(e, st8, sizeof(st8));
	bt_left_io(&t, false);
	vsl_emit_bytes(e, jmp_rsi, sizeof(jmp_rsi));
	bt->enter = (int (*)(struct vsl_cpu *, const uint8_t *))(void *)(bt->rx + (enter - bt->rw));
	bt_emit_shared(bt, &t);
	bt->code_used = VSL_ALIGN_UP((size_t)(e->p - bt->rw), 16);
}

static void bt_rc_reset(struct bt_tr *t)
{
	memset(t->rc_slot, -1, sizeof(t->rc_slot));
	memset(t->rc_guest, -1, sizeof(t->rc_guest));
	memset(t->rc_dirty, 0, sizeof(t->rc_dirty));
}

/* store the dirty cached registers (the translation state is unchanged: other paths follow) */
static void bt_rc_writeback(struct bt_tr *t)
{
	for (int i = 0; i < BT_NCACHE; i++)
		if (t->rc_guest[i] >= 0 && t->rc_dirty[i])
			vsl_emit_store64(&t->e, bt_cache_host[i], VSL_H_RBX, GPR_OFF(t->rc_guest[i]));
}

/* store and forget guest register g if cached (before code that uses cpu->gpr[g] directly) */
static void bt_rc_evict(struct bt_tr *t, int g)
{
	int i = t->rc_slot[g];

	if (i < 0)
		return;
	if (t->rc_dirty[i])
		vsl_emit_store64(&t->e, bt_cache_host[i], VSL_H_RBX, GPR_OFF(g));
	t->rc_guest[i] = -1;
	t->rc_dirty[i] = false;
	t->rc_slot[g] = -1;
}

/* store and forget everything (before a helper, which reads and writes cpu->gpr) */
static void bt_rc_flush(struct bt_tr *t)
{
	for (int g = 0; g < 16; g++)
		bt_rc_evict(t, g);
}

/* the host register holding guest register g, loading it (load) into a slot if needed */
static int bt_rc_get(struct bt_tr *t, int g, bool load, unsigned pinned)
{
	int i = t->rc_slot[g];

	t->uses[g]++;
	t->insn_regs |= (uint16_t)(1u << g);
	if (i < 0 && t->rc_home[g] >= 0) {
		/* back in its home slot (after an eviction), which nothing else takes */
		i = t->rc_home[g];
		t->rc_guest[i] = (int8_t)g;
		t->rc_slot[g] = (int8_t)i;
		t->rc_dirty[i] = false;
		if (load)
			vsl_emit_load64(&t->e, bt_cache_host[i], VSL_H_RBX, GPR_OFF(g));
	} else if (i < 0) {
		int best = -1;
		for (int k = 0; k < BT_NCACHE; k++) {
			if ((pinned | t->home_mask) & (1u << k))
				continue;
			if (t->rc_guest[k] < 0) {
				best = k;
				break;
			}
			if (best < 0 || t->rc_age[k] < t->rc_age[best])
				best = k;
		}
		if (best < 0)
			return -1;
		if (t->rc_guest[best] >= 0)
			bt_rc_evict(t, t->rc_guest[best]);
		i = best;
		t->rc_guest[i] = (int8_t)g;
		t->rc_slot[g] = (int8_t)i;
		t->rc_dirty[i] = false;
		if (load)
			vsl_emit_load64(&t->e, bt_cache_host[i], VSL_H_RBX, GPR_OFF(g));
	}
	t->rc_age[i] = ++t->rc_clock;
	return bt_cache_host[i];
}

/* copy guest register g into host register h (from the cache or cpu->gpr) */
static void bt_rc_copy(struct bt_tr *t, int h, int g)
{
	if (t->rc_slot[g] >= 0)
		vsl_emit_mov_rr(&t->e, h, bt_cache_host[t->rc_slot[g]]);
	else
		vsl_emit_load64(&t->e, h, VSL_H_RBX, GPR_OFF(g));
}

/*
 * cpu->rip is set and the flags stored: continue in the block translated
 * for it if there is one (bt_indirect), else back to the dispatcher (0).
 * With hostflags, the shared tail in bt_emit_stubs.
 */
static void bt_emit_continue(struct bt_tr *t)
{
	static const uint8_t test_jmp[] = {
		0x48, 0x85, 0xc0,  /* test rax, rax */
		0x74, 0x02,        /* jz +2 */
		0xff, 0xe0,        /* jmp rax */
	};

	if (t->hostflags) {
		bt_emit_jmp_stub(&t->e, t->bt->continue_rw);
		return;
	}
	bt_left_io(t, true);
	vsl_emit_mov_rr(&t->e, VSL_H_RDI, VSL_H_RBX);
	vsl_emit_call_abs(&t->e, (const void *)bt_indirect);
	vsl_emit_bytes(&t->e, test_jmp, sizeof(test_jmp));
	vsl_emit_mov_imm(&t->e, VSL_H_RAX, 0);
	bt_emit_ret(t);
}

/*
 * The guard of an exit to 64-bit code at target in another page (flag-free:
 * the flags are live): the current code TLB entry for target must be the
 * one seen when the exit was chained (tag and addend: the same linear and
 * guest-physical page) and that page's generation unchanged. Until
 * bt_chain patches it the tag never matches. The three failure jumps go to
 * fail[].
 */
static void bt_emit_guard(struct bt_tr *t, struct bt_exit *x, uint64_t target, uint8_t **fail)
{
	static const uint8_t cmp[] = {
		0x48, 0x8d, 0x4c, 0x11, 0x01,  /* lea rcx, [rcx + rdx + 1]: rcx - ~rdx */
		0xe3, 0x05,                    /* jrcxz +5 */
	};
	static const uint8_t mov_rdx[] = { 0x48, 0xba };   /* mov rdx, imm64 */
	int32_t ent = (int32_t)(offsetof(struct vsl_tlb, x) +
				((target >> 12) & (VSL_TLB_SIZE - 1)) * sizeof(struct vsl_tlb_entry));
	uint64_t never = ~1ull; /* ~tag: tags are page-aligned */
	struct vsl_emit *e = &t->e;

	vsl_emit_load64(e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(tlb_cur));
	vsl_emit_load64(e, VSL_H_RCX, VSL_H_RAX, ent + (int32_t)offsetof(struct vsl_tlb_entry, tag));
	vsl_emit_bytes(e, mov_rdx, sizeof(mov_rdx));
	x->ntag = e->p;
	vsl_emit_bytes(e, &never, 8);
	vsl_emit_bytes(e, cmp, sizeof(cmp));
	fail[0] = vsl_emit_jmp32(e);
	vsl_emit_load64(e, VSL_H_RCX, VSL_H_RAX, ent + (int32_t)offsetof(struct vsl_tlb_entry, addend));
	vsl_emit_bytes(e, mov_rdx, sizeof(mov_rdx));
	x->nadd = e->p;
	vsl_emit_bytes(e, &never, 8);
	vsl_emit_bytes(e, cmp, sizeof(cmp));
	fail[1] = vsl_emit_jmp32(e);
	vsl_emit_load64(e, VSL_H_RCX, VSL_H_RBX, CPU_OFF(code_gen));
	vsl_emit_bytes(e, (const uint8_t[]){ 0x8b, 0x89 }, 2);   /* mov ecx, [rcx + 4 * page] */
	x->gpage = e->p;
	vsl_emit_u32(e, 0);
	vsl_emit_bytes(e, (const uint8_t[]){ 0x8d, 0x89 }, 2);   /* lea ecx, [rcx - gen] */
	x->ggen = e->p;
	vsl_emit_u32(e, 0);
	vsl_emit_bytes(e, cmp + 5, 2);                           /* jrcxz +5 */
	fail[2] = vsl_emit_jmp32(e);
	if (e->full)
		x->ntag = NULL;
}

/*
 * A back edge of a loop (t->loop): the cache state brought to the loop
 * head's (the registers with a home slot in it, the others stored and
 * dropped, the flags in the host RFLAGS), then a jump to the loop head's
 * budget check. The translation state is left as it was.
 */
static void bt_emit_back_edge(struct bt_tr *t)
{
	bool in_host = t->flags_in_host, dirty = t->flags_dirty;

	for (int i = 0; i < BT_NCACHE; i++) {
		int g = t->rc_guest[i];
		if (t->home_mask & (1u << i))
			continue;
		if (g >= 0 && t->rc_dirty[i])
			vsl_emit_store64(&t->e, bt_cache_host[i], VSL_H_RBX, GPR_OFF(g));
	}
	for (int g = 0; g < 16; g++) {
		int i = t->rc_home[g];
		if (i >= 0 && t->rc_guest[i] != g)
			vsl_emit_load64(&t->e, bt_cache_host[i], VSL_H_RBX, GPR_OFF(g));
	}
	bt_flags_load(t);
	uint8_t *rel = vsl_emit_jmp32(&t->e);
	if (rel)
		vsl_emit_patch32(rel, t->loop_head);
	t->flags_in_host = in_host;
	t->flags_dirty = dirty;
}

/*
 * Leave the block for guest rip. A target in the same guest page as the
 * block gets a patchable jmp (rel32 0: falls through to the return) that the
 * dispatcher later points at the target block's chain entry.
 */
static void bt_emit_exit(struct bt_tr *t, uint64_t rip, uint64_t target_lin)
{
	bool dirty = t->flags_dirty, in_host = t->flags_in_host;

	if (rip == t->blk->rip && target_lin == t->blk->lin) {
		t->self_loop = true;
		if (t->loop) {
			bt_emit_back_edge(t);
			return;
		}
	}
	bool same = (target_lin & ~0xfffull) == (t->blk->lin & ~0xfffull);
	bool cross = !same && t->hostflags && t->mode == VSL_MODE_LONG64 && rip == target_lin;
	struct bt_exit *x = same || cross ? bt_meta_alloc(t->bt, sizeof(*x)) : NULL;

	if (x)
		memset(x, 0, sizeof(*x));
	bt_rc_writeback(t);
	if (t->hostflags) {
		/* chain entries expect the flags in the host RFLAGS */
		if (x) {
			uint8_t *fail[3] = { NULL, NULL, NULL };
			bt_flags_load(t);
			x->from = t->blk;
			if (cross)
				bt_emit_guard(t, x, rip, fail);
			x->rel = vsl_emit_jmp32(&t->e);
			for (int k = 0; k < 3; k++)
				if (fail[k])
					vsl_emit_patch32(fail[k], t->e.p);
		}
		bt_flags_store(t);
	} else {
		bt_flags_store(t);
		if (x) {
			x->from = t->blk;
			x->rel = vsl_emit_jmp32(&t->e);
		}
	}
	if (t->hostflags) {
		/* the shared tails (bt_emit_stubs): rcx = the exit, rax = rip */
		if (x)
			vsl_emit_mov_imm(&t->e, VSL_H_RCX, (uint64_t)(uintptr_t)x);
		vsl_emit_mov_imm(&t->e, VSL_H_RAX, rip);
		bt_emit_jmp_stub(&t->e, same ? (x ? t->bt->exit_x_rip_rw : t->bt->exit_rip_rw) :
					       (x ? t->bt->continue_x_rip_rw : t->bt->continue_rip_rw));
	} else {
		if (x) {
			vsl_emit_mov_imm(&t->e, VSL_H_RCX, (uint64_t)(uintptr_t)x);
			vsl_emit_mov_imm(&t->e, VSL_H_RAX, (uint64_t)(uintptr_t)&t->bt->last_exit);
			vsl_emit_store64(&t->e, VSL_H_RCX, VSL_H_RAX, 0);
		}
		vsl_emit_mov_imm(&t->e, VSL_H_RAX, rip);
		vsl_emit_store64(&t->e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(rip));
		if (same) {
			vsl_emit_mov_imm(&t->e, VSL_H_RAX, 0);
			bt_emit_ret(t);
		} else {
			bt_emit_continue(t);
		}
	}
	/* the caller may emit another path that still has the flags */
	t->flags_dirty = dirty;
	t->flags_in_host = in_host;
}

/* call the executor's handler for h; the cached registers must be flushed (or written back) */
static void bt_emit_helper(struct bt_tr *t, struct bt_hinsn *h)
{
	static const uint8_t test_jz[] = { 0x85, 0xc0, 0x74, 0 }; /* test eax,eax; jz +N */
	static const uint8_t cmp2[] = { 0x83, 0xf8, 0x02 };       /* cmp eax, 2 */

	bt_flags_store(t);
	t->flags_in_host = false;
	/* the shared call (bt_emit_shared); 1 and 2 go to shared tails */
	vsl_emit_mov_imm(&t->e, VSL_H_RSI, (uint64_t)(uintptr_t)h);
	bt_emit_call_stub(&t->e, t->bt->helper_rw);
	vsl_emit_bytes(&t->e, test_jz, sizeof(test_jz));
	uint8_t *jz = t->e.full ? NULL : t->e.p - 1;
	if (h->cont) {
		/* 2: the branch was taken without anything else to do: look its target up */
		vsl_emit_bytes(&t->e, cmp2, sizeof(cmp2));
		uint8_t *rel = vsl_emit_jcc32(&t->e, t->hostflags ? 0x4 : 0x5);
		if (t->hostflags && rel) {
			vsl_emit_patch32(rel, t->bt->continue_rw);
		} else if (rel) {
			bool in = t->flags_in_host, dirty = t->flags_dirty;
			bt_emit_continue(t);
			t->flags_in_host = in;
			t->flags_dirty = dirty;
			if (!t->e.full)
				vsl_emit_patch32(rel, t->e.p);
		}
	}
	bt_emit_jmp_stub(&t->e, t->bt->fail_rw);
	if (jz && !t->e.full)
		*jz = (uint8_t)(t->e.p - (jz + 1));
}

/* ------------------------------------------------------------------ */
/* native instructions */

static bool bt_native_mnemonic(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_ADC:
	case ZYDIS_MNEMONIC_SBB: case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_SUB:
	case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_CMP: case ZYDIS_MNEMONIC_TEST:
	case ZYDIS_MNEMONIC_MOV: case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC:
	case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_NOT: case ZYDIS_MNEMONIC_SHL:
	case ZYDIS_MNEMONIC_SHR: case ZYDIS_MNEMONIC_SAR: case ZYDIS_MNEMONIC_ROL:
	case ZYDIS_MNEMONIC_ROR: case ZYDIS_MNEMONIC_RCL: case ZYDIS_MNEMONIC_RCR:
	case ZYDIS_MNEMONIC_LEA: case ZYDIS_MNEMONIC_MOVZX: case ZYDIS_MNEMONIC_MOVSX:
	case ZYDIS_MNEMONIC_MOVSXD: case ZYDIS_MNEMONIC_XCHG: case ZYDIS_MNEMONIC_BSWAP:
	case ZYDIS_MNEMONIC_IMUL: case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS:
	case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTC: case ZYDIS_MNEMONIC_SHLD:
	case ZYDIS_MNEMONIC_SHRD: case ZYDIS_MNEMONIC_CLC: case ZYDIS_MNEMONIC_STC:
	case ZYDIS_MNEMONIC_CMC: case ZYDIS_MNEMONIC_NOP: case ZYDIS_MNEMONIC_PAUSE:
	case ZYDIS_MNEMONIC_LFENCE:
	case ZYDIS_MNEMONIC_BSF: case ZYDIS_MNEMONIC_BSR:
	case ZYDIS_MNEMONIC_CMOVB: case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVL:
	case ZYDIS_MNEMONIC_CMOVLE: case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVNBE:
	case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVNLE: case ZYDIS_MNEMONIC_CMOVNO:
	case ZYDIS_MNEMONIC_CMOVNP: case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVNZ:
	case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVS:
	case ZYDIS_MNEMONIC_CMOVZ:
	case ZYDIS_MNEMONIC_SETB: case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETL:
	case ZYDIS_MNEMONIC_SETLE: case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETNBE:
	case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETNLE: case ZYDIS_MNEMONIC_SETNO:
	case ZYDIS_MNEMONIC_SETNP: case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETNZ:
	case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETS:
	case ZYDIS_MNEMONIC_SETZ:
	case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_CBW: case ZYDIS_MNEMONIC_CWDE:
	case ZYDIS_MNEMONIC_CDQE: case ZYDIS_MNEMONIC_CWD: case ZYDIS_MNEMONIC_CDQ:
	case ZYDIS_MNEMONIC_CQO: case ZYDIS_MNEMONIC_MUL: case ZYDIS_MNEMONIC_XADD:
	case ZYDIS_MNEMONIC_PREFETCHT0: case ZYDIS_MNEMONIC_PREFETCHT1: case ZYDIS_MNEMONIC_PREFETCHT2:
	case ZYDIS_MNEMONIC_PREFETCHNTA: case ZYDIS_MNEMONIC_PREFETCHW:
		return true;
	default:
		return false;
	}
}

/* instructions whose implicit GPR operands (RAX, RCX, RDX) may run natively */
static bool bt_hidden_ok(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_CBW: case ZYDIS_MNEMONIC_CWDE:
	case ZYDIS_MNEMONIC_CDQE: case ZYDIS_MNEMONIC_CWD: case ZYDIS_MNEMONIC_CDQ:
	case ZYDIS_MNEMONIC_CQO: case ZYDIS_MNEMONIC_MUL: case ZYDIS_MNEMONIC_IMUL:
		return true;
	default:
		return false;
	}
}

/* guest GPR index of a register (-1 if not a GPR); *high for AH..BH */
static int bt_gpr_index(ZydisRegister r, bool *high)
{
	*high = false;
	if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL)
		return (int)(r - ZYDIS_REGISTER_AL);
	if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) {
		*high = true;
		return (int)(r - ZYDIS_REGISTER_AH);
	}
	if (r >= ZYDIS_REGISTER_SPL && r <= ZYDIS_REGISTER_DIL)
		return 4 + (int)(r - ZYDIS_REGISTER_SPL);
	if (r >= ZYDIS_REGISTER_R8B && r <= ZYDIS_REGISTER_R15B)
		return 8 + (int)(r - ZYDIS_REGISTER_R8B);
	if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W)
		return (int)(r - ZYDIS_REGISTER_AX);
	if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D)
		return (int)(r - ZYDIS_REGISTER_EAX);
	if (r >= ZYDIS_REGISTER_RAX && r <= ZYDIS_REGISTER_R15)
		return (int)(r - ZYDIS_REGISTER_RAX);
	return -1;
}

/* the host register of the same width (and high-byte form) as guest r, numbered h */
static ZydisRegister bt_host_reg(ZydisRegister r, int h)
{
	if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH)
		return (ZydisRegister)(ZYDIS_REGISTER_AH + h);
	if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_R15B) {
		if (h < 4)
			return (ZydisRegister)(ZYDIS_REGISTER_AL + h);
		if (h < 8)
			return (ZydisRegister)(ZYDIS_REGISTER_SPL + h - 4);
		return (ZydisRegister)(ZYDIS_REGISTER_R8B + h - 8);
	}
	if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W)
		return (ZydisRegister)(ZYDIS_REGISTER_AX + h);
	if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D)
		return (ZydisRegister)(ZYDIS_REGISTER_EAX + h);
	return (ZydisRegister)(ZYDIS_REGISTER_RAX + h);
}

/* the bit-string forms address memory beyond the operand: never native with memory */
static bool bt_bitstring(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS: case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTC:
		return ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER;
	default:
		return false;
	}
}

/* the registers of a memory operand suit the inline look-up (GPRs, or RIP without an index) */
static bool bt_mem_regs_ok(const ZydisDecodedOperand *op)
{
	bool high;
	bool rip = op->mem.base == ZYDIS_REGISTER_RIP || op->mem.base == ZYDIS_REGISTER_EIP;

	if (op->mem.base != ZYDIS_REGISTER_NONE && !rip && bt_gpr_index(op->mem.base, &high) < 0)
		return false;
	if (op->mem.index != ZYDIS_REGISTER_NONE && (rip || bt_gpr_index(op->mem.index, &high) < 0))
		return false;
	return true;
}

/* if rax is not canonical, jne to the returned rel32 (clobbers rcx and the flags) */
static uint8_t *bt_emit_canon_jne(struct bt_tr *t)
{
	static const uint8_t canon[] = {
		0x48, 0x89, 0xc1,        /* mov rcx, rax */
		0x48, 0xc1, 0xe1, 0x10,  /* shl rcx, 16 */
		0x48, 0xc1, 0xf9, 0x10,  /* sar rcx, 16 */
		0x48, 0x39, 0xc1,        /* cmp rcx, rax */
	};

	vsl_emit_bytes(&t->e, canon, sizeof(canon));
	return vsl_emit_jcc32(&t->e, 0x5);
}

/*
 * The cache slot's host register holding guest register g for an address:
 * a free or evictable slot (loaded) when the caller allows it
 * (t->addr_alloc, not the slots in t->addr_pinned); -1 when g stays in
 * cpu->gpr.
 */
static int bt_addr_reg(struct bt_tr *t, int g)
{
	if (t->rc_slot[g] < 0 && t->addr_alloc) {
		int h = bt_rc_get(t, g, true, t->addr_pinned);
		if (h >= 0)
			t->addr_pinned |= 1u << t->rc_slot[g];
		return h;
	}
	if (t->rc_slot[g] < 0)
		return -1;
	return bt_rc_get(t, g, true, 0);
}

/*
 * Linear address of a memory operand into RDI, then the softmmu TLB look-up
 * without touching RFLAGS (the guest's flags may be live in it): on a hit R8
 * holds the host pointer (host_ptr; else the entry's addend, and the caller
 * addresses [r8 + rdi]) and execution continues after the returned jump;
 * the returned rel32 (to patch) is taken on a miss. Clobbers RCX, RDX, RDI,
 * R8, R9 (the register cache's host registers are left alone).
 */
static uint8_t *bt_emit_tlb(struct bt_tr *t, bool a32, const ZydisDecodedOperand *m, bool write,
			    bool host_ptr)
{
	struct vsl_emit *e = &t->e;
	bool high;
	unsigned size = m->size / 8;
	int kind = write ? VSL_TLB_WR : VSL_TLB_RD;

	bool rip_rel = m->mem.base == ZYDIS_REGISTER_RIP || m->mem.base == ZYDIS_REGISTER_EIP;
	bool has_base = !rip_rel && m->mem.base != ZYDIS_REGISTER_NONE;
	bool has_index = !rip_rel && m->mem.index != ZYDIS_REGISTER_NONE;
	int gb = has_base ? bt_gpr_index(m->mem.base, &high) : -1;
	int gi = has_index ? bt_gpr_index(m->mem.index, &high) : -1;
	/* base and index straight from the register cache (placed before the retry point), else through r8/r9 */
	int hb = has_base ? bt_addr_reg(t, gb) : -1, hi = has_index ? bt_addr_reg(t, gi) : -1;

	t->probe = e->p;
	t->probe_size = size;
	t->probe_write = write;

	if (rip_rel) {
		uint64_t a = t->next + (uint64_t)m->mem.disp.value;
		vsl_emit_mov_imm(e, VSL_H_RDI, a32 ? a & 0xffffffffull : a);
	} else {
		int sc = m->mem.scale == 8 ? 3 : m->mem.scale == 4 ? 2 : m->mem.scale == 2 ? 1 : 0;
		uint8_t b[8];
		unsigned k = 0;

		if (!has_base)
			vsl_emit_mov_imm(e, hb = VSL_H_R8, 0);
		else if (hb < 0)
			vsl_emit_load64(e, hb = VSL_H_R8, VSL_H_RBX, GPR_OFF(gb));
		if (has_index && hi < 0)
			vsl_emit_load64(e, hi = VSL_H_R9, VSL_H_RBX, GPR_OFF(gi));
		/* lea rdi/edi, [hb + hi*s + disp32] */
		if (a32)
			b[k++] = 0x67;
		b[k++] = (uint8_t)((a32 ? 0x40 : 0x48) | (has_index && hi >= 8 ? 2 : 0) | (hb >= 8 ? 1 : 0));
		b[k++] = 0x8d;
		b[k++] = 0xbc; /* mod=10 reg=rdi rm=SIB */
		b[k++] = (uint8_t)((sc << 6) | ((has_index ? hi & 7 : 4) << 3) | (hb & 7));
		vsl_emit_bytes(e, b, k);
		vsl_emit_u32(e, (uint32_t)(int32_t)m->mem.disp.value);
	}
	if (m->mem.segment == ZYDIS_REGISTER_FS || m->mem.segment == ZYDIS_REGISTER_GS) {
		static const uint8_t add_base[] = { 0x4a, 0x8d, 0x3c, 0x07 }; /* lea rdi, [rdi + r8] */
		int s = m->mem.segment == ZYDIS_REGISTER_FS ? VSL_FS : VSL_GS;
		vsl_emit_load64(e, VSL_H_R8, VSL_H_RBX,
				(int32_t)(offsetof(struct vsl_cpu, seg) + (size_t)s * sizeof(struct vsl_seg) +
					  offsetof(struct vsl_seg, base)));
		vsl_emit_bytes(e, add_base, sizeof(add_base));
	}
	/*
	 * The entry of the first byte's page (the -tag and addend arrays);
	 * a hit when the last byte is in the entry's page: last - tag in
	 * [0, 0xfff] (an empty entry's tag is a page no access through it can
	 * reach, vsl_tlb_empty). Flag-free: the guest's flags are live.
	 */
	static const uint8_t idx[] = {
		0xc4, 0x63, 0xfb, 0xf0, 0xc7, 12 + VSL_TLB_BITS, /* rorx r8, rdi, 22: index bits at the top */
		0xb9, 64 - VSL_TLB_BITS, 0, 0, 0,             /* mov ecx, 54 */
		0xc4, 0x42, 0xf3, 0xf7, 0xc8,                 /* shrx r9, r8, rcx: the index */
	};
	static const uint8_t ld_tag[] = { 0x4a, 0x8b, 0x8c, 0xcb };   /* mov rcx, [rbx + r9*8 + disp32] */
	static const uint8_t ld_add[] = { 0x4e, 0x8b, 0x84, 0xcb };   /* mov r8, [rbx + r9*8 + disp32] */
	/* the block's CPL picks the TLB (block key): its arrays at a fixed offset from rbx */
	int32_t tlb = CPU_OFF(tlb) + (int32_t)(t->user ? sizeof(struct vsl_tlb) : 0);
	int32_t ntag = tlb + (int32_t)(offsetof(struct vsl_tlb, ntag) + (size_t)kind * VSL_TLB_SIZE * 8);
	int32_t addend = tlb + (int32_t)(offsetof(struct vsl_tlb, addend) + (size_t)kind * VSL_TLB_SIZE * 8);
	uint8_t cmp[] = {
		0x48, 0x8d, 0x4c, 0x39, 0,     /* lea rcx, [rcx + rdi + size-1]: last - tag */
		0xba, 12, 0, 0, 0,             /* mov edx, 12 */
		0xc4, 0xe2, 0xeb, 0xf7, 0xc9,  /* shrx rcx, rcx, rdx */
		0xe3, 0x05,                    /* jrcxz hit */
	};
	static const uint8_t host[] = { 0x4d, 0x8d, 0x04, 0x38 }; /* lea r8, [r8 + rdi] */

	_Static_assert(sizeof(((struct vsl_tlb *)0)->ntag[0][0]) == 8 && sizeof(((struct vsl_tlb *)0)->addend[0][0]) == 8,
		       "TLB look-up arrays");
	_Static_assert(VSL_TLB_BITS < 32, "TLB index");
	cmp[4] = (uint8_t)(size - 1);
	vsl_emit_bytes(e, idx, sizeof(idx));
	vsl_emit_bytes(e, ld_tag, sizeof(ld_tag));
	vsl_emit_u32(e, (uint32_t)ntag);
	vsl_emit_bytes(e, cmp, sizeof(cmp));
	uint8_t *miss = vsl_emit_jmp32(e);
	vsl_emit_bytes(e, ld_add, sizeof(ld_add));
	vsl_emit_u32(e, (uint32_t)addend);
	if (host_ptr)
		vsl_emit_bytes(e, host, sizeof(host));
	return miss;
}

/*
 * The out-of-line slow path of a natively emitted instruction (TLB miss,
 * misalignment): emitted where the fast path's jumps to it were patched.
 * The flag state is put back as it was before the instruction (in0, dirty0);
 * the cached registers as they were then go to cpu->gpr for the executor's
 * handler and come back from it afterwards (dirty flags: the hit path's, a
 * superset); then the flag state of the hit path (in1, dirty1) is restored
 * and the jump `done` over this slow path is patched to land after it.
 */
static void bt_emit_slow_path(struct bt_tr *t, struct bt_hinsn *h, const bool *dirty_before,
			      bool in0, bool dirty0, bool in1, bool dirty1, uint8_t *done)
{
	t->flags_in_host = in0;
	t->flags_dirty = dirty0;
	for (int i = 0; i < BT_NCACHE; i++)
		if (t->rc_guest[i] >= 0 && dirty_before[i])
			vsl_emit_store64(&t->e, bt_cache_host[i], VSL_H_RBX, GPR_OFF(t->rc_guest[i]));
	bt_emit_helper(t, h);
	for (int i = 0; i < BT_NCACHE; i++)
		if (t->rc_guest[i] >= 0)
			vsl_emit_load64(&t->e, bt_cache_host[i], VSL_H_RBX, GPR_OFF(t->rc_guest[i]));
	if (in1)
		bt_flags_load(t);
	if (done)
		vsl_emit_patch32(done, t->e.p);
	t->flags_in_host = in1;
	t->flags_dirty = dirty1;
}

/*
 * The slow path of the instruction just emitted, taken through the rel32s
 * miss0/miss1 (either may be NULL): recorded with the register-cache and
 * flag state it needs, and emitted by bt_emit_slow_paths after the block's
 * last exit, so that the hit path falls straight through to the next
 * instruction; the slow path jumps back here when done.
 */
static void bt_defer_slow_path(struct bt_tr *t, struct bt_hinsn *h, const bool *dirty_before,
			       bool in0, bool dirty0, uint8_t *miss0, uint8_t *miss1)
{
	bool in1 = t->flags_in_host, dirty1 = t->flags_dirty;

	if (t->nslow == sizeof(t->slow) / sizeof(t->slow[0])) {
		/* (cannot happen: one per instruction) inline, jumped over */
		uint8_t *done = vsl_emit_jmp32(&t->e);
		if (miss0)
			vsl_emit_patch32(miss0, t->e.p);
		if (miss1)
			vsl_emit_patch32(miss1, t->e.p);
		bt_emit_slow_path(t, h, dirty_before, in0, dirty0, in1, dirty1, done);
		return;
	}
	struct bt_slow *sl = &t->slow[t->nslow++];
	sl->h = h;
	sl->miss[0] = miss0;
	sl->miss[1] = miss1;
	sl->resume = t->e.p;
	sl->retry = t->probe;
	sl->size = t->probe_size;
	sl->write = t->probe_write;
	memcpy(sl->rc_guest, t->rc_guest, sizeof(sl->rc_guest));
	memcpy(sl->dirty_before, dirty_before, sizeof(sl->dirty_before));
	sl->in0 = in0;
	sl->dirty0 = dirty0;
	sl->in1 = in1;
	sl->dirty1 = dirty1;
}

/*
 * The side exits of a block of n instructions, after its last exit: the
 * registers cached at the branch go back to cpu->gpr, the instructions
 * after the branch back to bt->left, and the block leaves for the branch
 * target like any direct exit (the flags are in the host RFLAGS).
 */
static void bt_emit_side_exits(struct bt_tr *t, unsigned n)
{
	for (unsigned i = 0; i < t->nside && !t->e.full; i++) {
		struct bt_side *sd = &t->side[i];
		if (sd->rel)
			vsl_emit_patch32(sd->rel, t->e.p);
		memcpy(t->rc_guest, sd->rc_guest, sizeof(t->rc_guest));
		memcpy(t->rc_dirty, sd->rc_dirty, sizeof(t->rc_dirty));
		t->flags_in_host = true;
		t->flags_dirty = sd->flags_dirty;
		int32_t back = (int32_t)(n - sd->idx - 1);
		if (back) {
			vsl_emit_bytes(&t->e, (const uint8_t[]){ 0x4d, 0x8d, 0xbf }, 3); /* lea r15, [r15 + back] */
			vsl_emit_u32(&t->e, (uint32_t)back);
		}
		bt_emit_exit(t, sd->target, sd->target);
	}
}

/*
 * Called by translated code on an inline TLB miss: fill the entry for the
 * access (size bytes at lin; bit 8 of size_write: a write) when it
 * translates without a fault, is not a write to a code page and does not
 * cross a page, so that the look-up retried hits. 0: not filled (the
 * executor's handler runs the instruction and raises what it must).
 */
static int bt_refill(struct vsl_cpu *cpu, uint64_t lin, unsigned size_write)
{
	unsigned size = size_write & 0xff;
	bool write = size_write >> 8;
	const struct vsl_tlb_entry *e;

	cpu->st.tlb_misses++;
	if (((lin ^ (lin + size - 1)) & ~0xfffull) || vsl_mmu_fill_data(cpu, lin, write))
		return 0;
	e = write ? &cpu->tlb_cur->wr[(lin >> 12) & (VSL_TLB_SIZE - 1)] :
		    &cpu->tlb_cur->rd[(lin >> 12) & (VSL_TLB_SIZE - 1)];
	return e->tag == (lin & ~0xfffull);
}

/*
 * The refill before a slow path, through the shared refill code (which
 * keeps the guest flags and the caller-saved cache registers): filled,
 * back to the look-up; else on to the executor's handler after.
 */
static void bt_emit_refill(struct bt_tr *t, const struct bt_slow *sl)
{
	static const uint8_t jrcxz[] = { 0xe3, 0x05 }; /* jrcxz +5: not filled */

	vsl_emit_u8(&t->e, 0xba); /* mov edx, imm32 */
	vsl_emit_u32(&t->e, sl->size | (sl->write ? 0x100u : 0));
	bt_emit_call_stub(&t->e, t->bt->refill_rw);
	vsl_emit_bytes(&t->e, jrcxz, sizeof(jrcxz));
	uint8_t *back = vsl_emit_jmp32(&t->e);
	if (back)
		vsl_emit_patch32(back, sl->retry);
}

/* the deferred slow paths, at the end of the block (the register cache is not used after) */
static void bt_emit_slow_paths(struct bt_tr *t)
{
	for (unsigned i = 0; i < t->nslow && !t->e.full; i++) {
		struct bt_slow *sl = &t->slow[i];
		if (sl->miss[0])
			vsl_emit_patch32(sl->miss[0], t->e.p);
		if (sl->miss[0] && sl->retry)
			bt_emit_refill(t, sl); /* a TLB miss; miss[1] (misalignment) goes straight on */
		if (sl->miss[1])
			vsl_emit_patch32(sl->miss[1], t->e.p);
		memcpy(t->rc_guest, sl->rc_guest, sizeof(t->rc_guest));
		bt_emit_slow_path(t, sl->h, sl->dirty_before, sl->in0, sl->dirty0, sl->in1, sl->dirty1, NULL);
		uint8_t *back = vsl_emit_jmp32(&t->e);
		if (back)
			vsl_emit_patch32(back, sl->resume);
	}
}

/* instructions whose CL operand (not the first) is a shift count */
static bool bt_shift_count(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR: case ZYDIS_MNEMONIC_SAR:
	case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR: case ZYDIS_MNEMONIC_RCL: case ZYDIS_MNEMONIC_RCR:
	case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD:
		return true;
	default:
		return false;
	}
}

/*
 * Emit an integer instruction as itself on host registers: register-only
 * forms, and (with BMI2) forms with one memory operand through the inline
 * TLB look-up, falling back to the executor's handler on a miss. false
 * (nothing emitted) when it does not qualify.
 */
static bool bt_emit_native(struct bt_tr *t, const ZydisDecodedInstruction *zi,
			   const ZydisDecodedOperand *ops, uint64_t next)
{
	static const int pool[3] = { VSL_H_RAX, VSL_H_RCX, VSL_H_RDX };
	int gmap[16], hused = 0, mem = -1;
	bool written[16] = { false }, flags_written = false, flags_read = false;
	bool rip_rel = false, mem_write = false, mem_read = false, legacy = false;
	ZydisEncoderRequest req;
	uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
	ZyanUSize len = sizeof(buf);
	unsigned addr_pinned = 0;

	if (zi->machine_mode != ZYDIS_MACHINE_MODE_LONG_64 || !bt_native_mnemonic(zi->mnemonic))
		return false;
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_NOP: case ZYDIS_MNEMONIC_PAUSE: case ZYDIS_MNEMONIC_LFENCE:
	case ZYDIS_MNEMONIC_PREFETCHT0: case ZYDIS_MNEMONIC_PREFETCHT1: case ZYDIS_MNEMONIC_PREFETCHT2:
	case ZYDIS_MNEMONIC_PREFETCHNTA: case ZYDIS_MNEMONIC_PREFETCHW:
		return true; /* no architectural effect (prefetches never fault), even with a memory operand */
	default:
		break;
	}
	/* xchg eax,eax would be re-encoded as NOP (90), which does not zero-extend */
	if (zi->mnemonic == ZYDIS_MNEMONIC_XCHG && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
	    ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[0].reg.value == ops[1].reg.value)
		return false;
	for (int i = 0; i < 16; i++)
		gmap[i] = -1;
	/*
	 * Implicit RAX/RCX/RDX operands (CMPXCHG, CDQE/CQO..., one-operand
	 * MUL/IMUL) live in the same host register around the instruction
	 * (loaded and stored like the legacy forms below).
	 */
	for (unsigned i = zi->operand_count_visible; i < zi->operand_count; i++) {
		const ZydisDecodedOperand *op = &ops[i];
		bool high;
		int g;

		if (op->type != ZYDIS_OPERAND_TYPE_REGISTER ||
		    ZydisRegisterGetClass(op->reg.value) == ZYDIS_REGCLASS_FLAGS)
			continue;
		if (!bt_hidden_ok(zi->mnemonic))
			return false;
		g = bt_gpr_index(op->reg.value, &high);
		if (g < 0 || g > 2 || high)
			return false;
		gmap[g] = g; /* VSL_H_RAX/RCX/RDX have the guest numbers 0/1/2 */
		hused |= 1 << g;
		legacy = true;
		if (op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
			written[g] = true;
	}
	/* pass 0: registers with a fixed host choice (CL, AH..BH); pass 1: the rest */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < zi->operand_count; i++) {
			const ZydisDecodedOperand *op = &ops[i];
			ZydisRegister regs[2] = { ZYDIS_REGISTER_NONE, ZYDIS_REGISTER_NONE };
			bool visible = i < zi->operand_count_visible;

			if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
				if (ZydisRegisterGetClass(op->reg.value) == ZYDIS_REGCLASS_FLAGS) {
					if (visible)
						return false;
					continue;
				}
				if (!visible)
					continue; /* implicit: mapped above */
				regs[0] = op->reg.value;
			} else if (op->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
				if (!visible)
					return false;
				continue;
			} else if (op->type == ZYDIS_OPERAND_TYPE_MEMORY && zi->mnemonic == ZYDIS_MNEMONIC_LEA &&
				   visible && op->mem.type == ZYDIS_MEMOP_TYPE_AGEN) {
				if (op->mem.base == ZYDIS_REGISTER_RIP || op->mem.base == ZYDIS_REGISTER_EIP) {
					if (op->mem.index != ZYDIS_REGISTER_NONE)
						return false;
					rip_rel = true;
					continue;
				}
				regs[0] = op->mem.base;
				regs[1] = op->mem.index;
			} else if (op->type == ZYDIS_OPERAND_TYPE_MEMORY && visible && t->bmi2 &&
				   op->mem.type == ZYDIS_MEMOP_TYPE_MEM && (mem < 0 || mem == (int)i) &&
				   !bt_bitstring(zi, ops) && (op->size == 8 || op->size == 16 ||
							      op->size == 32 || op->size == 64)) {
				if (!bt_mem_regs_ok(op))
					return false;
				mem = (int)i;
				if (op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
					mem_write = true;
				if (op->actions & ZYDIS_OPERAND_ACTION_MASK_READ)
					mem_read = true;
				continue;
			} else {
				return false;
			}
			for (int k = 0; k < 2; k++) {
				bool high;
				int g;

				if (regs[k] == ZYDIS_REGISTER_NONE)
					continue;
				g = bt_gpr_index(regs[k], &high);
				if (g < 0)
					return false;
				/* a shift count in CL must be the host's CL; any other CL is just a byte register */
				bool cl = regs[k] == ZYDIS_REGISTER_CL && i > 0 && bt_shift_count(zi->mnemonic);
				if (high || cl)
					legacy = true;
				if (pass == 0 && (op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
				    op->type == ZYDIS_OPERAND_TYPE_REGISTER)
					written[g] = true;
				if (gmap[g] >= 0)
					continue;
				if (pass == 0 && cl) {
					if (hused & (1 << VSL_H_RCX))
						return false; /* (an implicit RCX is mapped to RCX already) */
					gmap[g] = VSL_H_RCX;
					hused |= 1 << VSL_H_RCX;
				} else if (pass == 0 && high) {
					int h = -1;
					for (int c = 0; c < 3 && h < 0; c++)
						if (!(hused & (1 << pool[c])))
							h = pool[c];
					if (h < 0)
						return false;
					gmap[g] = h;
					hused |= 1 << h;
				} else if (pass == 1) {
					int h = -1;
					for (int c = 0; c < 3 && h < 0; c++)
						if (!(hused & (1 << pool[c])))
							h = pool[c];
					if (h < 0)
						return false;
					gmap[g] = h;
					hused |= 1 << h;
				}
			}
		}
	}
	if ((zi->attributes & ZYDIS_ATTRIB_HAS_LOCK) && mem < 0)
		return false;
	if (rip_rel) {
		/* LEA reg, [rip + disp]: the address is a constant */
		bool high;
		int g = bt_gpr_index(ops[0].reg.value, &high);
		uint64_t v = next + (uint64_t)ops[1].mem.disp.value;

		if (g < 0 || ops[0].size < 32)
			return false;
		if (ops[0].size == 32 || ops[1].mem.base == ZYDIS_REGISTER_EIP)
			v &= 0xffffffffull;
		int hr = bt_rc_get(t, g, false, 0);
		vsl_emit_mov_imm(&t->e, hr, v);
		t->rc_dirty[t->rc_slot[g]] = true;
		return true;
	}
	/*
	 * The guest registers go to the register cache, except for
	 * instructions that need particular host registers (CL, AH..BH):
	 * those load and store them around the instruction (legacy).
	 */
	if (legacy) {
		for (int g = 0; g < 16; g++)
			if (gmap[g] >= 0)
				bt_rc_evict(t, g);
	} else {
		/*
		 * A register only written, whole (32 or 64 bits), is not loaded
		 * first; one also read, or used in an address, is. BSF/BSR leave
		 * their destination as it was for a zero source (the hardware
		 * does), so theirs counts as read.
		 */
		bool rd[16] = { false };
		bool keeps = zi->mnemonic == ZYDIS_MNEMONIC_BSF || zi->mnemonic == ZYDIS_MNEMONIC_BSR;
		for (unsigned i = 0; i < zi->operand_count; i++) {
			const ZydisDecodedOperand *op = &ops[i];
			bool high;
			int g;
			if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
				g = bt_gpr_index(op->reg.value, &high);
				if (g >= 0 && (op->actions != ZYDIS_OPERAND_ACTION_WRITE || op->size < 32 || high || keeps))
					rd[g] = true;
			} else if (op->type == ZYDIS_OPERAND_TYPE_MEMORY) {
				if (op->mem.base != ZYDIS_REGISTER_NONE && (g = bt_gpr_index(op->mem.base, &high)) >= 0)
					rd[g] = true;
				if (op->mem.index != ZYDIS_REGISTER_NONE && (g = bt_gpr_index(op->mem.index, &high)) >= 0)
					rd[g] = true;
			}
		}
		unsigned pinned = 0;
		for (int g = 0; g < 16; g++)
			if (gmap[g] >= 0) {
				gmap[g] = bt_rc_get(t, g, rd[g], pinned);
				if (gmap[g] < 0)
					return false; /* cannot happen: at most 3 registers */
				pinned |= 1u << t->rc_slot[g];
			}
		addr_pinned = pinned;
	}
	if (!ZYAN_SUCCESS(ZydisEncoderDecodedInstructionToEncoderRequest(zi, ops, zi->operand_count_visible,
									  &req)))
		return false;
	req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
	for (unsigned i = 0; i < req.operand_count; i++) {
		ZydisEncoderOperand *o = &req.operands[i];
		bool high;
		int g;

		if (o->type == ZYDIS_OPERAND_TYPE_REGISTER) {
			g = bt_gpr_index(o->reg.value, &high);
			o->reg.value = bt_host_reg(o->reg.value, gmap[g]);
		} else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY && (int)i == mem) {
			/* [addend + linear address] */
			o->mem.base = ZYDIS_REGISTER_R8;
			o->mem.index = ZYDIS_REGISTER_RDI;
			o->mem.scale = 1;
			o->mem.displacement = 0;
		} else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY) {
			if (o->mem.base != ZYDIS_REGISTER_NONE) {
				g = bt_gpr_index(o->mem.base, &high);
				o->mem.base = bt_host_reg(o->mem.base, gmap[g]);
			}
			if (o->mem.index != ZYDIS_REGISTER_NONE) {
				g = bt_gpr_index(o->mem.index, &high);
				o->mem.index = bt_host_reg(o->mem.index, gmap[g]);
			}
		}
	}
	/*
	 * Keep only LOCK: segment overrides are applied by the look-up, and an
	 * ignored REP on the guest (F3 0F BC is BSF for the guest's CPUID) could
	 * mean another instruction on the host (TZCNT).
	 */
	req.prefixes &= ZYDIS_ATTRIB_HAS_LOCK;
	if (mem >= 0)
		req.address_size_hint = ZYDIS_ADDRESS_SIZE_HINT_NONE;
	if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, buf, &len)))
		return false;
	bool flags_all = false; /* writes every arithmetic flag, reads none */
	if (zi->cpu_flags) {
		const ZydisAccessedFlags *f = zi->cpu_flags;
		ZydisAccessedFlagsMask w = f->modified | f->set_0 | f->set_1 | f->undefined;
		if (f->tested)
			flags_read = true;
		if (w)
			flags_written = true;
		/* shifts and rotates by a zero count leave the flags alone */
		switch (zi->mnemonic) {
		case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_SUB: case ZYDIS_MNEMONIC_CMP:
		case ZYDIS_MNEMONIC_TEST: case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_OR:
		case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_NEG:
			flags_all = !f->tested && (w & BT_ARITH) == BT_ARITH;
			break;
		default:
			break;
		}
	}
	struct bt_hinsn *h = NULL;
	uint8_t *miss = NULL;
	bool in0 = t->flags_in_host, dirty0 = t->flags_dirty, dirty_before[BT_NCACHE];
	if (mem >= 0) {
		h = bt_new_hinsn(t, zi, ops);
		if (!h)
			return false;
		/* (a legacy instruction's registers were evicted: their slots must stay empty) */
		t->addr_alloc = !legacy;
		t->addr_pinned = addr_pinned;
		miss = bt_emit_tlb(t, zi->address_width == 32, &ops[mem], mem_write, false);
		t->addr_alloc = false;
		(void)mem_read;
	}
	/* (after the look-up, which may have evicted a register to cache an address one) */
	memcpy(dirty_before, t->rc_dirty, sizeof(dirty_before));
	if (flags_all && !flags_read)
		t->flags_in_host = true; /* no need to load what the instruction overwrites */
	else if (flags_read || flags_written)
		bt_flags_load(t);
	if (legacy)
		for (int g = 0; g < 16; g++)
			if (gmap[g] >= 0)
				vsl_emit_load64(&t->e, gmap[g], VSL_H_RBX, GPR_OFF(g));
	vsl_emit_bytes(&t->e, buf, (unsigned)len);
	for (int g = 0; g < 16; g++)
		if (gmap[g] >= 0 && written[g]) {
			if (legacy)
				vsl_emit_store64(&t->e, gmap[g], VSL_H_RBX, GPR_OFF(g));
			else
				t->rc_dirty[t->rc_slot[g]] = true;
		}
	if (flags_written)
		t->flags_dirty = true;
	if (mem >= 0) {
		/* miss: the executor's handler, then the same flag state as the hit path */
		bt_defer_slow_path(t, h, dirty_before, in0, dirty0, miss, NULL);
		t->bt->st.mem_native++;
	}
	return true;
}

/* integer and bitwise SSE instructions: no RFLAGS, no SIMD floating-point exceptions */
static bool bt_sse_mnemonic(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_MOVAPS: case ZYDIS_MNEMONIC_MOVAPD: case ZYDIS_MNEMONIC_MOVUPS:
	case ZYDIS_MNEMONIC_MOVUPD: case ZYDIS_MNEMONIC_MOVDQA: case ZYDIS_MNEMONIC_MOVDQU:
	case ZYDIS_MNEMONIC_PXOR: case ZYDIS_MNEMONIC_POR: case ZYDIS_MNEMONIC_PAND:
	case ZYDIS_MNEMONIC_PANDN: case ZYDIS_MNEMONIC_XORPS: case ZYDIS_MNEMONIC_XORPD:
	case ZYDIS_MNEMONIC_ANDPS: case ZYDIS_MNEMONIC_ANDPD: case ZYDIS_MNEMONIC_ORPS:
	case ZYDIS_MNEMONIC_ORPD: case ZYDIS_MNEMONIC_PCMPEQB: case ZYDIS_MNEMONIC_PCMPEQW:
	case ZYDIS_MNEMONIC_PCMPEQD: case ZYDIS_MNEMONIC_PCMPGTB: case ZYDIS_MNEMONIC_PADDB:
	case ZYDIS_MNEMONIC_PADDW: case ZYDIS_MNEMONIC_PADDD: case ZYDIS_MNEMONIC_PADDQ:
	case ZYDIS_MNEMONIC_PSUBB: case ZYDIS_MNEMONIC_PSUBW: case ZYDIS_MNEMONIC_PSUBD:
	case ZYDIS_MNEMONIC_PSUBQ: case ZYDIS_MNEMONIC_PMOVMSKB: case ZYDIS_MNEMONIC_PSHUFD:
	case ZYDIS_MNEMONIC_PUNPCKLBW: case ZYDIS_MNEMONIC_PUNPCKLWD: case ZYDIS_MNEMONIC_PUNPCKLDQ:
	case ZYDIS_MNEMONIC_PUNPCKLQDQ: case ZYDIS_MNEMONIC_PUNPCKHBW: case ZYDIS_MNEMONIC_PUNPCKHWD:
	case ZYDIS_MNEMONIC_PUNPCKHDQ: case ZYDIS_MNEMONIC_PUNPCKHQDQ: case ZYDIS_MNEMONIC_PMINUB:
	case ZYDIS_MNEMONIC_PMAXUB: case ZYDIS_MNEMONIC_MOVD: case ZYDIS_MNEMONIC_MOVQ:
		return true;
	default:
		return false;
	}
}

/* movdqu xmmN, [rbx + disp32] (store: movdqu [rbx + disp32], xmmN), N < 8 */
static void bt_emit_xmm_move(struct bt_tr *t, int x, int32_t disp, bool store)
{
	uint8_t b[4] = { 0xf3, 0x0f, (uint8_t)(store ? 0x7f : 0x6f), (uint8_t)(0x83 | (x << 3)) };

	vsl_emit_bytes(&t->e, b, 4);
	vsl_emit_u32(&t->e, (uint32_t)disp);
}

#define XMM_OFF(n) ((int32_t)(offsetof(struct vsl_cpu, fpu) + offsetof(struct vsl_fpu_state, xmm) + 16 * (size_t)(n)))

/*
 * SSE integer/bitwise instructions on XMM registers (and GPRs for PMOVMSKB)
 * with at most one memory operand: guest XMM registers are loaded into host
 * xmm0/xmm1 around the instruction. Only in blocks translated with SSE usable
 * (CR0.TS/EM clear, CR4.OSFXSR set: part of the block key). Misaligned
 * 16-byte operands of the aligned forms go to the executor's handler.
 */
static bool bt_emit_sse(struct bt_tr *t, const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	ZydisEncoderRequest req;
	uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
	ZyanUSize len = sizeof(buf);
	int xmap[16], xn = 0, mem = -1, gregs[2] = { -1, -1 };
	bool xwritten[16] = { false }, gwritten[2] = { false }, mem_write = false, high;

	if (zi->machine_mode != ZYDIS_MACHINE_MODE_LONG_64 || !t->bmi2 || !t->sse_ok ||
	    !bt_sse_mnemonic(zi->mnemonic) || (zi->attributes & ZYDIS_ATTRIB_HAS_LOCK))
		return false;
	for (int i = 0; i < 16; i++)
		xmap[i] = -1;
	for (unsigned i = 0; i < zi->operand_count; i++) {
		const ZydisDecodedOperand *op = &ops[i];
		if (i >= zi->operand_count_visible)
			return false;
		if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
			ZydisRegisterClass c = ZydisRegisterGetClass(op->reg.value);
			if (c == ZYDIS_REGCLASS_XMM) {
				int x = op->reg.value - ZYDIS_REGISTER_XMM0;
				if (x < 0 || x > 15)
					return false;
				if (xmap[x] < 0) {
					if (xn == 2)
						return false;
					xmap[x] = xn++;
				}
				if (op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
					xwritten[x] = true;
			} else if (c == ZYDIS_REGCLASS_GPR32 || c == ZYDIS_REGCLASS_GPR64) {
				if (gregs[0] >= 0)
					return false;
				gregs[0] = bt_gpr_index(op->reg.value, &high);
				gwritten[0] = op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
			} else {
				return false;
			}
		} else if (op->type == ZYDIS_OPERAND_TYPE_MEMORY && op->mem.type == ZYDIS_MEMOP_TYPE_MEM &&
			   mem < 0 && (op->size == 128 || op->size == 64 || op->size == 32)) {
			if (!bt_mem_regs_ok(op) || op->mem.base == ZYDIS_REGISTER_EIP)
				return false;
			mem = (int)i;
			mem_write = op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
		} else if (op->type != ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			return false;
		}
	}
	if (!ZYAN_SUCCESS(ZydisEncoderDecodedInstructionToEncoderRequest(zi, ops, zi->operand_count_visible,
									  &req)))
		return false;
	req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
	req.prefixes = 0;
	req.address_size_hint = ZYDIS_ADDRESS_SIZE_HINT_NONE;
	int ghost = -1;
	if (gregs[0] >= 0) {
		ghost = bt_rc_get(t, gregs[0], true, 0);
		if (ghost < 0)
			return false;
	}
	for (unsigned i = 0; i < req.operand_count; i++) {
		ZydisEncoderOperand *o = &req.operands[i];
		if (o->type == ZYDIS_OPERAND_TYPE_REGISTER) {
			ZydisRegisterClass c = ZydisRegisterGetClass(o->reg.value);
			if (c == ZYDIS_REGCLASS_XMM)
				o->reg.value = (ZydisRegister)(ZYDIS_REGISTER_XMM0 + xmap[o->reg.value - ZYDIS_REGISTER_XMM0]);
			else
				o->reg.value = bt_host_reg(o->reg.value, ghost);
		} else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY) {
			o->mem.base = ZYDIS_REGISTER_R8;
			o->mem.index = ZYDIS_REGISTER_RDI;
			o->mem.scale = 1;
			o->mem.displacement = 0;
		}
	}
	if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, buf, &len)))
		return false;
	struct bt_hinsn *h = NULL;
	uint8_t *miss = NULL, *misalign = NULL;
	bool in0 = t->flags_in_host, dirty0 = t->flags_dirty, dirty_before[BT_NCACHE];
	memcpy(dirty_before, t->rc_dirty, sizeof(dirty_before));
	if (mem >= 0) {
		h = bt_new_hinsn(t, zi, ops);
		if (!h)
			return false;
		miss = bt_emit_tlb(t, zi->address_width == 32, &ops[mem], mem_write, false);
		bool unaligned_ok = zi->mnemonic == ZYDIS_MNEMONIC_MOVUPS || zi->mnemonic == ZYDIS_MNEMONIC_MOVUPD ||
				    zi->mnemonic == ZYDIS_MNEMONIC_MOVDQU || ops[mem].size != 128;
		if (!unaligned_ok) {
			static const uint8_t chk[] = {
				0xb9, 60, 0, 0, 0,             /* mov ecx, 60 */
				0xc4, 0xe2, 0xf1, 0xf7, 0xcf,  /* shlx rcx, rdi, rcx */
				0xe3, 0x05,                    /* jrcxz +5 */
			};
			vsl_emit_bytes(&t->e, chk, sizeof(chk));
			misalign = vsl_emit_jmp32(&t->e);
		}
	}
	for (int x = 0; x < 16; x++)
		if (xmap[x] >= 0)
			bt_emit_xmm_move(t, xmap[x], XMM_OFF(x), false);
	vsl_emit_bytes(&t->e, buf, (unsigned)len);
	for (int x = 0; x < 16; x++)
		if (xmap[x] >= 0 && xwritten[x])
			bt_emit_xmm_move(t, xmap[x], XMM_OFF(x), true);
	if (gregs[0] >= 0 && gwritten[0])
		t->rc_dirty[t->rc_slot[gregs[0]]] = true;
	if (mem >= 0)
		bt_defer_slow_path(t, h, dirty_before, in0, dirty0, miss, misalign);
	t->bt->st.sse_native++;
	return true;
}

/*
 * DIV r32/r64 in 64-bit code (not by RAX or RDX): RDX:RAX in the host's
 * RDX:RAX, the divisor from the register cache; RDX below the divisor
 * (unsigned, which also rules out 0) means no #DE, else the executor's
 * handler raises it, with everything as it was. The arithmetic flags stay
 * what they were (the executor leaves them; the architecture leaves them
 * undefined): stored before, reloaded from cpu->rflags after.
 */
static bool bt_emit_div(struct bt_tr *t, const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	bool high, wide = zi->operand_width == 64;
	int g;

	if (zi->mnemonic != ZYDIS_MNEMONIC_DIV || zi->machine_mode != ZYDIS_MACHINE_MODE_LONG_64 ||
	    !t->hostflags || zi->operand_count_visible != 1 || ops[0].type != ZYDIS_OPERAND_TYPE_REGISTER ||
	    (zi->operand_width != 32 && zi->operand_width != 64))
		return false;
	g = bt_gpr_index(ops[0].reg.value, &high);
	if (g < 0 || high || g == VSL_RAX || g == VSL_RDX)
		return false;
	struct bt_hinsn *h = bt_new_hinsn(t, zi, ops);
	if (!h)
		return false;
	int hs = bt_rc_get(t, g, true, 0);
	bt_rc_evict(t, VSL_RAX);
	bt_rc_evict(t, VSL_RDX);
	bt_flags_store(t);
	t->flags_in_host = false;
	bool dirty_before[BT_NCACHE];
	memcpy(dirty_before, t->rc_dirty, sizeof(dirty_before));
	vsl_emit_load64(&t->e, VSL_H_RAX, VSL_H_RBX, GPR_OFF(VSL_RAX));
	vsl_emit_load64(&t->e, VSL_H_RDX, VSL_H_RBX, GPR_OFF(VSL_RDX));
	uint8_t b[3];
	unsigned k = 0;
	/* cmp rdx/edx, divisor: below (unsigned) or #DE */
	if (wide || hs >= 8)
		b[k++] = (uint8_t)((wide ? 0x48 : 0x40) | (hs >= 8 ? 4 : 0));
	b[k++] = 0x39;
	b[k++] = (uint8_t)(0xc0 | ((hs & 7) << 3) | VSL_H_RDX);
	vsl_emit_bytes(&t->e, b, k);
	uint8_t *slow = vsl_emit_jcc32(&t->e, 0x3); /* jae */
	k = 0;
	if (wide || hs >= 8)
		b[k++] = (uint8_t)((wide ? 0x48 : 0x40) | (hs >= 8 ? 1 : 0));
	b[k++] = 0xf7;
	b[k++] = (uint8_t)(0xf0 | (hs & 7)); /* div divisor */
	vsl_emit_bytes(&t->e, b, k);
	vsl_emit_store64(&t->e, VSL_H_RAX, VSL_H_RBX, GPR_OFF(VSL_RAX));
	vsl_emit_store64(&t->e, VSL_H_RDX, VSL_H_RBX, GPR_OFF(VSL_RDX));
	bt_defer_slow_path(t, h, dirty_before, false, false, NULL, slow);
	return true;
}

/*
 * RDTSC / RDTSCP without a helper call. The virtual TSC is a linear
 * function of the instruction count (bt->tsc_k, bt->tsc_c, measured by
 * bt_tsc_setup), so the value the executor would return at this
 * instruction is computed from the slice's counters as bt_helper computes
 * the instruction count:
 *	icount = bt->ic_end - bt->left + (idx - ninsn)
 *	tsc    = tsc_k * icount + tsc_c + cpu->tsc_offset
 * When the clock is not known to be linear (tsc_ok 0) or CR4.TSD is set
 * (a #GP at CPL > 0 is possible) the executor's handler runs instead.
 */
static bool bt_emit_rdtsc(struct bt_tr *t, const ZydisDecodedInstruction *zi,
			  const ZydisDecodedOperand *ops)
{
	bool rdtscp = zi->mnemonic == ZYDIS_MNEMONIC_RDTSCP;
	bool dirty_before[BT_NCACHE];

	if ((zi->mnemonic != ZYDIS_MNEMONIC_RDTSC && !rdtscp) || t->ntsc >= 4)
		return false;
	struct bt_hinsn *h = bt_new_hinsn(t, zi, ops);
	if (!h)
		return false;
	bt_rc_evict(t, VSL_RAX);
	bt_rc_evict(t, VSL_RDX);
	if (rdtscp)
		bt_rc_evict(t, VSL_RCX);
	bt_flags_store(t);
	t->flags_in_host = false;
	memcpy(dirty_before, t->rc_dirty, sizeof(dirty_before));

	int32_t d_ic = (int32_t)(offsetof(struct vsl_bt, ic_end) - offsetof(struct vsl_bt, left));
	int32_t d_k = (int32_t)(offsetof(struct vsl_bt, tsc_k) - offsetof(struct vsl_bt, left));
	int32_t d_c = (int32_t)(offsetof(struct vsl_bt, tsc_c) - offsetof(struct vsl_bt, left));
	int32_t d_ok = (int32_t)(offsetof(struct vsl_bt, tsc_ok) - offsetof(struct vsl_bt, left));
	int32_t cr4 = CPU_OFF(cr4);
	struct vsl_emit *e = &t->e;

	vsl_emit_mov_imm(e, VSL_H_RAX, (uint64_t)(uintptr_t)&t->bt->left);
	/* cmp qword [rax + d_ok], 0; je slow */
	vsl_emit_bytes(e, (const uint8_t[]){ 0x48, 0x83, 0xb8 }, 3);
	vsl_emit_u32(e, (uint32_t)d_ok);
	vsl_emit_u8(e, 0);
	uint8_t *slow1 = vsl_emit_jcc32(e, 0x4);
	/* test byte [rbx + cr4], TSD; jnz slow */
	vsl_emit_bytes(e, (const uint8_t[]){ 0xf6, 0x83 }, 2);
	vsl_emit_u32(e, (uint32_t)cr4);
	vsl_emit_u8(e, (uint8_t)VSL_CR4_TSD);
	uint8_t *slow2 = vsl_emit_jcc32(e, 0x5);
	vsl_emit_load64(e, VSL_H_RCX, VSL_H_RAX, d_ic);
	if (t->hostflags)
		vsl_emit_bytes(e, (const uint8_t[]){ 0x4c, 0x29, 0xf9 }, 3); /* sub rcx, r15 (bt->left) */
	else
		vsl_emit_bytes(e, (const uint8_t[]){ 0x48, 0x2b, 0x08 }, 3); /* sub rcx, [rax] */
	vsl_emit_bytes(e, (const uint8_t[]){ 0x48, 0x81, 0xc1 }, 3);       /* add rcx, imm32 */
	uint8_t *fix = e->p;
	vsl_emit_u32(e, 0);
	vsl_emit_bytes(e, (const uint8_t[]){ 0x48, 0x0f, 0xaf, 0x88 }, 4); /* imul rcx, [rax + d_k] */
	vsl_emit_u32(e, (uint32_t)d_k);
	vsl_emit_bytes(e, (const uint8_t[]){ 0x48, 0x03, 0x88 }, 3);       /* add rcx, [rax + d_c] */
	vsl_emit_u32(e, (uint32_t)d_c);
	vsl_emit_bytes(e, (const uint8_t[]){ 0x48, 0x03, 0x8b }, 3);       /* add rcx, [rbx + tsc_offset] */
	vsl_emit_u32(e, (uint32_t)CPU_OFF(tsc_offset));
	vsl_emit_bytes(e, (const uint8_t[]){ 0x89, 0xc8 }, 2);             /* mov eax, ecx */
	vsl_emit_bytes(e, (const uint8_t[]){ 0x48, 0xc1, 0xe9, 0x20 }, 4); /* shr rcx, 32 */
	vsl_emit_store64(e, VSL_H_RAX, VSL_H_RBX, GPR_OFF(VSL_RAX));
	vsl_emit_store64(e, VSL_H_RCX, VSL_H_RBX, GPR_OFF(VSL_RDX));
	if (rdtscp) {
		/* mov eax, dword [rbx + tsc_aux] */
		vsl_emit_bytes(e, (const uint8_t[]){ 0x8b, 0x83 }, 2);
		vsl_emit_u32(e, (uint32_t)CPU_OFF(tsc_aux));
		vsl_emit_store64(e, VSL_H_RAX, VSL_H_RBX, GPR_OFF(VSL_RCX));
	}
	uint8_t *done = vsl_emit_jmp32(e);
	if (e->full || !slow1 || !slow2 || !done)
		return true; /* the block is discarded */
	t->tsc_fix[t->ntsc] = fix;
	t->tsc_idx[t->ntsc++] = t->idx;
	vsl_emit_patch32(slow1, e->p);
	vsl_emit_patch32(slow2, e->p);
	bt_emit_slow_path(t, h, dirty_before, false, false, false, false, done);
	return true;
}

/*
 * MOV r32/r64, Sreg in 64-bit code (the kernel's entry paths read CS and SS
 * to tell user from kernel frames): the zero-extended selector, without
 * ending the block. false when not one.
 */
static bool bt_emit_sreg_read(struct bt_tr *t, const ZydisDecodedInstruction *zi,
			      const ZydisDecodedOperand *ops)
{
	bool high;

	if (zi->machine_mode != ZYDIS_MACHINE_MODE_LONG_64 || zi->mnemonic != ZYDIS_MNEMONIC_MOV ||
	    zi->operand_count_visible != 2 || ops[0].type != ZYDIS_OPERAND_TYPE_REGISTER ||
	    ops[1].type != ZYDIS_OPERAND_TYPE_REGISTER ||
	    ZydisRegisterGetClass(ops[1].reg.value) != ZYDIS_REGCLASS_SEGMENT ||
	    (ops[0].size != 32 && ops[0].size != 64))
		return false;
	int g = bt_gpr_index(ops[0].reg.value, &high);
	int s = (int)(ops[1].reg.value - ZYDIS_REGISTER_ES);
	if (g < 0 || high || s < VSL_ES || s > VSL_GS)
		return false;
	int hr = bt_rc_get(t, g, false, 0);
	int32_t off = (int32_t)(offsetof(struct vsl_cpu, seg) + (size_t)s * sizeof(struct vsl_seg) +
				offsetof(struct vsl_seg, sel));
	/* movzx r32, word [rbx + disp32] */
	uint8_t b[4] = { 0x44, 0x0f, 0xb7, (uint8_t)(0x83 | ((hr & 7) << 3)) };
	if (hr >= 8)
		vsl_emit_bytes(&t->e, b, 4);
	else
		vsl_emit_bytes(&t->e, b + 1, 3);
	vsl_emit_u32(&t->e, (uint32_t)off);
	t->rc_dirty[t->rc_slot[g]] = true;
	return true;
}

static bool bt_canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* the memory operand [rsp + disp] of a 64-bit stack access, for bt_emit_tlb */
static ZydisDecodedOperand bt_stack_slot(int64_t disp)
{
	ZydisDecodedOperand m;

	memset(&m, 0, sizeof(m));
	m.type = ZYDIS_OPERAND_TYPE_MEMORY;
	m.size = 64;
	m.mem.type = ZYDIS_MEMOP_TYPE_MEM;
	m.mem.base = ZYDIS_REGISTER_RSP;
	m.mem.index = ZYDIS_REGISTER_NONE;
	m.mem.segment = ZYDIS_REGISTER_SS;
	m.mem.disp.value = disp;
	return m;
}

/* cpu->gpr[RSP] += d without touching RFLAGS (clobbers rcx) */
static void bt_emit_rsp_add(struct bt_tr *t, int8_t d)
{
	static const uint8_t lea_rcx[] = { 0x48, 0x8d, 0x49 }; /* lea rcx, [rcx + disp8] */

	vsl_emit_load64(&t->e, VSL_H_RCX, VSL_H_RBX, GPR_OFF(VSL_RSP));
	vsl_emit_bytes(&t->e, lea_rcx, sizeof(lea_rcx));
	vsl_emit_u8(&t->e, (uint8_t)d);
	vsl_emit_store64(&t->e, VSL_H_RCX, VSL_H_RBX, GPR_OFF(VSL_RSP));
}

/* lea r, [r + d] (flag-free add of a small constant) */
static void bt_emit_lea_self(struct vsl_emit *e, int r, int8_t d)
{
	uint8_t b[5];
	unsigned k = 0;

	b[k++] = (uint8_t)(0x48 | (r >= 8 ? 5 : 0));
	b[k++] = 0x8d;
	b[k++] = (uint8_t)(0x40 | ((r & 7) << 3) | (r & 7));
	if ((r & 7) == 4)
		b[k++] = 0x24; /* r12 as a base needs a SIB byte */
	b[k++] = (uint8_t)d;
	vsl_emit_bytes(e, b, k);
}

/* mov [r8 + rdi], r (store) or mov r, [r8 + rdi] (load), 64-bit */
static void bt_emit_mov_host(struct vsl_emit *e, int r, bool store)
{
	uint8_t b[4] = { (uint8_t)(0x49 | (r >= 8 ? 4 : 0)), store ? 0x89 : 0x8b,
			 (uint8_t)(0x04 | ((r & 7) << 3)), 0x38 };

	vsl_emit_bytes(e, b, sizeof(b));
}

/*
 * PUSH r64/imm and POP r64 in 64-bit code on the register cache: RSP and
 * the operand stay in host registers, the stack slot goes through the
 * inline TLB look-up like any memory operand (slow path: the executor's
 * handler). g: the register operand, -1 for an immediate.
 */
static bool bt_emit_pushpop(struct bt_tr *t, const ZydisDecodedInstruction *zi,
			    const ZydisDecodedOperand *ops, int g)
{
	bool push = zi->mnemonic == ZYDIS_MNEMONIC_PUSH;
	struct bt_hinsn *h = bt_new_hinsn(t, zi, ops);
	ZydisDecodedOperand m;

	if (!h)
		return false;
	int hs = bt_rc_get(t, VSL_RSP, true, 0), hv = hs;
	if (g >= 0 && g != VSL_RSP)
		hv = bt_rc_get(t, g, push, 1u << t->rc_slot[VSL_RSP]); /* POP overwrites: no load */
	bool in0 = t->flags_in_host, dirty0 = t->flags_dirty, dirty_before[BT_NCACHE];
	memcpy(dirty_before, t->rc_dirty, sizeof(dirty_before));
	m = bt_stack_slot(push ? -8 : 0);
	uint8_t *miss = bt_emit_tlb(t, false, &m, push, false);
	if (push) {
		if (g >= 0) {
			bt_emit_mov_host(&t->e, hv, true); /* PUSH RSP stores the old value */
		} else {
			/* mov qword [r8 + rdi], simm32 */
			static const uint8_t st_imm[] = { 0x49, 0xc7, 0x04, 0x38 };
			vsl_emit_bytes(&t->e, st_imm, sizeof(st_imm));
			vsl_emit_u32(&t->e, (uint32_t)(int32_t)ops[0].imm.value.s);
		}
		bt_emit_lea_self(&t->e, hs, -8);
	} else {
		bt_emit_mov_host(&t->e, hv, false);
		if (g != VSL_RSP) {
			bt_emit_lea_self(&t->e, hs, 8); /* POP RSP: the loaded value is RSP */
			t->rc_dirty[t->rc_slot[g]] = true;
		}
	}
	t->rc_dirty[t->rc_slot[VSL_RSP]] = true;
	bt_defer_slow_path(t, h, dirty_before, in0, dirty0, miss, NULL);
	t->bt->st.stack_native++;
	return true;
}

/* leave for target, or (indirect: cpu->rip set, flags stored) for cpu->rip through bt_indirect */
static void bt_emit_call_target(struct bt_tr *t, uint64_t target, bool indirect)
{
	if (!indirect) {
		bt_emit_exit(t, target, target);
		return;
	}
	bt_emit_continue(t);
}

/*
 * The exit of a CALL to target (indirect: to cpu->rip, already set), the
 * return address pushed, registers and flags as at any exit: with a
 * canonical return address and the guest flags in the host RFLAGS, a host
 * CALL pushes a return-stack frame (the
 * guest return address, then the landing pad's address) and goes to the
 * target; a guest RET that finds its address on top of the return stack
 * lands here, after the host CALL: unless this page was written since it
 * was translated, the block continues at the return address (chained like
 * any direct exit), else it returns to the dispatcher there.
 */
static void bt_emit_call_exit(struct bt_tr *t, uint64_t target, bool indirect)
{
	uint64_t ret = t->next;

	if (!t->hostflags || !bt_canonical(ret)) {
		bt_emit_call_target(t, target, indirect);
		return;
	}
	bool in = t->flags_in_host, dirty = t->flags_dirty;
	if ((uint64_t)(int64_t)(int32_t)ret == ret) {
		vsl_emit_u8(&t->e, 0x68); /* push simm32 */
		vsl_emit_u32(&t->e, (uint32_t)ret);
	} else {
		vsl_emit_mov_imm(&t->e, VSL_H_RAX, ret);
		vsl_emit_push(&t->e, VSL_H_RAX);
	}
	vsl_emit_u8(&t->e, 0xe8); /* call rel32 */
	vsl_emit_u32(&t->e, 0);
	uint8_t *call = t->e.full ? NULL : t->e.p - 4;

	/* landing pad: the flags in the host RFLAGS, every register in cpu->gpr */
	t->flags_in_host = true;
	t->flags_dirty = true;
	uint64_t page = t->blk->paddr >> 12;
	vsl_emit_load64(&t->e, VSL_H_RCX, VSL_H_RBX, CPU_OFF(code_gen));
	vsl_emit_bytes(&t->e, (const uint8_t[]){ 0x8b, 0x89 }, 2);   /* mov ecx, [rcx + 4 * page] */
	vsl_emit_u32(&t->e, (uint32_t)(page * 4));
	vsl_emit_bytes(&t->e, (const uint8_t[]){ 0x8d, 0x89 }, 2);   /* lea ecx, [rcx - gen] */
	vsl_emit_u32(&t->e, (uint32_t)-t->gen);
	vsl_emit_bytes(&t->e, (const uint8_t[]){ 0xe3, 0x05 }, 2);   /* jrcxz same */
	uint8_t *stale = vsl_emit_jmp32(&t->e);
	bt_emit_exit(t, ret, ret);
	if (stale)
		vsl_emit_patch32(stale, t->e.p);
	bt_flags_store(t);
	vsl_emit_mov_imm(&t->e, VSL_H_RAX, ret);
	vsl_emit_store64(&t->e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(rip));
	vsl_emit_mov_imm(&t->e, VSL_H_RAX, 0);
	bt_emit_ret(t);

	if (call)
		vsl_emit_patch32(call, t->e.p);
	t->flags_in_host = in;
	t->flags_dirty = dirty;
	bt_emit_call_target(t, target, indirect);
}

/*
 * PUSH reg/imm, POP reg, CALL rel32 and RET in 64-bit mode: the stack slot
 * through the inline TLB look-up, the executor's handler on a miss. CALL and
 * RET end the block (RET continues through bt_indirect). false when not one.
 */
static bool bt_emit_stack(struct bt_tr *t, const ZydisDecodedInstruction *zi,
			  const ZydisDecodedOperand *ops, bool *ends)
{
	static const uint8_t st_r8[] = { 0x49, 0x89, 0x00 };   /* mov [r8], rax */
	static const uint8_t ld_r8[] = { 0x49, 0x8b, 0x00 };   /* mov rax, [r8] */
	ZydisMnemonic mn = zi->mnemonic;
	ZydisDecodedOperand m;
	ZyanU64 target = 0;
	bool push = mn == ZYDIS_MNEMONIC_PUSH || mn == ZYDIS_MNEMONIC_CALL, high;
	int g = -1;

	if (zi->machine_mode != ZYDIS_MACHINE_MODE_LONG_64 || !t->bmi2 || zi->operand_width != 64)
		return false;
	switch (mn) {
	case ZYDIS_MNEMONIC_PUSH:
		if (ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER) {
			g = bt_gpr_index(ops[0].reg.value, &high);
			if (g < 0 || ZydisRegisterGetClass(ops[0].reg.value) != ZYDIS_REGCLASS_GPR64)
				return false;
		} else if (ops[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			return false;
		}
		break;
	case ZYDIS_MNEMONIC_POP:
		if (ops[0].type != ZYDIS_OPERAND_TYPE_REGISTER ||
		    ZydisRegisterGetClass(ops[0].reg.value) != ZYDIS_REGCLASS_GPR64)
			return false;
		g = bt_gpr_index(ops[0].reg.value, &high);
		break;
	case ZYDIS_MNEMONIC_CALL:
		if (zi->operand_count_visible != 1 || ops[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE ||
		    !ops[0].imm.is_relative ||
		    !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(zi, &ops[0], t->rip, &target)) ||
		    !bt_canonical(target))
			return false;
		break;
	case ZYDIS_MNEMONIC_RET:
		if (zi->operand_count_visible != 0)
			return false;
		break;
	default:
		return false;
	}
	if (mn == ZYDIS_MNEMONIC_PUSH || mn == ZYDIS_MNEMONIC_POP)
		return bt_emit_pushpop(t, zi, ops, g);
	/* CALL rel32 and RET: both end the block */
	struct bt_hinsn *h = bt_new_hinsn(t, zi, ops);
	if (!h)
		return false;
	*ends = h->ends = true;
	bt_rc_flush(t);
	bool in0 = t->flags_in_host, dirty0 = t->flags_dirty;
	m = bt_stack_slot(push ? -8 : 0);
	uint8_t *miss = bt_emit_tlb(t, false, &m, push, true), *miss2 = NULL;
	if (push) {
		vsl_emit_mov_imm(&t->e, VSL_H_RAX, t->next);
		vsl_emit_bytes(&t->e, st_r8, sizeof(st_r8));
		bt_emit_rsp_add(t, -8);
		bt_emit_call_exit(t, target, false);
	} else {
		/*
		 * The return address against the return stack's top: equal, the
		 * host RET (predicted) goes to the landing pad of the matching
		 * CALL; else (or not canonical) the look-up, as any RET.
		 */
		static const uint8_t cmp_top[] = {
			0x48, 0x8b, 0x4c, 0x24, 0x08,  /* mov rcx, [rsp + 8] */
			0x48, 0xf7, 0xd1,              /* not rcx */
			0x48, 0x8d, 0x4c, 0x01, 0x01,  /* lea rcx, [rcx + rax + 1]: rax - top */
			0xe3, 0x05,                    /* jrcxz match */
		};
		static const uint8_t ret8[] = { 0xc2, 0x08, 0x00 }; /* ret 8 */
		vsl_emit_bytes(&t->e, ld_r8, sizeof(ld_r8));
		if (t->hostflags) {
			vsl_emit_bytes(&t->e, cmp_top, sizeof(cmp_top));
			uint8_t *other = vsl_emit_jmp32(&t->e);
			bt_emit_rsp_add(t, 8);
			vsl_emit_bytes(&t->e, ret8, sizeof(ret8));
			if (other)
				vsl_emit_patch32(other, t->e.p);
			bt_flags_store(t); /* frees RFLAGS for the canonical check (clobbers rax) */
			vsl_emit_bytes(&t->e, ld_r8, sizeof(ld_r8));
		} else {
			bt_flags_store(t);
			vsl_emit_bytes(&t->e, ld_r8, sizeof(ld_r8));
		}
		miss2 = bt_emit_canon_jne(t); /* non-canonical: the executor raises #GP */
		bt_emit_rsp_add(t, 8);
		vsl_emit_store64(&t->e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(rip));
		bt_emit_continue(t);
	}
	/* the executor's handler: on a TLB miss with the flags as they came; not canonical: stored */
	if (miss)
		vsl_emit_patch32(miss, t->e.p);
	t->flags_in_host = in0;
	t->flags_dirty = dirty0;
	bt_emit_helper(t, h);
	if (miss2) {
		vsl_emit_patch32(miss2, t->e.p);
		t->flags_in_host = false;
		t->flags_dirty = false;
		bt_emit_helper(t, h);
	}
	t->bt->st.stack_native++;
	return true;
}

/*
 * JMP rel32 to another page whose instruction there is a plain RET (the
 * kernel's return thunk: every function returns through `jmp
 * __x86_return_thunk`): the RET is emitted right here, saving a look-up per
 * return, behind a guard that the target's page still maps through the code
 * TLB to the same guest-physical page and that page's generation is the one
 * read at translation (the page is marked as code, so any write bumps it).
 * The RET counts as one more instruction of this block (t->extra); when the
 * guard fails the block leaves for the JMP's target as usual, giving that
 * instruction back to bt->left. false (nothing emitted) when not applicable.
 */
static bool bt_emit_jmp_ret(struct bt_tr *t, uint64_t target)
{
	struct vsl_cpu *cpu = t->bt->cpu;
	unsigned ti = (unsigned)((target >> 12) & (VSL_TLB_SIZE - 1));
	const struct vsl_tlb_entry *e = &cpu->tlb_cur->x[ti];

	if (t->mode != VSL_MODE_LONG64 || !t->bmi2 || e->tag != (target & ~0xfffull) ||
	    (target & 0xfff) > 0xfff - 1)
		return false;
	uint64_t tppage = e->paddr & ~0xfffull;
	const uint8_t *p = vsl_phys_ptr(cpu, tppage);
	if (!p || (tppage >> 12) >= cpu->ram_pages || (tppage >> 12) > 0x1fffffff ||
	    p[target & 0xfff] != 0xc3)
		return false;
	vsl_cpu_mark_code(cpu, tppage);
	uint32_t tgen = cpu->code_gen[tppage >> 12];
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&cpu->dec[VSL_MODE_LONG64], p + (target & 0xfff), 1, &zi, ops)) ||
	    zi.mnemonic != ZYDIS_MNEMONIC_RET || zi.operand_count_visible != 0)
		return false;

	/* guard (the flags are stored and the registers written back: leaving either way) */
	int32_t ent = (int32_t)(offsetof(struct vsl_tlb, x) + ti * sizeof(struct vsl_tlb_entry));
	static const uint8_t cmp_jne[] = { 0x48, 0x39, 0xd0, 0x0f, 0x85, 0, 0, 0, 0 }; /* cmp rax,rdx; jne rel32 */
	static const uint8_t and_page[] = { 0x48, 0x25, 0x00, 0xf0, 0xff, 0xff };     /* and rax, -4096 */
	uint8_t *fail[3] = { NULL, NULL, NULL };
	bt_rc_writeback(t);
	bt_flags_store(t);
	t->flags_in_host = false;
	vsl_emit_load64(&t->e, VSL_H_RCX, VSL_H_RBX, CPU_OFF(tlb_cur));
	vsl_emit_load64(&t->e, VSL_H_RAX, VSL_H_RCX, ent + (int32_t)offsetof(struct vsl_tlb_entry, tag));
	vsl_emit_mov_imm(&t->e, VSL_H_RDX, target & ~0xfffull);
	vsl_emit_bytes(&t->e, cmp_jne, sizeof(cmp_jne));
	fail[0] = t->e.full ? NULL : t->e.p - 4;
	vsl_emit_load64(&t->e, VSL_H_RAX, VSL_H_RCX, ent + (int32_t)offsetof(struct vsl_tlb_entry, paddr));
	vsl_emit_bytes(&t->e, and_page, sizeof(and_page));
	vsl_emit_mov_imm(&t->e, VSL_H_RDX, tppage);
	vsl_emit_bytes(&t->e, cmp_jne, sizeof(cmp_jne));
	fail[1] = t->e.full ? NULL : t->e.p - 4;
	vsl_emit_load64(&t->e, VSL_H_RCX, VSL_H_RBX, CPU_OFF(code_gen));
	vsl_emit_load64(&t->e, VSL_H_RAX, VSL_H_RCX, (int32_t)((tppage >> 12) * 4)); /* (upper half: don't care) */
	vsl_emit_mov_imm(&t->e, VSL_H_RDX, tgen);
	static const uint8_t cmp32_jne[] = { 0x39, 0xd0, 0x0f, 0x85, 0, 0, 0, 0 };   /* cmp eax,edx; jne rel32 */
	vsl_emit_bytes(&t->e, cmp32_jne, sizeof(cmp32_jne));
	fail[2] = t->e.full ? NULL : t->e.p - 4;

	/* the RET, translated as an instruction of this block at the target */
	uint64_t rip0 = t->rip, next0 = t->next, paddr0 = t->paddr;
	uint32_t idx0 = t->idx, gen0 = t->gen;
	bool ends = false;
	t->rip = target;
	t->next = target + 1;
	t->paddr = tppage | (target & 0xfff);
	t->idx = idx0 + 1;
	t->gen = tgen;
	bool ok = bt_emit_stack(t, &zi, ops, &ends);
	t->rip = rip0;
	t->next = next0;
	t->paddr = paddr0;
	t->idx = idx0;
	t->gen = gen0;
	if (!ok)
		return false; /* metadata full: the caller's exit below still runs (guard emitted: harmless) */
	/* guard failed: give the RET back to bt->left, leave for the JMP's target */
	for (int k = 0; k < 3; k++)
		if (fail[k])
			vsl_emit_patch32(fail[k], t->e.p);
	if (t->hostflags) {
		static const uint8_t inc_r15[] = { 0x4d, 0x8d, 0x7f, 0x01 }; /* lea r15, [r15 + 1] */
		vsl_emit_bytes(&t->e, inc_r15, sizeof(inc_r15));
	} else {
		static const uint8_t inc_left[] = { 0x48, 0xff, 0x00 }; /* inc qword [rax] */
		vsl_emit_mov_imm(&t->e, VSL_H_RAX, (uint64_t)(uintptr_t)&t->bt->left);
		vsl_emit_bytes(&t->e, inc_left, sizeof(inc_left));
	}
	bt_emit_exit(t, target, target);
	t->extra = 1;
	t->bt->st.ret_inlined++;
	return true;
}

/*
 * The executor's instruction for an indirect branch that ends the block (a
 * near branch: the helper continues through bt_indirect), with the
 * registers and flags stored so the code before it may clobber them.
 */
static struct bt_hinsn *bt_branch_hinsn(struct bt_tr *t, const ZydisDecodedInstruction *zi,
					const ZydisDecodedOperand *ops)
{
	struct bt_hinsn *h = bt_new_hinsn(t, zi, ops);

	if (!h)
		return NULL;
	h->ends = true;
	h->cont = true;
	bt_rc_flush(t);
	bt_flags_store(t);
	t->flags_in_host = false;
	return h;
}

/*
 * CALL r64 / CALL m64 in 64-bit code: the target (through the inline TLB
 * look-up for m64) checked canonical, the return address pushed through
 * the look-up, then as a direct CALL with the target looked up by
 * bt_indirect. Anything that could fault (a miss, a non-canonical target)
 * runs the executor's handler for the whole instruction instead (nothing
 * has changed by then). false when not one.
 */
static bool bt_emit_call_indirect(struct bt_tr *t, const ZydisDecodedInstruction *zi,
				  const ZydisDecodedOperand *ops)
{
	static const uint8_t ld_r8[] = { 0x49, 0x8b, 0x00 };   /* mov rax, [r8] */
	static const uint8_t st_r8[] = { 0x49, 0x89, 0x00 };   /* mov [r8], rax */
	const ZydisDecodedOperand *m = &ops[0];
	ZydisDecodedOperand sp;
	bool high, mem = m->type == ZYDIS_OPERAND_TYPE_MEMORY;
	int g = -1;

	if (zi->machine_mode != ZYDIS_MACHINE_MODE_LONG_64 || zi->operand_width != 64 || !t->bmi2 ||
	    zi->operand_count_visible != 1)
		return false;
	if (mem) {
		if (m->mem.type != ZYDIS_MEMOP_TYPE_MEM || m->size != 64 || !bt_mem_regs_ok(m))
			return false;
	} else if (m->type == ZYDIS_OPERAND_TYPE_REGISTER &&
		   ZydisRegisterGetClass(m->reg.value) == ZYDIS_REGCLASS_GPR64) {
		g = bt_gpr_index(m->reg.value, &high);
	} else {
		return false;
	}
	struct bt_hinsn *h = bt_branch_hinsn(t, zi, ops);
	if (!h)
		return false;
	uint8_t *miss[3] = { NULL, NULL, NULL };
	if (mem) {
		miss[0] = bt_emit_tlb(t, zi->address_width == 32, m, false, true);
		vsl_emit_bytes(&t->e, ld_r8, sizeof(ld_r8));
	} else {
		vsl_emit_load64(&t->e, VSL_H_RAX, VSL_H_RBX, GPR_OFF(g));
	}
	miss[1] = bt_emit_canon_jne(t);
	vsl_emit_store64(&t->e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(rip)); /* (the handler sets RIP itself) */
	sp = bt_stack_slot(-8);
	miss[2] = bt_emit_tlb(t, false, &sp, true, true);
	vsl_emit_mov_imm(&t->e, VSL_H_RAX, t->next);
	vsl_emit_bytes(&t->e, st_r8, sizeof(st_r8));
	bt_emit_rsp_add(t, -8);
	bt_emit_call_exit(t, 0, true);
	for (int k = 0; k < 3; k++)
		if (miss[k])
			vsl_emit_patch32(miss[k], t->e.p);
	t->flags_in_host = false;
	t->flags_dirty = false;
	bt_emit_helper(t, h);
	t->bt->st.stack_native++;
	return true;
}

/*
 * Branches in 64-bit mode: CALL r/m64, JMP r/m64 and JMP rel end the block;
 * Jcc rel (with BMI2) is a side exit and sets t->cont. false when not one.
 */
static bool bt_emit_branch(struct bt_tr *t, const ZydisDecodedInstruction *zi,
			   const ZydisDecodedOperand *ops, uint64_t rip)
{
	ZyanU64 target;
	bool jmp = zi->mnemonic == ZYDIS_MNEMONIC_JMP;

	if (zi->mnemonic == ZYDIS_MNEMONIC_CALL)
		return bt_emit_call_indirect(t, zi, ops);
	if (jmp && zi->machine_mode == ZYDIS_MACHINE_MODE_LONG_64 && zi->operand_width == 64 &&
	    zi->operand_count_visible == 1 && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
	    ZydisRegisterGetClass(ops[0].reg.value) == ZYDIS_REGCLASS_GPR64) {
		/* JMP r64: continue through bt_indirect; a non-canonical target goes to the executor (#GP) */
		bool high;
		int g = bt_gpr_index(ops[0].reg.value, &high);
		struct bt_hinsn *h = bt_branch_hinsn(t, zi, ops);
		if (!h)
			return false;
		bt_rc_copy(t, VSL_H_RAX, g);
		uint8_t *slow = bt_emit_canon_jne(t);
		vsl_emit_store64(&t->e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(rip));
		bt_emit_continue(t);
		if (slow)
			vsl_emit_patch32(slow, t->e.p);
		bt_emit_helper(t, h);
		return true;
	}
	if (jmp && zi->machine_mode == ZYDIS_MACHINE_MODE_LONG_64 && zi->operand_width == 64 && t->bmi2 &&
	    zi->operand_count_visible == 1 && ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY &&
	    ops[0].mem.type == ZYDIS_MEMOP_TYPE_MEM && ops[0].size == 64) {
		/*
		 * JMP m64 (jump tables): the target through the inline TLB
		 * look-up, then as JMP r64; a miss or a non-canonical target
		 * runs the executor's handler (which continues through
		 * bt_indirect when it can).
		 */
		static const uint8_t ld_r8[] = { 0x49, 0x8b, 0x00 }; /* mov rax, [r8] */
		const ZydisDecodedOperand *m = &ops[0];
		if (!bt_mem_regs_ok(m))
			return false;
		struct bt_hinsn *h = bt_branch_hinsn(t, zi, ops);
		if (!h)
			return false;
		uint8_t *miss = bt_emit_tlb(t, zi->address_width == 32, m, false, true);
		vsl_emit_bytes(&t->e, ld_r8, sizeof(ld_r8));
		uint8_t *slow = bt_emit_canon_jne(t);
		vsl_emit_store64(&t->e, VSL_H_RAX, VSL_H_RBX, CPU_OFF(rip));
		bt_emit_continue(t);
		if (miss)
			vsl_emit_patch32(miss, t->e.p);
		if (slow)
			vsl_emit_patch32(slow, t->e.p);
		bt_emit_helper(t, h);
		t->bt->st.mem_native++;
		return true;
	}
	if (zi->machine_mode != ZYDIS_MACHINE_MODE_LONG_64 || zi->operand_width != 64 ||
	    zi->operand_count_visible != 1 || ops[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE ||
	    !ops[0].imm.is_relative)
		return false;
	if (!jmp) {
		if (zi->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && zi->opcode >= 0x70 && zi->opcode <= 0x7f)
			;
		else if (zi->opcode_map == ZYDIS_OPCODE_MAP_0F && zi->opcode >= 0x80 && zi->opcode <= 0x8f)
			;
		else
			return false;
	}
	if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(zi, &ops[0], rip, &target)) || !bt_canonical(target))
		return false;
	if (jmp) {
		if (((target ^ t->blk->lin) & ~0xfffull) && bt_emit_jmp_ret(t, target))
			return true;
		bt_emit_exit(t, target, target);
		return true;
	}
	bt_flags_load(t);
	uint8_t *rel = vsl_emit_jcc32(&t->e, zi->opcode & 15);
	if (t->hostflags && t->nside < BT_MAX_INSNS) {
		/* taken: a side exit; not taken: the block goes on */
		struct bt_side *sd = &t->side[t->nside++];
		sd->rel = rel;
		sd->target = target;
		sd->idx = t->idx;
		memcpy(sd->rc_guest, t->rc_guest, sizeof(sd->rc_guest));
		memcpy(sd->rc_dirty, t->rc_dirty, sizeof(sd->rc_dirty));
		sd->flags_dirty = t->flags_dirty;
		t->cont = true;
		return true;
	}
	bt_emit_exit(t, rip + zi->length, rip + zi->length);
	if (rel)
		vsl_emit_patch32(rel, t->e.p);
	bt_emit_exit(t, target, target);
	return true;
}

/* helper instructions after which the block must stop (mode, mapping or interrupt changes) */
static bool bt_ends_block(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops)
{
	if (zi->meta.branch_type != ZYDIS_BRANCH_TYPE_NONE)
		return true;
	switch (zi->meta.category) {
	case ZYDIS_CATEGORY_IO: case ZYDIS_CATEGORY_IOSTRINGOP:
	case ZYDIS_CATEGORY_INTERRUPT: case ZYDIS_CATEGORY_SYSCALL: case ZYDIS_CATEGORY_SYSRET:
	case ZYDIS_CATEGORY_RET: case ZYDIS_CATEGORY_CALL: case ZYDIS_CATEGORY_UNCOND_BR:
	case ZYDIS_CATEGORY_COND_BR: case ZYDIS_CATEGORY_SEGOP:
		return true;
	default:
		break;
	}
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_POPF: case ZYDIS_MNEMONIC_POPFD: case ZYDIS_MNEMONIC_POPFQ:
	case ZYDIS_MNEMONIC_STI: case ZYDIS_MNEMONIC_CLI: case ZYDIS_MNEMONIC_HLT:
	case ZYDIS_MNEMONIC_LSS: case ZYDIS_MNEMONIC_LFS: case ZYDIS_MNEMONIC_LGS:
	case ZYDIS_MNEMONIC_WRMSR: case ZYDIS_MNEMONIC_INVLPG: case ZYDIS_MNEMONIC_SWAPGS:
	case ZYDIS_MNEMONIC_LGDT: case ZYDIS_MNEMONIC_LIDT: case ZYDIS_MNEMONIC_LLDT:
	case ZYDIS_MNEMONIC_LTR: case ZYDIS_MNEMONIC_LMSW: case ZYDIS_MNEMONIC_CLTS:
	case ZYDIS_MNEMONIC_INVPCID: case ZYDIS_MNEMONIC_WBINVD: case ZYDIS_MNEMONIC_INVD:
	case ZYDIS_MNEMONIC_RSM: case ZYDIS_MNEMONIC_XSETBV: case ZYDIS_MNEMONIC_MONITOR:
	case ZYDIS_MNEMONIC_MWAIT: case ZYDIS_MNEMONIC_SYSENTER: case ZYDIS_MNEMONIC_SYSEXIT:
	case ZYDIS_MNEMONIC_SYSCALL: case ZYDIS_MNEMONIC_SYSRET: case ZYDIS_MNEMONIC_IRET:
	case ZYDIS_MNEMONIC_IRETD: case ZYDIS_MNEMONIC_IRETQ: case ZYDIS_MNEMONIC_INT:
	case ZYDIS_MNEMONIC_INT1: case ZYDIS_MNEMONIC_INT3: case ZYDIS_MNEMONIC_INTO:
	case ZYDIS_MNEMONIC_UD0: case ZYDIS_MNEMONIC_UD1: case ZYDIS_MNEMONIC_UD2:
	case ZYDIS_MNEMONIC_XRSTOR: case ZYDIS_MNEMONIC_XRSTOR64: case ZYDIS_MNEMONIC_XRSTORS:
	case ZYDIS_MNEMONIC_XRSTORS64:
		return true;
	default:
		break;
	}
	/* MOV to/from segment, control and debug registers; POP seg */
	for (unsigned i = 0; i < zi->operand_count; i++)
		if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER) {
			ZydisRegisterClass c = ZydisRegisterGetClass(ops[i].reg.value);
			if (c == ZYDIS_REGCLASS_SEGMENT || c == ZYDIS_REGCLASS_CONTROL ||
			    c == ZYDIS_REGCLASS_DEBUG)
				return true;
		}
	return false;
}

/* ------------------------------------------------------------------ */
/* translation */

/* what bt_emit_body produced: its instructions (0: none), where the chain entry and its budget immediates are */
struct bt_body {
	unsigned n, native, off;
	uint8_t *chain, *cmp_imm, *sub_imm;
};

/*
 * The entry of a block whose registers in t->rc_home (the loop's) are loaded
 * once and carried around its back edges (bt_emit_back_edge): after the
 * dispatcher's flag load, the chain entry loads them and the loop head
 * checks the budget; the back edges jump to the loop head.
 */
static void bt_emit_home_loads(struct bt_tr *t)
{
	for (int g = 0; g < 16; g++)
		if (t->rc_home[g] >= 0) {
			int i = t->rc_home[g];
			vsl_emit_load64(&t->e, bt_cache_host[i], VSL_H_RBX, GPR_OFF(g));
			t->rc_guest[i] = (int8_t)g;
			t->rc_slot[g] = (int8_t)i;
			t->rc_dirty[i] = true; /* the loop may write them: every exit stores them */
		}
}

/*
 * The block's code from its entry up to its exits, slow paths and side
 * exits (t initialised); o->n is 0 when nothing could be translated. The
 * chain entry's budget immediates are left to patch.
 */
static void bt_emit_body(struct bt_tr *t, uint64_t rip, uint64_t lin, uint64_t paddr, const uint8_t *page,
			 struct bt_body *o)
{
	struct vsl_bt *bt = t->bt;
	struct vsl_cpu *cpu = bt->cpu;
	int mode = t->mode;
	uint64_t cur = rip;
	unsigned off = (unsigned)(lin & 0xfff), n = 0, native = 0;
	bool ended = false;

	bt_rc_reset(t);
	/*
	 * chain entry: if (bt->left < N) return at this rip; bt->left -= N
	 * (N, the block's length, is patched in at the end)
	 */
	uint8_t *chain, *cmp_imm = NULL, *sub_imm = NULL, *jge = NULL;
	static const uint8_t cmp_q[] = { 0x48, 0x81, 0x38 }, sub_q[] = { 0x48, 0x81, 0x28 };
	if (t->hostflags) {
		/*
		 * The guest flags travel in the host RFLAGS: load them on entry
		 * from the dispatcher; the budget check must not touch them:
		 *	left -= N; if (sign of left) { left += N; store flags; return }
		 */
		static const uint8_t chk[] = {
			0x4d, 0x8d, 0xbf, 0, 0, 0, 0,     /* lea r15, [r15 - N] */
			0xba, 63, 0, 0, 0,                /* mov edx, 63 */
			0xc4, 0xc2, 0xeb, 0xf7, 0xcf,     /* shrx rcx, r15, rdx */
			0xe3, 0,                          /* jrcxz body */
		};
		static const uint8_t undo[] = {
			0x4d, 0x8d, 0xbf, 0, 0, 0, 0,     /* lea r15, [r15 + N] */
		};
		t->flags_in_host = false;
		t->flags_dirty = false;
		bt_flags_load(t);
		chain = t->e.p;
		bt_emit_home_loads(t);
		t->loop_head = t->e.p;
		vsl_emit_bytes(&t->e, chk, sizeof(chk));
		uint8_t *jr = t->e.full ? NULL : t->e.p - 1;
		sub_imm = t->e.full ? NULL : t->e.p - sizeof(chk) + 3;
		vsl_emit_bytes(&t->e, undo, sizeof(undo));
		cmp_imm = t->e.full ? NULL : t->e.p - sizeof(undo) + 3;
		bt_rc_writeback(t);
		t->flags_in_host = true;
		t->flags_dirty = true;
		bt_flags_store(t);
		vsl_emit_mov_imm(&t->e, VSL_H_RCX, rip);
		vsl_emit_store64(&t->e, VSL_H_RCX, VSL_H_RBX, CPU_OFF(rip));
		vsl_emit_mov_imm(&t->e, VSL_H_RAX, 0);
		bt_emit_ret(t);
		if (jr && !t->e.full)
			*jr = (uint8_t)(t->e.p - (jr + 1));
		t->flags_in_host = true;
		t->flags_dirty = true;
		goto body;
	}
	chain = t->e.p;
	vsl_emit_mov_imm(&t->e, VSL_H_RAX, (uint64_t)(uintptr_t)&bt->left);
	vsl_emit_bytes(&t->e, cmp_q, 3);
	cmp_imm = t->e.p;
	vsl_emit_u32(&t->e, 0);
	vsl_emit_u8(&t->e, 0x7d);  /* jge rel8 */
	jge = t->e.p;
	vsl_emit_u8(&t->e, 0);
	vsl_emit_mov_imm(&t->e, VSL_H_RCX, rip);
	vsl_emit_store64(&t->e, VSL_H_RCX, VSL_H_RBX, CPU_OFF(rip));
	vsl_emit_mov_imm(&t->e, VSL_H_RAX, 0);
	bt_emit_ret(t);
	if (!t->e.full)
		*jge = (uint8_t)(t->e.p - (jge + 1));
	vsl_emit_bytes(&t->e, sub_q, 3);
	sub_imm = t->e.p;
	vsl_emit_u32(&t->e, 0);
body:
	while (n < BT_MAX_INSNS && !ended) {
		ZydisDecodedInstruction zi;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
		unsigned avail = 0x1000 - off;
		uint64_t next;

		if (mode != VSL_MODE_LONG64 && mode != VSL_MODE_REAL && cur > cpu->seg[VSL_CS].limit)
			break;
		if (t->nside && bt_block_starts(bt, cur, lin + (cur - rip), (paddr & ~0xfffull) + off, mode, t->gen,
						t->sse_ok))
			break; /* past a side exit, into code translated already: chain to it */
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&cpu->dec[mode], page + off,
							 avail < 15 ? avail : 15, &zi, ops)))
			break; /* undecodable or crossing the page: the executor raises the fault */
		next = cur + zi.length;
		if (mode != VSL_MODE_LONG64)
			next &= zi.operand_width == 16 && mode == VSL_MODE_REAL ? 0xffffull : 0xffffffffull;
		t->rip = cur;
		t->next = next;
		t->idx = n;
		t->paddr = (paddr & ~0xfffull) + off;
		t->insn_regs = 0;
		if (bt_emit_native(t, &zi, ops, next)) {
			native++;
		} else if (bt_emit_sreg_read(t, &zi, ops)) {
			native++;
		} else if (bt_emit_branch(t, &zi, ops, cur)) {
			native++;
			ended = !t->cont;
			t->cont = false;
			n += t->extra;   /* a RET inlined from the JMP's target page */
			native += t->extra;
		} else if (bt_emit_stack(t, &zi, ops, &ended)) {
			native++;
		} else if (bt_emit_sse(t, &zi, ops)) {
			native++;
		} else if (bt_emit_rdtsc(t, &zi, ops) || bt_emit_div(t, &zi, ops)) {
			native++;
		} else {
			struct bt_hinsn *h = bt_new_hinsn(t, &zi, ops);
			if (!h)
				break;
			bt_rc_flush(t);
			h->ends = bt_ends_block(&zi, ops) || next != cur + zi.length;
			/* near jumps, calls and returns the executor ran: continue in code when possible */
			h->cont = h->ends &&
				  (zi.meta.branch_type == ZYDIS_BRANCH_TYPE_SHORT ||
				   zi.meta.branch_type == ZYDIS_BRANCH_TYPE_NEAR) &&
				  (zi.meta.category == ZYDIS_CATEGORY_UNCOND_BR ||
				   zi.meta.category == ZYDIS_CATEGORY_COND_BR ||
				   zi.meta.category == ZYDIS_CATEGORY_CALL ||
				   zi.meta.category == ZYDIS_CATEGORY_RET);
			bt_emit_helper(t, h);
			ended = h->ends;
		}
		if (n < BT_MAX_INSNS)
			t->regs_of[n] = t->insn_regs;
		n++;
		cur = next;
		off += zi.length;
		if (off >= 0x1000)
			break;
	}
	o->n = 0;
	if (n == 0 || t->e.full)
		return;
	if (!ended)
		bt_emit_exit(t, cur, mode == VSL_MODE_LONG64 ? cur : lin + (cur - rip));
	bt_emit_side_exits(t, n);
	bt_emit_slow_paths(t);
	if (t->e.full)
		return;
	o->n = n;
	o->native = native;
	o->off = off;
	o->chain = chain;
	o->cmp_imm = cmp_imm;
	o->sub_imm = sub_imm;
}

/*
 * Registers to carry around the back edges of a block that jumps to its
 * own start (t: its first translation): the most used ones, as many as
 * leave every instruction enough cache slots for its other registers.
 * False when none qualifies.
 */
static bool bt_pick_home(const struct bt_tr *t, unsigned n, int8_t *home)
{
	int order[16], nr = 0;

	for (int g = 0; g < 16; g++) {
		home[g] = -1;
		if (g != VSL_RSP && t->uses[g])
			order[nr++] = g;
	}
	for (int a = 1; a < nr; a++)
		for (int c = a; c > 0 && t->uses[order[c]] > t->uses[order[c - 1]]; c--) {
			int x = order[c];
			order[c] = order[c - 1];
			order[c - 1] = x;
		}
	for (int k = nr < BT_NCACHE ? nr : BT_NCACHE; k > 0; k--) {
		unsigned set = 0;
		int most = 0;
		for (int j = 0; j < k; j++)
			set |= 1u << order[j];
		for (unsigned i = 0; i < n && i < BT_MAX_INSNS; i++) {
			int c = __builtin_popcount(t->regs_of[i] & ~set);
			if (c > most)
				most = c;
		}
		if (k + most <= BT_NCACHE) {
			for (int j = 0; j < k; j++)
				home[order[j]] = (int8_t)j;
			return true;
		}
	}
	return false;
}

static struct bt_block *bt_translate(struct vsl_bt *bt, uint64_t rip, uint64_t lin, uint64_t paddr,
				     int mode, unsigned slot)
{
	struct vsl_cpu *cpu = bt->cpu;
	const uint8_t *page = vsl_phys_ptr(cpu, paddr & ~0xfffull);
	struct bt_tr tr, *t = &tr;
	struct bt_block *b;
	struct bt_body o;
	uint32_t gen = cpu->code_gen[paddr >> 12];

	if (!page)
		return NULL;
	if (BT_CODE_SIZE - bt->code_used < 2 * BT_MAX_INSNS * BT_MAX_HOST_PER_INSN + 256 ||
	    BT_META_SIZE - bt->meta_used < 2 * (BT_MAX_INSNS + 1) * (sizeof(struct bt_hinsn) + 64))
		vsl_bt_flush(bt);
	b = bt_meta_alloc(bt, sizeof(*b));
	if (!b)
		return NULL;
	*b = (struct bt_block){ .rip = rip, .lin = lin, .paddr = paddr, .gen = gen,
		.cs_limit = cpu->seg[VSL_CS].limit, .mode = (uint8_t)mode };
	size_t meta0 = bt->meta_used;
	struct vsl_bt_stats st0 = bt->st;
	int8_t home[16];
	for (int pass = 0; pass < 2; pass++) {
		memset(t, 0, sizeof(*t));
		t->bt = bt;
		t->bmi2 = t->hostflags = bt->bmi2;
		t->mode = mode;
		t->blk = b;
		t->gen = gen;
		b->sse_ok = t->sse_ok = bt_sse_usable(cpu);
		b->user = t->user = cpu->cpl == 3;
		t->e.p = bt->rw + bt->code_used;
		t->e.end = bt->rw + BT_CODE_SIZE;
		memset(t->rc_home, -1, sizeof(t->rc_home));
		if (pass == 1) {
			/* a loop: translate it again with its busiest registers carried around */
			memcpy(t->rc_home, home, sizeof(home));
			for (int g = 0; g < 16; g++)
				if (home[g] >= 0)
					t->home_mask |= 1u << home[g];
			t->loop = true;
		}
		bt_emit_body(t, rip, lin, paddr, page, &o);
		if (o.n == 0) {
			if (t->e.full)
				vsl_bt_flush(bt);
			return NULL;
		}
		if (pass == 1 || !t->self_loop || !t->hostflags || mode != VSL_MODE_LONG64 ||
		    !bt_pick_home(t, o.n, home))
			break;
		bt->meta_used = meta0;
		bt->st = st0;
		bt->st.loops++;
	}
	unsigned n = o.n;
	b->ninsn = (uint16_t)n;
	for (unsigned k = 0; k < t->ntsc; k++) {
		int32_t rel = (int32_t)t->tsc_idx[k] - (int32_t)n;
		memcpy(t->tsc_fix[k], &rel, 4);
	}
	if (t->hostflags) {
		int32_t neg = -(int32_t)n;
		memcpy(o.sub_imm, &neg, 4);
		memcpy(o.cmp_imm, &n, 4);
	} else {
		memcpy(o.cmp_imm, &n, 4);
		memcpy(o.sub_imm, &n, 4);
	}
	b->chain = o.chain;
	b->code = bt->rx + bt->code_used;
#ifdef VSL_BT_PERFMAP
	/* profiling aid (build with CFLAGS=-DVSL_BT_PERFMAP): name blocks for perf report */
	{
		static FILE *pm;
		if (!pm) {
			char name[64];
			snprintf(name, sizeof(name), "/tmp/perf-%d.map", (int)getpid());
			pm = fopen(name, "w");
		}
		if (pm)
			fprintf(pm, "%lx %lx bt_%llx_m%d_n%u\n", (unsigned long)(uintptr_t)b->code,
				(unsigned long)(t->e.p - (bt->rw + bt->code_used)), (unsigned long long)rip, mode, n);
		/* and the guest and host bytes of each block, for objdump -b binary */
		static FILE *bf;
		if (!bf) {
			char name[64];
			snprintf(name, sizeof(name), "/tmp/bt-blocks-%d.txt", (int)getpid());
			bf = fopen(name, "w");
		}
		if (bf) {
			fprintf(bf, "bt_%llx_m%d_n%u ", (unsigned long long)rip, mode, n);
			for (unsigned k = (unsigned)(lin & 0xfff); k < o.off && k < 0x1000; k++)
				fprintf(bf, "%02x", page[k]);
			fprintf(bf, " ");
			for (const uint8_t *q = bt->rw + bt->code_used; q < t->e.p; q++)
				fprintf(bf, "%02x", *q);
			fprintf(bf, "\n");
		}
	}
#endif
	bt->code_used = VSL_ALIGN_UP((size_t)(t->e.p - bt->rw), 16);
	b->next = bt->hash[slot];
	bt->hash[slot] = b;
	vsl_cpu_mark_code(cpu, paddr & ~0xfffull);
	bt->st.blocks_translated++;
	bt->st.insns_translated += n;
	bt->st.insns_native += o.native;
	return b;
}

static inline unsigned bt_jc_index(uint64_t lin)
{
	return (unsigned)((lin * 0x9e3779b97f4a7c15ull) >> (64 - BT_JC_BITS));
}

/*
 * The jump cache's entry for the current RIP if it is still valid (64-bit
 * mode: the block key reduces to the linear RIP, the code page's
 * translation through the code TLB, its generation and SSE usability),
 * else NULL (then bt_lookup decides).
 */
static inline const struct bt_jc *bt_jc_find(struct vsl_bt *bt, const struct vsl_cpu *cpu)
{
	uint64_t lin = cpu->rip;
	const struct bt_jc *j = &bt->jc[bt_jc_index(lin)];

	if (j->lin != lin || cpu->mode != VSL_MODE_LONG64)
		return NULL;
	const struct vsl_tlb_entry *e = &cpu->tlb_cur->x[(lin >> 12) & (VSL_TLB_SIZE - 1)];
	if (e->tag != (lin & ~0xfffull) || (e->paddr & ~0xfffull) != (j->pkey & ~0xfffull) ||
	    cpu->code_gen[j->pkey >> 12] != j->gen || !(j->chain & BT_JC_SSE) != !bt_sse_usable(cpu) ||
	    !(j->chain & BT_JC_USER) != (cpu->cpl != 3))
		return NULL;
	return j;
}

static void bt_jc_fill(struct vsl_bt *bt, const struct bt_block *b)
{
	struct bt_jc *j = &bt->jc[bt_jc_index(b->lin)];

	*j = (struct bt_jc){
		.lin = b->lin,
		.pkey = (b->paddr & ~0xfffull) | b->ninsn,
		.b = (struct bt_block *)b,
		.gen = b->gen,
		.chain = (uint32_t)(b->chain - bt->rw) | (b->sse_ok ? BT_JC_SSE : 0) | (b->user ? BT_JC_USER : 0),
	};
}

/* The block for the current RIP, translating it if needed; NULL: use the executor. */
static struct bt_block *bt_lookup(struct vsl_bt *bt, bool translate)
{
	struct vsl_cpu *cpu = bt->cpu;
	int mode = cpu->mode;
	uint64_t rip = cpu->rip, lin = rip, paddr;

	if (mode != VSL_MODE_LONG64) {
		if (mode != VSL_MODE_REAL && rip > cpu->seg[VSL_CS].limit)
			return NULL;
		lin = (cpu->seg[VSL_CS].base + rip) & 0xffffffffull;
	}
	const struct vsl_tlb_entry *e = &cpu->tlb_cur->x[(lin >> 12) & (VSL_TLB_SIZE - 1)];
	/*
	 * A code TLB miss (every new code page after a CR3 write) is filled
	 * here when the page translates, also for bt_indirect (filling sets
	 * accessed bits at most; it never translates or flushes code); else the
	 * executor's fetch raises the fault.
	 */
	if (e->tag != (lin & ~0xfffull) && (vsl_mmu_fill_code(cpu, lin) || e->tag != (lin & ~0xfffull)))
		return NULL;
	paddr = (e->paddr & ~0xfffull) | (lin & 0xfff);
	if ((paddr >> 12) >= cpu->ram_pages)
		return NULL;
	unsigned slot = bt_hash(lin, mode);
	bool sse = bt_sse_usable(cpu);
	struct bt_block *b, **pp;
	for (pp = &bt->hash[slot]; (b = *pp) != NULL; pp = &b->next) {
		if (!bt_block_is(b, cpu, rip, lin, paddr, mode, sse))
			continue;
		if (__builtin_expect(b->gen == cpu->code_gen[paddr >> 12], 1)) {
			if (pp != &bt->hash[slot]) {
				/* move to the front of its chain */
				*pp = b->next;
				b->next = bt->hash[slot];
				bt->hash[slot] = b;
			}
			if (mode == VSL_MODE_LONG64)
				bt_jc_fill(bt, b);
			return b;
		}
		if (!translate)
			return NULL;
		/* stale (its page was written): unlink it, translate again */
		*pp = b->next;
		bt->st.invalidated++;
		break;
	}
	if (!translate)
		return NULL;
	bt->st.lookups_missed++;
	b = bt_translate(bt, rip, lin, paddr, mode, slot);
	if (b && mode == VSL_MODE_LONG64)
		bt_jc_fill(bt, b);
	return b;
}

/*
 * Point the direct exit x at block b, the one its target led to: an exit
 * within its page when b is in the same page with the same generation (the
 * page's look-up covers both), an exit to another page by patching its
 * guard with b's code TLB entry and generation.
 */
static void bt_chain(struct vsl_bt *bt, struct bt_exit *x, const struct bt_block *b)
{
	const struct vsl_cpu *cpu = bt->cpu;
	const struct bt_block *f = x->from;

	if (f->mode != b->mode || f->cs_limit != b->cs_limit || f->sse_ok != b->sse_ok || f->user != b->user)
		return;
	if (!x->ntag) {
		if (((f->lin ^ b->lin) & ~0xfffull) || ((f->paddr ^ b->paddr) & ~0xfffull) || f->gen != b->gen)
			return;
	} else {
		const struct vsl_tlb_entry *e = &cpu->tlb_cur->x[(b->lin >> 12) & (VSL_TLB_SIZE - 1)];
		if (b->mode != VSL_MODE_LONG64 || e->tag != (b->lin & ~0xfffull) ||
		    (e->paddr & ~0xfffull) != (b->paddr & ~0xfffull) || cpu->code_gen[b->paddr >> 12] != b->gen)
			return;
		uint64_t ntag = ~e->tag, nadd = ~(uint64_t)e->addend;
		uint32_t gpage = (uint32_t)((b->paddr >> 12) * 4), ggen = (uint32_t)-b->gen;
		memcpy(x->ntag, &ntag, 8);
		memcpy(x->nadd, &nadd, 8);
		memcpy(x->gpage, &gpage, 4);
		memcpy(x->ggen, &ggen, 4);
	}
	vsl_emit_patch32(x->rel, b->chain);
	bt->st.chained++;
}

/*
 * Called by translated code at an exit it cannot chain (return, indirect
 * or cross-page target; cpu->rip set, flags stored): the chain entry (RX
 * view) of an existing valid block for cpu->rip, or NULL to return to the
 * dispatcher. Never translates: the calling block's code must survive.
 */
static const uint8_t *bt_indirect(struct vsl_cpu *cpu)
{
	struct vsl_bt *bt = cpu->bt;
	struct bt_block *b;

	if (cpu->kick || cpu->irq_poll || cpu->intr_shadow || cpu->halted || (cpu->rflags & VSL_FL_TF))
		return NULL;
	const struct bt_jc *j = bt_jc_find(bt, cpu);
	if (__builtin_expect(j != NULL, 1)) {
		if ((int64_t)(j->pkey & 0xfff) > bt->left) {
			bt->st.indirect_misses++;
			return NULL;
		}
		bt->st.indirect_hits++;
		b = j->b;
	} else {
		b = bt_lookup(bt, false);
		if (!b || b->ninsn > bt->left) {
			bt->st.indirect_misses++;
			return NULL;
		}
		bt->st.indirect_hits++;
	}
	if (bt->last_exit) {
		/* an exit to another page whose guard failed: chain it to where it led */
		bt_chain(bt, bt->last_exit, b);
		bt->last_exit = NULL;
	}
	return bt->rx + (b->chain - bt->rw);
}

/* ------------------------------------------------------------------ */
/* dispatcher */

/*
 * Measure the virtual TSC as a function of the instruction count for the
 * run about to start (at most budget instructions, with the clock's other
 * terms fixed meanwhile: halted time is added between runs): with the
 * default 1 GHz TSC it is the clock's ns, whose value at icount, icount + 1
 * and icount + budget must lie on one line; otherwise tsc_ok stays 0 and
 * RDTSC runs the executor's handler.
 */
static void bt_tsc_setup(struct vsl_bt *bt, uint64_t budget)
{
	struct vsl_cpu *cpu = bt->cpu;
	uint64_t ic = cpu->icount;

	bt->tsc_ok = 0;
	if (cpu->env.tsc_khz && cpu->env.tsc_khz != 1000000)
		return;
	if (!cpu->env.now_ns) {
		bt->tsc_k = 1;
		bt->tsc_c = 0;
		bt->tsc_ok = 1;
		return;
	}
	uint64_t ns0 = cpu->env.now_ns(cpu->env.opaque);
	cpu->icount = ic + 1;
	uint64_t ns1 = cpu->env.now_ns(cpu->env.opaque);
	cpu->icount = ic + budget;
	uint64_t nse = cpu->env.now_ns(cpu->env.opaque);
	cpu->icount = ic;
	uint64_t k = ns1 - ns0;
	if (ns1 < ns0 || k > (1u << 20) || budget > (1ull << 40) || nse != ns0 + k * budget)
		return;
	bt->tsc_k = k;
	bt->tsc_c = ns0 - k * ic;
	bt->tsc_ok = 1;
}

int vsl_bt_run(struct vsl_cpu *cpu, uint64_t budget, struct vsl_cpu_exit *ex)
{
	struct vsl_bt *bt = cpu->bt;
	uint64_t done = 0;
	int reason = VSL_CPU_EXIT_BUDGET, rc = 0;
	bool if_prev = false, first = true;
	uint64_t since_poll = 0;   /* instructions run in blocks since the last executor step */
	struct bt_exit *pending = NULL;
	uint64_t pending_flushes = 0;

	cpu->unimpl = NULL;
	bt_tsc_setup(bt, budget);
	while (done < budget) {
		if (cpu->kick) {
			cpu->kick = 0;
			reason = VSL_CPU_EXIT_IRQ_CHECK;
			break;
		}
		bool ifl = cpu->rflags & VSL_FL_IF;
		struct bt_block *b = NULL;
		bool poll = cpu->irq_poll || (ifl && !if_prev) || since_poll >= BT_SLICE;
		if (poll && !first && !cpu->intr_shadow && !cpu->halted && !(cpu->rflags & VSL_FL_TF)) {
			/* the executor's interrupt poll, without an executor step */
			cpu->irq_poll = false;
			since_poll = 0;
			poll = false;
			int x = vsl_cpu_poll_intr(cpu);
			if (x >= 0) {
				reason = x;
				if (x == VSL_CPU_EXIT_ERROR)
					rc = vsl_set_error(cpu->ctx, 0, VSL_ENOTSUP,
							   "cpu: cannot deliver an interrupt at rip %#llx",
							   (unsigned long long)cpu->rip);
				goto out_rc;
			}
		}
		if (!first && !poll && !cpu->intr_shadow && !cpu->halted && !(cpu->rflags & VSL_FL_TF)) {
			const struct bt_jc *j = bt_jc_find(bt, cpu);
			b = j ? j->b : bt_lookup(bt, true);
		}
		if_prev = ifl;
		first = false;
		if (!b || b->ninsn > budget - done) {
			pending = NULL;
			/* one instruction through the executor (polls interrupts first) */
			struct vsl_cpu_exit e2;
			rc = vsl_interp_run(cpu, 1, &e2);
			done += e2.executed;
			bt->st.interp_steps += e2.executed;
			since_poll = 0;
			if (e2.reason != VSL_CPU_EXIT_BUDGET) {
				reason = e2.reason;
				goto out_rc;
			}
			continue;
		}
		if (pending && bt->st.flushes != pending_flushes)
			pending = NULL; /* the cache was flushed while translating b */
		if (pending) {
			/* the direct exit just taken leads here: chain it */
			bt_chain(bt, pending, b);
			pending = NULL;
		}
		bt->icount_base = cpu->icount;
		bt->st.block_runs++;
		uint64_t slice = budget - done;
		if (slice > BT_SLICE - since_poll)
			slice = BT_SLICE - since_poll;
		if (slice < b->ninsn)
			slice = b->ninsn;
		bt->left = bt->left0 = (int64_t)slice;
		bt->ic_end = bt->icount_base + slice;
		bt->last_exit = NULL;
		int r = bt->enter(cpu, b->code);
		uint64_t n = (uint64_t)(bt->left0 - bt->left);
		cpu->icount = bt->icount_base + n;
		done += n;
		since_poll += n;
		pending = r >= 0 ? bt->last_exit : NULL;
		pending_flushes = bt->st.flushes;
		if (r >= 0 || !bt->exit_fault)
			continue;
		/* an exception inside the block: as the executor's run loop does it */
		bt->st.faults++;
		if (cpu->unimpl) {
			cpu->rip = bt->exit_rip;
			struct vsl_cpu_exit e2;
			/* let the executor produce its error message for this instruction */
			rc = vsl_interp_run(cpu, 1, &e2);
			reason = e2.reason == VSL_CPU_EXIT_BUDGET ? VSL_CPU_EXIT_ERROR : e2.reason;
			if (reason == VSL_CPU_EXIT_ERROR && !rc)
				rc = vsl_set_error(cpu->ctx, 0, VSL_ENOTSUP, "cpu: unimplemented instruction at rip %#llx",
						   (unsigned long long)cpu->rip);
			goto out_rc;
		}
		if (!cpu->exc_soft && !cpu->exc_trap) {
			cpu->rip = bt->exit_rip;
		} else {
			cpu->icount++;
			done++;
		}
		cpu->st.exceptions++;
		int x = vsl_cpu_deliver(cpu, cpu->exc_vector, cpu->exc_has_error, cpu->exc_error,
					cpu->exc_soft, false);
		if (x == -1) {
			reason = VSL_CPU_EXIT_SHUTDOWN;
			break;
		}
		if (x) {
			reason = VSL_CPU_EXIT_ERROR;
			rc = vsl_set_error(cpu->ctx, 0, VSL_ENOTSUP, "cpu: cannot deliver exception %d at rip %#llx",
					   cpu->exc_vector, (unsigned long long)cpu->rip);
			break;
		}
	}
out_rc:
	if (ex) {
		ex->reason = reason;
		ex->executed = done;
	}
	return rc;
}
