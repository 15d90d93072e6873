/*
 * Direct Linux boot, x86-64 flavour of the boot protocol
 * (Documentation/x86/boot.rst): parse the bzImage setup header, place the
 * protected-mode kernel, the initrd and the command line in guest RAM, fill
 * the zero page (struct boot_params) and enter startup_64 in long mode.
 *
 * A bzImage file is the real-mode setup ((setup_sects + 1) * 512 bytes,
 * including the boot sector) followed by the protected-mode kernel. The
 * setup header lives at 0x1F1 in both the file and boot_params:
 *
 *	0x1F1 setup_sects  0x1F4 syssize  0x1FE boot_flag 0xAA55  0x202 "HdrS"
 *	0x206 version  0x210 type_of_loader  0x211 loadflags  0x218 ramdisk_image
 *	0x21C ramdisk_size  0x228 cmd_line_ptr  0x22C initrd_addr_max
 *	0x230 kernel_alignment  0x234 relocatable_kernel  0x236 xloadflags
 *	0x238 cmdline_size  0x258 pref_address  0x260 init_size
 *
 * boot_params fields outside the header: 0x070 acpi_rsdp_addr, 0x0C0
 * ext_ramdisk_image, 0x0C4 ext_ramdisk_size, 0x0C8 ext_cmd_line_ptr, 0x1E8
 * e820_entries, 0x2D0 e820_table (128 x {u64 addr, u64 size, u32 type}).
 *
 * The 64-bit entry needs long mode with paging, an identity map covering the
 * kernel, boot_params, command line and initrd (we map the first 4 GiB with
 * 2 MiB pages), CS = __BOOT_CS (0x10, 64-bit code), DS/ES/SS = __BOOT_DS
 * (0x18), interrupts off, RSI = boot_params.
 */
#include <string.h>

#include "vessel/machine.h"

#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0C0
#define BP_EXT_RAMDISK_SIZE 0x0C4
#define BP_EXT_CMD_LINE_PTR 0x0C8
#define BP_E820_ENTRIES 0x1E8
#define BP_HDR 0x1F1
#define BP_HDR_END 0x290  /* edd_mbr_sig_buffer follows the header */
#define BP_E820_TABLE 0x2D0
#define BP_E820_MAX 128

#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21C
#define HDR_CMD_LINE_PTR 0x228

#define LOADED_HIGH 0x01
#define KEEP_SEGMENTS 0x40
#define XLF_KERNEL_64 0x01

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

int vsl_linux_parse(struct vsl_ctx *ctx, const uint8_t *img, size_t len,
		    struct vsl_linux_header *h)
{
	size_t hdr_end;

	memset(h, 0, sizeof(*h));
	if (len < 0x264)
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "not a bzImage: %zu bytes is too short for a setup header", len);
	if (memcmp(img + 0x202, "HdrS", 4) != 0 || rd16(img + 0x1FE) != 0xAA55)
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "not a bzImage (no \"HdrS\" setup header signature at 0x202)");
	h->version = rd16(img + 0x206);
	if (h->version < 0x020C)
		return vsl_set_error(ctx, 0, VSL_ENOTSUP,
				     "boot protocol %u.%02u is too old: the 64-bit entry needs 2.12 or later",
				     h->version >> 8, h->version & 0xFF);
	hdr_end = 0x202 + img[0x201];
	if (hdr_end > len)
		return vsl_set_error(ctx, 0, VSL_EINVAL, "truncated bzImage: setup header ends past the file");
	h->setup_sects = img[0x1F1] ? img[0x1F1] : 4;
	h->loadflags = img[HDR_LOADFLAGS];
	h->syssize = rd32(img + 0x1F4);
	h->initrd_addr_max = rd32(img + 0x22C);
	h->kernel_alignment = rd32(img + 0x230);
	h->relocatable = img[0x234] != 0;
	h->xloadflags = rd16(img + 0x236);
	h->cmdline_size = rd32(img + 0x238);
	h->pref_address = rd64(img + 0x258);
	h->init_size = rd32(img + 0x260);
	if (!(h->loadflags & LOADED_HIGH))
		return vsl_set_error(ctx, 0, VSL_ENOTSUP,
				     "zImage kernels (loaded below 1 MiB) are not supported; use a bzImage");
	if (!(h->xloadflags & XLF_KERNEL_64))
		return vsl_set_error(ctx, 0, VSL_ENOTSUP,
				     "kernel has no 64-bit entry point (XLF_KERNEL_64 not set): "
				     "vessel boots x86-64 kernels only");
	h->setup_size = (size_t)(h->setup_sects + 1) * 512;
	if (h->setup_size >= len)
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "truncated bzImage: %zu bytes, but the setup alone is %zu bytes",
				     len, h->setup_size);
	h->kernel_size = len - h->setup_size;
	if ((uint64_t)h->syssize * 16 > h->kernel_size)
		return vsl_set_error(ctx, 0, VSL_EINVAL,
				     "truncated bzImage: the header announces %llu bytes of kernel, "
				     "the file holds %zu",
				     (unsigned long long)h->syssize * 16, h->kernel_size);
	if (!h->init_size)
		h->init_size = (uint32_t)VSL_ALIGN_UP(h->kernel_size * 4, 4096);
	if (!h->cmdline_size)
		h->cmdline_size = 255;
	return 0;
}

