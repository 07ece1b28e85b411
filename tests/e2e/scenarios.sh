#!/bin/sh
# The end-to-end scenarios, run by level 1 (busybox sh) once /dev/kvm is
# there: each boots a level-2 guest (/l2/vmlinuz, /l2/initrd.gz, whose /init
# is l2-init.sh) with `cellvm run`, or with cellvmd driven by cellvmctl, and
# prints "RESULT <name> ok|fail <detail>" lines. Environment: E2E_VM_TIMEOUT
# (seconds per VM run), E2E_ONLY (comma-separated scenarios to run; default
# all), E2E_SKIP (comma-separated scenarios to leave out).
L=/cellvm/bin/cellvm
D=/cellvm/bin/cellvmd
# The policies are copied here, not to the installed path. E2E_SANDBOX=log:
# every process logs what its policy lacks instead of dying.
P="--policy-dir /cellvm/policy --sandbox ${E2E_SANDBOX:-on}"
C=/cellvm/bin/cellvmctl
# Both ends of the vsock checks (tests/e2e/vsock_peer.c).
VP=/cellvm/bin/vsock-peer
K=/l2/vmlinuz
I=/l2/initrd.gz
T=/tmp/e2e
timeout=${E2E_VM_TIMEOUT:-180}
mkdir -p $T

now() { cut -d' ' -f1 /proc/uptime; }
md5() { md5sum | cut -d' ' -f1; }
# One line each: the host reads RESULT lines whole.
result() { echo "RESULT $1 $2 $(echo "$3" | tr '\n' ' ')"; }
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

# run_vm NAME SECONDS RUN-ARGS...: runs one VM with `cellvm run` to its end
# or to the timeout. Sets $status, $elapsed, $run (both, for RESULT details), $out (the
# guest's serial output), $err (cellvm's log) and clears $failed.
run_vm() {
	out=$T/$1.out
	err=$T/$1.err
	secs=$2
	shift 2
	t0=$(now)
	# Its own session, so that whatever it leaves behind can be killed and
	# does not load the next scenario; SIGTERM at the timeout, SIGKILL 10 s on.
	setsid timeout -s KILL $((secs + 10)) timeout "$secs" "$L" run $P "$@" \
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

# await_waiting PID: until the guest says "L2 waiting", PID ends, or the
# timeout passes.
await_waiting() {
	i=0
	until seen waiting 2>/dev/null || [ $i -ge "$timeout" ] || ! kill -0 "$1" 2>/dev/null; do
		sleep 1
		i=$((i + 1))
	done
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

# A kernel without its boot-protocol magic: Create fails with
# KERNEL_LOAD_FAILURE, early, not a hang.
scenario_bad_kernel() {
	[ -x $L ] || { fail_all "$L missing" bad-kernel; return; }
	cp $K $T/bad-vmlinuz
	printf XXXX | dd of=$T/bad-vmlinuz bs=1 seek=$((0x202)) conv=notrunc 2>/dev/null
	run_vm bad-kernel 30 --kernel $T/bad-vmlinuz --initrd $I \
		--cmdline "console=ttyS0 quiet" --cpus 1 --memory 256M
	if [ $status -eq 1 ] && grep -q "KERNEL_LOAD_FAILURE" "$err" &&
		awk -v e="$elapsed" 'BEGIN { exit !(e <= 10) }'; then
		result bad-kernel ok "$run: $(grep KERNEL_LOAD_FAILURE "$err" | head -1)"
	else
		result bad-kernel fail "$run (want exit 1 and KERNEL_LOAD_FAILURE within 10 s)"
		failed=1
	fi
	dump
}

# Two vCPUs, a disk, an RNG and a NIC of two queue pairs; the guest checks
# them and powers off.
scenario_boot() {
	names="boot-init boot-cpus boot-blk-hostpattern boot-blk-write \
		boot-blk-readback boot-blk-reinit boot-rng boot-net boot-poweroff"
	[ -x $L ] || { fail_all "$L missing" $names; return; }
	img=$T/disk.img
	rm -f $img
	truncate -s 16M $img
	# A tap made beforehand, as on a host: cellvmd keeps no capability to
	# create one. Multi-queue, for the NIC's two pairs.
	/cellvm/bin/mq-tap cvtap0
	head -c 65536 /dev/urandom >$T/hostpat
	dd if=$T/hostpat of=$img bs=4096 seek=256 conv=notrunc 2>/dev/null
	hostsum=$(md5 <$T/hostpat)
	run_vm boot "$timeout" --kernel $K --initrd $I \
		--cmdline "console=ttyS0 quiet cellvm.test=blk,rng,net cellvm.end=poweroff" \
		--cpus 2 --memory 256M --disk $img --rng \
		--net tap=cvtap0,mac=52:54:00:12:34:56,queues=4 --log-level info

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
	# The driver turned the second pair on through the control queue.
	net="$(l2 net)$(grep -q "net0: the driver uses 2 of 2 queue pairs" "$err" && echo ", VQ_PAIRS_SET 2")"
	case $net in
	"52:54:00:12:34:56 tx "[1-9]*" queues 2, VQ_PAIRS_SET 2") result boot-net ok "guest's eth0: $net" ;;
	*) result boot-net fail "want eth0 with the MAC given, frames sent and 2 combined" \
		"queues set by VQ_PAIRS_SET (2 vCPUs, num_queues 4), got '$net'"; failed=1 ;;
	esac
	check boot-poweroff "$status" 0 "guest powered off: $run"
	dump
}

