runtime_SRCS += $(wildcard runtime/cpu/*.c runtime/devices/*.c runtime/machine/*.c runtime/host/*.c)
