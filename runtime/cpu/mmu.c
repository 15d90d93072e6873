/*
 * Softmmu of the virtual CPU: physical memory, 4-level paging, software TLB.
 *
 * Linear -> physical translation follows the SDM for IA-32e paging (and the
 * identity map when CR0.PG=0): accessed bits are set on every paging-structure
 * entry used by a successful translation, the dirty bit on the final entry of
 * a write, and U/S, R/W (with CR0.WP), NX (EFER.NXE), reserved bits and
 * 2M/1G pages are honoured. A failed translation raises #PF with CR2 and the
 * error code (P, W, U, RSVD, I/D) already set.
 *
 * Successful translations of RAM pages are cached in the software TLB (see
 * cpu_internal.h): one TLB per privilege class so that CPL changes need no
 * flush. Entries carry a "global" mark (bit 0 of paddr) so a CR3 write keeps
 * global pages when CR4.PGE is set.
 *
 *	uint64_t v;
 *	if (vsl_cpu_read_lin(cpu, lin, &v, 8)) return VSL_CPU_FAULT;
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/cpu_internal.h"

#define MMU_PHYS_MASK 0x000ffffffffff000ull /* 52-bit physical addresses */
#define MMU_MAXPHY 40                         /* advertised in CPUID 0x80000008 */
#define MMU_RSVD_MASK (((1ull << 52) - 1) & ~((1ull << MMU_MAXPHY) - 1))

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_G (1ull << 8)
#define PTE_NX (1ull << 63)

#define PF_P 1u
#define PF_W 2u
#define PF_U 4u
#define PF_RSVD 8u
#define PF_ID 16u

uint8_t *vsl_phys_ptr(struct vsl_cpu *cpu, uint64_t paddr)
{
	if (paddr >= cpu->env.ram_size)
		return NULL;
	if (cpu->env.is_mmio && cpu->env.is_mmio(cpu->env.opaque, paddr))
		return NULL;
	return cpu->env.ram + paddr;
}

static void mmu_bus_read(struct vsl_cpu *cpu, uint64_t paddr, uint8_t *buf, unsigned len)
{
	cpu->irq_poll = true; /* a device register access may change interrupts */
	cpu->st.mmio++;
	while (len) {
		unsigned n = len >= 8 && !(paddr & 7) ? 8 : len >= 4 && !(paddr & 3) ? 4 :
			     len >= 2 && !(paddr & 1) ? 2 : 1;
		unsigned lg = n == 8 ? 3 : n == 4 ? 2 : n == 2 ? 1 : 0;
		uint64_t v = ~0ull;

		if (!cpu->env.mmio || !vsl_bus_read(cpu->env.mmio, paddr, lg, &v))
			v = ~0ull;
		memcpy(buf, &v, n);
		buf += n;
		paddr += n;
		len -= n;
	}
}

static void mmu_bus_write(struct vsl_cpu *cpu, uint64_t paddr, const uint8_t *buf, unsigned len)
{
	cpu->irq_poll = true;
	cpu->st.mmio++;
	while (len) {
		unsigned n = len >= 8 && !(paddr & 7) ? 8 : len >= 4 && !(paddr & 3) ? 4 :
			     len >= 2 && !(paddr & 1) ? 2 : 1;
		unsigned lg = n == 8 ? 3 : n == 4 ? 2 : n == 2 ? 1 : 0;
		uint64_t v = 0;

		memcpy(&v, buf, n);
		if (cpu->env.mmio)
			vsl_bus_write(cpu->env.mmio, paddr, lg, v);
		buf += n;
		paddr += n;
		len -= n;
	}
}

/* Physical read of len bytes that do not cross a 4 KiB page. */
void vsl_phys_read(struct vsl_cpu *cpu, uint64_t paddr, void *buf, unsigned len)
{
	uint8_t *p = vsl_phys_ptr(cpu, paddr);

	if (p && paddr + len <= cpu->env.ram_size)
		memcpy(buf, p, len);
	else
		mmu_bus_read(cpu, paddr, buf, len);
}

