/*
 * Unit tests for runtime/machine/linux.c: the bzImage parser on crafted
 * headers (good and bad) and on the real Debian kernel when scripts/
 * fetch-guest.sh has fetched it, and the loader's placement in RAM.
 */
#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/machine.h"

#define IMG_LEN (64 * 1024)
#define SETUP_SECTS 4

static uint8_t img[IMG_LEN];
static struct vsl_ctx *ctx;

static void w16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void w32(uint8_t *p, uint32_t v) { w16(p, (uint16_t)v); w16(p + 2, (uint16_t)(v >> 16)); }
static void w64(uint8_t *p, uint64_t v) { w32(p, (uint32_t)v); w32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t r32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t r64(const uint8_t *p) { return r32(p) | (uint64_t)r32(p + 4) << 32; }

/* A minimal valid bzImage: protocol 2.15, 64-bit, relocatable. */
static void setup(void)
{
	size_t setup = (SETUP_SECTS + 1) * 512;

	ctx = vsl_ctx_new();
	memset(img, 0, sizeof(img));
	img[0x1F1] = SETUP_SECTS;
	w32(img + 0x1F4, (uint32_t)((IMG_LEN - setup) / 16));
	w16(img + 0x1FE, 0xAA55);
	img[0x200] = 0xEB;
	img[0x201] = 0x6A;                 /* header ends at 0x26C */
	memcpy(img + 0x202, "HdrS", 4);
	w16(img + 0x206, 0x020F);
	img[0x211] = 0x01;                 /* LOADED_HIGH */
	w32(img + 0x22C, 0x7FFFFFFF);      /* initrd_addr_max */
	w32(img + 0x230, 0x200000);
	img[0x234] = 1;                    /* relocatable */
	w16(img + 0x236, 0x0003);          /* XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	w32(img + 0x238, 64);              /* cmdline_size */
	w64(img + 0x258, 0x1000000);       /* pref_address: 16 MiB */
	w32(img + 0x260, 0x400000);        /* init_size: 4 MiB */
	/* recognisable kernel bytes */
	for (size_t i = setup; i < IMG_LEN; i++)
		img[i] = (uint8_t)(i * 7);
}

static void teardown(void)
{
	vsl_ctx_free(ctx);
}

START_TEST(parse_good)
{
	struct vsl_linux_header h;

	ck_assert_int_eq(vsl_linux_parse(ctx, img, IMG_LEN, &h), 0);
	ck_assert_uint_eq(h.version, 0x020F);
	ck_assert_uint_eq(h.setup_size, 5 * 512);
	ck_assert_uint_eq(h.kernel_size, IMG_LEN - 5 * 512);
	ck_assert_uint_eq(h.cmdline_size, 64);
	ck_assert_uint_eq(h.pref_address, 0x1000000);
	ck_assert(h.relocatable);
	/* setup_sects 0 means 4 */
	img[0x1F1] = 0;
	ck_assert_int_eq(vsl_linux_parse(ctx, img, IMG_LEN, &h), 0);
	ck_assert_uint_eq(h.setup_size, 5 * 512);
}
END_TEST

START_TEST(parse_bad)
{
	struct vsl_linux_header h;

	/* not a bzImage at all */
	memcpy(img + 0x202, "ELF!", 4);
	ck_assert_int_eq(vsl_linux_parse(ctx, img, IMG_LEN, &h), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "not a bzImage"));
	memcpy(img + 0x202, "HdrS", 4);
	/* too short for a header */
	ck_assert_int_eq(vsl_linux_parse(ctx, img, 0x100, &h), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "too short"));
	/* truncated: the file ends before syssize says */
	ck_assert_int_eq(vsl_linux_parse(ctx, img, IMG_LEN - 4096, &h), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "truncated"));
	/* truncated inside the setup */
	ck_assert_int_eq(vsl_linux_parse(ctx, img, 0x300, &h), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "truncated"));
	/* old protocol */
	w16(img + 0x206, 0x0208);
	ck_assert_int_eq(vsl_linux_parse(ctx, img, IMG_LEN, &h), VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "2.08 is too old"));
	w16(img + 0x206, 0x020F);
	/* no 64-bit entry */
	w16(img + 0x236, 0x0000);
	ck_assert_int_eq(vsl_linux_parse(ctx, img, IMG_LEN, &h), VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "XLF_KERNEL_64"));
	w16(img + 0x236, 0x0003);
	/* zImage */
	img[0x211] = 0;
	ck_assert_int_eq(vsl_linux_parse(ctx, img, IMG_LEN, &h), VSL_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "zImage"));
	/* boot flag */
	img[0x211] = 1;
	w16(img + 0x1FE, 0);
	ck_assert_int_eq(vsl_linux_parse(ctx, img, IMG_LEN, &h), VSL_EINVAL);
}
END_TEST

