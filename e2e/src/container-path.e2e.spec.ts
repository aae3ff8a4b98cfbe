import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { BUILD_ENV_VARS, CONFIG_FIELDS, RESERVED_ENV_VARS } from '@deepinfer/config';
import { SERVICE_NAMES, type ServiceName } from '@deepinfer/contracts';
import { addonPath } from '@deepinfer/engine';
import { getFreePort, stopProcess } from '@deepinfer/testing';
import { readComposeFile, interpolate, parseComposeFile, type ComposeService } from './support/compose-file.js';
import { contextSourceOf, finalStage, parseDockerfile, type Dockerfile, type DockerStage } from './support/dockerfile.js';
import { GOLDEN_TEXT, MODEL_NAME } from './support/golden.js';
import { REPO_ROOT } from './support/stack.js';

/**
 * The container path without Docker (no engine runs on our machines): docker-compose.yml and
 * each service's Dockerfile are read, and the very commands the containers would run are started
 * as local processes with the very environment they would get (final-stage ENV of the Dockerfile,
 * then compose's environment, which wins), in the repository root standing for the images'
 * WORKDIR. A setting the images or compose carry that the services reject (they exit 2 on an
 * unknown DEEPINFER_* variable) fails here, as it would fail `docker compose up`.
 */

/**
 * What the services accept in a container: settings and reserved variables. Build-time variables
 * (BUILD_ENV_VARS) are passed over by the loader for a developer's shell, but in an image they are
 * a build argument leaking into the run time, and DEEPINFER_DEV_* knobs are not for deployments.
 */
const KNOWN_ENV = new Set<string>([...CONFIG_FIELDS.map((f) => f.envVar), ...RESERVED_ENV_VARS]);
/** Settings that are ports a service listens on (`port`, `apiAdminPort`, …). */
const PORT_ENV = new Set(CONFIG_FIELDS.filter((f) => f.kind === 'int' && /port$/i.test(f.key)).map((f) => f.envVar));

/** Compose interpolates with the shell's environment; none here, so every `${VAR:-default}` takes its default. */
const compose = readComposeFile(path.join(REPO_ROOT, 'docker-compose.yml'), {});

/**
 * What differs from `docker compose up`, all of it, applied by `localize` and `natsCommand` only:
 *  1. the compose host name `nats` is 127.0.0.1 (every container's network is this loopback);
 *  2. every port a container listens on (published and admin ports, nats' client port 4222,
 *     which its image uses by default, and its monitoring port) is a free local port, so the test
 *     cannot collide with anything else on this machine.
 * Facts of the images, not changes: the nats image's entrypoint runs `nats-server` with a command
 * that starts with a flag; the node image's entrypoint runs a command like `node …` unchanged;
 * base images add PATH and HOME, taken from here.
 */
const NATS_DEFAULT_CLIENT_PORT = 4222;
/** Container port -> the free local port standing for it (filled before anything starts). */
const ports = new Map<number, number>();

/** Substitutions 1 and 2 in a string: URLs to `nats` or the loopback, with their ports. */
const localize = (text: string) =>
  text.replace(/(\/\/(?:[^@/\s'"]*@)?)(nats|127\.0\.0\.1|localhost)(?::(\d+))?/g, (_m, prefix: string, host: string, port?: string) => {
    const local = port === undefined ? undefined : (ports.get(Number(port)) ?? Number(port));
    return `${prefix}${host === 'nats' ? '127.0.0.1' : host}${local === undefined ? '' : `:${local}`}`;
  });
const localizeEnv = (env: Record<string, string>) =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, PORT_ENV.has(k) && ports.has(Number(v)) ? String(ports.get(Number(v))) : localize(v)]));

/** The nats command with substitutions 1 and 2: its ports moved, its default client port named. */
const natsCommand = (command: string[]) => {
  const args = command[0]?.startsWith('-') ? ['nats-server', ...command] : [...command];
  for (let i = 1; i < args.length - 1; i++) if (/^(-p|--port|-m|--http_port)$/.test(args[i]!)) args[i + 1] = String(ports.get(Number(args[i + 1])) ?? args[i + 1]);
  if (!args.some((a) => /^(-p|--port)$/.test(a))) args.push('--port', String(ports.get(NATS_DEFAULT_CLIENT_PORT)));
  if (!args.some((a) => /^(-a|--addr|--net)$/.test(a))) args.push('--addr', '127.0.0.1');
  return args;
};