# One vCPU, no devices: the guest reboots, which ends the VM cleanly.
scenario_reboot() {
	[ -x $L ] || { fail_all "$L missing" reboot; return; }
	run_vm reboot "$timeout" --kernel $K --initrd $I \
		--cmdline "console=ttyS0 quiet cellvm.test=none cellvm.end=reboot" \
		--cpus 1 --memory 256M
	if [ $status -eq 0 ] && seen "end reboot"; then
		result reboot ok "$run"
	else
		result reboot fail "$run; want exit 0 after 'L2 end reboot'$(seen init ||
			echo ", no 'L2 init'")"
		failed=1
	fi
	dump
}

# A kernel alone, without an initrd (docs/config.md's smallest config, and
# `cellvm run` without --initrd): it panics for want of a root and reboots
# (panic=-1), which ends the VM cleanly, through `cellvm run` and cellvmd.
scenario_kernel_only() {
	names="kernel-only-run kernel-only-ctl"
	[ -x $L ] && [ -x $D ] && [ -x $C ] || { fail_all "cellvm binaries missing" $names; return; }
	cmdline="console=ttyS0 quiet panic=-1"
	run_vm kernel-only "$timeout" --kernel $K --cmdline "$cmdline" --cpus 1 --memory 256M
	panic=$(tr -d '\r' <"$out" | grep -m1 'Kernel panic')
	if [ $status -eq 0 ] && [ -n "$panic" ]; then
		result kernel-only-run ok "$run: $panic"
	else
		result kernel-only-run fail "$run; want exit 0 after a kernel panic: $(tail -n 2 "$err")"
		failed=1
	fi
	dump
	start_cellvmd kernel-only
	failed=0
	sandbox=
	[ -n "${E2E_SANDBOX:-}" ] && sandbox=", \"sandbox\": \"$E2E_SANDBOX\""
	printf '{"kernel": "%s", "cmdline": "%s"%s}\n' $K "$cmdline" "$sandbox" >$T/kernel-only.json
	if $C --socket $sock create --config $T/kernel-only.json 2>$T/create.err; then
		ctl_run kernel-only-ctl
		panic=$(tr -d '\r' <"$out" | grep -m1 'Kernel panic')
		if [ $status -eq 0 ] && [ -n "$panic" ]; then
			result kernel-only-ctl ok "$run: $panic"
		else
			result kernel-only-ctl fail "$run: $(cat "$err"); want Run ok after a kernel panic"
			failed=1
		fi
	else
		result kernel-only-ctl fail "create: $(cat $T/create.err)"
		failed=1
	fi
	stop_cellvmd
	[ "$failed" = 1 ] && tail -n 30 "$dlog" | sed "s|^|LOG ${dlog##*/}: |"
	dump
}

# The same processes with --sandbox=off (for debugging) run the same guest.
scenario_unconfined() {
	[ -x $L ] || { fail_all "$L missing" unconfined; return; }
	img=$T/disk2.img
	rm -f $img
	truncate -s 16M $img
	run_vm unconfined "$timeout" --kernel $K --initrd $I \
		--cmdline "console=ttyS0 quiet cellvm.test=blk,rng cellvm.end=poweroff" \
		--cpus 1 --memory 256M --disk $img --rng --sandbox=off
	wrote=$(l2 wrote)
	if [ $status -eq 0 ] && [ -n "$wrote" ] && [ "$(l2 readback)" = "${wrote#* }" ] &&
		random_hex "$(l2 rng)"; then
		result unconfined ok "$run; disk and rng work unconfined"
	else
		result unconfined fail "$run; wrote '$wrote', readback '$(l2 readback)', rng '$(l2 rng)'"
		failed=1
	fi
	dump
}

