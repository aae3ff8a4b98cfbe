import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS_REGISTRY } from '@deepinfer/service-kit';
import { StreamRouter } from '@deepinfer/tokenizer-core';

/** Encode/detokenize work is micro- to milliseconds; a step of 512 sequences may take a few ms. */
const DURATION_BUCKETS_S = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** The tokenizer's Prometheus series, on the service's shared registry (`service="tokenizer"`). */
@Injectable()
export class TokenizerMetrics {
  /** kind: `encode` | `chat` (template render included). */
  readonly encodeDuration: Histogram<'kind'>;
  /** kind: `step` (one StepOutputs message, every request in it) | `decode` (a decode request). */
  readonly detokenizeDuration: Histogram<'kind'>;
  readonly encodedTokens: Counter;
  readonly detokenizedTokens: Counter;
  /** Outputs for requests with no stream here: normal for a step or two after a stop-string hit. */
  readonly unknownOutputs: Counter;
  /** reason: `closed` (never ran) | `idle` (swept). Finished streams are not counted here. */
  readonly droppedStreams: Counter<'reason'>;
  readonly stopStringHits: Counter;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, @Inject(StreamRouter) router: StreamRouter) {
    const registers = [registry];
    this.encodeDuration = new Histogram({ name: 'deepinfer_tokenizer_encode_duration_seconds', help: 'Time to encode a prompt (and render its chat template).', labelNames: ['kind'], buckets: DURATION_BUCKETS_S, registers });
    this.detokenizeDuration = new Histogram({ name: 'deepinfer_tokenizer_detokenize_duration_seconds', help: 'Time to detokenize one step of outputs, or one decode request.', labelNames: ['kind'], buckets: DURATION_BUCKETS_S, registers });
    this.encodedTokens = new Counter({ name: 'deepinfer_tokenizer_encoded_tokens_total', help: 'Prompt tokens produced by encode and chat requests.', registers });
    this.detokenizedTokens = new Counter({ name: 'deepinfer_tokenizer_detokenized_tokens_total', help: 'Output tokens turned into streamed text.', registers });
    this.unknownOutputs = new Counter({ name: 'deepinfer_tokenizer_unknown_outputs_total', help: 'Step outputs ignored because their request has no stream on this instance.', registers });
    this.droppedStreams = new Counter({ name: 'deepinfer_tokenizer_dropped_streams_total', help: 'Streams dropped without finishing: closed (the request never ran) or idle (no output for too long).', labelNames: ['reason'], registers });
    this.stopStringHits = new Counter({ name: 'deepinfer_tokenizer_stop_string_hits_total', help: 'Requests ended by a stop string (and aborted at the scheduler).', registers });
    // Every labelled series exists from the start, so dashboards and alerts see zeros, not gaps.
    for (const kind of ['encode', 'chat']) this.encodeDuration.zero({ kind });
    for (const kind of ['step', 'decode']) this.detokenizeDuration.zero({ kind });
    for (const reason of ['closed', 'idle']) this.droppedStreams.labels({ reason }).inc(0);
    new Gauge({
      name: 'deepinfer_tokenizer_active_streams',
      help: 'Detokenization streams open on this instance.',
      registers,
      collect() {
        this.set(router.size);
      },
    });
  }
}
