# Integration scripts run by `make check` after the unit suites, in order.
# Each prints its own result lines and exits non-zero on failure; one that
# cannot run here (e.g. no /dev/kvm) prints why and exits 77 (skip).
CHECK_SCRIPTS += $(sort $(wildcard tests/integration/t[0-9]*.sh))
