import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { RecentLatencies } from '@deepinfer/console-core';
import { METRICS_REGISTRY } from '@deepinfer/service-kit';
import { DeltaRouter } from './delta-router.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];

/** The api's Prometheus series (vLLM's semantics under the deepinfer_ prefix). */
@Injectable()
export class ApiMetrics {
  readonly requests: Counter<'route' | 'status'>;
  readonly timeToFirstToken: Histogram;
  readonly interTokenLatency: Histogram;
  readonly e2eLatency: Histogram;
  readonly promptTokens: Counter;
  readonly generationTokens: Counter;
  readonly finished: Counter<'finished_reason'>;
  /** The same TTFT/ITL observations and token counts, kept for the console's plots. */
  readonly recent = new RecentLatencies();

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, router: DeltaRouter) {
    const registers = [registry];
    this.requests = new Counter({ name: 'deepinfer_api_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers });
    this.timeToFirstToken = new Histogram({ name: 'deepinfer_time_to_first_token_seconds', help: 'Time from request arrival to the first generated token', buckets: LATENCY_BUCKETS, registers });
    this.interTokenLatency = new Histogram({ name: 'deepinfer_inter_token_latency_seconds', help: 'Time between generated tokens of one choice', buckets: LATENCY_BUCKETS, registers });
    this.e2eLatency = new Histogram({ name: 'deepinfer_e2e_request_latency_seconds', help: 'Time from request arrival to its last token', buckets: LATENCY_BUCKETS, registers });
    this.promptTokens = new Counter({ name: 'deepinfer_prompt_tokens_total', help: 'Prompt tokens processed', registers });
    this.generationTokens = new Counter({ name: 'deepinfer_generation_tokens_total', help: 'Tokens generated', registers });
    this.finished = new Counter({ name: 'deepinfer_request_success_total', help: 'Finished choices by finish reason', labelNames: ['finished_reason'], registers });
    new Gauge({
      name: 'deepinfer_api_requests_in_flight',
      help: 'Choices waiting for output at this api instance',
      registers,
      collect() {
        this.set(router.numInFlight);
      },
    });
  }
}

/** Per-choice token timing: first token, then the gaps between tokens. */
export class ChoiceTiming {
  private lastTokenAtMs: number | undefined;

  constructor(
    private readonly metrics: ApiMetrics,
    private readonly startedAtMs: number,
  ) {}

  tokens(count: number, nowMs = performance.now()): void {
    if (count === 0) return;
    this.metrics.recent.tokens(count);
    if (this.lastTokenAtMs === undefined) {
      const seconds = (nowMs - this.startedAtMs) / 1000;
      this.metrics.timeToFirstToken.observe(seconds);
      this.metrics.recent.firstToken(seconds);
    } else {
      const seconds = (nowMs - this.lastTokenAtMs) / 1000 / count;
      this.metrics.interTokenLatency.observe(seconds);
      this.metrics.recent.interToken(seconds);
    }
    this.lastTokenAtMs = nowMs;
  }
}
