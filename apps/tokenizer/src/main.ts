import { runService } from '@deepinfer/service-kit';
import { TokenizerModule } from './tokenizer.module.js';

await runService({ service: 'tokenizer', module: TokenizerModule, adminPort: (config) => config.tokenizerAdminPort });
