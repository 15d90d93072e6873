/*
 * The PC board: memory map, direct Linux boot, ACPI tables and the run loop
 * that drives one virtual CPU (include/vessel/cpu.h) with the devices of
 * include/vessel/devices.h.
 *
 *	struct vsl_machine_config cfg = { .mem_size = 256 << 20,
 *		.kernel = "vmlinuz", .initrd = "initrd.gz", .cmdline = "console=ttyS0",
 *		.console = &my_console, .console_opaque = term };
 *	struct vsl_machine *m = vsl_machine_new(ctx, &cfg);
 *	enum vsl_machine_stop why;
 *	int r = vsl_machine_run(m, &why);    // returns at poweroff, reset, quit or fault
 *	vsl_machine_free(m);
 *
 * Memory map. RAM beyond the first 3 GiB continues at 4 GiB, above the hole
 * that holds PCI MMIO and the APICs:
 *
 *	0x00000000  RAM (e820 usable) ........ 0x0009FC00
 *	0x0009FC00  EBDA (reserved)
 *	0x000A0000  VGA/option ROM hole (absent from e820)
 *	0x000E0000  BIOS area: ACPI tables, RSDP at 0xE0000 (reserved)
 *	0x00100000  RAM ........................ min(mem_size, 3 GiB)
 *	0xE0000000  PCI MMIO window (virtio BARs)
 *	0xFEC00000  I/O APIC (MMIO)      0xFEE00000  local APIC (MMIO)
 *	0x100000000 RAM beyond 3 GiB ........... 4 GiB + (mem_size - 3 GiB)
 *
 * Low memory used by the Linux loader: GDT 0x500, page tables 0x1000-0x6FFF
 * (identity map of the first 4 GiB with 2 MiB pages), boot_params (the
 * zero page) 0x7000, boot stack below 0x9000, command line 0x20000.
 */
#ifndef VESSEL_MACHINE_H
#define VESSEL_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vessel/common.h"
#include "vessel/cpu.h"

/* ---- memory map ---------------------------------------------------------- */

#define VSL_PC_RAM_MAX (128ull << 30)
#define VSL_PC_LOW_RAM_END (3ull << 30)   /* RAM below the 32-bit hole ends here at most */
#define VSL_PC_HIGH_RAM_BASE (4ull << 30) /* the rest of RAM starts here */
#define VSL_PC_RAM_MIN (16ull << 20)
#define VSL_PC_ACPI_BASE 0xE0000ull
#define VSL_PC_ACPI_SIZE 0x10000ull
#define VSL_PC_EBDA 0x9FC00ull

enum { VSL_E820_RAM = 1, VSL_E820_RESERVED = 2, VSL_E820_ACPI = 3 };

struct vsl_e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

/* The board's e820 map for mem_size bytes of RAM; returns the entry count (<= max). */
size_t vsl_pc_e820(uint64_t mem_size, struct vsl_e820_entry *out, size_t max);

/* ---- ACPI tables (runtime/machine/acpi.c) -------------------------------- */

/*
 * Write RSDP, XSDT, RSDT, FADT, FACS, DSDT (with \_S5) and MADT into
 * ram[base, base+room). *rsdp_addr receives the RSDP's guest address.
 * VSL_ENOMEM when room is too small.
 */
int vsl_acpi_build(struct vsl_ctx *ctx, uint8_t *ram, uint64_t ram_size, uint64_t base,
		   uint64_t room, uint64_t *rsdp_addr);
/* Sum of bytes mod 256 (0 for a valid ACPI table). */
uint8_t vsl_acpi_checksum(const uint8_t *p, size_t len);

/* ---- Linux x86 boot protocol (runtime/machine/linux.c) ------------------- */

#define VSL_LINUX_GDT 0x500ull
#define VSL_LINUX_PGTABLE 0x1000ull
#define VSL_LINUX_BOOT_PARAMS 0x7000ull
#define VSL_LINUX_STACK 0x9000ull
#define VSL_LINUX_CMDLINE 0x20000ull
#define VSL_LINUX_CMDLINE_MAX 0x10000ull /* bytes reserved for it, NUL included */
#define VSL_LINUX_BOOT_CS 0x10
#define VSL_LINUX_BOOT_DS 0x18

/* What vessel reads from a bzImage's setup header. */
struct vsl_linux_header {
	uint16_t version;          /* boot protocol, e.g. 0x020f */
	uint8_t setup_sects;       /* 512-byte sectors of real-mode setup (0 read as 4) */
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t syssize;          /* protected-mode code, 16-byte units */
	uint32_t cmdline_size;     /* longest command line, without the NUL */
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint32_t init_size;        /* memory the kernel needs from its load address */
	uint64_t pref_address;
	bool relocatable;
	size_t setup_size;         /* bytes before the protected-mode code */
	size_t kernel_size;        /* bytes of protected-mode code in the file */
};

/*
 * Parse and validate a bzImage held in img[0, len). Errors (VSL_EINVAL or
 * VSL_ENOTSUP, message in ctx): not a bzImage, truncated, protocol older
 * than 2.12, no 64-bit entry point (XLF_KERNEL_64).
 */
int vsl_linux_parse(struct vsl_ctx *ctx, const uint8_t *img, size_t len,
		    struct vsl_linux_header *h);

