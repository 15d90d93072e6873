/*
 * The PC board: guest RAM, the two buses, the devices, IRQ wiring, direct
 * Linux boot and the run loop.
 *
 * IRQ wiring: ISA IRQ n goes to 8259 input n and to I/O APIC pin n, except
 * IRQ 0 (the PIT) which lands on pin 2, as the MADT's override says. The CPU
 * asks intr_pending/intr_ack; the local APIC answers, taking the PIC's
 * vector when its LINT0 is the ExtINT "virtual wire".
 *
 *	PIT --IRQ0--> PIC in 0 ----> LAPIC LINT0 (ExtINT) --\
 *	          \-> IOAPIC pin 2 -> LAPIC IRR ------------+--> CPU
 *	UART -IRQ4--> PIC in 4 / IOAPIC pin 4 ...
 *
 * Virtual time (see DESIGN.md "Time"):
 *
 *	now_ns = instructions retired * insn_ns + time skipped while halted
 *
 * The loop runs the CPU with a budget that ends at the next timer deadline,
 * fires due timers, and when the CPU halts it jumps time to the next
 * deadline instead of sleeping. A device that arms a timer earlier than the
 * running slice's end, or raises a deliverable interrupt, kicks the CPU so
 * the slice ends at the next instruction boundary.
 *
 * Console: the UART's output is buffered and flushed after each slice;
 * input is polled every few milliseconds of host time and fed to the UART
 * FIFO as room allows (nothing is dropped).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vessel/bus.h"
#include "vessel/devices.h"
#include "vessel/machine.h"
#include "runtime/devices/virtio.h" /* PCI host + virtio (virtio engineer) */

#define PC_DEFAULT_INSN_NS 1               /* a 1 GHz, one-instruction-per-cycle CPU */
#define PC_TSC_KHZ 1000000                 /* TSC = virtual ns */
#define PC_MAX_SLICE 2000000ull            /* instructions per slice at most */
#define PC_POLL_NS 5000000ull              /* host ns between console polls */
#define PC_FILE_MAX (1ull << 31)           /* kernel/initrd larger than 2 GiB refused */

struct pc_gap {
	struct vsl_machine *m;
	uint64_t base;
};

struct vsl_machine {
	struct vsl_ctx *ctx;
	struct vsl_machine_config cfg;
	uint8_t *ram;
	uint64_t ram_size;   /* bytes mapped at ram: guest [0, ram_size), hole included */
	uint64_t low_end;    /* RAM is [0, low_end) and, when larger, [4 GiB, ram_size) */
	struct vsl_bus *io, *mmio;
	struct vsl_clock *clk;
	struct vsl_cpu *cpu;
	struct vsl_cpu_env env;
	struct vsl_pic *pic;
	struct vsl_ioapic *ioapic;
	struct vsl_lapic *lapic;
	struct vsl_pit *pit;
	struct vsl_rtc *rtc;
	struct vsl_uart *uart;
	struct vsl_i8042 *kbd;
	struct vsl_acpi_pm *pm;
	struct vsl_pci *pci;        /* PCI bus 0 + virtio devices (runtime/devices/pci.c) */
	uint32_t insn_ns;
	uint64_t skip_ns;
	uint64_t slice_end_ns;
	volatile int stop_req;     /* enum vsl_machine_stop requested by a device */
	uint8_t port92;
	/* console */
	uint8_t out[4096];
	size_t out_n;
	uint8_t in[4096];
	size_t in_head, in_n;
	bool in_eof;
	bool quit;
	volatile sig_atomic_t quit_async; /* vsl_machine_quit, from a signal handler */
	uint64_t last_poll_host;
	uint64_t host_start;
	uint8_t *unknown_ports;    /* bitmap: logged once */
	struct pc_gap *gaps;       /* the unassigned-port ranges */
	struct vsl_machine_stats st;
};

static uint64_t pc_host_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * VSL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t vsl_host_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

/* ---- time ----------------------------------------------------------------- */

static uint64_t pc_now(void *opaque)
{
	struct vsl_machine *m = opaque;
	uint64_t ic = m->cpu ? vsl_cpu_icount(m->cpu) : 0;

	return ic * m->insn_ns + m->skip_ns;
}

