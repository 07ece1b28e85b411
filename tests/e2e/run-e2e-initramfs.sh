#!/bin/sh
# The default, sandboxed scenarios (a disk, an RNG, a net device and every
# process confined) once more, on a level 1 that stays on its initramfs
# root as diskless and PXE-booted hosts do: pivot_root refuses such a root.
CELLVM_E2E_ROOT=initramfs CELLVM_E2E_ONLY=${CELLVM_E2E_ONLY:-boot,ctl-stop} \
	exec sh "$(dirname "$0")/run-e2e.sh"