# A device process that hangs (stopped: alive, answering nothing) is found
# by the worker within seconds, killed and restarted (docs/config.md,
# "Restarts"); the guest goes on. Then SIGTERM stops the VM and no process
# is left.
scenario_device_hang() {
	[ -x $L ] || { fail_all "$L missing" device-hang; return; }
	out=$T/device-hang.out
	err=$T/device-hang.err
	setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" "$L" run $P --kernel $K \
		--initrd $I --cmdline "console=ttyS0 quiet cellvm.test=none cellvm.end=wait" \
		--cpus 1 --memory 256M --rng </dev/null >"$out" 2>"$err" &
	pid=$!
	await_waiting $pid
	t0=$(now)
	for c in /proc/[0-9]*/comm; do
		read -r name <"$c" 2>/dev/null && [ "$name" = cellvm-rng ] || continue
		p=${c%/comm}
		kill -STOP "${p#/proc/}"
	done
	i=0
	until grep -q "rng0: restart 1: I/O blackout" "$err" || [ $i -ge 100 ] ||
		! kill -0 $pid 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	elapsed=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	kill -TERM $pid
	wait $pid
	status=$?
	left=$(leftovers)
	failed=0
	if seen waiting && grep -q "rng0 does not answer" "$err" &&
		grep -q "rng0: restart 1: I/O blackout" "$err" && [ -z "$left" ] &&
		awk -v e="$elapsed" 'BEGIN { exit !(e <= 10) }'; then
		result device-hang ok "restarted ${elapsed}s after the stop: $(grep -m1 'I/O blackout' "$err" | sed 's/.*rng0: //')"
	else
		result device-hang fail "waiting seen: $(seen waiting && echo yes || echo no); exit $status, ${elapsed}s after the stop: $(tail -n 3 "$err"); left: $left"
		failed=1
	fi
	dump
}

# ---------------------------------------------------------------- cellvmd

# start_cellvmd NAME [ARGS...]: cellvmd as a service, with ARGS: started as
# root, it runs as nobody with no capabilities. Sets $dpid.
start_cellvmd() {
	sock=$T/cellvmd.sock
	dlog=$T/cellvmd-$1.log
	shift
	# cellvmd as nobody cannot remove its socket from root's directory.
	rm -f $sock
	$D --socket $sock --user 65534:65534 --log-level info $P --min-sandbox ${E2E_SANDBOX:-on} \
		"$@" 2>"$dlog" &
	dpid=$!
	i=0
	until [ -S $sock ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
}

stop_cellvmd() {
	kill -TERM $dpid 2>/dev/null
	wait $dpid
	dstatus=$?
}

# Each cellvm process as name:Seccomp:NoNewPrivs:CapEff:CapBnd.
confinement() {
	for st in /proc/[0-9]*/status; do
		awk '/^Name:/ { n = $2 } /^Seccomp:/ { s = $2 } /^NoNewPrivs:/ { p = $2 }
			/^CapEff:/ { e = $2 } /^CapBnd:/ { b = $2 }
			END { if (n ~ /^cellvm/ && n != "cellvmctl") printf "%s:%s:%s:%s:%s ", n, s, p, e, b }' "$st" 2>/dev/null
	done
}

# Processes of cellvm still alive (comm names), besides cellvmd; with
# --but-spawner, besides cellvmd's cellvm-spawner too (while cellvmd runs). A
# zombie is dead: one whose parent died waits for level 1's init to reap it.
leftovers() {
	for st in /proc/[0-9]*/status; do
		awk -v but="${1:-}" '/^Name:/ { n = $2 } /^State:/ { s = $2 }
			END { if (n ~ /^cellvm-/ && s != "Z" &&
				!(n == "cellvm-spawner" && but == "--but-spawner")) print n ":" s }' \
			"$st" 2>/dev/null
	done | tr '\n' ' '
}

# ctl_run NAME: `cellvmctl run` to its end or the timeout, with the serial
# console captured by `cellvmctl serial` and the virtio console (if any) by
# `cellvmctl serial --console` into $T/NAME.hvc. Sets $status, $out, $run.
ctl_run() {
	out=$T/$1.out
	err=$T/$1.err
	$C --socket $sock serial --console </dev/null >"$T/$1.hvc" 2>/dev/null &
	$C --socket $sock serial </dev/null >"$out" 2>/dev/null &
	spid=$!
	t0=$(now)
	timeout "$timeout" $C --socket $sock run 2>"$err"
	status=$?
	wait $spid
	elapsed=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	run="cellvmctl run: exit $status after ${elapsed}s"
}

# ctl_run_on SOCK NAME: ctl_run against another cellvmd's socket.
ctl_run_on() {
	saved=$sock
	sock=$1
	ctl_run "$2"
	sock=$saved
}

# await_guest OUT: until OUT shows "L2 waiting" or the timeout passes.
await_guest() {
	i=0
	until tr -d '\r' <"$1" 2>/dev/null | grep -q "L2 waiting" || [ $i -ge "$timeout" ]; do
		sleep 1
		i=$((i + 1))
	done
}

config() {
	printf '{"kernel": "%s", "initrd": "%s", "cmdline": "console=ttyS0 quiet %s", "memory": "256M", "sandbox": "%s"%s}\n' \
		$K $I "$1" "${E2E_SANDBOX:-on}" "${2:-}" >$T/config.json
}

# Create -> Run -> guest poweroff -> Create -> Run again, through cellvmd
# running unprivileged.
scenario_ctl_lifecycle() {
	names="ctl-privdrop ctl-run-1 ctl-run-2 ctl-console ctl-status ctl-no-leftovers"
	[ -x $D ] && [ -x $C ] || { fail_all "cellvmd or cellvmctl missing" $names; return; }
	start_cellvmd lifecycle
	failed=0
	# The socket is there before cellvmd drops to nobody: wait for that.
	i=0
	while :; do
		ids=$(awk '/^Uid:/ { u = $2 } /^CapEff:/ { c = $2 } END { print u, c }' \
			/proc/$dpid/status)
		[ "$ids" = "65534 0000000000000000" ] || [ $i -ge 50 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	check ctl-privdrop "$ids" "65534 0000000000000000" "cellvmd's uid and effective capabilities"
	config "cellvm.test=rng,console cellvm.end=poweroff" ', "rng": true, "console": true'
	for n in 1 2; do
		if $C --socket $sock create --config $T/config.json 2>$T/create.err; then
			ctl_run ctl-run-$n
			if [ $status -eq 0 ] && seen "end poweroff" && random_hex "$(l2 rng)"; then
				result ctl-run-$n ok "$run; guest read /dev/hwrng"
			else
				result ctl-run-$n fail "$run: $(cat "$err"); want exit 0 after 'L2 end poweroff'"
				failed=1
				dump
			fi
		else
			result ctl-run-$n fail "create: $(cat $T/create.err)"
			failed=1
		fi
	done
	if grep -q "L2 hvc0 hello from the virtio console" $T/ctl-run-2.hvc 2>/dev/null; then
		result ctl-console ok "GetConsole streamed the guest's hvc0"
	else
		result ctl-console fail "no hvc0 line from GetConsole: '$(head -c 200 $T/ctl-run-2.hvc)'"
		failed=1
	fi
	st=$($C --socket $sock status | tr '\n' ' ')
	case $st in
	*"state:      NOT_CREATED"*"last end:   OK: guest powered off"*) result ctl-status ok "$st" ;;
	*) result ctl-status fail "$st"; failed=1 ;;
	esac
	stop_cellvmd
	check ctl-no-leftovers "$dstatus:$(leftovers)" "0:" "cellvmd exit status : processes left"
	[ "$failed" = 1 ] && tail -n 30 "$dlog" | sed "s|^|LOG ${dlog##*/}: |"
	dump
}