static void pc_kick(struct vsl_machine *m)
{
	if (m->cpu)
		vsl_cpu_kick(m->cpu);
}

static void pc_clock_notify(void *opaque)
{
	struct vsl_machine *m = opaque;

	if (vsl_clock_next_deadline(m->clk) < m->slice_end_ns)
		pc_kick(m);
}

/* ---- interrupts ----------------------------------------------------------- */

static void pc_isa_irq(void *opaque, int n, int level)
{
	struct vsl_machine *m = opaque;

	vsl_pic_set_irq(m->pic, n, level);
	vsl_ioapic_set_irq(m->ioapic, n == 0 ? 2 : n, level);
}

/* PCI INTx: pci.c swizzles to I/O APIC pins 16..19 (level; ACPI _PRT says so). */
static void pc_pci_irq(void *opaque, int gsi, int level)
{
	struct vsl_machine *m = opaque;

	vsl_ioapic_set_irq(m->ioapic, gsi, level);
}

static int pc_intr_vector(struct vsl_machine *m)
{
	return vsl_lapic_pending(m->lapic, vsl_pic_has_intr(m->pic));
}

static bool pc_intr_pending(void *opaque)
{
	return pc_intr_vector(opaque) != -1;
}

static int pc_intr_ack(void *opaque)
{
	struct vsl_machine *m = opaque;
	int v = pc_intr_vector(m);

	if (v == VSL_LAPIC_EXTINT)
		return vsl_pic_ack(m->pic);
	if (v >= 0) {
		vsl_lapic_ack(m->lapic, v);
		return v;
	}
	return 0xFF; /* nothing left: the APIC's spurious vector */
}

static bool pc_nmi_pending(void *opaque)
{
	return false;
}

static void pc_irq_notify(void *opaque)
{
	struct vsl_machine *m = opaque;

	if (pc_intr_pending(m))
		pc_kick(m);
}

static void pc_lapic_eoi(void *opaque, int vector)
{
	struct vsl_machine *m = opaque;

	vsl_ioapic_eoi(m->ioapic, vector);
}

static void pc_ioapic_deliver(void *opaque, int vector, bool level)
{
	struct vsl_machine *m = opaque;

	vsl_lapic_deliver(m->lapic, vector, level);
}

static uint64_t pc_apic_base_read(void *opaque)
{
	struct vsl_machine *m = opaque;

	return vsl_lapic_base_read(m->lapic);
}

static void pc_apic_base_write(void *opaque, uint64_t val)
{
	struct vsl_machine *m = opaque;

	vsl_lapic_base_write(m->lapic, val);
}

static bool pc_is_mmio(void *opaque, uint64_t paddr)
{
	const struct vsl_machine *m = opaque;

	/* the 32-bit hole between low RAM and 4 GiB, when RAM continues above it */
	return paddr >= m->low_end && paddr < VSL_PC_HIGH_RAM_BASE;
}

/* ---- board control -------------------------------------------------------- */

static void pc_request(struct vsl_machine *m, enum vsl_machine_stop why)
{
	if (!m->stop_req)
		m->stop_req = why;
	pc_kick(m);
}

static void pc_poweroff(void *opaque)
{
	pc_request(opaque, VSL_STOP_POWEROFF);
}

static void pc_reset(void *opaque)
{
	pc_request(opaque, VSL_STOP_RESET);
}

/* Port 0x80 (POST codes, used by the kernel as an I/O delay): a sink. */
static uint64_t pc_post_read(void *opaque, uint64_t off, unsigned size_log2)
{
	return ~0ull;
}

static void pc_post_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
}

/* Port 0x92, system control A: bit 0 fast reset, bit 1 A20 (always on). */
static uint64_t pc_port92_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_machine *m = opaque;

	return m->port92 | 2;
}

static void pc_port92_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_machine *m = opaque;

	if ((val & 1) && !(m->port92 & 1))
		pc_reset(m);
	m->port92 = (uint8_t)(val & ~1u);
}

