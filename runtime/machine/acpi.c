/*
 * Minimal ACPI tables for the PC board, written into the BIOS area at
 * 0xE0000 (reserved in e820; the RSDP is also found by the kernel's scan of
 * 0xE0000-0xFFFFF, and the Linux loader passes its address in boot_params).
 *
 *	0xE0000 RSDP (rev 2) -> XSDT 0xE0040 / RSDT 0xE0080 -> FADT 0xE0100, MADT 0xE0400
 *	FADT -> FACS 0xE0240, DSDT 0xE0300
 *
 * FADT: PM1a event block 0x600, PM1a control 0x604, PM timer 0x608 (see
 * devices.h), SCI on IRQ 9, no SMI command port (always in ACPI mode), the
 * reset register (I/O 0xCF9, value 6), no 8042 and no VGA.
 * DSDT: just Name (\_S5, Package () { 5, 5, 0, 0 }), which is what the
 * kernel reads to power off (SLP_TYP 5 into PM1a_CNT with SLP_EN).
 * MADT: the local APIC (ID 0), the I/O APIC (ID 1, GSI base 0) and the ISA
 * overrides IRQ 0 -> GSI 2 and IRQ 9 (SCI) level/active-high; LINT1 is NMI.
 * Every table's checksum makes its bytes sum to 0 mod 256.
 */
#include <string.h>

#include "vessel/devices.h"
#include "vessel/machine.h"
#include "runtime/devices/virtio.h" /* vsl_pci_acpi_aml */

#define ACPI_RSDP 0x000
#define ACPI_XSDT 0x040
#define ACPI_RSDT 0x080
#define ACPI_FADT 0x100
#define ACPI_FACS 0x240
#define ACPI_DSDT 0x300
#define ACPI_MADT 0x400
#define ACPI_END 0x500

#define FADT_LEN 276
#define GAS_IO 1

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

uint8_t vsl_acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum;
}

/* Standard 36-byte header; the checksum is fixed by acpi_seal. */
static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "VESSEL", 6);
	memcpy(t + 16, "VSLPC   ", 8);
	put32(t + 24, 1);
	memcpy(t + 28, "VSL ", 4);
	put32(t + 32, 1);
}

static void acpi_seal(uint8_t *t, size_t len, size_t sum_off)
{
	t[sum_off] = 0;
	t[sum_off] = (uint8_t)(0x100 - vsl_acpi_checksum(t, len));
}

static void acpi_gas(uint8_t *g, uint8_t bits, uint8_t access, uint64_t addr)
{
	g[0] = GAS_IO;
	g[1] = bits;
	g[2] = 0;
	g[3] = access;
	put64(g + 4, addr);
}

static void acpi_fadt(uint8_t *t, uint64_t base)
{
	acpi_header(t, "FACP", FADT_LEN, 6);
	put32(t + 36, (uint32_t)(base + ACPI_FACS));
	put32(t + 40, (uint32_t)(base + ACPI_DSDT));
	t[45] = 0;                                  /* preferred PM profile: unspecified */
	put16(t + 46, VSL_ACPI_SCI_IRQ);
	put32(t + 48, 0);                           /* SMI_CMD: none, always ACPI mode */
	put32(t + 56, VSL_ACPI_PM1A_EVT);
	put32(t + 64, VSL_ACPI_PM1A_CNT);
	put32(t + 76, VSL_ACPI_PM_TMR);
	t[88] = 4;                                  /* PM1_EVT_LEN */
	t[89] = 2;                                  /* PM1_CNT_LEN */
	t[91] = 4;                                  /* PM_TMR_LEN */
	put16(t + 96, 101);                         /* C2 latency > 100: no C2 */
	put16(t + 98, 1001);                        /* C3 latency > 1000: no C3 */
	t[108] = 0x32;                              /* RTC century register */
	/* IAPC_BOOT_ARCH: legacy devices, no 8042, no VGA, no MSI */
	put16(t + 109, 0x0001 | 0x0004 | 0x0008);
	/* flags: WBINVD, PROC_C1, PWR_BUTTON/SLP_BUTTON as control methods (none), RESET_REG_SUP */
	put32(t + 112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 10));
	acpi_gas(t + 116, 8, 1, VSL_ACPI_RESET_PORT);
	t[128] = 6;                                 /* reset value: CPU reset + full reset */
	t[131] = 0;                                 /* FADT minor version */
	put64(t + 132, base + ACPI_FACS);
	put64(t + 140, base + ACPI_DSDT);
	acpi_gas(t + 148, 32, 2, VSL_ACPI_PM1A_EVT);
	acpi_gas(t + 172, 16, 2, VSL_ACPI_PM1A_CNT);
	acpi_gas(t + 208, 32, 3, VSL_ACPI_PM_TMR);
	acpi_seal(t, FADT_LEN, 9);
}