void vsl_phys_write(struct vsl_cpu *cpu, uint64_t paddr, const void *buf, unsigned len)
{
	uint8_t *p = vsl_phys_ptr(cpu, paddr);

	if (p && paddr + len <= cpu->env.ram_size) {
		memcpy(p, buf, len);
		if (cpu->code_page[paddr >> 12])
			vsl_cpu_code_written(cpu, paddr);
	} else {
		mmu_bus_write(cpu, paddr, buf, len);
	}
}

static uint64_t mmu_load_pte(struct vsl_cpu *cpu, uint64_t paddr)
{
	uint64_t v;

	vsl_phys_read(cpu, paddr, &v, 8);
	return v;
}

static void mmu_store_pte(struct vsl_cpu *cpu, uint64_t paddr, uint64_t v)
{
	vsl_phys_write(cpu, paddr, &v, 8);
}

/* a large page was walked for lin (flags bit 1: 2M piece, bit 2: 1G/4M piece) */
static void mmu_note_large(struct vsl_cpu *cpu, uint64_t lin, unsigned flags)
{
	unsigned shift = (flags & 4) ? 30 : 21, r = (unsigned)(lin >> shift) & 255;
	uint64_t *map = (flags & 4) ? cpu->tlb_large_1g : cpu->tlb_large_2m;

	cpu->tlb_large = true;
	map[r >> 6] |= 1ull << (r & 63);
}

void vsl_mmu_flush(struct vsl_cpu *cpu, bool global_too)
{
	cpu->st.tlb_flushes++;
	cpu->mmu_epoch++;
	if (global_too) {
		cpu->tlb_large = false;
		memset(cpu->tlb_large_2m, 0, sizeof(cpu->tlb_large_2m));
		memset(cpu->tlb_large_1g, 0, sizeof(cpu->tlb_large_1g));
	}
	if (global_too) {
		memset(cpu->tlb, 0xff, sizeof(cpu->tlb));
		for (unsigned t = 0; t < 2; t++)
			for (unsigned i = 0; i < VSL_TLB_SIZE; i++)
				vsl_tlb_clear_all(&cpu->tlb[t], i);
		cpu->tlb_log_n = 0;
		return;
	}
	/* the entries filled since the last flush (all of them when the log overflowed) */
	bool all = cpu->tlb_log_n > VSL_TLB_LOG;
	unsigned n = all ? 2 * VSL_TLB_SIZE : cpu->tlb_log_n;
	for (unsigned k = 0; k < n; k++) {
		unsigned v = all ? k : cpu->tlb_log[k];
		struct vsl_tlb *tlb = &cpu->tlb[v / VSL_TLB_SIZE];
		unsigned i = v % VSL_TLB_SIZE;
		if (!(tlb->rd[i].paddr & 1))
			vsl_tlb_clear(tlb, VSL_TLB_RD, i);
		if (!(tlb->wr[i].paddr & 1))
			vsl_tlb_clear(tlb, VSL_TLB_WR, i);
		if (!(tlb->x[i].paddr & 1))
			vsl_tlb_clear(tlb, VSL_TLB_X, i);
	}
	cpu->tlb_log_n = 0;
}

