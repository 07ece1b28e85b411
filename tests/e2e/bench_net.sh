# The e2e scenario bench-net, sourced by scenarios.sh (it uses its $L, $P,
# $K, $I, $T, $Q, $timeout, result, fail_all, bench_procs and bench_median):
# guest-host TCP throughput, cellvm-net against QEMU microvm's virtio-net,
# side by side in this level 1 (bench/net.sh, docs/performance.md). Run
# only when asked for (E2E_ONLY=bench-net). net.sh copies in QEMU as for
# bench-boot, bench/netbench as /bench/bin/netbench here and /bin/netbench
# in the guest, loads vhost_net here when it can, and may set BENCH_ROUNDS,
# BENCH_CPUS, BENCH_MEMORY_MIB and BENCH_NET_MIB in /bench/net.conf. Prints
# "BENCH ..." lines for the host: one per VM run, then the medians.
NB=/bench/bin/netbench

# bnet_tap NAME HOST-ADDR: a tap made beforehand, as on a host, with level
# 1's end of the guest's link.
bnet_tap() {
	ip link show "$1" >/dev/null 2>&1 || tunctl -t "$1" >/dev/null || return 1
	ip addr flush dev "$1" && ip addr add "$2/24" dev "$1" && ip link set "$1" up
}

# bnet_start cellvm|qemu: boots the guest with one virtio-net device on the
# VMM's own tap; its init serves netbench at $gaddr. Sets $vpid (the VMM's
# session), $out and $err.
bnet_start() {
	out=$T/bench-net-$1.out
	err=$T/bench-net-$1.err
	if [ "$1" = cellvm ]; then
		gaddr=169.254.10.2
	else
		gaddr=169.254.20.2
	fi
	app="console=ttyS0 quiet cellvm.test=netbench cellvm.ip=$gaddr/24 cellvm.end=wait"
	if [ "$1" = cellvm ]; then
		setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" $L run $P \
			--kernel $K --initrd $I --cmdline "$app" --cpus $bcpus --memory ${bmem}M \
			--net tap=cvbench0,mac=52:54:00:00:10:02 </dev/null >"$out" 2>"$err" &
	else
		setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" $Q -L /bench/qemu \
			-M microvm -accel kvm -cpu host -m ${bmem}M -smp $bcpus \
			-kernel $K -initrd $I -append "$app" \
			-nographic -no-reboot -nodefaults -serial stdio \
			-netdev tap,id=n0,ifname=qbench0,script=no,downscript=no,vhost=$vhost \
			-device virtio-net-device,netdev=n0,mac=52:54:00:00:20:02 \
			</dev/null >"$out" 2>"$err" &
	fi
	vpid=$!
}

# bnet_stop cellvm|qemu: SIGTERM to the VMM's first process ends the VM.
bnet_stop() {
	for p in $(bench_procs $1); do
		read -r comm </proc/$p/comm 2>/dev/null
		case $comm in cellvm | qemu-system-x86) kill -TERM $p ;; esac
	done
	wait $vpid
	kill -s KILL -$vpid 2>/dev/null
}

# bnet_xfer send|recv MIB: one timed transfer with the guest; prints MiB/s,
# or nothing when it failed ($T/bnet.xfer says why).
bnet_xfer() {
	$NB $1 $gaddr 5001 $2 >$T/bnet.xfer 2>&1 &&
		sed -n 's/.*mib_s=\([0-9.]*\).*/\1/p' $T/bnet.xfer
}

scenario_bench_net() {
	[ -x $L ] && [ -x $Q ] && [ -x $NB ] || { fail_all "$L, $Q or $NB missing" bench-net; return; }
	BENCH_ROUNDS=3 BENCH_CPUS=1 BENCH_MEMORY_MIB=256 BENCH_NET_MIB=64
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
	c_g2h= q_g2h= c_h2g= q_h2g=
	r=1
	while [ $r -le "$BENCH_ROUNDS" ]; do
		# Who goes first alternates, so drift favours neither.
		order="cellvm qemu"
		[ $((r % 2)) = 1 ] || order="qemu cellvm"
		for k in $order; do
			bnet_start $k
			i=0
			until tr -d '\r' <"$out" | grep -q "L2 netbench" || [ $i -ge "$timeout" ] ||
				! kill -0 $vpid 2>/dev/null; do
				sleep 1
				i=$((i + 1))
			done
			feat=$(tr -d '\r' <"$out" | sed -n 's/.*L2 netbench ready .* features=//p' | head -1)
			# A first small transfer each way: ARP, TCP's windows, the
			# server's start; retried while the guest's server comes up.
			i=0
			until [ -z "$feat" ] || { bnet_xfer send 1 >/dev/null && bnet_xfer recv 1 >/dev/null; } ||
				[ $i -ge 10 ]; do
				sleep 1
				i=$((i + 1))
			done
			g2h= h2g=
			if [ -n "$feat" ]; then
				g2h=$(bnet_xfer recv $mib)
				[ -n "$g2h" ] || echo "BENCH fail round=$r vmm=$k g2h: $(cat $T/bnet.xfer)"
				h2g=$(bnet_xfer send $mib)
				[ -n "$h2g" ] || echo "BENCH fail round=$r vmm=$k h2g: $(cat $T/bnet.xfer)"
			else
				echo "BENCH fail round=$r vmm=$k: no 'L2 netbench ready': $(tail -n 3 "$err" | tr '\n' ' ')"
				tail -n 5 "$out" | tr -d '\r' | sed "s|^|LOG ${out##*/}: |"
			fi
			[ -n "$g2h" ] && [ -n "$h2g" ] || failed=1
			echo "BENCH run round=$r vmm=$k g2h_mib_s=$g2h h2g_mib_s=$h2g features=$feat"
			bnet_stop $k
			if [ $k = cellvm ]; then
				c_g2h="$c_g2h $g2h" c_h2g="$c_h2g $h2g"
			else
				q_g2h="$q_g2h $g2h" q_h2g="$q_h2g $h2g"
			fi
		done
		r=$((r + 1))
	done
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
