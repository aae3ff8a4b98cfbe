import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CONFIG_FIELDS, DeepInferConfig, RESERVED_ENV_VARS } from '@deepinfer/config';
import { SERVICE_NAMES, type ServiceName } from '@deepinfer/contracts';

// Docker does not run on our machines, so this test is what keeps docker-compose.yml true:
// services, ports, environment names and healthchecks must agree with the config library.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, {
    image?: string; build?: { context: string; dockerfile: string }; command?: string[]; ports?: string[];
    environment?: Record<string, string>; healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }>;
    volumes?: string[]; deploy?: { resources: { reservations: { devices: { driver: string; capabilities: string[] }[] } } };
  }>;
  volumes?: Record<string, unknown>;
};
const defaults = new DeepInferConfig();
const adminPortOf: Record<ServiceName, number> = {
  api: defaults.apiAdminPort, tokenizer: defaults.tokenizerAdminPort, scheduler: defaults.schedulerAdminPort, executor: defaults.executorAdminPort,
};
const knownEnv = new Set<string>([...CONFIG_FIELDS.map((f) => f.envVar), ...RESERVED_ENV_VARS]);

describe('docker-compose.yml', () => {
  it('has nats and the four services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['nats', ...SERVICE_NAMES].sort());
  });

  it('runs nats from the official image with credentials and a healthcheck', () => {
    const nats = compose.services['nats']!;
    expect(nats.image).toMatch(/^nats:/);
    expect(nats.command).toEqual(expect.arrayContaining(['--user', '--pass']));
    expect(nats.healthcheck?.test.join(' ')).toContain('healthz');
  });

  describe.each(SERVICE_NAMES)('%s', (service) => {
    const spec = compose.services[service]!;
    const env = spec.environment ?? {};

    it('runs its built entry point and waits for a healthy nats', () => {
      expect(spec.command).toEqual(['node', `apps/${service}/dist/main.js`]);
      expect(spec.depends_on?.['nats']?.condition).toBe('service_healthy');
      expect(fs.existsSync(path.join(root, spec.build!.dockerfile))).toBe(true);
    });

    it('uses only environment variables the config library knows', () => {
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
      expect(spec.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${port}/health`);
    });
  });

  it('publishes the API on the configured port', () => {
    expect(compose.services['api']!.environment!['DEEPINFER_PORT']).toBe(String(defaults.port));
    expect(compose.services['api']!.ports).toContain(`${defaults.port}:${defaults.port}`);
  });

  it('reserves an NVIDIA GPU for the executor, built on a CUDA devel image, with the models volume', () => {
    const executor = compose.services['executor']!;
    expect(executor.deploy!.resources.reservations.devices[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
    expect(fs.readFileSync(path.join(root, executor.build!.dockerfile), 'utf8')).toMatch(/^FROM nvidia\/cuda:[\d.]+-devel/m);
    expect(executor.volumes?.some((v) => v.startsWith('models:'))).toBe(true);
    expect(compose.volumes).toHaveProperty('models');
  });
});
