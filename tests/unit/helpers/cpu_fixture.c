/*
 * Long-mode test machine for the CPU unit suites (see cpu_fixture.h).
 * Everything is built directly in guest RAM with the layout in the header.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/cpu_fixture.h"

static bool fix_intr_pending(void *opaque)
{
	struct vsl_cpu_fixture *f = opaque;

	return f->irq_vector >= 0;
}

static int fix_intr_ack(void *opaque)
{
	struct vsl_cpu_fixture *f = opaque;
	int v = f->irq_vector;

	f->irq_vector = -1;
	return v;
}

static uint64_t fix_now(void *opaque)
{
	struct vsl_cpu_fixture *f = opaque;

	return f->now_ns;
}

static void fix_put64(struct vsl_cpu_fixture *f, uint64_t gpa, uint64_t v)
{
	memcpy(f->ram + gpa, &v, 8);
}

uint64_t vsl_cpu_fixture_peek(const struct vsl_cpu_fixture *f, uint64_t gpa)
{
	uint64_t v = 0;

	if (gpa + 8 <= f->ram_size)
		memcpy(&v, f->ram + gpa, 8);
	return v;
}

uint64_t *vsl_cpu_fixture_pte(struct vsl_cpu_fixture *f, uint64_t lin)
{
	if (lin >= (4ull << 20))
		return NULL;
	return (uint64_t *)(f->ram + VSL_FIX_PT0 + (lin >> 12) * 8);
}

int vsl_cpu_fixture_init(struct vsl_cpu_fixture *f, uint64_t ram_size)
{
	memset(f, 0, sizeof(*f));
	f->irq_vector = -1;
	if (ram_size < (8ull << 20))
		ram_size = 8ull << 20;
	f->ctx = vsl_ctx_new();
	f->ram = calloc(1, ram_size);
	f->io = vsl_bus_new("io");
	f->mmio = vsl_bus_new("mmio");
	if (!f->ctx || !f->ram || !f->io || !f->mmio)
		goto err;
	f->ram_size = ram_size;

	/* GDT */
	fix_put64(f, VSL_FIX_GDT + 0x08, 0x00af9b000000ffffull); /* kernel code 64 */
	fix_put64(f, VSL_FIX_GDT + 0x10, 0x00cf93000000ffffull); /* kernel data */
	fix_put64(f, VSL_FIX_GDT + 0x18, 0x00cf9b000000ffffull); /* kernel code 32 */
	fix_put64(f, VSL_FIX_GDT + 0x28, 0x00cff3000000ffffull); /* user data */
	fix_put64(f, VSL_FIX_GDT + 0x30, 0x00affb000000ffffull); /* user code 64 */
	/* 64-bit TSS at VSL_FIX_TSS, limit 0x67, type 9 (available) */
	uint64_t tss = VSL_FIX_TSS;
	fix_put64(f, VSL_FIX_GDT + 0x40, 0x67 | ((tss & 0xffffff) << 16) | (0x89ull << 40) |
					 (((tss >> 24) & 0xff) << 56));
	fix_put64(f, VSL_FIX_GDT + 0x48, tss >> 32);
	/* TSS: RSP0 at +4, IST1 at +0x24 */
	fix_put64(f, VSL_FIX_TSS + 4, VSL_FIX_RSP0);
	fix_put64(f, VSL_FIX_TSS + 0x24, VSL_FIX_IST1);
	/* I/O bitmap base beyond the limit: no port is allowed above IOPL */
	f->ram[VSL_FIX_TSS + 0x66] = 0x68;
	/* IDT: 256 interrupt gates (DPL 3, so INT n works from ring 3) to HLT stubs */
	for (uint64_t v = 0; v < 256; v++) {
		uint64_t off = VSL_FIX_STUBS + v * 8;
		uint64_t lo = (off & 0xffff) | ((uint64_t)VSL_FIX_KCS << 16) | (0xeeull << 40) |
			      (((off >> 16) & 0xffff) << 48);
		fix_put64(f, VSL_FIX_IDT + v * 16, lo);
		fix_put64(f, VSL_FIX_IDT + v * 16 + 8, off >> 32);
		f->ram[off] = 0xf4; /* hlt */
		f->ram[off + 1] = 0xeb; /* jmp to the hlt */
		f->ram[off + 2] = 0xfd;
	}
	/* page tables: PML4 -> PDPT -> PD; PD[0..1] -> 4K PTs, PD[2..511] 2M pages */
	const uint64_t P = 1, RW = 2, US = 4, PS = 0x80;
	fix_put64(f, VSL_FIX_PML4, (VSL_FIX_PML4 + 0x1000) | P | RW | US);
	fix_put64(f, VSL_FIX_PML4 + 0x1000, (VSL_FIX_PML4 + 0x2000) | P | RW | US);
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t e = i < 2 ? (VSL_FIX_PT0 + i * 0x1000) | P | RW | US : (i << 21) | P | RW | US | PS;
		fix_put64(f, VSL_FIX_PML4 + 0x2000 + i * 8, e);
	}
	for (uint64_t i = 0; i < 1024; i++)
		fix_put64(f, VSL_FIX_PT0 + i * 8, (i << 12) | P | RW | US);

	f->env = (struct vsl_cpu_env){
		.ram = f->ram, .ram_size = ram_size, .io = f->io, .mmio = f->mmio,
		.intr_pending = fix_intr_pending, .intr_ack = fix_intr_ack, .now_ns = fix_now,
		.tsc_khz = 1000000, .opaque = f,
	};
	f->cpu = vsl_cpu_new(f->ctx, &f->env);
	if (!f->cpu)
		goto err;

	struct vsl_cpu *cpu = f->cpu;
	vsl_cpu_set_cr(cpu, 0xC0000080, (1 << 0) | (1 << 8) | (1 << 11)); /* SCE LME NXE */
	vsl_cpu_set_cr(cpu, 4, (1 << 5) | (1 << 7) | (1 << 9) | (1 << 10)); /* PAE PGE OSFXSR OSXMMEXCPT */
	vsl_cpu_set_cr(cpu, 3, VSL_FIX_PML4);
	vsl_cpu_set_cr(cpu, 0, 0x80050033ull); /* PG WP NE ET MP PE */
	vsl_cpu_set_gdt(cpu, &(struct vsl_dtable){ .base = VSL_FIX_GDT, .limit = 0x4f });
	vsl_cpu_set_idt(cpu, &(struct vsl_dtable){ .base = VSL_FIX_IDT, .limit = 0xfff });
	struct vsl_seg cs = { .sel = VSL_FIX_KCS, .base = 0, .limit = 0xffffffff, .attr = 0xa9b };
	struct vsl_seg ds = { .sel = VSL_FIX_KDS, .base = 0, .limit = 0xffffffff, .attr = 0xc93 };
	for (int s = 0; s < 6; s++)
		vsl_cpu_set_seg(cpu, s, s == VSL_CS ? &cs : &ds);
	/* load TR the way LTR would have */
	uint8_t ltr[] = { 0x66, 0xb8, VSL_FIX_TSSSEL, 0x00, 0x0f, 0x00, 0xd8, 0xf4 }; /* mov $0x40,%ax; ltr %ax; hlt */
	vsl_cpu_fixture_code(f, ltr, sizeof(ltr));
	struct vsl_cpu_exit ex;
	vsl_cpu_run(cpu, 10, &ex);
	vsl_cpu_set_rflags(cpu, 2);
	vsl_cpu_set_gpr(cpu, VSL_RSP, VSL_FIX_STACK);
	vsl_cpu_set_gpr(cpu, VSL_RAX, 0);
	return 0;
