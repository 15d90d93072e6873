/*
 * SSE exceptions from CPL 3: #XM (vector 19) for an unmasked SIMD
 * exception with CR4.OSXMMEXCPT=1 (the faulting instruction leaves its
 * destination alone and sets the MXCSR flag), masked exceptions only set
 * flags. All SSE code runs at CPL 3 (KVM emulates CPL 0 here and lacks
 * SSE).
 */
#include "tests/diff/guest.h"

#define RES (DIFF_SCRATCH + 0x100)   /* user-written results */

	.text
	.code64
	.globl _start
_start:
	GUEST_INIT

	/* divide by zero with ZE unmasked: #XM at the DIVSS */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_xm
1:	CHECK_REC DIFF_REC_VECTOR, 19, 0x10
	CHECK_REC DIFF_REC_RIP, u_xm_div, 0x11

	/* read back MXCSR and the untouched destination at CPL 3 */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_xm_after
1:	CHECK RES, 0x1d84, 0x12               /* ZE flag set, ZE unmasked */
	CHECK (RES + 8), 0x40400000, 0x13     /* xmm0 still 3.0f */

	/* masked: 1/0 = +inf and the ZE flag, no exception */
	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	TO_USER u_masked
1:	CHECK_REC DIFF_REC_VECTOR, 6, 0x20    /* the closing UD2 */
	CHECK RES, 0x1f84, 0x21
	CHECK (RES + 8), 0x7f800000, 0x22

	/*
	 * #NM for SSE with CR0.TS=1 is not checked: PVM does not carry the
	 * guest's CR0.TS to the host, so KVM runs the instruction.
	 */
	DONE

u_xm:
	movl $0x1d80, RES                     /* all masked but ZE */
	ldmxcsr RES
	movl $0x40400000, RES + 8             /* 3.0f */
	movss RES + 8, %xmm0
	xorps %xmm1, %xmm1
u_xm_div:
	divss %xmm1, %xmm0
	ud2
u_xm_after:
	stmxcsr RES
	movd %xmm0, %eax
	mov %rax, RES + 8
	movl $0x1f80, RES + 16
	ldmxcsr RES + 16
	ud2
u_masked:
	movl $0x3f800000, RES + 8             /* 1.0f */
	movss RES + 8, %xmm2
	xorps %xmm3, %xmm3
	divss %xmm3, %xmm2
	stmxcsr RES
	movd %xmm2, %eax
	mov %rax, RES + 8
	ud2
