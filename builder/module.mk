builder_SRCS += $(wildcard builder/*.c)
