import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { BUILD_ENV_VARS, CONFIG_FIELDS, DeepInferConfig, RESERVED_ENV_VARS } from '@deepinfer/config';
import { SERVICE_NAMES, type ServiceName } from '@deepinfer/contracts';
import { HUB_ENV_VARS } from '@deepinfer/model-hub';

// Docker does not run on our machines, so this test is what keeps docker-compose.yml true:
// services, ports, environment names and healthchecks must agree with the config library.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, {
    image?: string; build?: { context: string; dockerfile: string }; command?: string[]; ports?: string[];
    environment?: Record<string, string>; healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }>;
    volumes?: string[]; deploy?: { resources: { reservations: { devices: Record<string, unknown>[] } } }; profiles?: string[];
  }>;
  volumes?: Record<string, unknown>;
};
const defaults = new DeepInferConfig();
const adminPortOf: Record<ServiceName, number> = {
  api: defaults.apiAdminPort, tokenizer: defaults.tokenizerAdminPort, scheduler: defaults.schedulerAdminPort, executor: defaults.executorAdminPort,
};
// Settings, plumbing, and the Hugging Face variables the model downloader reads.
const knownEnv = new Set<string>([...CONFIG_FIELDS.map((f) => f.envVar), ...RESERVED_ENV_VARS, ...HUB_ENV_VARS]);

