# The e2e scenario bench-net, sourced by scenarios.sh (it uses its $L, $P,
# $K, $I, $T, $Q, $timeout, result, fail_all, bench_procs and bench_median):
# guest-host TCP throughput, cellvm-net against QEMU microvm's virtio-net,
# side by side in this level 1 (bench/net.sh, docs/performance-net.md). Run
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
	# The VM lives through every round: not the per-run $timeout, level 1's
	# own limit (run-e2e.sh: 900 s) bounds it.
	secs=900
	if [ "$1" = cellvm ]; then
		setsid timeout -s KILL $((secs + 10)) timeout $secs $L run $P \
			--kernel $K --initrd $I --cmdline "$app" --cpus $bcpus --memory ${bmem}M \
			--net tap=cvbench0,mac=52:54:00:00:10:02 </dev/null >$T/bench-net-$1.out \
			2>$T/bench-net-$1.err &
	else
		setsid timeout -s KILL $((secs + 10)) timeout $secs $Q -L /bench/qemu \
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

# bnet_stop cellvm|qemu: SIGTERM to the VMM's first process ends the VM.
bnet_stop() {
	eval "vpid=\$$1_pid"
	for p in $(bench_procs $1); do
		read -r comm </proc/$p/comm 2>/dev/null
		case $comm in cellvm | qemu-system-x86) kill -TERM $p ;; esac
	done
	wait $vpid
	kill -s KILL -$vpid 2>/dev/null
	eval "$1_pid="
}

# bnet_xfer cellvm|qemu send|recv MIB: one timed transfer with that guest;
# prints MiB/s, or nothing when it failed ($T/bnet.xfer says why).
bnet_xfer() {
	$NB $2 $(bnet_addr $1) 5001 $3 >$T/bnet.xfer 2>&1 &&
		sed -n 's/.*mib_s=\([0-9.]*\).*/\1/p' $T/bnet.xfer
}

# bnet_up cellvm|qemu: boots that VM and waits until its guest serves, with
# a first small transfer each way (ARP, TCP's windows); sets ${k}_pid
# (cellvm_pid, qemu_pid). Fails with a BENCH fail line.
bnet_up() {
	bnet_start $1
	eval "$1_pid=\$vpid"
	feat=$(bnet_ready $1 $vpid)
	if [ -z "$feat" ]; then
		bnet_fail "vmm=$1: no 'L2 netbench ready'; VMM running: $(kill -0 $vpid 2>/dev/null && echo yes || echo no)"
		bnet_logs $1
		return 1
	fi
	echo "BENCH guest vmm=$1 features=$feat"
	i=0
	until { bnet_xfer $1 send 1 >/dev/null && bnet_xfer $1 recv 1 >/dev/null; }; do
		i=$((i + 1))
		[ $i -lt 10 ] || { bnet_fail "vmm=$1: no first transfer: $(cat $T/bnet.xfer)"; return 1; }
		sleep 1
	done
}

# bnet_down: ends both VMs.
bnet_down() {
	for k in cellvm qemu; do
		eval "[ -n \"\${${k}_pid:-}\" ]" && bnet_stop $k
	done
}

# bnet_logs cellvm|qemu: the ends of that guest's console and of its VMM's
# log (the devices' warnings), for the host's log.
bnet_logs() {
	tail -n 20 $T/bench-net-$1.out | tr -d '\r' | sed "s|^|LOG bench-net-$1.out: |"
	tail -n 20 $T/bench-net-$1.err | sed "s|^|LOG bench-net-$1.err: |"
}

# bnet_fail DETAIL: a "BENCH fail" line; the scenario fails.
bnet_fail() {
	echo "BENCH fail $1"
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
	failed=0 cellvm_pid= qemu_pid= restarts_cellvm=0 restarts_qemu=0
	# Both VMs run the whole time, each on its own tap, and take turns: an
	# idle guest costs its VMM next to nothing, and turns seconds apart
	# leave the machine's drift to neither. A VM whose transfers fail is
	# booted again once; its round posts no figure.
	bnet_up cellvm || { bnet_down; return; }
	bnet_up qemu || { bnet_down; return; }
	c_g2h= q_g2h= c_h2g= q_h2g=
	r=1
	while [ $r -le "$BENCH_ROUNDS" ]; do
		# Who goes first alternates.
		order="cellvm qemu"
		[ $((r % 2)) = 1 ] || order="qemu cellvm"
		pair=
		for k in $order; do
			g2h=$(bnet_xfer $k recv $mib)
			[ -n "$g2h" ] || bnet_fail "round=$r vmm=$k g2h: $(cat $T/bnet.xfer)"
			h2g=$(bnet_xfer $k send $mib)
			[ -n "$h2g" ] || bnet_fail "round=$r vmm=$k h2g: $(cat $T/bnet.xfer)"
			echo "BENCH run round=$r vmm=$k g2h_mib_s=$g2h h2g_mib_s=$h2g"
			if [ -z "$g2h" ] || [ -z "$h2g" ]; then
				bnet_logs $k
				eval "restarts=\$((\${restarts_$k:-0} + 1)); restarts_$k=\$restarts"
				bnet_stop $k
				[ "$restarts" -le 1 ] && bnet_up $k || break 2
				continue
			fi
			pair="$pair $g2h $h2g"
		done
		# A round counts only with all four figures: the medians compare
		# the same rounds.
		set -- $pair
		if [ $# = 4 ]; then
			[ "${order%% *}" = cellvm ] || set -- $3 $4 $1 $2
			c_g2h="$c_g2h $1" c_h2g="$c_h2g $2" q_g2h="$q_g2h $3" q_h2g="$q_h2g $4"
		fi
		r=$((r + 1))
	done
	bnet_down
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
