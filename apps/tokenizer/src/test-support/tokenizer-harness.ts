import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Routes, type StreamDelta } from '@deepinfer/contracts';
import { configsDir } from '@deepinfer/config';
import { MessageBus } from '@deepinfer/messaging';
import { createLogger } from '@deepinfer/observability';
import { bootstrapService, type RunningService } from '@deepinfer/service-kit';
import { getFreePort, waitFor } from '@deepinfer/testing';
import { TOKENIZER_SERVICE } from '../tokenizer.service-definition.js';

export const STORIES_260K_DIR = path.join(path.dirname(configsDir()), 'models/stories260k');

/** The golden greedy story of the bundled model: its ids without the leading BOS, and its text. */
export function goldenStory(): { ids: number[]; text: string } {
  const ids = readFileSync(path.join(STORIES_260K_DIR, 'expected_greedy_from_bos_200_tokens.ids'), 'utf8').trim().split(/\s+/).map(Number);
  return { ids: ids.slice(1), text: readFileSync(path.join(STORIES_260K_DIR, 'expected_greedy_from_bos_200_tokens.txt'), 'utf8') };
}

/**
 * Starts the real tokenizer service in-process on a free admin port. The model setting is left at
 * its default (`models/stories260k`, relative): jest runs in apps/tokenizer, so this also checks
 * the fall-back to the repository root.
 */
export async function startTokenizer(natsUrl: string, argv: string[] = []): Promise<RunningService> {
  const port = await getFreePort();
  return bootstrapService(TOKENIZER_SERVICE, {
    argv: ['--tokenizer-admin-port', String(port), '--host', '127.0.0.1', ...argv],
    env: { DEEPINFER_NATS_URL: natsUrl, DEEPINFER_LOG_LEVEL: 'error' },
  });
}

/** A plain client connection, playing the api and the scheduler. */
export function connectClient(natsUrl: string): Promise<MessageBus> {
  return MessageBus.connect({ url: natsUrl, name: 'test-client', logger: createLogger({ name: 'test', level: 'error' }) });
}

/** Collects every delta published on one deltas subject, checking each batch's shape. */
export class DeltaCollector {
  readonly batches: StreamDelta[][] = [];

  static async listen(bus: MessageBus, subject: string): Promise<DeltaCollector> {
    const collector = new DeltaCollector();
    bus.listen(Routes.apiDeltas.fromSubject(subject), (message) => void collector.batches.push([...message.deltas]));
    await bus.flush();
    return collector;
  }

  deltasOf(requestId: string): StreamDelta[] {
    return this.batches.flat().filter((d) => d.requestId === requestId);
  }

  /** Resolves once the request's final delta (the one with finishReason) has arrived. */
  finished(requestId: string, timeoutMs = 10000): Promise<StreamDelta[]> {
    return waitFor(`the final delta of ${requestId}`, () => {
      const deltas = this.deltasOf(requestId);
      return deltas.some((d) => d.finishReason !== undefined) ? deltas : undefined;
    }, timeoutMs, 10);
  }
}
