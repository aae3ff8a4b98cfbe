import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { BUILD_ENV_VARS } from '@deepinfer/config';

// Docker does not run on our machines, so these static checks keep the images honest: the final
// stage of each Dockerfile compose builds is a runtime image, runs as a non-root user, has a
// healthcheck, carries no build argument as an ENV, ships production dependencies only, and
// copies a bounded payload. (e2e/src/container-path.e2e.spec.ts runs the same final stages as
// processes; its Dockerfile reader lives in the e2e project, and projects do not import each
// other's files, so this one is a second, line-level reader of the same syntax.)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The most the final stage of an image may copy from the build context and the build stage,
 * measured on this checkout after `npm ci` and the build (file sizes, not disk blocks): for the
 * executor, production node_modules (~32 MiB), libs/ (~2 MiB), the CPU-only native addon (~8 MiB;
 * a CUDA build adds kernels), the bundled model (~1 MiB) and configs/ come to ~42 MiB. Dev
 * dependencies (~350 MiB in all) or the native build tree (~140 MiB) would not fit.
 */
const PAYLOAD_BOUND_BYTES = 80 * 2 ** 20;

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  name?: string;
  /** FROM, global ARGs substituted. */
  from: string;
  parent?: Stage;
  own: Instruction[];
}

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}

function readDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*(#|$)/.test(lines[i]!)) continue;
    const line = i + 1;
    let joined = lines[i]!;
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, ' ');
      i++;
      while (/^\s*#/.test(lines[i]!) && i + 1 < lines.length) i++; // comments inside a continuation
      joined += lines[i];
    }
    const m = /^\s*(\w+)\s+(.*?)\s*$/.exec(joined)!;
    instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line });
  }
  const globalArgs: Record<string, string> = {};
  const args: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [image, as, name] = ins.args.replace(/--\S+\s+/g, '').replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_m, v: string, d?: string) => globalArgs[v] || d || '').split(/\s+/);
      stages.push({ name: as?.toUpperCase() === 'AS' ? name : undefined, from: image!, parent: stages.find((s) => s.name === image), own: [ins] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      for (const [k, v] of pairs(ins.args)) globalArgs[k] = v ?? '';
      args.push(ins);
    } else {
      stages[stages.length - 1]!.own.push(ins);
      if (ins.keyword === 'ARG') args.push(ins);
    }
  }
  return { args, stages };
}

/** `NAME=value` / `NAME="v w"` / bare `NAME` words of ARG and ENV. */
function pairs(text: string): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  const legacy = /^(\w+)\s+(?!\w+=)(.*)$/.exec(text); // `ENV NAME value`
  if (legacy) return [[legacy[1]!, legacy[2]]];
  for (const m of text.matchAll(/([A-Za-z_]\w*)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/g)) out.push([m[1]!, m[2]?.replace(/^(["'])(.*)\1$/, '$2')]);
  return out;
}

/** The stage's instructions and its parent stages', oldest first. */
const chain = (s: Stage): Instruction[] => [...(s.parent ? chain(s.parent) : []), ...s.own];
const baseImage = (s: Stage): string => (s.parent ? baseImage(s.parent) : s.from);
const last = (s: Stage, keyword: string) => chain(s).filter((i) => i.keyword === keyword).pop();
const envOf = (s: Stage) => chain(s).filter((i) => i.keyword === 'ENV').flatMap((i) => pairs(i.args));

function copiesOf(s: Stage): Copy[] {
  return s.own
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const from = /--from=(\S+)/.exec(i.args)?.[1];
      const words = i.args.replace(/--\S+\s+/g, '').trim();
      const paths = words.startsWith('[') ? (JSON.parse(words) as string[]) : words.split(/\s+/);
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1]! };
    });
}

const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { build?: { context: string; dockerfile: string }; healthcheck?: { test: string[] } }>;
};
const dockerfiles = [...new Set(Object.values(compose.services).flatMap((s) => (s.build ? [s.build.dockerfile] : [])))];

