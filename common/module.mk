common_SRCS += $(wildcard common/*.c)
