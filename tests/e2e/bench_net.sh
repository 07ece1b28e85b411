# The e2e scenario bench-net, sourced by scenarios.sh (it uses its $L, $P,
# $K, $I, $T, $Q, $timeout, result, fail_all, bench_procs and bench_median):
# guest-host TCP throughput, cellvm-net against QEMU microvm's virtio-net,
# side by side in this level 1 (bench/net.sh, docs/performance.md). Run
# only when asked for (E2E_ONLY=bench-net). net.sh copies in QEMU as for
# bench-boot, bench/netbench as /bench/bin/netbench here and /bin/netbench
# in the guest, loads vhost_net here when it can, and may set BENCH_ROUNDS,
# BENCH_CPUS, BENCH_MEMORY_MIB and BENCH_NET_MIB in /bench/net.conf. Prints
# "BENCH ..." lines for the host: each guest's features, one line per round
# and VMM, then the medians.
NB=/bench/bin/netbench

# bnet_tap NAME HOST-ADDR: a tap made beforehand, as on a host, with level
# 1's end of the guest's link.
bnet_tap() {
	ip link show "$1" >/dev/null 2>&1 || tunctl -t "$1" >/dev/null || return 1
	ip addr flush dev "$1" && ip addr add "$2/24" dev "$1" && ip link set "$1" up
}

# bnet_addr cellvm|qemu: the guest's address on that VMM's tap.
bnet_addr() {
	if [ "$1" = cellvm ]; then echo 169.254.10.2; else echo 169.254.20.2; fi
}

# bnet_start cellvm|qemu: boots the guest with one virtio-net device on the
# VMM's own tap; its init serves netbench at bnet_addr. Sets $vpid (the
# VMM's session: setsid in a background job of a shell without job control
# does not fork).
bnet_start() {
	app="console=ttyS0 quiet cellvm.test=netbench cellvm.ip=$(bnet_addr $1)/24 cellvm.end=wait"
	if [ "$1" = cellvm ]; then
		setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" $L run $P \
			--kernel $K --initrd $I --cmdline "$app" --cpus $bcpus --memory ${bmem}M \
			--net tap=cvbench0,mac=52:54:00:00:10:02 </dev/null >$T/bench-net-$1.out \
			2>$T/bench-net-$1.err &
	else
		setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" $Q -L /bench/qemu \
			-M microvm -accel kvm -cpu host -m ${bmem}M -smp $bcpus \
			-kernel $K -initrd $I -append "$app" \
			-nographic -no-reboot -nodefaults -serial stdio \
			-netdev tap,id=n0,ifname=qbench0,script=no,downscript=no,vhost=$vhost \
			-device virtio-net-device,netdev=n0,mac=52:54:00:00:20:02 \
			</dev/null >$T/bench-net-$1.out 2>$T/bench-net-$1.err &
	fi
	vpid=$!
}

# bnet_ready cellvm|qemu PID: waits for the guest's "L2 netbench" line (or
# the VMM's end, or the timeout); prints the features the driver accepted,
# nothing if the guest is not serving.
bnet_ready() {
	i=0
	until tr -d '\r' <$T/bench-net-$1.out | grep -q "L2 netbench" || [ $i -ge "$timeout" ] ||
		! kill -0 $2 2>/dev/null; do
		sleep 1
		i=$((i + 1))
	done
	tr -d '\r' <$T/bench-net-$1.out | sed -n 's/.*L2 netbench ready .* features=//p' | head -1
}

# bnet_stop cellvm|qemu PID: SIGTERM to the VMM's first process ends the VM.
bnet_stop() {
	vpid=$2
	for p in $(bench_procs $1); do
		read -r comm </proc/$p/comm 2>/dev/null
		case $comm in cellvm | qemu-system-x86) kill -TERM $p ;; esac
	done
	wait $2
	kill -s KILL -$2 2>/dev/null
}

# bnet_xfer cellvm|qemu send|recv MIB: one timed transfer with that guest;
# prints MiB/s, or nothing when it failed ($T/bnet.xfer says why).
bnet_xfer() {
	$NB $2 $(bnet_addr $1) 5001 $3 >$T/bnet.xfer 2>&1 &&
		sed -n 's/.*mib_s=\([0-9.]*\).*/\1/p' $T/bnet.xfer
}

# bnet_fail DETAIL: a "BENCH fail" line, remembered for the logs at the end.
bnet_fail() {
	echo "BENCH fail $1" | tee -a $T/bench-net.lines
	failed=1
}

