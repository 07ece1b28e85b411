#!/bin/sh
# The end-to-end scenarios, run by level 1 (busybox sh) once /dev/kvm is
# there: each boots a level-2 guest (/l2/vmlinuz, /l2/initrd.gz, whose /init
# is l2-init.sh) with cellvm-launch and prints "RESULT <name> ok|fail
# <detail>" lines. Environment: E2E_VM_TIMEOUT (seconds per VM run),
# E2E_ONLY (comma-separated scenarios to run; default all).
L=/cellvm/bin/cellvm-launch
K=/l2/vmlinuz
I=/l2/initrd.gz
T=/tmp/e2e
timeout=${E2E_VM_TIMEOUT:-180}
mkdir -p $T

now() { cut -d' ' -f1 /proc/uptime; }
md5() { md5sum | cut -d' ' -f1; }
result() { echo "RESULT $1 $2 $3"; }
# check NAME GOT WANT DETAIL
check() {
	if [ -n "$3" ] && [ "$2" = "$3" ]; then
		result "$1" ok "$4"
	else
		result "$1" fail "$4 (got '$2', want '$3')"
		failed=1
	fi
}
# fail_all DETAIL NAME...: when a scenario cannot run at all.
fail_all() {
	detail=$1
	shift
	for name in "$@"; do result "$name" fail "$detail"; done
}

# run_vm NAME SECONDS LAUNCHER-ARGS...: runs one VM to its end or to the
# timeout. Sets $status, $elapsed, $run (both, for RESULT details), $out (the
# guest's serial output), $err (cellvm's log) and clears $failed.
run_vm() {
	out=$T/$1.out
	err=$T/$1.err
	secs=$2
	shift 2
	t0=$(now)
	# Its own session, so that whatever it leaves behind can be killed and
	# does not load the next scenario; SIGTERM at the timeout, SIGKILL 10 s on.
	setsid timeout -s KILL $((secs + 10)) timeout "$secs" "$L" "$@" \
		</dev/null >"$out" 2>"$err" &
	pid=$!
	wait $pid
	status=$?
	kill -s KILL -$pid 2>/dev/null
	failed=0
	elapsed=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	# Detail for every RESULT line of this run.
	if awk -v e="$elapsed" -v s="$secs" 'BEGIN { exit !(e >= s) }'; then
		run="timed out after ${elapsed}s, exit $status"
	else
		run="exit $status after ${elapsed}s"
	fi
}

# l2 KEY: the value of the guest's first "L2 KEY" line.
l2() { sed -n "s/^.*L2 $1 //p" "$out" | tr -d '\r' | head -1; }
seen() { tr -d '\r' <"$out" | grep -q "L2 $1\$"; }

# After a failed check: the ends of what the run printed, for the host's log.
dump() {
	[ "$failed" = 1 ] || return 0
	tail -n 25 "$out" | tr -d '\r' | sed "s|^|LOG ${out##*/}: |"
	tail -n 25 "$err" | sed "s|^|LOG ${err##*/}: |"
}

# 32 bytes in hex, not all zero.
random_hex() {
	[ ${#1} -eq 64 ] || return 1
	case $1 in
	*[!0-9a-f]*) return 1 ;;
	*[!0]*) return 0 ;;
	esac
	return 1
}

# A kernel without its boot-protocol magic: refused early, not a hang.
scenario_bad_kernel() {
	[ -x $L ] || { fail_all "$L missing" bad-kernel; return; }
	cp $K $T/bad-vmlinuz
	printf XXXX | dd of=$T/bad-vmlinuz bs=1 seek=$((0x202)) conv=notrunc 2>/dev/null
	run_vm bad-kernel 30 --kernel $T/bad-vmlinuz --initrd $I \
		--cmdline "console=ttyS0 quiet" --cpus 1 --memory 256M
	if [ $status -eq 10 ] && awk -v e="$elapsed" 'BEGIN { exit !(e <= 10) }'; then
		result bad-kernel ok "$run"
	else
		result bad-kernel fail "$run (want exit 10 within 10 s)"
		failed=1
	fi
	dump
}

# Two vCPUs, a disk and an RNG; the guest checks them and powers off.
scenario_boot() {
	names="boot-init boot-cpus boot-blk-hostpattern boot-blk-write \
		boot-blk-readback boot-blk-reinit boot-rng boot-poweroff"
	[ -x $L ] || { fail_all "$L missing" $names; return; }
	img=$T/disk.img
	rm -f $img
	truncate -s 16M $img
	head -c 65536 /dev/urandom >$T/hostpat
	dd if=$T/hostpat of=$img bs=4096 seek=256 conv=notrunc 2>/dev/null
	hostsum=$(md5 <$T/hostpat)
	run_vm boot "$timeout" --kernel $K --initrd $I \
		--cmdline "console=ttyS0 quiet cellvm.test=all cellvm.end=poweroff" \
		--cpus 2 --memory 256M --disk $img --rng

	if seen init; then
		result boot-init ok "guest uptime $(l2 uptime)s at init; $run; virtio:$(l2 virtio)"
	else
		result boot-init fail "no 'L2 init' ($run)"
		failed=1
	fi
	check boot-cpus "$(l2 cpus)" 2 "guest's CPU count"
	# The guest read the host's bytes, and they are still in the image.
	check boot-blk-hostpattern \
		"$(l2 hostpattern) $(dd if=$img bs=4096 skip=256 count=16 2>/dev/null | md5)" \
		"$hostsum $hostsum" "guest reads the host's bytes at 1 MiB, which stay in the image"
	wrote=$(l2 wrote)
	len=${wrote%% *}
	sum=${wrote#* }
	case $len in
	'' | *[!0-9]*) len=0 ;;
	esac
	check boot-blk-write "$(dd if=$img bs=4096 skip=16 count=$(((len + 4095) / 4096)) \
		2>/dev/null | head -c "$len" | md5)" "$sum" "image holds the guest's $len bytes at 64 KiB"
	check boot-blk-readback "$(l2 readback)" "$sum" "guest reads back what it wrote"
	check boot-blk-reinit "$(l2 reinit-readback)" "$sum" \
		"after a device reset and driver re-init, the guest reads the same bytes"
	rng=$(l2 rng)
	if random_hex "$rng"; then
		result boot-rng ok "$rng"
	else
		result boot-rng fail "want 32 random bytes in hex, got '$rng'"
		failed=1
	fi
	check boot-poweroff "$status" 0 "guest powered off: $run"
	dump
}

# One vCPU, no devices: the guest reboots, which ends the VM with status 3.
scenario_reboot() {
	[ -x $L ] || { fail_all "$L missing" reboot; return; }
	run_vm reboot "$timeout" --kernel $K --initrd $I \
		--cmdline "console=ttyS0 quiet cellvm.test=none cellvm.end=reboot" \
		--cpus 1 --memory 256M
	if [ $status -eq 3 ] && seen "end reboot"; then
		result reboot ok "$run"
	else
		result reboot fail "$run; want exit 3 after 'L2 end reboot'$(seen init ||
			echo ", no 'L2 init'")"
		failed=1
	fi
	dump
}

for s in bad-kernel boot reboot; do
	case ",${E2E_ONLY:-$s}," in
	*",$s,"*) "scenario_$(echo $s | tr - _)" ;;
	esac
done
