#!/bin/sh
# End to end on real KVM: QEMU emulates (TCG) a Linux with nested SVM, "level
# 1", which loads KVM and runs scenarios.sh; each scenario boots Debian's
# stock kernel ("level 2", /init l2-init.sh) with cellvm. One boot of level 1
# runs every scenario. Turns its "RESULT <name> ok|fail <detail>" lines into
# TAP, plan at the end.
# Environment: CELLVM_E2E_VM_TIMEOUT (seconds per VM run in level 1),
# CELLVM_E2E_ONLY (comma-separated scenarios), CELLVM_E2E_SKIP (comma-
# separated scenarios the default plan leaves out), CELLVM_E2E_SANDBOX=log (the
# VMs' processes log what their policies lack instead of dying; level 1
# prints those lines, "E2E seccomp ..."), CELLVM_E2E_KEEP=1 (keep the
# work directory, with level 1's serial log), CELLVM_E2E_EXTRA (more files
# for level 1, with their libraries: SRC:DEST ...), CELLVM_E2E_L1_MODULES
# (more kernel modules for level 1, space-separated), CELLVM_E2E_L2_EXTRA
# (more files for level 2's initramfs, SRC:DEST ..., static binaries: it
# has no libraries), CELLVM_E2E_L1_CPUS
# (level 1's CPU count, default 1: two emulated CPUs wedged level 1 more
# often), CELLVM_E2E_SHOW=1 (copy level 1's console to stdout as it runs),
# CELLVM_E2E_SILENCE (seconds without level 1's heartbeat before it counts
# as wedged, default 60), CELLVM_E2E_ATTEMPTS (boots of level 1 when its
# own kernel crashes, default 2), CELLVM_E2E_ROOT=initramfs (level 1 stays
# on its initramfs root, as diskless hosts do; each check's name says so),
# CELLVM_E2E_BUDGET (seconds for all of it, default 900), CELLVM_CACHE
# (fetch-kernel.sh). Paths must not hold spaces or colons.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
e2e=$top_srcdir/tests/e2e
guest=$top_srcdir/tests/guest
n=0
failed=0
label=
[ "${CELLVM_E2E_ROOT:-}" = initramfs ] && label="initramfs root: "
ok() { n=$((n + 1)); echo "ok $n - $label$1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $label$1"; }
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

set --
# The guest side of scenario vsock (static, as the initramfs wants).
[ -x "$top_builddir/tests/e2e/vsock-peer" ] &&
	set -- -f "$top_builddir/tests/e2e/vsock-peer:/bin/vsock-peer"
for f in ${CELLVM_E2E_L2_EXTRA:-}; do
	set -- "$@" -f "$f"
done
"$guest/mkinitramfs.sh" "$work/l2.gz" "$e2e/l2-init.sh" "$kdir" \
	-m virtio_mmio -m virtio_blk -m virtio-rng -m virtio_console -m virtio_net \
	-m vmw_vsock_virtio_transport -m virtio_balloon "$@" ||
	{ not_ok "build level 2's initramfs"; finish; }

# Level 1's initramfs: KVM in the note's load order (kvm-amd needs kvm and
# ccp), the level-2 kernel and initramfs, cellvm and the libraries it needs.
set -- -m irqbypass -m kvm -m ccp -m kvm-amd -m tun \
	-f "$kdir/vmlinuz:/l2/vmlinuz" -f "$work/l2.gz:/l2/initrd.gz" \
	-f "$e2e/scenarios.sh:/cellvm/scenarios.sh" -f "$e2e/bench-scenarios.sh:/cellvm/bench-scenarios.sh" \
	-f "$e2e/bench_net.sh:/cellvm/bench_net.sh" -f "$e2e/scenarios_fc.sh:/cellvm/scenarios_fc.sh" \
	-f "$e2e/scenarios_vsock_balloon.sh:/cellvm/scenarios_vsock_balloon.sh" \
	-f "$e2e/scenarios_restart.sh:/cellvm/scenarios_restart.sh"
for m in ${CELLVM_E2E_L1_MODULES:-}; do
	set -- "$@" -m "$m"