void vsl_mmu_flush_page(struct vsl_cpu *cpu, uint64_t lin)
{
	uint64_t tag = lin & ~0xfffull;
	unsigned i = (lin >> 12) & (VSL_TLB_SIZE - 1);

	cpu->mmu_epoch++;
	for (int t = 0; t < 2; t++) {
		struct vsl_tlb *tlb = &cpu->tlb[t];
		if (tlb->rd[i].tag == tag || tlb->wr[i].tag == tag || tlb->x[i].tag == tag)
			vsl_tlb_clear_all(tlb, i);
	}
	/*
	 * A 2M/1G page is cached per 4K piece (paddr bit 1: 2M, bit 2: 1G), so
	 * INVLPG of an address inside it drops every piece of that page.
	 */
	if (!cpu->tlb_large)
		return;
	unsigned r2 = (unsigned)(lin >> 21) & 255, r1 = (unsigned)(lin >> 30) & 255;
	if (!(cpu->tlb_large_2m[r2 >> 6] & (1ull << (r2 & 63))) &&
	    !(cpu->tlb_large_1g[r1 >> 6] & (1ull << (r1 & 63))))
		return; /* no large page walked in lin's 2M or 1G region */
	for (int t = 0; t < 2; t++) {
		struct vsl_tlb_entry *all = &cpu->tlb[t].rd[0];
		for (unsigned k = 0; k < 3 * VSL_TLB_SIZE; k++) {
			struct vsl_tlb_entry *e = &all[k];
			unsigned ki = k % VSL_TLB_SIZE;
			if (e->tag == vsl_tlb_empty(ki) || !(e->paddr & 6))
				continue;
			unsigned shift = (e->paddr & 4) ? 30 : 21;
			if ((e->tag >> shift) == (lin >> shift))
				vsl_tlb_clear(&cpu->tlb[t], (int)(k / VSL_TLB_SIZE), ki); /* rd, wr, x in order */
		}
	}
}

/* Raise #PF for lin with error code err (unless nofault). */
static int mmu_pf(struct vsl_cpu *cpu, uint64_t lin, uint32_t err, int acc)
{
	if (acc & VSL_ACC_NOFAULT)
		return VSL_CPU_FAULT;
	cpu->cr2 = lin;
	return vsl_cpu_raise(cpu, VSL_EXC_PF, true, err);
}

static bool mmu_canonical(uint64_t lin)
{
	return (uint64_t)((int64_t)(lin << 16) >> 16) == lin;
}

/*
 * Walk the 4-level page tables. On success *paddr is set and *flags says
 * whether the entry survives a CR3 write.
 */
static int mmu_walk64(struct vsl_cpu *cpu, uint64_t lin, int acc, bool user, uint64_t *paddr,
		      unsigned *flags)
{
	bool write = acc & VSL_ACC_WRITE, exec = acc & VSL_ACC_EXEC;
	bool nxe = cpu->efer & VSL_EFER_NXE;
	uint64_t rsvd = MMU_RSVD_MASK | (nxe ? 0 : PTE_NX);
	uint32_t err = (write ? PF_W : 0) | (user ? PF_U : 0) | (exec && nxe ? PF_ID : 0);
	uint64_t table = cpu->cr3 & MMU_PHYS_MASK & ((1ull << MMU_MAXPHY) - 1);
	uint64_t ent_addr[4], ent[4];
	bool rw = true, us = true, nx = false;
	int level, n = 0;
	uint64_t page_size = 4096;

	for (level = 3; level >= 0; level--) {
		uint64_t idx = (lin >> (12 + 9 * level)) & 511;
		uint64_t a = table + idx * 8;
		uint64_t e = mmu_load_pte(cpu, a);

		ent_addr[n] = a;
		ent[n++] = e;
		if (!(e & PTE_P))
			return mmu_pf(cpu, lin, err, acc);
		if (e & rsvd)
			return mmu_pf(cpu, lin, err | PF_P | PF_RSVD, acc);
		rw &= !!(e & PTE_RW);
		us &= !!(e & PTE_US);
		nx |= nxe && (e & PTE_NX);
		if (level == 3 && (e & PTE_PS))
			return mmu_pf(cpu, lin, err | PF_P | PF_RSVD, acc);
		if ((level == 2 || level == 1) && (e & PTE_PS)) {
			page_size = 1ull << (12 + 9 * level);
			/* bits 13..(page offset) must be zero (bit 12 is PAT) */
			if (e & (page_size - 1) & ~0x1fffull)
				return mmu_pf(cpu, lin, err | PF_P | PF_RSVD, acc);
			break;
		}
		table = e & MMU_PHYS_MASK;
	}
	if (level < 0)
		level = 0;
	/* permission checks */
	if (user && !us)
		return mmu_pf(cpu, lin, err | PF_P, acc);
	if (write && !rw && (user || (cpu->cr0 & VSL_CR0_WP)))
		return mmu_pf(cpu, lin, err | PF_P, acc);
	if (exec && nx)
		return mmu_pf(cpu, lin, err | PF_P, acc);
	/* accessed and dirty bits, like hardware */
	for (int i = 0; i < n; i++) {
		uint64_t want = PTE_A | (i == n - 1 && write ? PTE_D : 0);
		if ((ent[i] & want) != want)
			mmu_store_pte(cpu, ent_addr[i], ent[i] | want);
	}
	uint64_t last = ent[n - 1];
	uint64_t base = last & MMU_PHYS_MASK & ~(page_size - 1);
	*paddr = base | (lin & (page_size - 1));
	*flags = ((last & PTE_G) && (cpu->cr4 & VSL_CR4_PGE)) ? 1 : 0;
	if (page_size > 4096) {
		*flags |= page_size == (1ull << 30) ? 4 : 2;
		mmu_note_large(cpu, lin, *flags);
	}
	/*
	 * A TLB entry may only be filled for write when the page is writable
	 * for this privilege class and already dirty (we just set D for a
	 * write). Reads fill the read entry only.
	 */
	(void)rw;
	return 0;
}

