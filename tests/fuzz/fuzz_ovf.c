/*
 * libFuzzer harness for the interchange descriptor parsers: the input is
 * handed to the OVF parser (formats/ovf.c), and also to the libvirt
 * domain XML parser, the .vmx parser and the OVA manifest parser, which
 * all read the same kind of untrusted text. Errors are expected; any
 * crash, hang, leak, entity expansion or sanitizer report is a bug.
 *
 *	make fuzz FUZZ_ONLY=ovf FUZZ_SECONDS=60     (see tests/fuzz/module.mk)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/interchange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_problems warn;
	struct vsl_ix_vm vm;
	struct vsl_ova_mf_entry *mf = NULL;
	size_t n = 0;
	const char *text = (const char *)data;

	if (!ctx)
		return 0;
	vsl_problems_init(&warn);
	if (vsl_ovf_parse(ctx, text, size, "fuzz.ovf", &vm, &warn) == 0) {
		/* a parsed machine must be internally consistent */
		for (size_t i = 0; i < vm.ndisks; i++)
			if (vm.disks[i].name && !vm.disks[i].name[0])
				abort();
		for (size_t i = 0; i < vm.ndisks; i++) {
			bool found = !vm.disks[i].file;

			for (size_t j = 0; !found && j < vm.nfiles; j++)
				found = !strcmp(vm.files[j].id, vm.disks[i].file);
			if (!found)
				abort();
		}
	}
	vsl_ix_vm_fini(&vm);
	vsl_libvirt_parse(ctx, text, size, "fuzz.xml", &vm, &warn);
	vsl_ix_vm_fini(&vm);
	vsl_vmx_parse(ctx, text, size, "fuzz.vmx", &vm, &warn);
	vsl_ix_vm_fini(&vm);
	if (vsl_ova_manifest_parse(ctx, text, size, "fuzz.mf", &mf, &n) == 0)
		free(mf);
	vsl_problems_fini(&warn);
	vsl_ctx_free(ctx);
	return 0;
}