done
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
	device-procs/cellvm-net device-procs/cellvm-vsock device-procs/cellvm-balloon \
	vcpu-worker/cellvm-vcpu controller/cellvmd client/cellvmctl client/cellvm fc/cellvm-fc \
	tests/e2e/idle-clients tests/e2e/mq-tap tests/e2e/vsock-peer; do
	if [ -x "$top_builddir/$b" ]; then
		add_file "$top_builddir/$b" "/cellvm/bin/${b##*/}"
	else
		missing="$missing ${b##*/}"
	fi
done
for f in "$top_srcdir"/policy/*.policy; do
	set_args="$set_args $f:/cellvm/policy/${f##*/}"
done
# curl, scenario fc's only client of cellvm-fc's API (scripts/install-deps.sh;
# without it that scenario fails, saying so, and the others run).
if command -v curl >/dev/null; then
	add_file "$(command -v curl)" /cellvm/bin/curl
fi
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

# A crash of level 1's own kernel (seen under TCG's nested SVM: soft
# lockups, a kernel stack overflow in a vCPU thread) powers QEMU off at once
# instead of wedging it.
append="console=ttyS0 quiet panic=-1 oops=panic softlockup_panic=1"
[ -n "${CELLVM_E2E_VM_TIMEOUT:-}" ] && append="$append cellvm_e2e.timeout=$CELLVM_E2E_VM_TIMEOUT"
[ -n "${CELLVM_E2E_SANDBOX:-}" ] && append="$append cellvm_e2e.sandbox=$CELLVM_E2E_SANDBOX"
[ -n "${CELLVM_E2E_SKIP:-}" ] && append="$append cellvm_e2e.skip=$CELLVM_E2E_SKIP"
[ "${CELLVM_E2E_ROOT:-}" = initramfs ] && append="$append cellvm_e2e_root=initramfs"
silence=${CELLVM_E2E_SILENCE:-60}

# boot_l1 N ONLY SECS: boots level 1 once for the scenarios ONLY
# (comma-separated, empty for all), for at most SECS, its console in $work/serial-N.log and its heartbeat (a
# line every 10 s on its second serial port) in $work/alive-N.log. A level 1
# whose heartbeat stops for $silence s is wedged and killed. Sets $log,
# $qemu_status, $wedged.
boot_l1() {
	log=$work/serial-$1.log
	alive=$work/alive-$1.log
	args=$append
	[ -n "$2" ] && args="$args cellvm_e2e.only=$2"
	: >"$log"
	: >"$alive"
	timeout $(($3 > 0 ? $3 : 1)) qemu-system-x86_64 -accel tcg -cpu max -m 2048 -smp "${CELLVM_E2E_L1_CPUS:-1}" \
		-kernel "$kdir/vmlinuz" -initrd "$work/l1.gz" -append "$args" \
		-nographic -no-reboot -nodefaults -serial stdio -serial "file:$alive" \
		</dev/null >"$log" 2>&1 &
	qpid=$!
	# Level 1's console, and the guests' within it, as it happens.
	[ "${CELLVM_E2E_SHOW:-0}" = 1 ] && tail -f --pid=$qpid "$log" >&2 &
	wedged=0
	last=0
	quiet=0
	while kill -0 $qpid 2>/dev/null; do
		sleep 2
		size=$(wc -c <"$alive")
		if [ "$size" != "$last" ]; then
			last=$size
			quiet=0
		elif [ $((quiet += 2)) -ge "$silence" ] && [ "$size" -gt 0 ]; then
			wedged=1
			kill $qpid
			break
		fi
	done
	wait $qpid
	qemu_status=$?
	wait
	tr -d '\r' <"$log" >"$log.txt"
}