/* RAM past 3 GiB continues at 4 GiB; the hole between holds MMIO, not RAM */
START_TEST(e820_high_ram)
{
	struct vsl_e820_entry e[8];
	uint64_t ram = 0, top = 0;
	size_t n = vsl_pc_e820(5ull << 30, e, 8);

	for (size_t i = 0; i < n; i++) {
		if (e[i].type != VSL_E820_RAM)
			continue;
		ram += e[i].size;
		top = VSL_MAX(top, e[i].addr + e[i].size);
		/* no RAM entry reaches into [3 GiB, 4 GiB) */
		ck_assert(e[i].addr + e[i].size <= VSL_PC_LOW_RAM_END ||
			  e[i].addr >= VSL_PC_HIGH_RAM_BASE);
	}
	ck_assert_uint_eq(top, VSL_PC_HIGH_RAM_BASE + (2ull << 30));
	/* all of it but the EBDA, the VGA hole and the BIOS area */
	ck_assert_uint_eq(ram, (5ull << 30) - (0x100000 - VSL_PC_EBDA));
	/* below 3 GiB nothing is placed above 4 GiB */
	n = vsl_pc_e820(1ull << 30, e, 8);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_lt(e[i].addr, VSL_PC_HIGH_RAM_BASE);
}
END_TEST

START_TEST(load_places_everything)
{
	uint64_t ram_size = 64ull << 20;
	uint8_t *ram = calloc(1, ram_size);
	static const uint8_t initrd[5000] = { 0x1F, 0x8B, 0x08 };
	struct vsl_e820_entry e820[8];
	size_t n = vsl_pc_e820(ram_size, e820, 8);
	struct vsl_linux_boot b = { .kernel = img, .kernel_len = IMG_LEN, .initrd = initrd,
				    .initrd_len = sizeof(initrd), .cmdline = "console=ttyS0 quiet",
				    .e820 = e820, .e820_n = n, .rsdp_addr = 0xE0000 };
	const uint8_t *bp;

	ck_assert_int_eq(vsl_linux_load(ctx, ram, ram_size, &b), 0);
	ck_assert_uint_eq(b.kernel_addr, 0x1000000);
	ck_assert_uint_eq(b.entry, 0x1000200);
	ck_assert_mem_eq(ram + b.kernel_addr, img + 5 * 512, IMG_LEN - 5 * 512);
	/* initrd: page-aligned at the top of RAM */
	ck_assert_uint_eq(b.initrd_addr & 0xFFF, 0);
	ck_assert_uint_le(b.initrd_addr + sizeof(initrd), ram_size);
	ck_assert_uint_gt(b.initrd_addr + 4096 + sizeof(initrd), ram_size);
	ck_assert_mem_eq(ram + b.initrd_addr, initrd, sizeof(initrd));
	/* zero page */
	bp = ram + b.boot_params;
	ck_assert_uint_eq(bp[0x210], 0xFF);                     /* type_of_loader */
	ck_assert_mem_eq(bp + 0x202, "HdrS", 4);
	ck_assert_uint_eq(r32(bp + 0x228), VSL_LINUX_CMDLINE);
	ck_assert_str_eq((const char *)ram + VSL_LINUX_CMDLINE, "console=ttyS0 quiet");
	ck_assert_uint_eq(r32(bp + 0x218), b.initrd_addr);
	ck_assert_uint_eq(r32(bp + 0x21C), sizeof(initrd));
	ck_assert_uint_eq(r32(bp + 0x0C0), 0);
	ck_assert_uint_eq(r64(bp + 0x070), 0xE0000);
	ck_assert_uint_eq(bp[0x1E8], n);
	ck_assert_uint_eq(r64(bp + 0x2D0 + 20 * 3), 0x100000);  /* 4th entry: RAM at 1 MiB */
	ck_assert_uint_eq(r32(bp + 0x2D0 + 20 * 3 + 16), VSL_E820_RAM);
	/* identity map: PML4[0] -> PDPT, PDPT[0] -> PD, PD[8] maps 16 MiB as a 2 MiB page */
	ck_assert_uint_eq(r64(ram + b.cr3) & ~0xFFFull, b.cr3 + 0x1000);
	ck_assert_uint_eq(r64(ram + b.cr3 + 0x1000 + 8 * 3) & ~0xFFFull, b.cr3 + 0x5000);
	ck_assert_uint_eq(r64(ram + b.cr3 + 0x2000 + 8 * 8), 0x1000000 | 0x83);
	ck_assert_uint_eq(r64(ram + VSL_LINUX_GDT + 0x10), 0x00AF9B000000FFFFull);
	free(ram);
}
END_TEST

