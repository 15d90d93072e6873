/*
 * Unit tests for formats/ovf.c: parsing descriptors as VMware ovftool and
 * VirtualBox write them, hostile XML (entity bombs, external entities,
 * absurd sizes, dangling references), and generation (schema-valid
 * against DSP8023 1.1.1 when ../shared/data/ovf-1.1.1 is present; parsed
 * back to the same machine).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/xmlschemas.h>

#include "tests/unit/helpers/testutil.h"
#include "vessel/interchange.h"

#define DATA "tests/data/interchange/"
#define SCHEMA "../shared/data/ovf-1.1.1/dsp8023_1.1.1.xsd"

static int parse_file(const char *path, struct vsl_ix_vm *vm, struct vsl_problems *w,
		      struct vsl_ctx *ctx)
{
	size_t len;
	char *t = tu_slurp(path, &len);
	int r = vsl_ovf_parse(ctx, t, len, path, vm, w);

	free(t);
	return r;
}

START_TEST(parse_vmware)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_problems w;
	struct vsl_ix_vm vm;

	vsl_problems_init(&w);
	ck_assert_int_eq(parse_file(DATA "vmware-ovftool.ovf", &vm, &w, ctx), 0);
	ck_assert_str_eq(vm.name, "deb12");
	ck_assert_uint_eq(vm.cpus, 2);
	ck_assert_uint_eq(vm.memory, 2048ull << 20);
	ck_assert_str_eq(vm.os, "debian11_64Guest");
	ck_assert_int_eq(vm.firmware, VSL_FIRMWARE_UEFI);
	ck_assert_uint_eq(vm.ndisks, 1);
	ck_assert_uint_eq(vm.disks[0].capacity, 20ull << 30);
	ck_assert_int_eq(vm.disks[0].ctrl, VSL_IX_CTRL_SCSI);
	ck_assert_str_eq(vm.disks[0].ctrl_sub, "VirtualSCSI");
	ck_assert_str_eq(vm.disks[0].file, "file1");
	ck_assert_str_eq(vm.disks[0].format, "vmdk");
	ck_assert_uint_eq(vm.nfiles, 1);
	ck_assert_str_eq(vm.files[0].href, "deb12-disk1.vmdk");
	ck_assert_uint_eq(vm.files[0].size, 412553728);
	ck_assert_uint_eq(vm.nnics, 1);
	ck_assert_str_eq(vm.nics[0].model, "vmxnet3");
	ck_assert(!vm.nics[0].has_mac);
	/* what vessel cannot map is reported, not dropped */
	ck_assert(tu_has_problem(&w, "CD/DVD drive"));
	ck_assert(tu_has_problem(&w, "video card"));
	ck_assert(tu_has_problem(&w, "VMCI device"));
	vsl_ix_vm_fini(&vm);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(parse_virtualbox)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_problems w;
	struct vsl_ix_vm vm;

	vsl_problems_init(&w);
	ck_assert_int_eq(parse_file(DATA "virtualbox.ovf", &vm, &w, ctx), 0);
	ck_assert_str_eq(vm.name, "alpine");
	ck_assert_uint_eq(vm.cpus, 1);
	ck_assert_uint_eq(vm.memory, 1024ull << 20);
	ck_assert_str_eq(vm.os, "101");
	ck_assert_uint_eq(vm.ndisks, 1);
	ck_assert_uint_eq(vm.disks[0].capacity, 8ull << 30);
	ck_assert_int_eq(vm.disks[0].ctrl, VSL_IX_CTRL_SATA);
	ck_assert_str_eq(vm.disks[0].name, "disk1");
	ck_assert_uint_eq(vm.nnics, 1);
	ck_assert_str_eq(vm.nics[0].model, "e1000");
	ck_assert(vm.nics[0].has_mac); /* from vbox:Machine */
	ck_assert_mem_eq(vm.nics[0].mac, "\x08\x00\x27\x1a\x2b\x3c", 6);
	ck_assert(tu_has_problem(&w, "USB controller"));
	ck_assert(tu_has_problem(&w, "sound card"));
	ck_assert(tu_has_problem(&w, "CD/DVD drive"));
	vsl_ix_vm_fini(&vm);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(parse_ovirt)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_problems w;
	struct vsl_ix_vm vm;

	vsl_problems_init(&w);
	ck_assert_int_eq(parse_file(DATA "ovirt-export/master/vms/7d3c1a2b-5e6f-4a8b-9c0d-1e2f3a4b5c6d/"
				    "7d3c1a2b-5e6f-4a8b-9c0d-1e2f3a4b5c6d.ovf", &vm, &w, ctx), 0);
	ck_assert(vm.ovirt);
	ck_assert_str_eq(vm.name, "legacy-srv");
	ck_assert_str_eq(vm.os, "debian_11");
	ck_assert_uint_eq(vm.cpus, 2);
	ck_assert_uint_eq(vm.memory, 2048ull << 20);
	ck_assert_uint_eq(vm.ndisks, 1);
	ck_assert_str_eq(vm.disks[0].file, "a1b2c3d4-e5f6-4789-8abc-def012345678");
	ck_assert_str_eq(vm.disks[0].format, "raw");
	ck_assert_int_eq(vm.disks[0].ctrl, VSL_IX_CTRL_VIRTIO);
	ck_assert_uint_eq(vm.disks[0].capacity, 16u << 20);
	ck_assert_str_eq(vm.files[0].href, "3f2e1d0c-9b8a-4765-8432-10fedcba9876/a1b2c3d4-e5f6-4789-8abc-def012345678");
	ck_assert_uint_eq(vm.nnics, 1);
	ck_assert_str_eq(vm.nics[0].model, "virtio");
	ck_assert_mem_eq(vm.nics[0].mac, "\x00\x50\x56\xa1\x2b\x3c", 6);
	ck_assert(tu_has_problem(&w, "'Graphical Controller'"));
	ck_assert(tu_has_problem(&w, "USB controller"));
	vsl_ix_vm_fini(&vm);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