/* Unassigned ports: all ones, each logged once at debug level. */
static uint64_t pc_unknown_read(void *opaque, uint64_t off, unsigned size_log2)
{
	return ~0ull;
}

static void pc_unknown_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
}

static void pc_unknown_log(struct vsl_machine *m, uint64_t port, bool write, uint64_t val)
{
	if (port < 0x10000 && m->unknown_ports && !(m->unknown_ports[port >> 3] & (1u << (port & 7)))) {
		m->unknown_ports[port >> 3] |= (uint8_t)(1u << (port & 7));
		if (write)
			vsl_debug(m->ctx, "guest wrote 0x%llx to unassigned I/O port 0x%llx (ignored)",
				  (unsigned long long)val, (unsigned long long)port);
		else
			vsl_debug(m->ctx, "guest read unassigned I/O port 0x%llx (all ones)",
				  (unsigned long long)port);
	}
}

static uint64_t pc_gap_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct pc_gap *g = opaque;

	pc_unknown_log(g->m, g->base + off, false, 0);
	return pc_unknown_read(NULL, off, size_log2);
}

static void pc_gap_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct pc_gap *g = opaque;

	pc_unknown_log(g->m, g->base + off, true, val);
	pc_unknown_write(NULL, off, val, size_log2);
}

/*
 * Fill every unmapped port range with the "unassigned" device, so misses are
 * answered (all ones) and logged by the board rather than left to the CPU:
 * try the whole range, split it in halves where it collides with a device.
 */
struct pc_gaps {
	struct pc_gap *g;
	size_t n, cap;
};

static int pc_fill_gaps(struct vsl_machine *m, struct pc_gaps *gs, uint64_t lo, uint64_t hi)
{
	struct pc_gap *g;
	int r;

	if (lo >= hi)
		return 0;
	if (gs->n == gs->cap)
		return VSL_ENOMEM;
	g = &gs->g[gs->n];
	*g = (struct pc_gap){ .m = m, .base = lo };
	r = vsl_bus_map(m->io, lo, hi - lo, g, pc_gap_read, pc_gap_write);
	if (r == 0) {
		gs->n++;
		return 0;
	}
	if (r != VSL_EEXIST || hi - lo == 1)
		return r == VSL_EEXIST ? 0 : r;
	uint64_t mid = lo + (hi - lo) / 2;
	if ((r = pc_fill_gaps(m, gs, lo, mid)) < 0)
		return r;
	return pc_fill_gaps(m, gs, mid, hi);
}

/* ---- console ------------------------------------------------------------- */

static void pc_console_flush(struct vsl_machine *m)
{
	if (m->out_n && m->cfg.console && m->cfg.console->write)
		m->cfg.console->write(m->cfg.console_opaque, m->out, m->out_n);
	m->out_n = 0;
}

static void pc_uart_tx(void *opaque, uint8_t byte)
{
	struct vsl_machine *m = opaque;

	if (m->out_n == sizeof(m->out))
		pc_console_flush(m);
	m->out[m->out_n++] = byte;
}

/* Move buffered host input into the UART FIFO, then refill from the console. */
static void pc_console_poll(struct vsl_machine *m)
{
	const struct vsl_console_ops *c = m->cfg.console;

	while (m->in_n && vsl_uart_rx_listening(m->uart)) {
		size_t chunk = VSL_MIN(m->in_n, sizeof(m->in) - m->in_head);
		size_t n = vsl_uart_rx_push(m->uart, m->in + m->in_head, chunk);
		if (!n)
			break;
		m->in_head = (m->in_head + n) % sizeof(m->in);
		m->in_n -= n;
	}
	if (!c || !c->read || m->in_eof || m->in_n)
		return;
	int r = c->read(m->cfg.console_opaque, m->in, sizeof(m->in));
	if (r == VSL_ECANCELED) {
		m->quit = true;
		return;
	}
	if (r < 0) {
		m->in_eof = true;
		return;
	}
	m->in_head = 0;
	m->in_n = (size_t)r;
	if (m->in_n)
		pc_console_poll(m);
}

/* ---- setup ---------------------------------------------------------------- */

