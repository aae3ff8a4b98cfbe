#!/usr/bin/env bash
# Builds the N-API binding (native/binding → build/Release/deepinfer_native.node) against the
# headers of the Node that runs this script, offline: --nodedir points node-gyp at the installed
# headers (<prefix>/include/node), otherwise it tries to download them. Needs native/build first
# (scripts/build.sh). Env: JOBS (parallel compile jobs; default all cores).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lib="$here/build/libdeepinfer_engine.a"
if [ ! -f "$lib" ]; then
  echo "build-binding: $lib is missing; run native/scripts/build.sh first" >&2
  exit 1
fi
nodedir="$(node -p 'path.dirname(path.dirname(process.execPath))')"
if [ ! -f "$nodedir/include/node/node_api.h" ]; then
  echo "build-binding: no Node headers at $nodedir/include/node (install the nodejs headers, e.g. the libnode-dev package)" >&2
  exit 1
fi
gyp="$here/../node_modules/node-gyp/bin/node-gyp.js"
[ -f "$gyp" ] || gyp="$(node -p 'require.resolve("node-gyp/bin/node-gyp.js")')"
cd "$here/binding"
node "$gyp" rebuild --nodedir="$nodedir" --jobs="${JOBS:-$(nproc)}" --loglevel=warn
