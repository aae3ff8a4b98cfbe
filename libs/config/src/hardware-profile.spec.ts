import path from 'node:path';
import type { GpuDetection, GpuInfo } from '@deepinfer/gpu';
import { applyHardwareProfile } from './hardware-profile.js';
import { loadConfig } from './config-loader.js';
import { configsDir } from './configs-dir.js';
import { DeepInferConfig } from './deepinfer-config.js';

const gpu = (name: string): GpuInfo => ({
  index: 0, name, uuid: null, memoryTotalMiB: 32607, memoryFreeMiB: 32000, memoryUsedMiB: 607,
  driverVersion: '575.51', computeCapability: '12.0', utilizationPercent: 0, temperatureC: 40,
});
const detected = (...names: string[]): GpuDetection => ({ available: true, gpus: names.map((n, i) => ({ ...gpu(n), index: i })) });

describe('configs/', () => {
  it('default.yaml holds exactly the built-in defaults', () => {
    const fromFile = loadConfig({ configFile: path.join(configsDir(), 'default.yaml'), env: {} }).config;
    expect({ ...fromFile }).toEqual({ ...new DeepInferConfig() });
  });

  it.each(['nvidia_5090.yaml', 'nvidia_4090.yaml'])('%s is a valid configuration file', (name) => {
    expect(() => loadConfig({ configFile: path.join(configsDir(), name), env: {} })).not.toThrow();
  });
});

describe('applyHardwareProfile', () => {
  it('applies the RTX 5090 profile to an RTX 5090, only where the user set nothing', () => {
    const resolved = loadConfig({ env: { DEEPINFER_MAX_NUM_SEQS: '128' } });
    const result = applyHardwareProfile(resolved, detected('NVIDIA GeForce RTX 5090'));
    expect(result?.profile.id).toBe('nvidia_5090');
    expect(result?.applied).toMatchObject({ maxNumBatchedTokens: 8192, device: 'cuda' });
    expect(result?.applied).not.toHaveProperty('maxNumSeqs');
    expect(resolved.config.maxNumSeqs).toBe(128);
    expect(resolved.config.maxNumBatchedTokens).toBe(8192);
  });

  it.each(['NVIDIA GeForce RTX 5090 D', 'NVIDIA GeForce RTX 5080', 'NVIDIA H100 80GB HBM3'])('applies nothing to %s', (name) => {
    const resolved = loadConfig({ env: {} });
    expect(applyHardwareProfile(resolved, detected(name))).toBeUndefined();
    expect({ ...resolved.config }).toEqual({ ...new DeepInferConfig() });
  });

  it('applies nothing without a GPU', () => {
    expect(applyHardwareProfile(loadConfig({ env: {} }), { available: false, reason: 'nvidia-smi not found' })).toBeUndefined();
  });

  it('uses the 4090 profile for a 4090', () => {
    const resolved = loadConfig({ env: {} });
    expect(applyHardwareProfile(resolved, detected('NVIDIA GeForce RTX 4090'))?.profile.id).toBe('nvidia_4090');
    expect(resolved.config.maxNumSeqs).toBe(256);
  });
});