size_t vsl_pc_e820(uint64_t mem_size, struct vsl_e820_entry *out, size_t max)
{
	uint64_t low = VSL_MIN(mem_size, VSL_PC_LOW_RAM_END);
	struct vsl_e820_entry map[] = {
		{ 0, VSL_PC_EBDA, VSL_E820_RAM },
		{ VSL_PC_EBDA, 0xA0000 - VSL_PC_EBDA, VSL_E820_RESERVED },
		{ VSL_PC_ACPI_BASE, 0x100000 - VSL_PC_ACPI_BASE, VSL_E820_RESERVED },
		{ 0x100000, low > 0x100000 ? low - 0x100000 : 0, VSL_E820_RAM },
		{ 0xFEC00000, 0x1000, VSL_E820_RESERVED },
		{ 0xFEE00000, 0x1000, VSL_E820_RESERVED },
		{ VSL_PC_HIGH_RAM_BASE, mem_size - low, VSL_E820_RAM },
	};
	size_t n = 0;

	for (size_t i = 0; i < VSL_ARRAY_SIZE(map) && n < max; i++)
		if (map[i].size)
			out[n++] = map[i];
	return n;
}

/* Identity map of [0, 4 GiB) with 2 MiB pages: PML4, one PDPT, four PDs. */
static void linux_page_tables(uint8_t *ram)
{
	uint8_t *pml4 = ram + VSL_LINUX_PGTABLE;
	uint8_t *pdpt = pml4 + 0x1000;
	uint8_t *pd = pdpt + 0x1000;

	memset(pml4, 0, 6 * 0x1000);
	wr64(pml4, (VSL_LINUX_PGTABLE + 0x1000) | 0x3);         /* present, writable */
	for (int i = 0; i < 4; i++)
		wr64(pdpt + 8 * i, (VSL_LINUX_PGTABLE + 0x2000 + 0x1000 * (uint64_t)i) | 0x3);
	for (uint64_t i = 0; i < 4 * 512; i++)
		wr64(pd + 8 * i, (i << 21) | 0x83);                 /* present, writable, 2 MiB */
}

static void linux_gdt(uint8_t *ram)
{
	uint8_t *gdt = ram + VSL_LINUX_GDT;

	memset(gdt, 0, 32);
	wr64(gdt + VSL_LINUX_BOOT_CS, 0x00AF9B000000FFFFull); /* 64-bit code, DPL 0 */
	wr64(gdt + VSL_LINUX_BOOT_DS, 0x00CF93000000FFFFull); /* flat data */
}

int vsl_linux_load(struct vsl_ctx *ctx, uint8_t *ram, uint64_t ram_size,
		   struct vsl_linux_boot *b)
{
	struct vsl_linux_header *h = &b->hdr;
	const char *cmdline = b->cmdline ? b->cmdline : "";
	size_t cmdlen = strlen(cmdline), hdr_len;
	uint64_t kaddr, kend, top, initrd_max;
	uint8_t *bp;
	int r;

	if ((r = vsl_linux_parse(ctx, b->kernel, b->kernel_len, h)) < 0)
		return r;
	if (cmdlen > h->cmdline_size)
		return vsl_set_error(ctx, 0, VSL_ERANGE,
				     "kernel command line is %zu bytes; this kernel accepts at most %u",
				     cmdlen, h->cmdline_size);
	if (cmdlen >= VSL_LINUX_CMDLINE_MAX)
		return vsl_set_error(ctx, 0, VSL_ERANGE,
				     "kernel command line is %zu bytes; vessel accepts at most %llu",
				     cmdlen, VSL_LINUX_CMDLINE_MAX - 1);
	if (ram_size < 0x100000 + 0x100000)
		return vsl_set_error(ctx, 0, VSL_ENOMEM, "guest memory is too small for Linux");

