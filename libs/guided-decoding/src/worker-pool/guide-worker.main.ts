import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { GrammarCompileError, GuidedGrammars, vocabularyFromTokenizerJson, type GuideMatcher } from '../grammar.js';
import type { GuideWorkerData, GuideWorkerReply, GuideWorkerRequest } from './guide-worker.protocol.js';

/**
 * A guide worker's thread (GuideWorkerPool): its own xgrammar instance, token tables and
 * compiled-grammar cache, and the matchers of the requests placed on it. Grammar compilation
 * and mask computation block only this thread, never the executor's event loop.
 */
const data = workerData as GuideWorkerData;
const port = parentPort!;
const numWords = Math.ceil(data.vocabSize / 32);
const grammars = (async () => {
  const json = JSON.parse(readFileSync(data.tokenizerJsonPath, 'utf8')) as unknown;
  // Unbounded: the pool evicts (forget), keeping the grammars it has promised (GuideWorkerPool.prepare).
  return GuidedGrammars.create(vocabularyFromTokenizerJson(json, data.vocabSize), data.stopTokenIds, { cacheSize: Infinity });
})();
grammars.catch(() => undefined); // each request reports the failure
const matchers = new Map<number, GuideMatcher>();
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

// Requests are handled one after another (a chain), so that a mask request never overtakes the
// make of its matcher.
let chain: Promise<void> = Promise.resolve();
port.on('message', (request: GuideWorkerRequest) => {
  chain = chain.then(() => handle(request)).catch((err: unknown) => {
    if ('id' in request) port.postMessage({ id: request.id, error: message(err), ...(err instanceof GrammarCompileError ? { refused: true as const } : {}) } satisfies GuideWorkerReply);
  });
});

async function handle(request: GuideWorkerRequest): Promise<void> {
  switch (request.type) {
    case 'prepare': {
      await (await grammars).compile(request.spec);
      port.postMessage({ id: request.id, prepared: true } satisfies GuideWorkerReply);
      return;
    }
    case 'make': {
      const matcher = await (await grammars).matcher(request.spec, request.outputs);
      matchers.set(request.guideId, matcher);
      port.postMessage({ id: request.id, made: true } satisfies GuideWorkerReply);
      return;
    }
    case 'masks': {
      const words = new Uint32Array(request.buffer);
      const rows: ({ ms: number } | { error: string })[] = [];
      for (let r = 0; r < request.rows.length; r++) {
        const row = request.rows[r]!;
        const matcher = matchers.get(row.guideId);
        if (!matcher) {
          rows.push({ error: `guided decoding: no matcher ${row.guideId} on this worker` });
          continue;
        }
        try {
          for (const t of row.accept) matcher.accept(t);
          words.set(await matcher.nextMask(), r * numWords);
          rows.push({ ms: matcher.lastMaskMs });
        } catch (err) {
          rows.push({ error: message(err) });
        }
      }
      port.postMessage({ id: request.id, rows } satisfies GuideWorkerReply);
      return;
    }
    case 'dispose':
      matchers.get(request.guideId)?.dispose();
      matchers.delete(request.guideId);
      return;
    case 'forget':
      (await grammars).forget(request.key);
      return;
  }
}