/*
 * Paging outside long mode: 32-bit (2 levels of 4-byte entries, 4 MiB pages
 * with CR4.PSE) and PAE (4 PDPTEs, then 2 levels of 8-byte entries, 2 MiB
 * pages, NX with EFER.NXE). The PDPTEs are read on every walk rather than
 * cached at MOV CR3 time.
 */
static int mmu_walk_legacy(struct vsl_cpu *cpu, uint64_t lin, int acc, bool user, uint64_t *paddr,
			   unsigned *flags)
{
	bool write = acc & VSL_ACC_WRITE, exec = acc & VSL_ACC_EXEC;
	bool pae = cpu->cr4 & VSL_CR4_PAE;
	bool nxe = pae && (cpu->efer & VSL_EFER_NXE);
	uint32_t err = (write ? PF_W : 0) | (user ? PF_U : 0) | (exec && nxe ? PF_ID : 0);
	uint64_t ent_addr[3], ent[3];
	unsigned n = 0;
	uint64_t page_size = 4096, base;
	bool rw = true, us = true, nx = false;

	lin &= 0xffffffffull;
	if (pae) {
		uint64_t rsvd = MMU_RSVD_MASK | (nxe ? 0 : PTE_NX);
		uint64_t pdpte = mmu_load_pte(cpu, (cpu->cr3 & 0xffffffe0ull) + ((lin >> 30) & 3) * 8);
		if (!(pdpte & PTE_P))
			return mmu_pf(cpu, lin, err, acc);
		if (pdpte & (MMU_RSVD_MASK | 0x1e6ull))
			return mmu_pf(cpu, lin, err | PF_P | PF_RSVD, acc);
		uint64_t table = pdpte & MMU_PHYS_MASK;
		for (int level = 1; level >= 0; level--) {
			uint64_t a = table + ((lin >> (12 + 9 * level)) & 511) * 8;
			uint64_t e = mmu_load_pte(cpu, a);
			ent_addr[n] = a;
			ent[n++] = e;
			if (!(e & PTE_P))
				return mmu_pf(cpu, lin, err, acc);
			if (e & rsvd)
				return mmu_pf(cpu, lin, err | PF_P | PF_RSVD, acc);
			rw &= !!(e & PTE_RW);
			us &= !!(e & PTE_US);
			nx |= nxe && (e & PTE_NX);
			if (level == 1 && (e & PTE_PS)) {
				page_size = 2ull << 20;
				if (e & 0x1fe000ull)
					return mmu_pf(cpu, lin, err | PF_P | PF_RSVD, acc);
				break;
			}
			table = e & MMU_PHYS_MASK;
		}
		base = ent[n - 1] & MMU_PHYS_MASK & ~(page_size - 1);
	} else {
		uint64_t table = cpu->cr3 & 0xfffff000ull;
		for (int level = 1; level >= 0; level--) {
			uint64_t a = table + ((lin >> (12 + 10 * level)) & 1023) * 4;
			uint32_t e32;
			vsl_phys_read(cpu, a, &e32, 4);
			uint64_t e = e32;
			ent_addr[n] = a;
			ent[n++] = e;
			if (!(e & PTE_P))
				return mmu_pf(cpu, lin, err, acc);
			rw &= !!(e & PTE_RW);
			us &= !!(e & PTE_US);
			if (level == 1 && (e & PTE_PS) && (cpu->cr4 & VSL_CR4_PSE)) {
				page_size = 4ull << 20;
				break;
			}
			table = e & 0xfffff000ull;
		}
		base = ent[n - 1] & ~(page_size - 1) & 0xffffffffull;
	}
	if (user && !us)
		return mmu_pf(cpu, lin, err | PF_P, acc);
	if (write && !rw && (user || (cpu->cr0 & VSL_CR0_WP)))
		return mmu_pf(cpu, lin, err | PF_P, acc);
	if (exec && nx)
		return mmu_pf(cpu, lin, err | PF_P, acc);
	for (unsigned i = 0; i < n; i++) {
		uint64_t want = PTE_A | (i == n - 1 && write ? PTE_D : 0);
		if ((ent[i] & want) != want) {
			if (pae) {
				mmu_store_pte(cpu, ent_addr[i], ent[i] | want);
			} else {
				uint32_t v = (uint32_t)(ent[i] | want);
				vsl_phys_write(cpu, ent_addr[i], &v, 4);
			}
		}
	}
	*paddr = base | (lin & (page_size - 1));
	*flags = ((ent[n - 1] & PTE_G) && (cpu->cr4 & VSL_CR4_PGE)) ? 1 : 0;
	if (page_size > 4096) {
		*flags |= page_size == (2ull << 20) ? 2 : 4;
		mmu_note_large(cpu, lin, *flags);
	}
	return 0;
}