const HOST_ENV = Object.fromEntries(['PATH', 'HOME', 'TMPDIR', 'LANG'].filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));

interface Container {
  name: ServiceName;
  service: ComposeService;
  dockerfile: Dockerfile;
  stage: DockerStage;
  context: string;
  /** ENTRYPOINT + CMD as the container runs them: compose's, else the final stage's. */
  command: string[];
  /** Final-stage ENV, then compose's environment (compose wins). */
  environment: Record<string, string>;
}

function containerOf(name: ServiceName): Container {
  const service = compose.services[name];
  if (!service?.build) throw new Error(`compose service ${name} has no build (the test runs what its Dockerfile builds)`);
  const context = path.resolve(REPO_ROOT, service.build.context);
  const dockerfile = parseDockerfile(fs.readFileSync(path.resolve(context, service.build.dockerfile), 'utf8'), service.build.args);
  const stage = finalStage(dockerfile, service.build.target);
  const command = [...(service.entrypoint ?? stage.entrypoint ?? []), ...(service.command ?? stage.cmd ?? [])];
  return { name, service, dockerfile, stage, context, command, environment: { ...stage.env, ...service.environment } };
}

const containers = SERVICE_NAMES.map(containerOf);
const deepinferNames = (env: Record<string, string>) => Object.keys(env).filter((k) => k.startsWith('DEEPINFER_'));

describe('the compose and Dockerfile readers', () => {
  it('interpolate like compose', () => {
    const env = { SET: 'v', EMPTY: '' };
    expect(interpolate('${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET:-${SET}} $SET $$SET ${SET:+alt} ${UNSET+alt}', env)).toBe('v d  d v v $SET alt ');
    expect(() => interpolate('${UNSET:?needed}', env)).toThrow(/UNSET/);
    const file = parseComposeFile('x: &e {A: "${A:-1}"}\nservices:\n  s:\n    environment: {<<: *e, B: two}\n    command: node "a b"\n    healthcheck: {test: curl x}\n    ports: ["127.0.0.1:80:8080/tcp"]\n');
    expect(file.services['s']).toMatchObject({ environment: { A: '1', B: 'two' }, command: ['node', 'a b'], healthcheck: { test: ['CMD-SHELL', 'curl x'] }, ports: [{ target: 8080, published: 80, hostIp: '127.0.0.1' }] });
  });

  it('read stages, ARG and ENV scopes, COPY and exec forms like Docker', () => {
    const file = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'ARG V=1',
        'FROM img:${V} AS build',
        'ARG B="x y"',
        'ENV A=$B \\',
        '    # a comment inside a continuation',
        '    C="q r"',
        'WORKDIR /app',
        'COPY . .',
        'FROM build AS final',
        'ENV D=${A:-none}',
        'COPY --from=build /app/lib ./lib/',
        'HEALTHCHECK --interval=5s CMD ["node", "h.mjs"]',
        'CMD node main.js',
      ].join('\n'),
      { B: 'z' },
    );
    const final = finalStage(file);
    expect(file.stages[0]).toMatchObject({ name: 'build', from: 'img:1', env: { A: 'z', C: 'q r' } });
    expect(final).toMatchObject({ baseImage: 'img:1', workdir: '/app', env: { A: 'z', C: 'q r', D: 'z' }, ownEnv: ['D'], cmd: ['/bin/sh', '-c', 'node main.js'] });
    expect(final.healthcheck).toEqual({ command: ['node', 'h.mjs'], options: { interval: '5s' } });
    expect(contextSourceOf(file, final, '/app/lib/x.js', (p) => p === 'lib' || p === '.')).toMatchObject({ contextPath: 'lib/x.js' });
    expect(contextSourceOf(file, final, '/etc/x', () => true)).toBeUndefined();
  });
});