# Each attempt runs the scenarios the last one did not end; only a crash of
# level 1 itself earns another (CELLVM_E2E_ATTEMPTS in all, default 2), all
# within CELLVM_E2E_BUDGET seconds (900).
l1_start=$(date +%s)
# Level 1's kernel, not a guest's (those are "LOG" lines), says it crashed.
oops='^\[ *[0-9]+\.[0-9]+\] .*(Kernel panic|BUG:|Oops|soft lockup)'
left() { echo $((${CELLVM_E2E_BUDGET:-900} - ($(date +%s) - l1_start))); }
todo=${CELLVM_E2E_ONLY:-}
attempt=0
crashes=
ncrash=0
all_ended=0
: >"$work/results"
while :; do
	attempt=$((attempt + 1))
	boot_l1 $attempt "$todo" "$(left)"
	grep -q '^E2E done' "$log.txt" && break
	crash=
	[ $wedged = 1 ] && crash="no heartbeat for ${silence}s"
	sig=$(grep -m1 -E "$oops" "$log.txt")
	[ -n "$sig" ] && crash=$sig
	[ -n "$crash" ] || break
	ncrash=$((ncrash + 1))
	crashes="$crashes; in $(sed -n 's/^E2E begin //p' "$log.txt" | tail -1): $crash"
	echo "# level 1 crashed ($crash):"
	grep -A 30 -m1 -E "$oops" "$log.txt" | sed 's/^/#   /'
	todo=$(awk '/^E2E plan / { for (i = 3; i <= NF; i++) plan[++n] = $i }
		/^E2E end / { ended[$3] = 1 }
		END { for (i = 1; i <= n; i++) if (!ended[plan[i]]) { printf "%s%s", s, plan[i]; s = "," } }' \
		"$log.txt")
	# A crash after the last scenario ended: nothing to run again.
	[ -n "$todo" ] || { all_ended=1; break; }
	[ $attempt -lt "${CELLVM_E2E_ATTEMPTS:-2}" ] && [ "$(left)" -ge 120 ] || break
	echo "# running $todo again in a new level 1"
	# The scenarios this level 1 ended keep their results.
	awk '/^E2E begin / { n = 0 } /^RESULT / { r[n++] = substr($0, 8) }
		/^E2E end / { for (i = 0; i < n; i++) print r[i]; n = 0 }' \
		"$log.txt" >>"$work/results"
done
l1_secs=$(($(date +%s) - l1_start))
sed -n 's/^RESULT //p' "$log.txt" >>"$work/results"

kvm=$(sed -n 's/^E2E kvm-ready //p' "$log.txt" | head -1)
root=$(sed -n 's/^E2E root //p' "$log.txt" | head -1)
if [ -n "$kvm" ] && [ -n "$label" ] && [ "$root" != rootfs ]; then
	not_ok "level 1 boots with /dev/kvm on its initramfs (its root is '$root', not rootfs)"
elif [ -n "$kvm" ]; then
	ok "level 1 boots with /dev/kvm (ready at uptime ${kvm}s; its root is $root)"
elif ! grep -q '^RESULT kvm ' "$log.txt"; then
	not_ok "level 1 boots with /dev/kvm (no sign of it; qemu exit $qemu_status)"
fi
# The scenarios' checks; "E2E done" below says level 1 got through all.
while read -r name verdict detail; do
	case $verdict in
	ok) ok "$name: $detail" ;;
	fail) not_ok "$name: $detail" ;;
	*) not_ok "$name: $verdict $detail" ;;
	esac
done <"$work/results"
retried=
[ -n "$crashes" ] && retried=", after $ncrash crash(es) of level 1's kernel${crashes}"
if grep -q '^E2E done' "$log.txt" || [ $all_ended = 1 ]; then
	ok "level 1 runs every scenario and powers off (${l1_secs}s$retried)"
elif [ $qemu_status -eq 124 ]; then
	not_ok "level 1 runs every scenario and powers off (killed after ${l1_secs}s$retried)"
elif [ $wedged = 1 ]; then
	not_ok "level 1 runs every scenario and powers off (wedged: no heartbeat for ${silence}s$retried)"
else
	not_ok "level 1 runs every scenario and powers off (qemu exit $qemu_status after ${l1_secs}s, no 'E2E done'$retried)"
fi
if [ $failed -ne 0 ]; then
	echo "# the end of level 1's serial log:"
	tail -n 80 "$log.txt" | sed 's/^/# /'
fi
echo "# e2e: level 1 ran ${l1_secs}s of $(($(date +%s) - start))s in all"
finish
