/*
 * The runner over vessel's own CPU (include/vessel/cpu.h).
 *
 * Each run copies the test RAM into a private buffer, creates a fresh
 * struct vsl_cpu over it (so nothing survives between tests), loads the
 * same entry state KVM gets (long mode, CPL 0, RIP at the prologue) through
 * the cpu.h setters and runs until VSL_CPU_EXIT_HLT. Port writes go through
 * a port-I/O bus with one device that logs them, like KVM's I/O exits.
 *
 * The build defines VSL_DIFF_HAVE_VESSEL only when runtime/ provides the
 * CPU and the bus (tests/diff/module.mk checks); without it the runner
 * reports "not built" and the rig still runs KVM against itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/diff/diff.h"

#ifdef VSL_DIFF_HAVE_VESSEL
#include "vessel/bus.h"
#include "vessel/common.h"
#include "vessel/cpu.h"

#define VESSEL_BUDGET 2000000u

struct vsl_diff_vessel {
	int engine;
	uint8_t *ram;
	struct vsl_ctx *ctx;
	struct vsl_bus *io, *mmio;
	struct vsl_diff_result *cur;
};

static uint64_t vessel_port_read(void *opaque, uint64_t off, unsigned size_log2)
{
	(void)opaque;
	(void)off;
	(void)size_log2;
	return ~0ull;
}

static void vessel_port_write(void *opaque, uint64_t off, uint64_t val, unsigned size_log2)
{
	struct vsl_diff_vessel *v = opaque;
	struct vsl_diff_result *r = v->cur;

	if (!r)
		return;
	if (r->nio < DIFF_MAX_IO)
		r->io[r->nio] = (struct vsl_diff_io){
			.port = (uint16_t)(DIFF_PORT_FAIL + off), .size = (uint8_t)(1u << size_log2),
			.val = (uint32_t)val };
	r->nio++;
}

static uint64_t vessel_now(void *opaque)
{
	(void)opaque;
	return 0;
}

bool vsl_diff_vessel_available(void)
{
	return true;
}

struct vsl_diff_vessel *vsl_diff_vessel_new(int engine, char *err, size_t errlen)
{
	struct vsl_diff_vessel *v = calloc(1, sizeof(*v));

	if (!v)
		goto err_nomem;
	v->engine = engine;
	v->ram = malloc(DIFF_RAM_SIZE);
	v->ctx = vsl_ctx_new();
	v->io = vsl_bus_new("io");
	v->mmio = vsl_bus_new("mmio");
	if (!v->ram || !v->ctx || !v->io || !v->mmio)
		goto err_free;
	if (vsl_bus_map(v->io, DIFF_PORT_FAIL, 2, v, vessel_port_read, vessel_port_write) < 0) {
		snprintf(err, errlen, "cannot map the test ports on the I/O bus");
		vsl_diff_vessel_free(v);
		return NULL;
	}
	return v;

err_free:
	vsl_diff_vessel_free(v);
err_nomem:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void vsl_diff_vessel_free(struct vsl_diff_vessel *v)
{
	if (!v)
		return;
	free(v->ram);
	if (v->io)
		vsl_bus_free(v->io);
	if (v->mmio)
		vsl_bus_free(v->mmio);
	if (v->ctx)
		vsl_ctx_free(v->ctx);
	free(v);
}

static void vessel_seg(struct vsl_cpu *cpu, int idx, uint16_t sel, uint16_t attr)
{
	struct vsl_seg s = { .sel = sel, .base = 0, .limit = attr ? 0xffffffff : 0, .attr = attr };

	vsl_cpu_set_seg(cpu, idx, &s);
}

static void vessel_load(struct vsl_cpu *cpu, const struct vsl_diff_test *t)
{
	struct vsl_diff_state e;
	struct vsl_dtable gdt = { .base = DIFF_GDT, .limit = DIFF_GDT_LIMIT };
	struct vsl_dtable idt = { .base = DIFF_IDT, .limit = 256 * 16 - 1 };
	int i;

	vsl_diff_image_entry(t, &e);
	vsl_cpu_set_msr(cpu, 0xc0000080, 0x1 | 0x100 | 0x400 | 0x800);
	vsl_cpu_set_cr(cpu, 4, 0x20 | 0x200 | 0x400);
	vsl_cpu_set_cr(cpu, 3, DIFF_PML4);
	vsl_cpu_set_cr(cpu, 0, 0x1 | 0x2 | 0x10 | 0x20 | 0x10000 | 0x80000000u);
	vsl_cpu_set_cr(cpu, 2, 0);
	vsl_cpu_set_gdt(cpu, &gdt);
	vsl_cpu_set_idt(cpu, &idt);
	/* attr: access byte | flags nibble << 8 (see struct vsl_seg) */
	vessel_seg(cpu, VSL_CS, DIFF_SEL_KCODE, 0x0a9b);
	vessel_seg(cpu, VSL_SS, DIFF_SEL_KDATA, 0x0c93);
	vessel_seg(cpu, VSL_DS, 0, 0);
	vessel_seg(cpu, VSL_ES, 0, 0);
	vessel_seg(cpu, VSL_FS, 0, 0);
	vessel_seg(cpu, VSL_GS, 0, 0);
	{
		struct vsl_seg fs = { .sel = 0, .base = e.fs_base }, gs = { .sel = 0, .base = e.gs_base };

		vsl_cpu_set_seg(cpu, VSL_FS, &fs);
		vsl_cpu_set_seg(cpu, VSL_GS, &gs);
	}
	for (i = 0; i < 16; i++)
		vsl_cpu_set_gpr(cpu, i, e.gpr[i]);
	vsl_cpu_set_rip(cpu, e.rip);
	vsl_cpu_set_rflags(cpu, e.rflags);
	for (i = 0; i < 16; i++)
		vsl_cpu_set_xmm(cpu, i, e.xmm[i]);
	vsl_cpu_set_mxcsr(cpu, e.mxcsr);
}