scenario_bench_net() {
	[ -x $L ] && [ -x $Q ] && [ -x $NB ] || { fail_all "$L, $Q or $NB missing" bench-net; return; }
	BENCH_ROUNDS=5 BENCH_CPUS=1 BENCH_MEMORY_MIB=256 BENCH_NET_MIB=64
	[ -f /bench/net.conf ] && . /bench/net.conf
	bcpus=$BENCH_CPUS bmem=$BENCH_MEMORY_MIB mib=$BENCH_NET_MIB
	# QEMU's peer: vhost-net in this kernel when its module loaded (net.sh
	# asks for it), its own userspace virtio-net otherwise.
	vhost=off
	[ -c /dev/vhost-net ] && vhost=on
	if ! bnet_tap cvbench0 169.254.10.1 || ! bnet_tap qbench0 169.254.20.1; then
		fail_all "cannot set up the taps" bench-net
		return
	fi
	echo "BENCH config rounds=$BENCH_ROUNDS cpus=$bcpus memory_mib=$bmem mib=$mib vhost=$vhost ncpu=$(nproc) qemu=$($Q --version | head -1 | tr ' ' _)"
	failed=0
	: >$T/bench-net.lines
	# Both VMs run the whole time, each on its own tap, and take turns: an
	# idle guest costs its VMM next to nothing, and turns seconds apart
	# leave the machine's drift to neither.
	bnet_start cellvm
	cpid=$vpid
	bnet_start qemu
	qpid=$vpid
	up=
	for k in cellvm qemu; do
		pid=$qpid
		[ $k = cellvm ] && pid=$cpid
		feat=$(bnet_ready $k $pid)
		if [ -z "$feat" ]; then
			bnet_fail "vmm=$k: no 'L2 netbench ready'; VMM running: $(kill -0 $pid 2>/dev/null && echo yes || echo no)"
			continue
		fi
		echo "BENCH guest vmm=$k features=$feat"
		# A first small transfer each way: ARP, TCP's windows, the
		# server's start; retried while the guest's server comes up.
		i=0
		until { bnet_xfer $k send 1 >/dev/null && bnet_xfer $k recv 1 >/dev/null; } || [ $i -ge 10 ]; do
			sleep 1
			i=$((i + 1))
		done
		up="$up $k"
	done
	c_g2h= q_g2h= c_h2g= q_h2g=
	r=1
	while [ $r -le "$BENCH_ROUNDS" ] && [ "$up" = " cellvm qemu" ]; do
		# Who goes first alternates.
		order="cellvm qemu"
		[ $((r % 2)) = 1 ] || order="qemu cellvm"
		for k in $order; do
			g2h=$(bnet_xfer $k recv $mib)
			[ -n "$g2h" ] || { bnet_fail "round=$r vmm=$k g2h: $(cat $T/bnet.xfer)"; }
			h2g=$(bnet_xfer $k send $mib)
			[ -n "$h2g" ] || { bnet_fail "round=$r vmm=$k h2g: $(cat $T/bnet.xfer)"; }
			echo "BENCH run round=$r vmm=$k g2h_mib_s=$g2h h2g_mib_s=$h2g"
			# Nothing got through either way: its network is down, and
			# each further try would wait out netbench's timeout.
			[ -n "$g2h$h2g" ] || break 2
			if [ $k = cellvm ]; then
				c_g2h="$c_g2h $g2h" c_h2g="$c_h2g $h2g"
			else
				q_g2h="$q_g2h $g2h" q_h2g="$q_h2g $h2g"
			fi
		done
		r=$((r + 1))
	done
	# A VMM whose transfers failed: the ends of its guest's console and
	# its own log (the devices' warnings), for the host's log.
	for k in cellvm qemu; do
		grep -q "^BENCH fail.* vmm=$k" $T/bench-net.lines 2>/dev/null || continue
		tail -n 20 $T/bench-net-$k.out | tr -d '\r' | sed "s|^|LOG bench-net-$k.out: |"
		tail -n 20 $T/bench-net-$k.err | sed "s|^|LOG bench-net-$k.err: |"
	done
	bnet_stop cellvm $cpid
	bnet_stop qemu $qpid
	for m in g2h h2g; do
		eval "c=\$(bench_median \$c_$m) q=\$(bench_median \$q_$m)"
		eval "n=\$(echo \$c_$m | wc -w)"
		echo "BENCH median $m cellvm=$c qemu=$q runs=$n"
		ratio=$(awk -v c="$c" -v q="$q" 'BEGIN { if (c != "" && q > 0) printf "%.2f", c / q }')
		if [ -n "$ratio" ]; then
			result bench-net-$m ok "median cellvm $c MiB/s, QEMU microvm (vhost=$vhost) $q MiB/s, ratio ${ratio}x ($n rounds)"
		else
			result bench-net-$m fail "no figure: cellvm '$c', QEMU '$q'"
		fi
	done
	[ "$failed" = 0 ] || result bench-net-runs fail "some runs failed (BENCH fail lines)"
}