# Stop of a running guest: Run answers CONTROLLER_FORCED_HALT, Stop returns
# once every process is gone.
scenario_ctl_stop() {
	[ -x $D ] && [ -x $C ] || { fail_all "cellvmd or cellvmctl missing" ctl-confined ctl-empty-root ctl-no-kvm-fd ctl-stop; return; }
	start_cellvmd stop
	failed=0
	config "cellvm.test=none cellvm.end=wait" ', "rng": true'
	out=$T/ctl-stop.out
	err=$T/ctl-stop.err
	$C --socket $sock create --config $T/config.json 2>$T/create.err
	$C --socket $sock serial </dev/null >"$out" 2>/dev/null &
	timeout "$timeout" $C --socket $sock run 2>"$err" &
	rpid=$!
	await_waiting $rpid
	# Every process of the running VM, and cellvmd, is confined.
	conf=$(confinement)
	bad=$(echo "$conf" | tr ' ' '\n' | grep . |
		grep -v ':2:1:0000000000000000:0000000000000000$' | tr '\n' ' ')
	if [ -n "$conf" ] && [ -z "$bad" ] && echo "$conf" | grep -q cellvm-vcpu &&
		echo "$conf" | grep -q cellvmd; then
		result ctl-confined ok "name:Seccomp:NoNewPrivs:CapEff:CapBnd $conf"
	else
		result ctl-confined fail "not confined: '$bad' (all: $conf)"
		failed=1
	fi
	# The worker's and the devices' root: an empty directory, whatever the
	# host's root is.
	roots=
	for st in /proc/[0-9]*/status; do
		p=${st%/status}
		case $(awk '/^Name:/ { print $2 }' "$st" 2>/dev/null) in
		cellvm-vcpu | cellvm-rng) roots="$roots ${p#/proc/}:$(ls -A "$p/root" 2>&1 | wc -l)" ;;
		esac
	done
	if [ -n "$roots" ] && ! echo "$roots" | grep -q ':[^0]'; then
		result ctl-empty-root ok "pid:entries in its root$roots"
	else
		result ctl-empty-root fail "want processes with an empty root, got pid:entries '$roots'"
		failed=1
	fi
	# The running worker holds its VM but no /dev/kvm, which could make
	# another (main.c, create_vm).
	kvmfds=
	for st in /proc/[0-9]*/status; do
		p=${st%/status}
		[ "$(awk '/^Name:/ { print $2 }' "$st" 2>/dev/null)" = cellvm-vcpu ] || continue
		kvmfds="$kvmfds ${p#/proc/}:$(for fd in "$p"/fd/*; do readlink "$fd"; done 2>/dev/null |
			grep -E '^(/dev/kvm|anon_inode:kvm-vm)$' | tr '\n' ,)"
	done
	if echo "$kvmfds" | grep -q 'anon_inode:kvm-vm' && ! echo "$kvmfds" | grep -q /dev/kvm; then
		result ctl-no-kvm-fd ok "pid:KVM fds$kvmfds"
	else
		result ctl-no-kvm-fd fail "want a worker with a VM fd and no /dev/kvm, got pid:KVM fds '$kvmfds'"
		failed=1
	fi
	t0=$(now)
	$C --socket $sock stop
	stop_status=$?
	wait $rpid
	status=$?
	left=$(leftovers --but-spawner)
	elapsed=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	if seen waiting && [ $stop_status -eq 0 ] && [ $status -eq 1 ] &&
		grep -q CONTROLLER_FORCED_HALT "$err" && [ -z "$left" ]; then
		result ctl-stop ok "stop took ${elapsed}s; run: $(cat "$err")"
	else
		result ctl-stop fail "waiting seen: $(seen waiting && echo yes || echo no); stop exit $stop_status; run exit $status: $(cat "$err" $T/create.err); left: $left"
		failed=1
	fi
	stop_cellvmd
	[ "$failed" = 1 ] && tail -n 30 "$dlog" | sed "s|^|LOG ${dlog##*/}: |"
	dump
}

