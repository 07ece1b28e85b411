#!/bin/sh
# Guest-host TCP throughput: cellvm-net against QEMU microvm's virtio-net,
# side by side in one run on nested KVM. Reuses the end-to-end harness
# (tests/e2e/run-e2e.sh) as bench/boot.sh does: QEMU emulates level 1, a
# Linux with /dev/kvm, whose scenario bench-net (tests/e2e/bench_net.sh)
# runs `cellvm run --net tap=...` and QEMU microvm with virtio-net-device on
# a tap of its own (vhost=on when level 1's vhost_net loads) at once, each
# booting the same Debian kernel and initramfs (l2-init.sh, which serves
# bench/netbench), and times N MiB each way from level 1, taking turns. Run by
# `make bench-net`; docs/performance-net.md says what is measured and why.
#
# Environment: BENCH_ROUNDS (5; odd, for a median), BENCH_CPUS (1),
# BENCH_MEMORY_MIB (256), BENCH_NET_MIB (64, each way per run), QEMU
# (/usr/bin/qemu-system-x86_64, copied into level 1 with its libraries),
# QEMU_DATADIR (/usr/share/qemu: its microvm firmware), and run-e2e.sh's
# CELLVM_E2E_* (CELLVM_E2E_SHOW=1 shows level 1).
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/bench/level1.sh"
netbench=$top_builddir/bench/netbench
rounds=${BENCH_ROUNDS:-5}
cpus=${BENCH_CPUS:-1}
mem=${BENCH_MEMORY_MIB:-256}
mib=${BENCH_NET_MIB:-64}

bench_start net.sh "$top_builddir/client/cellvm" "$netbench"
printf 'BENCH_ROUNDS=%d BENCH_CPUS=%d BENCH_MEMORY_MIB=%d BENCH_NET_MIB=%d\n' \
	"$rounds" "$cpus" "$mem" "$mib" >"$work/net.conf"
extra="$extra $work/net.conf:/bench/net.conf $netbench:/bench/bin/netbench"
echo "net.sh: $rounds rounds in level 1, about $((rounds + 3)) minutes; load average now $load0" >&2
bench_level1 bench-net median CELLVM_E2E_L1_MODULES=vhost_net \
	CELLVM_E2E_L2_EXTRA="$netbench:/bin/netbench"

# median DIR: "cellvm qemu runs" from level 1's "BENCH median" line.
median() {
	sed -n "s/^BENCH median $1 cellvm=\([0-9.]*\) qemu=\([0-9.]*\) runs=\([0-9]*\).*/\1 \2 \3/p" "$log" | head -1
}
set -- $(median g2h) ; cg=${1:-} qg=${2:-} n=${3:-0}
set -- $(median h2g) ; ch=${1:-} qh=${2:-}
# round_ratio DIR: the median over rounds of cellvm/QEMU within a round
# (both figures seconds apart), which drift between rounds moves less than
# the ratio of the medians; the lower middle for an even count.
round_ratio() {
	awk -v d="$1" '$1 == "BENCH" && $2 == "run" {
		split($3, r, "="); split($4, k, "=")
		for (i = 5; i <= NF; i++) if (index($i, d "_mib_s=") == 1) { v = substr($i, length(d) + 8) }
		if (v != "") fig[r[2], k[2]] = v
		rounds[r[2]] = 1; v = ""
	}
	END {
		for (x in rounds)
			if (fig[x, "cellvm"] != "" && fig[x, "qemu"] > 0) q[++n] = fig[x, "cellvm"] / fig[x, "qemu"]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && q[j - 1] > q[j]; j--) { t = q[j]; q[j] = q[j - 1]; q[j - 1] = t }
		if (n) printf "%.2f", q[int((n + 1) / 2)]
	}' "$log"
}
row() {
	awk -v n="$1" -v c="$2" -v q="$3" -v rr="$(round_ratio $4)" 'BEGIN {
		if (c == "" || q == "") { printf "| %s | - | - | no figure | - |\n", n; exit }
		printf "| %s | %.1f MiB/s | %.1f MiB/s | %.2fx | %sx |\n", n, c, q, c / q, rr
	}'
}
vhost=$(sed -n 's/^BENCH config .* vhost=\([a-z]*\) .*/\1/p' "$log" | head -1)
peer="QEMU's own virtio-net (vhost=off: level 1 has no /dev/vhost-net)"
[ "$vhost" = on ] && peer="vhost-net in level 1's kernel (vhost=on)"
feat() { sed -n "s/^BENCH guest vmm=$1 features=\([01]*\).*/\1/p" "$log" | tail -1; }
fails=$(grep -c '^BENCH fail ' "$log" || :)
rev=$(git -C "$top_srcdir" describe --always --dirty 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
table=$(
	echo "## net: cellvm against QEMU microvm on nested KVM, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "cellvm $rev (cellvm-net); $("$qemu" --version | head -1), microvm,"
	echo "virtio-net-device on a tap, its data path: $peer;"
	echo "guest: Debian $(ls /var/tmp/cellvm-cache 2>/dev/null | sed -n 's/^linux-image-//p' | head -1),"
	echo "$cpus vCPU(s), $mem MiB, virtio-net over virtio-mmio; TCP over each VMM's tap, $mib MiB"
	echo "each way per run (bench/netbench, 256 KiB writes), timed in level 1;"
	echo "both VMs up, taking turns; level 1 under TCG, 1 CPU; median of $n rounds, who goes first"
	echo "alternating. Host: $(nproc) CPUs ($cpu),"
	echo "Linux $(uname -r), load average $load0 before, $load1 after."
	echo
	echo "| direction | cellvm | QEMU microvm | cellvm/QEMU | median of each round's ratio |"
	echo "|---|---:|---:|---:|---:|"
	row "guest to host" "$cg" "$qg" g2h
	row "host to guest" "$ch" "$qh" h2g
	echo
	echo "virtio-net features the guest's driver accepted (bit 0 first): cellvm $(feat cellvm),"
	echo "QEMU $(feat qemu)."
	[ "$fails" = 0 ] || echo "$fails run(s) failed (BENCH fail lines); the medians leave them out."
)
echo "$table"
mkdir -p "$top_builddir/bench/results"
out="$top_builddir/bench/results/net-$(date -u +%Y-%m-%d-%H%M).md"
{ echo "$table"; echo; echo '```'; grep '^BENCH ' "$log"; echo '```'; } >"$out"
echo "net.sh: written to $out" >&2