static const struct {
	const char *file;
	int code;
	const char *msg;
} bad_cases[] = {
	{ "billion-laughs.ovf", VSL_EPERM, "DOCTYPE" },
	{ "external-entity.ovf", VSL_EPERM, "DOCTYPE" },
	{ "absurd-capacity.ovf", VSL_ERANGE, "overflows" },
	{ "absurd-memory.ovf", VSL_ERANGE, "memory" },
	{ "zero-cpus.ovf", VSL_ERANGE, "CPU count '0'" },
	{ "dangling-disk.ovf", VSL_EINVAL, "ovf:/disk/vmdisk9" },
	{ "unlisted-file.ovf", VSL_EINVAL, "file7" },
	{ "truncated.ovf", VSL_EINVAL, "truncated.ovf:" },
	{ "wrong-namespace.ovf", VSL_EINVAL, "not an OVF descriptor" },
};

START_TEST(parse_bad)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_problems w;
	struct vsl_ix_vm vm;
	char path[256];
	clock_t t0 = clock();
	int r;

	vsl_problems_init(&w);
	snprintf(path, sizeof(path), DATA "bad/%s", bad_cases[_i].file);
	r = parse_file(path, &vm, &w, ctx);
	ck_assert_msg(r == bad_cases[_i].code, "%s: got %d (%s)", path, r, vsl_ctx_error(ctx));
	ck_assert_msg(strstr(vsl_ctx_error(ctx), bad_cases[_i].msg), "%s: message '%s' lacks '%s'", path,
		      vsl_ctx_error(ctx), bad_cases[_i].msg);
	/* refusing must be cheap: no expansion happened */
	ck_assert_msg((clock() - t0) < CLOCKS_PER_SEC, "%s took too long", path);
	vsl_ix_vm_fini(&vm);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(parse_garbage)
{
	static const char *const inputs[] = {
		"", "<", "<Envelope/>", "\xff\xfe<x/>",
		"<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'/>",
		"<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'><VirtualSystem/></Envelope>",
		"<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'><VirtualSystem><VirtualHardwareSection>"
		"<Item><ResourceType>4</ResourceType><VirtualQuantity>64</VirtualQuantity>"
		"<AllocationUnits>byte * 2^999</AllocationUnits></Item></VirtualHardwareSection></VirtualSystem></Envelope>",
	};
	struct vsl_ctx *ctx = vsl_ctx_new();

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct vsl_ix_vm vm;

		ck_assert_int_lt(vsl_ovf_parse(ctx, inputs[i], strlen(inputs[i]), "x.ovf", &vm, NULL), 0);
		ck_assert_str_ne(vsl_ctx_error(ctx), "");
		vsl_ix_vm_fini(&vm);
	}
	vsl_ctx_free(ctx);
}
END_TEST

