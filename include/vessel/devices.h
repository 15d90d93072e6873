/*
 * PC devices of vessel's machine, and the two services they use: interrupt
 * lines and the virtual clock.
 *
 * Every device is a plain object with register callbacks mapped on a bus
 * (include/vessel/bus.h); none of them sees the CPU engine. A device raises
 * interrupts through a struct vsl_irq (a line number plus the board's
 * callback) and schedules work through timers on a struct vsl_clock, whose
 * time is virtual (the board derives it from instructions retired; tests set
 * it by hand):
 *
 *	struct vsl_clock *clk = vsl_clock_new();
 *	struct vsl_pit *pit = vsl_pit_new(clk, (struct vsl_irq){ set_irq, board, 0 });
 *	vsl_pit_map(pit, io_bus);
 *	...
 *	vsl_clock_set(clk, 1000000);   // tests only: advance time by hand
 *	vsl_clock_run_timers(clk);     // fire what is due
 *
 * Ownership: every _new returns a heap object freed by its _free (NULL is a
 * no-op); the bus and clock given to a device must outlive it.
 */
#ifndef VESSEL_DEVICES_H
#define VESSEL_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vessel/bus.h"
#include "vessel/common.h"

/* ---- interrupt lines ---------------------------------------------------- */

typedef void vsl_irq_fn(void *opaque, int n, int level);

/* One interrupt line: set(opaque, n, level). A NULL set is a dead line. */
struct vsl_irq {
	vsl_irq_fn *set;
	void *opaque;
	int n;
};

static inline void vsl_irq_set(const struct vsl_irq *irq, int level)
{
	if (irq->set)
		irq->set(irq->opaque, irq->n, level);
}

/* ---- virtual clock and timers (runtime/machine/clock.c) ----------------- */

#define VSL_NS_PER_SEC 1000000000ull
#define VSL_CLOCK_NEVER UINT64_MAX

typedef uint64_t vsl_clock_source_fn(void *opaque);
typedef void vsl_timer_fn(void *opaque, uint64_t now_ns);
/* Called when a timer is armed earlier than the current next deadline. */
typedef void vsl_clock_notify_fn(void *opaque);

struct vsl_clock;
struct vsl_timer;

struct vsl_clock *vsl_clock_new(void);
void vsl_clock_free(struct vsl_clock *clk);
/* Take time from fn(opaque) (nanoseconds, never decreasing). */
void vsl_clock_set_source(struct vsl_clock *clk, vsl_clock_source_fn *fn, void *opaque);
void vsl_clock_set_notify(struct vsl_clock *clk, vsl_clock_notify_fn *fn, void *opaque);
/* Without a source, time is whatever vsl_clock_set said last (tests). */
void vsl_clock_set(struct vsl_clock *clk, uint64_t ns);
uint64_t vsl_clock_now(const struct vsl_clock *clk);
/* Earliest armed deadline, VSL_CLOCK_NEVER when none. */
uint64_t vsl_clock_next_deadline(const struct vsl_clock *clk);
/* Fire every timer whose deadline is <= now (a callback may re-arm). */
void vsl_clock_run_timers(struct vsl_clock *clk);

/* NULL when the clock's timer table (32) is full or out of memory. */
struct vsl_timer *vsl_timer_new(struct vsl_clock *clk, vsl_timer_fn *fn, void *opaque);
void vsl_timer_free(struct vsl_timer *t);
void vsl_timer_mod(struct vsl_timer *t, uint64_t deadline_ns);
void vsl_timer_del(struct vsl_timer *t);
bool vsl_timer_pending(const struct vsl_timer *t);

/* ---- 16550A UART (runtime/devices/uart16550.c) -------------------------- */

#define VSL_UART_FIFO 16
typedef void vsl_uart_tx_fn(void *opaque, uint8_t byte);

struct vsl_uart;
struct vsl_uart *vsl_uart_new(struct vsl_irq irq, vsl_uart_tx_fn *tx, void *tx_opaque);
void vsl_uart_free(struct vsl_uart *u);
int vsl_uart_map(struct vsl_uart *u, struct vsl_bus *io, uint16_t base);
/* Room in the receive FIFO (0 while full). */
size_t vsl_uart_rx_room(const struct vsl_uart *u);
/*
 * True once the guest listens: the receive-data interrupt is enabled (Linux
 * does that when the port is opened). The board holds host input until then,
 * because drivers clear the FIFO while they probe and set the port up.
 */
bool vsl_uart_rx_listening(const struct vsl_uart *u);
/* Queue received bytes; returns how many fitted. Raises the RX interrupt. */
size_t vsl_uart_rx_push(struct vsl_uart *u, const uint8_t *buf, size_t len);

/* ---- 8259A PIC pair, master 0x20 + slave 0xA0, ELCR 0x4D0 (pic.c) ------- */

struct vsl_pic;
/* notify(opaque) runs when the INT output may have risen (board kicks the CPU). */
struct vsl_pic *vsl_pic_new(void (*notify)(void *opaque), void *opaque);
void vsl_pic_free(struct vsl_pic *p);
int vsl_pic_map(struct vsl_pic *p, struct vsl_bus *io);
/* ISA IRQ 0..15; edge-triggered lines latch on a rising level. */
void vsl_pic_set_irq(struct vsl_pic *p, int irq, int level);
/* The master's INT output. */
bool vsl_pic_has_intr(const struct vsl_pic *p);
/* INTA cycle: returns the vector (spurious 7/15 if nothing is left). */
int vsl_pic_ack(struct vsl_pic *p);

/* ---- 8254 PIT, ports 0x40-0x43 and 0x61 (pit.c) ------------------------- */

