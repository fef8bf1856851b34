#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory and runs each one for a
# bounded time, starting from the seed corpora in tests/fuzz/corpus/. Exits non-zero on the
# first crash or invariant violation; the input that caused it is left in $BUILD_DIR/artifacts/.
#   BUILD_DIR     build directory (default: build-fuzz)
#   FUZZ_SECONDS  seconds per target (default: 60)
#   FUZZ_TARGETS  targets to run (default: all five)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
build="${BUILD_DIR:-build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
targets=(${FUZZ_TARGETS:-request_parser query config gateway_bot bots_file})

# Ninja and ccache as in scripts/test.sh.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
generator=()
[ -f "$build/CMakeCache.txt" ] || generator=(-G Ninja)
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DGQ_FUZZ=ON -DGQ_BUILD_TESTS=OFF -DGQ_BUILD_BENCH=OFF \
  ${CMAKE_ARGS:-}
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/%/_fuzz}"

mkdir -p "$build/artifacts"
# Scratch files a target writes (the bots file's) go to the build directory, emptied each run.
export TMPDIR="$PWD/$build/tmp"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
for target in "${targets[@]}"; do
  # New inputs go to a scratch corpus; the committed seeds are only read. Standard input is
  # empty: the bots file target may name any path as a token file, /dev/stdin included.
  corpus="$build/corpus/$target"
  mkdir -p "$corpus"
  echo "fuzz: $target for ${seconds} s"
  "$build/tests/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$target-" "$corpus" "tests/fuzz/corpus/$target" \
    < /dev/null 2> "$build/$target.log" || { tail -n 60 "$build/$target.log"; exit 1; }
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$build/$target.log" |
    sed "s/^/fuzz: $target /"
done
