#!/usr/bin/env bash
# Scaffolds a workspace package: tools/new-package.sh libs|apps NAME "description" [dep ...]
# Every package has the same four targets (build, typecheck, lint, test) so that
# `nx run-many -t build test lint` covers the whole workspace.
set -euo pipefail
kind=$1; name=$2; desc=$3; shift 3
dir="$(cd "$(dirname "$0")/.." && pwd)/$kind/$name"
mkdir -p "$dir/src"
deps=""
for d in "$@"; do deps="$deps\"@deepinfer/$d\": \"*\", "; done
deps="{${deps%, }}"
pkg="@deepinfer/$name"; [ "$kind" = apps ] && pkg="@deepinfer/app-$name"
cat > "$dir/package.json" <<JSON
{
  "name": "$pkg",
  "version": "0.1.0",
  "description": "$desc",
  "private": true,
  "type": "module",
  "exports": { ".": { "types": "./dist/index.d.ts", "default": "./dist/index.js" } },
  "scripts": {
    "build": "tsc -p tsconfig.lib.json",
    "typecheck": "tsc -p tsconfig.json --noEmit",
    "lint": "eslint src",
    "test": "node --experimental-vm-modules ../../node_modules/jest/bin/jest.js --passWithNoTests=false"
  },
  "dependencies": $deps
}
JSON
cat > "$dir/tsconfig.json" <<'JSON'
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "rootDir": "src", "outDir": "dist", "types": ["node", "jest"] },
  "include": ["src/**/*.ts"]
}
JSON
cat > "$dir/tsconfig.lib.json" <<'JSON'
{
  "extends": "./tsconfig.json",
  "compilerOptions": { "types": ["node"] },
  "exclude": ["src/**/*.spec.ts", "src/test-support/**"]
}
JSON
cat > "$dir/jest.config.js" <<'JS'
import { jestConfig } from '../../jest.preset.js';

export default jestConfig(import.meta.dirname);
JS
[ -f "$dir/src/index.ts" ] || echo "export {};" > "$dir/src/index.ts"
echo "created $dir"
