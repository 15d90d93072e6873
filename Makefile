# vessel: top-level, non-recursive Makefile.
#
# Each source directory contributes a module.mk that appends its sources to
# one of the static libraries below (common, formats, builder, runtime).
# Everything is built out of tree under $(BUILD) = build/$(MODE).
#
#   make                      build build/dbg/vessel
#   make check                build and run the unit suites and integration tests
#   make check MODE=asan      the same under AddressSanitizer + UBSan
#   make MODE=rel|asan|ubsan|cov|dbg
#   make headers              compile every public header on its own
#   make demo                 run the end-to-end demo
#   V=1                       show full commands; WERROR=0 to allow warnings
#   BUILD=DIR                 use another build directory

MODE   ?= dbg
BUILD  ?= build/$(MODE)
V      ?= 0
WERROR ?= 1

ifeq ($(V),1)
Q :=
else
Q := @
endif

CC ?= cc

# Install missing Debian packages before pkg-config is asked anything
# (scripts/deps.sh is a single dpkg-query when everything is present).
ifeq ($(filter clean,$(MAKECMDGOALS)),)
DEPS_FAILED := $(shell scripts/deps.sh >&2 || echo yes)
ifeq ($(DEPS_FAILED),yes)
$(error scripts/deps.sh could not install the packages vessel needs (see above))
endif
endif

PKGS := yaml-0.1 libxml-2.0 libarchive libcrypto libdeflate zlib slirp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ifeq ($(PKG_LIBS),)
$(error pkg-config knows none of: $(PKGS); run scripts/deps.sh)
endif
PKG_LIBS += -lZydis -lZycore
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

WARN := -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
	-Wundef -Wshadow -Wpointer-arith -Wwrite-strings -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wold-style-definition -Wvla \
	-Wno-format-truncation
ifeq ($(WERROR),1)
WARN += -Werror
endif

BASE_CFLAGS := -std=gnu11 -g -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -fno-strict-aliasing \
	-Iinclude -I. $(WARN) $(PKG_CFLAGS)

ifeq ($(MODE),dbg)
MODE_CFLAGS := -O1
else ifeq ($(MODE),rel)
MODE_CFLAGS := -O2 -DNDEBUG
else ifeq ($(MODE),asan)
MODE_CFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(MODE),ubsan)
MODE_CFLAGS := -O1 -fsanitize=undefined -fno-sanitize-recover=undefined
MODE_LDFLAGS := -fsanitize=undefined
else ifeq ($(MODE),cov)
MODE_CFLAGS := -O0 --coverage
MODE_LDFLAGS := --coverage
else
$(error unknown MODE=$(MODE); use dbg, rel, asan, ubsan or cov)
endif

ALL_CFLAGS  = $(BASE_CFLAGS) $(MODE_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(MODE_LDFLAGS) $(LDFLAGS)
LIBS        = -lpthread -lm $(PKG_LIBS)

.DEFAULT_GOAL := all

# Filled in by the module.mk files.
common_SRCS  :=
formats_SRCS :=
builder_SRCS :=
runtime_SRCS :=
cli_SRCS     :=
CHECK_SCRIPTS :=

include common/module.mk
include formats/module.mk
include builder/module.mk
include runtime/module.mk
include cli/module.mk
include tests/module.mk
include tests/fuzz/module.mk
include tests/diff/module.mk

LIBNAMES := builder runtime formats common
LIBFILES := $(foreach l,$(LIBNAMES),$(BUILD)/lib/libvessel$(l).a)
objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

$(foreach l,$(LIBNAMES),$(eval $(BUILD)/lib/libvessel$(l).a: $(call objs,$($(l)_SRCS))))

VESSEL := $(BUILD)/vessel

# keep objects of unit suites (make would delete them as intermediates)
.SECONDARY:

.PHONY: all check clean headers demo deps unit-check
all: $(VESSEL)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lib/%.a:
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(VESSEL): $(call objs,$(cli_SRCS)) $(LIBFILES)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(call objs,$(cli_SRCS)) $(LIBFILES) $(LIBS)

# Unit suites: every tests/unit/<area>/test_<module>.c is one Check binary.
UNIT_SRCS := $(sort $(wildcard tests/unit/*/test_*.c))
UNIT_BINS := $(patsubst %.c,$(BUILD)/%,$(UNIT_SRCS))
UNIT_HELPERS := $(wildcard tests/unit/helpers/*.c)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(call objs,$(UNIT_HELPERS)) $(LIBFILES)
	@mkdir -p $(@D)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(call objs,$(UNIT_HELPERS)) $(LIBFILES) $(LIBS) $(CHECK_LIBS)

unit-check: $(UNIT_BINS) $(VESSEL)
	$(Q)VESSEL=$(abspath $(VESSEL)) BUILD=$(BUILD) tests/run-unit.sh $(UNIT_BINS)

# make check also runs the unit suites under AddressSanitizer + UBSan
# (CHECK_ASAN=0 to skip), then the integration scripts.
CHECK_ASAN ?= $(if $(filter dbg,$(MODE)),1,0)
check: unit-check $(VESSEL) $(EXTRA_CHECK_DEPS)
ifeq ($(CHECK_ASAN),1)
	$(Q)$(MAKE) --no-print-directory MODE=asan BUILD=$(BUILD)-asan unit-check
endif
	$(Q)VESSEL=$(abspath $(VESSEL)) BUILD=$(BUILD) MODE=$(MODE) tests/run-checks.sh $(CHECK_SCRIPTS)

# Compile each public header on its own, to prove it is self-contained.
HEADERS := $(wildcard include/vessel/*.h)
headers: $(patsubst %.h,$(BUILD)/%.h.ok,$(HEADERS))
$(BUILD)/%.h.ok: %.h
	@mkdir -p $(@D)
	$(Q)echo '#include "$(patsubst include/%,%,$<)"' | $(CC) $(ALL_CFLAGS) -x c -fsyntax-only - && touch $@

deps:
	scripts/deps.sh

demo: $(VESSEL)
	$(Q)VESSEL=$(abspath $(VESSEL)) scripts/demo.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# builder: libelf (kernel module dependencies), libguestfs (recipe disks),
# libcrypt (root-password hashes)
LIBS += $(shell pkg-config --libs libelf libguestfs 2>/dev/null) -lcrypt

# p2v: libblkid (partition tables, filesystem types) and libext2fs (ext block bitmaps)
LIBS += $(shell pkg-config --libs blkid ext2fs com_err 2>/dev/null)