# ---------------------------------------------------------------- cgroup

# cg_cellvmd NAME ARGS...: a cellvmd as start_cellvmd's, as nobody, with
# --cgroup /sys/fs/cgroup/NAME and ARGS; its socket $T/NAME.sock. Sets $cpid.
cg_cellvmd() {
	cg=$1
	shift
	rm -f $T/$cg.sock
	mkdir -p /sys/fs/cgroup/$cg
	$D --socket $T/$cg.sock --user 65534:65534 --log-level info $P \
		--min-sandbox ${E2E_SANDBOX:-on} --cgroup /sys/fs/cgroup/$cg "$@" 2>$T/$cg.log &
	cpid=$!
	i=0
	until [ -S $T/$cg.sock ] || [ $i -ge 50 ] || ! kill -0 $cpid 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
}

# cg_placed NAME SOCK: each process Status shows, as name:its cgroup, with
# "ok" for the leaf /NAME/vm/<its name>.
cg_placed() {
	$C --socket $2 status | sed -n 's/^processes: *//p' | tr ' ' '\n' | grep = | tr = ' ' |
		while read -r who pid; do
			at=$(sed -n 's/^0:://p' /proc/$pid/cgroup)
			[ "$at" = "/$1/vm/$who" ] && echo "$who:ok" || echo "$who:$at"
		done | tr '\n' ' '
}