err:
	vsl_cpu_fixture_fini(f);
	return VSL_ENOMEM;
}

void vsl_cpu_fixture_fini(struct vsl_cpu_fixture *f)
{
	vsl_cpu_free(f->cpu);
	vsl_bus_free(f->io);
	vsl_bus_free(f->mmio);
	free(f->ram);
	vsl_ctx_free(f->ctx);
	memset(f, 0, sizeof(*f));
}

void vsl_cpu_fixture_code(struct vsl_cpu_fixture *f, const void *code, size_t len)
{
	memcpy(f->ram + VSL_FIX_CODE, code, len);
	vsl_cpu_invalidate_phys(f->cpu, VSL_FIX_CODE, len);
	vsl_cpu_set_rip(f->cpu, VSL_FIX_CODE);
}

int vsl_cpu_fixture_run(struct vsl_cpu_fixture *f, uint64_t budget, struct vsl_cpu_exit *ex)
{
	return vsl_cpu_run(f->cpu, budget, ex);
}

int vsl_cpu_fixture_vector(const struct vsl_cpu_fixture *f)
{
	uint64_t rip = vsl_cpu_get_rip(f->cpu);

	/* halted after the HLT at STUBS + 8 * v */
	if (rip < VSL_FIX_STUBS + 1 || rip > VSL_FIX_STUBS + 8 * 256)
		return -1;
	if ((rip - VSL_FIX_STUBS - 1) % 8)
		return -1;
	return (int)((rip - VSL_FIX_STUBS - 1) / 8);
}
