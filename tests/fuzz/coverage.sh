#!/bin/sh
# Source-based line coverage (clang -fprofile-instr-generate) of each fuzz
# harness over its corpus: how much of the code it links each one reaches.
#
# Usage:
#   make fuzz-coverage                       every tests/fuzz/fuzz_*.c
#   sh tests/fuzz/coverage.sh [NAME...]      the same, or only these
#   FUZZ_CORPUS=DIR sh tests/fuzz/coverage.sh
#       run over DIR/NAME (e.g. $top_builddir/tests/fuzz/corpus-long, what
#       run-fuzz.sh --long grew) instead of the seeds in tests/fuzz/corpus/
#
# Each harness is built as run-fuzz.sh builds it (tests/fuzz/links.sh), with
# coverage instead of sanitizers, and runs each input once (-runs=0). Output,
# replaced by each run, in $top_builddir/tests/fuzz/coverage/:
#   summary.md    per harness: its boundary, and the line coverage of each
#                 project file it links; then every function under 80% line
#                 coverage in the files that take less trusted input (those
#                 links.sh does not call helpers or trusted); then, for
#                 those files, the coverage of all in-process harnesses
#                 together and its functions under 80% but those that no
#                 input reaches (tests/fuzz/not-input.txt); also printed.
#                 For a process-level harness (fuzz_proc_*) only the
#                 coverage of its own frontend code, in the first table
#   html/NAME/    llvm-cov's browsable report of each harness
# Needs clang and the llvm-cov/llvm-profdata of the same LLVM version; skips
# (exit 0) without them. Not part of make check.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
s=$top_srcdir
. "$s/tests/fuzz/links.sh"

if ! command -v clang >/dev/null; then
	echo "fuzz-coverage: SKIP: clang not installed (apt-get install clang)"
	exit 0
fi
# Profiles are read only by the llvm-profdata of the compiler's version.
major=$(clang --version | sed -n 's/.*clang version \([0-9]*\)\..*/\1/p' | head -1)
tool() {
	for t in "$1-$major" "$1"; do
		if command -v "$t" >/dev/null &&
			"$t" --version 2>&1 | grep -q "LLVM version $major\."; then
			echo "$t"
			return 0
		fi
	done
	return 1
}
# llvm-profdata has no --version before LLVM 15: the one named like llvm-cov.
cov=$(tool llvm-cov) && profdata=$(command -v "$(echo "$cov" | sed 's/llvm-cov/llvm-profdata/')") || {
	echo "fuzz-coverage: SKIP: no llvm-cov and llvm-profdata of clang's version $major" \
		"(apt-get install llvm-$major)"
	exit 0
}

all=$(cd "$s/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//' | tr '\n' ' ')
names=${*:-$all}
out=$top_builddir/tests/fuzz/coverage
rm -rf "$out"
mkdir -p "$out/bin" "$out/prof" "$out/html"
summary=$out/summary.md
under=$out/under80.md
: >"$under"
CFLAGS_COV="-std=gnu11 -D_GNU_SOURCE -g -O0 -fsanitize=fuzzer \
-fprofile-instr-generate -fcoverage-mapping $FUZZ_INCLUDES"
# The process-level harnesses start the build tree's binaries.
CELLVM_BUILDDIR=$(cd "$top_builddir" && pwd)
export CELLVM_BUILDDIR

pct() { awk -v l="$1" -v m="$2" 'BEGIN { printf (l ? "%.1f%%" : "-"), l ? 100 * (l - m) / l : 0 }'; }

{
	echo "# Fuzz harness line coverage over ${FUZZ_CORPUS:-the seed corpus}"
	echo
	echo "| harness | boundary | inputs | file | lines | line coverage |"
	echo "|---|---|---|---|---|---|"
} >"$summary"
failed=0
for name in $names; do
	srcs=$(fuzz_sources "$name") || { echo "$name: no such harness" >&2; failed=1; continue; }
	bin=$out/bin/$name
	# shellcheck disable=SC2086 # word splitting of the flag and file lists
	if ! clang $CFLAGS_COV "$s/tests/fuzz/$name.c" $srcs $FUZZ_LIBS -o "$bin" \
		>"$out/$name.build" 2>&1; then
		echo "$name: does not build, see $out/$name.build" >&2
		failed=1
		continue
	fi
	corpus=${FUZZ_CORPUS:+$FUZZ_CORPUS/$name}
	corpus=${corpus:-$s/tests/fuzz/corpus/$name}
	inputs=$(find "$corpus" -type f 2>/dev/null | wc -l)
	rm -f "$out/prof/$name".*
	# One profile per process: a harness may fork.
	LLVM_PROFILE_FILE="$out/prof/$name.%p.profraw" "$bin" -runs=0 -close_fd_mask=2 \
		"$corpus" >"$out/$name.log" 2>&1 || {
		echo "$name: failed on its corpus, see $out/$name.log" >&2
		failed=1
	}
	if ! "$profdata" merge -sparse "$out/prof/$name".*.profraw -o "$out/prof/$name.profdata" \
		>>"$out/$name.log" 2>&1; then
		echo "$name: no profile, see $out/$name.log" >&2
		failed=1
		continue
	fi
	boundary=$(fuzz_boundary "$name")
	# shellcheck disable=SC2086
	"$cov" show "$bin" -instr-profile="$out/prof/$name.profdata" -format=html \
		-output-dir="$out/html/$name" $srcs >/dev/null 2>&1
	first=1
	for file in $srcs; do
		rel=${file#"$s"/}
		# One file per report: with several, llvm-cov drops their common
		# directory. TOTAL Regions Missed Cover Functions Missed Executed
		# Lines Missed Cover ...
		set -- $("$cov" report "$bin" -instr-profile="$out/prof/$name.profdata" "$file" \
			2>/dev/null | awk '$1 == "TOTAL" { print $8, $9 }')
		if [ $first -eq 1 ]; then
			printf '| %s | %s | %s |' "$name" "$boundary" "$inputs"
			first=0
		else
			printf '| | | |'
		fi
		printf ' %s | %s | %s |\n' "$rel" "${1:-0}" "$(pct "${1:-0}" "${2:-0}")"
		# A process-level harness's own code is only its frontend.
		case $name in fuzz_proc_*) continue ;; esac
		case $(fuzz_file_boundary "$rel") in
		- | trusted:*) continue ;;
		esac
		# Name Regions Missed Cover Lines Missed Cover ...
		"$cov" report "$bin" -instr-profile="$out/prof/$name.profdata" -show-functions \
			"$file" 2>/dev/null |
			awk -v h="$name" -v f="$rel" '$1 != "TOTAL" && NF >= 7 && $7 ~ /%$/ && $5 ~ /^[0-9]+$/ {
				c = $7; sub("%", "", c)
				if (c + 0 < 80) printf "| %s | %s | %s | %s | %s |\n", f, $1, h, $5, $7 }' >>"$under"
	done >>"$summary"
