#!/bin/sh
# make demo: the most end-to-end path vessel has (see README.md).
set -eu
: "${VESSEL:=build/dbg/vessel}"
"$VESSEL" --version
"$VESSEL" help
