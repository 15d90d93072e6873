formats_SRCS += $(wildcard formats/*.c)
