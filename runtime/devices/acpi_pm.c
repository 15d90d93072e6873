/*
 * ACPI fixed hardware of the PC board: the PM1a event block (status and
 * enable, 0x600), the PM1a control block (0x604), the 24-bit power
 * management timer (0x608, 3.579545 MHz on virtual time) and the reset
 * control register 0xCF9, which the FADT also names as its reset register.
 *
 * Sleep: writing PM1a_CNT with SLP_EN (bit 13) and SLP_TYP (bits 12..10)
 * equal to the \_S5 value of our DSDT powers the machine off; other sleep
 * states are not offered by the DSDT, so they are ignored. SCI_EN (bit 0)
 * reads as 1: the machine is always in ACPI mode (the FADT has no SMI
 * command port).
 *
 *	PM1a_CNT: 13 SLP_EN | 12..10 SLP_TYP | 2 GBL_RLS | 1 BM_RLD | 0 SCI_EN
 *	0xCF9:    bit 2 = 1 resets (the FADT reset value is 6)
 */
#include <stdlib.h>

#include "vessel/devices.h"

struct vsl_acpi_pm {
	struct vsl_clock *clk;
	void (*poweroff)(void *opaque);
	void (*reset)(void *opaque);
	void *opaque;
	uint16_t sts, en, cnt;
	uint8_t rcr;
};

static uint32_t acpi_pm_timer(const struct vsl_acpi_pm *pm)
{
	uint64_t ns = vsl_clock_now(pm->clk);

	return (uint32_t)((unsigned __int128)ns * VSL_ACPI_PMTMR_HZ / VSL_NS_PER_SEC) & 0xFFFFFF;
}

/* Byte-wise view of the 12 bytes: sts(2) en(2) cnt(2) pad(2) tmr(4). */
static uint64_t acpi_pm_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_acpi_pm *pm = opaque;
	uint8_t regs[12] = { 0 };
	uint32_t tmr = acpi_pm_timer(pm);
	uint16_t cnt = pm->cnt | 1; /* SCI_EN */
	unsigned size = 1u << size_log2;
	uint64_t v = 0;

	regs[0] = (uint8_t)pm->sts; regs[1] = (uint8_t)(pm->sts >> 8);
	regs[2] = (uint8_t)pm->en; regs[3] = (uint8_t)(pm->en >> 8);
	regs[4] = (uint8_t)cnt; regs[5] = (uint8_t)(cnt >> 8);
	for (int i = 0; i < 4; i++)
		regs[8 + i] = (uint8_t)(tmr >> (8 * i));
	for (unsigned i = 0; i < size && off + i < sizeof(regs); i++)
		v |= (uint64_t)regs[off + i] << (8 * i);
	return v;
}

static void acpi_pm_cnt_write(struct vsl_acpi_pm *pm, uint16_t v)
{
	unsigned typ = (v >> 10) & 7;

	pm->cnt = v & (uint16_t)~(1u << 13); /* SLP_EN is write-only */
	if ((v & (1u << 13)) && typ == VSL_ACPI_S5_TYP && pm->poweroff)
		pm->poweroff(pm->opaque);
}

static void acpi_pm_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_acpi_pm *pm = opaque;
	unsigned size = 1u << size_log2;

	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));
		switch (o) {
		case 0: pm->sts &= (uint16_t)~b; break;          /* write 1 to clear */
		case 1: pm->sts &= (uint16_t)~(b << 8); break;
		case 2: pm->en = (uint16_t)((pm->en & 0xFF00) | b); break;
		case 3: pm->en = (uint16_t)((pm->en & 0x00FF) | b << 8); break;
		case 4:
			/* a 16-bit write is handled as a whole below */
			if (size == 1)
				acpi_pm_cnt_write(pm, (uint16_t)((pm->cnt & 0xFF00) | b));
			break;
		case 5:
			if (size == 1)
				acpi_pm_cnt_write(pm, (uint16_t)((pm->cnt & 0x00FF) | b << 8));
			break;
		default: break; /* the timer is read-only */
		}
	}
	if (off == 4 && size >= 2)
		acpi_pm_cnt_write(pm, (uint16_t)val);
}

static uint64_t acpi_rcr_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_acpi_pm *pm = opaque;

	return pm->rcr;
}

static void acpi_rcr_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_acpi_pm *pm = opaque;

	pm->rcr = (uint8_t)val & 0x0A;
	if ((val & 0x04) && pm->reset)
		pm->reset(pm->opaque);
}

struct vsl_acpi_pm *vsl_acpi_pm_new(struct vsl_clock *clk, void (*poweroff)(void *opaque),
				    void (*reset)(void *opaque), void *opaque)
{
	struct vsl_acpi_pm *pm = calloc(1, sizeof(*pm));

	if (!pm)
		return NULL;
	*pm = (struct vsl_acpi_pm){ .clk = clk, .poweroff = poweroff, .reset = reset,
				    .opaque = opaque };
	return pm;
}

void vsl_acpi_pm_free(struct vsl_acpi_pm *pm)
{
	free(pm);
}

int vsl_acpi_pm_map(struct vsl_acpi_pm *pm, struct vsl_bus *io)
{
	int r = vsl_bus_map(io, VSL_ACPI_PM1A_EVT, 12, pm, acpi_pm_read, acpi_pm_write);

	return r ? r : vsl_bus_map(io, VSL_ACPI_RESET_PORT, 1, pm, acpi_rcr_read, acpi_rcr_write);
}
