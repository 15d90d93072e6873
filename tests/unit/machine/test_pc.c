/*
 * Unit tests for runtime/machine/pc.c: the whole board with the CPU, on tiny
 * 64-bit "kernels" (a crafted bzImage whose startup_64 is the code below).
 * They check the boot protocol's entry state, port I/O to the UART, ACPI
 * poweroff, the keyboard-controller reset, faults (triple fault, a halt
 * that can never resume) and virtual time skipping to a PIT deadline
 * delivered through the I/O APIC.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/machine.h"

#define SETUP_SECTS 4
#define IMG_LEN (16 * 1024)

static char out[256];
static size_t outn;

static void con_write(void *opaque, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len && outn + 1 < sizeof(out); i++)
		out[outn++] = (char)buf[i];
	out[outn] = 0;
}

static int con_read(void *opaque, uint8_t *buf, size_t len)
{
	return VSL_EIO; /* no input */
}

static const struct vsl_console_ops console = { .read = con_read, .write = con_write };

static void w16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint32_t v) { w16(p, (uint16_t)v); w16(p + 2, (uint16_t)(v >> 16)); }

/* Write a bzImage whose startup_64 (offset 0x200 of the kernel) is code. */
static void make_kernel(char *path, const uint8_t *code, size_t len)
{
	static uint8_t img[IMG_LEN];
	size_t setup = (SETUP_SECTS + 1) * 512;
	int fd;

	memset(img, 0, sizeof(img));
	img[0x1F1] = SETUP_SECTS;
	w32(img + 0x1F4, (uint32_t)((IMG_LEN - setup) / 16));
	w16(img + 0x1FE, 0xAA55);
	img[0x201] = 0x6A;
	memcpy(img + 0x202, "HdrS", 4);
	w16(img + 0x206, 0x020F);
	img[0x211] = 0x01;
	img[0x234] = 1;
	w16(img + 0x236, 0x0001);
	w32(img + 0x238, 255);
	w32(img + 0x260, 0x100000);
	memcpy(img + setup + 0x200, code, len);
	strcpy(path, "/tmp/vessel-test-pc-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, img, sizeof(img)), (int)sizeof(img));
	close(fd);
}

/* Boot code; returns vsl_machine_run's result, *why and the stats. */
static int boot(const uint8_t *code, size_t len, enum vsl_machine_stop *why,
		struct vsl_machine_stats *st, struct vsl_ctx *ctx)
{
	char path[64];
	struct vsl_machine_config cfg = { .mem_size = 32u << 20, .kernel = path,
					  .engine = VSL_ENGINE_INTERP, .console = &console };
	struct vsl_machine *m;
	int r;

	outn = 0;
	out[0] = 0;
	make_kernel(path, code, len);
	m = vsl_machine_new(ctx, &cfg);
	unlink(path);
	ck_assert_msg(m != NULL, "%s", vsl_ctx_error(ctx));
	r = vsl_machine_run(m, why);
	vsl_machine_get_stats(m, st);
	if (r < 0) {
		static char dump[8192];
		vsl_machine_dump(m, dump, sizeof(dump));
		ck_assert_ptr_nonnull(strstr(dump, "rip"));
	}
	vsl_machine_free(m);
	return r;
}

START_TEST(uart_and_poweroff)
{
	static const uint8_t code[] = {
		0x66, 0xBA, 0xF8, 0x03,       /* mov dx, 0x3f8 */
		0xB0, 0x4F, 0xEE,             /* mov al, 'O'; out dx, al */
		0xB0, 0x4B, 0xEE,             /* mov al, 'K'; out dx, al */
		0x66, 0xBA, 0x04, 0x06,       /* mov dx, 0x604 (PM1a_CNT) */
		0x66, 0xB8, 0x00, 0x34,       /* mov ax, SLP_EN | 5 << 10 */
		0x66, 0xEF,                   /* out dx, ax */
		0xEB, 0xFE,                   /* jmp $ */
	};
	struct vsl_ctx *ctx = vsl_ctx_new();
	enum vsl_machine_stop why;
	struct vsl_machine_stats st;

	ck_assert_int_eq(boot(code, sizeof(code), &why, &st, ctx), 0);
	ck_assert_int_eq(why, VSL_STOP_POWEROFF);
	ck_assert_str_eq(out, "OK");
	ck_assert_uint_ge(st.instructions, 8);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(keyboard_reset)
{
	static const uint8_t code[] = {
		0xB0, 0xFE, 0xE6, 0x64,       /* mov al, 0xfe; out 0x64, al */
		0xEB, 0xFE,                   /* jmp $ */
	};
	struct vsl_ctx *ctx = vsl_ctx_new();
	enum vsl_machine_stop why;
	struct vsl_machine_stats st;

	ck_assert_int_eq(boot(code, sizeof(code), &why, &st, ctx), 0);
	ck_assert_int_eq(why, VSL_STOP_RESET);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(faults)
{
	static const uint8_t ud2[] = { 0x0F, 0x0B };   /* ud2 with an empty IDT */
	static const uint8_t dead[] = { 0xFA, 0xF4 };  /* cli; hlt */
	struct vsl_ctx *ctx = vsl_ctx_new();
	enum vsl_machine_stop why;
	struct vsl_machine_stats st;

	ck_assert_int_lt(boot(ud2, sizeof(ud2), &why, &st, ctx), 0);
	ck_assert_int_eq(why, VSL_STOP_FAULT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "triple fault"));
	ck_assert_int_lt(boot(dead, sizeof(dead), &why, &st, ctx), 0);
	ck_assert_int_eq(why, VSL_STOP_FAULT);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "interrupts disabled"));
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(timer_irq_skips_time)
{
	static const uint8_t code[] = {
		0xB0, 0xFF, 0xE6, 0x21, 0xE6, 0xA1,       /* mask both 8259s */
		0x48, 0x8D, 0x05, 0x53, 0x00, 0x00, 0x00, /* lea rax, [rip + handler] */
		0xBF, 0x00, 0x03, 0x01, 0x00,             /* mov edi, 0x10300 (IDT[0x30]) */
		0x66, 0x89, 0x07,                         /* mov [rdi], ax */
		0x66, 0xC7, 0x47, 0x02, 0x10, 0x00,       /* mov word [rdi+2], 0x10 */
		0x66, 0xC7, 0x47, 0x04, 0x00, 0x8E,       /* mov word [rdi+4], 0x8e00 */
		0x48, 0xC1, 0xE8, 0x10,                   /* shr rax, 16 */
		0x66, 0x89, 0x47, 0x06,                   /* mov [rdi+6], ax */
		0x48, 0xC1, 0xE8, 0x10,                   /* shr rax, 16 */
		0x89, 0x47, 0x08,                         /* mov [rdi+8], eax */
		0xC7, 0x47, 0x0C, 0x00, 0x00, 0x00, 0x00, /* mov dword [rdi+12], 0 */
		0x0F, 0x01, 0x1D, 0x35, 0x00, 0x00, 0x00, /* lidt [rip + idtr] */
		0xBF, 0x00, 0x00, 0xC0, 0xFE,             /* mov edi, 0xfec00000 */
		0xC7, 0x07, 0x14, 0x00, 0x00, 0x00,       /* IOREGSEL = 0x14 (pin 2) */
		0xC7, 0x47, 0x10, 0x30, 0x00, 0x00, 0x00, /* IOWIN = vector 0x30, edge, unmasked */
		0xB0, 0x34, 0xE6, 0x43,                   /* PIT ch0, lsb/msb, mode 2 */
		0xB0, 0x9C, 0xE6, 0x40,                   /* 11932 ticks = 10 ms */
		0xB0, 0x2E, 0xE6, 0x40,
		0xFB,                                     /* sti */
		0xF4, 0xEB, 0xFD,                         /* 1: hlt; jmp 1b */
		/* handler: */
		0x66, 0xBA, 0xF8, 0x03, 0xB0, 0x54, 0xEE, /* print 'T' */
		0x66, 0xBA, 0x04, 0x06, 0x66, 0xB8, 0x00, 0x34, 0x66, 0xEF, /* poweroff */
		0xEB, 0xFE,
		/* idtr: */
		0xFF, 0x0F, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct vsl_ctx *ctx = vsl_ctx_new();
	enum vsl_machine_stop why;
	struct vsl_machine_stats st;

	ck_assert_int_eq(boot(code, sizeof(code), &why, &st, ctx), 0);
	ck_assert_int_eq(why, VSL_STOP_POWEROFF);
	ck_assert_str_eq(out, "T");
	/* the CPU halted at once; time jumped to the PIT's deadline */
	ck_assert_uint_ge(st.halts, 1);
	ck_assert_uint_ge(st.vtime_ns, 9990000);
	ck_assert_uint_ge(st.skipped_ns, 9900000);
	ck_assert_uint_lt(st.instructions, 1000);
	vsl_ctx_free(ctx);
}
END_TEST

static char logged[512];

static void log_cb(void *opaque, enum vsl_log_level level, const char *file, int line,
		   const char *func, const char *msg)
{
	if (level == VSL_LOG_DEBUG && strlen(logged) + strlen(msg) + 2 < sizeof(logged)) {
		strcat(logged, msg);
		strcat(logged, "\n");
	}
}

START_TEST(unassigned_ports)
{
	static const uint8_t code[] = {
		0xE4, 0xE9,                   /* in al, 0xe9 (nothing there) */
		0x66, 0xBA, 0xF8, 0x03,       /* mov dx, 0x3f8 */
		0xEE,                         /* out dx, al: prints what was read */
		0xE6, 0xEA,                   /* out 0xea, al (nothing there) */
		0xE4, 0xE9,                   /* in al, 0xe9 again: logged once */
		0x66, 0xBA, 0x04, 0x06, 0x66, 0xB8, 0x00, 0x34, 0x66, 0xEF, /* poweroff */
		0xEB, 0xFE,
	};
	struct vsl_ctx *ctx = vsl_ctx_new();
	enum vsl_machine_stop why;
	struct vsl_machine_stats st;

	logged[0] = 0;
	vsl_ctx_set_log(ctx, log_cb, NULL);
	vsl_ctx_set_log_level(ctx, VSL_LOG_DEBUG);
	ck_assert_int_eq(boot(code, sizeof(code), &why, &st, ctx), 0);
	ck_assert_int_eq(why, VSL_STOP_POWEROFF);
	ck_assert_str_eq(out, "\xff");
	ck_assert_ptr_nonnull(strstr(logged, "read unassigned I/O port 0xe9"));
	ck_assert_ptr_nonnull(strstr(logged, "wrote 0xff to unassigned I/O port 0xea"));
	ck_assert_ptr_null(strstr(strstr(logged, "port 0xe9") + 1, "port 0xe9"));
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(bad_config)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	char path[64];
	static const uint8_t code[] = { 0xEB, 0xFE };
	struct vsl_machine_config cfg = { .kernel = path, .engine = VSL_ENGINE_INTERP };

	make_kernel(path, code, sizeof(code));
	cfg.mem_size = 0;
	ck_assert_ptr_null(vsl_machine_new(ctx, &cfg));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "too small"));
	cfg.mem_size = vsl_host_ram() + (1ull << 30);
	ck_assert_ptr_null(vsl_machine_new(ctx, &cfg));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "more than this host has"));
	cfg.mem_size = 32u << 20;
	cfg.initrd = "/nonexistent/initrd";
	ck_assert_ptr_null(vsl_machine_new(ctx, &cfg));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "initrd /nonexistent/initrd"));
	cfg.initrd = "/";
	ck_assert_ptr_null(vsl_machine_new(ctx, &cfg));
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "not a regular file"));
	unlink(path);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pc");
	TCase *tc = tcase_create("board");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, uart_and_poweroff);
	tcase_add_test(tc, keyboard_reset);
	tcase_add_test(tc, faults);
	tcase_add_test(tc, timer_irq_skips_time);
	tcase_add_test(tc, unassigned_ports);
	tcase_add_test(tc, bad_config);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