/* (in pc.c, not linux.c, so the loader links without the CPU in unit tests) */
void vsl_linux_setup_cpu(struct vsl_cpu *cpu, const struct vsl_linux_boot *b)
{
	struct vsl_seg cs = { .sel = VSL_LINUX_BOOT_CS, .base = 0, .limit = 0xFFFFFFFF,
			      .attr = 0x0A9B };  /* G | L (bits 11, 9) | P | S | code, exec/read, accessed */
	struct vsl_seg ds = { .sel = VSL_LINUX_BOOT_DS, .base = 0, .limit = 0xFFFFFFFF,
			      .attr = 0x0C93 };  /* G | DB (bits 11, 10) | P | S | data, read/write, accessed */

	vsl_cpu_set_msr(cpu, 0xC0000080, (1u << 8) | (1u << 10)); /* EFER.LME | LMA */
	vsl_cpu_set_cr(cpu, 4, 1u << 5);                         /* PAE */
	vsl_cpu_set_cr(cpu, 3, b->cr3);
	vsl_cpu_set_cr(cpu, 0, 0x80000011ull);                   /* PG | ET | PE */
	vsl_cpu_set_gdt(cpu, &(struct vsl_dtable){ .base = VSL_LINUX_GDT, .limit = 31 });
	vsl_cpu_set_idt(cpu, &(struct vsl_dtable){ .base = 0, .limit = 0 });
	vsl_cpu_set_seg(cpu, VSL_CS, &cs);
	vsl_cpu_set_seg(cpu, VSL_DS, &ds);
	vsl_cpu_set_seg(cpu, VSL_ES, &ds);
	vsl_cpu_set_seg(cpu, VSL_SS, &ds);
	vsl_cpu_set_seg(cpu, VSL_FS, &ds);
	vsl_cpu_set_seg(cpu, VSL_GS, &ds);
	vsl_cpu_set_rflags(cpu, 0x2);
	for (int i = 0; i < 16; i++)
		vsl_cpu_set_gpr(cpu, i, 0);
	vsl_cpu_set_gpr(cpu, VSL_RSI, b->boot_params);
	vsl_cpu_set_gpr(cpu, VSL_RSP, b->stack);
	vsl_cpu_set_rip(cpu, b->entry);
}



static int pc_read_file(struct vsl_ctx *ctx, const char *what, const char *path,
			uint8_t **buf, size_t *len)
{
	struct stat sb;
	uint8_t *p;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return vsl_set_error(ctx, errno, VSL_EIO, "%s %s", what, path);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		int e = errno;
		close(fd);
		return vsl_set_error(ctx, S_ISREG(sb.st_mode) ? e : 0, VSL_EINVAL,
				     "%s %s: not a regular file", what, path);
	}
	if ((uint64_t)sb.st_size > PC_FILE_MAX) {
		close(fd);
		return vsl_set_error(ctx, 0, VSL_ERANGE, "%s %s: larger than 2 GiB", what, path);
	}
	p = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	if (!p) {
		close(fd);
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "%s %s: out of memory", what, path);
	}
	while (off < (size_t)sb.st_size) {
		ssize_t n = read(fd, p + off, (size_t)sb.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : 0;
			free(p);
			close(fd);
			if (e)
				return vsl_set_error(ctx, e, VSL_EIO, "%s %s: read", what, path);
			return vsl_set_error(ctx, 0, VSL_EIO, "%s %s: file shrank while reading (%zu of %lld bytes)",
					     what, path, off, (long long)sb.st_size);
		}
		off += (size_t)n;
	}
	close(fd);
	*buf = p;
	*len = off;
	return 0;
}

