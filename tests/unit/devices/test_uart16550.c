/* Unit tests for runtime/devices/uart16550.c, driven through the bus. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/bus.h"
#include "vessel/devices.h"

#define COM1 0x3F8

static int irq_level;
static unsigned irq_changes;
static uint8_t txbuf[64];
static size_t txn;

static void irq_set(void *opaque, int n, int level)
{
	ck_assert_int_eq(n, 4);
	irq_level = level;
	irq_changes++;
}

static void tx(void *opaque, uint8_t b)
{
	if (txn < sizeof(txbuf))
		txbuf[txn++] = b;
}

static struct vsl_bus *bus;
static struct vsl_uart *uart;

static void setup(void)
{
	bus = vsl_bus_new("io");
	uart = vsl_uart_new((struct vsl_irq){ irq_set, NULL, 4 }, tx, NULL);
	ck_assert_int_eq(vsl_uart_map(uart, bus, COM1), 0);
	irq_level = 0;
	irq_changes = 0;
	txn = 0;
}

static void teardown(void)
{
	vsl_uart_free(uart);
	vsl_bus_free(bus);
}

static uint8_t in8(uint16_t port)
{
	uint64_t v;

	ck_assert(vsl_bus_read(bus, port, 0, &v));
	return (uint8_t)v;
}

static void out8(uint16_t port, uint8_t v)
{
	ck_assert(vsl_bus_write(bus, port, 0, v));
}

START_TEST(divisor_and_scratch)
{
	out8(COM1 + 3, 0x83);          /* DLAB, 8N1 */
	out8(COM1 + 0, 0x01);          /* 115200 */
	out8(COM1 + 1, 0x00);
	ck_assert_uint_eq(in8(COM1 + 0), 0x01);
	ck_assert_uint_eq(in8(COM1 + 1), 0x00);
	out8(COM1 + 3, 0x03);
	ck_assert_uint_eq(in8(COM1 + 3), 0x03);
	out8(COM1 + 7, 0x5A);
	ck_assert_uint_eq(in8(COM1 + 7), 0x5A);
	/* divisor writes never reached the transmitter */
	ck_assert_uint_eq(txn, 0);
}
END_TEST

START_TEST(transmit_and_thre_irq)
{
	ck_assert_uint_eq(in8(COM1 + 5) & 0x60, 0x60); /* THRE | TEMT */
	out8(COM1 + 0, 'h');
	out8(COM1 + 0, 'i');
	ck_assert_uint_eq(txn, 2);
	ck_assert_mem_eq(txbuf, "hi", 2);
	ck_assert_uint_eq(in8(COM1 + 5) & 0x60, 0x60);
	/* THRI enabled but OUT2 low: the line stays low on a PC */
	out8(COM1 + 1, 0x02);
	ck_assert_int_eq(irq_level, 0);
	out8(COM1 + 4, 0x0B); /* DTR | RTS | OUT2 */
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(in8(COM1 + 2) & 0x0F, 0x02); /* THRE pending; reading IIR clears it */
	ck_assert_int_eq(irq_level, 0);
	ck_assert_uint_eq(in8(COM1 + 2) & 0x0F, 0x01);
	/* the next byte sent raises THRE again */
	out8(COM1 + 0, '!');
	ck_assert_int_eq(irq_level, 1);
	out8(COM1 + 1, 0x00);
	ck_assert_int_eq(irq_level, 0);
}
END_TEST

START_TEST(receive_fifo)
{
	uint8_t data[20];

	for (int i = 0; i < 20; i++)
		data[i] = (uint8_t)('a' + i);
	out8(COM1 + 2, 0xC7); /* FIFO on, clear, trigger 14 */
	ck_assert_uint_eq(in8(COM1 + 2) & 0xC0, 0xC0); /* 16550A FIFO signature */
	out8(COM1 + 4, 0x08);
	ck_assert(!vsl_uart_rx_listening(uart));
	out8(COM1 + 1, 0x01); /* RX data interrupt */
	ck_assert(vsl_uart_rx_listening(uart));
	ck_assert_int_eq(irq_level, 0);
	ck_assert_uint_eq(in8(COM1 + 5) & 0x01, 0);
	ck_assert_uint_eq(vsl_uart_rx_room(uart), VSL_UART_FIFO);
	/* a few bytes below the trigger level: the "timeout" cause */
	ck_assert_uint_eq(vsl_uart_rx_push(uart, data, 3), 3);
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(in8(COM1 + 2) & 0x0F, 0x0C);
	/* fill up: only the room is taken */
	ck_assert_uint_eq(vsl_uart_rx_push(uart, data + 3, 17), 13);
	ck_assert_uint_eq(vsl_uart_rx_room(uart), 0);
	ck_assert_uint_eq(in8(COM1 + 2) & 0x0F, 0x04);
	for (int i = 0; i < 16; i++) {
		ck_assert_uint_eq(in8(COM1 + 5) & 0x01, 1);
		ck_assert_uint_eq(in8(COM1 + 0), 'a' + i);
	}
	ck_assert_uint_eq(in8(COM1 + 5) & 0x01, 0);
	ck_assert_int_eq(irq_level, 0);
	ck_assert_uint_eq(in8(COM1 + 2) & 0x0F, 0x01);
	/* FCR "clear RX" empties the FIFO */
	vsl_uart_rx_push(uart, data, 5);
	out8(COM1 + 2, 0xC3);
	ck_assert_uint_eq(in8(COM1 + 5) & 0x01, 0);
	ck_assert_int_eq(irq_level, 0);
}
END_TEST

START_TEST(loopback)
{
	/* Linux's 8250 probe: MCR = LOOP | OUT2 | RTS must read MSR status 0x90 */
	out8(COM1 + 4, 0x1A);
	ck_assert_uint_eq(in8(COM1 + 6) & 0xF0, 0x90);
	out8(COM1 + 4, 0x1F);
	ck_assert_uint_eq(in8(COM1 + 6) & 0xF0, 0xF0);
	/* transmitted bytes come back, and do not leave */
	out8(COM1 + 0, 'Z');
	ck_assert_uint_eq(txn, 0);
	ck_assert_uint_eq(in8(COM1 + 5) & 0x01, 1);
	ck_assert_uint_eq(in8(COM1 + 0), 'Z');
	/* the outside cannot push while in loopback */
	ck_assert_uint_eq(vsl_uart_rx_room(uart), 0);
	out8(COM1 + 4, 0x0B);
	ck_assert_uint_eq(in8(COM1 + 6) & 0xB0, 0xB0); /* cable: CTS, DSR, DCD */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uart16550");
	TCase *tc = tcase_create("registers");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, divisor_and_scratch);
	tcase_add_test(tc, transmit_and_thre_irq);
	tcase_add_test(tc, receive_fifo);
	tcase_add_test(tc, loopback);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
