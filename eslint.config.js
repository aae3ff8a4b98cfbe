import path from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Module boundaries (our equivalent of Nx's enforce-module-boundaries, which has no release for
 * the Nx version we pin): a project imports other projects only through their package name, apps
 * are never imported (they are deployables), a relative import never leaves its project, and a
 * library's test-support entry point (`@deepinfer/<lib>/testing`) is imported only by tests.
 */
const isTestFile = (file) => {
  const rel = path.relative(import.meta.dirname, file).split(path.sep);
  return /\.spec\.ts$/.test(file) || rel.includes('test-support') || ['e2e', 'bench'].includes(rel[0]);
};

const boundaries = {
  rules: {
    'module-boundaries': {
      meta: { type: 'problem', schema: [], messages: { leaves: '{{what}}' } },
      create(context) {
        const file = context.filename;
        const projectOf = (p) => {
          const m = path.relative(import.meta.dirname, p).split(path.sep);
          return ['apps', 'libs'].includes(m[0]) ? m.slice(0, 2).join('/') : m[0];
        };
        const check = (node) => {
          const source = node.source?.value;
          if (typeof source !== 'string') return;
          let what;
          if (/^@deepinfer\/app-/.test(source)) what = `Do not import the app ${source}: apps depend on libraries in libs/, never on each other.`;
          else if (/^@deepinfer\/[^/]+\/testing$/.test(source)) {
            // A library's test support: tests and test-support files only, never running code.
            if (!isTestFile(file)) what = `${source} is test support: import it only from *.spec.ts, test-support/, e2e/ or bench/.`;
          } else if (/^@deepinfer\/[^/]+\/.+/.test(source)) what = `Import ${source.split('/').slice(0, 2).join('/')} through its public index, not its internals.`;
          else if (source.startsWith('.') && projectOf(path.resolve(path.dirname(file), source)) !== projectOf(file))
            what = `Relative import ${source} leaves its project: depend on the other project by its package name.`;
          if (what) context.report({ node, messageId: 'leaves', data: { what } });
        };
        return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
      },
    },
  },
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'native/**', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { deepinfer: boundaries },
    rules: {
      'deepinfer/module-boundaries': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
