import { Inject, Injectable } from '@nestjs/common';
import { ErrorCodes, ProtocolError } from '@deepinfer/contracts';
import { LoadedTokenizer } from './loaded-tokenizer.js';
import { TokenizerMetrics } from './tokenizer.metrics.js';

/** Whole-sequence decoding for decode requests and the admin /detokenize route. */
@Injectable()
export class TokenDecoder {
  constructor(
    @Inject(LoadedTokenizer) private readonly loaded: LoadedTokenizer,
    @Inject(TokenizerMetrics) private readonly metrics: TokenizerMetrics,
  ) {}

  /**
   * Refuses ids outside the vocabulary (bad_request naming the first) rather than silently
   * skipping them as HF's decode does: a caller sending them has a bug worth seeing.
   */
  decode(tokenIds: readonly number[], skipSpecialTokens = true, param = 'tokenIds'): string {
    const vocabSize = this.loaded.tokenizer.vocabSize;
    const bad = tokenIds.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
    if (bad >= 0) throw new ProtocolError(ErrorCodes.badRequest, `${param}[${bad}] = ${tokenIds[bad]} is not a token id of this model (vocabulary size ${vocabSize})`, param);
    const end = this.metrics.detokenizeDuration.startTimer({ kind: 'decode' });
    try {
      return this.loaded.tokenizer.decode(tokenIds, { skipSpecialTokens });
    } finally {
      end();
    }
  }
}
