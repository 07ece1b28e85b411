#!/bin/sh
# The benchmarks' scenarios, sourced by scenarios.sh in level 1 and run only
# when named (E2E_ONLY): bench-boot (bench/boot.sh) and bench-density
# (bench/density.sh). They use scenarios.sh's helpers and variables ($L, $D,
# $C, $K, $I, $T, $P, $timeout, now, result, check, fail_all).

# ---------------------------------------------------------------- bench-boot

# Boot time and VMM memory, cellvm against QEMU microvm, side by side in this
# level 1 (bench/boot.sh, docs/performance-vm.md). Run only when asked for
# (E2E_ONLY=bench-boot). boot.sh copies QEMU in as /bench/bin/qemu-system-x86_64
# with its firmware in /bench/qemu, and may set BENCH_ROUNDS, BENCH_CPUS,
# BENCH_MEMORY_MIB in /bench/boot.conf. Prints "BENCH ..." lines for the host:
# one per run, then the medians; RESULT lines sum them up.
Q=/bench/bin/qemu-system-x86_64

# Each line of stdin with level 1's uptime before it; builtins only, so
# nothing is forked per line.
bench_stamp() {
	while IFS= read -r line; do
		read -r up _ </proc/uptime
		echo "$up $line"
	done
}

# bench_host_thp: the host setting cellvm's deployment recommends
# (docs/deploy.md): transparent huge pages for shared memory where a
# mapping asks for them, as cellvm's worker does for guest RAM (QEMU's guest
# RAM is anonymous memory, which Debian's "always" already covers). Prints
# both settings.
bench_host_thp() {
	echo advise >/sys/kernel/mm/transparent_hugepage/shmem_enabled
	echo "BENCH thp enabled=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)" \
		"shmem_enabled=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/shmem_enabled)"
}

# bench_start cellvm|qemu poweroff|wait: starts one VM, blk, rng and console
# over virtio-mmio, its serial console stamped into $out. Sets $t0, $vpid
# (the VMM's session: setsid in a background job of a shell without job
# control does not fork) and $spid (the stamper: it ends when the VMM's last
# process closes its stdout).
bench_start() {
	out=$T/bench-$1-$2.out
	err=$T/bench-$1-$2.err
	app="console=ttyS0 quiet cellvm.test=${bench_test:-none} cellvm.end=$2${bench_append:+ $bench_append}"
	rm -f $T/bench.fifo $T/bench-err.fifo
	mkfifo $T/bench.fifo $T/bench-err.fifo
	# The stampers open their files only once the VMM opens the FIFOs.
	: >"$out"
	: >"$err"
	bench_stamp <$T/bench.fifo >"$out" &
	spid=$!
	bench_stamp <$T/bench-err.fifo >"$err" &
	read -r t0 _ </proc/uptime
	if [ "$1" = cellvm ]; then
		setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" $L run $P ${bench_cellvm_opts:-} \
			--kernel $K --initrd $I --cmdline "$app" --cpus $bcpus --memory ${bmem}M \
			--disk $T/bench.img --rng --console </dev/null >$T/bench.fifo 2>$T/bench-err.fifo &
	else
		setsid timeout -s KILL $((timeout + 10)) timeout "$timeout" $Q -L /bench/qemu \
			-M microvm -accel kvm -cpu host -m ${bmem}M -smp $bcpus \
			-kernel $K -initrd $I -append "$app" \
			-nographic -no-reboot -nodefaults -serial stdio \
			-drive id=d0,file=$T/bench.img,format=raw,if=none \
			-device virtio-blk-device,drive=d0 -device virtio-rng-device \
			-device virtio-serial-device -chardev null,id=hvc0 \
			-device virtconsole,chardev=hvc0 </dev/null >$T/bench.fifo 2>$T/bench-err.fifo &
	fi
	vpid=$!
}

# bench_at KEY: level 1's uptime when the guest printed "L2 KEY".
bench_at() { tr -d '\r' <"$out" | awk -v k="L2 $1" '$0 ~ " " k "$" { print $1; exit }'; }