describe('docker-compose.yml', () => {
  it('has nats and the four services, plus a second replica under the gpu2 profile', () => {
    const base = Object.entries(compose.services).filter(([, s]) => !s.profiles).map(([name]) => name);
    expect(base.sort()).toEqual(['nats', ...SERVICE_NAMES].sort());
    const gpu2 = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('gpu2')).map(([name]) => name);
    expect(gpu2.sort()).toEqual(['executor-r1', 'scheduler-r1']);
  });

  it('runs the gpu2 replica as the default pair does, as replica r1 on GPU 1 with admin ports +100', () => {
    for (const service of ['scheduler', 'executor'] as const) {
      const base = compose.services[service]!;
      const r1 = compose.services[`${service}-r1`]!;
      expect(r1.command).toEqual(base.command);
      expect(r1.build).toEqual(base.build);
      expect(r1.depends_on).toEqual(base.depends_on);
      expect(r1.healthcheck?.test).toEqual(base.healthcheck?.test);
      // The same settings, but its own replica id and admin port (distinct from every other port).
      const { DEEPINFER_REPLICA_ID: id, ...env } = r1.environment!;
      const portVar = `DEEPINFER_${service.toUpperCase()}_ADMIN_PORT`;
      expect(id).toBe('r1');
      expect(base.environment!['DEEPINFER_REPLICA_ID']).toBeUndefined(); // r0, replicaIdFrom's default
      expect({ ...env, [portVar]: undefined }).toEqual({ ...base.environment, [portVar]: undefined });
      const port = Number(env[portVar]);
      expect(port).toBe(adminPortOf[service] + 100);
      expect(r1.ports).toEqual([`${port}:${port}`]);
      expect(Object.keys(r1.environment!).filter((k) => !knownEnv.has(k))).toEqual([]);
    }
    expect(compose.services['executor-r1']!.deploy!.resources.reservations.devices).toEqual([{ driver: 'nvidia', device_ids: ['1'], capabilities: ['gpu'] }]);
  });

  it('runs nats from the official image with credentials and a healthcheck, unpublished', () => {
    const nats = compose.services['nats']!;
    expect(nats.image).toMatch(/^nats:/);
    const command = nats.command!;
    // The credentials come from the shell (or .env), with a default for a local test.
    expect(command[command.indexOf('--user') + 1]).toMatch(/^\$\{NATS_USER(:-[^}]+)?\}$/);
    expect(command[command.indexOf('--pass') + 1]).toMatch(/^\$\{NATS_PASSWORD(:-[^}]+)?\}$/);
    expect(nats.healthcheck?.test.join(' ')).toContain('healthz');
    // Only the services talk to nats, on the compose network.
    expect(nats.ports).toBeUndefined();
  });

  describe.each(SERVICE_NAMES)('%s', (service) => {
    const spec = compose.services[service]!;
    const env = spec.environment ?? {};

    it('runs its built entry point and waits for a healthy nats', () => {
      expect(spec.command).toEqual(['node', `apps/${service}/dist/main.js`]);
      expect(spec.depends_on?.['nats']?.condition).toBe('service_healthy');
      expect(fs.existsSync(path.join(root, spec.build!.dockerfile))).toBe(true);
    });

    it('uses only environment variables the config library (or the model downloader) knows', () => {
      expect(Object.keys(env).filter((k) => !knownEnv.has(k))).toEqual([]);
    });

    it('connects to the compose nats with the credentials nats was started with', () => {
      expect(env['DEEPINFER_NATS_URL']).toBe('nats://nats:4222');
      const nats = compose.services['nats']!.command!;
      expect(env['DEEPINFER_NATS_USER']).toBe(nats[nats.indexOf('--user') + 1]);
      expect(env['DEEPINFER_NATS_PASSWORD']).toBe(nats[nats.indexOf('--pass') + 1]);
    });

    it('publishes its admin port and health-checks it', () => {
      const port = adminPortOf[service];
      const varName = `DEEPINFER_${service.toUpperCase()}_ADMIN_PORT`;
      expect(knownEnv.has(varName)).toBe(true);
      expect(env[varName]).toBe(String(port));
      expect(spec.ports).toContain(`${port}:${port}`);
      // docker/healthcheck.mjs resolves the admin port from the service's own settings.
      expect(spec.healthcheck?.test).toEqual(['CMD', 'node', 'docker/healthcheck.mjs', service]);
      expect(fs.existsSync(path.join(root, 'docker/healthcheck.mjs'))).toBe(true);
    });
  });

  it('gives the tokenizer and the executor one Hugging Face cache (HF_HOME on a shared volume) and the Hub token', () => {
    for (const service of ['tokenizer', 'executor'] as const) {
      const spec = compose.services[service]!;
      const home = spec.environment!['HF_HOME']!;
      expect(spec.volumes).toContain(`hf-cache:${home}`);
      expect(spec.environment!['HF_TOKEN']).toBe('${HF_TOKEN:-}');
    }
    expect(compose.volumes).toHaveProperty('hf-cache');
    // Both images run as uid 1000 and create the mount point for it (a fresh volume takes its owner).
    for (const dockerfile of ['docker/executor.Dockerfile', 'docker/node.Dockerfile']) {
      expect(fs.readFileSync(path.join(root, dockerfile), 'utf8')).toMatch(/install -d -o (node|deepinfer) -g \1 \/hf-cache/);
    }
  });

  it('publishes the API on the configured port', () => {
    expect(compose.services['api']!.environment!['DEEPINFER_PORT']).toBe(String(defaults.port));
    expect(compose.services['api']!.ports).toContain(`${defaults.port}:${defaults.port}`);
  });

  it('reserves an NVIDIA GPU for the executor in the syntax compose expects, with the models volume', () => {
    const executor = compose.services['executor']!;
    // deploy.resources.reservations.devices: driver, count (a number or "all") or device_ids,
    // and capabilities, which must name gpu; nothing else is a device request.
    const devices = executor.deploy!.resources.reservations.devices;
    expect(devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    for (const d of devices) expect(Object.keys(d).filter((k) => !['driver', 'count', 'device_ids', 'capabilities', 'options'].includes(k))).toEqual([]);
    expect(executor.volumes?.some((v) => v.startsWith('models:'))).toBe(true);
    expect(compose.volumes).toHaveProperty('models');
  });

  it('gives nats and every service a healthcheck', () => {
    expect(Object.entries(compose.services).filter(([, s]) => !s.healthcheck?.test?.length).map(([name]) => name)).toEqual([]);
  });

  it('builds every service from a Dockerfile in docker/, and passes no build-time variable as environment', () => {
    for (const service of SERVICE_NAMES) {
      expect(compose.services[service]!.build).toMatchObject({ context: '.', dockerfile: expect.stringMatching(/^docker\/[\w.-]+\.Dockerfile$/) });
      expect(Object.keys(compose.services[service]!.environment ?? {}).filter((k) => (BUILD_ENV_VARS as readonly string[]).includes(k))).toEqual([]);
    }
  });
});
