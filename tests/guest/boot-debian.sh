#!/bin/sh
# The README's main job: boots Debian's stock kernel (linux-image-amd64)
# under cellvm with a disk and an RNG, its console on this terminal. The
# guest (tests/e2e/l2-init.sh) checks its devices, prints what it found as
# "L2 ..." lines and powers off.
#
# With a /dev/kvm that can run it this is `cellvm run` directly. Without
# one, or with one that cannot run a stock kernel (a paravirtual KVM, which
# `cellvm-vcpu --check-kvm` finds out as Create does, within a second), KVM
# runs nested in QEMU's emulation (tests/e2e/run-e2e.sh, scenario "show")
# and level 1's console, which carries the guest's, is shown as it runs.
# Run from the build directory after `make`; top_srcdir may point at the
# sources when they are elsewhere.
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
if [ ! -x "$top_builddir/client/cellvm" ]; then
	echo "boot-debian: $top_builddir/client/cellvm is not built: run make first" >&2
	exit 2
fi

# The check is bounded by its own watchdog; the timeout covers a KVM_RUN
# that ignores even that.
why="no usable /dev/kvm here"
kvm_ok=false
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	if why=$(timeout -s KILL 5 "$top_builddir/vcpu-worker/cellvm-vcpu" --check-kvm 2>/dev/null); then
		kvm_ok=true
	elif [ -z "$why" ]; then
		why="/dev/kvm: cellvm-vcpu --check-kvm gave no verdict within 5 s"
	fi
fi

if $kvm_ok; then
	kdir=$("$top_srcdir/tests/guest/fetch-kernel.sh")
	work=$(mktemp -d /tmp/cellvm-boot.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	"$top_srcdir/tests/guest/mkinitramfs.sh" "$work/initrd.gz" "$top_srcdir/tests/e2e/l2-init.sh" \
		"$kdir" -m virtio_mmio -m virtio_blk -m virtio-rng
	truncate -s 64M "$work/disk.img"
	"$top_builddir/client/cellvm" run --kernel "$kdir/vmlinuz" --initrd "$work/initrd.gz" \
		--cmdline "console=ttyS0 cellvm.test=all cellvm.end=poweroff" \
		--cpus 2 --memory 512M --disk "$work/disk.img" --rng
else
	echo "boot-debian: $why" >&2
	echo "boot-debian: booting it on KVM nested in QEMU (TCG) instead" >&2
	CELLVM_E2E_ONLY=show CELLVM_E2E_SHOW=1 top_srcdir=$top_srcdir top_builddir=$top_builddir \
		"$top_srcdir/tests/e2e/run-e2e.sh"
fi
