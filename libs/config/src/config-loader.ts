import 'reflect-metadata';
import fs from 'node:fs';
import { validateSync } from 'class-validator';
import { parseDocument } from 'yaml';
import { CONFIG_FIELDS, ENV_PREFIX, fieldByYamlKey, fieldOf, type ConfigField } from './config-fields.js';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { DeepInferConfig, type ConfigKey } from './deepinfer-config.js';

/** Where a setting's value came from. Later kinds override earlier ones: default < profile < file < env < flag. */
export type ConfigSourceKind = 'default' | 'profile' | 'file' | 'env' | 'flag';

export interface ConfigSource {
  kind: ConfigSourceKind;
  /** The file path, environment variable, flag or profile id. */
  detail?: string;
}

export interface ResolvedConfig {
  config: DeepInferConfig;
  sources: Record<ConfigKey, ConfigSource>;
}

export interface LoadConfigOptions {
  /** A YAML file; defaults to $DEEPINFER_CONFIG when that is set. */
  configFile?: string;
  /** Environment to read DEEPINFER_* from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Command-line values by setting key, as a flag parser gives them (strings or booleans). */
  flags?: Partial<Record<ConfigKey, unknown>>;
}

/**
 * Environment variables with the DEEPINFER_ prefix that are not settings. DEEPINFER_NATIVE_ADDON
 * points libs/engine at a built deepinfer_native.node (deployment plumbing, not a setting).
 */
export const RESERVED_ENV_VARS = ['DEEPINFER_CONFIG', 'DEEPINFER_CONFIGS_DIR', 'DEEPINFER_SUPERVISED', 'DEEPINFER_NATIVE_ADDON', 'DEEPINFER_REPLICA_ID'] as const;

/**
 * Variables read when the engine is BUILT (native/scripts/build.sh and CMake), never by a
 * running service. Images pass them as build arguments only; a developer shell that built the
 * engine may still export them, so the loader passes over them instead of refusing them.
 */
export const BUILD_ENV_VARS = ['DEEPINFER_CUDA_ARCHITECTURES'] as const;

/**
 * Developer knobs read by the native engine itself (`DEEPINFER_DEV_CPU_KERNELS`,
 * `DEEPINFER_DEV_CPU_SERIAL_MACS`: forcing a kernel path or the serial threshold in tests and
 * benchmarks; native/README.md). Not settings, and not for deployments.
 */
export const DEV_ENV_PREFIX = 'DEEPINFER_DEV_';

/**
 * Read by clients of a server (examples/: `DEEPINFER_URL`, where the server is), never by a
 * service: a shell that runs the examples and `deepinfer serve` may export both.
 */
export const CLIENT_ENV_VARS = ['DEEPINFER_URL'] as const;

/** True for a DEEPINFER_* variable that is not a setting on purpose (see the lists above). */
export function isNonSettingEnvVar(name: string): boolean {
  return (RESERVED_ENV_VARS as readonly string[]).includes(name) || (BUILD_ENV_VARS as readonly string[]).includes(name) || (CLIENT_ENV_VARS as readonly string[]).includes(name) || name.startsWith(DEV_ENV_PREFIX);
}

/**
 * Builds the configuration: defaults < YAML file < environment < flags. Validates everything
 * and throws one ConfigError listing every invalid field (name, value, source, what is allowed).
 */
export function loadConfig(options: LoadConfigOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const config = new DeepInferConfig();
  const sources = Object.fromEntries(CONFIG_FIELDS.map((f) => [f.key, { kind: 'default' }])) as Record<ConfigKey, ConfigSource>;
  const problems: ConfigProblem[] = [];

  const configFile = options.configFile ?? env['DEEPINFER_CONFIG'];
  if (configFile) {
    const file = readConfigFile(configFile);
    problems.push(...file.problems);
    for (const [key, raw] of Object.entries(file.values) as [ConfigKey, unknown][]) {
      coerceInto(config, sources, fieldOf(key), raw, { kind: 'file', detail: configFile }, problems);
    }
  }

  for (const [name, raw] of Object.entries(env)) {
    // An empty variable is unset (compose passes `${VAR:-}` through), never an explicit choice.
    if (!name.startsWith(ENV_PREFIX) || raw === undefined || raw === '' || isNonSettingEnvVar(name)) continue;
    const field = CONFIG_FIELDS.find((f) => f.envVar === name);
    if (!field) {
      problems.push({ field: name, value: raw, source: 'the environment', allowed: `unknown setting${suggest(name.slice(ENV_PREFIX.length).toLowerCase())}` });
      continue;
    }
    coerceInto(config, sources, field, raw, { kind: 'env', detail: name }, problems);
  }

  for (const [key, raw] of Object.entries(options.flags ?? {})) {
    if (raw === undefined) continue;
    const field = fieldOf(key as ConfigKey);
    if (!field) {
      problems.push({ field: key, value: raw, source: 'the command line', allowed: 'unknown setting' });
      continue;
    }
    coerceInto(config, sources, field, raw, { kind: 'flag', detail: field.flag }, problems);
  }

  problems.push(...validateRanges(config, sources, problems));
  if (problems.length > 0) throw new ConfigError(problems);
  return { config, sources };
}

/** True when the user chose this value (file, environment or flag), not a default or profile. */
export function isExplicit(resolved: ResolvedConfig, key: ConfigKey): boolean {
  const kind = resolved.sources[key].kind;
  return kind === 'file' || kind === 'env' || kind === 'flag';
}

