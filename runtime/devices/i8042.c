/*
 * i8042 keyboard controller (data 0x60, status/command 0x64), as much as a
 * headless PC needs: the reset line (command 0xFE, or clearing bit 0 of the
 * output port with 0xD1) and honest answers to the controller commands the
 * kernel's probe sends (read/write the command byte, self tests). No
 * keyboard or mouse is attached: bytes sent to a device are acknowledged
 * (0xFA) and a reset of the keyboard answers 0xFA 0xAA, so a probing driver
 * finds a quiet controller instead of timing out. No interrupts are raised;
 * the status register's OBF bit is what pollers look at.
 *
 *	status (0x64 read): bit 0 OBF, 1 IBF, 2 system flag, 3 last write was a command,
 *	                    4 keyboard not inhibited, 5 OBF is from the aux port
 */
#include <stdlib.h>

#include "vessel/devices.h"

struct vsl_i8042 {
	void (*reset)(void *opaque);
	void *opaque;
	uint8_t ctr;       /* controller command byte */
	uint8_t status;
	uint8_t pending;   /* command waiting for its data byte (0 none) */
	uint8_t out[8];    /* output buffer queue */
	unsigned out_head, out_n;
	uint8_t outport;
};

static void i8042_push(struct vsl_i8042 *k, uint8_t b)
{
	if (k->out_n == sizeof(k->out))
		return;
	k->out[(k->out_head + k->out_n) % sizeof(k->out)] = b;
	k->out_n++;
}

static uint64_t i8042_read(void *opaque, uint64_t off, unsigned size_log2)
{
	struct vsl_i8042 *k = opaque;
	uint8_t v;

	if (off == 4) /* status: 0x64 */
		return k->status | (k->out_n ? 0x01 : 0) | 0x10;
	if (!k->out_n)
		return 0x00;
	v = k->out[k->out_head];
	k->out_head = (k->out_head + 1) % sizeof(k->out);
	k->out_n--;
	return v;
}

static void i8042_command(struct vsl_i8042 *k, uint8_t cmd)
{
	k->status |= 0x08;
	switch (cmd) {
	case 0x20: i8042_push(k, k->ctr); break;
	case 0x60: case 0xD1: case 0xD2: case 0xD3: case 0xD4:
		k->pending = cmd;
		break;
	case 0xA7: k->ctr |= 0x20; break;
	case 0xA8: k->ctr &= (uint8_t)~0x20; break;
	case 0xA9: i8042_push(k, 0x00); break; /* aux interface test: ok */
	case 0xAA: /* controller self test */
		i8042_push(k, 0x55);
		k->status |= 0x04;
		break;
	case 0xAB: i8042_push(k, 0x00); break; /* keyboard interface test: ok */
	case 0xAD: k->ctr |= 0x10; break;
	case 0xAE: k->ctr &= (uint8_t)~0x10; break;
	case 0xC0: i8042_push(k, 0x00); break; /* input port */
	case 0xD0: i8042_push(k, k->outport); break;
	default:
		/* 0xF0-0xFF pulse output lines for 6 us; bit 0 low = CPU reset */
		if (cmd >= 0xF0 && !(cmd & 1) && k->reset)
			k->reset(k->opaque);
		break;
	}
}

static void i8042_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_i8042 *k = opaque;
	uint8_t v = (uint8_t)val;

	if (off == 4) {
		i8042_command(k, v);
		return;
	}
	k->status &= (uint8_t)~0x08;
	switch (k->pending) {
	case 0x60:
		k->ctr = v;
		k->status = (uint8_t)((k->status & ~0x04) | (v & 0x04));
		break;
	case 0xD1:
		k->outport = v;
		if (!(v & 1) && k->reset)
			k->reset(k->opaque);
		break;
	case 0xD2: i8042_push(k, v); break;   /* echo as if from the keyboard */
	case 0xD3: i8042_push(k, v); break;   /* echo as if from the mouse */
	case 0xD4: i8042_push(k, 0xFE); break; /* no mouse: resend */
	default:
		/* a byte for the keyboard: acknowledge; a reset also passes BAT */
		i8042_push(k, 0xFA);
		if (v == 0xFF)
			i8042_push(k, 0xAA);
		break;
	}
	k->pending = 0;
}

static uint64_t i8042_status_read(void *opaque, uint64_t off, unsigned size_log2)
{
	return i8042_read(opaque, 4, size_log2);
}

static void i8042_status_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	i8042_write(opaque, 4, val, size_log2);
}

struct vsl_i8042 *vsl_i8042_new(void (*reset)(void *opaque), void *opaque)
{
	struct vsl_i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->reset = reset;
	k->opaque = opaque;
	k->ctr = 0x45; /* keyboard IRQ on, system flag, translation */
	k->status = 0x04;
	k->outport = 0x03; /* reset line high, A20 on */
	return k;
}

void vsl_i8042_free(struct vsl_i8042 *k)
{
	free(k);
}

int vsl_i8042_map(struct vsl_i8042 *k, struct vsl_bus *io)
{
	/* one range 0x60..0x64 would swallow port 0x61 (the PIT's); map two */
	int r = vsl_bus_map(io, 0x60, 1, k, i8042_read, i8042_write);

	return r ? r : vsl_bus_map(io, 0x64, 1, k, i8042_status_read, i8042_status_write);
}
