#!/bin/sh
# cellvm-blk against qemu-storage-daemon, side by side in one run: the same
# frontend (bench/blkbench) drives each over the same image, runs alternate,
# and the table gives each one's median and the ratio. Run by `make bench`;
# docs/performance.md says what is measured and why.
#
# Environment: BENCH_SECONDS per run (3), BENCH_RUNS per backend and case
# (3; odd, for a median), BENCH_DISK_DIR for the real-disk image (/var/tmp),
# BENCH_DISK_SIZE its size in MiB (4096), QSD (/usr/bin/qemu-storage-daemon).
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bench=$top_builddir/bench/blkbench
blk=$top_builddir/device-procs/cellvm-blk
qsd=${QSD:-/usr/bin/qemu-storage-daemon}
secs=${BENCH_SECONDS:-3}
runs=${BENCH_RUNS:-3}
disk_dir=${BENCH_DISK_DIR:-/var/tmp}
shm_mib=256
disk_mib=${BENCH_DISK_SIZE:-4096}

work=$(mktemp -d /dev/shm/cellvm-bench.XXXXXX)
disk_img=
backend=
cleanup() {
	if [ -n "$backend" ]; then
		kill "$backend" 2>/dev/null || :
		wait "$backend" 2>/dev/null || :
	fi
	rm -rf "$work"
	[ -z "$disk_img" ] || rm -f "$disk_img"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

for f in "$bench" "$blk" "$qsd"; do
	[ -x "$f" ] || { echo "blk.sh: $f: not built or not installed" >&2; exit 1; }
done

# start_backend cellvm|qsd IMAGE direct|cached: listening on $work/sock;
# direct is O_DIRECT on both (cellvm-blk --direct, qsd cache.direct=on).
start_backend() {
	rm -f "$work/sock"
	if [ "$1" = cellvm ]; then
		direct=
		[ "$3" = cached ] || direct=--direct
		"$blk" --socket-path "$work/sock" --disk "$2" --log-level warn $direct &
	else
		cache=
		[ "$3" = cached ] || cache=,cache.direct=on
		"$qsd" --blockdev "driver=file,node-name=f,filename=$2,aio=io_uring$cache" \
			--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$work/sock,num-queues=1,writable=on" &
	fi
	backend=$!
}

stop_backend() {
	kill "$backend"
	wait "$backend" || :
	backend=
}

# run_one cellvm|qsd IMAGE direct|cached warm|cold RW QD: one measured run on
# a backend of its own; blkbench's line in $out. (Not in a subshell: the
# backend's pid must stay where cleanup sees it.)
run_one() {
	if [ "$4" = cold ]; then
		sync
		echo 3 >/proc/sys/vm/drop_caches
	fi
	start_backend "$1" "$2" "$3"
	# blkbench waits for the socket to appear.
	if ! out=$("$bench" --socket "$work/sock" --rw "$5" --qd "$6" --bs 4096 \
			--seconds "$secs" --image "$2"); then
		echo "blk.sh: blkbench failed against $1 ($5, QD$6)" >&2
		exit 1
	fi
	stop_backend
}

field() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# bench_case NAME IMAGE direct|cached warm|cold RW QD GOAL: a table row.
bench_case() {
	c_iops='' q_iops='' c_lat='' q_lat=''
	i=1
	while [ "$i" -le "$runs" ]; do
		# Who goes first alternates, so drift over the run favours neither.
		order="cellvm qsd"
		[ $((i % 2)) = 1 ] || order="qsd cellvm"
		for k in $order; do
			run_one "$k" "$2" "$3" "$4" "$5" "$6"
			echo "  $1, run $i, $k: $out" >&2
			if [ "$k" = cellvm ]; then
				c_iops="$c_iops $(field "$out" iops)"
				c_lat="$c_lat $(field "$out" lat_p50_us)"
			else
				q_iops="$q_iops $(field "$out" iops)"
				q_lat="$q_lat $(field "$out" lat_p50_us)"
			fi
		done
		i=$((i + 1))
	done
	# Word splitting hands median one value per run.
	# shellcheck disable=SC2086
	c=$(median $c_iops) q=$(median $q_iops) cl=$(median $c_lat) ql=$(median $q_lat)
	awk -v n="$1" -v c="$c" -v q="$q" -v cl="$cl" -v ql="$ql" -v g="$7" 'BEGIN {
		r = c / q
		verdict = g == "-" ? "-" : sprintf("%.1fx: %s", g, r >= g ? "met" : "not yet")
		printf "| %s | %d | %d | %.2fx | %s | %.0f | %.0f |\n", n, c, q, r, verdict, cl, ql
	}' >>"$work/rows"
}

