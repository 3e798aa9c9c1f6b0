#!/bin/sh
# Differential test of Assay's WebAssembly engine against wabt's
# interpreter: for each seed, diff_wasm generates a valid module
# (fuzz/wasm_gen.c) and runs its exports on our engine; wasm-validate must
# accept the module and `wasm-interp --run-all-exports` must give the same
# lines (a value, or "error" for a trap: the messages differ between the
# engines and are not compared).
#
#   fuzz/diff_wasm.sh [-n COUNT] [-s FIRST] [-t SECONDS] [-c CORPUS_DIR]
#                     [-k KEEP_DIR] [-x] PATH/TO/diff_wasm
#
#   -n  seeds FIRST .. FIRST+COUNT-1 (default 200; with -t, no limit)
#   -t  stop after SECONDS instead (a time budget)
#   -c  also run every file of CORPUS_DIR as generator input (first)
#   -k  where mismatching modules are kept (default $TMPDIR/diff_wasm-failures)
#   -x  stop at the first mismatch
#
# Prints each mismatch with both outputs, then the counts; exits 1 on any
# mismatch, 77 (skipped) when wabt is not installed.
set -u

usage() {
	echo "usage: $0 [-n COUNT] [-s FIRST] [-t SECONDS] [-c CORPUS_DIR] [-k KEEP_DIR] [-x] DIFF_WASM" >&2
	exit 2
}

count="" first=0 seconds=0 corpus="" keep="" stop=0
while getopts n:s:t:c:k:x opt; do
	case $opt in
	n) count=$OPTARG ;;
	s) first=$OPTARG ;;
	t) seconds=$OPTARG ;;
	c) corpus=$OPTARG ;;
	k) keep=$OPTARG ;;
	x) stop=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
bin=$1
[ -n "$count" ] || { [ "$seconds" -gt 0 ] && count=-1 || count=200; }
keep=${keep:-${TMPDIR:-/tmp}/diff_wasm-failures}

for p in wasm-interp wasm-validate; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "SKIP: wabt's $p is absent (Debian package wabt)"
		exit 77
	fi
done
[ -x "$bin" ] || { echo "$0: $bin is not executable" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/diff_wasm.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

modules=0 exports=0 traps=0 mismatches=0
start=$(date +%s)

finish() {
	echo "diff_wasm: $modules modules, $exports exports compared, $traps traps," \
		"$mismatches mismatches ($(($(date +%s) - start)) s)"
	[ "$mismatches" -eq 0 ] || exit 1
	exit 0
}

# Normalises a run's output: trap messages differ between the engines.
normalise() {
	sed 's/ => error: .*/ => error/' "$1"
}

# check NAME DIFF_WASM_ARGS...: one module through both engines.
check() {
	name=$1
	shift
	m=$work/m.wasm
	rm -f "$m" "$work/theirs" "$work/theirs.err" "$work/validate"
	timeout 60 "$bin" "$@" -o "$m" >"$work/ours" 2>"$work/ours.err"
	rc=$?
	modules=$((modules + 1))
	why=""
	if [ ! -s "$m" ]; then
		why="the generator failed (exit $rc)"
	elif ! wasm-validate "$m" >"$work/validate" 2>&1; then
		why="wasm-validate refuses the module"
	else
		timeout 60 wasm-interp "$m" --run-all-exports >"$work/theirs" 2>"$work/theirs.err"
		trc=$?
		exports=$((exports + $(wc -l <"$work/theirs")))
		traps=$((traps + $(grep -c ' => error: ' "$work/theirs")))
		if [ "$rc" -ne 0 ]; then
			why="our engine failed (exit $rc)"
		elif [ "$trc" -ne 0 ]; then
			why="wasm-interp failed (exit $trc)"
		else
			normalise "$work/ours" >"$work/ours.n"
			normalise "$work/theirs" >"$work/theirs.n"
			cmp -s "$work/ours.n" "$work/theirs.n" || why="the results differ"
		fi
	fi
	[ -z "$why" ] && return 0
	mismatches=$((mismatches + 1))
	mkdir -p "$keep" && cp "$m" "$keep/$name.wasm" 2>/dev/null
	echo "MISMATCH $name: $why (module: $keep/$name.wasm; rerun: $bin $*)"
	echo "--- Assay"
	cat "$work/ours" "$work/ours.err"
	echo "--- wabt wasm-interp"
	cat "$work/theirs" "$work/theirs.err" 2>/dev/null
	if [ -s "$work/validate" ]; then
		echo "--- wasm-validate"
		cat "$work/validate"
	fi
	echo "---"
	[ "$stop" -eq 0 ] || finish
}

over() {
	[ "$seconds" -gt 0 ] && [ $(($(date +%s) - start)) -ge "$seconds" ]
}

if [ -n "$corpus" ] && [ -d "$corpus" ]; then
	for f in "$corpus"/*; do
		[ -f "$f" ] || continue
		over && finish
		check "from-$(basename "$f")" --from "$f"
	done
fi
i=0
while [ "$count" -lt 0 ] || [ "$i" -lt "$count" ]; do
	over && break
	seed=$((first + i))
	check "seed-$seed" --seed "$seed"
	i=$((i + 1))
done
finish
