#!/bin/sh
# Create latency: cellvm's Create against QEMU microvm's start, side by side
# on this host's /dev/kvm. cellvmd runs as an operator starts it (confined,
# --user, --allow-dir); bench/createbench times each Create of a VM with
# virtio-blk, virtio-rng and virtio-console from the request to the reply,
# then Stops it. QEMU microvm with the same kernel, initrd, memory, vCPUs
# and devices, stopped before its first instruction (-S), is timed from its
# exec to QMP's answer to query-status. The two alternate, and the table
# gives the medians and their ratio. Run by `make bench-create`;
# docs/performance-vm.md says what is measured and why.
#
# Environment: BENCH_RUNS per VMM (20), BENCH_CPUS (2), BENCH_MEMORY_MIB
# (256), BENCH_KERNEL and BENCH_INITRD (default: Debian's kernel from
# tests/guest/fetch-kernel.sh and the e2e guest's initramfs), BENCH_USER
# (cellvmd's --user when run as root: 65534:65534), BENCH_KVM_CHECK (full,
# or api where this KVM cannot run a stock kernel: docs/deploy.md), QEMU
# (/usr/bin/qemu-system-x86_64). On a busy machine, `chrt -f 10 make bench-create`
# runs both VMMs ahead of the other work, as on an idle host (the table says so).
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bench=$top_builddir/bench/createbench
cellvmd=$top_builddir/controller/cellvmd
worker=$top_builddir/vcpu-worker/cellvm-vcpu
qemu=${QEMU:-/usr/bin/qemu-system-x86_64}
runs=${BENCH_RUNS:-20}
cpus=${BENCH_CPUS:-2}
mem=${BENCH_MEMORY_MIB:-256}
user=${BENCH_USER:-65534:65534}

for f in "$bench" "$cellvmd" "$worker" "$qemu"; do
	[ -x "$f" ] || { echo "create.sh: $f: not built or not installed" >&2; exit 1; }
done
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "create.sh: no /dev/kvm to use" >&2; exit 1; }