#define VSL_PIT_HZ 1193182ull

struct vsl_pit;
struct vsl_pit *vsl_pit_new(struct vsl_clock *clk, struct vsl_irq irq0);
void vsl_pit_free(struct vsl_pit *p);
int vsl_pit_map(struct vsl_pit *p, struct vsl_bus *io);

/* ---- MC146818 CMOS RTC, ports 0x70-0x71 (rtc.c) ------------------------- */

struct vsl_rtc;
/* The RTC reads start_time (host UTC) at virtual time 0 and runs on virtual time. */
struct vsl_rtc *vsl_rtc_new(struct vsl_clock *clk, struct vsl_irq irq8, time_t start_time);
void vsl_rtc_free(struct vsl_rtc *r);
int vsl_rtc_map(struct vsl_rtc *r, struct vsl_bus *io);
/* Write a CMOS NVRAM byte (board: memory sizes); index 0x0E..0x7F. */
void vsl_rtc_set_nvram(struct vsl_rtc *r, unsigned index, uint8_t val);

/* ---- i8042 keyboard controller, ports 0x60/0x64 (i8042.c) --------------- */

struct vsl_i8042;
/* reset(opaque) runs on command 0xFE (pulse the reset line). */
struct vsl_i8042 *vsl_i8042_new(void (*reset)(void *opaque), void *opaque);
void vsl_i8042_free(struct vsl_i8042 *k);
int vsl_i8042_map(struct vsl_i8042 *k, struct vsl_bus *io);

/* ---- ACPI fixed hardware: PM1a event/control, PM timer, reset (acpi_pm.c) */

#define VSL_ACPI_PM1A_EVT 0x600   /* 4 bytes: status, enable */
#define VSL_ACPI_PM1A_CNT 0x604   /* 2 bytes */
#define VSL_ACPI_PM_TMR 0x608     /* 4 bytes, 24-bit counter at 3.579545 MHz */
#define VSL_ACPI_RESET_PORT 0xCF9 /* also the FADT reset register (value 6) */
#define VSL_ACPI_S5_TYP 5         /* SLP_TYP of \_S5 in our DSDT */
#define VSL_ACPI_SCI_IRQ 9
#define VSL_ACPI_PMTMR_HZ 3579545ull

struct vsl_acpi_pm;
struct vsl_acpi_pm *vsl_acpi_pm_new(struct vsl_clock *clk, void (*poweroff)(void *opaque),
				    void (*reset)(void *opaque), void *opaque);
void vsl_acpi_pm_free(struct vsl_acpi_pm *pm);
int vsl_acpi_pm_map(struct vsl_acpi_pm *pm, struct vsl_bus *io);

/* ---- local APIC, MMIO 0xFEE00000 (lapic.c) ------------------------------ */

#define VSL_LAPIC_BASE 0xFEE00000ull
#define VSL_LAPIC_HZ 1000000000ull /* timer input clock (before the divider) */

struct vsl_lapic;
/*
 * eoi(opaque, vector) runs on an EOI of a level-triggered vector (the board
 * forwards it to the I/O APIC); notify(opaque) when an interrupt may be ready.
 */
struct vsl_lapic *vsl_lapic_new(struct vsl_clock *clk, struct vsl_bus *mmio,
				void (*eoi)(void *opaque, int vector),
				void (*notify)(void *opaque), void *opaque);
void vsl_lapic_free(struct vsl_lapic *a);
/* IA32_APIC_BASE MSR (0x1B): BSP bit 8, global enable bit 11, base 4K-aligned. */
uint64_t vsl_lapic_base_read(const struct vsl_lapic *a);
void vsl_lapic_base_write(struct vsl_lapic *a, uint64_t val);
/* True when the APIC is hardware-enabled (otherwise the PIC drives INTR). */
bool vsl_lapic_enabled(const struct vsl_lapic *a);
/* Accept a fixed interrupt (from the I/O APIC or self). level: set TMR bit. */
void vsl_lapic_deliver(struct vsl_lapic *a, int vector, bool level);
/*
 * What should interrupt the CPU next: a vector >= 0 (fixed, above the
 * processor priority), VSL_LAPIC_EXTINT when LINT0 is in ExtINT mode and
 * extint_line is asserted (the PIC supplies the vector), or -1 for none.
 */
#define VSL_LAPIC_EXTINT (-2)
int vsl_lapic_pending(const struct vsl_lapic *a, bool extint_line);
/* The CPU took vector: move it from IRR to ISR. */
void vsl_lapic_ack(struct vsl_lapic *a, int vector);
/* True when LINT0 passes the PIC through (ExtINT, unmasked) or the APIC is off. */
bool vsl_lapic_accepts_pic(const struct vsl_lapic *a);

/* ---- I/O APIC, MMIO 0xFEC00000 (ioapic.c) ------------------------------- */

#define VSL_IOAPIC_BASE 0xFEC00000ull
#define VSL_IOAPIC_PINS 24

struct vsl_ioapic;
/* deliver(opaque, vector, level) sends a message to the local APIC. */
struct vsl_ioapic *vsl_ioapic_new(void (*deliver)(void *opaque, int vector, bool level),
				  void *opaque);
void vsl_ioapic_free(struct vsl_ioapic *io);
int vsl_ioapic_map(struct vsl_ioapic *io, struct vsl_bus *mmio);
void vsl_ioapic_set_irq(struct vsl_ioapic *io, int pin, int level);
/* EOI broadcast from the local APIC: clears Remote IRR, re-delivers held levels. */
void vsl_ioapic_eoi(struct vsl_ioapic *io, int vector);

#endif