static int pc_devices(struct vsl_machine *m, time_t start)
{
	struct vsl_irq irq = { .set = pc_isa_irq, .opaque = m };
	struct pc_gaps gs = { 0 };
	int r = VSL_ENOMEM;

	m->pic = vsl_pic_new(pc_irq_notify, m);
	m->ioapic = vsl_ioapic_new(pc_ioapic_deliver, m);
	m->lapic = vsl_lapic_new(m->clk, m->mmio, pc_lapic_eoi, pc_irq_notify, m);
	irq.n = 0;
	m->pit = vsl_pit_new(m->clk, irq);
	irq.n = 8;
	m->rtc = vsl_rtc_new(m->clk, irq, start);
	irq.n = 4;
	m->uart = vsl_uart_new(irq, pc_uart_tx, m);
	m->kbd = vsl_i8042_new(pc_reset, m);
	m->pm = vsl_acpi_pm_new(m->clk, pc_poweroff, pc_reset, m);
	if (!m->pic || !m->ioapic || !m->lapic || !m->pit || !m->rtc || !m->uart || !m->kbd || !m->pm)
		goto err;
	if ((r = vsl_pic_map(m->pic, m->io)) || (r = vsl_ioapic_map(m->ioapic, m->mmio)) ||
	    (r = vsl_pit_map(m->pit, m->io)) || (r = vsl_rtc_map(m->rtc, m->io)) ||
	    (r = vsl_uart_map(m->uart, m->io, 0x3F8)) || (r = vsl_i8042_map(m->kbd, m->io)) ||
	    (r = vsl_acpi_pm_map(m->pm, m->io)) ||
	    (r = vsl_bus_map(m->io, 0x80, 1, m, pc_post_read, pc_post_write)) ||
	    (r = vsl_bus_map(m->io, 0x92, 1, m, pc_port92_read, pc_port92_write)))
		goto err;
	/* CMOS memory sizes, as a BIOS would leave them (KiB above 1 MiB, 64 KiB above 16 MiB) */
	{
		uint64_t ext = m->low_end > (1 << 20) ? (m->low_end - (1 << 20)) >> 10 : 0;
		uint64_t hi = m->low_end > (16 << 20) ? (m->low_end - (16 << 20)) >> 16 : 0;
		ext = VSL_MIN(ext, 0xFFFFull);
		hi = VSL_MIN(hi, 0xFFFFull);
		vsl_rtc_set_nvram(m->rtc, 0x15, 0x80);
		vsl_rtc_set_nvram(m->rtc, 0x16, 0x02);
		vsl_rtc_set_nvram(m->rtc, 0x17, (uint8_t)ext);
		vsl_rtc_set_nvram(m->rtc, 0x18, (uint8_t)(ext >> 8));
		vsl_rtc_set_nvram(m->rtc, 0x30, (uint8_t)ext);
		vsl_rtc_set_nvram(m->rtc, 0x31, (uint8_t)(ext >> 8));
		vsl_rtc_set_nvram(m->rtc, 0x34, (uint8_t)hi);
		vsl_rtc_set_nvram(m->rtc, 0x35, (uint8_t)(hi >> 8));
	}
	/* PCI config ports 0xCF8/0xCFC (before the gap filler takes every free port) */
	m->pci = vsl_pci_new(m->ctx, m->io, m->mmio, (struct vsl_irq){ pc_pci_irq, m, 0 });
	if (!m->pci)
		return VSL_ENOMEM;
	gs.cap = 512;
	gs.g = calloc(gs.cap, sizeof(*gs.g));
	m->unknown_ports = calloc(0x10000 / 8, 1);
	if (!gs.g || !m->unknown_ports) {
		free(gs.g);
		r = VSL_ENOMEM;
		goto err;
	}
	if ((r = pc_fill_gaps(m, &gs, 0, 0x10000)) < 0) {
		free(gs.g);
		goto err;
	}
	m->gaps = gs.g; /* freed with the machine */
	return 0;
err:
	return vsl_set_error(m->ctx, 0, r, "cannot set up the PC devices (%s)", vsl_strerror(r));
}

struct vsl_machine *vsl_machine_new(struct vsl_ctx *ctx, const struct vsl_machine_config *cfg)
{
	struct vsl_machine *m;
	uint64_t host = vsl_host_ram(), rsdp = 0;
	struct vsl_e820_entry e820[8];
	struct vsl_linux_boot boot = { 0 };
	uint8_t *kernel = NULL, *initrd = NULL;
	size_t kernel_len = 0, initrd_len = 0, n820;
	char mb[32];

