import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GuideWorkerPoolStats } from '@deepinfer/guided-decoding';
import { METRICS_REGISTRY } from '@deepinfer/service-kit';
import { EngineHost } from './engine-host.js';
import { StepTimeWindow } from './step-time-window.js';

/** The executor's Prometheus series and its recent step-time window. */
@Injectable()
export class ExecutorMetrics {
  readonly recentStepTimes = new StepTimeWindow();
  private readonly stepSeconds: Histogram;
  private readonly stepTokens: Histogram;
  private readonly stepSequences: Histogram;
  /** Guided decoding: the recent mask time per token and wait-after-forward, ms (GET /executor). */
  readonly recentMaskTimes = new StepTimeWindow(4096);
  readonly recentMaskWaits = new StepTimeWindow();
  private readonly maskSeconds: Histogram;
  private readonly maskWaitSeconds: Histogram;
  /** The guide worker pool's thread counts (ExecutorLink sets it when it makes its GuideSource). */
  guideWorkerStats: () => GuideWorkerPoolStats | undefined = () => undefined;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, host: EngineHost) {
    const registers = [registry];
    this.stepSeconds = new Histogram({ name: 'deepinfer_executor_step_duration_seconds', help: 'Time the engine spent on one step', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5], registers });
    this.stepTokens = new Histogram({ name: 'deepinfer_executor_step_tokens', help: 'Tokens computed per step', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192], registers });
    this.stepSequences = new Histogram({ name: 'deepinfer_executor_step_sequences', help: 'Sequences per step', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], registers });
    const maskBuckets = [0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 1];
    this.maskSeconds = new Histogram({ name: 'deepinfer_executor_guided_mask_seconds', help: 'Guided decoding: time to compute one token\'s grammar mask (the matcher\'s accept of the previous token included)', buckets: maskBuckets, registers });
    this.maskWaitSeconds = new Histogram({ name: 'deepinfer_executor_guided_mask_wait_seconds', help: 'Guided decoding: how long a step\'s sampling waited for the masks after the forward pass (0 when they were computed in its shadow)', buckets: [0, ...maskBuckets], registers });
    const pool = () => this.guideWorkerStats();
    new Gauge({ name: 'deepinfer_executor_guided_worker_threads', help: 'Guided decoding: worker threads now (guided_decoding_workers, plus threads started so that a grammar compiles on no thread computing masks)', registers, collect() { this.set(pool()?.numThreads ?? 0); } });
    new Counter({
      name: 'deepinfer_executor_guided_compiles_on_busy_workers_total',
      help: 'Guided decoding: grammar compiles that ran on a worker computing masks (every worker busy, every extra thread started): its guided requests, and the steps holding them, waited for the compile',
      registers,
      collect() {
        this.reset();
        this.inc(pool()?.numCompilesOnBusyWorkers ?? 0);
      },
    });
    new Gauge({ name: 'deepinfer_executor_weights_bytes', help: 'Bytes of model weights held by the engine', registers, collect() { this.set(host.current?.engine.info.weightBytes ?? 0); } });
    new Gauge({ name: 'deepinfer_executor_kv_cache_bytes', help: 'Bytes of the KV cache', registers, collect() { this.set(host.current?.kvCacheBytes ?? 0); } });
    new Gauge({ name: 'deepinfer_executor_kv_blocks', help: 'KV-cache blocks', registers, collect() { this.set(host.current?.numKvBlocks ?? 0); } });
  }

  /** One step's guided decoding cost (ExecutorState's onGuidedStep). */
  observeGuidedStep(maskMs: readonly number[], waitedMs: number | undefined): void {
    for (const ms of maskMs) {
      this.recentMaskTimes.add(ms);
      this.maskSeconds.observe(ms / 1000);
    }
    if (waitedMs !== undefined) {
      this.recentMaskWaits.add(waitedMs);
      this.maskWaitSeconds.observe(waitedMs / 1000);
    }
  }

  observeStep(ms: number, numTokens: number, numSequences: number): void {
    this.recentStepTimes.add(ms);
    this.stepSeconds.observe(ms / 1000);
    this.stepTokens.observe(numTokens);
    this.stepSequences.observe(numSequences);
  }
}
