#!/bin/bash
# Arbor's `bench` and llama.cpp's `llama-bench` on the same checkpoints, alternately, on this machine (2 threads,
# 512 prompt tokens, 128 decoded, 5 repeats each), so that both see the same minutes of a noisy VM.
#
# usage: benchmarks/llamacpp_peer.sh LLAMA_CPP_DIR ROUNDS MODEL_DIR...
#   LLAMA_CPP_DIR  a llama.cpp source tree; built there (CPU only, -march=native) if build/bin/llama-bench is missing
#   MODEL_DIR      a safetensors checkpoint (e.g. from ref_llama.py make-random); converted once to
#                  benchmarks/out/NAME.gguf by hf_to_gguf.py (needs python3 with numpy)
# Arbor is run from cli/target/arbor.jar (mvn install first). Where DAMON runs and we are root, it is switched off
# for the run and back on afterwards (see BENCHMARKS.md: it stalls a CPU every ~0.5 s).
set -euo pipefail
LCPP=$(realpath "$1"); ROUNDS=$2; shift 2
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(dirname "$HERE"); OUT="$ROOT/benchmarks/out"
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
mkdir -p "$OUT"
if [ ! -x "$LCPP/build/bin/llama-bench" ]; then
  cmake -S "$LCPP" -B "$LCPP/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF > "$OUT/llamacpp-cmake.log"
  cmake --build "$LCPP/build" -j"$(nproc)" --target llama-bench > "$OUT/llamacpp-build.log"
fi
for m in "$@"; do
  name=$(basename "$m")
  [ -f "$OUT/$name.gguf" ] || python3 "$HERE/hf_to_gguf.py" "$m" "$OUT/$name.gguf" "$LCPP/gguf-py"
done
DAMON=/sys/kernel/mm/damon/admin/kdamonds/0/state
if [ -w "$DAMON" ] && [ "$(cat $DAMON)" = on ]; then echo off > $DAMON; trap 'echo on > $DAMON' EXIT; fi
for i in $(seq "$ROUNDS"); do
  for m in "$@"; do
    name=$(basename "$m")
    echo "== arbor $name $(date -u +%H:%M:%S)"
    "$JAVA" -Xmx12g -Xmn128m -XX:+UseParallelGC --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      -jar "$ROOT/cli/target/arbor.jar" bench "$m" --threads 2 --repeats 5 2>&1 | grep -E "^  (prompt|decode|limits) "
    echo "== llama.cpp $name $(date -u +%H:%M:%S)"
    "$LCPP/build/bin/llama-bench" -m "$OUT/$name.gguf" -t 2 -p 512 -n 128 -r 5 2>&1 | grep -E "pp512|tg128"
  done
done