	if (!cfg->kernel) {
		vsl_set_error(ctx, 0, VSL_EINVAL, "no kernel to boot (vessel boots Linux directly for now)");
		return NULL;
	}
	if (cfg->mem_size < VSL_PC_RAM_MIN) {
		vsl_set_error(ctx, 0, VSL_ERANGE, "memory size %s is too small (at least 16 MiB)",
			      vsl_format_size(cfg->mem_size, mb, sizeof(mb)));
		return NULL;
	}
	if (cfg->mem_size > VSL_PC_RAM_MAX) {
		vsl_set_error(ctx, 0, VSL_ENOTSUP,
			      "memory size %s: vessel's PC board supports at most 128 GiB of RAM",
			      vsl_format_size(cfg->mem_size, mb, sizeof(mb)));
		return NULL;
	}
	if (host && cfg->mem_size > host) {
		vsl_set_error(ctx, 0, VSL_ERANGE, "memory size %s is more than this host has (%s)",
			      vsl_format_size(cfg->mem_size, mb, sizeof(mb)),
			      vsl_format_size(host, mb + 16, 16));
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		return NULL;
	}
	m->ctx = ctx;
	m->cfg = *cfg;
	m->insn_ns = cfg->insn_ns ? cfg->insn_ns : PC_DEFAULT_INSN_NS;
	m->low_end = VSL_MIN(cfg->mem_size & ~0xFFFull, VSL_PC_LOW_RAM_END);
	m->ram_size = m->low_end;
	if ((cfg->mem_size & ~0xFFFull) > VSL_PC_LOW_RAM_END) /* the hole is never touched */
		m->ram_size = VSL_PC_HIGH_RAM_BASE + (cfg->mem_size & ~0xFFFull) - VSL_PC_LOW_RAM_END;
	m->ram = mmap(NULL, m->ram_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->ram == MAP_FAILED) {
		m->ram = NULL;
		vsl_set_error(ctx, errno, VSL_ENOMEM, "cannot allocate %s of guest memory",
			      vsl_format_size(cfg->mem_size, mb, sizeof(mb)));
		goto err;
	}
	/* identical guest pages may be shared between VMs (KSM); failure is harmless */
	(void)madvise(m->ram, m->ram_size, MADV_MERGEABLE);
	m->io = vsl_bus_new("io");
	m->mmio = vsl_bus_new("mmio");
	m->clk = vsl_clock_new();
	if (!m->io || !m->mmio || !m->clk) {
		vsl_set_error(ctx, 0, VSL_ENOMEM, "out of memory");
		goto err;
	}
	vsl_clock_set_source(m->clk, pc_now, m);
	vsl_clock_set_notify(m->clk, pc_clock_notify, m);
	if (pc_devices(m, cfg->start_time ? cfg->start_time : time(NULL)) < 0)
		goto err;

	/* firmware data: ACPI tables, then the kernel with its boot_params */
	if (vsl_acpi_build(ctx, m->ram, m->low_end, VSL_PC_ACPI_BASE, VSL_PC_ACPI_SIZE, &rsdp) < 0)
		goto err;
	n820 = vsl_pc_e820(cfg->mem_size & ~0xFFFull, e820, VSL_ARRAY_SIZE(e820));
	if (pc_read_file(ctx, "kernel", cfg->kernel, &kernel, &kernel_len) < 0)
		goto err;
	if (cfg->initrd && pc_read_file(ctx, "initrd", cfg->initrd, &initrd, &initrd_len) < 0)
		goto err;
	boot = (struct vsl_linux_boot){ .kernel = kernel, .kernel_len = kernel_len,
					.initrd = initrd, .initrd_len = initrd_len,
					.cmdline = cfg->cmdline, .e820 = e820, .e820_n = n820,
					.rsdp_addr = rsdp };
	if (vsl_linux_load(ctx, m->ram, m->low_end, &boot) < 0) {
		vsl_error_prefix(ctx, "kernel %s", cfg->kernel);
		goto err;
	}
	free(kernel);
	free(initrd);
	kernel = initrd = NULL;