static void demo_config(struct vsl_bundle_config *cfg)
{
	struct vsl_bundle_disk *d;
	struct vsl_bundle_nic *n;

	vsl_bundle_config_init(cfg);
	cfg->name = strdup("demo");
	cfg->arch = strdup("x86_64");
	cfg->cpus = 3;
	cfg->memory = 768ull << 20;
	cfg->boot.kind = VSL_BOOT_FIRMWARE;
	cfg->boot.firmware = VSL_FIRMWARE_UEFI;
	cfg->boot.disk = strdup("root");
	d = vsl_bundle_config_add_disk(cfg);
	d->name = strdup("root");
	d->file = strdup("disks/root.qcow2");
	d->format = strdup("qcow2");
	d = vsl_bundle_config_add_disk(cfg);
	d->name = strdup("legacy");
	d->file = strdup("disks/legacy.img");
	d->format = strdup("raw");
	d->bus = VSL_DISK_BUS_IDE;
	n = vsl_bundle_config_add_nic(cfg);
	n->has_mac = true;
	memcpy(n->mac, "\x52\x54\x00\xaa\xbb\xcc", 6);
	n = vsl_bundle_config_add_nic(cfg);
	n->mode = VSL_NET_NONE;
}

START_TEST(generate_roundtrip)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_bundle_config cfg;
	struct vsl_ovf_disk disks[2] = {
		{ .href = "demo-disk1.vmdk", .file_size = 12345, .capacity = 1ull << 30, .populated = 4096 },
		{ .href = "demo-disk2.vmdk", .file_size = 999, .capacity = 8ull << 20 },
	};
	struct vsl_problems w;
	struct vsl_ix_vm vm;
	char *xml;
	size_t len;

	demo_config(&cfg);
	cfg.serial.port = 3;
	cfg.serial.output = VSL_SERIAL_NONE;
	vsl_problems_init(&w);
	ck_assert_int_eq(vsl_ovf_generate(ctx, &cfg, disks, &xml, &len, &w), 0);
	ck_assert_uint_eq(strlen(xml), len);
	ck_assert_ptr_nonnull(strstr(xml, "xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\""));
	ck_assert_ptr_nonnull(strstr(xml, "<vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>"));
	ck_assert_ptr_nonnull(strstr(xml, "ovf:populatedSize=\"4096\""));
	ck_assert_int_eq(vsl_ovf_parse(ctx, xml, len, "gen.ovf", &vm, &w), 0);
	ck_assert_str_eq(vm.name, "demo");
	ck_assert_uint_eq(vm.cpus, 3);
	ck_assert_uint_eq(vm.memory, 768ull << 20);
	ck_assert_int_eq(vm.firmware, VSL_FIRMWARE_UEFI);
	ck_assert_uint_eq(vm.ndisks, 2);
	ck_assert_str_eq(vm.disks[0].name, "root");
	ck_assert_int_eq(vm.disks[0].ctrl, VSL_IX_CTRL_VIRTIO);
	ck_assert_uint_eq(vm.disks[0].capacity, 1ull << 30);
	ck_assert_str_eq(vm.disks[1].name, "legacy");
	ck_assert_int_eq(vm.disks[1].ctrl, VSL_IX_CTRL_IDE);
	ck_assert_uint_eq(vm.nfiles, 2);
	ck_assert_str_eq(vm.files[1].href, "demo-disk2.vmdk");
	ck_assert_uint_eq(vm.files[0].size, 12345);
	ck_assert_uint_eq(vm.nnics, 2);
	ck_assert(vm.nics[0].has_mac);
	ck_assert_mem_eq(vm.nics[0].mac, "\x52\x54\x00\xaa\xbb\xcc", 6);
	ck_assert(vm.nics[0].connected);
	ck_assert(!vm.nics[1].connected);
	ck_assert_str_eq(vm.nics[0].model, "virtio");
	ck_assert(vm.serial);
	ck_assert_uint_eq(vm.serial_port, 3);
	ck_assert(vm.serial_silent);
	vsl_ix_vm_fini(&vm);

	/* schema validation (DSP8023 1.1.1), when the schema is available */
	FILE *f = fopen(SCHEMA, "r");
	if (f) {
		xmlSchemaParserCtxt *pc;
		xmlSchema *schema;
		xmlSchemaValidCtxt *vc;
		xmlDoc *doc;

		fclose(f);
		pc = xmlSchemaNewParserCtxt(SCHEMA);
		xmlSchemaSetParserErrors(pc, NULL, NULL, NULL);
		schema = xmlSchemaParse(pc);
		ck_assert_ptr_nonnull(schema);
		vc = xmlSchemaNewValidCtxt(schema);
		doc = xmlReadMemory(xml, (int)len, "gen.ovf", NULL, XML_PARSE_NONET);
		ck_assert_ptr_nonnull(doc);
		ck_assert_int_eq(xmlSchemaValidateDoc(vc, doc), 0);
		xmlFreeDoc(doc);
		xmlSchemaFreeValidCtxt(vc);
		xmlSchemaFree(schema);
		xmlSchemaFreeParserCtxt(pc);
	}
	free(xml);
	vsl_bundle_config_free(&cfg);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