describe.each(containers.map((c) => [c.name, c] as const))('the %s container, as compose and its Dockerfile define it', (_name, c) => {
  it('carries only DEEPINFER_* variables the services know (settings or reserved)', () => {
    expect({ finalStageEnv: deepinferNames(c.stage.env).filter((k) => !KNOWN_ENV.has(k)), composeEnv: deepinferNames(c.service.environment).filter((k) => !KNOWN_ENV.has(k)) }).toEqual({
      finalStageEnv: [],
      composeEnv: [],
    });
  });

  it('carries no build-time variable (those are build arguments of the image)', () => {
    const build = new Set<string>(BUILD_ENV_VARS);
    expect([...Object.keys(c.stage.env), ...Object.keys(c.service.environment)].filter((k) => build.has(k))).toEqual([]);
  });

  it('publishes only ports it is configured to listen on (so the test can move them all)', () => {
    const own = Object.entries(c.service.environment).filter(([k]) => PORT_ENV.has(k)).map(([, v]) => Number(v));
    expect(own).toContain(Number(c.environment[`DEEPINFER_${c.name.toUpperCase()}_ADMIN_PORT`]));
    expect(c.service.ports.map((p) => p.target).filter((p) => !own.includes(p))).toEqual([]);
  });

  it('has in its final stage, copied from what the build leaves here, everything its command loads', () => {
    const missing = runtimeFilesOf(c)
      .map((file) => {
        const found = contextSourceOf(c.dockerfile, c.stage, path.posix.join(c.stage.workdir, file), (p) => isDirectory(path.join(c.context, p)));
        if (!found) return `${file}: no COPY of the final stage puts it in ${c.stage.workdir}`;
        return fs.existsSync(path.join(c.context, found.contextPath)) ? undefined : `${file}: ${found.contextPath} does not exist after the build (COPY on line ${found.copy.line})`;
      })
      .filter(Boolean);
    expect(missing).toEqual([]);
  });
});

describe('docker compose up, as local processes', () => {
  const natsSpec = compose.services['nats']!;
  const running: Running[] = [];
  let apiPort: number;

  beforeAll(async () => {
    // Every port a container listens on: nats' client and monitoring ports, and the port settings
    // compose gives the services. Two containers on one port cannot both run on one machine.
    const natsArgs = natsSpec.command ?? [];
    const listening = [NATS_DEFAULT_CLIENT_PORT, ...natsArgs.filter((_, i) => /^(-m|--http_port)$/.test(natsArgs[i - 1] ?? '')).map(Number)];
    for (const c of containers) listening.push(...Object.entries(c.service.environment).filter(([k]) => PORT_ENV.has(k)).map(([, v]) => Number(v)));
    expect(listening.length).toBe(new Set(listening).size);
    for (const p of listening) ports.set(p, await getFreePort());

    const natsEnv = { ...HOST_ENV, ...localizeEnv(natsSpec.environment) };
    running.push(launch('nats', natsCommand(natsArgs), natsEnv));
    await waitHealthy(running[0]!, natsSpec, natsEnv);

    const envs = containers.map((c) => ({ ...HOST_ENV, ...localizeEnv(c.environment) }));
    containers.forEach((c, i) => running.push(launch(c.name, c.command.map(localize), envs[i]!)));
    await Promise.all(containers.map((c, i) => waitHealthy(running[i + 1]!, c.service, envs[i]!)));

    // The client uses the API port compose publishes (the container port DEEPINFER_PORT names).
    const api = compose.services['api']!;
    const published = api.ports.find((p) => p.target === Number(api.environment['DEEPINFER_PORT']));
    expect(published).toBeDefined();
    apiPort = ports.get(published!.target)!;
  }, 150000);

  afterAll(async () => {
    for (const r of running.slice(1).reverse()) await stopProcess(r.child);
    if (running[0]) await stopProcess(running[0].child);
  });

  it("fails a service's healthcheck when nothing answers on its admin port", async () => {
    const api = containers.find((c) => c.name === 'api')!;
    const idle = { ...HOST_ENV, ...localizeEnv(api.environment), DEEPINFER_API_ADMIN_PORT: String(await getFreePort()) };
    expect((await run(api.service.healthcheck!.test.slice(1).map(localize), idle, 10000)).code).toBe(1);
  });

  it('serves the golden greedy story through the published API port with the openai client', async () => {
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${apiPort}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
    const completion = await client.completions.create({ model: MODEL_NAME, prompt: '', max_tokens: 200, temperature: 0 });
    expect(completion.choices[0]!.text).toBe(GOLDEN_TEXT);
    expect(completion.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 200 });
  });

  it('serves the console page and the API docs (files the build copies, not code)', async () => {
    for (const route of ['/console', '/console/assets/console.js', '/docs', '/console/assets/docs.js', '/openapi.json']) {
      expect({ route, status: (await fetch(`http://127.0.0.1:${apiPort}${route}`)).status }).toEqual({ route, status: 200 });
    }
  });
});