/**
 * Sets `values` only where the user did not choose a value (used by hardware profiles), and
 * returns the keys it set. The result is validated like everything else.
 */
export function applyDefaultsWhereUnset(resolved: ResolvedConfig, values: Partial<Record<ConfigKey, unknown>>, source: ConfigSource): ConfigKey[] {
  const applied: ConfigKey[] = [];
  const problems: ConfigProblem[] = [];
  for (const [key, value] of Object.entries(values) as [ConfigKey, unknown][]) {
    if (isExplicit(resolved, key)) continue;
    coerceInto(resolved.config, resolved.sources, fieldOf(key), value, source, problems);
    applied.push(key);
  }
  problems.push(...validateRanges(resolved.config, resolved.sources, problems));
  if (problems.length > 0) throw new ConfigError(problems);
  return applied;
}

/** Reads a YAML settings file into typed values by key, collecting (not throwing) problems. */
export function readConfigFile(path: string): { values: Partial<Record<ConfigKey, unknown>>; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    return { values: {}, problems: [{ field: '(file)', value: path, source: path, allowed: `cannot read the file: ${(err as Error).message}` }] };
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    return { values: {}, problems: [{ field: '(file)', value: path, source: path, allowed: `not valid YAML: ${doc.errors[0]!.message}` }] };
  }
  const data: unknown = doc.toJS() ?? {};
  if (typeof data !== 'object' || Array.isArray(data) || data === null) {
    return { values: {}, problems: [{ field: '(file)', value: data, source: path, allowed: 'a YAML mapping of setting names to values' }] };
  }
  const values: Partial<Record<ConfigKey, unknown>> = {};
  for (const [yamlKey, raw] of Object.entries(data)) {
    const field = fieldByYamlKey(yamlKey);
    if (!field) {
      problems.push({ field: yamlKey, value: raw, source: path, allowed: `unknown setting${suggest(yamlKey)}` });
      continue;
    }
    values[field.key] = raw;
  }
  return { values, problems };
}

/** Marks a field whose value could not be coerced, so range validation does not report it twice. */
const COERCION_FAILED = Symbol('coercion failed');

function coerceInto(config: DeepInferConfig, sources: Record<ConfigKey, ConfigSource>, field: ConfigField, raw: unknown, source: ConfigSource, problems: ConfigProblem[]): void {
  const value = coerce(field, raw);
  sources[field.key] = source;
  if (value === COERCION_FAILED) {
    problems.push({ field: field.yamlKey, value: raw, source: describeSource(source), allowed: `must be ${field.allowed}` });
    (config as unknown as Record<string, unknown>)[field.key] = field.optional ? undefined : new DeepInferConfig()[field.key];
    return;
  }
  (config as unknown as Record<string, unknown>)[field.key] = value;
}

/** Turns a YAML value or a string (environment, flag) into the field's type. */
function coerce(field: ConfigField, raw: unknown): unknown {
  if (raw === null || raw === undefined || raw === '') return field.optional ? undefined : COERCION_FAILED;
  const text = typeof raw === 'string' ? raw.trim() : undefined;
  switch (field.kind) {
    case 'string':
      return typeof raw === 'string' ? raw : COERCION_FAILED;
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const t = text?.toLowerCase();
      if (t === 'true' || t === '1' || t === 'yes' || t === 'on') return true;
      if (t === 'false' || t === '0' || t === 'no' || t === 'off') return false;
      return COERCION_FAILED;
    }
    case 'int':
    case 'int-enum': {
      const n = typeof raw === 'number' ? raw : text !== undefined && /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(n)) return COERCION_FAILED;
      return field.kind === 'int-enum' && !field.choices!.includes(n) ? COERCION_FAILED : n;
    }
    case 'number': {
      const n = typeof raw === 'number' ? raw : text !== undefined && text !== '' ? Number(text) : NaN;
      return Number.isFinite(n) ? n : COERCION_FAILED;
    }
    case 'enum': {
      if (typeof raw !== 'string') return COERCION_FAILED;
      const value = field.aliases?.[raw.trim().toLowerCase()] ?? raw.trim();
      return field.choices!.includes(value) ? value : COERCION_FAILED;
    }
  }
}

function validateRanges(config: DeepInferConfig, sources: Record<ConfigKey, ConfigSource>, already: ConfigProblem[]): ConfigProblem[] {
  const reported = new Set(already.map((p) => p.field));
  return validateSync(config)
    .map((e) => fieldOf(e.property as ConfigKey))
    .filter((f) => !reported.has(f.yamlKey))
    .map((f) => ({ field: f.yamlKey, value: config[f.key], source: describeSource(sources[f.key]), allowed: `must be ${f.allowed}` }));
}

export function describeSource(source: ConfigSource): string {
  switch (source.kind) {
    case 'default':
      return 'the default';
    case 'profile':
      return `hardware profile ${source.detail}`;
    case 'file':
      return source.detail ?? 'the config file';
    case 'env':
      return `environment variable ${source.detail}`;
    case 'flag':
      return `flag ${source.detail}`;
  }
}

function suggest(name: string): string {
  const close = CONFIG_FIELDS.map((f) => ({ f, d: distance(name, f.yamlKey) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(name.length / 4)))
    .sort((a, b) => a.d - b.d)[0];
  return close ? `; did you mean ${close.f.yamlKey}?` : `; known settings: ${CONFIG_FIELDS.map((f) => f.yamlKey).join(', ')}`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
