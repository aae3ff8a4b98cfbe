export * from './engine.errors.js';
export type * from './engine.types.js';
export { Engine, loadEngine, cpuKernelPath } from './engine.js';
export { NATIVE_ADDON_ENV, addonPath } from './native-addon.loader.js';
export * from './kv-cache-blocks.js';
export * from './block-allocator.js';
export * from './generate.js';
export * from './step-samples.js';
export * from './engine-settings.js';