	m->env = (struct vsl_cpu_env){
		.ram = m->ram, .ram_size = m->ram_size, .io = m->io, .mmio = m->mmio,
		.is_mmio = pc_is_mmio, .intr_pending = pc_intr_pending, .intr_ack = pc_intr_ack,
		.nmi_pending = pc_nmi_pending, .now_ns = pc_now,
		.apic_base_read = pc_apic_base_read, .apic_base_write = pc_apic_base_write,
		.tsc_khz = PC_TSC_KHZ, .opaque = m,
	};
	m->cpu = vsl_cpu_new(ctx, &m->env);
	if (!m->cpu)
		goto err;
	if (vsl_cpu_set_engine(m->cpu, cfg->engine) < 0) {
		if (!cfg->engine_fallback || cfg->engine == VSL_ENGINE_INTERP)
			goto err;
		vsl_info(ctx, "using the interpreter (%s)", vsl_ctx_error(ctx));
		vsl_ctx_clear(ctx);
		if (vsl_cpu_set_engine(m->cpu, VSL_ENGINE_INTERP) < 0)
			goto err;
	}
	vsl_cpu_reset(m->cpu);
	vsl_linux_setup_cpu(m->cpu, &boot);
	return m;
err:
	free(kernel);
	free(initrd);
	vsl_machine_free(m);
	return NULL;
}

void vsl_machine_free(struct vsl_machine *m)
{
	if (!m)
		return;
	vsl_cpu_free(m->cpu);
	vsl_pci_free(m->pci);   /* frees the virtio devices still attached */
	vsl_acpi_pm_free(m->pm);
	vsl_i8042_free(m->kbd);
	vsl_uart_free(m->uart);
	vsl_rtc_free(m->rtc);
	vsl_pit_free(m->pit);
	vsl_lapic_free(m->lapic);
	vsl_ioapic_free(m->ioapic);
	vsl_pic_free(m->pic);
	vsl_clock_free(m->clk);
	vsl_bus_free(m->io);
	vsl_bus_free(m->mmio);
	free(m->gaps);
	free(m->unknown_ports);
	if (m->ram)
		munmap(m->ram, m->ram_size);
	free(m);
}

/* ---- the run loop --------------------------------------------------------- */

void vsl_machine_quit(struct vsl_machine *m)
{
	m->quit_async = 1;
	if (m->cpu)
		vsl_cpu_kick(m->cpu);
}

static int pc_fault(struct vsl_machine *m, enum vsl_machine_stop *why, int code, const char *msg)
{
	*why = VSL_STOP_FAULT;
	return vsl_set_error(m->ctx, 0, code, "%s", msg);
}

/* The guest halted with nothing pending: skip to the next deadline, or wait. */
static int pc_idle(struct vsl_machine *m, enum vsl_machine_stop *why)
{
	const struct vsl_console_ops *c = m->cfg.console;
	uint64_t now = pc_now(m), deadline = vsl_clock_next_deadline(m->clk);

	m->st.halts++;
	if (!(vsl_cpu_get_rflags(m->cpu) & (1u << 9)))
		return pc_fault(m, why, VSL_EINVAL,
				"the guest halted the CPU with interrupts disabled: it can never resume");
	if (deadline == VSL_CLOCK_NEVER) {
		/* only console input can wake the guest */
		if (m->in_n && vsl_uart_rx_listening(m->uart))
			return 0;
		if (!c || !c->wait || m->in_eof || !c->wait(m->cfg.console_opaque, -1)) {
			if (m->in_eof || !c)
				return pc_fault(m, why, VSL_EINVAL,
						"the guest is idle with no timer armed and no more console input: "
						"it can never resume");
		}
		pc_console_poll(m);
		return 0;
	}
	if (m->cfg.idle_realtime && c && c->wait && !m->in_eof) {
		/* interactive: do not let an idle guest run far ahead of the host clock */
		uint64_t wall = pc_host_ns() - m->host_start;
		if (now > wall + VSL_NS_PER_SEC) {
			uint64_t ahead = now - wall - VSL_NS_PER_SEC;
			int ms = (int)VSL_MIN(ahead / 1000000 + 1, 50ull);
			if (c->wait(m->cfg.console_opaque, ms)) {
				pc_console_poll(m);
				if (pc_intr_pending(m))
					return 0;
			}
		}
	}
	if (deadline > now) {
		m->skip_ns += deadline - now;
		m->st.skipped_ns += deadline - now;
	}
	return 0;
}

