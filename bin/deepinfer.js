#!/usr/bin/env node
// The `deepinfer` command. Its code lives in apps/cli; this file only finds the build.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../apps/cli/dist/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('deepinfer: not built yet; run `npm ci && npm run build` in the repository first\n');
  process.exit(1);
}
await import(main);
