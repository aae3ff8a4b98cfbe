import path from 'node:path';
import { matchHardwareProfile, type GpuDetection, type HardwareProfile } from '@deepinfer/gpu';
import { ConfigError } from './config-error.js';
import { applyDefaultsWhereUnset, readConfigFile, type ResolvedConfig } from './config-loader.js';
import { configsDir } from './configs-dir.js';
import type { ConfigKey } from './deepinfer-config.js';

export interface AppliedProfile {
  profile: HardwareProfile;
  /** The settings the profile set (the user had set none of them), with their new values. */
  applied: Partial<Record<ConfigKey, unknown>>;
}

/**
 * Applies the hardware profile of the detected GPU (exact name match, see @deepinfer/gpu) to the
 * settings the user did not set. Returns undefined when no profile matches or there is no GPU.
 */
export function applyHardwareProfile(resolved: ResolvedConfig, detection: GpuDetection, dir = configsDir()): AppliedProfile | undefined {
  if (!detection.available) return undefined;
  const profile = matchHardwareProfile(detection.gpus);
  if (!profile) return undefined;
  const file = readConfigFile(path.join(dir, profile.configFile));
  if (file.problems.length > 0) throw new ConfigError(file.problems);
  const keys = applyDefaultsWhereUnset(resolved, file.values, { kind: 'profile', detail: profile.id });
  return { profile, applied: Object.fromEntries(keys.map((k) => [k, resolved.config[k]])) };
}
