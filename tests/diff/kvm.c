/*
 * The reference runner: the test guest on the host CPU through /dev/kvm.
 *
 * One VM with one vCPU and one memory slot is reused for every test: each
 * run copies the test's RAM into the slot, loads the entry state (the
 * prologue reloads CR3, so no stale translation survives from the previous
 * test) and runs until HLT. Port writes are logged; a run that does not
 * halt within 2 s of CPU time (not wall time: the machine may be loaded) is
 * stopped by SIGPROF (KVM_RUN returns EINTR).
 *
 * KVM starts TR at a dummy busy TSS (selector 0x38) because the entry
 * checks want a usable TR; the prologue's LTR then loads the real one, so
 * vessel (whose API has no TR setter) and KVM reach the test identically.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/diff/diff.h"

struct vsl_diff_kvm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
};

static volatile sig_atomic_t kvm_alarm_fired;

static void kvm_on_alarm(int sig)
{
	(void)sig;
	kvm_alarm_fired = 1;
}

static int kvm_fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return -1;
}

static int kvm_setup_cpuid(struct vsl_diff_kvm *k, char *err, size_t errlen)
{
	unsigned n = 128;
	struct kvm_cpuid2 *c;
	unsigned i;

	for (;;) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return kvm_fail(err, errlen, "calloc");
		c->nent = n;
		if (ioctl(k->kvm, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		free(c);
		if (errno != E2BIG || n > 4096)
			return kvm_fail(err, errlen, "KVM_GET_SUPPORTED_CPUID");
		n *= 2;
	}
	/* leaf 1: drop the hypervisor bit's friends we never use; keep SSE/SSE2 */
	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1)
			c->entries[i].ecx &= ~(1u << 27); /* OSXSAVE is CR4-derived */
	if (ioctl(k->vcpu, KVM_SET_CPUID2, c) < 0) {
		free(c);
		return kvm_fail(err, errlen, "KVM_SET_CPUID2");
	}
	free(c);
	return 0;
}

struct vsl_diff_kvm *vsl_diff_kvm_new(char *err, size_t errlen)
{
	struct vsl_diff_kvm *k = calloc(1, sizeof(*k));
	struct kvm_userspace_memory_region mr;
	struct sigaction sa;
	int sz;

	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->kvm = k->vm = k->vcpu = -1;
	k->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm < 0) {
		kvm_fail(err, errlen, "open /dev/kvm");
		goto err_free;
	}
	if (ioctl(k->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm: unexpected API version");
		goto err_free;
	}
	k->vm = ioctl(k->kvm, KVM_CREATE_VM, 0);
	if (k->vm < 0) {
		kvm_fail(err, errlen, "KVM_CREATE_VM");
		goto err_free;
	}
	k->mem = mmap(NULL, DIFF_RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (k->mem == MAP_FAILED) {
		k->mem = NULL;
		kvm_fail(err, errlen, "mmap guest RAM");
		goto err_free;
	}
	mr = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = DIFF_RAM_SIZE,
		.userspace_addr = (uint64_t)(uintptr_t)k->mem,
	};
	if (ioctl(k->vm, KVM_SET_USER_MEMORY_REGION, &mr) < 0) {
		kvm_fail(err, errlen, "KVM_SET_USER_MEMORY_REGION");
		goto err_free;
	}
	k->vcpu = ioctl(k->vm, KVM_CREATE_VCPU, 0);
	if (k->vcpu < 0) {
		kvm_fail(err, errlen, "KVM_CREATE_VCPU");
		goto err_free;
	}
	sz = ioctl(k->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0) {
		kvm_fail(err, errlen, "KVM_GET_VCPU_MMAP_SIZE");
		goto err_free;
	}
	k->run_size = (size_t)sz;
	k->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->vcpu, 0);
	if (k->run == MAP_FAILED) {
		k->run = NULL;
		kvm_fail(err, errlen, "mmap kvm_run");
		goto err_free;
	}
	if (kvm_setup_cpuid(k, err, errlen) < 0)
		goto err_free;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kvm_on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPROF, &sa, NULL); /* no SA_RESTART: KVM_RUN returns EINTR */
	return k;

err_free:
	vsl_diff_kvm_free(k);
	return NULL;
}

void vsl_diff_kvm_free(struct vsl_diff_kvm *k)
{
	if (!k)
		return;
	if (k->run)
		munmap(k->run, k->run_size);
	if (k->mem)
		munmap(k->mem, DIFF_RAM_SIZE);
	if (k->vcpu >= 0)
		close(k->vcpu);
	if (k->vm >= 0)
		close(k->vm);
	if (k->kvm >= 0)
		close(k->kvm);
	free(k);
}

static void kvm_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t s_bit,
		    uint8_t l, uint8_t db, uint8_t g)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = g ? 0xffffffff : 0xffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = db, .s = s_bit, .l = l, .g = g,
	};
}

