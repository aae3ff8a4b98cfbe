import { loadEngine } from './engine.js';
import { EngineNotBuiltError } from './engine.errors.js';
import { NATIVE_ADDON_ENV, defaultAddonPath } from './native-addon.loader.js';

describe('native addon loader', () => {
  const saved = process.env[NATIVE_ADDON_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[NATIVE_ADDON_ENV];
    else process.env[NATIVE_ADDON_ENV] = saved;
  });

  it('finds the addon built by node-gyp in native/binding/build/Release', () => {
    expect(defaultAddonPath()).toMatch(/native\/binding\/build\/Release\/deepinfer_native\.node$/);
  });

  it('says exactly how to build the addon when it is missing', async () => {
    process.env[NATIVE_ADDON_ENV] = '/nonexistent/deepinfer_native.node';
    const failure = loadEngine({ model: 'models/stories260k' });
    await expect(failure).rejects.toBeInstanceOf(EngineNotBuiltError);
    await expect(failure).rejects.toThrow(
      'the native engine is not built: /nonexistent/deepinfer_native.node does not exist. Build it with `npx nx run @deepinfer/native:build`',
    );
  });
});
