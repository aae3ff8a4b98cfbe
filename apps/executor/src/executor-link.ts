import crypto from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ErrorCodes, ProtocolError, Routes, type ExecutorRegistration, type GuidedDecoding, type SchedulerOutput, type StepResult } from '@deepinfer/contracts';
import { replicaIdFrom, type DeepInferConfig } from '@deepinfer/config';
import path from 'node:path';
import { ExecutorState, GrammarRefusedError, type GuideFactory, type GuidePreparer } from '@deepinfer/executor-core';
import os from 'node:os';
import { GrammarCompileError, GuideSource, type GuideWorkerPoolStats } from '@deepinfer/guided-decoding';
import type { MessageBus } from '@deepinfer/messaging';
import type { Logger } from '@deepinfer/observability';
import { BusHandlers, BusRoute, CONFIG, LOGGER, MESSAGE_BUS, SERVICE_STATE, type ServiceState } from '@deepinfer/service-kit';
import { EngineHost, type LoadedEngine } from './engine-host.js';
import { ExecutorMetrics } from './executor-metrics.js';

/**
 * Re-registration period: the scheduler treats it as a heartbeat (it drops an executor silent for
 * DEFAULT_EXECUTOR_SILENCE_MS = 10 s) and finds us after it restarts.
 */
const REGISTER_INTERVAL_MS = 1000;

/**
 * The executor's side of the scheduler link: registers its capacity (fresh epoch at every
 * start) and re-registers as a heartbeat once the model is loaded and its routes are served;
 * serves its step route (Routes.executorStep at its id: `@BusRoute`, bound straight to the bus,
 * the hot path, docs/adr/0002), one step at a time, answering each SchedulerOutput with a
 * StepResult (`unavailable` until the model is loaded: no scheduler sends one before the
 * registration). The ping route is ExecutorRoutes'. It decides nothing about what runs.
 */
@Injectable()
export class ExecutorLink implements OnModuleInit, OnApplicationShutdown {
  readonly executorId: string;
  /** The replica this executor serves: it registers with that replica's scheduler only. */
  readonly replicaId = replicaIdFrom(process.env);
  readonly epoch = crypto.randomUUID();
  private state: ExecutorState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private registered = false;
  /** Where guided requests' matchers come from (worker threads or this event loop). */
  private guideSource: GuideSource | undefined;
  private guidePreparer: GuidePreparer | undefined;

