#!/bin/sh
# Runs one criterion test binary with its TAP report on stdout (for automake's
# tap-driver) and its human-readable report on stderr (kept in the .log file).
exec "$1" --tap=/dev/stdout --jobs=2
