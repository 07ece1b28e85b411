#!/bin/sh
# Boot time and VMM memory: cellvm against QEMU microvm, side by side in one
# run on nested KVM. Reuses the end-to-end harness (tests/e2e/run-e2e.sh):
# QEMU emulates level 1, a Linux with /dev/kvm, whose scenario bench-boot
# (tests/e2e/scenarios.sh) alternates `cellvm run` and QEMU microvm booting
# the same Debian kernel and initramfs (l2-init.sh) with the same vCPUs,
# memory and devices (virtio-blk, virtio-rng, virtio-console over
# virtio-mmio). Run by `make bench-boot`; docs/performance-vm.md says what is
# measured and why.
#
# Environment: BENCH_ROUNDS (3; odd, for a median), BENCH_CPUS (2),
# BENCH_MEMORY_MIB (256), BENCH_TRACE (1: instead of the figures, one boot
# under each VMM traced: the guest's slowest initcalls and longest log
# silences, cellvm's debug log on level 1's clock; see bench-boot-trace;
# BENCH_APPEND: more kernel parameters for both guests there),
# QEMU (/usr/bin/qemu-system-x86_64, copied into level 1 with its libraries), QEMU_DATADIR (/usr/share/qemu: its microvm
# firmware), and run-e2e.sh's CELLVM_E2E_* (CELLVM_E2E_SHOW=1 shows level 1).
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/bench/level1.sh"
rounds=${BENCH_ROUNDS:-3}
cpus=${BENCH_CPUS:-2}
mem=${BENCH_MEMORY_MIB:-256}

bench_start boot.sh "$top_builddir/client/cellvm"
printf 'BENCH_ROUNDS=%d BENCH_CPUS=%d BENCH_MEMORY_MIB=%d BENCH_APPEND="%s"\n' "$rounds" "$cpus" "$mem" \
	"${BENCH_APPEND:-}" >"$work/boot.conf"
extra="$extra $work/boot.conf:/bench/boot.conf"
if [ "${BENCH_TRACE:-0}" = 1 ]; then
	# Where the time goes, not a figure: one traced boot under each VMM.
	echo "boot.sh: one traced boot under each VMM in level 1; load average now $load0" >&2
	bench_level1 bench-boot-trace trace
	exit 0
fi
echo "boot.sh: $rounds rounds in level 1, about $((rounds * 2 + 1)) minutes; load average now $load0" >&2
bench_level1 bench-boot median

# median METRIC: "cellvm qemu runs" from level 1's "BENCH median" line.
median() {
	sed -n "s/^BENCH median $1 cellvm=\([0-9.]*\) qemu=\([0-9.]*\) runs=\([0-9]*\).*/\1 \2 \3/p" "$log" | head -1
}
set -- $(median init) ; ci=${1:-} qi=${2:-} n=${3:-0}
set -- $(median off) ; co=${1:-} qo=${2:-}
set -- $(median mem) ; cm=${1:-} qm=${2:-}
# row NAME CELLVM QEMU GOAL-RATIO [GOAL-ABSOLUTE]: figures in s or KiB.
row() {
	awk -v n="$1" -v c="$2" -v q="$3" -v g="$4" -v a="${5:--}" -v kib="${6:-0}" 'BEGIN {
		if (c == "" || q == "") { printf "| %s | - | - | - | no figure |\n", n; exit }
		r = c / q
		if (kib) { cs = sprintf("%.1f MiB", c / 1024); qs = sprintf("%.1f MiB", q / 1024) }
		else { cs = sprintf("%.2f s", c); qs = sprintf("%.2f s", q) }
		v = "-"
		if (g != "-") v = sprintf("≤ %.1fx: %s", g, r <= g ? "met" : "not met")
		if (a != "-") v = sprintf("≤ %d MiB: %s", a, c / 1024 <= a ? "met" : "not met")
		printf "| %s | %s | %s | %.2fx | %s |\n", n, cs, qs, r, v
	}'
}
per_proc=$(sed -n 's/^BENCH mem round=[0-9]* vmm=cellvm .*per_proc=//p' "$log" | tail -1 | tr -d '\r')
nproc=$(sed -n 's/^BENCH mem round=[0-9]* vmm=cellvm .*procs=\([0-9]*\) .*/\1/p' "$log" | tail -1)
fails=$(grep -c '^BENCH fail ' "$log" || :)
rev=$(git -C "$top_srcdir" describe --always --dirty 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
table=$(
	echo "## boot: cellvm against QEMU microvm on nested KVM, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "cellvm $rev; $("$qemu" --version | head -1), microvm, -accel kvm -cpu host;"
	echo "guest: Debian $(ls /var/tmp/cellvm-cache 2>/dev/null | sed -n 's/^linux-image-//p' | head -1),"
	echo "$cpus vCPUs, $mem MiB, virtio-blk + virtio-rng + virtio-console over virtio-mmio;"
	echo "level 1 under TCG, 1 CPU; median of $n rounds, alternating. Host: $(nproc) CPUs ($cpu),"
	echo "Linux $(uname -r), load average $load0 before, $load1 after."
	echo
	echo "| measure | cellvm | QEMU microvm | cellvm/QEMU | goal |"
	echo "|---|---:|---:|---:|---|"
	row "start to guest's init" "$ci" "$qi" -
	row "start to VMM exit after guest poweroff" "$co" "$qo" 0.6
	row "VMM memory (PSS, guest RAM left out)" "$cm" "$qm" - 5 1
	echo
	echo "cellvm's processes ($nproc) in the last round, comm:PSS KiB without guest RAM: $per_proc"
	[ "$fails" = 0 ] || echo "$fails run(s) failed (BENCH fail lines); the medians leave them out."
)
echo "$table"
mkdir -p "$top_builddir/bench/results"
out="$top_builddir/bench/results/boot-$(date -u +%Y-%m-%d-%H%M).md"
{ echo "$table"; echo; echo '```'; grep '^BENCH ' "$log"; echo '```'; } >"$out"
echo "boot.sh: written to $out" >&2