interface Running {
  name: string;
  child: ChildProcess;
  output(): string;
}

function launch(name: string, command: string[], env: Record<string, string>): Running {
  const child = spawn(command[0]!, command.slice(1), { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  child.on('error', (err) => (text += `\n${name}: cannot start ${command[0]}: ${err.message}`));
  return { name, child, output: () => text };
}

/**
 * Runs the compose healthcheck's `test` (with the substitutions) in the service's environment
 * until it exits 0; fails at once, with the service's output, when the service exits first.
 */
async function waitHealthy(r: Running, service: ComposeService, env: Record<string, string>, timeoutMs = 120000): Promise<void> {
  const test = service.healthcheck?.test;
  if (!test || test[0] === 'NONE') throw new Error(`${r.name} has no compose healthcheck`);
  const argv = test[0] === 'CMD' ? test.slice(1).map(localize) : test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', localize(test[1]!)] : undefined;
  if (!argv) throw new Error(`${r.name}: unsupported healthcheck test ${JSON.stringify(test)}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (r.child.exitCode !== null || r.child.signalCode !== null) {
      throw new Error(`${r.name} exited with ${r.child.exitCode ?? r.child.signalCode} before its healthcheck passed (\`${argv.join(' ')}\`); its output:\n${r.output()}`);
    }
    const probe = await run(argv, env, 5000);
    if (probe.code === 0) return;
    if (Date.now() > deadline) throw new Error(`${r.name}: healthcheck \`${argv.join(' ')}\` still failing after ${timeoutMs} ms: ${probe.output}\n--- ${r.name} output ---\n${r.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function run(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => (clearTimeout(timer), resolve({ code: null, output: `cannot run ${argv[0]}: ${err.message}` })));
    child.on('close', (code) => (clearTimeout(timer), resolve({ code, output })));
  });
}

/**
 * What a container's command loads at run time, relative to the WORKDIR: the entry script, the
 * root package.json (the version), configs/, the workspace packages it depends on (package.json
 * and entry file) and their npm dependencies, the native addon when the engine is among them,
 * and the model the environment names when it is a relative path.
 */
function runtimeFilesOf(c: Container): string[] {
  const entry = c.command.find((a) => a.endsWith('.js'));
  if (!entry) throw new Error(`${c.name}: no .js entry in ${JSON.stringify(c.command)}`);
  const files = new Set<string>([path.posix.normalize(entry), 'package.json', 'configs/default.yaml']);
  const readPkg = (dir: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, dir, 'package.json'), 'utf8')) as { name: string; main?: string; exports?: { '.': { default: string } }; dependencies?: Record<string, string> };
  const rootPkg = readPkg('.');
  const npmDeps = new Set(Object.keys(rootPkg.dependencies ?? {}));
  const seen = new Set<string>();
  const visit = (dir: string) => {
    const pkg = readPkg(dir);
    if (seen.has(pkg.name)) return;
    seen.add(pkg.name);
    files.add(`${dir}/package.json`);
    const main = pkg.exports?.['.']?.default ?? pkg.main;
    if (main) files.add(path.posix.join(dir, main));
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      if (dep.startsWith('@deepinfer/')) visit(path.relative(REPO_ROOT, fs.realpathSync(path.join(REPO_ROOT, 'node_modules', dep))));
      else npmDeps.add(dep);
    }
  };
  visit(path.posix.dirname(path.posix.dirname(path.posix.normalize(entry))));
  for (const dep of npmDeps) files.add(`node_modules/${dep}/package.json`);
  if (seen.has('@deepinfer/engine')) files.add(path.relative(REPO_ROOT, addonPath()));
  // The api serves the console's and the docs' pages from files, not from code it imports.
  if (seen.has('@deepinfer/app-api')) for (const page of ['index.html', 'docs.html', 'console.js']) files.add(`apps/api/dist/console/static/${page}`);
  const model = c.environment['DEEPINFER_MODEL'];
  if (model && !path.isAbsolute(model) && fs.existsSync(path.join(REPO_ROOT, model))) files.add(`${path.posix.normalize(model)}/config.json`);
  return [...files];
}

function isDirectory(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
