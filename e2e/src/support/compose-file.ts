import fs from 'node:fs';
import { parse } from 'yaml';

/**
 * A reader of docker-compose.yml, enough to know what each service runs: YAML merge keys
 * (`<<: *anchor`), then compose's interpolation of every string value (`$$`, `$VAR`, `${VAR}`,
 * `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?error}`,
 * `${VAR?error}`, nested in defaults), then the short forms normalized (environment lists,
 * string commands and healthchecks, port strings).
 */

export interface ComposeHealthcheck {
  /** ['CMD', …] or ['CMD-SHELL', text]; a string `test` becomes CMD-SHELL; ['NONE'] disables. */
  test: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
}

export interface ComposePort {
  /** The port inside the container. */
  target: number;
  /** The host port, when published to a fixed one. */
  published?: number;
  /** The host address it is published on, when restricted. */
  hostIp?: string;
}

export interface ComposeService {
  name: string;
  image?: string;
  build?: { context: string; dockerfile: string; target?: string; args: Record<string, string> };
  command?: string[];
  entrypoint?: string[];
  /** Only variables with a value; `NAME` without one takes the host's, which is empty here. */
  environment: Record<string, string>;
  ports: ComposePort[];
  healthcheck?: ComposeHealthcheck;
  dependsOn: Record<string, { condition: string }>;
  volumes: string[];
  /** The rest, as parsed (deploy, restart, …). */
  raw: Record<string, unknown>;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
  raw: Record<string, unknown>;
}

/** Reads and interpolates a compose file with `env` standing for the shell (and .env) environment. */
export function readComposeFile(file: string, env: Record<string, string | undefined> = {}): ComposeFile {
  return parseComposeFile(fs.readFileSync(file, 'utf8'), env);
}

export function parseComposeFile(text: string, env: Record<string, string | undefined> = {}): ComposeFile {
  const raw = interpolateTree(parse(text, { merge: true }) ?? {}, env) as Record<string, unknown>;
  const services = Object.fromEntries(
    Object.entries((raw['services'] ?? {}) as Record<string, Record<string, unknown>>).map(([name, s]) => [name, normalizeService(name, s ?? {})]),
  );
  return { services, volumes: (raw['volumes'] ?? {}) as Record<string, unknown>, raw };
}

/** Compose's interpolation of one string. */
export function interpolate(text: string, env: Record<string, string | undefined>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '$') {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '{') {
      const close = matchingBrace(text, i + 1);
      out += substitute(text.slice(i + 2, close), env);
      i = close;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
      if (!m) {
        out += '$';
        continue;
      }
      out += env[m[0]] ?? '';
      i += m[0].length;
    }
  }
  return out;
}

function substitute(expr: string, env: Record<string, string | undefined>): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-+?])(.*))?$/s.exec(expr);
  if (!m) throw new Error(`invalid interpolation \${${expr}}`);
  const [, name, colon, op, word = ''] = m;
  const value = env[name!];
  // With the colon, an empty value counts as unset.
  const set = colon ? value !== undefined && value !== '' : value !== undefined;
  switch (op) {
    case undefined:
      return value ?? '';
    case '-':
      return set ? value! : interpolate(word, env);
    case '+':
      return set ? interpolate(word, env) : '';
    default:
      if (!set) throw new Error(`required variable ${name} is missing a value: ${interpolate(word, env)}`);
      return value!;
  }
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  throw new Error(`unterminated \${ in ${JSON.stringify(text)}`);
}

function interpolateTree(value: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((v) => interpolateTree(v, env));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateTree(v, env)]));
  return value;
}

function normalizeService(name: string, s: Record<string, unknown>): ComposeService {
  const build = s['build'];
  const b = typeof build === 'string' ? { context: build } : (build as { context?: string; dockerfile?: string; target?: string; args?: unknown } | undefined);
  return {
    name,
    image: s['image'] as string | undefined,
    build: b ? { context: b.context ?? '.', dockerfile: b.dockerfile ?? 'Dockerfile', target: b.target, args: keyValues(b.args) } : undefined,
    command: commandOf(s['command']),
    entrypoint: commandOf(s['entrypoint']),
    environment: keyValues(s['environment']),
    ports: ((s['ports'] ?? []) as unknown[]).map(portOf),
    healthcheck: healthcheckOf(s['healthcheck']),
    dependsOn: Array.isArray(s['depends_on'])
      ? Object.fromEntries((s['depends_on'] as string[]).map((d) => [d, { condition: 'service_started' }]))
      : ((s['depends_on'] ?? {}) as Record<string, { condition: string }>),
    volumes: ((s['volumes'] ?? []) as unknown[]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))),
    raw: s,
  };
}

/** A mapping or a `NAME=value` list; entries without a value are left out. */
function keyValues(value: unknown): Record<string, string> {
  if (!value) return {};
  const entries: [string, unknown][] = Array.isArray(value)
    ? (value as string[]).map((e) => (e.includes('=') ? [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] : [e, null]))
    : Object.entries(value as Record<string, unknown>);
  return Object.fromEntries(entries.filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k, String(v)]));
}

function commandOf(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.map(String) : splitCommand(String(value));
}

function healthcheckOf(value: unknown): ComposeHealthcheck | undefined {
  if (!value) return undefined;
  const h = value as Omit<ComposeHealthcheck, 'test'> & { test?: string | string[]; disable?: boolean };
  if (h.disable) return { ...h, test: ['NONE'] };
  if (h.test === undefined) return undefined;
  return { ...h, test: typeof h.test === 'string' ? ['CMD-SHELL', h.test] : h.test.map(String) };
}

/** "8000", "8000:8000", "127.0.0.1:8000:8000", "8000:8000/tcp", or the long syntax. */
function portOf(value: unknown): ComposePort {
  if (typeof value === 'object' && value !== null) {
    const p = value as { target: number | string; published?: number | string; host_ip?: string };
    return { target: Number(p.target), published: p.published === undefined ? undefined : Number(p.published), hostIp: p.host_ip };
  }
  const parts = String(value).replace(/\/(tcp|udp)$/, '').split(':');
  const target = Number(parts.pop());
  const published = parts.length > 0 ? Number(parts.pop()) : undefined;
  return { target, published, hostIp: parts.length > 0 ? parts.join(':') : undefined };
}

/** Compose splits a string command like a shell would, without running one. */
function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
