#!/bin/sh
# End to end on real KVM: QEMU emulates (TCG) a Linux with nested SVM, "level
# 1", which loads KVM and runs scenarios.sh; each scenario boots Debian's
# stock kernel ("level 2", /init l2-init.sh) with cellvm. One boot of level 1
# runs every scenario. Turns its "RESULT <name> ok|fail <detail>" lines into
# TAP, plan at the end.
# Environment: CELLVM_E2E_VM_TIMEOUT (seconds per VM run in level 1),
# CELLVM_E2E_ONLY (comma-separated scenarios), CELLVM_E2E_SANDBOX=log (the
# VMs' processes log what their policies lack instead of dying; level 1
# prints those lines, "E2E seccomp ..."), CELLVM_E2E_KEEP=1 (keep the
# work directory, with level 1's serial log), CELLVM_E2E_EXTRA (more files
# for level 1, with their libraries: SRC:DEST ...), CELLVM_E2E_L1_CPUS
# (level 1's CPU count, default 2), CELLVM_E2E_SHOW=1 (copy level 1's
# console to stdout as it runs), CELLVM_CACHE (fetch-kernel.sh). Paths must not hold spaces or colons.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
e2e=$top_srcdir/tests/e2e
guest=$top_srcdir/tests/guest
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
finish() { echo "1..$n"; exit $failed; }

for tool in qemu-system-x86_64 cpio modinfo ldd timeout; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool not installed (apt-get install qemu-system-x86 cpio kmod)"
		exit 0
	fi
done
[ -x /bin/busybox ] || { echo "1..0 # SKIP busybox-static not installed"; exit 0; }

start=$(date +%s)
work=$(mktemp -d /tmp/cellvm-e2e.XXXXXX)
cleanup() {
	if [ "${CELLVM_E2E_KEEP:-0}" = 1 ]; then
		echo "# kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

kdir=$("$guest/fetch-kernel.sh") || { not_ok "fetch Debian's kernel"; finish; }

"$guest/mkinitramfs.sh" "$work/l2.gz" "$e2e/l2-init.sh" "$kdir" \
	-m virtio_mmio -m virtio_blk -m virtio-rng -m virtio_console -m virtio_net ||
	{ not_ok "build level 2's initramfs"; finish; }

# Level 1's initramfs: KVM in the note's load order (kvm-amd needs kvm and
# ccp), the level-2 kernel and initramfs, cellvm and the libraries it needs.
set -- -m irqbypass -m kvm -m ccp -m kvm-amd -m tun \
	-f "$kdir/vmlinuz:/l2/vmlinuz" -f "$work/l2.gz:/l2/initrd.gz" \
	-f "$e2e/scenarios.sh:/cellvm/scenarios.sh"
# libs: every absolute path ldd names, the loader among them; nothing for a
# script, a static binary or a data file.
: >"$work/libs"
add_file() {
	set_args="$set_args $1:$2"
	ldd "$1" 2>/dev/null |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' >>"$work/libs"
}
set_args=
missing=
for b in device-procs/cellvm-blk device-procs/cellvm-rng device-procs/cellvm-console \
	device-procs/cellvm-net vcpu-worker/cellvm-vcpu controller/cellvmd controller/cellvmctl \
	controller/cellvm; do
	if [ -x "$top_builddir/$b" ]; then
		add_file "$top_builddir/$b" "/cellvm/bin/${b##*/}"
	else
		missing="$missing ${b##*/}"
	fi
done
for f in "$top_srcdir"/policy/*.policy; do
	set_args="$set_args $f:/cellvm/policy/${f##*/}"
done
# SRC:DEST pairs for debugging, e.g. "/usr/bin/strace:/bin/strace".
for f in ${CELLVM_E2E_EXTRA:-}; do
	add_file "${f%%:*}" "${f#*:}"
done
for f in $set_args; do
	set -- "$@" -f "$f"
done
for lib in $(sort -u "$work/libs"); do
	set -- "$@" -f "$lib:$lib"
done
if [ -z "$missing" ]; then
	ok "cellvm's binaries are built"
else
	not_ok "cellvm's binaries are built (missing:$missing)"
fi
# Sanitizer settings reach the binaries in level 1 too.
: >"$work/env"
for var in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	eval "val=\${$var-}"
	[ -n "$val" ] && printf "export %s='%s'\n" $var \
		"$(printf %s "$val" | sed "s/'/'\\\\''/g")" >>"$work/env"
done
set -- "$@" -f "$work/env:/etc/e2e-env"
"$guest/mkinitramfs.sh" "$work/l1.gz" "$e2e/l1-init.sh" "$kdir" "$@" ||
	{ not_ok "build level 1's initramfs"; finish; }

append="console=ttyS0 quiet"
[ -n "${CELLVM_E2E_VM_TIMEOUT:-}" ] && append="$append cellvm_e2e.timeout=$CELLVM_E2E_VM_TIMEOUT"
[ -n "${CELLVM_E2E_ONLY:-}" ] && append="$append cellvm_e2e.only=$CELLVM_E2E_ONLY"
[ -n "${CELLVM_E2E_SANDBOX:-}" ] && append="$append cellvm_e2e.sandbox=$CELLVM_E2E_SANDBOX"
log=$work/serial.log
l1_start=$(date +%s)
l1() {
	timeout 900 qemu-system-x86_64 -accel tcg -cpu max -m 2048 -smp "${CELLVM_E2E_L1_CPUS:-2}" \
		-kernel "$kdir/vmlinuz" -initrd "$work/l1.gz" -append "$append" \
		-nographic -no-reboot -nodefaults -serial stdio </dev/null 2>&1
}
if [ "${CELLVM_E2E_SHOW:-0}" = 1 ]; then
	# Level 1's console, and the guests' within it, as it happens.
	{ l1; echo $? >"$work/status"; } | tee "$log" >&2
	qemu_status=$(cat "$work/status")
else
	l1 >"$log"
	qemu_status=$?
fi
l1_secs=$(($(date +%s) - l1_start))
tr -d '\r' <"$log" >"$log.txt"

kvm=$(sed -n 's/^E2E kvm-ready //p' "$log.txt" | head -1)
if [ -n "$kvm" ]; then
	ok "level 1 boots with /dev/kvm (ready at uptime ${kvm}s)"
elif ! grep -q '^RESULT kvm ' "$log.txt"; then
	not_ok "level 1 boots with /dev/kvm (no sign of it; qemu exit $qemu_status)"
fi
# The scenarios' checks; "E2E done" below says level 1 got through all.
sed -n 's/^RESULT //p' "$log.txt" >"$work/results"
while read -r name verdict detail; do
	case $verdict in
	ok) ok "$name: $detail" ;;
	fail) not_ok "$name: $detail" ;;
	*) not_ok "$name: $verdict $detail" ;;
	esac
done <"$work/results"
if [ $qemu_status -eq 124 ]; then
	not_ok "level 1 runs every scenario and powers off (killed after ${l1_secs}s)"
elif ! grep -q '^E2E done' "$log.txt"; then
	not_ok "level 1 runs every scenario and powers off (qemu exit $qemu_status after ${l1_secs}s, no 'E2E done')"
else
	ok "level 1 runs every scenario and powers off (${l1_secs}s)"
fi
if [ $failed -ne 0 ]; then
	echo "# the end of level 1's serial log:"
	tail -n 80 "$log.txt" | sed 's/^/# /'
fi
echo "# e2e: level 1 ran ${l1_secs}s of $(($(date +%s) - start))s in all"
finish