int vsl_mmu_translate(struct vsl_cpu *cpu, uint64_t lin, int acc, uint64_t *paddr)
{
	unsigned global = 0;
	bool user = !(acc & VSL_ACC_SUPER) && cpu->cpl == 3;

	if (!(cpu->cr0 & VSL_CR0_PG)) {
		*paddr = lin & cpu->a20_mask;
		return 0;
	}
	if (cpu->efer & VSL_EFER_LMA) {
		if (!mmu_canonical(lin)) {
			if (acc & VSL_ACC_NOFAULT)
				return VSL_CPU_FAULT;
			bool ss = cpu->ea_ss && !(acc & (VSL_ACC_EXEC | VSL_ACC_SUPER));
			return vsl_cpu_raise(cpu, ss ? VSL_EXC_SS : VSL_EXC_GP, true, 0);
		}
		return mmu_walk64(cpu, lin, acc, user, paddr, &global);
	}
	return mmu_walk_legacy(cpu, lin, acc, user, paddr, &global);
}

/* Translate and fill the TLB entry for this access kind when possible. */
static int mmu_fill(struct vsl_cpu *cpu, uint64_t lin, int acc, uint64_t *paddr)
{
	unsigned global = 0; /* entry flags: 1 global, 2 part of a 2M page, 4 of a 1G page */
	bool user = !(acc & VSL_ACC_SUPER) && cpu->cpl == 3;
	int r;

	if (!(cpu->cr0 & VSL_CR0_PG)) {
		*paddr = lin & cpu->a20_mask;
	} else if (cpu->efer & VSL_EFER_LMA) {
		if (!mmu_canonical(lin)) {
			if (acc & VSL_ACC_NOFAULT)
				return VSL_CPU_FAULT;
			bool ss = cpu->ea_ss && !(acc & (VSL_ACC_EXEC | VSL_ACC_SUPER));
			return vsl_cpu_raise(cpu, ss ? VSL_EXC_SS : VSL_EXC_GP, true, 0);
		}
		r = mmu_walk64(cpu, lin, acc, user, paddr, &global);
		if (r)
			return r;
	} else {
		r = mmu_walk_legacy(cpu, lin, acc, user, paddr, &global);
		if (r)
			return r;
	}
	if (acc & VSL_ACC_SUPER && cpu->cpl == 3)
		return 0; /* implicit supervisor access from user mode: do not cache */
	uint64_t ppage = *paddr & ~0xfffull;
	uint8_t *host = vsl_phys_ptr(cpu, ppage);
	/* only whole RAM pages go to the TLB (a partial last page takes the slow path) */
	if (!host || ppage + 0x1000 > cpu->env.ram_size)
		return 0;
	struct vsl_tlb *tlb = &cpu->tlb[user];
	unsigned i = (lin >> 12) & (VSL_TLB_SIZE - 1);
	if (cpu->tlb_log_n < VSL_TLB_LOG)
		cpu->tlb_log[cpu->tlb_log_n] = (uint16_t)(user * VSL_TLB_SIZE + i);
	if (cpu->tlb_log_n <= VSL_TLB_LOG)
		cpu->tlb_log_n++;
	struct vsl_tlb_entry e = {
		.tag = lin & ~0xfffull,
		.addend = (uintptr_t)host - (lin & ~0xfffull),
		.paddr = ppage | global,
	};
	if (acc & VSL_ACC_WRITE) {
		if (!cpu->code_page[ppage >> 12])
			vsl_tlb_set(tlb, VSL_TLB_WR, i, &e);
		/* a write implies the page is readable for this class */
		vsl_tlb_set(tlb, VSL_TLB_RD, i, &e);
	} else if (acc & VSL_ACC_EXEC) {
		vsl_tlb_set(tlb, VSL_TLB_X, i, &e);
	} else {
		vsl_tlb_set(tlb, VSL_TLB_RD, i, &e);
	}
	return 0;
}

