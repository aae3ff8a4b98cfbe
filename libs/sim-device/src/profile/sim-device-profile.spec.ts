import { SIM_PROFILE_NAMES, SIM_PROFILES, simProfile } from './sim-device-profile.js';

describe('simulated device profiles', () => {
  it('has one profile per name, each named after its key, with the spec-sheet peaks', () => {
    expect(Object.keys(SIM_PROFILES).sort()).toEqual([...SIM_PROFILE_NAMES].sort());
    for (const name of SIM_PROFILE_NAMES) expect(SIM_PROFILES[name].name).toBe(name);
    expect(SIM_PROFILES.rtx5090).toMatchObject({ deviceName: 'NVIDIA GeForce RTX 5090', memoryBandwidthBytesPerS: 1.792e12, memoryBytes: 32_607 * 2 ** 20 });
    expect(SIM_PROFILES.rtx4090).toMatchObject({ memoryBandwidthBytesPerS: 1.008e12, memoryBytes: 24_564 * 2 ** 20 });
    expect(SIM_PROFILES.h100).toMatchObject({ memoryBandwidthBytesPerS: 3.35e12, matmulFlopsPerS: 989e12 });
    expect(SIM_PROFILES.h200).toMatchObject({ memoryBandwidthBytesPerS: 4.8e12, matmulFlopsPerS: 989e12 });
  });

  it('shares the H200-calibrated efficiencies across cards', () => {
    const calibration = (name: (typeof SIM_PROFILE_NAMES)[number]) => {
      const p = SIM_PROFILES[name];
      return [p.weightStreamEfficiency, p.kvStreamEfficiency, p.matmulEfficiency, p.stepOverheadMs];
    };
    for (const name of SIM_PROFILE_NAMES) expect(calibration(name)).toEqual(calibration('h200'));
  });

  it('returns the profile itself without overrides, and a custom one with any', () => {
    expect(simProfile('h100')).toBe(SIM_PROFILES.h100);
    expect(simProfile('h100', { bandwidthGBps: undefined, tflops: undefined, memoryGib: undefined })).toBe(SIM_PROFILES.h100);
    const custom = simProfile('rtx5090', { bandwidthGBps: 2000, memoryGib: 48 });
    expect(custom).toMatchObject({
      name: 'custom',
      deviceName: 'NVIDIA GeForce RTX 5090',
      memoryBandwidthBytesPerS: 2e12,
      memoryBytes: 48 * 2 ** 30,
      matmulFlopsPerS: SIM_PROFILES.rtx5090.matmulFlopsPerS,
      kvStreamEfficiency: SIM_PROFILES.rtx5090.kvStreamEfficiency,
    });
    expect(simProfile('h200', { tflops: 500 }).matmulFlopsPerS).toBe(500e12);
  });

  it('refuses unknown names and non-positive overrides', () => {
    expect(() => simProfile('a100' as never)).toThrow(/unknown simulated device profile "a100" \(known: rtx5090, rtx4090, h100, h200\)/);
    expect(() => simProfile('h200', { tflops: 0 })).toThrow(/tflops must be a positive number, got 0/);
    expect(() => simProfile('h200', { bandwidthGBps: Number.NaN })).toThrow(/bandwidthGBps/);
  });
});