static int kvm_load(struct vsl_diff_kvm *k, const struct vsl_diff_test *t, char *err, size_t errlen)
{
	struct vsl_diff_state e;
	struct kvm_sregs sr;
	struct kvm_regs r;
	static struct kvm_xsave x;
	uint8_t *xs;
	uint16_t fcw;
	uint64_t bv;

	vsl_diff_image_entry(t, &e);
	if (ioctl(k->vcpu, KVM_GET_SREGS, &sr) < 0)
		return kvm_fail(err, errlen, "KVM_GET_SREGS");
	kvm_seg(&sr.cs, DIFF_SEL_KCODE, 0xb, 1, 1, 0, 1);
	kvm_seg(&sr.ss, DIFF_SEL_KDATA, 0x3, 1, 0, 1, 1);
	kvm_seg(&sr.ds, 0, 0x3, 1, 0, 1, 1);
	sr.ds.unusable = 1;
	sr.ds.present = 0;
	sr.es = sr.fs = sr.gs = sr.ds;
	sr.fs.base = e.fs_base;
	sr.gs.base = e.gs_base;
	kvm_seg(&sr.tr, DIFF_SEL_TSS_DUMMY, 0xb, 0, 0, 0, 0);
	sr.tr.base = DIFF_TSS_DUMMY;
	sr.tr.limit = 0x67;
	sr.ldt = (struct kvm_segment){ .unusable = 1, .type = 2 };
	sr.gdt.base = DIFF_GDT;
	sr.gdt.limit = DIFF_GDT_LIMIT;
	sr.idt.base = DIFF_IDT;
	sr.idt.limit = 256 * 16 - 1;
	/* PE MP ET NE WP AM=0 PG */
	sr.cr0 = 0x1 | 0x2 | 0x10 | 0x20 | 0x10000 | 0x80000000u;
	sr.cr2 = 0;
	sr.cr3 = DIFF_PML4;
	sr.cr4 = 0x20 | 0x200 | 0x400; /* PAE OSFXSR OSXMMEXCPT */
	sr.efer = 0x1 | 0x100 | 0x400 | 0x800; /* SCE LME LMA NXE */
	memset(sr.interrupt_bitmap, 0, sizeof(sr.interrupt_bitmap));
	if (ioctl(k->vcpu, KVM_SET_SREGS, &sr) < 0)
		return kvm_fail(err, errlen, "KVM_SET_SREGS");

	/*
	 * MSRs a test may write (the vCPU is reused): back to their reset
	 * values, which a fresh vessel CPU has too.
	 */
	{
		static const uint32_t idx[] = {
			0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102,
		};
		struct {
			struct kvm_msrs h;
			struct kvm_msr_entry e[5];
		} m;
		unsigned i;

		memset(&m, 0, sizeof(m));
		m.h.nmsrs = 5;
		for (i = 0; i < 5; i++)
			m.e[i].index = idx[i];
		if (ioctl(k->vcpu, KVM_SET_MSRS, &m) != 5)
			return kvm_fail(err, errlen, "KVM_SET_MSRS");
	}

	r = (struct kvm_regs){
		.rax = e.gpr[0], .rcx = e.gpr[1], .rdx = e.gpr[2], .rbx = e.gpr[3],
		.rsp = e.gpr[4], .rbp = e.gpr[5], .rsi = e.gpr[6], .rdi = e.gpr[7],
		.r8 = e.gpr[8], .r9 = e.gpr[9], .r10 = e.gpr[10], .r11 = e.gpr[11],
		.r12 = e.gpr[12], .r13 = e.gpr[13], .r14 = e.gpr[14], .r15 = e.gpr[15],
		.rip = e.rip, .rflags = e.rflags,
	};
	if (ioctl(k->vcpu, KVM_SET_REGS, &r) < 0)
		return kvm_fail(err, errlen, "KVM_SET_REGS");

	/*
	 * XMM and MXCSR through the XSAVE image with XSTATE_BV[x87,SSE] set:
	 * KVM_SET_FPU leaves XSTATE_BV alone, and when the SSE bit happens to
	 * be clear the next XRSTOR loads zeros instead of our registers.
	 */
	memset(&x, 0, sizeof(x));
	xs = (uint8_t *)x.region;
	fcw = 0x37f;
	memcpy(xs + 0, &fcw, 2);
	memcpy(xs + 24, &e.mxcsr, 4);
	memcpy(xs + 160, e.xmm, sizeof(e.xmm));
	bv = 3;
	memcpy(xs + 512, &bv, 8);
	if (ioctl(k->vcpu, KVM_SET_XSAVE, &x) < 0)
		return kvm_fail(err, errlen, "KVM_SET_XSAVE");
	return 0;
}