struct vsl_linux_boot {
	/* set by the caller (borrowed) */
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd;     /* NULL for none */
	size_t initrd_len;
	const char *cmdline;       /* NULL = "" */
	const struct vsl_e820_entry *e820;
	size_t e820_n;
	uint64_t rsdp_addr;        /* 0 = let the kernel scan the BIOS area */
	/* set by vsl_linux_load */
	struct vsl_linux_header hdr;
	uint64_t kernel_addr, initrd_addr;
	uint64_t entry;            /* startup_64 = kernel_addr + 0x200 */
	uint64_t boot_params;      /* RSI at entry */
	uint64_t cr3, stack;
};

/*
 * Place the kernel, initrd, command line, boot_params, GDT and identity page
 * tables into ram[0, ram_size) (RAM already zeroed). Errors: everything
 * vsl_linux_parse rejects, a command line longer than the kernel's
 * cmdline_size (VSL_ERANGE), and memory too small for kernel + initrd
 * (VSL_ENOMEM), each with a message naming the numbers.
 */
int vsl_linux_load(struct vsl_ctx *ctx, uint8_t *ram, uint64_t ram_size,
		   struct vsl_linux_boot *b);
/* Put the CPU in the 64-bit boot protocol's entry state for b. */
void vsl_linux_setup_cpu(struct vsl_cpu *cpu, const struct vsl_linux_boot *b);

/* ---- the board and its run loop (runtime/machine/pc.c) ------------------- */

/*
 * The guest's serial console, provided by the caller (the CLI's terminal).
 * read: non-blocking; bytes read, 0 for none now, VSL_ECANCELED when the
 * user asked to quit, VSL_EIO at end of input (no more input will come).
 * wait: block up to timeout_ms (-1 forever) for input; false if none can come.
 */
struct vsl_console_ops {
	int (*read)(void *opaque, uint8_t *buf, size_t len);
	void (*write)(void *opaque, const uint8_t *buf, size_t len);
	bool (*wait)(void *opaque, int timeout_ms);
};

struct vsl_machine_config {
	uint64_t mem_size;            /* bytes; VSL_PC_RAM_MIN..VSL_PC_RAM_MAX */
	const char *kernel;           /* bzImage path (required) */
	const char *initrd;           /* or NULL */
	const char *cmdline;          /* or NULL */
	enum vsl_cpu_engine engine;
	bool engine_fallback;         /* engine unavailable: use the interpreter */
	const struct vsl_console_ops *console; /* NULL: output dropped, no input */
	void *console_opaque;
	/* Pace an idle guest to the host clock (interactive use): when halted
	 * and more than a second ahead of wall time, wait for input instead. */
	bool idle_realtime;
	uint32_t insn_ns;             /* virtual ns per instruction; 0 = default */
	time_t start_time;            /* RTC at power-on; 0 = the host's now */
};

enum vsl_machine_stop {
	VSL_STOP_NONE = 0,
	VSL_STOP_POWEROFF,   /* ACPI S5 */
	VSL_STOP_RESET,      /* the guest asked for a reset (reboot) */
	VSL_STOP_QUIT,       /* the console user quit (Ctrl-A x) */
	VSL_STOP_FAULT       /* triple fault, CPU error, dead halt: see ctx */
};

struct vsl_machine_stats {
	uint64_t instructions;  /* retired */
	uint64_t vtime_ns;      /* virtual time */
	uint64_t skipped_ns;    /* of which skipped while halted */
	uint64_t halts, slices;
	struct vsl_cpu_stats cpu;  /* translator, softmmu and monitor-exit counters */
};

/* Returns NULL with the reason in ctx (bad memory size, unreadable kernel...). */
struct vsl_machine *vsl_machine_new(struct vsl_ctx *ctx, const struct vsl_machine_config *cfg);
void vsl_machine_free(struct vsl_machine *m);
/*
 * Run until the guest stops. Returns 0 with *why = POWEROFF, RESET or QUIT,
 * or a negative VSL_E* with *why = VSL_STOP_FAULT and the message in ctx.
 */
int vsl_machine_run(struct vsl_machine *m, enum vsl_machine_stop *why);
/*
 * Ask a running machine to stop as if the console user quit: vsl_machine_run
 * returns 0 with VSL_STOP_QUIT at the next slice boundary. Async-signal-safe
 * (a flag and a CPU kick), for SIGTERM handlers.
 */
void vsl_machine_quit(struct vsl_machine *m);
/* Guest registers and the last instructions, for fault reports (into buf). */
void vsl_machine_dump(const struct vsl_machine *m, char *buf, size_t len);
void vsl_machine_get_stats(const struct vsl_machine *m, struct vsl_machine_stats *st);
/*
 * The PCI bus and guest RAM, for attaching virtio devices after
 * vsl_machine_new (runtime/devices/virtio.h; devices still attached are
 * freed with the machine). Added by the virtio engineer.
 */
struct vsl_pci;
struct vsl_guest_mem;
struct vsl_pci *vsl_machine_pci(struct vsl_machine *m, struct vsl_guest_mem *mem);
/* The board's virtual clock (virtio-net polls the host on one of its timers). */
struct vsl_clock;
struct vsl_clock *vsl_machine_clock(struct vsl_machine *m);
/* Physical memory of the host in bytes (0 if unknown). */
uint64_t vsl_host_ram(void);

#endif
