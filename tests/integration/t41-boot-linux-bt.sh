#!/bin/sh
# The Debian kernel boot test of t40, on the binary translator (the default
# engine of vessel run); t40 runs it on the reference interpreter.
VESSEL_ENGINE=bt exec sh "$(dirname "$0")/t40-boot-linux.sh"
