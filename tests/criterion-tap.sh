#!/bin/sh
# Runs one criterion test binary with its TAP report on stdout (for automake's
# tap-driver) and its human-readable report on stderr (kept in the .log file).
# In sanitizer builds, LeakSanitizer ignores what libcriterion itself leaks.
dir=$(cd "$(dirname "$0")" && pwd)
LSAN_OPTIONS="suppressions=$dir/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
exec "$1" --tap=/dev/stdout --jobs=2
