import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Module boundaries: apps depend on libs, never on each other; libs never reach into apps.
const noAppImports = {
  patterns: [
    { group: ['**/apps/**', '@deepinfer/app-*'], message: 'Apps are deployables: depend on a library in libs/, never on an app.' },
    { group: ['@deepinfer/*/src/*', '**/libs/*/src/**'], message: "Import a library through its package name (its public index), not its internals." },
  ],
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'native/**', '**/*.js', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', noAppImports],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'off',
    },
  },
);
