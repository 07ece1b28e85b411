#!/bin/sh
# Builds the libFuzzer harnesses in tests/fuzz/ with clang (ASan + UBSan +
# LeakSanitizer, every finding fatal) and runs each one on a copy of its seed
# corpus (tests/fuzz/corpus/<name>/) for a few seconds. Prints TAP: one line
# per harness; a build failure or a finding is "not ok" with the first 30
# lines of the output as comments, and the reproducer is kept under
# $top_builddir/tests/fuzz/artifacts/ (rerun it: <harness binary> <file>).
#
# Usage:
#   run-fuzz.sh [NAME...]          smoke run for CI: about 8 s per harness,
#                                  about 8 s per harness and its build
#   run-fuzz.sh --long [NAME...]   for people, not CI: each harness for
#                                  FUZZ_TIME seconds (default 3600, so hours
#                                  for all of them), one after the other, with
#                                  a corpus that persists and grows in
#                                  $top_builddir/tests/fuzz/corpus-long/NAME
#   run-fuzz.sh --merge [NAME...]  adds to the seed corpus
#                                  (tests/fuzz/corpus/NAME) the inputs of
#                                  corpus-long/NAME that reach code the seeds
#                                  do not (libFuzzer's -merge=1, edges
#                                  only: -use_counters=0), each at
#                                  most 4 KiB; review and commit them
# FUZZ_TIME overrides the seconds per harness; FUZZ_JOBS (--long only) runs
# that many fuzzer processes per harness (default 1: the machines are shared).
# CELLVM_BUILDDIR (exported: top_builddir, absolute) tells the process-level
# harnesses (fuzz_proc_*) where the binaries are.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CELLVM_BUILDDIR=$(cd "$top_builddir" && pwd)
export CELLVM_BUILDDIR
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
comment() { head -30 "$1" | sed 's/^/# /'; }

long=0
merge=0
case ${1:-} in
--long) long=1 && shift ;;
--merge) merge=1 && shift ;;
esac

if ! command -v clang >/dev/null; then
	echo "1..0 # SKIP clang not installed (apt-get install clang)"
	exit 0
fi

all=$(cd "$top_srcdir/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//' | tr '\n' ' ')
names=${*:-$all}

s=$top_srcdir
. "$s/tests/fuzz/links.sh"

CFLAGS_FUZZ="-std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
-fno-sanitize-recover=all $FUZZ_INCLUDES"

if [ $long -eq 1 ]; then
	secs=${FUZZ_TIME:-3600}
	runs=-1
else
	secs=${FUZZ_TIME:-8}
	runs=100000000
fi

set -- $names
echo "1..$#"
work=$(mktemp -d /tmp/cellvm-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
artifacts=$top_builddir/tests/fuzz/artifacts
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for name in "$@"; do
	srcs=$(fuzz_sources "$name") || { not_ok "$name: no such harness"; continue; }
	# shellcheck disable=SC2086 # word splitting of the flag and file lists
	if ! clang $CFLAGS_FUZZ "$s/tests/fuzz/$name.c" $srcs $FUZZ_LIBS -o "$work/$name" \
		>"$work/$name.build" 2>&1; then
		not_ok "$name builds"
		comment "$work/$name.build"
		continue
	fi
	if [ $merge -eq 1 ]; then
		seeds=$s/tests/fuzz/corpus/$name
		mkdir -p "$seeds"
		before=$(ls "$seeds" | wc -l)
		if (cd "$work" && "$work/$name" -merge=1 -use_counters=0 -max_len=4096 -close_fd_mask=2 -timeout=10 \
			"$seeds" "$top_builddir/tests/fuzz/corpus-long/$name") >"$work/$name.log" 2>&1; then
			ok "$name: $(($(ls "$seeds" | wc -l) - before)) inputs added to $before seeds"
		else
			not_ok "$name: merge failed"
			comment "$work/$name.log"
		fi
		continue
	fi
	if [ $long -eq 1 ]; then
		corpus=$top_builddir/tests/fuzz/corpus-long/$name
		mkdir -p "$corpus"
	else
		corpus=$work/corpus-$name
		mkdir -p "$corpus"
	fi
	cp "$s/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null
	rm -f "$artifacts/$name"-*
	# -close_fd_mask=2: the code's own log lines go nowhere; libFuzzer and
	# the sanitizers still report on the original stderr.
	jobs=""
	[ $long -eq 1 ] && [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs="-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
	# shellcheck disable=SC2086 # $jobs is empty or two options
	(cd "$work" && "$work/$name" -runs=$runs -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 $jobs -close_fd_mask=2 -print_final_stats=1 \
		-artifact_prefix="$artifacts/$name-" "$corpus") >"$work/$name.log" 2>&1
	st=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log" | tail -1)
	if [ $st -eq 0 ]; then
		ok "$name: ${execs:-?} inputs in ${secs}s, no finding"
	else
		not_ok "$name: finding (exit $st)"
		grep -v '^INFO:\|^#[0-9]' "$work/$name.log" | head -30 | sed 's/^/# /'
		for f in "$artifacts/$name"-*; do
			[ -e "$f" ] && echo "# reproducer: $f (run: $name $f)"
		done
	fi
done
exit $failed