static int kvm_save(struct vsl_diff_kvm *k, struct vsl_diff_result *res)
{
	static struct kvm_xsave x;
	const uint8_t *xs = (const uint8_t *)x.region;
	struct kvm_sregs sr;
	struct kvm_regs r;
	uint64_t bv;

	if (ioctl(k->vcpu, KVM_GET_REGS, &r) < 0 || ioctl(k->vcpu, KVM_GET_XSAVE, &x) < 0)
		return kvm_fail(res->msg, sizeof(res->msg), "KVM_GET_REGS/XSAVE");
	res->st.gpr[0] = r.rax; res->st.gpr[1] = r.rcx; res->st.gpr[2] = r.rdx;
	res->st.gpr[3] = r.rbx; res->st.gpr[4] = r.rsp; res->st.gpr[5] = r.rbp;
	res->st.gpr[6] = r.rsi; res->st.gpr[7] = r.rdi; res->st.gpr[8] = r.r8;
	res->st.gpr[9] = r.r9; res->st.gpr[10] = r.r10; res->st.gpr[11] = r.r11;
	res->st.gpr[12] = r.r12; res->st.gpr[13] = r.r13; res->st.gpr[14] = r.r14;
	res->st.gpr[15] = r.r15;
	res->st.rip = r.rip;
	res->st.rflags = r.rflags;
	memcpy(&bv, xs + 512, 8);
	if (bv & 2)
		memcpy(res->st.xmm, xs + 160, sizeof(res->st.xmm));
	else
		memset(res->st.xmm, 0, sizeof(res->st.xmm)); /* SSE in its init state */
	memcpy(&res->st.mxcsr, xs + 24, 4);
	if (ioctl(k->vcpu, KVM_GET_SREGS, &sr) < 0)
		return kvm_fail(res->msg, sizeof(res->msg), "KVM_GET_SREGS");
	res->st.cr0 = sr.cr0;
	res->st.cr2 = sr.cr2;
	res->st.cr3 = sr.cr3;
	res->st.cr4 = sr.cr4;
	res->st.efer = sr.efer;
	res->st.sel[0] = sr.es.selector;
	res->st.sel[1] = sr.cs.selector;
	res->st.sel[2] = sr.ss.selector;
	res->st.sel[3] = sr.ds.selector;
	res->st.sel[4] = sr.fs.selector;
	res->st.sel[5] = sr.gs.selector;
	res->st.fs_base = sr.fs.base;
	res->st.gs_base = sr.gs.base;
	return 0;
}

int vsl_diff_kvm_run(struct vsl_diff_kvm *k, const struct vsl_diff_test *t,
		     struct vsl_diff_result *res)
{
	struct itimerval it = { .it_value = { .tv_sec = 2 } };
	struct itimerval off = { 0 };
	unsigned exits = 0;

	memset(res, 0, sizeof(*res));
	res->exit = DIFF_EXIT_ERROR;
	res->ram = k->mem;
	memcpy(k->mem, t->ram, DIFF_RAM_SIZE);
	if (kvm_load(k, t, res->msg, sizeof(res->msg)) < 0)
		return -1;
	kvm_alarm_fired = 0;
	setitimer(ITIMER_PROF, &it, NULL);
	for (;;) {
		int rc = ioctl(k->vcpu, KVM_RUN, 0);

		if (rc < 0) {
			if (errno == EINTR && kvm_alarm_fired) {
				res->exit = DIFF_EXIT_TIMEOUT;
				snprintf(res->msg, sizeof(res->msg), "no HLT within 2 s of CPU time");
				break;
			}
			if (errno == EINTR || errno == EAGAIN)
				continue;
			kvm_fail(res->msg, sizeof(res->msg), "KVM_RUN");
			break;
		}
		if (k->run->exit_reason == KVM_EXIT_HLT) {
			res->exit = DIFF_EXIT_HLT;
			break;
		}
		if (k->run->exit_reason == KVM_EXIT_SHUTDOWN) {
			res->exit = DIFF_EXIT_SHUTDOWN;
			snprintf(res->msg, sizeof(res->msg), "triple fault");
			break;
		}
		if (k->run->exit_reason == KVM_EXIT_IO) {
			const uint8_t *d = (const uint8_t *)k->run + k->run->io.data_offset;
			uint32_t i, v;

			for (i = 0; i < k->run->io.count; i++, d += k->run->io.size) {
				if (k->run->io.direction == KVM_EXIT_IO_IN) {
					memset((void *)d, 0xff, k->run->io.size);
					continue;
				}
				v = 0;
				memcpy(&v, d, k->run->io.size);
				if (res->nio < DIFF_MAX_IO)
					res->io[res->nio] = (struct vsl_diff_io){
						.port = k->run->io.port, .size = k->run->io.size, .val = v };
				res->nio++;
			}
			if (++exits > 100000) {
				res->exit = DIFF_EXIT_TIMEOUT;
				snprintf(res->msg, sizeof(res->msg), "too many port accesses");
				break;
			}
			continue;
		}
		snprintf(res->msg, sizeof(res->msg), "unexpected KVM exit %u (hw reason 0x%llx)",
			 k->run->exit_reason,
			 (unsigned long long)k->run->hw.hardware_exit_reason);
		break;
	}
	setitimer(ITIMER_PROF, &off, NULL);
	if (kvm_save(k, res) < 0) {
		res->exit = DIFF_EXIT_ERROR;
	} else if (res->exit == DIFF_EXIT_ERROR) {
		size_t n = strlen(res->msg);

		snprintf(res->msg + n, sizeof(res->msg) - n, " at rip %#llx",
			 (unsigned long long)res->st.rip);
	}
	return res->exit == DIFF_EXIT_ERROR ? -1 : 0;
}