static size_t acpi_dsdt(uint8_t *t)
{
	/* Name (_S5_, Package (0x04) { 0x05, 0x05, Zero, Zero }) */
	static const uint8_t aml[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
				       0x0A, VSL_ACPI_S5_TYP, 0x0A, VSL_ACPI_S5_TYP, 0x00, 0x00 };
	size_t len = 36 + sizeof(aml);

	memcpy(t + 36, aml, sizeof(aml));
	/* \_SB.PCI0: the PCI root bridge with _CRS and _PRT (runtime/devices/pci.c,
	 * added by the virtio engineer); 194 bytes, room up to the MADT */
	len += vsl_pci_acpi_aml(t + len, ACPI_MADT - ACPI_DSDT - len);
	acpi_header(t, "DSDT", (uint32_t)len, 2);
	acpi_seal(t, len, 9);
	return len;
}

static size_t acpi_madt(uint8_t *t)
{
	uint8_t *p = t + 44;

	put32(t + 36, (uint32_t)VSL_LAPIC_BASE);
	put32(t + 40, 1);                 /* PCAT_COMPAT: an 8259 pair is present */
	/* processor local APIC: UID 0, APIC ID 0, enabled */
	p[0] = 0; p[1] = 8; p[2] = 0; p[3] = 0; put32(p + 4, 1);
	p += 8;
	/* I/O APIC: ID 1, address, GSI base 0 */
	p[0] = 1; p[1] = 12; p[2] = 1; p[3] = 0;
	put32(p + 4, (uint32_t)VSL_IOAPIC_BASE); put32(p + 8, 0);
	p += 12;
	/* interrupt source override: ISA IRQ 0 -> GSI 2, bus-default polarity/trigger */
	p[0] = 2; p[1] = 10; p[2] = 0; p[3] = 0; put32(p + 4, 2); put16(p + 8, 0);
	p += 10;
	/* ISA IRQ 9 (SCI) -> GSI 9, active high, level-triggered */
	p[0] = 2; p[1] = 10; p[2] = 0; p[3] = VSL_ACPI_SCI_IRQ; put32(p + 4, VSL_ACPI_SCI_IRQ);
	put16(p + 8, 0x000D);
	p += 10;
	/* local APIC NMI: all processors, LINT1 */
	p[0] = 4; p[1] = 6; p[2] = 0xFF; put16(p + 3, 0); p[5] = 1;
	p += 6;
	acpi_header(t, "APIC", (uint32_t)(p - t), 4);
	acpi_seal(t, (size_t)(p - t), 9);
	return (size_t)(p - t);
}

int vsl_acpi_build(struct vsl_ctx *ctx, uint8_t *ram, uint64_t ram_size, uint64_t base,
		   uint64_t room, uint64_t *rsdp_addr)
{
	uint8_t *t;
	uint32_t madt_len;

	if (room < ACPI_END || base + ACPI_END > ram_size || base + ACPI_END > 0xFFFFFFFFull)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "no room for the ACPI tables at 0x%llx",
				     (unsigned long long)base);
	t = ram + base;
	memset(t, 0, ACPI_END);

	acpi_fadt(t + ACPI_FADT, base);
	/* FACS: no checksum; 64 bytes, version 2 */
	memcpy(t + ACPI_FACS, "FACS", 4);
	put32(t + ACPI_FACS + 4, 64);
	t[ACPI_FACS + 32] = 2;
	acpi_dsdt(t + ACPI_DSDT);
	madt_len = (uint32_t)acpi_madt(t + ACPI_MADT);
	(void)madt_len;

	/* XSDT (64-bit pointers) and RSDT (32-bit) list FADT and MADT */
	acpi_header(t + ACPI_XSDT, "XSDT", 36 + 16, 1);
	put64(t + ACPI_XSDT + 36, base + ACPI_FADT);
	put64(t + ACPI_XSDT + 44, base + ACPI_MADT);
	acpi_seal(t + ACPI_XSDT, 36 + 16, 9);
	acpi_header(t + ACPI_RSDT, "RSDT", 36 + 8, 1);
	put32(t + ACPI_RSDT + 36, (uint32_t)(base + ACPI_FADT));
	put32(t + ACPI_RSDT + 40, (uint32_t)(base + ACPI_MADT));
	acpi_seal(t + ACPI_RSDT, 36 + 8, 9);

	/* RSDP: checksum over the first 20 bytes, extended checksum over 36 */
	memcpy(t + ACPI_RSDP, "RSD PTR ", 8);
	memcpy(t + ACPI_RSDP + 9, "VESSEL", 6);
	t[ACPI_RSDP + 15] = 2;
	put32(t + ACPI_RSDP + 16, (uint32_t)(base + ACPI_RSDT));
	put32(t + ACPI_RSDP + 20, 36);
	put64(t + ACPI_RSDP + 24, base + ACPI_XSDT);
	acpi_seal(t + ACPI_RSDP, 20, 8);
	acpi_seal(t + ACPI_RSDP, 36, 32);
	*rsdp_addr = base + ACPI_RSDP;
	return 0;
}