# Two VMs, each under a cellvmd with --cgroup: B with the default limits and
# a guest that waits, A with a memory.max below its guest's RAM
# (--cgroup-memory-headroom -160M: 256M + 40M of overhead - 160M) and a
# guest that fills its RAM. A's VM ends with the OOM kill named, while B's
# guest, cellvmd A and level 1 go on; each VM's cgroup goes with it.
scenario_cgroup() {
	names="cgroup-placed cgroup-limits cgroup-contained cgroup-other-vm cgroup-removed"
	[ -x $D ] && [ -x $C ] || { fail_all "cellvmd or cellvmctl missing" $names; return; }
	grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
		{ fail_all "no cgroup2 with memory at /sys/fs/cgroup" $names; return; }
	failed=0
	cg_cellvmd cvm-b
	bpid=$cpid
	config "cellvm.test=rng cellvm.end=wait" ', "rng": true, "console": true'
	$C --socket $T/cvm-b.sock create --config $T/config.json 2>$T/cvm-b.create
	$C --socket $T/cvm-b.sock serial </dev/null >$T/cvm-b.out 2>/dev/null &
	timeout "$timeout" $C --socket $T/cvm-b.sock run 2>$T/cvm-b.err &
	brun=$!
	await_guest $T/cvm-b.out
	placed=$(cg_placed cvm-b $T/cvm-b.sock)
	if echo "$placed" | grep -q 'vcpu-worker:ok' && echo "$placed" | grep -q 'rng0:ok' &&
		echo "$placed" | grep -q 'console0:ok' && ! echo "$placed" | grep -q ':/'; then
		result cgroup-placed ok "process:leaf $placed; cellvmd in $(sed -n 's/^0:://p' /proc/$bpid/cgroup)"
	else
		result cgroup-placed fail "want each process in /cvm-b/vm/<its name>, got '$placed' ($(cat $T/cvm-b.create))"
		failed=1
	fi
	v=/sys/fs/cgroup/cvm-b/vm
	limits="$(cat $v/memory.max 2>&1) $(cat $v/memory.swap.max 2>&1) $(cat $v/pids.max 2>&1) $(cat $v/memory.oom.group 2>&1)"
	# 256M of RAM + 32M + 4M a vCPU + 16M a device (rng0, console0) + 4M
	# (RAM/64) + 64M of headroom.
	check cgroup-limits "$limits" "$(((256 + 32 + 4 + 32 + 4 + 64) << 20)) 0 512 1" \
		"B's memory.max memory.swap.max pids.max memory.oom.group"

	cg_cellvmd cvm-a --cgroup-memory-headroom -160M
	apid=$cpid
	config "cellvm.test=mem cellvm.end=poweroff"
	$C --socket $T/cvm-a.sock create --config $T/config.json 2>$T/cvm-a.create
	ctl_run_on $T/cvm-a.sock cvm-a
	events=$(tr '\n' ' ' </sys/fs/cgroup/cvm-a/memory.events 2>&1)
	# "L2 mem filled NM": the guest got all it asked for, which must not be.
	if [ $status -ne 0 ] && grep -q "out of memory" "$err" && [ -z "$(l2 'mem filled')" ] &&
		echo "$events" | grep -q 'oom_kill [1-9]' && kill -0 $apid 2>/dev/null; then
		result cgroup-contained ok "$run: $(cat "$err"); guest: $(l2 mem); A's memory.events: $events"
	else
		result cgroup-contained fail "$run: $(cat "$err" $T/cvm-a.create); guest: start '$(l2 mem)'; memory.events: $events; cellvmd A alive: $(kill -0 $apid 2>/dev/null && echo yes || echo no)"
		failed=1
		dump
	fi
	st=$($C --socket $T/cvm-b.sock status | head -1)
	# What B's VM uses, for the overhead estimate: the peak of the whole VM
	# and each process's now (guest RAM is charged where it is touched).
	use="memory.peak $(cat $v/memory.peak 2>&1)"
	for leaf in $v/*/; do
		use="$use $(basename $leaf):$(cat $leaf/memory.current 2>&1)"
	done
	case $st in
	*RUNNING*) result cgroup-other-vm ok "B after A's OOM: $st; B's memory.events: $(tr '\n' ' ' </sys/fs/cgroup/cvm-b/memory.events); B's VM: $use; A's cgroup peaked at $(cat /sys/fs/cgroup/cvm-a/memory.peak 2>&1)" ;;
	*) result cgroup-other-vm fail "B after A's OOM: $st"; failed=1 ;;
	esac
	$C --socket $T/cvm-b.sock stop
	wait $brun
	left="$(ls -d /sys/fs/cgroup/cvm-a/vm /sys/fs/cgroup/cvm-b/vm 2>/dev/null | tr '\n' ' ')"
	kill -TERM $apid $bpid 2>/dev/null
	wait $apid
	astatus=$?
	wait $bpid
	check cgroup-removed "$left:$astatus:$?:$(leftovers)" ":0:0:" \
		"VM cgroups left : cellvmd A, B exit status : processes left"
	if [ "$failed" = 1 ]; then
		tail -n 20 $T/cvm-a.log | sed "s|^|LOG cvm-a.log: |"
		tail -n 20 $T/cvm-b.log | sed "s|^|LOG cvm-b.log: |"
	fi
	for g in cvm-a cvm-b; do rmdir /sys/fs/cgroup/$g/cellvmd /sys/fs/cgroup/$g 2>/dev/null; done
}

# ---------------------------------------------------------------- rate-limit

# A disk limited to 8 MiB/s (bucket 1 MiB, refill 125 ms), as a tenant's
# config asks: the guest's 32 MiB take about 4 s and see no error; Metrics
# counts the bytes and the time throttled, in cellvmctl's text and in
# Prometheus text.
scenario_rate_limit() {
	names="rate-limit-time rate-limit-prometheus rate-limit-metrics"
	[ -x $D ] && [ -x $C ] || { fail_all "cellvmd or cellvmctl missing" $names; return; }
	failed=0
	rm -f $T/rl.img
	truncate -s 64M $T/rl.img
	chown 65534:65534 $T/rl.img
	start_cellvmd rate-limit
	config "cellvm.test=blkwrite cellvm.end=wait" \
		", \"block_devices\": [{\"path\": \"$T/rl.img\", \"rate_limiter\": {\"bandwidth\": {\"size\": 1048576, \"refill_time\": 125}}}]"
	if ! $C --socket $sock create --config $T/config.json 2>$T/rl.create; then
		fail_all "Create: $(cat $T/rl.create)" $names
		stop_cellvmd
		return
	fi
	out=$T/rate-limit.out
	$C --socket $sock serial </dev/null >"$out" 2>/dev/null &
	timeout "$timeout" $C --socket $sock run 2>$T/rl.run &
	rpid=$!
	await_guest "$out"
	secs=$(tr -d '\r' <"$out" | sed -n 's/^L2 blkwrite [0-9]* //p')
	# From a full 1 MiB bucket, 31 MiB more at 8 MiB/s: 3.875 s.
	check rate-limit-time "$(awk -v s="$secs" 'BEGIN { if (s != "" && s >= 3.5 && s < 60) print "ok" }')" ok \
		"the guest wrote 32 MiB at 8 MiB/s (bucket 1 MiB, refill 125 ms) in ${secs:-?} s$(tr -d '\r' <"$out" | grep -o 'L2 blkwrite-failed')"
	prom=$($C --socket $sock metrics --prometheus 2>&1)
	w=$(echo "$prom" | sed -n 's/^cellvm_blk_write_bytes_total{.*device="blk0"} //p')
	thr=$(echo "$prom" | sed -n 's/^cellvm_blk_throttled_seconds_total{.*device="blk0"} //p')
	check rate-limit-prometheus "$(awk -v w="$w" -v t="$thr" 'BEGIN { if (w >= 33554432 && t >= 2) print "ok" }')" ok \
		"Prometheus: blk0 wrote ${w:-?} bytes, throttled ${thr:-?} s"
	text=$($C --socket $sock metrics 2>&1)
	check rate-limit-metrics "$(echo "$text" | grep -q "$w" && echo ok)" ok \
		"cellvmctl metrics shows the same bytes: $(echo "$text" | grep -m1 -i 'write' | tr -s ' ')"
	$C --socket $sock stop >/dev/null 2>&1
	wait $rpid
	stop_cellvmd
	[ "$failed" = 0 ] || { tail -n 5 "$out" | tr -d '\r' | sed 's/^/LOG rate-limit: /'; tail -n 20 $dlog | sed 's/^/LOG cellvmd: /'; }
}

# ---------------------------------------------------------------- tenants

# tenant_create NAME SOCK JSON: Create with the config JSON through SOCK;
# sets $reply (cellvmctl's words) and $cstatus.
tenant_create() {
	echo "$3" >$T/$1.json
	reply=$($C --socket $2 create --config $T/$1.json 2>&1)
	cstatus=$?
}

# refused NAME SOCK JSON WORDS: Create is refused with BAD_CONFIG and
# WORDS in its reason, and cellvmd still answers Status at once.
refused() {
	t0=$(now)
	tenant_create "$1" "$2" "$3"
	took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	st=$(timeout 5 $C --socket $2 status 2>&1 | head -1)
	case "$cstatus:$reply" in
	1:*"$4"*)
		case $st in
		*NOT_CREATED*) result "$1" ok "refused in ${took}s: ${reply#cellvmctl: }" ;;
		*) result "$1" fail "refused, but Status then: $st"; failed=1 ;;
		esac ;;
	*) result "$1" fail "want a refusal naming '$4', got exit $cstatus: $reply"; failed=1 ;;
	esac
}

# Two tenants' VMs on one host, each cellvmd under a uid of its own with the
# operator's floor: what a tenant may not have is refused and cellvmd goes
# on; idle connections do not lock a client out; good VMs still run.
scenario_tenants() {
	names="tenant-other-dir tenant-symlink-out tenant-fifo tenant-sandbox-off \
		tenant-memory tenant-other-disk tenant-idle-connections tenant-run-1 tenant-run-2"
	[ -x $D ] && [ -x $C ] && [ -x /cellvm/bin/idle-clients ] ||
		{ fail_all "cellvmd, cellvmctl or idle-clients missing" $names; return; }
	failed=0
	for t in 1 2; do
		uid=$((2000 + t))
		mkdir -p $T/tenant$t $T/run$t
		cp $K $I $T/tenant$t/
		truncate -s 16M $T/tenant$t/disk.img
		chown -R $uid:$uid $T/tenant$t $T/run$t
		rm -f $T/run$t/vm.sock
		$D --socket $T/run$t/vm.sock --user $uid:$uid --log-level info $P \
			--min-sandbox on --allow-dir $T/tenant$t --max-memory 512M \
			2>$T/cellvmd-tenant$t.log &
		eval "tpid$t=\$!"
	done
	i=0
	until [ -S $T/run1/vm.sock ] && [ -S $T/run2/vm.sock ] || [ $i -ge 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	s1=$T/run1/vm.sock
	s2=$T/run2/vm.sock
	good() { # good TENANT END: a config within the floor
		printf '{"kernel": "%s/vmlinuz", "initrd": "%s/initrd.gz", "cmdline": "console=ttyS0 quiet cellvm.test=blk,rng cellvm.end=%s", "memory": "256M", "rng": true, "block_devices": [{"path": "%s/disk.img"}]}' \
			$T/tenant$1 $T/tenant$1 $2 $T/tenant$1
	}
	# Tenant 2's VM runs meanwhile: its disk is in use.
	tenant_create run2 $s2 "$(good 2 wait)"
	$C --socket $s2 serial </dev/null >$T/tenant-run-2.out 2>/dev/null &
	timeout "$timeout" $C --socket $s2 run 2>$T/tenant-run-2.err &
	run2=$!

	refused tenant-other-dir $s1 \
		"{\"kernel\": \"$T/tenant2/vmlinuz\"}" "not beneath"
	ln -sf $T/tenant2/disk.img $T/tenant1/link.img
	refused tenant-symlink-out $s1 \
		"{\"kernel\": \"$T/tenant1/vmlinuz\", \"block_devices\": [{\"path\": \"$T/tenant1/link.img\"}]}" \
		"link"
	mkfifo $T/tenant1/fifo.img
	refused tenant-fifo $s1 \
		"{\"kernel\": \"$T/tenant1/vmlinuz\", \"block_devices\": [{\"path\": \"$T/tenant1/fifo.img\"}]}" \
		"regular file"
	refused tenant-sandbox-off $s1 \
		"{\"kernel\": \"$T/tenant1/vmlinuz\", \"sandbox\": \"off\"}" "floor"
	refused tenant-memory $s1 \
		"{\"kernel\": \"$T/tenant1/vmlinuz\", \"memory\": \"1G\"}" "cap"
	refused tenant-other-disk $s1 \
		"{\"kernel\": \"$T/tenant1/vmlinuz\", \"block_devices\": [{\"path\": \"$T/tenant2/disk.img\"}]}" \
		"not beneath"

	# A tenant that takes 40 connections and sends nothing: the operator
	# (root) still gets its answers.
	/cellvm/bin/idle-clients $s1 40 8 2001 >$T/idle.out 2>&1 &
	idle=$!
	sleep 2
	st=$(timeout 5 $C --socket $s1 status 2>&1 | head -1)
	wait $idle
	case $st in
	*NOT_CREATED*) result tenant-idle-connections ok "$(tr '\n' ' ' <$T/idle.out); Status: $st" ;;
	*) result tenant-idle-connections fail "$(tr '\n' ' ' <$T/idle.out); Status: $st"; failed=1 ;;
	esac

	# Tenant 1's good VM boots, uses its disk and powers off.
	tenant_create run1 $s1 "$(good 1 poweroff)"
	if [ $cstatus -eq 0 ]; then
		ctl_run_on $s1 tenant-run-1
		if [ $status -eq 0 ] && seen "end poweroff" && [ -n "$(l2 readback)" ]; then
			result tenant-run-1 ok "$run; guest read back its disk"
		else
			result tenant-run-1 fail "$run: $(cat "$err")"
			failed=1
		fi
	else
		result tenant-run-1 fail "create: $reply"
		failed=1
	fi
	await_guest $T/tenant-run-2.out
	$C --socket $s2 stop >/dev/null 2>&1
	wait $run2
	rstatus=$?
	out=$T/tenant-run-2.out
	if seen waiting && grep -q CONTROLLER_FORCED_HALT $T/tenant-run-2.err; then
		result tenant-run-2 ok "the other tenant's VM ran meanwhile (stopped: exit $rstatus)"
	else
		result tenant-run-2 fail "waiting seen: $(seen waiting && echo yes || echo no); run: $(cat $T/tenant-run-2.err)"
		failed=1
	fi
	for t in 1 2; do
		eval "kill -TERM \$tpid$t; wait \$tpid$t"
	done
	[ "$failed" = 1 ] && tail -n 20 $T/cellvmd-tenant1.log | sed "s|^|LOG cellvmd-tenant1.log: |"
}

# The README's demo: Debian's kernel boots with its console on level 1's,
# which the host shows. Run only when asked for (E2E_ONLY=show).
scenario_show() {
	img=$T/disk.img
	truncate -s 16M $img
	t0=$(now)
	$L run $P --kernel $K --initrd $I --cmdline "console=ttyS0 cellvm.test=all cellvm.end=poweroff" \
		--cpus 2 --memory 256M --disk $img --rng </dev/null
	status=$?
	check show "$status" 0 "cellvm run: exit $status after $(awk -v a="$t0" -v b="$(now)" \
		'BEGIN { printf "%.1f", b - a }')s"
}

# The benchmarks' scenarios (bench-boot, bench-density).
. /cellvm/bench-scenarios.sh

# A device process killed and restarted under the guest's I/O (blk-restart).
. /cellvm/scenarios_restart.sh

# bench-net (guest-host throughput), in a file of its own.
. /cellvm/bench_net.sh

# cellvm-fc driven by curl, as Kata drives Firecracker.
. /cellvm/scenarios_fc.sh

# vsock and balloon with a guest.
. /cellvm/scenarios_vsock_balloon.sh

# "E2E plan/begin/end" lines let the host run again what a crash of level 1
# cut short.
plan=$(echo "${E2E_ONLY:-bad-kernel boot reboot kernel-only unconfined device-hang ctl-lifecycle ctl-stop tenants cgroup rate-limit fc vsock balloon blk-restart dev-restart net-restart}" |
	tr , ' ')
# E2E_SKIP: scenarios the default plan leaves out this time.
for s in $(echo "${E2E_SKIP:-}" | tr , ' '); do
	plan=$(echo " $plan " | sed "s/ $s / /; s/^ *//; s/ *\$//")
done
echo "E2E plan $plan"
for s in $plan; do
	echo "E2E begin $s"
	"scenario_$(echo $s | tr - _)"
	echo "E2E end $s"
done
# What log mode found: each process's unlisted syscalls, and cellvmd's (the
# kernel's audit records give numbers).
if [ "${E2E_SANDBOX:-on}" = log ]; then
	cat $T/*.err $T/*.log 2>/dev/null | grep 'is not in' | sed 's/^\(\[[^]]*\] \)\{0,1\}[^]]*\]: //' | sort -u |
		sed 's/^/E2E seccomp /'
	dmesg | grep -o 'comm="[^"]*".*syscall=[0-9]*' | sed 's/ exe=.*syscall=/ syscall=/' | sort -u |
		sed 's/^/E2E audit /'
fi
