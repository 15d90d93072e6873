/*
 * Guest memory layout of the differential CPU tests (vessel-cpudiff).
 *
 * Shared by the C rig (the .c files of tests/diff) and the guest programs
 * (tests/guest/NAME.S, which include it through the C preprocessor), so it
 * holds only #defines. Guest-physical equals guest-linear: the page tables
 * identity-map all of RAM with 4 KiB pages whose accessed and dirty bits are
 * preset (hardware may set A speculatively; presetting keeps RAM comparable).
 *
 *   0x000000  page 0: not present (null accesses fault)
 *   0x001000  GDT (selectors below), TSS at 0x1100, dummy busy TSS at 0x1200
 *   0x002000  IDT: 256 interrupt gates to the stubs (vectors 3, 4: DPL 3)
 *   0x003000  exception record (DIFF_REC_*), written by the common handler
 *   0x004000  PML4, PDPT, PD, then one PT per 2 MiB (PT0 at 0x7000)
 *   0x010000  prologue: reload CR3, LTR, IRETQ into the test (CPL 0 or 3)
 *   0x011000  per-vector stubs (16 bytes each), common handler at 0x12000
 *   0x070000  kernel stack (RSP0 = 0x80000)
 *   ---- everything below 1 MiB is supervisor-only ----
 *   0x100000  test code (random sequence or guest program), user, executable
 *   0x10f000  landing pad: NOPs, then a jump to the test code
 *   0x180000  user stack (16 pages, initial RSP 0x188000), NX
 *   0x200000  data pages (random bytes), NX; the reserved base register
 *             (R15) points here in random sequences
 *   0x202000  FXSAVE image written at the end of x87 sequences
 *   0x300000  scratch pages for guest programs, NX
 *
 * The exception record: the handler copies the frame, CR2 and the vector,
 * bumps the count and jumps through DIFF_REC_CONT, which points at the halt
 * tail (zero the frame on the stack, HLT) unless a guest program installs
 * DIFF_RESUME_TAIL there: that tail IRETQs to DIFF_REC_RESUME with CS and SS
 * from DIFF_REC_RESUME_CS/_SS (RSP and RFLAGS as pushed by the exception).
 */
#ifndef VSL_DIFF_LAYOUT_H
#define VSL_DIFF_LAYOUT_H

#define DIFF_RAM_SIZE     0x400000
#define DIFF_GDT          0x1000
#define DIFF_GDT_LIMIT    0x57
#define DIFF_TSS          0x1100
#define DIFF_TSS_DUMMY    0x1200
#define DIFF_IDT          0x2000
#define DIFF_REC          0x3000
#define DIFF_PML4         0x4000
#define DIFF_PDPT         0x5000
#define DIFF_PD           0x6000
#define DIFF_PT0          0x7000
#define DIFF_PROLOGUE     0x10000
#define DIFF_STUBS        0x11000
#define DIFF_HANDLER      0x12000
#define DIFF_HALT_TAIL    0x12100
#define DIFF_RESUME_TAIL  0x12200
#define DIFF_KSTACK_TOP   0x80000
#define DIFF_CODE         0x100000
#define DIFF_CODE_MAX     0xf000
#define DIFF_PAD          0x10f000   /* landing pad after the prologue (user, exec) */
#define DIFF_PAD_NOPS     64
#define DIFF_USTACK_LO    0x180000
#define DIFF_USTACK_HI    0x190000
#define DIFF_USTACK_INIT  0x188000
#define DIFF_DATA         0x200000
#define DIFF_DATA_SIZE    0x2000
#define DIFF_FXSAVE       0x202000   /* FXSAVE image of x87 sequences (512 bytes) */
#define DIFF_SCRATCH      0x300000
#define DIFF_SCRATCH_SIZE 0x10000
#define DIFF_REPORT       0x30f000   /* guest programs' CPL 3 report (guest.h) */

/* exception record fields (offsets from DIFF_REC) */
#define DIFF_REC_COUNT    0x00
#define DIFF_REC_VECTOR   0x08
#define DIFF_REC_ERROR    0x10
#define DIFF_REC_CR2      0x18
#define DIFF_REC_RIP      0x20
#define DIFF_REC_CS       0x28
#define DIFF_REC_RFLAGS   0x30
#define DIFF_REC_RSP      0x38
#define DIFF_REC_SS       0x40
#define DIFF_REC_RESUME   0x48
#define DIFF_REC_CONT     0x50
#define DIFF_REC_TRSEL    0x60
#define DIFF_REC_RESUME_CS 0x68
#define DIFF_REC_RESUME_SS 0x70

/* selectors */
#define DIFF_SEL_KCODE    0x08
#define DIFF_SEL_KDATA    0x10
#define DIFF_SEL_UDATA    0x1b
#define DIFF_SEL_UCODE    0x23
#define DIFF_SEL_TSS      0x28
#define DIFF_SEL_TSS_DUMMY 0x38
#define DIFF_SEL_UCODE32  0x4b   /* 32-bit (compatibility mode) user code */
#define DIFF_SEL_KCODE32  0x50   /* 32-bit kernel code */

/* I/O ports: a guest program writes a non-zero code to FAIL when a check fails */
#define DIFF_PORT_FAIL    0x500
#define DIFF_PORT_LOG     0x501

/* page-table entry bits */
#define DIFF_PTE_P        0x001
#define DIFF_PTE_W        0x002
#define DIFF_PTE_U        0x004
#define DIFF_PTE_A        0x020
#define DIFF_PTE_D        0x040
#define DIFF_PTE_NX       0x8000000000000000

#endif