done
{
	echo
	echo "## Functions under 80% line coverage in files that take less trusted input, per harness"
	echo
	echo "(Not for the process-level harnesses, fuzz_proc_*: their own code is the"
	echo "frontend; the device binaries they drive are not measured.)"
	echo
	echo "| file | function | harness | lines | line coverage |"
	echo "|---|---|---|---|---|"
	sort "$under"
} >>"$summary"
rm -f "$under"

# All in-process harnesses together: a line counts as covered when any of
# them ran it (llvm-cov merges a function's records across the binaries).
objs=""
profs=""
files=""
for name in $names; do
	case $name in fuzz_proc_*) continue ;; esac
	[ -f "$out/prof/$name.profdata" ] || continue
	objs="$objs $out/bin/$name"
	profs="$profs $out/prof/$name.profdata"
	for file in $(fuzz_sources "$name"); do
		case $(fuzz_file_boundary "${file#"$s"/}") in
		- | trusted:*) ;;
		*) files="$files $file" ;;
		esac
	done
done
files=$(echo "$files" | tr ' ' '\n' | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086 # word splitting of the file lists
if [ -n "$objs" ] && "$profdata" merge -sparse $profs -o "$out/prof/all.profdata" 2>/dev/null; then
	set -- $objs
	first_obj=$1
	shift
	more=""
	for o in "$@"; do more="$more -object $o"; done
	{
		echo
		echo "## All in-process harnesses together, files that take less trusted input"
		echo
		echo "Functions that no input byte reaches (start-up, the trusted side's"
		echo "encoders: tests/fuzz/not-input.txt, each with why) are left out of the"
		echo "last column."
		echo
		echo "| file | boundary | lines | line coverage | functions under 80% (lines, coverage) |"
		echo "|---|---|---|---|---|"
		for file in $files; do
			rel=${file#"$s"/}
			# shellcheck disable=SC2086
			set -- $("$cov" report "$first_obj" $more -instr-profile="$out/prof/all.profdata" \
				"$file" 2>/dev/null | awk '$1 == "TOTAL" { print $8, $9 }')
			# shellcheck disable=SC2086
			low=$("$cov" report "$first_obj" $more -instr-profile="$out/prof/all.profdata" \
				-show-functions "$file" 2>/dev/null |
				awk -v f="$rel" -v skip="$s/tests/fuzz/not-input.txt" '
				BEGIN { while ((getline l < skip) > 0) { split(l, w, " ")
					if (w[1] == f) out[w[2]] = 1 } }
				$1 != "TOTAL" && NF >= 7 && $7 ~ /%$/ && $5 ~ /^[0-9]+$/ && !($1 in out) {
					c = $7; sub("%", "", c)
					if (c + 0 < 80) { printf "%s%s (%s, %s)", sep, $1, $5, $7; sep = ", " } }')
			printf '| %s | %s | %s | %s | %s |\n' "$rel" "$(fuzz_file_boundary "$rel")" \
				"${1:-0}" "$(pct "${1:-0}" "${2:-0}")" "${low:-none}"
		done
	} >>"$summary"
fi
echo >>"$summary"
echo "HTML: $out/html/<harness>/index.html" >>"$summary"
cat "$summary"
exit $failed
