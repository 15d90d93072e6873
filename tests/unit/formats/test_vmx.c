/*
 * Unit tests for formats/vmx.c: a .vmx as VMware Workstation writes it,
 * hostile files (absolute or escaping disk paths are left to the import
 * driver, but values must parse strictly), and generation parsed back.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/interchange.h"

#define DATA "tests/data/interchange/"

START_TEST(parse_workstation)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_problems w;
	struct vsl_ix_vm vm;
	size_t len;
	char *t = tu_slurp(DATA "vmware-workstation.vmx", &len);

	vsl_problems_init(&w);
	ck_assert_int_eq(vsl_vmx_parse(ctx, t, len, "ws.vmx", &vm, &w), 0);
	ck_assert_str_eq(vm.name, "Debian 12.x 64-bit");
	ck_assert_str_eq(vm.os, "debian12-64");
	ck_assert_uint_eq(vm.cpus, 2);
	ck_assert_uint_eq(vm.memory, 2048ull << 20);
	ck_assert_int_eq(vm.firmware, VSL_FIRMWARE_UEFI);
	ck_assert_uint_eq(vm.ndisks, 1);
	ck_assert_str_eq(vm.disks[0].file, "Debian 12.x 64-bit.vmdk");
	ck_assert_int_eq(vm.disks[0].ctrl, VSL_IX_CTRL_SCSI);
	ck_assert_str_eq(vm.disks[0].ctrl_sub, "lsilogic");
	ck_assert_uint_eq(vm.nnics, 1);
	ck_assert(vm.nics[0].has_mac);
	ck_assert_mem_eq(vm.nics[0].mac, "\x00\x0c\x29\x6b\x7c\x8d", 6);
	ck_assert_str_eq(vm.nics[0].model, "e1000");
	ck_assert(tu_has_problem(&w, "CD-ROM sata0:1"));
	ck_assert(tu_has_problem(&w, "'sound'"));
	ck_assert(tu_has_problem(&w, "'usb'"));
	ck_assert(!tu_has_problem(&w, "floppy0")); /* present = "FALSE" */
	vsl_ix_vm_fini(&vm);
	vsl_problems_fini(&w);
	free(t);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(parse_bad)
{
	static const struct tu_ix_bad cases[] = {
		{ "memsize = \"512\"\n", VSL_EINVAL, "not a VMware .vmx" },
		{ "config.version = \"8\"\n", VSL_EINVAL, "no memsize" },
		{ "config.version = \"8\"\nmemsize = \"99999999999999999999\"\n", VSL_ERANGE, "memsize" },
		{ "config.version = \"8\"\nmemsize = \"4\"\n", VSL_ERANGE, "memsize" },
		{ "config.version = \"8\"\nmemsize = \"64\"\nnumvcpus = \"0\"\n", VSL_ERANGE, "numvcpus" },
		{ "config.version = \"8\"\nmemsize = \"64\"\nnumvcpus = \"2\n", VSL_EINVAL, ":3: unbalanced" },
		{ "config.version = \"8\"\nno equals sign\n", VSL_EINVAL, ":2: expected" },
		{ "config.version = \"8\"\n = \"x\"\n", VSL_EINVAL, ":2: bad key" },
	};

	tu_ix_expect_bad(vsl_vmx_parse, "x.vmx", cases, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

START_TEST(generate_roundtrip)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_bundle_config cfg;
	struct vsl_bundle_disk *d;
	struct vsl_bundle_nic *n;
	const char *files[] = { "w-disk1.vmdk", "w \"quoted\" #2.vmdk" };
	struct vsl_problems w;
	struct vsl_ix_vm vm;
	char *text;
	size_t len;

	vsl_bundle_config_init(&cfg);
	cfg.name = strdup("w");
	cfg.arch = strdup("x86_64");
	cfg.cpus = 4;
	cfg.memory = 1ull << 30;
	cfg.boot = (struct vsl_bundle_boot){ .kind = VSL_BOOT_FIRMWARE, .disk = strdup("sys") };
	d = vsl_bundle_config_add_disk(&cfg);
	d->name = strdup("data");
	d->file = strdup("disks/data.qcow2");
	d->format = strdup("qcow2");
	d->bus = VSL_DISK_BUS_IDE;
	d = vsl_bundle_config_add_disk(&cfg);
	d->name = strdup("sys");
	d->file = strdup("disks/sys.qcow2");
	d->format = strdup("qcow2");
	n = vsl_bundle_config_add_nic(&cfg);
	n->has_mac = true;
	memcpy(n->mac, "\x52\x54\x00\x01\x02\x03", 6);
	vsl_problems_init(&w);
	ck_assert_int_eq(vsl_vmx_generate(ctx, &cfg, files, &text, &len, &w), 0);
	ck_assert_ptr_nonnull(strstr(text, "scsi0.virtualDev = \"lsilogic\""));
	ck_assert_ptr_nonnull(strstr(text, "bios.hddOrder = \"scsi0:0\""));
	ck_assert_ptr_nonnull(strstr(text, "|22quoted|22 |232.vmdk"));
	ck_assert_int_eq(vsl_vmx_parse(ctx, text, len, "w.vmx", &vm, &w), 0);
	ck_assert_uint_eq(vm.cpus, 4);
	ck_assert_uint_eq(vm.memory, 1ull << 30);
	ck_assert_uint_eq(vm.ndisks, 2);
	/* the boot disk (bios.hddOrder) comes first */
	ck_assert_str_eq(vm.disks[0].file, "w \"quoted\" #2.vmdk");
	ck_assert_int_eq(vm.disks[0].ctrl, VSL_IX_CTRL_SCSI);
	ck_assert_str_eq(vm.disks[1].file, "w-disk1.vmdk");
	ck_assert_int_eq(vm.disks[1].ctrl, VSL_IX_CTRL_IDE);
	ck_assert(vm.nics[0].has_mac);
	ck_assert_mem_eq(vm.nics[0].mac, "\x52\x54\x00\x01\x02\x03", 6);
	ck_assert(vm.serial);
	ck_assert_uint_eq(vm.serial_port, 1);
	vsl_ix_vm_fini(&vm);
	free(text);
	vsl_bundle_config_free(&cfg);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmx");
	TCase *tc = tcase_create("vmx");

	tcase_add_test(tc, parse_workstation);
	tcase_add_test(tc, parse_bad);
	tcase_add_test(tc, generate_roundtrip);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
