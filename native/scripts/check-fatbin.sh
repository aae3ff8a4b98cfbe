#!/usr/bin/env bash
# Checks that a CUDA library/object embeds machine code (ELF) for each expected architecture:
#   check-fatbin.sh <lib or object> sm_89 sm_90 sm_120 ...
# Exit 77 (ctest: skipped) when cuobjdump is not available.
set -euo pipefail
lib="$1"; shift
tool="$(command -v cuobjdump || true)"
[ -z "$tool" ] && [ -x /usr/local/cuda/bin/cuobjdump ] && tool=/usr/local/cuda/bin/cuobjdump
if [ -z "$tool" ]; then
  echo "SKIP: cuobjdump not found (install the CUDA toolkit's cuobjdump to check $lib)"
  exit 77
fi
listing="$("$tool" --list-elf "$lib" 2>&1 || true)"
echo "$listing" | head -20
missing=0
for sm in "$@"; do
  if ! grep -q "\.${sm}\." <<<"$listing"; then
    echo "MISSING: no ${sm} ELF in $lib" >&2
    missing=1
  else
    echo "ok: ${sm}"
  fi
done
exit $missing
