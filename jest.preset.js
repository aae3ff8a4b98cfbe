// Shared jest settings. Every package is ESM (NestJS 12 ships only ES modules), so jest runs
// under `node --experimental-vm-modules` and @swc/jest compiles TypeScript to ES modules,
// keeping legacy decorators and their metadata for class-validator and Nest.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

export const swcTransform = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      target: 'es2022',
    },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

/** @param {string} projectDir the package directory @returns {import('jest').Config} */
export function jestConfig(projectDir) {
  return {
    rootDir: projectDir,
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    transform: { '^.+\\.ts$': swcTransform },
    moduleNameMapper: {
      // Workspace libraries resolve to their sources, so unit tests need no prior build.
      '^@deepinfer/([a-z0-9-]+)$': path.join(root, 'libs/$1/src/index.ts'),
      // A library's test-support entry point (see the module-boundaries rule in eslint.config.js).
      '^@deepinfer/([a-z0-9-]+)/testing$': path.join(root, 'libs/$1/src/testing.ts'),
      // ESM sources import siblings as `./x.js`; map them back to the `.ts` file.
      '^(\\.{1,2}/.*)\\.js$': '$1',
    },
    testMatch: ['<rootDir>/src/**/*.spec.ts'],
    testTimeout: 20000,
  };
}