	/* Kernel: at its preferred address if it fits, else at 1 MiB (relocatable). */
	kaddr = h->pref_address ? h->pref_address : 0x100000;
	if (kaddr < 0x100000 || kaddr + h->init_size > ram_size) {
		if (!h->relocatable && kaddr + h->init_size > ram_size)
			return vsl_set_error(ctx, 0, VSL_ENOMEM,
					     "guest memory (%llu MiB) is too small: this kernel needs %llu MiB",
					     (unsigned long long)(ram_size >> 20),
					     (unsigned long long)((kaddr + h->init_size + (1 << 20) - 1) >> 20));
		kaddr = 0x100000;
	}
	kend = kaddr + VSL_MAX((uint64_t)h->init_size, (uint64_t)h->kernel_size);
	if (kend > ram_size)
		return vsl_set_error(ctx, 0, VSL_ENOMEM,
				     "guest memory (%llu MiB) is too small: the kernel needs %llu MiB",
				     (unsigned long long)(ram_size >> 20),
				     (unsigned long long)((kend + (1 << 20) - 1) >> 20));
	memcpy(ram + kaddr, b->kernel + h->setup_size, h->kernel_size);
	b->kernel_addr = kaddr;
	b->entry = kaddr + 0x200;

	/* Initrd: as high as allowed, page-aligned, above the kernel's footprint. */
	b->initrd_addr = 0;
	if (b->initrd && b->initrd_len) {
		initrd_max = h->initrd_addr_max ? h->initrd_addr_max : 0x37FFFFFF;
		top = VSL_MIN(ram_size, initrd_max + 1ull);
		if (b->initrd_len > top || ((top - b->initrd_len) & ~0xFFFull) < kend)
			return vsl_set_error(ctx, 0, VSL_ENOMEM,
					     "guest memory (%llu MiB) is too small for the kernel (%llu MiB) "
					     "plus the initrd (%zu bytes)",
					     (unsigned long long)(ram_size >> 20),
					     (unsigned long long)((kend + (1 << 20) - 1) >> 20), b->initrd_len);
		b->initrd_addr = (top - b->initrd_len) & ~0xFFFull;
		memcpy(ram + b->initrd_addr, b->initrd, b->initrd_len);
	}

	/* Command line, NUL-terminated. */
	memcpy(ram + VSL_LINUX_CMDLINE, cmdline, cmdlen + 1);

	/* boot_params: the setup header as the file has it, then our fields. */
	bp = ram + VSL_LINUX_BOOT_PARAMS;
	memset(bp, 0, 4096);
	hdr_len = VSL_MIN((size_t)(0x202 + b->kernel[0x201]), (size_t)BP_HDR_END) - BP_HDR;
	memcpy(bp + BP_HDR, b->kernel + BP_HDR, hdr_len);
	bp[HDR_TYPE_OF_LOADER] = 0xFF;
	bp[HDR_LOADFLAGS] = (uint8_t)((bp[HDR_LOADFLAGS] | LOADED_HIGH) & ~KEEP_SEGMENTS);
	wr32(bp + HDR_CMD_LINE_PTR, (uint32_t)VSL_LINUX_CMDLINE);
	wr32(bp + BP_EXT_CMD_LINE_PTR, (uint32_t)(VSL_LINUX_CMDLINE >> 32));
	wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)b->initrd_addr);
	wr32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(b->initrd_addr >> 32));
	wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)b->initrd_len);
	wr32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)b->initrd_len >> 32));
	wr64(bp + BP_ACPI_RSDP, b->rsdp_addr);
	bp[BP_E820_ENTRIES] = (uint8_t)VSL_MIN(b->e820_n, (size_t)BP_E820_MAX);
	for (size_t i = 0; i < b->e820_n && i < BP_E820_MAX; i++) {
		uint8_t *e = bp + BP_E820_TABLE + 20 * i;
		wr64(e, b->e820[i].addr);
		wr64(e + 8, b->e820[i].size);
		wr32(e + 16, b->e820[i].type);
	}
	b->boot_params = VSL_LINUX_BOOT_PARAMS;

	linux_page_tables(ram);
	linux_gdt(ram);
	b->cr3 = VSL_LINUX_PGTABLE;
	b->stack = VSL_LINUX_STACK;
	return 0;
}
