import { runService } from '@deepinfer/service-kit';
import { TOKENIZER_SERVICE } from './tokenizer.service-definition.js';

await runService(TOKENIZER_SERVICE);
