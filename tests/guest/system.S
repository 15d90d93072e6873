/*
 * System state: MSR round trips (STAR, LSTAR, SFMASK, FS/GS/KERNEL_GS base),
 * SWAPGS, FS- and GS-relative addressing, accessed/dirty bits set by the page walk, CR0.WP=0 supervisor writes to a
 * read-only page, and INVLPG after remapping a page.
 */
#include "tests/diff/guest.h"

#define MSR_STAR     0xc0000081
#define MSR_LSTAR    0xc0000082
#define MSR_SFMASK   0xc0000084
#define MSR_FSBASE   0xc0000100
#define MSR_GSBASE   0xc0000101
#define MSR_KGSBASE  0xc0000102

#define PG_AD   (DIFF_SCRATCH + 0x6000)
#define PG_RO   (DIFF_SCRATCH + 0x7000)
#define PG_MAPA (DIFF_SCRATCH + 0x8000)
#define PG_MAPB (DIFF_SCRATCH + 0x9000)

.macro WRMSR64 msr, value
	mov $\msr, %ecx
	movabs $\value, %rax
	mov %rax, %rdx
	shr $32, %rdx
	wrmsr
.endm

.macro RDMSR64 msr          /* result in RAX */
	mov $\msr, %ecx
	rdmsr
	shl $32, %rdx
	or %rdx, %rax
.endm

	.text
	.code64
	.globl _start
_start:
	GUEST_INIT

	/* MSR round trips */
	WRMSR64 MSR_KGSBASE, 0xffff800012345000
	RDMSR64 MSR_KGSBASE
	CHECK %rax, 0xffff800012345000, 0x10
	WRMSR64 MSR_FSBASE, DIFF_SCRATCH
	RDMSR64 MSR_FSBASE
	CHECK %rax, DIFF_SCRATCH, 0x11
	WRMSR64 MSR_GSBASE, (DIFF_SCRATCH + 0x100)
	RDMSR64 MSR_GSBASE
	CHECK %rax, (DIFF_SCRATCH + 0x100), 0x12

	/* FS- and GS-relative loads use the bases */
	movq $0x1111, DIFF_SCRATCH + 8
	movq $0x2222, DIFF_SCRATCH + 0x108
	mov %fs:8, %rax
	CHECK %rax, 0x1111, 0x13
	mov %gs:8, %rax
	CHECK %rax, 0x2222, 0x14

	/* SWAPGS exchanges GS base and KERNEL_GS_BASE */
	swapgs
	RDMSR64 MSR_GSBASE
	CHECK %rax, 0xffff800012345000, 0x15
	RDMSR64 MSR_KGSBASE
	CHECK %rax, (DIFF_SCRATCH + 0x100), 0x16
	swapgs
	RDMSR64 MSR_GSBASE
	CHECK %rax, (DIFF_SCRATCH + 0x100), 0x17

	/* a non-canonical base is refused with #GP(0) */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	WRMSR64 MSR_FSBASE, 0x0000800000000000
	FAIL 0x18
1:	CHECK_REC DIFF_REC_VECTOR, 13, 0x19
	WRMSR64 MSR_FSBASE, 0

	/*
	 * SYSCALL/SYSRET are not checked: PVM handles SYSCALL from guest
	 * CPL 3 its own way (PVM-aware guests enter through its event entry),
	 * and the handler did not run at CPL 0 there. Only the MSRs are.
	 */
	WRMSR64 MSR_STAR, 0x0010000800000000
	WRMSR64 MSR_LSTAR, 0xffffffff81000000
	WRMSR64 MSR_SFMASK, 0x47700
	RDMSR64 MSR_STAR
	CHECK %rax, 0x0010000800000000, 0x1a
	RDMSR64 MSR_LSTAR
	CHECK %rax, 0xffffffff81000000, 0x1b
	RDMSR64 MSR_SFMASK
	CHECK %rax, 0x47700, 0x1c

	/* accessed and dirty bits are set by the walk */
	andq $~(DIFF_PTE_A | DIFF_PTE_D), PTE(PG_AD)
	invlpg PG_AD
	mov PG_AD, %rax
	mov PTE(PG_AD), %rax
	and $(DIFF_PTE_A | DIFF_PTE_D), %eax
	CHECK %rax, DIFF_PTE_A, 0x40
	movb $1, PG_AD + 5
	mov PTE(PG_AD), %rax
	and $(DIFF_PTE_A | DIFF_PTE_D), %eax
	CHECK %rax, (DIFF_PTE_A | DIFF_PTE_D), 0x41

	/* CR0.WP=0: a supervisor write to a read-only page succeeds */
	andq $~DIFF_PTE_W, PTE(PG_RO)
	invlpg PG_RO
	mov %cr0, %rax
	mov %rax, %r13
	and $~0x10000, %rax
	mov %rax, %cr0
	movq $0x77, PG_RO + 16
	mov %r13, %cr0
	CHECK PG_RO + 16, 0x77, 0x50
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	movq $0x78, PG_RO + 16
	FAIL 0x51
1:	CHECK_REC DIFF_REC_ERROR, 3, 0x52

	/* remap PG_MAPA onto PG_MAPB's frame; INVLPG makes it visible */
	movq $0xaaaa, PG_MAPA
	movq $0xbbbb, PG_MAPB
	mov PG_MAPA, %rax
	CHECK %rax, 0xaaaa, 0x60
	mov PTE(PG_MAPB), %rax
	mov %rax, PTE(PG_MAPA)
	invlpg PG_MAPA
	mov PG_MAPA, %rax
	CHECK %rax, 0xbbbb, 0x61
	DONE
