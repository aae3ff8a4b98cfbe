import { jestConfig } from '../jest.preset.js';

// Services run from their built dist/ (nx builds them first); tests share one stack per file.
export default { ...jestConfig(import.meta.dirname), testMatch: ['<rootDir>/src/**/*.e2e.spec.ts'], testTimeout: 120000 };
