import fs from 'node:fs';
import path from 'node:path';
import { TypeGuard } from '@sinclair/typebox';
import { routeTableMarkdown } from './route-table.js';
import { Routes, SUBJECT_PREFIX, type AnyRoute } from './routes.js';
import { messageCorpus } from './testing.js';
import { StreamOpenSchema } from './messages/tokenizer.contract.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';

const routes = Object.values(Routes) as AnyRoute[];

describe('Routes', () => {
  it('every route has its name, a versioned subject and schemas for what it carries', () => {
    expect(routes.length).toBe(20);
    for (const [name, route] of Object.entries(Routes)) {
      expect(route.name).toBe(name);
      expect(route.pattern.startsWith(`${SUBJECT_PREFIX}.`)).toBe(true);
      expect(route.doc.length).toBeGreaterThan(10);
      const messages = route.kind === 'request' ? [route.request, route.reply] : [route.message];
      for (const m of messages) expect(TypeGuard.IsSchema(m.schema)).toBe(true);
    }
    const subjects = routes.map((r) => r.pattern);
    expect(new Set(subjects).size).toBe(subjects.length);
  });

  it('builds per-instance subjects and queue groups, and one subject per global route', () => {
    expect(Routes.health.at('scheduler')).toMatchObject({ subject: 'deepinfer.v1.scheduler.health', queue: 'deepinfer-scheduler' });
    expect(Routes.healthAll.at('scheduler')).toMatchObject({ subject: 'deepinfer.v1.scheduler.health.all', queue: undefined });
    expect(Routes.stats.at('scheduler').subject).toBe('deepinfer.v1.scheduler.stats');
    expect(Routes.tokenizerEncode).toMatchObject({ subject: 'deepinfer.v1.tokenizer.encode', queue: 'deepinfer-tokenizer' });
    expect(Routes.tokenizerEncode.route).toBe(Routes.tokenizerEncode);
    expect(Routes.schedulerAbort.queue).toBeUndefined();
    expect(Routes.replicaStatus.everyInstance.wildcard).toBe('deepinfer.v1.replica.*.status');
    expect(Routes.executorStep.at('e1').route).toBe(Routes.executorStep);
  });

  it('takes a subject from a message only when it is one of the route’s', () => {
    expect(Routes.apiDeltas.fromSubject('deepinfer.v1.api.api-1.deltas').subject).toBe('deepinfer.v1.api.api-1.deltas');
    for (const bad of ['deepinfer.v1.api.a.b.deltas', 'deepinfer.v1.api..deltas', 'deepinfer.v1.api.*.deltas', 'deepinfer.v1.tokenizer.encode']) {
      expect(() => Routes.apiDeltas.fromSubject(bad)).toThrow(/is not a subject of deepinfer\.v1\.api\.\{apiInstanceId\}\.deltas/);
    }
    // StreamOpen.deltasSubject's pattern is this route's.
    const open = TypeCompiler.Compile(StreamOpenSchema);
    expect(open.Check({ requestId: 'r', deltasSubject: Routes.apiDeltas.at('api-1').subject, detokenize: {} })).toBe(true);
    expect(open.Check({ requestId: 'r', deltasSubject: 'deepinfer.v1.api.a.b.deltas', detokenize: {} })).toBe(false);
  });

  it('accepts the messages the services send, on every route', () => {
    for (const route of routes) {
      const corpus = messageCorpus[route.name as keyof typeof messageCorpus];
      if (route.kind === 'request') {
        expect(corpus.request?.length).toBeGreaterThan(0);
        expect(corpus.reply?.length).toBeGreaterThan(0);
        for (const m of corpus.request!) expect(() => route.request.validate(structuredClone(m))).not.toThrow();
        for (const m of corpus.reply!) expect(() => route.reply.validate(structuredClone(m))).not.toThrow();
      } else {
        expect(corpus.message?.length).toBeGreaterThan(0);
        for (const m of corpus.message!) expect(() => route.message.validate(structuredClone(m))).not.toThrow();
      }
    }
  });

  it('is the protocol reference in docs/architecture.md, word for word', () => {
    const doc = fs.readFileSync(path.join(import.meta.dirname, '../../../docs/architecture.md'), 'utf8');
    expect(doc).toContain(routeTableMarkdown());
  });
});