/** Bytes of a file or folder tree here (symbolic links not followed). */
function bytesOf(p: string): number {
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((sum, e) => sum + bytesOf(path.join(p, e)), 0);
}

/** node_modules as `npm prune --omit=dev` leaves it: the lock's non-dev packages, measured here. */
function productionNodeModulesBytes(): number {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; link?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([p, meta]) => p.startsWith('node_modules/') && !meta.dev && !meta.link)
    .reduce((sum, [p]) => {
      const dir = path.join(root, p);
      // Nested node_modules are packages of their own in the lock.
      const nested = path.join(dir, 'node_modules');
      return sum + bytesOf(dir) - (fs.existsSync(nested) ? bytesOf(nested) : 0);
    }, 0);
}

describe.each(dockerfiles)('%s', (dockerfile) => {
  const file = readDockerfile(fs.readFileSync(path.join(root, dockerfile), 'utf8'));
  const final = file.stages[file.stages.length - 1]!;
  const stageNamed = (name: string) => file.stages.find((s) => s.name === name);

  it('builds in stages and runs on a runtime or slim image, never a devel one', () => {
    expect(file.stages.length).toBeGreaterThan(1);
    expect(baseImage(final)).not.toMatch(/devel/);
    expect(baseImage(final)).toMatch(/-runtime-|-slim\b/);
  });

  it('runs as a non-root user, from WORKDIR /app, with a CMD and a HEALTHCHECK', () => {
    const user = last(final, 'USER')?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(last(final, 'WORKDIR')?.args).toBe('/app');
    expect(last(final, 'CMD')?.args).toMatch(/^\[.*\]$/);
    expect(last(final, 'HEALTHCHECK')?.args).toMatch(/\bCMD\b/);
  });

  it('keeps build arguments build-time only: none is an ENV of the final stage', () => {
    const argNames = file.args.flatMap((i) => pairs(i.args).map(([k]) => k));
    const env = envOf(final);
    expect(env.map(([k]) => k).filter((k) => argNames.includes(k) || (BUILD_ENV_VARS as readonly string[]).includes(k))).toEqual([]);
    // Nor smuggled in through a value (ENV X=$DEEPINFER_CUDA_ARCHITECTURES).
    expect(env.filter(([, v]) => argNames.some((a) => new RegExp(`\\$\\{?${a}\\b`).test(v ?? '')))).toEqual([]);
    // A DEEPINFER_* build argument must be one the config library lists as build-time.
    expect(argNames.filter((k) => k.startsWith('DEEPINFER_') && !(BUILD_ENV_VARS as readonly string[]).includes(k))).toEqual([]);
  });

  it('ships production dependencies only', () => {
    const nodeModules = copiesOf(final).find((c) => c.sources.some((s) => /(^|\/)node_modules\/?$/.test(s)));
    expect(nodeModules?.from).toBeDefined();
    const installs = chain(stageNamed(nodeModules!.from!)!).filter((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i|prune)\b/.test(i.args));
    expect(installs.pop()?.args).toMatch(/--omit=dev\b/);
  });

  it(`copies a payload under ${PAYLOAD_BOUND_BYTES / 2 ** 20} MiB from the context and the build`, () => {
    const parts: Record<string, number> = {};
    for (const copy of copiesOf(final)) {
      const fromStage = copy.from === undefined ? undefined : stageNamed(copy.from);
      // A stage that never takes the context holds only what images bring (Node's binary).
      if (copy.from !== undefined && !(fromStage && chain(fromStage).some((i) => i.keyword === 'COPY' && /^\.\s/.test(i.args)))) continue;
      for (const source of copy.sources) {
        let local = source;
        if (fromStage) {
          // The build stage copies the whole context into its WORKDIR, so its /app/x is x here.
          const workdir = last(fromStage, 'WORKDIR')!.args;
          expect(source === workdir || source.startsWith(`${workdir}/`)).toBe(true);
          local = source === workdir ? '.' : source.slice(workdir.length + 1);
        }
        parts[local] = /(^|\/)node_modules\/?$/.test(local) ? productionNodeModulesBytes() : bytesOf(path.join(root, local));
      }
    }
    const total = Object.values(parts).reduce((a, b) => a + b, 0);
    expect({ total, parts, fits: total < PAYLOAD_BOUND_BYTES }).toEqual({ total, parts, fits: true });
    expect(total).toBeGreaterThan(10 * 2 ** 20); // it did find what it copies (node_modules at least)
  });
});