  constructor(
    @Inject(CONFIG) private readonly config: DeepInferConfig,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(BusHandlers) private readonly handlers: BusHandlers,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_STATE) private readonly serviceState: ServiceState,
    private readonly host: EngineHost,
    private readonly metrics: ExecutorMetrics,
  ) {
    this.executorId = serviceState.instanceId;
  }

  /** Decode-ahead steps used and dropped (ExecutorState.speculate). */
  get decodeAheadStats(): { used: number; dropped: number } {
    return this.state?.speculationStats ?? { used: 0, dropped: 0 };
  }

  onModuleInit(): void {
    this.host.onLoaded((loaded) => void this.start(loaded));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.guideSource?.close();
  }

  /** guided_decoding_workers in effect: -1 is min(4, max(1, cores − 2)) (docs/configuration.md says why). */
  get numGuideWorkers(): number {
    const n = this.config.guidedDecodingWorkers;
    return n >= 0 ? n : Math.min(4, Math.max(1, os.availableParallelism() - 2));
  }

  /** Live guided requests per worker thread, extra compile threads included (empty: none started, or masks on the event loop). */
  get guideWorkerLoad(): number[] {
    return this.guideSource?.workerLoad ?? [];
  }

  /** The guide worker pool's threads: now, started beyond guided_decoding_workers, stopped, compiles that ran beside masks (undefined: none started, or masks on the event loop). */
  get guideWorkerStats(): GuideWorkerPoolStats | undefined {
    return this.guideSource?.workerStats;
  }

  /**
   * Guided decoding: the model's vocabulary (tokenizer.json of the model directory) is compiled
   * into xgrammar's token tables on the first guided request (~0.2 s for 128K tokens), then one
   * matcher per guided request. The grammar ends on the model's EOS ids, as the scheduler does.
   * With guided_decoding_workers > 0 the tables, grammars and matchers live in worker threads
   * (GuideWorkerPool, started on the first guided request; a compile runs on a thread computing
   * no masks, started for it if need be); with 0, on this event loop.
   */
  private guideFactory(loaded: LoadedEngine): GuideFactory {
    const info = loaded.engine.info;
    const source = new GuideSource({
      numWorkers: this.numGuideWorkers,
      tokenizerJsonPath: path.join(loaded.modelDirectory, 'tokenizer.json'),
      vocabSize: info.vocabSize,
      stopTokenIds: [...info.eosTokenIds],
      // Every worker computes masks and no more threads may start: the guided requests on the
      // chosen worker wait for this compile, and every step holding one of them.
      onCompileOnBusyWorker: (load) => this.logger.warn('guided decoding: a grammar compiles on a worker computing masks (every guide worker busy, the extra compile threads all started): its guided requests stall meanwhile', { workerLoad: load }),
    });
    this.guideSource = source;
    this.metrics.guideWorkerStats = () => source.workerStats;
    // xgrammar's refusal is the request's fault (a 400 at the api); any other failure the executor's.
    this.guidePreparer = (spec) =>
      source.prepare(spec).catch((err: unknown) => {
        throw err instanceof GrammarCompileError ? new GrammarRefusedError(err.message, { cause: err }) : err;
      });
    return async (spec, outputs) => {
      try {
        return await source.guide(spec, outputs);
      } catch (err) {
        this.logger.error('guided decoding: no grammar for a request', { kind: spec.kind, error: String(err) });
        throw err;
      }
    };
  }

  private async start(loaded: LoadedEngine): Promise<void> {
    const info = loaded.engine.info;
    this.state = new ExecutorState(loaded.engine.stepEngine, info.blockSize, info.vocabSize, loaded.numKvBlocks, {
      maxDecodeAheadSequences: this.config.decodeAheadMaxSeqs,
      guideFactory: this.guideFactory(loaded),
      guidePreparer: (spec) => this.guidePreparer!(spec),
      onGuidedStep: (stats) => this.metrics.observeGuidedStep(stats.maskMs, stats.waitedMs),
    });
    const stepRoute = Routes.executorStep.at(this.executorId);
    // The step subject the registration names must be served (and the server know it) first.
    await this.handlers.whenServing();
    this.serviceState.setStatus('ok');
    const registration: ExecutorRegistration = {
      executorId: this.executorId,
      epoch: this.epoch,
      numBlocks: loaded.numKvBlocks,
      blockSize: info.blockSize,
      maxModelLen: loaded.maxModelLen,
      maxNumBatchedTokens: this.config.maxNumBatchedTokens,
      model: {
        name: loaded.servedModelName,
        revision: loaded.revision,
        vocabSize: info.vocabSize,
        eosTokenIds: [...info.eosTokenIds],
        ...(info.bosTokenId >= 0 ? { bosTokenId: info.bosTokenId } : {}),
        dtype: info.weightDtype,
      },
      device: loaded.engine.device,
      stepSubject: stepRoute.subject,
    };
    const register = async () => {
      try {
        const reply = await this.bus.call(Routes.replicaRegister.at(this.replicaId), registration, { timeoutMs: 2000 });
        if (reply.newSession) {
          this.state?.reset();
          this.logger.info('registered with the scheduler', { replica: this.replicaId, scheduler: reply.schedulerInstanceId, numBlocks: registration.numBlocks, maxModelLen: registration.maxModelLen });
        }
        this.registered = true;
      } catch (err) {
        if (this.registered) this.logger.warn('scheduler not answering registration', { err: (err as Error).message });
        this.registered = false;
      }
    };
    await register();
    this.timer = setInterval(() => void register(), REGISTER_INTERVAL_MS);
    this.timer.unref();
  }

  /** Compiles a guided request's grammar before its first step (Routes.executorPrepareGuide, ExecutorRoutes). */
  async prepareGuide(spec: GuidedDecoding): Promise<void> {
    if (!this.state) throw new ProtocolError(ErrorCodes.unavailable, 'the model is still loading');
    await this.state.prepareGuide(spec);
  }

  @BusRoute(Routes.executorStep)
  async step(step: SchedulerOutput): Promise<StepResult> {
    if (!this.state) throw new ProtocolError(ErrorCodes.unavailable, 'the model is still loading');
    const result = await this.state.execute(step);
    // The bus sends the reply when this returns; a macrotask later it has gone out: then start
    // the likely next decode step (ExecutorState.speculate) and record the metrics, both off
    // the path of this step's answer.
    const state = this.state;
    const numSequences = step.newRequests.length + step.cachedRequests.requestIds.length;
    setImmediate(() => {
      state?.speculate();
      this.metrics.observeStep(result.executeTimeMs ?? 0, step.totalNumScheduledTokens, numSequences);
    });
    return result;
  }
}