work=$(mktemp -d /tmp/cellvm-bench-create.XXXXXX)
daemon=
cleanup() {
	if [ -n "$daemon" ]; then
		kill "$daemon" 2>/dev/null || :
		wait "$daemon" 2>/dev/null || :
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The images, in a directory the service user can read (the operator's
# --allow-dir); the disk is the VM's, so its user may write it.
chmod 755 "$work"
img=$work/images
mkdir -m 755 "$img"
if [ -n "${BENCH_KERNEL:-}" ]; then
	cp "$BENCH_KERNEL" "$img/vmlinuz"
	if [ -n "${BENCH_INITRD:-}" ]; then cp "$BENCH_INITRD" "$img/initrd"; else : >"$img/initrd"; fi
else
	kdir=$(sh "$top_srcdir/tests/guest/fetch-kernel.sh")
	cp "$kdir/vmlinuz" "$img/vmlinuz"
	sh "$top_srcdir/tests/guest/mkinitramfs.sh" "$img/initrd" "$top_srcdir/tests/e2e/l2-init.sh" \
		"$kdir" -m virtio_mmio -m virtio_blk -m virtio-rng -m virtio_console
fi
truncate -s 16M "$img/disk.img"
chmod 644 "$img/vmlinuz" "$img/initrd" "$img/disk.img"
as_user=
if [ "$(id -u)" = 0 ]; then
	as_user="--user $user"
	chown "$user" "$img/disk.img"
fi
cmdline="console=ttyS0 quiet"
cat >"$work/vm.json" <<EOF
{"kernel": "$img/vmlinuz", "initrd": "$img/initrd", "cmdline": "$cmdline",
 "cpus": $cpus, "memory": "${mem}M", "block_devices": [{"path": "$img/disk.img"}],
 "rng": true, "console": true}
EOF

# What the worker checks of /dev/kvm: all of it where this KVM can run a
# stock kernel; where it cannot (a paravirtual KVM), every Create would fail
# its check, so only the API and capabilities are checked, and the table says so.
verdict=$("$worker" --check-kvm 2>/dev/null) && kvm_ok=1 || kvm_ok=0
kvm_check=${BENCH_KVM_CHECK:-}
[ -n "$kvm_check" ] || { [ "$kvm_ok" = 1 ] && kvm_check=full || kvm_check=api; }

# QEMU as microvm is started for a guest: -cpu host, unless this KVM refuses
# one of its MSRs (a paravirtual KVM refuses IA32_ARCH_CAPABILITIES).
qemu_args() {
	echo "-M microvm -accel kvm -cpu $qcpu -m ${mem}M -smp $cpus -nodefaults -no-user-config"
	echo "-display none -S -kernel $img/vmlinuz -initrd $img/initrd -serial null"
	echo "-drive id=d0,file=$work/qemu-disk.img,format=raw,if=none -device virtio-blk-device,drive=d0"
	echo "-device virtio-rng-device -device virtio-serial-device -chardev null,id=hvc0"
	echo "-device virtconsole,chardev=hvc0 -chardev socket,id=qmp,fd=3 -mon chardev=qmp,mode=control"
}
cp "$img/disk.img" "$work/qemu-disk.img"
run_qemu() {
	# Word splitting makes the arguments (no blanks in them but -append's).
	# shellcheck disable=SC2046
	"$bench" qemu -- "$qemu" $(qemu_args) -append "$cmdline"
}
qcpu=host
qnote=
if ! run_qemu >/dev/null 2>"$work/qemu.err"; then
	qcpu=host,-arch-capabilities
	run_qemu >/dev/null 2>>"$work/qemu.err" ||
		{ echo "create.sh: QEMU does not start here:" >&2; cat "$work/qemu.err" >&2; exit 1; }
	qnote="QEMU fails here with -cpu host ($(grep -m1 'failed to set MSR' "$work/qemu.err" || echo 'see its log')); it runs with -cpu $qcpu."
fi

# cellvmd as the operator starts it: confined (the default), a uid of its
# own, the images' directory its only one.
# shellcheck disable=SC2086
"$cellvmd" --socket "$work/vm.sock" $as_user --allow-dir "$img" --kvm-check "$kvm_check" \
	--log-level warn 2>"$work/cellvmd.log" &
daemon=$!
i=0
while [ ! -S "$work/vm.sock" ]; do
	i=$((i + 1))
	[ "$i" -le 500 ] && kill -0 "$daemon" 2>/dev/null ||
		{ echo "create.sh: cellvmd does not listen:" >&2; cat "$work/cellvmd.log" >&2; exit 1; }
	sleep 0.01
done
run_cellvm() {
	"$bench" cellvm --socket "$work/vm.sock" --config "$work/vm.json"
}
# CPU time so far (clock ticks) of cellvmd, its spawner and every VM process
# the spawner reaped: the spawner is cellvmd's only child and reaps the rest.
ticks() {
	spawner=$(tr -d " " <"/proc/$daemon/task/$daemon/children")
	{ cut -d' ' -f14-15 "/proc/$daemon/stat"; cut -d' ' -f14-17 "/proc/$spawner/stat"; } |
		tr ' ' '\n' | awk '{ t += $1 } END { print t }'
}

field() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# The median of the values given (the mean of the middle two for an even count), in µs.
median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
# Both VMMs inherit it: `chrt -f 10 make bench-create` runs them ahead of a
# busy machine's other work, as on an idle host.
sched=$(chrt -p $$ 2>/dev/null | sed -n 's/.*scheduling policy: //p; s/.*scheduling priority: / priority /p' |
	tr -d '\n')
echo "create.sh: $runs runs each after one of each to warm the caches; kvm-check $kvm_check; load average now $load0" >&2
run_cellvm >/dev/null || { cat "$work/cellvmd.log" >&2; exit 1; }
run_qemu >/dev/null
c_create='' c_stop='' q_ready='' q_greet='' q_cpu='' fails=0 c_runs=0
ticks0=$(ticks)
i=1
while [ "$i" -le "$runs" ]; do
	# Who goes first alternates, so drift over the run favours neither.
	order="cellvm qemu"
	[ $((i % 2)) = 1 ] || order="qemu cellvm"
	for k in $order; do
		if out=$(run_$k); then
			echo "  run $i, $k: $out" >&2
		else
			echo "  run $i, $k: failed" >&2
			fails=$((fails + 1))
			continue
		fi
		if [ "$k" = cellvm ]; then
			c_create="$c_create $(field "$out" create_us)"
			c_stop="$c_stop $(field "$out" stop_us)"
			c_runs=$((c_runs + 1))
		else
			q_ready="$q_ready $(field "$out" ready_us)"
			q_greet="$q_greet $(field "$out" greeting_us)"
			q_cpu="$q_cpu $(field "$out" cpu_us)"
		fi
	done
	i=$((i + 1))
done
# All of cellvm's CPU time over the runs (failed ones too: rare), per run, in µs.
c_cpu=$(awk -v t0="$ticks0" -v t1="$(ticks)" -v hz="$(getconf CLK_TCK)" -v n="$c_runs" \
	'BEGIN { if (n) printf "%d", (t1 - t0) * 1000000 / hz / n }')
load1=$(cut -d' ' -f1-3 /proc/loadavg)
[ -n "$c_create" ] && [ -n "$q_ready" ] || { echo "create.sh: no figures" >&2; cat "$work/cellvmd.log" >&2; exit 1; }

# row NAME CELLVM_US QEMU_US GOAL_MS: a table row, times in ms.
row() {
	awk -v n="$1" -v c="$2" -v q="$3" -v g="$4" 'BEGIN {
		cs = c == "" ? "-" : sprintf("%.1f ms", c / 1000)
		qs = q == "" ? "-" : sprintf("%.1f ms", q / 1000)
		r = c == "" || q == "" ? "-" : sprintf("%.2fx", c / q)
		v = g == "-" ? "-" : sprintf("≤ %d ms: %s", g, c / 1000 <= g ? "met" : "not met")
		printf "| %s | %s | %s | %s | %s |\n", n, cs, qs, r, v
	}'
}
# spread VALUES...: "min-max ms".
spread() {
	printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END {
		printf "%.1f-%.1f ms", lo / 1000, hi / 1000 }'
}

# shellcheck disable=SC2086
{
	cm=$(median $c_create) qm=$(median $q_ready) qg=$(median $q_greet) cs=$(median $c_stop)
	qc=$(median $q_cpu)
	c_spread=$(spread $c_create) q_spread=$(spread $q_ready)
}
rev=$(git -C "$top_srcdir" describe --always --dirty 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
kver=$(ls /var/tmp/cellvm-cache 2>/dev/null | sed -n 's/^linux-image-//p' | head -1)
table=$(
	echo "## Create: cellvm against QEMU microvm on this host's KVM, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "cellvm $rev, cellvmd --kvm-check $kvm_check, confined, --user; $("$qemu" --version | head -1), microvm -S;"
	echo "kernel ${BENCH_KERNEL:-Debian $kver} ($(stat -c %s "$img/vmlinuz") bytes), initrd $(stat -c %s "$img/initrd") bytes,"
	echo "$cpus vCPUs, $mem MiB, virtio-blk (16 MiB raw) + virtio-rng + virtio-console over virtio-mmio;"
	echo "median of $runs runs each, alternating, after one warm-up each. $(nproc) CPUs ($cpu),"
	echo "Linux $(uname -r), load average $load0 before, $load1 after; scheduling: $sched."
	echo "/dev/kvm: $verdict"
	[ -z "$qnote" ] || echo "$qnote"
	echo
	echo "| measure | cellvm | QEMU microvm | cellvm/QEMU | goal |"
	echo "|---|---:|---:|---:|---|"
	row "VM built, vCPUs stopped: Create's request to reply / exec to query-status answered" "$cm" "$qm" 20
	echo "| spread (min-max) | $c_spread | $q_spread | - | - |"
	row "CPU time per VM, start to exit, all processes (cellvm: mean; QEMU: median)" "$c_cpu" "$qc" -
	row "QEMU: exec to QMP greeting (its monitor thread; machine not built yet)" "" "$qg" -
	row "cellvm: Stop's request to reply (every process exited)" "$cs" "" -
	[ "$fails" = 0 ] || echo "$fails run(s) failed; the medians leave them out."
)
echo "$table"
mkdir -p "$top_builddir/bench/results"
out="$top_builddir/bench/results/create-$(date -u +%Y-%m-%d-%H%M).md"
echo "$table" >"$out"
echo "create.sh: written to $out" >&2
