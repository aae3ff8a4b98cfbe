import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hubSettingsFromEnv } from './hub-settings.js';

describe('hubSettingsFromEnv', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'deepinfer-hub-settings-'));
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  it('defaults to huggingface.co, no token, online, the default cache', () => {
    expect(hubSettingsFromEnv({}, home)).toEqual({
      endpoint: 'https://huggingface.co',
      token: undefined,
      tokenSource: undefined,
      offline: false,
      progressBarsDisabled: false,
      cacheDir: path.join(home, '.cache', 'huggingface', 'hub'),
    });
  });

  it('reads HF_ENDPOINT (without a trailing slash), HF_HUB_OFFLINE as huggingface_hub does, and HF_HOME', () => {
    const settings = hubSettingsFromEnv({ HF_ENDPOINT: 'https://hf-mirror.example/', HF_HUB_OFFLINE: 'yes', HF_HOME: '/data/hf' }, home);
    expect(settings).toMatchObject({ endpoint: 'https://hf-mirror.example', offline: true, cacheDir: '/data/hf/hub' });
    expect(hubSettingsFromEnv({ HF_HUB_OFFLINE: '0' }, home).offline).toBe(false);
  });

  it('takes the token from HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the login file', () => {
    expect(hubSettingsFromEnv({ HF_TOKEN: 'a', HUGGING_FACE_HUB_TOKEN: 'b' }, home)).toMatchObject({ token: 'a', tokenSource: 'HF_TOKEN' });
    expect(hubSettingsFromEnv({ HF_TOKEN: '', HUGGING_FACE_HUB_TOKEN: 'b' }, home)).toMatchObject({ token: 'b', tokenSource: 'HUGGING_FACE_HUB_TOKEN' });
    fs.mkdirSync(path.join(home, 'hf'), { recursive: true });
    fs.writeFileSync(path.join(home, 'hf', 'token'), 'hf_from_login\n');
    expect(hubSettingsFromEnv({ HF_HOME: path.join(home, 'hf') }, home)).toMatchObject({ token: 'hf_from_login', tokenSource: path.join(home, 'hf', 'token') });
  });
});