START_TEST(generate_warns_kernel_boot)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_bundle_config cfg;
	struct vsl_ovf_disk disks[2] = { { .href = "a.vmdk", .capacity = 1 << 20 },
					 { .href = "b.vmdk", .capacity = 1 << 20 } };
	struct vsl_problems w;
	char *xml;
	size_t len;

	demo_config(&cfg);
	free(cfg.boot.disk);
	cfg.boot = (struct vsl_bundle_boot){ .kind = VSL_BOOT_KERNEL, .kernel = strdup("boot/vmlinuz") };
	vsl_problems_init(&w);
	ck_assert_int_eq(vsl_ovf_generate(ctx, &cfg, disks, &xml, &len, &w), 0);
	ck_assert(tu_has_problem(&w, "direct kernel boot"));
	free(xml);
	vsl_bundle_config_free(&cfg);
	vsl_problems_fini(&w);
	vsl_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ovf");
	TCase *tp = tcase_create("parse"), *tg = tcase_create("generate");

	tcase_add_test(tp, parse_vmware);
	tcase_add_test(tp, parse_virtualbox);
	tcase_add_test(tp, parse_ovirt);
	tcase_add_loop_test(tp, parse_bad, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tp, parse_garbage);
	tcase_add_test(tg, generate_roundtrip);
	tcase_add_test(tg, generate_warns_kernel_boot);
	tcase_set_timeout(tg, 30);
	suite_add_tcase(s, tp);
	suite_add_tcase(s, tg);
	return tu_run_suite(s);
}