int vsl_machine_run(struct vsl_machine *m, enum vsl_machine_stop *why)
{
	char buf[512];
	int r;

	*why = VSL_STOP_NONE;
	m->host_start = pc_host_ns() - pc_now(m);
	m->last_poll_host = 0;
	for (;;) {
		struct vsl_cpu_exit ex = { 0 };
		uint64_t now, deadline, budget, host;

		if (m->stop_req || m->quit || m->quit_async) {
			pc_console_flush(m);
			*why = m->quit || m->quit_async ? VSL_STOP_QUIT :
				(enum vsl_machine_stop)m->stop_req;
			return 0;
		}
		vsl_clock_run_timers(m->clk);
		host = pc_host_ns();
		if (host - m->last_poll_host >= PC_POLL_NS || m->in_n) {
			m->last_poll_host = host;
			pc_console_poll(m);
		}
		now = pc_now(m);
		deadline = vsl_clock_next_deadline(m->clk);
		budget = PC_MAX_SLICE;
		if (deadline != VSL_CLOCK_NEVER)
			budget = deadline <= now ? 1 :
				VSL_MIN(budget, (deadline - now + m->insn_ns - 1) / m->insn_ns);
		m->slice_end_ns = now + budget * m->insn_ns;
		r = vsl_cpu_run(m->cpu, budget, &ex);
		m->st.slices++;
		pc_console_flush(m);
		if (r < 0 || ex.reason == VSL_CPU_EXIT_ERROR) {
			snprintf(buf, sizeof(buf), "CPU error: %s",
				 *vsl_ctx_error(m->ctx) ? vsl_ctx_error(m->ctx) : "unknown");
			return pc_fault(m, why, r < 0 ? r : VSL_ENOTSUP, buf);
		}
		switch (ex.reason) {
		case VSL_CPU_EXIT_BUDGET:
		case VSL_CPU_EXIT_IRQ_CHECK:
			break;
		case VSL_CPU_EXIT_HLT:
			if (m->stop_req)
				break;
			if ((r = pc_idle(m, why)) < 0)
				return r;
			break;
		case VSL_CPU_EXIT_SHUTDOWN:
			return pc_fault(m, why, VSL_EINVAL,
					"triple fault: the guest CPU shut down");
		case VSL_CPU_EXIT_RESET:
			pc_request(m, VSL_STOP_RESET);
			break;
		default:
			break;
		}
	}
}

void vsl_machine_dump(const struct vsl_machine *m, char *buf, size_t len)
{
	size_t n;

	if (!len)
		return;
	buf[0] = 0;
	if (!m->cpu)
		return;
	vsl_cpu_dump(m->cpu, buf, len);
	n = strlen(buf);
	if (n + 32 < len) {
		n += (size_t)snprintf(buf + n, len - n, "%slast instructions:\n",
				      n && buf[n - 1] != '\n' ? "\n" : "");
		vsl_cpu_dump_trace(m->cpu, buf + n, len - n);
	}
}

struct vsl_pci *vsl_machine_pci(struct vsl_machine *m, struct vsl_guest_mem *mem)
{
	*mem = (struct vsl_guest_mem){ m->ram, m->ram_size, m->low_end, VSL_PC_HIGH_RAM_BASE };
	return m->pci;
}

struct vsl_clock *vsl_machine_clock(struct vsl_machine *m)
{
	return m->clk;
}

void vsl_machine_get_stats(const struct vsl_machine *m, struct vsl_machine_stats *st)
{
	*st = m->st;
	st->instructions = m->cpu ? vsl_cpu_icount(m->cpu) : 0;
	if (m->cpu)
		vsl_cpu_get_stats(m->cpu, &st->cpu);
	else
		memset(&st->cpu, 0, sizeof(st->cpu));
	st->vtime_ns = pc_now((void *)m);
}
