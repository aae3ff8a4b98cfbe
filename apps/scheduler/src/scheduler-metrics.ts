import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RequestOutput } from '@deepinfer/contracts';
import { METRIC_PREFIX } from '@deepinfer/observability';
import type { EngineLoop, EngineLoopObserver, StepObservation } from '@deepinfer/scheduler-core';
import { METRICS_REGISTRY } from '@deepinfer/service-kit';

/** vLLM's request-latency buckets (seconds), so dashboards built for it read ours. */
const REQUEST_TIME_BUCKETS_S = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
/** vLLM's iteration-tokens buckets. */
const ITERATION_TOKENS_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

/**
 * The scheduler's Prometheus metrics, with vLLM's semantics under our prefix (the scheduler
 * stamps queue, prefill and decode times: one process, one clock). Gauges are read at scrape
 * time; counters and histograms move in the loop's O(1) observer hooks.
 */
@Injectable()
export class SchedulerMetrics implements EngineLoopObserver {
  private loop: EngineLoop | undefined;
  private readonly prefixQueries: Counter;
  private readonly prefixHits: Counter;
  private readonly preemptions: Counter;
  private readonly steps: Counter;
  private readonly executorFailures: Counter;
  private readonly iterationTokens: Histogram;
  private readonly queueTime: Histogram;
  private readonly prefillTime: Histogram;
  private readonly decodeTime: Histogram;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    const registers = [registry];
    // Gauges read the loop's O(1) counts when Prometheus scrapes (prom-client calls `collect`).
    const loopOf = () => this.loop;
    const gauge = (name: string, help: string, read: (loop: EngineLoop) => number) => {
      new Gauge({
        name: METRIC_PREFIX + name,
        help,
        registers,
        collect() {
          const loop = loopOf();
          this.set(loop ? read(loop) : 0);
        },
      });
    };
    gauge('num_requests_running', 'Requests in the running batch', (l) => l.numRunningRequests);
    gauge('num_requests_waiting', 'Requests waiting to be scheduled (new or preempted)', (l) => l.numWaitingRequests);
    gauge('num_requests_waiting_for_grammar', 'Guided requests held until the executor has compiled their grammar', (l) => l.numWaitingForGrammarRequests);
    gauge('kv_cache_usage_perc', 'Fraction of KV blocks held by requests (0-1)', (l) => l.kvCacheUsage);
    gauge('executor_registered', '1 while an executor is registered, else 0', (l) => Number(l.hasExecutor));
    const counter = (name: string, help: string) => new Counter({ name: METRIC_PREFIX + name, help, registers });
    this.prefixQueries = counter('prefix_cache_queries_total', 'Prompt tokens looked up in the prefix cache');
    this.prefixHits = counter('prefix_cache_hits_total', 'Of those, tokens served from the prefix cache');
    this.preemptions = counter('num_preemptions_total', 'Requests preempted (recompute) to free KV blocks');
    this.steps = counter('num_steps_total', 'Steps sent to the executor and answered');
    this.executorFailures = counter('executor_failures_total', 'Executors lost: no answer in time, an error answer or a broken result');
    const histogram = (name: string, help: string, buckets: number[]) => new Histogram({ name: METRIC_PREFIX + name, help, buckets, registers });
    this.iterationTokens = histogram('iteration_tokens_total', 'Tokens scheduled per step', ITERATION_TOKENS_BUCKETS);
    this.queueTime = histogram('request_queue_time_seconds', 'Arrival to first scheduling', REQUEST_TIME_BUCKETS_S);
    this.prefillTime = histogram('request_prefill_time_seconds', 'First scheduling to first token', REQUEST_TIME_BUCKETS_S);
    this.decodeTime = histogram('request_decode_time_seconds', 'First token to the last', REQUEST_TIME_BUCKETS_S);
  }

  /** The loop whose counts the gauges report (the loop is built with this observer, hence a setter). */
  watch(loop: EngineLoop): void {
    this.loop = loop;
  }

  onStep(step: StepObservation): void {
    this.steps.inc();
    this.iterationTokens.observe(step.numScheduledTokens);
    if (step.numPrefixQueryTokens > 0) this.prefixQueries.inc(step.numPrefixQueryTokens);
    if (step.numPrefixHitTokens > 0) this.prefixHits.inc(step.numPrefixHitTokens);
    if (step.numPreemptions > 0) this.preemptions.inc(step.numPreemptions);
  }

  onRequestFinished(output: RequestOutput): void {
    const m = output.metrics;
    if (!m) return;
    if (m.queueTimeMs !== undefined) this.queueTime.observe(m.queueTimeMs / 1000);
    if (m.prefillTimeMs !== undefined) this.prefillTime.observe(m.prefillTimeMs / 1000);
    if (m.decodeTimeMs !== undefined) this.decodeTime.observe(m.decodeTimeMs / 1000);
  }

  onExecutorFailure(): void {
    this.executorFailures.inc();
  }
}