START_TEST(load_errors)
{
	uint64_t ram_size = 64ull << 20;
	uint8_t *ram = calloc(1, ram_size);
	char longline[100];
	struct vsl_linux_boot b = { .kernel = img, .kernel_len = IMG_LEN };
	static uint8_t big_initrd[40u << 20];

	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	b.cmdline = longline;
	ck_assert_int_eq(vsl_linux_load(ctx, ram, ram_size, &b), VSL_ERANGE);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "at most 64"));
	/* exactly cmdline_size is fine */
	longline[64] = 0;
	ck_assert_int_eq(vsl_linux_load(ctx, ram, ram_size, &b), 0);
	/* 16 MiB of RAM: the kernel falls back to 1 MiB */
	ck_assert_int_eq(vsl_linux_load(ctx, ram, 16u << 20, &b), 0);
	ck_assert_uint_eq(b.kernel_addr, 0x100000);
	/* the initrd does not fit above the kernel */
	b.initrd = big_initrd;
	b.initrd_len = sizeof(big_initrd);
	ck_assert_int_eq(vsl_linux_load(ctx, ram, 32u << 20, &b), VSL_ENOMEM);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "too small"));
	free(ram);
}
END_TEST

/* The real Debian kernel, when scripts/fetch-guest.sh has run. */
START_TEST(real_kernel)
{
	const char *dir = getenv("VESSEL_GUEST_DIR");
	char pattern[512];
	glob_t g;
	struct vsl_linux_header h;
	FILE *f;
	uint8_t *buf;
	long len;

	snprintf(pattern, sizeof(pattern), "%s/root/boot/vmlinuz-*", dir ? dir : "build/guest");
	if (glob(pattern, 0, NULL, &g) != 0) {
		fprintf(stderr, "test_linux: real_kernel: no kernel at %s "
				"(run scripts/fetch-guest.sh); crafted headers only\n", pattern);
		return;
	}
	f = fopen(g.gl_pathv[0], "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc((size_t)len);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	ck_assert_int_eq(vsl_linux_parse(ctx, buf, (size_t)len, &h), 0);
	ck_assert_uint_ge(h.version, 0x020C);
	ck_assert(h.xloadflags & 1);
	ck_assert(h.relocatable);
	ck_assert_uint_ge(h.cmdline_size, 255);
	ck_assert_uint_gt(h.init_size, h.kernel_size);
	/* and cut short, the same file is refused */
	ck_assert_int_eq(vsl_linux_parse(ctx, buf, (size_t)len / 2, &h), VSL_EINVAL);
	ck_assert_ptr_nonnull(strstr(vsl_ctx_error(ctx), "truncated"));
	free(buf);
	globfree(&g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("linux");
	TCase *tc = tcase_create("bzimage");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, parse_good);
	tcase_add_test(tc, parse_bad);
	tcase_add_test(tc, load_places_everything);
	tcase_add_test(tc, e820_high_ram);
	tcase_add_test(tc, load_errors);
	tcase_add_test(tc, real_kernel);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
