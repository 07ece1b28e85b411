# The restart scenario (docs/config.md, "Restarts"), sourced by
# scenarios.sh: `cellvm run` with its defaults and a 16 MiB disk, the guest
# in its write / drop caches / read back / compare loop for 30 s
# (l2-init.sh's blkloop) while level 1 SIGKILLs cellvm-blk 5 times, 4 s
# apart. Each death is a restart: the guest must see no I/O error and no
# mismatch, power off by itself, and leave in the image what it read last.
# Prints each restart's I/O blackout as cellvmd measured it. All three are
# in the default plan. dev-restart does the same to cellvm-rng
# and cellvm-console (twice each) under a guest reading virtio-rng and
# writing to hvc0 (l2-init.sh's devloop); net-restart to cellvm-net (twice)
# while level 1 sends the guest 32 MiB over TCP, which must all arrive.

# The pid of the running device process named $1 (cellvm-blk), or nothing.
dev_pid() {
	for c in /proc/[0-9]*/comm; do
		read -r name <"$c" 2>/dev/null && [ "$name" = "$1" ] || continue
		p=${c%/comm}
		echo "${p#/proc/}"
		return
	done
}

scenario_blk_restart() {
	[ -x $L ] || { fail_all "$L missing" blk-restart; return; }
	img=$T/restart.img
	rm -f $img
	truncate -s 16M $img
	out=$T/blk-restart.out
	err=$T/blk-restart.err
	setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" "$L" run $P --kernel $K \
		--initrd $I --cmdline "console=ttyS0 quiet cellvm.test=blkloop cellvm.end=poweroff" \
		--cpus 1 --memory 256M --disk $img </dev/null >"$out" 2>"$err" &
	pid=$!
	i=0
	until seen "blkloop start" 2>/dev/null || [ $i -ge "$timeout" ] || ! kill -0 $pid 2>/dev/null; do
		sleep 1
		i=$((i + 1))
	done
	kills=0
	for k in 1 2 3 4 5; do
		sleep 4
		b=$(dev_pid cellvm-blk)
		[ -n "$b" ] && kill -KILL "$b" && kills=$((kills + 1))
	done
	wait $pid
	status=$?
	failed=0
	done_line=$(l2 "blkloop done")
	guest_md5=$(l2 "blkloop disk")
	host_md5=$(md5 <$img)
	restarts=$(grep -c 'restarted (pid' "$err")
	blackouts=$(sed -n 's/.*restart \([0-9]*\): I\/O blackout \([0-9]*\) ms.*/\1:\2ms/p' "$err" |
		tr '\n' ' ')
	detail="exit $status; kills $kills; restarts $restarts; blackouts $blackouts; guest: $done_line"
	case $done_line in
	*" ioerrors 0 mismatches 0 kernel-errors 0") clean=1 ;;
	*) clean=0 ;;
	esac
	if [ $status -eq 0 ] && [ $kills -eq 5 ] && [ "$restarts" -eq 5 ] && [ $clean = 1 ] &&
		[ -n "$guest_md5" ] && [ "$guest_md5" = "$host_md5" ]; then
		result blk-restart ok "$detail"
	else
		result blk-restart fail "$detail; disk md5 guest $guest_md5 host $host_md5"
		failed=1
	fi
	dump
}

scenario_dev_restart() {
	[ -x $L ] || { fail_all "$L missing" dev-restart; return; }
	out=$T/dev-restart.out
	err=$T/dev-restart.err
	setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" "$L" run $P --kernel $K \
		--initrd $I --cmdline "console=ttyS0 quiet cellvm.test=devloop cellvm.end=poweroff" \
		--cpus 1 --memory 256M --rng --console </dev/null >"$out" 2>"$err" &
	pid=$!
	i=0
	until seen "devloop start" 2>/dev/null || [ $i -ge "$timeout" ] || ! kill -0 $pid 2>/dev/null; do
		sleep 1
		i=$((i + 1))
	done
	kills=0
	for d in cellvm-rng cellvm-console cellvm-rng cellvm-console; do
		sleep 3
		b=$(dev_pid $d)
		[ -n "$b" ] && kill -KILL "$b" && kills=$((kills + 1))
	done
	wait $pid
	status=$?
	failed=0
	done_line=$(l2 "devloop done")
	restarts=$(grep -c 'restarted (pid' "$err")
	blackouts=$(sed -n 's/.*: \([a-z]*0\): restart \([0-9]*\): I\/O blackout \([0-9]*\) ms.*/\1:\2:\3ms/p' "$err" |
		tr '\n' ' ')
	detail="exit $status; kills $kills; restarts $restarts; blackouts $blackouts; guest: $done_line"
	case $done_line in
	*" rngfail 0 confail 0") clean=1 ;;
	*) clean=0 ;;
	esac
	if [ $status -eq 0 ] && [ $kills -eq 4 ] && [ "$restarts" -eq 4 ] && [ $clean = 1 ]; then
		result dev-restart ok "$detail"
	else
		result dev-restart fail "$detail"
		failed=1
	fi
	dump
}

scenario_net_restart() {
	[ -x $L ] || { fail_all "$L missing" net-restart; return; }
	tap=cvrst0
	# Two pairs (a multi-queue tap): a restart brings every tap queue back.
	/cellvm/bin/mq-tap $tap &&
		ip addr flush dev $tap && ip addr add 169.254.30.1/24 dev $tap &&
		ip link set $tap up || { fail_all "no tap $tap" net-restart; return; }
	out=$T/net-restart.out
	err=$T/net-restart.err
	setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" "$L" run $P --kernel $K \
		--initrd $I --cpus 2 --memory 256M --net tap=$tap,mac=52:54:00:00:30:02,queues=4 \
		--cmdline "console=ttyS0 quiet cellvm.test=netsink cellvm.ip=169.254.30.2/24 cellvm.end=wait" \
		</dev/null >"$out" 2>"$err" &
	pid=$!
	i=0
	until seen "netsink ready" 2>/dev/null || [ $i -ge "$timeout" ] || ! kill -0 $pid 2>/dev/null; do
		sleep 1
		i=$((i + 1))
	done
	sleep 1
	t0=$(now)
	(dd if=/dev/zero bs=64k count=512 2>/dev/null | timeout 120 nc 169.254.30.2 5001 >/dev/null
		echo $? >$T/net-restart.nc) &
	npid=$!
	kills=0
	for k in 1 2; do
		sleep 2
		b=$(dev_pid cellvm-net)
		[ -n "$b" ] && kill -KILL "$b" && kills=$((kills + 1))
	done
	wait $npid
	i=0
	until seen "netsink got [0-9]*" 2>/dev/null || [ $i -ge 30 ]; do
		sleep 1
		i=$((i + 1))
	done
	elapsed=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	kill -TERM $pid
	wait $pid
	failed=0
	got=$(l2 "netsink got")
	restarts=$(grep -c 'restarted (pid' "$err")
	blackouts=$(sed -n 's/.*net0: restart \([0-9]*\): I\/O blackout \([0-9]*\) ms.*/\1:\2ms/p' "$err" |
		tr '\n' ' ')
	detail="kills $kills; restarts $restarts; blackouts $blackouts; 32 MiB counted by the guest ${elapsed}s after the start, nc $(cat $T/net-restart.nc 2>/dev/null); guest got '$got'"
	if [ $kills -eq 2 ] && [ "$restarts" -eq 2 ] && [ "$got" = $((32 << 20)) ]; then
		result net-restart ok "$detail"
	else
		result net-restart fail "$detail"
		failed=1
	fi
	dump
}
