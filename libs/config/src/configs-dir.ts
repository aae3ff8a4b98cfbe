import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's `configs/` folder (default.yaml and the hardware profiles). Found by walking
 * up from this file, which works from sources, from dist/ and inside the Docker images (they
 * copy the repository whole); DEEPINFER_CONFIGS_DIR overrides it.
 */
export function configsDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env['DEEPINFER_CONFIGS_DIR'];
  if (override) return override;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'configs', 'default.yaml');
    if (fs.existsSync(candidate)) return path.dirname(candidate);
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the configs/ folder (set DEEPINFER_CONFIGS_DIR)');
    dir = parent;
  }
}
