#!/bin/sh
# VMM memory without a guest: a proxy for bench-boot's memory row on a host
# whose /dev/kvm cannot boot a guest (a paravirtual KVM: docs/deploy.md,
# `--kvm-check api`). cellvmd Creates the VM bench-boot boots (virtio-blk,
# virtio-rng, virtio-console, BENCH_CPUS vCPUs, BENCH_MEMORY_MIB of RAM) and
# this sums the PSS of every process under cellvmd, cellvmd left out as
# bench-boot leaves it out, and the mappings of the guest RAM memfd
# (/memfd:cellvm-ram) left out as bench-boot does. No vCPU has run and no
# device has seen a request: the figures are those of a VM just created,
# not booted. Run by `make bench-mem`; docs/performance-vm.md has its figures.
#
# Environment: BENCH_CPUS (2), BENCH_MEMORY_MIB (256), BENCH_KERNEL
# (default: Debian's kernel from tests/guest/fetch-kernel.sh), BENCH_USER
# (cellvmd's --user when run as root; default none, as `cellvm run` as root
# in bench-boot's level 1), BENCH_SANDBOX (on).
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
cellvmd=$top_builddir/controller/cellvmd
ctl=$top_builddir/client/cellvmctl
cpus=${BENCH_CPUS:-2}
mem=${BENCH_MEMORY_MIB:-256}

for f in "$cellvmd" "$ctl"; do
	[ -x "$f" ] || { echo "mem.sh: $f: not built" >&2; exit 1; }
done
kernel=${BENCH_KERNEL:-$(sh "$top_srcdir/tests/guest/fetch-kernel.sh")/vmlinuz}

work=$(mktemp -d /tmp/cellvm-bench-mem.XXXXXX)
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

chmod 755 "$work"
cp "$kernel" "$work/vmlinuz"
truncate -s 16M "$work/disk.img"
chmod 644 "$work/vmlinuz" "$work/disk.img"
as_user=
if [ -n "${BENCH_USER:-}" ]; then
	as_user="--user $BENCH_USER"
	chown "$BENCH_USER" "$work/disk.img"
fi
cat >"$work/vm.json" <<EOF
{"kernel": "$work/vmlinuz", "cpus": $cpus, "memory": "${mem}M",
 "block_devices": [{"path": "$work/disk.img"}], "rng": true, "console": true,
 "sandbox": "${BENCH_SANDBOX:-on}"}
EOF

# shellcheck disable=SC2086
"$cellvmd" --socket "$work/vm.sock" $as_user --kvm-check api --min-sandbox off \
	--log-level warn 2>"$work/cellvmd.log" &
daemon=$!
i=0
while [ ! -S "$work/vm.sock" ]; do
	i=$((i + 1))
	[ "$i" -le 500 ] && kill -0 "$daemon" 2>/dev/null ||
		{ echo "mem.sh: cellvmd does not listen:" >&2; cat "$work/cellvmd.log" >&2; exit 1; }
	sleep 0.01
done
"$ctl" --socket "$work/vm.sock" create --config "$work/vm.json" >/dev/null ||
	{ echo "mem.sh: Create failed:" >&2; cat "$work/cellvmd.log" >&2; exit 1; }
sleep 1

# Every process descended from cellvmd (pid ppid comm), cellvmd's own PSS apart.
procs() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$daemon" '
		{ c = $2; gsub(/^\(|\)$/, "", c); pid[NR] = $1; comm[NR] = c; ppid[NR] = $4 }
		END {
			in_[root] = 1
			do {
				more = 0
				for (i = 1; i <= NR; i++)
					if (!(pid[i] in in_) && ppid[i] in in_) { in_[pid[i]] = 1; more = 1 }
			} while (more)
			for (i = 1; i <= NR; i++)
				if (pid[i] in in_) print pid[i], ppid[i], comm[i]
		}'
}
# mem PID: its PSS and its private pages (USS) in KiB, the guest RAM's
# mappings left out. USS depends less on what else runs on the host (how
# many processes share libc's pages).
mem() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { ram = $6 ~ /^\/memfd:cellvm-ram/; next }
		ram { next }
		/^Pss:/ { p += $2 } /^Private_(Clean|Dirty):/ { u += $2 }
		END { print p + 0, u + 0 }' "/proc/$1/smaps"
}
total=0 utotal=0 n=0 own=
procs >"$work/procs"
while read -r pid ppid comm; do
	set -- $(mem "$pid")
	if [ "$pid" = "$daemon" ]; then
		own="$1 KiB PSS, $2 KiB USS"
		continue
	fi
	printf '%-16s pid %-7s ppid %-7s PSS %5d KiB  USS %5d KiB\n' "$comm" "$pid" "$ppid" "$1" "$2"
	total=$((total + $1)) utotal=$((utotal + $2)) n=$((n + 1))
done <"$work/procs"
echo "VMM memory (proxy: Create only, guest RAM left out): $total KiB PSS, $utotal KiB USS" \
	"in $n processes; cellvmd $own besides"
"$ctl" --socket "$work/vm.sock" stop >/dev/null