int vsl_diff_vessel_run(struct vsl_diff_vessel *v, const struct vsl_diff_test *t,
			struct vsl_diff_result *r)
{
	struct vsl_cpu_env env;
	struct vsl_cpu *cpu;
	uint64_t total = 0;
	unsigned long calls;
	int i;

	memset(r, 0, sizeof(*r));
	r->exit = DIFF_EXIT_ERROR;
	r->ram = v->ram;
	memcpy(v->ram, t->ram, DIFF_RAM_SIZE);
	env = (struct vsl_cpu_env){
		.ram = v->ram, .ram_size = DIFF_RAM_SIZE, .io = v->io, .mmio = v->mmio,
		.now_ns = vessel_now, .tsc_khz = 1000000, .opaque = v,
	};
	vsl_ctx_clear(v->ctx);
	cpu = vsl_cpu_new(v->ctx, &env);
	if (!cpu) {
		snprintf(r->msg, sizeof(r->msg), "vsl_cpu_new: %s", vsl_ctx_error(v->ctx));
		return -1;
	}
	if (vsl_cpu_set_engine(cpu, v->engine ? VSL_ENGINE_BT : VSL_ENGINE_INTERP) < 0) {
		snprintf(r->msg, sizeof(r->msg), "engine: %s", vsl_ctx_error(v->ctx));
		vsl_cpu_free(cpu);
		return -1;
	}
	vessel_load(cpu, t);
	v->cur = r;
	for (calls = 0;; calls++) {
		struct vsl_cpu_exit ex = { 0 };
		int rc = vsl_cpu_run(cpu, VESSEL_BUDGET - total, &ex);

		total += ex.executed;
		if (calls > 100000) { /* returns without progress: do not spin */
			r->exit = DIFF_EXIT_TIMEOUT;
			snprintf(r->msg, sizeof(r->msg), "vsl_cpu_run keeps returning (reason %d)",
				 (int)ex.reason);
			break;
		}
		if (rc < 0 || ex.reason == VSL_CPU_EXIT_ERROR) {
			snprintf(r->msg, sizeof(r->msg), "vsl_cpu_run: %s", vsl_ctx_error(v->ctx));
			break;
		}
		if (ex.reason == VSL_CPU_EXIT_HLT) {
			r->exit = DIFF_EXIT_HLT;
			break;
		}
		if (ex.reason == VSL_CPU_EXIT_SHUTDOWN) {
			r->exit = DIFF_EXIT_SHUTDOWN;
			snprintf(r->msg, sizeof(r->msg), "triple fault");
			break;
		}
		if (ex.reason == VSL_CPU_EXIT_RESET) {
			snprintf(r->msg, sizeof(r->msg), "reset requested");
			break;
		}
		if (total >= VESSEL_BUDGET) {
			r->exit = DIFF_EXIT_TIMEOUT;
			snprintf(r->msg, sizeof(r->msg), "no HLT within %u instructions", VESSEL_BUDGET);
			break;
		}
	}
	v->cur = NULL;
	for (i = 0; i < 16; i++)
		r->st.gpr[i] = vsl_cpu_get_gpr(cpu, i);
	r->st.rip = vsl_cpu_get_rip(cpu);
	r->st.rflags = vsl_cpu_get_rflags(cpu);
	for (i = 0; i < 16; i++)
		vsl_cpu_get_xmm(cpu, i, r->st.xmm[i]);
	r->st.mxcsr = vsl_cpu_get_mxcsr(cpu);
	r->st.cr0 = vsl_cpu_get_cr(cpu, 0);
	r->st.cr2 = vsl_cpu_get_cr(cpu, 2);
	r->st.cr3 = vsl_cpu_get_cr(cpu, 3);
	r->st.cr4 = vsl_cpu_get_cr(cpu, 4);
	if (vsl_cpu_get_msr(cpu, 0xc0000080, &r->st.efer) < 0)
		r->st.efer = ~0ull;
	for (i = 0; i < 6; i++) {
		struct vsl_seg sg;

		vsl_cpu_get_seg(cpu, i, &sg);
		r->st.sel[i] = sg.sel;
		if (i == VSL_FS)
			r->st.fs_base = sg.base;
		if (i == VSL_GS)
			r->st.gs_base = sg.base;
	}
	if (r->exit == DIFF_EXIT_ERROR) {
		size_t n = strlen(r->msg);

		if (n + 2 < sizeof(r->msg)) {
			r->msg[n++] = '\n';
			vsl_cpu_dump_trace(cpu, r->msg + n, sizeof(r->msg) - n);
		}
	}
	vsl_cpu_free(cpu);
	return r->exit == DIFF_EXIT_ERROR ? -1 : 0;
}

#else /* !VSL_DIFF_HAVE_VESSEL */

struct vsl_diff_vessel {
	int unused;
};

bool vsl_diff_vessel_available(void)
{
	return false;
}

struct vsl_diff_vessel *vsl_diff_vessel_new(int engine, char *err, size_t errlen)
{
	(void)engine;
	snprintf(err, errlen, "vessel's CPU was not built into this binary "
		 "(runtime/cpu had no vsl_cpu_new or no vsl_bus_new when it was compiled)");
	return NULL;
}

void vsl_diff_vessel_free(struct vsl_diff_vessel *v)
{
	free(v);
}

int vsl_diff_vessel_run(struct vsl_diff_vessel *v, const struct vsl_diff_test *t,
			struct vsl_diff_result *r)
{
	(void)v;
	(void)t;
	memset(r, 0, sizeof(*r));
	r->exit = DIFF_EXIT_ERROR;
	snprintf(r->msg, sizeof(r->msg), "vessel CPU not built");
	return -1;
}

#endif
