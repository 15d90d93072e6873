/*
 * libFuzzer harness for the bundle configuration parser (vessel.yaml,
 * formats/bundle_yaml.c): vsl_bundle_parse_config on a memory buffer,
 * then, when it parses, the emitter and a second parse of what it wrote,
 * which must succeed (writers validate; what validates must read back).
 *
 *	make fuzz FUZZ_ONLY=bundle FUZZ_SECONDS=60     (see tests/fuzz/module.mk)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsl_ctx *ctx = vsl_ctx_new();
	struct vsl_bundle_config cfg, again;
	struct vsl_problems probs;
	char buf[1024];
	int r;

	if (!ctx)
		return 0;
	vsl_problems_init(&probs);
	r = vsl_bundle_parse_config(ctx, (const char *)data, size, "vessel.yaml", &cfg, &probs);
	for (size_t i = 0; i < probs.count; i++)
		vsl_problem_format(&probs.items[i], buf, sizeof(buf));
	if (r == 0) {
		char *text = NULL;
		size_t len = 0;

		if (vsl_bundle_format_config(ctx, &cfg, &text, &len) == 0) {
			struct vsl_problems p2;

			vsl_problems_init(&p2);
			if (vsl_bundle_parse_config(ctx, text, len, "again.yaml", &again, &p2) != 0)
				abort(); /* what the emitter writes must parse */
			vsl_bundle_config_free(&again);
			vsl_problems_fini(&p2);
			free(text);
		}
	}
	vsl_bundle_config_free(&cfg);
	vsl_problems_fini(&probs);
	vsl_ctx_free(ctx);
	return 0;
}
