/*
 * Assembler macros for the self-checking guest programs (tests/guest).
 *
 * A program is linked at DIFF_CODE and entered at CPL 0 in 64-bit mode
 * with paging on (layout.h). It reports each failed check by writing a
 * non-zero code to DIFF_PORT_FAIL, reports completion by writing 0x600d to
 * DIFF_PORT_LOG, and ends with HLT. R11 is the macros' scratch register; a
 * failed CHECK also writes the actual value (low 32 bits) to DIFF_PORT_LOG
 * just before the failure code, and clobbers RAX and RDX.
 *
 *	EXPECT_FAULT 1f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
 *	div %rcx                      (divides by zero)
 *	FAIL 0x10                     (not reached)
 *  1:	CHECK_REC DIFF_REC_VECTOR, 0, 0x11
 */
#ifndef VSL_DIFF_GUEST_H
#define VSL_DIFF_GUEST_H

#include "tests/diff/layout.h"

/* Route exceptions through the resume tail (call once at the start). */
.macro GUEST_INIT
	movq $DIFF_RESUME_TAIL, DIFF_REC + DIFF_REC_CONT
	movq $0, DIFF_REC + DIFF_REC_COUNT
.endm

/*
 * GUEST_USER is 1 after GO_USER_IOPL3: from then on FAIL/DONE/CHECK write
 * to the report area (user code cannot use ports under PVM), and the kernel
 * tail of GO_USER_IOPL3 forwards the report to the ports.
 */
	.set GUEST_USER, 0

/* Report a failed check. Keeps all but RAX, RDX. */
.macro FAIL code
.if GUEST_USER
	movl $\code, DIFF_REPORT
.else
	mov $\code, %eax
	mov $DIFF_PORT_FAIL, %dx
	out %eax, %dx
.endif
.endm

/* Report completion and halt. */
.macro DONE
.if GUEST_USER
	movl $0x600d, DIFF_REPORT + 4
	hlt
.else
	mov $0x600d, %eax
	mov $DIFF_PORT_LOG, %dx
	out %eax, %dx
	hlt
.endif
.endm

/* Fail with code unless operand a equals the 64-bit constant b. */
.macro CHECK a, b, code
	movabs $\b, %r11
	cmp %r11, \a
	je 9999f
	mov \a, %rax                         /* the actual value, low 32 bits */
.if GUEST_USER
	mov %eax, DIFF_REPORT + 8
.else
	mov $DIFF_PORT_LOG, %dx
	out %eax, %dx
.endif
	FAIL \code
9999:
.endm

/* Fail with code unless the exception record field off equals b. */
.macro CHECK_REC off, b, code
	CHECK DIFF_REC + \off, \b, \code
.endm

/* The next exception resumes at label with the given CS and SS. */
.macro EXPECT_FAULT label, cs, ss
	movq $\label, DIFF_REC + DIFF_REC_RESUME
	movq $\cs, DIFF_REC + DIFF_REC_RESUME_CS
	movq $\ss, DIFF_REC + DIFF_REC_RESUME_SS
.endm

/*
 * Continue at label in user mode (CPL 3, IF=1) on the user stack. User code
 * cannot report (no port access, the record is supervisor-only): it ends
 * in the fault under test, resuming at a kernel label set by EXPECT_FAULT.
 */
.macro TO_USER label
	pushq $DIFF_SEL_UDATA
	pushq $DIFF_USTACK_INIT - 0x100
	pushq $0x202
	pushq $DIFF_SEL_UCODE
	pushq $\label
	iretq
.endm

/*
 * Run the rest of the program at CPL 3 (KVM here is PVM: it runs CPL 3
 * natively on the host CPU but emulates CPL 0). The final HLT of DONE
 * raises #GP, which resumes at the kernel tail here: it forwards the last
 * failure (with its actual value) and the completion mark to the ports.
 */
.macro GO_USER
	EXPECT_FAULT 9998f, DIFF_SEL_KCODE, DIFF_SEL_KDATA
	pushq $DIFF_SEL_UDATA
	pushq $DIFF_USTACK_INIT - 0x100
	pushq $0x202
	pushq $DIFF_SEL_UCODE
	pushq $9997f
	iretq
9998:	mov $DIFF_PORT_LOG, %dx
	mov DIFF_REPORT, %eax
	test %eax, %eax
	jz 9996f
	mov DIFF_REPORT + 8, %eax
	out %eax, %dx
	mov DIFF_REPORT, %eax
	mov $DIFF_PORT_FAIL, %dx
	out %eax, %dx
	mov $DIFF_PORT_LOG, %dx
9996:	mov DIFF_REPORT + 4, %eax
	out %eax, %dx
	hlt
9997:
	.set GUEST_USER, 1
.endm

/* Page-table entry of a linear address below DIFF_RAM_SIZE. */
#define PTE(addr) (DIFF_PT0 + ((addr) >> 12) * 8)

#endif
