# Fuzzing: `make fuzz` builds a libFuzzer harness for every
# tests/fuzz/fuzz_<format>.c (clang -fsanitize=fuzzer,address, the vessel
# libraries rebuilt with ASan and coverage) and runs each for FUZZ_SECONDS
# (default 60) starting from the seeds in tests/fuzz/seeds/<format>/.
# New corpus entries go to $(FUZZ_BUILD)/corpus/<format>/ (the seeds stay
# untouched); crashes are written to $(FUZZ_BUILD)/crash-<format>-*.
#
#   make fuzz                       all harnesses, 60 s each
#   make fuzz FUZZ_SECONDS=600      longer
#   make fuzz FUZZ_ONLY=qcow2       one harness
#
# The rules below must not become make's default goal: keep whatever goal
# was in effect before this file was included.
fuzz_saved_goal := $(.DEFAULT_GOAL)

FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_ONLY ?=
FUZZ_BUILD := $(BUILD)-fuzz
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRCS))
FUZZ_RUN := $(if $(FUZZ_ONLY),$(FUZZ_ONLY),$(FUZZ_NAMES))
FUZZ_CFLAGS := $(filter-out -Werror,$(BASE_CFLAGS)) -Wno-unknown-warning-option -O1 -g \
	-fno-omit-frame-pointer -fsanitize=address,fuzzer-no-link
# the libraries a format harness needs (formats/ sits on common/)
FUZZ_LIB_SRCS := $(formats_SRCS) $(common_SRCS)
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIB_SRCS))

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	@[ "$(V)" = 1 ] || echo "  FUZZLD  $@"
	$(Q)$(FUZZ_CC) -fsanitize=address,fuzzer -o $@ $^ -lpthread -lm $(PKG_LIBS)

.PHONY: fuzz fuzz-build
fuzz-build: $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_RUN))

fuzz: fuzz-build
	$(Q)set -e; for f in $(FUZZ_RUN); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$f tests/fuzz/seeds/$$f; \
		echo "  FUZZ    $$f for $(FUZZ_SECONDS) s"; \
		$(FUZZ_BUILD)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
			-timeout=20 -max_len=1048576 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/crash-$$f- \
			$(FUZZ_BUILD)/corpus/$$f tests/fuzz/seeds/$$f; \
	done

# header dependencies of the fuzz objects (written by -MMD above)
-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)

.DEFAULT_GOAL := $(fuzz_saved_goal)
