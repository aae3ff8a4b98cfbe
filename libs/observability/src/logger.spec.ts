import { createLogger } from './logger.js';

describe('createLogger', () => {
  const now = () => new Date('2026-01-02T03:04:05.678Z');

  it('writes JSON lines with bound and per-call fields', () => {
    const lines: string[] = [];
    const log = createLogger({ name: 'scheduler', format: 'json', sink: (l) => lines.push(l), now }).child({ component: 'loop' });
    log.info('step', { numSeqs: 3 });
    expect(JSON.parse(lines[0]!)).toEqual({ time: '2026-01-02T03:04:05.678Z', level: 'info', name: 'scheduler', msg: 'step', component: 'loop', numSeqs: 3 });
  });

  it('is quiet below its level', () => {
    const lines: string[] = [];
    const log = createLogger({ name: 'api', level: 'info', format: 'text', sink: (l) => lines.push(l), now });
    log.debug('per-token detail');
    log.warn('slow', { ms: 12, path: '/v1/completions' });
    expect(lines).toEqual(['03:04:05.678 WARN  [api] slow ms=12 path=/v1/completions']);
    expect(log.isEnabled('debug')).toBe(false);
  });

  it('serialises errors and survives circular fields', () => {
    const lines: string[] = [];
    const log = createLogger({ name: 'x', format: 'json', sink: (l) => lines.push(l), now });
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    log.error('boom', { err: new Error('bad') });
    log.error('loop', { circular });
    expect(JSON.parse(lines[0]!).err.message).toBe('bad');
    expect(JSON.parse(lines[1]!)).toMatchObject({ msg: 'loop', circular: { self: '[circular]' } });
  });
});