notes=
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "blk.sh: $shm_mib MiB image in /dev/shm" >&2
head -c $((shm_mib << 20)) /dev/urandom >"$work/shm.img"
bench_case "page cache, QD32 read" "$work/shm.img" cached warm read 32 2.0
bench_case "page cache, QD32 write" "$work/shm.img" cached warm write 32 -
bench_case "page cache, QD1 read" "$work/shm.img" cached warm read 1 1.5
bench_case "page cache, QD1 write" "$work/shm.img" cached warm write 1 -

free_mib=$(df -Pm "$disk_dir" 2>/dev/null | awk 'NR == 2 { print $4 }' || :)
if [ "$(id -u)" != 0 ]; then
	notes="Real-disk cases skipped: dropping the page cache needs root."
elif [ "${free_mib:-0}" -lt $((disk_mib + 1024)) ]; then
	notes="Real-disk cases skipped: $disk_dir has ${free_mib:-no} MiB free, they need $((disk_mib + 1024))."
else
	disk_img=$(mktemp "$disk_dir/cellvm-bench.XXXXXX")
	echo "blk.sh: $disk_mib MiB image in $disk_dir" >&2
	dd if=/dev/urandom of="$disk_img" bs=1M count="$disk_mib" conv=fsync status=none
	# Both bypass the page cache (O_DIRECT), like for like; it is dropped
	# before each run all the same, so the file system's metadata is cold
	# for both alike.
	bench_case "disk, O_DIRECT, QD32 read" "$disk_img" direct cold read 32 1.2
	bench_case "disk, O_DIRECT, QD1 read" "$disk_img" direct cold read 1 1.1
	bench_case "disk, O_DIRECT, QD32 write" "$disk_img" direct cold write 32 -
	bench_case "disk, O_DIRECT, QD1 write" "$disk_img" direct cold write 1 -
fi

rev=$(git -C "$top_srcdir" describe --always --dirty 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
dev=$(df -P "$disk_dir" | awk 'NR == 2 { print $1 }')
table=$(
	echo "## blk: cellvm-blk against qemu-storage-daemon, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "cellvm $rev; $("$qsd" --version | head -1); 4 KiB random I/O, one queue,"
	echo "${secs} s runs, median of $runs each, alternating. $(nproc) CPUs ($cpu),"
	echo "$(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r);"
	echo "disk: $dev ($(stat -f -c %T "$disk_dir")) under $disk_dir, $disk_mib MiB image,"
	echo "cellvm-blk --direct and qsd cache.direct=on there; load average $load0 before,"
	echo "$(cut -d' ' -f1-3 /proc/loadavg) after."
	echo
	echo "| case | cellvm-blk IOPS | qsd IOPS | cellvm/qsd | goal | cellvm-blk p50 µs | qsd p50 µs |"
	echo "|---|---:|---:|---:|---|---:|---:|"
	cat "$work/rows"
	[ -z "$notes" ] || printf '\n%s\n' "$notes"
)
echo "$table"
mkdir -p "$top_builddir/bench/results"
out="$top_builddir/bench/results/blk-$(date -u +%Y-%m-%d-%H%M).md"
echo "$table" >"$out"
echo "blk.sh: written to $out" >&2
