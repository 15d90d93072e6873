/*
 * Page faults: error code and CR2 for not-present, write to read-only,
 * user access to a supervisor page, NX fetch, reserved bit set, and an
 * instruction fetch that crosses into a not-present page. PTEs are edited
 * in place (PTE() from guest.h) and flushed with INVLPG.
 */
#include "tests/diff/guest.h"

#define PG_RO   (DIFF_SCRATCH + 0x1000)
#define PG_NP   (DIFF_SCRATCH + 0x2000)
#define PG_RSV  (DIFF_SCRATCH + 0x3000)
#define PG_X    (DIFF_SCRATCH + 0x4000)   /* made executable; next page not present */
#define PG_X2   (DIFF_SCRATCH + 0x5000)

	.text
	.code64
	.globl _start
_start:
	GUEST_INIT

	/* not present, read, supervisor: error 0 */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	mov 0x10, %rax
	FAIL 0x10
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x11
	CHECK_REC DIFF_REC_ERROR, 0, 0x12
	CHECK_REC DIFF_REC_CR2, 0x10, 0x13

	/* not present, write: error W (2) */
	andq $~DIFF_PTE_P, PTE(PG_NP)
	invlpg PG_NP
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	movq $5, PG_NP + 0x18
	FAIL 0x20
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x21
	CHECK_REC DIFF_REC_ERROR, 2, 0x22
	CHECK_REC DIFF_REC_CR2, (PG_NP + 0x18), 0x23

	/* write to a read-only page at CPL 0 with CR0.WP=1: error P|W (3) */
	andq $~DIFF_PTE_W, PTE(PG_RO)
	invlpg PG_RO
	mov PG_RO, %rax                      /* reading is fine */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	movl $1, PG_RO + 0x7fe
	FAIL 0x30
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x31
	CHECK_REC DIFF_REC_ERROR, 3, 0x32
	CHECK_REC DIFF_REC_CR2, (PG_RO + 0x7fe), 0x33
	CHECK (PG_RO + 0x7fe), 0, (0x34        /* nothing was written */)

	/* fetch from an NX page: error P|I/D (0x11), saved RIP = CR2 */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	movb $0xc3, DIFF_SCRATCH + 0x40      /* ret */
	mov $DIFF_SCRATCH + 0x40, %rax
	call *%rax
	FAIL 0x50
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x51
	CHECK_REC DIFF_REC_ERROR, 0x11, 0x52
	CHECK_REC DIFF_REC_CR2, (DIFF_SCRATCH + 0x40), 0x53
	CHECK_REC DIFF_REC_RIP, (DIFF_SCRATCH + 0x40), 0x54
	add $8, %rsp                         /* drop the call's return address */

	/* reserved bit (51) in a present PTE: error P|RSVD (9) on read */
	movabs $(1 << 51), %rax
	or %rax, PTE(PG_RSV)
	invlpg PG_RSV
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	mov PG_RSV + 8, %rax
	FAIL 0x40
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x41
	CHECK_REC DIFF_REC_ERROR, 9, 0x42
	CHECK_REC DIFF_REC_CR2, (PG_RSV + 8), 0x43

	/*
	 * Fetch across a page boundary: a 10-byte MOVABS starts 3 bytes before
	 * the end of an executable page whose successor is not present. The
	 * fault is on the second page (CR2 = its base), RIP = the MOVABS.
	 */
	movabs $0x7fffffffffffffff, %rax
	and %rax, PTE(PG_X)                  /* clear NX */
	invlpg PG_X
	andq $~DIFF_PTE_P, PTE(PG_X2)
	invlpg PG_X2
	movw $0xb848, PG_X + 0xffd           /* 48 b8 22 | ... (mov rax, imm64) */
	movb $0x22, PG_X + 0xfff
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	mov $PG_X + 0xffd, %rax
	jmp *%rax
	FAIL 0x60
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x61
	CHECK_REC DIFF_REC_ERROR, 0x10, 0x62
	CHECK_REC DIFF_REC_CR2, PG_X2, 0x63
	CHECK_REC DIFF_REC_RIP, (PG_X + 0xffd), 0x64

	/* CPL 3 reads a supervisor page: P|U (5) */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_read
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x70
	CHECK_REC DIFF_REC_ERROR, 5, 0x71
	CHECK_REC DIFF_REC_CR2, (DIFF_REC + 0x40), 0x72

	/* CPL 3 writes a supervisor page: P|W|U (7) */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_write
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x73
	CHECK_REC DIFF_REC_ERROR, 7, 0x74
	CHECK_REC DIFF_REC_CR2, (DIFF_GDT + 0x100), 0x75

	/* CPL 3 fetches from a supervisor page: P|U|I/D (0x15) */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_fetch
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x76
	CHECK_REC DIFF_REC_ERROR, 0x15, 0x77
	CHECK_REC DIFF_REC_CR2, DIFF_HANDLER, 0x78

	/* CPL 3 reads a not-present page: U (4) */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_np
1:	CHECK_REC DIFF_REC_VECTOR, 14, 0x79
	CHECK_REC DIFF_REC_ERROR, 4, 0x7a
	CHECK_REC DIFF_REC_CR2, (PG_NP + 0x123), 0x7b
	DONE

u_read:
	mov DIFF_REC + 0x40, %rax
	ud2
u_write:
	movb $1, DIFF_GDT + 0x100
	ud2
u_fetch:
	mov $DIFF_HANDLER, %rax
	jmp *%rax
u_np:
	mov PG_NP + 0x123, %al
	ud2
