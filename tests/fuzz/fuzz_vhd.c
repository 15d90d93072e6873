/*
 * libFuzzer harness for formats/vhd.c ("vpc"): the input is a fixed or
 * dynamic VHD. Open it from a memory stream, walk the block status, read
 * every allocated byte
 * (up to a budget, so huge declared capacities stay fast), run the check,
 * then repeat on a writable copy after a few writes (the body is shared:
 * tests/fuzz/fuzz_image_common.h). Errors are expected; any crash, hang,
 * leak or sanitizer report is a bug.
 *
 *	make fuzz FUZZ_ONLY=vhd FUZZ_SECONDS=60     (see tests/fuzz/module.mk)
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_image_one(data, size, "vpc");
}
