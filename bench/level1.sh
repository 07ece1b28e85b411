# What the nested-KVM benchmarks (boot.sh, net.sh, density.sh) share:
# sourced after `set -eu` with top_srcdir, top_builddir, QEMU and
# QEMU_DATADIR read. Each runs one scenario of tests/e2e/bench-*.sh in a
# level 1 that tests/e2e/run-e2e.sh boots, with QEMU and its microvm
# firmware copied in, and reads its "BENCH" lines from level 1's log.

qemu=${QEMU:-/usr/bin/qemu-system-x86_64}
datadir=${QEMU_DATADIR:-/usr/share/qemu}

# bench_start NAME FILE...: checks that QEMU, its microvm firmware and the
# FILEs are there; makes $work (removed at exit, with level 1's kept work
# directory) and $extra, the files for level 1: QEMU as
# /bench/bin/qemu-system-x86_64 and its firmware in /bench/qemu.
bench_start() {
	bench_name=$1
	shift
	for f in "$qemu" "$datadir/bios-microvm.bin" "$@"; do
		[ -e "$f" ] || { echo "$bench_name: $f: not built or not installed" >&2; exit 1; }
	done
	work=$(mktemp -d "/tmp/cellvm-bench-$bench_name.XXXXXX")
	kept=
	trap 'rm -rf "$work"; [ -z "$kept" ] || rm -rf "$kept"' EXIT
	trap 'exit 130' INT TERM HUP
	extra="$qemu:/bench/bin/qemu-system-x86_64"
	# microvm's default firmware is bios-microvm.bin (qboot in Debian: a
	# symlink to qboot.rom); mkinitramfs copies what a link points to.
	for f in bios-microvm.bin qboot.rom linuxboot_dma.bin; do
		[ -e "$datadir/$f" ] && extra="$extra $datadir/$f:/bench/qemu/$f"
	done
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
}

# bench_level1 SCENARIO MARK [VAR=VALUE...]: runs SCENARIO in level 1 with
# $extra and the VARs set for run-e2e.sh; prints level 1's TAP lines and
# BENCH lines on stderr; sets $load1 and $log, the last level-1 log with a
# line "BENCH MARK ..." (a crash of level 1 runs the scenario again). With
# none, says so with the end of level 1's log and exits 1.
bench_level1() {
	scenario=$1 mark=$2
	shift 2
	status=0
	env CELLVM_E2E_ONLY="$scenario" CELLVM_E2E_KEEP=1 CELLVM_E2E_EXTRA="$extra" "$@" \
		top_srcdir="$top_srcdir" top_builddir="$top_builddir" \
		sh "$top_srcdir/tests/e2e/run-e2e.sh" >"$work/tap" 2>"$work/stderr" || status=$?
	load1=$(cut -d' ' -f1-3 /proc/loadavg)
	kept=$(sed -n 's/^# kept //p' "$work/stderr" | tail -1)
	sed 's/^/  /' "$work/tap" >&2
	log=
	for f in "$kept"/serial-*.log.txt; do
		[ -f "$f" ] && grep -q "^BENCH $mark " "$f" && log=$f
	done
	if [ -z "$log" ]; then
		echo "$bench_name: no figures from level 1 (run-e2e.sh exit $status); its log's end:" >&2
		tail -n 40 "$(ls "$kept"/serial-*.log.txt 2>/dev/null | tail -1)" 2>/dev/null |
			sed 's/^/  /' >&2 || :
		exit 1
	fi
	tr -d '\r' <"$log" | grep '^BENCH ' | sed 's/^/  /' >&2
}