static int mmu_access(struct vsl_cpu *cpu, uint64_t lin, void *buf, unsigned len, int acc)
{
	uint64_t pa1, pa2 = 0;
	unsigned n1 = len;
	uint8_t *b = buf;

	cpu->st.tlb_misses++;
	if (cpu->mode != VSL_MODE_LONG64 && !(cpu->efer & VSL_EFER_LMA))
		lin &= 0xffffffffull;
	if (((lin & 0xfff) + len) > 0x1000) {
		n1 = 0x1000 - (lin & 0xfff);
	}
	if (mmu_fill(cpu, lin, acc, &pa1))
		return VSL_CPU_FAULT;
	if (n1 < len) {
		uint64_t lin2 = lin + n1;
		if (cpu->mode != VSL_MODE_LONG64 && !(cpu->efer & VSL_EFER_LMA))
			lin2 &= 0xffffffffull;
		if (mmu_fill(cpu, lin2, acc, &pa2))
			return VSL_CPU_FAULT;
	}
	if (acc & VSL_ACC_WRITE) {
		vsl_phys_write(cpu, pa1, b, n1);
		if (n1 < len)
			vsl_phys_write(cpu, pa2, b + n1, len - n1);
	} else {
		vsl_phys_read(cpu, pa1, b, n1);
		if (n1 < len)
			vsl_phys_read(cpu, pa2, b + n1, len - n1);
	}
	return 0;
}

