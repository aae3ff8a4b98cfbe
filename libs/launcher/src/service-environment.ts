import { CONFIG_FIELDS } from '@deepinfer/config';

const SETTING_ENV_VARS = new Set(CONFIG_FIELDS.map((f) => f.envVar));

/**
 * The environment of a service started by `deepinfer serve`: the launcher's own, minus every
 * setting variable, plus the resolved configuration file. The launcher has already folded the
 * environment (and flags, file and hardware profile) into that file; passing the variables on
 * as well would let them override it in the child (environment > file), so a flag such as
 * `--nats-url` would reach the launcher but not the services. Variables that are not settings
 * (DEEPINFER_NATIVE_ADDON, DEEPINFER_DEV_*, HF_*, CUDA_VISIBLE_DEVICES …) pass through.
 */
export function serviceEnvironment(parent: NodeJS.ProcessEnv, resolvedConfigFile: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(parent).filter(([name]) => !SETTING_ENV_VARS.has(name)));
  return { ...env, DEEPINFER_CONFIG: resolvedConfigFile, DEEPINFER_SUPERVISED: '1' };
}
