/*
 * Unit tests for formats/libvirt.c: domain XML as `virsh dumpxml` and
 * virt-v2v (-o local) write it, hostile XML, and generation parsed back.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/interchange.h"

#define DATA "tests/data/interchange/"

START_TEST(parse_dumpxml)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_problems w;
	struct vsl_ix_vm vm;
	size_t len;
	char *t = tu_slurp(DATA "virsh-dumpxml.xml", &len);

	vsl_problems_init(&w);
	ck_assert_int_eq(vsl_libvirt_parse(ctx, t, len, "d.xml", &vm, &w), 0);
	ck_assert_str_eq(vm.name, "web01");
	ck_assert_uint_eq(vm.cpus, 2);
	ck_assert_uint_eq(vm.memory, 1ull << 30);
	ck_assert_uint_eq(vm.ndisks, 1);
	ck_assert_str_eq(vm.disks[0].file, "web01.qcow2");
	ck_assert_str_eq(vm.disks[0].format, "qcow2");
	ck_assert_int_eq(vm.disks[0].ctrl, VSL_IX_CTRL_VIRTIO);
	ck_assert_uint_eq(vm.nnics, 1);
	ck_assert_mem_eq(vm.nics[0].mac, "\x52\x54\x00\x6d\x90\x02", 6);
	ck_assert(vm.serial);
	ck_assert_uint_eq(vm.serial_port, 1);
	ck_assert(tu_has_problem(&w, "cdrom device"));
	ck_assert(tu_has_problem(&w, "<graphics>"));
	ck_assert(tu_has_problem(&w, "<video>"));
	ck_assert(tu_has_problem(&w, "<sound>"));
	ck_assert(tu_has_problem(&w, "<channel>"));
	vsl_ix_vm_fini(&vm);
	vsl_problems_fini(&w);
	free(t);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(parse_v2v)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_problems w;
	struct vsl_ix_vm vm;
	size_t len;
	char *t = tu_slurp(DATA "virt-v2v-local.xml", &len);

	vsl_problems_init(&w);
	ck_assert_int_eq(vsl_libvirt_parse(ctx, t, len, "v.xml", &vm, &w), 0);
	ck_assert_str_eq(vm.name, "legacy-srv");
	ck_assert_uint_eq(vm.cpus, 4);
	ck_assert_uint_eq(vm.memory, 2ull << 30);
	ck_assert_uint_eq(vm.ndisks, 1);
	ck_assert_str_eq(vm.disks[0].file, "legacy-srv-sda");
	ck_assert_str_eq(vm.disks[0].format, "raw");
	ck_assert_mem_eq(vm.nics[0].mac, "\x00\x50\x56\xa1\x2b\x3c", 6);
	ck_assert(tu_has_problem(&w, "<viosock>"));
	vsl_ix_vm_fini(&vm);
	vsl_problems_fini(&w);
	free(t);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(parse_bad)
{
	static const struct tu_ix_bad cases[] = {
		{ "<domain><name>x</name></domain>", VSL_EINVAL, "no <memory>" },
		{ "<dom/>", VSL_EINVAL, "not a libvirt domain" },
		{ "<domain><memory unit='EiB'>1</memory></domain>", VSL_ERANGE, "memory" },
		{ "<domain><memory>99999999999999999999999</memory></domain>", VSL_ERANGE, "memory" },
		{ "<domain><memory unit='TiB'>99999999</memory></domain>", VSL_ERANGE, "memory" },
		{ "<domain><memory>1048576</memory><vcpu>100000</vcpu></domain>", VSL_ERANGE, "vcpu" },
		{ "<domain><memory>1048576</memory><os><type arch='aarch64'>hvm</type></os></domain>",
		  VSL_ENOTSUP, "aarch64" },
		{ "<domain><memory>1048576</memory><devices><disk type='network' device='disk'>"
		  "<source protocol='rbd' name='p/i'/></disk></devices></domain>", VSL_ENOTSUP, "network" },
		{ "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><domain>&x;</domain>",
		  VSL_EPERM, "DOCTYPE" },
		{ "<domain><memory>1048576</memory>", VSL_EINVAL, "x.xml:1:" },
	};

	tu_ix_expect_bad(vsl_libvirt_parse, "x.xml", cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

START_TEST(generate_roundtrip)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_bundle_config cfg;
	struct vsl_bundle_disk *d;
	const char *paths[] = { "/srv/b.vessel/disks/root.qcow2" };
	struct vsl_problems w;
	struct vsl_ix_vm vm;
	char *xml;
	size_t len;

	vsl_bundle_config_init(&cfg);
	cfg.name = strdup("k");
	cfg.arch = strdup("x86_64");
	cfg.cpus = 1;
	cfg.memory = 256ull << 20;
	cfg.boot = (struct vsl_bundle_boot){ .kind = VSL_BOOT_KERNEL, .kernel = strdup("boot/vmlinuz"),
					     .cmdline = strdup("console=ttyS0 <&>") };
	d = vsl_bundle_config_add_disk(&cfg);
	d->name = strdup("root");
	d->file = strdup("disks/root.qcow2");
	d->format = strdup("qcow2");
	d->readonly = true;
	vsl_bundle_config_add_nic(&cfg)->mode = VSL_NET_NONE;
	vsl_problems_init(&w);
	ck_assert_int_eq(vsl_libvirt_generate(ctx, &cfg, paths, "/srv/b.vessel/boot/vmlinuz", NULL, &xml,
					      &len, &w), 0);
	ck_assert_ptr_nonnull(strstr(xml, "<driver name=\"qemu\" type=\"qcow2\"/>"));
	ck_assert_ptr_nonnull(strstr(xml, "<cmdline>console=ttyS0 &lt;&amp;&gt;</cmdline>"));
	ck_assert_int_eq(vsl_libvirt_parse(ctx, xml, len, "g.xml", &vm, &w), 0);
	ck_assert_uint_eq(vm.memory, 256ull << 20);
	ck_assert_str_eq(vm.kernel, "/srv/b.vessel/boot/vmlinuz");
	ck_assert_str_eq(vm.cmdline, "console=ttyS0 <&>");
	ck_assert_uint_eq(vm.ndisks, 1);
	ck_assert(vm.disks[0].readonly);
	ck_assert_str_eq(vm.disks[0].file, paths[0]);
	ck_assert(!vm.nics[0].connected);
	vsl_ix_vm_fini(&vm);
	free(xml);
	vsl_bundle_config_free(&cfg);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("libvirt");
	TCase *tc = tcase_create("libvirt");

	tcase_add_test(tc, parse_dumpxml);
	tcase_add_test(tc, parse_v2v);
	tcase_add_test(tc, parse_bad);
	tcase_add_test(tc, generate_roundtrip);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