int vsl_mmu_read(struct vsl_cpu *cpu, uint64_t lin, void *buf, unsigned len, int acc)
{
	return mmu_access(cpu, lin, buf, len, acc & ~VSL_ACC_WRITE);
}

int vsl_mmu_write(struct vsl_cpu *cpu, uint64_t lin, const void *buf, unsigned len, int acc)
{
	return mmu_access(cpu, lin, (void *)buf, len, acc | VSL_ACC_WRITE);
}

int vsl_cpu_read_lin(struct vsl_cpu *cpu, uint64_t lin, void *buf, unsigned len)
{
	const struct vsl_tlb_entry *e = &cpu->tlb_cur->rd[(lin >> 12) & (VSL_TLB_SIZE - 1)];

	if (__builtin_expect(e->tag == (lin & ~0xfffull) && (lin & 0xfff) + len <= 0x1000, 1)) {
		memcpy(buf, (const void *)(e->addend + lin), len);
		cpu->st.tlb_hits++;
		return 0;
	}
	return mmu_access(cpu, lin, buf, len, VSL_ACC_READ);
}

int vsl_cpu_write_lin(struct vsl_cpu *cpu, uint64_t lin, const void *buf, unsigned len)
{
	const struct vsl_tlb_entry *e = &cpu->tlb_cur->wr[(lin >> 12) & (VSL_TLB_SIZE - 1)];

	if (__builtin_expect(e->tag == (lin & ~0xfffull) && (lin & 0xfff) + len <= 0x1000, 1)) {
		memcpy((void *)(e->addend + lin), buf, len);
		cpu->st.tlb_hits++;
		return 0;
	}
	return mmu_access(cpu, lin, (void *)buf, len, VSL_ACC_WRITE);
}

/*
 * Instruction fetch: copy up to len bytes starting at lin. Bytes on the
 * first page are always fetched (a fault there is raised); bytes on the next
 * page are fetched only if it translates, without raising: *got says how
 * many bytes are valid and the caller raises the fault (via a second call
 * with the exact address) only if the decoder needed more.
 */
int vsl_mmu_fetch(struct vsl_cpu *cpu, uint64_t lin, uint8_t *buf, unsigned len, unsigned *got)
{
	uint64_t pa;
	unsigned n1 = 0x1000 - (lin & 0xfff);

	*got = 0;
	if (n1 > len)
		n1 = len;
	if (mmu_fill(cpu, lin, VSL_ACC_EXEC, &pa))
		return VSL_CPU_FAULT;
	vsl_phys_read(cpu, pa, buf, n1);
	*got = n1;
	if (n1 < len) {
		uint64_t lin2 = lin + n1;
		if (cpu->mode != VSL_MODE_LONG64)
			lin2 &= 0xffffffffull;
		if (mmu_fill(cpu, lin2, VSL_ACC_EXEC | VSL_ACC_NOFAULT, &pa) == 0) {
			vsl_phys_read(cpu, pa, buf + n1, len - n1);
			*got = len;
		}
	}
	return 0;
}

int vsl_mmu_fill_code(struct vsl_cpu *cpu, uint64_t lin)
{
	uint64_t pa;

	return mmu_fill(cpu, lin, VSL_ACC_EXEC | VSL_ACC_NOFAULT, &pa);
}

int vsl_mmu_fill_data(struct vsl_cpu *cpu, uint64_t lin, bool write)
{
	uint64_t pa;

	return mmu_fill(cpu, lin, (write ? VSL_ACC_WRITE : VSL_ACC_READ) | VSL_ACC_NOFAULT, &pa);
}

int vsl_mmu_fetch_fault(struct vsl_cpu *cpu, uint64_t lin)
{
	uint64_t pa;

	if (mmu_fill(cpu, lin, VSL_ACC_EXEC, &pa))
		return VSL_CPU_FAULT;
	/* it translates now (cannot happen on one CPU): report as #GP */
	return vsl_cpu_raise(cpu, VSL_EXC_GP, true, 0);
}
