import { loadConfig } from '@deepinfer/config';
import { serviceEnvironment } from './service-environment.js';

describe('serviceEnvironment', () => {
  const parent = {
    PATH: '/usr/bin',
    DEEPINFER_NATS_URL: 'nats://10.0.0.1:4222',
    DEEPINFER_MAX_NUM_SEQS: '3',
    DEEPINFER_CONFIG: '/etc/user.yaml',
    DEEPINFER_NATIVE_ADDON: '/opt/deepinfer_native.node',
    DEEPINFER_DEV_CPU_KERNELS: 'scalar',
    HF_HOME: '/models/hf',
  };

  it('drops every setting variable and points the service at the resolved file', () => {
    expect(serviceEnvironment(parent, '/tmp/run/config.yaml')).toEqual({
      PATH: '/usr/bin',
      DEEPINFER_CONFIG: '/tmp/run/config.yaml',
      DEEPINFER_SUPERVISED: '1',
      DEEPINFER_NATIVE_ADDON: '/opt/deepinfer_native.node',
      DEEPINFER_DEV_CPU_KERNELS: 'scalar',
      HF_HOME: '/models/hf',
    });
  });

  it('leaves nothing that a service would read over the resolved file', () => {
    // What a service loads from this environment is exactly the file's configuration.
    const env = serviceEnvironment(parent, '/nonexistent.yaml');
    expect(() => loadConfig({ env: { ...env, DEEPINFER_CONFIG: undefined } })).not.toThrow();
    expect(loadConfig({ env: { ...env, DEEPINFER_CONFIG: undefined } }).config.natsUrl).toBe('nats://127.0.0.1:4222');
  });
});
