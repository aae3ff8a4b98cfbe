import { HARDWARE_PROFILES, matchHardwareProfile, profileForGpu } from './hardware-profile.js';
import { parseNvidiaSmiCsv } from './nvidia-smi-csv.parser.js';
import { readCapture } from './test-fixtures/nvidia-smi-capture.fixture.js';

describe('matchHardwareProfile', () => {
  it.each([
    ['rtx-5090', 'nvidia_5090'],
    ['rtx-4090', 'nvidia_4090'],
    ['rtx-5090-d', undefined],
    ['rtx-5080', undefined],
    ['rtx-5090-laptop', undefined],
    ['h100-80gb-hbm3', undefined],
    ['a100-sxm4-80gb', undefined],
    ['not-available-fields', undefined],
  ])('%s → %s', (capture, profileId) => {
    expect(matchHardwareProfile(parseNvidiaSmiCsv(readCapture(capture)))?.id).toBe(profileId);
  });

  it('uses the first listed GPU, the one the engine opens as device 0', () => {
    const gpus = parseNvidiaSmiCsv(readCapture('mixed-4090-4090-5090'));
    expect(matchHardwareProfile(gpus)?.id).toBe('nvidia_4090');
    expect(matchHardwareProfile(gpus.slice(2))?.id).toBe('nvidia_5090');
  });

  it('matches nothing without GPUs', () => {
    expect(matchHardwareProfile([])).toBeUndefined();
  });

  it('matches names exactly, ignoring only surrounding whitespace', () => {
    expect(profileForGpu({ name: '  NVIDIA GeForce RTX 5090 ' })?.id).toBe('nvidia_5090');
    for (const name of ['NVIDIA GeForce RTX 5090 D v2', 'nvidia geforce rtx 5090', 'GeForce RTX 5090', 'NVIDIA GeForce RTX 4090 D', 'NVIDIA GeForce RTX 4090 Laptop GPU']) {
      expect(profileForGpu({ name })).toBeUndefined();
    }
  });

  it('points each profile at its config file', () => {
    expect(HARDWARE_PROFILES.map((profile) => [profile.id, profile.configFile, profile.gpuNames])).toEqual([
      ['nvidia_5090', 'nvidia_5090.yaml', ['NVIDIA GeForce RTX 5090']],
      ['nvidia_4090', 'nvidia_4090.yaml', ['NVIDIA GeForce RTX 4090']],
    ]);
  });
});
