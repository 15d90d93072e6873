#!/bin/sh
# The Debian kernel boot test of t40, on the binary translator (the default
# engine of vessel run); t40 runs it on the reference interpreter. This one
# gives the guest 4.5 GiB, so that RAM continues above the 4 GiB hole and
# the kernel's allocations (which prefer the zone above 4 GiB) land there.
VESSEL_ENGINE=bt VESSEL_MEM=4608 exec sh "$(dirname "$0")/t40-boot-linux.sh"
