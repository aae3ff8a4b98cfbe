import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineNotBuiltError } from './engine.errors.js';
import type { NativeAddon } from './native-addon.types.js';

/** Points at a built `deepinfer_native.node` elsewhere (a container image, a custom build). */
export const NATIVE_ADDON_ENV = 'DEEPINFER_NATIVE_ADDON';

/**
 * Where node-gyp puts the addon: <repo>/native/binding/build/Release/deepinfer_native.node. This
 * file sits at libs/engine/{src,dist}/, three levels under the repository root, in both the
 * sources (jest) and the build; node resolves the node_modules symlink to this real path.
 */
export function defaultAddonPath(): string {
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  return path.join(repoRoot, 'native/binding/build/Release/deepinfer_native.node');
}

export function addonPath(): string {
  const fromEnv = process.env[NATIVE_ADDON_ENV];
  return fromEnv ? path.resolve(fromEnv) : defaultAddonPath();
}

let cached: { path: string; addon: NativeAddon } | undefined;

/**
 * Loads the addon on first use (importing this library never needs it, so `deepinfer --help`
 * works without a native build). Throws EngineNotBuiltError saying how to build it.
 */
export function loadNativeAddon(): NativeAddon {
  const file = addonPath();
  if (cached?.path === file) return cached.addon;
  if (!fs.existsSync(file)) {
    throw new EngineNotBuiltError(
      `the native engine is not built: ${file} does not exist. Build it with \`npx nx run @deepinfer/native:build\` ` +
        '(or `npm run build` at the repository root); it needs cmake, make, g++ and python3. ' +
        `Or set ${NATIVE_ADDON_ENV} to a built deepinfer_native.node.`,
    );
  }
  const addon = createRequire(import.meta.url)(file) as NativeAddon;
  cached = { path: file, addon };
  return addon;
}
