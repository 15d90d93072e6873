# Differential CPU testing against /dev/kvm (tests/diff, tests/guest).
#
#   make cpudiff                      build vessel-cpudiff and the guest programs
#   make fuzz-cpu N=100000 SEED=7     run N random sequences from seed SEED
#                                     (FUZZ_FLAGS="-c shift,alu -e bt" to narrow);
#                                     reproducers go to $(BUILD)/tests/diff/repro
#
# vessel-cpudiff links vessel's CPU (libvesselruntime, libvesselcommon) only
# once runtime/ defines vsl_cpu_new and vsl_bus_new (DIFF_VESSEL=0/1 overrides
# the check); without it the program still validates the rig by running KVM
# against itself (-t kvm).

DIFF_SRCS := $(wildcard tests/diff/*.c)
DIFF_BIN := $(BUILD)/tests/diff/vessel-cpudiff
GUEST_SRCS := $(wildcard tests/guest/*.S)
GUEST_BINS := $(patsubst tests/guest/%.S,$(BUILD)/tests/guest/%.bin,$(GUEST_SRCS))

DIFF_HAS_CPU := $(shell grep -Els '^struct vsl_cpu [*]vsl_cpu_new' runtime/cpu/*.c)
DIFF_HAS_BUS := $(shell grep -Els '^struct vsl_bus [*]vsl_bus_new' runtime/*/*.c common/*.c)
DIFF_VESSEL ?= $(if $(and $(DIFF_HAS_CPU),$(DIFF_HAS_BUS)),1,0)
# The setting is recorded in a file rewritten (at parse time) only when it
# changes, so flipping it recompiles vessel.c and relinks.
DIFF_SETTING := $(BUILD)/tests/diff/have-vessel
DIFF_SETTING_UPD := $(shell mkdir -p $(BUILD)/tests/diff && \
	(echo $(DIFF_VESSEL) | cmp -s - $(DIFF_SETTING) || echo $(DIFF_VESSEL) > $(DIFF_SETTING)))
DIFF_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(DIFF_SRCS))

$(BUILD)/obj/tests/diff/vessel.o: $(DIFF_SETTING)
ifeq ($(DIFF_VESSEL),1)
$(BUILD)/obj/tests/diff/vessel.o: CFLAGS += -DVSL_DIFF_HAVE_VESSEL
endif

$(DIFF_BIN): $(DIFF_OBJS) $(DIFF_SETTING) $(if $(filter 1,$(DIFF_VESSEL)),$(foreach l,runtime common,$(BUILD)/lib/libvessel$(l).a))
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LIBS)

# Guest programs: flat binaries loaded at DIFF_CODE (0x100000).
$(BUILD)/tests/guest/%.bin: tests/guest/%.S tests/diff/layout.h tests/diff/guest.h
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  AS      $<"
	$(Q)$(CC) -c -I. -o $(@:.bin=.o) $<
	$(Q)ld -m elf_x86_64 -Ttext=0x100000 -e 0x100000 --no-warn-rwx-segments -o $(@:.bin=.elf) $(@:.bin=.o) 2>/dev/null || \
		ld -m elf_x86_64 -Ttext=0x100000 -e 0x100000 -o $(@:.bin=.elf) $(@:.bin=.o)
	$(Q)objcopy -O binary -j .text $(@:.bin=.elf) $@

.PHONY: cpudiff fuzz-cpu
cpudiff: $(DIFF_BIN) $(GUEST_BINS)

N ?= 1000
SEED ?= $(shell date +%s)
fuzz-cpu: cpudiff
	$(Q)echo "fuzz-cpu: N=$(N) SEED=$(SEED) $(FUZZ_FLAGS)"
	$(Q)$(DIFF_BIN) -n $(N) -s $(SEED) --max-print 3 --repro $(BUILD)/tests/diff/repro $(FUZZ_FLAGS)

EXTRA_CHECK_DEPS += cpudiff
