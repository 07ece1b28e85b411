#!/bin/sh
# Density: N VMs at once, cellvm against QEMU microvm, on nested KVM. Reuses
# the end-to-end harness (tests/e2e/run-e2e.sh) as bench/boot.sh does: in
# level 1, scenario bench-density (tests/e2e/bench-scenarios.sh) starts, for
# each N, N VMs together (a cellvmd per VM, as root with --user, driven by
# cellvmctl; then N QEMU microvms), the same guest each (1 vCPU,
# DENSITY_MEMORY_MIB, virtio-blk and virtio-rng, waiting at its end), and
# reports the VMM's memory per VM (PSS, guest RAM left out), cellvm's Create
# latency and the time until all N guests reached init; the first N that
# fails is where it breaks. Run by `make bench-density`;
# docs/performance-vm.md says what is measured and why.
#
# Environment: DENSITY_NS ("1 2 4 8"), DENSITY_MEMORY_MIB (128: Debian's kernel needs 64 MiB to unpack), QEMU and
# QEMU_DATADIR (as boot.sh), CELLVM_E2E_VM_TIMEOUT (seconds each step may
# take in level 1; 600 by default here, since N guests share one emulated
# CPU), and run-e2e.sh's CELLVM_E2E_*.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/bench/level1.sh"
ns=${DENSITY_NS:-1 2 4 8}
mem=${DENSITY_MEMORY_MIB:-128}

case $ns in *[!0-9\ ]*) echo "density.sh: DENSITY_NS: numbers separated by spaces" >&2; exit 1 ;; esac
bench_start density.sh "$top_builddir/controller/cellvmd"
printf 'DENSITY_NS="%s" DENSITY_MEMORY_MIB=%d\n' "$ns" "$mem" >"$work/density.conf"
extra="$extra $work/density.conf:/bench/density.conf"
echo "density.sh: N = $ns in level 1, tens of minutes; load average now $load0" >&2
bench_level1 bench-density density CELLVM_E2E_VM_TIMEOUT="${CELLVM_E2E_VM_TIMEOUT:-600}" \
	CELLVM_E2E_BUDGET="${CELLVM_E2E_BUDGET:-3600}"

# field VMM N KEY: KEY's value in level 1's line for VMM with N VMs.
field() {
	tr -d '\r' <"$log" | sed -n "s/^BENCH density vmm=$1 n=$2 .*\<$3=\([^ ]*\).*/\1/p" | head -1
}
rev=$(git -C "$top_srcdir" describe --always --dirty 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
table=$(
	echo "## density: cellvm against QEMU microvm on nested KVM, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "cellvm $rev; $("$qemu" --version | head -1), microvm, -accel kvm -cpu host;"
	echo "guest: Debian $(ls /var/tmp/cellvm-cache 2>/dev/null | sed -n 's/^linux-image-//p' | head -1),"
	echo "1 vCPU, $mem MiB, virtio-blk + virtio-rng over virtio-mmio, each VM;"
	echo "level 1 under TCG, 1 CPU, 2 GiB. Host: $(nproc) CPUs ($cpu),"
	echo "Linux $(uname -r), load average $load0 before, $load1 after."
	echo
	echo "| VMs at once | VMM memory per VM, cellvm | QEMU | cellvm/QEMU | all at init, cellvm | QEMU | cellvm/QEMU | Create, median / max |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $ns; do
		cm=$(field cellvm $n pss_per_vm_kib) qm=$(field qemu $n pss_per_vm_kib)
		ci=$(field cellvm $n all_init) qi=$(field qemu $n all_init)
		c50=$(field cellvm $n create_median) cmax=$(field cellvm $n create_max)
		awk -v n=$n -v cm="$cm" -v qm="$qm" -v ci="$ci" -v qi="$qi" -v c50="$c50" -v cmax="$cmax" '
			function mib(k) { return k == "" ? "-" : sprintf("%.1f MiB", k / 1024) }
			function s(v) { return v == "" ? "-" : sprintf("%.1f s", v) }
			function r(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2fx", a / b) }
			BEGIN {
				printf "| %d | %s | %s | %s | %s | %s | %s | %s |\n", n, mib(cm), mib(qm), r(cm, qm),
					s(ci), s(qi), r(ci, qi), c50 == "" ? "-" : sprintf("%s s / %s s", c50, cmax)
			}'
	done
	echo
	tr -d '\r' <"$log" | sed -n 's/^BENCH density breaks vmm=\([a-z]*\) n=\([0-9]*\): \(.*\)/Breaks: \1 at \2 VMs: \3/p'
)
echo "$table"
mkdir -p "$top_builddir/bench/results"
out="$top_builddir/bench/results/density-$(date -u +%Y-%m-%d-%H%M).md"
{ echo "$table"; echo; echo '```'; tr -d '\r' <"$log" | grep '^BENCH '; echo '```'; } >"$out"
echo "density.sh: written to $out" >&2
