// End-to-end tests: real nats-server, the four services as real processes, the bundled model.
// They run against the built `dist/` outputs, so `npm run build` must come first.
import { jestConfig } from './jest.preset.js';

const base = jestConfig(process.cwd());
export default {
  ...base,
  testMatch: ['<rootDir>/e2e/**/*.e2e.spec.ts'],
  testTimeout: 120000,
};
