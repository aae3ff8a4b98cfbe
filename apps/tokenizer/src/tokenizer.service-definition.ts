import type { ServiceDefinition } from '@deepinfer/service-kit';
import { TokenizerModule } from './tokenizer.module.js';

/** How the tokenizer service starts; main.ts and the tests use this one definition. */
export const TOKENIZER_SERVICE: ServiceDefinition = {
  service: 'tokenizer',
  module: TokenizerModule,
  adminPort: (config) => config.tokenizerAdminPort,
  // Ready only once the tokenizer is loaded and the handlers are subscribed (TokenizerReadiness).
  managesReadiness: true,
};
