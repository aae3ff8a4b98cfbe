#!/usr/bin/env bash
# Standalone GPU validation of the CUDA backend (no Node, no internet). Needs: an NVIDIA GPU
# and driver, CMake >= 3.18, nvcc (CUDA >= 12.8 for sm_120), python3 with torch, transformers
# and safetensors; cuBLAS (libcublas.so.12/13) on the loader path for full speed (else the
# fallback GEMM is used and the benchmark says so).
#
#   native/scripts/gpu-check.sh            # build (sm_90 by default), tests, cross-check, bench
# Env: DEEPINFER_CUDA_ARCHITECTURES (default 90-real: for validation on H100/H200; use
#      120-real on an RTX 5090, 89-real on a 4090), BUILD_DIR (default native/build-gpu),
#      JOBS, OUT (results folder: log and table written there), SKIP_BENCH=1, SKIP_HF=1,
#      BENCH_BATCHES (default 1,32,128,256), HF_BASELINE=0 to skip the transformers timing.
# Results: $OUT/gpu-check.log (everything), $OUT/gpu-check-summary.txt (the table);
# without OUT they go to native/build-gpu/.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$here/build-gpu}"
out="${OUT:-$build}"
mkdir -p "$out" "$build"
log="$out/gpu-check.log"
summary="$out/gpu-check-summary.txt"
: >"$log"
: >"$summary"
exec > >(tee -a "$log") 2>&1
start=$(date +%s)
step() { echo; echo "=== [$(( $(date +%s) - start ))s] $*"; }
status=0
fail() { echo "FAILED: $*"; echo "FAILED: $*" >>"$summary"; status=1; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || fail "nvidia-smi"
nvcc --version | tail -2
python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)" || echo "(python torch/transformers missing: the cross-check and the baseline will fail)"

step "build (CUDA architectures ${DEEPINFER_CUDA_ARCHITECTURES:-90-real})"
export DEEPINFER_CUDA_ARCHITECTURES="${DEEPINFER_CUDA_ARCHITECTURES:-90-real}"
if ! cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDEEPINFER_CUDA=ON \
     -DCMAKE_CUDA_ARCHITECTURES="$DEEPINFER_CUDA_ARCHITECTURES"; then
  fail "cmake configure"; exit 1
fi
if ! cmake --build "$build" -j "${JOBS:-$(nproc)}"; then fail "build"; exit 1; fi

step "C++ tests (ctest; test_cuda runs on the GPU)"
if ! ctest --test-dir "$build" --output-on-failure -j 2 --timeout 600; then fail "ctest"; fi
# The GPU test's own report (errors per fixture, sampler agreement, memory plan).
"$build/tests/test_cuda" || fail "test_cuda"
echo "ctest: see above" >>"$summary"

if [ "${SKIP_HF:-0}" != "1" ]; then
  step "transformers cross-check (random Llama and Qwen2, bf16 safetensors)"
  python3 "$here/scripts/gpu_check_hf.py" crosscheck --tool "$build/deepinfer-cuda-check" --work "$build/hf-models" \
    --summary "$summary" || fail "transformers cross-check"
fi

if [ "${SKIP_BENCH:-0}" != "1" ]; then
  step "benchmark: random bf16 weights of Llama-3.1-8B's shape (in memory)"
  cfgdir="$build/llama31-8b-shape"
  python3 "$here/scripts/gpu_check_hf.py" write-config --out "$cfgdir" || fail "write config"
  "$build/deepinfer-cuda-check" bench "$cfgdir" --batches "${BENCH_BATCHES:-1,32,128,256}" --context 512 \
      --decode-steps 32 --prefill 2048 | tee "$build/bench-deepinfer.txt" || fail "deepinfer bench"
  if [ "${HF_BASELINE:-1}" != "0" ]; then
    step "benchmark: the same workload through transformers"
    python3 "$here/scripts/gpu_check_hf.py" bench --config "$cfgdir" --batches "${BENCH_BATCHES:-1,32,128,256}" \
      --context 512 --decode-steps 32 --prefill 2048 | tee "$build/bench-hf.txt" || fail "transformers bench"
  fi
  python3 "$here/scripts/gpu_check_hf.py" table --ours "$build/bench-deepinfer.txt" --hf "$build/bench-hf.txt" \
    | tee -a "$summary"
fi

step "done in $(( $(date +%s) - start ))s (status $status)"
echo "log: $log"
echo "summary: $summary"
cat "$summary"
exit $status
