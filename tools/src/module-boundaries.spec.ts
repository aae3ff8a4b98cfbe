import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const packagesIn = (dir: string) =>
  fs.readdirSync(path.join(root, dir)).filter((d) => fs.existsSync(path.join(root, dir, d, 'package.json')))
    .map((d) => ({ dir: `${dir}/${d}`, pkg: JSON.parse(fs.readFileSync(path.join(root, dir, d, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> } }));

describe('module boundaries', () => {
  const apps = packagesIn('apps');
  const libs = packagesIn('libs');
  const appNames = new Set(apps.map((a) => a.pkg.name));
  const deps = (p: (typeof apps)[number]) => Object.keys({ ...p.pkg.dependencies, ...p.pkg.devDependencies });

  it('apps depend on libraries, never on other apps', () => {
    for (const app of apps) expect({ app: app.dir, appDeps: deps(app).filter((d) => appNames.has(d)) }).toEqual({ app: app.dir, appDeps: [] });
  });

  it('libraries never depend on apps', () => {
    for (const lib of libs) expect({ lib: lib.dir, appDeps: deps(lib).filter((d) => appNames.has(d)) }).toEqual({ lib: lib.dir, appDeps: [] });
  });

  it('the lint rule rejects an import of an app or of a library’s internals', async () => {
    const eslint = new ESLint({ cwd: root });
    const [fromApp] = await eslint.lintText("import { ApiModule } from '../../api/src/api.module.js';\nexport const x = ApiModule;\n", { filePath: path.join(root, 'apps/scheduler/src/probe.ts') });
    const [internal] = await eslint.lintText("import { loadConfig } from '@deepinfer/config/src/config-loader.js';\nexport const y = loadConfig;\n", { filePath: path.join(root, 'apps/scheduler/src/probe.ts') });
    expect(fromApp!.messages.map((m) => m.ruleId)).toContain('deepinfer/module-boundaries');
    expect(internal!.messages.map((m) => m.ruleId)).toContain('deepinfer/module-boundaries');
  }, 30000);

  it('lets only tests import a library’s test-support entry point', async () => {
    const eslint = new ESLint({ cwd: root });
    const source = "import { FakeExecutor } from '@deepinfer/scheduler-core/testing';\nexport const f = FakeExecutor;\n";
    const rule = async (file: string) => (await eslint.lintText(source, { filePath: path.join(root, file) }))[0]!.messages.map((m) => m.ruleId);
    expect(await rule('apps/scheduler/src/scheduler.service.ts')).toContain('deepinfer/module-boundaries');
    expect(await rule('apps/scheduler/src/scheduler.module.spec.ts')).not.toContain('deepinfer/module-boundaries');
    expect(await rule('apps/scheduler/src/test-support/probe.ts')).not.toContain('deepinfer/module-boundaries');
  }, 30000);
});

test('the lint rule accepts imports within a project and of a library by name', async () => {
  const eslint = new ESLint({ cwd: root });
  const [ok] = await eslint.lintText("import { loadConfig } from '@deepinfer/config';\nimport { x } from '../probe-helper.js';\nexport const y = [loadConfig, x];\n", { filePath: path.join(root, 'apps/scheduler/src/sub/probe.ts') });
  expect(ok!.messages.filter((m) => m.ruleId === 'deepinfer/module-boundaries')).toEqual([]);
}, 30000);