# bench_procs cellvm|qemu: the VMM's processes (pids): its session and
# everything descended from it, and for cellvm any process named cellvm*
# besides (one VM runs at a time), the timeouts left out.
bench_procs() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root=$vpid -v kind=$1 '
		# pid (comm) state ppid pgrp session: no name here has a space.
		{ c = $2; gsub(/^\(|\)$/, "", c); pid[NR] = $1; comm[NR] = c; ppid[NR] = $4; sid[NR] = $6 }
		END {
			in_[root] = 1
			do {
				more = 0
				for (i = 1; i <= NR; i++)
					if (!(pid[i] in in_) && (ppid[i] in in_ || sid[i] == root)) { in_[pid[i]] = 1; more = 1 }
			} while (more)
			for (i = 1; i <= NR; i++)
				if ((pid[i] in in_ || (kind == "cellvm" && comm[i] ~ /^cellvm/)) && comm[i] != "timeout" &&
				    comm[i] != "cellvmd" && comm[i] != "cellvmctl")
					print pid[i]
		}'
}

# bench_mem cellvm|qemu: the VMM's PSS with the guest's RAM left out. cellvm's
# guest RAM is the memfd "cellvm-ram", mapped by the worker and the devices:
# those mappings' Pss is left out (all of it, whichever process it is charged
# to). QEMU's is the one anonymous mapping exactly -m in size (its RAM block,
# with a guard page after it, so never merged): left out likewise. Sets
# $mem_line: "total_kib guest_kib vmm_kib nprocs guest_maps names".
bench_mem() {
	kind=$1 total=0 guest=0 nproc=0 nmaps=0 names=
	for p in $(bench_procs $kind); do
		[ -r /proc/$p/smaps ] || continue
		set -- $(awk -v kind=$kind -v ramkb=$((bmem * 1024)) '
			/^[0-9a-f]+-[0-9a-f]+ / { name = ""; for (i = 6; i <= NF; i++) name = name (i > 6 ? " " : "") $i; next }
			/^Size:/ { size = $2; next }
			/^Pss:/ {
				t += $2
				if ((kind == "cellvm" && name ~ /^\/memfd:cellvm-ram/) ||
				    (kind == "qemu" && name == "" && size == ramkb)) { g += $2; n++ }
			}
			END { printf "%d %d %d\n", t, g, n }' /proc/$p/smaps 2>/dev/null)
		[ $# -eq 3 ] || continue
		read -r comm </proc/$p/comm 2>/dev/null
		total=$((total + $1)) guest=$((guest + $2)) nmaps=$((nmaps + $3))
		nproc=$((nproc + 1)) names="$names${names:+,}$comm:$(($1 - $2))"
	done
	mem_line="$total $guest $((total - guest)) $nproc $nmaps $names"
}

# bench_median VALUE...: the median (the lower middle for an even count).
bench_median() {
	printf '%s\n' "$@" | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

scenario_bench_boot() {
	[ -x $L ] && [ -x $Q ] || { fail_all "$L or $Q missing" bench-boot; return; }
	BENCH_ROUNDS=3 BENCH_CPUS=2 BENCH_MEMORY_MIB=256
	[ -f /bench/boot.conf ] && . /bench/boot.conf
	bcpus=$BENCH_CPUS bmem=$BENCH_MEMORY_MIB
	bench_host_thp
	rm -f $T/bench.img
	truncate -s 16M $T/bench.img
	echo "BENCH config rounds=$BENCH_ROUNDS cpus=$bcpus memory_mib=$bmem ncpu=$(nproc) qemu=$($Q --version | head -1 | tr ' ' _)"
	failed=0
	c_init= q_init= c_off= q_off= c_mem= q_mem=
	r=1
	while [ $r -le "$BENCH_ROUNDS" ]; do
		# Who goes first alternates, so drift favours neither.
		order="cellvm qemu"
		[ $((r % 2)) = 1 ] || order="qemu cellvm"
		for k in $order; do
			# Boot to init and to the VMM's exit after the guest's poweroff.
			bench_start $k poweroff
			wait $vpid
			status=$?
			wait $spid
			read -r t1 _ </proc/uptime
			ti=$(bench_at init)
			init=$(awk -v a="$t0" -v b="$ti" 'BEGIN { if (b != "") printf "%.2f", b - a }')
			off=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
			gup=$(tr -d '\r' <"$out" | sed -n 's/^[0-9.]* L2 uptime //p' | head -1)
			if [ $status -ne 0 ] || [ -z "$init" ] || ! grep -q "L2 end poweroff" "$out"; then
				echo "BENCH fail round=$r vmm=$k status=$status: $(tail -n 3 "$err" | tr '\n' ' ')"
				tail -n 5 "$out" | tr -d '\r' | sed "s|^|LOG ${out##*/}: |"
				failed=1
				init= off=
			fi
			echo "BENCH run round=$r vmm=$k to_init=$init to_exit=$off guest_uptime_at_init=$gup status=$status"
			# The same again to the guest's wait: the VMM's memory then.
			bench_start $k wait
			i=0
			until tr -d '\r' <"$out" | grep -q "L2 waiting" || [ $i -ge "$timeout" ] ||
				! kill -0 $vpid 2>/dev/null; do
				sleep 1
				i=$((i + 1))
			done
			sleep 1
			bench_mem $k
			set -- $mem_line
			if ! grep -q "L2 waiting" "$out" || [ "$5" -lt 1 ] || { [ $k = qemu ] && [ "$5" -ne 1 ]; }; then
				echo "BENCH fail round=$r vmm=$k memory: waiting $(grep -c 'L2 waiting' "$out"), guest mappings $5"
				failed=1
				vmm=
			else
				vmm=$3
			fi
			echo "BENCH mem round=$r vmm=$k pss_kib=$1 guest_kib=$2 vmm_kib=$3 procs=$4 guest_maps=$5 per_proc=$6"
			# SIGTERM to the VMM's first process (cellvm run or QEMU) ends it.
			for p in $(bench_procs $k); do
				read -r comm </proc/$p/comm 2>/dev/null
				case $comm in cellvm | qemu-system-x86) kill -TERM $p ;; esac
			done
			wait $vpid
			wait $spid
			kill -s KILL -$vpid 2>/dev/null
			if [ $k = cellvm ]; then
				c_init="$c_init $init" c_off="$c_off $off" c_mem="$c_mem $vmm"
			else
				q_init="$q_init $init" q_off="$q_off $off" q_mem="$q_mem $vmm"
			fi
		done
		r=$((r + 1))
	done
	# Word splitting hands bench_median one value per run.
	for m in init off mem; do
		eval "c=\$(bench_median \$c_$m) q=\$(bench_median \$q_$m)"
		eval "n=\$(echo \$c_$m | wc -w)"
		echo "BENCH median $m cellvm=$c qemu=$q runs=$n"
		ratio=$(awk -v c="$c" -v q="$q" 'BEGIN { if (c != "" && q > 0) printf "%.2f", c / q }')
		if [ -n "$ratio" ]; then
			result bench-boot-$m ok "median cellvm $c, QEMU microvm $q, ratio ${ratio}x ($n rounds)"
		else
			result bench-boot-$m fail "no figure: cellvm '$c', QEMU '$q'"
		fi
	done
	[ "$failed" = 0 ] || result bench-boot-runs fail "some runs failed (BENCH fail lines)"
}

# ---------------------------------------------------------------- bench-boot-trace

# Where boot time goes (BENCH_TRACE=1 sh bench/boot.sh): one boot to poweroff
# under each VMM with the guest's initcall_debug, not timed against each
# other (the extra logging costs both). Prints the guest's slowest initcalls
# and longest log silences ("BENCH trace vmm=K L2 initcall|gap ..."), the
# milestones on level 1's clock from the VMM's start (the serial's lines, and
# for cellvm its processes' debug log: "BENCH trace vmm=cellvm at=S LINE").
scenario_bench_boot_trace() {
	[ -x $L ] && [ -x $Q ] || { fail_all "$L or $Q missing" bench-boot-trace; return; }
	BENCH_CPUS=2 BENCH_MEMORY_MIB=256
	[ -f /bench/boot.conf ] && . /bench/boot.conf
	bcpus=$BENCH_CPUS bmem=$BENCH_MEMORY_MIB
	bench_host_thp
	rm -f $T/bench.img
	truncate -s 16M $T/bench.img
	ok=1
	for k in cellvm qemu; do
		bench_test=initcalls bench_append="initcall_debug ${BENCH_APPEND:-}" bench_cellvm_opts="--log-level debug"
		bench_start $k poweroff
		bench_test= bench_append= bench_cellvm_opts=
		wait $vpid
		status=$?
		wait $spid
		read -r t1 _ </proc/uptime
		grep -q "L2 end poweroff" "$out" || ok=0
		echo "BENCH trace vmm=$k status=$status to_exit=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
		cat "$out" "$err" | tr -d '\r' | sort -n |
			awk -v t0="$t0" -v k=$k '$1 ~ /^[0-9.]+$/ { l = $0; sub(/^[^ ]* /, "", l); printf "BENCH trace vmm=%s at=%.2f %s\n", k, $1 - t0, l }'
	done
	if [ $ok = 1 ]; then
		result bench-boot-trace ok "both guests powered off (BENCH trace lines)"
	else
		result bench-boot-trace fail "a guest did not power off (BENCH trace lines)"
	fi
}

# ---------------------------------------------------------------- bench-density

# Density, cellvm against QEMU microvm (bench/density.sh, docs/performance-vm.md):
# for each N of DENSITY_NS, N VMs started together in this level 1, each the
# e2e guest (1 vCPU, DENSITY_MEMORY_MIB, virtio-blk and virtio-rng) waiting
# at its end; then the VMM's memory per VM, every Create's latency and the
# time until all N guests reached init. cellvm as a host runs it: a cellvmd
# per VM as root with --user (a uid per VM, its files in its own directory,
# --allow-dir), each driven by cellvmctl. Run only when asked for
# (E2E_ONLY=bench-density); /bench/density.conf may set DENSITY_NS and
# DENSITY_MEMORY_MIB. Prints "BENCH density ..." lines; the first N that
# fails is where it breaks, and larger N are not tried.

# density_wait_all OUTS...: until every OUT shows "L2 waiting" or the
# timeout passes; then $all_init holds the latest "L2 init" stamp.
density_wait_all() {
	i=0
	while [ $i -lt "$timeout" ]; do
		left=0
		for o in "$@"; do
			tr -d '\r' <"$o" 2>/dev/null | grep -q "L2 waiting" || left=$((left + 1))
		done
		[ $left = 0 ] && break
		sleep 1
		i=$((i + 1))
	done
	all_init=
	for o in "$@"; do
		t=$(tr -d '\r' <"$o" 2>/dev/null | awk '$0 ~ " L2 init$" { print $1; exit }')
		[ -n "$t" ] || { all_init=; return 1; }
		all_init=$(awk -v a="$all_init" -v b="$t" 'BEGIN { print (a == "" || b > a) ? b : a }')
	done
}

# density_mem KIND N: the VMM's PSS per VM, guest RAM left out (bench_mem's
# rules), over every process of KIND: cellvm* (cellvmd included: it is the
# VM's controller) or qemu-system-x86. Sets $per_vm (KiB) and $nprocs.
density_mem() {
	tot=0 nprocs=0
	for p in $(grep -l "^$([ $1 = cellvm ] && echo cellvm || echo qemu-system)" /proc/[0-9]*/comm 2>/dev/null |
		sed 's|/proc/\([0-9]*\)/comm|\1|'); do
		read -r comm </proc/$p/comm 2>/dev/null
		[ "$comm" = cellvmctl ] && continue
		v=$(awk -v kind=$1 -v ramkb=$((dmem * 1024)) '
			/^[0-9a-f]+-[0-9a-f]+ / { name = ""; for (i = 6; i <= NF; i++) name = name (i > 6 ? " " : "") $i; next }
			/^Size:/ { size = $2; next }
			/^Pss:/ {
				if ((kind == "cellvm" && name ~ /^\/memfd:cellvm-ram/) ||
				    (kind == "qemu" && name == "" && size == ramkb)) next
				t += $2
			}
			END { print t + 0 }' /proc/$p/smaps 2>/dev/null)
		[ -n "$v" ] || continue
		tot=$((tot + v)) nprocs=$((nprocs + 1))
	done
	per_vm=$((tot / $2))
	avail=$(awk '/^MemAvailable/ { print $2 }' /proc/meminfo)
}

# density_why: for each of the N VMs that is not waiting, its last words:
# the guest's last line, cellvmctl run's and cellvmd's last error.
density_why() {
	i=1
	while [ $i -le $n ]; do
		d=$T/dens$i
		if ! tr -d '\r' <$d/serial 2>/dev/null | grep -q "L2 waiting"; then
			printf ' [VM %d: guest "%s"; run "%s"; cellvmd "%s"]' $i \
				"$(tr -d '\r' <$d/serial 2>/dev/null | tail -n 1 | cut -c1-120)" \
				"$(tail -n 1 $d/run.err 2>/dev/null | cut -c1-160)" \
				"$(grep -i 'error' $d/cellvmd.log 2>/dev/null | tail -n 1 | cut -c1-200)"
		fi
		i=$((i + 1))
	done
}

# density_cellvm N: N cellvmd, N Creates at once, N Runs; sets $why on
# failure.
density_cellvm() {
	n=$1 why=
	i=1
	while [ $i -le $n ]; do
		d=$T/dens$i uid=$((3000 + i))
		rm -rf $d
		mkdir -p $d
		cp $K $I $d/
		truncate -s 16M $d/disk.img
		printf '{"kernel": "%s/vmlinuz", "initrd": "%s/initrd.gz", "cmdline": "console=ttyS0 quiet cellvm.test=none cellvm.end=wait", "cpus": 1, "memory": "%dM", "rng": true, "block_devices": [{"path": "%s/disk.img"}]}\n' \
			$d $d $dmem $d >$d/config.json
		chown -R $uid:$uid $d
		$D --socket $d/vm.sock --user $uid:$uid --log-level warn $P --min-sandbox on \
			--allow-dir $d 2>$d/cellvmd.log &
		echo $! >$d/dpid
		i=$((i + 1))
	done
	i=1
	while [ $i -le $n ]; do
		j=0
		until [ -S $T/dens$i/vm.sock ] || [ $j -ge 100 ]; do sleep 0.1; j=$((j + 1)); done
		i=$((i + 1))
	done
	# Every Create at once, each timed by its own shell; "all at init"
	# counts from here (QEMU's from its processes' start).
	t0=$(now)
	i=1
	while [ $i -le $n ]; do
		d=$T/dens$i
		(
			a=$(now)
			if $C --socket $d/vm.sock create --config $d/config.json 2>$d/create.err; then
				awk -v a="$a" -v b="$(now)" 'BEGIN { printf "%.2f\n", b - a }' >$d/create.s
			fi
		) &
		i=$((i + 1))
	done
	i=1 creates= outs=
	while [ $i -le $n ]; do
		d=$T/dens$i
		j=0
		until [ -s $d/create.s ] || [ -s $d/create.err ] || [ $j -ge "$timeout" ]; do sleep 1; j=$((j + 1)); done
		if [ -s $d/create.s ]; then
			creates="$creates $(cat $d/create.s)"
		else
			why="Create $i: $(tr '\n' ' ' <$d/create.err 2>/dev/null | cut -c1-200)"
		fi
		i=$((i + 1))
	done
	if [ -z "$why" ]; then
		i=1
		while [ $i -le $n ]; do
			d=$T/dens$i
			rm -f $d/serial
			$C --socket $d/vm.sock serial </dev/null 2>/dev/null | bench_stamp >$d/serial &
			timeout "$timeout" $C --socket $d/vm.sock run >/dev/null 2>$d/run.err &
			outs="$outs $d/serial"
			i=$((i + 1))
		done
		if density_wait_all $outs; then
			sleep 1
			density_mem cellvm $n
		else
			why="not every guest reached \"L2 waiting\" within ${timeout}s:$(density_why)"
		fi
	fi
	i=1
	while [ $i -le $n ]; do
		d=$T/dens$i
		$C --socket $d/vm.sock stop >/dev/null 2>&1
		kill -TERM "$(cat $d/dpid)" 2>/dev/null
		i=$((i + 1))
	done
	wait
	[ -z "$why" ] || return 1
	echo "BENCH density vmm=cellvm n=$n all_init=$(awk -v a="$t0" -v b="$all_init" 'BEGIN { printf "%.2f", b - a }') create_median=$(bench_median $creates) create_max=$(printf '%s\n' $creates | sort -n | tail -1) pss_per_vm_kib=$per_vm procs=$nprocs mem_available_kib=$avail"
}

# density_qemu N: N QEMU microvms at once with the same guest and devices.
density_qemu() {
	n=$1 why= outs=
	i=1
	t0=$(now)
	while [ $i -le $n ]; do
		d=$T/densq$i
		rm -rf $d
		mkdir -p $d
		truncate -s 16M $d/disk.img
		setsid timeout "$timeout" $Q -L /bench/qemu -M microvm -accel kvm -cpu host -m ${dmem}M -smp 1 \
			-kernel $K -initrd $I -append "console=ttyS0 quiet cellvm.test=none cellvm.end=wait" \
			-nographic -no-reboot -nodefaults -serial stdio \
			-drive id=d0,file=$d/disk.img,format=raw,if=none \
			-device virtio-blk-device,drive=d0 -device virtio-rng-device \
			</dev/null 2>$d/err | bench_stamp >$d/serial &
		outs="$outs $d/serial"
		i=$((i + 1))
	done
	if density_wait_all $outs; then
		sleep 1
		density_mem qemu $n
	else
		why="not every guest reached \"L2 waiting\" within ${timeout}s"
	fi
	for p in $(grep -l '^qemu-system' /proc/[0-9]*/comm 2>/dev/null | sed 's|/proc/\([0-9]*\)/comm|\1|'); do
		kill -TERM $p
	done
	wait
	[ -z "$why" ] || return 1
	echo "BENCH density vmm=qemu n=$n all_init=$(awk -v a="$t0" -v b="$all_init" 'BEGIN { printf "%.2f", b - a }') pss_per_vm_kib=$per_vm procs=$nprocs mem_available_kib=$avail"
}

scenario_bench_density() {
	[ -x $D ] && [ -x $C ] && [ -x $Q ] || { fail_all "cellvmd, cellvmctl or QEMU missing" bench-density; return; }
	DENSITY_NS="1 2 4 8" DENSITY_MEMORY_MIB=128
	[ -f /bench/density.conf ] && . /bench/density.conf
	dmem=$DENSITY_MEMORY_MIB
	bench_host_thp
	echo "BENCH config ns=$(echo $DENSITY_NS | tr ' ' ,) memory_mib=$dmem ncpu=$(nproc) mem_total_kib=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo) qemu=$($Q --version | head -1 | tr ' ' _)"
	for kind in cellvm qemu; do
		last=0
		for n in $DENSITY_NS; do
			if "density_$kind" $n; then
				last=$n
			else
				echo "BENCH density breaks vmm=$kind n=$n: $why"
				break
			fi
		done
		check bench-density-$kind "$([ $last -gt 0 ] && echo ok)" ok "$kind: up to $last VMs at once"
	done
}