describe('docker/executor.Dockerfile', () => {
  const file = readDockerfile(fs.readFileSync(path.join(root, 'docker/executor.Dockerfile'), 'utf8'));
  const final = file.stages[file.stages.length - 1]!;
  const build = file.stages.find((s) => /^nvidia\/cuda:.*-devel-/.test(s.from));

  it('compiles on a CUDA >= 12.8 devel image (sm_120) and runs on the matching runtime image', () => {
    const devel = /^nvidia\/cuda:(\d+)\.(\d+)(\.\d+)?-devel-(ubuntu[\d.]+)$/.exec(build?.from ?? '');
    expect(devel).not.toBeNull();
    expect(Number(devel![1]) * 100 + Number(devel![2])).toBeGreaterThanOrEqual(1208);
    expect(baseImage(final)).toBe(build!.from.replace('-devel-', '-runtime-'));
  });

  it('takes the CUDA architectures as a build argument of the compiling stage, sm_120 included by default', () => {
    const arg = build!.own.filter((i) => i.keyword === 'ARG').flatMap((i) => pairs(i.args)).find(([k]) => k === 'DEEPINFER_CUDA_ARCHITECTURES');
    expect(arg?.[1]).toMatch(/\b120-real\b/);
    expect(build!.own.some((i) => i.keyword === 'RUN' && /app-executor:build/.test(i.args))).toBe(true);
  });

  it('copies the native addon, not the native build tree', () => {
    const sources = copiesOf(final).flatMap((c) => c.sources);
    expect(sources).toContain('/app/native/binding/build/Release/deepinfer_native.node');
    expect(sources.filter((s) => /native\/?$|native\/build|native\/binding\/?$/.test(s))).toEqual([]);
  });
});

describe('.dockerignore', () => {
  const patterns = fs
    .readFileSync(path.join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  /** Docker's rule: the last matching pattern wins; a pattern also excludes what is under a match. */
  const excluded = (p: string) => {
    let out = false;
    for (const raw of patterns) {
      const negate = raw.startsWith('!');
      const glob = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
      const re = new RegExp(
        '^' + glob.split('/').map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))).join('/').replace(/\.\*\//g, '(?:.*/)?') + '(/.*)?$',
      );
      if (re.test(p)) out = !negate;
    }
    return out;
  };

  it('keeps local installs, build outputs and .git out of the build context', () => {
    const outputs = ['node_modules', 'libs/config/node_modules', '.git', 'apps/api/dist', 'libs/engine/dist/index.js', 'native/build', 'native/build-cuda', 'native/binding/build/Release/deepinfer_native.node', '.nx', 'coverage', 'libs/config/coverage'];
    expect(outputs.filter((p) => !excluded(p))).toEqual([]);
  });

  it('keeps what the images build and copy from the context', () => {
    const needed = ['package.json', 'package-lock.json', '.npmrc', 'nx.json', 'tsconfig.base.json', 'libs/config/src/index.ts', 'apps/executor/src/main.ts', 'native/src/engine.cc', 'native/scripts/build.sh', 'configs/default.yaml', 'models/stories260k/config.json', 'docker/healthcheck.mjs'];
    expect(needed.filter((p) => excluded(p) || !fs.existsSync(path.join(root, p)))).toEqual([]);
  });
});
